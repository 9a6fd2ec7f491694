//! What another oracle's log may hold before this one attests it: bounds read from the files
//! themselves, so that a minimum-stake oracle cannot make every honest oracle and auditor
//! decode a gzip bomb or look up millions of made-up devices.
//!
//! A fetched manifest's files (each already checked against its hash) are read once, streaming
//! (memory: one frame and the set of unregistered devices, itself bounded), and the reading
//! stops at the first bound crossed, so the work is at most the bounds:
//!
//! | bound (governance parameter) | per | what it stops |
//! |---|---|---|
//! | `log_file_bytes_max` | file | a file that decompresses to more than an honest roll writes |
//! | `log_file_frames_max` | file | a file of many tiny frames |
//! | `log_file_ratio_max` | file | a gzip bomb (one frame repeated: about 1000:1) |
//! | `manifest_log_bytes_max` | manifest | an epoch's log too large to replay |
//! | `manifest_frames_max` | manifest | an epoch's log with too many reports to replay |
//! | `manifest_unregistered_devices_max` | manifest | made-up device ids, each a registry lookup |
//!
//! A manifest over a bound, or with a file that is not a well-formed log of its oracle, is
//! not attested; the reason is shown by the status ([`super::progress::Progress::not_attested`]).
//! The verdict is the file's, and final: the files of a committed manifest never change.
//! Devices are looked up in this oracle's device book (the chain as it follows it), which an
//! honest peer's reports all passed at ingest; a device registered too recently for the book
//! is counted as unregistered, which the bound's room absorbs.

use crate::epochs::fetch::Fetcher;
use crate::log::format::{FileReader, HEADER_BYTES};
use crate::manifest::Manifest;
use cairn_resources::context::Registry;
use cairn_types::params::Params;
use cairn_types::DeviceId;
use std::collections::HashSet;

/// The bounds a peer's manifest is checked against, read from the parameters in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogBounds {
    /// Most bytes one file decompresses to.
    pub file_bytes: u64,
    /// Most reports in one file.
    pub file_frames: u64,
    /// Most decompressed bytes per compressed byte of one file.
    pub file_ratio: u64,
    /// Most bytes all of a manifest's files decompress to.
    pub manifest_bytes: u64,
    /// Most reports in all of a manifest's files.
    pub manifest_frames: u64,
    /// Most distinct devices a manifest's reports name that are not registered.
    pub unregistered_devices: u64,
}

impl LogBounds {
    /// The bounds the parameters set.
    pub fn from_params(params: &Params) -> LogBounds {
        LogBounds {
            file_bytes: params.log_file_bytes_max,
            file_frames: params.log_file_frames_max,
            file_ratio: params.log_file_ratio_max,
            manifest_bytes: params.manifest_log_bytes_max,
            manifest_frames: params.manifest_frames_max,
            unregistered_devices: params.manifest_unregistered_devices_max,
        }
    }
}

/// Why a whole manifest is not attested.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotAttested {
    /// A file decompresses to more than `log_file_bytes_max`.
    #[error("log file {file} decompresses to more than log_file_bytes_max ({max} bytes)")]
    FileBytes {
        /// The file.
        file: String,
        /// The bound.
        max: u64,
    },
    /// A file holds more than `log_file_frames_max` reports.
    #[error("log file {file} holds more than log_file_frames_max ({max}) reports")]
    FileFrames {
        /// The file.
        file: String,
        /// The bound.
        max: u64,
    },
    /// A file decompresses to more than `log_file_ratio_max` times its size.
    #[error(
        "log file {file} ({compressed} bytes) decompresses to more than log_file_ratio_max \
         ({max}) times its size"
    )]
    FileRatio {
        /// The file.
        file: String,
        /// Its compressed size.
        compressed: u64,
        /// The bound.
        max: u64,
    },
    /// The files decompress to more than `manifest_log_bytes_max` in all.
    #[error("the manifest's files decompress to more than manifest_log_bytes_max ({max} bytes)")]
    ManifestBytes {
        /// The bound.
        max: u64,
    },
    /// The files hold more than `manifest_frames_max` reports in all.
    #[error("the manifest's files hold more than manifest_frames_max ({max}) reports")]
    ManifestFrames {
        /// The bound.
        max: u64,
    },
    /// The reports name more than `manifest_unregistered_devices_max` unregistered devices.
    #[error(
        "the manifest's reports name more than manifest_unregistered_devices_max ({max}) \
         devices that are not registered"
    )]
    UnregisteredDevices {
        /// The bound.
        max: u64,
    },
    /// A file is not a well-formed log of the manifest's oracle.
    #[error("log file {file} is not a well-formed log of its oracle: {reason}")]
    Malformed {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

/// Why the check could not be made (the kept copy could not be read: fetched again later).
#[derive(Debug, thiserror::Error)]
#[error("reading the kept copy of {file}: {error}")]
pub struct CheckError {
    /// The file.
    pub file: String,
    /// Why.
    pub error: std::io::Error,
}

/// What a manifest's files hold, counted while checking them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogTotals {
    /// Bytes decompressed.
    pub bytes: u64,
    /// Reports.
    pub frames: u64,
    /// Distinct devices not registered.
    pub unregistered: u64,
}

/// Checks the kept copies of `manifest`'s files against `bounds`, devices looked up in
/// `registry`: the totals when all is within them, the first bound crossed otherwise. The
/// bytes judged are the manifest's: each file is hashed as it is read (and read to its end,
/// or hashed again whole when a bound stopped the reading), and a copy whose hash is not the
/// manifest's (overwritten meanwhile) is an error, to be fetched again, never a verdict.
pub fn check_manifest<R: Registry + ?Sized>(
    fetcher: &Fetcher,
    manifest: &Manifest,
    bounds: &LogBounds,
    registry: &R,
) -> Result<Result<LogTotals, NotAttested>, CheckError> {
    let mut totals = LogTotals::default();
    let mut unregistered: HashSet<DeviceId> = HashSet::new();
    for file in manifest.files.iter() {
        let name = file.name.as_str().to_string();
        let path = fetcher.path(&manifest.oracle, &name);
        let disk = |error| CheckError {
            file: name.clone(),
            error,
        };
        let source = std::fs::File::open(&path).map_err(disk)?;
        let mut hashing = Hashing(std::io::BufReader::new(source), blake3::Hasher::new());
        let verdict = check_file(
            &mut hashing,
            (&name, file.bytes),
            manifest,
            bounds,
            registry,
            (&mut totals, &mut unregistered),
        );
        let hash = match &verdict {
            // Read to its end: what is left after the gzip stream is hashed too.
            Ok(()) => {
                std::io::copy(&mut hashing, &mut std::io::sink()).map_err(disk)?;
                hashing.1.finalize()
            }
            Err(_) => {
                let mut whole = blake3::Hasher::new();
                whole
                    .update_reader(std::fs::File::open(&path).map_err(disk)?)
                    .map_err(disk)?;
                whole.finalize()
            }
        };
        if hash.as_bytes() != &file.hash.0 {
            return Err(disk(std::io::Error::other(
                "the kept copy is no longer the manifest's file",
            )));
        }
        if let Err(over) = verdict {
            return Ok(Err(over));
        }
    }
    Ok(Ok(totals))
}

/// A reader that hashes what is read through it.
struct Hashing<R>(R, blake3::Hasher);

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads one file (`name`, `compressed` bytes long) from `source`, adding to `totals` and the
/// `unregistered` devices; stops at the first bound crossed.
fn check_file<S: std::io::Read, R: Registry + ?Sized>(
    source: S,
    (name, compressed): (&str, u64),
    manifest: &Manifest,
    bounds: &LogBounds,
    registry: &R,
    (totals, unregistered): (&mut LogTotals, &mut HashSet<DeviceId>),
) -> Result<(), NotAttested> {
    let malformed = |reason: String| NotAttested::Malformed {
        file: name.to_string(),
        reason,
    };
    let mut reader = FileReader::open(source).map_err(|e| malformed(e.to_string()))?;
    if reader.oracle != manifest.oracle {
        return Err(malformed("its header names another oracle".into()));
    }
    let ratio_max = compressed.saturating_mul(bounds.file_ratio);
    let (mut frames, mut counted) = (0u64, HEADER_BYTES as u64);
    let mut add_bytes = |totals: &mut LogTotals, bytes: u64| -> Result<(), NotAttested> {
        totals.bytes = totals.bytes.saturating_add(bytes - counted);
        counted = bytes;
        if bytes > bounds.file_bytes {
            return Err(NotAttested::FileBytes {
                file: name.to_string(),
                max: bounds.file_bytes,
            });
        }
        if bytes > ratio_max {
            return Err(NotAttested::FileRatio {
                file: name.to_string(),
                compressed,
                max: bounds.file_ratio,
            });
        }
        if totals.bytes > bounds.manifest_bytes {
            return Err(NotAttested::ManifestBytes {
                max: bounds.manifest_bytes,
            });
        }
        Ok(())
    };
    totals.bytes = totals.bytes.saturating_add(HEADER_BYTES as u64);
    loop {
        let next = reader.next_report();
        // What was decompressed counts before the frame is judged: a bomb stops here.
        add_bytes(totals, reader.decompressed_bytes())?;
        let Some(report) = next.map_err(|e| malformed(e.to_string()))? else {
            return Ok(());
        };
        frames += 1;
        totals.frames += 1;
        if frames > bounds.file_frames {
            return Err(NotAttested::FileFrames {
                file: name.to_string(),
                max: bounds.file_frames,
            });
        }
        if totals.frames > bounds.manifest_frames {
            return Err(NotAttested::ManifestFrames {
                max: bounds.manifest_frames,
            });
        }
        let device = report.report.device();
        if registry.device(&device).is_none() && unregistered.insert(device) {
            totals.unregistered += 1;
            if totals.unregistered > bounds.unregistered_devices {
                return Err(NotAttested::UnregisteredDevices {
                    max: bounds.unregistered_devices,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
