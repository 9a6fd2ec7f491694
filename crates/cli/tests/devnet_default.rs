//! End to end at the size README runs it: `cairn devnet` with every default (200 honest weather
//! stations and 3 cheaters, 12 honest coverage devices and 23 cheaters, 4 honest hotspots and 3
//! cheaters, 600-block epochs). The test that was missing: the end-to-end tests run 6 stations,
//! while the devnet everyone runs once stalled every reward root at 245 devices (each oracle's
//! node refused its thousands of single reads with 429).
//!
//! It waits for a sensing root on chain that pays at least 90% of alice's stations, and checks
//! that reward epoch 1 (the first whose devices were all registered before it began) has a root
//! within 900 blocks (3 minutes at the devnet's 200 ms blocks) of its end, counted in blocks so
//! that a slow machine moves the deadline with the chain; and that the oracle's status shows
//! its reads went in batches. Once reward epoch 0's root has landed unflooded, an outsider
//! floods the oracles' node with block reads from the oracles' own address, within the public
//! per-client limits: the oracles' signed requests have their own lane there, so reward epoch
//! 1's root, computed under the flood, must land within 30 s of epoch 0's root lag.
//! Slow tier (several minutes): `scripts/test.sh` runs it, `scripts/test.sh --quick` does not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/nodes.rs"]
mod nodes;
#[path = "common/running.rs"]
mod running;

use cairn_ledger::state::records::RewardRootRecord;
use cairn_ledger::StateKey;
use cairn_types::{Amount, Subnetwork};
use nodes::{get, height, wait_for};
use running::{devnet, oracle_logs, state};
use std::time::Duration;

/// The devnet's defaults, as README runs it.
const STATIONS: u32 = 200;
const COVERAGE: u32 = 12;
const HOTSPOTS: u32 = 4;
const BLOCKS_PER_EPOCH: u64 = 600;
/// Blocks after an epoch's end within which its root must be on chain (3 minutes of blocks).
const ROOT_WITHIN_BLOCKS: u64 = 900;

/// Alice's stations paid in reward epoch `e`, by an oracle's account.
fn stations_paid(oracle: &str, e: u64) -> usize {
    let Some((200, devices)) = get(&format!("{oracle}/v1/rewards/{e}/devices")) else {
        return 0;
    };
    devices
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|d| d["subnetwork"] == "sensing")
                .filter(|d| {
                    d["reward"]
                        .as_str()
                        .and_then(|r| r.parse::<Amount>().ok())
                        .is_some_and(|r| r.0 > 0)
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
#[ignore = "slow tier (several minutes): scripts/test.sh runs it; --quick skips it"]
fn the_readme_devnet_pays_its_roots_within_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("devnet");
    // Ports 4000-7999, apart from every other end-to-end test.
    let base = common::port_base(4_000, 400, 10);
    let log = dir.path().join("devnet.log");
    let _devnet = devnet(
        &home,
        base,
        (STATIONS, COVERAGE, HOTSPOTS),
        BLOCKS_PER_EPOCH,
        &log,
    );
    let node = format!("http://127.0.0.1:{}", base + 100);
    let oracle = format!("http://127.0.0.1:{}", base + 200);
    let logs = || std::fs::read_to_string(&log).unwrap_or_default() + &oracle_logs(&home);
    // Once epoch 0's root has landed (unflooded), an outsider floods the oracles' node with
    // block reads, within the public limits of one client (the oracles' own host, 127.0.0.1):
    // the oracles' signed reads have a lane of their own, so epoch 1's root, computed under
    // the flood, must land as soon as epoch 0's did. If epoch 0's root is late, the flood
    // starts anyway 150 blocks before epoch 1 ends.
    let mut flood: Option<Flood> = None;
    // Each root, as it lands, with the height the chain had reached when it was first seen.
    let mut landed: Vec<(u64, u64)> = Vec::new();
    let mut paid_epoch = None;
    wait_for(
        "a sensing root paying alice's stations",
        Duration::from_secs(900),
        || {
            let Some(h) = height(&node) else {
                return false;
            };
            if flood.is_none()
                && (landed.iter().any(|(e, _)| *e == 0) || h >= 2 * BLOCKS_PER_EPOCH - 150)
            {
                eprintln!("the flood starts at height {h}");
                flood = Some(Flood::start(&node, 4, 25));
            }
            for e in 0..2u64 {
                let any_root = Subnetwork::ALL.iter().any(|s| {
                    let key = StateKey::RewardRootOf(*s, cairn_types::Epoch(e));
                    state::<cairn_types::reward_tree::RewardNode>(&node, &key).is_some()
                });
                if any_root && !landed.iter().any(|(x, _)| *x == e) {
                    landed.push((e, h));
                }
            }
            let latest: Option<RewardRootRecord> =
                state(&node, &StateKey::RewardRoot(Subnetwork::Sensing));
            if let Some(record) = latest.filter(|r| r.root.sum.0 > 0) {
                let e = record.epoch.0;
                if stations_paid(&oracle, e) >= (STATIONS as usize) * 9 / 10 {
                    paid_epoch = Some(e);
                }
            }
            // Reward epoch 1 (the first whose devices were all registered before it began)
            // has a root within its bound, or the test fails now with the logs.
            let due = 2 * BLOCKS_PER_EPOCH + ROOT_WITHIN_BLOCKS;
            assert!(
                landed.iter().any(|(e, _)| *e >= 1) || h <= due,
                "no reward root for reward epoch 1 by height {h} (due by {due}); logs:\n{}",
                tail(&logs(), 80)
            );
            paid_epoch.is_some() && landed.iter().any(|(e, _)| *e >= 1)
        },
    );
    // The oracle reports each epoch's root lag (its end to root on chain, by block times),
    // in its status and as a Prometheus metric, once its root stage sees all its roots of the
    // epoch landed: a stage that failed a read waits up to a minute before its next try
    // (`MAX_RETRY_WAIT`), so the wait here is longer than that. The lag itself is measured by
    // block times, not by when the oracle notices.
    let mut status = serde_json::Value::Null;
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    while !status["root_lags"]
        .as_array()
        .is_some_and(|lags| lags.iter().any(|l| l["epoch"].as_u64() >= Some(1)))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no root lag of epoch 1 or later after 150 s: {status}; logs:\n{}",
            tail(&logs(), 80)
        );
        std::thread::sleep(Duration::from_secs(1));
        status = get(&format!("{oracle}/v1/status")).unwrap().1;
    }
    let lag_of = |e: u64| {
        status["root_lags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["epoch"].as_u64() == Some(e))
            .and_then(|l| l["root_lag_secs"].as_u64())
    };
    let flooded = lag_of(1).expect("epoch 1's root lag");
    assert!(flooded <= 180, "a root more than 3 minutes late: {status}");
    // Epoch 0's root landed before the flood began (unless it was late, then it has no lag
    // to compare with): under the flood, the root is at most 30 s later than without it.
    let unflooded = lag_of(0);
    eprintln!("root lag: epoch 0 (no flood) {unflooded:?} s, epoch 1 (flooded) {flooded} s");
    if let Some(unflooded) = unflooded {
        assert!(
            flooded <= unflooded + 30,
            "the flood delayed the root: {flooded} s against {unflooded} s: {status}"
        );
    }
    let metrics = nodes::agent()
        .get(&format!("{oracle}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains("cairn_oracle_root_lag_seconds ")
            && metrics.contains("cairn_oracle_state_keys_read_total "),
        "{metrics}"
    );
    let reads = &status["chain_reads"];
    assert!(
        reads["keys_read"].as_u64().unwrap() >= u64::from(STATIONS),
        "{status}"
    );
    // 1,024 keys a batch: a few dozen batches an epoch, not thousands of requests.
    let batches = reads["batches"].as_u64().unwrap();
    assert!(batches < 200, "{batches} batches: {status}");
    let (served, refused) = flood.expect("the flood started").stop();
    assert!(
        served > 1_000,
        "the flood was not served ({served} answers, {refused} refused)"
    );
    let logs = logs();
    assert!(!logs.contains("panicked"), "{}", tail(&logs, 80));
    assert!(
        !logs.contains("does not give this oracle's signed requests its lane"),
        "an oracle's reads were not in the oracles' lane:\n{}",
        tail(&logs, 80)
    );
}

/// Threads reading blocks from a node as fast as a public client may.
struct Flood {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<(u64, u64)>>,
}

impl Flood {
    /// `threads` readers of random recent blocks of `node`, each `per_second` a second.
    fn start(node: &str, threads: usize, per_second: u64) -> Flood {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..threads)
            .map(|i| {
                let (node, stop) = (node.to_string(), stop.clone());
                std::thread::spawn(move || {
                    let (mut served, mut refused) = (0u64, 0u64);
                    let mut n = i as u64;
                    let mut head = 1;
                    for round in 0u64.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        if round % 32 == 0 {
                            head = height(&node).unwrap_or(head).max(1);
                        }
                        n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        let block = 1 + (n >> 33) % head;
                        match nodes::agent()
                            .get(&format!("{node}/v1/blocks/{block}"))
                            .call()
                        {
                            Ok(answer) if answer.status().as_u16() == 200 => served += 1,
                            _ => refused += 1,
                        }
                        std::thread::sleep(Duration::from_millis(1_000 / per_second));
                    }
                    (served, refused)
                })
            })
            .collect();
        Flood { stop, threads }
    }

    /// Stops the readers; the answers served and refused.
    fn stop(self) -> (u64, u64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
