//! `cairn oracle --config oracle.toml`: run one oracle (report ingest, the report log, the
//! follower of its node, the HTTP API) until Ctrl-C or SIGTERM.

use crate::cmd_node::init_logging;
use crate::context::passphrase;
use crate::context::Context;
use crate::keystore::Keystore;
use anyhow::{bail, Context as _, Result};
use cairn_oracle::config::OracleConfig;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Options.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct OracleArgs {
    /// The oracle's configuration file (oracle.toml): run the oracle.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<OracleCommand>,
}

/// What else `cairn oracle` does.
#[derive(Subcommand)]
pub(crate) enum OracleCommand {
    /// Recompute a reward epoch from the chain and the oracles' logs and compare its roots with
    /// the chain's: the audit anyone can run.
    Replay {
        /// The reward epoch.
        #[arg(long)]
        epoch: u64,
        /// A node's API.
        #[arg(long, default_value = "http://127.0.0.1:27100")]
        node: String,
        /// Where fetched log files are kept (default: a temporary directory).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// The chain's genesis file: the header the epoch's state is read by must then carry a
        /// certificate of seats followed from it (default: the home's genesis.json, if any;
        /// without one the header is the node's word, and the output says so).
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// Where an oracle's epochs stand: each ended epoch's stage, the stages that failed and
    /// when they are tried again, and what its chain reads cost.
    Status {
        /// The oracle's API.
        #[arg(long, default_value = "http://127.0.0.1:27200")]
        oracle: String,
    },
}

/// Runs `cairn oracle`.
pub(crate) fn run(ctx: &Context, args: OracleArgs) -> Result<()> {
    match args.command {
        Some(OracleCommand::Replay {
            epoch,
            node,
            work_dir,
            genesis,
        }) => return replay(ctx, epoch, &node, work_dir, genesis),
        Some(OracleCommand::Status { oracle }) => return status(ctx, &oracle),
        None => {}
    }
    let Some(config) = args.config else {
        bail!("give --config oracle.toml to run an oracle, or a subcommand (replay, status)");
    };
    init_logging();
    let config = OracleConfig::load(&config)?;
    let keystore = Keystore::new(&config.keys_home);
    let key = keystore
        .load(&config.key, || {
            passphrase(&config.key, false).ok().flatten()
        })
        .with_context(|| format!("loading the oracle key `{}`", config.key))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("oracle")
        .build()
        .context("starting the oracle's runtime")?;
    runtime.block_on(cairn_oracle::service::serve(config, key, stop_signal()))?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// `cairn oracle replay`'s exit code when the chain holds no root of the epoch's own to compare
/// with (0: the roots match; 1: they differ, or the replay failed).
pub(crate) const NO_ROOT_EXIT_CODE: i32 = 3;

fn replay(
    ctx: &Context,
    epoch: u64,
    node: &str,
    work_dir: Option<PathBuf>,
    genesis: Option<PathBuf>,
) -> Result<()> {
    let temp = tempfile::tempdir()?;
    let dir = work_dir.unwrap_or_else(|| temp.path().to_path_buf());
    let genesis = genesis.or_else(|| {
        let home = ctx.home.join("genesis.json");
        home.exists().then_some(home)
    });
    let report =
        cairn_oracle::replay::replay(node, cairn_types::Epoch(epoch), &dir, genesis.as_deref())
            .map_err(|e| anyhow::anyhow!(e))
            .with_context(|| format!("replaying reward epoch {epoch}"))?;
    ctx.print(&report, || {
        let mut out = format!(
            "reward epoch {epoch}: {} counted manifest(s), {} report copies, {} device(s)\n",
            report.manifests.len(),
            report.copies,
            report.devices
        );
        for (oracle, reports) in &report.manifests {
            out.push_str(&format!("  manifest of {oracle}: {reports} reports\n"));
        }
        let read = &report.read_state;
        out.push_str(&if read.certified {
            format!(
                "  state read at height {}, attested by block {} under a certificate of seats followed from the genesis (parameters, pools, stakes, devices, locations and credits proven against it; the counted manifests proven at a later certified state; the epoch's block times from certified headers)\n",
                read.height, read.block
            )
        } else {
            format!(
                "  state read at height {}, attested by block {} on the node's word (give --genesis to check its certificate)\n",
                read.height, read.block
            )
        });
        if !report.previous_checked {
            out.push_str(
                "  (the cumulative rewards before it could not all be checked against the chain)\n",
            );
        }
        for r in &report.roots {
            let show = |n: &Option<cairn_types::reward_tree::RewardNode>| {
                n.map_or("none".to_string(), |n| {
                    format!("{} (total {})", n.hash, n.sum)
                })
            };
            let settled = match (r.settlements, r.settled_on_chain) {
                (0, false) => String::new(),
                (n, true) => format!(", {n} payer(s) settled on chain"),
                (n, false) => format!(", {n} payer(s) to settle, not burned on chain yet"),
            };
            let verdict = match (r.compared_with, r.matches) {
                (_, false) => "DIFFERS",
                ("overtaken", true) => {
                    "no root of its own; a later root covers its total (only that was checked)"
                }
                ("no_root", true) => "no root on chain yet: nothing to compare",
                _ => "matches",
            };
            out.push_str(&format!(
                "  {}: computed {}, on chain {}{settled}: {verdict}\n",
                r.subnetwork,
                show(&r.computed),
                show(&r.on_chain),
            ));
        }
        out.push_str(&format!(
            "  digests: manifests {}, tally {}, payout {}, cumulative {}",
            report.digests.manifests,
            report.digests.tally,
            report.digests.payout,
            report.digests.cumulative
        ));
        out
    })?;
    if !report.all_match() {
        bail!("the replayed roots differ from the chain's");
    }
    if report.nothing_compared() {
        eprintln!(
            "no root on chain for reward epoch {epoch}: nothing compared with a root of its own"
        );
        std::process::exit(NO_ROOT_EXIT_CODE);
    }
    Ok(())
}

/// `cairn oracle status`: the oracle's `/v1/status`, read for an operator.
fn status(ctx: &Context, oracle: &str) -> Result<()> {
    let url = format!("{}/v1/status", oracle.trim_end_matches('/'));
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .new_agent();
    let text = agent
        .get(&url)
        .call()
        .with_context(|| format!("asking {url}"))?
        .body_mut()
        .read_to_string()
        .with_context(|| format!("reading {url}"))?;
    let answer: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{url} did not answer JSON"))?;
    ctx.print(&answer, || status_text(&answer))
}

/// The status as lines an operator reads.
fn status_text(answer: &serde_json::Value) -> String {
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let mut out = format!(
        "oracle {}: {} file(s), {} report(s), {} device(s) known, block {}\n",
        answer["oracle"].as_str().unwrap_or("?"),
        n(&answer["files"]),
        n(&answer["reports_in_files"]),
        n(&answer["devices_known"]),
        n(&answer["beacon"]["height"]),
    );
    let epochs = answer["epochs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if epochs.is_empty() {
        out.push_str("every ended reward epoch is done\n");
    }
    for e in epochs {
        out.push_str(&format!(
            "reward epoch {}: {}\n",
            n(&e["epoch"]),
            e["stage"].as_str().unwrap_or("?")
        ));
    }
    for f in answer["failures"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        out.push_str(&format!(
            "reward epoch {}: failed {} time(s), tried again in {} s: {}\n",
            n(&f["epoch"]),
            n(&f["failures"]),
            n(&f["retry_in_secs"]),
            f["last_error"].as_str().unwrap_or("?")
        ));
    }
    let reads = &answer["chain_reads"];
    out.push_str(&format!(
        "chain reads: {} key(s) ({} bytes) read in {} batch(es), {} found kept, {} retried, {} busy answer(s)",
        n(&reads["keys_read"]),
        n(&reads["bytes_read"]),
        n(&reads["batches"]),
        n(&reads["keys_kept"]),
        n(&reads["retries"]),
        n(&reads["busy_answers"]),
    ));
    if n(&reads["keys_left"]) > 0 {
        out.push_str(&format!(
            "; reading now, {} key(s) left",
            n(&reads["keys_left"])
        ));
    }
    if let Some(node) = reads["node"].as_str().filter(|s| !s.is_empty()) {
        out.push_str(&format!("; last answered by {node}"));
    }
    out.push('\n');
    for lag in answer["root_lags"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        out.push_str(&format!(
            "reward epoch {}: roots on chain {} s after its end (its cut-off is later by the report delay and skew)\n",
            n(&lag["epoch"]),
            n(&lag["root_lag_secs"])
        ));
    }
    for refused in answer["not_attested"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        out.push_str(&format!(
            "reward epoch {}: not attested the manifest of {}: {}\n",
            n(&refused["epoch"]),
            refused["oracle"].as_str().unwrap_or("?"),
            refused["reason"].as_str().unwrap_or("?")
        ));
    }
    out
}
