//! Running one validator as a process: the tokio runtime, authenticated TCP connections to
//! the other validators, consensus, the ledger on disk and the HTTP API.

use crate::block::Block;
use crate::chain::Chain;
use crate::config::{parse_key_hex, NodeConfig};
use crate::mempool::MempoolConfig;
use crate::rpc::{self, NetworkInfo, RpcState};
use crate::types::{
    self, channel, consensus_public_key, consensus_signer, tuning, ConsensusKey, Timeouts,
    TrackPeers,
};
use crate::validator::{self, Channels, ValidatorConfig};
use cairn_ledger::genesis::Genesis;
use cairn_ledger::Ledger;
use cairn_types::keys::SecretKey;
use commonware_cryptography::{ed25519, ChaCha20Poly1305, Signer};
use commonware_macros::select;
use commonware_p2p::authenticated::lookup;
use commonware_p2p::{Address, AddressableManager, AddressableTrackedPeers};
use commonware_runtime::{Metrics, Quota, Runner, Spawner, Supervisor};
use commonware_stream::cups::{self, Cups};
use commonware_stream::sake::{self, Sake};
use commonware_utils::ordered::{Map, Set};
use commonware_utils::{NZUsize, NZU32};
use std::sync::Arc;
use std::time::Duration;

/// Messages per second one peer may send on one channel, and the burst allowed above it.
/// commonware sizes each channel's queue as peers × burst (and the router's queue as the sum),
/// allocated up front: a burst of 10,000 cost 460 MiB per validator before any traffic.
const CHANNEL_QUOTA: Quota = Quota::per_second(NZU32!(1_000)).allow_burst(NZU32!(256));
/// How far a peer's clock may be from ours for its handshake to be accepted.
const HANDSHAKE_SYNCHRONY_BOUND: Duration = Duration::from_secs(5);
/// How old a handshake may be.
const HANDSHAKE_AGE_MAX: Duration = Duration::from_secs(10);
/// Pause before dialing a peer whose connection just ended.
const PEER_CONNECTION_COOLDOWN: Duration = Duration::from_secs(1);
/// Handshakes accepted per second from one IP address.
const HANDSHAKES_PER_IP: Quota = Quota::per_second(NZU32!(16));
/// How often missing peers are dialed.
const DIAL_INTERVAL: Duration = Duration::from_millis(500);

/// Why a node could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The genesis file is missing or invalid.
    #[error("genesis {path}: {error}")]
    Genesis {
        /// The file.
        path: String,
        /// The cause.
        error: String,
    },
    /// The ledger could not be opened or created.
    #[error("ledger in {path}: {error}")]
    Ledger {
        /// The directory.
        path: String,
        /// The cause.
        error: String,
    },
    /// The configuration does not fit the genesis.
    #[error("{0}")]
    Config(String),
    /// Consensus could not start.
    #[error("consensus: {0}")]
    Consensus(#[from] validator::StartError),
    /// The HTTP API could not start.
    #[error("rpc on {addr}: {error}")]
    Rpc {
        /// The address.
        addr: String,
        /// The cause.
        error: std::io::Error,
    },
    /// A part of the node stopped on its own.
    #[error("the node stopped: {0}")]
    Stopped(String),
}

/// Opens the ledger in `dir`, creating it from `genesis` on first start.
pub fn open_or_init_ledger(dir: &std::path::Path, genesis: &Genesis) -> Result<Ledger, NodeError> {
    let err = |error: String| NodeError::Ledger {
        path: dir.display().to_string(),
        error,
    };
    let ledger = if dir.join(cairn_ledger::ledger::STATE_FILE).exists() {
        Ledger::open(dir).map_err(|e| err(e.to_string()))?
    } else {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        Ledger::init(dir, genesis).map_err(|e| err(e.to_string()))?
    };
    if ledger.config().chain_id != genesis.chain.chain_id {
        return Err(err(format!(
            "holds chain `{}`, the genesis is for `{}`",
            ledger.config().chain_id,
            genesis.chain.chain_id
        )));
    }
    Ok(ledger)
}

/// The genesis block every validator derives from the genesis state.
pub fn genesis_block(ledger: &Ledger, genesis: &Genesis) -> Result<Block, NodeError> {
    let root = ledger.store().root_at(0).map_err(|e| NodeError::Ledger {
        path: ledger.store().path().display().to_string(),
        error: e.to_string(),
    })?;
    Ok(Block::genesis(
        root,
        genesis.genesis_time_ms,
        genesis.chain.protocol_version,
    ))
}

/// Everything a validator process needs, read and checked before the runtime starts.
struct Prepared {
    config: NodeConfig,
    /// The node key as the network's signer.
    signer: ed25519::PrivateKey,
    /// The node key, from which the node derives its seat keys.
    node_key: SecretKey,
    account_key: Option<SecretKey>,
    /// Every node this one may talk to: each epoch's validators among them are the primary
    /// peers, the others (future validators, followers) secondary ones.
    known: Map<ConsensusKey, Address>,
    chain: Arc<Chain>,
    genesis_block: Block,
    info: NetworkInfo,
}

/// Runs a validator until it fails or the process gets Ctrl-C / SIGTERM.
pub fn run(
    config: NodeConfig,
    consensus_key: SecretKey,
    account_key: Option<SecretKey>,
) -> Result<(), NodeError> {
    let prepared = prepare(config, consensus_key, account_key)?;
    let runtime = commonware_runtime::tokio::Config::new()
        .with_worker_threads(2)
        .with_storage_directory(prepared.config.data_dir.join("consensus"))
        .with_tcp_nodelay(Some(true));
    commonware_runtime::tokio::Runner::new(runtime).start(|context| serve(context, prepared))
}

/// Loads the genesis, the keys, the peers and the ledger, refusing what does not fit.
fn prepare(
    mut config: NodeConfig,
    consensus_key: SecretKey,
    account_key: Option<SecretKey>,
) -> Result<Prepared, NodeError> {
    let genesis = Genesis::load(&config.genesis).map_err(|e| NodeError::Genesis {
        path: config.genesis.display().to_string(),
        error: e.to_string(),
    })?;
    if let Some(open_files) = crate::fdlimit::raise_open_file_limit() {
        // Half the descriptors for the API: connections, subscribers, refusals.
        let budget = crate::fdlimit::api_connection_budget(open_files);
        if config.api.open_files() > budget {
            let others = config.api.open_files() - config.api.max_connections;
            let allowed = budget.saturating_sub(others).max(1);
            tracing::warn!(
                configured = config.api.max_connections,
                allowed,
                open_files,
                "node.api_connections_capped: half the open-file limit stays for consensus"
            );
            config.api.max_connections = allowed;
        }
    }
    let signer = consensus_signer(&consensus_key)
        .ok_or_else(|| NodeError::Config("the consensus key is not a valid ed25519 key".into()))?;
    let known = known_peers(&config, &signer.public_key())?;
    let mut ledger = open_or_init_ledger(&config.data_dir.join("ledger"), &genesis)?;
    ledger.set_sync_every_blocks(config.consensus.sync_every_blocks);
    let genesis_block = genesis_block(&ledger, &genesis)?;
    let mempool = MempoolConfig {
        max_transactions: config.mempool.max_transactions,
        max_bytes: config.mempool.max_bytes,
        ..MempoolConfig::default()
    };
    let interval_ms = genesis.chain.consensus.block_interval_ms;
    if config.consensus.leader_timeout_ms <= interval_ms {
        return Err(NodeError::Config(format!(
            "consensus.leader_timeout_ms ({}) must exceed the genesis block interval ({interval_ms} \
             ms): a leader waits that long before it proposes",
            config.consensus.leader_timeout_ms
        )));
    }
    let info = NetworkInfo {
        chain_id: genesis.chain.chain_id.to_string(),
        genesis_digest: commonware_cryptography::Digestible::digest(&genesis_block),
    };
    Ok(Prepared {
        config,
        signer,
        node_key: consensus_key,
        account_key,
        known,
        chain: Arc::new(Chain::new(ledger, mempool)),
        genesis_block,
        info,
    })
}

/// This node and the `[peers]` of its configuration, by consensus key.
fn known_peers(
    config: &NodeConfig,
    own: &ConsensusKey,
) -> Result<Map<ConsensusKey, Address>, NodeError> {
    let mut addresses = vec![(own.clone(), Address::from(config.p2p_listen))];
    for (text, addr) in &config.peers {
        let bytes = parse_key_hex(text).map_err(NodeError::Config)?;
        let key = consensus_public_key(&cairn_types::keys::PublicKey(bytes))
            .ok_or_else(|| NodeError::Config(format!("peer {text} is not an ed25519 key")))?;
        if key != *own {
            addresses.push((key, Address::from(*addr)));
        }
    }
    Ok(Map::from_iter_dedup(addresses))
}

/// The authenticated TCP network with one channel per kind of message.
type TcpNetwork = lookup::Network<
    commonware_runtime::tokio::Context,
    Cups<Sake<ed25519::PrivateKey>, ChaCha20Poly1305>,
>;

/// The authenticated TCP network of this node (not yet started) and its peer oracle.
fn p2p_network(
    context: &commonware_runtime::tokio::Context,
    prepared: &Prepared,
) -> (TcpNetwork, lookup::Oracle<ConsensusKey>) {
    let namespace = types::namespace(&prepared.info.chain_id);
    let max_message_size = types::max_message_size(&prepared.chain.rules().limits);
    let mut p2p_config = lookup::Config::recommended(
        Cups::<_, ChaCha20Poly1305>::new(
            Sake {
                signer: prepared.signer.clone(),
                synchrony_bound: HANDSHAKE_SYNCHRONY_BOUND,
                max_handshake_age: HANDSHAKE_AGE_MAX,
                version: sake::Version::V1,
            },
            cups::Version::V1,
        ),
        &namespace,
        prepared.config.p2p_listen,
        NZUsize!(prepared.known.len().max(1)),
        max_message_size,
        tuning::MAILBOX_SIZE,
    );
    // Validators on one host or one LAN talk over private addresses.
    p2p_config.allow_private_ips = true;
    p2p_config.peer_connection_cooldown = PEER_CONNECTION_COOLDOWN;
    p2p_config.allowed_handshake_rate_per_ip = HANDSHAKES_PER_IP;
    p2p_config.dial_frequency = DIAL_INTERVAL;
    lookup::Network::new(context.child("p2p"), p2p_config)
}

/// Starts the network, the validator and the HTTP API, then waits for a signal or a failure.
async fn serve(
    context: commonware_runtime::tokio::Context,
    prepared: Prepared,
) -> Result<(), NodeError> {
    let (mut network, oracle) = p2p_network(&context, &prepared);
    let mut register = |ch: u64| network.register(ch, CHANNEL_QUOTA);
    let channels = Channels {
        votes: register(channel::VOTES),
        certificates: register(channel::CERTIFICATES),
        resolver: register(channel::RESOLVER),
        broadcast: register(channel::BROADCAST),
        backfill: register(channel::BACKFILL),
    };
    let p2p_handle = network.start();
    let Prepared {
        config,
        signer: _,
        node_key,
        account_key,
        known,
        chain,
        genesis_block,
        info,
    } = prepared;
    let running = validator::start_validator(
        context.child("validator"),
        ValidatorConfig {
            node_key,
            chain_id: info.chain_id.clone(),
            genesis: genesis_block,
            partition_prefix: "cairn".to_string(),
            timeouts: timeouts(&config),
            reporter: account_key,
            track: track_known_peers(oracle.clone(), known),
        },
        chain.clone(),
        channels,
        oracle.clone(),
        oracle,
    )
    .await?;
    let rpc_handle = start_rpc(&context, &config, chain, running.marshal.clone(), info).await?;
    let mut handles = running.handles;
    handles.push(p2p_handle);
    handles.push(rpc_handle);
    let stopped = futures::future::select_all(handles);
    select! {
        _ = shutdown_signal() => {
            tracing::info!("node.shutdown");
            Ok(())
        },
        (result, index, _) = stopped => {
            Err(NodeError::Stopped(format!("task {index} ended: {result:?}")))
        },
    }
}

/// Consensus timing from the configuration.
fn timeouts(config: &NodeConfig) -> Timeouts {
    Timeouts {
        leader: Duration::from_millis(config.consensus.leader_timeout_ms),
        certification: Duration::from_millis(config.consensus.certification_timeout_ms),
        retry: Duration::from_millis(config.consensus.retry_timeout_ms),
    }
}

/// Binds the HTTP API and serves it on its own threads ([`rpc::server`]); the handle ends if
/// the server stops.
async fn start_rpc(
    context: &commonware_runtime::tokio::Context,
    config: &NodeConfig,
    chain: Arc<Chain>,
    marshal: crate::types::MarshalMailbox,
    info: NetworkInfo,
) -> Result<commonware_runtime::Handle<()>, NodeError> {
    let metrics_context = context.child("node");
    let state = RpcState::new(
        chain,
        marshal,
        info,
        Arc::new(move || metrics_context.encode()),
        config.api,
    );
    state.register_metrics(&context.child("cairn"));
    let rpc_error = |error| NodeError::Rpc {
        addr: config.rpc_listen.to_string(),
        error,
    };
    let listener = std::net::TcpListener::bind(config.rpc_listen).map_err(rpc_error)?;
    let stopped = rpc::server::spawn(listener, state).map_err(rpc_error)?;
    tracing::info!(rpc = %config.rpc_listen, p2p = %config.p2p_listen, "node.started");
    Ok(context.child("rpc").spawn(move |_| async move {
        let reason = stopped
            .await
            .unwrap_or_else(|_| "the API thread ended".to_string());
        tracing::error!(%reason, "node.rpc_stopped");
    }))
}

/// Tracks each epoch's validators among the `known` nodes as primary peers, the rest as
/// secondary ones (so that followers and future validators stay connected).
fn track_known_peers(
    oracle: lookup::Oracle<ConsensusKey>,
    known: Map<ConsensusKey, Address>,
) -> TrackPeers {
    Box::new(move |epoch, validators: &Set<ConsensusKey>| {
        let mut primary = Vec::new();
        let mut secondary = Vec::new();
        for (key, address) in known.iter_pairs() {
            if validators.position(key).is_some() {
                primary.push((key.clone(), address.clone()));
            } else {
                secondary.push((key.clone(), address.clone()));
            }
        }
        let missing = validators
            .iter()
            .filter(|v| known.position(v).is_none())
            .count();
        if missing > 0 {
            tracing::warn!(epoch, missing, "node.validators_without_address");
        }
        let peers = AddressableTrackedPeers::new(
            Map::from_iter_dedup(primary),
            Map::from_iter_dedup(secondary),
        );
        let _ = oracle.clone().track(epoch, peers);
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
