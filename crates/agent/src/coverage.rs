//! Coverage devices: each beacons once a window, in the slot the chain's rule gives it, with the
//! freshest entropy the oracles gave; the simulated radio ([`crate::radio`]) carries each
//! simulated device's beacon to the agent's other simulated devices, which witness what they
//! hear. Simulated devices may play cheaters' parts ([`crate::cheat`]): they then stand,
//! assert, beacon and witness as their part says.
//!
//! [`Planner::due`] is pure (it takes the time and the entropy), so the schedule is tested
//! without a clock; the agent's coverage task calls it every [`TICK_MS`] and signs what it
//! returns.

use crate::cheat::{
    place, roles, Role, FABRICATED_RSSI_CDBM, REPLAY_AGE_MS, WEAK_SIGNAL_MARGIN_CDB,
};
use crate::config::CoverageSection;
use crate::radio::heard;
use cairn_resources::coverage::beacon::{beacon_data, slot_bounds};
use cairn_resources::coverage::radio::max_rssi_cdbm;
use cairn_resources::tally::MAX_WITNESSES_PER_WINDOW;
use cairn_types::report::{ReportBody, ReportPayload};
use cairn_types::{Cell, DeviceId, Hash};

/// How often the coverage task looks for beacons due (ms).
pub const TICK_MS: u64 = 100;
/// Most simulated devices the radio carries beacons among (it compares every pair once).
pub const MAX_RADIO_DEVICES: usize = 4_000;
/// Farthest apart two simulated devices can hear each other (m); beyond, no pair is tried.
pub const RADIO_RANGE_M: u64 = 30_000;
/// A witness's time after the beacon it heard (ms): the receiver's processing.
pub const WITNESS_DELAY_MS: u64 = 20;
/// The signal-to-noise ratio simulated witnesses report (centi-dB).
pub const SIMULATED_SNR_CDB: i32 = 500;
/// Farthest a bridged ring's bridge claims to have heard a beacon from (m): inside the
/// oracles' longest witness distance.
pub const BRIDGE_DISTANCE_M_MAX: u64 = 95_000;

/// The schedule of an agent's coverage devices.
pub struct Planner {
    config: CoverageSection,
    seed: String,
    ids: Vec<DeviceId>,
    roles: Vec<Role>,
    /// Where each device stands (what the radio uses).
    stands: Vec<Option<Cell>>,
    /// What each device asserts on chain.
    asserts: Vec<Option<Cell>>,
    neighbours: Vec<Vec<usize>>,
    beaconed: Vec<Option<u64>>,
    witnessed: Vec<(u64, usize)>,
    /// The window the bridged ring last reported its bridge in.
    bridged: Option<u64>,
    /// Entropy blocks seen, with when first seen (ms), oldest first: what replayers replay.
    seen: std::collections::VecDeque<(u64, u64, Hash)>,
}

/// Entropy blocks a planner remembers.
const SEEN_MAX: usize = 256;

/// One report to sign: which device, and the body.
pub type Due = (usize, ReportBody);

impl Planner {
    /// The devices `ids`, of which those from `first_simulated` on are simulated (numbered from
    /// 0 for their positions) and carried by the radio.
    pub fn new(
        config: &CoverageSection,
        seed: &str,
        ids: &[DeviceId],
        first_simulated: usize,
    ) -> Planner {
        let centre = config.centre().unwrap_or((0.0, 0.0));
        let first_simulated = first_simulated.min(ids.len());
        let simulated = roles(ids.len() - first_simulated, &config.cheaters);
        let placed = place(centre, f64::from(config.spacing_m), &simulated);
        let real = std::iter::repeat_n(
            crate::cheat::Placement {
                stands: None,
                asserts: None,
            },
            first_simulated,
        );
        let (stands, asserts): (Vec<Option<Cell>>, Vec<Option<Cell>>) =
            real.chain(placed).map(|p| (p.stands, p.asserts)).unzip();
        let mut all_roles = vec![Role::Honest; first_simulated];
        all_roles.extend(simulated);
        let mut neighbours = vec![Vec::new(); ids.len()];
        if ids.len() <= MAX_RADIO_DEVICES {
            for (a, la) in stands.iter().enumerate() {
                for (b, lb) in stands.iter().enumerate().skip(a + 1) {
                    let near = la
                        .zip(*lb)
                        .and_then(|(x, y)| x.distance_m(y))
                        .is_some_and(|d| d <= RADIO_RANGE_M);
                    if near {
                        neighbours[a].push(b);
                        neighbours[b].push(a);
                    }
                }
            }
        }
        Planner {
            config: config.clone(),
            seed: seed.to_string(),
            ids: ids.to_vec(),
            roles: all_roles,
            stands,
            asserts,
            neighbours,
            beaconed: vec![None; ids.len()],
            witnessed: vec![(0, 0); ids.len()],
            bridged: None,
            seen: std::collections::VecDeque::new(),
        }
    }

    /// Where device `index` says it stands (the location to assert), if it is simulated.
    pub fn location(&self, index: usize) -> Option<Cell> {
        self.asserts.get(index).copied().flatten()
    }

    /// The part device `index` plays.
    pub fn role(&self, index: usize) -> Role {
        self.roles.get(index).copied().unwrap_or(Role::Honest)
    }

    /// The entropy a beacon of device `k` uses at `now_ms`: the freshest, or for a replayer
    /// the newest first seen [`REPLAY_AGE_MS`] before (none yet: no beacon).
    fn beacon_entropy(&self, k: usize, now_ms: u64) -> Option<(u64, Hash)> {
        let newest = self.seen.back().map(|(_, h, e)| (*h, *e));
        if self.role(k) != Role::Replayer {
            return newest;
        }
        self.seen
            .iter()
            .rev()
            .find(|(seen_ms, _, _)| seen_ms.saturating_add(REPLAY_AGE_MS) <= now_ms)
            .map(|(_, h, e)| (*h, *e))
    }

    /// The beacons due at `now_ms` with the entropy block `(height, digest)`, and the witnesses
    /// of them, in the order to sign them.
    pub fn due(&mut self, now_ms: u64, (height, entropy): (u64, Hash)) -> Vec<Due> {
        let window_ms = self.config.window_secs.saturating_mul(1_000).max(1);
        let window = now_ms / window_ms;
        let mut out = Vec::new();
        if height == 0 {
            return out;
        }
        if self.seen.back().is_none_or(|(_, h, _)| *h < height) {
            self.seen.push_back((now_ms, height, entropy));
            if self.seen.len() > SEEN_MAX {
                self.seen.pop_front();
            }
        }
        for k in 0..self.ids.len() {
            if self.beaconed[k] == Some(window) {
                continue;
            }
            let (start, end) = slot_bounds(&self.ids[k], window, window_ms, self.config.slots);
            // A time in the first half of the slot that others cannot predict.
            let start = start + self.offset_ms(k, window, (end - start) / 2);
            if !(start..end).contains(&now_ms) {
                continue;
            }
            let Some((beacon_height, beacon_entropy)) = self.beacon_entropy(k, now_ms) else {
                continue;
            };
            self.beaconed[k] = Some(window);
            let data = beacon_data(&beacon_entropy, &self.ids[k]);
            out.push((
                k,
                ReportBody {
                    time_ms: now_ms,
                    entropy: beacon_entropy,
                    payload: ReportPayload::Beacon {
                        entropy_height: beacon_height,
                        frequency_khz: self.config.frequency_khz,
                        tx_power_cdbm: self.config.tx_power_cdbm,
                        data,
                    },
                },
            ));
            self.witnesses_of(k, window, now_ms, entropy, data, &mut out);
            if self.role(k) == Role::Honest {
                self.fabricate(k, window, now_ms, entropy, data, &mut out);
            }
        }
        out
    }

    /// Counts one more witness of device `j` in `window`; false when it already reported as
    /// many as the oracles count (no device, honest or not, gains by reporting more).
    fn count_witness(&mut self, j: usize, window: u64) -> bool {
        let (w, n) = self.witnessed[j];
        let n = if w == window { n } else { 0 };
        if n >= MAX_WITNESSES_PER_WINDOW {
            return false;
        }
        self.witnessed[j] = (window, n + 1);
        true
    }

    /// The fabricators' witnesses of device `k`'s beacon, which none of them heard (and the
    /// bridged ring's bridge).
    fn fabricate(
        &mut self,
        k: usize,
        window: u64,
        now_ms: u64,
        entropy: Hash,
        data: Hash,
        out: &mut Vec<Due>,
    ) {
        let beacon = (now_ms, entropy, data);
        let first_bridge = (0..self.ids.len()).find(|j| self.role(*j) == Role::BridgedRing);
        for j in 0..self.ids.len() {
            let rssi = match self.role(j) {
                Role::Fabricator => Some(FABRICATED_RSSI_CDBM),
                Role::WeakFabricator => self.weak_signal(j, k, u64::MAX),
                // The bridge: one plausible witness a window, of a beacon within reach.
                Role::BridgedRing if Some(j) == first_bridge && self.bridged != Some(window) => {
                    self.weak_signal(j, k, BRIDGE_DISTANCE_M_MAX)
                }
                _ => None,
            };
            let Some(rssi) = rssi else {
                continue;
            };
            if !self.count_witness(j, window) {
                continue;
            }
            if self.role(j) == Role::BridgedRing {
                self.bridged = Some(window);
            }
            out.push(self.witness(j, k, beacon, rssi));
        }
    }

    /// What device `j` claims to hear of device `k` when it makes the witness up: the signal
    /// free space would give over the distance between their asserted locations, less
    /// [`WEAK_SIGNAL_MARGIN_CDB`]; `None` beyond `max_m`.
    fn weak_signal(&self, j: usize, k: usize, max_m: u64) -> Option<i32> {
        let (from, to) = (
            self.asserts.get(k).copied()??,
            self.asserts.get(j).copied()??,
        );
        let distance_m = from.distance_m(to).filter(|d| *d <= max_m)?;
        let free_space = max_rssi_cdbm(
            self.config.tx_power_cdbm,
            0,
            distance_m,
            self.config.frequency_khz,
        );
        i32::try_from(free_space - WEAK_SIGNAL_MARGIN_CDB).ok()
    }

    /// Device `j`'s witness of device `k`'s beacon sent at `now_ms` with `entropy` and `data`,
    /// heard at `rssi_cdbm`.
    fn witness(
        &self,
        j: usize,
        k: usize,
        (now_ms, entropy, data): (u64, Hash, Hash),
        rssi_cdbm: i32,
    ) -> Due {
        let body = ReportBody {
            time_ms: now_ms + WITNESS_DELAY_MS,
            entropy,
            payload: ReportPayload::Witness {
                beaconer: self.ids[k],
                data,
                frequency_khz: self.config.frequency_khz,
                rssi_cdbm,
                snr_cdb: SIMULATED_SNR_CDB,
            },
        };
        (j, body)
    }

    /// Device `k`'s secret offset into its slot in `window`, below `span_ms`.
    fn offset_ms(&self, k: usize, window: u64, span_ms: u64) -> u64 {
        let h = Hash::domain(
            "cairn agent beacon offset v1",
            &[
                self.seed.as_bytes(),
                &self.ids[k].0 .0,
                &window.to_le_bytes(),
            ],
        );
        let mut first = [0u8; 8];
        first.copy_from_slice(&h.as_bytes()[..8]);
        u64::from_le_bytes(first) % span_ms.max(1)
    }

    /// What the other simulated devices hear of device `k`'s beacon.
    fn witnesses_of(
        &mut self,
        k: usize,
        window: u64,
        now_ms: u64,
        entropy: Hash,
        data: Hash,
        out: &mut Vec<Due>,
    ) {
        let Some(from) = self.stands[k] else {
            return;
        };
        for n in 0..self.neighbours[k].len() {
            let j = self.neighbours[k][n];
            // Replayers and fabricators do not listen.
            if matches!(self.role(j), Role::Replayer | Role::Fabricator) {
                continue;
            }
            let Some(at) = self.stands[j] else {
                continue;
            };
            let signal = |(a, b): (Cell, Cell)| {
                heard(
                    &self.seed,
                    (&self.ids[k], a),
                    (&self.ids[j], b),
                    self.config.tx_power_cdbm,
                    self.config.frequency_khz,
                    window,
                )
            };
            let mut rssi = signal((from, at));
            // A spoofed group reports what its asserted locations would have heard.
            if rssi.is_some() && self.role(j) == Role::SpoofedGroup {
                rssi = self.asserts[k].zip(self.asserts[j]).and_then(signal);
            }
            let Some(rssi_cdbm) = rssi else {
                continue;
            };
            if !self.count_witness(j, window) {
                continue;
            }
            out.push(self.witness(j, k, (now_ms, entropy, data), rssi_cdbm));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::SecretKey;

    fn ids(n: u8) -> Vec<DeviceId> {
        (0..n)
            .map(|i| DeviceId(SecretKey::from_seed([i; 32]).public_key()))
            .collect()
    }

    #[test]
    fn each_device_beacons_once_a_window_in_its_slot_and_neighbours_witness() {
        let config = CoverageSection {
            window_secs: 10,
            ..CoverageSection::default()
        };
        let ids = ids(7);
        let mut planner = Planner::new(&config, "t", &ids, 0);
        let entropy = (5, Hash([9; 32]));
        let mut beacons = vec![0; 7];
        let mut witnesses = 0;
        // Two windows, every tick.
        for now in (1_000_000..1_020_000).step_by(100) {
            for (k, body) in planner.due(now, entropy) {
                match body.payload {
                    ReportPayload::Beacon { data, .. } => {
                        let window = now / 10_000;
                        let (start, end) = slot_bounds(&ids[k], window, 10_000, 4);
                        assert!((start..end).contains(&body.time_ms));
                        assert_eq!(data, beacon_data(&entropy.1, &ids[k]));
                        beacons[k] += 1;
                    }
                    ReportPayload::Witness { beaconer, .. } => {
                        assert_ne!(beaconer, ids[k]);
                        witnesses += 1;
                    }
                    _ => unreachable!(),
                }
            }
        }
        assert_eq!(beacons, vec![2; 7]);
        // Seven devices 1.5 km apart on a hexagon: most hear most of the others.
        assert!(witnesses >= 2 * 7 * 3, "{witnesses} witnesses");
        // No entropy yet: nothing is due.
        let mut fresh = Planner::new(&config, "t", &ids, 0);
        assert!((1_000_000..1_010_000)
            .step_by(100)
            .all(|now| fresh.due(now, (0, Hash::ZERO)).is_empty()));
    }

    #[test]
    fn a_real_device_is_not_placed_or_carried() {
        let ids = ids(3);
        let planner = Planner::new(&CoverageSection::default(), "t", &ids, 1);
        assert_eq!(planner.location(0), None);
        assert!(planner.location(1).is_some() && planner.location(2).is_some());
    }
}
