//! The feed's decision, a pure function of each source's last good answer, the time and the
//! configuration: the price to post, or the typed reason to post nothing.

use super::{Reading, MAX_CLOCK_AHEAD_MS};
use crate::config::PriceSection;
use cairn_types::Price;

/// Why a round posts no price.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// Fewer fresh sources than `min_sources`.
    #[error("{fresh} fresh sources of {needed} needed")]
    TooFewFresh {
        /// Fresh sources.
        fresh: usize,
        /// `min_sources`.
        needed: usize,
    },
    /// Enough fresh sources, but fewer than `min_sources` of them within `max_deviation_bps`
    /// of the others' median.
    #[error(
        "{agreeing} of {fresh} fresh sources within {max_deviation_bps} bps of the others' \
         median, {needed} needed"
    )]
    TooFewAgree {
        /// Sources left once those far from the others are dropped.
        agreeing: usize,
        /// Fresh sources.
        fresh: usize,
        /// `min_sources`.
        needed: usize,
        /// The bound applied.
        max_deviation_bps: u64,
    },
}

/// The price to post from `readings` (the last good answer of each source, in the order of
/// `section.sources`; a missing entry is a source never read) at `now_ms`: the median of the
/// fresh values that agree with the others, if at least `min_sources` (at least 1) remain.
pub fn decide(
    readings: &[Option<Reading>],
    now_ms: u64,
    section: &PriceSection,
) -> Result<Price, FeedError> {
    let needed = section.min_sources.max(1);
    let fresh: Vec<u64> = (0..section.sources.len())
        .filter_map(|index| {
            let reading = readings.get(index).copied().flatten()?;
            is_fresh(&reading, now_ms, section.max_age_secs_of(index)).then_some(reading.price.0)
        })
        .collect();
    if fresh.len() < needed {
        return Err(FeedError::TooFewFresh {
            fresh: fresh.len(),
            needed,
        });
    }
    let kept = agreeing(&fresh, section.max_deviation_bps);
    let too_few = || FeedError::TooFewAgree {
        agreeing: kept.len(),
        fresh: fresh.len(),
        needed,
        max_deviation_bps: section.max_deviation_bps,
    };
    if kept.len() < needed {
        return Err(too_few());
    }
    median(&kept).map(Price).ok_or_else(too_few)
}

/// Whether `reading` counts at `now_ms`: at most `max_age_secs` old, and not more than
/// [`MAX_CLOCK_AHEAD_MS`] ahead of the clock.
pub fn is_fresh(reading: &Reading, now_ms: u64, max_age_secs: u64) -> bool {
    let not_ahead = reading.at_ms <= now_ms.saturating_add(MAX_CLOCK_AHEAD_MS);
    let age_ms = now_ms.saturating_sub(reading.at_ms);
    not_ahead && age_ms <= max_age_secs.saturating_mul(1_000)
}

/// The median of `values` (`None` if empty): the middle value of an odd count; of an even
/// count the midpoint of the two middle values, rounded down. Always between the least and
/// the greatest value.
pub fn median(values: &[u64]) -> Option<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let upper = *sorted.get(sorted.len() / 2)?;
    if sorted.len() % 2 == 1 {
        return Some(upper);
    }
    let lower = sorted[sorted.len() / 2 - 1];
    // Rounded down, and no overflow: lower + ⌊(upper − lower) / 2⌋ ≤ upper.
    Some(lower + (upper - lower) / 2)
}

/// The values (sorted) within `max_deviation_bps` of the median of the other values. Of an
/// even number of others the median is the interval between their two middle values, and a
/// value is measured to its nearer end (inside it: distance 0), relative to that end. A value
/// with no others is kept.
pub fn agreeing(values: &[u64], max_deviation_bps: u64) -> Vec<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    (0..sorted.len())
        .filter(|&index| {
            let mut others = sorted.clone();
            let value = others.remove(index);
            near_median(value, &others, max_deviation_bps)
        })
        .map(|index| sorted[index])
        .collect()
}

/// Whether `value` is within `max_deviation_bps` of the median of `sorted` (see [`agreeing`]).
fn near_median(value: u64, sorted: &[u64], max_deviation_bps: u64) -> bool {
    let count = sorted.len();
    if count == 0 {
        return true;
    }
    let high = sorted[count / 2];
    let low = if count % 2 == 1 {
        high
    } else {
        sorted[count / 2 - 1]
    };
    let nearest = value.clamp(low, high);
    // In u128: a distance in nano-dollars times 10,000 does not fit a u64.
    u128::from(value.abs_diff(nearest)) * 10_000
        <= u128::from(max_deviation_bps) * u128::from(nearest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PriceSourceSection;
    use proptest::prelude::*;

    const NOW_MS: u64 = 1_700_000_000_000;

    fn section(sources: usize, min_sources: usize) -> PriceSection {
        let source = |i: usize| PriceSourceSection {
            name: format!("s{i}"),
            url: format!("http://127.0.0.1:1/{i}"),
            field: "price".into(),
            unit: Default::default(),
            time_field: String::new(),
            max_age_secs: None,
        };
        PriceSection {
            source: "http".into(),
            min_sources,
            sources: (0..sources).map(source).collect(),
            ..PriceSection::default()
        }
    }

    fn fresh(price: u64) -> Option<Reading> {
        Some(Reading {
            price: Price(price),
            at_ms: NOW_MS - 1_000,
        })
    }

    #[test]
    fn the_median_of_fresh_agreeing_sources_is_posted() {
        let three = section(3, 3);
        let readings = [fresh(100), fresh(102), fresh(101)];
        assert_eq!(decide(&readings, NOW_MS, &three), Ok(Price(101)));
        let four = section(4, 3);
        let readings = [fresh(100), fresh(103), fresh(101), fresh(104)];
        // Even count: the midpoint of 101 and 103.
        assert_eq!(decide(&readings, NOW_MS, &four), Ok(Price(102)));
        // Rounded down: the midpoint of 100 and 101.
        assert_eq!(median(&[101, 100]), Some(100));
        assert_eq!(median(&[u64::MAX, u64::MAX - 1]), Some(u64::MAX - 1));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn stale_and_missing_sources_do_not_count() {
        let mut three = section(3, 3);
        let old = Some(Reading {
            price: Price(100),
            at_ms: NOW_MS - 301_000,
        });
        let readings = [fresh(100), old, fresh(100)];
        assert_eq!(
            decide(&readings, NOW_MS, &three),
            Err(FeedError::TooFewFresh {
                fresh: 2,
                needed: 3
            })
        );
        assert_eq!(
            decide(&readings, NOW_MS, &three).unwrap_err().to_string(),
            "2 fresh sources of 3 needed"
        );
        // Its own bound makes the old answer fresh; one second less makes it stale again.
        three.sources[1].max_age_secs = Some(301);
        assert_eq!(decide(&readings, NOW_MS, &three), Ok(Price(100)));
        three.sources[1].max_age_secs = Some(300);
        assert!(decide(&readings, NOW_MS, &three).is_err());
        // Never read, or fewer readings than sources.
        assert!(decide(&[fresh(1), None, fresh(1)], NOW_MS, &three).is_err());
        assert!(decide(&[fresh(1), fresh(1)], NOW_MS, &three).is_err());
        // An answer dated more than a minute ahead does not count.
        let ahead = Reading {
            price: Price(1),
            at_ms: NOW_MS + MAX_CLOCK_AHEAD_MS + 1,
        };
        assert!(!is_fresh(&ahead, NOW_MS, 300));
        assert!(is_fresh(
            &Reading {
                at_ms: NOW_MS + MAX_CLOCK_AHEAD_MS,
                ..ahead
            },
            NOW_MS,
            300
        ));
    }

    #[test]
    fn a_source_far_from_the_others_is_dropped() {
        let four = section(4, 3);
        // 10x off: dropped, the median of the other three posted.
        let readings = [fresh(1_000), fresh(10_000), fresh(1_010), fresh(990)];
        assert_eq!(decide(&readings, NOW_MS, &four), Ok(Price(1_000)));
        // Exactly 10% from the others' median is kept; beyond it is dropped.
        assert_eq!(
            agreeing(&[1_000, 1_000, 1_100], 1_000),
            [1_000, 1_000, 1_100]
        );
        assert_eq!(agreeing(&[1_000, 1_000, 1_101], 1_000), [1_000, 1_000]);
        // Two sources that disagree: neither can be believed.
        let two = section(2, 2);
        assert_eq!(
            decide(&[fresh(100), fresh(200)], NOW_MS, &two),
            Err(FeedError::TooFewAgree {
                agreeing: 0,
                fresh: 2,
                needed: 2,
                max_deviation_bps: 1_000
            })
        );
        // Two liars of five, far apart or together, move nothing.
        let five = section(5, 3);
        let readings = [fresh(100), fresh(101), fresh(102), fresh(1), fresh(9_999)];
        assert_eq!(decide(&readings, NOW_MS, &five), Ok(Price(101)));
        let readings = [fresh(100), fresh(101), fresh(102), fresh(500), fresh(500)];
        assert_eq!(decide(&readings, NOW_MS, &five), Ok(Price(101)));
    }

    proptest! {
        #[test]
        fn the_median_lies_between_the_least_and_the_greatest(
            values in prop::collection::vec(1u64..=u64::MAX, 1..40)
        ) {
            let median = median(&values).unwrap();
            prop_assert!(values.iter().min().unwrap() <= &median);
            prop_assert!(&median <= values.iter().max().unwrap());
        }

        #[test]
        fn a_posted_price_lies_within_the_fresh_values(
            prices in prop::collection::vec(1u64..=u64::MAX, 1..16),
            ages_secs in prop::collection::vec(0u64..600, 16),
            min_sources in 1usize..16,
            max_deviation_bps in 1u64..=10_000,
        ) {
            let mut config = section(prices.len(), min_sources.min(prices.len()));
            config.max_deviation_bps = max_deviation_bps;
            let readings: Vec<Option<Reading>> = prices
                .iter()
                .zip(&ages_secs)
                .map(|(&price, &age)| Some(Reading { price: Price(price), at_ms: NOW_MS - age * 1_000 }))
                .collect();
            let fresh: Vec<u64> = readings
                .iter()
                .flatten()
                .filter(|r| is_fresh(r, NOW_MS, config.max_age_secs))
                .map(|r| r.price.0)
                .collect();
            if let Ok(Price(price)) = decide(&readings, NOW_MS, &config) {
                prop_assert!(fresh.len() >= config.min_sources);
                prop_assert!(fresh.iter().min().unwrap() <= &price);
                prop_assert!(&price <= fresh.iter().max().unwrap());
            }
        }

        /// Fewer than half the sources lying, however they lie, cannot move the median outside
        /// the honest values' range: not the plain median, and not the price posted, which is
        /// always posted while the honest agree (here within 1%, the bound being 10%) and are
        /// at least `min_sources`.
        #[test]
        fn a_minority_of_liars_cannot_move_the_price_outside_the_honest_range(
            base in 1_000u64..1_000_000_000_000,
            honest_offsets_bp in prop::collection::vec(0u64..=100, 1..9),
            lies in prop::collection::vec(1u64..=u64::MAX, 0..8),
            seed in any::<u64>(),
        ) {
            let honest: Vec<u64> =
                honest_offsets_bp.iter().map(|bp| base + base / 10_000 * bp).collect();
            let liars = lies.len().min(honest.len() - 1);
            let mut all: Vec<u64> = honest.iter().copied().chain(lies[..liars].iter().copied()).collect();
            // Where the liars sit among the sources does not matter.
            let turn = usize::try_from(seed % all.len() as u64).unwrap();
            all.rotate_left(turn);
            let (low, high) = (*honest.iter().min().unwrap(), *honest.iter().max().unwrap());
            let plain = median(&all).unwrap();
            prop_assert!(low <= plain && plain <= high, "{plain} outside {low}..={high}");
            let config = section(all.len(), honest.len());
            let readings: Vec<Option<Reading>> = all.iter().map(|&p| fresh(p)).collect();
            let posted = decide(&readings, NOW_MS, &config);
            prop_assert!(
                matches!(posted, Ok(Price(p)) if low <= p && p <= high),
                "{posted:?} outside {low}..={high}"
            );
        }
    }
}
