//! Cairn's edge agent: the small daemon on a device.
//!
//! It holds the device key (in a file, or a secure element behind [`signer::DeviceSigner`]),
//! which certifies a session key once; the session key signs every report. Reports (heartbeats,
//! sensor readings from a simulated sensor, a file or a line stream) go into a durable outbox
//! and are delivered, at least once, to at least two oracles; an oracle acknowledges only what
//! it wrote durably and ignores what it already holds, so nothing is lost across restarts or
//! outages and nothing counts twice. The agent takes its clock and beacon entropy from the
//! oracles, and shows its state on a local HTTP status page. It builds for aarch64 (pure Rust,
//! no C dependencies beyond the standard library).
//!
//! - [`config`]: the agent's configuration file, `agent.toml`.
//! - [`signer`]: the device key behind an interface.
//! - [`session`]: session keys and their certificates.
//! - [`outbox`]: the durable outbox and its delivery record per oracle.
//! - [`clock`]: the oracles' time and entropy.
//! - [`inputs`]: reading lines (`<sensor> <value>`) into reports.
//! - [`coverage`]: coverage devices' beacons, and the witnesses of simulated devices.
//! - [`cheat`]: the parts simulated coverage cheaters play, to test the oracles' verifiers.
//! - [`radio`]: the simulated radio of simulated coverage devices: where they stand, what
//!   they hear.
//! - [`weather`]: simulated weather stations, honest and cheating.
//! - [`hotspots`]: simulated hotspots carrying a payer's data, honest and cheating.
//! - [`run`]: the devices and the tasks that make, keep and deliver reports.
//! - [`status`]: the local status page.

pub mod cheat;
#[cfg(test)]
mod cheat_sim;
pub mod clock;
pub mod config;
pub mod coverage;
pub mod hotspots;
pub mod inputs;
pub mod outbox;
pub mod radio;
pub mod run;
pub mod session;
pub mod signer;
pub mod status;
pub mod weather;
