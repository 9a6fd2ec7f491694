//! The light client's checks (certificates, hand-offs) live in `cairn-light`, which depends on
//! neither the ledger nor the node; they are re-exported here for the node's own users.

pub use cairn_light::certificate::{
    encode_certificate, seats_of, BlockFinalization, LightClient, LightError,
};
pub use cairn_light::handoff::{follow, Handoff, HandoffError};
