//! Cairn's validator node.
//!
//! - [`mempool`]: transactions waiting for a block, checked on entry, ordered by fee and nonce.

pub mod mempool;
