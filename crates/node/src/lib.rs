//! Cairn's validator node.
//!
//! - [`block`]: the block consensus orders (header, transactions, canonical encoding).
//! - [`mempool`]: transactions waiting for a block, checked on entry, ordered by fee and nonce.
//! - [`chain`]: one validator's shared state (ledger, mempool, applied height, tx outcomes).
//! - [`app`]: proposing and verifying blocks for consensus.
//! - [`finalizer`]: applying finalized blocks to the ledger, in order, exactly once.
//! - [`consensus`]: wiring simplex, marshal, the application and the finalizer together.
//! - [`epochs`]: consensus epochs aligned with the ledger's, and each epoch's validator set.
//! - [`orchestrator`]: one simplex engine per epoch, switched at each epoch's last block.
//! - [`config`]: a validator's `node.toml`.
//! - [`run`]: one validator as a process (tokio, TCP, the HTTP API).
//! - [`rpc`]: the HTTP JSON API.
//! - [`slasher`]: equivocation detected by consensus, reported as slashing evidence.
//! - [`light`]: checking finalization certificates with only the validator set.

pub mod app;
pub mod block;
pub mod chain;
pub mod config;
pub mod consensus;
pub mod epochs;
pub mod finalizer;
pub mod light;
pub mod mempool;
pub mod orchestrator;
pub mod rpc;
pub mod run;
pub mod slasher;
