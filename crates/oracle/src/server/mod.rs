//! The oracle's HTTP API: what agents, other oracles and auditors call.
//!
//! | route | for | answer |
//! |---|---|---|
//! | `POST /v1/reports` | agents | a [`ReportBatch`](cairn_types::report::ReportBatch) in; one result per report (JSON) |
//! | `GET /v1/time` | agents | the oracle's clock and the latest beacon entropy |
//! | `GET /v1/manifests/{epoch}` | oracles, auditors | this oracle's manifest of a reward epoch (binary) |
//! | `GET /v1/logs/{name}` | oracles, auditors | one log file (gzip, binary) |
//! | `GET /v1/status` | operators | files, journal, devices known |
//! | `GET /v1/peers/{oracle}/manifests/{epoch}` | oracles, auditors | the copy this oracle keeps of another's manifest (binary) |
//! | `GET /v1/peers/{oracle}/logs/{name}` | oracles, auditors | the copy this oracle keeps of another's log file |
//! | `GET /v1/rewards/{epoch}/signed` | oracles, auditors | this oracle's roots, signatures and stage digests |
//! | `GET /v1/rewards/{epoch}/cumulative` | auditors | cumulative rewards through the epoch (binary) |
//! | `GET /v1/rewards/{epoch}/devices[/{device}]` | owners | points, reward and refusal codes per device |
//! | `GET /v1/rewards/accounts/{address}/claims` | owners | claims with proofs against the roots on chain |
//!
//! Refusals of a whole request are JSON `{"code": …, "message": …, "retry": …}` with a status
//! that says the same (400 for malformed input, 404 for what this oracle does not hold, 413
//! for a batch over `MAX_BATCH_BYTES`, 429 for a client over its rate, 503 when the oracle
//! cannot write, or `busy` when it serves [`files::MAX_FILE_READS`] log files already).

pub mod files;
pub mod limits;
mod metrics;
mod peers;
mod rewards;

use crate::chain::{Beacon, ChainWatch};
use crate::index::Index;
use crate::ingest::Ingest;
use crate::log::format::is_file_name;
use crate::log::store::LogStore;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cairn_serve::ClientKey;
use cairn_types::ingest::Refusal;
use cairn_types::report::MAX_BATCH_BYTES;
use cairn_types::{Address, Epoch, Hash};
pub use files::FileReads;
use limits::ReadLimiter;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// What every handler shares.
pub struct ApiState {
    /// The oracle's account.
    pub oracle: Address,
    /// Ingest.
    pub ingest: Arc<Ingest>,
    /// The node (for the chain's reward roots when serving proofs).
    pub client: crate::chain::client::NodeClient,
    /// The log files.
    pub store: LogStore,
    /// The oracle's records.
    pub index: Arc<Index>,
    /// The chain as the follower sees it.
    pub watch: Arc<ChainWatch>,
    /// The copies of other oracles' manifests and files this oracle keeps (served again).
    pub peers: crate::epochs::fetch::Fetcher,
    /// Epochs whose stage failed, and what chain reads cost.
    pub progress: Arc<crate::epochs::progress::Progress>,
    /// The turns to serve log files (own and kept copies), streamed from disk.
    pub file_reads: FileReads,
}

/// The API's routes over `state`, reads limited per client by `reads`.
pub fn router(state: Arc<ApiState>, reads: ReadLimiter) -> Router {
    let reads = Router::new()
        .route("/v1/time", get(time))
        .route("/v1/manifests/{epoch}", get(manifest))
        .route("/v1/logs/{name}", get(log_file))
        .route("/v1/status", get(status))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/peers/{oracle}/manifests/{epoch}", get(peers::manifest))
        .route("/v1/peers/{oracle}/logs/{name}", get(peers::log_file))
        .route("/v1/rewards/{epoch}/signed", get(rewards::signed))
        .route("/v1/rewards/{epoch}/cumulative", get(rewards::cumulative))
        .route("/v1/rewards/{epoch}/devices", get(rewards::devices))
        .route("/v1/rewards/{epoch}/devices/{device}", get(rewards::device))
        .route(
            "/v1/rewards/accounts/{address}/claims",
            get(rewards::claims),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            reads,
            limits::limit_reads,
        ));
    Router::new()
        .route("/v1/reports", post(reports))
        .merge(reads)
        .layer(DefaultBodyLimit::max(MAX_BATCH_BYTES))
        .with_state(state)
}

/// Serves the API on `listener` within [`limits::CONNECTIONS`] until dropped (which ends every
/// connection).
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::convert::Infallible {
    cairn_serve::accept(listener, app, limits::CONNECTIONS).await
}

pub use crate::now_ms;

/// A refusal of a whole request.
#[derive(Serialize)]
struct Refused {
    code: &'static str,
    message: String,
    retry: bool,
}

/// A refusal that handlers return as their error (converted to the JSON refusal).
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry: bool,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: String,
        retry: bool,
    ) -> Self {
        ApiError {
            status,
            code,
            message,
            retry,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        refused(self.status, self.code, self.message, self.retry)
    }
}

pub(crate) fn refused(
    status: StatusCode,
    code: &'static str,
    message: String,
    retry: bool,
) -> Response {
    (
        status,
        Json(Refused {
            code,
            message,
            retry,
        }),
    )
        .into_response()
}

fn refusal(r: Refusal) -> Response {
    let status = match r {
        Refusal::ClientRateLimited | Refusal::DeviceRateLimited => StatusCode::TOO_MANY_REQUESTS,
        Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    refused(status, r.code(), r.to_string(), r.is_transient())
}

async fn reports(
    State(state): State<Arc<ApiState>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refusal(Refusal::TooLarge)
        }
        Err(_) => return refusal(Refusal::Malformed),
    };
    match state.ingest.ingest(client.ip(), &body, now_ms()).await {
        Ok(response) => Json(response).into_response(),
        Err(r) => refusal(r),
    }
}

#[derive(Serialize)]
struct TimeAnswer {
    now_ms: u64,
    height: u64,
    entropy: Hash,
    /// The blocks followed before, newest first: agents take the highest block on whose digest
    /// most of their oracles agree.
    recent: Vec<RecentBlock>,
}

#[derive(Serialize)]
struct RecentBlock {
    height: u64,
    entropy: Hash,
}

async fn time(State(state): State<Arc<ApiState>>) -> Json<TimeAnswer> {
    let beacon = state.watch.beacon();
    let recent = state
        .watch
        .recent()
        .iter()
        .rev()
        .map(|b| RecentBlock {
            height: b.height,
            entropy: b.entropy,
        })
        .collect();
    Json(TimeAnswer {
        now_ms: now_ms(),
        height: beacon.height,
        entropy: beacon.entropy,
        recent,
    })
}

async fn manifest(State(state): State<Arc<ApiState>>, Path(epoch): Path<String>) -> Response {
    let Ok(epoch) = epoch.parse::<u64>() else {
        return refused(
            StatusCode::BAD_REQUEST,
            "malformed_epoch",
            "an epoch is a number".into(),
            false,
        );
    };
    match state.index.manifest(Epoch(epoch)) {
        Ok(Some(bytes)) => binary(bytes),
        Ok(None) => refused(
            StatusCode::NOT_FOUND,
            "no_manifest",
            format!("this oracle has no manifest for reward epoch {epoch} (yet)"),
            true,
        ),
        Err(e) => refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
            true,
        ),
    }
}

async fn log_file(
    State(state): State<Arc<ApiState>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Response {
    // Only files this oracle wrote and recorded: never an arbitrary path of the store.
    let known = is_file_name(&name) && matches!(state.index.file(&name), Ok(Some(_)));
    if !known {
        return refused(
            StatusCode::NOT_FOUND,
            "no_file",
            format!("this oracle holds no log file `{name}`"),
            false,
        );
    }
    let Some(turn) = state.file_reads.turn(ClientKey::of(client.ip())) else {
        return files::busy();
    };
    match state.store.get_stream(&name).await {
        Ok((chunks, size)) => files::streamed(chunks, size, turn),
        Err(e) => refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
            true,
        ),
    }
}

pub(crate) fn binary(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}

#[derive(Serialize)]
struct StatusAnswer {
    oracle: Address,
    now_ms: u64,
    files: usize,
    reports_in_files: u64,
    devices_known: usize,
    beacon: Beacon,
    /// Reward epochs not done yet, each with its stage.
    epochs: Vec<EpochStage>,
    /// Epochs whose stage failed and wait to be tried again.
    failures: Vec<crate::epochs::progress::EpochFailure>,
    /// What the rewards stage's chain reads have cost.
    chain_reads: crate::epochs::progress::ReadTotals,
    /// The latest epochs' root lags (cut-off to root on chain).
    root_lags: Vec<crate::epochs::progress::RootLag>,
    /// Peer manifests fetched whole and not attested, with the bound each crossed.
    not_attested: Vec<crate::epochs::progress::NotAttestedManifest>,
}

/// A reward epoch's stage, as the status shows it.
#[derive(Serialize)]
struct EpochStage {
    epoch: u64,
    stage: &'static str,
}

/// Reward epochs the status lists, back from the current one.
const STATUS_EPOCHS: u64 = 8;

/// The stages of the last [`STATUS_EPOCHS`] ended reward epochs that are not done.
fn epoch_stages(state: &ApiState) -> Result<Vec<EpochStage>, crate::index::IndexError> {
    let followed = state.index.followed_height()?;
    let current = state
        .watch
        .config
        .reward_clock()
        .reward_epoch_at(followed.max(1))
        .0;
    let first = state.index.known_first_epoch()?.unwrap_or(current);
    let mut out = Vec::new();
    for epoch in first.max(current.saturating_sub(STATUS_EPOCHS))..current {
        let stage = match state.index.stage(epoch)? {
            0 => "open",
            1 => "committed",
            2 => "attested",
            3 => "rewarded",
            _ => continue,
        };
        out.push(EpochStage { epoch, stage });
    }
    Ok(out)
}

async fn status(State(state): State<Arc<ApiState>>) -> Response {
    let unavailable = |e: crate::index::IndexError| {
        refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
            true,
        )
    };
    let files = match state.index.files() {
        Ok(files) => files,
        Err(e) => return unavailable(e),
    };
    let epochs = match epoch_stages(&state) {
        Ok(epochs) => epochs,
        Err(e) => return unavailable(e),
    };
    let beacon = state.watch.beacon();
    Json(StatusAnswer {
        oracle: state.oracle,
        now_ms: now_ms(),
        files: files.len(),
        reports_in_files: files.iter().map(|(_, m)| m.reports).sum(),
        devices_known: state.watch.book.len(),
        beacon,
        epochs,
        failures: state.progress.failures(),
        chain_reads: state.progress.read_totals(),
        root_lags: state.progress.root_lags(),
        not_attested: state.progress.not_attested_manifests(),
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::recent::DeviceRate;
    use crate::ingest::{IngestLimits, IngestRules};
    use crate::log::{ReportLog, RollPolicy};
    use crate::manifest::file_hash;
    use crate::registry::DeviceBook;
    use cairn_resources::context::DeviceInfo;
    use cairn_types::ingest::{IngestResponse, IngestStatus};
    use cairn_types::params::ChainId;
    use cairn_types::report::{ReportBatch, ReportBody, ReportPayload, SessionCert, SignedReport};
    use cairn_types::{DeviceId, SecretKey, Subnetwork};
    use std::time::Duration;

    fn agent_report(time_ms: u64) -> SignedReport {
        let chain = ChainId::new("cairn-test").unwrap();
        let device = SecretKey::from_seed([1; 32]);
        let session = SecretKey::from_seed([2; 32]);
        let cert = SessionCert::issue(&chain, &device, session.public_key(), time_ms + 3_600_000);
        let body = ReportBody {
            time_ms,
            entropy: Hash::ZERO,
            payload: ReportPayload::Heartbeat { uptime_secs: 1 },
        };
        SignedReport::sign(&chain, cert, &session, body)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reports_in_over_http_the_log_file_out_and_reads_rate_limited() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::local(&dir.path().join("store")).unwrap();
        let index = Arc::new(Index::open(&dir.path().join("index.redb")).unwrap());
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
        book.put(
            DeviceId(SecretKey::from_seed([1; 32]).public_key()),
            Some(DeviceInfo {
                owner: Address::default(),
                subnetwork: Subnetwork::Sensing,
                retired: false,
                maker_revoked: false,
                location: None,
            }),
        );
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
            log.clone(),
        );
        let state = Arc::new(ApiState {
            oracle: Address::default(),
            ingest: Arc::new(ingest),
            client: crate::chain::client::NodeClient::new("http://127.0.0.1:1"),
            store: store.clone(),
            index: index.clone(),
            peers: crate::epochs::fetch::Fetcher::new(&dir.path().join("peers")),
            progress: Default::default(),
            file_reads: Default::default(),
            watch: Arc::new(ChainWatch::new(
                cairn_types::params::ChainConfig {
                    chain_id: ChainId::new("cairn-test").unwrap(),
                    blocks_per_epoch: 10,
                    emission: cairn_types::params::EmissionSchedule {
                        initial_per_epoch: cairn_types::Amount(0),
                        halving_interval_epochs: 1,
                        emission_cap: cairn_types::Amount(0),
                    },
                    consensus: Default::default(),
                    protocol_version: 1,
                    epochs_per_reward_epoch: 1,
                },
                Default::default(),
                book,
            )),
        });
        // The metrics say what the status says, in Prometheus's text format.
        state.progress.rooted(3, 42);
        let text = metrics::render(&state);
        assert!(
            text.contains(
                "# TYPE cairn_oracle_root_lag_seconds gauge\ncairn_oracle_root_lag_seconds 42\n"
            ) && text.contains("cairn_oracle_rooted_epoch 3\n")
                && text.contains("cairn_oracle_state_keys_read_total 0\n"),
            "{text}"
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(serve(listener, router(state, ReadLimiter::new(1, 5))));
        let report = agent_report(now_ms());
        let body = ReportBatch::of(std::slice::from_ref(&report))
            .unwrap()
            .encode();
        let base = url.clone();
        let answer: IngestResponse = tokio::task::spawn_blocking(move || {
            ureq::post(&format!("{base}/v1/reports"))
                .send(&body[..])
                .unwrap()
                .body_mut()
                .read_json()
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(answer.results[0].status, IngestStatus::Accepted);
        let (name, meta) = log.roll().await.unwrap().unwrap();

        // Copies kept of another oracle's manifest and file are served again: a fetcher whose
        // way to that oracle is dead gets them whole from here.
        let peer = Address(cairn_types::PublicKey([9; 32]));
        let bytes = store.get(&name).await.unwrap().to_vec();
        let manifest = crate::manifest::Manifest {
            epoch: Epoch(4),
            oracle: peer,
            denylist: cairn_types::codec::BoundedVec::from_bounded(Vec::new()),
            files: cairn_types::codec::BoundedVec::new(vec![crate::manifest::ManifestFile {
                name: cairn_types::codec::BoundedString::new(name.clone()).unwrap(),
                hash: meta.hash,
                bytes: meta.bytes,
                reports: meta.reports,
            }])
            .unwrap(),
        };
        let kept = dir.path().join("peers").join(hex::encode(peer.0 .0));
        std::fs::create_dir_all(kept.join("manifests")).unwrap();
        std::fs::write(kept.join(&name), &bytes).unwrap();
        let manifest_name = format!("4-{}", manifest.hash());
        std::fs::write(
            kept.join("manifests").join(manifest_name),
            manifest.encode(),
        )
        .unwrap();
        let (base, fresh_dir) = (url.clone(), dir.path().join("fresh"));
        let (mirrored, fetched) = tokio::task::spawn_blocking(move || {
            let fresh = crate::epochs::fetch::Fetcher::new(&fresh_dir);
            let bases = crate::epochs::fetch::sources("http://127.0.0.1:1", &peer, &[base]);
            let m = fresh
                .manifest_from(&bases, &peer, Epoch(4), &manifest.hash())
                .unwrap();
            fresh.files_from(&bases, &m).unwrap();
            (
                m == manifest,
                fresh.kept_file(&peer, m.files.iter().next().unwrap().name.as_str()),
            )
        })
        .await
        .unwrap();
        assert!(mirrored);
        assert_eq!(fetched.unwrap(), bytes);

        let base = url.clone();
        let (file, missing, bad, huge, limited) = tokio::task::spawn_blocking(move || {
            let agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .new_agent();
            let file = agent
                .get(&format!("{base}/v1/logs/{name}"))
                .call()
                .unwrap()
                .body_mut()
                .read_to_vec()
                .unwrap();
            let missing = agent
                .get(&format!("{base}/v1/logs/..%2Findex.redb"))
                .call()
                .unwrap()
                .status();
            let bad = agent
                .post(&format!("{base}/v1/reports"))
                .send(&b"\xff\xff\xff\xff"[..])
                .unwrap()
                .status();
            let mut huge = agent
                .post(&format!("{base}/v1/reports"))
                .send(&vec![0u8; cairn_types::report::MAX_BATCH_BYTES + 1][..])
                .unwrap();
            let huge = (
                huge.status().as_u16(),
                huge.body_mut().read_to_string().unwrap(),
            );
            // Reads are limited per client (1 a second, burst 5 here): the fifth read (after
            // the two from the copies) passes, the sixth is refused with its code and when to
            // retry; posts are not reads.
            let third = agent
                .get(&format!("{base}/v1/time"))
                .call()
                .unwrap()
                .status();
            let mut fourth = agent.get(&format!("{base}/v1/time")).call().unwrap();
            let limited = (
                third.as_u16(),
                fourth.status().as_u16(),
                fourth.headers().get("retry-after").cloned(),
                fourth.body_mut().read_to_string().unwrap(),
            );
            (file, missing, bad, huge, limited)
        })
        .await
        .unwrap();
        assert_eq!(file_hash(&file), meta.hash);
        assert_eq!(missing, 404);
        assert_eq!(bad, 400);
        assert_eq!(huge.0, 413);
        assert!(huge.1.contains("\"too_large\""), "{}", huge.1);
        assert_eq!((limited.0, limited.1), (200, 429));
        assert_eq!(limited.2.unwrap(), "1");
        assert!(
            limited.3.contains("\"client_rate_limited\""),
            "{}",
            limited.3
        );
    }
}
