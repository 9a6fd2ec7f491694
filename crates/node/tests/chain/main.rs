//! One node's chain pieces, each on its own: the block codec, double-sign evidence, the halting
//! rules and the mempool. (One test binary, so a clean build links it once.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod block;
mod evidence;
mod halting;
mod mempool;
