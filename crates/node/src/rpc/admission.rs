//! What every request passes before its handler: the client's rate, the number of requests in
//! progress, and a time limit; and the separate bound that expensive handlers take
//! ([`Admission::expensive`]: slots shared fairly among client groups, `cairn_serve::fair`).
//! See [`super::limits`] for the figures.

use super::error::ApiError;
use super::lanes::{self, Checked, Lane, OracleLane};
use super::limits::ApiLimits;
use super::RpcState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cairn_serve::{ClientGroup, ClientKey, FairSlots, RateLimiter, SlotPermit, SlotRefused};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use cairn_serve::ClientAddr;

/// API reads from marshal (consensus's block archive) waiting at once.
pub(crate) const MARSHAL_READS: usize = 4;
/// Transaction submissions of the oracles' lane in progress at once (besides the public ones):
/// their manifests, attestations and roots.
pub(crate) const ORACLE_SUBMISSIONS: usize = 4;
/// Reads from marshal of the oracles' lane waiting at once (besides the public ones), so that
/// a public flood of block reads does not hold up the oracles' followers.
pub(crate) const ORACLE_MARSHAL_READS: usize = 2;

/// The API's blocking threads for `limits` (admission checks, proofs): one per expensive or
/// submission slot, and one spare.
pub(crate) fn blocking_threads(limits: &ApiLimits) -> usize {
    limits.max_concurrent_expensive
        + limits.max_concurrent_oracle_expensive
        + limits.max_concurrent_submissions
        + ORACLE_SUBMISSIONS
        + 1
}

tokio::task_local! {
    /// The group of the client whose request is being handled.
    static CLIENT_GROUP: ClientGroup;
}

/// The client group of the request being handled (the unspecified address's outside any).
fn current_group() -> ClientGroup {
    CLIENT_GROUP
        .try_with(|group| *group)
        .unwrap_or_else(|_| ClientGroup::of(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
}

/// A slot of expensive work: the oracles' own, or one of the public ones.
pub enum ExpensiveSlot {
    /// One of the oracles' lane.
    Oracle(OwnedSemaphorePermit),
    /// One of the public slots, held by the request's client group.
    Public(SlotPermit),
}

/// The API's shared bounds.
pub struct Admission {
    limits: ApiLimits,
    requests: Arc<Semaphore>,
    expensive: FairSlots,
    oracle_expensive: Arc<Semaphore>,
    pub(crate) oracle_lane: OracleLane,
    submissions: Arc<Semaphore>,
    oracle_submissions: Arc<Semaphore>,
    subscribers: Arc<Semaphore>,
    blocking: Arc<Semaphore>,
    marshal: Arc<Semaphore>,
    oracle_marshal: Arc<Semaphore>,
    rate: Mutex<RateLimiter>,
}

impl Admission {
    /// The bounds of `limits`.
    pub fn new(limits: ApiLimits) -> Admission {
        Admission {
            limits,
            requests: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
            // Waiters hold requests in progress: at most a quarter of them wait.
            expensive: FairSlots::new(
                limits.max_concurrent_expensive,
                Duration::from_millis(limits.expensive_wait_ms),
                (limits.max_concurrent_requests / 4).max(1),
            ),
            oracle_expensive: Arc::new(Semaphore::new(limits.max_concurrent_oracle_expensive)),
            oracle_lane: OracleLane::new(limits.oracle_requests_per_second, limits.oracle_burst),
            submissions: Arc::new(Semaphore::new(limits.max_concurrent_submissions)),
            oracle_submissions: Arc::new(Semaphore::new(ORACLE_SUBMISSIONS)),
            subscribers: Arc::new(Semaphore::new(limits.max_ws_subscribers)),
            blocking: Arc::new(Semaphore::new(blocking_threads(&limits))),
            marshal: Arc::new(Semaphore::new(MARSHAL_READS)),
            oracle_marshal: Arc::new(Semaphore::new(ORACLE_MARSHAL_READS)),
            rate: Mutex::new(RateLimiter::new(
                limits.requests_per_second_per_client,
                limits.burst_per_client,
            )),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &ApiLimits {
        &self.limits
    }

    /// A slot for an expensive read (a proof, a block, a hand-off), or 503 `busy`. A bonded
    /// oracle's signed request takes one of the oracles' own slots, or a public one when
    /// those are all taken. A public slot is taken in the client group's turn: a group that
    /// holds none is served before those that do, waiting at most `expensive_wait_ms`.
    pub async fn expensive(&self) -> Result<ExpensiveSlot, ApiError> {
        if lanes::current() == Lane::Oracle {
            if let Ok(slot) = self.oracle_expensive.clone().try_acquire_owned() {
                return Ok(ExpensiveSlot::Oracle(slot));
            }
        }
        match self.expensive.acquire(current_group()).await {
            Ok(slot) => Ok(ExpensiveSlot::Public(slot)),
            Err(why) => Err(ApiError::busy(format!(
                "{} expensive requests (proofs, blocks) are in progress{}; retry shortly",
                self.limits.max_concurrent_expensive,
                match why {
                    SlotRefused::QueueFull => " and too many wait",
                    SlotRefused::TimedOut => " and no turn came",
                }
            ))),
        }
    }

    /// A slot for a transaction submission (single or batch), or 503 `busy`. A bonded oracle's
    /// signed request takes one of the oracles' own, or a public one when those are taken.
    pub fn submission(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if lanes::current() == Lane::Oracle {
            if let Ok(slot) = self.oracle_submissions.clone().try_acquire_owned() {
                return Ok(slot);
            }
        }
        self.submissions.clone().try_acquire_owned().map_err(|_| {
            ApiError::busy(format!(
                "{} submissions are in progress; retry shortly",
                self.limits.max_concurrent_submissions
            ))
        })
    }

    /// A slot for a WebSocket subscriber, or 503 `busy`.
    pub fn subscriber(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.subscribers.clone().try_acquire_owned().map_err(|_| {
            ApiError::busy(format!(
                "{} WebSocket subscribers are connected; retry later",
                self.limits.max_ws_subscribers
            ))
        })
    }

    /// A blocking thread's slot (waits for one; the request's time limit bounds the wait).
    pub async fn blocking_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.blocking
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("the API is shutting down"))
    }

    /// A turn to read from marshal (waits for one); `None` only when shutting down.
    pub async fn marshal_read(&self) -> Option<OwnedSemaphorePermit> {
        let turns = match lanes::current() {
            Lane::Public => &self.marshal,
            Lane::Oracle => &self.oracle_marshal,
        };
        turns.clone().acquire_owned().await.ok()
    }

    /// Counts one request of `client` against its rate.
    fn take(&self, client: IpAddr) -> Result<(), ApiError> {
        let mut rate = self
            .rate
            .lock()
            .map_err(|_| ApiError::internal("the rate limiter was poisoned"))?;
        rate.take(ClientKey::of(client)).map_err(|wait_secs| {
            ApiError::rate_limited(
                format!(
                    "more than {} requests per second from this client",
                    self.limits.requests_per_second_per_client
                ),
                wait_secs,
            )
        })
    }
}

/// The middleware: a signed request's lane ([`lanes`]) or the client's rate and a slot, then
/// the handler within the time limit.
pub(crate) async fn admit(State(state): State<RpcState>, request: Request, next: Next) -> Response {
    let admission = state.admission();
    let client = request
        .extensions()
        .get::<ClientAddr>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0);
    let signed = request
        .headers()
        .get(cairn_types::signed_request::HEADER)
        .map(|v| v.to_str().unwrap_or("").to_string());
    // `_in_flight` counts a signed request in its oracle's share of the lane until it ends.
    let (lane, request, why_public, _in_flight) = match signed {
        Some(header) => match lanes::check_signed(&state, &header, request).await {
            Checked::Oracle(request, in_flight) => (Lane::Oracle, request, None, Some(in_flight)),
            Checked::Public(request, why) => (Lane::Public, request, Some(why), None),
            Checked::Refused(error) => return error.into_response(),
        },
        None => (Lane::Public, request, None, None),
    };
    // The public lane: the client's rate, and a slot of the requests in progress. The oracles'
    // lane is rated per oracle (above) and not held back by the public requests.
    let _slot = match lane {
        Lane::Oracle => None,
        Lane::Public => {
            if let Err(error) = admission.take(client) {
                return error.into_response();
            }
            let Ok(slot) = admission.requests.clone().try_acquire_owned() else {
                return ApiError::busy(format!(
                    "{} requests are in progress; retry shortly",
                    admission.limits.max_concurrent_requests
                ))
                .into_response();
            };
            Some(slot)
        }
    };
    let limit = Duration::from_millis(admission.limits.request_timeout_ms);
    let handling = CLIENT_GROUP.scope(
        ClientGroup::of(client),
        lanes::within(lane, next.run(request)),
    );
    match tokio::time::timeout(limit, handling).await {
        Ok(mut response) => {
            let named = match (lane, why_public) {
                (Lane::Oracle, _) => Some("oracle".to_string()),
                (Lane::Public, Some(why)) => Some(format!("public; {why}")),
                (Lane::Public, None) => None,
            };
            if let Some(value) = named.and_then(|v| v.parse().ok()) {
                response.headers_mut().insert(lanes::LANE_HEADER, value);
            }
            response
        }
        Err(_) => ApiError::unavailable_after(
            "timeout",
            format!("the request took longer than {} ms", limit.as_millis()),
            1,
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn expensive_and_subscriber_slots_are_bounded_and_say_when_to_retry() {
        let admission = Admission::new(ApiLimits {
            max_concurrent_expensive: 1,
            expensive_wait_ms: 20,
            max_concurrent_submissions: 1,
            max_ws_subscribers: 1,
            ..ApiLimits::default()
        });
        // Reads and submissions have lanes of their own.
        let held = admission.expensive().await.unwrap();
        let submission = admission.submission().unwrap();
        let refused = admission.expensive().await.err().unwrap();
        assert_eq!(
            (refused.status.as_u16(), refused.code.as_str()),
            (503, "busy")
        );
        assert_eq!(refused.retry_after, Some(1));
        drop(held);
        assert!(admission.expensive().await.is_ok());
        drop(submission);
        let subscriber = admission.subscriber().unwrap();
        assert_eq!(admission.subscriber().unwrap_err().code, "busy");
        drop(subscriber);
        assert!(admission.subscriber().is_ok());
    }

    #[test]
    fn a_client_over_its_rate_gets_429_with_retry_after() {
        let admission = Admission::new(ApiLimits {
            requests_per_second_per_client: 1,
            burst_per_client: 2,
            ..ApiLimits::default()
        });
        let client = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        assert!(admission.take(client).is_ok());
        assert!(admission.take(client).is_ok());
        let refused = admission.take(client).unwrap_err();
        assert_eq!(
            (refused.status.as_u16(), refused.code.as_str()),
            (429, "rate_limited")
        );
        assert_eq!(refused.retry_after, Some(1));
        assert!(admission
            .take(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)))
            .is_ok());
    }
}
