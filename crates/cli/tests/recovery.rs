//! End-to-end: a devnet halts for good (two of its four validators gone), the two left export the
//! state at the last height as the genesis of a new chain with themselves as validators, restart
//! from it, and the new chain finalizes with every balance where it was.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod common;
#[path = "common/nodes.rs"]
mod nodes;
use common::ok;
use nodes::{height, wait_for};

const NODES: usize = 4;
const NEW_CHAIN: &str = "cairn-devnet-recovered";

#[test]
#[ignore = "slow tier (over a minute): scripts/test.sh runs it; --quick skips it"]
fn a_halted_devnet_restarts_from_an_export_with_the_validators_left() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("devnet");
    let base = common::port_base(28_000, 200, 10);
    let (mut nodes, api) = nodes::start_devnet(&home, base, NODES, 5);
    let limit = Duration::from_secs(120);
    let out = ok(
        &home,
        &[
            "--json", "tx", "--node", &api[0], "--from", "alice", "--wait", "transfer", "--to",
            "bob", "--amount", "5",
        ],
    );
    assert!(out.contains("included"), "{out}");

    // Two of four seats gone: no quorum, the chain stops for good.
    nodes.kill(2);
    nodes.kill(3);
    let mut last = height(&api[0]).unwrap();
    let mut still = 0;
    wait_for("the chain to stop", limit, || {
        let now = height(&api[0]).unwrap_or(last);
        still = if now == last { still + 1 } else { 0 };
        last = now;
        still >= 25 // five seconds without a new block
    });
    nodes.kill(0);
    nodes.kill(1);

    // The two left agree on the height and write keys for the new chain.
    let ledger = |i: usize| home.join(format!("node-{i}/data/ledger"));
    let head = |i: usize| -> u64 {
        let out = ok(
            &home,
            &[
                "--json",
                "query",
                "--data-dir",
                ledger(i).to_str().unwrap(),
                "head",
            ],
        );
        serde_json::from_str::<Value>(&out).unwrap()["height"]
            .as_u64()
            .unwrap()
    };
    let at = head(0);
    let bob_before = {
        let out = ok(
            &home,
            &[
                "--json",
                "query",
                "--data-dir",
                ledger(0).to_str().unwrap(),
                "account",
                "bob",
            ],
        );
        serde_json::from_str::<Value>(&out).unwrap()["balance"].clone()
    };
    for i in 0..2 {
        ok(
            &home,
            &[
                "genesis",
                "validator-keys",
                "--chain-id",
                NEW_CHAIN,
                "--account",
                &format!("validator-{i}"),
                "--node-key",
                &format!("validator-{i}-consensus"),
                "--seats",
                "4",
                "--recovery",
                "--out",
                home.join(format!("keys-{i}.json")).to_str().unwrap(),
            ],
        );
    }
    let genesis_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    let export = |from: usize, out: &str| {
        ok(
            &home,
            &[
                "ledger",
                "export",
                "--data-dir",
                ledger(from).to_str().unwrap(),
                "--height",
                &at.to_string(),
                "--chain-id",
                NEW_CHAIN,
                "--genesis-time-ms",
                &genesis_time,
                "--validator",
                &format!("validator-0@{}", home.join("keys-0.json").display()),
                "--validator",
                &format!("validator-1@{}", home.join("keys-1.json").display()),
                "--out",
                home.join(out).to_str().unwrap(),
            ],
        );
    };
    export(0, "recovered.json");
    // The other operator exports on its own ledger and gets the same file.
    if head(1) == at {
        export(1, "recovered-1.json");
        assert_eq!(
            std::fs::read(home.join("recovered.json")).unwrap(),
            std::fs::read(home.join("recovered-1.json")).unwrap()
        );
    }

    // Both restart from the new genesis, in fresh data directories.
    for i in 0..2 {
        let config = home.join(format!("node-{i}/node.toml"));
        let text = std::fs::read_to_string(&config).unwrap();
        let text = text
            .replace("genesis.json", "recovered.json")
            .replace("data_dir = \"data\"", "data_dir = \"data-recovered\"");
        assert!(text.contains("recovered.json") && text.contains("data-recovered"));
        std::fs::write(&config, text).unwrap();
        nodes.start(i);
    }
    wait_for("the new chain to finalize block 3", limit, || {
        api[..2].iter().all(|a| height(a).is_some_and(|h| h >= 3))
    });
    let out = ok(
        &home,
        &["--json", "query", "--node", &api[1], "account", "bob"],
    );
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["balance"],
        bob_before
    );
    // The wallet signs for the chain its home names, whatever a node serves: until the home
    // names the new chain, it refuses; then it signs for it.
    let transfer = [
        "--json", "tx", "--node", &api[1], "--from", "bob", "--wait", "transfer", "--to", "carol",
        "--amount", "1",
    ];
    let refused = common::cairn(&home, &transfer);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("serves chain"));
    std::fs::write(home.join("config.toml"), "genesis = \"recovered.json\"\n").unwrap();
    let out = ok(&home, &transfer);
    assert!(out.contains("included"), "{out}");
    let (_, status) = nodes::get(&format!("{}/v1/status", api[0])).unwrap();
    assert_eq!(status["chain_id"], NEW_CHAIN, "{status}");
    assert_eq!(
        status["validators"].as_array().unwrap().len(),
        2,
        "{status}"
    );
}
