//! The configuration of one epoch's simplex engine.

use super::config::Config;
use super::ConsensusApp;
use crate::slasher::Slasher;
use crate::types::{tuning, BlockDigest, ConsensusKey, ConsensusScheme};
use crate::votes::VoteCollector;
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
    Reporters<ConsensusApp<E>, Reporters<Slasher, VoteCollector>>,
    Sequential,
>;

/// The journal partition of the engine of this node's `index`-th seat in `epoch` (deleted once
/// the epoch is over).
pub fn partition(prefix: &str, epoch: Epoch, index: usize) -> String {
    format!("{prefix}-simplex-{epoch}-{index}")
}

/// One engine of `epoch`: `scheme` signs for one seat (or only verifies) among `participants`,
/// blocking through `blocker`, starting on top of the block `floor`, keeping its votes in
/// `partition`.
pub fn engine_config<E, B, BB>(
    config: &Config<B>,
    app: &ConsensusApp<E>,
    (scheme, participants, blocker): (ConsensusScheme, Set<ConsensusKey>, BB),
    epoch: Epoch,
    floor: BlockDigest,
    (partition, page_cache): (String, CacheRef),
) -> EngineConfig<E, BB>
where
    E: Spawner + Clock + Metrics + Send + Sync + 'static,
    BB: Blocker<PublicKey = ConsensusKey>,
{
    let timeouts = config.timeouts;
    simplex::Config {
        scheme,
        elector: RoundRobin::<Sha256>::default(),
        blocker,
        automaton: app.clone(),
        relay: app.clone(),
        reporter: Reporters::from((
            app.clone(),
            Reporters::from((
                config.slasher.for_participants(participants),
                VoteCollector::new(config.votes.clone(), config.schemes.clone()),
            )),
        )),
        strategy: Sequential,
        partition,
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
