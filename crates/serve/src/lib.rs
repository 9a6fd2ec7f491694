//! Serving HTTP to strangers: what the node's API and the oracle's API share.
//!
//! - [`connections`]: accepting and serving connections with a bounded number open (in all and
//!   per client), a time limit on each request's head, and connections closed when idle; each
//!   request carries its client's address.
//! - [`rate`]: requests per second per client (an IPv4 address or an IPv6 /64), in integer
//!   token buckets.
//! - [`fair`]: slots for expensive work shared fairly among client groups (an IPv4 /24, an
//!   IPv6 /48).

pub mod connections;
pub mod fair;
pub mod rate;

pub use connections::{accept, ClientAddr, ConnectionLimits};
pub use fair::{ClientGroup, FairSlots, SlotPermit, SlotRefused};
pub use rate::{ClientKey, RateLimiter};
