//! Device records at an epoch's last block, read from a node in bulk for the tally.
//!
//! The rewarder tells the registry each chunk's devices before it tallies them
//! ([`Registry::prefetch`]), and the registry reads those it does not know yet in proven
//! batches ([`StateReads`]). A read that fails must not count as "not registered": the
//! registry remembers the failure, reads nothing more, and the rewarder throws the computation
//! away and tries again later, from what was kept.

use crate::chain::follower::info_of;
use crate::chain::reads::StateReads;
use cairn_ledger::state::records::DeviceRecord;
use cairn_ledger::StateKey;
use cairn_resources::context::{DeviceInfo, Registry};
use cairn_types::DeviceId;
use std::collections::HashMap;
use std::sync::Mutex;

/// The registry after block `reads.height()`, as a node serves it.
pub struct RegistryAt<'a> {
    reads: &'a StateReads<'a>,
    cache: Mutex<HashMap<DeviceId, Option<DeviceInfo>>>,
    failed: Mutex<Option<String>>,
}

impl<'a> RegistryAt<'a> {
    /// Reads through `reads`.
    pub fn new(reads: &'a StateReads<'a>) -> RegistryAt<'a> {
        RegistryAt {
            reads,
            cache: Mutex::new(HashMap::new()),
            failed: Mutex::new(None),
        }
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
                let mut cache = lock(&self.cache);
                for (device, record) in missing.into_iter().zip(records) {
                    cache.insert(device, record.map(info_of));
                }
            }
            Err(error) => {
                tracing::warn!(%error, "oracle.rewarder: device records could not be read");
                *lock(&self.failed) = Some(error.to_string());
            }
        }
    }
}
