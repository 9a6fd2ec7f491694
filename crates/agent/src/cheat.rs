//! Simulated coverage cheaters: the parts the last simulated devices play when
//! `[coverage.cheaters]` asks for them, so that a devnet shows the oracles' verifiers at work.
//! Each part is a cheat an owner could try with real hardware; the oracles must pay none.
//!
//! | part       | stands                          | asserts              | beacons              | witnesses                      |
//! |------------|---------------------------------|----------------------|----------------------|--------------------------------|
//! | honest     | on the spiral around the centre | where it stands      | fresh, in its slot   | what it hears                  |
//! | spoofed    | on the spiral, among the honest | 1,000 km south       | fresh, in its slot   | what it hears                  |
//! | ring       | in one resolution-7 cell, 200 km north | where it stands | fresh, in its slot | what it hears: each other      |
//! | fabricator | alone, 60 km east               | where it stands      | fresh (nobody hears) | every honest beacon, at a signal only a near device could hear |
//! | replayer   | on the spiral, among the honest | where it stands      | with entropy first seen 200 s before | nothing     |
//!
//! And cheaters that know the rules (the adaptive cheaters of `cairn bench oracle`), each
//! built to pass the rule that catches its naive twin:
//!
//! | part            | stands                          | asserts              | witnesses                         |
//! |-----------------|---------------------------------|----------------------|-----------------------------------|
//! | weak fabricator | 1 km apart, 60 km south         | where it stands      | each other, and every honest beacon it is told of at 10 dB under free space over the distance |
//! | bridged ring    | in one resolution-7 cell, 90 km north | where it stands | each other; the first also one honest beacon a window, as a weak fabricator |
//! | spoofed group   | in one resolution-7 cell, 80 km west | 1.5 km apart, 1,000 km south | each other, at the signals the asserted places would give |
//!
//! Positions are pure functions of the centre, the spacing and the part, so the agent and
//! `cairn agent`'s registration (which asserts each device's location) agree.

use crate::config::CheatersSection;
use crate::radio::{simulated_location, METRES_PER_DEGREE};
use cairn_types::Cell;

/// How far south of where it stands a spoofed device claims to be (m).
pub const SPOOF_DISTANCE_M: f64 = 1_000_000.0;
/// How far north of the centre the ring stands (m): beyond any honest device's hearing.
pub const RING_DISTANCE_M: f64 = 200_000.0;
/// How far apart the ring's devices stand (m): just over the oracles' minimum witness distance.
pub const RING_SPACING_M: f64 = 460.0;
/// The resolution of the one cell the ring crowds into (the oracles' ring resolution).
pub const RING_RESOLUTION: u8 = 7;
/// How far east of the centre fabricators stand (m): within the oracles' longest witness
/// distance, beyond the radio's reach.
pub const FABRICATOR_DISTANCE_M: f64 = 60_000.0;
/// The signal fabricators claim (centi-dBm): what a device a few kilometres away hears.
pub const FABRICATED_RSSI_CDBM: i32 = -7_000;
/// How long before a replayer's beacon it first saw the entropy it uses (ms): longer than the
/// oracles keep entropy fresh.
pub const REPLAY_AGE_MS: u64 = 200_000;
/// How far south of the centre weak fabricators stand (m): within the oracles' longest
/// witness distance, beyond the radio's reach.
pub const WEAK_FABRICATOR_DISTANCE_M: f64 = 60_000.0;
/// How far under free space over the claimed distance a weak fabricator's signal is
/// (centi-dB): weak, and plausible.
pub const WEAK_SIGNAL_MARGIN_CDB: i64 = 1_000;
/// How far north of the centre the bridged ring stands (m): beyond the radio's reach, within
/// the oracles' longest witness distance of the honest devices (its bridge).
pub const BRIDGED_RING_DISTANCE_M: f64 = 90_000.0;
/// How far west of the centre the spoofed group stands (m): beyond the radio's reach.
pub const SPOOFED_GROUP_DISTANCE_M: f64 = 80_000.0;
/// How far apart the spoofed group's asserted locations are (m): spread over several
/// resolution-7 cells, so that the group is no ring.
pub const SPOOFED_GROUP_SPACING_M: f64 = 1_500.0;

/// The part a simulated coverage device plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Stands where it says and reports what it hears.
    Honest,
    /// Asserts a location 1,000 km from where it stands.
    Spoofed,
    /// One of a group crowded into one cell, far from everyone else.
    Ring,
    /// Reports witnesses of beacons it could not have heard.
    Fabricator,
    /// Beacons with stale entropy.
    Replayer,
    /// Reports witnesses it could not have heard, at signals physics allows.
    WeakFabricator,
    /// One of a ring crowded into one cell, bridged out of it by one plausible witness.
    BridgedRing,
    /// One of a group standing together and asserting locations far away, spread out.
    SpoofedGroup,
}

impl Role {
    /// The part's name, as the status page shows it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Honest => "honest",
            Role::Spoofed => "spoofed",
            Role::Ring => "ring",
            Role::Fabricator => "fabricator",
            Role::Replayer => "replayer",
            Role::WeakFabricator => "weak_fabricator",
            Role::BridgedRing => "bridged_ring",
            Role::SpoofedGroup => "spoofed_group",
        }
    }
}

/// The parts of `simulated` devices: honest first, then the cheaters in the order of
/// [`CheatersSection`] (fewer if there are not enough devices).
pub fn roles(simulated: usize, cheaters: &CheatersSection) -> Vec<Role> {
    cast(
        simulated,
        Role::Honest,
        &[
            (Role::Spoofed, cheaters.spoofed),
            (Role::Ring, cheaters.ring),
            (Role::Fabricator, cheaters.fabricators),
            (Role::Replayer, cheaters.replayers),
            (Role::WeakFabricator, cheaters.weak_fabricators),
            (Role::BridgedRing, cheaters.bridged_ring),
            (Role::SpoofedGroup, cheaters.spoofed_group),
        ],
    )
}

/// The parts of `simulated` devices of any kind: `honest` first, then each cheating part as
/// many times as it is asked for, in order (fewer if there are not enough devices).
pub fn cast<R: Copy>(simulated: usize, honest: R, cheaters: &[(R, u32)]) -> Vec<R> {
    let count = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
    let cheating: Vec<R> = cheaters
        .iter()
        .flat_map(|(role, n)| std::iter::repeat_n(*role, count(*n)))
        .take(simulated)
        .collect();
    let mut out = vec![honest; simulated - cheating.len()];
    out.extend(cheating);
    out
}

/// Where a simulated device stands (what the radio uses) and what it asserts on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Where it stands.
    pub stands: Option<Cell>,
    /// What it asserts.
    pub asserts: Option<Cell>,
}

/// The placement of each device of `roles` around `centre`, `spacing_m` apart on the spiral.
pub fn place(centre: (f64, f64), spacing_m: f64, roles: &[Role]) -> Vec<Placement> {
    let south = (centre.0 - SPOOF_DISTANCE_M / METRES_PER_DEGREE, centre.1);
    let ring = ring_spots(
        (centre.0 + RING_DISTANCE_M / METRES_PER_DEGREE, centre.1),
        roles.iter().filter(|r| **r == Role::Ring).count(),
    );
    let metres_east = |m: f64| m / (METRES_PER_DEGREE * centre.0.to_radians().cos().max(0.01));
    let east = centre.1 + metres_east(FABRICATOR_DISTANCE_M);
    let count = |part: Role| roles.iter().filter(|r| **r == part).count();
    let bridged = ring_spots(
        (
            centre.0 + BRIDGED_RING_DISTANCE_M / METRES_PER_DEGREE,
            centre.1,
        ),
        count(Role::BridgedRing),
    );
    let west = (centre.0, centre.1 - metres_east(SPOOFED_GROUP_DISTANCE_M));
    let group_stands = ring_spots(west, count(Role::SpoofedGroup));
    let group_south = (west.0 - SPOOF_DISTANCE_M / METRES_PER_DEGREE, west.1);
    let (mut on_spiral, mut in_ring, mut alone) = (0u32, 0usize, 0u32);
    let (mut weak, mut in_bridged, mut in_group) = (0u32, 0usize, 0usize);
    let at = |spot: Option<Cell>| Placement {
        stands: spot,
        asserts: spot,
    };
    roles
        .iter()
        .map(|role| match role {
            Role::WeakFabricator => {
                let south = WEAK_FABRICATOR_DISTANCE_M + f64::from(weak) * 1_000.0;
                weak += 1;
                at(Cell::from_lat_lng(centre.0 - south / METRES_PER_DEGREE, centre.1, 12).ok())
            }
            Role::BridgedRing => {
                in_bridged += 1;
                at(bridged.get(in_bridged - 1).copied())
            }
            Role::SpoofedGroup => {
                in_group += 1;
                let index = u32::try_from(in_group - 1).unwrap_or(u32::MAX);
                Placement {
                    stands: group_stands.get(in_group - 1).copied(),
                    asserts: simulated_location(group_south, SPOOFED_GROUP_SPACING_M, index),
                }
            }
            Role::Honest | Role::Replayer | Role::Spoofed => {
                let stands = simulated_location(centre, spacing_m, on_spiral);
                let asserts = if *role == Role::Spoofed {
                    simulated_location(south, spacing_m, on_spiral)
                } else {
                    stands
                };
                on_spiral += 1;
                Placement { stands, asserts }
            }
            Role::Ring => {
                let spot = ring.get(in_ring).copied();
                in_ring += 1;
                Placement {
                    stands: spot,
                    asserts: spot,
                }
            }
            Role::Fabricator => {
                let lat = centre.0 + f64::from(alone) * 1_000.0 / METRES_PER_DEGREE;
                alone += 1;
                let spot = Cell::from_lat_lng(lat, east, 12).ok();
                Placement {
                    stands: spot,
                    asserts: spot,
                }
            }
        })
        .collect()
}

/// `count` resolution-12 spots [`RING_SPACING_M`] apart, as many as fit inside the
/// resolution-[`RING_RESOLUTION`] cell around `near`, nearest its centre first; any more
/// continue outside it.
pub fn ring_spots(near: (f64, f64), count: usize) -> Vec<Cell> {
    let Ok(home) = Cell::from_lat_lng(near.0, near.1, RING_RESOLUTION) else {
        return Vec::new();
    };
    let middle = home.centre();
    let spots: Vec<Cell> = (0..400)
        .filter_map(|i| simulated_location(middle, RING_SPACING_M, i))
        .collect();
    let (inside, outside): (Vec<Cell>, Vec<Cell>) =
        spots.into_iter().partition(|c| c.is_within(home));
    inside.into_iter().chain(outside).take(count).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_resources::coverage::rules::CoverageRules;

    #[test]
    fn parts_follow_the_honest_devices_in_order() {
        let cheaters = CheatersSection {
            spoofed: 1,
            ring: 2,
            fabricators: 1,
            replayers: 1,
            ..CheatersSection::default()
        };
        let r = roles(7, &cheaters);
        assert_eq!(
            r,
            [
                Role::Honest,
                Role::Honest,
                Role::Spoofed,
                Role::Ring,
                Role::Ring,
                Role::Fabricator,
                Role::Replayer
            ]
        );
        // Too few devices: the first parts are played, never more devices than there are.
        assert_eq!(roles(2, &cheaters), [Role::Spoofed, Role::Ring]);
    }

    #[test]
    fn twenty_ring_devices_fit_one_cell_apart_enough_to_witness() {
        let rules = CoverageRules::default();
        let spots = ring_spots((50.65, 2.35), 20);
        assert_eq!(spots.len(), 20);
        let home = spots[0].coarsened(rules.ring_resolution);
        assert!(spots.iter().all(|s| s.is_within(home)));
        for (i, a) in spots.iter().enumerate() {
            for b in &spots[i + 1..] {
                let d = a.distance_m(*b).unwrap();
                assert!(d >= rules.witness_distance_m_min, "{d} m");
            }
        }
    }

    #[test]
    fn cheaters_stand_and_assert_where_their_part_says() {
        let centre = (48.8566, 2.3522);
        let parts = [
            Role::Honest,
            Role::Spoofed,
            Role::Ring,
            Role::Fabricator,
            Role::Replayer,
        ];
        let placed = place(centre, 1_500.0, &parts);
        let honest = placed[0].asserts.unwrap();
        assert_eq!(placed[0].stands, placed[0].asserts);
        // The spoofed device stands 1.5 km from the first honest one (as H3 measures it) and
        // claims 1,000 km.
        let spoofed = placed[1];
        let near = spoofed.stands.unwrap().distance_m(honest).unwrap();
        assert!((1_300..1_800).contains(&near), "{near} m");
        let far = spoofed.asserts.unwrap().distance_m(honest).unwrap();
        assert!((950_000..1_050_000).contains(&far), "{far} m");
        // The ring is 200 km away; the fabricator 60 km (beyond hearing, within the oracles'
        // longest witness distance); the replayer among the honest.
        let ring = placed[2].asserts.unwrap().distance_m(honest).unwrap();
        assert!((190_000..210_000).contains(&ring), "{ring} m");
        let fabricator = placed[3].asserts.unwrap().distance_m(honest).unwrap();
        assert!((50_000..75_000).contains(&fabricator), "{fabricator} m");
        assert!(fabricator < CoverageRules::default().witness_distance_m_max);
        let replayer = placed[4].asserts.unwrap().distance_m(honest).unwrap();
        assert!(replayer < 5_000, "{replayer} m");
    }
}
