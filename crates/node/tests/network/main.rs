//! Whole-network deterministic simulations of Cairn validators.
//!
//! Each test runs many seeds; a failure names its seed, and `CAIRN_SIM_SEED=<seed>` reruns
//! only that one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod faults;
mod harness;
mod scenarios;
mod stake;
