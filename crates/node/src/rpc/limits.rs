//! The API's limits (`[api]` in `node.toml`): every one a named default that the configuration
//! may override. They keep a flood of requests from costing consensus anything: the API runs on
//! its own threads at a lower CPU priority ([`super::server`]), and what it does there is
//! bounded here.
//!
//! | limit | default | over it |
//! |---|---|---|
//! | open connections | [`MAX_CONNECTIONS`] | 503 and close |
//! | open connections of one client | [`MAX_CONNECTIONS_PER_CLIENT`] | 503 and close |
//! | open connections of one client group (an IPv4 /24, an IPv6 /48) | [`MAX_CONNECTIONS_PER_GROUP`] | 503 and close |
//! | time to send a request's head (also a keep-alive connection's idle wait) | [`HEADER_READ_TIMEOUT_MS`] | close |
//! | no byte either way | [`IDLE_TIMEOUT_MS`] | close |
//! | one request's handling | [`REQUEST_TIMEOUT_MS`] | 503 `timeout` |
//! | requests in progress | [`MAX_CONCURRENT_REQUESTS`] | 503 `busy` |
//! | proofs, blocks and hand-offs in progress, shared fairly among client groups (an IPv4 /24, an IPv6 /48; `cairn_serve::fair`) | [`MAX_CONCURRENT_EXPENSIVE`], a request waiting its group's turn at most [`EXPENSIVE_WAIT_MS`] | 503 `busy` |
//! | transaction submissions (single or batch) in progress | [`MAX_CONCURRENT_SUBMISSIONS`] | 503 `busy` |
//! | requests per second per client | [`REQUESTS_PER_SECOND_PER_CLIENT`] (burst [`BURST_PER_CLIENT`]) | 429 `rate_limited` |
//! | WebSocket subscribers | [`MAX_WS_SUBSCRIBERS`] | 503 `busy` |
//! | a subscriber's backfill (`?from=`) | [`WS_BACKFILL_BLOCKS`] | 400 `backlog_too_long` |
//! | transactions in one batch | [`MAX_BATCH`] | 400 `batch_too_large`, before any is decoded |
//! | a bonded oracle's signed requests per second ([`super::lanes`]) | [`ORACLE_REQUESTS_PER_SECOND`] (burst [`ORACLE_BURST`]) | 429 `rate_limited` |
//! | oracles' proofs, blocks and hand-offs in progress (their own slots) | [`MAX_CONCURRENT_ORACLE_EXPENSIVE`] | 503 `busy` |
//! | one oracle's requests in the oracles' lane at once | [`super::lanes::MAX_IN_FLIGHT_PER_ORACLE`] | the public lane (`cairn-lane: public; signed_request_crowded`) |
//!
//! Every 429 and 503 carries a `Retry-After` header (seconds).

use serde::{Deserialize, Serialize};

/// API worker threads (they run at a lower priority than consensus, see [`NICE`]).
pub const THREADS: usize = 1;
/// How much lower than consensus the API threads run (Linux `nice` increment, 0..=19).
pub const NICE: i32 = 10;
/// Open connections at once.
pub const MAX_CONNECTIONS: usize = 1_024;
/// Open connections of one client (an IPv4 address, an IPv6 /64) at once.
pub const MAX_CONNECTIONS_PER_CLIENT: usize = 64;
/// Open connections of one client group (an IPv4 /24, an IPv6 /48) at once: a quarter of all,
/// so that one network's many addresses never hold every connection (a client sharing a /24
/// with a hostile one, in a cloud or behind a carrier NAT, shares this bound with it).
pub const MAX_CONNECTIONS_PER_GROUP: usize = MAX_CONNECTIONS / 4;
/// Time a client has to send a request's head; a keep-alive connection waiting for its next
/// request is closed after the same time.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// A connection on which no byte moves either way for this long is closed (a stalled body, a
/// client that stopped reading, a silent WebSocket).
pub const IDLE_TIMEOUT_MS: u64 = 60_000;
/// Longest time one request may take to handle.
pub const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Requests in progress at once.
pub const MAX_CONCURRENT_REQUESTS: usize = 256;
/// Expensive reads (state proofs, blocks, epoch hand-offs) in progress at once.
pub const MAX_CONCURRENT_EXPENSIVE: usize = 8;
/// Longest an expensive read waits for its client group's turn at a slot (a group holding no
/// slot is served before every group holding one, so a flood from one network delays others by
/// one slot's turn at most).
pub const EXPENSIVE_WAIT_MS: u64 = 2_000;
/// Transaction submissions (single or batch) in progress at once: a lane of their own, so
/// that a flood of reads does not keep transactions out.
pub const MAX_CONCURRENT_SUBMISSIONS: usize = 8;
/// Requests per second one client (an IPv4 address, an IPv6 /64) may make on average.
pub const REQUESTS_PER_SECOND_PER_CLIENT: u32 = 200;
/// Requests a client may make at once above its rate.
pub const BURST_PER_CLIENT: u32 = 400;
/// Open WebSocket subscriptions at once.
pub const MAX_WS_SUBSCRIBERS: usize = 256;
/// How many blocks back a WebSocket subscriber may start (`?from=`).
pub const WS_BACKFILL_BLOCKS: u64 = 1_000;
/// Most transactions in one batch submission.
pub const MAX_BATCH: usize = 1_000;
/// Signed requests per second each bonded oracle may make, in the oracles' lane.
pub const ORACLE_REQUESTS_PER_SECOND: u32 = 200;
/// Signed requests an oracle may make at once above its rate.
pub const ORACLE_BURST: u32 = 400;
/// Expensive reads of the oracles' lane in progress at once (besides the public ones).
pub const MAX_CONCURRENT_ORACLE_EXPENSIVE: usize = 8;
/// Connections over a limit being answered (a 503, then closed) at once.
pub use cairn_serve::connections::REFUSALS_AT_ONCE;

/// The limits in force (`[api]` in `node.toml`; a missing field takes its default).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiLimits {
    /// See [`THREADS`].
    pub threads: usize,
    /// See [`NICE`].
    pub nice: i32,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// See [`MAX_CONNECTIONS_PER_CLIENT`].
    pub max_connections_per_client: usize,
    /// See [`MAX_CONNECTIONS_PER_GROUP`].
    pub max_connections_per_group: usize,
    /// See [`HEADER_READ_TIMEOUT_MS`].
    pub header_read_timeout_ms: u64,
    /// See [`IDLE_TIMEOUT_MS`].
    pub idle_timeout_ms: u64,
    /// See [`REQUEST_TIMEOUT_MS`].
    pub request_timeout_ms: u64,
    /// See [`MAX_CONCURRENT_REQUESTS`].
    pub max_concurrent_requests: usize,
    /// See [`MAX_CONCURRENT_EXPENSIVE`].
    pub max_concurrent_expensive: usize,
    /// See [`EXPENSIVE_WAIT_MS`].
    pub expensive_wait_ms: u64,
    /// See [`MAX_CONCURRENT_SUBMISSIONS`].
    pub max_concurrent_submissions: usize,
    /// See [`REQUESTS_PER_SECOND_PER_CLIENT`].
    pub requests_per_second_per_client: u32,
    /// See [`BURST_PER_CLIENT`].
    pub burst_per_client: u32,
    /// See [`MAX_WS_SUBSCRIBERS`].
    pub max_ws_subscribers: usize,
    /// See [`WS_BACKFILL_BLOCKS`].
    pub ws_backfill_blocks: u64,
    /// See [`MAX_BATCH`].
    pub max_batch: usize,
    /// See [`ORACLE_REQUESTS_PER_SECOND`].
    pub oracle_requests_per_second: u32,
    /// See [`ORACLE_BURST`].
    pub oracle_burst: u32,
    /// See [`MAX_CONCURRENT_ORACLE_EXPENSIVE`].
    pub max_concurrent_oracle_expensive: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            threads: THREADS,
            nice: NICE,
            max_connections: MAX_CONNECTIONS,
            max_connections_per_client: MAX_CONNECTIONS_PER_CLIENT,
            max_connections_per_group: MAX_CONNECTIONS_PER_GROUP,
            header_read_timeout_ms: HEADER_READ_TIMEOUT_MS,
            idle_timeout_ms: IDLE_TIMEOUT_MS,
            request_timeout_ms: REQUEST_TIMEOUT_MS,
            max_concurrent_requests: MAX_CONCURRENT_REQUESTS,
            max_concurrent_expensive: MAX_CONCURRENT_EXPENSIVE,
            expensive_wait_ms: EXPENSIVE_WAIT_MS,
            max_concurrent_submissions: MAX_CONCURRENT_SUBMISSIONS,
            requests_per_second_per_client: REQUESTS_PER_SECOND_PER_CLIENT,
            burst_per_client: BURST_PER_CLIENT,
            max_ws_subscribers: MAX_WS_SUBSCRIBERS,
            ws_backfill_blocks: WS_BACKFILL_BLOCKS,
            max_batch: MAX_BATCH,
            oracle_requests_per_second: ORACLE_REQUESTS_PER_SECOND,
            oracle_burst: ORACLE_BURST,
            max_concurrent_oracle_expensive: MAX_CONCURRENT_ORACLE_EXPENSIVE,
        }
    }
}

impl ApiLimits {
    /// The bounds on connections among these limits.
    pub fn connections(&self) -> cairn_serve::ConnectionLimits {
        cairn_serve::ConnectionLimits {
            max_connections: self.max_connections,
            max_connections_per_client: self.max_connections_per_client,
            max_connections_per_group: self.max_connections_per_group,
            header_read_timeout_ms: self.header_read_timeout_ms,
            idle_timeout_ms: self.idle_timeout_ms,
        }
    }

    /// File descriptors the API may hold at once: its connections, its WebSocket subscribers
    /// (an upgraded connection leaves the connection count) and refusals in progress.
    pub fn open_files(&self) -> usize {
        self.max_connections
            .saturating_add(self.max_ws_subscribers)
            .saturating_add(REFUSALS_AT_ONCE)
            .saturating_add(1)
    }

    /// Checks values serde cannot: every bound at least 1 (a zero would refuse everything),
    /// the niceness a valid increment.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("threads", self.threads as u64),
            ("max_connections", self.max_connections as u64),
            (
                "max_connections_per_client",
                self.max_connections_per_client as u64,
            ),
            (
                "max_connections_per_group",
                self.max_connections_per_group as u64,
            ),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            (
                "max_concurrent_requests",
                self.max_concurrent_requests as u64,
            ),
            (
                "max_concurrent_expensive",
                self.max_concurrent_expensive as u64,
            ),
            ("expensive_wait_ms", self.expensive_wait_ms),
            (
                "requests_per_second_per_client",
                u64::from(self.requests_per_second_per_client),
            ),
            ("burst_per_client", u64::from(self.burst_per_client)),
            ("max_ws_subscribers", self.max_ws_subscribers as u64),
            ("max_batch", self.max_batch as u64),
            (
                "oracle_requests_per_second",
                u64::from(self.oracle_requests_per_second),
            ),
            ("oracle_burst", u64::from(self.oracle_burst)),
            (
                "max_concurrent_oracle_expensive",
                self.max_concurrent_oracle_expensive as u64,
            ),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(format!("api.{name} must be at least 1"));
        }
        if !(0..=19).contains(&self.nice) {
            return Err("api.nice must be 0 to 19".into());
        }
        if self.threads > 64 {
            return Err("api.threads must be at most 64".into());
        }
        if self.idle_timeout_ms < self.request_timeout_ms {
            return Err("api.idle_timeout_ms must be at least api.request_timeout_ms".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_pass_and_zero_bounds_are_refused() {
        assert_eq!(ApiLimits::default().check(), Ok(()));
        let zero = ApiLimits {
            max_concurrent_expensive: 0,
            ..ApiLimits::default()
        };
        assert!(zero
            .check()
            .unwrap_err()
            .contains("max_concurrent_expensive"));
        let nice = ApiLimits {
            nice: 25,
            ..ApiLimits::default()
        };
        assert!(nice.check().is_err());
    }

    #[test]
    fn a_partial_section_keeps_the_other_defaults() {
        let limits: ApiLimits = toml::from_str("max_connections = 10").unwrap();
        assert_eq!(limits.max_connections, 10);
        assert_eq!(limits.max_batch, MAX_BATCH);
        assert!(toml::from_str::<ApiLimits>("max_conections = 10").is_err());
    }
}
