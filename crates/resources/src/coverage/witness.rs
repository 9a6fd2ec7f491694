//! Witnesses: the checks each one must pass, and which of a beacon's witnesses count.
//!
//! A witness is refused if its device or its (beaconer, witness) pair is denylisted, if it is
//! the beaconer itself, if it has no location, if it is in another region than the beaconer,
//! if it heard another frequency, if its time is too far from the beacon's, if it is nearer
//! than the minimum or farther than the maximum distance, or if it reports a signal stronger
//! than the beacon's power, plus an allowance, minus free-space path loss over the distance
//! ([`super::radio`]). A device counts once per beacon (its first report, by time then id).
//! Of the valid witnesses, at most [`CoverageRules::witnesses_per_beacon_max`] count, chosen
//! by [`witness_rank`]: a hash of the beacon's data and the witness device, which nobody can
//! steer (the data depends on entropy that did not exist when the device was registered), so
//! claiming an early time or grinding a report id wins no slot.

use super::radio::max_rssi_cdbm;
use super::rules::CoverageRules;
use super::types::{Beacon, Denylist, Witness};
use crate::reason::Reason;
use cairn_types::{DeviceId, Hash};
use std::collections::BTreeSet;

/// Checks one witness of `beacon`.
pub fn check_witness(
    rules: &CoverageRules,
    denylist: &Denylist,
    beacon: &Beacon,
    witness: &Witness,
) -> Result<(), Reason> {
    if denylist.devices.contains_key(&witness.device) {
        return Err(Reason::DenylistedDevice);
    }
    if denylist
        .edges
        .contains_key(&(beacon.device, witness.device))
    {
        return Err(Reason::DenylistedEdge);
    }
    if witness.device == beacon.device {
        return Err(Reason::SelfWitness);
    }
    let (Some(location), Some(region)) = (witness.location, witness.region) else {
        return Err(Reason::NoLocation);
    };
    if region != beacon.region {
        return Err(Reason::WrongRegion);
    }
    if witness.frequency_khz.abs_diff(beacon.frequency_khz) > rules.frequency_tolerance_khz {
        return Err(Reason::WrongFrequency);
    }
    // Radio is instantaneous: a witness cannot hear a beacon before it was sent.
    let after = witness.time_ms.checked_sub(beacon.time_ms);
    if after.is_none_or(|ms| ms > rules.witness_late_ms_max) {
        return Err(Reason::LateWitness);
    }
    let distance_m = location.distance_m(beacon.location).ok_or(Reason::TooFar)?;
    if distance_m < rules.witness_distance_m_min {
        return Err(Reason::TooClose);
    }
    if distance_m > rules.witness_distance_m_max {
        return Err(Reason::TooFar);
    }
    let strongest = max_rssi_cdbm(
        beacon.tx_power_cdbm,
        rules.gain_allowance_cdb,
        distance_m,
        beacon.frequency_khz,
    );
    if i64::from(witness.rssi_cdbm) > strongest {
        return Err(Reason::ImpossibleSignal);
    }
    Ok(())
}

/// What became of a beacon's witnesses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BeaconWitnesses {
    /// The witnesses that count, in order.
    pub counted: Vec<DeviceId>,
    /// The witnesses refused, with why.
    pub refused: Vec<(DeviceId, Reason)>,
}

/// The order in which a beacon's valid witnesses take its slots: lowest first.
pub fn witness_rank(beacon: &Beacon, witness: &DeviceId) -> Hash {
    Hash::domain(
        "cairn witness rank v1",
        &[beacon.data.as_bytes(), &witness.0 .0],
    )
}

/// Judges every witness of `beacon` (all of which name it): each device once (its first
/// report by time, then id), valid ([`check_witness`]) and heard back (`heard_back(witness)`:
/// the beaconer validly witnessed one of its beacons in the epoch, else `one_way_witness`),
/// then those up to the limit, by [`witness_rank`].
pub fn select_witnesses(
    rules: &CoverageRules,
    denylist: &Denylist,
    beacon: &Beacon,
    witnesses: &[&Witness],
    heard_back: &dyn Fn(&DeviceId) -> bool,
) -> BeaconWitnesses {
    let mut ordered: Vec<&Witness> = witnesses.to_vec();
    ordered.sort_by_key(|w| (w.time_ms, w.id));
    let mut seen = BTreeSet::new();
    let mut out = BeaconWitnesses::default();
    let mut valid = Vec::new();
    for witness in ordered {
        let verdict = if !seen.insert(witness.device) {
            Err(Reason::DuplicateWitness)
        } else {
            check_witness(rules, denylist, beacon, witness).and_then(|()| {
                heard_back(&witness.device)
                    .then_some(())
                    .ok_or(Reason::OneWayWitness)
            })
        };
        match verdict {
            Ok(()) => valid.push((witness_rank(beacon, &witness.device), witness.device)),
            Err(reason) => out.refused.push((witness.device, reason)),
        }
    }
    valid.sort();
    for (i, (_, device)) in valid.into_iter().enumerate() {
        if i < rules.witnesses_per_beacon_max {
            out.counted.push(device);
        } else {
            out.refused.push((device, Reason::WitnessLimit));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::coverage::beacon::tests::{beacon, device};
    use crate::coverage::region::Region;
    use cairn_types::Cell;

    pub(crate) fn at(lat: f64, lng: f64) -> Cell {
        Cell::from_lat_lng(lat, lng, 12).unwrap()
    }

    /// A witness by `seed`'s device at `location` of `beacon`, heard at -100 dBm.
    pub(crate) fn witness(seed: u8, location: Cell, beacon: &Beacon) -> Witness {
        Witness {
            device: device(seed),
            location: Some(location),
            region: Some(beacon.region),
            time_ms: beacon.time_ms + 300,
            beaconer: beacon.device,
            data: beacon.data,
            frequency_khz: beacon.frequency_khz,
            rssi_cdbm: -10_000,
            id: [seed; 16],
        }
    }

    #[test]
    fn each_rule_passes_a_good_witness_and_refuses_a_bad_one() {
        let rules = CoverageRules::default();
        let b = beacon(1, at(48.8566, 2.3522));
        // 4.4 km north: free space allows about 14 + 12 − 104.2 = −78.2 dBm.
        let good = witness(2, at(48.8966, 2.3522), &b);
        let none = Denylist::default();
        assert_eq!(check_witness(&rules, &none, &b, &good), Ok(()));
        let bad = |f: &dyn Fn(&mut Witness)| {
            let mut w = good.clone();
            f(&mut w);
            check_witness(&rules, &none, &b, &w)
        };
        assert_eq!(bad(&|w| w.device = b.device), Err(Reason::SelfWitness));
        assert_eq!(bad(&|w| w.location = None), Err(Reason::NoLocation));
        assert_eq!(
            bad(&|w| w.region = Some(Region::Us915)),
            Err(Reason::WrongRegion)
        );
        assert_eq!(
            bad(&|w| w.frequency_khz += 101),
            Err(Reason::WrongFrequency)
        );
        assert_eq!(bad(&|w| w.frequency_khz -= 100), Ok(()));
        assert_eq!(
            bad(&|w| w.time_ms = b.time_ms + 2_001),
            Err(Reason::LateWitness)
        );
        assert_eq!(bad(&|w| w.time_ms = b.time_ms + 2_000), Ok(()));
        assert_eq!(bad(&|w| w.time_ms = b.time_ms), Ok(()));
        // Heard before it was sent: a claim to be first.
        assert_eq!(
            bad(&|w| w.time_ms = b.time_ms - 1),
            Err(Reason::LateWitness)
        );
        // 110 m away: too close; Rouen, 111 km: too far; Sydney: too far to measure.
        assert_eq!(
            bad(&|w| w.location = Some(at(48.8576, 2.3522))),
            Err(Reason::TooClose)
        );
        assert_eq!(
            bad(&|w| w.location = Some(at(49.4431, 1.0999))),
            Err(Reason::TooFar)
        );
        assert_eq!(
            bad(&|w| w.location = Some(at(-33.87, 151.2))),
            Err(Reason::TooFar)
        );
        let d = good.location.unwrap().distance_m(b.location).unwrap();
        assert!((4_000..5_000).contains(&d), "{d} m");
        let strongest = i32::try_from(max_rssi_cdbm(1_400, 1_200, d, 868_100)).unwrap();
        assert!((-8_000..-7_500).contains(&strongest), "{strongest} cdBm");
        assert_eq!(
            bad(&|w| w.rssi_cdbm = strongest + 1),
            Err(Reason::ImpossibleSignal)
        );
        assert_eq!(bad(&|w| w.rssi_cdbm = strongest), Ok(()));
        let mut deny = Denylist::default();
        deny.edges
            .insert((b.device, good.device), "seen together".into());
        assert_eq!(
            check_witness(&rules, &deny, &b, &good),
            Err(Reason::DenylistedEdge)
        );
        deny.devices.insert(good.device, "spoofed location".into());
        assert_eq!(
            check_witness(&rules, &deny, &b, &good),
            Err(Reason::DenylistedDevice)
        );
    }

    #[test]
    fn witnesses_count_once_each_and_the_rank_not_the_time_picks_them() {
        let rules = CoverageRules {
            witnesses_per_beacon_max: 2,
            ..CoverageRules::default()
        };
        let b = beacon(1, at(48.8566, 2.3522));
        let mut w: Vec<Witness> = (2..6u8)
            .map(|seed| {
                let mut w = witness(seed, at(48.8566 + f64::from(seed) * 0.01, 2.3522), &b);
                w.time_ms += u64::from(seed);
                w
            })
            .collect();
        let mut again = w[0].clone();
        again.id = [0; 16];
        again.time_ms += 10;
        w.push(again);
        let refs: Vec<&Witness> = w.iter().rev().collect();
        let verdict = select_witnesses(&rules, &Denylist::default(), &b, &refs, &|_| true);
        let mut ranked: Vec<DeviceId> = (2..6u8).map(device).collect();
        ranked.sort_by_key(|d| witness_rank(&b, d));
        assert_eq!(verdict.counted, ranked[..2].to_vec());
        assert_eq!(
            verdict.refused,
            vec![
                (device(2), Reason::DuplicateWitness),
                (ranked[2], Reason::WitnessLimit),
                (ranked[3], Reason::WitnessLimit),
            ]
        );
        // Claiming an earlier time changes nothing.
        let mut early = w.clone();
        for x in early.iter_mut() {
            x.time_ms = b.time_ms;
        }
        let refs: Vec<&Witness> = early.iter().collect();
        let again = select_witnesses(&rules, &Denylist::default(), &b, &refs, &|_| true);
        assert_eq!(again.counted, ranked[..2].to_vec());
    }
}
