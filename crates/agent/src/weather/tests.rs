//! The simulated stations judged by the oracles' own sensing rules: the honest ones earn every
//! sensor-hour, each cheater loses for its own reason.

use super::*;
use cairn_resources::context::DeviceInfo;
use cairn_resources::reason::Reason;
use cairn_resources::sensing::kind::{kept_reading, SensorReading};
use cairn_resources::sensing::rules::SensingRules;
use cairn_resources::sensing::score::{
    sensing_outcomes, SensingInputs, SensingOutcome, StationHistory,
};
use cairn_resources::sensing::series::Reading;
use cairn_resources::tally::{DeviceResult, TallyResult};
use cairn_types::{Address, DeviceId, SecretKey, Subnetwork};
use std::collections::BTreeMap;

fn devnet_like(honest: u32) -> (SensingSection, usize) {
    let config = SensingSection {
        window_secs: 10,
        cheaters: StationCheatersSection {
            far_off: 1,
            flatline: 1,
            movers: 1,
        },
        ..SensingSection::default()
    };
    (config, honest as usize + 3)
}

fn id(index: usize) -> DeviceId {
    DeviceId(SecretKey::from_label(&format!("station-{index}")).public_key())
}

/// `windows` windows of readings from every station, judged as one epoch in which the movers
/// moved.
fn judge(stations: &Stations, count: usize, windows: u64) -> BTreeMap<DeviceId, SensingOutcome> {
    let mut devices: BTreeMap<DeviceId, DeviceResult> = BTreeMap::new();
    for index in 0..count {
        let location = stations.moved_location(index).or(stations.location(index));
        devices.insert(
            id(index),
            DeviceResult {
                info: DeviceInfo {
                    owner: Address(SecretKey::from_label("owner").public_key()),
                    subnetwork: Subnetwork::Sensing,
                    retired: false,
                    maker_revoked: false,
                    location,
                },
                windows,
                reports: 0,
                kept: Vec::new(),
                rejected: BTreeMap::new(),
            },
        );
    }
    for window in 0..windows {
        for (index, payload) in stations.readings(window) {
            let ReportPayload::Reading {
                sensor,
                value_milli,
            } = payload
            else {
                panic!("a station sent something else than a reading");
            };
            let device = devices.get_mut(&id(index)).unwrap();
            let reading = SensorReading {
                sensor: sensor.as_str().to_string(),
                reading: Reading {
                    time_ms: window * 10_000 + 5_000,
                    value: value_milli,
                },
            };
            device.kept.push(kept_reading([0; 16], &reading));
        }
    }
    let history = (0..count)
        .filter(|i| stations.role(*i) == StationRole::Mover)
        .map(|i| {
            let moved = StationHistory {
                registered_height: 0,
                moved_epoch: Some(3),
            };
            (id(i), moved)
        })
        .collect();
    let tally = TallyResult {
        devices,
        unattributed: BTreeMap::new(),
        copies: 0,
    };
    sensing_outcomes(
        &tally,
        &SensingInputs {
            rules: SensingRules::default(),
            epoch: 3,
            bounds: (0, windows * 10_000),
            window_ms: 10_000,
            history,
        },
    )
}

#[test]
fn honest_stations_earn_every_sensor_hour_and_each_cheater_loses_for_its_reason() {
    for (honest, windows) in [(6, 12), (6, 720), (40, 360)] {
        let (config, count) = devnet_like(honest);
        let stations = Stations::new(&config, "test", count, 0);
        let out = judge(&stations, count, windows);
        let hours = windows.div_ceil(360) * SENSORS.len() as u64;
        for index in 0..count {
            let o = &out[&id(index)];
            match stations.role(index) {
                StationRole::Honest => {
                    assert_eq!(o.points, hours, "station {index}: {o:?}");
                    assert_eq!(o.quality_bps, 10_000);
                    assert!(o.refused.is_empty(), "station {index}: {o:?}");
                }
                StationRole::FarOff => {
                    assert_eq!(o.points, 0, "{o:?}");
                    assert_eq!(
                        o.refused.get(&Reason::DisagreesWithNeighbours),
                        Some(&hours)
                    );
                }
                StationRole::Flatline => {
                    assert_eq!(o.points, 0, "{o:?}");
                    assert!(o.refused.contains_key(&Reason::FrozenSensor), "{o:?}");
                }
                StationRole::Mover => {
                    assert_eq!(o.points, 0, "{o:?}");
                    assert_eq!(o.refused.get(&Reason::Relocated), Some(&1));
                }
            }
        }
    }
}

#[test]
fn a_station_reads_the_same_every_run_and_moves_5_km() {
    let (config, count) = devnet_like(6);
    let a = Stations::new(&config, "devnet", count, 1);
    let b = Stations::new(&config, "devnet", count, 1);
    assert_eq!(a.readings(17), b.readings(17));
    // The real device (index 0) reads from its source, not from the simulation.
    assert!(a.readings(17).iter().all(|(i, _)| *i >= 1));
    assert_eq!(a.location(0), None);
    let mover = count - 1;
    assert_eq!(a.role(mover), StationRole::Mover);
    let moved = a
        .moved_location(mover)
        .unwrap()
        .distance_m(a.location(mover).unwrap())
        .unwrap();
    assert!((4_500..5_500).contains(&moved), "{moved} m");
    assert_eq!(a.moved_location(1), None);
}

#[test]
fn the_swing_goes_up_and_back_down() {
    assert_eq!(swing(0, 3_000), -3_000);
    assert_eq!(swing(SWING_WINDOWS / 2, 3_000), 3_000);
    assert_eq!(swing(SWING_WINDOWS, 3_000), -3_000);
    assert_eq!(swing(SWING_WINDOWS / 4, 3_000), 0);
}
