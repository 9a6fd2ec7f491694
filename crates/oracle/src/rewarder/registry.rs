//! Device records at an epoch's last block, read from a node in bulk for the tally.
//!
//! The rewarder tells the registry each chunk's devices before it tallies them
//! ([`Registry::prefetch`]), and the registry reads those it does not know yet in proven
//! batches ([`StateReads`]). A read that fails must not count as "not registered": the
//! registry remembers the failure, reads nothing more, and the rewarder throws the computation
//! away and tries again later, from what was kept.
//!
//! A device whose maker governance revoked before the epoch (`MakerRecord::revoked_from` at or
//! below it) is read as `maker_revoked`: the tally pays it nothing (`maker_revoked`). The
//! makers of each batch are read in one more proven batch, each once.

use crate::chain::follower::info_of;
use crate::chain::reads::StateReads;
use cairn_ledger::state::records::{DeviceRecord, MakerRecord};
use cairn_ledger::StateKey;
use cairn_resources::context::{DeviceInfo, Registry};
use cairn_types::{DeviceId, PublicKey};
use std::collections::HashMap;
use std::sync::Mutex;

/// The registry after block `reads.height()`, as a node serves it, for reward epoch `epoch`.
pub struct RegistryAt<'a> {
    reads: &'a StateReads<'a>,
    epoch: u64,
    cache: Mutex<HashMap<DeviceId, Option<DeviceInfo>>>,
    /// Whether each maker read is revoked for the epoch.
    makers: Mutex<HashMap<PublicKey, bool>>,
    failed: Mutex<Option<String>>,
}

impl<'a> RegistryAt<'a> {
    /// Reads through `reads`, for the tally of reward epoch `epoch`.
    pub fn new(reads: &'a StateReads<'a>, epoch: u64) -> RegistryAt<'a> {
        RegistryAt {
            reads,
            epoch,
            cache: Mutex::new(HashMap::new()),
            makers: Mutex::new(HashMap::new()),
            failed: Mutex::new(None),
        }
    }

    /// Whether each of `makers` is revoked for the epoch, read once each. `None` when the read
    /// failed (remembered in `failed`).
    fn revoked(&self, makers: &[PublicKey]) -> Option<HashMap<PublicKey, bool>> {
        let mut unknown: Vec<PublicKey> = {
            let known = lock(&self.makers);
            makers
                .iter()
                .filter(|m| !known.contains_key(*m))
                .copied()
                .collect()
        };
        unknown.sort_unstable_by_key(|m| m.0);
        unknown.dedup();
        if !unknown.is_empty() {
            let keys: Vec<StateKey> = unknown.iter().map(|m| StateKey::Maker(*m)).collect();
            match self.reads.read::<MakerRecord>(&keys) {
                Ok(records) => {
                    let mut known = lock(&self.makers);
                    for (maker, record) in unknown.into_iter().zip(records) {
                        let revoked = record
                            .and_then(|r| r.revoked_from)
                            .is_some_and(|from| from <= self.epoch);
                        known.insert(maker, revoked);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "oracle.rewarder: maker records could not be read");
                    *lock(&self.failed) = Some(error.to_string());
                    return None;
                }
            }
        }
        Some(lock(&self.makers).clone())
    }

    /// Why a read failed, if one did: then the answers are not to be trusted.
    pub fn failed(&self) -> Option<String> {
        lock(&self.failed).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Registry for RegistryAt<'_> {
    fn device(&self, device: &DeviceId) -> Option<DeviceInfo> {
        if let Some(known) = lock(&self.cache).get(device) {
            return *known;
        }
        self.prefetch(std::slice::from_ref(device));
        lock(&self.cache).get(device).copied().flatten()
    }

    fn prefetch(&self, devices: &[DeviceId]) {
        if lock(&self.failed).is_some() {
            return; // the computation is thrown away anyway: ask the node nothing more
        }
        let missing: Vec<DeviceId> = {
            let cache = lock(&self.cache);
            let mut missing: Vec<DeviceId> = devices
                .iter()
                .filter(|d| !cache.contains_key(*d))
                .copied()
                .collect();
            missing.sort_unstable_by_key(|d| d.0 .0);
            missing.dedup();
            missing
        };
        if missing.is_empty() {
            return;
        }
        let keys: Vec<StateKey> = missing.iter().map(|d| StateKey::Device(*d)).collect();
        match self.reads.read::<DeviceRecord>(&keys) {
            Ok(records) => {
                let makers: Vec<PublicKey> =
                    records.iter().flatten().filter_map(|r| r.maker).collect();
                let Some(revoked) = self.revoked(&makers) else {
                    return;
                };
                let mut cache = lock(&self.cache);
                for (device, record) in missing.into_iter().zip(records) {
                    let info = record.map(|record| {
                        let maker_revoked = record
                            .maker
                            .is_some_and(|m| revoked.get(&m).copied().unwrap_or(false));
                        DeviceInfo {
                            maker_revoked,
                            ..info_of(record)
                        }
                    });
                    cache.insert(device, info);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "oracle.rewarder: device records could not be read");
                *lock(&self.failed) = Some(error.to_string());
            }
        }
    }
}
