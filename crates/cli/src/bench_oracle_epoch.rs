//! `cairn bench oracle`, a whole reward epoch: the reports of many devices, in the log files of
//! two oracles' manifests on disk, through the rewarder (`cairn_oracle::rewarder::compute`:
//! every file read and hashed, every signature re-verified, the tally, the coverage, sensing
//! and connectivity verifiers, the payout, the reward trees) to the signed roots — against the
//! time to verify the same signatures alone, in batches on every core.
//!
//! The epoch: four windows of a minute. Every device sends a heartbeat each window. Three in
//! ten are coverage devices on a 1 km grid, beaconing in windows 0 and 2 in their slot with
//! fresh entropy, each beacon witnessed by its two neighbours in its row (which it witnesses in
//! turn) at a signal free space allows; three in ten are weather stations on a 3 km grid
//! reading temperature and humidity each window; four in ten are hotspots carrying a 1 MiB
//! chunk for one of 100 payers each window (half of them a fifth chunk). About ten reports per
//! device: 4 heartbeats, 2 beacons and about 4 witnesses per coverage device, 8 readings per
//! station, 4.5 transfers per hotspot.
//! Every device has its own session key and certificate; four devices share an owner.
//!
//! The devices' records come from memory (a node serves them to a real oracle); log files are
//! read from a temporary directory.

use crate::bench_support::{parallel, BENCH_CHAIN};
use anyhow::{anyhow, bail, Context as _, Result};
use cairn_oracle::log::format::{encode_file, file_hash, file_name, write_frame, FileReader};
use cairn_oracle::manifest::{Manifest, ManifestFile};
use cairn_oracle::rewarder::inputs::EpochChain;
use cairn_oracle::rewarder::{self, Cumulative, EpochInputs};
use cairn_resources::context::{DeviceInfo, EpochContext};
use cairn_resources::coverage::beacon::{beacon_data, slot_bounds};
use cairn_resources::coverage::radio::fspl_cdb;
use cairn_resources::coverage::rules::CoverageRules;
use cairn_resources::coverage::types::Denylist;
use cairn_resources::kinds;
use cairn_resources::sensing::rules::SensingRules;
use cairn_resources::verify::{check_claims, Claim};
use cairn_types::codec::{BoundedString, BoundedVec};
use cairn_types::params::ChainId;
use cairn_types::report::{LoggedReport, ReportBody, ReportPayload, SessionCert, SignedReport};
use cairn_types::transfer::TransferReceipt;
use cairn_types::tx::reward_root_digest;
use cairn_types::{Address, Amount, Cell, Credits, DeviceId, Epoch, Hash, SecretKey, Subnetwork};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

/// The epoch's first millisecond (a whole minute).
const START_MS: u64 = 1_800_000_000_000;
const WINDOW_MS: u64 = 60_000;
const WINDOWS: u64 = 4;
/// A block (entropy) every this many ms, from two minutes before the epoch.
const BLOCK_MS: u64 = 15_000;
const FIRST_BLOCK_MS: u64 = START_MS - 120_000;
/// Devices per log file.
const DEVICES_PER_FILE: usize = 10_000;
const PAYERS: usize = 100;
const COVERAGE_SPACING_M: f64 = 1_000.0;
const STATION_SPACING_M: f64 = 3_000.0;
const COVERAGE_CENTRE: (f64, f64) = (48.8566, 2.3522);
const STATION_CENTRE: (f64, f64) = (52.52, 13.405);
const FREQUENCY_KHZ: u32 = 868_100;
const TX_POWER_CDBM: i32 = 1_400;
const METRES_PER_DEGREE: f64 = 111_195.0;

/// The figures of the epoch benchmark.
#[derive(Debug, Serialize)]
pub(crate) struct EpochFigures {
    /// Seconds from the manifests to the signed roots.
    pub(crate) epoch_1m_secs: f64,
    /// Peak resident memory during that, MiB (the process's, reset just before).
    pub(crate) epoch_1m_rss_mib: u64,
    /// Seconds to verify the epoch's signatures alone, in batches on every core.
    pub(crate) epoch_1m_sig_secs: f64,
    /// `epoch_1m_secs / epoch_1m_sig_secs`.
    pub(crate) epoch_to_sig_ratio: f64,
    /// Devices.
    pub(crate) epoch_devices: usize,
    /// Reports in the log files.
    pub(crate) epoch_reports: u64,
    /// Signatures verified (reports, each device's certificate once, payers' receipts).
    pub(crate) epoch_signatures: u64,
    /// Reports counted by the tally.
    pub(crate) epoch_reports_counted: u64,
    /// Devices paid a non-zero reward.
    pub(crate) epoch_devices_paid: usize,
    /// Why the devices paid nothing were refused: refusal code, copies.
    pub(crate) epoch_unpaid_refusals: BTreeMap<&'static str, u64>,
    /// Compressed bytes of the log files.
    pub(crate) epoch_log_bytes: u64,
    /// Seconds to make the reports (signing, compressing; not part of the figures above).
    pub(crate) epoch_generate_secs: f64,
}

/// What a device is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The `n`-th coverage device.
    Coverage(usize),
    /// The `n`-th weather station.
    Station(usize),
    Hotspot,
}

fn kind_of(d: usize) -> Kind {
    match d % 10 {
        r @ 0..=2 => Kind::Coverage(d / 10 * 3 + r),
        r @ 3..=5 => Kind::Station(d / 10 * 3 + r - 3),
        _ => Kind::Hotspot,
    }
}

/// The device of the `n`-th coverage device.
fn coverage_device(n: usize) -> usize {
    n / 3 * 10 + n % 3
}

/// The layout of the epoch's devices.
struct Layout {
    devices: usize,
    /// Coverage devices, and the width of their grid.
    coverage: usize,
    grid: usize,
    stations_grid: usize,
    ids: Vec<DeviceId>,
}

impl Layout {
    fn new(devices: usize) -> Layout {
        let coverage = (0..devices).filter(|d| d % 10 < 3).count();
        let stations = (0..devices).filter(|d| (3..6).contains(&(d % 10))).count();
        Layout {
            devices,
            coverage,
            grid: isqrt(coverage).max(1),
            stations_grid: isqrt(stations).max(1),
            ids: parallel(devices, |d| DeviceId(device_key(d).public_key())),
        }
    }

    /// Where the `n`-th device of a grid `width` wide stands.
    fn cell(centre: (f64, f64), spacing_m: f64, width: usize, n: usize) -> Option<Cell> {
        let (x, y) = ((n % width) as f64, (n / width) as f64);
        let lat = centre.0 + y * spacing_m / METRES_PER_DEGREE;
        let lng = centre.1 + x * spacing_m / (METRES_PER_DEGREE * lat.to_radians().cos());
        Cell::from_lat_lng(lat, lng, 12).ok()
    }

    fn coverage_cell(&self, n: usize) -> Option<Cell> {
        Layout::cell(COVERAGE_CENTRE, COVERAGE_SPACING_M, self.grid, n)
    }

    fn info(&self, d: usize) -> DeviceInfo {
        let owner =
            Address(SecretKey::from_label(&format!("bench-epoch/owner-{}", d / 4)).public_key());
        let (subnetwork, location) = match kind_of(d) {
            Kind::Coverage(n) => (Subnetwork::Coverage, self.coverage_cell(n)),
            Kind::Station(n) => (
                Subnetwork::Sensing,
                Layout::cell(STATION_CENTRE, STATION_SPACING_M, self.stations_grid, n),
            ),
            Kind::Hotspot => (Subnetwork::Connectivity, None),
        };
        DeviceInfo {
            owner,
            subnetwork,
            retired: false,
            maker_revoked: false,
            location,
        }
    }

    /// The coverage devices whose beacons coverage device `n` witnesses, and which witness its
    /// own: its neighbours west and east in its row, the row closed into a loop (witnesses
    /// count only between devices that hear each other; a row spans many ring cells). The
    /// loop's two ends are too far apart to count in a long row.
    fn heard_by(&self, n: usize) -> Vec<usize> {
        let start = n - n % self.grid;
        let len = self.grid.min(self.coverage - start);
        if len < 2 {
            return Vec::new();
        }
        let x = n - start;
        vec![start + (x + len - 1) % len, start + (x + 1) % len]
    }
}

fn isqrt(n: usize) -> usize {
    let mut r = (n as f64).sqrt() as usize;
    while r * r > n {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= n {
        r += 1;
    }
    r.max(1)
}

fn device_key(d: usize) -> SecretKey {
    SecretKey::from_label(&format!("bench-epoch/device-{d}"))
}

fn payer_key(p: usize) -> SecretKey {
    SecretKey::from_label(&format!("bench-epoch/payer-{p}"))
}

fn oracle_key(o: usize) -> SecretKey {
    SecretKey::from_label(&format!("bench-epoch/oracle-{o}"))
}

/// The block at `height`: its digest and time.
fn block(height: u64) -> (Hash, u64) {
    (
        Hash::domain("cairn bench block", &[&height.to_le_bytes()]),
        FIRST_BLOCK_MS + height * BLOCK_MS,
    )
}

/// When coverage device `id` beacons in absolute window `window`, and the block it names.
fn beacon_time(id: &DeviceId, window: u64, slots: u64) -> (u64, u64) {
    let (start, _) = slot_bounds(id, window, WINDOW_MS, slots);
    let time = start + 500;
    let height = (time - 1_000 - FIRST_BLOCK_MS) / BLOCK_MS;
    (time, height)
}

/// The epoch's context.
fn context(chain: &ChainId) -> EpochContext {
    EpochContext {
        chain_id: chain.clone(),
        epoch: 1,
        start_ms: START_MS,
        end_ms: START_MS + WINDOWS * WINDOW_MS,
        window_ms: WINDOW_MS,
        skew_ms: 5_000,
        delay_ms: 600_000,
    }
}

/// One log file written: which oracle, its manifest entry.
struct Written {
    oracle: usize,
    file: ManifestFile,
    reports: u64,
}

/// Makes the reports of devices `group * DEVICES_PER_FILE ..` and writes their file.
fn write_group(layout: &Layout, chain: &ChainId, dir: &Path, group: usize) -> Result<Written> {
    let first = group * DEVICES_PER_FILE;
    let last = (first + DEVICES_PER_FILE).min(layout.devices);
    let slots = CoverageRules::default().beacon_slots_per_window;
    let mut copies: Vec<LoggedReport> = Vec::new();
    for d in first..last {
        let session = SecretKey::from_label(&format!("bench-epoch/session-{d}"));
        let cert = SessionCert::issue(
            chain,
            &device_key(d),
            session.public_key(),
            START_MS + 3_600_000,
        );
        let mut sign = |time_ms: u64, entropy: Hash, payload: ReportPayload| {
            let body = ReportBody {
                time_ms,
                entropy,
                payload,
            };
            copies.push(LoggedReport {
                received_ms: time_ms + 300,
                report: SignedReport::sign(chain, cert.clone(), &session, body),
            });
        };
        for w in 0..WINDOWS {
            let start = START_MS + w * WINDOW_MS;
            let window = start / WINDOW_MS;
            sign(
                start + 1_000 + (d % 20_000) as u64,
                Hash::ZERO,
                ReportPayload::Heartbeat {
                    uptime_secs: w * 60,
                },
            );
            match kind_of(d) {
                Kind::Coverage(n) if w % 2 == 0 => {
                    let (time, height) = beacon_time(&layout.ids[d], window, slots);
                    let entropy = block(height).0;
                    sign(
                        time,
                        entropy,
                        ReportPayload::Beacon {
                            entropy_height: height,
                            frequency_khz: FREQUENCY_KHZ,
                            tx_power_cdbm: TX_POWER_CDBM,
                            data: beacon_data(&entropy, &layout.ids[d]),
                        },
                    );
                    let here = layout.coverage_cell(n);
                    for b in layout.heard_by(n) {
                        let beaconer = layout.ids[coverage_device(b)];
                        let (time, height) = beacon_time(&beaconer, window, slots);
                        let entropy = block(height).0;
                        let distance = here
                            .zip(layout.coverage_cell(b))
                            .and_then(|(a, b)| a.distance_m(b))
                            .unwrap_or(1_000);
                        let loss = fspl_cdb(distance, FREQUENCY_KHZ) + 1_000;
                        sign(
                            time + 20,
                            entropy,
                            ReportPayload::Witness {
                                beaconer,
                                data: beacon_data(&entropy, &beaconer),
                                frequency_khz: FREQUENCY_KHZ,
                                rssi_cdbm: i32::try_from(i64::from(TX_POWER_CDBM) - loss)
                                    .unwrap_or(i32::MIN),
                                snr_cdb: 500,
                            },
                        );
                    }
                }
                Kind::Coverage(_) => {}
                Kind::Station(_) => {
                    let step = (w * 100) as i64;
                    let spread = (d % 100) as i64;
                    for (i, (sensor, value)) in [
                        ("temperature", 15_000 + spread * 20 + step),
                        ("humidity", 50_000 + spread * 50 + step),
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        sign(
                            start + 30_000 + i as u64,
                            Hash::ZERO,
                            ReportPayload::Reading {
                                sensor: BoundedString::new(sensor.to_string())
                                    .map_err(|e| anyhow!("{e:?}"))?,
                                value_milli: value,
                            },
                        );
                    }
                }
                Kind::Hotspot => {
                    let payer = payer_key(d % PAYERS);
                    let chunks = if w == WINDOWS - 1 && d % 2 == 0 { 2 } else { 1 };
                    for c in 0..chunks {
                        let time = start + 40_000 + c;
                        let receipt = TransferReceipt {
                            payer: Address(payer.public_key()),
                            device: layout.ids[d],
                            session: 1,
                            seq: if c == 0 {
                                u32::try_from(w).unwrap_or(0)
                            } else {
                                10
                            },
                            bytes: 1 << 20,
                            time_ms: time,
                        };
                        sign(
                            time,
                            Hash::ZERO,
                            ReportPayload::Transfer {
                                transfer: receipt.sign(chain, &payer),
                            },
                        );
                    }
                }
            }
        }
    }
    // An oracle's log is in the order reports arrived.
    copies.sort_by_key(|c| c.received_ms);
    let mut frames = Vec::new();
    for copy in &copies {
        write_frame(&mut frames, copy);
    }
    let oracle = group % 2;
    let oracle_address = Address(oracle_key(oracle).public_key());
    let bytes = encode_file(&oracle_address, &frames)?;
    let name = file_name(
        copies.first().map_or(START_MS, |c| c.received_ms),
        group as u64,
    );
    let folder = dir.join(oracle.to_string());
    std::fs::create_dir_all(&folder)?;
    std::fs::write(folder.join(&name), &bytes)?;
    Ok(Written {
        oracle,
        reports: copies.len() as u64,
        file: ManifestFile {
            name: BoundedString::new(name).map_err(|e| anyhow!("{e:?}"))?,
            hash: file_hash(&bytes),
            bytes: bytes.len() as u64,
            reports: copies.len() as u64,
        },
    })
}

/// Runs the epoch benchmark over `devices` devices.
pub(crate) fn run(devices: usize) -> Result<EpochFigures> {
    let chain = ChainId::new(BENCH_CHAIN).map_err(|e| anyhow!("{e:?}"))?;
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let generating = Instant::now();
    let layout = Layout::new(devices);
    let groups = devices.div_ceil(DEVICES_PER_FILE);
    let written = parallel(groups, |g| write_group(&layout, &chain, dir.path(), g))
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let registry: HashMap<DeviceId, DeviceInfo> = parallel(devices, |d| layout.info(d))
        .into_iter()
        .enumerate()
        .map(|(d, info)| (layout.ids[d], info))
        .collect();
    let generate_secs = generating.elapsed().as_secs_f64();
    let reports: u64 = written.iter().map(|w| w.reports).sum();
    let log_bytes: u64 = written.iter().map(|w| w.file.bytes).sum();
    let oracles: Vec<Address> = (0..2)
        .map(|o| Address(oracle_key(o).public_key()))
        .collect();
    let mut manifests: Vec<Manifest> = Vec::new();
    for (o, oracle) in oracles.iter().enumerate() {
        let files: Vec<ManifestFile> = written
            .iter()
            .filter(|w| w.oracle == o)
            .map(|w| w.file.clone())
            .collect();
        manifests.push(Manifest {
            epoch: Epoch(1),
            oracle: *oracle,
            denylist: BoundedVec::from_bounded(Vec::new()),
            files: BoundedVec::new(files).map_err(|e| anyhow!("too many files: {e:?}"))?,
        });
    }
    manifests.sort_by_key(|m| m.oracle);
    drop(layout);

    reset_peak_rss()?;
    let computing = Instant::now();
    let signed = epoch(&chain, dir.path(), &oracles, manifests, &registry)?;
    let epoch_secs = computing.elapsed().as_secs_f64();
    let rss = crate::procstat::peak_rss_mib(std::process::id())
        .ok_or_else(|| anyhow!("the peak memory cannot be read from /proc/self/status"))?;

    let (signatures, sig_secs) = signatures_alone(&chain, dir.path(), &written)?;
    Ok(EpochFigures {
        epoch_1m_secs: round3(epoch_secs),
        epoch_1m_rss_mib: rss,
        epoch_1m_sig_secs: round3(sig_secs),
        epoch_to_sig_ratio: round3(epoch_secs / sig_secs.max(1e-9)),
        epoch_devices: devices,
        epoch_reports: reports,
        epoch_signatures: signatures,
        epoch_reports_counted: signed.counted,
        epoch_devices_paid: signed.paid,
        epoch_unpaid_refusals: signed.unpaid_refusals,
        epoch_log_bytes: log_bytes,
        epoch_generate_secs: round3(generate_secs),
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Resets the process's peak resident memory to what it holds now (Linux: `clear_refs`); an
/// error if it cannot, as the peak would then include making the reports.
fn reset_peak_rss() -> Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
        .context("resetting the peak memory (/proc/self/clear_refs)")
}

/// What the computation gave.
struct Signed {
    counted: u64,
    paid: usize,
    unpaid_refusals: BTreeMap<&'static str, u64>,
}

/// The timed part: manifests to signed roots.
fn epoch(
    chain: &ChainId,
    dir: &Path,
    oracles: &[Address],
    manifests: Vec<Manifest>,
    registry: &HashMap<DeviceId, DeviceInfo>,
) -> Result<Signed> {
    let credits =
        |_: Subnetwork, payers: &[Address]| -> Result<BTreeMap<Address, Credits>, String> {
            Ok(payers.iter().map(|p| (*p, Credits(u64::MAX / 4))).collect())
        };
    let result = compute(chain, dir, oracles, manifests, registry, &credits)?;
    sign_roots(chain, &result)
}

/// The epoch's rewards, through the oracles' own rewarder.
fn compute(
    chain: &ChainId,
    dir: &Path,
    oracles: &[Address],
    manifests: Vec<Manifest>,
    registry: &HashMap<DeviceId, DeviceInfo>,
    credits: rewarder::CreditSource<'_>,
) -> Result<rewarder::EpochResult> {
    let file = |oracle: &Address, name: &str| -> Result<Vec<u8>, String> {
        let o = oracles
            .iter()
            .position(|a| a == oracle)
            .ok_or_else(|| "no such oracle".to_string())?;
        std::fs::read(dir.join(o.to_string()).join(name)).map_err(|e| e.to_string())
    };
    let entropy = |height: u64| -> Result<Option<(Hash, u64)>, String> { Ok(Some(block(height))) };
    let pools: BTreeMap<Subnetwork, Amount> = Subnetwork::ALL
        .into_iter()
        .map(|s| (s, Amount(1_000_000_000_000)))
        .collect();
    let kinds = kinds::registered(&kinds::Rules {
        sensing: SensingRules::default().for_epoch(WINDOWS),
        ..kinds::Rules::default()
    });
    let chain_inputs = EpochChain {
        entropy: &entropy,
        history: rewarder::history::no_history(),
        credits,
        denylist: Denylist::default(),
    };
    let result = rewarder::compute(EpochInputs {
        ctx: context(chain),
        pools,
        manifests,
        file: &file,
        registry,
        previous: Cumulative::new(),
        kinds: &kinds,
        chain: &chain_inputs,
    })
    .map_err(|e| anyhow!("the epoch did not compute: {e}"))?;
    Ok(result)
}

/// Signs each root the epoch gave, as an oracle would, and sums up what it paid.
fn sign_roots(chain: &ChainId, result: &rewarder::EpochResult) -> Result<Signed> {
    let key = oracle_key(0);
    let no_settlements = Vec::new();
    for (subnetwork, root) in &result.roots {
        let settled = result
            .settlements
            .get(subnetwork)
            .unwrap_or(&no_settlements);
        let digest = reward_root_digest(chain, Epoch(1), *subnetwork, root, settled);
        let signature = key.sign(&digest);
        if key.public_key().verify(&digest, &signature).is_err() {
            bail!("the root's signature does not verify");
        }
    }
    if result.roots.is_empty() {
        bail!("the epoch paid nobody: the benchmark's reports are wrong");
    }
    let mut unpaid_refusals = BTreeMap::new();
    for device in result.devices.iter().filter(|d| d.reward.is_zero()) {
        for (reason, copies) in &device.rejected {
            *unpaid_refusals.entry(reason.code()).or_default() += copies;
        }
    }
    Ok(Signed {
        unpaid_refusals,
        counted: result.devices.iter().map(|d| d.reports).sum(),
        paid: result
            .devices
            .iter()
            .filter(|d| !d.reward.is_zero())
            .count(),
    })
}

/// The signatures of the files alone (each report's, each device's certificate once, each
/// receipt's), verified in batches on every core; how many, and the seconds that took
/// (reading the files is not timed).
fn signatures_alone(chain: &ChainId, dir: &Path, written: &[Written]) -> Result<(u64, f64)> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut certified: HashSet<DeviceId> = HashSet::new();
    let (mut count, mut secs) = (0u64, 0f64);
    for w in written {
        let bytes = std::fs::read(dir.join(w.oracle.to_string()).join(w.file.name.as_str()))?;
        let mut reader = FileReader::open(&bytes[..])?;
        let mut copies = Vec::new();
        while let Some(copy) = reader.next_report()? {
            copies.push(copy);
        }
        let started = Instant::now();
        let mut claims = Vec::with_capacity(copies.len() * 2);
        for copy in &copies {
            let report = &copy.report;
            if certified.insert(report.device()) {
                claims.push(Claim::Cert(&report.cert));
            }
            claims.push(Claim::Report(report));
            if let ReportPayload::Transfer { transfer } = &report.body.payload {
                claims.push(Claim::Transfer(transfer));
            }
        }
        let valid = check_claims(chain, &claims, threads);
        secs += started.elapsed().as_secs_f64();
        if valid.iter().any(|ok| !ok) {
            bail!("a benchmark signature does not verify");
        }
        count += valid.len() as u64;
    }
    Ok((count, secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outcomes of a recorded epoch of every kind (coverage, sensing, connectivity with
    /// payers short of credits, uptime-paid storage devices, reports of the wrong kind), as
    /// one digest: the roots, the settlements, each stage's digest and every device's payout.
    /// Pinned before the sub-networks became plug-ins: moving a kind must not change a byte.
    #[test]
    fn a_recorded_epoch_pays_exactly_as_before() {
        let chain = ChainId::new(BENCH_CHAIN).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(1_000);
        let written = write_group(&layout, &chain, dir.path(), 0).unwrap();
        let registry: HashMap<DeviceId, DeviceInfo> = (0..layout.devices)
            .map(|d| {
                let mut info = layout.info(d);
                if d % 10 == 9 {
                    info.subnetwork = Subnetwork::Storage;
                }
                (layout.ids[d], info)
            })
            .collect();
        let oracles = [Address(oracle_key(0).public_key())];
        let manifest = Manifest {
            epoch: Epoch(1),
            oracle: oracles[0],
            denylist: BoundedVec::from_bounded(Vec::new()),
            files: BoundedVec::new(vec![written.file]).unwrap(),
        };
        let payers: HashMap<Address, u64> = (0..PAYERS)
            .map(|p| (Address(payer_key(p).public_key()), (p as u64 % 10) * 40))
            .collect();
        let credits =
            |_: Subnetwork, asked: &[Address]| -> Result<BTreeMap<Address, Credits>, String> {
                Ok(asked
                    .iter()
                    .filter_map(|p| payers.get(p).map(|c| (*p, Credits(*c))))
                    .collect())
            };
        let result = compute(
            &chain,
            dir.path(),
            &oracles,
            vec![manifest],
            &registry,
            &credits,
        )
        .unwrap();
        let kinds: Vec<Subnetwork> = result.roots.keys().copied().collect();
        assert_eq!(
            kinds,
            [
                Subnetwork::Storage,
                Subnetwork::Coverage,
                Subnetwork::Sensing,
                Subnetwork::Connectivity
            ]
        );
        let refused = |reason: cairn_resources::reason::Reason| -> u64 {
            result
                .devices
                .iter()
                .filter_map(|d| d.rejected.get(&reason))
                .sum()
        };
        assert!(refused(cairn_resources::reason::Reason::PayerShort) > 0);
        assert!(refused(cairn_resources::reason::Reason::WrongKind) > 0);
        // Per part, so that a change that should touch one part shows which it touched.
        let of_kind = |kinds: &[Subnetwork]| -> String {
            let roots: Vec<_> = result
                .roots
                .iter()
                .filter(|(s, _)| kinds.contains(s))
                .collect();
            let devices: Vec<_> = result
                .devices
                .iter()
                .filter(|d| kinds.contains(&d.subnetwork))
                .collect();
            let settlements: Vec<_> = result
                .settlements
                .iter()
                .filter(|(s, _)| kinds.contains(s))
                .collect();
            Hash::domain(
                "cairn test recorded epoch",
                &[
                    &cairn_types::codec::encode(&roots),
                    &cairn_types::codec::encode(&settlements),
                    &serde_json::to_vec(&devices).unwrap(),
                ],
            )
            .to_string()
        };
        let parts = [
            ("tally", result.digests.tally.to_string()),
            ("manifests", result.digests.manifests.to_string()),
            ("payout", result.digests.payout.to_string()),
            ("cumulative", result.digests.cumulative.to_string()),
            (
                "coverage, sensing, storage",
                of_kind(&[
                    Subnetwork::Coverage,
                    Subnetwork::Sensing,
                    Subnetwork::Storage,
                ]),
            ),
            ("connectivity", of_kind(&[Subnetwork::Connectivity])),
        ];
        let want = [
            (
                "tally",
                "425797583c87e2861c1b0027b7d27c8904b46d1e20abae5f78ac20a92632227b",
            ),
            (
                "manifests",
                "f5398fd72228682d3e4e31595f9a8318ecdd6bc2db4f2de8ddd8fe2b065fb2f5",
            ),
            // Pinned after the plug-ins (the same label and bytes as before: every owner's
            // reward and connectivity's settlements, both pinned below as they were before).
            (
                "payout",
                "e675216e4eaf06b28a17b77b9c97b414248f5a654b9247f96e7bbebb40e92f6b",
            ),
            (
                "cumulative",
                "ef0842652ef67db19b5296e0b632d1dfb0f4cc2d7244cbf6e376513aa17c1362",
            ),
            (
                "coverage, sensing, storage",
                "ace29e1fa46be3a014ae94155e20874026c66d196a9d09bcd3cfa7e429462138",
            ),
            (
                "connectivity",
                "271862f07fd504577829dc950366fe819faa7c14c6187a81787022179c7063b5",
            ),
        ];
        let got: Vec<(&str, &str)> = parts.iter().map(|(p, d)| (*p, d.as_str())).collect();
        assert_eq!(got, want);
    }
}
