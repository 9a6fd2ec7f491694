//! `cairn bench oracle`: the oracle's hot paths, one JSON line.
//!
//! - ingest over loopback HTTP against the signature bound (`bench_oracle_ingest.rs`):
//!   `reports_per_sec`, `sig_bound_per_sec`;
//! - a whole reward epoch of a million devices from manifests to signed roots, against its
//!   signatures alone (`bench_oracle_epoch.rs`): `epoch_1m_secs`, `epoch_1m_rss_mib`,
//!   `epoch_1m_sig_secs`;
//! - a seeded simulation of honest and cheating devices through the rewarder
//!   (`bench_oracle_cheaters.rs`): `cheater_reward_share`, `honest_false_reject_rate`, and for
//!   the cheaters that know the rules `adaptive_cheater_reward_share` and
//!   `adaptive_to_honest_reward_ratio`;
//! - an epoch's device records read from a real node over HTTP and verified, against the
//!   node's own batched proofs of the same keys (`bench_oracle_inputs.rs`):
//!   `epoch_100k_inputs_secs`, `chain_reads_per_sec`, `proofs_per_sec`,
//!   `chain_reads_ratio_to_proofs`.
//!
//! `--quick` runs each at a small size, to check that the benchmark works (its figures are then
//! not comparable).

use crate::bench_oracle_cheaters::{self as cheaters, Mix};
use crate::bench_oracle_epoch as epoch;
use crate::bench_oracle_ingest::{self as ingest, IngestSettings};
use crate::bench_oracle_inputs as inputs;
use crate::bench_support::threads;
use anyhow::Result;
use clap::Args;
use serde::Serialize;

/// Options of `cairn bench oracle`.
#[derive(Args, Clone)]
pub(crate) struct OracleBenchArgs {
    /// Small sizes, to check that it works (figures are then not comparable).
    #[arg(long)]
    quick: bool,
    /// Devices posting to the oracle's ingest.
    #[arg(long, default_value_t = 100_000)]
    ingest_devices: usize,
    /// Reports each of them posts.
    #[arg(long, default_value_t = 3)]
    ingest_reports_per_device: usize,
    /// Reports per HTTP request.
    #[arg(long, default_value_t = 512)]
    batch: usize,
    /// Client threads posting at once.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Devices in the reward epoch (about ten reports each).
    #[arg(long, default_value_t = 1_000_000)]
    epoch_devices: usize,
    /// The cheater simulation's seed.
    #[arg(long, default_value = "cairn")]
    seed: String,
    /// Devices registered on a one-validator devnet whose records are read and verified
    /// (`inputs`; the setup registering them takes about a minute per 30,000).
    #[arg(long, default_value_t = 100_000)]
    inputs_devices: usize,
    /// The `inputs` devnet's base port (its validator listens on BASE and serves on BASE+100).
    #[arg(long, default_value_t = 28_600)]
    inputs_base_port: u16,
    /// Which parts to run, comma-separated, of: `ingest`, `epoch` (a million devices; with
    /// the reports it signs first, most of the default run's 30 minutes), `cheaters` and
    /// `inputs` (100,000 devices: a few minutes, most of it registering them).
    #[arg(long, default_value = "ingest,epoch,cheaters,inputs")]
    only: String,
}

/// Every figure of `cairn bench oracle` (a part not run leaves its figures out).
#[derive(Debug, Serialize)]
pub(crate) struct OracleBench {
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    ingest: Option<ingest::IngestFigures>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    epoch: Option<epoch::EpochFigures>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    cheaters: Option<cheaters::CheaterFigures>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    inputs: Option<inputs::InputsFigures>,
    /// Cores the machine offers.
    cores: usize,
    /// The machine's processor (Linux: `/proc/cpuinfo`).
    cpu: String,
}

/// Runs `cairn bench oracle`.
pub(crate) fn run(args: OracleBenchArgs) -> Result<()> {
    let parts: Vec<&str> = args.only.split(',').map(str::trim).collect();
    for part in &parts {
        if !["ingest", "epoch", "cheaters", "inputs"].contains(part) {
            anyhow::bail!("unknown part `{part}`: say ingest, epoch, cheaters or inputs");
        }
    }
    let (ingest_devices, epoch_devices, mix, inputs_devices) = if args.quick {
        (
            2_000,
            20_000,
            Mix {
                honest: 20,
                each_cheat: 2,
            },
            2_000,
        )
    } else {
        (
            args.ingest_devices,
            args.epoch_devices,
            Mix {
                honest: 150,
                each_cheat: 10,
            },
            args.inputs_devices,
        )
    };
    let ingest = parts
        .contains(&"ingest")
        .then(|| {
            ingest::run(&IngestSettings {
                devices: ingest_devices,
                per_device: args.ingest_reports_per_device,
                batch: args.batch,
                clients: args.clients,
            })
        })
        .transpose()?;
    let epoch = parts
        .contains(&"epoch")
        .then(|| epoch::run(epoch_devices))
        .transpose()?;
    let cheaters = parts
        .contains(&"cheaters")
        .then(|| cheaters::run(&mix, &args.seed))
        .transpose()?;
    let inputs = parts
        .contains(&"inputs")
        .then(|| inputs::run(inputs_devices, args.inputs_base_port))
        .transpose()?;
    let report = OracleBench {
        ingest,
        epoch,
        cheaters,
        inputs,
        cores: threads(),
        cpu: cpu_model(),
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The processor's model name, as Linux reports it.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
