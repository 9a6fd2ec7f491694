//! Proof of coverage: beacons, witnesses and the rules that tell a radio network from a
//! cheater's claims (after Helium's, where they are weak made stricter; see docs/COVERAGE.md).
//!
//! - [`rules`]: the rules a network runs with, and their defaults.
//! - [`types`]: counted beacons and witnesses as the tally hands them over, and the denylist.
//! - [`radio`]: path loss and the strongest honest signal, in integers.
//! - [`region`]: radio regions and the plan of where each applies.
//! - [`beacon`]: beacon data, slots and the checks a beacon must pass.
//! - [`witness`]: the checks a witness must pass and which of a beacon's witnesses count.
//! - [`ring`]: groups of devices cut off from the network.
//! - [`density`]: crowding into one area pays no more.
//! - [`score`]: all of it together, from an epoch's beacons and witnesses to points.
//! - [`collect`]: the coverage devices' counted reports from the tally, to the scorer.
//! - [`kind`]: the sub-network behind the plug-in traits ([`crate::subnet`]).

pub mod beacon;
pub mod collect;
pub mod density;
pub mod kind;
pub mod radio;
pub mod region;
pub mod ring;
pub mod rules;
pub mod score;
pub mod types;
pub mod witness;
