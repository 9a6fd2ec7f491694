//! `cairn ledger`: a ledger in a local data directory (until the validator network exists, this
//! is how transactions are executed), its supply audit, and the scripted demo.

use crate::cmd_genesis::now_ms;
use crate::context::Context;
use anyhow::{Context as _, Result};
use cairn_ledger::audit::audit_supply;
use cairn_ledger::{BlockInput, Genesis, Ledger};
use cairn_types::tx::SignedTransaction;
use clap::Subcommand;
use std::path::{Path, PathBuf};

/// Ledger commands.
#[derive(Subcommand)]
pub(crate) enum LedgerCommand {
    /// Create a ledger from a genesis file.
    Init {
        /// The genesis file.
        #[arg(long)]
        genesis: PathBuf,
        /// The data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Apply signed transactions (hex, one per line, in files or `-` for stdin) as one block.
    Apply {
        /// The data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Block time in ms since the Unix epoch (default: now, never before the last block).
        #[arg(long)]
        time_ms: Option<u64>,
        /// Files with hex transactions.
        files: Vec<PathBuf>,
    },
    /// Recount the supply and check it against the books.
    Audit {
        /// The data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Export a halted chain's state as the genesis of a new chain with a chosen validator set
    /// (the node must be stopped). Every operator can run it on its own ledger and compare the
    /// files: the same state and flags give the same bytes. See docs/NODE.md, "Recovering a
    /// halted chain".
    Export {
        /// The ledger directory (a node's `data/ledger`).
        #[arg(long)]
        data_dir: PathBuf,
        /// The agreed height (the last finalized block); the ledger must stand there.
        #[arg(long)]
        height: u64,
        /// The new chain's id (must differ from the halted chain's).
        #[arg(long)]
        chain_id: String,
        /// A chosen validator: ADDRESS_OR_KEY@KEYS (repeatable). KEYS is a file from `cairn
        /// genesis validator-keys --chain-id NEW --recovery` (keys and the account's consent), or
        /// a local node key name (the account key must then be local too, to consent).
        #[arg(long = "validator", required = true)]
        validators: Vec<String>,
        /// Seat keys for a validator given by a local node key name.
        #[arg(long, default_value_t = crate::cmd_genesis::DEFAULT_SEAT_KEYS)]
        seat_keys: u32,
        /// The new genesis time in ms since the Unix epoch (agreed, so that every export is the
        /// same).
        #[arg(long)]
        genesis_time_ms: u64,
        /// Where to write the genesis.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Run the scripted tour: genesis, transfers, devices, credits, rewards, governance.
    Demo {
        /// Keep the ledger in this directory (default: a temporary one).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// Opens the ledger of a data directory with a helpful error.
pub(crate) fn open_ledger(dir: &Path) -> Result<Ledger> {
    Ledger::open(dir).with_context(|| format!("opening the ledger in {}", dir.display()))
}

/// Applies transactions as the next block of the ledger in `dir` and prints the outcome.
pub(crate) fn apply_transactions(
    ctx: &Context,
    dir: &Path,
    transactions: Vec<SignedTransaction>,
    time_ms: Option<u64>,
) -> Result<()> {
    let mut ledger = open_ledger(dir)?;
    let head = ledger.head();
    let block = BlockInput {
        height: head.height + 1,
        timestamp_ms: time_ms.unwrap_or_else(now_ms).max(head.timestamp_ms),
        transactions,
        signers: None,
    };
    let outcome = ledger
        .apply_block(&block)
        .context("the block was refused; nothing changed")?;
    ctx.print(&outcome, || {
        let mut lines = vec![format!(
            "block {} applied ({} transactions), state root {}",
            outcome.height,
            outcome.receipts.len(),
            outcome.state_root
        )];
        lines.extend(outcome.notes.iter().map(|n| format!("  {n}")));
        for r in &outcome.receipts {
            lines.push(format!(
                "  tx {} from {} nonce {}",
                r.tx_id, r.sender, r.nonce
            ));
            lines.extend(r.notes.iter().map(|n| format!("    {n}")));
        }
        lines.join("\n")
    })
}

fn read_transactions(files: &[PathBuf]) -> Result<Vec<SignedTransaction>> {
    let mut out = Vec::new();
    for file in files {
        let text = if file.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).context("reading stdin")?
        } else {
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let where_ = || format!("{} line {}", file.display(), n + 1);
            let bytes = hex::decode(line).with_context(|| format!("{}: not hex", where_()))?;
            out.push(SignedTransaction::decode(&bytes).with_context(where_)?);
        }
    }
    Ok(out)
}

/// Runs a ledger command.
pub(crate) fn run(ctx: &Context, cmd: LedgerCommand) -> Result<()> {
    match cmd {
        LedgerCommand::Init { genesis, data_dir } => {
            let genesis = Genesis::load(&genesis)?;
            let ledger = Ledger::init(&data_dir, &genesis)
                .with_context(|| format!("creating a ledger in {}", data_dir.display()))?;
            let head = ledger.head();
            ctx.print(&head, || {
                format!(
                    "ledger for chain {} created in {}\ngenesis state root {}",
                    genesis.chain.chain_id,
                    data_dir.display(),
                    head.state_root
                )
            })
        }
        LedgerCommand::Apply {
            data_dir,
            time_ms,
            files,
        } => {
            let transactions = read_transactions(&files)?;
            apply_transactions(ctx, &data_dir, transactions, time_ms)
        }
        LedgerCommand::Export {
            data_dir,
            height,
            chain_id,
            validators,
            seat_keys,
            genesis_time_ms,
            out,
            force,
        } => export(
            ctx,
            &data_dir,
            ExportArgs {
                height,
                chain_id,
                validators,
                seat_keys,
                genesis_time_ms,
            },
            &out,
            force,
        ),
        LedgerCommand::Audit { data_dir } => {
            let ledger = open_ledger(&data_dir)?;
            let audit = audit_supply(&ledger)?;
            ctx.print(&audit, || {
                format!(
                    "balances {}\nvalidator stake {}\noracle stake {}\nunbonding {}\nlocked {}\ntreasury {}\ncounted {}\nbooks {}\n{}",
                    audit.balances,
                    audit.validator_stake,
                    audit.oracle_stake,
                    audit.unbonding,
                    audit.locked,
                    audit.treasury,
                    audit.counted,
                    audit.total_supply,
                    if audit.balanced() { "balanced" } else { "NOT BALANCED" }
                )
            })?;
            anyhow::ensure!(audit.balanced(), "the supply does not balance");
            Ok(())
        }
        LedgerCommand::Demo { data_dir } => crate::demo::run(ctx, data_dir),
    }
}

/// What `cairn ledger export` was told.
struct ExportArgs {
    height: u64,
    chain_id: String,
    validators: Vec<String>,
    seat_keys: u32,
    genesis_time_ms: u64,
}

/// Writes the recovery genesis of the ledger in `dir` to `out`.
fn export(ctx: &Context, dir: &Path, args: ExportArgs, out: &Path, force: bool) -> Result<()> {
    use crate::cmd_genesis::{recovery_keys, split, validator_keys};
    use cairn_ledger::recovery::{export, RecoveryPlan};
    if out.exists() && !force {
        anyhow::bail!("{} exists (use --force to overwrite)", out.display());
    }
    let chain_id = cairn_types::params::ChainId::new(&args.chain_id)
        .with_context(|| format!("chain id `{}`", args.chain_id))?;
    let mut chosen = Vec::new();
    for v in &args.validators {
        let (who, spec) = split(v, '@', "ADDRESS@KEYS")?;
        let address = ctx.address(who)?;
        let path = Path::new(spec);
        let signed = if path.is_file() {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {spec}"))?;
            serde_json::from_str::<cairn_ledger::recovery::RecoveryKeys>(&text).with_context(
                || {
                    format!(
                        "{spec}: not recovery keys (write them with `cairn genesis \
                         validator-keys --recovery`, which adds the account's consent)"
                    )
                },
            )?
        } else {
            // A local node key: derive the keys, and consent with the local account key.
            let keys = validator_keys(ctx, &chain_id, &address, spec, args.seat_keys)?;
            recovery_keys(ctx, &chain_id, who, keys)?
        };
        chosen.push((address, signed.keys, signed.consent));
    }
    let ledger = open_ledger(dir)?;
    let plan = RecoveryPlan {
        chain_id,
        height: args.height,
        genesis_time_ms: args.genesis_time_ms,
        validators: chosen,
    };
    let genesis = export(&ledger, &plan).context("the export was refused; nothing was written")?;
    genesis
        .validate()
        .context("the exported genesis would not start a working chain")?;
    std::fs::write(out, serde_json::to_string_pretty(&genesis)?)
        .with_context(|| format!("writing {}", out.display()))?;
    let carried = genesis.carried.as_ref();
    ctx.print(
        &serde_json::json!({
            "out": out.display().to_string(),
            "from_chain_id": carried.map(|c| c.from_chain_id.to_string()),
            "from_height": carried.map(|c| c.from_height),
            "from_state_root": carried.map(|c| c.from_state_root.to_string()),
            "records": carried.map_or(0, |c| c.records.len()),
            "validators": genesis.validators.len(),
        }),
        || {
            format!(
            "wrote {}: the state of {} at height {} (root {}), {} records, {} validators chosen",
            out.display(),
            carried.map(|c| c.from_chain_id.to_string()).unwrap_or_default(),
            carried.map_or(0, |c| c.from_height),
            carried.map(|c| c.from_state_root.to_string()).unwrap_or_default(),
            carried.map_or(0, |c| c.records.len()),
            genesis.validators.len()
        )
        },
    )
}
