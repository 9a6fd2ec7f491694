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

use crate::app::CairnApp;
use crate::block::Block;
use crate::chain::Chain;
use crate::consensus::{BlockDigest, ConsensusKey, ConsensusScheme, MarshalMailbox, Timeouts};
use crate::epochs::{EpochSchemes, LedgerEpocher};
use crate::slasher::Slasher;
use commonware_consensus::marshal::standard::Inline;
use commonware_consensus::simplex::elector::RoundRobin;
use commonware_consensus::simplex::{self, Floor, ForwardPolicy, SkipBudget, SkipPolicy};
use commonware_consensus::types::{Epoch, Epocher, Height, ViewDelta};
use commonware_consensus::Reporters;
use commonware_cryptography::sha256::Sha256;
use commonware_cryptography::Digestible;
use commonware_p2p::utils::mux::{Builder as _, Muxer};
use commonware_p2p::{Blocker, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Clock, Metrics, Spawner, Storage, Supervisor};
use commonware_utils::ordered::Set;
use commonware_utils::vec::NonEmptyVec;
use commonware_utils::{NZDuration, NZUsize, NZU16};
use rand_core::CryptoRng;
use std::sync::Arc;
use std::time::Duration;

/// The consensus application every epoch's engine drives (marshal's inline wrapper).
pub type ConsensusApp<E> = Inline<E, ConsensusScheme, CairnApp, Block, LedgerEpocher>;

/// Tells the network layer which peers validate in an epoch (called once per epoch, in order).
pub type TrackPeers = Box<dyn FnMut(u64, &Set<ConsensusKey>) + Send + Sync>;

/// What every epoch's engine shares.
pub struct Orchestrator<E, B>
where
    E: Spawner + Clock + Metrics + Send + Sync + 'static,
{
    /// The runtime context the engines run under.
    pub context: E,
    /// This validator's state.
    pub chain: Arc<Chain>,
    /// Each epoch's validators and schemes.
    pub schemes: EpochSchemes,
    /// Where epochs end.
    pub epocher: LedgerEpocher,
    /// Marshal (boundary blocks, hints).
    pub marshal: MarshalMailbox,
    /// The application, relay and reporter of every engine.
    pub app: ConsensusApp<E>,
    /// Turns conflicting votes into slashing evidence.
    pub slasher: Slasher,
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

/// The configuration of one epoch's simplex engine.
type EngineConfig<E, B> = simplex::Config<
    ConsensusScheme,
    RoundRobin<Sha256>,
    B,
    BlockDigest,
    ConsensusApp<E>,
    ConsensusApp<E>,
    Reporters<ConsensusApp<E>, Slasher>,
    Sequential,
>;

/// The journal partition of `epoch`'s engine.
fn partition(prefix: &str, epoch: Epoch) -> String {
    format!("{prefix}-simplex-{epoch}")
}

impl<E, B> Orchestrator<E, B>
where
    E: Spawner + Clock + Metrics + Storage + Supervisor + CryptoRng + Send + Sync + 'static,
    B: Blocker<PublicKey = ConsensusKey> + Sync,
{
    /// Runs engines epoch after epoch until the node stops or a part of it fails.
    pub async fn run<S, R>(mut self, votes: (S, R), certificates: (S, R), resolver: (S, R))
    where
        S: Sender<PublicKey = ConsensusKey>,
        R: Receiver<PublicKey = ConsensusKey>,
    {
        let (mux, mut votes, mut vote_backup) =
            Muxer::builder(self.context.child("vote_mux"), votes.0, votes.1)
                .with_backup()
                .build();
        mux.start();
        let (mux, mut certificates, mut certificate_backup) = Muxer::builder(
            self.context.child("certificate_mux"),
            certificates.0,
            certificates.1,
        )
        .with_backup()
        .build();
        mux.start();
        let (mux, mut resolver) =
            Muxer::new(self.context.child("resolver_mux"), resolver.0, resolver.1);
        mux.start();
        let page_cache = CacheRef::new(NZU16!(4096), NZUsize!(1024));
        // The journal of the epoch before the first one run here, if a crash left it behind.
        let mut previous = self
            .epocher
            .containing(Height::new(self.chain.head().height + 1))
            .and_then(|info| info.epoch().previous());

        loop {
            // The epoch of the next block this node will apply: the ledger has applied the
            // last block of the one before, so it knows this epoch's validators.
            let next = Height::new(self.chain.head().height + 1);
            let Some(info) = self.epocher.containing(next) else {
                tracing::error!(%next, "node.epoch_unknown");
                return;
            };
            let epoch = info.epoch();
            if let Some(done) = previous.take() {
                self.retire(done).await;
            }
            let Some(set) = self.schemes.set(epoch) else {
                tracing::error!(%epoch, "node.epoch_without_validators");
                return;
            };
            let floor = match epoch.previous().and_then(|e| self.epocher.last(e)) {
                None => self.genesis,
                Some(boundary) => match self.marshal.get_block(boundary).await {
                    Some(block) => block.digest(),
                    None => {
                        tracing::error!(%boundary, "node.epoch_boundary_block_missing");
                        return;
                    }
                },
            };
            (self.track)(epoch.get(), &set.participants);
            let signing = set.signer.is_some();
            let scheme = set.signer.clone().unwrap_or_else(|| set.verifier.clone());
            let engine = simplex::Engine::new(
                self.context.child("simplex").with_attribute("epoch", epoch),
                self.engine_config(
                    scheme.as_ref().clone(),
                    set.participants.clone(),
                    epoch,
                    floor,
                    page_cache.clone(),
                ),
            );
            let (Ok(v), Ok(c), Ok(r)) = (
                votes.register(epoch.get()).await,
                certificates.register(epoch.get()).await,
                resolver.register(epoch.get()).await,
            ) else {
                tracing::debug!(%epoch, "node.consensus_channels_closed");
                return;
            };
            let mut handle = engine.start(v, c, r);
            tracing::info!(
                %epoch,
                validators = set.participants.len(),
                signing,
                "node.epoch_entered"
            );
            let last = info.last();
            let ended = self.chain.wait_applied(last.get());
            futures::pin_mut!(ended);
            loop {
                tokio::select! {
                    _ = &mut ended => break,
                    message = vote_backup.recv() => match message {
                        Some((theirs, (from, _))) => self.hint(epoch, theirs, from),
                        None => return,
                    },
                    message = certificate_backup.recv() => match message {
                        Some((theirs, (from, _))) => self.hint(epoch, theirs, from),
                        None => return,
                    },
                    result = &mut handle => {
                        tracing::error!(%epoch, ?result, "node.consensus_engine_stopped");
                        return;
                    }
                }
            }
            handle.abort();
            let _ = handle.await;
            previous = Some(epoch);
        }
    }

    /// A peer sent a message of epoch `theirs` while this node is in `ours`: if it is ahead,
    /// fetch the finalization of this epoch's last block from it.
    fn hint(&self, ours: Epoch, theirs: u64, from: ConsensusKey) {
        if theirs <= ours.get() {
            return;
        }
        if let Some(last) = self.epocher.last(ours) {
            tracing::debug!(%ours, theirs, %last, "node.epoch_behind_peer");
            self.marshal.hint_finalized(last, NonEmptyVec::new(from));
        }
    }

    /// Drops the journal of an epoch whose last block is applied durably: its engine never
    /// runs again.
    async fn retire(&self, epoch: Epoch) {
        if let Err(error) = self.chain.ledger().flush() {
            // Keep the journal: the node may restart inside that epoch.
            tracing::warn!(%error, %epoch, "node.ledger_flush_failed");
            return;
        }
        let name = partition(&self.partition_prefix, epoch);
        if let Err(error) = self.context.remove(&name, None).await {
            tracing::debug!(%error, %epoch, "node.epoch_journal_not_removed");
        }
    }

    fn engine_config(
        &self,
        scheme: ConsensusScheme,
        participants: Set<ConsensusKey>,
        epoch: Epoch,
        floor: BlockDigest,
        page_cache: CacheRef,
    ) -> EngineConfig<E, B> {
        let timeouts = self.timeouts;
        simplex::Config {
            scheme,
            elector: RoundRobin::<Sha256>::default(),
            blocker: self.blocker.clone(),
            automaton: self.app.clone(),
            relay: self.app.clone(),
            reporter: Reporters::from((
                self.app.clone(),
                self.slasher.for_participants(participants),
            )),
            strategy: Sequential,
            partition: partition(&self.partition_prefix, epoch),
            mailbox_size: NZUsize!(1024),
            epoch,
            floor: Floor::Genesis(floor),
            replay_buffer: NZUsize!(1 << 16),
            write_buffer: NZUsize!(1 << 16),
            page_cache,
            leader_timeout: timeouts.leader,
            certification_timeout: timeouts.certification,
            timeout_retry: timeouts.retry,
            view_retention: ViewDelta::new(64),
            skip: SkipPolicy::Enabled {
                timeout: timeouts.certification.max(timeouts.retry) + timeouts.leader,
                budget: SkipBudget::Participants,
            },
            fetch_timeout: NZDuration!(Duration::from_secs(1)),
            fetch_retry_delay: Duration::from_millis(200),
            forward: ForwardPolicy::SilentVoters,
            track_historical_votes: false,
        }
    }
}
