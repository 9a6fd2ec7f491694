//! `cairn tx`: build and sign every transaction.
//!
//! The signed transaction is printed as hex (or JSON with `--json`), ready to submit. With
//! `--data-dir`, the chain id and the sender's nonce are read from that local ledger, and
//! `--apply` executes the transaction there in a new block and prints the receipt. With
//! `--node`, it is submitted there; the chain id still comes from the user's own files and the
//! node's fee is capped ([`crate::wallet`]). The chain, nonce and fee signed are printed to
//! standard error.

use crate::client::NodeClient;
use crate::cmd_ledger::{apply_transactions, open_ledger};
use crate::context::Context;
use anyhow::{bail, Context as _, Result};
use cairn_ledger::state::records::Account;
use cairn_ledger::StateKey;
use cairn_types::codec::{BoundedString, BoundedVec};
use cairn_types::evidence::DoubleSignEvidence;
use cairn_types::params::{ChainId, ParamId};
use cairn_types::tx::{
    device_binding_digest, maker_attestation_digest, Action, MakerAttestation, ProposalAction,
    RegisterDevice, RewardClaim, RewardRootSubmission, StakeRole, Transaction, VoteChoice,
};
use cairn_types::validator_keys::ValidatorKeys;
use cairn_types::{
    Amount, Cell, Credits, DeviceId, EmissionWeights, Hash, Price, Signature, Subnetwork,
};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Common options of every transaction.
#[derive(Args)]
pub(crate) struct TxArgs {
    /// The sender's key name.
    #[arg(long, global = true)]
    from: Option<String>,
    /// The sender's nonce (default: read from --data-dir).
    #[arg(long, global = true)]
    nonce: Option<u64>,
    /// The fee, burned (default: the chain's minimum, or 0.001; from a node, at most
    /// --max-fee).
    #[arg(long, global = true)]
    fee: Option<Amount>,
    /// The highest fee taken from a node without --fee (default: 100x the genesis minimum).
    #[arg(long, global = true)]
    max_fee: Option<Amount>,
    /// The chain id (default: --genesis, the home's config.toml or genesis.json, or
    /// --data-dir; never the node).
    #[arg(long, global = true)]
    chain_id: Option<String>,
    /// The chain's genesis file, to read the chain id and minimum fee from.
    #[arg(long, global = true)]
    genesis: Option<PathBuf>,
    /// A local ledger to read the nonce and chain id from.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Apply the transaction to the --data-dir ledger in a new block.
    #[arg(long, global = true)]
    apply: bool,
    /// Submit the transaction to a node's API (and read the nonce and suggested fee from it).
    #[arg(long, global = true, conflicts_with_all = ["data_dir", "apply"])]
    node: Option<String>,
    /// With --node: wait until the transaction is included or rejected.
    #[arg(long, global = true, requires = "node")]
    wait: bool,
    #[command(subcommand)]
    action: TxAction,
}

/// Which stake.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    /// Validator stake.
    Validator,
    /// Oracle stake.
    Oracle,
}

/// A vote.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ChoiceArg {
    /// For.
    Yes,
    /// Against.
    No,
    /// Counts for quorum only.
    Abstain,
}

/// Every transaction.
#[derive(Subcommand)]
pub(crate) enum TxAction {
    /// Send tokens.
    Transfer {
        /// Receiver (address or key name).
        #[arg(long)]
        to: String,
        /// Amount, e.g. 12.5.
        #[arg(long)]
        amount: Amount,
    },
    /// Bond validator stake. The first bond registers the validator's keys: give its node key.
    BondValidator {
        /// Amount.
        #[arg(long)]
        amount: Amount,
        /// The local node key (first bond only): the node's network identity, from which its
        /// seat keys are derived.
        #[arg(long)]
        node_key: Option<String>,
        /// How many seat keys to register (the most seats the validator can hold).
        #[arg(long, default_value_t = crate::cmd_genesis::DEFAULT_SEAT_KEYS)]
        seats: u32,
    },
    /// Replace the validator's keys from the next validator set chosen on: new seat keys of key
    /// generation `--generation` derived from the node key (a new node key means restarting the
    /// node with it at the boundary).
    RotateValidatorKeys {
        /// The local node key.
        #[arg(long)]
        node_key: String,
        /// The key generation of the new seat keys (the node finds generations 0 to 15).
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..i64::from(cairn_node::epochs::SEAT_KEY_GENERATIONS)))]
        generation: u32,
        /// How many seat keys.
        #[arg(long, default_value_t = crate::cmd_genesis::DEFAULT_SEAT_KEYS)]
        seats: u32,
    },
    /// Leave the jail for missed votes (from the second epoch after the one missed).
    Unjail,
    /// Bond oracle stake.
    BondOracle {
        /// Amount.
        #[arg(long)]
        amount: Amount,
    },
    /// Start unbonding.
    Unbond {
        /// Which stake.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Amount.
        #[arg(long)]
        amount: Amount,
    },
    /// Withdraw matured unbonding stake.
    Withdraw,
    /// Report a double signature (evidence as JSON).
    ReportDoubleSign {
        /// JSON file with the evidence.
        #[arg(long)]
        evidence: PathBuf,
    },
    /// Report an oracle that signed two different reward roots for one epoch: its oracle stake
    /// is slashed and it leaves the committee. The evidence as JSON, or built from two of its
    /// signed answers.
    ReportOracleDoubleSign {
        /// JSON file with the evidence.
        #[arg(long, conflicts_with_all = ["first", "second"], required_unless_present = "first")]
        evidence: Option<PathBuf>,
        /// One signed answer of the oracle, saved from `GET /v1/rewards/EPOCH/signed`.
        #[arg(long, requires = "second")]
        first: Option<PathBuf>,
        /// Another, with a different root for the same epoch.
        #[arg(long, requires = "first")]
        second: Option<PathBuf>,
        /// The sub-network whose roots differ (default: the first that does).
        #[arg(long)]
        subnetwork: Option<Subnetwork>,
    },
    /// Register a device owned by the sender.
    RegisterDevice {
        /// Sub-network.
        #[arg(long)]
        subnetwork: Subnetwork,
        /// Name of the device's local key (it signs the binding).
        #[arg(long)]
        device_key: Option<String>,
        /// The device id, when its signature comes from the device itself.
        #[arg(long, requires = "device_signature")]
        device: Option<DeviceId>,
        /// The device's signature over the binding (hex).
        #[arg(long)]
        device_signature: Option<String>,
        /// Name of a maker's local key that vouches for the device.
        #[arg(long)]
        maker_key: Option<String>,
    },
    /// Assert a device's location.
    AssertLocation {
        /// The device.
        #[arg(long)]
        device: DeviceId,
        /// H3 cell (hex).
        #[arg(long, conflicts_with_all = ["lat", "lng"])]
        cell: Option<Cell>,
        /// Latitude in degrees.
        #[arg(long, requires = "lng", allow_hyphen_values = true)]
        lat: Option<f64>,
        /// Longitude in degrees.
        #[arg(long, requires = "lat", allow_hyphen_values = true)]
        lng: Option<f64>,
        /// H3 resolution for --lat/--lng.
        #[arg(long, default_value_t = 12)]
        resolution: u8,
    },
    /// Give a device to another owner.
    TransferDevice {
        /// The device.
        #[arg(long)]
        device: DeviceId,
        /// New owner.
        #[arg(long)]
        to: String,
    },
    /// Retire a device.
    RetireDevice {
        /// The device.
        #[arg(long)]
        device: DeviceId,
    },
    /// Post the token price in US dollars (oracles).
    PostPrice {
        /// Price per token, e.g. 0.35.
        #[arg(long)]
        usd: String,
    },
    /// Burn tokens for data credits.
    Burn {
        /// Tokens burned.
        #[arg(long)]
        amount: Amount,
        /// Who gets the credits (default: the sender).
        #[arg(long)]
        to: Option<String>,
        /// Refuse the burn if it buys fewer credits than this (the price may move between
        /// signing and inclusion; default: no minimum).
        #[arg(long, default_value_t = 0)]
        min_credits: u64,
    },
    /// Delegate data credits to a payer for one sub-network.
    Delegate {
        /// The payer.
        #[arg(long)]
        payer: String,
        /// Sub-network.
        #[arg(long)]
        subnetwork: Subnetwork,
        /// Credits.
        #[arg(long)]
        credits: u64,
    },
    /// Spend data credits.
    Spend {
        /// Sub-network.
        #[arg(long)]
        subnetwork: Subnetwork,
        /// Credits.
        #[arg(long)]
        credits: u64,
        /// Usage reference (64 hex characters).
        #[arg(
            long,
            default_value = "0000000000000000000000000000000000000000000000000000000000000000"
        )]
        usage: Hash,
    },
    /// Submit a signed reward root (JSON file).
    SubmitRoot {
        /// JSON file with the submission.
        #[arg(long)]
        file: PathBuf,
    },
    /// Claim rewards (JSON file with a list of claims).
    Claim {
        /// JSON file with the claims.
        #[arg(long)]
        file: PathBuf,
    },
    /// Lock tokens for voting power (or add to / extend a lock).
    Lock {
        /// Tokens added (0 to only extend).
        #[arg(long)]
        amount: Amount,
        /// Epochs from now until the lock ends.
        #[arg(long)]
        epochs: u64,
    },
    /// Take back an expired lock.
    Unlock,
    /// Make a governance proposal.
    Propose {
        /// Why.
        #[arg(long, default_value = "")]
        description: String,
        #[command(subcommand)]
        what: ProposalArg,
    },
    /// Vote on a proposal.
    Vote {
        /// Proposal number.
        #[arg(long)]
        proposal: u64,
        /// The vote.
        #[arg(long, value_enum)]
        choice: ChoiceArg,
    },
    /// Close a proposal whose vote ended (executes it if it passed).
    Execute {
        /// Proposal number.
        #[arg(long)]
        proposal: u64,
    },
}

/// What a proposal does.
#[derive(Subcommand)]
pub(crate) enum ProposalArg {
    /// Change one parameter.
    SetParam {
        /// Parameter name (see `cairn query params`).
        #[arg(long)]
        param: ParamId,
        /// New value (amounts in base units).
        #[arg(long)]
        value: u128,
    },
    /// Change the emission split: eight basis-point shares summing to 10000 (storage, coverage,
    /// sensing, connectivity, compute, energy, validators, treasury).
    SetWeights {
        /// Comma-separated shares.
        #[arg(long, value_delimiter = ',', required = true)]
        weights: Vec<u16>,
    },
    /// Approve a maker.
    ApproveMaker {
        /// Its key.
        #[arg(long)]
        maker: String,
        /// Its name.
        #[arg(long)]
        name: String,
    },
    /// Revoke a maker.
    RevokeMaker {
        /// Its key.
        #[arg(long)]
        maker: String,
    },
    /// Pay from the treasury.
    TreasurySpend {
        /// Receiver.
        #[arg(long)]
        to: String,
        /// Amount.
        #[arg(long)]
        amount: Amount,
    },
    /// Burn a share of an oracle's bonded and unbonding stake (put the proof of its bad price
    /// or root in `--description`).
    SlashOracle {
        /// The oracle's account.
        #[arg(long)]
        oracle: String,
        /// Share burned, in basis points (1 to 10000).
        #[arg(long)]
        bps: u64,
    },
    /// Switch the chain to a newer protocol version from a height at least two epochs after
    /// execution (docs/NODE.md, "Upgrades").
    ScheduleUpgrade {
        /// The new version.
        #[arg(long)]
        version: u32,
        /// The first height built under it.
        #[arg(long)]
        height: u64,
    },
}

/// Parses a dollar price with up to 9 decimals into nano-dollars, without floats.
pub(crate) fn parse_usd(text: &str) -> Result<Price> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let dangling_dot = text.contains('.') && frac.is_empty();
    if dangling_dot || !digits(whole) || (!frac.is_empty() && !digits(frac)) || frac.len() > 9 {
        bail!("`{text}` is not a dollar price with at most 9 decimals (e.g. 0.35)");
    }
    let whole: u64 = whole.parse().context("price too large")?;
    let frac_padded = format!("{frac:0<9}");
    let frac: u64 = frac_padded.parse().context("price")?;
    let nanos = whole
        .checked_mul(1_000_000_000)
        .and_then(|w| w.checked_add(frac))
        .context("price too large")?;
    Ok(Price(nanos))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &PathBuf) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn parse_signature(text: &str) -> Result<Signature> {
    let mut bytes = [0u8; 64];
    hex::decode_to_slice(text, &mut bytes).context("a signature is 128 hex characters")?;
    Ok(Signature(bytes))
}

/// Runs `cairn tx`.
pub(crate) fn run(ctx: &Context, args: TxArgs) -> Result<()> {
    let from = args
        .from
        .as_deref()
        .context("--from KEY_NAME is required")?;
    let key = ctx.load_key(from)?;
    let sender = cairn_types::Address(key.public_key());
    let ledger = match &args.data_dir {
        Some(dir) => Some(open_ledger(dir)?),
        None => None,
    };
    if args.apply && ledger.is_none() {
        bail!("--apply needs --data-dir");
    }
    let node = args.node.as_deref().map(NodeClient::new);
    let identity = match &ledger {
        Some(l) if args.chain_id.is_none() && args.genesis.is_none() => {
            Some(crate::wallet::ChainIdentity {
                chain_id: l.config().chain_id.clone(),
                genesis_fee_min: None,
                source: "--data-dir".into(),
            })
        }
        _ => crate::wallet::chain_identity(ctx, args.chain_id.as_deref(), args.genesis.as_deref())?,
    };
    let Some(identity) = identity else {
        bail!(
            "which chain? give --chain-id or --genesis FILE, or set chain_id in {}; the chain id \
             is never taken from a node",
            ctx.home.join(crate::wallet::CONFIG_FILE).display()
        )
    };
    let chain_id = identity.chain_id.clone();
    if let Some(node) = &node {
        check_node_chain(node, &identity)?;
    }
    let nonce = match (args.nonce, &ledger, &node) {
        (Some(n), _, _) => n,
        (None, Some(l), _) => {
            l.get::<Account>(&StateKey::Account(sender))?
                .unwrap_or_default()
                .nonce
        }
        (None, None, Some(n)) => next_nonce(n, sender)?,
        (None, None, None) => {
            bail!("give --nonce (or --node, or --data-dir to read it from a local ledger)")
        }
    };
    let fee = match (args.fee, &ledger, &node) {
        (Some(f), _, _) => f,
        (None, Some(l), _) => l
            .get::<cairn_types::params::Params>(&StateKey::Params)?
            .map_or(crate::wallet::DEFAULT_FEE, |p| p.tx_fee_min),
        (None, None, Some(n)) => {
            let suggested = n
                .get::<cairn_types::params::Params>("/v1/params")?
                .tx_fee_min;
            crate::wallet::fee(None, suggested, args.max_fee, identity.genesis_fee_min)?
        }
        (None, None, None) => identity
            .genesis_fee_min
            .unwrap_or(crate::wallet::DEFAULT_FEE),
    };
    eprintln!(
        "signing for chain {} (from {}): nonce {nonce}, fee {fee}",
        chain_id.as_str(),
        identity.source
    );
    let action = build_action(ctx, &chain_id, sender, args.action)?;
    let signed = Transaction {
        chain_id,
        sender,
        nonce,
        fee,
        action,
    }
    .sign(&key);
    if args.apply {
        let dir = args.data_dir.as_ref().context("--apply needs --data-dir")?;
        drop(ledger);
        return apply_transactions(ctx, dir, vec![signed], None);
    }
    if let Some(node) = &node {
        return submit(ctx, node, &signed, args.wait);
    }
    ctx.print(&signed, || hex::encode(signed.encode()))
}

/// Signs `action` from the key `from` for the chain the home names, sends it to `node` and
/// waits for its outcome: what other commands (`cairn rewards claim`) use to transact.
pub(crate) fn send_action(ctx: &Context, node_url: &str, from: &str, action: Action) -> Result<()> {
    let key = ctx.load_key(from)?;
    let sender = cairn_types::Address(key.public_key());
    let node = NodeClient::new(node_url);
    let Some(identity) = crate::wallet::chain_identity(ctx, None, None)? else {
        bail!(
            "which chain? set chain_id in {} (the chain id is never taken from a node)",
            ctx.home.join(crate::wallet::CONFIG_FILE).display()
        )
    };
    check_node_chain(&node, &identity)?;
    let suggested = node
        .get::<cairn_types::params::Params>("/v1/params")?
        .tx_fee_min;
    let fee = crate::wallet::fee(None, suggested, None, identity.genesis_fee_min)?;
    let signed = Transaction {
        chain_id: identity.chain_id.clone(),
        sender,
        nonce: next_nonce(&node, sender)?,
        fee,
        action,
    }
    .sign(&key);
    submit(ctx, &node, &signed, true)
}

/// Refuses a node that serves another chain than the one the user's files name.
fn check_node_chain(node: &NodeClient, identity: &crate::wallet::ChainIdentity) -> Result<()> {
    let status: serde_json::Value = node.get("/v1/status")?;
    let served = status["chain_id"].as_str().unwrap_or("");
    if served != identity.chain_id.as_str() {
        bail!(
            "the node serves chain `{served}`, but {} names `{}`: not signing",
            identity.source,
            identity.chain_id.as_str()
        );
    }
    Ok(())
}

/// The sender's next nonce in the node's applied state. Transactions still in the mempool are
/// not counted: send several in a row with `--wait`, or give each its `--nonce`.
fn next_nonce(node: &NodeClient, sender: cairn_types::Address) -> Result<u64> {
    let account: Account = node.get(&format!("/v1/accounts/{sender}"))?;
    Ok(account.nonce)
}

/// Submits `signed` to a node; with `wait`, polls until it is included or rejected.
fn submit(
    ctx: &Context,
    node: &NodeClient,
    signed: &cairn_types::tx::SignedTransaction,
    wait: bool,
) -> Result<()> {
    let body = serde_json::json!({ "tx": hex::encode(signed.encode()) });
    let mut status: serde_json::Value = node.post("/v1/transactions", &body)?;
    let id = signed.id();
    if wait {
        let start = std::time::Instant::now();
        while status["status"] == "pending" || status["status"] == "unknown" {
            if start.elapsed() > std::time::Duration::from_secs(60) {
                bail!("transaction {id} is still {} after 60 s", status["status"]);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            status = node.get(&format!("/v1/transactions/{id}"))?;
        }
    }
    ctx.print(&status, || match status["status"].as_str() {
        Some("included") => format!("{id} included at height {}", status["height"]),
        Some("rejected") => format!("{id} rejected: {}", status["reason"].as_str().unwrap_or("")),
        Some("failed") => format!(
            "{id} failed at height {} (fee charged, nothing else changed): {}",
            status["height"],
            status["reason"].as_str().unwrap_or("")
        ),
        Some(other) => format!("{id} {other}"),
        None => status.to_string(),
    })?;
    let reason = status["reason"].as_str().unwrap_or("");
    if status["status"] == "rejected" {
        bail!("the transaction was rejected: {reason}");
    }
    if status["status"] == "failed" {
        bail!("the transaction's action failed: {reason}");
    }
    Ok(())
}

fn build_action(
    ctx: &Context,
    chain_id: &ChainId,
    sender: cairn_types::Address,
    action: TxAction,
) -> Result<Action> {
    Ok(match action {
        TxAction::Transfer { to, amount } => Action::Transfer {
            to: ctx.address(&to)?,
            amount,
        },
        TxAction::BondValidator {
            amount,
            node_key,
            seats,
        } => Action::BondValidator {
            amount,
            keys: match node_key {
                Some(name) => Some(ValidatorKeys::derive(
                    chain_id,
                    &sender,
                    &ctx.load_key(&name)?,
                    0,
                    seats,
                )),
                None => None,
            },
        },
        TxAction::RotateValidatorKeys {
            node_key,
            generation,
            seats,
        } => Action::RotateValidatorKeys {
            keys: ValidatorKeys::derive(
                chain_id,
                &sender,
                &ctx.load_key(&node_key)?,
                generation,
                seats,
            ),
        },
        TxAction::Unjail => Action::Unjail,
        TxAction::BondOracle { amount } => Action::BondOracle { amount },
        TxAction::Unbond { role, amount } => Action::Unbond {
            role: match role {
                RoleArg::Validator => StakeRole::Validator,
                RoleArg::Oracle => StakeRole::Oracle,
            },
            amount,
        },
        TxAction::Withdraw => Action::WithdrawUnbonded,
        TxAction::ReportDoubleSign { evidence } => Action::ReportDoubleSign {
            evidence: read_json::<DoubleSignEvidence>(&evidence)?,
        },
        TxAction::ReportOracleDoubleSign {
            evidence,
            first,
            second,
            subnetwork,
        } => Action::ReportOracleDoubleSign {
            evidence: match (evidence, first, second) {
                (Some(path), _, _) => read_json(&path)?,
                (None, Some(first), Some(second)) => crate::oracle_evidence::from_signed_answers(
                    &first, &second, subnetwork, chain_id,
                )?,
                _ => bail!("give --evidence FILE, or --first FILE and --second FILE"),
            },
        },
        TxAction::RegisterDevice {
            subnetwork,
            device_key,
            device,
            device_signature,
            maker_key,
        } => {
            let (device, device_signature) = match (device_key, device, device_signature) {
                (Some(name), None, None) => {
                    let device_key = ctx.load_key(&name)?;
                    let id = DeviceId(device_key.public_key());
                    let sig =
                        device_key.sign(&device_binding_digest(chain_id, &id, &sender, subnetwork));
                    (id, sig)
                }
                (None, Some(id), Some(sig)) => (id, parse_signature(&sig)?),
                _ => bail!(
                    "give either --device-key NAME, or --device ID with --device-signature HEX"
                ),
            };
            let maker = match maker_key {
                None => None,
                Some(name) => {
                    let maker = ctx.load_key(&name)?;
                    Some(MakerAttestation {
                        maker: maker.public_key(),
                        signature: maker.sign(&maker_attestation_digest(chain_id, &device)),
                    })
                }
            };
            Action::RegisterDevice(RegisterDevice {
                device,
                subnetwork,
                maker,
                device_signature,
            })
        }
        TxAction::AssertLocation {
            device,
            cell,
            lat,
            lng,
            resolution,
        } => {
            let cell = match (cell, lat, lng) {
                (Some(cell), _, _) => cell,
                (None, Some(lat), Some(lng)) => Cell::from_lat_lng(lat, lng, resolution)?,
                _ => bail!("give --cell or --lat with --lng"),
            };
            Action::AssertLocation { device, cell }
        }
        TxAction::TransferDevice { device, to } => Action::TransferDevice {
            device,
            new_owner: ctx.address(&to)?,
        },
        TxAction::RetireDevice { device } => Action::RetireDevice { device },
        TxAction::PostPrice { usd } => Action::PostPrice {
            price: parse_usd(&usd)?,
        },
        TxAction::Burn {
            amount,
            to,
            min_credits,
        } => Action::BurnForCredits {
            amount,
            recipient: match to {
                Some(to) => ctx.address(&to)?,
                None => sender,
            },
            min_credits: Credits(min_credits),
        },
        TxAction::Delegate {
            payer,
            subnetwork,
            credits,
        } => Action::DelegateCredits {
            payer: ctx.address(&payer)?,
            subnetwork,
            credits: Credits(credits),
        },
        TxAction::Spend {
            subnetwork,
            credits,
            usage,
        } => Action::SpendCredits {
            subnetwork,
            credits: Credits(credits),
            usage,
        },
        TxAction::SubmitRoot { file } => {
            Action::SubmitRewardRoot(read_json::<RewardRootSubmission>(&file)?)
        }
        TxAction::Claim { file } => Action::ClaimRewards {
            claims: BoundedVec::new(read_json::<Vec<RewardClaim>>(&file)?)
                .context("too many claims in one transaction")?,
        },
        TxAction::Lock { amount, epochs } => Action::Lock {
            amount,
            duration_epochs: epochs,
        },
        TxAction::Unlock => Action::Unlock,
        TxAction::Propose { description, what } => Action::Propose {
            description: BoundedString::new(description).context("description")?,
            action: match what {
                ProposalArg::SetParam { param, value } => {
                    ProposalAction::SetParameter { param, value }
                }
                ProposalArg::SetWeights { weights } => {
                    let w: [u16; 8] = weights
                        .as_slice()
                        .try_into()
                        .context("eight weights are needed")?;
                    ProposalAction::SetEmissionWeights {
                        weights: EmissionWeights {
                            subnetworks_bps: [w[0], w[1], w[2], w[3], w[4], w[5]],
                            validators_bps: w[6],
                            treasury_bps: w[7],
                        },
                    }
                }
                ProposalArg::ApproveMaker { maker, name } => ProposalAction::ApproveMaker {
                    maker: ctx.public_key(&maker)?,
                    name: BoundedString::new(name).context("maker name")?,
                },
                ProposalArg::RevokeMaker { maker } => ProposalAction::RevokeMaker {
                    maker: ctx.public_key(&maker)?,
                },
                ProposalArg::TreasurySpend { to, amount } => ProposalAction::TreasurySpend {
                    to: ctx.address(&to)?,
                    amount,
                },
                ProposalArg::SlashOracle { oracle, bps } => ProposalAction::SlashOracle {
                    oracle: ctx.address(&oracle)?,
                    bps,
                },
                ProposalArg::ScheduleUpgrade { version, height } => {
                    ProposalAction::ScheduleUpgrade { version, height }
                }
            },
        },
        TxAction::Vote { proposal, choice } => Action::Vote {
            proposal,
            choice: match choice {
                ChoiceArg::Yes => VoteChoice::Yes,
                ChoiceArg::No => VoteChoice::No,
                ChoiceArg::Abstain => VoteChoice::Abstain,
            },
        },
        TxAction::Execute { proposal } => Action::ExecuteProposal { proposal },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_prices_parse_without_floats() {
        assert_eq!(parse_usd("0.35").unwrap(), Price(350_000_000));
        assert_eq!(parse_usd("12").unwrap(), Price(12_000_000_000));
        assert_eq!(parse_usd("0.000000001").unwrap(), Price(1));
        for bad in ["", ".5", "1.", "-1", "0.0000000001", "1e3", "abc"] {
            assert!(parse_usd(bad).is_err(), "{bad}");
        }
    }
}
