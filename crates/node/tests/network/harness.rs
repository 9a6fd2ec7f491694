//! A whole Cairn network on commonware's deterministic runtime and simulated network: real
//! ledgers (each in its own directory), real consensus, real marshal, simulated links.

use cairn_ledger::genesis::Genesis;
use cairn_ledger::store::faulty::Faults;
use cairn_ledger::testkit::{self, TEST_GENESIS_TIME_MS};
use cairn_ledger::Ledger;
use cairn_node::block::Block;
use cairn_node::chain::{Chain, ChainRules};
use cairn_node::mempool::MempoolConfig;
use cairn_node::seat_router::{self, SeatMap, SeatReceiver, SeatSender};
use cairn_node::types::{self, channel, ConsensusKey, Timeouts};
use cairn_node::validator::{self, Channels, Running, ValidatorConfig};
use cairn_types::validator_keys::ValidatorKeys;
use cairn_types::{Amount, SecretKey};
use commonware_cryptography::ed25519::PrivateKey;
use commonware_cryptography::Signer;
use commonware_p2p::simulated::{self, Link, Oracle};
use commonware_runtime::{deterministic, Clock, Quota, Spawner, Supervisor};
use commonware_utils::{ordered::Set, NZUsize, NZU32};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// How many epochs an equivocator keeps sending conflicting votes in.
const EQUIVOCATING_EPOCHS: u64 = 16;

/// The stake one seat stands for in [`Network::with_seats`].
pub(crate) const SEAT_STAKE: Amount = Amount::tokens(10_000);

/// Messages per second each peer may send on each channel.
const QUOTA: Quota = Quota::per_second(NZU32!(10_000));

/// A good link.
pub(crate) fn link(latency_ms: u64, jitter_ms: u64, success_percent: u64) -> Link {
    Link {
        latency: Duration::from_millis(latency_ms),
        jitter: Duration::from_millis(jitter_ms),
        success_rate: commonware_utils::Probability::new(success_percent.min(100), 100)
            .expect("a probability"),
    }
}

/// The runtime configuration of a simulation run.
pub(crate) fn runtime(seed: u64, timeout_secs: u64) -> deterministic::Config {
    deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(timeout_secs)))
        .with_start_time(UNIX_EPOCH + Duration::from_millis(TEST_GENESIS_TIME_MS))
}

/// One validator of the simulated network.
pub(crate) struct Node {
    /// Its signing key.
    pub key: PrivateKey,
    /// Its chain state.
    pub chain: Arc<Chain>,
    /// Its running tasks, if it is up.
    pub running: Option<Running>,
    /// Where its ledger lives.
    pub dir: PathBuf,
    /// The faults its disk injects, when it runs on a fault-injecting disk.
    pub faults: Option<Faults>,
}

/// The whole network.
pub(crate) struct Network {
    /// The simulated network's controller.
    pub oracle: Oracle<ConsensusKey, deterministic::Context>,
    /// The validators, in participant order.
    pub nodes: Vec<Node>,
    /// Every node's consensus key.
    pub participants: Set<ConsensusKey>,
    /// The genesis block.
    pub genesis_block: Block,
    /// The chain id.
    pub chain_id: String,
    genesis: Genesis,
    /// Each node's genesis validator number (its account is `validator-N`).
    labels: Vec<usize>,
    equivocators: Vec<commonware_runtime::Handle<()>>,
    crashes: u64,
    _dirs: tempfile::TempDir,
}

/// The Cairn secret of a node key (both are ed25519 seeds): nodes derive their seat keys from it.
pub(crate) fn node_secret(key: &PrivateKey) -> SecretKey {
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&commonware_codec::Encode::encode(key));
    SecretKey::from_seed(seed)
}

/// The keys node `key` registers for account `validator-{label}`: its node key and
/// [`testkit::TEST_SEAT_KEYS`] seat keys of `generation`.
pub(crate) fn validator_keys(
    chain_id: &cairn_types::params::ChainId,
    label: usize,
    key: &PrivateKey,
    generation: u32,
) -> ValidatorKeys {
    ValidatorKeys::derive(
        chain_id,
        &testkit::addr(&format!("validator-{label}")),
        &node_secret(key),
        generation,
        testkit::TEST_SEAT_KEYS,
    )
}

/// The test genesis whose validators are the first `validators` of `keys` (every key's
/// account `validator-N` is funded). With the test parameters (8 seats) each of 4 equal
/// validators holds 2 seats, so every node runs two engines.
pub(crate) fn genesis(keys: &[PrivateKey], validators: usize) -> Genesis {
    let mut genesis = testkit::test_genesis();
    let template = genesis.validators[0].clone();
    let chain_id = genesis.chain.chain_id.clone();
    genesis.validators = keys[..validators]
        .iter()
        .enumerate()
        .map(|(i, key)| cairn_ledger::genesis::GenesisValidator {
            address: testkit::addr(&format!("validator-{i}")),
            keys: validator_keys(&chain_id, i, key, 0),
            ..template.clone()
        })
        .collect();
    for i in 4..keys.len() {
        genesis
            .accounts
            .push(cairn_ledger::genesis::GenesisAccount {
                address: testkit::addr(&format!("validator-{i}")),
                balance: cairn_types::amount::Amount::tokens(100_000),
            });
    }
    genesis
}

fn participant_channels(
    channels: Vec<(
        simulated::Sender<ConsensusKey, deterministic::Context>,
        simulated::Receiver<ConsensusKey>,
    )>,
) -> Channels<
    simulated::Sender<ConsensusKey, deterministic::Context>,
    simulated::Receiver<ConsensusKey>,
> {
    let mut channels = channels.into_iter();
    let mut next = || channels.next().expect("five channels");
    Channels {
        votes: next(),
        certificates: next(),
        resolver: next(),
        broadcast: next(),
        backfill: next(),
    }
}

impl Network {
    /// Creates `n` validators (not yet started) and links every pair with `link`.
    pub(crate) async fn new(context: &deterministic::Context, n: u64, all_links: Link) -> Network {
        Network::with_validators(context, n, n as usize, all_links).await
    }

    /// Creates `n` nodes (not yet started), the first `validators` of which (by label) are the
    /// genesis validators, and links every pair with `link`.
    pub(crate) async fn with_validators(
        context: &deterministic::Context,
        n: u64,
        validators: usize,
        all_links: Link,
    ) -> Network {
        let keys: Vec<PrivateKey> = (0..n).map(PrivateKey::from_seed).collect();
        let genesis = genesis(&keys, validators);
        Network::with_genesis(context, keys, genesis, all_links).await
    }

    /// Creates one validator per entry of `seats`, validator `i` bonded with `seats[i]` seats'
    /// worth of stake ([`SEAT_STAKE`] each) in a committee of exactly that many seats, and
    /// links every pair with `link`: voting power spread unevenly over many seats.
    pub(crate) async fn with_seats(
        context: &deterministic::Context,
        seats: &[u64],
        all_links: Link,
    ) -> Network {
        let keys: Vec<PrivateKey> = (0..seats.len() as u64).map(PrivateKey::from_seed).collect();
        let mut genesis = genesis(&keys, seats.len());
        for (validator, held) in genesis.validators.iter_mut().zip(seats) {
            validator.stake = Amount(SEAT_STAKE.0 * u128::from(*held));
        }
        genesis.params.max_seats = seats.iter().sum();
        Network::with_genesis(context, keys, genesis, all_links).await
    }

    /// Creates a node per key (not yet started) over `genesis`, linking every pair.
    async fn with_genesis(
        context: &deterministic::Context,
        keys: Vec<PrivateKey>,
        genesis: Genesis,
        all_links: Link,
    ) -> Network {
        let n = keys.len() as u64;
        let participants: Set<ConsensusKey> =
            Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
        let rules = ChainRules::of(&genesis.chain.consensus);
        let max_size = types::max_message_size(&rules.limits);
        let (network, oracle) = simulated::Network::new_with_peers(
            context.child("network"),
            simulated::Config {
                max_size,
                max_peers_per_set: NZUsize!(n as usize),
                disconnect_on_block: true,
                tracked_peer_sets: NZUsize!(1),
            },
            participants.iter().cloned(),
        )
        .await;
        network.start();
        for a in participants.iter() {
            for b in participants.iter() {
                if a != b {
                    oracle
                        .add_link(a.clone(), b.clone(), all_links.clone())
                        .await
                        .expect("link");
                }
            }
        }
        let dirs = tempfile::tempdir().expect("tempdir");
        let mut genesis_block = None;
        let mut nodes = Vec::new();
        // Participant order is the sorted key order; keep nodes in that order.
        let mut sorted = keys.clone();
        sorted.sort_by_key(|k| k.public_key());
        let labels: Vec<usize> = sorted
            .iter()
            .map(|k| {
                keys.iter()
                    .position(|o| o.public_key() == k.public_key())
                    .expect("a key")
            })
            .collect();
        for (i, key) in sorted.into_iter().enumerate() {
            let dir = dirs.path().join(format!("validator-{i}"));
            let ledger = Ledger::init(&dir, &genesis).expect("ledger");
            genesis_block.get_or_insert_with(|| {
                Block::genesis(
                    ledger.head().state_root,
                    genesis.genesis_time_ms,
                    genesis.chain.protocol_version,
                )
            });
            nodes.push(Node {
                key,
                chain: Arc::new(Chain::new(ledger, MempoolConfig::default())),
                running: None,
                dir,
                faults: None,
            });
        }
        Network {
            oracle,
            nodes,
            participants,
            genesis_block: genesis_block.expect("at least one validator"),
            chain_id: genesis.chain.chain_id.to_string(),
            genesis: genesis.clone(),
            labels,
            equivocators: Vec::new(),
            crashes: 0,
            _dirs: dirs,
        }
    }

    /// Starts (or restarts) validator `i`, reopening its ledger from disk after a crash.
    pub(crate) async fn start(&mut self, context: &deterministic::Context, i: usize) {
        let node = &mut self.nodes[i];
        if node.running.is_some() {
            return;
        }
        let public_key = node.key.public_key();
        let control = self.oracle.control(public_key.clone());
        let mut pairs = Vec::new();
        for ch in [
            channel::VOTES,
            channel::CERTIFICATES,
            channel::RESOLVER,
            channel::BROADCAST,
            channel::BACKFILL,
        ] {
            pairs.push(control.register(ch, QUOTA).await.expect("register"));
        }
        let config = ValidatorConfig {
            node_key: node_secret(&node.key),
            chain_id: self.chain_id.clone(),
            genesis: self.genesis_block.clone(),
            partition_prefix: format!("validator-{i}"),
            timeouts: Timeouts::default(),
            reporter: Some(testkit::key(&format!("validator-{}", self.labels[i]))),
            track: track_peers(self.oracle.manager(), self.participants.clone()),
        };
        let running = validator::start_validator(
            context.child("validator").with_attribute("index", i),
            config,
            node.chain.clone(),
            participant_channels(pairs),
            self.oracle.manager(),
            control,
        )
        .await
        .expect("start");
        node.running = Some(running);
    }

    /// Runs validator `i` as a Byzantine equivocator instead of an honest node: for every vote
    /// it receives it sends two conflicting votes for the same view (commonware's conflicter).
    pub(crate) async fn start_equivocator(&mut self, context: &deterministic::Context, i: usize) {
        let node = &self.nodes[i];
        let control = self.oracle.control(node.key.public_key());
        let (sender, receiver) = control
            .register(channel::VOTES, QUOTA)
            .await
            .expect("register");
        // Votes travel on per-epoch subchannels: one conflicter per epoch, for the first few.
        let (mux, mut handle) = commonware_p2p::utils::mux::Muxer::new(
            context.child("equivocator_mux"),
            sender,
            receiver,
        );
        mux.start();
        // It holds the seats of the genesis set: one conflicter per seat, behind a seat
        // router as an honest node's engines are.
        let genesis_set = self.nodes[i]
            .chain
            .ledger()
            .validator_set_of_epoch(cairn_types::Epoch(0))
            .expect("read")
            .expect("the genesis set");
        let me = node.key.public_key();
        let hosts: Vec<(ConsensusKey, ConsensusKey)> = genesis_set
            .seats()
            .map(|(seat, m)| {
                (
                    types::consensus_public_key(seat).expect("a seat key"),
                    types::consensus_public_key(&m.node_key).expect("a node key"),
                )
            })
            .collect();
        let participants: Set<ConsensusKey> =
            Set::from_iter_dedup(hosts.iter().map(|(seat, _)| seat.clone()));
        let map = Arc::new(SeatMap::new(hosts.clone(), me.clone()));
        let secret = node_secret(&node.key);
        let mine: Vec<ConsensusKey> = hosts
            .iter()
            .filter(|(_, host)| *host == me)
            .map(|(seat, _)| seat.clone())
            .collect();
        for epoch in 0..EQUIVOCATING_EPOCHS {
            let (sender, receiver) = handle.register(epoch).await.expect("an epoch subchannel");
            let mut inboxes = std::collections::BTreeMap::new();
            let mut receivers = Vec::new();
            for seat in &mine {
                let (tx, rx) = commonware_utils::channel::mpsc::channel(1024);
                inboxes.insert(seat.clone(), tx);
                receivers.push(SeatReceiver::new(rx, NZUsize!(1024)));
            }
            let inboxes = Arc::new(inboxes);
            let router = context.child("equivocator_router").spawn({
                let (map, inboxes, blocker) = (
                    map.clone(),
                    inboxes.clone(),
                    self.oracle.control(me.clone()),
                );
                move |_| seat_router::route(receiver, map, inboxes, blocker)
            });
            self.equivocators.push(router);
            for (seat, receiver) in mine.iter().zip(receivers) {
                let seat_secret = (0..testkit::TEST_SEAT_KEYS)
                    .map(|index| secret.seat_key(0, index))
                    .find(|s| types::consensus_public_key(&s.public_key()).as_ref() == Some(seat))
                    .and_then(|s| types::consensus_signer(&s))
                    .expect("its own seat");
                let scheme = types::ConsensusScheme::signer(
                    &types::namespace(&self.chain_id),
                    participants.clone(),
                    seat_secret,
                )
                .expect("a participant");
                let conflicter = commonware_consensus::simplex::mocks::conflicter::Conflicter::<
                    _,
                    _,
                    commonware_cryptography::blake3::Blake3,
                >::new(
                    context.child("equivocator").with_attribute("epoch", epoch),
                    commonware_consensus::simplex::mocks::conflicter::Config { scheme },
                );
                // No hand-over between its own seats: each conflicter answers every vote it gets
                // with two, so two of them feeding each other would only burn the simulation.
                let sender =
                    SeatSender::new(sender.clone(), seat.clone(), map.clone(), Arc::default());
                self.equivocators.push(conflicter.start((sender, receiver)));
            }
        }
    }

    /// The validator record of node `i` in node `at`'s applied state.
    pub(crate) fn validator_record(
        &self,
        at: usize,
        i: usize,
    ) -> cairn_ledger::state::records::ValidatorInfo {
        self.nodes[at]
            .chain
            .ledger()
            .get(&cairn_ledger::StateKey::Validator(testkit::addr(
                &self.label(i),
            )))
            .expect("read")
            .expect("a validator")
    }

    /// Stops validator `i` as a crash would and drops its in-memory state; its ledger is
    /// reopened from disk on the next [`Network::start`].
    pub(crate) async fn crash(&mut self, context: &deterministic::Context, i: usize) {
        self.stop(context, i).await;
        let node = &mut self.nodes[i];
        let ledger = Ledger::open_with_faults(&node.dir, node.faults.as_ref()).expect("reopen");
        node.chain = Arc::new(Chain::new(ledger, MempoolConfig::default()));
    }

    /// Stops validator `i` and deletes its ledger, as an operator does when the ledger's data
    /// is corrupt: on the next [`Network::start`] it starts from the genesis state and replays
    /// the finalized blocks (from its block archive, then from its peers).
    pub(crate) async fn crash_and_delete_ledger(
        &mut self,
        context: &deterministic::Context,
        i: usize,
    ) {
        self.stop(context, i).await;
        let node = &mut self.nodes[i];
        std::fs::remove_dir_all(&node.dir).expect("delete the ledger");
        let ledger = Ledger::init_with_faults(&node.dir, &self.genesis, node.faults.as_ref())
            .expect("a fresh ledger");
        node.chain = Arc::new(Chain::new(ledger, MempoolConfig::default()));
    }

    /// Stops validator `i`'s tasks and waits until nothing holds its ledger any more.
    async fn stop(&mut self, context: &deterministic::Context, i: usize) {
        self.crashes += 1;
        let scratch = self._dirs.path().join(format!("scratch-{}", self.crashes));
        let node = &mut self.nodes[i];
        if let Some(running) = node.running.take() {
            running.abort().await;
        }
        // Only the durable state survives: reopen the ledger from disk once the old state is
        // released by every task that held it.
        let placeholder = Arc::new(Chain::new(
            cairn_ledger::Ledger::init(&scratch, &self.genesis).expect("scratch ledger"),
            MempoolConfig::default(),
        ));
        let old = std::mem::replace(&mut node.chain, placeholder);
        let mut old = Some(old);
        loop {
            match Arc::try_unwrap(old.take().expect("held")) {
                Ok(chain) => {
                    drop(chain);
                    break;
                }
                Err(still_shared) => {
                    old = Some(still_shared);
                    context.sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    /// Puts node `i` (not yet started) on a fault-injecting disk and returns the faults'
    /// controls. Its ledger stays on the same disk across crashes.
    pub(crate) fn use_faulty_disk(&mut self, i: usize) -> Faults {
        let node = &mut self.nodes[i];
        assert!(
            node.running.is_none(),
            "put a node on a faulty disk before starting it"
        );
        let faults = Faults::new();
        // Only this handle holds the chain before the node starts: close it, then reopen.
        let scratch = self._dirs.path().join(format!("scratch-faulty-{i}"));
        let placeholder = Ledger::init(&scratch, &self.genesis).expect("scratch ledger");
        let placeholder = Arc::new(Chain::new(placeholder, MempoolConfig::default()));
        drop(std::mem::replace(&mut node.chain, placeholder));
        let ledger = Ledger::open_with_faults(&node.dir, Some(&faults)).expect("faulty ledger");
        node.chain = Arc::new(Chain::new(ledger, MempoolConfig::default()));
        node.faults = Some(faults.clone());
        faults
    }

    /// The account label of node `i` (`validator-N`, N its number in the genesis).
    pub(crate) fn label(&self, i: usize) -> String {
        format!("validator-{}", self.labels[i])
    }

    /// The genesis every node started from.
    pub(crate) fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The node whose account is `label`.
    pub(crate) fn index_of(&self, label: &str) -> usize {
        (0..self.nodes.len())
            .find(|&i| self.label(i) == label)
            .expect("a node with that account")
    }

    /// The keys node `i` registers for its account, seat keys of `generation`.
    pub(crate) fn keys_of(&self, i: usize, generation: u32) -> ValidatorKeys {
        let chain_id = cairn_types::params::ChainId::new(&self.chain_id).expect("a chain id");
        validator_keys(&chain_id, self.labels[i], &self.nodes[i].key, generation)
    }

    /// The epoch node `at` is in (that of its next block) and the node keys of its validators.
    pub(crate) fn validator_set(&self, at: usize) -> (u64, Vec<cairn_types::keys::PublicKey>) {
        let set = self.set_in_force(at);
        (
            set.epoch.0,
            set.members.iter().map(|m| m.node_key).collect(),
        )
    }

    /// The validator set of the epoch node `at` is in (that of its next block).
    pub(crate) fn set_in_force(&self, at: usize) -> cairn_ledger::state::records::ValidatorSet {
        let ledger = self.nodes[at].chain.ledger();
        let epoch = cairn_types::Epoch::of_height(
            ledger.head().height + 1,
            ledger.config().blocks_per_epoch,
        );
        ledger
            .validator_set_of_epoch(epoch)
            .expect("read")
            .expect("a validator set")
    }

    /// Submits `action` from node `i`'s own account to node `to`'s mempool.
    pub(crate) fn submit_as(
        &self,
        context: &deterministic::Context,
        i: usize,
        to: usize,
        action: cairn_types::tx::Action,
    ) {
        let label = self.label(i);
        let sender = testkit::addr(&label);
        let account: cairn_ledger::state::records::Account = self.nodes[to]
            .chain
            .ledger()
            .get(&cairn_ledger::StateKey::Account(sender))
            .expect("read")
            .unwrap_or_default();
        let tx = cairn_types::tx::Transaction {
            chain_id: cairn_types::params::ChainId::new(&self.chain_id).expect("chain id"),
            sender,
            nonce: account.nonce,
            fee: testkit::test_params().tx_fee_min,
            action,
        }
        .sign(&testkit::key(&label));
        let now = cairn_node::types::now_ms(context);
        self.nodes[to].chain.submit(tx, now).expect("admitted");
    }

    /// The balance of the labelled test account in validator `i`'s applied state.
    pub(crate) fn balance(&self, i: usize, label: &str) -> cairn_types::amount::Amount {
        let account: cairn_ledger::state::records::Account = self.nodes[i]
            .chain
            .ledger()
            .get(&cairn_ledger::StateKey::Account(testkit::addr(label)))
            .expect("read")
            .expect("the account exists");
        account.balance
    }

    /// Removes (or, with `Some(link)`, restores) every link between `left` and `right`, both
    /// ways.
    pub(crate) async fn set_links(
        &mut self,
        left: &[usize],
        right: &[usize],
        restore: Option<Link>,
    ) {
        for &a in left {
            for &b in right {
                let (ka, kb) = (
                    self.nodes[a].key.public_key(),
                    self.nodes[b].key.public_key(),
                );
                for (from, to) in [(ka.clone(), kb.clone()), (kb, ka)] {
                    match &restore {
                        Some(link) => {
                            let _ = self.oracle.add_link(from, to, link.clone()).await;
                        }
                        None => {
                            let _ = self.oracle.remove_link(from, to).await;
                        }
                    }
                }
            }
        }
    }

    /// Waits until every validator in `which` has applied `height`, or panics after `limit`.
    pub(crate) async fn wait_for_height(
        &self,
        context: &deterministic::Context,
        which: &[usize],
        height: u64,
        limit: Duration,
    ) {
        let start = context.current();
        loop {
            if which
                .iter()
                .all(|&i| self.nodes[i].chain.head().height >= height)
            {
                return;
            }
            let waited = context.current().duration_since(start).unwrap_or_default();
            if waited > limit {
                let heights: Vec<u64> = self.nodes.iter().map(|n| n.chain.head().height).collect();
                panic!("validators {which:?} did not reach height {height} within {limit:?}: heights {heights:?}");
            }
            context.sleep(Duration::from_millis(100)).await;
        }
    }

    /// Checks safety over `which` (running nodes): at every height all of them applied, the same
    /// finalized block and the same state root. A node that applied a height but cannot show
    /// its block fails the check. Returns the highest height they all have.
    pub(crate) async fn check_agreement(&self, which: &[usize]) -> u64 {
        let common = which
            .iter()
            .map(|&i| self.nodes[i].chain.head().height)
            .min()
            .unwrap_or(0);
        for height in 1..=common {
            let mut roots = Vec::new();
            let mut digests = Vec::new();
            for &i in which {
                let node = &self.nodes[i];
                roots.push(node.chain.ledger().store().root_at(height).expect("root"));
                let running = node
                    .running
                    .as_ref()
                    .unwrap_or_else(|| panic!("node {i} is not running: start it before checking"));
                let block = running
                    .marshal
                    .get_block(commonware_consensus::types::Height::new(height))
                    .await
                    .unwrap_or_else(|| {
                        panic!("node {i} applied height {height} without its block")
                    });
                use commonware_cryptography::Digestible;
                digests.push(block.digest());
            }
            assert!(
                roots.windows(2).all(|w| w[0] == w[1]),
                "state roots differ at height {height}: {roots:?}"
            );
            assert!(
                digests.windows(2).all(|w| w[0] == w[1]),
                "two blocks finalized at height {height}"
            );
        }
        common
    }
}

/// Tracks each epoch's validators as primary peers and every other node as a secondary one.
fn track_peers(
    manager: simulated::Manager<ConsensusKey, deterministic::Context>,
    everyone: Set<ConsensusKey>,
) -> cairn_node::types::TrackPeers {
    use commonware_p2p::{Manager as _, TrackedPeers};
    Box::new(move |epoch, validators: &Set<ConsensusKey>| {
        let others = everyone
            .iter()
            .filter(|k| validators.position(k).is_none())
            .cloned();
        let peers = TrackedPeers::new(validators.clone(), Set::from_iter_dedup(others));
        let _ = manager.clone().track(epoch, peers);
    })
}
