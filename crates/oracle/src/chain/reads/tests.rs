//! [`StateReads`] against real HTTP nodes on loopback serving proofs from a real store: an
//! honest node, one that lies about a value, one that is always busy.

use super::*;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use cairn_ledger::store::{LedgerStore, StoreReader};
use serde::Deserialize;
use std::sync::Arc;

/// How a fake node answers.
#[derive(Clone, Copy)]
enum Manner {
    Honest,
    /// Swaps the first value for another (its proof no longer backs it).
    Liar,
    /// 429 with `Retry-After: 1`, always.
    Busy,
}

#[derive(Deserialize)]
struct Body {
    keys: Vec<String>,
}

#[derive(Deserialize)]
struct HeightQuery {
    height: u64,
}

async fn batch(
    State((reader, manner)): State<(Arc<StoreReader>, Manner)>,
    Query(query): Query<HeightQuery>,
    Json(body): Json<Body>,
) -> axum::response::Response {
    if let Manner::Busy = manner {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "busy",
        )
            .into_response();
    }
    let keys: Vec<Vec<u8>> = body
        .keys
        .iter()
        .filter_map(|k| hex::decode(k).ok())
        .collect();
    let Ok((mut values, proof, root)) = reader.prove_many(&keys, query.height) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Manner::Liar = manner {
        values[0] = Some(b"registered to the liar".to_vec());
    }
    Json(serde_json::json!({
        "height": query.height,
        "head": query.height,
        "state_root": root,
        "values": values.iter().map(|v| v.as_ref().map(hex::encode)).collect::<Vec<_>>(),
        "proof": hex::encode(proof.encode()),
    }))
    .into_response()
}

/// Starts a fake node over `reader`; returns its URL.
fn node(runtime: &tokio::runtime::Runtime, reader: Arc<StoreReader>, manner: Manner) -> String {
    let app = Router::new()
        .route("/v1/state/batch", post(batch))
        .with_state((reader, manner));
    crate::chain::loopback::serve(runtime, app)
}

#[test]
fn a_lying_node_is_caught_by_the_proof_and_the_next_node_asked() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store =
        LedgerStore::create(&dir.path().join("state.redb")).unwrap_or_else(|e| panic!("{e}"));
    let changes: cairn_ledger::state::overlay::Changes = (0..50u32)
        .map(|i| (format!("k{i}").into_bytes(), Some(vec![i as u8; 3])))
        .collect();
    store
        .commit(0, &changes, true)
        .unwrap_or_else(|e| panic!("{e}"));
    let reader = Arc::new(store.reader());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let liar = NodeClient::new(&node(&runtime, reader.clone(), Manner::Liar));
    let honest = NodeClient::new(&node(&runtime, reader.clone(), Manner::Honest));
    let busy = NodeClient::new(&node(&runtime, reader, Manner::Busy));
    // 2,000 keys: two batches; the last 1,950 are absent from the state.
    let keys: Vec<Vec<u8>> = (0..2_000u32)
        .map(|i| format!("k{i}").into_bytes())
        .collect();

    // The liar alone: refused, named, never believed.
    let alone = [liar.clone()];
    let error = StateReads::new(&alone, 0).raw(&keys).unwrap_err();
    assert!(
        matches!(&error, ReadError::Chain(ChainError::Disproved { url, .. }) if url.contains("127.0.0.1")),
        "{error}"
    );

    // The liar first, then an honest node: the honest node's values, proven.
    let counters = ReadCounters::default();
    let both = [liar, honest.clone()];
    let values = StateReads::new(&both, 0)
        .counted_in(&counters)
        .raw(&keys)
        .unwrap_or_else(|e| panic!("{e}"));
    for (i, value) in values.iter().enumerate() {
        let expected = (i < 50).then(|| vec![i as u8; 3]);
        assert_eq!(value, &expected, "key {i}");
    }
    assert_eq!(counters.keys_read.load(Ordering::Relaxed), 2_000);
    assert_eq!(
        counters.batches.load(Ordering::Relaxed),
        3,
        "the liar once (then passed over for the rest of the read), the honest node twice"
    );

    // A busy node is passed over for the next; alone, it fails after its rounds.
    let values = StateReads::new(&[busy.clone(), honest], 0)
        .raw(&keys[..10])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(values[3], Some(vec![3; 3]));
    let error = StateReads::new(&[busy], 0).raw(&keys[..10]).unwrap_err();
    assert_eq!(error.retry_after_secs(), Some(1), "{error}");
}

#[test]
fn what_was_read_is_kept_and_not_asked_again() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let index = Index::open(&dir.path().join("index.redb")).unwrap_or_else(|e| panic!("{e}"));
    index
        .keep_reads(
            4,
            9,
            &[(b"k1".to_vec(), Some(vec![1])), (b"k2".to_vec(), None)],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    // No node answers (nothing listens on port 1): only what was kept can be read.
    let nowhere = [NodeClient::new("http://127.0.0.1:1")];
    let counters = ReadCounters::default();
    let reads = StateReads::new(&nowhere, 9)
        .kept_in(&index, 4)
        .counted_in(&counters);
    let values = reads
        .raw(&[b"k1".to_vec(), b"k2".to_vec()])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(values, vec![Some(vec![1]), None]);
    assert_eq!(counters.keys_kept.load(Ordering::Relaxed), 2);
    assert_eq!(counters.batches.load(Ordering::Relaxed), 0);
    assert!(
        reads.raw(&[b"k3".to_vec()]).is_err(),
        "an unknown key needs a node"
    );
}

#[test]
fn the_read_state_is_the_first_attesting_the_closing_block_or_later() {
    let root = |h: u64| cairn_types::Hash([h as u8; 32]);
    // Block 100 closes the epoch; 100 and 101 attest 99, 102 attests 100.
    let attests = |block: u64| -> Result<Option<(u64, cairn_types::Hash)>, String> {
        Ok(match block {
            100 | 101 => Some((99, root(99))),
            102 => Some((100, root(100))),
            _ => None,
        })
    };
    assert_eq!(
        attested_state(100, attests),
        Ok(Some(AttestedState {
            height: 100,
            root: root(100),
            block: 102
        }))
    );
    // Not final yet: wait.
    let not_yet = |block: u64| -> Result<Option<(u64, cairn_types::Hash)>, String> {
        Ok((block < 101).then(|| (99, root(99))))
    };
    assert_eq!(attested_state(100, not_yet), Ok(None));
    // No block attests it within the search: an error, not a wait without end.
    let lagging =
        |_| -> Result<Option<(u64, cairn_types::Hash)>, String> { Ok(Some((5, root(5)))) };
    assert!(attested_state(100, lagging).is_err());
}
