//! [`HeaderTrust`] against fake nodes on loopback serving headers with real certificates (test
//! seats of `cairn_light::testing`) and a real hand-off (a proof from a real store): an honest
//! node, a forger, a node lying about the root, and a broken parent link; and
//! [`crate::chain::proven::final_state`] on the same chain, its state and parameters proven
//! from a real store.

use super::*;
use axum::extract::Query;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use cairn_ledger::store::{LedgerStore, StoreReader};
use cairn_light::testing::Committee;
use cairn_light::validators::validator_set_key;
use cairn_types::Hash;
use std::collections::HashMap;
use std::sync::Arc;

const CHAIN: &str = "trust-test";
const BLOCKS_PER_EPOCH: u64 = 10;

/// What a fake node serves.
#[derive(Clone, Default)]
struct FakeChain {
    blocks: HashMap<u64, serde_json::Value>,
    handoffs: HashMap<u64, serde_json::Value>,
    /// The head its status names.
    head: u64,
    /// Its state (height 0 only), proven.
    state: Option<Arc<StoreReader>>,
}

fn block_json(header: &Header, certificate: Option<&[u8]>) -> serde_json::Value {
    serde_json::json!({
        "digest": hex::encode(header.digest().0),
        "header": HeaderJson::from(header),
        "transaction_ids": [],
        "finalization": certificate.map(hex::encode),
    })
}

async fn block(
    State(chain): State<Arc<FakeChain>>,
    Path(height): Path<u64>,
) -> axum::response::Response {
    match chain.blocks.get(&height) {
        Some(json) => Json(json.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn handoff_of(
    State(chain): State<Arc<FakeChain>>,
    Path(epoch): Path<u64>,
) -> axum::response::Response {
    match chain.handoffs.get(&epoch) {
        Some(json) => Json(json.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn status(State(chain): State<Arc<FakeChain>>) -> axum::response::Response {
    Json(serde_json::json!({
        "height": chain.head,
        "epoch": chain.head / BLOCKS_PER_EPOCH,
        "timestamp_ms": chain.head * 1_000,
    }))
    .into_response()
}

#[derive(serde::Deserialize)]
struct BatchBody {
    keys: Vec<String>,
}

#[derive(serde::Deserialize)]
struct AtHeight {
    height: u64,
}

async fn state_batch(
    State(chain): State<Arc<FakeChain>>,
    Query(at): Query<AtHeight>,
    Json(body): Json<BatchBody>,
) -> axum::response::Response {
    let keys: Vec<Vec<u8>> = body
        .keys
        .iter()
        .filter_map(|k| hex::decode(k).ok())
        .collect();
    let Some(Ok((values, proof, root))) = chain
        .state
        .as_ref()
        .map(|reader| reader.prove_many(&keys, at.height))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    Json(serde_json::json!({
        "height": at.height,
        "head": chain.head,
        "state_root": root,
        "values": values.iter().map(|v| v.as_ref().map(hex::encode)).collect::<Vec<_>>(),
        "proof": hex::encode(proof.encode()),
    }))
    .into_response()
}

fn serve(runtime: &tokio::runtime::Runtime, chain: FakeChain) -> NodeClient {
    let app = Router::new()
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/epochs/{epoch}/handoff", get(handoff_of))
        .route("/v1/status", get(status))
        .route("/v1/state/batch", post(state_batch))
        .with_state(Arc::new(chain));
    NodeClient::new(&crate::chain::loopback::serve(runtime, app))
}

fn header(height: u64, parent: Header, state: (u64, Hash)) -> Header {
    Header {
        parent: parent.digest(),
        height,
        timestamp_ms: height * 1_000,
        protocol_version: 1,
        proposer: cairn_types::PublicKey([7; 32]),
        state_height: state.0,
        state_root: state.1,
        transactions_root: Hash::ZERO,
        counted_through: 0,
        votes_hash: Hash::ZERO,
    }
}

/// The genesis committee (epoch 0), the committee of epoch 1, and an honest chain: block 10
/// ends epoch 0 (its hand-off proves the set of epoch 1) and attests the state of height 0
/// (the set of epoch 1 and parameters whose windows are all 0 s), blocks 1 to 9 and 13 have no
/// certificate of their own (10 and 14 vouch for them), block 12 has its own.
struct World {
    genesis: Committee,
    honest: FakeChain,
    headers: HashMap<u64, Header>,
    next: Committee,
    _dir: tempfile::TempDir,
}

fn world() -> World {
    let genesis = Committee::new(0, 0, 4);
    let next = Committee::new(1, 10, 4);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store =
        LedgerStore::create(&dir.path().join("state.redb")).unwrap_or_else(|e| panic!("{e}"));
    let set_bytes = cairn_types::codec::encode(&next.set);
    let params = cairn_types::params::Params {
        report_delay_max_secs: 0,
        report_skew_max_secs: 0,
        manifest_commit_secs: 0,
        manifest_attest_secs: 0,
        ..Default::default()
    };
    let changes: cairn_ledger::state::overlay::Changes = [
        (validator_set_key(1), Some(set_bytes.clone())),
        (
            cairn_ledger::StateKey::Params.to_bytes(),
            Some(cairn_types::codec::encode(&params)),
        ),
    ]
    .into_iter()
    .collect();
    store
        .commit(0, &changes, true)
        .unwrap_or_else(|e| panic!("{e}"));
    let reader = store.reader();
    let (_, proof, root) = reader
        .prove(&validator_set_key(1), 0)
        .unwrap_or_else(|e| panic!("{e}"));

    let zero = Header {
        parent: cairn_light::certificate::BlockDigest::from([0u8; 32]),
        height: 0,
        timestamp_ms: 0,
        protocol_version: 1,
        proposer: cairn_types::PublicKey([0; 32]),
        state_height: 0,
        state_root: root,
        transactions_root: Hash::ZERO,
        counted_through: 0,
        votes_hash: Hash::ZERO,
    };
    let mut headers = HashMap::new();
    let mut previous = zero;
    for height in 1..=14 {
        let h = header(height, previous, (height - 1, Hash([height as u8; 32])));
        let h = if height == 10 {
            Header {
                state_height: 0,
                state_root: root,
                ..h
            }
        } else {
            h
        };
        headers.insert(height, h);
        previous = h;
    }
    let mut honest = FakeChain::default();
    let end = headers[&10];
    let end_certificate = genesis.certify(CHAIN, &end, 3);
    honest
        .blocks
        .insert(10, block_json(&end, Some(&end_certificate)));
    honest.handoffs.insert(
        0,
        serde_json::json!({
            "epoch": 0,
            "block": block_json(&end, Some(&end_certificate)),
            "next_set": hex::encode(&set_bytes),
            "proof": hex::encode(cairn_types::codec::encode(&proof)),
            "state_root": root,
        }),
    );
    for height in [12, 14] {
        let certificate = next.certify(CHAIN, &headers[&height], 3);
        honest
            .blocks
            .insert(height, block_json(&headers[&height], Some(&certificate)));
    }
    for height in (1..10).chain([13]) {
        honest
            .blocks
            .insert(height, block_json(&headers[&height], None));
    }
    honest.head = 10;
    honest.state = Some(Arc::new(store.reader()));
    World {
        genesis,
        honest,
        headers,
        next,
        _dir: dir,
    }
}

fn attested(world: &World, block: u64) -> AttestedState {
    let h = world.headers[&block];
    AttestedState {
        height: h.state_height,
        root: h.state_root,
        block,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_header_is_believed_under_a_certificate_of_seats_followed_from_the_genesis() {
    let world = world();
    let runtime = runtime();
    let honest = serve(&runtime, world.honest.clone());
    let trust = HeaderTrust::new(CHAIN, BLOCKS_PER_EPOCH, world.genesis.set.clone());
    // Block 12 (epoch 1): its own certificate, by the set epoch 0's hand-off proves.
    trust
        .certify(std::slice::from_ref(&honest), attested(&world, 12))
        .unwrap_or_else(|e| panic!("{e}"));
    // Block 13 has none: block 14's certificate and its parent link vouch for it.
    trust
        .certify(std::slice::from_ref(&honest), attested(&world, 13))
        .unwrap_or_else(|e| panic!("{e}"));
    // Kept in an index, the latest set followed is where the next start goes on from: with
    // no hand-off served, block 12 (epoch 1) is still certified.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let index =
        Arc::new(Index::open(&dir.path().join("index.redb")).unwrap_or_else(|e| panic!("{e}")));
    let kept = HeaderTrust::new(CHAIN, BLOCKS_PER_EPOCH, world.genesis.set.clone())
        .kept_in(index.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    kept.certify(std::slice::from_ref(&honest), attested(&world, 12))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut no_handoffs = world.honest.clone();
    no_handoffs.handoffs.clear();
    let no_handoffs = serve(&runtime, no_handoffs);
    let restarted = HeaderTrust::new(CHAIN, BLOCKS_PER_EPOCH, world.genesis.set.clone())
        .kept_in(index)
        .unwrap_or_else(|e| panic!("{e}"));
    restarted
        .certify(std::slice::from_ref(&no_handoffs), attested(&world, 12))
        .unwrap_or_else(|e| panic!("{e}"));
    // A state the block does not attest is refused.
    let mut wrong = attested(&world, 12);
    wrong.root = Hash([0xee; 32]);
    let error = trust
        .certify(std::slice::from_ref(&honest), wrong)
        .unwrap_err();
    assert!(matches!(error, ChainError::Disproved { .. }), "{error}");
}

#[test]
fn a_forged_certificate_a_false_root_or_a_broken_link_is_refused_and_the_next_node_asked() {
    let world = world();
    let runtime = runtime();
    let honest = serve(&runtime, world.honest.clone());

    // A forger: block 12 certified by seats nobody handed the trust to.
    let strangers = Committee::new(1, 40, 4);
    let mut forged = world.honest.clone();
    let certificate = strangers.certify(CHAIN, &world.headers[&12], 4);
    forged
        .blocks
        .insert(12, block_json(&world.headers[&12], Some(&certificate)));
    // A certificate of the previous epoch's seats (epoch 0) for a block of epoch 1.
    let mut other_epoch = world.honest.clone();
    let certificate = world.genesis.certify(CHAIN, &world.headers[&12], 4);
    other_epoch
        .blocks
        .insert(12, block_json(&world.headers[&12], Some(&certificate)));
    // A node lying about the root block 12 attests (its certificate then cannot match).
    let mut false_root = world.honest.clone();
    let lie = Header {
        state_root: Hash([0xab; 32]),
        ..world.headers[&12]
    };
    let certificate = world.next.certify(CHAIN, &world.headers[&12], 4);
    false_root
        .blocks
        .insert(12, block_json(&lie, Some(&certificate)));
    // A node whose certified block 14 is not block 13's child.
    let mut broken = world.honest.clone();
    let orphan = Header {
        parent: world.headers[&12].digest(),
        ..world.headers[&14]
    };
    let certificate = world.next.certify(CHAIN, &orphan, 4);
    broken
        .blocks
        .insert(14, block_json(&orphan, Some(&certificate)));
    // A forged hand-off: epoch 0's last block signed by strangers of epoch 0.
    let mut bad_handoff = world.honest.clone();
    let strangers0 = Committee::new(0, 50, 4);
    let end = world.headers[&10];
    if let Some(json) = bad_handoff.handoffs.get_mut(&0) {
        json["block"] = block_json(&end, Some(&strangers0.certify(CHAIN, &end, 4)));
    }

    for (liar, block) in [
        (forged, 12),
        (other_epoch, 12),
        (false_root, 12),
        (broken, 13),
        (bad_handoff, 12),
    ] {
        let liar = serve(&runtime, liar);
        let trust = HeaderTrust::new(CHAIN, BLOCKS_PER_EPOCH, world.genesis.set.clone());
        let error = trust
            .certify(std::slice::from_ref(&liar), attested(&world, block))
            .unwrap_err();
        assert!(
            matches!(&error, ChainError::Disproved { url, .. } if url.contains("127.0.0.1")),
            "block {block}: {error}"
        );
        // The liar first, an honest node next: believed through the honest one.
        trust
            .certify(&[liar, honest.clone()], attested(&world, block))
            .unwrap_or_else(|e| panic!("block {block}: {e}"));
    }

    // The followed block itself came from a liar (a false root under a true certificate):
    // no node can certify it, the honest one included.
    let lie_state = AttestedState {
        height: lie.state_height,
        root: lie.state_root,
        block: 12,
    };
    let trust = HeaderTrust::new(CHAIN, BLOCKS_PER_EPOCH, world.genesis.set.clone());
    let mut only_lie = world.honest.clone();
    only_lie.blocks.insert(
        12,
        block_json(
            &lie,
            Some(&world.next.certify(CHAIN, &world.headers[&12], 4)),
        ),
    );
    let liar = serve(&runtime, only_lie);
    let error = trust.certify(&[liar, honest], lie_state).unwrap_err();
    assert!(matches!(error, ChainError::Disproved { .. }), "{error}");
}

#[test]
fn a_block_time_is_believed_only_from_a_vouched_header() {
    let world = world();
    let runtime = runtime();
    let honest = serve(&runtime, world.honest.clone());
    let trust = HeaderTrust::new(CHAIN, BLOCKS_PER_EPOCH, world.genesis.set.clone());
    // Block 13 carries no certificate: block 14's vouches for it through the parent link.
    let header = trust
        .vouched_header(std::slice::from_ref(&honest), 13)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(header, world.headers[&13]);
    assert_eq!(header.timestamp_ms, 13_000);
    // A node that moves block 13's time: block 14 is then not its child, so that time is
    // refused; the honest node asked next gives the true one.
    let mut moved = world.honest.clone();
    let late = Header {
        timestamp_ms: 99_000,
        ..world.headers[&13]
    };
    moved.blocks.insert(13, block_json(&late, None));
    // Another moves block 12's time under the block's own certificate, which then does not
    // verify.
    let mut recertified = world.honest.clone();
    let early = Header {
        timestamp_ms: 1,
        ..world.headers[&12]
    };
    let certificate = world.next.certify(CHAIN, &world.headers[&12], 4);
    recertified
        .blocks
        .insert(12, block_json(&early, Some(&certificate)));
    for (liar, block) in [(moved, 13), (recertified, 12)] {
        let liar = serve(&runtime, liar);
        let error = trust
            .vouched_header(std::slice::from_ref(&liar), block)
            .unwrap_err();
        assert!(matches!(error, ChainError::Disproved { .. }), "{error}");
        let header = trust
            .vouched_header(&[liar, honest.clone()], block)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(header, world.headers[&block]);
    }
    // A block nobody serves is no time at all.
    assert!(trust
        .vouched_header(std::slice::from_ref(&honest), 40)
        .is_err());
}

#[test]
fn a_state_is_final_for_an_epoch_once_the_next_block_is_timed_past_its_attest_window() {
    use crate::chain::proven::final_state;
    let world = world();
    let runtime = runtime();
    let honest = serve(&runtime, world.honest.clone());
    let trust = HeaderTrust::new(CHAIN, BLOCKS_PER_EPOCH, world.genesis.set.clone());
    let state = attested(&world, 10);
    assert_eq!(state.height, 0);
    // The head (block 10) attests the state of height 0, whose parameters (read proven) have
    // windows of 0 s. Block 1 is timed 1,000 ms: for an epoch that ended at 999 ms no
    // attestation can land after that state, so it is final.
    let found = final_state(&trust, std::slice::from_ref(&honest), 999);
    assert_eq!(found.unwrap_or_else(|e| panic!("{e}")), Some(state));
    // For one that ended at 1,000 ms, block 1 could still carry an attestation: wait.
    let found = final_state(&trust, std::slice::from_ref(&honest), 1_000);
    assert_eq!(found.unwrap_or_else(|e| panic!("{e}")), None);

    // A node whose head block carries another committee's certificate is not believed: alone,
    // an error naming its head; before the honest node, passed over.
    let mut forger = world.honest.clone();
    let forged = world.next.certify(CHAIN, &world.headers[&10], 3);
    forger
        .blocks
        .insert(10, block_json(&world.headers[&10], Some(&forged)));
    // A node that shows block 14 as its head, whose state (height 13) it cannot prove.
    let mut unproven = world.honest.clone();
    unproven.head = 14;
    for liar in [forger, unproven] {
        let liar = serve(&runtime, liar);
        let error = final_state(&trust, std::slice::from_ref(&liar), 999).unwrap_err();
        assert!(
            error.contains("block 10") || error.contains("height 13"),
            "{error}"
        );
        let found = final_state(&trust, &[liar, honest.clone()], 999);
        assert_eq!(found.unwrap_or_else(|e| panic!("{e}")), Some(state));
    }
}
