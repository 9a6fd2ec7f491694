//! Device reports: what an edge agent signs and an oracle logs.
//!
//! A device's long-term key (which may live in a secure element, slow to sign) signs a
//! [`SessionCert`] once: it names a session key and when it expires. Every report is then signed
//! by the session key, and carries the certificate, so each report can be checked on its own by
//! anyone (an oracle at ingest, a verifier, an auditor replaying the epoch) with nothing but the
//! chain id. A verifier checks a certificate once per device and caches it.
//!
//! The wire form is [`SignedReport`], at most [`MAX_REPORT_BYTES`] long; decode it with
//! [`SignedReport::decode`], which checks the size before reading anything. Ingest takes reports
//! in batches ([`ReportBatch`], count checked before any report is decoded).
//!
//! A report's time is the device's clock (which the agent sets from the oracles); the oracle
//! that receives it stamps its own receive time into its log ([`LoggedReport`]).

use crate::address::DeviceId;
use crate::codec::{self, BoundedBytes, BoundedString, BoundedVec, CodecError};
use crate::hash::Hash;
use crate::keys::{PublicKey, SecretKey, Signature, SignatureError};
use crate::params::ChainId;
use crate::transfer::SignedTransfer;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest encoded signed report, in bytes.
pub const MAX_REPORT_BYTES: usize = 1024;
/// Where an encoded report's payload variant byte lies: after the certificate (device 32,
/// session 32, expiry 8, signature 64) and the body's time (8) and entropy (32).
pub const PAYLOAD_TAG_OFFSET: usize = 176;
/// Most reports in one ingest batch.
pub const MAX_REPORTS_PER_BATCH: usize = 512;
/// Largest encoded batch, in bytes (a count and a length before each report).
pub const MAX_BATCH_BYTES: usize = 4 + MAX_REPORTS_PER_BATCH * (4 + MAX_REPORT_BYTES);
/// Longest sensor name in a reading, in bytes.
pub const MAX_SENSOR_NAME_BYTES: usize = 32;
/// Longest a session certificate may be valid, in milliseconds (a stolen session key is useless
/// after this; the agent renews well before).
pub const MAX_SESSION_MS: u64 = 30 * 24 * 3600 * 1000;

/// The device key's signature over a session key.
#[derive(
    Clone, PartialEq, Eq, Hash, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct SessionCert {
    /// The device (its long-term key).
    pub device: DeviceId,
    /// The session key that signs reports.
    pub session: PublicKey,
    /// The session key signs nothing valid at or after this device time (ms since the Unix
    /// epoch).
    pub expires_ms: u64,
    /// The device key's signature over [`session_cert_digest`].
    pub signature: Signature,
}

/// What a device key signs to hand its reports to a session key on one chain.
pub fn session_cert_digest(
    chain_id: &ChainId,
    device: &DeviceId,
    session: &PublicKey,
    expires_ms: u64,
) -> Hash {
    Hash::domain(
        "cairn session key v1",
        &[
            &codec::encode(chain_id),
            &device.0 .0,
            &session.0,
            &expires_ms.to_le_bytes(),
        ],
    )
}

impl SessionCert {
    /// A certificate for `session`, signed by the device key `device_key`.
    pub fn issue(
        chain_id: &ChainId,
        device_key: &SecretKey,
        session: PublicKey,
        expires_ms: u64,
    ) -> SessionCert {
        let device = DeviceId(device_key.public_key());
        let signature = device_key.sign(&session_cert_digest(
            chain_id, &device, &session, expires_ms,
        ));
        SessionCert {
            device,
            session,
            expires_ms,
            signature,
        }
    }

    /// Checks the device key's signature (and that the device key is one an honest signer has).
    pub fn verify(&self, chain_id: &ChainId) -> Result<(), ReportError> {
        let digest = session_cert_digest(chain_id, &self.device, &self.session, self.expires_ms);
        self.device
            .0
            .verify(&digest, &self.signature)
            .map_err(ReportError::BadCertificate)
    }
}

/// The kind of a report: what the deduplication key and the reward rules are per.
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
pub enum ReportKind {
    /// A heartbeat: the device is up.
    Heartbeat = 0,
    /// A sensor reading.
    Reading = 1,
    /// A coverage beacon the device transmitted.
    Beacon = 2,
    /// A coverage beacon the device heard.
    Witness = 3,
    /// Bytes the device carried for a payer, with the payer's signed receipt.
    Transfer = 4,
}

impl ReportKind {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ReportKind::Heartbeat => "heartbeat",
            ReportKind::Reading => "reading",
            ReportKind::Beacon => "beacon",
            ReportKind::Witness => "witness",
            ReportKind::Transfer => "transfer",
        }
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a report says.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReportPayload {
    /// The device is up.
    Heartbeat {
        /// Seconds since the agent started.
        uptime_secs: u64,
    },
    /// One value a sensor read (from a simulated sensor, a file or a line stream).
    Reading {
        /// The sensor's name on the device (`temperature`, `pm2_5`, ...).
        sensor: BoundedString<MAX_SENSOR_NAME_BYTES>,
        /// The value in thousandths of the sensor's unit (integers only).
        value_milli: i64,
    },
    /// A beacon the device transmitted; its entropy is the report's.
    Beacon {
        /// Height of the block whose digest is the report's entropy.
        entropy_height: u64,
        /// Transmit frequency (kHz).
        frequency_khz: u32,
        /// Transmit power, EIRP, in centi-dBm (1/100 dBm).
        tx_power_cdbm: i32,
        /// The data transmitted: derived from the entropy and the device.
        data: Hash,
    },
    /// A beacon the device heard.
    Witness {
        /// The device that sent it.
        beaconer: DeviceId,
        /// The data heard.
        data: Hash,
        /// The frequency heard (kHz).
        frequency_khz: u32,
        /// Received signal strength, in centi-dBm.
        rssi_cdbm: i32,
        /// Signal-to-noise ratio, in centi-dB.
        snr_cdb: i32,
    },
    /// Bytes the device carried for a payer: the payer's signed receipt.
    Transfer {
        /// The receipt and the payer's signature.
        transfer: SignedTransfer,
    },
}

impl ReportPayload {
    /// The payload's kind.
    pub fn kind(&self) -> ReportKind {
        match self {
            ReportPayload::Heartbeat { .. } => ReportKind::Heartbeat,
            ReportPayload::Reading { .. } => ReportKind::Reading,
            ReportPayload::Beacon { .. } => ReportKind::Beacon,
            ReportPayload::Witness { .. } => ReportKind::Witness,
            ReportPayload::Transfer { .. } => ReportKind::Transfer,
        }
    }
}

/// A report before signing.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ReportBody {
    /// The device's clock when it made the report (ms since the Unix epoch).
    pub time_ms: u64,
    /// The beacon entropy the oracles gave the agent (a finalized block's digest): the report
    /// was made after that block.
    pub entropy: Hash,
    /// What it says.
    pub payload: ReportPayload,
}

/// What a session key signs for one report on one chain.
pub fn report_digest(chain_id: &ChainId, cert: &SessionCert, body: &ReportBody) -> Hash {
    Hash::domain(
        "cairn device report v1",
        &[
            &codec::encode(chain_id),
            &cert.device.0 .0,
            &cert.session.0,
            &codec::encode(body),
        ],
    )
}

/// A report as the device sends it: the certificate, the body and the session key's signature.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignedReport {
    /// The device's certificate of its session key.
    pub cert: SessionCert,
    /// The report.
    pub body: ReportBody,
    /// The session key's signature over [`report_digest`].
    pub signature: Signature,
}

/// Why a report's bytes or signatures were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The bytes are not a report.
    #[error("malformed report: {0}")]
    Malformed(#[from] CodecError),
    /// The device key's signature over the session key does not verify.
    #[error("session certificate: {0}")]
    BadCertificate(SignatureError),
    /// The certificate expired before the report's time, or is valid for too long.
    #[error("session key expired at {expires_ms} ms, report made at {time_ms} ms")]
    SessionExpired {
        /// When the session key expired.
        expires_ms: u64,
        /// The report's time.
        time_ms: u64,
    },
    /// The session key's signature over the report does not verify.
    #[error("report signature: {0}")]
    BadSignature(SignatureError),
}

impl SignedReport {
    /// Signs `body` with the session key of `cert`.
    pub fn sign(
        chain_id: &ChainId,
        cert: SessionCert,
        session_key: &SecretKey,
        body: ReportBody,
    ) -> SignedReport {
        let signature = session_key.sign(&report_digest(chain_id, &cert, &body));
        SignedReport {
            cert,
            body,
            signature,
        }
    }

    /// The kind of an encoded report, read from its payload's variant byte before anything is
    /// decoded (so that each kind's size bound can be checked first); `None` for bytes too
    /// short or a variant no kind has.
    pub fn peek_kind(bytes: &[u8]) -> Option<ReportKind> {
        match bytes.get(PAYLOAD_TAG_OFFSET)? {
            0 => Some(ReportKind::Heartbeat),
            1 => Some(ReportKind::Reading),
            2 => Some(ReportKind::Beacon),
            3 => Some(ReportKind::Witness),
            4 => Some(ReportKind::Transfer),
            _ => None,
        }
    }

    /// Decodes a report, refusing input longer than [`MAX_REPORT_BYTES`] before reading it.
    pub fn decode(bytes: &[u8]) -> Result<SignedReport, ReportError> {
        Ok(codec::decode(bytes, MAX_REPORT_BYTES)?)
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// The report's id: the hash of its canonical encoding (the same report sent twice, to one
    /// oracle or to two, has one id).
    pub fn id(&self) -> Hash {
        Hash::domain("cairn report id v1", &[&self.encode()])
    }

    /// The device that made it.
    pub fn device(&self) -> DeviceId {
        self.cert.device
    }

    /// Checks that the session key was valid at the report's time and signed it. The
    /// certificate's own signature is checked apart ([`SessionCert::verify`]), so that a verifier
    /// can check it once per device.
    pub fn verify_report_signature(&self, chain_id: &ChainId) -> Result<(), ReportError> {
        self.check_session_time()?;
        let digest = report_digest(chain_id, &self.cert, &self.body);
        self.cert
            .session
            .verify(&digest, &self.signature)
            .map_err(ReportError::BadSignature)
    }

    /// Checks the certificate and the report signature.
    pub fn verify(&self, chain_id: &ChainId) -> Result<(), ReportError> {
        self.cert.verify(chain_id)?;
        self.verify_report_signature(chain_id)
    }

    /// The session key must be valid at the report's time, and not for longer than
    /// [`MAX_SESSION_MS`] after it.
    pub fn check_session_time(&self) -> Result<(), ReportError> {
        let SessionCert { expires_ms, .. } = self.cert;
        let time_ms = self.body.time_ms;
        if time_ms >= expires_ms || expires_ms - time_ms > MAX_SESSION_MS {
            return Err(ReportError::SessionExpired {
                expires_ms,
                time_ms,
            });
        }
        Ok(())
    }
}

/// Reports as an agent posts them to an oracle: each report's bytes apart, so that one malformed
/// report is refused alone and the others go on.
#[derive(Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize)]
pub struct ReportBatch(pub BoundedVec<BoundedBytes<MAX_REPORT_BYTES>, MAX_REPORTS_PER_BATCH>);

impl ReportBatch {
    /// A batch of encoded reports (at most [`MAX_REPORTS_PER_BATCH`]).
    pub fn of(reports: &[SignedReport]) -> Result<ReportBatch, CodecError> {
        let mut items = Vec::with_capacity(reports.len());
        for report in reports {
            items.push(BoundedBytes::new(report.encode())?);
        }
        Ok(ReportBatch(BoundedVec::new(items)?))
    }

    /// Decodes a batch, refusing more than [`MAX_BATCH_BYTES`] or [`MAX_REPORTS_PER_BATCH`]
    /// before reading any report.
    pub fn decode(bytes: &[u8]) -> Result<ReportBatch, CodecError> {
        codec::decode(bytes, MAX_BATCH_BYTES)
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }
}

/// A report as an oracle logs it: with the oracle's receive time.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct LoggedReport {
    /// The oracle's clock when the report arrived (ms since the Unix epoch).
    pub received_ms: u64,
    /// The report as the device signed it.
    pub report: SignedReport,
}

/// Largest encoded logged report, in bytes.
pub const MAX_LOGGED_REPORT_BYTES: usize = 8 + MAX_REPORT_BYTES;

impl LoggedReport {
    /// Decodes a logged report, refusing more than [`MAX_LOGGED_REPORT_BYTES`].
    pub fn decode(bytes: &[u8]) -> Result<LoggedReport, CodecError> {
        codec::decode(bytes, MAX_LOGGED_REPORT_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain() -> ChainId {
        ChainId::new("cairn-test").unwrap()
    }

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_seed([seed; 32])
    }

    fn report(time_ms: u64) -> SignedReport {
        let device = key(1);
        let session = key(2);
        let cert = SessionCert::issue(&chain(), &device, session.public_key(), time_ms + 3_600_000);
        let body = ReportBody {
            time_ms,
            entropy: Hash([7; 32]),
            payload: ReportPayload::Heartbeat { uptime_secs: 5 },
        };
        SignedReport::sign(&chain(), cert, &session, body)
    }

    #[test]
    fn a_signed_report_verifies_and_round_trips() {
        let r = report(1_000_000);
        assert_eq!(r.verify(&chain()), Ok(()));
        let bytes = r.encode();
        assert!(bytes.len() <= MAX_REPORT_BYTES);
        assert_eq!(SignedReport::decode(&bytes).unwrap(), r);
        assert_eq!(r.device(), DeviceId(key(1).public_key()));
    }

    #[test]
    fn another_chain_or_a_changed_body_does_not_verify() {
        let r = report(1_000_000);
        let other = ChainId::new("other").unwrap();
        assert!(matches!(
            r.verify(&other),
            Err(ReportError::BadCertificate(_))
        ));
        let mut changed = r.clone();
        changed.body.time_ms += 1;
        assert!(matches!(
            changed.verify(&chain()),
            Err(ReportError::BadSignature(_))
        ));
        // A certificate for someone else's session key: the report signature fails.
        let mut swapped = r;
        swapped.cert = SessionCert::issue(&chain(), &key(1), key(3).public_key(), 5_000_000);
        assert!(matches!(
            swapped.verify(&chain()),
            Err(ReportError::BadSignature(_))
        ));
    }

    #[test]
    fn expired_or_overlong_sessions_are_refused() {
        let mut r = report(1_000_000);
        r.cert = SessionCert::issue(&chain(), &key(1), key(2).public_key(), 1_000_000);
        assert!(matches!(
            r.verify(&chain()),
            Err(ReportError::SessionExpired { .. })
        ));
        r.cert = SessionCert::issue(
            &chain(),
            &key(1),
            key(2).public_key(),
            1_000_000 + MAX_SESSION_MS + 1,
        );
        assert!(matches!(
            r.verify(&chain()),
            Err(ReportError::SessionExpired { .. })
        ));
    }

    #[test]
    fn oversized_input_is_refused_before_decoding() {
        let big = vec![0u8; MAX_REPORT_BYTES + 1];
        assert!(matches!(
            SignedReport::decode(&big),
            Err(ReportError::Malformed(CodecError::TooLong { .. }))
        ));
        // A batch that claims more reports than allowed is refused by its count.
        let mut claim = ((MAX_REPORTS_PER_BATCH + 1) as u32).to_le_bytes().to_vec();
        claim.extend_from_slice(&[0; 16]);
        assert!(ReportBatch::decode(&claim).is_err());
    }

    #[test]
    fn a_batch_round_trips() {
        let batch = ReportBatch::of(&[report(1), report(2)]).unwrap();
        let decoded = ReportBatch::decode(&batch.encode()).unwrap();
        assert_eq!(decoded, batch);
        assert_eq!(
            SignedReport::decode(decoded.0.as_slice()[1].as_slice()).unwrap(),
            report(2)
        );
    }

    /// Frozen wire format: if this changes, every agent in the field signs reports no oracle
    /// accepts. Regenerate only on purpose, and say so in the commit.
    #[test]
    fn report_encoding_is_frozen() {
        let r = report(1_700_000_000_000);
        assert_eq!(r.encode().len(), 32 + 32 + 8 + 64 + 8 + 32 + 1 + 8 + 64);
        assert_eq!(
            r.id().to_string(),
            include_str!("../tests/vectors/report_id.txt").trim()
        );
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
            if let Ok(r) = SignedReport::decode(&bytes) {
                prop_assert_eq!(r.encode(), bytes.clone());
            }
            if let Ok(b) = ReportBatch::decode(&bytes) {
                prop_assert_eq!(b.encode(), bytes.clone());
            }
            if let Ok(l) = LoggedReport::decode(&bytes) {
                prop_assert_eq!(codec::encode(&l), bytes);
            }
        }

        #[test]
        fn reports_round_trip(time_ms in 0u64..u64::MAX / 2, value in any::<i64>(), name in "[a-z_0-9]{0,32}") {
            let mut r = report(time_ms);
            r.body.payload = ReportPayload::Reading {
                sensor: BoundedString::new(name).unwrap(),
                value_milli: value,
            };
            let bytes = r.encode();
            prop_assert_eq!(SignedReport::decode(&bytes).unwrap(), r);
        }

        #[test]
        fn coverage_reports_round_trip(freq in any::<u32>(), power in any::<i32>(), rssi in any::<i32>(), data in any::<[u8; 32]>()) {
            let mut r = report(1_000);
            r.body.payload = ReportPayload::Beacon { entropy_height: u64::from(freq), frequency_khz: freq, tx_power_cdbm: power, data: Hash(data) };
            prop_assert_eq!(SignedReport::decode(&r.encode()).unwrap(), r.clone());
            r.body.payload = ReportPayload::Witness {
                beaconer: DeviceId(key(9).public_key()),
                data: Hash(data),
                frequency_khz: freq,
                rssi_cdbm: rssi,
                snr_cdb: power,
            };
            let bytes = r.encode();
            prop_assert!(bytes.len() <= MAX_REPORT_BYTES);
            prop_assert_eq!(SignedReport::decode(&bytes).unwrap(), r);
        }
    }

    #[test]
    fn the_kind_is_read_before_decoding_for_every_payload() {
        let chain = ChainId::new("cairn-test").unwrap();
        let device = SecretKey::from_seed([1; 32]);
        let session = SecretKey::from_seed([2; 32]);
        let cert = SessionCert::issue(&chain, &device, session.public_key(), 10_000);
        let payer = SecretKey::from_seed([3; 32]);
        let receipt = crate::transfer::TransferReceipt {
            payer: crate::address::Address(payer.public_key()),
            device: DeviceId(device.public_key()),
            session: 1,
            seq: 0,
            bytes: 1,
            time_ms: 1,
        };
        let payloads = [
            ReportPayload::Heartbeat { uptime_secs: 1 },
            ReportPayload::Reading {
                sensor: BoundedString::new("t").unwrap(),
                value_milli: 1,
            },
            ReportPayload::Beacon {
                entropy_height: 1,
                frequency_khz: 1,
                tx_power_cdbm: 1,
                data: Hash::ZERO,
            },
            ReportPayload::Witness {
                beaconer: DeviceId(device.public_key()),
                data: Hash::ZERO,
                frequency_khz: 1,
                rssi_cdbm: 1,
                snr_cdb: 1,
            },
            ReportPayload::Transfer {
                transfer: receipt.sign(&chain, &payer),
            },
        ];
        for payload in payloads {
            let kind = payload.kind();
            let body = ReportBody {
                time_ms: 1,
                entropy: Hash::ZERO,
                payload,
            };
            let bytes = SignedReport::sign(&chain, cert.clone(), &session, body).encode();
            assert_eq!(SignedReport::peek_kind(&bytes), Some(kind));
        }
        assert_eq!(SignedReport::peek_kind(&[0; PAYLOAD_TAG_OFFSET]), None);
    }
}
