//! The oracle's live price feed (`[price] source = "http"`): each round it asks every
//! configured HTTP JSON source at once, keeps each one's last good answer, and decides the
//! price to post from the fresh ones, or decides to post nothing.
//!
//! A round, every `interval_secs`:
//!
//! 1. *Fetch* ([`fetch`]): one GET per source, all at once on threads of their own, each bounded
//!    by `request_timeout_secs` (connection to last byte) and `max_response_bytes`. The round
//!    waits for them at most that timeout and a second more: a source that stalls is given up
//!    on for this round and cannot delay it. The price is read at the source's `field` path as
//!    exact decimal text (`price_json`), scaled by its `unit` to nano-dollars; its time at
//!    `time_field`, if set.
//! 2. *Keep*: a good answer replaces the source's last one, with its time (the answer's time
//!    field, else when the round began). A failure keeps the last good answer as it was: it is
//!    not refreshed, so it goes stale by itself.
//! 3. *Decide* ([`decide`], pure): a source is fresh while its answer is at most its
//!    `max_age_secs` old (and not more than a minute ahead of this oracle's clock). With fewer
//!    than `min_sources` fresh, nothing is posted ([`FeedError::TooFewFresh`]). Otherwise each
//!    fresh value farther than `max_deviation_bps` from the median of the *other* fresh values
//!    is dropped; with fewer than `min_sources` left, nothing is posted
//!    ([`FeedError::TooFewAgree`]); else the median of those left is posted.
//!
//! The median is plain, not weighted by volume: of an odd count the middle value, of an even
//! count the midpoint of the two middle values rounded down. For dropping, the others' median
//! of an even count is the whole interval between their two middle values (a value inside it,
//! or within the deviation of its nearer end, is kept): with fewer than half of the sources
//! lying, every honest value that agrees with the other honest ones is kept, and the median
//! posted lies within the honest values' range (the property tests of [`decide`]).
//!
//! Posting itself is `price`'s; this module never talks to the chain.

mod decide;
mod fetch;

pub use decide::{agreeing, decide, is_fresh, median, FeedError};
pub use fetch::SourceError;

use crate::config::PriceSection;
use cairn_types::Price;
use std::time::Duration;

/// How far ahead of this oracle's clock a source's time may be and its answer still count
/// (clocks differ a little; an answer dated later than this is refused).
pub const MAX_CLOCK_AHEAD_MS: u64 = 60_000;
/// How much longer than `request_timeout_secs` a round waits for its answers: the time a
/// request's thread takes to report once the client's own timeout has ended it.
pub const ROUND_GRACE: Duration = Duration::from_secs(1);

/// A source's good answer: its price and the time it is of (the answer's own time, else when
/// it was read), in ms since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// The price, in nano-dollars per token.
    pub price: Price,
    /// When the price is of, in ms since the Unix epoch.
    pub at_ms: u64,
}

/// What one round did.
#[derive(Debug)]
pub struct Round {
    /// The price to post, or why nothing is posted.
    pub decision: Result<Price, FeedError>,
    /// Each source's answer this round, in the order of `[[price.sources]]`.
    pub answers: Vec<Result<Reading, SourceError>>,
}

/// The feed: the sources, the HTTP client, and each source's last good answer.
pub struct Feed {
    section: PriceSection,
    agent: ureq::Agent,
    last: Vec<Option<Reading>>,
}

impl Feed {
    /// A feed of `section`'s sources (checked at config load), none read yet.
    pub fn new(section: PriceSection) -> Feed {
        let timeout = Duration::from_secs(section.request_timeout_secs.max(1));
        let agent = ureq::Agent::config_builder()
            // End to end: connecting, sending, and reading the whole answer.
            .timeout_global(Some(timeout))
            // A source is the URL its operator chose: no redirect elsewhere.
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .new_agent();
        let last = vec![None; section.sources.len()];
        Feed {
            section,
            agent,
            last,
        }
    }

    /// One round begun at `now_ms` (ms since the Unix epoch): every source asked, the answers
    /// kept, the price decided. Takes at most `request_timeout_secs` and [`ROUND_GRACE`].
    pub fn round(&mut self, now_ms: u64) -> Round {
        let answers = fetch::fetch_all(&self.agent, &self.section, now_ms);
        for (last, answer) in self.last.iter_mut().zip(&answers) {
            if let Ok(reading) = answer {
                *last = Some(*reading);
            }
        }
        let decision = decide(&self.last, now_ms, &self.section);
        Round { decision, answers }
    }

    /// Each source's last good answer, in the order of `[[price.sources]]`.
    pub fn last(&self) -> &[Option<Reading>] {
        &self.last
    }

    /// The sources' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.section
            .sources
            .iter()
            .map(|source| source.name.as_str())
    }
}
