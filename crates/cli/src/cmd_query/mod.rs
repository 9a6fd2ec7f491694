//! `cairn query`: read the state of a local ledger, optionally with a proof.
//!
//! With `--prove`, the value is returned with a Merkle proof against the state root of the
//! requested height, and the proof is checked before anything is printed: the same check a light
//! client makes. `--height` reads an older state.

mod light;
mod remote;

use crate::client::NodeClient;
use crate::cmd_ledger::open_ledger;
use crate::context::Context;
use anyhow::{bail, Context as _, Result};
use borsh::BorshDeserialize;
use cairn_ledger::state::records::{
    Account, ChainState, DeviceRecord, LocationEntry, LockRecord, MakerRecord, Oracles, Proposal,
    RewardRootRecord, SettledRecord, Unbondings, ValidatorInfo, ValidatorSet, Validators,
};
use cairn_ledger::store::verify_proof;
use cairn_ledger::StateKey;
use cairn_types::params::{ChainConfig, Params};
use cairn_types::{Amount, Credits, DeviceId, Subnetwork};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Options of every query.
#[derive(Args)]
pub(crate) struct QueryArgs {
    /// The ledger's data directory.
    #[arg(long, global = true)]
    pub(crate) data_dir: Option<PathBuf>,
    /// Return the value with a proof against the state root, and check it.
    #[arg(long, global = true)]
    pub(crate) prove: bool,
    /// Read the state at this height (default: latest). Needs --prove.
    #[arg(long, global = true, requires = "prove")]
    pub(crate) height: Option<u64>,
    /// Ask a node's API instead of reading a local ledger.
    #[arg(long, global = true, conflicts_with = "data_dir")]
    pub(crate) node: Option<String>,
    /// With --node --prove: check the proof up to a finalized block's certificate, trusting
    /// only the validator set of --genesis (a light client).
    #[arg(long, global = true, requires_all = ["node", "prove", "genesis"])]
    pub(crate) verify: bool,
    /// With --node --prove: wait until the proven state is the node's head at the time of
    /// asking (a finalized block attests each state a block or two after it), so that a value
    /// read right after a transaction includes it.
    #[arg(long, global = true, requires_all = ["node", "prove"], conflicts_with = "height")]
    pub(crate) wait_attested: bool,
    /// The genesis file whose validators --verify trusts.
    #[arg(long, global = true)]
    pub(crate) genesis: Option<PathBuf>,
    /// With --verify: start the chain of trust from this checkpoint (a validator set, as
    /// `cairn query checkpoint` writes it) instead of the genesis set.
    #[arg(long, global = true, requires = "genesis")]
    pub(crate) checkpoint: Option<PathBuf>,
    #[command(subcommand)]
    what: QueryWhat,
}

/// What to read.
#[derive(Subcommand)]
pub(crate) enum QueryWhat {
    /// Latest height and state root.
    Head,
    /// Follow the validator sets from the genesis (or --checkpoint) to an epoch, checking every
    /// hand-off, and write that epoch's set as a checkpoint (needs --node and --genesis).
    Checkpoint {
        /// The epoch.
        #[arg(long)]
        epoch: u64,
        /// Where to write the checkpoint.
        #[arg(long)]
        out: PathBuf,
    },
    /// Height, time, supply, treasury.
    Chain,
    /// Chain id, epoch length, emission schedule.
    Config,
    /// Governance parameters.
    Params,
    /// An account.
    Account {
        /// Address or local key name.
        address: String,
    },
    /// A device.
    Device {
        /// did:key or hex.
        device: DeviceId,
    },
    /// One entry of a device's location history.
    Location {
        /// did:key or hex.
        device: DeviceId,
        /// Index, from 0.
        index: u32,
    },
    /// A maker.
    Maker {
        /// Its key.
        key: String,
    },
    /// Validators eligible for seats, with their stake.
    Validators,
    /// One validator: keys, stake, jail.
    Validator {
        /// Address or key name.
        address: String,
    },
    /// The validator set (seats) of an epoch.
    ValidatorSet {
        /// The epoch.
        #[arg(long)]
        epoch: u64,
    },
    /// The oracle committee and its prices.
    Oracles,
    /// An account's unbonding stake.
    Unbonding {
        /// Address or key name.
        address: String,
    },
    /// The latest reward root of a sub-network.
    RewardRoot {
        /// Sub-network.
        subnetwork: Subnetwork,
    },
    /// What an account has claimed from a sub-network.
    Claimed {
        /// Sub-network.
        subnetwork: Subnetwork,
        /// Address or key name.
        address: String,
    },
    /// An account's vote-escrow lock.
    Lock {
        /// Address or key name.
        address: String,
    },
    /// A governance proposal.
    Proposal {
        /// Its number.
        id: u64,
    },
    /// Credits delegated to a payer for a sub-network.
    Delegated {
        /// Payer address or key name.
        payer: String,
        /// Sub-network.
        subnetwork: Subnetwork,
    },
    /// What a payer was last settled for by a reward root (connectivity), and in total.
    Settled {
        /// Payer address or key name.
        payer: String,
        /// Sub-network.
        #[arg(default_value = "connectivity")]
        subnetwork: Subnetwork,
    },
    /// Credits spent in a sub-network.
    Usage {
        /// Sub-network.
        subnetwork: Subnetwork,
    },
}

pub(crate) fn to_json<V: BorshDeserialize + Serialize>(bytes: &[u8]) -> Result<Value> {
    let value: V = cairn_types::codec::decode(bytes, 4 * 1024 * 1024)?;
    Ok(serde_json::to_value(value)?)
}

/// How a state value is shown.
pub(crate) type Render = fn(&[u8]) -> Result<Value>;

/// The state key a query reads and how to show its value.
fn state_key(ctx: &Context, what: &QueryWhat) -> Result<(StateKey, Render)> {
    Ok(match what {
        QueryWhat::Head | QueryWhat::Checkpoint { .. } => bail!("not a state key"),
        QueryWhat::Chain => (StateKey::ChainState, to_json::<ChainState>),
        QueryWhat::Config => (StateKey::ChainConfig, to_json::<ChainConfig>),
        QueryWhat::Params => (StateKey::Params, to_json::<Params>),
        QueryWhat::Account { address } => {
            (StateKey::Account(ctx.address(address)?), to_json::<Account>)
        }
        QueryWhat::Device { device } => (StateKey::Device(*device), to_json::<DeviceRecord>),
        QueryWhat::Location { device, index } => (
            StateKey::DeviceLocation(*device, *index),
            to_json::<LocationEntry>,
        ),
        QueryWhat::Maker { key } => (
            StateKey::Maker(ctx.public_key(key)?),
            to_json::<MakerRecord>,
        ),
        QueryWhat::Validators => (StateKey::Validators, to_json::<Validators>),
        QueryWhat::Validator { address } => (
            StateKey::Validator(ctx.address(address)?),
            to_json::<ValidatorInfo>,
        ),
        QueryWhat::ValidatorSet { epoch } => (
            StateKey::ValidatorSet(cairn_types::Epoch(*epoch)),
            to_json::<ValidatorSet>,
        ),
        QueryWhat::Oracles => (StateKey::Oracles, to_json::<Oracles>),
        QueryWhat::Unbonding { address } => (
            StateKey::Unbonding(ctx.address(address)?),
            to_json::<Unbondings>,
        ),
        QueryWhat::RewardRoot { subnetwork } => (
            StateKey::RewardRoot(*subnetwork),
            to_json::<RewardRootRecord>,
        ),
        QueryWhat::Claimed {
            subnetwork,
            address,
        } => (
            StateKey::RewardClaimed(*subnetwork, ctx.address(address)?),
            to_json::<Amount>,
        ),
        QueryWhat::Lock { address } => {
            (StateKey::Lock(ctx.address(address)?), to_json::<LockRecord>)
        }
        QueryWhat::Proposal { id } => (StateKey::Proposal(*id), to_json::<Proposal>),
        QueryWhat::Delegated { payer, subnetwork } => (
            StateKey::DelegatedCredits(ctx.address(payer)?, *subnetwork),
            to_json::<Credits>,
        ),
        QueryWhat::Settled { payer, subnetwork } => (
            StateKey::Settled(*subnetwork, ctx.address(payer)?),
            to_json::<SettledRecord>,
        ),
        QueryWhat::Usage { subnetwork } => (StateKey::CreditUsage(*subnetwork), to_json::<Credits>),
    })
}

/// Runs a query.
pub(crate) fn run(ctx: &Context, args: QueryArgs) -> Result<()> {
    if let QueryWhat::Head = args.what {
        return match (&args.node, &args.data_dir) {
            (Some(node), _) => {
                let status: Value = NodeClient::new(node).get("/v1/status")?;
                ctx.print(&status, || {
                    format!(
                        "height {}\nstate root {}",
                        status["height"],
                        status["state_root"].as_str().unwrap_or_default()
                    )
                })
            }
            (None, Some(dir)) => {
                let head = open_ledger(dir)?.head();
                ctx.print(&head, || {
                    format!("height {}\nstate root {}", head.height, head.state_root)
                })
            }
            (None, None) => bail!("give --node URL or --data-dir DIR"),
        };
    }
    if let QueryWhat::Checkpoint { epoch, out } = &args.what {
        return checkpoint(ctx, &args, *epoch, out);
    }
    let (key, render) = state_key(ctx, &args.what)?;
    if let Some(node) = &args.node {
        return remote::query(ctx, node, &args, &key, render);
    }
    let dir = args
        .data_dir
        .as_ref()
        .context("give --node URL or --data-dir DIR")?;
    let ledger = open_ledger(dir)?;
    if !args.prove {
        let bytes = ledger.store().snapshot()?;
        let value = cairn_ledger::state::StateRead::read(&bytes, &key.to_bytes())?;
        let rendered = match value {
            Some(b) => render(&b)?,
            None => Value::Null,
        };
        return ctx.print(&rendered, || {
            if rendered.is_null() {
                "not found".to_string()
            } else {
                serde_json::to_string_pretty(&rendered).unwrap_or_default()
            }
        });
    }
    let height = args.height.unwrap_or(ledger.head().height);
    let (value, proof, root) = ledger.prove(&key, Some(height))?;
    verify_proof(&root, &key.to_bytes(), value.as_deref(), &proof)
        .map_err(|e| anyhow::anyhow!("the proof does not verify: {e}"))?;
    let rendered = match &value {
        Some(b) => render(b)?,
        None => Value::Null,
    };
    let proof_hex = hex::encode(borsh::to_vec(&proof)?);
    let out = json!({
        "height": height,
        "state_root": root,
        "key": hex::encode(key.to_bytes()),
        "value": rendered,
        "value_bytes": value.as_ref().map(hex::encode),
        "proof": proof_hex,
        "verified": true,
    });
    ctx.print(&out, || {
        format!(
            "{}\nproof of {} verified against state root {} at height {}\nproof: {}",
            serde_json::to_string_pretty(&rendered).unwrap_or_default(),
            if value.is_some() {
                "this value"
            } else {
                "absence"
            },
            root,
            height,
            proof_hex
        )
    })
}

/// `cairn query checkpoint`: walks the hand-offs to `epoch` and writes its set to `out`.
fn checkpoint(ctx: &Context, args: &QueryArgs, epoch: u64, out: &std::path::Path) -> Result<()> {
    let node = args
        .node
        .as_deref()
        .context("checkpoint needs --node URL")?;
    let start = remote::trusted_start(args)?;
    let from = start.set.epoch;
    let trusted = light::walk(&NodeClient::new(node), start, epoch)?;
    std::fs::write(out, serde_json::to_string_pretty(&trusted.set)?)
        .with_context(|| format!("writing {}", out.display()))?;
    let summary = json!({
        "epoch": epoch,
        "from_epoch": from.0,
        "validators": trusted.set.members.len(),
        "seats": trusted.set.seat_count(),
        "out": out.display().to_string(),
    });
    ctx.print(&summary, || {
        format!(
            "followed {} hand-off(s) from epoch {from} to epoch {epoch}; its {} seats of {} validators are in {}",
            epoch - from.0,
            trusted.set.seat_count(),
            trusted.set.members.len(),
            out.display()
        )
    })
}
