//! Simulated weather stations: the simulated devices of a sensing agent. Each reads
//! temperature, humidity and pressure once per uptime window, as a station a few hundred metres
//! from its neighbours would: a slow common swing (a triangle wave over [`SWING_WINDOWS`]
//! windows), an offset of its own (height, shade) and a little noise every reading. Everything
//! derives from the seed, so a devnet reads the same weather every run, and every value is an
//! integer (thousandths of the unit).
//!
//! The last simulated stations may play cheaters' parts (`[sensing.cheaters]`), in this order:
//!
//! - `far_off`: reads far from its neighbours (12 °C warmer, 35 % drier, 60 hPa higher);
//! - `flatline`: a frozen sensor, the same value of each sensor every reading;
//! - `mover`: reads honestly, but asserts a second location, 5 km from the first, after it.
//!
//! The station's readings' changes stay under the oracles' jump floor between two windows, so
//! honest stations pass their checks in an epoch of 10-second windows as in one of hours.

use crate::config::{SensingSection, StationCheatersSection};
use crate::radio::{seeded_draw, simulated_location, METRES_PER_DEGREE};
use cairn_types::codec::BoundedString;
use cairn_types::report::ReportPayload;
use cairn_types::Cell;

/// Windows over which the common swing goes up and back down.
pub const SWING_WINDOWS: u64 = 240;
/// How far a mover's second location is from its first (m, due north).
pub const MOVE_DISTANCE_M: f64 = 5_000.0;

/// One simulated sensor.
#[derive(Clone, Copy, Debug)]
pub struct SimulatedSensor {
    /// Its name in readings.
    pub name: &'static str,
    /// The network-wide mean (thousandths).
    pub base: i64,
    /// The common swing: at most this far from the base, either way.
    pub swing: i64,
    /// A station's own offset: at most this far, either way.
    pub spread: i64,
    /// Noise on each reading: at most this far, either way.
    pub noise: i64,
    /// How far a `far_off` station reads from where it should.
    pub off_by: i64,
}

/// The sensors every simulated station reads.
pub const SENSORS: [SimulatedSensor; 3] = [
    SimulatedSensor {
        name: "temperature",
        base: 15_000,
        swing: 3_000,
        spread: 800,
        noise: 150,
        off_by: 12_000,
    },
    SimulatedSensor {
        name: "humidity",
        base: 65_000,
        swing: 5_000,
        spread: 3_000,
        noise: 150,
        off_by: -35_000,
    },
    SimulatedSensor {
        name: "pressure",
        base: 1_013_000,
        swing: 4_000,
        spread: 2_000,
        noise: 150,
        off_by: 60_000,
    },
];

/// The part a simulated station plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StationRole {
    /// Reads the weather where it stands.
    Honest,
    /// Reads far from its neighbours.
    FarOff,
    /// A frozen sensor.
    Flatline,
    /// Moves after it asserted its first location.
    Mover,
}

impl StationRole {
    /// The part's name, as the status page shows it.
    pub fn name(self) -> &'static str {
        match self {
            StationRole::Honest => "honest",
            StationRole::FarOff => "far_off",
            StationRole::Flatline => "flatline",
            StationRole::Mover => "mover",
        }
    }
}

/// The parts of `simulated` stations: honest first, then the cheaters in the order of
/// [`StationCheatersSection`] (fewer if there are not enough stations).
pub fn station_roles(simulated: usize, cheaters: &StationCheatersSection) -> Vec<StationRole> {
    crate::cheat::cast(
        simulated,
        StationRole::Honest,
        &[
            (StationRole::FarOff, cheaters.far_off),
            (StationRole::Flatline, cheaters.flatline),
            (StationRole::Mover, cheaters.movers),
        ],
    )
}

/// An agent's simulated stations: where they stand, their parts, what they read.
pub struct Stations {
    seed: String,
    window_ms: u64,
    /// Devices before this index are real (their readings come from the readings source).
    first_simulated: usize,
    roles: Vec<StationRole>,
    places: Vec<Option<Cell>>,
    moves: Vec<Option<Cell>>,
}

impl Stations {
    /// The stations of `devices` devices, of which those from `first_simulated` on are
    /// simulated (numbered from 0 for their places on the spiral).
    pub fn new(
        config: &SensingSection,
        seed: &str,
        devices: usize,
        first_simulated: usize,
    ) -> Stations {
        let centre = config.centre().unwrap_or((0.0, 0.0));
        let first_simulated = first_simulated.min(devices);
        let simulated = station_roles(devices - first_simulated, &config.cheaters);
        let spacing = f64::from(config.spacing_m);
        let north = (centre.0 + MOVE_DISTANCE_M / METRES_PER_DEGREE, centre.1);
        let mut roles = vec![StationRole::Honest; first_simulated];
        let mut places = vec![None; first_simulated];
        let mut moves = vec![None; first_simulated];
        for (k, role) in simulated.iter().enumerate() {
            let k = u32::try_from(k).unwrap_or(u32::MAX);
            places.push(simulated_location(centre, spacing, k));
            moves.push(
                (*role == StationRole::Mover)
                    .then(|| simulated_location(north, spacing, k))
                    .flatten(),
            );
        }
        roles.extend(simulated);
        Stations {
            seed: seed.to_string(),
            window_ms: config.window_secs.saturating_mul(1_000).max(1),
            first_simulated,
            roles,
            places,
            moves,
        }
    }

    /// The part device `index` plays (real devices are honest).
    pub fn role(&self, index: usize) -> StationRole {
        self.roles
            .get(index)
            .copied()
            .unwrap_or(StationRole::Honest)
    }

    /// Where simulated device `index` first says it stands.
    pub fn location(&self, index: usize) -> Option<Cell> {
        self.places.get(index).copied().flatten()
    }

    /// Where a mover says it stands after it moved.
    pub fn moved_location(&self, index: usize) -> Option<Cell> {
        self.moves.get(index).copied().flatten()
    }

    /// The uptime window of `time_ms`.
    pub fn window_of(&self, time_ms: u64) -> u64 {
        time_ms / self.window_ms
    }

    /// Every simulated station's readings of window `window`: (device index, reading).
    pub fn readings(&self, window: u64) -> Vec<(usize, ReportPayload)> {
        let mut out = Vec::with_capacity(self.roles.len() * SENSORS.len());
        for index in self.first_simulated..self.roles.len() {
            for sensor in &SENSORS {
                let Ok(name) = BoundedString::new(sensor.name) else {
                    continue;
                };
                out.push((
                    index,
                    ReportPayload::Reading {
                        sensor: name,
                        value_milli: self.value(index, sensor, window),
                    },
                ));
            }
        }
        out
    }

    /// What station `index` reads of `sensor` in `window`. A real sensor reads in thousandths
    /// and rarely the same twice running; the simulation's noise (a few hundred values) would
    /// repeat about one pair in 300, which the sensing rules take for a frozen sensor in a
    /// short epoch (two equal readings in a row). So a reading equal to the window before is
    /// moved by one thousandth, up in even windows and down in odd ones: two in a row then
    /// match only when a move lands on the next value (about one pair in 90,000).
    pub fn value(&self, index: usize, sensor: &SimulatedSensor, window: u64) -> i64 {
        let raw = self.raw_value(index, sensor, window);
        let repeats = self.role(index) != StationRole::Flatline
            && window > 0
            && raw == self.raw_value(index, sensor, window - 1);
        match (repeats, window % 2) {
            (false, _) => raw,
            (true, 0) => raw + 1,
            (true, _) => raw - 1,
        }
    }

    /// What station `index` reads of `sensor` in `window`, before repeats are moved.
    fn raw_value(&self, index: usize, sensor: &SimulatedSensor, window: u64) -> i64 {
        let role = self.role(index);
        let window = if role == StationRole::Flatline {
            0
        } else {
            window
        };
        let station = (index as u64).to_le_bytes();
        let own = spread(
            draw(&self.seed, &[&station, sensor.name.as_bytes()]),
            sensor.spread,
        );
        let noise = if role == StationRole::Flatline {
            0
        } else {
            spread(
                draw(
                    &self.seed,
                    &[&station, sensor.name.as_bytes(), &window.to_le_bytes()],
                ),
                sensor.noise,
            )
        };
        let off = if role == StationRole::FarOff {
            sensor.off_by
        } else {
            0
        };
        sensor.base + swing(window, sensor.swing) + own + noise + off
    }
}

/// The common swing in `window`: a triangle wave from `-amplitude` to `amplitude` and back over
/// [`SWING_WINDOWS`] windows.
pub fn swing(window: u64, amplitude: i64) -> i64 {
    let half = SWING_WINDOWS / 2;
    let phase = window % SWING_WINDOWS;
    let up = if phase < half {
        phase
    } else {
        SWING_WINDOWS - phase
    };
    // From 0..=half to -amplitude..=amplitude, rounded toward zero.
    let up = i64::try_from(up).unwrap_or(0);
    let half = i64::try_from(half).unwrap_or(1).max(1);
    (2 * up - half) * amplitude / half
}

/// `draw` mapped to `-max..=max`.
fn spread(draw: u64, max: i64) -> i64 {
    let width = max.unsigned_abs() * 2 + 1;
    i64::try_from(draw % width).unwrap_or(0) - max
}

/// A pseudo-random number from a seed and parts.
fn draw(seed: &str, parts: &[&[u8]]) -> u64 {
    seeded_draw("cairn simulated weather v1", seed, parts)
}

#[cfg(test)]
mod tests;
