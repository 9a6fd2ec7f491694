//! `cairn bench oracle`, ingest: signed reports from many devices posted in batches over
//! loopback HTTP to one oracle, which checks each (registry, time, duplicates, rates, the
//! signatures in one batch per request) and writes it durably (journal synced before the
//! answer) — against the bound, batch signature verification of the same signatures on every
//! core.
//!
//! The oracle is the real ingest service, log and HTTP API (`cairn_oracle::server`), in this
//! process on 127.0.0.1 with its devices registered directly in its device book; the clients
//! are threads of this process, so they share the machine's cores with it. Reports are signed
//! and batches encoded before the timing starts.

use crate::bench_support::{parallel, BENCH_CHAIN};
use anyhow::{bail, Context as _, Result};
use cairn_oracle::chain::ChainWatch;
use cairn_oracle::config::OracleConfig;
use cairn_oracle::index::Index;
use cairn_oracle::ingest::recent::DeviceRate;
use cairn_oracle::ingest::{Ingest, IngestLimits, IngestRules};
use cairn_oracle::log::store::LogStore;
use cairn_oracle::log::ReportLog;
use cairn_oracle::registry::DeviceBook;
use cairn_oracle::server::{limits::ReadLimiter, router, serve, ApiState};
use cairn_resources::context::DeviceInfo;
use cairn_resources::verify::{check_claims, Claim};
use cairn_types::ingest::{IngestResponse, IngestStatus};
use cairn_types::params::ChainId;
use cairn_types::report::{ReportBatch, ReportBody, ReportPayload, SessionCert, SignedReport};
use cairn_types::{Address, DeviceId, Hash, SecretKey, Subnetwork};
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the ingest benchmark measures.
pub(crate) struct IngestSettings {
    /// Devices, each with its own session.
    pub(crate) devices: usize,
    /// Reports each device sends (heartbeats, a second apart).
    pub(crate) per_device: usize,
    /// Reports per HTTP request.
    pub(crate) batch: usize,
    /// Client threads posting at once.
    pub(crate) clients: usize,
}

/// The figures of the ingest benchmark.
#[derive(Debug, Serialize)]
pub(crate) struct IngestFigures {
    /// Reports accepted (checked and written durably) per second over HTTP.
    pub(crate) reports_per_sec: u64,
    /// Reports whose signatures (each report's, each device's certificate once) batch
    /// verification checks per second on every core: the bound on `reports_per_sec`.
    pub(crate) sig_bound_per_sec: u64,
    /// `reports_per_sec / sig_bound_per_sec`.
    pub(crate) ingest_to_sig_ratio: f64,
    /// Devices.
    pub(crate) ingest_devices: usize,
    /// Reports posted.
    pub(crate) ingest_reports: usize,
    /// Reports per request.
    pub(crate) ingest_batch: usize,
    /// Client threads.
    pub(crate) ingest_clients: usize,
}

/// Runs the ingest benchmark.
pub(crate) fn run(settings: &IngestSettings) -> Result<IngestFigures> {
    let chain = ChainId::new(BENCH_CHAIN).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let start_ms = cairn_oracle::now_ms();
    let sessions = parallel(settings.devices, |d| session(&chain, d, start_ms));
    // Round by round: each batch holds many devices' reports, as an oracle's traffic does.
    let reports: Vec<SignedReport> = parallel(settings.devices * settings.per_device, |i| {
        let (round, d) = (i / settings.devices, i % settings.devices);
        let (key, cert) = &sessions[d];
        let body = ReportBody {
            time_ms: start_ms + 1_000 * round as u64,
            entropy: Hash::ZERO,
            payload: ReportPayload::Heartbeat {
                uptime_secs: round as u64,
            },
        };
        SignedReport::sign(&chain, cert.clone(), key, body)
    });
    let batches: Vec<Vec<u8>> = reports
        .chunks(settings.batch.max(1))
        .map(|part| ReportBatch::of(part).map(|b| b.encode()))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("a batch does not encode: {e:?}"))?;
    let devices: Vec<DeviceId> = sessions.iter().map(|(_, c)| c.device).collect();
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("a runtime")?;
    let url = runtime.block_on(start_oracle(dir.path(), &chain, &devices))?;
    let accepted = post_all(&url, &batches, settings.clients)?;
    let ingest_secs = accepted.1.as_secs_f64();
    if accepted.0 != reports.len() {
        bail!(
            "the oracle accepted {} of {} reports",
            accepted.0,
            reports.len()
        );
    }
    drop(runtime);
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let started = Instant::now();
    let mut claims: Vec<Claim<'_>> = sessions.iter().map(|(_, c)| Claim::Cert(c)).collect();
    claims.extend(reports.iter().map(Claim::Report));
    let valid = check_claims(&chain, &claims, threads);
    let sig_secs = started.elapsed().as_secs_f64();
    if valid.iter().any(|ok| !ok) {
        bail!("a benchmark signature does not verify");
    }
    let reports_per_sec = reports.len() as f64 / ingest_secs.max(1e-9);
    let sig_bound_per_sec = reports.len() as f64 / sig_secs.max(1e-9);
    Ok(IngestFigures {
        reports_per_sec: reports_per_sec as u64,
        sig_bound_per_sec: sig_bound_per_sec as u64,
        ingest_to_sig_ratio: (reports_per_sec / sig_bound_per_sec * 1000.0).round() / 1000.0,
        ingest_devices: settings.devices,
        ingest_reports: reports.len(),
        ingest_batch: settings.batch,
        ingest_clients: settings.clients,
    })
}

/// Device `d`'s session key and certificate (valid for an hour from `start_ms`).
fn session(chain: &ChainId, d: usize, start_ms: u64) -> (SecretKey, SessionCert) {
    let device = SecretKey::from_label(&format!("bench-ingest/device-{d}"));
    let key = SecretKey::from_label(&format!("bench-ingest/session-{d}"));
    let cert = SessionCert::issue(chain, &device, key.public_key(), start_ms + 3_600_000);
    (key, cert)
}

/// Starts an oracle's ingest and API on 127.0.0.1 with `devices` registered; its URL.
async fn start_oracle(
    dir: &std::path::Path,
    chain: &ChainId,
    devices: &[DeviceId],
) -> Result<String> {
    let defaults = OracleConfig::default();
    let store = LogStore::local(&dir.join("store"))?;
    let index = Arc::new(Index::open(&dir.join("index.redb"))?);
    let (log, _, _) = ReportLog::start(
        Address::default(),
        &dir.join("journal"),
        store.clone(),
        index.clone(),
        defaults.roll_policy(),
        tokio::runtime::Handle::current(),
    )?;
    let book = Arc::new(DeviceBook::new());
    for device in devices {
        book.put(
            *device,
            Some(DeviceInfo {
                owner: Address::default(),
                subnetwork: Subnetwork::Sensing,
                retired: false,
                maker_revoked: false,
                location: None,
            }),
        );
    }
    // Limits far above the load: the benchmark measures the checks and the writes.
    let ingest = Ingest::new(
        IngestRules {
            chain_id: chain.clone(),
            skew_ms: 3_600_000,
            delay_ms: 3_600_000,
            closed_before_ms: 0,
        },
        IngestLimits {
            device: DeviceRate {
                per_minute: 1_000_000,
                burst: 1_000_000,
            },
            client_batches_per_minute: 100_000_000,
            client_burst: 1_000_000,
        },
        book.clone(),
        log,
    );
    let chain_config = crate::bench_support::chain_config(chain.clone());
    let state = Arc::new(ApiState {
        oracle: Address::default(),
        ingest: Arc::new(ingest),
        client: cairn_oracle::chain::client::NodeClient::new("http://127.0.0.1:1"),
        store,
        index,
        watch: Arc::new(ChainWatch::new(chain_config, Default::default(), book)),
        peers: cairn_oracle::epochs::fetch::Fetcher::new(&dir.join("peers")),
        progress: Default::default(),
        file_reads: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = router(state, ReadLimiter::default());
    tokio::spawn(async move {
        let _ = serve(listener, app).await;
    });
    Ok(url)
}

/// Posts every batch from `clients` threads; the reports accepted and the time taken.
fn post_all(url: &str, batches: &[Vec<u8>], clients: usize) -> Result<(usize, Duration)> {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let accepted = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients.max(1))
            .map(|_| scope.spawn(|| post_some(url, batches, &next)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .sum::<Result<usize>>()
    })?;
    Ok((accepted, started.elapsed()))
}

/// One client: takes the next batch until none is left; the reports accepted.
fn post_some(url: &str, batches: &[Vec<u8>], next: &AtomicUsize) -> Result<usize> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let endpoint = format!("{url}/v1/reports");
    let mut accepted = 0;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(batch) = batches.get(i) else {
            return Ok(accepted);
        };
        let answer: IngestResponse = agent
            .post(&endpoint)
            .header("content-type", "application/octet-stream")
            .send(&batch[..])
            .with_context(|| format!("posting batch {i}"))?
            .body_mut()
            .read_json()
            .with_context(|| format!("the answer to batch {i}"))?;
        accepted += answer
            .results
            .iter()
            .filter(|r| r.status == IngestStatus::Accepted)
            .count();
    }
}
