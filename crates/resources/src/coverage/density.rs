//! Density scaling: crowding devices into one area pays no more than its target.
//!
//! For each level (an H3 resolution and a target), a device in a cell with `n` active devices
//! is scaled by `min(1, target / n)`; its scale is the product over the levels, in millionths
//! of [`SCALE_ONE`], each step rounded **down**. So:
//! - the scaled total of any cell of any level is at most `target × SCALE_ONE`, however many
//!   devices crowd in;
//! - a device's scale never rises when another device moves into one of its cells, so
//!   gathering the devices of a cell closer together (into fewer cells within it) never raises
//!   that cell's total, nor any device's scale;
//! - merging two crowds of sibling cells of the finest level never raises the total (exactly
//!   before rounding; rounding takes at most one millionth per device).

use super::rules::DensityLevel;
use cairn_types::{Cell, DeviceId};
use std::collections::{BTreeMap, HashMap};

/// A scale of one: paid in full.
pub const SCALE_ONE: u64 = 1_000_000;

/// Each located device's scale, in millionths (at most [`SCALE_ONE`]).
pub fn density_scales(
    located: &BTreeMap<DeviceId, Cell>,
    levels: &[DensityLevel],
) -> BTreeMap<DeviceId, u64> {
    let counts: Vec<HashMap<Cell, u64>> = levels
        .iter()
        .map(|level| {
            let mut count: HashMap<Cell, u64> = HashMap::new();
            for cell in located.values() {
                *count.entry(cell.coarsened(level.resolution)).or_default() += 1;
            }
            count
        })
        .collect();
    located
        .iter()
        .map(|(device, cell)| {
            let scale = levels
                .iter()
                .zip(&counts)
                .fold(SCALE_ONE, |scale, (level, count)| {
                    let n = count
                        .get(&cell.coarsened(level.resolution))
                        .copied()
                        .unwrap_or(1)
                        .max(1);
                    let paid = n.min(u64::from(level.target));
                    // Rounded down: scale × paid / n ≤ scale.
                    scale.saturating_mul(paid) / n
                });
            (*device, scale)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::SecretKey;
    use proptest::prelude::*;

    fn device(i: u32) -> DeviceId {
        let mut seed = [7u8; 32];
        seed[..4].copy_from_slice(&i.to_le_bytes());
        DeviceId(SecretKey::from_seed(seed).public_key())
    }

    fn levels() -> Vec<DensityLevel> {
        vec![
            DensityLevel {
                resolution: 10,
                target: 1,
            },
            DensityLevel {
                resolution: 8,
                target: 3,
            },
        ]
    }

    /// Resolution-12 cells near Paris: `spot` picks one of a few hundred, a few km across.
    fn cell(spot: (u8, u8)) -> Cell {
        let lat = 48.85 + f64::from(spot.0) * 0.0015;
        let lng = 2.35 + f64::from(spot.1) * 0.0022;
        Cell::from_lat_lng(lat, lng, 12).unwrap()
    }

    fn total_in(
        scales: &BTreeMap<DeviceId, u64>,
        located: &BTreeMap<DeviceId, Cell>,
        area: Cell,
    ) -> u64 {
        located
            .iter()
            .filter(|(_, c)| c.is_within(area))
            .map(|(d, _)| scales[d])
            .sum()
    }

    #[test]
    fn a_lone_device_is_paid_in_full_and_a_crowd_shares() {
        let mut located = BTreeMap::new();
        located.insert(device(0), cell((0, 0)));
        assert_eq!(density_scales(&located, &levels())[&device(0)], SCALE_ONE);
        for i in 1..5 {
            located.insert(device(i), cell((0, 0)));
        }
        let scales = density_scales(&located, &levels());
        // 1/5 at resolution 10 (target 1), 3/5 at resolution 8 (target 3).
        assert!(scales.values().all(|s| *s == SCALE_ONE / 5 * 3 / 5));
    }

    proptest! {
        #[test]
        fn crowding_pays_no_more_than_the_target(
            spots in prop::collection::vec((0u8..12, 0u8..12), 1..60),
        ) {
            let located: BTreeMap<DeviceId, Cell> =
                spots.iter().enumerate().map(|(i, s)| (device(i as u32), cell(*s))).collect();
            let scales = density_scales(&located, &levels());
            for level in levels() {
                for c in located.values() {
                    let area = c.coarsened(level.resolution);
                    prop_assert!(
                        total_in(&scales, &located, area) <= u64::from(level.target) * SCALE_ONE
                    );
                }
            }
        }

        #[test]
        fn moving_devices_closer_never_raises_a_total(
            spots in prop::collection::vec((0u8..12, 0u8..12), 2..60),
            pick in any::<prop::sample::Index>(),
            level in 0usize..2,
        ) {
            let located: BTreeMap<DeviceId, Cell> =
                spots.iter().enumerate().map(|(i, s)| (device(i as u32), cell(*s))).collect();
            let before = density_scales(&located, &levels());
            // Gather every device of one cell onto one of them.
            let ids: Vec<DeviceId> = located.keys().copied().collect();
            let spot = located[pick.get(&ids)];
            let area = spot.coarsened(levels()[level].resolution);
            let mut moved = located.clone();
            for c in moved.values_mut().filter(|c| c.is_within(area)) {
                *c = spot;
            }
            let after = density_scales(&moved, &levels());
            for d in &ids {
                prop_assert!(after[d] <= before[d], "a device's scale rose");
            }
            prop_assert!(total_in(&after, &moved, area) <= total_in(&before, &located, area));
        }

        #[test]
        fn merging_sibling_crowds_never_raises_the_total(a in 1u64..40, b in 1u64..40, target in 1u32..10) {
            // Exact, before rounding: min(a + b, t) ≤ min(a, t) + min(b, t).
            let t = u64::from(target);
            prop_assert!((a + b).min(t) <= a.min(t) + b.min(t));
            // And what is paid, rounded down, never exceeds the exact totals.
            let level = [DensityLevel { resolution: 10, target }];
            let mut located = BTreeMap::new();
            for i in 0..a { located.insert(device(i as u32), cell((0, 0))); }
            for i in a..a + b { located.insert(device(i as u32), cell((6, 6))); }
            let split: u64 = density_scales(&located, &level).values().sum();
            prop_assert!(split <= (a.min(t) + b.min(t)) * SCALE_ONE);
            for i in a..a + b { located.insert(device(i as u32), cell((0, 0))); }
            let merged: u64 = density_scales(&located, &level).values().sum();
            prop_assert!(merged <= (a + b).min(t) * SCALE_ONE);
            prop_assert!(merged + (a + b) >= (a + b).min(t) * SCALE_ONE);
        }
    }
}
