//! One sensor's readings over an epoch, checked one by one, and how complete each hour is.
//!
//! In time order, each reading is refused for the first rule it breaks:
//!
//! 1. `out_of_range`: outside the sensor's plausible range;
//! 2. `implausible_jump`: further from the previous in-range reading than the sensor can change
//!    in the time between them (at least [`SensingRules::jump_floor`] is always allowed). A
//!    spike refuses itself and the return from it; a lasting step refuses one reading;
//! 3. `frozen_sensor`: part of a run of [`SensingRules::flatline_readings`] or more equal
//!    in-range readings, for sensors that do not honestly repeat themselves.
//!
//! An hour of the epoch is complete when at least [`SensingRules::completeness_min_bps`] of its
//! windows hold a valid reading ([`complete_hours`]).

use super::rules::{SensingRules, SensorRule};
use crate::reason::Reason;

/// One reading: the device's time (ms) and the value (thousandths of the unit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reading {
    /// When it was read.
    pub time_ms: u64,
    /// What it read.
    pub value: i64,
}

/// One hour, in ms.
pub const HOUR_MS: u64 = 3_600_000;

/// The verdict on each of `readings` (in time order) of a sensor under `rule`.
pub fn check_series(
    rules: &SensingRules,
    rule: &SensorRule,
    readings: &[Reading],
) -> Vec<Result<(), Reason>> {
    let mut out = vec![Ok(()); readings.len()];
    // 1 and 2: range, then jumps from the previous in-range reading.
    let mut previous: Option<Reading> = None;
    for (i, r) in readings.iter().enumerate() {
        if r.value < rule.min || r.value > rule.max {
            out[i] = Err(Reason::OutOfRange);
            continue;
        }
        if let Some(p) = previous {
            let gap_ms = u128::from(r.time_ms.saturating_sub(p.time_ms));
            // Rounded up: rounding never refuses an honest reading.
            let allowed = (u128::from(rule.max_change_per_hour.unsigned_abs()) * gap_ms)
                .div_ceil(u128::from(HOUR_MS))
                .max(u128::from(rules.jump_floor.unsigned_abs()));
            let change = u128::from(r.value.abs_diff(p.value));
            if change > allowed {
                out[i] = Err(Reason::ImplausibleJump);
            }
        }
        previous = Some(*r);
    }
    // 3: runs of equal in-range readings.
    if rule.flatlines && rules.flatline_readings > 0 {
        let mut start = 0;
        while start < readings.len() {
            let mut end = start + 1;
            while end < readings.len() && readings[end].value == readings[start].value {
                end += 1;
            }
            let in_range = out[start] != Err(Reason::OutOfRange);
            if in_range && end - start >= rules.flatline_readings {
                for verdict in &mut out[start..end] {
                    if verdict.is_ok() {
                        *verdict = Err(Reason::FrozenSensor);
                    }
                }
            }
            start = end;
        }
    }
    out
}

/// Of the hours of the epoch `[start_ms, end_ms)` that hold a whole window, how many are
/// complete, and how many there are (see [`hourly_medians`]).
pub fn complete_hours(
    bounds: (u64, u64),
    window_ms: u64,
    completeness_min_bps: u64,
    valid_ms: &[u64],
) -> (u64, u64) {
    let valid: Vec<Reading> = valid_ms
        .iter()
        .map(|t| Reading {
            time_ms: *t,
            value: 0,
        })
        .collect();
    let hours = hourly_medians(bounds, window_ms, completeness_min_bps, &valid);
    (hours.iter().flatten().count() as u64, hours.len() as u64)
}

/// For each hour of the epoch `[start_ms, end_ms)` (the last one may be shorter) that holds a
/// whole window, the median of the `valid` readings of its windows (the lower of the two middle
/// ones), if the hour is complete: the windows (of `window_ms`) holding a valid reading are at
/// least `completeness_min_bps` of its windows, rounded up. `None` for an incomplete hour.
///
/// A window belongs to the hour its start is in, and counts only if it lies wholly inside the
/// epoch: a station that reads once a window has every hour complete, whatever the phase of
/// the epoch's bounds, and no reading stamped at an edge buys an hour. Hours without a whole
/// window are left out (the same for every station of the epoch).
pub fn hourly_medians(
    (start_ms, end_ms): (u64, u64),
    window_ms: u64,
    completeness_min_bps: u64,
    valid: &[Reading],
) -> Vec<Option<i64>> {
    let window_ms = window_ms.max(1);
    // The whole windows: first..last (exclusive).
    let first = start_ms.div_ceil(window_ms);
    let last = end_ms / window_ms;
    let mut by_window: std::collections::BTreeMap<u64, Vec<i64>> = Default::default();
    for r in valid {
        let w = r.time_ms / window_ms;
        if (first..last).contains(&w) {
            by_window.entry(w).or_default().push(r.value);
        }
    }
    let mut out = Vec::new();
    let mut from = start_ms;
    while from < end_ms {
        let to = from.saturating_add(HOUR_MS).min(end_ms);
        // Windows whose start is in [from, to), among the whole ones.
        let lo = from.div_ceil(window_ms).max(first);
        let hi = to.div_ceil(window_ms).min(last);
        from = to;
        if lo >= hi {
            continue;
        }
        let total = hi - lo;
        let mut values: Vec<i64> = Vec::new();
        let mut have = 0u64;
        for (_, v) in by_window.range(lo..hi) {
            have += 1;
            values.extend(v);
        }
        let needed = (u128::from(total) * u128::from(completeness_min_bps)).div_ceil(10_000);
        let complete = u128::from(have) >= needed && !values.is_empty();
        out.push(complete.then(|| lower_median(&mut values)));
    }
    out
}

/// The lower of the two middle values (the middle one for an odd count); 0 for none.
pub fn lower_median(values: &mut [i64]) -> i64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    values[(values.len() - 1) / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[i64], every_ms: u64) -> Vec<Reading> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Reading {
                time_ms: i as u64 * every_ms,
                value: *v,
            })
            .collect()
    }

    fn verdicts(sensor: &str, values: &[i64], every_ms: u64) -> Vec<Result<(), Reason>> {
        let rules = SensingRules::default();
        let rule = rules.sensor(sensor).unwrap().clone();
        check_series(&rules, &rule, &series(values, every_ms))
    }

    #[test]
    fn range_passes_plausible_values_and_refuses_the_rest() {
        let v = verdicts("temperature", &[21_000, 61_000, 21_100, -91_000], 60_000);
        assert_eq!(
            v,
            [
                Ok(()),
                Err(Reason::OutOfRange),
                Ok(()),
                Err(Reason::OutOfRange)
            ]
        );
        assert_eq!(
            verdicts("humidity", &[100_000, 100_001], 600_000)[1],
            Err(Reason::OutOfRange)
        );
    }

    #[test]
    fn a_jump_faster_than_the_sensor_can_change_is_refused() {
        // 10 °C an hour: 1 °C in 6 minutes is fine, 3 °C in 6 minutes is not; a spike refuses
        // itself and the return; a lasting step refuses one reading.
        let six_min = 360_000;
        assert_eq!(
            verdicts("temperature", &[20_000, 21_000, 22_000], six_min),
            [Ok(()); 3]
        );
        let spike = verdicts("temperature", &[20_000, 23_000, 20_000, 20_100], six_min);
        assert_eq!(
            spike,
            [
                Ok(()),
                Err(Reason::ImplausibleJump),
                Err(Reason::ImplausibleJump),
                Ok(())
            ]
        );
        let step = verdicts("temperature", &[20_000, 30_000, 30_100, 30_200], six_min);
        assert_eq!(step, [Ok(()), Err(Reason::ImplausibleJump), Ok(()), Ok(())]);
        // Readings seconds apart may always move by the floor (0.5 °C).
        assert_eq!(
            verdicts("temperature", &[20_000, 20_500], 1_000),
            [Ok(()); 2]
        );
        assert_eq!(
            verdicts("temperature", &[20_000, 20_501], 1_000)[1],
            Err(Reason::ImplausibleJump)
        );
    }

    #[test]
    fn a_frozen_sensor_is_refused_but_a_calm_wind_is_not() {
        let rules = SensingRules::default();
        let n = rules.flatline_readings;
        let mut values = vec![15_000; n];
        values.push(15_100);
        let v = verdicts("temperature", &values, 60_000);
        assert!(v[..n].iter().all(|r| *r == Err(Reason::FrozenSensor)));
        assert_eq!(v[n], Ok(()));
        // One fewer in the run is not frozen.
        let v = verdicts("temperature", &values[1..], 60_000);
        assert!(v.iter().all(|r| r.is_ok()));
        // Wind may honestly read 0 for hours.
        let calm = verdicts("wind_speed", &vec![0; 2 * n], 60_000);
        assert!(calm.iter().all(|r| r.is_ok()));
    }

    #[test]
    fn every_hour_is_whole_whatever_the_phase_of_the_epoch() {
        // Hourly windows, an epoch starting half an hour past: a station reading 10 minutes
        // into each window has every hour complete; the windows cut by the edges do not count.
        let start = HOUR_MS / 2;
        let epoch = (start, start + 24 * HOUR_MS);
        let times: Vec<u64> = (0..26).map(|w| w * HOUR_MS + 600_000).collect();
        assert_eq!(complete_hours(epoch, HOUR_MS, 6_700, &times), (23, 23));
        // A reading stamped inside a cut window buys nothing.
        assert_eq!(complete_hours(epoch, HOUR_MS, 6_700, &[start + 1]), (0, 23));
    }

    #[test]
    fn a_complete_hour_carries_its_median() {
        let window = 60_000;
        let readings: Vec<Reading> = (0..60)
            .map(|w| Reading {
                time_ms: w * window,
                value: if w == 7 { 90_000 } else { 20_000 + w as i64 },
            })
            .collect();
        let hours = hourly_medians((0, 2 * HOUR_MS), window, 6_700, &readings);
        // The outlier does not move the median; the second hour has no readings.
        assert_eq!(hours, vec![Some(20_030), None]);
        assert_eq!(lower_median(&mut [3, 1, 2, 4]), 2);
    }

    #[test]
    fn an_hour_is_complete_with_two_thirds_of_its_windows() {
        let window = 60_000;
        // 67% of 60 windows is 40.2, rounded up: 41 windows needed.
        let times: Vec<u64> = (0..41).map(|w| w * window + 5).collect();
        assert_eq!(complete_hours((0, HOUR_MS), window, 6_700, &times), (1, 1));
        assert_eq!(
            complete_hours((0, HOUR_MS), window, 6_700, &times[1..]),
            (0, 1)
        );
        // Two readings in one window fill it once.
        let doubled: Vec<u64> = times[1..]
            .iter()
            .chain([window + 6].iter())
            .copied()
            .collect();
        assert_eq!(
            complete_hours((0, HOUR_MS), window, 6_700, &doubled),
            (0, 1)
        );
        // An epoch of two and a half hours has three hours; the last is judged on its own
        // windows; readings outside the epoch do not count.
        let all: Vec<u64> = (0..150).map(|w| w * window).collect();
        assert_eq!(complete_hours((0, 9_000_000), window, 6_700, &all), (3, 3));
        assert_eq!(
            complete_hours((0, 9_000_000), window, 6_700, &all[..100]),
            (1, 3)
        );
        let outside = [10_000_000u64];
        assert_eq!(
            complete_hours((0, HOUR_MS), window, 6_700, &outside),
            (0, 1)
        );
    }
}
