//! Beacons: what a device transmits, when it may, and the checks a counted beacon must pass.
//!
//! A beacon's data is derived from a finalized block's digest (the entropy) and the device, so
//! it cannot be made before that block exists and is worthless
//! [`CoverageRules::entropy_valid_ms`] after it; a beacon sent with older entropy is refused
//! (`bad_entropy`), which is what a replayed beacon is. Each window is split into slots and a
//! device's beacon counts only in the slot [`slot_of`] gives it for that window, so a device
//! cannot choose when to beacon (`off_slot`); the tally already keeps one beacon per device and
//! window.

use super::rules::CoverageRules;
use super::types::Beacon;
use crate::reason::Reason;
use cairn_types::{DeviceId, Hash};

/// The data a device transmits in a beacon with `entropy`.
pub fn beacon_data(entropy: &Hash, device: &DeviceId) -> Hash {
    Hash::domain("cairn beacon v1", &[entropy.as_bytes(), &device.0 .0])
}

/// The device's beacon slot in `window` (0 to `slots − 1`): fixed by a hash, not by the device.
pub fn slot_of(device: &DeviceId, window: u64, slots: u64) -> u64 {
    let h = Hash::domain(
        "cairn beacon slot v1",
        &[&device.0 .0, &window.to_le_bytes()],
    );
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(first) % slots.max(1)
}

/// The times `[start, end)` (ms) of the device's beacon slot in `window`, for windows of
/// `window_ms`.
pub fn slot_bounds(device: &DeviceId, window: u64, window_ms: u64, slots: u64) -> (u64, u64) {
    let slots = slots.max(1);
    let slot_ms = (window_ms / slots).max(1);
    let start = window.saturating_mul(window_ms) + slot_of(device, window, slots) * slot_ms;
    (start, start.saturating_add(slot_ms))
}

/// Checks a counted beacon against the rules; `window_ms` is the epoch's window length.
pub fn check_beacon(rules: &CoverageRules, window_ms: u64, beacon: &Beacon) -> Result<(), Reason> {
    if !beacon.region.allows(beacon.frequency_khz) {
        return Err(Reason::WrongFrequency);
    }
    if beacon.tx_power_cdbm > beacon.region.eirp_cdbm_max() {
        return Err(Reason::TxPowerTooHigh);
    }
    let fresh = beacon.entropy_time_ms.is_some_and(|made| {
        beacon.time_ms >= made && beacon.time_ms - made <= rules.entropy_valid_ms
    });
    if !fresh {
        return Err(Reason::BadEntropy);
    }
    if beacon.data != beacon_data(&beacon.entropy, &beacon.device) {
        return Err(Reason::BadBeaconData);
    }
    let window = beacon.time_ms / window_ms.max(1);
    let (start, end) = slot_bounds(
        &beacon.device,
        window,
        window_ms,
        rules.beacon_slots_per_window,
    );
    if !(start..end).contains(&beacon.time_ms) {
        return Err(Reason::OffSlot);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::coverage::region::Region;
    use cairn_types::{Cell, SecretKey};

    pub(crate) const WINDOW_MS: u64 = 3_600_000;

    pub(crate) fn device(seed: u8) -> DeviceId {
        DeviceId(SecretKey::from_seed([seed; 32]).public_key())
    }

    /// A valid beacon of `seed`'s device at `location` in window 100.
    pub(crate) fn beacon(seed: u8, location: Cell) -> Beacon {
        let rules = CoverageRules::default();
        let device = device(seed);
        let (start, _) = slot_bounds(&device, 100, WINDOW_MS, rules.beacon_slots_per_window);
        let entropy = Hash::domain("test block", &[&[seed]]);
        Beacon {
            device,
            location,
            region: Region::Eu868,
            time_ms: start + 1_000,
            entropy,
            entropy_time_ms: Some(start + 500),
            data: beacon_data(&entropy, &device),
            frequency_khz: 868_100,
            tx_power_cdbm: 1_400,
        }
    }

    fn paris() -> Cell {
        Cell::from_lat_lng(48.8566, 2.3522, 12).unwrap()
    }

    #[test]
    fn each_rule_passes_a_good_beacon_and_refuses_a_bad_one() {
        let rules = CoverageRules::default();
        let good = beacon(1, paris());
        assert_eq!(check_beacon(&rules, WINDOW_MS, &good), Ok(()));
        let bad = |f: &dyn Fn(&mut Beacon)| {
            let mut b = good.clone();
            f(&mut b);
            check_beacon(&rules, WINDOW_MS, &b)
        };
        assert_eq!(
            bad(&|b| b.frequency_khz = 915_000),
            Err(Reason::WrongFrequency)
        );
        assert_eq!(
            bad(&|b| b.tx_power_cdbm = 3_000),
            Err(Reason::TxPowerTooHigh)
        );
        assert_eq!(bad(&|b| b.entropy_time_ms = None), Err(Reason::BadEntropy));
        // A replayed beacon: entropy from long before it.
        assert_eq!(
            bad(&|b| b.entropy_time_ms = Some(b.time_ms - 180_001)),
            Err(Reason::BadEntropy)
        );
        assert_eq!(
            bad(&|b| b.entropy_time_ms = Some(b.time_ms + 1)),
            Err(Reason::BadEntropy)
        );
        assert_eq!(bad(&|b| b.data = Hash::ZERO), Err(Reason::BadBeaconData));
        let (start, end) = slot_bounds(&good.device, 100, WINDOW_MS, 4);
        let elsewhere = if start > 100 * WINDOW_MS {
            start - 1
        } else {
            end
        };
        assert_eq!(
            bad(&|b| {
                b.time_ms = elsewhere;
                b.entropy_time_ms = Some(elsewhere);
            }),
            Err(Reason::OffSlot)
        );
    }

    #[test]
    fn slots_spread_devices_over_the_window() {
        let mut seen = [0u32; 4];
        for seed in 0..200u8 {
            let slot = slot_of(&device(seed), 7, 4);
            seen[usize::try_from(slot).unwrap()] += 1;
            let (start, end) = slot_bounds(&device(seed), 7, WINDOW_MS, 4);
            assert!(start >= 7 * WINDOW_MS && end <= 8 * WINDOW_MS && end - start == WINDOW_MS / 4);
        }
        assert!(seen.iter().all(|n| *n > 20), "{seen:?}");
    }
}
