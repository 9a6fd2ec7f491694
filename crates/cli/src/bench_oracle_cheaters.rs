//! `cairn bench oracle`, cheaters: a seeded simulation of honest and cheating devices of the
//! three proof-of-work sub-networks, their reports made by the agent's own simulators
//! (`cairn_agent::coverage`, `weather`, `hotspots`) and signed as an agent signs them, put
//! through the oracles' rewarder as one epoch; what share of the rewards the cheaters took, and
//! what share of the honest devices the verifiers left unpaid.
//!
//! The mix (20% cheaters), ten minutes of 10-second windows:
//!
//! | sub-network | honest | cheaters |
//! |---|---|---|
//! | coverage | 200 | 10 spoofed locations, a ring of 10, 10 fabricators of witnesses, 10 replayers of entropy |
//! | sensing | 150 | 10 far off their neighbours, 10 frozen sensors, 10 movers |
//! | connectivity | 150 | 10 inflaters of receipts, 10 signing in the payer's name, 10 paying themselves without credits |
//!
//! Besides them, coverage cheaters that know the rules (`cairn_agent::cheat`), 10 of each:
//! weak fabricators (witnesses made up at a signal physics allows), a bridged ring (crowded in
//! one cell, one plausible witness out of it a window) and a spoofed group (standing together,
//! asserting places 1,000 km away spread over several cells, at the signals those places would
//! give). They are reported apart: `adaptive_cheater_reward_share`, and per part
//! `adaptive_to_honest_reward_ratio`, what one such cheater earns against one honest coverage
//! device.
//!
//! Every device also sends a heartbeat each window. The denominators are every reward paid
//! (`cheater_reward_share`, `adaptive_cheater_reward_share`) and every honest device
//! (`honest_false_reject_rate`: an honest device is falsely rejected when it earns nothing).

use crate::bench_support::BENCH_CHAIN;
use anyhow::{anyhow, bail, Result};
use cairn_agent::cheat::Role;
use cairn_agent::config::{
    CheatersSection, ConnectivitySection, CoverageSection, HotspotCheatersSection, SensingSection,
    StationCheatersSection,
};
use cairn_agent::coverage::{Planner, TICK_MS};
use cairn_agent::hotspots::{HotspotRole, Hotspots};
use cairn_agent::signer::{DeviceSigner, FileSigner};
use cairn_agent::weather::{StationRole, Stations};
use cairn_oracle::log::format::{encode_file, file_hash, file_name, write_frame};
use cairn_oracle::manifest::{Manifest, ManifestFile};
use cairn_oracle::rewarder::inputs::EpochChain;
use cairn_oracle::rewarder::{self, Cumulative, EpochInputs};
use cairn_resources::context::{DeviceInfo, EpochContext};
use cairn_resources::coverage::types::Denylist;
use cairn_resources::kinds;
use cairn_resources::sensing::rules::SensingRules;
use cairn_resources::sensing::score::StationHistory;
use cairn_types::codec::{BoundedString, BoundedVec};
use cairn_types::params::ChainId;
use cairn_types::report::{LoggedReport, ReportBody, ReportPayload, SessionCert, SignedReport};
use cairn_types::{Address, Amount, Credits, DeviceId, Epoch, Hash, SecretKey, Subnetwork};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const WINDOW_MS: u64 = 10_000;
const EPOCH_WINDOWS: u64 = 60;
/// Coverage devices run this long before the epoch (replayers need old entropy).
const WARM_UP_MS: u64 = 300_000;
const BLOCK_MS: u64 = 15_000;
const START_MS: u64 = 1_800_000_000_000;
const EPOCH: u64 = 1;

/// How many devices of each part (the sizes of the table in the module doc, scaled).
pub(crate) struct Mix {
    pub(crate) honest: u32,
    pub(crate) each_cheat: u32,
}

/// The figures of the cheater simulation.
#[derive(Debug, Serialize)]
pub(crate) struct CheaterFigures {
    /// Rewards paid to cheaters over all rewards paid.
    pub(crate) cheater_reward_share: f64,
    /// Honest devices paid nothing over honest devices.
    pub(crate) honest_false_reject_rate: f64,
    /// Honest devices.
    pub(crate) honest_devices: usize,
    /// Cheating devices.
    pub(crate) cheater_devices: usize,
    /// Honest devices paid nothing.
    pub(crate) honest_unpaid: usize,
    /// Cheaters paid something.
    pub(crate) cheaters_paid: usize,
    /// Each cheating part's share of all rewards paid.
    pub(crate) cheater_share_by_part: BTreeMap<&'static str, f64>,
    /// Rewards paid to the cheaters that know the rules over all rewards paid.
    pub(crate) adaptive_cheater_reward_share: f64,
    /// Cheaters that know the rules.
    pub(crate) adaptive_cheater_devices: usize,
    /// Per part of those, what one of them earned on average against one honest coverage
    /// device.
    pub(crate) adaptive_to_honest_reward_ratio: BTreeMap<&'static str, f64>,
    /// The simulation's seed.
    pub(crate) seed: String,
}

/// One simulated device: its key, sub-network, part, and whether the part is honest.
struct Device {
    key: SecretKey,
    info: DeviceInfo,
    honest: bool,
    /// The part's name (`honest`, or the cheat).
    part: &'static str,
    /// A cheater that knows the rules.
    adaptive: bool,
    moved: bool,
}

/// Runs the simulation.
pub(crate) fn run(mix: &Mix, seed: &str) -> Result<CheaterFigures> {
    let chain = ChainId::new(BENCH_CHAIN).map_err(|e| anyhow!("{e:?}"))?;
    let n = mix.each_cheat;
    let coverage_config = CoverageSection {
        window_secs: WINDOW_MS / 1_000,
        cheaters: CheatersSection {
            spoofed: n,
            ring: n,
            fabricators: n,
            replayers: n,
            weak_fabricators: n,
            bridged_ring: n,
            spoofed_group: n,
        },
        ..CoverageSection::default()
    };
    let sensing_config = SensingSection {
        window_secs: WINDOW_MS / 1_000,
        cheaters: StationCheatersSection {
            far_off: n,
            flatline: n,
            movers: n,
        },
        ..SensingSection::default()
    };
    let connectivity_config = ConnectivitySection {
        window_secs: WINDOW_MS / 1_000,
        cheaters: HotspotCheatersSection {
            inflaters: n,
            device_signed: n,
            unfunded: n,
        },
        ..ConnectivitySection::default()
    };
    let per_kind = usize::try_from(mix.honest + 3 * n)?;
    let coverage_count = usize::try_from(mix.honest + 7 * n)?;
    let keys = |kind: &str, count: usize| -> Vec<SecretKey> {
        (0..count)
            .map(|i| SecretKey::from_label(&format!("bench-cheaters/{seed}/{kind}-{i}")))
            .collect()
    };
    let coverage_keys = keys("coverage", coverage_count);
    let station_keys = keys("station", per_kind);
    let hotspot_keys = keys("hotspot", per_kind);
    let id = |k: &SecretKey| DeviceId(k.public_key());
    let coverage_ids: Vec<DeviceId> = coverage_keys.iter().map(id).collect();
    let mut planner = Planner::new(&coverage_config, seed, &coverage_ids, 0);
    let stations = Stations::new(&sensing_config, seed, per_kind, 0);
    let payer = SecretKey::from_label(&format!("bench-cheaters/{seed}/payer"));
    let payer_signer: Arc<dyn DeviceSigner> = Arc::new(FileSigner::from_key(payer.clone()));
    let hotspots = Hotspots::new(
        &connectivity_config,
        chain.clone(),
        per_kind,
        0,
        Some(payer_signer),
    );
    let owner = |k: &SecretKey| Address(k.public_key());
    let mut devices: Vec<Device> = Vec::new();
    for (k, key) in coverage_keys.into_iter().enumerate() {
        devices.push(Device {
            info: DeviceInfo {
                owner: owner(&key),
                subnetwork: Subnetwork::Coverage,
                retired: false,
                maker_revoked: false,
                location: planner.location(k),
            },
            honest: planner.role(k) == Role::Honest,
            part: planner.role(k).name(),
            adaptive: matches!(
                planner.role(k),
                Role::WeakFabricator | Role::BridgedRing | Role::SpoofedGroup
            ),
            moved: false,
            key,
        });
    }
    for (k, key) in station_keys.into_iter().enumerate() {
        let mover = stations.role(k) == StationRole::Mover;
        devices.push(Device {
            info: DeviceInfo {
                owner: owner(&key),
                subnetwork: Subnetwork::Sensing,
                retired: false,
                maker_revoked: false,
                location: if mover {
                    stations.moved_location(k)
                } else {
                    stations.location(k)
                },
            },
            honest: stations.role(k) == StationRole::Honest,
            part: stations.role(k).name(),
            adaptive: false,
            moved: mover,
            key,
        });
    }
    let hotspot_signers: Vec<Arc<dyn DeviceSigner>> = hotspot_keys
        .iter()
        .map(|k| Arc::new(FileSigner::from_key(k.clone())) as Arc<dyn DeviceSigner>)
        .collect();
    for (k, key) in hotspot_keys.into_iter().enumerate() {
        devices.push(Device {
            info: DeviceInfo {
                owner: owner(&key),
                subnetwork: Subnetwork::Connectivity,
                retired: false,
                maker_revoked: false,
                location: None,
            },
            honest: hotspots.role(k) == HotspotRole::Honest,
            part: hotspots.role(k).name(),
            adaptive: false,
            moved: false,
            key,
        });
    }

    // Each device's session, as its agent holds one.
    let sessions: Vec<(SecretKey, SessionCert)> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let session = SecretKey::from_label(&format!("bench-cheaters/{seed}/session-{i}"));
            let cert =
                SessionCert::issue(&chain, &d.key, session.public_key(), START_MS + 3_600_000);
            (session, cert)
        })
        .collect();
    let mut copies: Vec<LoggedReport> = Vec::new();
    let mut sign = |device: usize, body: ReportBody| {
        let (key, cert) = &sessions[device];
        copies.push(LoggedReport {
            received_ms: body.time_ms + 200,
            report: SignedReport::sign(&chain, cert.clone(), key, body),
        });
    };
    let end_ms = START_MS + EPOCH_WINDOWS * WINDOW_MS;
    for now in (START_MS - WARM_UP_MS..end_ms).step_by(usize::try_from(TICK_MS)?) {
        let (height, (digest, _)) = block_at(now);
        for (k, body) in planner.due(now, (height, digest)) {
            if body.time_ms >= START_MS {
                sign(k, body);
            }
        }
    }
    let first_station = coverage_count;
    let first_hotspot = coverage_count + per_kind;
    for window in START_MS / WINDOW_MS..end_ms / WINDOW_MS {
        let start = window * WINDOW_MS;
        for device in 0..devices.len() {
            let body = |time_ms, payload| ReportBody {
                time_ms,
                entropy: Hash::ZERO,
                payload,
            };
            sign(
                device,
                body(
                    start + 1_000 + device as u64,
                    ReportPayload::Heartbeat {
                        uptime_secs: window,
                    },
                ),
            );
        }
        for (k, payload) in stations.readings(window) {
            sign(
                first_station + k,
                ReportBody {
                    time_ms: start + 5_000,
                    entropy: Hash::ZERO,
                    payload,
                },
            );
        }
        for (k, payload) in hotspots.transfers(window, start + 7_000, &hotspot_signers) {
            sign(
                first_hotspot + k,
                ReportBody {
                    time_ms: start + 7_000,
                    entropy: Hash::ZERO,
                    payload,
                },
            );
        }
    }
    copies.sort_by_key(|c| c.received_ms);

    let paid = epoch(&chain, &devices, &copies, &payer)?;
    let total: u128 = paid.values().map(|a| a.0).sum();
    if total == 0 {
        bail!("the simulation paid nobody");
    }
    let reward = |d: &Device| paid.get(&DeviceId(d.key.public_key())).map_or(0, |a| a.0);
    let naive = |d: &&Device| !d.honest && !d.adaptive;
    let cheaters_total: u128 = devices.iter().filter(naive).map(reward).sum();
    let adaptive_total: u128 = devices.iter().filter(|d| d.adaptive).map(reward).sum();
    let mean = |part: &str, of: &dyn Fn(&Device) -> bool| -> f64 {
        let chosen: Vec<u128> = devices
            .iter()
            .filter(|d| of(d) && d.part == part)
            .map(reward)
            .collect();
        chosen.iter().sum::<u128>() as f64 / chosen.len().max(1) as f64
    };
    let honest_coverage = mean("honest", &|d| d.info.subnetwork == Subnetwork::Coverage);
    let mut adaptive_ratio: BTreeMap<&'static str, f64> = BTreeMap::new();
    for d in devices.iter().filter(|d| d.adaptive) {
        adaptive_ratio
            .entry(d.part)
            .or_insert_with(|| mean(d.part, &|x| x.adaptive) / honest_coverage.max(1.0));
    }
    let honest = devices.iter().filter(|d| d.honest).count();
    let honest_unpaid = devices
        .iter()
        .filter(|d| d.honest && reward(d) == 0)
        .count();
    let mut by_part: BTreeMap<&'static str, u128> = BTreeMap::new();
    for d in devices.iter().filter(naive) {
        *by_part.entry(d.part).or_default() += reward(d);
    }
    Ok(CheaterFigures {
        cheater_share_by_part: by_part
            .into_iter()
            .map(|(part, r)| (part, r as f64 / total as f64))
            .collect(),
        cheater_reward_share: cheaters_total as f64 / total as f64,
        honest_false_reject_rate: honest_unpaid as f64 / honest.max(1) as f64,
        honest_devices: honest,
        cheater_devices: devices.iter().filter(naive).count(),
        honest_unpaid,
        cheaters_paid: devices
            .iter()
            .filter(naive)
            .filter(|d| reward(d) > 0)
            .count(),
        adaptive_cheater_reward_share: adaptive_total as f64 / total as f64,
        adaptive_cheater_devices: devices.iter().filter(|d| d.adaptive).count(),
        adaptive_to_honest_reward_ratio: adaptive_ratio,
        seed: seed.to_string(),
    })
}

/// The block current at `now`: its height, digest and time.
fn block_at(now: u64) -> (u64, (Hash, u64)) {
    let first = START_MS - WARM_UP_MS - BLOCK_MS;
    let height = (now - first) / BLOCK_MS;
    (height, block(height))
}

fn block(height: u64) -> (Hash, u64) {
    let first = START_MS - WARM_UP_MS - BLOCK_MS;
    (
        Hash::domain("cairn bench block", &[&height.to_le_bytes()]),
        first + height * BLOCK_MS,
    )
}

/// The epoch through the rewarder: each device's reward.
fn epoch(
    chain: &ChainId,
    devices: &[Device],
    copies: &[LoggedReport],
    payer: &SecretKey,
) -> Result<HashMap<DeviceId, Amount>> {
    let oracle = Address(SecretKey::from_label("bench-cheaters/oracle").public_key());
    let mut frames = Vec::new();
    for copy in copies {
        write_frame(&mut frames, copy);
    }
    let bytes = encode_file(&oracle, &frames)?;
    let name = file_name(START_MS, 0);
    let manifest = Manifest {
        epoch: Epoch(EPOCH),
        oracle,
        denylist: BoundedVec::from_bounded(Vec::new()),
        files: BoundedVec::new(vec![ManifestFile {
            name: BoundedString::new(name).map_err(|e| anyhow!("{e:?}"))?,
            hash: file_hash(&bytes),
            bytes: bytes.len() as u64,
            reports: copies.len() as u64,
        }])
        .map_err(|e| anyhow!("{e:?}"))?,
    };
    let registry: HashMap<DeviceId, DeviceInfo> = devices
        .iter()
        .map(|d| (DeviceId(d.key.public_key()), d.info))
        .collect();
    let moved: HashMap<DeviceId, bool> = devices
        .iter()
        .map(|d| (DeviceId(d.key.public_key()), d.moved))
        .collect();
    let file = |_: &Address, _: &str| -> Result<Vec<u8>, String> { Ok(bytes.clone()) };
    let entropy = |height: u64| -> Result<Option<(Hash, u64)>, String> { Ok(Some(block(height))) };
    let history = |stations: &[DeviceId]| -> Result<BTreeMap<DeviceId, StationHistory>, String> {
        Ok(stations
            .iter()
            .map(|device| {
                let moved = moved.get(device).copied().unwrap_or(false);
                let history = StationHistory {
                    registered_height: 1,
                    moved_epoch: moved.then_some(EPOCH),
                };
                (*device, history)
            })
            .collect())
    };
    // The payer holds plenty of credits; an unfunded hotspot's own key holds none.
    let payer_address = Address(payer.public_key());
    let credits =
        move |_: Subnetwork, payers: &[Address]| -> Result<BTreeMap<Address, Credits>, String> {
            Ok(payers
                .iter()
                .map(|who| {
                    (
                        *who,
                        Credits(if *who == payer_address { 1 << 40 } else { 0 }),
                    )
                })
                .collect())
        };
    let pools: BTreeMap<Subnetwork, Amount> = [
        Subnetwork::Coverage,
        Subnetwork::Sensing,
        Subnetwork::Connectivity,
    ]
    .into_iter()
    .map(|s| (s, Amount(1_000_000_000_000)))
    .collect();
    let kinds = kinds::registered(&kinds::Rules {
        sensing: SensingRules::default().for_epoch(EPOCH_WINDOWS),
        ..kinds::Rules::default()
    });
    let chain_inputs = EpochChain {
        entropy: &entropy,
        history: &history,
        credits: &credits,
        denylist: Denylist::default(),
    };
    let result = rewarder::compute(EpochInputs {
        ctx: EpochContext {
            chain_id: chain.clone(),
            epoch: EPOCH,
            start_ms: START_MS,
            end_ms: START_MS + EPOCH_WINDOWS * WINDOW_MS,
            window_ms: WINDOW_MS,
            skew_ms: 5_000,
            delay_ms: 600_000,
        },
        pools,
        manifests: vec![manifest],
        file: &file,
        registry: &registry,
        previous: Cumulative::new(),
        kinds: &kinds,
        chain: &chain_inputs,
    })
    .map_err(|e| anyhow!("the epoch did not compute: {e}"))?;
    Ok(result
        .devices
        .iter()
        .map(|d| (d.device, d.reward))
        .collect())
}
