//! Cairn's ledger: the deterministic state machine that validators run.
//!
//! It holds accounts and the token, staking and slashing, devices and makers, data credits,
//! reward roots and claims, and vote-escrow governance, in an authenticated key-value state
//! (a Jellyfish Merkle tree over redb) whose root changes with every block. Execution is pure:
//! the same genesis and blocks give the same state root on every machine. No floats anywhere.
//!
//! - [`ledger`]: applying blocks (strictly, or in an order consensus already fixed).
//! - [`exec`]: one module per kind of transaction.
//! - [`epoch`]: emission, lock expiry, downtime jailing and validator-set selection at epoch
//!   boundaries.
//! - [`liveness`]: counting which seats signed each finalized block.
//! - [`protocol`]: protocol versions and scheduled upgrades.
//! - [`seats`]: seats of equal stake (the seat size and who holds how many seats).
//! - [`state`]: state keys, stored records and the write overlay.
//! - [`store`]: durable storage, state roots and proofs.
//! - [`genesis`]: the genesis file.
//! - [`error`]: every way a transaction or block is refused.
//! - [`audit`]: the supply audit.
//! - [`testkit`]: a chain with well-known keys for tests, the demo and benchmarks.

pub mod audit;
pub mod carried;
pub mod charges;
pub mod epoch;
pub mod error;
pub mod exec;
pub mod genesis;
pub mod ledger;
pub mod liveness;
pub mod protocol;
pub mod recovery;
pub mod seats;
pub mod state;
pub mod store;
pub mod testkit;

pub use charges::ChargeCheck;
pub use error::{BlockError, StoreError, TxError};
pub use genesis::Genesis;
pub use ledger::{BlockInput, BlockOutcome, Head, Ledger, Receipt};
pub use state::StateKey;
