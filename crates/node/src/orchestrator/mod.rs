//! One simplex engine per epoch.
//!
//! Each epoch has its own validator set, so its own engine: signing when this node is one of
//! the epoch's validators, only following otherwise. The engine of epoch `e` starts from the
//! last block of epoch `e − 1` (its "genesis"), keeps its votes in its own journal partition,
//! and runs until this node has applied the last block of `e`; then the ledger knows the set of
//! `e + 1` and the next engine starts. The votes, certificates and resolver channels are
//! multiplexed by epoch, so engines of two epochs never read each other's messages.
//!
//! A message for a later epoch than this node's means the others have finalized this epoch's
//! last block: marshal is asked to fetch that finalization from the sender, so a node that
//! missed the end of an epoch catches up instead of waiting for an engine nobody else runs.
//!
//! ```text
//!            ┌──────────────────────── Orchestrator::run ───────────────────────┐
//!  start ──> │ next epoch e = epoch of (applied height + 1)                      │
//!            │   retire the journal of e − 1 (after a durable ledger flush)      │
//!            │   set(e) from the ledger ──> track peers ──> start engine(e)      │
//!            │   wait: last block of e applied │ peer ahead: hint marshal        │
//!            │   abort engine(e) ──────────────────────────────────────> loop    │
//!            └──────────────────────────────────────────────────────────────────┘
//! ```
//!
//! - [`config`]: what every epoch's engine shares ([`Config`]).
//! - [`actor`]: the loop above ([`Orchestrator`]).
//! - [`engine`]: one epoch's simplex configuration.

pub mod actor;
pub mod config;
pub mod engine;

pub use actor::Orchestrator;
pub use config::Config;

use crate::app::CairnApp;
use crate::block::Block;
use crate::epochs::LedgerEpocher;
use crate::types::ConsensusScheme;
use commonware_consensus::marshal::standard::Inline;

/// The consensus application every epoch's engine drives (marshal's inline wrapper).
pub type ConsensusApp<E> = Inline<E, ConsensusScheme, CairnApp, Block, LedgerEpocher>;
