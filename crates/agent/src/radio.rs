//! The simulated radio of an agent's simulated coverage devices: where each device stands, and
//! what each hears of the others' beacons.
//!
//! Devices stand on a hexagonal spiral around a centre, `spacing_m` apart, each at its
//! resolution-12 H3 cell (what it asserts on chain). A beacon reaches a receiver with the
//! transmit power minus a log-distance path loss over the distance between their cells
//! (free space to 100 m, then falling with exponent 3.5, as over built-up ground), minus an
//! obstacle loss fixed for the pair (0 to 20 dB: walls and hills do not move), plus noise that
//! changes every window (−3 to +3 dB). It is heard when that is at least
//! [`SENSITIVITY_CDBM`]. Everything derives from a seed, so a devnet is the same every run.
//! The loss is never less than free space minus the noise, and the oracles allow 12 dB over
//! free space, so honest simulated witnesses pass their physics checks.

use cairn_resources::coverage::radio::fspl_cdb;
use cairn_types::{Cell, DeviceId, Hash};

/// The weakest signal a simulated receiver hears, in centi-dBm.
pub const SENSITIVITY_CDBM: i64 = -12_500;
/// The most a pair's obstacles take, in centi-dB.
pub const OBSTACLE_LOSS_CDB_MAX: u64 = 2_000;
/// The noise on a heard signal: at most this much either way, in centi-dB.
pub const NOISE_CDB_MAX: i64 = 300;
/// Metres in one degree of latitude.
pub const METRES_PER_DEGREE: f64 = 111_195.0;

/// Where simulated device `index` stands: on a hexagonal spiral around `centre` (latitude,
/// longitude), `spacing_m` from its neighbours. Simulation only: the cell, not the
/// coordinates, is what the device asserts.
pub fn simulated_location(centre: (f64, f64), spacing_m: f64, index: u32) -> Option<Cell> {
    let (q, r) = spiral(index);
    // Axial hex coordinates to metres east and north.
    let east = spacing_m * (f64::from(q) + f64::from(r) / 2.0);
    let north = spacing_m * f64::from(r) * 3f64.sqrt() / 2.0;
    let lat = centre.0 + north / METRES_PER_DEGREE;
    let lng = centre.1 + east / (METRES_PER_DEGREE * centre.0.to_radians().cos().max(0.01));
    Cell::from_lat_lng(lat, lng, 12).ok()
}

/// The `index`-th position of a hexagonal spiral, in axial coordinates: 0 is the centre,
/// 1 to 6 the first ring, 7 to 18 the second, and so on.
fn spiral(index: u32) -> (i32, i32) {
    if index == 0 {
        return (0, 0);
    }
    // Ring k holds 6k positions, after 1 + 3k(k − 1) before it.
    let mut ring = 1i64;
    while 3 * ring * (ring + 1) < i64::from(index) {
        ring += 1;
    }
    let offset = i64::from(index) - (1 + 3 * ring * (ring - 1));
    let (side, step) = (offset / ring, offset % ring);
    const DIRECTIONS: [(i64, i64); 6] = [(1, 0), (0, 1), (-1, 1), (-1, 0), (0, -1), (1, -1)];
    // Start at ring × direction 4, walk each side in turn.
    let (mut q, mut r) = (DIRECTIONS[4].0 * ring, DIRECTIONS[4].1 * ring);
    for s in 0..side {
        let d = DIRECTIONS[usize::try_from(s).unwrap_or(0)];
        q += d.0 * ring;
        r += d.1 * ring;
    }
    let d = DIRECTIONS[usize::try_from(side).unwrap_or(0) % 6];
    q += d.0 * step;
    r += d.1 * step;
    (
        i32::try_from(q).unwrap_or(i32::MAX),
        i32::try_from(r).unwrap_or(i32::MAX),
    )
}

/// A pseudo-random number from a seed and parts.
fn draw(seed: &str, parts: &[&[u8]]) -> u64 {
    seeded_draw("cairn simulated radio v1", seed, parts)
}

/// A pseudo-random number from a domain, a seed and parts: what every simulation draws from.
pub fn seeded_draw(domain: &str, seed: &str, parts: &[&[u8]]) -> u64 {
    let mut all: Vec<&[u8]> = vec![seed.as_bytes()];
    all.extend_from_slice(parts);
    let h = Hash::domain(domain, &all);
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// What `receiver` at `rx` hears, in centi-dBm, of a beacon that `sender` at `tx` sends with
/// `tx_power_cdbm` on `frequency_khz` in `window`; `None` if it hears nothing.
pub fn heard(
    seed: &str,
    (sender, tx): (&DeviceId, Cell),
    (receiver, rx): (&DeviceId, Cell),
    tx_power_cdbm: i32,
    frequency_khz: u32,
    window: u64,
) -> Option<i32> {
    if sender == receiver {
        return None;
    }
    let distance_m = tx.distance_m(rx)?;
    // The pair's obstacles, the same both ways.
    let (a, b) = if sender < receiver {
        (sender, receiver)
    } else {
        (receiver, sender)
    };
    let obstacles = draw(seed, &[b"obstacles", &a.0 .0, &b.0 .0]) % (OBSTACLE_LOSS_CDB_MAX + 1);
    let noise_span = u64::try_from(2 * NOISE_CDB_MAX + 1).unwrap_or(1);
    let noise = i64::try_from(
        draw(
            seed,
            &[
                b"noise",
                &sender.0 .0,
                &receiver.0 .0,
                &window.to_le_bytes(),
            ],
        ) % noise_span,
    )
    .unwrap_or(0)
        - NOISE_CDB_MAX;
    let free_space = fspl_cdb(distance_m, frequency_khz);
    // Exponent 2 + 1.5 beyond 100 m: ¾ more of the free-space loss past that distance.
    let beyond = (free_space - fspl_cdb(100, frequency_khz)).max(0) * 3 / 4;
    let rssi =
        i64::from(tx_power_cdbm) - free_space - beyond - i64::try_from(obstacles).unwrap_or(0)
            + noise;
    (rssi >= SENSITIVITY_CDBM)
        .then(|| i32::try_from(rssi).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::SecretKey;

    fn device(i: u8) -> DeviceId {
        DeviceId(SecretKey::from_seed([i; 32]).public_key())
    }

    #[test]
    fn the_spiral_visits_each_position_once() {
        let positions: std::collections::BTreeSet<(i32, i32)> = (0..37).map(spiral).collect();
        assert_eq!(positions.len(), 37);
        // The first 7 are the centre and its six neighbours; 37 fill three rings.
        for i in 1..7 {
            let (q, r) = spiral(i);
            assert_eq!((q.abs() + r.abs() + (q + r).abs()) / 2, 1, "{i}");
        }
        for i in 19..37 {
            let (q, r) = spiral(i);
            assert_eq!((q.abs() + r.abs() + (q + r).abs()) / 2, 3, "{i}");
        }
    }

    #[test]
    fn neighbours_stand_about_the_spacing_apart_and_hear_each_other() {
        let centre = (48.8566, 2.3522);
        let a = simulated_location(centre, 1_500.0, 0).unwrap();
        let b = simulated_location(centre, 1_500.0, 1).unwrap();
        let d = a.distance_m(b).unwrap();
        assert!((1_000..2_100).contains(&d), "{d} m");
        let rssi = heard("t", (&device(1), a), (&device(2), b), 1_400, 868_100, 7).unwrap();
        // About 1.5 km: 14 dBm − 94.7 dB − 17.6 dB − up to 20 dB ± 3 dB.
        assert!((-12_500..=-9_000).contains(&rssi), "{rssi}");
        // The same every time; never one's own beacon; nothing from far away.
        assert_eq!(
            heard("t", (&device(1), a), (&device(2), b), 1_400, 868_100, 7),
            Some(rssi)
        );
        assert_eq!(
            heard("t", (&device(1), a), (&device(1), a), 1_400, 868_100, 7),
            None
        );
        let far = simulated_location((48.0, 2.3522), 1_500.0, 0).unwrap();
        assert_eq!(
            heard("t", (&device(1), a), (&device(3), far), 1_400, 868_100, 7),
            None
        );
    }
}
