//! `cairn genesis`: write and check genesis files.

use crate::context::Context;
use anyhow::{bail, Context as _, Result};
use cairn_ledger::genesis::{
    Genesis, GenesisAccount, GenesisMaker, GenesisOracle, GenesisValidator,
};
use cairn_types::params::{ChainConfig, ChainId, ConsensusRules, EmissionSchedule, Params};
use cairn_types::validator_keys::ValidatorKeys;
use cairn_types::{Address, Amount};
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
        /// A validator: ADDRESS_OR_KEY=STAKE@KEYS (repeatable). KEYS is a file written by
        /// `cairn genesis validator-keys`, or the name of a local node key (its seat keys are
        /// derived from it, `--seat-keys` of them).
        #[arg(long = "validator")]
        validators: Vec<String>,
        /// Seat keys registered for a validator given by a local node key name.
        #[arg(long, default_value_t = DEFAULT_SEAT_KEYS)]
        seat_keys: u32,
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
        /// Consensus epochs in one reward epoch (1 to 16).
        #[arg(long, default_value_t = 1)]
        epochs_per_reward_epoch: u64,
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
        /// A governance parameter's starting value: NAME=VALUE (repeatable; names as
        /// `cairn query params` shows them, e.g. report_delay_max_secs=600).
        #[arg(long = "param")]
        params: Vec<String>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Write a validator's keys for a genesis (its node key and seat keys, each proven): the
    /// validator runs this with its own node key and hands the file to whoever writes the
    /// genesis.
    ValidatorKeys {
        /// The chain id.
        #[arg(long)]
        chain_id: String,
        /// The validator's account (address or local key name).
        #[arg(long)]
        account: String,
        /// The local node key (its seat keys are derived from it).
        #[arg(long)]
        node_key: String,
        /// How many seat keys (the most seats the validator can hold).
        #[arg(long, default_value_t = DEFAULT_SEAT_KEYS)]
        seats: u32,
        /// Where to write them.
        #[arg(long)]
        out: PathBuf,
        /// For the recovery of a halted chain: also sign the account's consent to sit with these
        /// keys (the account key must be local); `cairn ledger export` requires it.
        #[arg(long)]
        recovery: bool,
    },
    /// Check a genesis file and summarise it.
    Show {
        /// The file.
        file: PathBuf,
    },
}

/// Seat keys a validator registers unless told otherwise.
pub(crate) const DEFAULT_SEAT_KEYS: u32 = cairn_types::validator_keys::MAX_SEAT_KEYS as u32;

/// A validator's keys from `spec`: a keys file, or a local node key name to derive them from.
pub(crate) fn validator_keys(
    ctx: &Context,
    chain_id: &ChainId,
    account: &Address,
    spec: &str,
    seats: u32,
) -> Result<ValidatorKeys> {
    let path = std::path::Path::new(spec);
    if path.is_file() {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {spec}"))?;
        return serde_json::from_str(&text).with_context(|| format!("{spec}: not a keys file"));
    }
    let node = ctx
        .load_key(spec)
        .with_context(|| format!("`{spec}` is neither a keys file nor a local key"))?;
    Ok(ValidatorKeys::derive(chain_id, account, &node, 0, seats))
}

/// `keys` with the consent of the local account `account` (a key name) to sit with them in the
/// recovered chain `chain_id`.
pub(crate) fn recovery_keys(
    ctx: &Context,
    chain_id: &ChainId,
    account: &str,
    keys: ValidatorKeys,
) -> Result<cairn_ledger::recovery::RecoveryKeys> {
    let secret = ctx
        .load_key(account)
        .with_context(|| format!("the consent needs the account key `{account}` here"))?;
    let address = Address(secret.public_key());
    let consent = secret.sign(&cairn_ledger::recovery::consent_digest(
        chain_id, &address, &keys,
    ));
    Ok(cairn_ledger::recovery::RecoveryKeys { keys, consent })
}

/// The default parameters with `--param NAME=VALUE` overrides, each checked against its range.
fn starting_params(overrides: &[String]) -> Result<Params> {
    let mut params = Params::default();
    for entry in overrides {
        let (name, value) = split(entry, '=', "NAME=VALUE")?;
        let param: cairn_types::params::ParamId =
            name.parse().with_context(|| format!("--param `{entry}`"))?;
        let value: u128 = value
            .parse()
            .with_context(|| format!("--param `{entry}`: the value is not a number"))?;
        params
            .set(param, value)
            .with_context(|| format!("--param `{entry}`"))?;
    }
    Ok(params)
}

pub(crate) fn split<'a>(text: &'a str, sep: char, what: &str) -> Result<(&'a str, &'a str)> {
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
            epochs_per_reward_epoch,
            emission_per_epoch,
            halving_epochs,
            emission_cap,
            genesis_time_ms,
            seat_keys,
            params,
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
                    protocol_version: cairn_ledger::protocol::CURRENT_PROTOCOL_VERSION,
                    epochs_per_reward_epoch,
                },
                genesis_time_ms: genesis_time_ms.unwrap_or_else(now_ms),
                params: starting_params(&params)?,
                accounts: Vec::new(),
                validators: Vec::new(),
                oracles: Vec::new(),
                makers: Vec::new(),
                carried: None,
            };
            for v in &validators {
                let (who, rest) = split(v, '=', "ADDRESS=STAKE@KEYS")?;
                let (stake, keys) = split(rest, '@', "STAKE@KEYS")?;
                let address = ctx.address(who)?;
                let keys = validator_keys(ctx, &genesis.chain.chain_id, &address, keys, seat_keys)?;
                genesis.validators.push(GenesisValidator {
                    address,
                    stake: stake.parse().with_context(|| format!("stake in `{v}`"))?,
                    keys,
                    consent: None,
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
        GenesisCommand::ValidatorKeys {
            chain_id,
            account,
            node_key,
            seats,
            out,
            recovery,
        } => {
            let chain_id = ChainId::new(chain_id).context("chain id")?;
            let address = ctx.address(&account)?;
            if recovery && std::path::Path::new(&node_key).is_file() {
                // The account consents to keys it can see are its own, never to a file handed
                // to it.
                bail!("with --recovery, --node-key must name a local node key, not a file");
            }
            let keys = validator_keys(ctx, &chain_id, &address, &node_key, seats)?;
            let text = if recovery {
                serde_json::to_string_pretty(&recovery_keys(
                    ctx,
                    &chain_id,
                    &account,
                    keys.clone(),
                )?)?
            } else {
                serde_json::to_string_pretty(&keys)?
            };
            std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
            let account = address;
            ctx.print(&keys, || {
                format!(
                    "wrote the node key and {} seat keys of {account} for {chain_id} to {}",
                    keys.seats.len(),
                    out.display()
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
