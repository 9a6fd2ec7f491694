use super::*;
use crate::context::DeviceInfo;
use crate::sensing::kind::{kept_reading, sensor_reading, SensorReading};
use cairn_types::{Address, SecretKey};

const EPOCH: u64 = 20;
const WINDOW: u64 = 60_000;
const HOUR: u64 = 3_600_000;

fn id(n: u8) -> DeviceId {
    DeviceId(SecretKey::from_seed([n; 32]).public_key())
}

/// A station at `(lat, lng)` reading temperature every minute for an hour: `value(minute)`.
fn station(n: u8, at: Option<(f64, f64)>, value: impl Fn(u64) -> i64) -> (DeviceId, DeviceResult) {
    let readings: Vec<SensorReading> = (0..60)
        .map(|m| SensorReading {
            sensor: "temperature".into(),
            reading: Reading {
                time_ms: m * WINDOW + 1_000,
                value: value(m),
            },
        })
        .collect();
    let result = DeviceResult {
        info: DeviceInfo {
            owner: Address(SecretKey::from_seed([100 + n; 32]).public_key()),
            subnetwork: Subnetwork::Sensing,
            retired: false,
            maker_revoked: false,
            location: at.map(|(lat, lng)| Cell::from_lat_lng(lat, lng, 12).unwrap()),
        },
        windows: 60,
        reports: 60,
        kept: readings.iter().map(|r| kept_reading([0; 16], r)).collect(),
        rejected: BTreeMap::new(),
    };
    (id(n), result)
}

/// An honest temperature: 20 °C drifting by a thousandth a minute, plus a station's offset.
fn honest(offset: i64) -> impl Fn(u64) -> i64 {
    move |m| 20_000 + offset + m as i64
}

fn inputs(rules: SensingRules, history: &[(u8, StationHistory)]) -> SensingInputs {
    SensingInputs {
        rules,
        epoch: EPOCH,
        bounds: (0, HOUR),
        window_ms: WINDOW,
        history: history.iter().map(|(n, h)| (id(*n), *h)).collect(),
    }
}

fn outcomes(
    stations: Vec<(DeviceId, DeviceResult)>,
    inputs: &SensingInputs,
) -> BTreeMap<DeviceId, SensingOutcome> {
    let tally = TallyResult {
        devices: stations.into_iter().collect(),
        unattributed: BTreeMap::new(),
        copies: 0,
    };
    sensing_outcomes(&tally, inputs)
}

const PARIS: (f64, f64) = (48.8566, 2.3522);

fn near(i: u8) -> Option<(f64, f64)> {
    Some((PARIS.0 + f64::from(i) * 0.001, PARIS.1))
}

#[test]
fn an_honest_station_earns_a_point_per_good_sensor_hour() {
    let out = outcomes(
        vec![station(1, near(0), honest(0))],
        &inputs(SensingRules::default(), &[]),
    );
    let o = &out[&id(1)];
    assert_eq!((o.points, o.quality_bps), (1, 10_000));
    assert!(o.refused.is_empty());
}

#[test]
fn a_station_far_off_its_neighbours_earns_nothing_but_they_do() {
    let mut all: Vec<_> = (1..=4)
        .map(|n| station(n, near(n), honest(i64::from(n) * 100)))
        .collect();
    all.push(station(9, near(9), honest(15_000)));
    let out = outcomes(all, &inputs(SensingRules::default(), &[]));
    for n in 1..=4 {
        assert_eq!(out[&id(n)].points, 1, "honest station {n}");
    }
    let far = &out[&id(9)];
    assert_eq!(far.points, 0);
    assert_eq!(far.refused.get(&Reason::DisagreesWithNeighbours), Some(&1));
    // Alone, the same readings stand on their own: too few neighbours to judge.
    let alone = outcomes(
        vec![
            station(9, near(9), honest(15_000)),
            station(1, near(1), honest(0)),
        ],
        &inputs(SensingRules::default(), &[]),
    );
    assert_eq!(alone[&id(9)].points, 1);
    // Far away, neighbours do not count.
    let elsewhere: Vec<_> = (1..=4)
        .map(|n| station(n, Some((PARIS.0 + 1.0, PARIS.1)), honest(0)))
        .chain([station(9, near(9), honest(15_000))])
        .collect();
    assert_eq!(
        outcomes(elsewhere, &inputs(SensingRules::default(), &[]))[&id(9)].points,
        1
    );
}

#[test]
fn a_frozen_sensor_leaves_its_hours_incomplete() {
    let out = outcomes(
        vec![station(1, near(0), |_| 20_000)],
        &inputs(SensingRules::default(), &[]),
    );
    let o = &out[&id(1)];
    assert_eq!((o.points, o.quality_bps), (0, 0));
    assert_eq!(o.refused.get(&Reason::FrozenSensor), Some(&60));
    assert_eq!(o.refused.get(&Reason::IncompleteHour), Some(&1));
}

#[test]
fn in_a_short_epoch_half_its_windows_alike_is_a_frozen_sensor() {
    // A ten-minute epoch of minute windows: a run of 5 equal readings is frozen, 4 is not.
    let short = |rules| SensingInputs {
        bounds: (0, 10 * WINDOW),
        ..inputs(rules, &[])
    };
    let frozen = |run: u64| move |m: u64| if m < run { 20_000 } else { 20_000 + m as i64 };
    let out = outcomes(
        vec![
            station(1, near(0), frozen(5)),
            station(2, near(1), frozen(4)),
        ],
        &short(SensingRules::default()),
    );
    assert_eq!(out[&id(1)].refused.get(&Reason::FrozenSensor), Some(&5));
    assert_eq!(out[&id(2)].refused.get(&Reason::FrozenSensor), None);
    assert_eq!(out[&id(2)].points, 1);
    // A long epoch keeps the full run.
    let rules = SensingRules::default();
    assert_eq!(rules.for_epoch(1_440).flatline_readings, 30);
    assert_eq!(rules.for_epoch(12).flatline_readings, 6);
    assert_eq!(rules.for_epoch(1).flatline_readings, 2);
}

#[test]
fn a_station_without_a_location_or_lately_moved_earns_nothing() {
    let moved = |e| StationHistory {
        registered_height: 0,
        moved_epoch: Some(e),
    };
    let rules = SensingRules::default();
    let q = rules.quarantine_epochs;
    let all = vec![
        station(1, None, honest(0)),
        station(2, near(2), honest(0)),
        station(3, near(3), honest(0)),
    ];
    let out = outcomes(
        all,
        &inputs(rules, &[(2, moved(EPOCH)), (3, moved(EPOCH + 1 - q))]),
    );
    assert_eq!(out[&id(1)].points, 0);
    assert_eq!(out[&id(1)].refused.get(&Reason::NoLocation), Some(&1));
    assert_eq!(out[&id(2)].points, 0);
    assert_eq!(out[&id(2)].refused.get(&Reason::Relocated), Some(&1));
    assert_eq!(
        out[&id(3)].points,
        0,
        "still in the last epoch of its quarantine"
    );
    let rules = SensingRules::default();
    let out = outcomes(
        vec![station(3, near(3), honest(0))],
        &inputs(rules, &[(3, moved(EPOCH - q))]),
    );
    assert_eq!(out[&id(3)].points, 1, "the quarantine has passed");
}

#[test]
fn a_full_cell_pays_the_best_then_the_oldest() {
    let rules = SensingRules {
        max_stations_per_cell: 2,
        ..SensingRules::default()
    };
    let registered = |h| StationHistory {
        registered_height: h,
        moved_epoch: None,
    };
    // Station 3 has a gap: a lower quality (its hour still complete, a second sensor not).
    let mut gappy = station(3, near(1), honest(0));
    gappy.1.kept.push(kept_reading(
        [0; 16],
        &SensorReading {
            sensor: "humidity".into(),
            reading: Reading {
                time_ms: 1_000,
                value: 50_000,
            },
        },
    ));
    let all = vec![
        station(1, near(1), honest(0)),
        station(2, near(1), honest(0)),
        gappy,
    ];
    let out = outcomes(
        all,
        &inputs(
            rules,
            &[(1, registered(50)), (2, registered(10)), (3, registered(1))],
        ),
    );
    assert_eq!(out[&id(3)].quality_bps, 5_000);
    // Equal quality: the older (2) first, then 1; the lower quality (3) is left out.
    assert_eq!(out[&id(2)].points, 1);
    assert_eq!(out[&id(1)].points, 1);
    assert_eq!(out[&id(3)].points, 0);
    assert_eq!(out[&id(3)].refused.get(&Reason::CellFull), Some(&1));
}

#[test]
fn unknown_sensors_and_implausible_readings_are_refused() {
    let mut s = station(
        1,
        near(0),
        |m| if m == 30 { 90_000 } else { 20_000 + m as i64 },
    );
    s.1.kept.push(kept_reading(
        [0; 16],
        &SensorReading {
            sensor: "radiation".into(),
            reading: Reading {
                time_ms: 5,
                value: 1,
            },
        },
    ));
    let out = outcomes(vec![s], &inputs(SensingRules::default(), &[]));
    let o = &out[&id(1)];
    assert_eq!(o.refused.get(&Reason::UnknownSensor), Some(&1));
    assert_eq!(o.refused.get(&Reason::OutOfRange), Some(&1));
    assert_eq!(o.points, 1, "one bad reading does not spoil the hour");
}

/// `station` with rain (0 mm, as often) read in every window too.
fn with_rain(mut s: (DeviceId, DeviceResult)) -> (DeviceId, DeviceResult) {
    let rain: Vec<SensorReading> = (0..60)
        .map(|m| SensorReading {
            sensor: "rain".into(),
            reading: Reading {
                time_ms: m * WINDOW + 2_000,
                value: 0,
            },
        })
        .collect();
    s.1.kept
        .extend(rain.iter().map(|r| kept_reading([0; 16], r)));
    s
}

#[test]
fn wind_and_rain_earn_only_beside_a_checked_sensor() {
    // Rain alone is never compared nor frozen: it earns nothing by itself.
    let (rain_id, mut rain_only) = with_rain(station(1, near(0), honest(0)));
    rain_only
        .kept
        .retain(|k| sensor_reading(k).is_some_and(|r| r.sensor == "rain"));
    let out = outcomes(
        vec![(rain_id, rain_only)],
        &inputs(SensingRules::default(), &[]),
    );
    let o = &out[&id(1)];
    assert_eq!((o.points, o.quality_bps), (0, 0));
    assert_eq!(o.refused.get(&Reason::Uncorroborated), Some(&1));
    // Beside a good temperature hour it counts.
    let out = outcomes(
        vec![with_rain(station(1, near(0), honest(0)))],
        &inputs(SensingRules::default(), &[]),
    );
    assert_eq!((out[&id(1)].points, out[&id(1)].quality_bps), (2, 10_000));
    // Beside a frozen one it does not.
    let out = outcomes(
        vec![with_rain(station(1, near(0), |_| 20_000))],
        &inputs(SensingRules::default(), &[]),
    );
    let o = &out[&id(1)];
    assert_eq!(o.points, 0);
    assert_eq!(o.refused.get(&Reason::Uncorroborated), Some(&1));
}

#[test]
fn stations_in_quarantine_or_beyond_the_cap_do_not_vote() {
    // Five fakes reading 6 °C low move in around an honest station: in quarantine, they
    // cannot outvote it.
    let mut all = vec![station(1, near(0), honest(0))];
    all.extend((2..=6).map(|n| station(n, near(n), honest(-6_000))));
    let moved = StationHistory {
        registered_height: 0,
        moved_epoch: Some(EPOCH),
    };
    let fakes: Vec<(u8, StationHistory)> = (2..=6).map(|n| (n, moved)).collect();
    let out = outcomes(all.clone(), &inputs(SensingRules::default(), &fakes));
    assert_eq!(out[&id(1)].points, 1, "{:?}", out[&id(1)]);
    // Settled, they would outvote it: the rule has teeth.
    let out = outcomes(all.clone(), &inputs(SensingRules::default(), &[]));
    assert_eq!(out[&id(1)].points, 0);
    // With room for only two voters a cell, the two oldest vote (the honest one and one fake
    // if they share a cell): too few to judge.
    let rules = SensingRules {
        max_stations_per_cell: 1,
        ..SensingRules::default()
    };
    let older = StationHistory {
        registered_height: 0,
        moved_epoch: None,
    };
    let newer = StationHistory {
        registered_height: 100,
        moved_epoch: None,
    };
    let history: Vec<(u8, StationHistory)> = std::iter::once((1, older))
        .chain((2..=6).map(|n| (n, newer)))
        .collect();
    let out = outcomes(all, &inputs(rules, &history));
    assert_eq!(
        out[&id(1)].refused.get(&Reason::DisagreesWithNeighbours),
        None
    );
}
