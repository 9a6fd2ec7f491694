//! Cairn's validator node.
//!
//! How a block flows through a validator:
//!
//! ```text
//!  simplex (one engine per epoch, [`orchestrator`])
//!     │ asks for a proposal / a verdict on a peer's block
//!     ▼
//!  app ([`app`]: builds blocks from the [`mempool`], checks others' blocks against the ledger)
//!     │ through marshal's inline wrapper, which broadcasts blocks and reports certificates
//!     ▼
//!  marshal (orders finalized blocks, stores them, backfills gaps from peers)
//!     │ each finalized block, in height order, with an acknowledgement
//!     ▼
//!  finalizer ([`finalizer`]) ──> ledger (`cairn_ledger`, via [`chain::Chain::apply_finalized`])
//!     │ the applied height moves (a fault halts the node instead: see [`chain`])
//!     ▼
//!  orchestrator: at an epoch's last block, the next epoch's validators are known and its
//!  engine starts; proposals and verifications wait on the applied height too.
//! ```
//!
//! - [`types`]: the shared names (scheme, keys, digests, channels, namespace, tuning values).
//! - [`block`]: the block consensus orders (header, transactions, canonical encoding).
//! - [`mempool`]: transactions waiting for a block, checked on entry, ordered by fee and nonce.
//! - [`chain`]: one validator's shared state (ledger, mempool, applied height, halting).
//! - [`app`]: proposing and verifying blocks for consensus.
//! - [`finalizer`]: applying finalized blocks to the ledger, in order, exactly once.
//! - [`epochs`]: consensus epochs aligned with the ledger's, and each epoch's validator set.
//! - [`orchestrator`]: one simplex engine per epoch, switched at each epoch's last block.
//! - [`slasher`]: equivocation detected by consensus, reported as slashing evidence.
//! - [`validator`]: wiring all of the above into one validator, on any runtime and network.
//! - [`light`]: checking finalization certificates with only the validator set.
//! - [`config`]: a validator's `node.toml`.
//! - [`rpc`]: the HTTP JSON API, on its own threads and bounded ([`rpc::limits`]).
//! - [`fdlimit`]: the open-file limit, raised at start and shared with the API.
//! - [`run`]: one validator as a process (tokio, TCP, the HTTP API).

pub mod app;
pub mod block;
pub mod chain;
pub mod config;
pub mod epochs;
pub mod fdlimit;
pub mod finalizer;
pub mod light;
pub mod liveness;
pub mod mempool;
pub mod orchestrator;
pub mod rpc;
pub mod run;
pub mod seat_router;
pub mod slasher;
pub mod types;
pub mod validator;
pub mod verdicts;
pub mod votes;
