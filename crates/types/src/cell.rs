//! H3 cells: where a device asserts it is.
//!
//! A cell is stored as its 64-bit H3 index and shown as the usual 15 hex digits. The index is
//! validated with `h3o` both when parsed from text and when decoded from bytes, so no invalid
//! cell ever reaches the state.

use borsh::{BorshDeserialize, BorshSerialize};
use h3o::{CellIndex, LatLng, Resolution};
use std::fmt;
use std::io::Read;
use std::str::FromStr;

/// Resolution of the grid on which [`Cell::distance_m`] measures: cells about 50 m apart.
///
/// The distance is the straight line between the two cells' centres in H3's local IJ
/// coordinates at this resolution (integers, so every machine gets the same metres), scaled by
/// the resolution's average centre spacing. H3's projection makes real cell sizes differ from
/// the average, by up to about a third near the icosahedron's vertices, so a distance is only
/// as true as that: rules built on it (witness distances) leave that margin.
pub const DISTANCE_RESOLUTION: u8 = 11;
/// Average distance between neighbouring cell centres at [`DISTANCE_RESOLUTION`], in mm:
/// √3 × the average edge length, 28.6639 m.
const CENTRE_SPACING_MM: u64 = 49_647;

/// A valid H3 cell index.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell(CellIndex);

/// Why a value is not a cell.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CellError {
    /// Not a valid H3 cell index.
    #[error("`{0}` is not a valid H3 cell index")]
    Invalid(String),
    /// Latitude/longitude out of range or a resolution above 15.
    #[error("cannot make a cell from lat {lat}, lng {lng} at resolution {resolution}")]
    Coordinates {
        /// Latitude in degrees.
        lat: f64,
        /// Longitude in degrees.
        lng: f64,
        /// H3 resolution requested.
        resolution: u8,
    },
}

impl Cell {
    /// The cell with this raw index, if valid.
    pub fn from_u64(raw: u64) -> Result<Cell, CellError> {
        CellIndex::try_from(raw)
            .map(Cell)
            .map_err(|_| CellError::Invalid(format!("{raw:x}")))
    }

    /// The cell containing a point. Coordinates are user input at the CLI edge only: the cell
    /// index, not the coordinates, is what enters the ledger.
    pub fn from_lat_lng(lat: f64, lng: f64, resolution: u8) -> Result<Cell, CellError> {
        let err = || CellError::Coordinates {
            lat,
            lng,
            resolution,
        };
        if !(lat.is_finite() && lng.is_finite() && lat.abs() <= 90.0 && lng.abs() <= 180.0) {
            return Err(err());
        }
        let res = Resolution::try_from(resolution).map_err(|_| err())?;
        let point = LatLng::new(lat, lng).map_err(|_| err())?;
        Ok(Cell(point.to_cell(res)))
    }

    /// The cell's centre as (latitude, longitude) in degrees: for display and simulation,
    /// never for consensus (which measures in integers, [`Cell::distance_m`]).
    pub fn centre(self) -> (f64, f64) {
        let point = LatLng::from(self.0);
        (point.lat(), point.lng())
    }

    /// The raw 64-bit index.
    pub fn to_u64(self) -> u64 {
        u64::from(self.0)
    }

    /// The H3 resolution (0 to 15).
    pub fn resolution(self) -> u8 {
        u8::from(self.0.resolution())
    }

    /// The cell itself if its resolution is at most `resolution`, else its ancestor at that
    /// resolution: what is published of a device's location (no finer than resolution 8).
    pub fn coarsened(self, resolution: u8) -> Cell {
        Resolution::try_from(resolution)
            .ok()
            .and_then(|res| self.0.parent(res))
            .map_or(self, Cell)
    }

    /// The distance in metres between this cell's centre and another's, measured on the
    /// resolution-[`DISTANCE_RESOLUTION`] grid in integers (see [`DISTANCE_RESOLUTION`]);
    /// `None` when H3 cannot unfold the grid between them (cells more than roughly 1,000 km
    /// apart, or on opposite sides of a pentagon).
    pub fn distance_m(self, other: Cell) -> Option<u64> {
        let (a, b) = (
            self.at_distance_resolution()?,
            other.at_distance_resolution()?,
        );
        // Measured from the smaller index, so that a → b and b → a agree exactly.
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let origin = a.to_local_ij(a).ok()?.coord;
        let there = b.to_local_ij(a).ok()?.coord;
        let di = i128::from(there.i) - i128::from(origin.i);
        let dj = i128::from(there.j) - i128::from(origin.j);
        // The i and j axes are 120 degrees apart: |v|² = i² + j² − i·j grid steps².
        let steps_sq = u128::try_from(di * di + dj * dj - di * dj).ok()?;
        let mm = (steps_sq * u128::from(CENTRE_SPACING_MM) * u128::from(CENTRE_SPACING_MM)).isqrt();
        u64::try_from(mm / 1000).ok()
    }

    /// The cell at [`DISTANCE_RESOLUTION`]: its ancestor if finer, its centre child if coarser.
    fn at_distance_resolution(self) -> Option<CellIndex> {
        let res = Resolution::try_from(DISTANCE_RESOLUTION).ok()?;
        if self.0.resolution() >= res {
            self.0.parent(res)
        } else {
            self.0.center_child(res)
        }
    }

    /// The number (0 to 121) of the resolution-0 base cell this cell lies in.
    pub fn base_cell(self) -> u8 {
        u8::from(self.0.base_cell())
    }

    /// True when this cell lies within `area` (is `area` or one of its descendants).
    pub fn is_within(self, area: Cell) -> bool {
        self.resolution() >= area.resolution() && self.coarsened(area.resolution()) == area
    }

    /// This cell and every cell of its resolution within `k` steps of it on the grid, sorted.
    pub fn disk(self, k: u32) -> Vec<Cell> {
        let mut cells: Vec<Cell> = self
            .0
            .grid_disk::<Vec<_>>(k)
            .into_iter()
            .map(Cell)
            .collect();
        cells.sort_unstable();
        cells
    }

    /// Grid distance to another cell of the same resolution, if H3 can compute it.
    pub fn grid_distance(self, other: Cell) -> Option<i32> {
        self.0.grid_distance(other.0).ok()
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cell({})", self.0)
    }
}

impl FromStr for Cell {
    type Err = CellError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<CellIndex>()
            .map(Cell)
            .map_err(|_| CellError::Invalid(s.to_string()))
    }
}

impl BorshSerialize for Cell {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        BorshSerialize::serialize(&self.to_u64(), writer)
    }
}

impl BorshDeserialize for Cell {
    fn deserialize_reader<R: Read>(reader: &mut R) -> std::io::Result<Self> {
        let raw = u64::deserialize_reader(reader)?;
        Cell::from_u64(raw)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
    }
}

serde_as_text!(Cell);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_coarsened_to_its_ancestor_never_refined() {
        let fine = Cell::from_lat_lng(48.8566, 2.3522, 12).unwrap();
        let coarse = fine.coarsened(8);
        assert_eq!(coarse.resolution(), 8);
        assert_eq!(coarse, Cell::from_lat_lng(48.8566, 2.3522, 8).unwrap());
        let wide = Cell::from_lat_lng(48.8566, 2.3522, 5).unwrap();
        assert_eq!(wide.coarsened(8), wide);
    }
    use crate::codec::{decode, encode};
    use proptest::prelude::*;

    #[test]
    fn from_coordinates_and_back() {
        let cell = Cell::from_lat_lng(48.8566, 2.3522, 12).unwrap();
        let (lat, lng) = cell.centre();
        assert!((lat - 48.8566).abs() < 0.001 && (lng - 2.3522).abs() < 0.001);
        assert_eq!(Cell::from_lat_lng(lat, lng, 12).unwrap(), cell);
        let cell = Cell::from_lat_lng(48.8566, 2.3522, 12).unwrap();
        assert_eq!(cell.resolution(), 12);
        assert_eq!(cell.to_string().parse::<Cell>(), Ok(cell));
        assert_eq!(decode::<Cell>(&encode(&cell), 8), Ok(cell));
        assert!(Cell::from_lat_lng(95.0, 0.0, 12).is_err());
        assert!(Cell::from_lat_lng(0.0, 0.0, 16).is_err());
    }

    /// Great-circle distance in metres, for comparison only (floats never decide rewards).
    fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
        let (la1, lo1, la2, lo2) = (
            a.0.to_radians(),
            a.1.to_radians(),
            b.0.to_radians(),
            b.1.to_radians(),
        );
        let h = ((la2 - la1) / 2.0).sin().powi(2)
            + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
        2.0 * 6_371_008.8 * h.sqrt().asin()
    }

    #[test]
    fn distances_between_cells_follow_the_ground() {
        let paris = (48.8566, 2.3522);
        let places = [
            (48.8606, 2.3376),    // 1.2 km
            (48.9000, 2.3522),    // 4.8 km
            (48.8566, 2.9000),    // 40 km
            (49.4431, 1.0999),    // Rouen, 111 km
            (-33.8688, 151.2093), // Sydney: too far to unfold
        ];
        let origin = Cell::from_lat_lng(paris.0, paris.1, 12).unwrap();
        assert_eq!(origin.distance_m(origin), Some(0));
        for place in places {
            let cell = Cell::from_lat_lng(place.0, place.1, 12).unwrap();
            let truth = haversine_m(paris, place);
            match origin.distance_m(cell) {
                Some(d) => {
                    let error = (d as f64 - truth).abs() / truth;
                    assert!(error < 0.35, "{place:?}: {d} m against {truth:.0} m");
                    assert_eq!(cell.distance_m(origin), Some(d), "symmetric");
                }
                None => assert!(truth > 1_000_000.0, "{place:?} at {truth:.0} m"),
            }
        }
        // Neighbouring resolution-11 cells are one spacing apart, whatever the resolution given.
        let a = Cell::from_lat_lng(paris.0, paris.1, DISTANCE_RESOLUTION).unwrap();
        for b in a.0.grid_disk::<Vec<_>>(1).into_iter().filter(|b| *b != a.0) {
            assert_eq!(a.distance_m(Cell(b)), Some(CENTRE_SPACING_MM / 1000));
        }
        assert_eq!(a.coarsened(8).distance_m(a.coarsened(8)), Some(0));
    }

    #[test]
    fn a_disk_holds_the_cell_and_its_neighbours() {
        let a = Cell::from_lat_lng(48.8566, 2.3522, 7).unwrap();
        let disk = a.disk(1);
        assert_eq!(disk.len(), 7);
        assert!(disk.contains(&a));
        assert!(disk
            .iter()
            .all(|c| a.grid_distance(*c).is_some_and(|d| d <= 1)));
        assert_eq!(a.disk(0), vec![a]);
    }

    #[test]
    fn invalid_index_is_refused_when_decoding() {
        assert!(decode::<Cell>(&encode(&0u64), 8).is_err());
        assert!(decode::<Cell>(&encode(&u64::MAX), 8).is_err());
        assert!("not-a-cell".parse::<Cell>().is_err());
    }

    proptest! {
        #[test]
        fn any_u64_decodes_or_errors(raw in any::<u64>()) {
            if let Ok(cell) = decode::<Cell>(&encode(&raw), 8) {
                prop_assert_eq!(cell.to_u64(), raw);
            }
        }

        #[test]
        fn valid_cells_round_trip(lat in -89.0f64..89.0, lng in -179.0f64..179.0, res in 0u8..=15) {
            let cell = Cell::from_lat_lng(lat, lng, res).unwrap();
            prop_assert_eq!(decode::<Cell>(&encode(&cell), 8), Ok(cell));
            prop_assert_eq!(cell.to_string().parse::<Cell>(), Ok(cell));
        }
    }
}
