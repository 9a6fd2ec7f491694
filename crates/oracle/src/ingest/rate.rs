//! Token buckets, in integer thousandths of a token (no floats).

/// A bucket that refills at `per_minute` tokens a minute up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    milli_tokens: u64,
    updated_ms: u64,
    blocked_until_ms: u64,
}

impl Bucket {
    /// A full bucket at `now_ms`.
    pub fn full(burst: u64, now_ms: u64) -> Bucket {
        Bucket {
            milli_tokens: burst.saturating_mul(1_000),
            updated_ms: now_ms,
            blocked_until_ms: 0,
        }
    }

    /// Takes one token if there is one (after refilling for the time since the last take).
    pub fn take(&mut self, now_ms: u64, per_minute: u64, burst: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.updated_ms);
        // per_minute tokens per 60,000 ms = per_minute thousandths of a token per 60 ms.
        let refill = elapsed.saturating_mul(per_minute) / 60;
        let cap = burst.saturating_mul(1_000);
        self.milli_tokens = self.milli_tokens.saturating_add(refill).min(cap);
        self.updated_ms = self.updated_ms.max(now_ms);
        if now_ms < self.blocked_until_ms {
            return false;
        }
        if self.milli_tokens >= 1_000 {
            self.milli_tokens -= 1_000;
            true
        } else {
            false
        }
    }

    /// True when a token could be taken now (nothing is taken).
    pub fn has_token(&self, now_ms: u64, per_minute: u64, burst: u64) -> bool {
        let mut probe = *self;
        probe.take(now_ms, per_minute, burst)
    }

    /// Empties the bucket and refuses every take for `for_ms` (a client caught sending forged
    /// reports waits that long, then for the bucket to refill).
    pub fn block(&mut self, now_ms: u64, for_ms: u64) {
        self.milli_tokens = 0;
        self.updated_ms = self.updated_ms.max(now_ms);
        self.blocked_until_ms = now_ms.saturating_add(for_ms);
    }

    /// When a token was last taken (or the bucket made or blocked).
    pub fn updated_ms(&self) -> u64 {
        self.updated_ms
    }

    /// True when the bucket has been full for a while (it can be forgotten).
    pub fn idle_since(&self, now_ms: u64, idle_ms: u64) -> bool {
        now_ms.saturating_sub(self.updated_ms) >= idle_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let mut b = Bucket::full(3, 0);
        assert!(b.take(0, 60, 3));
        assert!(b.take(0, 60, 3));
        assert!(b.take(0, 60, 3));
        assert!(!b.take(0, 60, 3));
        // 60 a minute: one a second.
        assert!(!b.take(999, 60, 3));
        assert!(b.take(1_000, 60, 3));
        assert!(!b.take(1_000, 60, 3));
        // Never more than the burst, however long it rested.
        let mut rested = Bucket::full(2, 0);
        assert!(rested.take(1_000_000, 60, 2));
        assert!(rested.take(1_000_000, 60, 2));
        assert!(!rested.take(1_000_000, 60, 2));
        assert!(rested.idle_since(1_060_000, 60_000));
        let mut blocked = Bucket::full(3, 0);
        assert!(blocked.has_token(0, 60, 3));
        blocked.block(0, 60_000);
        assert!(!blocked.has_token(59_999, 60, 3));
        assert!(!blocked.take(59_999, 60, 3));
        // After the block, the bucket has refilled for the time it waited.
        assert!(blocked.take(60_000, 60, 3));
    }
}
