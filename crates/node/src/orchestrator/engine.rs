//! The configuration of one epoch's simplex engine.

use super::config::Config;
use super::ConsensusApp;
use crate::slasher::Slasher;
use crate::types::{tuning, BlockDigest, ConsensusKey, ConsensusScheme};
use commonware_consensus::simplex::elector::RoundRobin;
use commonware_consensus::simplex::{self, Floor, ForwardPolicy, SkipBudget, SkipPolicy};
use commonware_consensus::types::Epoch;
use commonware_consensus::Reporters;
use commonware_cryptography::sha256::Sha256;
use commonware_p2p::Blocker;
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Clock, Metrics, Spawner};
use commonware_utils::ordered::Set;
use commonware_utils::NZDuration;

/// The configuration of one epoch's simplex engine.
pub type EngineConfig<E, B> = simplex::Config<
    ConsensusScheme,
    RoundRobin<Sha256>,
    B,
    BlockDigest,
    ConsensusApp<E>,
    ConsensusApp<E>,
    Reporters<ConsensusApp<E>, Slasher>,
    Sequential,
>;

/// The journal partition of `epoch`'s engine (one per epoch, deleted once the epoch is over).
pub fn partition(prefix: &str, epoch: Epoch) -> String {
    format!("{prefix}-simplex-{epoch}")
}

/// `epoch`'s engine: `scheme` signs (or only verifies) for `participants`, starting on top of
/// the block `floor`.
pub fn engine_config<E, B>(
    config: &Config<B>,
    app: &ConsensusApp<E>,
    scheme: ConsensusScheme,
    participants: Set<ConsensusKey>,
    epoch: Epoch,
    floor: BlockDigest,
    page_cache: CacheRef,
) -> EngineConfig<E, B>
where
    E: Spawner + Clock + Metrics + Send + Sync + 'static,
    B: Blocker<PublicKey = ConsensusKey>,
{
    let timeouts = config.timeouts;
    simplex::Config {
        scheme,
        elector: RoundRobin::<Sha256>::default(),
        blocker: config.blocker.clone(),
        automaton: app.clone(),
        relay: app.clone(),
        reporter: Reporters::from((app.clone(), config.slasher.for_participants(participants))),
        strategy: Sequential,
        partition: partition(&config.partition_prefix, epoch),
        mailbox_size: tuning::MAILBOX_SIZE,
        epoch,
        floor: Floor::Genesis(floor),
        replay_buffer: tuning::REPLAY_BUFFER_BYTES,
        write_buffer: tuning::WRITE_BUFFER_BYTES,
        page_cache,
        leader_timeout: timeouts.leader,
        certification_timeout: timeouts.certification,
        timeout_retry: timeouts.retry,
        view_retention: tuning::VIEW_RETENTION,
        // Skip a leader that stalls the chain for longer than a round of timeouts.
        skip: SkipPolicy::Enabled {
            timeout: timeouts.certification.max(timeouts.retry) + timeouts.leader,
            budget: SkipBudget::Participants,
        },
        fetch_timeout: NZDuration!(tuning::FETCH_TIMEOUT),
        fetch_retry_delay: tuning::FETCH_RETRY_DELAY,
        forward: ForwardPolicy::SilentVoters,
        // Keep votes after a view is certified, so that a conflicting vote arriving late is
        // still caught as evidence (until `VIEW_RETENTION` views later).
        track_historical_votes: true,
    }
}
