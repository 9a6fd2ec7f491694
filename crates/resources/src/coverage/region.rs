//! Region plans: which radio rules apply where.
//!
//! A device's region is that of the finest area of the plan its asserted cell lies in, or, if
//! it lies in none, the default of its resolution-0 base cell ([`base_cell_region`]: a coarse
//! split of the globe by each base cell's centre, about 1,000 km across, which a network
//! refines with areas of its own). A beacon counts only on a frequency of its region's band,
//! and a witness only in the beaconer's region.

use cairn_types::Cell;
use serde::{Deserialize, Serialize};

/// A radio region: a band of frequencies devices may beacon on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// The Americas: 902-928 MHz.
    Us915,
    /// Europe, Africa, the Middle East: 863-870 MHz.
    Eu868,
    /// Asia: 915-928 MHz.
    As923,
    /// Australia and New Zealand: 915-928 MHz.
    Au915,
}

impl Region {
    /// The band, in kHz, both ends included.
    pub fn band_khz(self) -> (u32, u32) {
        match self {
            Region::Us915 => (902_000, 928_000),
            Region::Eu868 => (863_000, 870_000),
            Region::As923 | Region::Au915 => (915_000, 928_000),
        }
    }

    /// The most transmit power (EIRP) a device of the region may claim, in centi-dBm.
    pub fn eirp_cdbm_max(self) -> i32 {
        match self {
            Region::Us915 => 3_600,
            Region::Eu868 | Region::As923 => 1_600,
            Region::Au915 => 3_000,
        }
    }

    /// True when `frequency_khz` is in the band.
    pub fn allows(self, frequency_khz: u32) -> bool {
        let (low, high) = self.band_khz();
        (low..=high).contains(&frequency_khz)
    }
}

/// The default region of each of H3's 122 base cells, by base cell number: `A` the Americas
/// (centre west of 30° W), `E` Europe, Africa and the Middle East (30° W to 60° E), `U`
/// Australia and New Zealand (south of 10° S and east of 110° E), `S` the rest of Asia.
/// Computed once from the base cells' centres and kept as data, so no floating point runs here.
const BASE_CELL_REGIONS: &[u8; 122] = b"EASAESAAEASSEAAESASAAAESSSEAEASESSAAASASAEEAESAASESASEAAASESAEESAESSAASAAAUEEAUUAEEUASESAAAAUUEUEAAASESAEAAEUUEASASEAAUASA";

/// The default region of a cell's base cell.
pub fn base_cell_region(cell: Cell) -> Region {
    match BASE_CELL_REGIONS.get(usize::from(cell.base_cell())) {
        Some(b'A') => Region::Us915,
        Some(b'U') => Region::Au915,
        Some(b'S') => Region::As923,
        _ => Region::Eu868,
    }
}

/// A network's region plan: areas (H3 cells of any resolution) with their region; the finest
/// area containing a device wins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionPlan {
    /// The plan's areas.
    pub areas: Vec<(Cell, Region)>,
}

impl RegionPlan {
    /// The region of a device asserted at `cell`.
    pub fn region_of(&self, cell: Cell) -> Region {
        self.areas
            .iter()
            .filter(|(area, _)| cell.is_within(*area))
            .max_by_key(|(area, _)| area.resolution())
            .map_or_else(|| base_cell_region(cell), |(_, region)| *region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lng: f64) -> Cell {
        Cell::from_lat_lng(lat, lng, 12).unwrap()
    }

    #[test]
    fn the_default_plan_follows_the_continents() {
        let plan = RegionPlan::default();
        assert_eq!(plan.region_of(at(40.7128, -74.0060)), Region::Us915); // New York
        assert_eq!(plan.region_of(at(-23.5505, -46.6333)), Region::Us915); // São Paulo
        assert_eq!(plan.region_of(at(48.8566, 2.3522)), Region::Eu868); // Paris
        assert_eq!(plan.region_of(at(-1.2921, 36.8219)), Region::Eu868); // Nairobi
        assert_eq!(plan.region_of(at(35.6762, 139.6503)), Region::As923); // Tokyo
        assert_eq!(plan.region_of(at(-33.8688, 151.2093)), Region::Au915); // Sydney
    }

    #[test]
    fn the_finest_area_wins() {
        let paris = at(48.8566, 2.3522);
        let plan = RegionPlan {
            areas: vec![
                (paris.coarsened(3), Region::As923),
                (paris.coarsened(6), Region::Us915),
            ],
        };
        assert_eq!(plan.region_of(paris), Region::Us915);
        // A place in the resolution-3 area but not the resolution-6 one.
        let near = (1..40)
            .map(|k| at(48.8566 + f64::from(k) * 0.01, 2.3522))
            .find(|c| c.is_within(paris.coarsened(3)) && !c.is_within(paris.coarsened(6)))
            .unwrap();
        assert_eq!(plan.region_of(near), Region::As923);
        assert_eq!(plan.region_of(at(40.4168, -3.7038)), Region::Eu868); // Madrid: default
    }

    #[test]
    fn bands_include_their_ends() {
        assert!(Region::Eu868.allows(863_000) && Region::Eu868.allows(870_000));
        assert!(!Region::Eu868.allows(915_000));
        assert!(Region::Us915.allows(915_000) && !Region::Us915.allows(868_100));
    }
}
