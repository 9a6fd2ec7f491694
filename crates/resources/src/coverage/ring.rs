//! Witness rings: groups of devices crowded into one area that only witness each other.
//!
//! The counted witness edges of the epoch (beaconer and witness) make a graph. A connected
//! component with at least [`CoverageRules::ring_devices_min`] devices, all asserted inside
//! one cell of [`CoverageRules::ring_resolution`], and with no edge to any device outside it
//! is a ring: a group that proves nothing but itself, which is what devices faking each
//! other's witnesses look like. Its devices earn nothing from coverage (`witness_ring`).
//!
//! The rule never depends on which component is largest, so a cheater with more devices than
//! the honest network cannot make the honest network look cut off. The price is that an
//! honest group in one small area that hears nobody else is paid only once one of its devices
//! witnesses, or is witnessed by, a device outside it. A ring spread over a wider area is not
//! caught here; distance, path loss and density rules limit what it earns, and the denylist
//! takes what is left.

use super::rules::CoverageRules;
use cairn_types::{Cell, DeviceId};
use std::collections::{BTreeMap, BTreeSet};

/// The devices of every ring among `edges`; `located` gives the devices' asserted cells.
pub fn rings(
    rules: &CoverageRules,
    edges: &[(DeviceId, DeviceId)],
    located: &BTreeMap<DeviceId, Cell>,
) -> BTreeSet<DeviceId> {
    let mut parent: BTreeMap<DeviceId, DeviceId> = BTreeMap::new();
    for (a, b) in edges {
        let (ra, rb) = (root(&mut parent, *a), root(&mut parent, *b));
        if ra != rb {
            // The smaller id becomes the root: the result does not depend on edge order.
            let (low, high) = if ra < rb { (ra, rb) } else { (rb, ra) };
            parent.insert(high, low);
        }
    }
    let devices: Vec<DeviceId> = parent.keys().copied().collect();
    let mut components: BTreeMap<DeviceId, Vec<DeviceId>> = BTreeMap::new();
    for d in devices {
        let r = root(&mut parent, d);
        components.entry(r).or_default().push(d);
    }
    components
        .into_values()
        .filter(|members| is_ring(rules, members, located))
        .flatten()
        .collect()
}

/// True when a component is large enough and crowded into one cell.
fn is_ring(
    rules: &CoverageRules,
    members: &[DeviceId],
    located: &BTreeMap<DeviceId, Cell>,
) -> bool {
    if members.len() < rules.ring_devices_min {
        return false;
    }
    let mut cells = members
        .iter()
        .map(|d| located.get(d).map(|c| c.coarsened(rules.ring_resolution)));
    let first = cells.next().flatten();
    first.is_some() && cells.all(|c| c == first)
}

/// The root of `device`'s set, compressing the path (every device first becomes its own set).
fn root(parent: &mut BTreeMap<DeviceId, DeviceId>, device: DeviceId) -> DeviceId {
    let mut r = *parent.entry(device).or_insert(device);
    // Each step moves to a strictly smaller id, so this ends.
    while let Some(up) = parent.get(&r).copied().filter(|up| *up != r) {
        r = up;
    }
    let mut d = device;
    while d != r {
        d = parent.insert(d, r).unwrap_or(r);
    }
    r
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::coverage::beacon::tests::device;
    use crate::coverage::witness::tests::at;

    /// `count` spots at least 440 m apart, all in the resolution-7 cell around (lat, lng).
    pub(crate) fn crowded_spots(lat: f64, lng: f64, count: usize) -> Vec<Cell> {
        let home = at(lat, lng).coarsened(CoverageRules::default().ring_resolution);
        let mut spots = Vec::new();
        for i in -5..=5 {
            for j in -5..=5 {
                let cell = at(lat + f64::from(i) * 0.004, lng + f64::from(j) * 0.006);
                if cell.is_within(home) && spots.len() < count {
                    spots.push(cell);
                }
            }
        }
        assert_eq!(spots.len(), count, "not enough room in the cell");
        spots
    }

    #[test]
    fn a_crowded_group_cut_off_from_the_rest_is_a_ring() {
        let rules = CoverageRules::default();
        let d: Vec<DeviceId> = (0..10u8).map(device).collect();
        let mut located = BTreeMap::new();
        // 0..5 spread over 50 km; 5..8 crowded into one cell.
        for (i, device) in d.iter().take(5).enumerate() {
            located.insert(*device, at(48.8 + i as f64 * 0.1, 2.35));
        }
        for (i, spot) in (5..8).zip(crowded_spots(49.5, 2.35, 3)) {
            located.insert(d[i], spot);
        }
        let mut edges = vec![(d[0], d[1]), (d[1], d[2]), (d[3], d[2]), (d[4], d[3])];
        edges.extend([(d[5], d[6]), (d[6], d[7]), (d[7], d[5]), (d[6], d[5])]);
        let ring: BTreeSet<DeviceId> = [d[5], d[6], d[7]].into_iter().collect();
        assert_eq!(rings(&rules, &edges, &located), ring);
        edges.reverse();
        assert_eq!(rings(&rules, &edges, &located), ring);
        // One witness outside the cell joins the group to the rest.
        edges.push((d[7], d[4]));
        assert!(rings(&rules, &edges, &located).is_empty());
        // A pair is a ring too; a spread-out group is not, however cut off.
        let pair: BTreeSet<DeviceId> = [d[5], d[6]].into_iter().collect();
        assert_eq!(rings(&rules, &[(d[5], d[6])], &located), pair);
        assert!(rings(&rules, &[(d[0], d[1]), (d[1], d[2])], &located).is_empty());
        assert!(rings(&rules, &[], &located).is_empty());
    }
}
