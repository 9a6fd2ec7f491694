//! Why a report or a device was not paid: stable codes that owners see.
//!
//! The codes are API (`cairn rewards show` prints them, the oracle serves them, the explorer
//! will map them): [`Reason::code`] writes each one out, and a test pins them, so renaming a
//! variant does not change a code.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why one copy of a report earned nothing.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum Reason {
    /// The logged bytes are not a report.
    Malformed = 0,
    /// The device is not registered at the epoch's last block.
    UnknownDevice = 1,
    /// The device was retired.
    DeviceRetired = 2,
    /// The device key's signature over the session key does not verify.
    BadCertificate = 3,
    /// The session key had expired at the report's time (or was valid too long).
    SessionExpired = 4,
    /// The session key's signature over the report does not verify.
    BadSignature = 5,
    /// The device's time and the oracle's receive time differ by more than the allowed skew.
    Stale = 6,
    /// The report's time is outside the epoch (it is paid, or not, in its own epoch).
    OutsideEpoch = 7,
    /// Another report of the same device, kind and window was counted instead (received
    /// earlier).
    DuplicateWindow = 8,
}

impl Reason {
    /// Every reason, in code order.
    pub const ALL: [Reason; 9] = [
        Reason::Malformed,
        Reason::UnknownDevice,
        Reason::DeviceRetired,
        Reason::BadCertificate,
        Reason::SessionExpired,
        Reason::BadSignature,
        Reason::Stale,
        Reason::OutsideEpoch,
        Reason::DuplicateWindow,
    ];

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::UnknownDevice => "unknown_device",
            Reason::DeviceRetired => "device_retired",
            Reason::BadCertificate => "bad_certificate",
            Reason::SessionExpired => "session_expired",
            Reason::BadSignature => "bad_signature",
            Reason::Stale => "stale",
            Reason::OutsideEpoch => "outside_epoch",
            Reason::DuplicateWindow => "duplicate_window",
        }
    }

    /// What the owner can do about it, in one sentence.
    pub fn explain(self) -> &'static str {
        match self {
            Reason::Malformed => "the oracle logged bytes that are not a report",
            Reason::UnknownDevice => "the device was not registered when the epoch ended",
            Reason::DeviceRetired => "the device is retired",
            Reason::BadCertificate => "the session key was not signed by the device key",
            Reason::SessionExpired => "the agent used an expired session key; restart it",
            Reason::BadSignature => "the report was not signed by its session key",
            Reason::Stale => "the device clock was off or the report arrived too late",
            Reason::OutsideEpoch => "the report belongs to another epoch",
            Reason::DuplicateWindow => "another report of the same window was counted",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_pinned() {
        let codes: Vec<&str> = Reason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(
            codes,
            [
                "malformed",
                "unknown_device",
                "device_retired",
                "bad_certificate",
                "session_expired",
                "bad_signature",
                "stale",
                "outside_epoch",
                "duplicate_window",
            ]
        );
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert!(!r.explain().is_empty());
        }
    }
}
