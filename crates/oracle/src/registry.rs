//! The oracle's view of the device registry, kept up to date from the chain.
//!
//! Ingest looks a device up here before any signature work, so a flood of reports from keys
//! that are not registered costs a hash-map lookup each.

use cairn_resources::context::{DeviceInfo, Registry};
use cairn_types::DeviceId;
use std::collections::HashMap;
use std::sync::RwLock;

/// Registered devices by id.
#[derive(Default)]
pub struct DeviceBook {
    devices: RwLock<HashMap<DeviceId, DeviceInfo>>,
}

impl DeviceBook {
    /// An empty book.
    pub fn new() -> DeviceBook {
        DeviceBook::default()
    }

    /// Records a device's state (`None`: it is not registered).
    pub fn put(&self, device: DeviceId, info: Option<DeviceInfo>) {
        let mut devices = self
            .devices
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match info {
            Some(info) => devices.insert(device, info),
            None => devices.remove(&device),
        };
    }

    /// Devices known.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when no device is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the whole registry (the rewarder's view at an epoch's end).
    pub fn snapshot(&self) -> HashMap<DeviceId, DeviceInfo> {
        self.read().clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<DeviceId, DeviceInfo>> {
        self.devices
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Registry for DeviceBook {
    fn device(&self, device: &DeviceId) -> Option<DeviceInfo> {
        self.read().get(device).copied()
    }
}
