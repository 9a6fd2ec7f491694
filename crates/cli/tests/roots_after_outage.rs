//! Roots never stall for good, end to end: a devnet at 10-block reward epochs (2 s each) pays
//! its hotspots; then every oracle is stopped (SIGSTOP) while more than 70 epochs pass without
//! a root, so the pools of the first of them expire into the chain's held pools; then the
//! oracles are killed, the devnet restarts them with their records, they walk the missed epochs
//! in order, and a root lands again whose growth the chain pays: carol's claim raises her
//! balance. Slow tier: `scripts/test.sh` runs it, `scripts/test.sh --quick` does not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/nodes.rs"]
mod nodes;
#[path = "common/running.rs"]
mod running;

use cairn_ledger::state::records::{HeldPools, RewardRootRecord};
use cairn_ledger::StateKey;
use cairn_types::Subnetwork;
use common::ok;
use nodes::{height, wait_for};
use running::{balance, devnet, oracle_logs, state};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const BLOCKS_PER_EPOCH: u64 = 10;
/// Reward epochs with no root: more than the 65 after which a pool expires.
const WITHOUT_A_ROOT: u64 = 70;

fn latest_root(node: &str) -> Option<RewardRootRecord> {
    state(node, &StateKey::RewardRoot(Subnetwork::Connectivity))
}

fn signal(home: &Path, name: &str) {
    for i in 0..3 {
        let pid = std::fs::read_to_string(home.join(format!("oracle-{i}/oracle.pid"))).unwrap();
        let sent = Command::new("kill")
            .args([name, pid.trim()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill {name} oracle {i}");
    }
}

#[test]
#[ignore = "slow tier (several minutes): scripts/test.sh runs it; --quick skips it"]
fn seventy_epochs_without_a_root_then_a_root_lands_and_pays() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("devnet");
    // Ports 8000-9999, apart from every other end-to-end test (10000-11999: supervisor).
    let base = common::port_base(8_000, 400, 5);
    let log = dir.path().join("devnet.log");
    let _devnet = devnet(&home, base, (0, 0, 3), BLOCKS_PER_EPOCH, &log);
    let node = format!("http://127.0.0.1:{}", base + 100);

    let mut before = None;
    wait_for(
        "a connectivity root that pays",
        Duration::from_secs(600),
        || {
            before = latest_root(&node).filter(|r| r.root.sum.0 > 0);
            before.is_some()
        },
    );
    let before = before.unwrap();

    // Every oracle stopped: no root can land while more than 70 epochs pass.
    signal(&home, "-STOP");
    let stopped_epoch = height(&node).unwrap() / BLOCKS_PER_EPOCH;
    wait_for(
        "70 epochs without the oracles",
        Duration::from_secs(600),
        || {
            height(&node)
                .is_some_and(|h| h >= (stopped_epoch + WITHOUT_A_ROOT + 1) * BLOCKS_PER_EPOCH)
        },
    );
    let stalled = latest_root(&node).unwrap();
    // (A root already in a block being made when they stopped may have landed just after.)
    assert!(
        stalled.epoch.0 <= stopped_epoch,
        "a root landed for epoch {} while the oracles were stopped at epoch {stopped_epoch}",
        stalled.epoch
    );
    let held: HeldPools = state(&node, &StateKey::UnpaidPools(Subnetwork::Connectivity))
        .expect("the expired pools are held for a later root");
    assert!(held.amount.0 > 0, "{held:?}");

    // Killed, the oracles are restarted by the devnet with their records.
    signal(&home, "-KILL");
    let mut after = None;
    wait_for(
        "a root after the outage that pays more",
        Duration::from_secs(600),
        || {
            let logs = oracle_logs(&home);
            assert!(!logs.contains("panicked"), "an oracle panicked:\n{logs}");
            after = latest_root(&node).filter(|r| {
                r.epoch.0 >= stopped_epoch + WITHOUT_A_ROOT && r.root.sum.0 > stalled.root.sum.0
            });
            after.is_some()
        },
    );
    let after = after.unwrap();
    assert!(after.epoch.0 - before.epoch.0 >= WITHOUT_A_ROOT);
    // The held pools went to that root (its cumulative rewards count every held epoch).
    let still_held: Option<HeldPools> =
        state(&node, &StateKey::UnpaidPools(Subnetwork::Connectivity));
    assert!(
        still_held.is_none_or(|h| h.through > held.through),
        "the pools held before are still held: {still_held:?}"
    );

    // Carol (who owns the hotspots) claims against it and is paid.
    let oracle = format!("http://127.0.0.1:{}", base + 200);
    let paid_before = balance(&home, &node, "carol");
    // The root on chain may have been signed before this oracle kept its own copy of the
    // epoch's result: ask again until it holds the reward (then the claim must succeed).
    let claim = [
        "rewards", "claim", "--oracle", &oracle, "--node", &node, "--from", "carol",
    ];
    wait_for(
        "the oracle to hold carol's reward",
        Duration::from_secs(120),
        || {
            let out = common::cairn(&home, &claim);
            out.status.success()
                || !String::from_utf8_lossy(&out.stderr).contains("nothing to claim")
        },
    );
    let paid_now = balance(&home, &node, "carol");
    if paid_now.0 == paid_before.0 {
        ok(&home, &claim);
    }
    let paid_after = balance(&home, &node, "carol");
    assert!(
        paid_after.0 > paid_before.0,
        "carol's claim paid nothing ({paid_before} before, {paid_after} after)"
    );
}
