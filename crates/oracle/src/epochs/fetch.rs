//! Fetching another oracle's manifest and log files, and checking them against the chain.
//!
//! Everything fetched is bounded before it is read (a manifest by [`MAX_MANIFEST_BYTES`], a file
//! by the size its manifest states and [`MAX_FILE_BYTES`], a whole epoch by
//! [`MAX_EPOCH_LOG_BYTES`]) and checked by hash before it is kept: a lying or broken oracle
//! cannot make this one keep bytes that are not what it committed to.
//!
//! What is kept is kept until retention ([`Fetcher::forget_before`]) and checked again whenever
//! it is used: a manifest fetched to
//! attest it is the one the rewards stage reads later, even if its oracle stopped serving it
//! meanwhile (a manifest counts only once 2/3 of oracle stake fetched it, so 2/3 of the stake
//! can compute the epoch whatever its oracle does next); a kept file whose bytes are no longer
//! the manifest's (a crash, a damaged disk, a name reused with other bytes) is fetched again.

use crate::log::format::{is_file_name, MAX_FILE_BYTES};
use crate::manifest::{file_hash, Manifest, MAX_MANIFEST_BYTES};
use cairn_types::{Address, Epoch, Hash};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most bytes of log files one oracle's manifest may name for one epoch.
pub const MAX_EPOCH_LOG_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Why a manifest or file could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The oracle did not answer, or answered with an error.
    #[error("{url}: {reason}")]
    Unreachable {
        /// What was asked.
        url: String,
        /// Why.
        reason: String,
    },
    /// The bytes are not what the chain or the manifest says.
    #[error("{what} from {oracle} does not match: {reason}")]
    Mismatch {
        /// What was fetched.
        what: String,
        /// The oracle.
        oracle: Address,
        /// How it differs.
        reason: String,
    },
    /// The local copy could not be written.
    #[error("keeping {path}: {error}")]
    Disk {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
}

/// A client for other oracles' logs, keeping what it fetched under `dir`.
#[derive(Clone)]
pub struct Fetcher {
    agent: ureq::Agent,
    dir: PathBuf,
}

impl Fetcher {
    /// A fetcher keeping files under `dir` (`<dir>/<oracle>/<name>`); temporary files a crash
    /// left there are deleted.
    pub fn new(dir: &Path) -> Fetcher {
        let agent = ureq::Agent::config_builder()
            // A peer that accepts and then says nothing is given up on within seconds (and
            // asked again later); a whole large file may take minutes.
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_recv_response(Some(Duration::from_secs(10)))
            .timeout_per_read(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(300)))
            // An endpoint is where its oracle committed to serve: no redirect elsewhere.
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .new_agent();
        remove_partial(dir);
        Fetcher {
            agent,
            dir: dir.to_path_buf(),
        }
    }

    /// Where a fetched file of `oracle` is kept.
    pub fn path(&self, oracle: &Address, name: &str) -> PathBuf {
        self.dir.join(hex::encode(oracle.0 .0)).join(name)
    }

    /// The bytes at `url`, at most `limit` of them.
    pub fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
        let unreachable = |reason: String| FetchError::Unreachable {
            url: url.to_string(),
            reason,
        };
        let mut response = self
            .agent
            .get(url)
            .call()
            .map_err(|e| unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unreachable(response.status().to_string()));
        }
        response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| unreachable(e.to_string()))
    }

    /// Where a fetched manifest of `oracle` is kept.
    fn manifest_path(&self, oracle: &Address, epoch: Epoch, committed: &Hash) -> PathBuf {
        self.dir
            .join(hex::encode(oracle.0 .0))
            .join("manifests")
            .join(format!("{}-{committed}", epoch.0))
    }

    /// `oracle`'s manifest of `epoch`, checked against the `committed` hash: the copy kept when
    /// it was first fetched, else from `endpoint` (and kept).
    pub fn manifest(
        &self,
        endpoint: &str,
        oracle: &Address,
        epoch: Epoch,
        committed: &Hash,
    ) -> Result<Manifest, FetchError> {
        self.manifest_from(&sources(endpoint, oracle, &[]), oracle, epoch, committed)
    }

    /// [`Fetcher::manifest`] from the first of `bases` ([`sources`]) that serves it whole.
    pub fn manifest_from(
        &self,
        bases: &[String],
        oracle: &Address,
        epoch: Epoch,
        committed: &Hash,
    ) -> Result<Manifest, FetchError> {
        let path = self.manifest_path(oracle, epoch, committed);
        if let Ok(bytes) = std::fs::read(&path) {
            if let Ok(manifest) = self.check_manifest(&bytes, oracle, epoch, committed) {
                return Ok(manifest);
            }
        }
        let mut failure = no_source();
        for base in bases {
            let url = format!("{base}/manifests/{}", epoch.0);
            let checked = self.get(&url, MAX_MANIFEST_BYTES as u64).and_then(|bytes| {
                Ok((
                    self.check_manifest(&bytes, oracle, epoch, committed)?,
                    bytes,
                ))
            });
            match checked {
                Ok((manifest, bytes)) => {
                    keep(&path, &bytes)?;
                    return Ok(manifest);
                }
                Err(error) => failure = error,
            }
        }
        Err(failure)
    }

    /// The kept copy of `oracle`'s manifest of `epoch` (the one its committed hash names), to
    /// serve to other oracles.
    pub fn kept_manifest(&self, oracle: &Address, epoch: Epoch) -> Option<Vec<u8>> {
        let dir = self.dir.join(hex::encode(oracle.0 .0)).join("manifests");
        let prefix = format!("{}-", epoch.0);
        let entry = std::fs::read_dir(dir).ok()?.flatten().find(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(&prefix) && !name.contains(".part-")
        })?;
        std::fs::read(entry.path()).ok()
    }

    /// The kept copy of one of `oracle`'s log files, to serve to other oracles.
    pub fn kept_file(&self, oracle: &Address, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.kept_file_path(oracle, name)?).ok()
    }

    /// Where the kept copy of `oracle`'s log file `name` would be (`None` for a name that is
    /// no log file's: never an arbitrary path).
    pub fn kept_file_path(&self, oracle: &Address, name: &str) -> Option<PathBuf> {
        is_file_name(name).then(|| self.path(oracle, name))
    }

    /// Decodes and checks a manifest's bytes against the chain.
    fn check_manifest(
        &self,
        bytes: &[u8],
        oracle: &Address,
        epoch: Epoch,
        committed: &Hash,
    ) -> Result<Manifest, FetchError> {
        let mismatch = |reason: String| FetchError::Mismatch {
            what: format!("manifest of epoch {epoch}"),
            oracle: *oracle,
            reason,
        };
        let manifest = Manifest::decode(bytes).map_err(|e| mismatch(e.to_string()))?;
        if manifest.hash() != *committed {
            return Err(mismatch(
                "its hash is not the one committed on chain".into(),
            ));
        }
        if manifest.oracle != *oracle || manifest.epoch != epoch {
            return Err(mismatch("it names another oracle or epoch".into()));
        }
        let total: u64 = manifest.files.iter().map(|f| f.bytes).sum();
        if total > MAX_EPOCH_LOG_BYTES {
            return Err(mismatch(format!("it names {total} bytes of files")));
        }
        if manifest
            .files
            .iter()
            .any(|f| !is_file_name(f.name.as_str()))
        {
            return Err(mismatch("it names a file that is not a log file".into()));
        }
        // Kept copies are kept by name: one name with two hashes would have each fetch
        // overwrite the other's copy, and every computation of the epoch fail.
        let mut names = std::collections::HashSet::new();
        if !manifest.files.iter().all(|f| names.insert(f.name.as_str())) {
            return Err(mismatch("it names a file twice".into()));
        }
        Ok(manifest)
    }

    /// Fetches (unless a kept copy still has the manifest's bytes) every file of `manifest`
    /// from `endpoint`, checking each.
    pub fn files(&self, endpoint: &str, manifest: &Manifest) -> Result<(), FetchError> {
        self.files_from(&sources(endpoint, &manifest.oracle, &[]), manifest)
    }

    /// [`Fetcher::files`], each file from the first of `bases` ([`sources`]) that serves it
    /// whole.
    pub fn files_from(&self, bases: &[String], manifest: &Manifest) -> Result<(), FetchError> {
        for file in manifest.files.iter() {
            let path = self.path(&manifest.oracle, file.name.as_str());
            let kept = std::fs::read(&path)
                .is_ok_and(|b| b.len() as u64 == file.bytes && file_hash(&b) == file.hash);
            if kept {
                continue;
            }
            let mut failure = no_source();
            let mut fetched = false;
            for base in bases {
                let url = format!("{base}/logs/{}", file.name);
                match self.get(&url, file.bytes.min(MAX_FILE_BYTES)) {
                    Ok(bytes)
                        if bytes.len() as u64 == file.bytes && file_hash(&bytes) == file.hash =>
                    {
                        keep(&path, &bytes)?;
                        fetched = true;
                        break;
                    }
                    Ok(_) => {
                        failure = FetchError::Mismatch {
                            what: format!("log file {}", file.name),
                            oracle: manifest.oracle,
                            reason: format!("its size or hash from {base} is not the manifest's"),
                        }
                    }
                    Err(error) => failure = error,
                }
            }
            if !fetched {
                return Err(failure);
            }
        }
        Ok(())
    }

    /// Deletes the kept manifests of epochs before `cut`, and the kept files that no manifest
    /// of `cut` or later names (retention). A file deleted under a fetch running meanwhile is
    /// fetched again when it is next used.
    pub fn forget_before(&self, cut: Epoch) -> Result<(), std::io::Error> {
        let Ok(oracles) = std::fs::read_dir(&self.dir) else {
            return Ok(());
        };
        for oracle in oracles {
            let dir = oracle?.path();
            let mut named = std::collections::HashSet::new();
            if let Ok(manifests) = std::fs::read_dir(dir.join("manifests")) {
                for entry in manifests {
                    let path = entry?.path();
                    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    let epoch = name.split('-').next().and_then(|e| e.parse::<u64>().ok());
                    match epoch {
                        Some(e) if e >= cut.0 => {
                            let kept = std::fs::read(&path).ok();
                            if let Some(m) = kept.and_then(|b| Manifest::decode(&b).ok()) {
                                named.extend(m.files.iter().map(|f| f.name.as_str().to_string()));
                            }
                        }
                        _ => std::fs::remove_file(&path)?,
                    }
                }
            }
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if is_file_name(name) && !named.contains(name) {
                    std::fs::remove_file(&path)?;
                }
            }
        }
        Ok(())
    }
}

/// The URL prefixes `oracle`'s manifest and files are asked for at, in order: its own API
/// (`endpoint`), then the copies the oracles at `mirrors` keep of them (`/v1/peers/{oracle}`).
/// An oracle that serves its log to some oracles only cannot keep the others from it; whatever
/// the source, what comes back is checked against the chain and the manifest.
pub fn sources(endpoint: &str, oracle: &Address, mirrors: &[String]) -> Vec<String> {
    let mut bases = vec![format!("{}/v1", endpoint.trim_end_matches('/'))];
    let hex = hex::encode(oracle.0 .0);
    for mirror in mirrors {
        bases.push(format!("{}/v1/peers/{hex}", mirror.trim_end_matches('/')));
    }
    bases
}

/// The error when no source was tried.
fn no_source() -> FetchError {
    FetchError::Unreachable {
        url: String::new(),
        reason: "no source to fetch from".into(),
    }
}

/// Deletes the temporary files under `dir` that writes cut short by a crash left (run at start,
/// before any fetch).
fn remove_partial(dir: &Path) {
    let Ok(oracles) = std::fs::read_dir(dir) else {
        return;
    };
    for oracle in oracles.flatten() {
        let oracle = oracle.path();
        for folder in [oracle.clone(), oracle.join("manifests")] {
            for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
                if entry.file_name().to_string_lossy().contains(".part-") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

/// Writes `bytes` to `path` whole and durably (a temporary file, synced, renamed into place).
fn keep(path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    use std::io::Write as _;
    let disk = |error| FetchError::Disk {
        path: path.display().to_string(),
        error,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(disk)?;
    }
    // A name of its own: two fetches of the same file (an attest fetch still running when the
    // rewards stage reads) never write into one temporary file.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("part-{}-{n}", std::process::id()));
    let mut file = std::fs::File::create(&tmp).map_err(disk)?;
    file.write_all(bytes).map_err(disk)?;
    file.sync_all().map_err(disk)?;
    std::fs::rename(&tmp, path).map_err(disk)
}

#[cfg(test)]
pub(crate) mod tests;
