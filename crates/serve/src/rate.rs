//! Requests per second per client: a token bucket for each client, in integer milli-tokens.
//!
//! A client is an IPv4 address or an IPv6 /64 (one host usually holds a whole /64, so keying
//! by full IPv6 address would give it unlimited buckets). The table holds at most
//! [`MAX_CLIENTS`] buckets: when it is full, buckets that have refilled completely (clients
//! that went quiet) are dropped (at most once per [`CLEANUP_EVERY_MS`]), and while it is still
//! full, new clients share one overflow bucket: someone who fills the table (with many IPv6
//! prefixes) slows newcomers down, but does not lock them out, nor make each request scan it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// Most clients tracked at once.
pub const MAX_CLIENTS: usize = 65_536;

/// Least time between two sweeps of a full table.
pub const CLEANUP_EVERY_MS: u64 = 1_000;

/// The bucket newcomers share while the table is full.
const OVERFLOW: ClientKey = ClientKey(u128::MAX);

/// Milli-tokens per request.
const COST: u64 = 1_000;

/// Who a request counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey(u128);

impl ClientKey {
    /// A client known by a key rather than an address (a signed request's signer), for a
    /// limiter of its own: the key's first 16 bytes.
    pub fn named(key: &[u8; 32]) -> ClientKey {
        let mut first = [0u8; 16];
        first.copy_from_slice(&key[..16]);
        ClientKey(u128::from_be_bytes(first))
    }

    /// The client of address `ip`.
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(v4) => ClientKey(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(u128::from(u32::from(v4))),
                // The /64 prefix, marked so that it cannot equal an IPv4 key.
                None => ClientKey((u128::from(v6) >> 64) | (1 << 127)),
            },
        }
    }
}

struct Bucket {
    milli_tokens: u64,
    /// Milliseconds since the limiter's start at the last refill.
    at_ms: u64,
}

/// The per-client buckets.
pub struct RateLimiter {
    per_second: u64,
    capacity: u64,
    start: Instant,
    buckets: HashMap<ClientKey, Bucket>,
    /// When the table was last swept (ms since start), if ever.
    swept_at_ms: Option<u64>,
}

impl RateLimiter {
    /// `per_second` requests per second on average, `burst` at once.
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second: u64::from(per_second.max(1)),
            capacity: u64::from(burst.max(1)) * COST,
            start: Instant::now(),
            buckets: HashMap::new(),
            swept_at_ms: None,
        }
    }

    /// Takes one request from `client`'s bucket now; `Err(seconds)` to wait when it is empty.
    pub fn take(&mut self, client: ClientKey) -> Result<(), u64> {
        let now_ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.take_at(client, now_ms)
    }

    /// [`RateLimiter::take`] at `now_ms` milliseconds after the limiter's start.
    pub fn take_at(&mut self, client: ClientKey, now_ms: u64) -> Result<(), u64> {
        let mut client = client;
        if !self.buckets.contains_key(&client) && self.buckets.len() >= MAX_CLIENTS {
            let due = self
                .swept_at_ms
                .is_none_or(|at| now_ms.saturating_sub(at) >= CLEANUP_EVERY_MS);
            if due {
                self.swept_at_ms = Some(now_ms);
                self.drop_full(now_ms);
            }
            if self.buckets.len() >= MAX_CLIENTS {
                client = OVERFLOW;
            }
        }
        let capacity = self.capacity;
        let per_second = self.per_second;
        let bucket = self.buckets.entry(client).or_insert(Bucket {
            milli_tokens: capacity,
            at_ms: now_ms,
        });
        // per_second tokens per 1,000 ms = per_second milli-tokens per millisecond.
        let refill = now_ms
            .saturating_sub(bucket.at_ms)
            .saturating_mul(per_second);
        bucket.milli_tokens = bucket.milli_tokens.saturating_add(refill).min(capacity);
        bucket.at_ms = now_ms;
        if bucket.milli_tokens >= COST {
            bucket.milli_tokens -= COST;
            return Ok(());
        }
        let missing = COST - bucket.milli_tokens;
        // Milliseconds until one token, rounded up to whole seconds (at least 1).
        let wait_ms = missing.div_ceil(per_second);
        Err(wait_ms.div_ceil(1_000).max(1))
    }

    /// Drops the buckets of clients that have been quiet long enough to refill completely.
    fn drop_full(&mut self, now_ms: u64) {
        let (capacity, per_second) = (self.capacity, self.per_second);
        self.buckets.retain(|_, b| {
            let refill = now_ms.saturating_sub(b.at_ms).saturating_mul(per_second);
            b.milli_tokens.saturating_add(refill) < capacity
        });
    }

    /// Clients tracked.
    #[cfg(test)]
    fn clients(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(last: u8) -> ClientKey {
        ClientKey::of(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)))
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let mut limiter = RateLimiter::new(10, 5);
        for _ in 0..5 {
            assert_eq!(limiter.take_at(v4(1), 0), Ok(()));
        }
        assert_eq!(limiter.take_at(v4(1), 0), Err(1));
        // Another client has its own bucket.
        assert_eq!(limiter.take_at(v4(2), 0), Ok(()));
        // 100 ms at 10 per second is one more request.
        assert_eq!(limiter.take_at(v4(1), 100), Ok(()));
        assert_eq!(limiter.take_at(v4(1), 100), Err(1));
    }

    #[test]
    fn an_ipv6_host_is_one_client_per_64() {
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or(Ipv6Addr::LOCALHOST);
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        assert_eq!(ClientKey::of(a.into()), ClientKey::of(b.into()));
        assert_ne!(ClientKey::of(a.into()), ClientKey::of(c.into()));
        let mapped = Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped();
        assert_eq!(ClientKey::of(mapped.into()), v4(1));
    }

    #[test]
    fn the_table_is_bounded_and_quiet_clients_make_room() {
        let mut limiter = RateLimiter::new(1, 1);
        for i in 0..MAX_CLIENTS as u32 {
            let key = ClientKey(u128::from(i));
            assert_eq!(limiter.take_at(key, 0), Ok(()));
        }
        // Every bucket is empty: newcomers share the overflow bucket (burst 1 here).
        let newcomer = ClientKey(u128::MAX - 1);
        assert_eq!(limiter.take_at(newcomer, 0), Ok(()));
        assert_eq!(limiter.take_at(ClientKey(u128::MAX - 2), 0), Err(1));
        assert_eq!(limiter.clients(), MAX_CLIENTS + 1);
        // A second later every old client has refilled and is dropped.
        assert_eq!(limiter.take_at(newcomer, 1_000), Ok(()));
        assert!(limiter.clients() <= 2, "{}", limiter.clients());
    }

    proptest! {
        /// Over any schedule, a client gets at most burst + rate × elapsed requests.
        #[test]
        fn never_more_than_burst_plus_rate(
            rate in 1u32..500,
            burst in 1u32..100,
            gaps in proptest::collection::vec(0u64..50, 1..400),
        ) {
            let mut limiter = RateLimiter::new(rate, burst);
            let mut now = 0u64;
            let mut granted = 0u64;
            for gap in gaps {
                now += gap;
                if limiter.take_at(v4(7), now).is_ok() {
                    granted += 1;
                }
            }
            let bound = u64::from(burst) + u64::from(rate) * now / 1_000 + 1;
            prop_assert!(granted <= bound, "granted {granted} > {bound}");
        }
    }
}
