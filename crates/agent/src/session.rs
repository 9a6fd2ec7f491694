//! Session keys: the device key signs one certificate per session; reports are signed by the
//! session key. A session lasts [`SESSION_MS`] and is renewed when less than a day is left; the
//! session key is kept on disk so that a restart does not ask the device key again.

use crate::signer::{write_private, DeviceSigner};
use cairn_types::params::ChainId;
use cairn_types::report::{
    session_cert_digest, ReportBody, SessionCert, SignedReport, MAX_SESSION_MS,
};
use cairn_types::SecretKey;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How long a session key is valid.
pub const SESSION_MS: u64 = 7 * 24 * 3600 * 1000;
/// A session with less than this left is renewed.
pub const RENEW_BEFORE_MS: u64 = 24 * 3600 * 1000;

const _: () = assert!(SESSION_MS <= MAX_SESSION_MS);

/// A device's current session.
pub struct Session {
    key: SecretKey,
    cert: SessionCert,
    chain_id: ChainId,
    file: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct SessionFile {
    seed: String,
    expires_ms: u64,
    signature: String,
}

impl Session {
    /// The session kept in `file` if it is still good for `device`, else a new one certified by
    /// the device key.
    pub fn load_or_start(
        chain_id: &ChainId,
        device: &dyn DeviceSigner,
        file: &Path,
        now_ms: u64,
    ) -> Result<Session, std::io::Error> {
        if let Some(session) = Session::load(chain_id, device, file) {
            if session.cert.expires_ms > now_ms + RENEW_BEFORE_MS {
                return Ok(session);
            }
        }
        Session::start(chain_id, device, file, now_ms)
    }

    fn load(chain_id: &ChainId, device: &dyn DeviceSigner, file: &Path) -> Option<Session> {
        let text = std::fs::read_to_string(file).ok()?;
        let saved: SessionFile = serde_json::from_str(&text).ok()?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(&saved.seed, &mut seed).ok()?;
        let mut signature = [0u8; 64];
        hex::decode_to_slice(&saved.signature, &mut signature).ok()?;
        let key = SecretKey::from_seed(seed);
        let cert = SessionCert {
            device: device.device(),
            session: key.public_key(),
            expires_ms: saved.expires_ms,
            signature: cairn_types::Signature(signature),
        };
        // A file from another device or chain (or tampered with) is not used.
        cert.verify(chain_id).ok()?;
        Some(Session {
            key,
            cert,
            chain_id: chain_id.clone(),
            file: file.to_path_buf(),
        })
    }

    fn start(
        chain_id: &ChainId,
        device: &dyn DeviceSigner,
        file: &Path,
        now_ms: u64,
    ) -> Result<Session, std::io::Error> {
        let key = SecretKey::generate().map_err(|e| std::io::Error::other(e.to_string()))?;
        let expires_ms = now_ms + SESSION_MS;
        let id = device.device();
        let signature = device.sign(&session_cert_digest(
            chain_id,
            &id,
            &key.public_key(),
            expires_ms,
        ));
        let cert = SessionCert {
            device: id,
            session: key.public_key(),
            expires_ms,
            signature,
        };
        let saved = SessionFile {
            seed: hex::encode(key.seed()),
            expires_ms,
            signature: hex::encode(signature.0),
        };
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_private(file, &serde_json::to_string(&saved).unwrap_or_default())?;
        tracing::info!(device = %id, expires_ms, "agent.session: a new session key was certified");
        Ok(Session {
            key,
            cert,
            chain_id: chain_id.clone(),
            file: file.to_path_buf(),
        })
    }

    /// Renews the session if it is close to its end.
    pub fn renew_if_due(
        &mut self,
        device: &dyn DeviceSigner,
        now_ms: u64,
    ) -> Result<(), std::io::Error> {
        if self.cert.expires_ms <= now_ms + RENEW_BEFORE_MS {
            *self = Session::start(&self.chain_id, device, &self.file, now_ms)?;
        }
        Ok(())
    }

    /// Signs a report.
    pub fn sign(&self, body: ReportBody) -> SignedReport {
        SignedReport::sign(&self.chain_id, self.cert.clone(), &self.key, body)
    }

    /// The certificate.
    pub fn cert(&self) -> &SessionCert {
        &self.cert
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::FileSigner;
    use cairn_types::report::ReportPayload;
    use cairn_types::Hash;

    #[test]
    fn a_session_survives_a_restart_and_signs_valid_reports() {
        let dir = tempfile::tempdir().unwrap();
        let chain = ChainId::new("cairn-test").unwrap();
        let device = FileSigner::from_key(SecretKey::from_seed([3; 32]));
        let file = dir.path().join("session.json");
        let now = 1_800_000_000_000;
        let first = Session::load_or_start(&chain, &device, &file, now).unwrap();
        let again = Session::load_or_start(&chain, &device, &file, now + 1_000).unwrap();
        assert_eq!(first.cert(), again.cert());
        let report = again.sign(ReportBody {
            time_ms: now + 2_000,
            entropy: Hash::ZERO,
            payload: ReportPayload::Heartbeat { uptime_secs: 2 },
        });
        assert_eq!(report.verify(&chain), Ok(()));
        // Near its end, a session is replaced.
        let late =
            Session::load_or_start(&chain, &device, &file, now + SESSION_MS - 1_000).unwrap();
        assert_ne!(late.cert(), first.cert());
        // Another device does not take this file's session.
        let other = FileSigner::from_key(SecretKey::from_seed([4; 32]));
        let theirs = Session::load_or_start(&chain, &other, &file, now).unwrap();
        assert_eq!(theirs.cert().device, other.device());
    }
}
