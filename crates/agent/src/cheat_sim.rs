//! Test only: an agent's simulated coverage devices, honest and cheating, run for half an hour
//! of windows without a clock, and what they report scored by the oracles' own verifier
//! ([`cairn_resources::coverage::score`]). The honest devices are paid; every cheater earns
//! nothing, for the reason its cheat deserves.

use crate::cheat::Role;
use crate::config::{CheatersSection, CoverageSection};
use crate::coverage::Planner;
use cairn_resources::coverage::rules::CoverageRules;
use cairn_resources::coverage::score::score;
use cairn_resources::coverage::types::{Beacon, Denylist, Witness};
use cairn_resources::reason::Reason;
use cairn_types::report::ReportPayload;
use cairn_types::{DeviceId, Hash, SecretKey};
use std::collections::BTreeMap;

const WINDOW_MS: u64 = 10_000;
/// A new block (entropy) every this many ms.
const BLOCK_MS: u64 = 15_000;
const START_MS: u64 = 1_800_000_000_000;

/// Runs `devices` for `minutes`, then scores the last `scored_minutes`: each device's part and
/// outcome.
fn run(
    honest: u32,
    cheaters: CheatersSection,
    minutes: u64,
    scored_minutes: u64,
) -> Vec<(
    Role,
    DeviceId,
    cairn_resources::coverage::score::CoverageOutcome,
)> {
    let config = CoverageSection {
        window_secs: WINDOW_MS / 1_000,
        cheaters: cheaters.clone(),
        ..CoverageSection::default()
    };
    let n = honest + u32::try_from(cheaters.total()).unwrap();
    let ids: Vec<DeviceId> = (0..n)
        .map(|i| DeviceId(SecretKey::from_label(&format!("sim/device-{i}")).public_key()))
        .collect();
    let mut planner = Planner::new(&config, "sim", &ids, 0);
    let rules = CoverageRules::default();
    let mut blocks: BTreeMap<u64, (Hash, u64)> = BTreeMap::new();
    let (mut beacons, mut witnesses) = (Vec::new(), Vec::new());
    let end = START_MS + minutes * 60_000;
    let scored_from = end - scored_minutes * 60_000;
    for now in (START_MS..end).step_by(100) {
        let height = (now - START_MS) / BLOCK_MS + 1;
        let block = *blocks
            .entry(height)
            .or_insert((Hash::domain("sim block", &[&height.to_le_bytes()]), now));
        for (k, body) in planner.due(now, (height, block.0)) {
            if body.time_ms < scored_from {
                continue;
            }
            let location = planner.location(k).unwrap();
            let region = rules.regions.region_of(location);
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(witnesses.len() as u64).to_le_bytes());
            match body.payload {
                ReportPayload::Beacon {
                    entropy_height,
                    frequency_khz,
                    tx_power_cdbm,
                    data,
                } => beacons.push(Beacon {
                    device: ids[k],
                    location,
                    region,
                    time_ms: body.time_ms,
                    entropy: body.entropy,
                    entropy_time_ms: blocks
                        .get(&entropy_height)
                        .filter(|(digest, _)| *digest == body.entropy)
                        .map(|(_, t)| *t),
                    data,
                    frequency_khz,
                    tx_power_cdbm,
                }),
                ReportPayload::Witness {
                    beaconer,
                    data,
                    frequency_khz,
                    rssi_cdbm,
                    ..
                } => witnesses.push(Witness {
                    device: ids[k],
                    location: Some(location),
                    region: Some(region),
                    time_ms: body.time_ms,
                    beaconer,
                    data,
                    frequency_khz,
                    rssi_cdbm,
                    id,
                }),
                _ => unreachable!("the planner makes beacons and witnesses only"),
            }
        }
    }
    let outcomes = score(
        &rules,
        WINDOW_MS,
        &Denylist::default(),
        &beacons,
        &witnesses,
    );
    ids.iter()
        .enumerate()
        .map(|(k, id)| {
            let outcome = outcomes.get(id).cloned().unwrap_or_default();
            (planner.role(k), *id, outcome)
        })
        .collect()
}

#[test]
fn honest_devices_are_paid_and_every_cheater_earns_nothing() {
    let cheaters = CheatersSection {
        spoofed: 1,
        ring: 20,
        fabricators: 1,
        replayers: 1,
        ..CheatersSection::default()
    };
    let devices = run(12, cheaters, 12, 6);
    let expected = [
        (Role::Spoofed, Reason::TooFar),
        (Role::Ring, Reason::WitnessRing),
        (Role::Fabricator, Reason::ImpossibleSignal),
        (Role::Replayer, Reason::BadEntropy),
    ];
    for (role, device, outcome) in &devices {
        if *role == Role::Honest {
            assert!(
                outcome.points > 0,
                "honest {device} earned nothing: {outcome:?}"
            );
            continue;
        }
        assert_eq!(outcome.points, 0, "{role:?} {device} earned: {outcome:?}");
        let (_, reason) = expected.iter().find(|(r, _)| r == role).unwrap();
        assert!(
            outcome.refused.contains_key(reason),
            "{role:?} {device} was not refused for {reason:?}: {outcome:?}"
        );
    }
    assert_eq!(
        devices.iter().filter(|(r, _, _)| *r == Role::Ring).count(),
        20
    );
}

#[test]
fn without_cheaters_every_device_is_paid() {
    let devices = run(19, CheatersSection::default(), 6, 3);
    assert!(devices.iter().all(|(_, _, o)| o.points > 0));
}

/// The cheaters that know the rules pass the checks their naive twins fail; the pair rule
/// (`one_way_witness`) still takes the weak fabricators' made-up witnesses and the bridged
/// ring's bridge (a ring again), and the spoofed group, liars together, is paid: what `cairn
/// bench oracle` measures (`adaptive_to_honest_reward_ratio`) and docs/COVERAGE.md explains.
#[test]
fn cheaters_that_know_the_rules_lose_their_made_up_edges_and_liars_together_are_paid() {
    let cheaters = CheatersSection {
        weak_fabricators: 3,
        bridged_ring: 4,
        spoofed_group: 4,
        ..CheatersSection::default()
    };
    let devices = run(19, cheaters, 12, 6);
    let of = |role: Role| -> Vec<&cairn_resources::coverage::score::CoverageOutcome> {
        devices
            .iter()
            .filter(|(r, _, _)| *r == role)
            .map(|(_, _, o)| o)
            .collect()
    };
    let refused = |o: &cairn_resources::coverage::score::CoverageOutcome, r: Reason| {
        o.refused.get(&r).copied().unwrap_or(0)
    };
    for role in [Role::WeakFabricator, Role::BridgedRing, Role::SpoofedGroup] {
        for o in of(role) {
            for naive in [Reason::ImpossibleSignal, Reason::TooFar] {
                assert_eq!(refused(o, naive), 0, "{role:?} {naive:?}: {o:?}");
            }
        }
    }
    // Each weak fabricator's witnesses of honest beacons are one way; what counts is what its
    // two fellows give it (at most a witness of each of their beacons).
    for o in of(Role::WeakFabricator) {
        assert!(refused(o, Reason::OneWayWitness) > 6 * 6, "{o:?}");
        assert!(o.witnesses <= 2 * 6 * 6, "{o:?}");
    }
    // The bridge does not count: the ring is a ring.
    let bridged = of(Role::BridgedRing);
    assert!(bridged.iter().all(|o| o.points == 0), "{bridged:?}");
    assert!(
        refused(bridged[0], Reason::OneWayWitness) > 0,
        "{bridged:?}"
    );
    assert!(bridged.iter().any(|o| refused(o, Reason::WitnessRing) > 0));
    // The spoofed group is paid: nothing it reports is inconsistent.
    assert!(of(Role::SpoofedGroup).iter().all(|o| o.points > 0));
    assert!(of(Role::Honest).iter().all(|o| o.points > 0));
}
