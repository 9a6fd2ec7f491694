//! The names every part of the node shares: the consensus scheme and keys, the block digest,
//! the network channels, the vote namespace, key conversions, the clock, message bounds and
//! every tuning value of the consensus stack.
//!
//! This module imports nothing from the rest of the crate but [`crate::block`], so every other
//! module can import it without a cycle (the wiring lives in [`crate::validator`]).

use crate::block::{Block, BlockLimits};
use cairn_types::keys::SecretKey;
use commonware_codec::DecodeExt;
use commonware_consensus::marshal::standard::Standard;
use commonware_consensus::simplex;
use commonware_consensus::types::ViewDelta;
use commonware_cryptography::ed25519;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::Clock;
use commonware_utils::ordered::Set;
use commonware_utils::{NZUsize, NZU16};
use std::num::NonZeroUsize;
use std::time::{Duration, UNIX_EPOCH};

pub use cairn_light::certificate::{
    consensus_public_key, namespace, BlockDigest, ConsensusKey, ConsensusScheme,
};
/// What consensus tells the application about a round.
pub type ConsensusContext = simplex::types::Context<BlockDigest, ConsensusKey>;
/// Marshal's mailbox for Cairn blocks.
pub type MarshalMailbox =
    commonware_consensus::marshal::core::Mailbox<ConsensusScheme, Standard<Block>>;
/// Tells the network layer which peers validate in an epoch (called once per epoch, in order).
pub type TrackPeers = Box<dyn FnMut(u64, &Set<ConsensusKey>) + Send + Sync>;

/// The network channels of one validator, in this order on the wire.
pub mod channel {
    /// Consensus votes.
    pub const VOTES: u64 = 0;
    /// Consensus certificates.
    pub const CERTIFICATES: u64 = 1;
    /// Consensus's own resolver (missing certificates).
    pub const RESOLVER: u64 = 2;
    /// Block broadcast.
    pub const BROADCAST: u64 = 3;
    /// Marshal's backfill of finalized blocks.
    pub const BACKFILL: u64 = 4;
}

/// The Cairn key of a consensus key (both are ed25519 public keys).
pub fn cairn_key(key: &ConsensusKey) -> cairn_types::keys::PublicKey {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(key.as_ref());
    cairn_types::keys::PublicKey(bytes)
}

/// A Cairn secret key as a commonware signer (both are ed25519 seeds).
pub fn consensus_signer(key: &SecretKey) -> Option<ed25519::PrivateKey> {
    ed25519::PrivateKey::decode(key.seed().to_vec()).ok()
}

/// Milliseconds since the Unix epoch on the runtime's clock.
pub fn now_ms(clock: &impl Clock) -> u64 {
    clock
        .current()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Timing of consensus; the defaults suit a LAN or loopback devnet.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// How long a validator waits for the leader's proposal.
    pub leader: Duration,
    /// How long it waits for a notarization after that.
    pub certification: Duration,
    /// How often it re-broadcasts its nullify vote while stuck.
    pub retry: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            leader: Duration::from_secs(2),
            certification: Duration::from_secs(3),
            retry: Duration::from_secs(4),
        }
    }
}

/// The most seats one epoch can have for messages to fit [`max_message_size`]: the ledger's
/// bound on `max_seats`.
pub const MAX_PARTICIPANTS: u32 = cairn_types::validator_keys::MAX_SEATS as u32;

/// Room for what consensus messages are prefixed with: the epoch (a varint) and the seat prefix
/// (sender and target seats, see `seat_router`).
const EPOCH_PREFIX_BYTES: usize = 10 + 32 + 1 + 32;

/// The bound on any message on the network, the same on every node: certificates of up to
/// [`MAX_PARTICIPANTS`] signers, or a block at `limits`.
pub fn max_message_size(limits: &BlockLimits) -> u32 {
    let consensus = simplex::max_payload_size::<ConsensusScheme, BlockDigest>(MAX_PARTICIPANTS)
        + EPOCH_PREFIX_BYTES;
    let marshal = commonware_consensus::marshal::max_payload_size::<Standard<Block>, ConsensusScheme>(
        MAX_PARTICIPANTS,
        limits,
    );
    u32::try_from(consensus.max(marshal)).unwrap_or(u32::MAX)
}

/// Tuning of the consensus stack: queue sizes, buffers and retention. None of these changes
/// what is agreed; each bounds memory or pacing on one node.
pub mod tuning {
    use super::*;

    /// Messages an actor's mailbox holds before senders wait.
    pub const MAILBOX_SIZE: NonZeroUsize = NZUsize!(1024);
    /// Bytes buffered when replaying a journal or archive at start.
    pub const REPLAY_BUFFER_BYTES: NonZeroUsize = NZUsize!(1 << 16);
    /// Bytes buffered before a journal or archive write reaches the disk.
    pub const WRITE_BUFFER_BYTES: NonZeroUsize = NZUsize!(1 << 16);
    /// Views of votes and certificates kept below the latest finalized one.
    pub const VIEW_RETENTION: ViewDelta = ViewDelta::new(64);
    /// How long a request for a missing certificate or block waits for an answer.
    pub const FETCH_TIMEOUT: Duration = Duration::from_secs(1);
    /// How long marshal waits for a backfilled block before asking another peer.
    pub const BACKFILL_TIMEOUT: Duration = Duration::from_secs(2);
    /// Pause before a failed fetch is tried again.
    pub const FETCH_RETRY_DELAY: Duration = Duration::from_millis(200);
    /// Recent broadcast blocks kept per peer.
    pub const BROADCAST_DEQUE_SIZE: usize = 16;
    /// Finalized blocks marshal may hand the finalizer before it waits for acknowledgements.
    pub const PENDING_ACKS_MAX: NonZeroUsize = NZUsize!(16);
    /// Gaps in the finalized chain marshal repairs at once.
    pub const REPAIRS_MAX: NonZeroUsize = NZUsize!(32);

    /// The page cache of the journals and archives (4 KiB pages, 4 MiB in all).
    pub fn page_cache() -> CacheRef {
        CacheRef::new(NZU16!(4096), NZUsize!(1024))
    }
}
