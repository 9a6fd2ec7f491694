//! End to end with real processes on loopback: `cairn devnet` with its oracle committee and an
//! agent of simulated devices. The agent registers its devices and reports; the three oracles
//! cut, commit, attest and compute the same root; it lands on chain; the owner claims it and its
//! balance rises by exactly its devices' rewards; a replay of the epoch matches the chain; an
//! oracle that lost its records starts again from the others' cumulative rewards and signs the
//! chain's roots. Bob's coverage devices are paid, and the devnet's coverage cheaters (a spoofed
//! location, a witness ring, a fabricator of witnesses, a replayer of beacons) earn nothing,
//! each refused for its cheat. Carol's hotspots carry a payer's data: the payer's delegated
//! credits are burned for the bytes by the connectivity root, the honest hotspots are rewarded,
//! and the inflating, self-signing and self-paying ones earn nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/nodes.rs"]
mod nodes;
#[path = "common/running.rs"]
mod running;

use cairn_ledger::state::records::RewardRootRecord;
use cairn_ledger::StateKey;
use cairn_types::reward_tree::RewardNode;
use cairn_types::{Amount, Epoch, Subnetwork};
use common::{cairn, ok};
use nodes::{get, wait_for};
use running::{balance, devnet, oracle_logs, state};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

fn sensing_root(node: &str) -> Option<RewardRootRecord> {
    state(node, &StateKey::RewardRoot(Subnetwork::Sensing))
}

/// `cairn rewards show` of `owner`'s devices in reward epoch `epoch`.
fn rewards_show(home: &std::path::Path, oracle: &str, epoch: u64, owner: &str) -> String {
    let epoch = epoch.to_string();
    let args = [
        "rewards", "show", "--oracle", oracle, "--epoch", &epoch, "--owner", owner,
    ];
    ok(home, &args)
}

/// Every device's payout in reward epoch `e`, by device id, by an oracle's account (None until
/// it computed the epoch).
fn payouts(oracle: &str, e: u64) -> Option<BTreeMap<String, Value>> {
    let (200, list) = get(&format!("{oracle}/v1/rewards/{e}/devices"))? else {
        return None;
    };
    Some(
        list.as_array()?
            .iter()
            .map(|d| (d["device"].as_str().unwrap_or("").to_string(), d.clone()))
            .collect(),
    )
}

/// What every sensing device (all Alice's) earned in reward epoch `e`, by an oracle's account.
fn earned_in(oracle: &str, e: u64) -> u128 {
    let Some((200, devices)) = get(&format!("{oracle}/v1/rewards/{e}/devices")) else {
        return 0;
    };
    devices
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["subnetwork"] == "sensing")
        .map(|d| d["reward"].as_str().unwrap().parse::<Amount>().unwrap().0)
        .sum()
}

#[test]
#[ignore = "slow tier (over a minute): scripts/test.sh runs it; --quick skips it"]
fn devices_report_oracles_agree_the_root_lands_and_the_owner_claims_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("devnet");
    // Ports 12000-15999, apart from every other end-to-end test (16000-19999: oracle_faults).
    let base = common::port_base(12_000, 400, 10);
    let devnet = devnet(&home, base, (6, 12, 3), 100, &dir.path().join("devnet.log"));
    let node = format!("http://127.0.0.1:{}", base + 100);
    let oracles: Vec<String> = (0..3)
        .map(|i| format!("http://127.0.0.1:{}", base + 200 + i))
        .collect();
    let mut root = None;
    wait_for(
        "a sensing reward root on chain",
        Duration::from_secs(600),
        || {
            // Stations earn from their first epoch of complete hours: wait for a root that
            // pays something.
            root = sensing_root(&node).filter(|r| r.root.sum.0 > 0);
            if root.is_none() {
                let logs = oracle_logs(&home);
                assert!(!logs.contains("panicked"), "an oracle panicked:\n{logs}");
            }
            root.is_some()
        },
    );
    let root = root.unwrap();
    let epoch = root.epoch.0;

    // The printout says where the oracles are and how to look at rewards and replay an epoch.
    let printout = std::fs::read_to_string(dir.path().join("devnet.log")).unwrap();
    for wanted in [
        "oracle 2: api",
        "rewards show",
        "rewards claim",
        "oracle replay",
    ] {
        assert!(printout.contains(wanted), "no {wanted:?} in:\n{printout}");
    }
    assert!(printout.contains("a witness ring of 20"), "{printout}");
    assert!(printout.contains("1 far off its neighbours"), "{printout}");
    sensing_cheaters_earn_nothing(&home, &node, &oracles, base);
    hotspots_are_paid_for_and_cheaters_earn_nothing(&home, &node, &oracles, base);

    // The three oracles computed the same root for the epoch, each alone.
    for oracle in &oracles {
        let (status, signed) = get(&format!("{oracle}/v1/rewards/{epoch}/signed")).unwrap();
        assert_eq!(status, 200, "{oracle}: {signed}");
        let roots = signed["roots"].as_array().unwrap();
        let sensing = roots
            .iter()
            .find(|r| r[0] == "sensing")
            .unwrap_or_else(|| panic!("{oracle} has no sensing root: {signed}"));
        assert_eq!(
            sensing[1]["hash"].as_str().unwrap(),
            root.root.hash.to_string(),
            "{oracle} signed another root"
        );
    }

    // Alice owns every device: her cumulative reward is the root's total, and it is the sum of
    // what her devices earned, epoch by epoch.
    let earned: u128 = (0..=epoch).map(|e| earned_in(&oracles[0], e)).sum();
    assert_eq!(Amount(earned), root.root.sum);
    assert!(earned > 0, "no device earned anything");

    let shown = rewards_show(&home, &oracles[1], epoch, "alice");
    assert!(shown.contains("point(s)"), "{shown}");

    let before = balance(&home, &node, "alice");
    let params: Value = get(&format!("{node}/v1/params")).unwrap().1;
    let fee: Amount = params["tx_fee_min"].as_str().unwrap().parse().unwrap();
    ok(
        &home,
        &[
            "rewards",
            "claim",
            "--oracle",
            &oracles[2],
            "--node",
            &node,
            "--from",
            "alice",
        ],
    );
    let after = balance(&home, &node, "alice");
    // What was claimed is the cumulative total of a root on chain (a later root may have
    // landed meanwhile): the balance rose by exactly that, less the fee, and it is what Alice's
    // devices earned through that root's epoch.
    let claimed = after.0 + fee.0 - before.0;
    let mut through = 0u128;
    let mut matched = false;
    for e in 0..=epoch + 3 {
        through += earned_in(&oracles[0], e);
        matched |= through == claimed;
    }
    assert!(
        matched,
        "claimed {claimed}, which no epoch's cumulative earnings equal"
    );
    assert!(claimed >= root.root.sum.0);
    // A second claim pays nothing and says so.
    let again = cairn(
        &home,
        &[
            "rewards",
            "claim",
            "--oracle",
            &oracles[0],
            "--node",
            &node,
            "--from",
            "alice",
        ],
    );
    assert!(!again.status.success());

    // Anyone can replay the epoch and find the chain's root.
    let replay = ok(
        &home,
        &[
            "oracle",
            "replay",
            "--epoch",
            &epoch.to_string(),
            "--node",
            &node,
        ],
    );
    assert!(
        replay.contains("sensing") && replay.contains("matches"),
        "{replay}"
    );
    // The home's genesis.json is the trust the read state's header is checked from.
    assert!(
        replay.contains("under a certificate of seats followed from the genesis"),
        "{replay}"
    );

    // An oracle that lost every record (as one joining late has none) starts at the chain's
    // current epoch from the others' cumulative rewards: the roots it signs are the chain's.
    std::fs::rename(home.join("oracle-2/data"), home.join("oracle-2/data-lost")).unwrap();
    let pid = std::fs::read_to_string(home.join("oracle-2/oracle.pid")).unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Its first signed sensing root (an epoch in which no device reported has none), looked
    // for one computed epoch after the other from the epoch it restarted in (on the devnet a
    // reward epoch is one consensus epoch of 40 blocks).
    let restarted_height = nodes::height(&node).unwrap();
    let mut next = (restarted_height / 40).max(epoch + 1);
    let mut first_signed = None;
    wait_for(
        "the restarted oracle's first root on chain",
        Duration::from_secs(600),
        || {
            while first_signed.is_none() {
                let url = format!("{}/v1/rewards/{next}/signed", oracles[2]);
                let Some((200, signed)) = get(&url) else {
                    // Not computed yet, or before its first epoch (it computes in order from
                    // there): skip ahead to a computed one, if any.
                    let computed = (next + 1..=next + 5).find(|e| {
                        let url = format!("{}/v1/rewards/{e}/signed", oracles[2]);
                        get(&url).is_some_and(|(status, _)| status == 200)
                    });
                    match computed {
                        Some(e) => {
                            next = e;
                            continue;
                        }
                        None => break,
                    }
                };
                let roots = signed["roots"].as_array().cloned().unwrap_or_default();
                if roots.iter().any(|r| r[0] == "sensing") {
                    first_signed = Some(next);
                } else {
                    next += 1;
                }
            }
            first_signed.is_some_and(|e| {
                state::<RewardNode>(
                    &node,
                    &StateKey::RewardRootOf(Subnetwork::Sensing, Epoch(e)),
                )
                .is_some()
            })
        },
    );
    let first = first_signed.unwrap();
    let on_chain: RewardNode = state(
        &node,
        &StateKey::RewardRootOf(Subnetwork::Sensing, Epoch(first)),
    )
    .unwrap();
    let (_, signed) = get(&format!("{}/v1/rewards/{first}/signed", oracles[2])).unwrap();
    let sensing = signed["roots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == "sensing")
        .cloned()
        .unwrap_or_else(|| panic!("no sensing root: {signed}"));
    assert_eq!(
        sensing[1]["hash"].as_str().unwrap(),
        on_chain.hash.to_string(),
        "the restarted oracle signed another root for epoch {first}"
    );
    assert!(
        on_chain.sum.0 > root.root.sum.0,
        "its root holds what was paid before"
    );
    coverage_cheaters_earn_nothing(&home, &node, &oracles, base);
    drop(devnet);
}

/// Alice's honest weather stations are paid in an epoch in which each station cheater (far off
/// its neighbours, frozen, moved) is refused for its cheat and earns nothing; `rewards show`
/// names the codes and each station's quality of data.
fn sensing_cheaters_earn_nothing(
    home: &std::path::Path,
    node: &str,
    oracles: &[String],
    base: u16,
) {
    let (_, status) = get(&format!("http://127.0.0.1:{}/status", base + 300)).unwrap();
    let cheaters: BTreeMap<String, Vec<String>> =
        serde_json::from_value(status["cheaters"].clone()).unwrap();
    let devices: Vec<String> = serde_json::from_value(status["devices"].clone()).unwrap();
    let caught_for = [
        ("far_off", "disagrees_with_neighbours"),
        ("flatline", "frozen_sensor"),
        ("mover", "relocated"),
    ];
    let cheating: Vec<&String> = cheaters.values().flatten().collect();
    assert_eq!(cheating.len(), 3, "{status}");
    let honest: Vec<&String> = devices.iter().filter(|d| !cheating.contains(d)).collect();
    assert_eq!(honest.len(), 6);
    // The mover moved when the agent registered it; it moves again now (its owner asserts a
    // place 10 km north), so that its quarantine covers the epochs looked at below.
    let mover = &cheaters["mover"][0];
    ok(
        home,
        &[
            "tx",
            "--node",
            node,
            "--from",
            "alice",
            "--wait",
            "assert-location",
            "--device",
            mover,
            "--lat",
            "48.95",
            "--lng",
            "2.35",
        ],
    );
    let (_, status) = get(&format!("{node}/v1/status")).unwrap();
    let mut e = status["epoch"].as_u64().unwrap();
    let reward = |p: &Value| p["reward"].as_str().unwrap().parse::<Amount>().unwrap().0;
    let refused = |p: &Value, code: &str| p["rejected"][code].as_u64().unwrap_or(0) > 0;
    let mut found = None;
    wait_for(
        "an epoch in which every honest station is paid and every station cheater caught",
        Duration::from_secs(600),
        || {
            while let Some(list) = payouts(&oracles[0], e) {
                let caught = caught_for.iter().all(|(part, code)| {
                    cheaters[*part]
                        .iter()
                        .all(|d| list.get(d).is_some_and(|p| refused(p, code)))
                });
                let paid = honest
                    .iter()
                    .all(|d| list.get(*d).is_some_and(|p| reward(p) > 0));
                if caught && paid {
                    found = Some((e, list));
                    return true;
                }
                e += 1;
            }
            false
        },
    );
    let (epoch, list) = found.unwrap();
    for d in &cheating {
        assert_eq!(reward(&list[*d]), 0, "cheater {d}: {:?}", list[*d]);
    }
    for d in &honest {
        assert_eq!(list[*d]["quality_bps"], 10_000, "{:?}", list[*d]);
    }
    let shown = rewards_show(home, &oracles[0], epoch, "alice");
    for (_, code) in caught_for {
        assert!(shown.contains(code), "no {code} in:\n{shown}");
    }
    assert!(shown.contains("quality of data: 100.00%"), "{shown}");
}

/// Bob's honest coverage devices are paid in an epoch in which every cheater is refused for
/// its cheat and earns nothing; the coverage root lands, and `rewards show` names the codes.
fn coverage_cheaters_earn_nothing(
    home: &std::path::Path,
    node: &str,
    oracles: &[String],
    base: u16,
) {
    let (_, status) = get(&format!("http://127.0.0.1:{}/status", base + 301)).unwrap();
    let cheaters: BTreeMap<String, Vec<String>> =
        serde_json::from_value(status["cheaters"].clone()).unwrap();
    let devices: Vec<String> = serde_json::from_value(status["devices"].clone()).unwrap();
    let caught_for = [
        ("spoofed", "too_far"),
        ("ring", "witness_ring"),
        ("fabricator", "impossible_signal"),
        ("replayer", "bad_entropy"),
    ];
    assert_eq!(cheaters["ring"].len(), 20, "{status}");
    let cheating: Vec<&String> = cheaters.values().flatten().collect();
    let mut honest: Vec<&String> = devices.iter().filter(|d| !cheating.contains(d)).collect();
    assert_eq!(honest.len(), 12);
    // Two of the three oracles (2/3 of the stake) deny one honest device from now on.
    let denied = honest.remove(0);
    let why = "seen moving between witnesses (a test)";
    for i in 0..2 {
        let entry = format!("[[device]]\nid = \"{denied}\"\nreason = \"{why}\"\n");
        std::fs::write(home.join(format!("oracle-{i}/denylist.toml")), entry).unwrap();
    }
    // The replayer replays entropy a few minutes old, so the first epochs may not show it:
    // look for the first epoch whose payouts refuse every cheater for its cheat.
    let payouts = |e: u64| payouts(&oracles[0], e);
    let refused = |device: &Value, code: &str| device["rejected"][code].as_u64().unwrap_or(0) > 0;
    let mut e = 1;
    let mut found = None;
    wait_for(
        "an epoch in which every coverage cheater is caught and the denied device denied",
        Duration::from_secs(900),
        || {
            while let Some(list) = payouts(e) {
                let all_caught = caught_for.iter().all(|(part, code)| {
                    cheaters[*part]
                        .iter()
                        .all(|d| list.get(d).is_some_and(|p| refused(p, code)))
                });
                let denylisted = list
                    .get(denied)
                    .is_some_and(|p| p["denylisted"].as_array().is_some_and(|a| !a.is_empty()));
                if all_caught && denylisted {
                    found = Some((e, list));
                    return true;
                }
                e += 1;
            }
            false
        },
    );
    let (epoch, list) = found.unwrap();
    let reward = |d: &String| -> u128 {
        list.get(d).map_or(0, |p| {
            p["reward"].as_str().unwrap().parse::<Amount>().unwrap().0
        })
    };
    for d in &cheating {
        assert_eq!(
            reward(d),
            0,
            "cheater {d} earned in epoch {epoch}: {:?}",
            list.get(*d)
        );
    }
    assert_eq!(reward(denied), 0);
    assert_eq!(list[denied]["denylisted"][0], why);
    for d in &honest {
        assert!(
            reward(d) > 0,
            "honest {d} earned nothing in epoch {epoch}: {:?}",
            list.get(*d)
        );
    }
    assert_eq!(reward(denied), 0);
    assert_eq!(list[denied]["denylisted"][0], why);
    wait_for(
        "the coverage root of that epoch on chain",
        Duration::from_secs(600),
        || {
            state::<RewardNode>(
                node,
                &StateKey::RewardRootOf(Subnetwork::Coverage, Epoch(epoch)),
            )
            .is_some()
        },
    );
    let shown = rewards_show(home, &oracles[1], epoch, "bob");
    for (_, code) in caught_for {
        assert!(shown.contains(code), "no {code} in:\n{shown}");
    }
    assert!(
        shown.contains(&format!("denylisted by 2/3 of oracle stake: {why}")),
        "{shown}"
    );
    // Anyone replaying the epoch finds the same denylist, so the same coverage root.
    let replay = ok(
        home,
        &[
            "oracle",
            "replay",
            "--epoch",
            &epoch.to_string(),
            "--node",
            node,
        ],
    );
    assert!(
        replay.contains("coverage") && !replay.contains("DIFFERS"),
        "{replay}"
    );
}

/// Carol's honest hotspots are rewarded for the bytes the payer signed, in an epoch in which the
/// inflater and the self-signer are refused (`transfer_unsigned`) and the self-paid hotspot's
/// bytes count for nothing (`payer_short`); the connectivity root of that epoch lands with the
/// payer's settlement, priced at 50 DC a MiB, and the ledger burned it from the payer's
/// delegated credits.
fn hotspots_are_paid_for_and_cheaters_earn_nothing(
    home: &std::path::Path,
    node: &str,
    oracles: &[String],
    base: u16,
) {
    let (_, status) = get(&format!("http://127.0.0.1:{}/status", base + 302)).unwrap();
    let cheaters: BTreeMap<String, Vec<String>> =
        serde_json::from_value(status["cheaters"].clone()).unwrap();
    let devices: Vec<String> = serde_json::from_value(status["devices"].clone()).unwrap();
    let caught_for = [
        ("inflater", "transfer_unsigned"),
        ("device_signed", "transfer_unsigned"),
        ("unfunded", "payer_short"),
    ];
    let cheating: Vec<&String> = cheaters.values().flatten().collect();
    assert_eq!(cheating.len(), 3, "{status}");
    let honest: Vec<&String> = devices.iter().filter(|d| !cheating.contains(d)).collect();
    assert_eq!(honest.len(), 3);
    let seed = std::fs::read_to_string(home.join("connectivity-agent/payer.key")).unwrap();
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(seed.trim(), &mut bytes).unwrap();
    let payer = cairn_types::Address(cairn_types::SecretKey::from_seed(bytes).public_key());

    let reward = |p: &Value| p["reward"].as_str().unwrap().parse::<Amount>().unwrap().0;
    let refused = |p: &Value, code: &str| p["rejected"][code].as_u64().unwrap_or(0) > 0;
    let mut e = 1;
    let mut found = None;
    wait_for(
        "an epoch in which every honest hotspot is paid, every cheater caught, and the root landed",
        Duration::from_secs(600),
        || {
            while let Some(list) = payouts(&oracles[0], e) {
                let caught = caught_for.iter().all(|(part, code)| {
                    cheaters[*part]
                        .iter()
                        .all(|d| list.get(d).is_some_and(|p| refused(p, code)))
                });
                let paid = honest
                    .iter()
                    .all(|d| list.get(*d).is_some_and(|p| reward(p) > 0));
                let landed = state::<RewardNode>(
                    node,
                    &StateKey::RewardRootOf(Subnetwork::Connectivity, Epoch(e)),
                )
                .is_some();
                if caught && paid && landed {
                    found = Some((e, list));
                    return true;
                }
                if !(caught && paid) {
                    e += 1;
                    continue;
                }
                return false; // wait for this epoch's root
            }
            false
        },
    );
    let (epoch, list) = found.unwrap();
    for d in &cheating {
        assert_eq!(reward(&list[*d]), 0, "cheater {d}: {:?}", list[*d]);
    }
    // Points are the bytes paid for; the payer owes 50 DC a MiB of them, rounded up.
    let paid_bytes: u128 = honest
        .iter()
        .map(|d| u128::from(list[*d]["points"].as_u64().unwrap()))
        .sum();
    assert!(paid_bytes >= 8 << 20, "{paid_bytes} bytes");
    let owed = (paid_bytes * 50).div_ceil(1 << 20);
    let (_, signed) = get(&format!("{}/v1/rewards/{epoch}/signed", oracles[1])).unwrap();
    let settlements: Vec<cairn_types::tx::Settlement> =
        serde_json::from_value(signed["settlements"]["connectivity"].clone()).unwrap();
    assert_eq!(
        settlements,
        vec![cairn_types::tx::Settlement {
            payer,
            credits: cairn_types::Credits(u64::try_from(owed).unwrap()),
            signed: cairn_types::Credits(u64::try_from(owed).unwrap()),
        }],
        "{signed}"
    );
    // The chain burned exactly those settlements with the root.
    let burned: cairn_types::Hash = state(
        node,
        &StateKey::SettlementsOf(Subnetwork::Connectivity, Epoch(epoch)),
    )
    .unwrap();
    assert_eq!(burned, cairn_types::tx::settlements_digest(&settlements));
    let out = ok(
        home,
        &[
            "--json",
            "query",
            "--node",
            node,
            "settled",
            &payer.to_string(),
        ],
    );
    let settled: Value = serde_json::from_str(&out).unwrap();
    assert!(
        settled["burned_total"].as_u64().unwrap() >= u64::try_from(owed).unwrap(),
        "{settled}"
    );
    assert_eq!(settled["short_total"].as_u64(), Some(0), "{settled}");
    let held: cairn_types::Credits = state(
        node,
        &StateKey::DelegatedCredits(payer, Subnetwork::Connectivity),
    )
    .unwrap();
    assert!(
        held.0 < 5_000_000,
        "the payer's credits did not fall: {held:?}"
    );
    let shown = rewards_show(home, &oracles[0], epoch, "carol");
    for (_, code) in caught_for {
        assert!(shown.contains(code), "no {code} in:\n{shown}");
    }
}
