//! Key files: one JSON file per key under `<home>/keys/`, optionally encrypted with a passphrase.
//!
//! An encrypted key's 32-byte seed is sealed with ChaCha20-Poly1305 under a key derived from the
//! passphrase by Argon2id (64 MiB, 3 passes: slow enough to make guessing expensive, fast enough
//! for a Raspberry Pi). A wrong passphrase fails the authentication tag and is reported as such;
//! the seed is never written in the clear when a passphrase was given. On Unix the key directory
//! is kept at mode 0700 and files are created with mode 0600. A key file's Argon2 parameters
//! are checked against bounds before any derivation, so a planted file cannot make the CLI
//! allocate gigabytes or spin for hours; and no key file prints its secret in debug output.

use argon2::{Algorithm, Argon2, Params as ArgonParams, Version};
use cairn_types::{Address, SecretKey};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Argon2id memory cost, in KiB.
const ARGON_MEMORY_KIB: u32 = 64 * 1024;
/// Argon2id passes.
const ARGON_PASSES: u32 = 3;
/// The Argon2 memory costs a key file may ask for, in KiB (8 MiB to 1 GiB).
const ARGON_MEMORY_KIB_BOUNDS: (u32, u32) = (8 * 1024, 1024 * 1024);
/// The Argon2 passes a key file may ask for.
const ARGON_PASSES_BOUNDS: (u32, u32) = (1, 10);
/// The one encryption scheme.
const SCHEME: &str = "argon2id+chacha20poly1305";
/// Longest key name.
const MAX_KEY_NAME_BYTES: usize = 64;

/// Why a key could not be made, read or unlocked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    /// The name has characters other than letters, digits, `-`, `_` and `.`.
    #[error("key name `{0}` must be 1-64 letters, digits, '-', '_' or '.'")]
    BadName(String),
    /// A key with this name exists.
    #[error("a key named `{0}` already exists")]
    Exists(String),
    /// No key with this name.
    #[error("no key named `{0}` (see `cairn keys list`)")]
    NotFound(String),
    /// The passphrase does not open the key.
    #[error("wrong passphrase for key `{0}`")]
    WrongPassphrase(String),
    /// The key is encrypted and no passphrase was given.
    #[error("key `{0}` is encrypted: give its passphrase (CAIRN_PASSPHRASE or the prompt)")]
    PassphraseNeeded(String),
    /// The file is not a key file.
    #[error("{path}: not a valid key file: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// File system error.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        error: std::io::Error,
    },
    /// The random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
}

/// Parameters of an encrypted key file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Encryption {
    /// Always `argon2id+chacha20poly1305`.
    pub(crate) scheme: String,
    /// Argon2 memory cost in KiB.
    pub(crate) memory_kib: u32,
    /// Argon2 passes.
    pub(crate) passes: u32,
    /// Salt, hex.
    pub(crate) salt: String,
    /// Nonce, hex.
    pub(crate) nonce: String,
}

/// The JSON key file.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct KeyFile {
    /// The key's name.
    pub(crate) name: String,
    /// Its account address.
    pub(crate) address: Address,
    /// Present when the secret is encrypted.
    pub(crate) encryption: Option<Encryption>,
    /// The seed (hex), or its ciphertext when encrypted.
    pub(crate) secret: String,
}

impl std::fmt::Debug for KeyFile {
    /// Everything but the secret (a seed in the clear for an unencrypted key).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("encryption", &self.encryption)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Checks a key file's encryption parameters before any work is done with them.
fn check_encryption(enc: &Encryption) -> Result<(), &'static str> {
    let within = |v: u32, (lo, hi): (u32, u32)| (lo..=hi).contains(&v);
    if enc.scheme != SCHEME {
        return Err("unknown encryption scheme");
    }
    if !within(enc.memory_kib, ARGON_MEMORY_KIB_BOUNDS) {
        return Err("Argon2 memory cost out of bounds (8 MiB to 1 GiB)");
    }
    if !within(enc.passes, ARGON_PASSES_BOUNDS) {
        return Err("Argon2 passes out of bounds (1 to 10)");
    }
    Ok(())
}

/// The key directory.
pub(crate) struct Keystore {
    dir: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |error| KeyError::Io {
        path: path.display().to_string(),
        error,
    }
}

fn check_name(name: &str) -> Result<(), KeyError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_KEY_NAME_BYTES
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(KeyError::BadName(name.to_string()))
    }
}

fn derive_key(
    passphrase: &str,
    salt: &[u8],
    memory_kib: u32,
    passes: u32,
) -> Result<[u8; 32], KeyError> {
    let params = ArgonParams::new(memory_kib, passes, 1, Some(32))
        .map_err(|e| KeyError::Random(e.to_string()))?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(out)
}

fn random<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(out)
}

impl Keystore {
    /// The keystore under `home`.
    pub(crate) fn new(home: &Path) -> Keystore {
        Keystore {
            dir: home.join("keys"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Saves `key` as `name`, encrypted when a passphrase is given.
    pub(crate) fn save(
        &self,
        name: &str,
        key: &SecretKey,
        passphrase: Option<&str>,
    ) -> Result<KeyFile, KeyError> {
        check_name(name)?;
        let path = self.path(name);
        if path.exists() {
            return Err(KeyError::Exists(name.to_string()));
        }
        create_private_dir(&self.dir)?;
        let seed = key.seed();
        let (encryption, secret) = match passphrase {
            None => (None, hex::encode(seed)),
            Some(pass) => {
                let salt: [u8; 16] = random()?;
                let nonce: [u8; 12] = random()?;
                let sealing = derive_key(pass, &salt, ARGON_MEMORY_KIB, ARGON_PASSES)?;
                let cipher = ChaCha20Poly1305::new(Key::from_slice(&sealing));
                let sealed = cipher
                    .encrypt(Nonce::from_slice(&nonce), seed.as_slice())
                    .map_err(|e| KeyError::Random(e.to_string()))?;
                (
                    Some(Encryption {
                        scheme: SCHEME.into(),
                        memory_kib: ARGON_MEMORY_KIB,
                        passes: ARGON_PASSES,
                        salt: hex::encode(salt),
                        nonce: hex::encode(nonce),
                    }),
                    hex::encode(sealed),
                )
            }
        };
        let file = KeyFile {
            name: name.to_string(),
            address: Address(key.public_key()),
            encryption,
            secret,
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| KeyError::Corrupt {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        write_private(&path, text.as_bytes())?;
        Ok(file)
    }

    /// Reads a key file without unlocking it.
    pub(crate) fn read(&self, name: &str) -> Result<KeyFile, KeyError> {
        check_name(name)?;
        let path = self.path(name);
        if !path.exists() {
            return Err(KeyError::NotFound(name.to_string()));
        }
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        serde_json::from_str(&text).map_err(|e| KeyError::Corrupt {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// Unlocks a key; `passphrase` is asked for only when the key is encrypted.
    pub(crate) fn load(
        &self,
        name: &str,
        passphrase: impl FnOnce() -> Option<String>,
    ) -> Result<SecretKey, KeyError> {
        let file = self.read(name)?;
        let corrupt = |reason: &str| KeyError::Corrupt {
            path: self.path(name).display().to_string(),
            reason: reason.to_string(),
        };
        let secret = hex::decode(&file.secret).map_err(|_| corrupt("secret is not hex"))?;
        let seed: Vec<u8> = match &file.encryption {
            None => secret,
            Some(enc) => {
                check_encryption(enc).map_err(corrupt)?;
                let pass =
                    passphrase().ok_or_else(|| KeyError::PassphraseNeeded(name.to_string()))?;
                let salt = hex::decode(&enc.salt).map_err(|_| corrupt("salt is not hex"))?;
                let nonce = hex::decode(&enc.nonce).map_err(|_| corrupt("nonce is not hex"))?;
                if nonce.len() != 12 {
                    return Err(corrupt("nonce is not 12 bytes"));
                }
                let sealing = derive_key(&pass, &salt, enc.memory_kib, enc.passes)?;
                ChaCha20Poly1305::new(Key::from_slice(&sealing))
                    .decrypt(Nonce::from_slice(&nonce), secret.as_slice())
                    .map_err(|_| KeyError::WrongPassphrase(name.to_string()))?
            }
        };
        let seed: [u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("seed is not 32 bytes"))?;
        let key = SecretKey::from_seed(seed);
        if Address(key.public_key()) != file.address {
            return Err(corrupt("the secret does not match the address"));
        }
        Ok(key)
    }

    /// Every key file, by name.
    pub(crate) fn list(&self) -> Result<Vec<KeyFile>, KeyError> {
        if !self.dir.exists() {
            return Ok(Vec::new());
        }
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let entry = entry.map_err(io_err(&self.dir))?;
            let file_name = entry.file_name().to_string_lossy().to_string();
            if let Some(name) = file_name.strip_suffix(".json") {
                names.push(name.to_string());
            }
        }
        names.sort();
        names.iter().map(|n| self.read(n)).collect()
    }
}

/// Creates the key directory (and its parents) and keeps it at mode 0700 on Unix.
fn create_private_dir(dir: &Path) -> Result<(), KeyError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err(dir))?;
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_encrypted_keys_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Keystore::new(dir.path());
        let key = SecretKey::from_label("k");
        store.save("plain", &key, None).unwrap();
        assert_eq!(
            store.load("plain", || None).unwrap().public_key(),
            key.public_key()
        );
        store.save("sealed", &key, Some("correct horse")).unwrap();
        let file = store.read("sealed").unwrap();
        assert!(!file.secret.contains(&hex::encode(key.seed())));
        assert_eq!(
            store
                .load("sealed", || Some("correct horse".into()))
                .unwrap()
                .public_key(),
            key.public_key()
        );
        assert!(matches!(
            store.load("sealed", || Some("wrong".into())),
            Err(KeyError::WrongPassphrase(_))
        ));
        assert!(matches!(
            store.load("sealed", || None),
            Err(KeyError::PassphraseNeeded(_))
        ));
        assert!(matches!(
            store.save("plain", &key, None),
            Err(KeyError::Exists(_))
        ));
        assert!(matches!(
            store.load("missing", || None),
            Err(KeyError::NotFound(_))
        ));
        assert!(matches!(
            store.save("../evil", &key, None),
            Err(KeyError::BadName(_))
        ));
        assert_eq!(store.list().unwrap().len(), 2);
    }

    #[test]
    fn tampered_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Keystore::new(dir.path());
        store.save("k", &SecretKey::from_label("a"), None).unwrap();
        let path = dir.path().join("keys/k.json");
        let mut file: KeyFile =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        file.address = Address(SecretKey::from_label("b").public_key());
        std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
        assert!(matches!(
            store.load("k", || None),
            Err(KeyError::Corrupt { .. })
        ));
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(store.read("k"), Err(KeyError::Corrupt { .. })));
    }

    /// A planted key file asking Argon2 for 4 GiB (or a million passes) is refused before any
    /// derivation, with the reason.
    #[test]
    fn argon2_parameters_are_bounded_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Keystore::new(dir.path());
        store
            .save("k", &SecretKey::from_label("a"), Some("pass"))
            .unwrap();
        let path = dir.path().join("keys/k.json");
        let original: KeyFile =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for (memory_kib, passes, scheme, reason) in [
            (4 * 1024 * 1024, 3, SCHEME, "memory"),
            (1, 3, SCHEME, "memory"),
            (64 * 1024, 1_000_000, SCHEME, "passes"),
            (64 * 1024, 0, SCHEME, "passes"),
            (64 * 1024, 3, "rot13", "scheme"),
        ] {
            let mut file = original.clone();
            let enc = file.encryption.as_mut().unwrap();
            enc.memory_kib = memory_kib;
            enc.passes = passes;
            enc.scheme = scheme.into();
            std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
            match store.load("k", || Some("pass".into())) {
                Err(KeyError::Corrupt { reason: why, .. }) => {
                    assert!(why.contains(reason), "{why}")
                }
                other => panic!("{memory_kib} KiB, {passes} passes, {scheme}: {other:?}"),
            }
        }
    }

    #[test]
    fn no_secret_in_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let store = Keystore::new(dir.path());
        let key = SecretKey::from_label("plain");
        let file = store.save("plain", &key, None).unwrap();
        let printed = format!("{file:?} {key:?}");
        assert!(!printed.contains(&hex::encode(key.seed())), "{printed}");
        assert!(printed.contains("redacted"));
    }

    #[cfg(unix)]
    #[test]
    fn the_key_directory_is_0700_and_key_files_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o755)).unwrap();
        let store = Keystore::new(dir.path());
        store.save("k", &SecretKey::from_label("a"), None).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&keys), 0o700, "a directory left open is closed");
        assert_eq!(mode(&keys.join("k.json")), 0o600);
    }
}
