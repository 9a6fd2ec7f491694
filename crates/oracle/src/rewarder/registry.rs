//! Device records at an epoch's last block, read from a node (each device once), for the tally.
//!
//! A lookup that fails (the node is down) must not count as "not registered": the registry
//! remembers the failure, and the rewarder throws the computation away and tries again later.

use crate::chain::client::NodeClient;
use crate::chain::follower::info_of;
use cairn_ledger::state::records::DeviceRecord;
use cairn_ledger::StateKey;
use cairn_resources::context::{DeviceInfo, Registry};
use cairn_types::DeviceId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The registry after block `height`, as a node serves it.
pub struct RegistryAt {
    client: NodeClient,
    height: u64,
    cache: Mutex<HashMap<DeviceId, Option<DeviceInfo>>>,
    failed: AtomicBool,
}

impl RegistryAt {
    /// Reads through `client` at `height`.
    pub fn new(client: NodeClient, height: u64) -> RegistryAt {
        RegistryAt {
            client,
            height,
            cache: Mutex::new(HashMap::new()),
            failed: AtomicBool::new(false),
        }
    }

    /// True when some lookup failed: the answers are not to be trusted.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

impl Registry for RegistryAt {
    fn device(&self, device: &DeviceId) -> Option<DeviceInfo> {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = cache.get(device) {
            return *known;
        }
        match self
            .client
            .state::<DeviceRecord>(&StateKey::Device(*device), Some(self.height))
        {
            Ok(record) => {
                let info = record.map(info_of);
                cache.insert(*device, info);
                info
            }
            Err(error) => {
                tracing::warn!(%error, "oracle.rewarder: a device lookup failed");
                self.failed.store(true, Ordering::Relaxed);
                None
            }
        }
    }
}
