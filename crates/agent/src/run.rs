//! The agent as a process: its devices, and the tasks that make, keep and deliver reports.
//!
//! ```text
//!  clock task ──/v1/time──> oracles          (offset and entropy, every clock_sync_secs)
//!  heartbeat task: every device signs a heartbeat ──push (synced)──> outbox
//!  readings thread: each line of the source ──push──> outbox
//!  weather task (sensing devices): every window, each simulated station's readings ──push──> outbox
//!  transfer task (connectivity devices): every window, each simulated hotspot's receipt ──push──> outbox
//!  coverage task (coverage devices): beacons due, and what simulated devices hear ──push──> outbox
//!  one delivery task per oracle: outbox.pending ──POST /v1/reports──> oracle ──record──> outbox
//!  status server: GET /status
//! ```

use crate::clock::{local_ms, OracleClock, TimeAnswer};
use crate::config::AgentConfig;
use crate::coverage::{Due, Planner, TICK_MS};
use crate::hotspots::Hotspots;
use crate::inputs::parse_reading;
use crate::outbox::{Delivery, Outbox, OutboxError};
use crate::session::Session;
use crate::signer::{DeviceSigner, FileSigner};
use crate::status::{self, Stats};
use crate::weather::Stations;
use cairn_types::codec::{BoundedBytes, BoundedVec};
use cairn_types::ingest::{IngestResponse, IngestStatus};
use cairn_types::params::ChainId;
use cairn_types::report::{ReportBatch, ReportBody, ReportPayload, SignedReport};
use cairn_types::{DeviceId, SecretKey, Subnetwork};
use std::future::Future;
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Reports posted to one oracle in one request at most.
pub const MAX_BATCH: usize = 256;
/// Longest wait between delivery attempts to an oracle that fails.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The most bytes of an oracle's `/v1/time` answer read (its recent blocks are 32 digests).
const TIME_ANSWER_LIMIT: u64 = 16 * 1024;
/// The longest an oracle's time answer is waited for (a late answer measures nothing well).
const TIME_ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A key, session or outbox file could not be used.
    #[error("{what}: {reason}")]
    Setup {
        /// What was being set up.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

fn setup(what: &'static str) -> impl Fn(String) -> AgentError {
    move |reason| AgentError::Setup { what, reason }
}

/// One device the agent speaks for.
pub struct Device {
    /// Its long-term key.
    pub signer: Arc<dyn DeviceSigner>,
    session: Mutex<Session>,
}

/// The device keys of a configuration: the real device's (created if missing) and the
/// simulated ones (derived from the seed).
pub fn device_signers(config: &AgentConfig) -> Result<Vec<Arc<dyn DeviceSigner>>, AgentError> {
    let mut signers: Vec<Arc<dyn DeviceSigner>> = Vec::new();
    if !config.device.key_file.is_empty() {
        let signer = FileSigner::open_or_create(std::path::Path::new(&config.device.key_file))
            .map_err(|e| setup("device key")(e.to_string()))?;
        signers.push(Arc::new(signer));
    }
    for i in 0..config.simulation.devices {
        let key = SecretKey::from_label(&format!("{}/device-{i}", config.simulation.seed));
        signers.push(Arc::new(FileSigner::from_key(key)));
    }
    Ok(signers)
}

/// The running agent's shared parts.
pub struct Agent {
    config: AgentConfig,
    devices: Vec<Device>,
    outbox: Arc<Outbox>,
    clock: Arc<OracleClock>,
    stats: Arc<Stats>,
    http: ureq::Agent,
    started_ms: u64,
    /// The coverage devices' schedule (coverage devices only).
    planner: Option<Mutex<Planner>>,
    /// The simulated weather stations (simulated sensing devices only).
    stations: Option<Stations>,
    /// The simulated hotspots (simulated connectivity devices only).
    hotspots: Option<Hotspots>,
}

/// The payer key of `config`, if it names one (created if missing).
pub fn payer_signer(config: &AgentConfig) -> Result<Option<Arc<dyn DeviceSigner>>, AgentError> {
    let path = &config.connectivity.payer_key_file;
    if path.is_empty() {
        return Ok(None);
    }
    let signer = FileSigner::open_or_create(std::path::Path::new(path))
        .map_err(|e| setup("payer key")(e.to_string()))?;
    Ok(Some(Arc::new(signer)))
}

impl Agent {
    /// Opens the agent's files: device keys, sessions, the outbox.
    pub fn open(config: AgentConfig) -> Result<Arc<Agent>, AgentError> {
        let chain_id =
            ChainId::new(config.chain_id.clone()).map_err(|e| setup("chain_id")(e.to_string()))?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| setup("data_dir")(e.to_string()))?;
        let now = local_ms();
        let mut devices = Vec::new();
        for signer in device_signers(&config)? {
            let file = config
                .data_dir
                .join("sessions")
                .join(format!("{}.json", hex::encode(&signer.device().0 .0[..16])));
            let session = Session::load_or_start(&chain_id, signer.as_ref(), &file, now)
                .map_err(|e| setup("session")(e.to_string()))?;
            devices.push(Device {
                signer,
                session: Mutex::new(session),
            });
        }
        let outbox = Outbox::open(
            &config.data_dir.join("outbox.redb"),
            &config.oracles,
            config.copies,
        )
        .map_err(|e| setup("outbox")(e.to_string()))?;
        let stats = Arc::new(Stats::new(&config.oracles));
        let http = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(20)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        let planner = (config.device.subnetwork == Subnetwork::Coverage).then(|| {
            let ids: Vec<DeviceId> = devices.iter().map(|d| d.signer.device()).collect();
            let first_simulated = usize::from(!config.device.key_file.is_empty());
            Mutex::new(Planner::new(
                &config.coverage,
                &config.simulation.seed,
                &ids,
                first_simulated,
            ))
        });
        let stations = (config.device.subnetwork == Subnetwork::Sensing
            && config.simulation.devices > 0)
            .then(|| {
                Stations::new(
                    &config.sensing,
                    &config.simulation.seed,
                    devices.len(),
                    usize::from(!config.device.key_file.is_empty()),
                )
            });
        let hotspots = if config.device.subnetwork == Subnetwork::Connectivity
            && config.simulation.devices > 0
        {
            Some(Hotspots::new(
                &config.connectivity,
                chain_id.clone(),
                devices.len(),
                usize::from(!config.device.key_file.is_empty()),
                payer_signer(&config)?,
            ))
        } else {
            None
        };
        Ok(Arc::new(Agent {
            planner,
            stations,
            hotspots,
            devices,
            outbox: Arc::new(outbox),
            clock: Arc::new(OracleClock::new(config.clock_tolerance_ms)),
            stats,
            http,
            started_ms: now,
            config,
        }))
    }

    /// The devices' ids.
    pub fn device_ids(&self) -> Vec<DeviceId> {
        self.devices.iter().map(|d| d.signer.device()).collect()
    }

    /// Reports kept in the outbox.
    pub fn outbox_depth(&self) -> u64 {
        self.outbox.depth().unwrap_or(0)
    }

    /// Makes one report per device with `payload_of(device number)` and keeps them.
    pub fn report_all(
        &self,
        payload_of: impl Fn(usize) -> ReportPayload,
    ) -> Result<usize, OutboxError> {
        let time_ms = self.clock.now_ms();
        let (_, entropy) = self.clock.entropy();
        let mut reports = Vec::with_capacity(self.devices.len());
        for (i, device) in self.devices.iter().enumerate() {
            let mut session = device
                .session
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Err(error) = session.renew_if_due(device.signer.as_ref(), local_ms()) {
                tracing::warn!(%error, "agent.session: renewal failed; the old key signs on");
            }
            reports.push(session.sign(ReportBody {
                time_ms,
                entropy,
                payload: payload_of(i),
            }));
        }
        self.push(&reports)?;
        Ok(reports.len())
    }

    /// A reading from the first device.
    pub fn report_reading(&self, payload: ReportPayload) -> Result<(), OutboxError> {
        let Some(device) = self.devices.first() else {
            return Ok(());
        };
        let session = device
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let report = session.sign(ReportBody {
            time_ms: self.clock.now_ms(),
            entropy: self.clock.entropy().1,
            payload,
        });
        drop(session);
        self.push(&[report])
    }

    /// Signs and keeps the coverage reports due now, if any.
    pub fn report_coverage(&self) -> Result<usize, OutboxError> {
        let Some(planner) = &self.planner else {
            return Ok(0);
        };
        let due: Vec<Due> = planner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .due(self.clock.now_ms(), self.clock.entropy());
        self.sign_and_keep(due)
    }

    /// Signs and keeps the simulated stations' readings of `window` (none if the agent has no
    /// simulated station).
    pub fn report_weather(&self, window: u64) -> Result<usize, OutboxError> {
        let Some(stations) = &self.stations else {
            return Ok(0);
        };
        self.sign_payloads(self.clock.now_ms(), stations.readings(window))
    }

    /// Signs and keeps the simulated hotspots' transfer receipts of `window` (none if the agent
    /// has no simulated hotspot). The report is timed as the receipt, so both count in the
    /// same epoch.
    pub fn report_transfers(&self, window: u64) -> Result<usize, OutboxError> {
        let Some(hotspots) = &self.hotspots else {
            return Ok(0);
        };
        let time_ms = self.clock.now_ms();
        let signers: Vec<Arc<dyn DeviceSigner>> =
            self.devices.iter().map(|d| d.signer.clone()).collect();
        self.sign_payloads(time_ms, hotspots.transfers(window, time_ms, &signers))
    }

    /// Signs each (device index, payload) at `time_ms` with the latest entropy, and keeps it.
    fn sign_payloads(
        &self,
        time_ms: u64,
        payloads: Vec<(usize, ReportPayload)>,
    ) -> Result<usize, OutboxError> {
        let (_, entropy) = self.clock.entropy();
        let bodies = payloads.into_iter().map(|(index, payload)| {
            let body = ReportBody {
                time_ms,
                entropy,
                payload,
            };
            (index, body)
        });
        self.sign_and_keep(bodies)
    }

    /// Signs each body with device `index`'s session key and keeps the reports; returns how
    /// many (bodies of devices the agent does not have are skipped).
    fn sign_and_keep(
        &self,
        bodies: impl IntoIterator<Item = (usize, ReportBody)>,
    ) -> Result<usize, OutboxError> {
        let mut reports = Vec::new();
        for (index, body) in bodies {
            let Some(device) = self.devices.get(index) else {
                continue;
            };
            let session = device
                .session
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            reports.push(session.sign(body));
        }
        if !reports.is_empty() {
            self.push(&reports)?;
        }
        Ok(reports.len())
    }

    /// Where device `index` says it stands, if it is a simulated coverage device.
    pub fn simulated_location(&self, index: usize) -> Option<cairn_types::Cell> {
        self.planner.as_ref().and_then(|p| {
            p.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .location(index)
        })
    }

    fn push(&self, reports: &[SignedReport]) -> Result<(), OutboxError> {
        self.outbox.push(reports)?;
        self.stats.made(reports.len() as u64);
        Ok(())
    }

    /// Asks every oracle for its time once, all at once (a slow oracle delays only its own
    /// answer, so the others' recent blocks still overlap); the clock takes what a majority of
    /// the configured oracles agrees on.
    pub fn sync_clock(&self) {
        let answers: Vec<(u64, u64, TimeAnswer)> = std::thread::scope(|scope| {
            let asks: Vec<_> = self
                .config
                .oracles
                .iter()
                .map(|url| scope.spawn(move || self.ask_time(url)))
                .collect();
            asks.into_iter()
                .filter_map(|ask| ask.join().ok().flatten())
                .collect()
        });
        self.clock.update(&answers, self.config.oracles.len());
    }

    /// One oracle's time answer: `(local time when asked, when answered, answer)`.
    fn ask_time(&self, url: &str) -> Option<(u64, u64, TimeAnswer)> {
        let sent = local_ms();
        let answer = self
            .http
            .get(&format!("{url}/v1/time"))
            .config()
            .timeout_global(Some(TIME_ANSWER_TIMEOUT))
            .build()
            .call()
            .ok()
            .filter(|r| r.status().is_success())
            .and_then(|mut r| {
                // A time answer is a few KiB: a liar's megabytes are not read.
                r.body_mut()
                    .with_config()
                    .limit(TIME_ANSWER_LIMIT)
                    .read_json::<TimeAnswer>()
                    .ok()
            })?;
        Some((sent, local_ms(), answer))
    }

    /// One delivery round to oracle number `oracle`: returns how many reports it dealt with,
    /// or an error to back off on.
    pub fn deliver_once(&self, oracle: usize) -> Result<usize, String> {
        let pending = self
            .outbox
            .pending(oracle, MAX_BATCH)
            .map_err(|e| e.to_string())?;
        if pending.is_empty() {
            return Ok(0);
        }
        let url = &self.config.oracles[oracle];
        let items: Vec<BoundedBytes<{ cairn_types::report::MAX_REPORT_BYTES }>> = pending
            .iter()
            .filter_map(|(_, bytes)| BoundedBytes::new(bytes.clone()).ok())
            .collect();
        let batch = ReportBatch(BoundedVec::from_bounded(items)).encode();
        let mut response = self
            .http
            .post(&format!("{url}/v1/reports"))
            .header("content-type", "application/octet-stream")
            .send(&batch[..])
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{status}: {}", text.trim()));
        }
        let answer: IngestResponse = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if answer.results.len() != pending.len() {
            return Err("the oracle answered for another number of reports".into());
        }
        let mut records = Vec::with_capacity(pending.len());
        for ((seq, _), result) in pending.iter().zip(&answer.results) {
            let delivery = match result.status {
                IngestStatus::Accepted | IngestStatus::Duplicate => Delivery::Acknowledged,
                IngestStatus::Refused(r) if r.is_transient() => Delivery::Later,
                IngestStatus::Refused(_) => Delivery::Refused,
            };
            self.stats.answered(oracle, result.status);
            if let IngestStatus::Refused(r) = result.status {
                tracing::debug!(oracle = %url, code = %r, "agent.deliver: refused");
            }
            records.push((*seq, delivery));
        }
        self.outbox
            .record(oracle, &records)
            .map_err(|e| e.to_string())?;
        let dealt = records
            .iter()
            .filter(|(_, d)| *d != Delivery::Later)
            .count();
        if dealt == 0 {
            return Err("every report was deferred".into());
        }
        Ok(dealt)
    }

    /// The agent's state for the status page.
    pub fn status(&self) -> status::StatusAnswer {
        let (offset_ms, _) = self.clock.offset();
        let agreement = self.clock.agreement();
        let (height, entropy) = self.clock.entropy();
        status::StatusAnswer {
            devices: self.device_ids(),
            outbox: self.outbox_depth(),
            clock_offset_ms: offset_ms,
            clock_synced: agreement.synced,
            clock_unagreed: agreement.clock_unagreed,
            entropy_unagreed: agreement.entropy_unagreed,
            entropy_height: height,
            entropy,
            oracles: self.stats.oracles(),
            reports_made: self.stats.made_total(),
            cheaters: self.cheaters(),
        }
    }

    /// The simulated cheaters, by part.
    fn cheaters(&self) -> std::collections::BTreeMap<&'static str, Vec<DeviceId>> {
        let mut out = std::collections::BTreeMap::new();
        if let Some(stations) = &self.stations {
            for (i, device) in self.devices.iter().enumerate() {
                let role = stations.role(i);
                if role != crate::weather::StationRole::Honest {
                    out.entry(role.name())
                        .or_insert_with(Vec::new)
                        .push(device.signer.device());
                }
            }
        }
        if let Some(hotspots) = &self.hotspots {
            for (i, device) in self.devices.iter().enumerate() {
                let role = hotspots.role(i);
                if role != crate::hotspots::HotspotRole::Honest {
                    out.entry(role.name())
                        .or_insert_with(Vec::new)
                        .push(device.signer.device());
                }
            }
        }
        let Some(planner) = &self.planner else {
            return out;
        };
        let planner = planner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (i, device) in self.devices.iter().enumerate() {
            let role = planner.role(i);
            if role != crate::cheat::Role::Honest {
                out.entry(role.name())
                    .or_insert_with(Vec::new)
                    .push(device.signer.device());
            }
        }
        out
    }

    fn uptime_secs(&self) -> u64 {
        local_ms().saturating_sub(self.started_ms) / 1_000
    }
}

/// Runs the agent until `shutdown` completes.
pub async fn run(
    agent: Arc<Agent>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AgentError> {
    let mut tasks = Vec::new();
    let a = agent.clone();
    tasks.push(tokio::spawn(async move { clock_task(a).await }));
    let a = agent.clone();
    tasks.push(tokio::spawn(async move { heartbeat_task(a).await }));
    for oracle in 0..agent.config.oracles.len() {
        let a = agent.clone();
        tasks.push(tokio::spawn(async move { delivery_task(a, oracle).await }));
    }
    if agent.planner.is_some() {
        let a = agent.clone();
        tasks.push(tokio::spawn(async move { coverage_task(a).await }));
    }
    if agent.stations.is_some() {
        let a = agent.clone();
        let window_ms = agent.config.sensing.window_secs * 1_000;
        tasks.push(tokio::spawn(async move {
            windowed_task(a, window_ms, "weather", Agent::report_weather).await
        }));
    }
    if agent.hotspots.is_some() {
        let a = agent.clone();
        let window_ms = agent.config.connectivity.window_secs * 1_000;
        tasks.push(tokio::spawn(async move {
            windowed_task(a, window_ms, "transfers", Agent::report_transfers).await
        }));
    }
    if !agent.config.readings.source.is_empty() {
        let a = agent.clone();
        std::thread::Builder::new()
            .name("agent-readings".into())
            .spawn(move || readings_thread(a))
            .map_err(|e| setup("readings")(e.to_string()))?;
    }
    if !agent.config.status_listen.is_empty() {
        let listener = tokio::net::TcpListener::bind(&agent.config.status_listen)
            .await
            .map_err(|e| setup("status_listen")(e.to_string()))?;
        let a = agent.clone();
        let router = status::router(Arc::new(move || a.status()));
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        }));
    }
    tracing::info!(
        devices = agent.devices.len(),
        oracles = agent.config.oracles.len(),
        "agent.started"
    );
    shutdown.await;
    for task in tasks {
        task.abort();
    }
    tracing::info!(
        outbox = agent.outbox_depth(),
        "agent.stopped (the outbox is kept)"
    );
    Ok(())
}

async fn clock_task(agent: Arc<Agent>) {
    let every = Duration::from_secs(agent.config.clock_sync_secs);
    loop {
        let a = agent.clone();
        let _ = tokio::task::spawn_blocking(move || a.sync_clock()).await;
        tokio::time::sleep(every).await;
    }
}

async fn heartbeat_task(agent: Arc<Agent>) {
    // No heartbeat before the oracles agree on the time: a report signed with a clock nobody
    // agreed on would be refused as stale, or be a liar's.
    while !agent.clock.offset().1 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(agent.config.heartbeat_interval_secs));
    loop {
        tick.tick().await;
        let a = agent.clone();
        let made = tokio::task::spawn_blocking(move || {
            let uptime_secs = a.uptime_secs();
            a.report_all(|_| ReportPayload::Heartbeat { uptime_secs })
        })
        .await;
        if let Ok(Err(error)) = made {
            tracing::error!(%error, "agent.heartbeat: the outbox refused the reports");
        }
    }
}

async fn coverage_task(agent: Arc<Agent>) {
    let mut tick = tokio::time::interval(Duration::from_millis(TICK_MS));
    loop {
        tick.tick().await;
        if !agent.clock.offset().1 {
            continue;
        }
        let a = agent.clone();
        let made = tokio::task::spawn_blocking(move || a.report_coverage()).await;
        if let Ok(Err(error)) = made {
            tracing::error!(%error, "agent.coverage: the outbox refused the reports");
        }
    }
}

/// Once a window, a quarter into it (by the oracles' clock), `make` signs and keeps the
/// window's reports (the stations' readings, the hotspots' receipts).
async fn windowed_task(
    agent: Arc<Agent>,
    window_ms: u64,
    what: &'static str,
    make: fn(&Agent, u64) -> Result<usize, OutboxError>,
) {
    let window_ms = window_ms.max(1);
    let mut last = None;
    loop {
        tokio::time::sleep(Duration::from_millis((window_ms / 20).clamp(100, 5_000))).await;
        if !agent.clock.offset().1 {
            continue;
        }
        let now = agent.clock.now_ms();
        let window = now / window_ms;
        if last == Some(window) || now % window_ms < window_ms / 4 {
            continue;
        }
        last = Some(window);
        let a = agent.clone();
        let made = tokio::task::spawn_blocking(move || make(&a, window)).await;
        if let Ok(Err(error)) = made {
            tracing::error!(%error, what, "agent: the outbox refused the window's reports");
        }
    }
}

async fn delivery_task(agent: Arc<Agent>, oracle: usize) {
    let every = Duration::from_millis(agent.config.delivery_interval_ms);
    let mut backoff = every;
    loop {
        let a = agent.clone();
        let result = tokio::task::spawn_blocking(move || a.deliver_once(oracle)).await;
        match result {
            Ok(Ok(n)) if n >= MAX_BATCH => continue,
            Ok(Ok(_)) => {
                backoff = every;
                tokio::time::sleep(every).await;
            }
            Ok(Err(error)) => {
                agent.stats.failed(oracle, &error);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(_) => tokio::time::sleep(backoff).await,
        }
    }
}

fn readings_thread(agent: Arc<Agent>) {
    let source = agent.config.readings.source.clone();
    // No reading is signed before the oracles agree on the time: the source waits (a pipe
    // holds what the sensor writes meanwhile).
    while !agent.clock.offset().1 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let reader: Box<dyn BufRead> = if source == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        match std::fs::File::open(&source) {
            Ok(file) => Box::new(std::io::BufReader::new(file)),
            Err(error) => {
                tracing::error!(%error, %source, "agent.readings: cannot open the source");
                return;
            }
        }
    };
    for line in reader.lines() {
        let Ok(line) = line else {
            break;
        };
        match parse_reading(&line) {
            Ok(Some(payload)) => {
                if let Err(error) = agent.report_reading(payload) {
                    tracing::error!(%error, "agent.readings: the outbox refused a reading");
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "agent.readings: line skipped"),
        }
    }
    tracing::info!(%source, "agent.readings: the source ended");
}
