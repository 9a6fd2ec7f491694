//! Wiring one validator together: block broadcast and backfill, marshal (finalized blocks in
//! order, stored in archives), the finalizer that applies them to the ledger, the slasher, and
//! the orchestrator that runs one simplex engine per epoch.
//!
//! The wiring is generic over the runtime and the network, so the same code runs on the tokio
//! runtime over TCP (`cairn node`, see [`crate::run`]) and on commonware's deterministic
//! runtime over its simulated network (the whole-network tests).

use crate::app::CairnApp;
use crate::block::Block;
use crate::chain::Chain;
use crate::epochs::{EpochSchemes, LedgerEpocher};
use crate::finalizer::{self, Finalizer};
use crate::orchestrator::{self, Orchestrator};
use crate::slasher::{self, Slasher};
use crate::types::{
    namespace, now_ms, tuning, ConsensusKey, ConsensusScheme, MarshalMailbox, Timeouts, TrackPeers,
};
use crate::votes::VoteCache;
use commonware_broadcast::buffered;
use commonware_consensus::marshal::core::Actor as Marshal;
use commonware_consensus::marshal::resolver::p2p as marshal_resolver;
use commonware_consensus::marshal::{Config as MarshalConfig, Start};
use commonware_cryptography::certificate::Verifier as _;
use commonware_cryptography::{Digested, Digestible};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage, Supervisor};
use commonware_storage::archive::immutable;
use commonware_utils::ordered::Set;
use commonware_utils::{NZDuration, NZU64};
use rand_core::CryptoRng;
use std::sync::Arc;

/// What one validator needs to start.
pub struct ValidatorConfig {
    /// Its node key: its identity on the network, from which it derives its seat keys.
    pub node_key: cairn_types::keys::SecretKey,
    /// The chain id (the vote namespace).
    pub chain_id: String,
    /// The genesis block (every validator computes the same one).
    pub genesis: Block,
    /// Prefix of this validator's storage partitions.
    pub partition_prefix: String,
    /// Consensus timing.
    pub timeouts: Timeouts,
    /// The account key that signs reports of equivocation this validator detects (none: the
    /// evidence is only logged).
    pub reporter: Option<cairn_types::keys::SecretKey>,
    /// Tells the network layer each epoch's validators.
    pub track: TrackPeers,
}

/// One pair of network endpoints.
pub type Endpoints<S, R> = (S, R);

/// The five channels of one validator (see [`crate::types::channel`]).
pub struct Channels<S, R> {
    /// Votes.
    pub votes: Endpoints<S, R>,
    /// Certificates.
    pub certificates: Endpoints<S, R>,
    /// Consensus resolver.
    pub resolver: Endpoints<S, R>,
    /// Block broadcast.
    pub broadcast: Endpoints<S, R>,
    /// Marshal backfill.
    pub backfill: Endpoints<S, R>,
}

/// A running validator.
pub struct Running {
    /// Marshal's mailbox (finalized blocks and certificates by height).
    pub marshal: MarshalMailbox,
    /// The tasks; aborting them stops the validator.
    pub handles: Vec<Handle<()>>,
}

impl Running {
    /// Stops every task of the validator, as a crash would, and waits until they are gone
    /// (so that nothing holds the validator's state any more).
    pub async fn abort(self) {
        for handle in &self.handles {
            handle.abort();
        }
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}

/// Why a validator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A block or certificate archive could not be opened.
    #[error("opening the block archive: {0}")]
    Archive(String),
    /// The node key is not an ed25519 key commonware accepts.
    #[error("the node key is not a valid ed25519 key")]
    BadNodeKey,
}

/// Items per section of the archives (the unit in which they grow and are indexed).
const ARCHIVE_ITEMS_PER_SECTION: u64 = 1024;
/// Target size of one archive value file.
const ARCHIVE_VALUE_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Items per section of marshal's prunable stores (notarized blocks and certificates).
const PRUNABLE_ITEMS_PER_SECTION: u64 = 64;

fn archive_config<C: Clone>(
    prefix: &str,
    name: &str,
    page_cache: &CacheRef,
    codec_config: C,
) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: 64,
        freezer_table_resize_frequency: 10,
        freezer_table_resize_chunk_size: 10,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: ARCHIVE_VALUE_FILE_BYTES,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: NZU64!(ARCHIVE_ITEMS_PER_SECTION),
        codec_config,
        replay_buffer: tuning::REPLAY_BUFFER_BYTES,
        freezer_key_write_buffer: tuning::WRITE_BUFFER_BYTES,
        freezer_value_write_buffer: tuning::WRITE_BUFFER_BYTES,
        ordinal_write_buffer: tuning::WRITE_BUFFER_BYTES,
    }
}

/// Starts a validator on `context` over `channels`.
pub async fn start_validator<E, S, R, P, B>(
    context: E,
    config: ValidatorConfig,
    chain: Arc<Chain>,
    channels: Channels<S, R>,
    peer_provider: P,
    blocker: B,
) -> Result<Running, StartError>
where
    E: Spawner + Clock + Metrics + Storage + Supervisor + CryptoRng + Send + Sync + 'static,
    S: Sender<PublicKey = ConsensusKey>,
    R: Receiver<PublicKey = ConsensusKey>,
    P: Provider<PublicKey = ConsensusKey>,
    B: Blocker<PublicKey = ConsensusKey> + Sync,
{
    let epocher = LedgerEpocher::new(chain.ledger().config().blocks_per_epoch);
    let schemes = EpochSchemes::new(
        chain.clone(),
        namespace(&config.chain_id),
        config.node_key.clone(),
    )
    .ok_or(StartError::BadNodeKey)?;
    let public_key = schemes.me().clone();
    let resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        resolver_config(public_key.clone(), peer_provider.clone(), blocker.clone()),
        channels.backfill,
    );
    let (broadcast, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        broadcast_config(public_key, peer_provider, chain.rules().limits),
    );
    let broadcast_handle = broadcast.start(channels.broadcast);
    let genesis = config.genesis.digest();
    let limits = chain.rules().limits;
    let page_cache = tuning::page_cache();
    let prefix = &config.partition_prefix;
    // Finalization certificates and finalized blocks, kept for good.
    let finalizations = immutable::Archive::init(
        context.child("finalizations"),
        archive_config(
            prefix,
            "finalizations",
            &page_cache,
            ConsensusScheme::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .map_err(|e| StartError::Archive(e.to_string()))?;
    let blocks = immutable::Archive::init(
        context.child("blocks"),
        archive_config(prefix, "blocks", &page_cache, limits),
    )
    .await
    .map_err(|e| StartError::Archive(e.to_string()))?;
    let (marshal, mailbox, _floor) = Marshal::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal_config(&config, limits, &schemes, &epocher),
    )
    .await;
    let (finalizer, applier) = Finalizer::new();
    let marshal_handle = marshal.start(finalizer, buffer, resolver);
    let applier_handle = context.child("applier").spawn({
        let (chain, mailbox, schemes) = (chain.clone(), mailbox.clone(), schemes.clone());
        move |_| finalizer::run(chain, mailbox, schemes, applier)
    });
    let (slasher, mut handles) = start_slasher(&context, &chain, config.reporter);
    let votes = VoteCache::default();
    let engines_handle = start_orchestrator(
        &context,
        orchestrator::Config {
            application: CairnApp::new(
                chain.clone(),
                mailbox.clone(),
                schemes.clone(),
                votes.clone(),
            ),
            votes,
            chain,
            schemes,
            epocher,
            marshal: mailbox.clone(),
            slasher,
            blocker,
            track: config.track,
            genesis,
            partition_prefix: config.partition_prefix,
            timeouts: config.timeouts,
        },
        (channels.votes, channels.certificates, channels.resolver),
    );
    handles.extend([
        engines_handle,
        marshal_handle,
        applier_handle,
        broadcast_handle,
    ]);
    Ok(Running {
        marshal: mailbox,
        handles,
    })
}

/// How marshal fetches missing finalized blocks from peers.
fn resolver_config<P, B>(
    public_key: ConsensusKey,
    peer_provider: P,
    blocker: B,
) -> marshal_resolver::Config<ConsensusKey, P, B>
where
    P: Provider<PublicKey = ConsensusKey>,
    B: Blocker<PublicKey = ConsensusKey>,
{
    marshal_resolver::Config {
        public_key,
        peer_provider,
        blocker,
        mailbox_size: tuning::MAILBOX_SIZE,
        fetch_timeout: NZDuration!(tuning::BACKFILL_TIMEOUT),
        fetch_retry_delay: tuning::FETCH_RETRY_DELAY,
        priority_requests: false,
        priority_responses: false,
    }
}

/// How proposed blocks are broadcast to peers (and kept for marshal).
fn broadcast_config<P>(
    public_key: ConsensusKey,
    peer_provider: P,
    limits: crate::block::BlockLimits,
) -> buffered::Config<ConsensusKey, crate::block::BlockLimits, P, Sequential>
where
    P: Provider<PublicKey = ConsensusKey>,
{
    buffered::Config {
        public_key,
        mailbox_size: tuning::MAILBOX_SIZE,
        deque_size: tuning::BROADCAST_DEQUE_SIZE,
        priority: false,
        codec_config: limits,
        peer_provider,
        strategy: Sequential,
    }
}

/// The consensus channels of every epoch's engine: votes, certificates, resolver.
type ConsensusChannels<S, R> = (Endpoints<S, R>, Endpoints<S, R>, Endpoints<S, R>);

/// Starts the orchestrator's task. The engines and the application's tasks are spawned from
/// that task's own context, so they stop with it.
fn start_orchestrator<E, S, R, B>(
    context: &E,
    config: orchestrator::Config<B>,
    (votes, certificates, resolver): ConsensusChannels<S, R>,
) -> Handle<()>
where
    E: Spawner + Clock + Metrics + Storage + Supervisor + CryptoRng + Send + Sync + 'static,
    S: Sender<PublicKey = ConsensusKey>,
    R: Receiver<PublicKey = ConsensusKey>,
    B: Blocker<PublicKey = ConsensusKey> + Sync,
{
    context
        .child("epochs")
        .spawn(move |task| Orchestrator::new(task, config).run(votes, certificates, resolver))
}

/// Starts the task that turns the equivocation consensus reports into slashing transactions
/// signed by `reporter` (without one, evidence is only logged).
fn start_slasher<E>(
    context: &E,
    chain: &Arc<Chain>,
    reporter: Option<cairn_types::keys::SecretKey>,
) -> (Slasher, Vec<Handle<()>>)
where
    E: Spawner + Clock + Supervisor,
{
    let (slasher, evidence) = Slasher::new(Set::default());
    let Some(reporter) = reporter else {
        return (slasher, Vec::new());
    };
    let clock = context.child("slasher_clock");
    let chain = chain.clone();
    let handle = context
        .child("slasher")
        .spawn(move |_| slasher::run(chain, reporter, move || now_ms(&clock), evidence));
    (slasher, vec![handle])
}

/// Marshal's configuration: where it keeps blocks, how it checks them, where it starts.
fn marshal_config(
    config: &ValidatorConfig,
    limits: crate::block::BlockLimits,
    schemes: &EpochSchemes,
    epocher: &LedgerEpocher,
) -> MarshalConfig<EpochSchemes, LedgerEpocher, Sequential, Block, Digested<Block>> {
    let genesis = config.genesis.clone();
    let genesis_digest = genesis.digest();
    MarshalConfig {
        provider: schemes.clone(),
        epocher: epocher.clone(),
        start: Start::Genesis(Digested::precomputed(genesis, genesis_digest)),
        partition_prefix: format!("{}-marshal", config.partition_prefix),
        mailbox_size: tuning::MAILBOX_SIZE,
        view_retention: tuning::VIEW_RETENTION,
        prunable_items_per_section: NZU64!(PRUNABLE_ITEMS_PER_SECTION),
        page_cache: tuning::page_cache(),
        replay_buffer: tuning::REPLAY_BUFFER_BYTES,
        key_write_buffer: tuning::WRITE_BUFFER_BYTES,
        value_write_buffer: tuning::WRITE_BUFFER_BYTES,
        block_codec_config: limits,
        max_repair: tuning::REPAIRS_MAX,
        max_pending_acks: tuning::PENDING_ACKS_MAX,
        strategy: Sequential,
    }
}
