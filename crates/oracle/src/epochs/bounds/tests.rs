//! Each bound stops what it is for, reading no further than it allows, and honest logs pass
//! with room to spare.

use super::*;
use crate::log::format::{encode_file, write_frame};
use crate::manifest::ManifestFile;
use cairn_resources::context::DeviceInfo;
use cairn_types::codec::{self, BoundedString, BoundedVec};
use cairn_types::params::ChainId;
use cairn_types::report::{LoggedReport, ReportBody, ReportPayload, SessionCert, SignedReport};
use cairn_types::{Address, Epoch, Hash, SecretKey};
use std::collections::HashMap;

fn device_key(n: u64) -> SecretKey {
    let mut seed = [3u8; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    SecretKey::from_seed(seed)
}

/// A heartbeat of device `n` at `time_ms`, signed as an agent signs it.
fn heartbeat(n: u64, time_ms: u64) -> LoggedReport {
    let chain = ChainId::new("bounds").unwrap();
    let device = device_key(n);
    let session = SecretKey::from_seed([n as u8; 32]);
    let cert = SessionCert::issue(&chain, &device, session.public_key(), 1 << 40);
    let body = ReportBody {
        time_ms,
        entropy: Hash([n as u8; 32]),
        payload: ReportPayload::Heartbeat {
            uptime_secs: time_ms / 1_000,
        },
    };
    LoggedReport {
        received_ms: time_ms + 40,
        report: SignedReport::sign(&chain, cert, &session, body),
    }
}

/// A registry of devices `0..devices`.
fn book(devices: u64) -> HashMap<DeviceId, DeviceInfo> {
    (0..devices)
        .map(|n| {
            let info = DeviceInfo {
                owner: oracle(),
                subnetwork: cairn_types::Subnetwork::Storage,
                retired: false,
                maker_revoked: false,
                location: None,
            };
            (heartbeat(n, 0).report.device(), info)
        })
        .collect()
}

fn oracle() -> Address {
    Address(SecretKey::from_seed([9; 32]).public_key())
}

fn generous() -> LogBounds {
    LogBounds::from_params(&Params::default())
}

/// Keeps `files` (each the frames of its reports) where `fetcher` reads them, and the manifest
/// naming them.
fn kept(fetcher: &Fetcher, files: &[Vec<LoggedReport>]) -> Manifest {
    let encoded: Vec<Vec<u8>> = files
        .iter()
        .map(|reports| {
            let mut frames = Vec::new();
            for r in reports {
                write_frame(&mut frames, r);
            }
            encode_file(&oracle(), &frames).unwrap()
        })
        .collect();
    kept_bytes(fetcher, &encoded, files.iter().map(Vec::len).collect())
}

/// Keeps `files` (their bytes, holding `reports` each) where `fetcher` reads them, and the
/// manifest naming them.
fn kept_bytes(fetcher: &Fetcher, files: &[Vec<u8>], reports: Vec<usize>) -> Manifest {
    let mut entries = Vec::new();
    for (seq, (bytes, reports)) in files.iter().zip(reports).enumerate() {
        let name = crate::log::format::file_name(1_000, seq as u64);
        let path = fetcher.path(&oracle(), &name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        entries.push(ManifestFile {
            name: BoundedString::new(name).unwrap(),
            hash: crate::manifest::file_hash(bytes),
            bytes: bytes.len() as u64,
            reports: reports as u64,
        });
    }
    Manifest {
        epoch: Epoch(1),
        oracle: oracle(),
        files: BoundedVec::new(entries).unwrap(),
        denylist: BoundedVec::from_bounded(Vec::new()),
    }
}

/// 50 devices, 20 heartbeats each, in two files.
fn honest() -> Vec<Vec<LoggedReport>> {
    let all: Vec<LoggedReport> = (0..20u64)
        .flat_map(|t| (0..50u64).map(move |n| heartbeat(n, 1_000_000 + t * 60_000 + n)))
        .collect();
    vec![all[..500].to_vec(), all[500..].to_vec()]
}

#[test]
fn an_honest_log_passes_well_within_the_default_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(dir.path());
    let manifest = kept(&fetcher, &honest());
    let totals = check_manifest(&fetcher, &manifest, &generous(), &book(50))
        .unwrap()
        .unwrap();
    assert_eq!((totals.frames, totals.unregistered), (1_000, 0));
    // Signatures do not compress: an honest log decompresses to a few times its size, far
    // under the default ratio bound.
    let compressed: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    let ratio = totals.bytes / compressed;
    assert!(
        ratio * 4 < Params::default().log_file_ratio_max,
        "honest ratio {ratio}"
    );
}

#[test]
fn a_gzip_bomb_is_stopped_by_the_ratio_having_decompressed_little() {
    let dir = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(dir.path());
    // One report repeated 50,000 times: over 200:1 (the ratio a gzip bomb starts at).
    let one = heartbeat(1, 5_000);
    let manifest = kept(&fetcher, &[vec![one; 50_000]]);
    let compressed = manifest.files.as_slice()[0].bytes;
    let bounds = generous();
    let verdict = check_manifest(&fetcher, &manifest, &bounds, &book(50)).unwrap();
    assert!(
        matches!(verdict, Err(NotAttested::FileRatio { .. })),
        "{verdict:?} ({compressed} bytes compressed)"
    );
    assert!(verdict
        .unwrap_err()
        .to_string()
        .contains("log_file_ratio_max"));
    // It stopped there: at most one frame past 32 times the file's size was decompressed, of
    // the more than 200 times the whole file holds.
    let file = &manifest.files.as_slice()[0];
    let bytes = std::fs::read(fetcher.path(&oracle(), file.name.as_str())).unwrap();
    let mut totals = LogTotals::default();
    let verdict = check_file(
        bytes.as_slice(),
        (file.name.as_str(), compressed),
        &manifest,
        &bounds,
        &book(50),
        (&mut totals, &mut HashSet::new()),
    );
    assert!(matches!(verdict, Err(NotAttested::FileRatio { .. })));
    let frame = 4 + codec::encode(&heartbeat(1, 5_000)).len() as u64;
    assert!(
        totals.bytes <= compressed * bounds.file_ratio + frame
            && totals.frames * 5 < 50_000
            && frame * 50_000 > 200 * compressed,
        "{totals:?}, {compressed} bytes compressed"
    );
}

#[test]
fn made_up_devices_past_the_bound_are_not_attested() {
    let dir = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(dir.path());
    // Devices 0..60 report; 0..50 are registered: 10 made up.
    let reports: Vec<LoggedReport> = (0..60).map(|n| heartbeat(n, 2_000 + n)).collect();
    let manifest = kept(&fetcher, &[reports]);
    let bounds = |max| LogBounds {
        unregistered_devices: max,
        ..generous()
    };
    let at = check_manifest(&fetcher, &manifest, &bounds(10), &book(50)).unwrap();
    assert_eq!(at.map(|t| t.unregistered), Ok(10));
    let over = check_manifest(&fetcher, &manifest, &bounds(9), &book(50)).unwrap();
    assert_eq!(over, Err(NotAttested::UnregisteredDevices { max: 9 }));
}

#[test]
fn each_size_bound_holds_per_file_and_per_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(dir.path());
    let files = honest();
    let manifest = kept(&fetcher, &files);
    let totals = check_manifest(&fetcher, &manifest, &generous(), &book(50))
        .unwrap()
        .unwrap();
    let check = |bounds: LogBounds| check_manifest(&fetcher, &manifest, &bounds, &book(50));
    let first = manifest.files.as_slice()[0].name.as_str().to_string();
    // Each file holds 500 reports; the manifest 1,000.
    assert_eq!(
        check(LogBounds {
            file_frames: 499,
            ..generous()
        })
        .unwrap(),
        Err(NotAttested::FileFrames {
            file: first.clone(),
            max: 499
        })
    );
    assert!(check(LogBounds {
        file_frames: 500,
        manifest_frames: 1_000,
        ..generous()
    })
    .unwrap()
    .is_ok());
    assert_eq!(
        check(LogBounds {
            manifest_frames: 999,
            ..generous()
        })
        .unwrap(),
        Err(NotAttested::ManifestFrames { max: 999 })
    );
    // Bytes: each file is about half the total.
    assert_eq!(
        check(LogBounds {
            file_bytes: totals.bytes / 4,
            ..generous()
        })
        .unwrap(),
        Err(NotAttested::FileBytes {
            file: first,
            max: totals.bytes / 4
        })
    );
    assert_eq!(
        check(LogBounds {
            manifest_bytes: totals.bytes - 1,
            ..generous()
        })
        .unwrap(),
        Err(NotAttested::ManifestBytes {
            max: totals.bytes - 1
        })
    );
    assert!(check(LogBounds {
        manifest_bytes: totals.bytes,
        ..generous()
    })
    .unwrap()
    .is_ok());
}

#[test]
fn a_file_cut_short_or_of_another_oracle_is_malformed_and_a_changed_or_missing_copy_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(dir.path());
    // A peer that committed a file cut short.
    let whole = kept(&fetcher, &honest());
    let first = whole.files.as_slice()[0].name.as_str().to_string();
    let bytes = std::fs::read(fetcher.path(&oracle(), &first)).unwrap();
    let cut = bytes[..bytes.len() - 30].to_vec();
    let manifest = kept_bytes(&fetcher, &[cut], vec![500]);
    let verdict = check_manifest(&fetcher, &manifest, &generous(), &book(50)).unwrap();
    assert!(
        matches!(&verdict, Err(NotAttested::Malformed { file, .. }) if *file == first),
        "{verdict:?}"
    );
    // The same whole file under another oracle's manifest.
    let mut manifest = kept_bytes(&fetcher, std::slice::from_ref(&bytes), vec![500]);
    let other = Address(SecretKey::from_seed([8; 32]).public_key());
    let theirs = fetcher.path(&other, &first);
    std::fs::create_dir_all(theirs.parent().unwrap()).unwrap();
    std::fs::write(&theirs, &bytes).unwrap();
    manifest.oracle = other;
    let verdict = check_manifest(&fetcher, &manifest, &generous(), &book(50)).unwrap();
    assert!(
        matches!(&verdict, Err(NotAttested::Malformed { reason, .. }) if reason.contains("another oracle")),
        "{verdict:?}"
    );
    // A kept copy that is no longer the manifest's file (another manifest's file of the same
    // name written over it), or gone, is not a verdict: it is fetched again.
    let mut bomb = Vec::new();
    for _ in 0..50_000 {
        write_frame(&mut bomb, &heartbeat(1, 5_000));
    }
    std::fs::write(&theirs, encode_file(&other, &bomb).unwrap()).unwrap();
    assert!(check_manifest(&fetcher, &manifest, &generous(), &book(50)).is_err());
    std::fs::write(&theirs, b"junk").unwrap();
    assert!(check_manifest(&fetcher, &manifest, &generous(), &book(50)).is_err());
    std::fs::remove_file(&theirs).unwrap();
    assert!(check_manifest(&fetcher, &manifest, &generous(), &book(50)).is_err());
}

/// Serves `manifest` and its files (kept by `from`) at a new loopback peer: its URL.
fn peer(from: &Fetcher, manifest: &Manifest) -> String {
    let mut routes = HashMap::new();
    routes.insert(
        format!("/v1/manifests/{}", manifest.epoch.0),
        manifest.encode(),
    );
    for file in manifest.files.iter() {
        let bytes = std::fs::read(from.path(&manifest.oracle, file.name.as_str())).unwrap();
        routes.insert(format!("/v1/logs/{}", file.name), bytes);
    }
    crate::epochs::fetch::tests::serve(std::sync::Arc::new(std::sync::Mutex::new(routes)))
}

#[test]
fn fetched_from_a_peer_a_bomb_is_judged_not_attested_and_an_honest_log_attested() {
    use crate::epochs::attest::{whole_or_fetch, Checks, Fetches};
    let dir = tempfile::tempdir().unwrap();
    let served = Fetcher::new(&dir.path().join("peer"));
    let fetcher = Fetcher::new(&dir.path().join("here"));
    let registered = crate::registry::DeviceBook::new();
    for (device, info) in book(50) {
        registered.put(device, Some(info));
    }
    let checks = Checks {
        bounds: generous(),
        book: std::sync::Arc::new(registered),
    };
    let fetches = Fetches::default();
    let verdict = |manifest: &Manifest| {
        let url = peer(&served, manifest);
        let key = (manifest.epoch, manifest.oracle, manifest.hash());
        for _ in 0..200 {
            if let Some(v) = whole_or_fetch(&fetches, (&fetcher, &checks), &url, vec![], key) {
                return v;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("never whole");
    };
    let honest = kept(&served, &honest());
    assert_eq!(verdict(&honest), Ok(()));
    let mut bomb = kept(&served, &[vec![heartbeat(1, 5_000); 50_000]]);
    bomb.epoch = Epoch(2);
    assert!(matches!(verdict(&bomb), Err(NotAttested::FileRatio { .. })));
}
