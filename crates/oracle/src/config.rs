//! An oracle's configuration file (`oracle.toml`), every default in one place (those of
//! `[price]` and its HTTP sources in [`price`], beside their checks).
//!
//! ```toml
//! # The oracle's account key (a file written by `cairn keys`; its stake is bonded on chain).
//! key = "oracle"
//! keys_home = "."     # the home whose keys/ folder holds the key
//! data_dir = "data"
//! listen = "127.0.0.1:7400"
//! # Where agents, other oracles and auditors reach this oracle (committed with each manifest).
//! public_url = "http://127.0.0.1:7400"
//! # The validator node whose API this oracle follows and sends transactions to.
//! node = "http://127.0.0.1:8545"
//! # Other nodes an epoch's state is read from when `node` refuses a batch, is busy, or
//! # answers with a proof that does not check (asked in this order).
//! nodes = []
//! # The chain's genesis file: the seats every header's certificate is checked against, the
//! # trust followed from them through each epoch's hand-off ("" = headers taken on the nodes'
//! # word, with a warning; every real deployment sets it).
//! genesis = ""
//! # The coverage denylist this oracle commits with each epoch ("" = none; see denylist.rs).
//! # Read again for each manifest, so an edit applies from the next epoch committed.
//! denylist = ""
//!
//! [log]
//! store = ""             # "" = <data_dir>/store; or file:///abs/dir; or s3://bucket/prefix
//! roll_interval_secs = 60
//! roll_max_bytes = 50000000
//!
//! [ingest]
//! device_reports_per_minute = 60
//! device_burst = 600
//! client_batches_per_minute = 6000
//! client_burst = 1000
//!
//! [price]
//! source = "fixed"       # fixed | script | http | none
//! nano_usd = [1000000000]
//! interval_secs = 60
//! # source = "http" only (see config/price.rs for [[price.sources]]):
//! min_sources = 3
//! max_age_secs = 300
//! request_timeout_secs = 5
//! max_response_bytes = 65536
//! max_deviation_bps = 1000
//! ```
//!
//! Every field may be left out (its default is shown above); unknown fields are refused. A
//! relative path is taken from the file's directory. `CAIRN_ORACLE_<FIELD>` environment
//! variables override the top-level fields (`CAIRN_ORACLE_NODE=http://…`).

use crate::ingest::recent::DeviceRate;
use crate::ingest::IngestLimits;
use crate::log::RollPolicy;
pub use price::{PriceConfigError, PriceSection, PriceSourceSection, PriceUnit};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod price;

/// Most other nodes `nodes` may name.
pub const MAX_NODES: usize = 16;
/// Largest `roll_max_bytes`: half the default `log_file_bytes_max` (a file is the journal's
/// frames, and a journal may pass its roll size by one batch before it rolls).
pub const MAX_ROLL_BYTES: u64 = 512 * 1024 * 1024;

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OracleConfig {
    /// The oracle's key name in `keys_home`.
    pub key: String,
    /// The home whose `keys/` folder holds the key file.
    pub keys_home: PathBuf,
    /// The oracle's own files (journal, index, local log store).
    pub data_dir: PathBuf,
    /// Where the API listens.
    pub listen: SocketAddr,
    /// The URL others reach the API at.
    pub public_url: String,
    /// The node's API.
    pub node: String,
    /// Other nodes' APIs, asked for an epoch's state when `node` fails.
    pub nodes: Vec<String>,
    /// The chain's genesis file, whose validator set the headers' certificates are checked
    /// against ("" for none: headers are then the nodes' word).
    pub genesis: String,
    /// The coverage denylist file ("" for none).
    pub denylist: String,
    /// The report log.
    pub log: LogSection,
    /// Ingest's limits.
    pub ingest: IngestSection,
    /// The token price the oracle posts.
    pub price: PriceSection,
}

/// `[log]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// Where files go: empty for `<data_dir>/store`, or a `file://` or `s3://` URL.
    pub store: String,
    /// Roll the journal into a file when its first report is this old.
    pub roll_interval_secs: u64,
    /// Roll when the journal holds this many bytes (at most [`MAX_ROLL_BYTES`]).
    pub roll_max_bytes: u64,
}

/// `[ingest]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestSection {
    /// Reports a device may send a minute, sustained.
    pub device_reports_per_minute: u64,
    /// Reports a device may send at once (its backlog after an outage).
    pub device_burst: u64,
    /// Batches a client address may post a minute, sustained.
    pub client_batches_per_minute: u64,
    /// Batches a client may post at once.
    pub client_burst: u64,
}

impl Default for OracleConfig {
    fn default() -> Self {
        OracleConfig {
            key: "oracle".into(),
            keys_home: ".".into(),
            data_dir: "data".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 7400)),
            public_url: "http://127.0.0.1:7400".into(),
            node: "http://127.0.0.1:8545".into(),
            nodes: Vec::new(),
            genesis: String::new(),
            denylist: String::new(),
            log: LogSection::default(),
            ingest: IngestSection::default(),
            price: PriceSection::default(),
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            store: String::new(),
            roll_interval_secs: 60,
            roll_max_bytes: 50_000_000,
        }
    }
}

impl Default for IngestSection {
    fn default() -> Self {
        IngestSection {
            device_reports_per_minute: 60,
            device_burst: 600,
            client_batches_per_minute: 6_000,
            client_burst: 1_000,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        error: std::io::Error,
    },
    /// Not valid TOML, or a wrong or unknown field, or a value out of range.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl OracleConfig {
    /// Reads `path`, applies `CAIRN_ORACLE_*` overrides, resolves relative paths against the
    /// file's directory and checks the values.
    pub fn load(path: &Path) -> Result<OracleConfig, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: name.clone(),
            error,
        })?;
        let invalid = |reason: String| ConfigError::Invalid {
            path: name.clone(),
            reason,
        };
        let mut config = OracleConfig::parse(&text).map_err(invalid)?;
        config
            .apply_env(|key| std::env::var(key).ok())
            .map_err(invalid)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.keys_home = base.join(&config.keys_home);
        config.data_dir = base.join(&config.data_dir);
        if !config.genesis.is_empty() {
            config.genesis = base.join(&config.genesis).display().to_string();
        }
        if !config.denylist.is_empty() {
            let file = base.join(&config.denylist);
            crate::denylist::load(&file).map_err(|e| invalid(format!("denylist: {e}")))?;
            config.denylist = file.display().to_string();
        }
        config.check().map_err(invalid)?;
        Ok(config)
    }

    /// Parses TOML text (paths left as written).
    pub fn parse(text: &str) -> Result<OracleConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The TOML text of this configuration.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Overrides top-level fields from `CAIRN_ORACLE_<FIELD>` variables.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(v) = var("CAIRN_ORACLE_KEY") {
            self.key = v;
        }
        if let Some(v) = var("CAIRN_ORACLE_KEYS_HOME") {
            self.keys_home = v.into();
        }
        if let Some(v) = var("CAIRN_ORACLE_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = var("CAIRN_ORACLE_LISTEN") {
            self.listen = v
                .parse()
                .map_err(|_| format!("CAIRN_ORACLE_LISTEN `{v}` is not an address"))?;
        }
        if let Some(v) = var("CAIRN_ORACLE_PUBLIC_URL") {
            self.public_url = v;
        }
        if let Some(v) = var("CAIRN_ORACLE_NODE") {
            self.node = v;
        }
        if let Some(v) = var("CAIRN_ORACLE_GENESIS") {
            self.genesis = v;
        }
        Ok(())
    }

    /// Checks what serde cannot.
    pub fn check(&self) -> Result<(), String> {
        let named = [("public_url", &self.public_url), ("node", &self.node)];
        let others = self.nodes.iter().map(|url| ("nodes", url));
        for (name, url) in named.into_iter().chain(others) {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("{name} must be an http(s) URL, got `{url}`"));
            }
        }
        if self.nodes.len() > MAX_NODES {
            return Err(format!("nodes: at most {MAX_NODES} other nodes"));
        }
        if self.public_url.len() > cairn_types::tx::MAX_ENDPOINT_BYTES {
            return Err("public_url is longer than 200 bytes".into());
        }
        if self.log.roll_interval_secs == 0
            || !(4_096..=MAX_ROLL_BYTES).contains(&self.log.roll_max_bytes)
        {
            return Err(format!(
                "log: roll_interval_secs > 0 and 4096 ≤ roll_max_bytes ≤ {MAX_ROLL_BYTES} needed \
                 (other oracles attest no file over log_file_bytes_max, 1 GiB by default)"
            ));
        }
        let i = &self.ingest;
        if i.device_reports_per_minute == 0
            || i.device_burst == 0
            || i.client_batches_per_minute == 0
            || i.client_burst == 0
        {
            return Err("ingest: every rate and burst must be > 0".into());
        }
        self.price.check().map_err(|e| format!("price: {e}"))
    }

    /// The roll policy of `[log]`.
    pub fn roll_policy(&self) -> RollPolicy {
        RollPolicy {
            interval: Duration::from_secs(self.log.roll_interval_secs),
            max_bytes: usize::try_from(self.log.roll_max_bytes).unwrap_or(usize::MAX),
        }
    }

    /// Ingest's limits of `[ingest]`.
    pub fn ingest_limits(&self) -> IngestLimits {
        IngestLimits {
            device: DeviceRate {
                per_minute: self.ingest.device_reports_per_minute,
                burst: self.ingest.device_burst,
            },
            client_batches_per_minute: self.ingest.client_batches_per_minute,
            client_burst: self.ingest.client_burst,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_check_and_round_trip() {
        let config = OracleConfig::default();
        assert_eq!(config.check(), Ok(()));
        assert_eq!(OracleConfig::parse(&config.to_toml()).unwrap(), config);
        assert_eq!(OracleConfig::parse("").unwrap(), config);
    }

    #[test]
    fn wrong_files_get_clear_errors() {
        let unknown = OracleConfig::parse("nodez = \"x\"").unwrap_err();
        assert!(unknown.contains("unknown field"), "{unknown}");
        let c = OracleConfig::parse("nodes = [\"http://127.0.0.1:1\", \"ftp://x\"]").unwrap();
        assert!(c
            .check()
            .unwrap_err()
            .contains("nodes must be an http(s) URL"));
        let mut c = OracleConfig::parse("node = \"localhost:1\"").unwrap();
        assert!(c
            .check()
            .unwrap_err()
            .contains("node must be an http(s) URL"));
        c = OracleConfig::parse("[price]\nsource = \"oracle-of-delphi\"").unwrap();
        assert!(c.check().unwrap_err().contains("unknown source"));
        c = OracleConfig::parse("[price]\nsource = \"http\"").unwrap();
        let no_sources = c.check().unwrap_err();
        assert!(no_sources.contains("price: source = \"http\" needs at least one"));
        c = OracleConfig::parse("[ingest]\ndevice_burst = 0").unwrap();
        assert!(c.check().is_err());
        // A file larger than other oracles attest would cost this one its attestations.
        c = OracleConfig::parse("[log]\nroll_max_bytes = 600000000").unwrap();
        assert!(c.check().unwrap_err().contains("log_file_bytes_max"));
        c = OracleConfig::parse("[log]\nroll_max_bytes = 536870912").unwrap();
        assert_eq!(c.check(), Ok(()));
    }

    #[test]
    fn environment_overrides_top_level_fields() {
        let mut c = OracleConfig::default();
        c.apply_env(|k| (k == "CAIRN_ORACLE_NODE").then(|| "http://10.0.0.1:8545".to_string()))
            .unwrap();
        assert_eq!(c.node, "http://10.0.0.1:8545");
        let bad = c.apply_env(|k| (k == "CAIRN_ORACLE_LISTEN").then(|| "nowhere".to_string()));
        assert!(bad.is_err());
    }
}
