//! Per device: the reports recently taken (to ignore a report sent twice) and its rate bucket.
//!
//! A report is older than the allowed delay soon after it arrives, and then refused as stale
//! anyway, so the ids need only be kept for the delay plus the skew: memory is bounded by the
//! registered devices times their rate, not by the reports of an epoch.

use super::rate::Bucket;
use cairn_types::DeviceId;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Ids remembered per device at most (the oldest are forgotten first).
pub const MAX_RECENT_PER_DEVICE: usize = 4_096;

/// How a device's rate is limited.
#[derive(Clone, Copy, Debug)]
pub struct DeviceRate {
    /// Reports a minute, sustained.
    pub per_minute: u64,
    /// Reports at once (a backlog after an outage).
    pub burst: u64,
}

/// Whether a report may be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// New: taken, pending the journal write.
    New,
    /// Already taken: acknowledge it again, write nothing.
    Duplicate,
    /// Over the device's rate.
    RateLimited,
}

struct DeviceState {
    ids: VecDeque<(u64, [u8; 16])>,
    bucket: Bucket,
}

/// The recent reports of every device.
#[derive(Default)]
pub struct Recent {
    devices: Mutex<HashMap<DeviceId, DeviceState>>,
}

impl Recent {
    /// True when a report of `device` with id `id` was taken lately. Charges nothing: a
    /// forged report under a victim's id must not spend the victim's rate.
    pub fn seen(&self, device: &DeviceId, id: &[u8; 16]) -> bool {
        self.lock()
            .get(device)
            .is_some_and(|state| state.ids.iter().any(|(_, seen)| seen == id))
    }

    /// True when `device` could have a report taken now (nothing is charged): reports of a
    /// device over its rate are refused before their signatures are checked.
    pub fn has_room(&self, device: &DeviceId, now_ms: u64, rate: DeviceRate) -> bool {
        self.lock()
            .get(device)
            .is_none_or(|state| state.bucket.has_token(now_ms, rate.per_minute, rate.burst))
    }

    /// Takes a report of `device` with id `id` received at `now_ms`, unless it was taken before
    /// or the device is over its rate. Called only for reports whose signatures were checked.
    pub fn admit(
        &self,
        device: DeviceId,
        id: [u8; 16],
        now_ms: u64,
        rate: DeviceRate,
    ) -> Admission {
        let mut devices = self.lock();
        let state = devices.entry(device).or_insert_with(|| DeviceState {
            ids: VecDeque::new(),
            bucket: Bucket::full(rate.burst, now_ms),
        });
        if state.ids.iter().any(|(_, seen)| *seen == id) {
            return Admission::Duplicate;
        }
        if !state.bucket.take(now_ms, rate.per_minute, rate.burst) {
            return Admission::RateLimited;
        }
        if state.ids.len() >= MAX_RECENT_PER_DEVICE {
            state.ids.pop_front();
        }
        state.ids.push_back((now_ms, id));
        Admission::New
    }

    /// Remembers a report taken before (from the journal and recent files, at start).
    pub fn remember(&self, device: DeviceId, id: [u8; 16], received_ms: u64, rate: DeviceRate) {
        let mut devices = self.lock();
        let state = devices.entry(device).or_insert_with(|| DeviceState {
            ids: VecDeque::new(),
            bucket: Bucket::full(rate.burst, received_ms),
        });
        if state.ids.len() >= MAX_RECENT_PER_DEVICE {
            state.ids.pop_front();
        }
        state.ids.push_back((received_ms, id));
    }

    /// Forgets a report whose write failed (the agent will send it again).
    pub fn forget(&self, device: &DeviceId, id: &[u8; 16]) {
        if let Some(state) = self.lock().get_mut(device) {
            state.ids.retain(|(_, seen)| seen != id);
        }
    }

    /// Forgets ids taken before `horizon_ms` and devices with nothing left and a full bucket.
    pub fn prune(&self, horizon_ms: u64, now_ms: u64) {
        self.lock().retain(|_, state| {
            while state.ids.front().is_some_and(|(at, _)| *at < horizon_ms) {
                state.ids.pop_front();
            }
            !state.ids.is_empty() || !state.bucket.idle_since(now_ms, 600_000)
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceId, DeviceState>> {
        self.devices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::PublicKey;

    const RATE: DeviceRate = DeviceRate {
        per_minute: 60,
        burst: 2,
    };

    #[test]
    fn a_report_is_taken_once_and_the_rate_holds() {
        let recent = Recent::default();
        let d = DeviceId(PublicKey([1; 32]));
        assert!(!recent.seen(&d, &[1; 16]));
        assert_eq!(recent.admit(d, [1; 16], 0, RATE), Admission::New);
        assert!(recent.seen(&d, &[1; 16]));
        assert_eq!(recent.admit(d, [1; 16], 0, RATE), Admission::Duplicate);
        assert_eq!(recent.admit(d, [2; 16], 0, RATE), Admission::New);
        assert_eq!(recent.admit(d, [3; 16], 0, RATE), Admission::RateLimited);
        assert_eq!(recent.admit(d, [3; 16], 1_000, RATE), Admission::New);
        recent.forget(&d, &[3; 16]);
        assert_eq!(recent.admit(d, [3; 16], 2_000, RATE), Admission::New);
        recent.prune(1_500, 2_000);
        // Pruned ids are forgotten (by then the report would be stale anyway).
        assert_eq!(recent.admit(d, [1; 16], 3_000, RATE), Admission::New);
    }
}
