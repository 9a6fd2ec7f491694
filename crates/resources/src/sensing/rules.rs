//! The sensing rules: what each known sensor may read, how fast it may change, and the
//! network's thresholds for a complete hour and a frozen sensor.
//!
//! Values are thousandths of the sensor's unit, as readings carry them. The limits are wide
//! enough for any weather on Earth and narrow enough to refuse a broken or made-up sensor.

/// One known sensor's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SensorRule {
    /// The sensor's name in readings (`temperature`, ...).
    pub name: &'static str,
    /// The lowest plausible value (thousandths).
    pub min: i64,
    /// The highest plausible value (thousandths).
    pub max: i64,
    /// The largest plausible change in an hour (thousandths); a change faster than this
    /// between two readings is a jump. At least [`SensingRules::jump_floor`] is always allowed.
    pub max_change_per_hour: i64,
    /// True when a value repeated for [`SensingRules::flatline_readings`] readings is frozen;
    /// false for sensors that honestly read the same for hours (rain, wind in a calm).
    pub flatlines: bool,
    /// Most an hour's reading (its median) may differ from its neighbours' (the median of
    /// theirs) (thousandths); `None` for sensors that honestly differ street by street.
    pub agreement_tolerance: Option<i64>,
}

/// The network's sensing rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SensingRules {
    /// Known sensors; readings of others are refused (`unknown_sensor`).
    pub sensors: Vec<SensorRule>,
    /// A run of this many equal readings in a row is a frozen sensor (`frozen_sensor`); in an
    /// epoch of fewer than twice as many windows, a run of half its windows is
    /// ([`SensingRules::for_epoch`]).
    pub flatline_readings: usize,
    /// A change this small (thousandths) is never a jump, however short the gap.
    pub jump_floor: i64,
    /// An hour counts only if at least this share of its windows (basis points) has a valid
    /// reading of the sensor (`incomplete_hour`).
    pub completeness_min_bps: u64,
    /// Stations are neighbours when their cells at this resolution are at most one step apart
    /// (resolution 7: cells about 2.6 km across, neighbours within about 5 km).
    pub neighbour_resolution: u8,
    /// An hour is judged against neighbours only when at least this many of them have a
    /// complete hour of the sensor; with fewer, it stands on its own.
    pub min_neighbours: usize,
    /// A station whose location changed earns nothing in the reward epoch of the move and the
    /// next `quarantine_epochs - 1` (`relocated`).
    pub quarantine_epochs: u64,
    /// Most stations rewarded per cell of [`SensingRules::neighbour_resolution`], best quality
    /// first, then the longest registered (`cell_full`).
    pub max_stations_per_cell: usize,
}

/// The shortest run of equal readings ever called frozen.
pub const MIN_FLATLINE_READINGS: usize = 2;

impl SensingRules {
    /// The rules as they apply to an epoch of `windows` uptime windows: a sensor that reads the
    /// same for half the epoch (rounded down, at least [`MIN_FLATLINE_READINGS`]) is frozen
    /// even when the epoch is too short to hold [`SensingRules::flatline_readings`] readings
    /// (a daily epoch of hourly windows, or the devnet's two-minute epochs).
    pub fn for_epoch(&self, windows: u64) -> SensingRules {
        let half = usize::try_from(windows / 2).unwrap_or(usize::MAX);
        SensingRules {
            flatline_readings: self.flatline_readings.min(half.max(MIN_FLATLINE_READINGS)),
            ..self.clone()
        }
    }

    /// The rule of `sensor`, if it is known.
    pub fn sensor(&self, sensor: &str) -> Option<&SensorRule> {
        self.sensors.iter().find(|s| s.name == sensor)
    }
}

impl Default for SensingRules {
    fn default() -> Self {
        let rule =
            |name, min, max, max_change_per_hour, flatlines, agreement_tolerance| SensorRule {
                name,
                min,
                max,
                max_change_per_hour,
                flatlines,
                agreement_tolerance,
            };
        SensingRules {
            sensors: vec![
                // °C: the coldest and hottest air ever measured, with a margin.
                rule("temperature", -90_000, 60_000, 10_000, true, Some(5_000)),
                // % relative humidity.
                rule("humidity", 0, 100_000, 40_000, true, Some(25_000)),
                // hPa at the station (neighbours stand at different heights: 30 hPa is ~250 m).
                rule("pressure", 300_000, 1_100_000, 10_000, true, Some(30_000)),
                // m/s: gusts and shelter differ street by street.
                rule("wind_speed", 0, 110_000, 60_000, false, None),
                // mm in the last reading interval: showers are local.
                rule("rain", 0, 500_000, 500_000, false, None),
                // µg/m³.
                rule("pm2_5", 0, 2_000_000, 1_000_000, true, Some(150_000)),
            ],
            flatline_readings: 30,
            jump_floor: 500,
            completeness_min_bps: 6_700,
            neighbour_resolution: 7,
            min_neighbours: 3,
            quarantine_epochs: 7,
            max_stations_per_cell: 10,
        }
    }
}
