//! End-to-end: four `cairn node` processes on loopback, transfers through the CLI, bad input
//! through the API, the finalized-block WebSocket, one validator killed with SIGKILL while the
//! others keep finalizing, and its restart catching up to the same state root.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use serde_json::{json, Value};
use std::path::Path;

mod common;
#[path = "common/nodes.rs"]
mod nodes;
use common::ok;
use nodes::{get, height, post, wait_for};
use std::time::{Duration, Instant};

const NODES: usize = 4;

/// A signed transfer from `from`, printed by the CLI (not submitted).
fn signed_transfer(home: &Path, from: &str, to: &str, amount: &str, nonce: u64) -> String {
    ok(
        home,
        &[
            "tx",
            "--from",
            from,
            "--chain-id",
            "cairn-devnet",
            "--nonce",
            &nonce.to_string(),
            "transfer",
            "--to",
            to,
            "--amount",
            amount,
        ],
    )
    .trim()
    .to_string()
}

fn error_code(answer: &(u16, Value)) -> (u16, String) {
    (
        answer.0,
        answer.1["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

/// Epochs this short make the test cross several epoch boundaries.
const BLOCKS_PER_EPOCH: u64 = 5;

#[test]
#[ignore = "slow tier (over a minute): scripts/test.sh runs it; --quick skips it"]
fn four_node_processes_finalize_survive_sigkill_and_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("devnet");
    // Ports from the process id, so parallel runs on one machine do not collide.
    let base = common::port_base(20_000, 400, 10);
    let (mut nodes, api) = nodes::start_devnet(&home, base, NODES, BLOCKS_PER_EPOCH);
    let limit = Duration::from_secs(120);

    // Transfers through the CLI, submitted to different nodes.
    let mut last_included = 0;
    for (i, amount) in ["1.5", "2.5"].iter().enumerate() {
        let out = ok(
            &home,
            &[
                "--json", "tx", "--node", &api[i], "--from", "alice", "--wait", "transfer", "--to",
                "bob", "--amount", amount,
            ],
        );
        let status: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(status["status"], "included", "{out}");
        // The next transfer goes to another node, which reads alice's nonce from its own applied
        // state: let every node apply this one first.
        let at = status["height"].as_u64().unwrap_or(0);
        last_included = at;
        wait_for("every node to apply the transfer", limit, || {
            api.iter().all(|a| height(a).is_some_and(|h| h >= at))
        });
    }
    let bob = ok(
        &home,
        &["--json", "query", "--node", &api[2], "account", "bob"],
    );
    let bob: Value = serde_json::from_str(&bob).unwrap();
    assert_eq!(bob["balance"], "1000004");
    // Right after the transfer, a proven read names the height it stands at, and waits for
    // the head's state to be attested when asked to.
    let proven = ok(
        &home,
        &[
            "--json",
            "query",
            "--node",
            &api[2],
            "--prove",
            "--wait-attested",
            "account",
            "bob",
        ],
    );
    let proven: Value = serde_json::from_str(&proven).unwrap();
    assert!(
        proven["height"].as_u64().unwrap() >= last_included,
        "{proven}"
    );
    assert!(proven["node_head"].as_u64().is_some(), "{proven}");
    assert_eq!(proven["value"]["balance"], "1000004", "{proven}");

    // Bad input through the API: typed errors, nothing admitted.
    let submit = format!("{}/v1/transactions", api[0]);
    let alice_nonce = 2;
    let good = signed_transfer(&home, "alice", "carol", "1", alice_nonce);
    assert_eq!(
        error_code(&post(&submit, r#"{"tx": "zz"}"#)),
        (400, "malformed_transaction".into())
    );
    let truncated = &good[..good.len() - 10];
    assert_eq!(
        error_code(&post(&submit, &json!({ "tx": truncated }).to_string())),
        (400, "malformed_transaction".into())
    );
    assert_eq!(
        error_code(&post(&submit, "{not json")),
        (400, "malformed_request".into())
    );
    // Flip one byte of the signature (the last 64 bytes).
    let mut forged = good.clone().into_bytes();
    let at = forged.len() - 3;
    forged[at] = if forged[at] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(
        error_code(&post(&submit, &json!({ "tx": forged }).to_string())),
        (422, "bad_signature".into())
    );
    let replay = signed_transfer(&home, "alice", "carol", "1", 0);
    assert_eq!(
        error_code(&post(&submit, &json!({ "tx": replay }).to_string())),
        (422, "nonce_mismatch".into())
    );
    let too_much = signed_transfer(&home, "bob", "carol", "99999999", 0);
    assert_eq!(
        error_code(&post(&submit, &json!({ "tx": too_much }).to_string())),
        (422, "insufficient_balance".into())
    );
    let other_chain = ok(
        &home,
        &[
            "tx",
            "--from",
            "alice",
            "--chain-id",
            "another-chain",
            "--nonce",
            "2",
            "transfer",
            "--to",
            "carol",
            "--amount",
            "1",
        ],
    );
    assert_eq!(
        error_code(&post(
            &submit,
            &json!({ "tx": other_chain.trim() }).to_string()
        )),
        (422, "wrong_chain".into())
    );
    assert_eq!(
        get(&format!("{}/v1/accounts/not-an-address", api[0])).map(|a| error_code(&a)),
        Some((400, "malformed_address".into()))
    );
    assert_eq!(
        get(&format!("{}/v1/blocks/999999999", api[0])).map(|a| error_code(&a)),
        Some((404, "not_found".into()))
    );

    // A batch: each transaction admitted or refused on its own, with the single-submit codes.
    let batch = format!("{}/v1/transactions/batch", api[0]);
    let (status, answer) = post(
        &batch,
        &json!({ "txs": [good, forged, "zz", good] }).to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().expect("results");
    let outcome = |r: &Value| (r["status"].clone(), r["code"].clone());
    assert_eq!(outcome(&results[0]), (json!("pending"), Value::Null));
    assert_eq!(
        outcome(&results[1]),
        (json!("refused"), json!("bad_signature"))
    );
    assert_eq!(
        outcome(&results[2]),
        (json!("refused"), json!("malformed_transaction"))
    );
    assert!(
        results[2].get("id").is_none(),
        "no id for undecodable bytes"
    );
    assert_eq!(outcome(&results[3]), (json!("refused"), json!("duplicate")));
    assert_eq!(results[0]["id"], results[3]["id"]);
    let too_many = vec!["00"; 1_001];
    assert_eq!(
        error_code(&post(&batch, &json!({ "txs": too_many }).to_string())),
        (400, "batch_too_large".into())
    );
    let batched_id = results[0]["id"].as_str().unwrap().to_string();
    let mut included_at = None;
    wait_for("the batched transfer", limit, || {
        included_at = get(&format!("{}/v1/transactions/{batched_id}", api[0]))
            .and_then(|(_, v)| v["height"].as_u64());
        included_at.is_some()
    });
    // Ids only: the block without its transactions.
    let at = included_at.unwrap();
    let (_, light) = get(&format!("{}/v1/blocks/{at}?transactions=false", api[0])).unwrap();
    assert!(light.get("transactions").is_none(), "{light}");
    assert!(light["transaction_ids"]
        .as_array()
        .unwrap()
        .contains(&json!(batched_id)));
    assert_eq!(
        get(&format!("{}/v1/blocks/{at}?transactions=perhaps", api[0])).map(|a| error_code(&a)),
        Some((400, "malformed_query".into()))
    );

    // The WebSocket streams finalized blocks in height order.
    let from = height(&api[1]).unwrap();
    let ws_url = format!("ws://127.0.0.1:{}/v1/ws/blocks?from={from}", base + 101);
    let (mut socket, _) = tungstenite::connect(ws_url.as_str()).expect("websocket");
    for expected in from..from + 2 {
        let message = socket.read().expect("a block");
        let block: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        assert_eq!(block["header"]["height"], expected);
    }
    drop(socket);

    // A light client checks a proof up to a finalization certificate.
    let genesis = home.join("genesis.json");
    let verified = ok(
        &home,
        &[
            "query",
            "--node",
            &api[3],
            "--prove",
            "--verify",
            "--genesis",
            genesis.to_str().unwrap(),
            "account",
            "alice",
        ],
    );
    assert!(
        verified.contains("certificate is signed by a quorum"),
        "{verified}"
    );

    // SIGKILL one validator: the other three keep finalizing, transfers still land.
    nodes.kill(3);
    let at_kill = height(&api[0]).unwrap();
    let out = ok(
        &home,
        &[
            "--json", "tx", "--node", &api[1], "--from", "carol", "--wait", "transfer", "--to",
            "bob", "--amount", "3",
        ],
    );
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["status"], "included", "{out}");
    wait_for("finality without validator 3", limit, || {
        height(&api[0]).is_some_and(|h| h >= at_kill + 5)
    });

    // Restart it: it catches up from its peers and has the same state root.
    nodes.start(3);
    let target = height(&api[0]).unwrap();
    let start = Instant::now();
    while height(&api[3]).is_none_or(|h| h < target) {
        assert!(
            start.elapsed() < limit,
            "validator 3 did not catch up to {target}:\n{}",
            nodes.log_tail(3)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let root_at = |a: &str| {
        let key = "00"; // any key: the answer carries the state root at that height
        let (status, v) = get(&format!("{a}/v1/state/{key}?prove=true&height={target}")).unwrap();
        assert_eq!(status, 200, "{v}");
        v["state_root"].as_str().unwrap().to_string()
    };
    let roots: Vec<String> = api.iter().map(|a| root_at(a)).collect();
    assert!(roots.iter().all(|r| *r == roots[0]), "{roots:?}");
    let block_digest =
        |a: &str| get(&format!("{a}/v1/blocks/{target}")).unwrap().1["digest"].clone();
    assert_eq!(block_digest(&api[3]), block_digest(&api[0]));

    // Short epochs: by now the chain has crossed several epoch boundaries, each with a new
    // consensus engine per node, and goes on doing so with the restarted validator.
    // (The restarted validator names its epoch once its consensus engine has joined the
    // current one, which can come a moment after its height caught up.)
    let mut status = Value::Null;
    wait_for("validator 3 in epoch 2 or later", limit, || {
        status = get(&format!("{}/v1/status", api[3])).unwrap().1;
        status["epoch"].as_u64() >= Some(2)
    });
    let epoch = status["epoch"].as_u64().unwrap();
    // The killed validator missed most votes of an epoch: it may have been jailed for downtime
    // (and left the set); the other three stay.
    let seated = status["validators"].as_array().unwrap().len();
    assert!(seated == NODES || seated == NODES - 1, "{status}");
    let end = (epoch + 2) * BLOCKS_PER_EPOCH;
    wait_for("two more epochs on every node", limit, || {
        api.iter().all(|a| height(a).is_some_and(|h| h >= end))
    });

    // The attack that once stopped the chain for good: two fresh accounts bond the minimum
    // validator stake with keys no node runs. Seats of equal stake give them none (a seat is
    // worth half a validator's stake here), so the chain finalizes on.
    let seated_before: Vec<Value> = status["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["address"].clone())
        .collect();
    for name in ["mallory-1", "mallory-2"] {
        let node_key = format!("{name}-node");
        ok(&home, &["keys", "new", name]);
        ok(&home, &["keys", "new", &node_key]);
        let funded = ok(
            &home,
            &[
                "--json", "tx", "--node", &api[0], "--from", "alice", "--wait", "transfer", "--to",
                name, "--amount", "2000",
            ],
        );
        assert!(funded.contains("included"), "{funded}");
        let bonded = ok(
            &home,
            &[
                "--json",
                "tx",
                "--node",
                &api[0],
                "--from",
                name,
                "--wait",
                "bond-validator",
                "--amount",
                "1000",
                "--node-key",
                &node_key,
                "--seats",
                "4",
            ],
        );
        assert!(bonded.contains("included"), "{bonded}");
    }
    let (_, status) = get(&format!("{}/v1/status", api[0])).unwrap();
    let bonded_in = status["epoch"].as_u64().unwrap();
    let end = (bonded_in + 3) * BLOCKS_PER_EPOCH;
    wait_for(
        "three more epochs after the attackers bonded",
        limit,
        || api.iter().all(|a| height(a).is_some_and(|h| h >= end)),
    );
    let (_, status) = get(&format!("{}/v1/status", api[0])).unwrap();
    for validator in status["validators"].as_array().unwrap() {
        assert!(
            seated_before.contains(&validator["address"]),
            "an attacker holds a seat: {status}"
        );
    }
}

/// `cairn bench devnet` starts its own processes, loads them and reports the figures the
/// issue names; a short run at a low rate must finalize what it offered and refuse nothing.
#[test]
fn bench_devnet_reports_finality_throughput_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    // A block of ports apart from the other test's (the tests of one file run at once).
    let base = common::port_base(24_000, 400, 10);
    let out = ok(
        dir.path(),
        &[
            "bench",
            "devnet",
            "--secs",
            "4",
            "--warmup-secs",
            "2",
            "--accounts",
            "40",
            "--rate",
            "100",
            "--base-port",
            &base.to_string(),
            "--data-dir",
            dir.path().join("bench").to_str().unwrap(),
            // A small flood of proofs, blocks and idle connections on the last two validators.
            "--flood-rate",
            "40",
            "--flood-idle",
            "20",
            "--flood-clients",
            "4",
        ],
    );
    let report: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    let flood = &report["flood"];
    assert!(flood["served"].as_u64().unwrap() > 0, "{report}");
    assert!(flood["idle_open_avg"].as_u64().unwrap() > 0, "{report}");
    assert!(flood["cpu_cores"].as_f64().is_some(), "{report}");
    assert_eq!(report["validators_exited"], 0, "{report}");
    assert!(
        report["finalized_tx_per_sec"].as_u64().unwrap() > 0,
        "{report}"
    );
    let p50 = report["finality_p50_ms"].as_u64().unwrap();
    let p99 = report["finality_p99_ms"].as_u64().unwrap();
    assert!(p50 > 0 && p50 <= p99, "{report}");
    assert!(
        report["validator_rss_mib_max"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert_eq!(report["refused"], json!({}), "{report}");
    assert!(report["blocks"].as_u64().unwrap() > 0, "{report}");
}
