//! What an oracle answers for each report an agent posts: accepted, a duplicate, or refused
//! with a typed code.
//!
//! The codes are API between agents and oracles (and shown to device owners): [`Refusal::code`]
//! writes each one out and a test pins them. [`Refusal::is_transient`] tells the agent whether
//! to keep the report and try again later (the oracle was busy, the device's registration has
//! not reached the oracle yet) or to drop it (it can never be accepted).

use crate::hash::Hash;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an oracle refused a report.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The bytes are not a report (or the batch is not a batch).
    Malformed,
    /// The batch is longer than [`crate::report::MAX_BATCH_BYTES`] (nothing of it was read), or
    /// a report is longer than its kind allows (checked before it is decoded).
    TooLarge,
    /// The device is not registered in the oracle's view of the chain (yet).
    UnknownDevice,
    /// The device is retired.
    DeviceRetired,
    /// The session certificate's signature does not verify.
    BadCertificate,
    /// The session key had expired at the report's time, or is valid for too long.
    SessionExpired,
    /// The report's signature does not verify.
    BadSignature,
    /// The device's time is too far from the oracle's clock (`report_skew_max_secs`).
    Stale,
    /// The report's reward epoch is already closed at this oracle.
    EpochClosed,
    /// The device sent more reports than its rate allows.
    DeviceRateLimited,
    /// The client sent more requests than its rate allows.
    ClientRateLimited,
    /// The oracle is busy or could not write the report durably; nothing was written.
    Unavailable,
}

impl Refusal {
    /// Every refusal, in a fixed order.
    pub const ALL: [Refusal; 12] = [
        Refusal::Malformed,
        Refusal::TooLarge,
        Refusal::UnknownDevice,
        Refusal::DeviceRetired,
        Refusal::BadCertificate,
        Refusal::SessionExpired,
        Refusal::BadSignature,
        Refusal::Stale,
        Refusal::EpochClosed,
        Refusal::DeviceRateLimited,
        Refusal::ClientRateLimited,
        Refusal::Unavailable,
    ];

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::TooLarge => "too_large",
            Refusal::UnknownDevice => "unknown_device",
            Refusal::DeviceRetired => "device_retired",
            Refusal::BadCertificate => "bad_certificate",
            Refusal::SessionExpired => "session_expired",
            Refusal::BadSignature => "bad_signature",
            Refusal::Stale => "stale",
            Refusal::EpochClosed => "epoch_closed",
            Refusal::DeviceRateLimited => "device_rate_limited",
            Refusal::ClientRateLimited => "client_rate_limited",
            Refusal::Unavailable => "unavailable",
        }
    }

    /// True when the same report may be accepted later: the agent keeps it and retries.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Refusal::UnknownDevice
                | Refusal::DeviceRateLimited
                | Refusal::ClientRateLimited
                | Refusal::Unavailable
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What became of one report of a batch.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "status", content = "code", rename_all = "snake_case")]
pub enum IngestStatus {
    /// Written durably to the oracle's log.
    Accepted,
    /// Already in the oracle's log (an earlier send arrived): nothing more to do.
    Duplicate,
    /// Refused; nothing written.
    Refused(Refusal),
}

/// The answer for one report, in the order of the batch.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct IngestResult {
    /// The report's id, when its bytes decoded.
    pub id: Option<Hash>,
    /// What became of it.
    #[serde(flatten)]
    pub status: IngestStatus,
}

/// The answer to a batch.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct IngestResponse {
    /// One result per report, in order.
    pub results: Vec<IngestResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_pinned() {
        let codes: Vec<&str> = Refusal::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(
            codes,
            [
                "malformed",
                "too_large",
                "unknown_device",
                "device_retired",
                "bad_certificate",
                "session_expired",
                "bad_signature",
                "stale",
                "epoch_closed",
                "device_rate_limited",
                "client_rate_limited",
                "unavailable",
            ]
        );
    }

    #[test]
    fn results_read_as_json_with_their_codes() {
        let response = IngestResponse {
            results: vec![
                IngestResult {
                    id: Some(Hash([1; 32])),
                    status: IngestStatus::Accepted,
                },
                IngestResult {
                    id: None,
                    status: IngestStatus::Refused(Refusal::Malformed),
                },
            ],
        };
        let json = serde_json::to_string(&response).unwrap();
        assert!(
            json.contains(r#""status":"refused","code":"malformed""#),
            "{json}"
        );
        let back: IngestResponse = serde_json::from_str(&json).unwrap();
        assert_eq!(back, response);
    }
}
