//! The coverage policy: from an epoch's counted beacons and witnesses to each device's points.
//!
//! 1. Each beacon is checked ([`super::beacon::check_beacon`]); a denylisted beaconer's beacons
//!    are refused (`denylisted_device`), so nobody can witness them.
//! 2. Each witness must name a valid beacon (`unknown_beacon`); each beacon's witnesses are
//!    judged and the first ones counted ([`super::witness::select_witnesses`]). A witness
//!    counts only between devices that heard each other: the beaconer must have filed a valid
//!    witness of one of the witness's valid beacons in the epoch (`one_way_witness`). Radio
//!    links go both ways; a witness made up of a beacon from too far to hear back, or a ring's
//!    one made-up edge out of its cell, does not.
//! 3. A beacon with at least one counted witness earns its beaconer [`BEACON_UNITS`]; each
//!    counted witness earns its device [`WITNESS_UNITS`].
//! 4. Reciprocity: a device earns only if, in the epoch, it sent a valid beacon and counted as
//!    a witness at least once (`no_reciprocity`).
//! 5. Devices of a witness ring, a crowded group cut off from the rest, earn nothing
//!    ([`super::ring`], `witness_ring`).
//! 6. What remains is scaled by density ([`super::density`]): points = units × scale, in
//!    millionths, rounded down.

use super::beacon::check_beacon;
use super::density::density_scales;
use super::ring::rings;
use super::rules::CoverageRules;
use super::types::{Beacon, Denylist, Witness};
use super::witness::{check_witness, select_witnesses};
use crate::reason::Reason;
use cairn_types::{Cell, DeviceId, Hash};
use std::collections::BTreeMap;

/// Units a beaconer earns for a beacon with at least one counted witness.
pub const BEACON_UNITS: u64 = 2;
/// Units a device earns for each of its counted witnesses.
pub const WITNESS_UNITS: u64 = 1;

/// One device's coverage for the epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoverageOutcome {
    /// Its valid beacons that had at least one counted witness.
    pub beacons_witnessed: u64,
    /// Its counted witnesses.
    pub witnesses: u64,
    /// Units before density scaling (zero if it failed reciprocity or is in a ring).
    pub units: u64,
    /// Its density scale, in millionths.
    pub scale: u64,
    /// Points: units × scale.
    pub points: u64,
    /// Its beacons and witnesses refused, and device-wide reasons, by reason.
    pub refused: BTreeMap<Reason, u64>,
    /// Why the denylist names it, or a pair it witnesses in, as committed with the epoch.
    pub denylisted: Vec<String>,
}

/// Counts one refusal of `device` for `reason`.
fn refuse(out: &mut BTreeMap<DeviceId, CoverageOutcome>, device: DeviceId, reason: Reason) {
    *out.entry(device)
        .or_default()
        .refused
        .entry(reason)
        .or_default() += 1;
}

/// Scores an epoch's counted beacons and witnesses; `window_ms` is the epoch's window length.
pub fn score(
    rules: &CoverageRules,
    window_ms: u64,
    denylist: &Denylist,
    beacons: &[Beacon],
    witnesses: &[Witness],
) -> BTreeMap<DeviceId, CoverageOutcome> {
    let mut out: BTreeMap<DeviceId, CoverageOutcome> = BTreeMap::new();
    let mut located: BTreeMap<DeviceId, Cell> = BTreeMap::new();
    // 1. Valid beacons, by (beaconer, data).
    let mut valid: BTreeMap<(DeviceId, Hash), &Beacon> = BTreeMap::new();
    for beacon in beacons {
        out.entry(beacon.device).or_default();
        located.insert(beacon.device, beacon.location);
        let verdict = if denylist.devices.contains_key(&beacon.device) {
            Err(Reason::DenylistedDevice)
        } else {
            check_beacon(rules, window_ms, beacon)
        };
        match verdict {
            Ok(()) => {
                valid.insert((beacon.device, beacon.data), beacon);
            }
            Err(reason) => refuse(&mut out, beacon.device, reason),
        }
    }
    // 2. Witnesses, grouped by the beacon they name.
    let mut heard: BTreeMap<(DeviceId, Hash), Vec<&Witness>> = BTreeMap::new();
    for witness in witnesses {
        out.entry(witness.device).or_default();
        if let Some(cell) = witness.location {
            located.insert(witness.device, cell);
        }
        match valid.contains_key(&(witness.beaconer, witness.data)) {
            true => heard
                .entry((witness.beaconer, witness.data))
                .or_default()
                .push(witness),
            false => refuse(&mut out, witness.device, Reason::UnknownBeacon),
        }
    }
    // Pairs heard: (beaconer, witness) for every witness valid on its own.
    let mut heard_pairs: std::collections::BTreeSet<(DeviceId, DeviceId)> = Default::default();
    for (key, beacon) in &valid {
        for witness in heard.get(key).into_iter().flatten() {
            if check_witness(rules, denylist, beacon, witness).is_ok() {
                heard_pairs.insert((beacon.device, witness.device));
            }
        }
    }
    // 3. Units per beacon and witness; the counted edges.
    let mut edges = Vec::new();
    let mut beaconed: BTreeMap<DeviceId, bool> = BTreeMap::new();
    for (key, beacon) in &valid {
        beaconed.insert(beacon.device, true);
        let heard_back = |witness: &DeviceId| heard_pairs.contains(&(*witness, beacon.device));
        let judged = heard
            .get(key)
            .map(|ws| select_witnesses(rules, denylist, beacon, ws, &heard_back))
            .unwrap_or_default();
        for (device, reason) in judged.refused {
            refuse(&mut out, device, reason);
        }
        if !judged.counted.is_empty() {
            out.entry(beacon.device).or_default().beacons_witnessed += 1;
        }
        for device in judged.counted {
            out.entry(device).or_default().witnesses += 1;
            edges.push((beacon.device, device));
        }
    }
    // 4 and 5. Reciprocity and rings.
    let ring = rings(rules, &edges, &located);
    for (device, o) in out.iter_mut() {
        o.units = o.beacons_witnessed * BEACON_UNITS + o.witnesses * WITNESS_UNITS;
        let reason = if o.units == 0 {
            None
        } else if !(beaconed.contains_key(device) && o.witnesses > 0) {
            Some(Reason::NoReciprocity)
        } else if ring.contains(device) {
            Some(Reason::WitnessRing)
        } else {
            None
        };
        if let Some(reason) = reason {
            o.units = 0;
            *o.refused.entry(reason).or_default() += 1;
        }
    }
    // What the denylist says of each device, for its owner to see (both ends of a pair).
    for (device, why) in &denylist.devices {
        if let Some(o) = out.get_mut(device) {
            o.denylisted.push(why.clone());
        }
    }
    for ((beaconer, witness), why) in &denylist.edges {
        if let Some(o) = out.get_mut(witness) {
            o.denylisted
                .push(format!("as a witness of {beaconer}: {why}"));
        }
        if let Some(o) = out.get_mut(beaconer) {
            o.denylisted.push(format!("witnessed by {witness}: {why}"));
        }
    }
    // 6. Density, over the devices that still earn.
    let earning: BTreeMap<DeviceId, Cell> = located
        .into_iter()
        .filter(|(d, _)| out.get(d).is_some_and(|o| o.units > 0))
        .collect();
    for (device, scale) in density_scales(&earning, &rules.density) {
        if let Some(o) = out.get_mut(&device) {
            o.scale = scale;
            o.points = o.units.saturating_mul(scale);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage::beacon::tests::{beacon, device};
    use crate::coverage::witness::tests::{at, witness};

    /// The epoch scored by the default rules, with no denylist.
    fn scored(beacons: &[Beacon], witnesses: &[Witness]) -> BTreeMap<DeviceId, CoverageOutcome> {
        score(
            &CoverageRules::default(),
            crate::coverage::beacon::tests::WINDOW_MS,
            &Denylist::default(),
            beacons,
            witnesses,
        )
    }

    /// Honest devices 0..6 on a line, about 1.1 km apart, each beaconing once and heard by its
    /// neighbours at a believable strength.
    fn honest() -> (Vec<Beacon>, Vec<Witness>) {
        let spot = |i: u8| at(48.80 + f64::from(i) * 0.01, 2.35);
        let beacons: Vec<Beacon> = (0..6).map(|i| beacon(i, spot(i))).collect();
        let mut witnesses = Vec::new();
        for b in &beacons {
            for j in 0..6u8 {
                let seed = b.device;
                if device(j) != seed {
                    witnesses.push(witness(j, spot(j), b));
                }
            }
        }
        (beacons, witnesses)
    }

    #[test]
    fn honest_devices_earn_and_each_cheater_earns_nothing() {
        let (mut beacons, mut witnesses) = honest();
        // A replayed beacon: device 10 sends an old beacon again.
        let mut replayed = beacon(10, at(48.90, 2.40));
        replayed.entropy_time_ms = Some(replayed.time_ms - 600_000);
        beacons.push(replayed.clone());
        witnesses.push(witness(2, at(48.82, 2.35), &replayed));
        // A location spoofed by 1,000 km: device 11 claims Madrid and "hears" Paris.
        let madrid = at(40.4168, -3.7038);
        beacons.push(beacon(11, madrid));
        witnesses.push(witness(11, madrid, &beacons[0]));
        // A device reporting a witness it could not have heard: far too strong a signal.
        beacons.push(beacon(12, at(48.86, 2.36)));
        let mut loud = witness(12, at(48.86, 2.36), &beacons[1]);
        loud.rssi_cdbm = -2_000;
        witnesses.push(loud);
        // A ring of 20 devices in one cell, 50 km away, that only witness each other.
        let spots = crate::coverage::ring::tests::crowded_spots(49.30, 2.35, 20);
        let ring_spot = |i: u8| spots[usize::from(i)];
        let ring: Vec<Beacon> = (20..40u8).map(|i| beacon(i, ring_spot(i - 20))).collect();
        for b in &ring {
            for j in 20..40u8 {
                if device(j) != b.device {
                    witnesses.push(witness(j, ring_spot(j - 20), b));
                }
            }
        }
        beacons.extend(ring);
        let out = scored(&beacons, &witnesses);
        for i in 0..6 {
            let o = &out[&device(i)];
            assert!(o.points > 0, "honest device {i}: {o:?}");
        }
        let reason_of =
            |seed: u8, r: Reason| out[&device(seed)].refused.get(&r).copied().unwrap_or(0);
        assert!(reason_of(10, Reason::BadEntropy) == 1 && out[&device(10)].points == 0);
        assert!(reason_of(2, Reason::UnknownBeacon) == 1);
        assert!(reason_of(11, Reason::TooFar) == 1 && out[&device(11)].points == 0);
        assert!(reason_of(12, Reason::ImpossibleSignal) == 1 && out[&device(12)].points == 0);
        // Every ring device earns nothing; those whose witnesses passed every other check are
        // refused as a ring (the others were too close to each other to count at all).
        let mut ringed = 0;
        for i in 20..40u8 {
            assert_eq!(out[&device(i)].points, 0, "ring device {i}");
            ringed += reason_of(i, Reason::WitnessRing);
        }
        assert!(ringed >= 15, "{ringed} of 20 refused as a ring");
    }

    #[test]
    fn reciprocity_and_the_denylist() {
        let rules = CoverageRules::default();
        let (mut beacons, witnesses) = honest();
        // Device 5 stops beaconing: nobody hears it, so its witnesses no longer pay.
        beacons.retain(|b| b.device != device(5));
        let out = scored(&beacons, &witnesses);
        assert_eq!(
            out[&device(5)].refused.get(&Reason::OneWayWitness),
            Some(&5)
        );
        assert_eq!(out[&device(5)].points, 0);
        // Device 0 is denylisted: its beacons are refused and its witnesses too.
        let mut deny = Denylist::default();
        deny.devices.insert(device(0), "spoofed location".into());
        let (beacons, witnesses) = honest();
        let out = score(
            &rules,
            crate::coverage::beacon::tests::WINDOW_MS,
            &deny,
            &beacons,
            &witnesses,
        );
        assert_eq!(out[&device(0)].points, 0);
        assert_eq!(
            out[&device(0)].refused.get(&Reason::DenylistedDevice),
            Some(&6)
        );
        assert_eq!(out[&device(0)].denylisted, ["spoofed location"]);
        assert!(out[&device(1)].points > 0);
        assert!(out[&device(1)].denylisted.is_empty());
        // A denied pair: the witness's owner sees which pair, and why.
        let mut deny = Denylist::default();
        deny.edges
            .insert((device(0), device(1)), "colluding pair".into());
        let out = score(
            &rules,
            crate::coverage::beacon::tests::WINDOW_MS,
            &deny,
            &beacons,
            &witnesses,
        );
        assert!(out[&device(1)]
            .refused
            .contains_key(&Reason::DenylistedEdge));
        assert_eq!(
            out[&device(1)].denylisted,
            [format!("as a witness of {}: colluding pair", device(0))]
        );
        assert_eq!(
            out[&device(0)].denylisted,
            [format!("witnessed by {}: colluding pair", device(1))]
        );
    }

    #[test]
    fn a_witness_counts_only_between_devices_that_heard_each_other() {
        let (mut beacons, mut witnesses) = honest();
        // Device 20, 40 km east, files witnesses of every honest beacon at a signal free space
        // allows; nobody hears its own beacon.
        let far = at(48.82, 2.90);
        beacons.push(beacon(20, far));
        for b in &beacons[..6] {
            let mut w = witness(20, far, b);
            w.rssi_cdbm = -13_000;
            witnesses.push(w);
        }
        let out = scored(&beacons, &witnesses);
        let o = &out[&device(20)];
        assert_eq!(
            (o.witnesses, o.points, o.refused.get(&Reason::OneWayWitness)),
            (0, 0, Some(&6)),
            "{o:?}"
        );
        assert!((0..6).all(|i| out[&device(i)].points > 0));
        // Device 0 hears it back: that pair, and only it, counts both ways.
        let mut back = witness(0, at(48.80, 2.35), &beacons[6]);
        back.rssi_cdbm = -13_000;
        witnesses.push(back);
        let out = scored(&beacons, &witnesses);
        let o = &out[&device(20)];
        assert_eq!((o.witnesses, o.beacons_witnessed), (1, 1), "{o:?}");
        assert_eq!(o.refused.get(&Reason::OneWayWitness), Some(&5));
    }

    #[test]
    fn a_ring_bridged_out_of_its_cell_by_one_made_up_witness_is_still_a_ring() {
        let (mut beacons, mut witnesses) = honest();
        let spots = crate::coverage::ring::tests::crowded_spots(49.30, 2.35, 10);
        let ring: Vec<Beacon> = (20..30u8)
            .map(|i| beacon(i, spots[usize::from(i - 20)]))
            .collect();
        for b in &ring {
            for j in 20..30u8 {
                if device(j) != b.device {
                    witnesses.push(witness(j, spots[usize::from(j - 20)], b));
                }
            }
        }
        // Its bridge: device 20 claims a weak witness of honest device 5, 50 km south.
        let mut bridge = witness(20, spots[0], &beacons[5]);
        bridge.rssi_cdbm = -13_500;
        witnesses.push(bridge);
        beacons.extend(ring);
        let out = scored(&beacons, &witnesses);
        assert_eq!(
            out[&device(20)].refused.get(&Reason::OneWayWitness),
            Some(&1)
        );
        for i in 20..30u8 {
            assert_eq!(out[&device(i)].points, 0, "ring device {i}");
        }
        assert!((0..6).all(|i| out[&device(i)].points > 0));
    }
}
