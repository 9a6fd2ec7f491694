//! A storage backend that fails on command, for fault-injection tests.
//!
//! [`FaultyFile`] wraps redb's own file backend and, while a fault is armed through its shared
//! [`Faults`] handle, makes reads, writes or syncs fail as a dying disk would, refuses to grow
//! the file past a size (a full disk), or flips a byte wherever a chosen byte string appears in
//! what it reads (bit rot inside one record, leaving redb's own structures intact). The ledger
//! opened on it ([`crate::Ledger::init_with_faults`], [`crate::Ledger::open_with_faults`]) runs
//! the real code paths; only the disk lies.
//!
//! The database is opened without a page cache, so every read reaches the backend.

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};
use std::io;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The faults a [`FaultyFile`] injects, shared between the backend and the test that arms them.
/// Every fault is off until armed.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    state: Arc<FaultState>,
}

#[derive(Debug, Default)]
struct FaultState {
    fail_reads: AtomicBool,
    fail_writes: AtomicBool,
    fail_syncs: AtomicBool,
    /// Largest file size in bytes the disk allows; 0 means no limit.
    disk_bytes_max: AtomicU64,
    /// Bytes that, wherever they appear in a read, come back with one byte flipped.
    rot: Mutex<Option<Vec<u8>>>,
    /// Faults injected so far.
    injected: AtomicU64,
}

impl Faults {
    /// No fault armed.
    pub fn new() -> Faults {
        Faults::default()
    }

    /// Makes every read fail (`true`) or succeed again.
    pub fn fail_reads(&self, on: bool) {
        self.state.fail_reads.store(on, Ordering::SeqCst);
    }

    /// Makes every write fail (`true`) or succeed again.
    pub fn fail_writes(&self, on: bool) {
        self.state.fail_writes.store(on, Ordering::SeqCst);
    }

    /// Makes every fsync fail (`true`) or succeed again.
    pub fn fail_syncs(&self, on: bool) {
        self.state.fail_syncs.store(on, Ordering::SeqCst);
    }

    /// Fills the disk: the file cannot grow past its current size plus `spare_bytes`.
    pub fn fill_disk(&self, current_bytes: u64, spare_bytes: u64) {
        let max = current_bytes.saturating_add(spare_bytes).max(1);
        self.state.disk_bytes_max.store(max, Ordering::SeqCst);
    }

    /// Rots every stored copy of `bytes`: reads return them with one byte flipped.
    pub fn rot(&self, bytes: Vec<u8>) {
        if let Ok(mut rot) = self.state.rot.lock() {
            *rot = (!bytes.is_empty()).then_some(bytes);
        }
    }

    /// Disarms every fault (the disk is healthy again).
    pub fn heal(&self) {
        self.fail_reads(false);
        self.fail_writes(false);
        self.fail_syncs(false);
        self.state.disk_bytes_max.store(0, Ordering::SeqCst);
        self.rot(Vec::new());
    }

    /// How many operations failed or returned rotten bytes so far.
    pub fn injected(&self) -> u64 {
        self.state.injected.load(Ordering::SeqCst)
    }

    fn inject(&self, what: &str) -> io::Error {
        self.state.injected.fetch_add(1, Ordering::SeqCst);
        io::Error::other(format!("injected fault: {what}"))
    }

    fn disk_full(&self) -> io::Error {
        self.state.injected.fetch_add(1, Ordering::SeqCst);
        io::Error::from(io::ErrorKind::StorageFull)
    }

    fn fits(&self, end_bytes: u64) -> bool {
        let max = self.state.disk_bytes_max.load(Ordering::SeqCst);
        max == 0 || end_bytes <= max
    }

    /// Flips the first byte of every occurrence of the rotting pattern in `out`.
    fn rot_in(&self, out: &mut [u8]) {
        let Ok(rot) = self.state.rot.lock() else {
            return;
        };
        let Some(pattern) = rot.as_deref() else {
            return;
        };
        let mut start = 0;
        while let Some(offset) = out
            .get(start..)
            .and_then(|rest| rest.windows(pattern.len()).position(|w| w == pattern))
        {
            out[start + offset] ^= 0x01;
            self.state.injected.fetch_add(1, Ordering::SeqCst);
            start += offset + pattern.len();
        }
    }
}

/// redb's file backend with [`Faults`] in front of it.
#[derive(Debug)]
pub struct FaultyFile {
    inner: FileBackend,
    faults: Faults,
}

impl FaultyFile {
    /// Opens (or creates) `path` behind `faults`.
    pub fn open(path: &std::path::Path, faults: Faults) -> io::Result<FaultyFile> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let inner = FileBackend::new(file).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(FaultyFile { inner, faults })
    }
}

impl StorageBackend for FaultyFile {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        if self.faults.state.fail_reads.load(Ordering::SeqCst) {
            return Err(self.faults.inject("read"));
        }
        self.inner.read(offset, out)?;
        self.faults.rot_in(out);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        if !self.faults.fits(len) {
            return Err(self.faults.disk_full());
        }
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        if self.faults.state.fail_syncs.load(Ordering::SeqCst) {
            return Err(self.faults.inject("fsync"));
        }
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        if self.faults.state.fail_writes.load(Ordering::SeqCst) {
            return Err(self.faults.inject("write"));
        }
        let end = offset.saturating_add(data.len() as u64);
        if !self.faults.fits(end) {
            return Err(self.faults.disk_full());
        }
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }

    // The file locks that keep a second process out, as the plain backend takes them.
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }
}
