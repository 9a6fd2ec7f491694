//! An agent's configuration file (`agent.toml`), every default in one place.
//!
//! ```toml
//! chain_id = "cairn-devnet"      # the chain reports are signed for
//! data_dir = "agent-data"        # outbox, session keys
//! oracles = ["http://127.0.0.1:7400", "http://127.0.0.1:7401"]
//! copies = 2                     # each report goes to at least this many oracles
//! status_listen = "127.0.0.1:7600"   # local status over HTTP ("" = none)
//! heartbeat_interval_secs = 60
//! clock_sync_secs = 30
//! clock_tolerance_ms = 1000      # oracles' clocks agree when this close (a majority must)
//! delivery_interval_ms = 1000
//!
//! [device]
//! key_file = "device.key"        # the device key (created if missing); "" = simulated only
//! subnetwork = "sensing"
//!
//! [readings]
//! source = ""                    # "" = none, "-" = standard input, or a file / FIFO to follow
//!
//! [simulation]
//! devices = 0                    # simulated devices, each with its own key and heartbeats
//! seed = "devnet"                # their keys derive from this
//!
//! [coverage]                     # coverage devices (device.subnetwork = "coverage")
//! frequency_khz = 868100         # beacon frequency, in the region's band
//! tx_power_cdbm = 1400           # transmit power (EIRP), 1/100 dBm
//! window_secs = 3600             # the chain's uptime_window_secs: one beacon per window
//! slots = 4                      # beacon slots per window (the chain's coverage rule)
//! centre = "48.8566,2.3522"      # where simulated devices stand, on a hexagonal spiral
//! spacing_m = 1500               # ... this far apart
//!
//! [coverage.cheaters]            # simulated cheaters, to test the oracles' verifiers: the
//! spoofed = 0                    # last simulated devices take these parts (see cheat.rs)
//! ring = 0
//! fabricators = 0
//! replayers = 0
//! weak_fabricators = 0           # cheaters that know the rules (the `cairn bench oracle`
//! bridged_ring = 0               # adaptive cheaters)
//! spoofed_group = 0
//!
//! [sensing]                      # simulated weather stations (device.subnetwork = "sensing")
//! window_secs = 3600             # the chain's uptime_window_secs: one reading of each sensor
//!                                # per window
//! centre = "48.8566,2.3522"      # where simulated stations stand, on a hexagonal spiral
//! spacing_m = 1200               # ... this far apart
//!
//! [sensing.cheaters]             # simulated cheaters (the last simulated stations, see
//! far_off = 0                    # weather.rs): reads far off its neighbours,
//! flatline = 0                   # a frozen sensor,
//! movers = 0                     # asserts a second location after its first
//!
//! [connectivity]                 # simulated hotspots (device.subnetwork = "connectivity")
//! window_secs = 3600             # the chain's uptime_window_secs: one chunk per hotspot a window
//! bytes_per_window = 8388608     # bytes each simulated hotspot carries per window
//! payer_key_file = ""            # the payer's delegated key, which signs the receipts ("" =
//!                                # no payer: the hotspots carry nothing); created if missing
//! delegate_credits = 0           # at registration, the owner tops the payer key up to this
//!                                # many connectivity credits when it holds under half of them
//!
//! [connectivity.cheaters]        # simulated cheaters (the last simulated hotspots, see
//! inflaters = 0                  # hotspots.rs): raise the bytes after the payer signed,
//! device_signed = 0              # sign receipts with their own key in the payer's name,
//! unfunded = 0                   # name their own key, which holds no credits, as payer
//!
//! [register]                     # register the device(s) on first start (cairn agent does it)
//! node = ""                      # "" = do not register
//! owner = "alice"                # the owner's key name in owner_home
//! owner_home = "."
//! burn_tokens = "0"              # tokens the owner burns for the data credits onboarding
//!                                # costs, when short of them ("0" = never burn)
//! ```
//!
//! A relative path is taken from the file's directory; unknown fields are refused.

use cairn_types::Subnetwork;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Most simulated devices one agent runs.
pub const MAX_SIMULATED_DEVICES: u32 = 100_000;

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// The chain reports are signed for.
    pub chain_id: String,
    /// Outbox and session keys.
    pub data_dir: PathBuf,
    /// The oracles' URLs.
    pub oracles: Vec<String>,
    /// Oracles each report must reach.
    pub copies: usize,
    /// Local status address ("" for none).
    pub status_listen: String,
    /// Seconds between heartbeats.
    pub heartbeat_interval_secs: u64,
    /// Seconds between clock and entropy updates.
    pub clock_sync_secs: u64,
    /// How far apart (ms) the oracles' clocks may be and still agree: the agent takes an offset
    /// only when more than half of the answers lie within this of one another.
    pub clock_tolerance_ms: u64,
    /// Milliseconds between delivery rounds.
    pub delivery_interval_ms: u64,
    /// The real device.
    pub device: DeviceSection,
    /// Sensor readings.
    pub readings: ReadingsSection,
    /// Simulated devices.
    pub simulation: SimulationSection,
    /// Coverage devices.
    pub coverage: CoverageSection,
    /// Simulated weather stations.
    pub sensing: SensingSection,
    /// Simulated hotspots and their payer.
    pub connectivity: ConnectivitySection,
    /// Registration on first start.
    pub register: RegisterSection,
}

/// `[coverage]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoverageSection {
    /// Beacon frequency (kHz).
    pub frequency_khz: u32,
    /// Transmit power, EIRP (centi-dBm).
    pub tx_power_cdbm: i32,
    /// The chain's window length (`uptime_window_secs`).
    pub window_secs: u64,
    /// Beacon slots per window.
    pub slots: u64,
    /// Where simulated devices stand: `"latitude,longitude"`.
    pub centre: String,
    /// How far apart simulated devices stand (m).
    pub spacing_m: u32,
    /// Simulated devices that cheat.
    pub cheaters: CheatersSection,
}

/// `[coverage.cheaters]`: how many of the simulated coverage devices cheat, and how; they are
/// the last simulated devices, in this order (see [`crate::cheat`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheatersSection {
    /// Devices that stand among the honest ones but assert a location 1,000 km away.
    pub spoofed: u32,
    /// Devices of a witness ring: crowded into one cell far from the others.
    pub ring: u32,
    /// Devices that report witnesses of beacons they could not have heard.
    pub fabricators: u32,
    /// Devices that beacon with entropy too old to be fresh: replayed beacons.
    pub replayers: u32,
    /// Fabricators that know the physics rule: they stand together far off, hear each other,
    /// and report witnesses of every beacon they are told of at a signal weaker than free
    /// space allows over the distance.
    pub weak_fabricators: u32,
    /// A ring that knows the ring rule: crowded into one cell, with one member reporting one
    /// plausible witness of a device outside it each window.
    pub bridged_ring: u32,
    /// Devices that stand together and all assert locations 1,000 km away, spread over several
    /// ring cells, witnessing each other at the signals those locations would give.
    pub spoofed_group: u32,
}

impl CheatersSection {
    /// Cheaters in all.
    pub fn total(&self) -> u64 {
        [
            self.spoofed,
            self.ring,
            self.fabricators,
            self.replayers,
            self.weak_fabricators,
            self.bridged_ring,
            self.spoofed_group,
        ]
        .iter()
        .map(|n| u64::from(*n))
        .sum()
    }
}

impl Default for CoverageSection {
    fn default() -> Self {
        CoverageSection {
            frequency_khz: 868_100,
            tx_power_cdbm: 1_400,
            window_secs: 3_600,
            slots: 4,
            centre: "48.8566,2.3522".into(),
            spacing_m: 1_500,
            cheaters: CheatersSection::default(),
        }
    }
}

impl CoverageSection {
    /// The centre as (latitude, longitude), if it is one.
    pub fn centre(&self) -> Option<(f64, f64)> {
        parse_centre(&self.centre)
    }
}

/// `[sensing]`: the simulated devices of a sensing agent are weather stations
/// (see [`crate::weather`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SensingSection {
    /// The chain's window length (`uptime_window_secs`): one reading of each sensor a window.
    pub window_secs: u64,
    /// Where simulated stations stand: `"latitude,longitude"`.
    pub centre: String,
    /// How far apart simulated stations stand (m).
    pub spacing_m: u32,
    /// Simulated stations that cheat.
    pub cheaters: StationCheatersSection,
}

/// `[sensing.cheaters]`: how many of the simulated stations cheat, and how; they are the last
/// simulated stations, in this order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StationCheatersSection {
    /// Stations that read far off their neighbours.
    pub far_off: u32,
    /// Stations whose sensors are frozen.
    pub flatline: u32,
    /// Stations that assert a second location after their first.
    pub movers: u32,
}

impl StationCheatersSection {
    /// Cheaters in all.
    pub fn total(&self) -> u64 {
        [self.far_off, self.flatline, self.movers]
            .iter()
            .map(|n| u64::from(*n))
            .sum()
    }
}

impl Default for SensingSection {
    fn default() -> Self {
        SensingSection {
            window_secs: 3_600,
            centre: "48.8566,2.3522".into(),
            spacing_m: 1_200,
            cheaters: StationCheatersSection::default(),
        }
    }
}

impl SensingSection {
    /// The centre as (latitude, longitude), if it is one.
    pub fn centre(&self) -> Option<(f64, f64)> {
        parse_centre(&self.centre)
    }
}

/// `[connectivity]`: the simulated devices of a connectivity agent are hotspots carrying a
/// payer's data (see [`crate::hotspots`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectivitySection {
    /// The chain's window length: one chunk per hotspot a window.
    pub window_secs: u64,
    /// Bytes each simulated hotspot carries per window.
    pub bytes_per_window: u64,
    /// The payer's key file ("" for none); created if missing.
    pub payer_key_file: String,
    /// Connectivity credits the owner keeps delegated to the payer (0: none).
    pub delegate_credits: u64,
    /// Simulated hotspots that cheat.
    pub cheaters: HotspotCheatersSection,
}

/// `[connectivity.cheaters]`: how many of the simulated hotspots cheat, and how; they are the
/// last simulated hotspots, in this order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HotspotCheatersSection {
    /// Hotspots that raise the bytes of receipts after the payer signed them.
    pub inflaters: u32,
    /// Hotspots that sign receipts with their own key in the payer's name.
    pub device_signed: u32,
    /// Hotspots that name their own key (holding no credits) as payer.
    pub unfunded: u32,
}

impl HotspotCheatersSection {
    /// Cheaters in all.
    pub fn total(&self) -> u64 {
        [self.inflaters, self.device_signed, self.unfunded]
            .iter()
            .map(|n| u64::from(*n))
            .sum()
    }
}

impl Default for ConnectivitySection {
    fn default() -> Self {
        ConnectivitySection {
            window_secs: 3_600,
            bytes_per_window: 8 << 20,
            payer_key_file: String::new(),
            delegate_credits: 0,
            cheaters: HotspotCheatersSection::default(),
        }
    }
}

/// `"latitude,longitude"` as numbers, if it is a place on Earth.
fn parse_centre(text: &str) -> Option<(f64, f64)> {
    let (lat, lng) = text.split_once(',')?;
    let (lat, lng) = (
        lat.trim().parse::<f64>().ok()?,
        lng.trim().parse::<f64>().ok()?,
    );
    (lat.abs() <= 90.0 && lng.abs() <= 180.0).then_some((lat, lng))
}

/// `[device]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceSection {
    /// The key file ("" for none: simulated devices only).
    pub key_file: String,
    /// Its sub-network.
    pub subnetwork: Subnetwork,
}

/// `[readings]`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadingsSection {
    /// "" none, "-" standard input, else a path to follow.
    pub source: String,
}

/// `[simulation]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulationSection {
    /// How many.
    pub devices: u32,
    /// Their keys derive from this.
    pub seed: String,
}

/// `[register]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegisterSection {
    /// The node to register through ("" = do not register).
    pub node: String,
    /// The owner's key name.
    pub owner: String,
    /// The home whose `keys/` holds the owner's key.
    pub owner_home: PathBuf,
    /// Tokens to burn for data credits when the owner has too few to register ("0": never).
    pub burn_tokens: cairn_types::Amount,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            chain_id: "cairn-devnet".into(),
            data_dir: "agent-data".into(),
            oracles: vec!["http://127.0.0.1:7400".into()],
            copies: 2,
            status_listen: "127.0.0.1:7600".into(),
            heartbeat_interval_secs: 60,
            clock_sync_secs: 30,
            clock_tolerance_ms: crate::clock::DEFAULT_TOLERANCE_MS,
            delivery_interval_ms: 1_000,
            device: DeviceSection::default(),
            readings: ReadingsSection::default(),
            simulation: SimulationSection::default(),
            coverage: CoverageSection::default(),
            sensing: SensingSection::default(),
            connectivity: ConnectivitySection::default(),
            register: RegisterSection::default(),
        }
    }
}

impl Default for DeviceSection {
    fn default() -> Self {
        DeviceSection {
            key_file: "device.key".into(),
            subnetwork: Subnetwork::Sensing,
        }
    }
}

impl Default for SimulationSection {
    fn default() -> Self {
        SimulationSection {
            devices: 0,
            seed: "devnet".into(),
        }
    }
}

impl Default for RegisterSection {
    fn default() -> Self {
        RegisterSection {
            node: String::new(),
            owner: "alice".into(),
            owner_home: ".".into(),
            burn_tokens: cairn_types::Amount::ZERO,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ConfigError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl AgentConfig {
    /// Reads `path`, resolves relative paths against its directory and checks the values.
    pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
        let error = |reason: String| ConfigError {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let mut config = AgentConfig::parse(&text).map_err(error)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.data_dir = base.join(&config.data_dir);
        if !config.device.key_file.is_empty() {
            config.device.key_file = base.join(&config.device.key_file).display().to_string();
        }
        if !config.connectivity.payer_key_file.is_empty() {
            config.connectivity.payer_key_file = base
                .join(&config.connectivity.payer_key_file)
                .display()
                .to_string();
        }
        let source = &config.readings.source;
        if !source.is_empty() && source != "-" {
            config.readings.source = base.join(source).display().to_string();
        }
        config.register.owner_home = base.join(&config.register.owner_home);
        config.check().map_err(error)?;
        Ok(config)
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<AgentConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The TOML text of this configuration.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks what serde cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.oracles.is_empty() {
            return Err("oracles: name at least one oracle (two or more for safety)".into());
        }
        if self.oracles.len() > crate::outbox::MAX_ORACLES {
            return Err("oracles: at most 64".into());
        }
        for url in self
            .oracles
            .iter()
            .chain(Some(&self.register.node).filter(|n| !n.is_empty()))
        {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("`{url}` is not an http(s) URL"));
            }
        }
        // The clock and entropy follow a majority of the oracles named: one named twice would
        // count twice.
        let mut named = std::collections::BTreeSet::new();
        for url in &self.oracles {
            if !named.insert(url.trim_end_matches('/').to_ascii_lowercase()) {
                return Err(format!("oracles: `{url}` is named twice"));
            }
        }
        if self.clock_tolerance_ms == 0 {
            return Err("clock_tolerance_ms must be > 0".into());
        }
        if self.copies == 0 {
            return Err("copies must be at least 1".into());
        }
        if self.heartbeat_interval_secs == 0
            || self.clock_sync_secs == 0
            || self.delivery_interval_ms == 0
        {
            return Err("intervals must be > 0".into());
        }
        if self.simulation.devices > MAX_SIMULATED_DEVICES {
            return Err(format!(
                "simulation: at most {MAX_SIMULATED_DEVICES} devices"
            ));
        }
        if self.device.key_file.is_empty() && self.simulation.devices == 0 {
            return Err("no device: set device.key_file or simulation.devices".into());
        }
        if !self.status_listen.is_empty()
            && self.status_listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(format!(
                "status_listen `{}` is not an address",
                self.status_listen
            ));
        }
        cairn_types::params::ChainId::new(self.chain_id.clone())
            .map_err(|e| format!("chain_id: {e}"))?;
        let c = &self.coverage;
        if c.centre().is_none() {
            return Err(format!(
                "coverage.centre `{}` is not \"latitude,longitude\"",
                c.centre
            ));
        }
        if c.window_secs == 0 || c.slots == 0 || c.spacing_m == 0 {
            return Err("coverage: window_secs, slots and spacing_m must be > 0".into());
        }
        if c.cheaters.total() > u64::from(self.simulation.devices) {
            return Err(format!(
                "coverage.cheaters: {} cheaters but only {} simulated devices",
                c.cheaters.total(),
                self.simulation.devices
            ));
        }
        let s = &self.sensing;
        if s.centre().is_none() {
            return Err(format!(
                "sensing.centre `{}` is not \"latitude,longitude\"",
                s.centre
            ));
        }
        if s.window_secs == 0 || s.spacing_m == 0 {
            return Err("sensing: window_secs and spacing_m must be > 0".into());
        }
        if s.cheaters.total() > u64::from(self.simulation.devices) {
            return Err(format!(
                "sensing.cheaters: {} cheaters but only {} simulated devices",
                s.cheaters.total(),
                self.simulation.devices
            ));
        }
        let t = &self.connectivity;
        if t.window_secs == 0 {
            return Err("connectivity: window_secs must be > 0".into());
        }
        if t.bytes_per_window == 0 || t.bytes_per_window > cairn_types::transfer::MAX_RECEIPT_BYTES
        {
            return Err(format!(
                "connectivity: bytes_per_window must be from 1 to {} (one receipt)",
                cairn_types::transfer::MAX_RECEIPT_BYTES
            ));
        }
        if t.cheaters.total() > u64::from(self.simulation.devices) {
            return Err(format!(
                "connectivity.cheaters: {} cheaters but only {} simulated devices",
                t.cheaters.total(),
                self.simulation.devices
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_check_and_mistakes_are_named() {
        let config = AgentConfig::default();
        assert_eq!(config.check(), Ok(()));
        assert_eq!(AgentConfig::parse(&config.to_toml()).unwrap(), config);
        assert!(AgentConfig::parse("oracle = []")
            .unwrap_err()
            .contains("unknown field"));
        let c = AgentConfig::parse("oracles = []").unwrap();
        assert!(c.check().unwrap_err().contains("at least one oracle"));
        // One oracle named twice (another spelling of the same URL) would count twice in the
        // majority the clock and entropy follow.
        let c =
            AgentConfig::parse("oracles = [\"http://localhost:7400\", \"http://LocalHost:7400/\"]")
                .unwrap();
        assert!(c.check().unwrap_err().contains("named twice"));
        let c = AgentConfig::parse("clock_tolerance_ms = 0").unwrap();
        assert!(c.check().unwrap_err().contains("clock_tolerance_ms"));
        let c = AgentConfig::parse("[device]\nkey_file = \"\"").unwrap();
        assert!(c.check().unwrap_err().contains("no device"));
        let c = AgentConfig::parse("[coverage]\ncentre = \"91,0\"").unwrap();
        assert!(c.check().unwrap_err().contains("coverage.centre"));
        assert_eq!(config.coverage.centre(), Some((48.8566, 2.3522)));
        let c =
            AgentConfig::parse("[simulation]\ndevices = 3\n[coverage.cheaters]\nring = 4").unwrap();
        assert!(c.check().unwrap_err().contains("4 cheaters but only 3"));
        let c = AgentConfig::parse("[simulation]\ndevices = 1\n[sensing.cheaters]\nmovers = 2")
            .unwrap();
        assert!(c.check().unwrap_err().contains("2 cheaters but only 1"));
        let c = AgentConfig::parse("[sensing]\nwindow_secs = 0").unwrap();
        assert!(c.check().unwrap_err().contains("sensing: window_secs"));
        let c = AgentConfig::parse("[connectivity]\nbytes_per_window = 0").unwrap();
        assert!(c.check().unwrap_err().contains("bytes_per_window"));
        let c = AgentConfig::parse(
            "[simulation]\ndevices = 1\n[connectivity.cheaters]\ninflaters = 1\nunfunded = 1",
        )
        .unwrap();
        assert!(c.check().unwrap_err().contains("2 cheaters but only 1"));
    }
}
