//! The node's HTTP JSON API (axum): status, transactions, state with proofs, finalized blocks
//! with their certificates, a WebSocket of finalized blocks, the OpenAPI document and
//! Prometheus metrics. Routes and their shapes are in `openapi.json` (served at
//! `/openapi.json`); `docs/RPC.md` explains them with examples.

mod admission;
mod batch;
pub mod blocks;
pub mod epochs;
mod error;
mod lanes;
pub mod limits;
pub mod server;
mod state;
mod state_batch;
mod status;
mod transactions;
mod ws;

pub use admission::Admission;
pub use error::ApiError;
pub use limits::{ApiLimits, MAX_BATCH};

use crate::block::Block;
use crate::chain::Chain;
use crate::light::{encode_certificate, BlockFinalization};
use crate::types::{BlockDigest, MarshalMailbox};
use axum::routing::{get, post};
use axum::Router;
use commonware_consensus::types::Height;
use commonware_runtime::telemetry::metrics::raw::{Gauge, Histogram};
use commonware_runtime::Metrics;
use serde::Serialize;
use std::sync::Arc;

/// The largest request body accepted (a transaction is at most 256 KiB; hex doubles it).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The largest batch submission body.
const MAX_BATCH_BODY_BYTES: usize = 8 * 1024 * 1024;

/// What the network is: fixed at genesis.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkInfo {
    /// The chain id.
    pub chain_id: String,
    /// The genesis block's digest.
    #[serde(serialize_with = "digest_hex")]
    pub genesis_digest: BlockDigest,
}

fn digest_hex<S: serde::Serializer>(digest: &BlockDigest, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(digest.0))
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct RpcState {
    inner: Arc<Inner>,
}

struct Inner {
    chain: Arc<Chain>,
    marshal: MarshalMailbox,
    info: NetworkInfo,
    encode_metrics: Arc<dyn Fn() -> String + Send + Sync>,
    admission: Admission,
}

impl RpcState {
    /// The API's state over a running validator, bounded by `limits`.
    pub fn new(
        chain: Arc<Chain>,
        marshal: MarshalMailbox,
        info: NetworkInfo,
        encode_metrics: Arc<dyn Fn() -> String + Send + Sync>,
        limits: ApiLimits,
    ) -> RpcState {
        RpcState {
            inner: Arc::new(Inner {
                chain,
                marshal,
                info,
                encode_metrics,
                admission: Admission::new(limits),
            }),
        }
    }

    /// The API's bounds.
    pub fn admission(&self) -> &Admission {
        &self.inner.admission
    }

    fn chain(&self) -> &Chain {
        &self.inner.chain
    }

    fn chain_arc(&self) -> Arc<Chain> {
        self.inner.chain.clone()
    }

    /// The finalized block at `height` and its certificate, when this node has them. Marshal
    /// keeps a certificate for each block finalized directly; an ancestor finalized through a
    /// descendant has none of its own.
    ///
    /// Marshal is part of consensus: at most [`admission::MARSHAL_READS`] API reads wait on it
    /// at once, whatever the number of requests and subscribers.
    async fn block(&self, height: u64) -> Option<(Block, Option<BlockFinalization>)> {
        let _read = self.admission().marshal_read().await?;
        let block = self.inner.marshal.get_block(Height::new(height)).await?;
        let finalization = self
            .inner
            .marshal
            .get_finalization(Height::new(height))
            .await;
        Some((block.inner().clone(), finalization))
    }

    /// The finalization certificate of the block at `height`, if it has its own.
    async fn finalization(&self, height: u64) -> Option<BlockFinalization> {
        let _read = self.admission().marshal_read().await?;
        self.inner
            .marshal
            .get_finalization(Height::new(height))
            .await
    }

    /// Runs `work` on a blocking thread, holding one of the API's blocking slots until it
    /// ends (even when the request that asked for it timed out and is gone).
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let slot = self.admission().blocking_slot().await?;
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(slot);
            out
        })
        .await
        .map_err(|e| ApiError::internal(format!("a blocking task failed: {e}")))
    }

    /// The highest finalized block at or below `height` that has a certificate of its own
    /// (looking back at most `window` blocks).
    async fn certified_at_or_below(
        &self,
        height: u64,
        window: u64,
    ) -> Option<(Block, BlockFinalization)> {
        let lowest = height.saturating_sub(window).max(1);
        let mut h = height;
        // The certificate first: only the block that has one is fetched.
        while h >= lowest {
            if let Some(cert) = self.finalization(h).await {
                let (block, _) = self.block(h).await?;
                return Some((block, cert));
            }
            h -= 1;
        }
        None
    }

    /// Registers the node's own gauges and keeps them current: applied height, mempool size,
    /// and the time from a block's proposal to its application here.
    pub fn register_metrics<M: Metrics + commonware_runtime::Spawner>(&self, context: &M) {
        let height = context.register(
            "height",
            "latest applied block height",
            Gauge::<i64>::default(),
        );
        let mempool_txs = context.register(
            "mempool_transactions",
            "transactions in the mempool",
            Gauge::<i64>::default(),
        );
        let mempool_bytes = context.register(
            "mempool_bytes",
            "bytes in the mempool",
            Gauge::<i64>::default(),
        );
        let latency = context.register(
            "finalization_latency_seconds",
            "from a block's timestamp to its application on this node",
            Histogram::new([0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0]),
        );
        let halted = context.register(
            "halted",
            "1 once this node has halted (a storage fault, or a finalized block it cannot apply): it must be restarted; else 0",
            Gauge::<i64>::default(),
        );
        let halts = self.chain().subscribe_halted();
        context.child("halt_metric").spawn(move |_| async move {
            let mut halts = halts;
            // The halt happens at most once; the sender lives as long as the chain.
            let _ = halts.wait_for(Option::is_some).await;
            halted.set(1);
        });
        let state = self.clone();
        context.child("metrics").spawn(move |_| async move {
            let mut applied = state.chain().subscribe_applied();
            loop {
                let h = *applied.borrow_and_update();
                height.set(i64::try_from(h).unwrap_or(i64::MAX));
                let (txs, bytes) = state.chain().mempool_size();
                mempool_txs.set(i64::try_from(txs).unwrap_or(i64::MAX));
                mempool_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
                let block_time = state.chain().head().timestamp_ms;
                let lag_ms = now_ms().saturating_sub(block_time);
                latency.observe(lag_ms as f64 / 1000.0);
                if applied.changed().await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Milliseconds since the Unix epoch on this machine's clock.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The API's routes.
pub fn router(state: RpcState) -> Router {
    Router::new()
        .route("/v1/status", get(status::status))
        .route("/v1/transactions", post(transactions::submit))
        .route(
            "/v1/transactions/batch",
            post(transactions::submit_batch)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_BATCH_BODY_BYTES)),
        )
        .route("/v1/transactions/{id}", get(transactions::status))
        .route("/v1/accounts/{address}", get(state::account))
        .route("/v1/devices/{device}", get(state::device))
        .route("/v1/params", get(state::params))
        .route("/v1/state/batch", post(state_batch::batch))
        .route("/v1/state/{key}", get(state::raw))
        .route("/v1/blocks/{height}", get(blocks::by_height))
        .route("/v1/epochs/{epoch}/handoff", get(epochs::handoff))
        .route("/v1/ws/blocks", get(ws::blocks))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("no such route; see /openapi.json") })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admission::admit,
        ))
        .with_state(state)
}

/// The OpenAPI 3.1 document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

async fn metrics(
    axum::extract::State(state): axum::extract::State<RpcState>,
) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        (state.inner.encode_metrics)(),
    )
}

/// A certificate as hex.
pub(crate) fn certificate_hex(finalization: &BlockFinalization) -> String {
    hex::encode(encode_certificate(finalization))
}

#[cfg(test)]
mod tests {
    /// Every `.route("PATH", METHOD(…))` of [`super::router`], read from this file's source:
    /// (path, method).
    fn routes() -> Vec<(String, String)> {
        let source = include_str!("mod.rs");
        let start = source
            .find("pub fn router(")
            .unwrap_or_else(|| panic!("no `pub fn router(` in rpc/mod.rs"));
        let body = &source[start..];
        let body = &body[..body.find("\n}\n").unwrap_or(body.len())];
        // Code only: a `.route(` in a comment is no route.
        let body: String = body
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut found = Vec::new();
        for part in body.split(".route(").skip(1) {
            let mut quoted = part.splitn(3, '"');
            let (Some(_), Some(path)) = (quoted.next(), quoted.next()) else {
                continue;
            };
            let rest = part.split_once(',').map_or("", |(_, r)| r).trim_start();
            let method: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
            found.push((path.to_string(), method));
        }
        found
    }

    #[test]
    fn the_openapi_document_lists_every_route_the_router_serves() {
        let document: serde_json::Value = serde_json::from_str(super::OPENAPI)
            .unwrap_or_else(|e| panic!("openapi.json is no JSON: {e}"));
        let routes = routes();
        assert!(
            routes.len() >= 14,
            "the router's routes were not found: {routes:?}"
        );
        for (path, method) in &routes {
            assert!(
                document["paths"][path][method].is_object(),
                "openapi.json has no `{method} {path}`"
            );
        }
        // And nothing the router does not serve.
        let listed = document["paths"].as_object().map_or(0, |p| {
            p.values()
                .map(|methods| methods.as_object().map_or(0, |m| m.len()))
                .sum::<usize>()
        });
        assert_eq!(listed, routes.len(), "{routes:?}");
    }
}
