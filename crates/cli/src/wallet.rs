//! What the wallet signs with when it talks to a node, trusting the node for nothing that
//! matters: the chain id comes from the user's own files, never from the node, and a fee the
//! node suggests is paid only up to a cap.
//!
//! The chain id, first found of: `--chain-id`; `--genesis FILE`; the home's `config.toml`
//! (`chain_id = "…"` or `genesis = "FILE"`, relative to the home); the home's `genesis.json`
//! (where `cairn devnet` writes it). A node answering for another chain is refused.
//!
//! The fee: `--fee` is signed as given. Without it, the node's minimum is used, unless it is
//! above the cap: `--max-fee`, else [`FEE_CAP_MULTIPLE`] times the minimum of the local genesis
//! (or of [`DEFAULT_FEE`] without one). Above the cap the wallet refuses and says how to pay it
//! on purpose.

use crate::context::Context;
use anyhow::{bail, Context as _, Result};
use cairn_ledger::genesis::Genesis;
use cairn_types::params::ChainId;
use cairn_types::Amount;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The home's configuration file.
pub(crate) const CONFIG_FILE: &str = "config.toml";
/// The default fee cap, as a multiple of the minimum fee.
pub(crate) const FEE_CAP_MULTIPLE: u128 = 100;
/// The fee assumed as minimum when no local genesis says otherwise (0.001 token).
pub(crate) const DEFAULT_FEE: Amount = Amount(1_000);

/// `<home>/config.toml`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct HomeConfig {
    /// The chain this home's keys sign for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) chain_id: Option<String>,
    /// The chain's genesis file (relative to the home).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) genesis: Option<PathBuf>,
}

impl HomeConfig {
    /// Reads `<home>/config.toml`; none is an empty configuration.
    pub(crate) fn load(home: &Path) -> Result<HomeConfig> {
        let path = home.join(CONFIG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).with_context(|| format!("{}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HomeConfig::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes it to `<home>/config.toml`.
    pub(crate) fn save(&self, home: &Path) -> Result<()> {
        let path = home.join(CONFIG_FILE);
        std::fs::write(&path, toml::to_string_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// The chain a transaction is signed for, and where that came from.
pub(crate) struct ChainIdentity {
    /// The chain id.
    pub(crate) chain_id: ChainId,
    /// The genesis minimum fee, when a genesis was read.
    pub(crate) genesis_fee_min: Option<Amount>,
    /// Where the chain id came from (for messages).
    pub(crate) source: String,
}

/// The chain id from the user's own files (see the module documentation); `None` when none
/// names one.
pub(crate) fn chain_identity(
    ctx: &Context,
    chain_id: Option<&str>,
    genesis: Option<&Path>,
) -> Result<Option<ChainIdentity>> {
    if let Some(id) = chain_id {
        return Ok(Some(ChainIdentity {
            chain_id: ChainId::new(id.to_string()).context("--chain-id")?,
            genesis_fee_min: None,
            source: "--chain-id".into(),
        }));
    }
    if let Some(path) = genesis {
        return from_genesis(path).map(Some);
    }
    let config = HomeConfig::load(&ctx.home)?;
    if let Some(id) = config.chain_id {
        let source = format!("{}", ctx.home.join(CONFIG_FILE).display());
        return Ok(Some(ChainIdentity {
            chain_id: ChainId::new(id).with_context(|| format!("chain_id in {source}"))?,
            genesis_fee_min: None,
            source,
        }));
    }
    if let Some(path) = config.genesis {
        return from_genesis(&ctx.home.join(path)).map(Some);
    }
    let default_genesis = ctx.home.join("genesis.json");
    if default_genesis.exists() {
        return from_genesis(&default_genesis).map(Some);
    }
    Ok(None)
}

fn from_genesis(path: &Path) -> Result<ChainIdentity> {
    let genesis = Genesis::load(path).with_context(|| format!("genesis {}", path.display()))?;
    Ok(ChainIdentity {
        chain_id: genesis.chain.chain_id.clone(),
        genesis_fee_min: Some(genesis.params.tx_fee_min),
        source: format!("{}", path.display()),
    })
}

/// The fee to sign: `explicit` as given; else the node's `suggested` minimum unless it is above
/// the cap (`max_fee`, else [`FEE_CAP_MULTIPLE`] × the local minimum).
pub(crate) fn fee(
    explicit: Option<Amount>,
    suggested: Amount,
    max_fee: Option<Amount>,
    local_min: Option<Amount>,
) -> Result<Amount> {
    if let Some(fee) = explicit {
        return Ok(fee);
    }
    let (cap, why) = match max_fee {
        Some(cap) => (cap, "--max-fee".to_string()),
        None => {
            let base = local_min.unwrap_or(DEFAULT_FEE).max(DEFAULT_FEE);
            (
                Amount(base.0.saturating_mul(FEE_CAP_MULTIPLE)),
                format!("{FEE_CAP_MULTIPLE}x the minimum fee {base}"),
            )
        }
    };
    if suggested > cap {
        bail!(
            "the node asks a fee of {suggested}, above the cap of {cap} ({why}); to pay it, pass \
             --fee {suggested} (or raise --max-fee)"
        );
    }
    Ok(suggested)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_suggested_fee_above_the_cap_needs_an_explicit_fee() {
        let min = Amount(1_000);
        assert_eq!(fee(None, min, None, Some(min)).unwrap(), min);
        assert_eq!(
            fee(None, Amount(100_000), None, Some(min)).unwrap(),
            Amount(100_000)
        );
        let error = fee(None, Amount(100_001), None, Some(min)).unwrap_err();
        assert!(error.to_string().contains("--fee"), "{error}");
        // Explicit: signed as given, whatever the cap.
        assert_eq!(
            fee(Some(Amount(5_000_000)), Amount(1), None, Some(min)).unwrap(),
            Amount(5_000_000)
        );
        // A cap of one's own.
        assert!(fee(None, Amount(2_000), Some(Amount(1_500)), Some(min)).is_err());
        // A genesis with no minimum still gets a cap.
        assert!(fee(None, Amount(1_000_000), None, Some(Amount(0))).is_err());
    }

    #[test]
    fn the_chain_id_comes_from_the_home_never_from_a_node() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context {
            home: dir.path().to_path_buf(),
            json: false,
        };
        assert!(chain_identity(&ctx, None, None).unwrap().is_none());
        HomeConfig {
            chain_id: Some("my-chain".into()),
            genesis: None,
        }
        .save(dir.path())
        .unwrap();
        let found = chain_identity(&ctx, None, None).unwrap().unwrap();
        assert_eq!(found.chain_id.as_str(), "my-chain");
        let flag = chain_identity(&ctx, Some("other"), None).unwrap().unwrap();
        assert_eq!(flag.chain_id.as_str(), "other");
        std::fs::write(dir.path().join(CONFIG_FILE), "chain_idd = \"x\"").unwrap();
        assert!(chain_identity(&ctx, None, None).is_err());
    }
}
