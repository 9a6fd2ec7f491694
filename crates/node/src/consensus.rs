//! Wiring one validator together: simplex consensus (votes, certificates), marshal (finalized
//! blocks in order, backfill, block broadcast), Cairn's application, and the finalizer that
//! applies each finalized block to the ledger.
//!
//! The wiring is generic over the runtime and the network, so the same code runs on the tokio
//! runtime over TCP (`cairn node`) and on commonware's deterministic runtime over its simulated
//! network (the whole-network tests).

use crate::app::now_ms;
use crate::app::CairnApp;
use crate::block::Block;
use crate::chain::Chain;
use crate::epochs::{EpochSchemes, LedgerEpocher};
use crate::finalizer::{self, Finalizer};
use crate::orchestrator::{Orchestrator, TrackPeers};
use crate::slasher::{self, Slasher};
use commonware_broadcast::buffered;
use commonware_consensus::marshal::core::Actor as Marshal;
use commonware_consensus::marshal::resolver::p2p as marshal_resolver;
use commonware_consensus::marshal::standard::{Inline, Standard};
use commonware_consensus::marshal::{Config as MarshalConfig, Start};
use commonware_consensus::simplex;
use commonware_consensus::types::ViewDelta;
use commonware_cryptography::ed25519;
use commonware_cryptography::Digestible;
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage, Supervisor};
use commonware_storage::archive::immutable;
use commonware_utils::ordered::Set;
use commonware_utils::{NZDuration, NZUsize, NZU16, NZU64};
use rand_core::CryptoRng;
use std::sync::Arc;
use std::time::Duration;

/// The signing scheme of consensus votes: ed25519, so that each vote is attributable and a
/// double vote is evidence anyone can check.
pub type ConsensusScheme = simplex::scheme::ed25519::Scheme;
/// A validator's consensus (and network) identity.
pub type ConsensusKey = ed25519::PublicKey;
/// What consensus tells the application about a round.
pub type ConsensusContext =
    simplex::types::Context<commonware_cryptography::blake3::Digest, ConsensusKey>;
/// A block's digest.
pub type BlockDigest = commonware_cryptography::blake3::Digest;
/// Marshal's mailbox for Cairn blocks.
pub type MarshalMailbox =
    commonware_consensus::marshal::core::Mailbox<ConsensusScheme, Standard<Block>>;

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

/// The consensus namespace of a chain: votes signed for one chain are worthless on another.
pub fn namespace(chain_id: &str) -> Vec<u8> {
    cairn_types::evidence::consensus_namespace(chain_id)
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

/// What one validator needs to start.
pub struct ValidatorConfig {
    /// Its consensus signing key.
    pub signer: ed25519::PrivateKey,
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

/// The most validators one epoch can have for messages to fit [`max_message_size`].
pub const MAX_PARTICIPANTS: u32 = 1024;

/// Room for the epoch number consensus messages are prefixed with (a varint).
const EPOCH_PREFIX_BYTES: usize = 10;

/// The bound on any message on the network, the same on every node: certificates of up to
/// [`MAX_PARTICIPANTS`] signers, or a block at `limits`.
pub fn max_message_size(limits: &crate::block::BlockLimits) -> u32 {
    let consensus = simplex::max_payload_size::<ConsensusScheme, BlockDigest>(MAX_PARTICIPANTS)
        + EPOCH_PREFIX_BYTES;
    let marshal = commonware_consensus::marshal::max_payload_size::<Standard<Block>, ConsensusScheme>(
        MAX_PARTICIPANTS,
        limits,
    );
    u32::try_from(consensus.max(marshal)).unwrap_or(u32::MAX)
}

/// One pair of network endpoints.
pub type Endpoints<S, R> = (S, R);

/// The five channels of one validator (see [`channel`]).
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
        freezer_value_target_size: 64 * 1024 * 1024,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: NZU64!(1024),
        codec_config,
        replay_buffer: NZUsize!(1 << 16),
        freezer_key_write_buffer: NZUsize!(1 << 16),
        freezer_value_write_buffer: NZUsize!(1 << 16),
        ordinal_write_buffer: NZUsize!(1 << 16),
    }
}

/// Why a validator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A block or certificate archive could not be opened.
    #[error("opening the block archive: {0}")]
    Archive(String),
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
    use commonware_cryptography::Signer as _;
    let public_key = config.signer.public_key();
    let namespace = namespace(&config.chain_id);
    let limits = chain.rules().limits;
    let prefix = config.partition_prefix;
    let page_cache = CacheRef::new(NZU16!(4096), NZUsize!(1024));
    let mailbox_size = NZUsize!(1024);
    let epocher = LedgerEpocher::new(chain.ledger().config().blocks_per_epoch);
    let schemes = EpochSchemes::new(chain.clone(), namespace, config.signer);

    let resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: public_key.clone(),
            peer_provider: peer_provider.clone(),
            blocker: blocker.clone(),
            mailbox_size,
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(200),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );
    let (broadcast, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: public_key.clone(),
            mailbox_size,
            deque_size: 16,
            priority: false,
            codec_config: limits,
            peer_provider: peer_provider.clone(),
            strategy: Sequential,
        },
    );
    let broadcast_handle = broadcast.start(channels.broadcast);

    let certificate_codec = <ConsensusScheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config_unbounded();
    let finalizations = immutable::Archive::init(
        context.child("finalizations"),
        archive_config(&prefix, "finalizations", &page_cache, certificate_codec),
    )
    .await
    .map_err(|e| StartError::Archive(e.to_string()))?;
    let blocks = immutable::Archive::init(
        context.child("blocks"),
        archive_config(&prefix, "blocks", &page_cache, limits),
    )
    .await
    .map_err(|e| StartError::Archive(e.to_string()))?;
    let genesis_digest = config.genesis.digest();
    let (marshal, mailbox, _floor) = Marshal::init(
        context.child("marshal"),
        finalizations,
        blocks,
        MarshalConfig {
            provider: schemes.clone(),
            epocher: epocher.clone(),
            start: Start::Genesis(commonware_cryptography::Digested::precomputed(
                config.genesis,
                genesis_digest,
            )),
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size,
            view_retention: ViewDelta::new(64),
            prunable_items_per_section: NZU64!(64),
            page_cache: page_cache.clone(),
            replay_buffer: NZUsize!(1 << 16),
            key_write_buffer: NZUsize!(1 << 16),
            value_write_buffer: NZUsize!(1 << 16),
            block_codec_config: limits,
            max_repair: NZUsize!(32),
            max_pending_acks: NZUsize!(16),
            strategy: Sequential,
        },
    )
    .await;
    let (finalizer, applier) = Finalizer::new();
    let marshal_handle = marshal.start(finalizer, buffer, resolver);
    let applier_handle = context.child("applier").spawn({
        let chain = chain.clone();
        let mailbox = mailbox.clone();
        move |_| finalizer::run(chain, mailbox, applier)
    });

    let app = Inline::new(
        context.child("application"),
        CairnApp::new(chain.clone()),
        mailbox.clone(),
        epocher.clone(),
    );
    let (slasher, evidence) = Slasher::new(Set::default());
    let mut handles = Vec::new();
    if let Some(reporter) = config.reporter {
        let clock = context.child("slasher_clock");
        handles.push(context.child("slasher").spawn({
            let chain = chain.clone();
            move |_| slasher::run(chain, reporter, move || now_ms(&clock), evidence)
        }));
    }
    let orchestrator = Orchestrator {
        context: context.child("consensus"),
        chain,
        schemes,
        epocher,
        marshal: mailbox.clone(),
        app,
        slasher,
        blocker,
        track: config.track,
        genesis: genesis_digest,
        partition_prefix: prefix,
        timeouts: config.timeouts,
    };
    // The engines are spawned from the task's own context, so they stop with it.
    let engines_handle = context.child("epochs").spawn(move |task| {
        let orchestrator = Orchestrator {
            context: task,
            ..orchestrator
        };
        orchestrator.run(channels.votes, channels.certificates, channels.resolver)
    });
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
