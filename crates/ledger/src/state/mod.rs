//! The ledger's state: what is stored under which key, and the write overlay that execution uses.
//!
//! - [`keys`]: every state key, one enum; its canonical encoding is the key's bytes.
//! - [`records`]: the value stored under each key.
//! - [`overlay`]: typed reads and buffered writes on top of committed state, with per-transaction
//!   rollback, so a failed transaction changes nothing.

pub mod keys;
pub mod overlay;
pub mod records;

pub use keys::StateKey;
pub use overlay::{Overlay, StateRead};
