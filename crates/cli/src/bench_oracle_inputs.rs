//! `cairn bench oracle --only inputs`: an epoch's device records read from a real node over
//! real HTTP and verified, as the rewarder reads them (`cairn_oracle::chain::reads`): the
//! header attesting the read state certified by seats followed from the genesis, then every
//! record in batches of up to 1,024 keys, each batch's multi-proof checked against that root.
//!
//! Setup (not timed): a one-validator devnet (`cairn node`, release settings of the devnet)
//! whose owners register the devices with signed transactions through the node's API (the
//! genesis sets the onboarding fee to 0, so no price oracle is needed). Then, timed: the read.
//! Then the node is stopped and its own store proves the same keys in the same batches in this
//! process on the same number of threads (one: the rewarder reads one batch at a time), which
//! bounds what any client could read: `chain_reads_ratio_to_proofs`.

use crate::bench_devnet::BatchAnswer;
use crate::client::NodeClient as TxClient;
use crate::cmd_devnet;
use crate::node_process::{self, node_dir};
use anyhow::{bail, Context as _, Result};
use cairn_ledger::genesis::{Genesis, GenesisAccount};
use cairn_ledger::state::records::DeviceRecord;
use cairn_ledger::{Ledger, StateKey};
use cairn_light::multiproof::MAX_BATCH_KEYS;
use cairn_oracle::chain::client::{ChainError, NodeClient};
use cairn_oracle::chain::reads::{attested_state, ReadCounters, StateReads};
use cairn_oracle::chain::trust::HeaderTrust;
use cairn_types::tx::{device_binding_digest, Action, RegisterDevice, Transaction};
use cairn_types::{Address, Amount, DeviceId, Hash, SecretKey, Subnetwork};
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Owners the devices are spread over (one transaction each per batch posted).
const OWNERS: usize = 500;
/// Rounds of transactions (one per owner each) posted ahead of the chain at most: below the
/// mempool's 64 per sender.
const ROUNDS_AHEAD: u64 = 40;
/// The longest the setup waits for the chain to take every registration.
const SETUP_LIMIT: Duration = Duration::from_secs(1_800);

/// The figures of the inputs benchmark.
#[derive(Debug, Serialize)]
pub(crate) struct InputsFigures {
    /// Seconds to certify the read state's header and read and verify every device record
    /// (named for the 100,000 devices of the default run).
    pub(crate) epoch_100k_inputs_secs: f64,
    /// Keys read and verified per second over HTTP.
    pub(crate) chain_reads_per_sec: u64,
    /// Keys the node's store proves per second in process, in the same batches.
    pub(crate) proofs_per_sec: u64,
    /// `chain_reads_per_sec / proofs_per_sec`.
    pub(crate) chain_reads_ratio_to_proofs: f64,
    /// Devices registered and read.
    pub(crate) inputs_devices: usize,
    /// Batches asked (one HTTP request each).
    pub(crate) inputs_batches: u64,
    /// Bytes of values read.
    pub(crate) inputs_value_bytes: u64,
    /// Seconds the setup took (registering the devices; not in the figures above).
    pub(crate) inputs_setup_secs: u64,
}

/// Runs the inputs benchmark with `devices` devices, the devnet on `base_port`.
pub(crate) fn run(devices: usize, base_port: u16) -> Result<InputsFigures> {
    if devices == 0 {
        bail!("--inputs-devices must be above 0");
    }
    let temp = tempfile::tempdir().context("a temporary directory")?;
    let home = temp.path().join("devnet");
    let setup = Instant::now();
    let owners: Vec<SecretKey> = (0..OWNERS.min(devices))
        .map(|i| SecretKey::from_label(&format!("bench-inputs-owner-{i}")))
        .collect();
    let genesis = create_devnet(&home, base_port, &owners)?;
    let config = cmd_devnet::configs(&home)?
        .into_iter()
        .next()
        .context("the devnet has no validator")?;
    let log = node_dir(&home, 0).join("node.log");
    let mut node = [Some(node_process::start_node(&config.0, &log)?)];
    let base = format!("http://{}", config.1.rpc_listen);
    let result = (|| {
        if !cmd_devnet::wait_ready(config.1.rpc_listen, Duration::from_secs(60)) {
            bail!(
                "the node did not answer within 60 s (see {})",
                log.display()
            );
        }
        let ids = register(&base, &genesis, &owners, devices)?;
        let setup_secs = setup.elapsed().as_secs();
        let (secs, height, counters) = read_all(&base, &genesis, &home, &ids)?;
        Ok((setup_secs, secs, height, counters, ids))
    })();
    node_process::stop_all(&mut node);
    let (setup_secs, secs, height, counters, ids) = result?;
    let proofs_secs = prove_in_process(&node_dir(&home, 0).join("data/ledger"), &ids, height)?;
    let reads_per_sec = ids.len() as f64 / secs.max(1e-9);
    let proofs_per_sec = ids.len() as f64 / proofs_secs.max(1e-9);
    Ok(InputsFigures {
        epoch_100k_inputs_secs: round2(secs),
        chain_reads_per_sec: reads_per_sec as u64,
        proofs_per_sec: proofs_per_sec as u64,
        chain_reads_ratio_to_proofs: round2(reads_per_sec / proofs_per_sec),
        inputs_devices: ids.len(),
        inputs_batches: counters.batches.load(Ordering::Relaxed),
        inputs_value_bytes: counters.bytes_read.load(Ordering::Relaxed),
        inputs_setup_secs: setup_secs,
    })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A one-validator devnet in `home` with `owners` funded and no onboarding fee; returns its
/// genesis.
fn create_devnet(home: &Path, base_port: u16, owners: &[SecretKey]) -> Result<Genesis> {
    let funded: Vec<GenesisAccount> = owners
        .iter()
        .map(|k| GenesisAccount {
            address: Address(k.public_key()),
            balance: Amount::tokens(1_000_000),
        })
        .collect();
    cmd_devnet::create(
        home,
        1,
        base_port,
        cmd_devnet::DEFAULT_BLOCKS_PER_EPOCH,
        &funded,
        (0, 0, 0),
    )?;
    let path = home.join("genesis.json");
    let mut genesis = Genesis::load(&path).with_context(|| format!("{}", path.display()))?;
    genesis.params.device_onboard_fee_dc = cairn_types::Credits(0);
    std::fs::write(&path, serde_json::to_string_pretty(&genesis)?)?;
    Ok(genesis)
}

/// Registers `devices` devices spread over `owners` through the node at `base`, one
/// transaction per owner in each batch posted; returns the devices once the chain holds them
/// all.
fn register(
    base: &str,
    genesis: &Genesis,
    owners: &[SecretKey],
    devices: usize,
) -> Result<Vec<DeviceId>> {
    let client = TxClient::new(base);
    let reader = NodeClient::new(base);
    let chain_id = &genesis.chain.chain_id;
    let fee = genesis.params.tx_fee_min;
    let rounds = devices.div_ceil(owners.len()) as u64;
    let started = Instant::now();
    let mut ids = Vec::with_capacity(devices);
    for round in 0..rounds {
        // Never further ahead of the chain than the mempool holds per sender.
        loop {
            let done = reader
                .account(&Address(owners[0].public_key()))
                .map(|a| a.nonce)
                .unwrap_or(0);
            if round < done + ROUNDS_AHEAD {
                break;
            }
            if started.elapsed() > SETUP_LIMIT {
                bail!("the chain took too long to register the devices");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut pending: Vec<String> = Vec::with_capacity(owners.len());
        for (o, owner) in owners.iter().enumerate() {
            let n = round as usize * owners.len() + o;
            if n >= devices {
                break;
            }
            let device_key = SecretKey::from_label(&format!("bench-inputs-device-{n}"));
            let device = DeviceId(device_key.public_key());
            let sender = Address(owner.public_key());
            let binding = device_binding_digest(chain_id, &device, &sender, Subnetwork::Sensing);
            let tx = Transaction {
                chain_id: chain_id.clone(),
                sender,
                nonce: round,
                fee,
                action: Action::RegisterDevice(RegisterDevice {
                    device,
                    subnetwork: Subnetwork::Sensing,
                    maker: None,
                    device_signature: device_key.sign(&binding),
                }),
            }
            .sign(owner);
            ids.push(device);
            pending.push(hex::encode(tx.encode()));
        }
        post_until_admitted(&client, pending, started)?;
    }
    wait_registered(&reader, owners, rounds, devices, started)?;
    Ok(ids)
}

/// Posts `txs` as one batch, and again those refused for a full pool, until all are admitted.
fn post_until_admitted(client: &TxClient, mut txs: Vec<String>, started: Instant) -> Result<()> {
    while !txs.is_empty() {
        let answer: BatchAnswer =
            client.post("/v1/transactions/batch", &serde_json::json!({ "txs": txs }))?;
        if answer.results.len() != txs.len() {
            bail!(
                "the node answered a batch of {} with {} results",
                txs.len(),
                answer.results.len()
            );
        }
        let mut again = Vec::new();
        for (tx, result) in txs.into_iter().zip(answer.results) {
            match (result.status.as_str(), result.code.as_deref()) {
                ("pending", _) => {}
                (_, Some("mempool_full" | "rate_limited" | "busy")) => again.push(tx),
                (status, code) => bail!("a registration was {status}: {}", code.unwrap_or("")),
            }
        }
        if !again.is_empty() {
            if started.elapsed() > SETUP_LIMIT {
                bail!("the node kept refusing registrations as its pool was full");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        txs = again;
    }
    Ok(())
}

/// Waits until every owner's transactions are executed.
fn wait_registered(
    reader: &NodeClient,
    owners: &[SecretKey],
    rounds: u64,
    devices: usize,
    started: Instant,
) -> Result<()> {
    for (o, owner) in owners.iter().enumerate() {
        // The last round holds only the first owners.
        let last_round_has = (rounds - 1) as usize * owners.len() + o < devices;
        let wanted = if last_round_has { rounds } else { rounds - 1 };
        loop {
            let nonce = reader
                .account(&Address(owner.public_key()))
                .map(|a| a.nonce)
                .unwrap_or(0);
            if nonce >= wanted {
                break;
            }
            if started.elapsed() > SETUP_LIMIT {
                bail!(
                    "owner {o}'s registrations were not all executed in time ({nonce} of {wanted})"
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    Ok(())
}

/// Reads every device record as the rewarder does, timed: the state attested by the first
/// finalized block from the node's current head, that header certified by seats followed from
/// the genesis, the records in proven batches. Returns the seconds, the height read and what
/// the read cost.
fn read_all(
    base: &str,
    genesis: &Genesis,
    home: &Path,
    ids: &[DeviceId],
) -> Result<(f64, u64, ReadCounters)> {
    let client = NodeClient::new(base);
    let end_height = height_when_free(&client)?;
    // Two blocks more, so that a finalized block attests the state at `end_height`.
    let waited = Instant::now();
    while height_when_free(&client)? < end_height + 2 {
        if waited.elapsed() > Duration::from_secs(60) {
            bail!("the node made no block for a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let keys: Vec<StateKey> = ids.iter().map(|d| StateKey::Device(*d)).collect();
    let clients = [client];
    let counters = ReadCounters::default();
    let started = Instant::now();
    let header = |height: u64| -> Result<Option<(u64, Hash)>, String> {
        let block = when_free(|| clients[0].block(height)).map_err(|e| e.to_string())?;
        Ok(Some((block.state_height, block.state_root)))
    };
    let attested = attested_state(end_height, header)
        .map_err(|e| anyhow::anyhow!(e))?
        .context("no block attests the state read")?;
    HeaderTrust::of_genesis(
        genesis,
        &home.join("genesis.json"),
        &genesis.chain.chain_id.to_string(),
        genesis.chain.blocks_per_epoch,
    )
    .map_err(|e| anyhow::anyhow!(e))?
    .certify(&clients, attested)
    .map_err(|e| anyhow::anyhow!("the header attesting the read state: {e}"))?;
    let reads = StateReads::attested(&clients, attested).counted_in(&counters);
    let records = reads
        .read::<DeviceRecord>(&keys)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let secs = started.elapsed().as_secs_f64();
    let missing = records.iter().filter(|r| r.is_none()).count();
    if missing > 0 {
        bail!("{missing} registered devices were read as absent");
    }
    Ok((secs, attested.height, counters))
}

/// The node's height, asked again when the node says it is busy (the registrations just
/// posted may have spent this client's request budget).
fn height_when_free(client: &NodeClient) -> Result<u64> {
    when_free(|| client.status().map(|s| s.height))
}

/// Asks `ask` until the node is not busy, for a minute at most.
fn when_free<T>(ask: impl Fn() -> Result<T, ChainError>) -> Result<T> {
    let asked = Instant::now();
    loop {
        match ask() {
            Ok(answer) => return Ok(answer),
            Err(e) => match e.retry_after_secs() {
                Some(secs) if asked.elapsed() < Duration::from_secs(60) => {
                    std::thread::sleep(Duration::from_secs(secs.clamp(1, 5)))
                }
                _ => bail!("{e}"),
            },
        }
    }
}

/// Seconds the node's own store takes to prove the same keys at `height`, in the same sorted
/// batches the reads asked for, on one thread.
fn prove_in_process(ledger_dir: &Path, ids: &[DeviceId], height: u64) -> Result<f64> {
    let ledger = Ledger::open(ledger_dir)
        .with_context(|| format!("opening the node's ledger in {}", ledger_dir.display()))?;
    let reader = ledger.store().reader();
    let mut keys: Vec<Vec<u8>> = ids
        .iter()
        .map(|d| StateKey::Device(*d).to_bytes())
        .collect();
    keys.sort_unstable();
    let started = Instant::now();
    for chunk in keys.chunks(MAX_BATCH_KEYS) {
        let (values, _proof, _root) = reader
            .prove_many(chunk, height)
            .map_err(|e| anyhow::anyhow!("proving at height {height}: {e}"))?;
        if values.iter().any(Option::is_none) {
            bail!("the node's store lacks a registered device at height {height}");
        }
    }
    Ok(started.elapsed().as_secs_f64())
}
