//! `cairn bench devnet`: sustained load of signed transfers against a local devnet of validator
//! processes, measured as a user sees it: finalized transactions per second, the time from
//! submission to finality, and each validator's peak memory.
//!
//! The benchmark writes a fresh devnet with `--accounts` funded senders (in a temporary
//! directory unless `--data-dir` is given), starts one `cairn node` process per validator and
//! one submitting thread per validator. Each thread owns a share of the senders, signs
//! transfers with consecutive nonces and posts them to its validator in batches
//! (`POST /v1/transactions/batch`), at the offered rate `--rate` (0: as fast as the pools
//! admit), never with more than `--max-in-flight` transactions submitted but not yet final. A
//! watcher reads each finalized block's transaction ids from validator 0 and times each
//! transaction from the moment it was posted to the moment validator 0 served its block. Only
//! what is finalized within the measured window, after a warm-up, counts.

use crate::client::NodeClient;
use crate::cmd_devnet;
use anyhow::{bail, Context as _, Result};
use cairn_ledger::genesis::{Genesis, GenesisAccount};
use cairn_types::params::ChainId;
use cairn_types::tx::{Action, Transaction};
use cairn_types::{Address, Amount, Hash, SecretKey};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Options of `cairn bench devnet`.
#[derive(Args)]
pub(crate) struct DevnetBenchArgs {
    /// Validators (one process each).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16))]
    validators: u16,
    /// Funded sending accounts (each has at most 64 transactions pooled at once).
    #[arg(long, default_value_t = 2_000)]
    accounts: usize,
    /// Length of the measured window, in seconds.
    #[arg(long, default_value_t = 60)]
    secs: u64,
    /// Seconds of load before the window opens.
    #[arg(long, default_value_t = 10)]
    warmup_secs: u64,
    /// Offered load in transactions per second (0: as fast as the validators admit them).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Most transactions submitted but not yet finalized.
    #[arg(long, default_value_t = 20_000)]
    max_in_flight: usize,
    /// Validator i listens on BASE+i and serves its API on BASE+100+i.
    #[arg(long, default_value_t = 28_000)]
    base_port: u16,
    /// Keep the devnet here (it must not exist yet) instead of in a temporary directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Also flood the last two validators' APIs (never validator 0, which the watcher reads)
    /// with this many proof and block requests per second in all (`cairn bench flood`, a
    /// separate process whose CPU is reported apart).
    #[arg(long, default_value_t = 0)]
    flood_rate: u64,
    /// With the flood: idle connections held open against the same validators.
    #[arg(long, default_value_t = 0)]
    flood_idle: usize,
    /// With the flood: client threads (each its own loopback address).
    #[arg(long, default_value_t = 40)]
    flood_clients: u64,
}

/// The figures, printed as one JSON line.
#[derive(Debug, Serialize)]
pub(crate) struct DevnetBench {
    /// Transactions in blocks finalized during the window, per second.
    pub(crate) finalized_tx_per_sec: u64,
    /// Median time from submission to finality, in milliseconds.
    pub(crate) finality_p50_ms: u64,
    /// 99th percentile of the same.
    pub(crate) finality_p99_ms: u64,
    /// The highest peak resident memory (VmHWM) of any validator process, in MiB.
    pub(crate) validator_rss_mib_max: Option<u64>,
    /// Validators.
    pub(crate) validators: u16,
    /// Sending accounts.
    pub(crate) accounts: usize,
    /// Window length, seconds.
    pub(crate) secs: u64,
    /// Offered rate (0: unlimited).
    pub(crate) offered_tx_per_sec: u64,
    /// CPU used by all validator processes during the window, in cores (2.0: both cores).
    pub(crate) validators_cpu_cores: Option<f64>,
    /// CPU used by this benchmark's own process (signing, HTTP) during the window, in cores.
    pub(crate) client_cpu_cores: Option<f64>,
    /// Transactions the validators admitted during the whole run.
    pub(crate) admitted: u64,
    /// Transactions refused on submission, by error code.
    pub(crate) refused: BTreeMap<String, u64>,
    /// Blocks finalized during the window.
    pub(crate) blocks: u64,
    /// The most transactions in one of them.
    pub(crate) max_block_transactions: usize,
    /// Validator processes that exited during the run (a crash, an out-of-memory kill).
    pub(crate) validators_exited: usize,
    /// The flood's own figures (its answers and its CPU), when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) flood: Option<crate::bench_flood::FloodReport>,
}

/// What the submitters and the watcher share.
struct Shared {
    stop: AtomicBool,
    in_flight: AtomicUsize,
    max_in_flight: usize,
    admitted: AtomicUsize,
    submitted_at: Mutex<HashMap<Hash, Instant>>,
    refused: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn count_refusal(&self, code: &str) {
        if let Ok(mut refused) = self.refused.lock() {
            *refused.entry(code.to_string()).or_default() += 1;
        }
    }
}

/// Stops the validator processes however the benchmark ends.
struct Validators(Vec<Option<Child>>);

impl Drop for Validators {
    fn drop(&mut self) {
        crate::node_process::stop_all(&mut self.0);
    }
}

/// Runs `cairn bench devnet`.
pub(crate) fn run(args: DevnetBenchArgs) -> Result<()> {
    if args.accounts == 0 || args.secs == 0 {
        bail!("--accounts and --secs must be above 0");
    }
    let temp;
    let data_dir = match &args.data_dir {
        Some(dir) if dir.exists() => bail!("{} already exists", dir.display()),
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().context("a temporary directory")?;
            temp.path().join("devnet")
        }
    };
    let senders: Vec<SecretKey> = (0..args.accounts)
        .map(|i| SecretKey::from_label(&format!("bench-sender-{i}")))
        .collect();
    let funded: Vec<GenesisAccount> = senders
        .iter()
        .map(|k| GenesisAccount {
            address: Address(k.public_key()),
            balance: Amount::tokens(1_000_000),
        })
        .collect();
    let validators = usize::from(args.validators);
    cmd_devnet::create(
        &data_dir,
        validators,
        args.base_port,
        cmd_devnet::DEFAULT_BLOCKS_PER_EPOCH,
        &funded,
        // The benchmark measures validators alone: no agent (its oracles are not started).
        (0, 0, 0),
    )?;
    let genesis: Genesis = serde_json::from_slice(&std::fs::read(data_dir.join("genesis.json"))?)
        .context("reading the devnet genesis")?;
    let configs = cmd_devnet::configs(&data_dir)?;
    let mut processes = Validators(Vec::new());
    for (i, (path, _)) in configs.iter().enumerate() {
        let log = cmd_devnet::node_dir(&data_dir, i).join("node.log");
        processes
            .0
            .push(Some(crate::node_process::start_node(path, &log)?));
    }
    let nodes: Vec<String> = configs
        .iter()
        .map(|(_, c)| format!("http://{}", c.rpc_listen))
        .collect();
    for (i, (_, config)) in configs.iter().enumerate() {
        if !cmd_devnet::wait_ready(config.rpc_listen, Duration::from_secs(60)) {
            bail!(
                "validator {i} did not answer on {} within 60 s",
                config.rpc_listen
            );
        }
    }
    let status: serde_json::Value = NodeClient::new(&nodes[0]).get("/v1/status")?;
    let start_height = status["height"].as_u64().unwrap_or(0);

    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        in_flight: AtomicUsize::new(0),
        max_in_flight: args.max_in_flight.max(1),
        admitted: AtomicUsize::new(0),
        submitted_at: Mutex::new(HashMap::new()),
        refused: Mutex::new(BTreeMap::new()),
    });
    let load = Load {
        chain_id: genesis.chain.chain_id.clone(),
        fee: genesis.params.tx_fee_min,
        rate_per_thread: args.rate as f64 / validators as f64,
    };
    let pids: Vec<u32> = processes.0.iter().flatten().map(Child::id).collect();
    let flood = if args.flood_rate > 0 || args.flood_idle > 0 {
        Some(start_flood(&args, &nodes)?)
    } else {
        None
    };
    let window_start = Instant::now() + Duration::from_secs(args.warmup_secs);
    let window_end = window_start + Duration::from_secs(args.secs);
    let stats = std::thread::scope(|scope| -> Result<WatchStats> {
        let mut submitters = Vec::new();
        for (t, node) in nodes.iter().enumerate() {
            let keys: Vec<&SecretKey> = senders.iter().skip(t).step_by(validators).collect();
            let (shared, load) = (&shared, &load);
            submitters.push(scope.spawn(move || load.submit(shared, node, &keys)));
        }
        let watcher = {
            let shared = &shared;
            let node = &nodes[0];
            scope.spawn(move || watch(shared, node, start_height, window_start, window_end))
        };
        let mut cpu_at_start = None;
        while Instant::now() < window_end {
            std::thread::sleep(Duration::from_millis(100));
            if cpu_at_start.is_none() && Instant::now() >= window_start {
                cpu_at_start = Some(cpu_seconds(&pids));
            }
            if submitters.iter().all(|s| s.is_finished()) {
                break;
            }
        }
        let cpu_at_end = cpu_seconds(&pids);
        shared.stop.store(true, Ordering::Relaxed);
        for submitter in submitters {
            submitter
                .join()
                .map_err(|_| anyhow::anyhow!("a submitter panicked"))??;
        }
        let mut stats = watcher
            .join()
            .map_err(|_| anyhow::anyhow!("the watcher panicked"))?;
        stats.cpu = cpu_at_start.map(|start| (start, cpu_at_end));
        Ok(stats)
    })?;
    if Instant::now() < window_end {
        bail!("every submitter stopped before the window closed");
    }
    let rss = processes
        .0
        .iter()
        .flatten()
        .filter_map(|child| crate::procstat::peak_rss_mib(child.id()))
        .max();
    let validators_exited = processes
        .0
        .iter_mut()
        .flatten()
        .map(Child::try_wait)
        .filter(|state| !matches!(state, Ok(None)))
        .count();
    drop(processes);
    let flood = match flood {
        Some(child) => Some(finish_flood(child)?),
        None => None,
    };

    let mut latencies = stats.latencies_ms;
    latencies.sort_unstable();
    let percentile = |p: usize| -> u64 {
        match latencies.len() {
            0 => 0,
            n => latencies[(n * p / 100).min(n - 1)],
        }
    };
    let cores = |pick: fn(&CpuSeconds) -> Option<f64>| -> Option<f64> {
        let (start, end) = stats.cpu.as_ref()?;
        let used = pick(end)? - pick(start)?;
        Some((used / args.secs as f64 * 100.0).round() / 100.0)
    };
    let validators_cpu_cores = cores(|c| c.validators);
    let client_cpu_cores = cores(|c| c.client);
    let report = DevnetBench {
        finalized_tx_per_sec: stats.finalized / args.secs,
        finality_p50_ms: percentile(50),
        finality_p99_ms: percentile(99),
        validator_rss_mib_max: rss,
        validators_cpu_cores,
        client_cpu_cores,
        validators: args.validators,
        accounts: args.accounts,
        secs: args.secs,
        offered_tx_per_sec: args.rate,
        admitted: shared.admitted.load(Ordering::Relaxed) as u64,
        refused: shared.refused.lock().map(|r| r.clone()).unwrap_or_default(),
        blocks: stats.blocks,
        max_block_transactions: stats.max_block_transactions,
        validators_exited,
        flood,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Starts `cairn bench flood` against the last two validators for the warm-up and the window.
fn start_flood(args: &DevnetBenchArgs, nodes: &[String]) -> Result<Child> {
    let exe = std::env::current_exe().context("finding the cairn executable")?;
    let targets: Vec<&String> = nodes.iter().skip(1).rev().take(2).collect();
    if targets.is_empty() {
        bail!("the flood needs at least two validators (it spares validator 0)");
    }
    let mut command = std::process::Command::new(exe);
    command
        .args(["bench", "flood"])
        .args(["--rate", &args.flood_rate.to_string()])
        .args(["--idle", &args.flood_idle.to_string()])
        .args(["--clients", &args.flood_clients.to_string()])
        .args(["--secs", &(args.warmup_secs + args.secs).to_string()])
        .args(["--accounts", &args.accounts.to_string()]);
    for node in targets {
        command.args(["--node", node]);
    }
    command
        .stdout(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null())
        .spawn()
        .context("starting the flood")
}

/// Waits for the flood to end and reads its figures.
fn finish_flood(child: Child) -> Result<crate::bench_flood::FloodReport> {
    let output = child.wait_with_output().context("waiting for the flood")?;
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim()).with_context(|| format!("the flood printed: {text}"))
}

/// What every submitter sends.
struct Load {
    chain_id: ChainId,
    fee: Amount,
    rate_per_thread: f64,
}

/// A node's answer to a batch of transactions, as far as the benchmarks read it.
#[derive(Deserialize)]
pub(crate) struct BatchAnswer {
    pub(crate) results: Vec<BatchResult>,
}

/// One transaction's outcome in a [`BatchAnswer`]: `pending` when admitted, else a code.
#[derive(Deserialize)]
pub(crate) struct BatchResult {
    pub(crate) status: String,
    pub(crate) code: Option<String>,
}

impl Load {
    /// Sends transfers from `keys` to `node` until told to stop.
    fn submit(&self, shared: &Shared, node: &str, keys: &[&SecretKey]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let client = NodeClient::new(node);
        let mut nonces = vec![0u64; keys.len()];
        let mut cursor = 0;
        let started = Instant::now();
        let mut sent = 0u64;
        // Small batches at a low rate, so a batch does not wait long for its turn.
        let batch = if self.rate_per_thread > 0.0 {
            ((self.rate_per_thread / 20.0) as usize).clamp(1, cairn_node::rpc::MAX_BATCH)
        } else {
            500
        }
        .min(keys.len());
        while !shared.stopped() {
            if shared.in_flight.load(Ordering::Relaxed) + batch > shared.max_in_flight {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            if self.rate_per_thread > 0.0 {
                let due = Duration::from_secs_f64(sent as f64 / self.rate_per_thread);
                let elapsed = started.elapsed();
                if elapsed < due {
                    std::thread::sleep((due - elapsed).min(Duration::from_millis(5)));
                    continue;
                }
            }
            // One transaction per sender in a batch, so a refusal rolls back one nonce.
            let mut owners = Vec::with_capacity(batch);
            let mut ids = Vec::with_capacity(batch);
            let mut hexes = Vec::with_capacity(batch);
            for _ in 0..batch {
                let i = cursor;
                cursor = (cursor + 1) % keys.len();
                let to = keys[(i + 1) % keys.len()].public_key();
                let tx = Transaction {
                    chain_id: self.chain_id.clone(),
                    sender: Address(keys[i].public_key()),
                    nonce: nonces[i],
                    fee: self.fee,
                    action: Action::Transfer {
                        to: Address(to),
                        amount: Amount(1),
                    },
                }
                .sign(keys[i]);
                nonces[i] += 1;
                owners.push(i);
                ids.push(tx.id());
                hexes.push(hex::encode(tx.encode()));
            }
            // Recorded before posting: the watcher may see a block before the answer arrives.
            let posted = Instant::now();
            if let Ok(mut map) = shared.submitted_at.lock() {
                map.extend(ids.iter().map(|id| (*id, posted)));
            }
            shared.in_flight.fetch_add(batch, Ordering::Relaxed);
            sent += batch as u64;
            let answer: Result<BatchAnswer> = client.post(
                "/v1/transactions/batch",
                &serde_json::json!({ "txs": hexes }),
            );
            let results: Vec<Option<String>> = match answer {
                Ok(answer) if answer.results.len() == batch => answer
                    .results
                    .into_iter()
                    .map(|r| (r.status != "pending").then(|| r.code.unwrap_or_default()))
                    .collect(),
                Ok(_) => vec![Some("malformed_answer".into()); batch],
                Err(_) => vec![Some("no_answer".into()); batch],
            };
            let mut full = false;
            for ((owner, id), refusal) in owners.iter().zip(&ids).zip(results) {
                match refusal {
                    None => {
                        shared.admitted.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(code) => {
                        full |= code == "mempool_full" || code == "no_answer";
                        shared.count_refusal(&code);
                        nonces[*owner] -= 1;
                        if let Ok(mut map) = shared.submitted_at.lock() {
                            if map.remove(id).is_some() {
                                shared.in_flight.fetch_sub(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }
            if full {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }
}

/// What the watcher saw in the window.
struct WatchStats {
    finalized: u64,
    latencies_ms: Vec<u64>,
    blocks: u64,
    max_block_transactions: usize,
    /// CPU used at the window's start and end.
    cpu: Option<(CpuSeconds, CpuSeconds)>,
}

/// A finalized block, as far as the watcher reads it.
#[derive(Deserialize)]
struct BlockIds {
    transaction_ids: Vec<Hash>,
}

/// Follows the finalized blocks on `node` from `start_height + 1` and times the benchmark's
/// transactions in them.
fn watch(
    shared: &Shared,
    node: &str,
    start_height: u64,
    window_start: Instant,
    window_end: Instant,
) -> WatchStats {
    let client = NodeClient::new(node);
    let mut stats = WatchStats {
        finalized: 0,
        latencies_ms: Vec::new(),
        blocks: 0,
        max_block_transactions: 0,
        cpu: None,
    };
    let mut height = start_height + 1;
    while !shared.stopped() {
        let Ok(block) = client.get::<BlockIds>(&format!("/v1/blocks/{height}?transactions=false"))
        else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let now = Instant::now();
        let in_window = now >= window_start && now < window_end;
        let Ok(mut map) = shared.submitted_at.lock() else {
            break;
        };
        for id in &block.transaction_ids {
            if let Some(posted) = map.remove(id) {
                shared.in_flight.fetch_sub(1, Ordering::Relaxed);
                if in_window {
                    stats.finalized += 1;
                    let ms = now.duration_since(posted).as_millis();
                    stats
                        .latencies_ms
                        .push(u64::try_from(ms).unwrap_or(u64::MAX));
                }
            }
        }
        drop(map);
        if in_window {
            stats.blocks += 1;
            stats.max_block_transactions = stats
                .max_block_transactions
                .max(block.transaction_ids.len());
        }
        height += 1;
    }
    stats
}

/// CPU seconds used so far by the validators (together) and by this process.
struct CpuSeconds {
    validators: Option<f64>,
    client: Option<f64>,
}

fn cpu_seconds(pids: &[u32]) -> CpuSeconds {
    let validators = pids
        .iter()
        .map(|pid| crate::procstat::process_cpu_seconds(&pid.to_string()))
        .sum();
    CpuSeconds {
        validators,
        client: crate::procstat::process_cpu_seconds("self"),
    }
}
