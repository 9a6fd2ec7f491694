//! A sensing epoch's outcome per station: its points, its quality and why it lost what it lost.
//!
//! For each station (a sensing device that is not retired), in order:
//!
//! 1. its counted readings, per sensor in time order, go through [`check_series`] (range, jumps,
//!    frozen sensors, under [`SensingRules::for_epoch`]); readings of unknown sensors are refused (`unknown_sensor`);
//! 2. each hour of the epoch of each sensor is complete or not ([`hourly_medians`],
//!    `incomplete_hour`), and a complete hour carries the median of its valid readings;
//! 3. a complete hour of a sensor with an agreement tolerance is compared with its neighbours:
//!    stations whose cells at [`SensingRules::neighbour_resolution`] are at most one step away.
//!    When at least [`SensingRules::min_neighbours`] of them have a complete hour of the sensor,
//!    an hour further than the tolerance from the median of theirs earns nothing
//!    (`disagrees_with_neighbours`); with fewer neighbours the hour stands on its own. Only
//!    stations that may vote are neighbours: per cell, the longest registered stations not
//!    in quarantine, at most [`SensingRules::max_stations_per_cell`] of them;
//! 4. its points are its good sensor-hours (complete, and agreeing or unjudged); an hour of a
//!    sensor without a tolerance (wind, rain) is good only beside a good hour of a sensor with
//!    one (`uncorroborated`); its quality is that share of the hours of the sensors it
//!    reported, in basis points, rounded down;
//! 5. a station without a location earns nothing (`no_location`), nor one whose location
//!    changed within [`SensingRules::quarantine_epochs`] reward epochs (`relocated`);
//! 6. per cell, at most [`SensingRules::max_stations_per_cell`] stations with points keep them:
//!    the best quality first, then the longest registered, then the smaller id (`cell_full`).
//!
//! Everything is integers and ordered maps: every oracle computes the same.

use super::kind::{sensor_reading, SensorReading};
use super::rules::SensingRules;
use super::series::{check_series, hourly_medians, lower_median, Reading};
use crate::counted::{DeviceResult, TallyResult};
use crate::reason::Reason;
use crate::subnet::kept_of;
use cairn_types::report::ReportKind;
use cairn_types::{Cell, DeviceId, Subnetwork};
use std::collections::BTreeMap;

pub use crate::context::StationHistory;

/// What the sensing verifier reads besides the tally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SensingInputs {
    /// The network's rules.
    pub rules: SensingRules,
    /// The reward epoch.
    pub epoch: u64,
    /// Its bounds `[start_ms, end_ms)`.
    pub bounds: (u64, u64),
    /// The uptime window, in ms (hours are judged by the windows holding readings).
    pub window_ms: u64,
    /// Each station's past; a station missing here is taken as registered at height 0, never
    /// moved.
    pub history: BTreeMap<DeviceId, StationHistory>,
}

/// One station's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SensingOutcome {
    /// Good sensor-hours: its share of the pool.
    pub points: u64,
    /// Good sensor-hours over the hours of the sensors it reported, in basis points.
    pub quality_bps: u64,
    /// What it lost, by reason: readings refused, sensor-hours not counted, or 1 for a station
    /// refused as a whole.
    pub refused: BTreeMap<Reason, u64>,
}

/// One station's hours, per known sensor: the median of each complete hour.
struct Station {
    id: DeviceId,
    cell: Option<Cell>,
    hours: BTreeMap<&'static str, Vec<Option<i64>>>,
    outcome: SensingOutcome,
}

/// Every station's outcome (see the module doc).
pub fn sensing_outcomes(
    tally: &TallyResult,
    inputs: &SensingInputs,
) -> BTreeMap<DeviceId, SensingOutcome> {
    let rules = &inputs.rules;
    let (start_ms, end_ms) = inputs.bounds;
    let epoch_rules = rules.for_epoch(end_ms.saturating_sub(start_ms) / inputs.window_ms.max(1));
    let mut stations: Vec<Station> = tally
        .devices
        .iter()
        .filter(|(_, d)| d.info.subnetwork == Subnetwork::Sensing && !d.info.retired)
        .map(|(id, d)| station_hours(*id, d, inputs, &epoch_rules))
        .collect();
    let by_cell = stations_by_cell(&stations);
    let history = |s: &Station| inputs.history.get(&s.id).copied().unwrap_or_default();
    let relocated: Vec<bool> = stations
        .iter()
        .map(|s| {
            history(s)
                .moved_epoch
                .is_some_and(|e| inputs.epoch < e.saturating_add(rules.quarantine_epochs))
        })
        .collect();
    // Who may vote on their neighbours: per cell, the longest registered stations that are
    // not in quarantine, as many as a cell may have paid.
    let voters: BTreeMap<Cell, Vec<usize>> = by_cell
        .iter()
        .map(|(cell, members)| {
            let mut eligible: Vec<usize> =
                members.iter().copied().filter(|i| !relocated[*i]).collect();
            eligible.sort_by_key(|i| (history(&stations[*i]).registered_height, stations[*i].id));
            eligible.truncate(rules.max_stations_per_cell);
            (*cell, eligible)
        })
        .collect();
    // 3 and 4: agreement, then points and quality.
    let mut judged = Vec::with_capacity(stations.len());
    for (i, station) in stations.iter().enumerate() {
        let neighbours: Vec<usize> = station
            .cell
            .map(|cell| {
                cell.disk(1)
                    .iter()
                    .flat_map(|c| voters.get(c).into_iter().flatten())
                    .copied()
                    .filter(|j| *j != i)
                    .collect()
            })
            .unwrap_or_default();
        judged.push(judge(station, &neighbours, &stations, rules));
    }
    for (station, hours) in stations.iter_mut().zip(judged) {
        let outcome = &mut station.outcome;
        add(
            &mut outcome.refused,
            Reason::DisagreesWithNeighbours,
            hours.disagreeing,
        );
        add(
            &mut outcome.refused,
            Reason::IncompleteHour,
            hours.incomplete,
        );
        add(
            &mut outcome.refused,
            Reason::Uncorroborated,
            hours.uncorroborated,
        );
        outcome.points = hours.good;
        // Rounded down; a station with no sensor-hours has quality 0.
        outcome.quality_bps = hours
            .good
            .saturating_mul(10_000)
            .checked_div(hours.total)
            .unwrap_or(0);
    }
    // 5: no location, relocation.
    for (i, station) in stations.iter_mut().enumerate() {
        let refusal = if station.cell.is_none() {
            Some(Reason::NoLocation)
        } else if relocated[i] {
            Some(Reason::Relocated)
        } else {
            None
        };
        if let Some(reason) = refusal {
            station.outcome.points = 0;
            add(&mut station.outcome.refused, reason, 1);
        }
    }
    // 6: the cell cap.
    for members in by_cell.values() {
        let mut paid: Vec<usize> = members
            .iter()
            .copied()
            .filter(|i| stations[*i].outcome.points > 0)
            .collect();
        paid.sort_by_key(|i| {
            let s = &stations[*i];
            let history = inputs.history.get(&s.id).copied().unwrap_or_default();
            (
                std::cmp::Reverse(s.outcome.quality_bps),
                history.registered_height,
                s.id,
            )
        });
        for i in paid.into_iter().skip(rules.max_stations_per_cell) {
            let outcome = &mut stations[i].outcome;
            outcome.points = 0;
            add(&mut outcome.refused, Reason::CellFull, 1);
        }
    }
    stations.into_iter().map(|s| (s.id, s.outcome)).collect()
}

/// Steps 1 and 2 for one station.
fn station_hours(
    id: DeviceId,
    d: &DeviceResult,
    inputs: &SensingInputs,
    rules: &SensingRules,
) -> Station {
    let mut outcome = SensingOutcome::default();
    let readings: Vec<SensorReading> = kept_of(d, ReportKind::Reading, sensor_reading).collect();
    let mut by_sensor: BTreeMap<&str, Vec<Reading>> = BTreeMap::new();
    for r in &readings {
        by_sensor
            .entry(r.sensor.as_str())
            .or_default()
            .push(r.reading);
    }
    let mut hours = BTreeMap::new();
    for (sensor, mut readings) in by_sensor {
        let Some(rule) = rules.sensor(sensor) else {
            add(
                &mut outcome.refused,
                Reason::UnknownSensor,
                readings.len() as u64,
            );
            continue;
        };
        readings.sort_unstable();
        let verdicts = check_series(rules, rule, &readings);
        let mut valid = Vec::with_capacity(readings.len());
        for (reading, verdict) in readings.iter().zip(verdicts) {
            match verdict {
                Ok(()) => valid.push(*reading),
                Err(reason) => add(&mut outcome.refused, reason, 1),
            }
        }
        let medians = hourly_medians(
            inputs.bounds,
            inputs.window_ms,
            rules.completeness_min_bps,
            &valid,
        );
        hours.insert(rule.name, medians);
    }
    Station {
        id,
        cell: d
            .info
            .location
            .filter(|c| c.resolution() >= rules.neighbour_resolution)
            .map(|c| c.coarsened(rules.neighbour_resolution)),
        hours,
        outcome,
    }
}

/// The stations of each cell, by index.
fn stations_by_cell(stations: &[Station]) -> BTreeMap<Cell, Vec<usize>> {
    let mut by_cell: BTreeMap<Cell, Vec<usize>> = BTreeMap::new();
    for (i, s) in stations.iter().enumerate() {
        if let Some(cell) = s.cell {
            by_cell.entry(cell).or_default().push(i);
        }
    }
    by_cell
}

/// One station's sensor-hours, by verdict.
#[derive(Default)]
struct Hours {
    good: u64,
    disagreeing: u64,
    incomplete: u64,
    uncorroborated: u64,
    total: u64,
}

/// Step 3 for one station: its sensor-hours, by verdict. An hour of a sensor that is not
/// compared with neighbours (wind, rain) is good only beside a good hour of one that is: a
/// station cannot earn on sensors nobody checks.
fn judge(
    station: &Station,
    neighbours: &[usize],
    stations: &[Station],
    rules: &SensingRules,
) -> Hours {
    let mut out = Hours::default();
    let mut corroborated: Vec<bool> = Vec::new();
    let mut unchecked: Vec<&Vec<Option<i64>>> = Vec::new();
    for (sensor, hours) in &station.hours {
        let Some(tolerance) = rules.sensor(sensor).and_then(|r| r.agreement_tolerance) else {
            unchecked.push(hours);
            continue;
        };
        corroborated.resize(corroborated.len().max(hours.len()), false);
        for (hour, median) in hours.iter().enumerate() {
            out.total += 1;
            let Some(own) = median else {
                out.incomplete += 1;
                continue;
            };
            let mut theirs: Vec<i64> = neighbours
                .iter()
                .filter_map(|j| stations[*j].hours.get(sensor)?.get(hour).copied().flatten())
                .collect();
            let off = theirs.len() >= rules.min_neighbours.max(1)
                && own.abs_diff(lower_median(&mut theirs)) > tolerance.unsigned_abs();
            if off {
                out.disagreeing += 1;
            } else {
                out.good += 1;
                corroborated[hour] = true;
            }
        }
    }
    for hours in unchecked {
        for (hour, median) in hours.iter().enumerate() {
            out.total += 1;
            if median.is_none() {
                out.incomplete += 1;
            } else if corroborated.get(hour).copied().unwrap_or(false) {
                out.good += 1;
            } else {
                out.uncorroborated += 1;
            }
        }
    }
    out
}

fn add(refused: &mut BTreeMap<Reason, u64>, reason: Reason, n: u64) {
    if n > 0 {
        *refused.entry(reason).or_default() += n;
    }
}

#[cfg(test)]
mod tests;
