//! The API's bounds among strangers: open connections (in all and per client), the time to
//! send a request's head, idle connections (see [`cairn_serve::connections`]), and a rate on
//! reads per client. Report batches have their own per-client rate in ingest (refused as
//! `client_rate_limited`), so the read rate leaves `POST /v1/reports` alone.
//!
//! | limit | value | over it |
//! |---|---|---|
//! | open connections | 1,024 | 503 and close |
//! | open connections of one client (IPv4 address, IPv6 /64) | 64 | 503 and close |
//! | time to send a request's head (also a keep-alive wait) | 10 s | close |
//! | no byte either way | 60 s | close |
//! | reads (`GET`) per second per client | [`READS_PER_SECOND`], burst [`READ_BURST`] | 429 `client_rate_limited` |
//! | log files served at once (streamed from disk), in all and to one client | [`super::files::MAX_FILE_READS`], [`super::files::MAX_FILE_READS_PER_CLIENT`] | 503 `busy`, `Retry-After: 1` |
//! | time a file's turn lasts | [`super::files::turn_deadline`]: 30 s plus a second a MiB | the turn is given back (the connection stays until idle) |

use super::refused;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use cairn_serve::{ClientKey, ConnectionLimits, RateLimiter};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

/// The oracle's connection bounds.
pub const CONNECTIONS: ConnectionLimits = ConnectionLimits {
    max_connections: 1_024,
    max_connections_per_client: 64,
    // No group bound yet: a devnet's agents all share 127.0.0.0/24.
    max_connections_per_group: 1_024,
    header_read_timeout_ms: 10_000,
    idle_timeout_ms: 60_000,
};

/// Reads per second one client may make on average (an agent asks the time once a minute, a
/// peer oracle fetches a manifest and a few files per epoch: this is room for many of them
/// behind one address).
pub const READS_PER_SECOND: u32 = 100;
/// Reads a client may make at once above its rate.
pub const READ_BURST: u32 = 400;

/// The per-client buckets of reads.
#[derive(Clone)]
pub struct ReadLimiter(Arc<Mutex<RateLimiter>>);

impl ReadLimiter {
    /// `per_second` reads per second per client on average, `burst` at once.
    pub fn new(per_second: u32, burst: u32) -> ReadLimiter {
        ReadLimiter(Arc::new(Mutex::new(RateLimiter::new(per_second, burst))))
    }
}

impl Default for ReadLimiter {
    fn default() -> Self {
        ReadLimiter::new(READS_PER_SECOND, READ_BURST)
    }
}

/// Takes a read from the client's bucket, or refuses the request with 429 and `Retry-After`.
pub(crate) async fn limit_reads(
    State(limiter): State<ReadLimiter>,
    request: Request,
    next: Next,
) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let taken = limiter
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take(ClientKey::of(ip));
    match taken {
        Ok(()) => next.run(request).await,
        Err(seconds) => {
            let mut response = refused(
                StatusCode::TOO_MANY_REQUESTS,
                "client_rate_limited",
                format!("over {READS_PER_SECOND} reads a second from this address"),
                true,
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
    }
}
