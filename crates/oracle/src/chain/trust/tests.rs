//! [`HeaderTrust`] against fake nodes on loopback serving headers with real certificates (test
//! seats of `cairn_light::testing`) and a real hand-off (a proof from a real store): an honest
//! node, a forger, a node lying about the root, and a broken parent link.

use super::*;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use cairn_ledger::store::LedgerStore;
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

fn serve(runtime: &tokio::runtime::Runtime, chain: FakeChain) -> NodeClient {
    let app = Router::new()
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/epochs/{epoch}/handoff", get(handoff_of))
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
/// ends epoch 0 (its hand-off proves the set of epoch 1), block 12 has its own certificate,
/// block 13 has none and is finalized through block 14.
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
    let changes: cairn_ledger::state::overlay::Changes =
        [(validator_set_key(1), Some(set_bytes.clone()))]
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
    honest.blocks.insert(13, block_json(&headers[&13], None));
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
