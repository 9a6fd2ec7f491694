//! Sensing by quality of data (after WeatherXM's, see the shared ANCHORS notes): a station is
//! paid for readings that are plausible, complete, alive and in line with its neighbours, not
//! for merely reporting.
//!
//! - [`rules`]: each known sensor's range and how fast it may change, and the network's
//!   thresholds.
//! - [`series`]: one sensor's readings over an epoch, checked one by one: range, jumps,
//!   flatlines; and how complete each hour is.
//! - [`score`]: each station's points and quality for the epoch: its good sensor-hours, checked
//!   against its neighbours, with relocation quarantine and a cap on stations per cell.
//!
//! - [`kind`]: the sub-network behind the plug-in traits ([`crate::subnet`]).
//!
//! Everything is in integers: readings are thousandths of the sensor's unit, shares are basis
//! points (1/10,000), rounded down.

pub mod kind;
pub mod rules;
pub mod score;
pub mod series;
