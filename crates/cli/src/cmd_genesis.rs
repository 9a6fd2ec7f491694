//! `cairn genesis`: write and check genesis files.

use crate::context::Context;
use anyhow::{bail, Context as _, Result};
use cairn_ledger::genesis::{
    Genesis, GenesisAccount, GenesisMaker, GenesisOracle, GenesisValidator,
};
use cairn_types::params::{ChainConfig, ChainId, ConsensusRules, EmissionSchedule, Params};
use cairn_types::Amount;
use clap::Subcommand;
use std::path::PathBuf;

/// Genesis commands.
#[derive(Subcommand)]
pub(crate) enum GenesisCommand {
    /// Write a new genesis file (all parameters at their defaults unless given).
    New {
        /// The chain's name (part of every signature).
        #[arg(long)]
        chain_id: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
        /// A validator: ADDRESS_OR_KEY=STAKE@CONSENSUS_KEY (repeatable).
        #[arg(long = "validator")]
        validators: Vec<String>,
        /// A funded account: ADDRESS_OR_KEY=AMOUNT (repeatable).
        #[arg(long = "alloc")]
        allocations: Vec<String>,
        /// An oracle: ADDRESS_OR_KEY=STAKE (repeatable).
        #[arg(long = "oracle")]
        oracles: Vec<String>,
        /// An approved maker: KEY=NAME (repeatable).
        #[arg(long = "maker")]
        makers: Vec<String>,
        /// Blocks per epoch.
        #[arg(long, default_value_t = 8_640)]
        blocks_per_epoch: u64,
        /// Emission of the first epoch.
        #[arg(long, default_value = "100000")]
        emission_per_epoch: Amount,
        /// Epochs between halvings.
        #[arg(long, default_value_t = 730)]
        halving_epochs: u64,
        /// Most the schedule ever emits.
        #[arg(long, default_value = "150000000")]
        emission_cap: Amount,
        /// Genesis time in ms since the Unix epoch (default: now).
        #[arg(long)]
        genesis_time_ms: Option<u64>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Check a genesis file and summarise it.
    Show {
        /// The file.
        file: PathBuf,
    },
}

fn split<'a>(text: &'a str, sep: char, what: &str) -> Result<(&'a str, &'a str)> {
    text.split_once(sep)
        .with_context(|| format!("`{text}`: expected {what}"))
}

/// Runs a genesis command.
pub(crate) fn run(ctx: &Context, cmd: GenesisCommand) -> Result<()> {
    match cmd {
        GenesisCommand::New {
            chain_id,
            out,
            validators,
            allocations,
            oracles,
            makers,
            blocks_per_epoch,
            emission_per_epoch,
            halving_epochs,
            emission_cap,
            genesis_time_ms,
            force,
        } => {
            if out.exists() && !force {
                bail!("{} exists (use --force to overwrite)", out.display());
            }
            let mut genesis = Genesis {
                chain: ChainConfig {
                    chain_id: ChainId::new(chain_id).context("chain id")?,
                    blocks_per_epoch,
                    emission: EmissionSchedule {
                        initial_per_epoch: emission_per_epoch,
                        halving_interval_epochs: halving_epochs,
                        emission_cap,
                    },
                    consensus: ConsensusRules::default(),
                },
                genesis_time_ms: genesis_time_ms.unwrap_or_else(now_ms),
                params: Params::default(),
                accounts: Vec::new(),
                validators: Vec::new(),
                oracles: Vec::new(),
                makers: Vec::new(),
            };
            for v in &validators {
                let (who, rest) = split(v, '=', "ADDRESS=STAKE@CONSENSUS_KEY")?;
                let (stake, key) = split(rest, '@', "STAKE@CONSENSUS_KEY")?;
                genesis.validators.push(GenesisValidator {
                    address: ctx.address(who)?,
                    stake: stake.parse().with_context(|| format!("stake in `{v}`"))?,
                    consensus_key: ctx.public_key(key)?,
                });
            }
            for a in &allocations {
                let (who, amount) = split(a, '=', "ADDRESS=AMOUNT")?;
                genesis.accounts.push(GenesisAccount {
                    address: ctx.address(who)?,
                    balance: amount.parse().with_context(|| format!("amount in `{a}`"))?,
                });
            }
            for o in &oracles {
                let (who, stake) = split(o, '=', "ADDRESS=STAKE")?;
                genesis.oracles.push(GenesisOracle {
                    address: ctx.address(who)?,
                    stake: stake.parse().with_context(|| format!("stake in `{o}`"))?,
                });
            }
            for m in &makers {
                let (key, name) = split(m, '=', "KEY=NAME")?;
                genesis.makers.push(GenesisMaker {
                    key: ctx.public_key(key)?,
                    name: name.to_string(),
                });
            }
            genesis
                .validate()
                .context("the genesis would not start a working chain")?;
            std::fs::write(&out, serde_json::to_string_pretty(&genesis)?)
                .with_context(|| format!("writing {}", out.display()))?;
            ctx.print(&genesis, || {
                format!(
                    "wrote {} ({} validators, {} accounts)",
                    out.display(),
                    genesis.validators.len(),
                    genesis.accounts.len()
                )
            })
        }
        GenesisCommand::Show { file } => {
            let genesis = Genesis::load(&file)?;
            let changes = genesis.state()?;
            ctx.print(&genesis, || {
                format!(
                    "chain {}: {} blocks per epoch, {} validators, {} oracles, {} accounts, {} state entries",
                    genesis.chain.chain_id,
                    genesis.chain.blocks_per_epoch,
                    genesis.validators.len(),
                    genesis.oracles.len(),
                    genesis.accounts.len(),
                    changes.len()
                )
            })
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
