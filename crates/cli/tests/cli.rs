//! End-to-end tests of the `cairn` binary as a user runs it: real processes, real files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

mod common;
use common::{cairn, ok};

fn fails(home: &Path, args: &[&str]) -> String {
    let out = cairn(home, args);
    assert!(!out.status.success(), "cairn {args:?} should have failed");
    String::from_utf8(out.stderr).unwrap()
}

fn json(home: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(home, &all)).unwrap()
}

/// Makes keys, a genesis and a ledger: the path of a new operator.
fn setup(home: &Path) -> std::path::PathBuf {
    for name in ["alice", "bob", "val", "val-consensus", "oracle"] {
        ok(home, &["keys", "new", name]);
    }
    let genesis = home.join("genesis.json");
    ok(
        home,
        &[
            "genesis",
            "new",
            "--chain-id",
            "e2e",
            "--out",
            genesis.to_str().unwrap(),
            "--validator",
            "val=5000@val-consensus",
            "--alloc",
            "alice=1000",
            "--alloc",
            "bob=10",
            "--oracle",
            "oracle=2000",
            "--blocks-per-epoch",
            "10",
            // 10-block epochs (2 s): the windows must fit in 64 s (half the epochs a root
            // reaches back).
            "--param",
            "report_skew_max_secs=4",
            "--param",
            "report_delay_max_secs=20",
            "--param",
            "manifest_commit_secs=10",
            "--param",
            "manifest_attest_secs=10",
            "--param",
            "reward_compute_allowance_secs=20",
        ],
    );
    let data = home.join("data");
    ok(
        home,
        &[
            "ledger",
            "init",
            "--genesis",
            genesis.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    data
}

#[test]
fn keys_genesis_transfer_and_proven_query() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let data = setup(home);
    let data = data.to_str().unwrap();

    let list = json(home, &["keys", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 5);

    let receipt = json(
        home,
        &[
            "tx",
            "--from",
            "alice",
            "--data-dir",
            data,
            "--apply",
            "transfer",
            "--to",
            "bob",
            "--amount",
            "12.5",
        ],
    );
    assert_eq!(receipt["height"], 1);

    let bob = json(home, &["query", "--data-dir", data, "account", "bob"]);
    assert_eq!(bob["balance"], "22.5");
    let alice = json(home, &["query", "--data-dir", data, "account", "alice"]);
    assert_eq!(alice["nonce"], 1);
    assert_eq!(alice["balance"], "987.499");

    let proven = json(
        home,
        &["query", "--data-dir", data, "--prove", "account", "bob"],
    );
    assert_eq!(proven["verified"], true);
    assert_eq!(proven["value"]["balance"], "22.5");
    let head = json(home, &["query", "--data-dir", data, "head"]);
    assert_eq!(proven["state_root"], head["state_root"]);
    // The state at genesis, proven against the genesis root.
    let old = json(
        home,
        &[
            "query",
            "--data-dir",
            data,
            "--prove",
            "--height",
            "0",
            "account",
            "bob",
        ],
    );
    assert_eq!(old["value"]["balance"], "10");
    // Absence is proven too.
    let absent = json(
        home,
        &["query", "--data-dir", data, "--prove", "lock", "bob"],
    );
    assert_eq!(absent["value"], Value::Null);
    assert_eq!(absent["verified"], true);

    let audit = json(home, &["ledger", "audit", "--data-dir", data]);
    assert_eq!(audit["counted"], audit["total_supply"]);
}

#[test]
fn offline_signing_then_apply_from_a_file() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let data = setup(home);
    let data = data.to_str().unwrap();
    // Sign offline (chain id and nonce given), then apply the hex.
    let hex = ok(
        home,
        &[
            "tx",
            "--from",
            "alice",
            "--chain-id",
            "e2e",
            "--nonce",
            "0",
            "transfer",
            "--to",
            "bob",
            "--amount",
            "1",
        ],
    );
    let file = home.join("txs.hex");
    std::fs::write(&file, &hex).unwrap();
    ok(
        home,
        &[
            "ledger",
            "apply",
            "--data-dir",
            data,
            file.to_str().unwrap(),
        ],
    );
    // The same file again is a replay: refused, nothing changes.
    let before = json(home, &["query", "--data-dir", data, "head"]);
    let err = fails(
        home,
        &[
            "ledger",
            "apply",
            "--data-dir",
            data,
            file.to_str().unwrap(),
        ],
    );
    assert!(err.contains("nonce"), "{err}");
    assert_eq!(json(home, &["query", "--data-dir", data, "head"]), before);
    // A truncated transaction is a clear decode error.
    std::fs::write(&file, &hex.trim()[..hex.trim().len() - 10]).unwrap();
    let err = fails(
        home,
        &[
            "ledger",
            "apply",
            "--data-dir",
            data,
            file.to_str().unwrap(),
        ],
    );
    assert!(err.contains("malformed") || err.contains("line 1"), "{err}");
    // Signed for another chain.
    let other = ok(
        home,
        &[
            "tx",
            "--from",
            "alice",
            "--chain-id",
            "other",
            "--nonce",
            "1",
            "transfer",
            "--to",
            "bob",
            "--amount",
            "1",
        ],
    );
    std::fs::write(&file, other).unwrap();
    let err = fails(
        home,
        &[
            "ledger",
            "apply",
            "--data-dir",
            data,
            file.to_str().unwrap(),
        ],
    );
    assert!(err.contains("chain"), "{err}");
}

#[test]
fn user_mistakes_get_clear_errors() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let data = setup(home);
    let data = data.to_str().unwrap();
    // Short epochs with the default windows: a root could never land in time.
    let err = fails(
        home,
        &[
            "genesis",
            "new",
            "--chain-id",
            "short",
            "--out",
            home.join("short.json").to_str().unwrap(),
            "--validator",
            "val=5000@val-consensus",
            "--blocks-per-epoch",
            "10",
        ],
    );
    assert!(
        err.contains("reward_compute_allowance_secs is 3900 s, over 64 s"),
        "{err}"
    );
    let err = fails(
        home,
        &[
            "genesis",
            "new",
            "--chain-id",
            "typo",
            "--out",
            home.join("typo.json").to_str().unwrap(),
            "--validator",
            "val=5000@val-consensus",
            "--param",
            "report_delay=5",
        ],
    );
    assert!(err.contains("unknown parameter `report_delay`"), "{err}");
    let err = fails(
        home,
        &[
            "tx",
            "--from",
            "alice",
            "--data-dir",
            data,
            "transfer",
            "--to",
            "cairn1qqqqqqqq",
            "--amount",
            "1",
        ],
    );
    assert!(err.contains("address"), "{err}");
    let err = fails(
        home,
        &[
            "tx",
            "--from",
            "alice",
            "--data-dir",
            data,
            "transfer",
            "--to",
            "bob",
            "--amount",
            "1.0000001",
        ],
    );
    assert!(err.contains("decimals"), "{err}");
    let err = fails(
        home,
        &[
            "tx",
            "--from",
            "nobody",
            "--data-dir",
            data,
            "transfer",
            "--to",
            "bob",
            "--amount",
            "1",
        ],
    );
    assert!(err.contains("no key named"), "{err}");
    let err = fails(
        home,
        &[
            "tx",
            "--from",
            "bob",
            "--data-dir",
            data,
            "--apply",
            "transfer",
            "--to",
            "alice",
            "--amount",
            "500",
        ],
    );
    assert!(err.contains("insufficient balance"), "{err}");
    let err = fails(
        home,
        &[
            "ledger",
            "init",
            "--genesis",
            "/nonexistent.json",
            "--data-dir",
            data,
        ],
    );
    assert!(err.contains("genesis"), "{err}");
    let err = fails(home, &["query", "--data-dir", "/nonexistent", "head"]);
    assert!(err.contains("no ledger"), "{err}");
    let err = fails(home, &["keys", "new", "alice"]);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn encrypted_keys_need_the_right_passphrase() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    ok(home, &["keys", "new", "vault", "--encrypt"]);
    let shown = json(home, &["keys", "show", "vault"]);
    assert_eq!(shown["encrypted"], true);
    // Signing works with the passphrase from the environment...
    ok(
        home,
        &[
            "tx",
            "--from",
            "vault",
            "--chain-id",
            "c",
            "--nonce",
            "0",
            "withdraw",
        ],
    );
    // ...and fails with a wrong one.
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "tx",
            "--from",
            "vault",
            "--chain-id",
            "c",
            "--nonce",
            "0",
            "withdraw",
        ])
        .env("CAIRN_HOME", home)
        .env("CAIRN_PASSPHRASE", "wrong")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"));
}

#[test]
fn every_transaction_kind_builds_from_the_command_line() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let data = setup(home);
    let data = data.to_str().unwrap();
    ok(home, &["keys", "new", "hotspot"]);
    let base = ["tx", "--from", "alice", "--chain-id", "e2e", "--nonce", "0"];
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "bond-validator",
            "--amount",
            "1000",
            "--node-key",
            "hotspot",
            "--seats",
            "2",
        ],
        vec![
            "rotate-validator-keys",
            "--node-key",
            "hotspot",
            "--generation",
            "1",
        ],
        vec!["unjail"],
        vec!["bond-oracle", "--amount", "1000"],
        vec!["unbond", "--role", "oracle", "--amount", "1"],
        vec!["withdraw"],
        vec![
            "register-device",
            "--subnetwork",
            "coverage",
            "--device-key",
            "hotspot",
            "--maker-key",
            "bob",
        ],
        vec!["assert-location", "--device", "hotspot-placeholder"],
        vec!["post-price", "--usd", "0.35"],
        vec!["burn", "--amount", "10"],
        vec![
            "delegate",
            "--payer",
            "bob",
            "--subnetwork",
            "storage",
            "--credits",
            "100",
        ],
        vec!["spend", "--subnetwork", "storage", "--credits", "5"],
        vec!["lock", "--amount", "10", "--epochs", "100"],
        vec!["unlock"],
        vec![
            "propose",
            "--description",
            "fees",
            "set-param",
            "--param",
            "tx_fee_min",
            "--value",
            "2000",
        ],
        vec![
            "propose",
            "set-weights",
            "--weights",
            "1000,1000,1000,1000,1000,1000,2000,2000",
        ],
        vec!["propose", "treasury-spend", "--to", "bob", "--amount", "5"],
        vec![
            "propose",
            "--description",
            "posted $1000 while every source said $0.35",
            "slash-oracle",
            "--oracle",
            "bob",
            "--bps",
            "5000",
        ],
        vec![
            "propose",
            "schedule-upgrade",
            "--version",
            "2",
            "--height",
            "100000",
        ],
        vec![
            "propose",
            "approve-maker",
            "--maker",
            "bob",
            "--name",
            "Bob's Hotspots",
        ],
        vec!["vote", "--proposal", "0", "--choice", "yes"],
        vec!["execute", "--proposal", "0"],
    ];
    let device = json(home, &["keys", "show", "hotspot"])["did"]
        .as_str()
        .unwrap()
        .to_string();
    for case in cases {
        let mut args: Vec<&str> = base.to_vec();
        let case: Vec<&str> = case
            .iter()
            .map(|a| {
                if *a == "hotspot-placeholder" {
                    device.as_str()
                } else {
                    a
                }
            })
            .collect();
        args.extend(case.iter());
        if case[0] == "assert-location" {
            args.extend(["--lat", "48.85", "--lng", "2.35"]);
        }
        let tx = json(home, &args);
        assert_eq!(tx["tx"]["chain_id"], "e2e", "{case:?}");
    }
    // A location assertion for a device that is not registered is refused by the ledger.
    let err = fails(
        home,
        &[
            "tx",
            "--from",
            "alice",
            "--data-dir",
            data,
            "--apply",
            "assert-location",
            "--device",
            &device,
            "--cell",
            "8c1fb46741a13ff",
        ],
    );
    assert!(err.contains("unknown device"), "{err}");
}

#[test]
fn demo_runs_end_to_end() {
    let home = tempfile::tempdir().unwrap();
    let out = ok(home.path(), &["ledger", "demo"]);
    assert!(out.contains("Demo complete"), "{out}");
    assert!(out.contains("refused a replayed transaction"));
    assert!(out.contains("proof verified"));
}

#[test]
fn bench_prints_one_json_line() {
    let home = tempfile::tempdir().unwrap();
    let out = ok(home.path(), &["bench", "ledger", "--quick"]);
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    for field in [
        "tx_per_sec",
        "proof_verify_us",
        "reward_tree_1m_secs",
        "sig_verify_per_sec",
    ] {
        assert!(line[field].as_f64().unwrap() > 0.0, "{field}: {line}");
    }
}

#[test]
fn bench_oracle_prints_its_figures() {
    let home = tempfile::tempdir().unwrap();
    let out = ok(home.path(), &["bench", "oracle", "--quick"]);
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    for field in [
        "reports_per_sec",
        "sig_bound_per_sec",
        "ingest_to_sig_ratio",
        "epoch_1m_secs",
        "epoch_1m_rss_mib",
        "epoch_1m_sig_secs",
        "epoch_to_sig_ratio",
    ] {
        assert!(line[field].as_f64().unwrap() > 0.0, "{field}: {line}");
    }
    // What does not depend on the machine: every report made is counted, every device but the
    // coverage grid's corner (witnessed by nobody it can be paid for) is paid, and the seeded
    // simulation's cheaters earn nothing while every honest device earns.
    assert_eq!(line["ingest_reports"], 6_000, "{line}");
    assert_eq!(line["epoch_reports"], 200_000, "{line}");
    assert_eq!(line["epoch_reports_counted"], 200_000, "{line}");
    assert!(
        line["epoch_devices_paid"].as_u64().unwrap() >= 19_990,
        "{line}"
    );
    assert_eq!(line["cheater_reward_share"].as_f64(), Some(0.0), "{line}");
    assert_eq!(
        line["honest_false_reject_rate"].as_f64(),
        Some(0.0),
        "{line}"
    );
    assert_eq!(line["cheaters_paid"], 0, "{line}");
    // The cheaters that know the rules are reported apart: the bridged ring earns nothing.
    let adaptive = line["adaptive_cheater_reward_share"].as_f64().unwrap();
    assert!((0.0..0.05).contains(&adaptive), "{line}");
    assert_eq!(
        line["adaptive_to_honest_reward_ratio"]["bridged_ring"].as_f64(),
        Some(0.0),
        "{line}"
    );
    assert!(
        line["cpu"].as_str().is_some_and(|c| !c.is_empty()),
        "{line}"
    );
}

#[test]
fn reward_root_and_claims_through_the_command_line() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let data = setup(home);
    let data = data.to_str().unwrap();
    // Close epoch 0 (10 blocks per epoch): its emission fills the sub-network pools.
    for _ in 0..10 {
        ok(home, &["ledger", "apply", "--data-dir", data]);
    }
    let alice = json(home, &["keys", "show", "alice"])["address"]
        .as_str()
        .unwrap()
        .to_string();
    let bob = json(home, &["keys", "show", "bob"])["address"]
        .as_str()
        .unwrap()
        .to_string();
    let rewards = home.join("rewards.json");
    std::fs::write(
        &rewards,
        serde_json::to_string(&serde_json::json!([
            {"account": alice, "cumulative": "900"},
            {"account": bob, "cumulative": "100"}
        ]))
        .unwrap(),
    )
    .unwrap();
    let r = rewards.to_str().unwrap();
    let root = json(home, &["rewards", "root", "--input", r]);
    assert_eq!(root["root"]["sum"], "1000");
    let signature = ok(
        home,
        &[
            "rewards",
            "sign",
            "--input",
            r,
            "--epoch",
            "0",
            "--subnetwork",
            "coverage",
            "--from",
            "oracle",
            "--data-dir",
            data,
        ],
    );
    let sig_file = home.join("sig.json");
    std::fs::write(&sig_file, signature).unwrap();
    let submission = home.join("submission.json");
    ok(
        home,
        &[
            "rewards",
            "submission",
            "--input",
            r,
            "--epoch",
            "0",
            "--subnetwork",
            "coverage",
            "--signature",
            sig_file.to_str().unwrap(),
            "--out",
            submission.to_str().unwrap(),
        ],
    );
    ok(
        home,
        &[
            "tx",
            "--from",
            "bob",
            "--data-dir",
            data,
            "--apply",
            "submit-root",
            "--file",
            submission.to_str().unwrap(),
        ],
    );
    let claims = home.join("claims.json");
    ok(
        home,
        &[
            "rewards",
            "claims",
            "--input",
            r,
            "--subnetwork",
            "coverage",
            "--out",
            claims.to_str().unwrap(),
        ],
    );
    let before = json(home, &["query", "--data-dir", data, "account", "alice"]);
    ok(
        home,
        &[
            "tx",
            "--from",
            "bob",
            "--data-dir",
            data,
            "--apply",
            "claim",
            "--file",
            claims.to_str().unwrap(),
        ],
    );
    let after = json(home, &["query", "--data-dir", data, "account", "alice"]);
    assert_ne!(before["balance"], after["balance"]);
    let claimed = json(
        home,
        &["query", "--data-dir", data, "claimed", "coverage", "alice"],
    );
    assert_eq!(claimed, "900");
    // Claiming again is refused with a clear reason.
    let err = fails(
        home,
        &[
            "tx",
            "--from",
            "bob",
            "--data-dir",
            data,
            "--apply",
            "claim",
            "--file",
            claims.to_str().unwrap(),
        ],
    );
    assert!(err.contains("nothing to claim"), "{err}");
}

/// The recovery of a halted chain as operators run it: export the state at the agreed height
/// with a new chain id and a chosen validator (new keys), start a ledger from that genesis, and
/// find every balance there and the supply balanced.
#[test]
fn a_halted_chain_is_exported_and_restarted_under_a_new_chain_id() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let data = setup(home);
    let data = data.to_str().unwrap();
    ok(
        home,
        &[
            "tx",
            "--from",
            "alice",
            "--data-dir",
            data,
            "--apply",
            "transfer",
            "--to",
            "bob",
            "--amount",
            "12.5",
        ],
    );
    ok(home, &["keys", "new", "val-new"]);
    let keys = home.join("val-keys.json");
    ok(
        home,
        &[
            "genesis",
            "validator-keys",
            "--chain-id",
            "e2e-recovered",
            "--account",
            "val",
            "--node-key",
            "val-new",
            "--seats",
            "2",
            "--recovery",
            "--out",
            keys.to_str().unwrap(),
        ],
    );
    let recovered = home.join("recovered.json");
    let export = |height: &str| {
        cairn(
            home,
            &[
                "--json",
                "ledger",
                "export",
                "--data-dir",
                data,
                "--height",
                height,
                "--chain-id",
                "e2e-recovered",
                "--validator",
                &format!("val@{}", keys.display()),
                "--genesis-time-ms",
                "1800000000000",
                "--out",
                recovered.to_str().unwrap(),
                "--force",
            ],
        )
    };
    // Not the height this ledger stands at: refused, nothing written.
    let wrong = export("7");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("agreed height 7"));
    assert!(!recovered.exists());
    let out = export("1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["from_height"], 1);
    let first = std::fs::read(&recovered).unwrap();
    // The same state and flags give the same file.
    assert!(export("1").status.success());
    assert_eq!(std::fs::read(&recovered).unwrap(), first);

    let new_data = home.join("new-data");
    ok(
        home,
        &[
            "ledger",
            "init",
            "--genesis",
            recovered.to_str().unwrap(),
            "--data-dir",
            new_data.to_str().unwrap(),
        ],
    );
    let new_data = new_data.to_str().unwrap();
    let bob = json(home, &["query", "--data-dir", new_data, "account", "bob"]);
    assert_eq!(bob["balance"], "22.5");
    let audit = json(home, &["ledger", "audit", "--data-dir", new_data]);
    assert_eq!(audit["counted"], audit["total_supply"]);
    let set = json(
        home,
        &[
            "query",
            "--data-dir",
            new_data,
            "validator-set",
            "--epoch",
            "0",
        ],
    );
    assert_eq!(set["members"].as_array().unwrap().len(), 1);
    // The new chain takes transactions signed for it.
    let receipt = json(
        home,
        &[
            "tx",
            "--from",
            "bob",
            "--data-dir",
            new_data,
            "--apply",
            "transfer",
            "--to",
            "alice",
            "--amount",
            "1",
        ],
    );
    assert_eq!(receipt["height"], 1);
}
