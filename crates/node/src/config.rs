//! A validator's configuration file (`node.toml`).
//!
//! ```toml
//! genesis = "../genesis.json"        # paths are relative to this file
//! data_dir = "data"                  # ledger and consensus state
//! keys_home = ".."                   # keystore home (keys under keys/)
//! consensus_key = "validator-0-consensus"
//! account_key = "validator-0"           # optional: signs slashing reports
//! p2p_listen = "127.0.0.1:27000"
//! rpc_listen = "127.0.0.1:27100"
//!
//! [peers]                            # consensus key (hex) = address, for every other validator
//! "3b6a27bc…" = "127.0.0.1:27001"
//! ```
//!
//! Unknown fields are refused, so a misspelt option is an error and not a silent default.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file's contents.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The genesis file shared by every validator.
    pub genesis: PathBuf,
    /// Where this node keeps its ledger and consensus state.
    pub data_dir: PathBuf,
    /// The keystore home holding this node's keys (under `keys/`).
    pub keys_home: PathBuf,
    /// The name of the consensus key (it must be a validator's consensus key in genesis).
    pub consensus_key: String,
    /// The name of an account key that signs reports of equivocation this node detects (it
    /// pays their fees); without one, equivocation is only logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_key: Option<String>,
    /// Where the node accepts connections from other validators.
    pub p2p_listen: SocketAddr,
    /// Where the node serves its HTTP API.
    pub rpc_listen: SocketAddr,
    /// The other validators' addresses, by consensus key (hex).
    #[serde(default)]
    pub peers: BTreeMap<String, SocketAddr>,
    /// Consensus timing and block production.
    #[serde(default)]
    pub consensus: ConsensusSettings,
    /// Mempool bounds.
    #[serde(default)]
    pub mempool: MempoolSettings,
    /// The HTTP API's threads and limits (see [`crate::rpc::limits`]).
    #[serde(default)]
    pub api: crate::rpc::ApiLimits,
}

/// Consensus timing (milliseconds).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusSettings {
    /// How long a validator waits for the leader's proposal.
    pub leader_timeout_ms: u64,
    /// How long it waits for a notarization after that.
    pub certification_timeout_ms: u64,
    /// How often it re-broadcasts its nullify vote while stuck.
    pub retry_timeout_ms: u64,
    /// Sync the ledger to disk every this many blocks (finalized blocks are kept by consensus,
    /// so a crash re-applies the rest).
    pub sync_every_blocks: u64,
}

impl Default for ConsensusSettings {
    fn default() -> Self {
        ConsensusSettings {
            leader_timeout_ms: 2_000,
            certification_timeout_ms: 3_000,
            retry_timeout_ms: 4_000,
            sync_every_blocks: 1,
        }
    }
}

/// Mempool bounds.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolSettings {
    /// Most transactions held.
    pub max_transactions: usize,
    /// Most bytes held.
    pub max_bytes: usize,
}

impl Default for MempoolSettings {
    fn default() -> Self {
        let defaults = crate::mempool::MempoolConfig::default();
        MempoolSettings {
            max_transactions: defaults.max_transactions,
            max_bytes: defaults.max_bytes,
        }
    }
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It could not be read.
    #[error("reading {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        error: std::io::Error,
    },
    /// It is not valid TOML or has a wrong or unknown field.
    #[error("{path}: {error}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        error: String,
    },
    /// A value is out of range.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl NodeConfig {
    /// Reads `path` and resolves relative paths against its directory.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.display().to_string(),
            error,
        })?;
        let mut config = NodeConfig::parse(&text).map_err(|error| ConfigError::Parse {
            path: path.display().to_string(),
            error,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.genesis = base.join(&config.genesis);
        config.data_dir = base.join(&config.data_dir);
        config.keys_home = base.join(&config.keys_home);
        config.check().map_err(|reason| ConfigError::Invalid {
            path: path.display().to_string(),
            reason,
        })?;
        Ok(config)
    }

    /// Parses the TOML text (paths left as written).
    pub fn parse(text: &str) -> Result<NodeConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The TOML text of this configuration.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks values serde cannot.
    pub fn check(&self) -> Result<(), String> {
        let c = &self.consensus;
        if c.leader_timeout_ms == 0 || c.certification_timeout_ms <= c.leader_timeout_ms {
            return Err(
                "consensus: need 0 < leader_timeout_ms < certification_timeout_ms".to_string(),
            );
        }
        if c.retry_timeout_ms == 0 || c.sync_every_blocks == 0 {
            return Err("consensus: retry_timeout_ms and sync_every_blocks must be > 0".into());
        }
        if self.mempool.max_transactions == 0 || self.mempool.max_bytes == 0 {
            return Err("mempool: bounds must be > 0".into());
        }
        self.api.check()?;
        for key in self.peers.keys() {
            parse_key_hex(key)?;
        }
        if self.p2p_listen == self.rpc_listen {
            return Err("p2p_listen and rpc_listen must differ".into());
        }
        Ok(())
    }
}

/// A consensus key written as 64 hex characters.
pub fn parse_key_hex(text: &str) -> Result<[u8; 32], String> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes)
        .map_err(|_| format!("`{text}` is not a consensus key (64 hex characters)"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GOOD: &str = r#"
genesis = "../genesis.json"
data_dir = "data"
keys_home = ".."
consensus_key = "validator-0-consensus"
p2p_listen = "127.0.0.1:27000"
rpc_listen = "127.0.0.1:27100"

[peers]
"0101010101010101010101010101010101010101010101010101010101010101" = "127.0.0.1:27001"
"#;

    #[test]
    fn a_written_config_reads_back_the_same() {
        let config = NodeConfig::parse(GOOD).unwrap();
        assert_eq!(config.check(), Ok(()));
        assert_eq!(config.consensus, ConsensusSettings::default());
        assert_eq!(NodeConfig::parse(&config.to_toml()).unwrap(), config);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let misspelt = GOOD.replace("rpc_listen", "rpc_listn");
        assert!(NodeConfig::parse(&misspelt).is_err());
        let bad_addr = GOOD.replace("127.0.0.1:27100", "localhost");
        assert!(NodeConfig::parse(&bad_addr).is_err());
        let bad_peer = GOOD.replace("0101010101", "zz01010101");
        assert!(NodeConfig::parse(&bad_peer).unwrap().check().is_err());
        let timeouts = format!("{GOOD}\n[consensus]\nleader_timeout_ms = 5000\n");
        let parsed = NodeConfig::parse(&timeouts).unwrap();
        assert!(parsed.check().unwrap_err().contains("leader_timeout_ms"));
    }
}
