//! Posting the token price that burns need, from the configured source (`[price]`): a fixed
//! price, a script of prices taken in turn (then the last one kept), or the live HTTP feed of
//! `price_feed` (the median of fresh, agreeing sources, or nothing), every `interval_secs`.

use crate::chain::submit::{Outcome, Submitter};
use crate::config::PriceSection;
use crate::price_feed::Feed;
use cairn_types::tx::Action;
use cairn_types::Price;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The price to post at the `round`-th post (from 0), if the source gives one (`fixed` and
/// `script`; the `http` feed's price is [`Feed::round`]'s).
pub fn price_at(source: &PriceSection, round: usize) -> Option<Price> {
    match source.source.as_str() {
        "fixed" => source.nano_usd.first().copied().map(Price),
        "script" => source
            .nano_usd
            .get(round.min(source.nano_usd.len().saturating_sub(1)))
            .copied()
            .map(Price),
        _ => None,
    }
}

/// What one turn of [`run`] does.
enum Next {
    /// Post this price.
    Post(Price),
    /// Post nothing this turn (the feed's reason is logged).
    Skip,
    /// Post nothing ever (`none`).
    Stop,
}

/// The next price of `source`: from `feed` if it is `http`, else its `round`-th listed price.
fn next(source: &PriceSection, feed: Option<&mut Feed>, round: usize) -> Next {
    let Some(feed) = feed else {
        return price_at(source, round).map_or(Next::Stop, Next::Post);
    };
    let done = feed.round(crate::now_ms());
    for (name, answer) in feed.names().zip(&done.answers) {
        if let Err(error) = answer {
            tracing::warn!(source = name, %error, "oracle.price: a source gave no price");
        }
    }
    match done.decision {
        Ok(price) => Next::Post(price),
        Err(error) => {
            tracing::warn!("oracle.price: not posting: {error}");
            Next::Skip
        }
    }
}

/// Posts prices until `stopping` is set (a blocking loop for its own thread).
pub fn run(source: PriceSection, submitter: &Submitter, stopping: &AtomicBool) {
    let every = Duration::from_secs(source.interval_secs.max(1));
    if let Some(warning) = source.warning() {
        tracing::warn!("oracle.price: {warning}");
    }
    let mut feed = (source.source == "http").then(|| Feed::new(source.clone()));
    let mut round = 0;
    while !stopping.load(Ordering::Relaxed) {
        match next(&source, feed.as_mut(), round) {
            Next::Post(price) => match submitter.send(Action::PostPrice { price }) {
                Ok(Outcome::Included { height }) => {
                    tracing::info!(price = price.0, height, "oracle.price: posted");
                    round += 1;
                }
                Ok(other) => tracing::warn!(?other, "oracle.price: the post was not taken"),
                Err(error) => tracing::warn!(%error, "oracle.price: the node did not answer"),
            },
            Next::Skip => {}
            Next::Stop => return,
        }
        let start = std::time::Instant::now();
        while start.elapsed() < every && !stopping.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_is_taken_in_turn_then_its_last_price_kept() {
        let script = PriceSection {
            source: "script".into(),
            nano_usd: vec![1, 2, 3],
            interval_secs: 1,
            ..PriceSection::default()
        };
        let prices: Vec<u64> = (0..5).map(|r| price_at(&script, r).unwrap().0).collect();
        assert_eq!(prices, [1, 2, 3, 3, 3]);
        let fixed = PriceSection {
            source: "fixed".into(),
            nano_usd: vec![7, 8],
            interval_secs: 1,
            ..PriceSection::default()
        };
        assert_eq!(price_at(&fixed, 4), Some(Price(7)));
        let none = PriceSection {
            source: "none".into(),
            ..fixed
        };
        assert_eq!(price_at(&none, 0), None);
        let http = PriceSection {
            source: "http".into(),
            ..PriceSection::default()
        };
        assert_eq!(price_at(&http, 0), None);
    }
}
