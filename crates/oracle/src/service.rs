//! One oracle as a process: its named tasks, started in order and stopped in reverse.
//!
//! ```text
//!   start: node reachable → index → store → log writer (rolls what a crash left) → ingest
//!          (remembers recent reports) → follower thread → price poster → epoch worker
//!          → upkeep task → HTTP API
//!   stop:  HTTP API → upkeep → follower, price poster, epoch worker → log writer (rolls the
//!          journal) → index
//! ```

use crate::chain::client::NodeClient;
use crate::chain::submit::Submitter;
use crate::chain::trust::HeaderTrust;
use crate::chain::{follower, ChainWatch};
use crate::config::OracleConfig;
use crate::epochs::fetch::Fetcher;
use crate::epochs::Worker;
use crate::index::Index;
use crate::ingest::{Ingest, IngestRules};
use crate::log::format::FileReader;
use crate::log::store::LogStore;
use crate::log::ReportLog;
use crate::price;
use crate::registry::DeviceBook;
use crate::server::{self, now_ms, ApiState};
use cairn_ledger::StateKey;
use cairn_types::params::{ChainConfig, Params};
use cairn_types::{Address, SecretKey};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How often the follower asks its node for new blocks.
pub const FOLLOW_POLL: Duration = Duration::from_millis(200);
/// How often the upkeep task refreshes ingest's rules and prunes its memory.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(1);
/// How long the oracle waits for its node at start before giving up.
pub const NODE_WAIT: Duration = Duration::from_secs(120);

/// Why the oracle stopped.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// A file or directory could not be used.
    #[error("{what}: {reason}")]
    Setup {
        /// What was being set up.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A task ended while the oracle was running (a fault of its own records, or a panic):
    /// the oracle stopped, to be restarted.
    #[error("the oracle's {task} task stopped: {reason}")]
    TaskEnded {
        /// The task.
        task: &'static str,
        /// Why.
        reason: String,
    },
}

fn setup(what: &'static str) -> impl Fn(String) -> OracleError {
    move |reason| OracleError::Setup { what, reason }
}

/// The seats headers are checked against, from the configured genesis (which must be the
/// node's chain); without one, a warning: headers are then the nodes' word.
fn header_trust(
    config: &OracleConfig,
    chain: &cairn_types::params::ChainConfig,
    index: &Arc<Index>,
) -> Result<Option<Arc<HeaderTrust>>, OracleError> {
    if config.genesis.is_empty() {
        tracing::warn!(
            "oracle: no `genesis` in oracle.toml: the headers an epoch's state is read by are \
             taken on the nodes' word, not checked against their certificates"
        );
        return Ok(None);
    }
    let trust = HeaderTrust::from_genesis(
        std::path::Path::new(&config.genesis),
        &chain.chain_id.to_string(),
        chain.blocks_per_epoch,
    )
    .and_then(|trust| trust.kept_in(index.clone()))
    .map_err(setup("genesis"))?;
    Ok(Some(Arc::new(trust)))
}

/// Runs the oracle until `shutdown` completes.
pub async fn serve(
    config: OracleConfig,
    key: SecretKey,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), OracleError> {
    let oracle = Address(key.public_key());
    let client = NodeClient::new(&config.node);
    let (chain, params) = wait_for_node(&client).await?;
    // Every request to a node is signed with the oracle's key: a node gives a bonded oracle's
    // requests a lane of their own (a rate and slots that a public flood does not take).
    let chain_id = chain.chain_id.to_string();
    let client = client.signed_by(key.clone(), &chain_id);
    std::fs::create_dir_all(&config.data_dir).map_err(|e| setup("data_dir")(e.to_string()))?;
    let index_path = config.data_dir.join("index.redb");
    let index = Arc::new(
        Index::open(&index_path)
            .map_err(|e| setup("index")(format!("{}: {e}", index_path.display())))?,
    );
    let store = if config.log.store.is_empty() {
        LogStore::local(&config.data_dir.join("store"))
    } else {
        LogStore::from_url(&config.log.store, &[])
    }
    .map_err(|e| setup("log store")(e.to_string()))?;
    let book = Arc::new(DeviceBook::new());
    for (device, info) in index.devices().map_err(|e| setup("index")(e.to_string()))? {
        book.put(device, Some(info));
    }
    let watch = Arc::new(ChainWatch::new(chain.clone(), params.clone(), book.clone()));
    let (log, held, log_thread) = ReportLog::start(
        oracle,
        &config.data_dir.join("journal"),
        store.clone(),
        index.clone(),
        config.roll_policy(),
        tokio::runtime::Handle::current(),
    )
    .map_err(|e| setup("journal")(e.to_string()))?;
    let ingest = Arc::new(Ingest::new(
        rules_of(&chain, &params, 0),
        config.ingest_limits(),
        book,
        log.clone(),
    ));
    remember_recent(&ingest, &index, &store, &held, &params).await;

    let (tasks, mut ended) = crate::tasks::tasks();
    let follower = {
        let (client, index, watch) = (client.clone(), index.clone(), watch.clone());
        tasks
            .spawn("follower", move || {
                follower::run(client, index, watch, FOLLOW_POLL).map_err(|e| e.to_string())
            })
            .map_err(|e| setup("follower")(e.to_string()))?
    };
    let submitter = Arc::new(Submitter::new(
        client.clone(),
        key.clone(),
        chain.chain_id.clone(),
        params.tx_fee_min,
    ));
    let poster = {
        let (source, submitter, watch) = (config.price.clone(), submitter.clone(), watch.clone());
        tasks
            .spawn("price", move || {
                price::run(source, &submitter, &watch.stopping);
                Ok(())
            })
            .map_err(|e| setup("price")(e.to_string()))?
    };
    let trust = header_trust(&config, &chain, &index)?;
    let peers = Fetcher::new(&config.data_dir.join("peers"));
    let progress = Arc::new(crate::epochs::progress::Progress::default());
    let worker = {
        let worker = Worker {
            oracle,
            public_url: config.public_url.clone(),
            denylist: config.denylist.clone(),
            last_denylist: Default::default(),
            client: client.clone(),
            read_clients: std::iter::once(client.clone())
                .chain(
                    config
                        .nodes
                        .iter()
                        .map(|url| NodeClient::new(url).signed_by(key.clone(), &chain_id)),
                )
                .collect(),
            trust,
            submitter: submitter.clone(),
            watch: watch.clone(),
            index: index.clone(),
            store: store.clone(),
            log,
            ingest: ingest.clone(),
            fetcher: peers.clone(),
            fetches: Default::default(),
            signed: Default::default(),
            bootstraps: Default::default(),
            runtime: tokio::runtime::Handle::current(),
            retained: Default::default(),
            progress: progress.clone(),
        };
        tasks
            .spawn("epochs", move || worker.run().map_err(|e| e.to_string()))
            .map_err(|e| setup("epochs")(e.to_string()))?
    };
    let state = Arc::new(ApiState {
        oracle,
        ingest,
        client: client.clone(),
        store,
        index,
        watch: watch.clone(),
        peers,
        progress,
        file_reads: Default::default(),
    });
    let upkeep = tokio::spawn(upkeep(state.clone()));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| setup("listen")(format!("{}: {e}", config.listen)))?;
    tracing::info!(%oracle, listen = %config.listen, node = %config.node, "oracle.started");
    let app = server::router(state.clone(), server::limits::ReadLimiter::default());
    // Shutting down drops the server, which ends its connections (an agent whose batch was
    // cut off sends it again; ingest ignores what it already holds).
    // A task that ends before the oracle is told to stop stops it, with the task's fault.
    let mut failed = None;
    tokio::select! {
        _ = server::serve(listener, app) => {}
        () = shutdown => {}
        Some(end) = ended.recv() => {
            tracing::error!(task = end.task, reason = %end.reason, "oracle.task_ended: stopping");
            failed = Some(OracleError::TaskEnded { task: end.task, reason: end.reason });
        }
    }
    upkeep.abort();
    watch.stopping.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || {
        let _ = follower.join();
        let _ = poster.join();
        let _ = worker.join();
    })
    .await;
    // The last handle to the writer goes with the state: it rolls the journal and ends.
    drop(state);
    let _ = tokio::task::spawn_blocking(move || {
        let _ = log_thread.join();
    })
    .await;
    tracing::info!("oracle.stopped");
    failed.map_or(Ok(()), Err)
}

/// The chain's configuration and parameters, once the node answers.
async fn wait_for_node(client: &NodeClient) -> Result<(ChainConfig, Params), OracleError> {
    let started = std::time::Instant::now();
    loop {
        let c = client.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let config = c.state::<ChainConfig>(&StateKey::ChainConfig, None)?;
            let params = c.state::<Params>(&StateKey::Params, None)?;
            Ok::<_, crate::chain::client::ChainError>((config, params))
        })
        .await;
        match answer {
            Ok(Ok((Some(config), Some(params)))) => return Ok((config, params)),
            Ok(Ok(_)) => tracing::warn!("oracle.start: the node has no chain configuration yet"),
            Ok(Err(error)) => tracing::warn!(%error, "oracle.start: waiting for the node"),
            Err(error) => return Err(setup("node")(error.to_string())),
        }
        if started.elapsed() > NODE_WAIT {
            return Err(setup("node")("no answer from the node".into()));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Ingest's rules from the chain's configuration and parameters.
pub fn rules_of(chain: &ChainConfig, params: &Params, closed_before_ms: u64) -> IngestRules {
    IngestRules {
        chain_id: chain.chain_id.clone(),
        skew_ms: params.report_skew_max_secs.saturating_mul(1_000),
        delay_ms: params.report_delay_max_secs.saturating_mul(1_000),
        closed_before_ms,
    }
}

/// Makes ingest remember the reports it already took that could still arrive again: those in
/// the journal and in files received within the allowed delay and skew.
async fn remember_recent(
    ingest: &Ingest,
    index: &Index,
    store: &LogStore,
    held: &[cairn_types::report::LoggedReport],
    params: &Params,
) {
    for report in held {
        ingest.remember(report);
    }
    let horizon = now_ms().saturating_sub(
        (params.report_delay_max_secs + params.report_skew_max_secs).saturating_mul(1_000),
    );
    let Ok(files) = index.files() else {
        return;
    };
    for (name, meta) in files.iter().filter(|(_, m)| m.received_ms.1 >= horizon) {
        let Ok(bytes) = store.get(name).await else {
            tracing::warn!(file = %name, "oracle.start: a recent log file could not be read");
            continue;
        };
        let Ok(mut reader) = FileReader::open(&bytes[..]) else {
            continue;
        };
        while let Ok(Some(report)) = reader.next_report() {
            ingest.remember(&report);
        }
        tracing::debug!(file = %name, reports = meta.reports, "oracle.start: remembered");
    }
}

/// Every second: ingest's rules follow the chain's parameters; old ids and idle clients go.
async fn upkeep(state: Arc<ApiState>) {
    let mut tick = tokio::time::interval(UPKEEP_EVERY);
    loop {
        tick.tick().await;
        let closed = state.ingest.rules().closed_before_ms;
        state
            .ingest
            .set_rules(rules_of(&state.watch.config, &state.watch.params(), closed));
        state.ingest.prune(now_ms());
    }
}
