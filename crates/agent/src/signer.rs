//! The device's long-term key, behind an interface a secure element can implement.
//!
//! The agent asks the device key for one signature per session (a certificate of the session
//! key), never per report: a secure element that signs slowly is enough. [`FileSigner`] keeps
//! the key in a file (its 32-byte seed in hex, readable by the owner only).

use cairn_types::{DeviceId, Hash, SecretKey, Signature};
use std::path::Path;

/// What signs with the device's long-term key.
pub trait DeviceSigner: Send + Sync {
    /// The device's id (its public key).
    fn device(&self) -> DeviceId;
    /// Signs a digest (a session certificate's).
    fn sign(&self, digest: &Hash) -> Signature;
}

/// A device key kept in a file.
pub struct FileSigner {
    key: SecretKey,
}

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// It could not be read or written.
    #[error("key file {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// It does not hold a 32-byte seed in hex.
    #[error("key file {0} does not hold a 32-byte key in hex")]
    Malformed(String),
}

impl FileSigner {
    /// The key in `path`, created (with a fresh random key, owner-only permissions) if missing.
    pub fn open_or_create(path: &Path) -> Result<FileSigner, KeyFileError> {
        let io = |error| KeyFileError::Io {
            path: path.display().to_string(),
            error,
        };
        if !path.exists() {
            let key =
                SecretKey::generate().map_err(|e| io(std::io::Error::other(e.to_string())))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            write_private(path, &hex::encode(key.seed())).map_err(io)?;
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed)
            .map_err(|_| KeyFileError::Malformed(path.display().to_string()))?;
        Ok(FileSigner {
            key: SecretKey::from_seed(seed),
        })
    }

    /// A signer over a key already in memory (simulated devices).
    pub fn from_key(key: SecretKey) -> FileSigner {
        FileSigner { key }
    }
}

impl DeviceSigner for FileSigner {
    fn device(&self) -> DeviceId {
        DeviceId(self.key.public_key())
    }

    fn sign(&self, digest: &Hash) -> Signature {
        self.key.sign(digest)
    }
}

/// Writes a file only its owner can read.
pub fn write_private(path: &Path, text: &str) -> Result<(), std::io::Error> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.key");
        let first = FileSigner::open_or_create(&path).unwrap();
        let again = FileSigner::open_or_create(&path).unwrap();
        assert_eq!(first.device(), again.device());
        let digest = Hash([1; 32]);
        assert!(first
            .device()
            .0
            .verify(&digest, &again.sign(&digest))
            .is_ok());
        std::fs::write(&path, "not hex").unwrap();
        assert!(matches!(
            FileSigner::open_or_create(&path),
            Err(KeyFileError::Malformed(_))
        ));
    }
}
