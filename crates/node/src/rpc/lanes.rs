//! Lanes: a request signed by a bonded oracle (`cairn_types::signed_request`) is admitted in the
//! oracles' lane, with a rate per oracle and expensive-request slots of its own, so that a flood
//! of public requests (within the public limits, from anywhere) cannot starve the oracles'
//! reads, and so the reward roots. Unsigned requests take the public lane, as before; so does a
//! signed one that does not check, charged to its client's public rate like any other, its
//! answer naming why in a `cairn-lane` header.
//!
//! ```text
//!  request ─┬─ no cairn-signed header ─────────────────────────────────────────▶ public lane
//!           └─ header ─▶ bonded oracle? ─▶ time, signature, nonce, rate ─▶ body read, its hash
//!                          │ no                │ does not check           ─▶ oracles' lane
//!                          └───────────────────┴──▶ public lane, `cairn-lane: public; <code>`
//! ```
//!
//! The signature covers the body's hash, which the header carries, so it is checked before a
//! byte of the body is read: a forged header costs the node one signature check (and its
//! client a public request), never a buffered body.
//!
//! One oracle holds at most [`MAX_IN_FLIGHT_PER_ORACLE`] requests in the lane at once: a
//! bonded oracle that turns hostile cannot take every oracle slot from the others. Its further
//! requests are public ones (`cairn-lane: public; signed_request_crowded`).

use super::error::ApiError;
use super::RpcState;
use axum::body::Body;
use axum::extract::Request;
use cairn_ledger::state::records::Oracles;
use cairn_ledger::StateKey;
use cairn_serve::{ClientKey, RateLimiter};
use cairn_types::signed_request::{NonceBook, SignedRequest, SignedRequestError};
use cairn_types::PublicKey;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Most bytes of a signed request's body (the largest body any route takes).
pub(crate) const MAX_SIGNED_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The answer header naming the lane a signed request was handled in: `oracle`, or `public;
/// <why>` (the code of what did not check).
pub(crate) const LANE_HEADER: &str = "cairn-lane";

/// Which lane a request was admitted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Anyone.
    Public,
    /// A bonded oracle, by a signed request.
    Oracle,
}

tokio::task_local! {
    static LANE: Lane;
}

/// The lane of the request being handled (public outside any).
pub(crate) fn current() -> Lane {
    LANE.try_with(|lane| *lane).unwrap_or(Lane::Public)
}

/// Runs `handling` in `lane`.
pub(crate) async fn within<F: Future>(lane: Lane, handling: F) -> F::Output {
    LANE.scope(lane, handling).await
}

/// Most requests one oracle has in the oracles' lane at once. An oracle's own work holds at
/// most a state read, a transaction submission and a follower's block read at a time; more is
/// one oracle crowding the others out of the lane's slots (8 expensive, 4 submissions).
pub(crate) const MAX_IN_FLIGHT_PER_ORACLE: usize = 3;

/// The code a signed request gets when its oracle already has
/// [`MAX_IN_FLIGHT_PER_ORACLE`] requests in the lane (it is then a public one).
pub(crate) const CROWDED: &str = "signed_request_crowded";

/// What the oracles' lane keeps: their rate, the nonces seen, who is bonded, and each oracle's
/// requests in the lane.
pub(crate) struct OracleLane {
    rate: Mutex<RateLimiter>,
    nonces: Mutex<NonceBook>,
    bonded: Mutex<(u64, Arc<BTreeSet<PublicKey>>)>,
    in_flight: Arc<InFlightCounts>,
}

/// Each oracle's requests in the lane.
#[derive(Default)]
pub(crate) struct InFlightCounts(Mutex<HashMap<PublicKey, usize>>);

/// One request in the lane; its oracle's count goes down when it is dropped.
pub(crate) struct InFlight {
    counts: Arc<InFlightCounts>,
    key: PublicKey,
}

impl InFlightCounts {
    /// Counts a request of `key` in, unless it already has `max` in the lane.
    pub(crate) fn enter(self: &Arc<Self>, key: PublicKey, max: usize) -> Option<InFlight> {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = counts.entry(key).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(InFlight {
            counts: self.clone(),
            key,
        })
    }

    #[cfg(test)]
    fn held(&self, key: &PublicKey) -> usize {
        let counts = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.get(key).copied().unwrap_or(0)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

impl OracleLane {
    /// A lane giving each oracle `per_second` requests a second, `burst` at once.
    pub(crate) fn new(per_second: u32, burst: u32) -> OracleLane {
        OracleLane {
            rate: Mutex::new(RateLimiter::new(per_second, burst)),
            nonces: Mutex::new(NonceBook::default()),
            bonded: Mutex::new((u64::MAX, Arc::new(BTreeSet::new()))),
            in_flight: Arc::default(),
        }
    }

    /// The bonded oracles' keys at the node's head (read once per height, from a snapshot of
    /// the committed state: never waiting behind a block being applied).
    fn bonded(&self, state: &RpcState) -> Result<Arc<BTreeSet<PublicKey>>, ApiError> {
        let height = state.chain().head().height;
        let mut cached = lock(&self.bonded)?;
        if cached.0 != height {
            let oracles: Oracles = state.read(&StateKey::Oracles)?.unwrap_or_default();
            let keys: BTreeSet<PublicKey> = oracles.0.keys().map(|a| a.0).collect();
            lock(&self.nonces)?.retain(|key| keys.contains(key));
            *cached = (height, Arc::new(keys));
        }
        Ok(cached.1.clone())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, ApiError> {
    mutex
        .lock()
        .map_err(|_| ApiError::internal("the oracles' lane was poisoned"))
}

/// What a signed request's check found.
pub(crate) enum Checked {
    /// A bonded oracle's, checked: to be handled in the oracles' lane, counted in its oracle's
    /// requests there while the guard lives.
    Oracle(Request, InFlight),
    /// Not checked (the code of why): handled in the public lane, as an unsigned request
    /// would be.
    Public(Request, &'static str),
    /// Refused outright (the oracle over its rate, a body over the bound or not the one signed,
    /// a fault).
    Refused(ApiError),
}

/// Checks `request`'s `cairn-signed` header (`header`): a bonded oracle's key, a signature over
/// this request within the time window, a nonce not seen, the oracle's rate. A request that
/// does not check is not refused for it: it goes to the public lane (its answer says why in
/// the `cairn-lane` header), so a stale clock or a key not (yet) bonded costs an oracle its
/// lane, never its reads.
pub(crate) async fn check_signed(state: &RpcState, header: &str, request: Request) -> Checked {
    let signed = match SignedRequest::parse(header) {
        Ok(signed) => signed,
        Err(error) => return Checked::Public(request, error.code()),
    };
    let lane = &state.admission().oracle_lane;
    match lane.bonded(state) {
        Ok(bonded) if bonded.contains(&signed.key) => {}
        Ok(_) => {
            let unknown = SignedRequestError::Unknown(hex::encode(signed.key.0));
            return Checked::Public(request, unknown.code());
        }
        Err(error) => return Checked::Refused(error),
    }
    let path = request
        .uri()
        .path_and_query()
        .map_or(request.uri().path(), |p| p.as_str())
        .to_string();
    let chain_id = state.chain().config().chain_id.to_string();
    let now_ms = crate::rpc::now_ms();
    if let Err(error) = signed.verify(&chain_id, (request.method().as_str(), &path), now_ms) {
        return Checked::Public(request, error.code());
    }
    let recorded = match lock(&lane.nonces) {
        Ok(mut nonces) => nonces.record(&signed, now_ms),
        Err(error) => return Checked::Refused(error),
    };
    if let Err(error) = recorded {
        return Checked::Public(request, error.code());
    }
    let taken = match lock(&lane.rate) {
        Ok(mut rate) => rate.take(ClientKey::named(&signed.key.0)),
        Err(error) => return Checked::Refused(error),
    };
    if let Err(wait_secs) = taken {
        return Checked::Refused(ApiError::rate_limited(
            format!(
                "more than {} requests per second from oracle {}",
                state.admission().limits().oracle_requests_per_second,
                hex::encode(signed.key.0)
            ),
            wait_secs,
        ));
    }
    let Some(in_flight) = lane.in_flight.enter(signed.key, MAX_IN_FLIGHT_PER_ORACLE) else {
        return Checked::Public(request, CROWDED);
    };
    // Signed by a bonded oracle: its body is read (within the request's time) and must be
    // the one whose hash it signed.
    let (parts, body) = request.into_parts();
    let limit = std::time::Duration::from_millis(state.admission().limits().request_timeout_ms);
    let bytes = match tokio::time::timeout(limit, axum::body::to_bytes(body, MAX_SIGNED_BODY_BYTES))
        .await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return Checked::Refused(ApiError::bad_request(
                "body_too_large",
                format!("a body is at most {MAX_SIGNED_BODY_BYTES} bytes"),
            ))
        }
        Err(_) => {
            return Checked::Refused(ApiError::unavailable_after(
                "timeout",
                "the request's body did not arrive in time",
                1,
            ))
        }
    };
    if let Err(error) = signed.check_body(&bytes) {
        return Checked::Refused(ApiError::bad_request(error.code(), error.to_string()));
    }
    Checked::Oracle(Request::from_parts(parts, Body::from(bytes)), in_flight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_oracle_holds_at_most_its_share_of_the_lane_at_once() {
        let counts = Arc::new(InFlightCounts::default());
        let (a, b) = (PublicKey([1; 32]), PublicKey([2; 32]));
        let held: Vec<InFlight> = (0..MAX_IN_FLIGHT_PER_ORACLE)
            .map(|_| {
                counts
                    .enter(a, MAX_IN_FLIGHT_PER_ORACLE)
                    .unwrap_or_else(|| panic!("under the bound"))
            })
            .collect();
        assert!(counts.enter(a, MAX_IN_FLIGHT_PER_ORACLE).is_none());
        // Another oracle is not held back by the first.
        let other = counts.enter(b, MAX_IN_FLIGHT_PER_ORACLE);
        assert!(other.is_some());
        // A request that ends makes room again; when all end, nothing is left counted.
        drop(held);
        assert_eq!(counts.held(&a), 0);
        assert!(counts.enter(a, MAX_IN_FLIGHT_PER_ORACLE).is_some());
        drop(other);
        assert_eq!(counts.held(&b), 0);
        assert!(counts
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty());
    }
}
