//! The orchestrator's loop: one engine per epoch, started when the ledger knows the epoch's
//! validators and stopped once this node has applied the epoch's last block.

use super::config::Config;
use super::engine::{engine_config, partition};
use super::ConsensusApp;
use crate::epochs::EpochSet;
use crate::seat_router::{self, Inboxes, SeatBlocker, SeatReceiver, SeatSender};
use crate::types::{tuning, BlockDigest, ConsensusKey, ConsensusScheme};
use commonware_consensus::marshal::standard::Inline;
use commonware_consensus::simplex;
use commonware_consensus::types::{Epoch, EpochInfo, Epocher, Height};
use commonware_cryptography::Digestible;
use commonware_macros::select;
use commonware_p2p::utils::mux::{Builder as _, MuxHandle, Muxer};
use commonware_p2p::utils::mux::{SubReceiver, SubSender};
use commonware_p2p::{Blocker, Message, Receiver, Sender};
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage, Supervisor};
use commonware_utils::channel::mpsc;
use commonware_utils::vec::NonEmptyVec;
use rand_core::CryptoRng;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Messages the muxer could not route to a running engine: `(epoch, (sender, bytes))`.
type Unrouted = mpsc::Receiver<(u64, Message<ConsensusKey>)>;

/// The consensus channels, multiplexed by epoch.
struct EpochChannels<S: Sender> {
    votes: MuxHandle<S>,
    certificates: MuxHandle<S>,
    resolver: MuxHandle<S>,
    /// Votes and certificates for epochs no engine here runs (a peer ahead, or behind).
    unrouted_votes: Unrouted,
    unrouted_certificates: Unrouted,
}

/// How an epoch's engine ended.
enum EpochEnd {
    /// This node applied the epoch's last block.
    Done,
    /// The node is stopping (a channel or the engine closed).
    Stopped,
}

/// Runs the engines; see the module documentation of [`crate::orchestrator`].
pub struct Orchestrator<E, B>
where
    E: Spawner + Clock + Metrics + Send + Sync + 'static,
{
    context: E,
    config: Config<B>,
    /// The page cache every engine's journal shares.
    page_cache: CacheRef,
}

impl<E, B> Orchestrator<E, B>
where
    E: Spawner + Clock + Metrics + Storage + Supervisor + CryptoRng + Send + Sync + 'static,
    B: Blocker<PublicKey = ConsensusKey> + Sync,
{
    /// An orchestrator running its engines under `context` (a task's own context, so that
    /// everything it starts stops with that task).
    pub fn new(context: E, config: Config<B>) -> Self {
        Orchestrator {
            context,
            config,
            page_cache: tuning::page_cache(),
        }
    }

    /// Runs engines epoch after epoch until the node stops or a part of it fails.
    pub async fn run<S, R>(mut self, votes: (S, R), certificates: (S, R), resolver: (S, R))
    where
        S: Sender<PublicKey = ConsensusKey>,
        R: Receiver<PublicKey = ConsensusKey>,
    {
        let mut channels = self.multiplex(votes, certificates, resolver);
        let app = Inline::new(
            self.context.child("application"),
            self.config.application.clone(),
            self.config.marshal.clone(),
            self.config.epocher.clone(),
        );
        // The journal of the epoch before the first one run here, if a crash left it behind.
        let mut previous = self.next_epoch().and_then(|info| info.epoch().previous());
        loop {
            let Some(info) = self.next_epoch() else {
                tracing::error!("node.epoch_unknown");
                return;
            };
            if let Some(done) = previous.take() {
                self.retire(done).await;
            }
            let Some(engines) = self.enter(info.epoch(), &app, &mut channels).await else {
                return;
            };
            match self.run_epoch(&info, engines, &mut channels).await {
                EpochEnd::Done => previous = Some(info.epoch()),
                EpochEnd::Stopped => return,
            }
        }
    }

    /// Starts the muxers that split each consensus channel by epoch.
    fn multiplex<S, R>(
        &self,
        votes: (S, R),
        certificates: (S, R),
        resolver: (S, R),
    ) -> EpochChannels<S>
    where
        S: Sender<PublicKey = ConsensusKey>,
        R: Receiver<PublicKey = ConsensusKey>,
    {
        let (mux, votes, unrouted_votes) =
            Muxer::builder(self.context.child("vote_mux"), votes.0, votes.1)
                .with_backup()
                .build();
        mux.start();
        let (mux, certificates, unrouted_certificates) = Muxer::builder(
            self.context.child("certificate_mux"),
            certificates.0,
            certificates.1,
        )
        .with_backup()
        .build();
        mux.start();
        let (mux, resolver) =
            Muxer::new(self.context.child("resolver_mux"), resolver.0, resolver.1);
        mux.start();
        EpochChannels {
            votes,
            certificates,
            resolver,
            unrouted_votes,
            unrouted_certificates,
        }
    }

    /// The epoch of the next block this node will apply: the ledger has applied the last
    /// block of the one before, so it knows this epoch's validators.
    fn next_epoch(&self) -> Option<EpochInfo> {
        let next = Height::new(self.config.chain.head().height + 1);
        self.config.epocher.containing(next)
    }

    /// Starts `epoch`'s engines: one per seat this node holds (or one that only follows, when
    /// it holds none), behind a seat router per consensus channel.
    async fn enter<S>(
        &mut self,
        epoch: Epoch,
        app: &ConsensusApp<E>,
        channels: &mut EpochChannels<S>,
    ) -> Option<Vec<Handle<()>>>
    where
        S: Sender<PublicKey = ConsensusKey>,
    {
        let Some(set) = self.config.schemes.set(epoch) else {
            tracing::error!(%epoch, "node.epoch_without_validators");
            return None;
        };
        let floor = self.floor(epoch).await?;
        (self.config.track)(epoch.get(), &set.nodes);
        let (Ok(votes), Ok(certificates), Ok(resolver)) = (
            channels.votes.register(epoch.get()).await,
            channels.certificates.register(epoch.get()).await,
            channels.resolver.register(epoch.get()).await,
        ) else {
            tracing::debug!(%epoch, "node.consensus_channels_closed");
            return None;
        };
        // A node holding no seat follows with one engine that only verifies, speaking for itself.
        let engines: Vec<(ConsensusKey, Arc<ConsensusScheme>)> = if set.seats.is_empty() {
            vec![(self.config.schemes.me().clone(), set.verifier.clone())]
        } else {
            set.seats.clone()
        };
        let seats: Vec<ConsensusKey> = engines.iter().map(|(seat, _)| seat.clone()).collect();
        let mut handles = Vec::new();
        let (votes, vote_inboxes) = self.route(&set, &seats, votes, &mut handles);
        let (certificates, certificate_inboxes) =
            self.route(&set, &seats, certificates, &mut handles);
        let (resolver, resolver_inboxes) = self.route(&set, &seats, resolver, &mut handles);
        let blocker = SeatBlocker::new(self.config.blocker.clone(), set.hosts.clone());
        for (index, ((seat, scheme), ((vote_rx, cert_rx), res_rx))) in engines
            .into_iter()
            .zip(
                vote_inboxes
                    .into_iter()
                    .zip(certificate_inboxes)
                    .zip(resolver_inboxes),
            )
            .enumerate()
        {
            let engine = simplex::Engine::new(
                self.context
                    .child("simplex")
                    .with_attribute("epoch", epoch)
                    .with_attribute("seat", index),
                engine_config(
                    &self.config,
                    app,
                    (
                        scheme.as_ref().clone(),
                        set.participants.clone(),
                        blocker.clone(),
                    ),
                    epoch,
                    floor,
                    (
                        partition(&self.config.partition_prefix, epoch, index),
                        self.page_cache.clone(),
                    ),
                ),
            );
            let sender = |inner: &SubSender<S>, inboxes: &Inboxes| {
                SeatSender::new(
                    inner.clone(),
                    seat.clone(),
                    set.hosts.clone(),
                    inboxes.clone(),
                )
            };
            handles.push(engine.start(
                (sender(&votes.0, &votes.1), vote_rx),
                (sender(&certificates.0, &certificates.1), cert_rx),
                (sender(&resolver.0, &resolver.1), res_rx),
            ));
        }
        tracing::info!(
            %epoch,
            seats = set.participants.len(),
            validators = set.nodes.len(),
            mine = set.seats.len(),
            "node.epoch_entered"
        );
        Some(handles)
    }

    /// Starts the router of one consensus channel of an epoch: the engines of `seats` get a
    /// receiver each (in `seats` order); returns the channel's sender and the engines' inboxes.
    fn route<S>(
        &self,
        set: &EpochSet,
        seats: &[ConsensusKey],
        (sender, receiver): (SubSender<S>, SubReceiver<ConsensusKey>),
        handles: &mut Vec<Handle<()>>,
    ) -> ((SubSender<S>, Inboxes), Vec<SeatReceiver>)
    where
        S: Sender<PublicKey = ConsensusKey>,
    {
        let capacity = receiver.capacity();
        let mut inboxes = BTreeMap::new();
        let mut receivers = Vec::with_capacity(seats.len());
        for seat in seats {
            let (tx, rx) = mpsc::channel(capacity.get());
            inboxes.insert(seat.clone(), tx);
            receivers.push(SeatReceiver::new(rx, capacity));
        }
        let inboxes: Inboxes = Arc::new(inboxes);
        let hosts = set.hosts.clone();
        let blocker = self.config.blocker.clone();
        let routed = inboxes.clone();
        handles.push(
            self.context
                .child("seat_router")
                .spawn(move |_| seat_router::route(receiver, hosts, routed, blocker)),
        );
        ((sender, inboxes), receivers)
    }

    /// The block `epoch`'s engine builds on: the genesis, or the last block of the epoch before.
    async fn floor(&self, epoch: Epoch) -> Option<BlockDigest> {
        let Some(boundary) = epoch.previous().and_then(|e| self.config.epocher.last(e)) else {
            return Some(self.config.genesis);
        };
        match self.config.marshal.get_block(boundary).await {
            Some(block) => Some(block.digest()),
            None => {
                tracing::error!(%boundary, "node.epoch_boundary_block_missing");
                None
            }
        }
    }

    /// Runs `info`'s engine until this node has applied the epoch's last block, telling marshal
    /// about peers that are ahead on the way.
    async fn run_epoch<S>(
        &self,
        info: &EpochInfo,
        handles: Vec<Handle<()>>,
        channels: &mut EpochChannels<S>,
    ) -> EpochEnd
    where
        S: Sender<PublicKey = ConsensusKey>,
    {
        let epoch = info.epoch();
        let ended = self.config.chain.wait_applied(info.last().get());
        futures::pin_mut!(ended);
        // Any engine or router of the epoch stopping on its own means the node is stopping.
        let mut any_stopped = futures::future::select_all(handles);
        let end = loop {
            select! {
                _ = &mut ended => break EpochEnd::Done,
                message = channels.unrouted_votes.recv() => match message {
                    Some((theirs, (from, _))) => self.hint(epoch, theirs, from),
                    None => break EpochEnd::Stopped,
                },
                message = channels.unrouted_certificates.recv() => match message {
                    Some((theirs, (from, _))) => self.hint(epoch, theirs, from),
                    None => break EpochEnd::Stopped,
                },
                (result, _, _) = &mut any_stopped => {
                    tracing::error!(%epoch, ?result, "node.consensus_engine_stopped");
                    break EpochEnd::Stopped;
                },
            }
        };
        for handle in any_stopped.into_inner() {
            handle.abort();
            let _ = handle.await;
        }
        end
    }

    /// A peer sent a message of epoch `theirs` while this node is in `ours`: if it is ahead,
    /// fetch the finalization of this epoch's last block from it.
    fn hint(&self, ours: Epoch, theirs: u64, from: ConsensusKey) {
        if theirs <= ours.get() {
            return;
        }
        if let Some(last) = self.config.epocher.last(ours) {
            tracing::debug!(%ours, theirs, %last, "node.epoch_behind_peer");
            self.config
                .marshal
                .hint_finalized(last, NonEmptyVec::new(from));
        }
    }

    /// Drops the journal of an epoch whose last block is applied durably: its engine never
    /// runs again.
    async fn retire(&self, epoch: Epoch) {
        if let Err(error) = self.config.chain.ledger().flush() {
            // Keep the journal: the node may restart inside that epoch.
            tracing::warn!(%error, %epoch, "node.ledger_flush_failed");
            return;
        }
        // One journal per engine the epoch ran: one per seat held, or the follower's.
        let engines = self
            .config
            .schemes
            .set(epoch)
            .map_or(1, |set| set.seats.len().max(1));
        for index in 0..engines {
            let name = partition(&self.config.partition_prefix, epoch, index);
            if let Err(error) = self.context.remove(&name, None).await {
                tracing::debug!(%error, %epoch, "node.epoch_journal_not_removed");
            }
        }
    }
}
