//! Log files are served from disk as they are read, never whole in memory: 200 clients at once
//! asking for a 256 MiB file (an oracle's own, and a copy it keeps of another's) leave this
//! process, oracle and clients together, under 300 MiB of resident memory at its peak. At most
//! 16 files are served at once, 4 to one client; the others are told `busy` with
//! `Retry-After: 1`; every turn is given back when its answer ends. (Before, each request read
//! the whole file into memory: 200 of them, 50 GiB.)
//!
//! Its own test binary, so that no other test's memory is counted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_oracle::chain::ChainWatch;
use cairn_oracle::index::{FileMeta, Index};
use cairn_oracle::ingest::recent::DeviceRate;
use cairn_oracle::ingest::{Ingest, IngestLimits, IngestRules};
use cairn_oracle::log::store::LogStore;
use cairn_oracle::log::{ReportLog, RollPolicy};
use cairn_oracle::registry::DeviceBook;
use cairn_oracle::server::files::MAX_FILE_READS;
use cairn_oracle::server::limits::ReadLimiter;
use cairn_oracle::server::{router, serve, ApiState, FileReads};
use cairn_types::params::{ChainConfig, ChainId, EmissionSchedule};
use cairn_types::{Address, Amount, Hash, PublicKey};
use std::sync::Arc;
use std::time::Duration;

const FILE_BYTES: u64 = 256 << 20;
const CLIENTS: usize = 200;
const PEAK_LIMIT_BYTES: u64 = 300 << 20;
/// A log file's name (sequence number and roll time).
const NAME: &str = "0000000000000007-1700000000.log.gz";

fn chain_config() -> ChainConfig {
    ChainConfig {
        chain_id: ChainId::new("cairn-test").unwrap(),
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

/// This process's peak resident memory (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// A file of `FILE_BYTES` at `path` (sparse: no disk is used, and it reads as zeros).
fn big_file(path: &std::path::Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::File::create(path)
        .unwrap()
        .set_len(FILE_BYTES)
        .unwrap();
}

/// What `CLIENTS` clients at once asking `url` got: the whole file, `busy` (503 with
/// `Retry-After`, from the file reads' bound, or the per-client connection bound of 64 before
/// the request is read), or a connection closed by that bound before the answer was read.
#[derive(Default)]
struct Outcomes {
    served: usize,
    busy: usize,
    closed: usize,
}

fn flood(url: &str) -> Outcomes {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let start = Arc::new(std::sync::Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (agent, url, start) = (agent.clone(), url.to_string(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let Ok(mut answer) = agent.get(&url).call() else {
                    return Outcomes {
                        closed: 1,
                        ..Outcomes::default()
                    };
                };
                match answer.status().as_u16() {
                    200 => {
                        let mut body = answer.body_mut().with_config().limit(u64::MAX).reader();
                        let read = std::io::copy(&mut body, &mut std::io::sink()).unwrap();
                        assert_eq!(read, FILE_BYTES);
                        Outcomes {
                            served: 1,
                            ..Outcomes::default()
                        }
                    }
                    503 => {
                        assert!(answer.headers().get("retry-after").is_some());
                        Outcomes {
                            busy: 1,
                            ..Outcomes::default()
                        }
                    }
                    other => panic!("{url}: {other}"),
                }
            })
        })
        .collect();
    clients
        .into_iter()
        .map(|c| c.join().unwrap())
        .fold(Outcomes::default(), |a, b| Outcomes {
            served: a.served + b.served,
            busy: a.busy + b.busy,
            closed: a.closed + b.closed,
        })
}

#[test]
fn two_hundred_clients_of_a_256_mib_file_leave_the_oracle_under_300_mib() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let peer = Address(PublicKey([5; 32]));
    let file_reads = FileReads::default();
    let url = runtime.block_on(async {
        let store = LogStore::local(&dir.path().join("store")).unwrap();
        let index = Arc::new(Index::open(&dir.path().join("index.redb")).unwrap());
        // Its own file, recorded as written, and a kept copy of a peer's.
        big_file(&dir.path().join("store/logs").join(NAME));
        index
            .record_file(
                NAME,
                &FileMeta {
                    seq: 7,
                    hash: Hash::ZERO,
                    bytes: FILE_BYTES,
                    reports: 1,
                    received_ms: (0, 0),
                    time_ms: (0, 0),
                },
            )
            .unwrap();
        big_file(
            &dir.path()
                .join("peers")
                .join(hex::encode(peer.0 .0))
                .join(NAME),
        );
        let (log, _, _) = ReportLog::start(
            Address::default(),
            &dir.path().join("journal"),
            store.clone(),
            index.clone(),
            RollPolicy {
                interval: Duration::from_secs(3600),
                max_bytes: 1 << 20,
            },
            tokio::runtime::Handle::current(),
        )
        .unwrap();
        let book = Arc::new(DeviceBook::new());
        let ingest = Ingest::new(
            IngestRules {
                chain_id: ChainId::new("cairn-test").unwrap(),
                skew_ms: 5_000,
                delay_ms: 60_000,
                closed_before_ms: 0,
            },
            IngestLimits {
                device: DeviceRate {
                    per_minute: 60,
                    burst: 10,
                },
                client_batches_per_minute: 600,
                client_burst: 10,
            },
            book.clone(),
            log,
        );
        let state = Arc::new(ApiState {
            oracle: Address::default(),
            ingest: Arc::new(ingest),
            client: cairn_oracle::chain::client::NodeClient::new("http://127.0.0.1:1"),
            store,
            index,
            watch: Arc::new(ChainWatch::new(chain_config(), Default::default(), book)),
            peers: cairn_oracle::epochs::fetch::Fetcher::new(&dir.path().join("peers")),
            progress: Default::default(),
            file_reads: file_reads.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        // Reads are not rate-limited here: the bound under test is the file reads'.
        tokio::spawn(serve(
            listener,
            router(state, ReadLimiter::new(10_000, 10_000)),
        ));
        url
    });
    let before = peak_rss();
    for path in [
        format!("{url}/v1/logs/{NAME}"),
        format!("{url}/v1/peers/{}/logs/{NAME}", hex::encode(peer.0 .0)),
    ] {
        let got = flood(&path);
        eprintln!(
            "{path}: {} served whole, {} busy, {} closed",
            got.served, got.busy, got.closed
        );
        assert!(got.served >= 1, "{path}: nothing served");
        // This one client gets 4 file reads at once: the others wait.
        assert!(got.busy >= 1, "{path}: nobody was told busy");
        assert_eq!(got.served + got.busy + got.closed, CLIENTS, "{path}");
        // Every answer has ended: every turn is free again.
        let start = std::time::Instant::now();
        while file_reads.free() < MAX_FILE_READS {
            assert!(start.elapsed() < Duration::from_secs(10), "a turn was kept");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let peak = peak_rss();
    eprintln!(
        "peak resident memory: {} MiB (before the clients: {} MiB)",
        peak >> 20,
        before >> 20
    );
    assert!(
        peak < PEAK_LIMIT_BYTES,
        "peak resident memory {} MiB",
        peak >> 20
    );
}
