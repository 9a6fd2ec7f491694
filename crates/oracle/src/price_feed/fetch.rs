//! Asking every source of a round at once: one thread and one bounded GET each, the answers
//! gathered until the round's deadline, a source that stalls past it counted as timed out.

use super::{Reading, MAX_CLOCK_AHEAD_MS, ROUND_GRACE};
use crate::config::{PriceSection, PriceSourceSection};
use crate::price_json::{lookup, scaled_decimal, unix_time_ms, DecimalError, PathError};
use cairn_types::Price;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Why a source gave no price this round.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// It could not be reached (refused, reset, no such host).
    #[error("unreachable: {reason}")]
    Unreachable {
        /// The client's error.
        reason: String,
    },
    /// No whole answer within `request_timeout_secs`.
    #[error("no answer within {secs} s")]
    TimedOut {
        /// The timeout.
        secs: u64,
    },
    /// It answered with an HTTP error.
    #[error("answered HTTP {code}")]
    Status {
        /// The status code.
        code: u16,
    },
    /// Its answer is longer than `max_response_bytes`.
    #[error("answer longer than {limit} bytes")]
    TooLarge {
        /// The bound.
        limit: u64,
    },
    /// Its answer could not be read whole as text (bad bytes, cut short).
    #[error("unreadable answer: {reason}")]
    BadBody {
        /// The client's error.
        reason: String,
    },
    /// The price or time is not where the path says.
    #[error("{what}: {error}")]
    Field {
        /// `price` or `time`.
        what: &'static str,
        /// Why.
        error: PathError,
    },
    /// The price or time found is not a number this feed takes.
    #[error("{what}: {error}")]
    Value {
        /// `price` or `time`.
        what: &'static str,
        /// Why.
        error: DecimalError,
    },
    /// The answer's time is ahead of this oracle's clock by more than a minute.
    #[error("its time {at_ms} ms is ahead of this oracle's clock ({now_ms} ms)")]
    Ahead {
        /// The answer's time.
        at_ms: u64,
        /// This oracle's.
        now_ms: u64,
    },
}

/// Every source of `section` asked at once; each one's answer, in order. Returns by the
/// round's deadline (`request_timeout_secs` and [`ROUND_GRACE`]) whatever has not answered.
pub(super) fn fetch_all(
    agent: &ureq::Agent,
    section: &PriceSection,
    now_ms: u64,
) -> Vec<Result<Reading, SourceError>> {
    let timeout = Duration::from_secs(section.request_timeout_secs);
    let deadline = Instant::now() + timeout + ROUND_GRACE;
    let timed_out = || SourceError::TimedOut {
        secs: section.request_timeout_secs,
    };
    let mut answers: Vec<Result<Reading, SourceError>> =
        section.sources.iter().map(|_| Err(timed_out())).collect();
    let (sender, receiver) = mpsc::channel();
    let mut asked = 0;
    for (index, source) in section.sources.iter().enumerate() {
        let (sender, agent, source) = (sender.clone(), agent.clone(), source.clone());
        let bounds = (section.max_response_bytes, section.request_timeout_secs);
        // A thread that outlives the round (its source stalled) ends at the client's timeout;
        // its answer then finds the channel closed and is dropped.
        let spawned = std::thread::Builder::new()
            .name(format!("price-source-{index}"))
            .spawn(move || {
                let answer = read_source(&agent, &source, bounds, now_ms);
                let _ = sender.send((index, answer));
            });
        match spawned {
            Ok(_) => asked += 1,
            Err(error) => {
                answers[index] = Err(SourceError::Unreachable {
                    reason: format!("no thread: {error}"),
                })
            }
        }
    }
    drop(sender);
    for _ in 0..asked {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok((index, answer)) => answers[index] = answer,
            Err(_) => break,
        }
    }
    answers
}

/// One source's price (and time) from one GET of its URL, at most `limit` bytes read within
/// `timeout_secs`.
fn read_source(
    agent: &ureq::Agent,
    source: &PriceSourceSection,
    (limit, timeout_secs): (u64, u64),
    now_ms: u64,
) -> Result<Reading, SourceError> {
    let body = get(agent, &source.url, limit, timeout_secs)?;
    let text = lookup(&body, &source.field).map_err(|error| SourceError::Field {
        what: "price",
        error,
    })?;
    let nano =
        scaled_decimal(&text, source.unit.decimal_shift()).map_err(|error| SourceError::Value {
            what: "price",
            error,
        })?;
    if source.time_field.is_empty() {
        return Ok(Reading {
            price: Price(nano),
            at_ms: now_ms,
        });
    }
    let text = lookup(&body, &source.time_field).map_err(|error| SourceError::Field {
        what: "time",
        error,
    })?;
    let at_ms = unix_time_ms(&text).map_err(|error| SourceError::Value {
        what: "time",
        error,
    })?;
    if at_ms > now_ms.saturating_add(MAX_CLOCK_AHEAD_MS) {
        return Err(SourceError::Ahead { at_ms, now_ms });
    }
    Ok(Reading {
        price: Price(nano),
        at_ms,
    })
}

/// The text at `url`, at most `limit` bytes of it, within `timeout_secs` (the agent's).
fn get(
    agent: &ureq::Agent,
    url: &str,
    limit: u64,
    timeout_secs: u64,
) -> Result<String, SourceError> {
    let timed_out = |error: &ureq::Error| match error {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::TimedOut,
        _ => false,
    };
    let mut response = agent
        .get(url)
        .header("Accept", "application/json")
        .call()
        .map_err(|error| match error {
            error if timed_out(&error) => SourceError::TimedOut { secs: timeout_secs },
            other => SourceError::Unreachable {
                reason: other.to_string(),
            },
        })?;
    if !response.status().is_success() {
        return Err(SourceError::Status {
            code: response.status().as_u16(),
        });
    }
    response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_string()
        .map_err(|error| match error {
            error if timed_out(&error) => SourceError::TimedOut { secs: timeout_secs },
            ureq::Error::BodyExceedsLimit(_) => SourceError::TooLarge { limit },
            other => SourceError::BadBody {
                reason: other.to_string(),
            },
        })
}
