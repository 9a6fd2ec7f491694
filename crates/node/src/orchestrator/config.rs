//! What every epoch's engine shares. There are no hidden defaults: the validator's wiring
//! ([`crate::validator`]) fills every field.

use crate::app::CairnApp;
use crate::chain::Chain;
use crate::epochs::{EpochSchemes, LedgerEpocher};
use crate::slasher::Slasher;
use crate::types::{BlockDigest, MarshalMailbox, Timeouts, TrackPeers};
use crate::votes::VoteCache;
use std::sync::Arc;

/// The orchestrator's configuration.
pub struct Config<B> {
    /// This validator's state.
    pub chain: Arc<Chain>,
    /// Cairn's application, which every engine drives through marshal's inline wrapper (built
    /// by the orchestrator from its own task's context, so that the verifications and
    /// proposals it spawns stop with the node).
    pub application: CairnApp,
    /// Each epoch's validators and schemes.
    pub schemes: EpochSchemes,
    /// Where epochs end.
    pub epocher: LedgerEpocher,
    /// Marshal (boundary blocks, hints).
    pub marshal: MarshalMailbox,
    /// Turns conflicting votes into slashing evidence.
    pub slasher: Slasher,
    /// Keeps the finalize votes the engines see (blocks carry them, see `crate::liveness`).
    pub votes: VoteCache,
    /// Blocks misbehaving peers.
    pub blocker: B,
    /// Updates the network's peer sets.
    pub track: TrackPeers,
    /// The digest of the genesis block (epoch 0's starting point).
    pub genesis: BlockDigest,
    /// Prefix of the journal partitions (one per epoch).
    pub partition_prefix: String,
    /// Consensus timing.
    pub timeouts: Timeouts,
}
