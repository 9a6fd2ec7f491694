//! The agent against real oracle APIs on loopback (ingest, journal, log files): reports reach
//! two oracles, an oracle that is down gets the backlog once it is back, the outbox survives a
//! restart, and nothing is written twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_agent::config::AgentConfig;
use cairn_agent::run::Agent;
use cairn_oracle::chain::ChainWatch;
use cairn_oracle::index::Index;
use cairn_oracle::ingest::recent::DeviceRate;
use cairn_oracle::ingest::{Ingest, IngestLimits, IngestRules};
use cairn_oracle::log::format::decode_file;
use cairn_oracle::log::store::LogStore;
use cairn_oracle::log::{ReportLog, RollPolicy};
use cairn_oracle::registry::DeviceBook;
use cairn_oracle::server::limits::ReadLimiter;
use cairn_oracle::server::{router, serve, ApiState};
use cairn_resources::context::DeviceInfo;
use cairn_types::params::{ChainConfig, ChainId, EmissionSchedule};
use cairn_types::report::ReportPayload;
use cairn_types::{Address, Amount, DeviceId, Subnetwork};
use std::sync::Arc;
use std::time::Duration;

const CHAIN: &str = "cairn-test";

struct Oracle {
    log: ReportLog,
    index: Arc<Index>,
    store: LogStore,
    server: tokio::task::JoinHandle<()>,
}

fn chain_config() -> ChainConfig {
    ChainConfig {
        chain_id: ChainId::new(CHAIN).unwrap(),
        blocks_per_epoch: 10,
        emission: EmissionSchedule {
            initial_per_epoch: Amount(0),
            halving_interval_epochs: 1,
            emission_cap: Amount(0),
        },
        consensus: Default::default(),
        protocol_version: 1,
        epochs_per_reward_epoch: 1,
    }
}

async fn start_oracle(
    dir: &std::path::Path,
    listener: tokio::net::TcpListener,
    devices: &[DeviceId],
) -> Oracle {
    let store = LogStore::local(&dir.join("store")).unwrap();
    let index = Arc::new(Index::open(&dir.join("index.redb")).unwrap());
    let (log, _, _) = ReportLog::start(
        Address::default(),
        &dir.join("journal"),
        store.clone(),
        index.clone(),
        RollPolicy {
            interval: Duration::from_secs(3600),
            max_bytes: 1 << 24,
        },
        tokio::runtime::Handle::current(),
    )
    .unwrap();
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
    let ingest = Ingest::new(
        IngestRules {
            chain_id: ChainId::new(CHAIN).unwrap(),
            skew_ms: 5_000,
            delay_ms: 600_000,
            closed_before_ms: 0,
        },
        IngestLimits {
            device: DeviceRate {
                per_minute: 600,
                burst: 100,
            },
            client_batches_per_minute: 6_000,
            client_burst: 100,
        },
        book.clone(),
        log.clone(),
    );
    let state = Arc::new(ApiState {
        oracle: Address::default(),
        ingest: Arc::new(ingest),
        client: cairn_oracle::chain::client::NodeClient::new("http://127.0.0.1:1"),
        store: store.clone(),
        index: index.clone(),
        watch: Arc::new(ChainWatch::new(chain_config(), Default::default(), book)),
        peers: cairn_oracle::epochs::fetch::Fetcher::new(&dir.join("peers")),
        progress: Default::default(),
        file_reads: Default::default(),
    });
    let app = router(state, ReadLimiter::default());
    let server = tokio::spawn(async move {
        let _ = serve(listener, app).await;
    });
    Oracle {
        log,
        index,
        store,
        server,
    }
}

async fn reports_in(oracle: &Oracle) -> usize {
    oracle.log.roll().await.unwrap();
    let mut total = 0;
    for (name, _) in oracle.index.files().unwrap() {
        let bytes = oracle.store.get(&name).await.unwrap();
        total += decode_file(&bytes).unwrap().1.len();
    }
    total
}

fn agent_config(dir: &std::path::Path, oracles: Vec<String>) -> AgentConfig {
    let mut config = AgentConfig {
        chain_id: CHAIN.into(),
        data_dir: dir.join("agent"),
        oracles,
        copies: 2,
        status_listen: String::new(),
        ..AgentConfig::default()
    };
    config.device.key_file = String::new();
    config.simulation.devices = 3;
    config.simulation.seed = "test".into();
    config
}

async fn deliver(agent: &Arc<Agent>, oracle: usize) -> Result<usize, String> {
    let a = agent.clone();
    tokio::task::spawn_blocking(move || a.deliver_once(oracle))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_reach_two_oracles_and_a_late_oracle_gets_the_backlog_once() {
    let dir = tempfile::tempdir().unwrap();
    let a_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let urls = vec![
        format!("http://{}", a_listener.local_addr().unwrap()),
        format!("http://{}", b_listener.local_addr().unwrap()),
    ];
    let config = agent_config(dir.path(), urls.clone());
    let agent = Agent::open(config.clone()).unwrap();
    let devices = agent.device_ids();
    assert_eq!(devices.len(), 3);
    let a = start_oracle(&dir.path().join("a"), a_listener, &devices).await;
    // Oracle B's port is reserved but nobody answers yet: it is down.
    drop(b_listener);

    for uptime_secs in 0..4 {
        agent
            .report_all(|_| ReportPayload::Heartbeat { uptime_secs })
            .unwrap();
    }
    assert_eq!(agent.outbox_depth(), 12);
    assert_eq!(deliver(&agent, 0).await, Ok(12));
    assert!(deliver(&agent, 1).await.is_err(), "oracle B is down");
    // A holds them, B does not: they stay (two copies wanted) across a restart of the agent.
    assert_eq!(agent.outbox_depth(), 12);
    drop(agent);
    let agent = Agent::open(config).unwrap();
    assert_eq!(agent.outbox_depth(), 12);
    assert_eq!(deliver(&agent, 0).await, Ok(0), "A is not sent them again");

    // B comes back on the same address.
    let b_listener = tokio::net::TcpListener::bind(urls[1].trim_start_matches("http://"))
        .await
        .unwrap();
    let b = start_oracle(&dir.path().join("b"), b_listener, &devices).await;
    assert_eq!(deliver(&agent, 1).await, Ok(12));
    assert_eq!(agent.outbox_depth(), 0);
    assert_eq!(reports_in(&a).await, 12);
    assert_eq!(reports_in(&b).await, 12);
    a.server.abort();
    b.server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_counted_by_code_and_permanent_ones_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut config = agent_config(dir.path(), vec![url]);
    config.copies = 1;
    let agent = Agent::open(config).unwrap();
    // The oracle knows none of the agent's devices: transient (registration may be on its way).
    let oracle = start_oracle(&dir.path().join("o"), listener, &[]).await;
    agent
        .report_all(|_| ReportPayload::Heartbeat { uptime_secs: 1 })
        .unwrap();
    assert!(deliver(&agent, 0).await.is_err(), "every report deferred");
    assert_eq!(agent.outbox_depth(), 3);
    let status = agent.status();
    assert_eq!(status.oracles[0].refused.get("unknown_device"), Some(&3));
    assert_eq!(reports_in(&oracle).await, 0);
    oracle.server.abort();
}
