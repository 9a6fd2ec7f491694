//! Cairn's oracle: ingests device reports, keeps them in an append-only log anyone can fetch,
//! commits what it holds on chain, computes each reward epoch's rewards with the pure rules of
//! `cairn-resources`, and signs the reward root with the rest of the committee.
//!
//! See `docs/ORACLE.md` for the protocol. Modules:
//!
//! - [`chain`]: the node client and the follower that keeps the oracle's view of the chain.
//! - [`epochs`]: the committee's stages for each reward epoch: cut, commit, attest, reward, root.
//! - [`rewarder`]: one epoch's rewards from the counted manifests, a pure computation.
//! - [`config`]: `oracle.toml`, every default in one place.
//! - [`log`]: the report log: the journal, the file format, the store, the writer.
//! - [`index`]: the oracle's own records (files, manifests).
//! - [`manifest`]: the list of an epoch's files that the chain commits to, with the oracle's
//!   denylist.
//! - [`denylist`]: the coverage denylist each oracle commits, and the one 2/3 of stake agree on.
//! - [`ingest`]: the checks a report passes before it is written, and its rate limits.
//! - [`price`]: posting the token price from the configured source.
//! - [`price_feed`]: the live price feed: HTTP JSON sources asked at once, the median of the
//!   fresh ones that agree, or nothing (a pure decision).
//! - [`price_json`]: a number read exactly out of a JSON answer (a path, decimal text).
//! - [`registry`]: the oracle's view of the device registry.
//! - [`replay`]: the audit: recompute an epoch from the chain and the logs, compare the roots.
//! - [`service`]: one oracle as a process: its tasks, started and stopped in order.
//! - [`tasks`]: the long-running tasks on threads, whose end (a fault or a panic) stops the
//!   oracle with a non-zero exit.
//! - [`server`]: the HTTP API (reports in; time, manifests, log files and status out).

pub mod chain;
pub mod config;
pub mod denylist;
pub mod epochs;
pub mod index;
pub mod ingest;
pub mod log;
pub mod manifest;
pub mod price;
pub mod price_feed;
pub mod price_json;
pub mod registry;
pub mod replay;
pub mod rewarder;
pub mod server;
pub mod service;
pub mod tasks;

/// The time now on this oracle's clock, in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
