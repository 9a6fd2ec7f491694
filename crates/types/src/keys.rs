//! Ed25519 keys and signatures, with a domain on everything signed.
//!
//! Cairn never signs raw bytes: [`SecretKey::sign`] signs a [`Hash`] that was computed under a
//! purpose-specific domain (transactions, device bindings, reward roots, consensus votes), so a
//! signature made for one purpose is worthless for any other.
//!
//! Verification uses one predicate everywhere: ZIP-215 (the `ed25519-zebra` crate), whose
//! single and batch checks accept exactly the same signatures. A block, the mempool and the CLI
//! therefore always agree on which signatures are valid, whichever way they group them; a
//! crafted signature cannot pass one check and fail another (as it can with a cofactorless
//! single check next to a randomised batch). Signing stays with ed25519-dalek.
//!
//! ZIP-215 alone accepts keys that no honest signer has: encodings that are not canonical and
//! points of small order (for which signatures can be forged without any secret). Cairn refuses
//! them everywhere a key enters the state or signs ([`PublicKey::check_strong`]): a signature by
//! such a key never verifies, and such a key can be no account, device, maker or consensus key.

use crate::hash::Hash;
use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An ed25519 public key: the identity of an account, a device, a maker or a validator.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct PublicKey(pub [u8; 32]);

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key is not a valid curve point.
    #[error("public key is not a valid ed25519 point")]
    InvalidKey,
    /// The signature does not verify for this key and message.
    #[error("signature does not verify")]
    Invalid,
    /// The three inputs to a batch check have different lengths.
    #[error("batch inputs have different lengths")]
    BatchShape,
    /// The key is of small order or not canonically encoded (see [`KeyError`]).
    #[error("weak public key: {0}")]
    WeakKey(KeyError),
}

/// Why a public key is refused although it may decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The bytes are not a point of the curve.
    #[error("not a point of the ed25519 curve")]
    NotAPoint,
    /// The point is encoded in a form other than its canonical one (a y coordinate above the
    /// field's modulus, or a sign bit set on x = 0).
    #[error("not the canonical encoding of its point")]
    NonCanonical,
    /// The point has small order: signatures "by" it can be forged without a secret.
    #[error("a point of small order")]
    SmallOrder,
}

impl PublicKey {
    /// Refuses keys no honest signer has: not a curve point, not canonically encoded, or of
    /// small order. Every key registered in the state and every signing key passes this.
    pub fn check_strong(&self) -> Result<(), KeyError> {
        let compressed = curve25519_dalek::edwards::CompressedEdwardsY(self.0);
        let point = compressed.decompress().ok_or(KeyError::NotAPoint)?;
        if point.compress().0 != self.0 {
            return Err(KeyError::NonCanonical);
        }
        if point.is_small_order() {
            return Err(KeyError::SmallOrder);
        }
        Ok(())
    }

    /// Checks `signature` over `digest` with this key.
    pub fn verify(&self, digest: &Hash, signature: &Signature) -> Result<(), SignatureError> {
        verify_batch(&[*digest], &[*signature], &[*self])
    }

    /// The key as a `did:key` (multicodec ed25519-pub, base58btc): the form shown for devices.
    pub fn to_did_key(&self) -> String {
        let mut bytes = Vec::with_capacity(34);
        bytes.extend_from_slice(&[0xed, 0x01]);
        bytes.extend_from_slice(&self.0);
        format!("did:key:z{}", bs58::encode(bytes).into_string())
    }

    /// Parses a `did:key` made by [`PublicKey::to_did_key`].
    pub fn from_did_key(text: &str) -> Option<PublicKey> {
        let encoded = text.strip_prefix("did:key:z")?;
        let bytes = bs58::decode(encoded).into_vec().ok()?;
        if bytes.len() != 34 || bytes[0] != 0xed || bytes[1] != 0x01 {
            return None;
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[2..]);
        Some(PublicKey(key))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

impl Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as Deserialize>::deserialize(deserializer)?;
        let mut out = [0u8; 64];
        hex::decode_to_slice(text, &mut out).map_err(serde::de::Error::custom)?;
        Ok(Signature(out))
    }
}

/// Checks many signatures at once; `Ok` only if every one is valid.
///
/// This is the single validity predicate of Cairn (see the module documentation). A key that is
/// not a curve point gives [`SignatureError::InvalidKey`] alone and [`SignatureError::Invalid`]
/// in a batch of several.
pub fn verify_batch(
    digests: &[Hash],
    signatures: &[Signature],
    keys: &[PublicKey],
) -> Result<(), SignatureError> {
    if digests.len() != signatures.len() || digests.len() != keys.len() {
        return Err(SignatureError::BatchShape);
    }
    if digests.is_empty() {
        return Ok(());
    }
    for key in keys {
        key.check_strong().map_err(SignatureError::WeakKey)?;
    }
    if digests.len() == 1 {
        return verify_message(&keys[0], &digests[0].0, &signatures[0]);
    }
    let items = digests.iter().zip(signatures).zip(keys);
    let mut batch = ed25519_zebra::batch::Verifier::new();
    for ((digest, signature), key) in items {
        batch.queue((
            ed25519_zebra::VerificationKeyBytes::from(key.0),
            ed25519_zebra::Signature::from(signature.0),
            &digest.0,
        ));
    }
    batch
        .verify(rand_core_06::OsRng)
        .map_err(|_| SignatureError::Invalid)
}

/// Checks `signature` over the raw `message` with `key` (ZIP-215, like [`verify_batch`]), for
/// signatures made by other software over its own message format (consensus votes).
pub fn verify_message(
    key: &PublicKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    key.check_strong().map_err(|error| match error {
        KeyError::NotAPoint => SignatureError::InvalidKey,
        weak => SignatureError::WeakKey(weak),
    })?;
    let key =
        ed25519_zebra::VerificationKey::try_from(key.0).map_err(|_| SignatureError::InvalidKey)?;
    key.verify(&ed25519_zebra::Signature::from(signature.0), message)
        .map_err(|_| SignatureError::Invalid)
}

/// An ed25519 secret key. Never printed; zeroed when dropped.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<SecretKey, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed)?;
        Ok(SecretKey::from_seed(seed))
    }

    /// The key with this 32-byte seed (for key files and deterministic tests).
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// A deterministic key derived from a label: for tests, demos and simulations only.
    pub fn from_label(label: &str) -> SecretKey {
        SecretKey::from_seed(Hash::domain("cairn test key v1", &[label.as_bytes()]).0)
    }

    /// The secret key of seat `index` of key generation `generation`, derived from this key (a
    /// validator's node key): a validator runs one consensus key per seat, and derives them all
    /// from the one key file it keeps. A new generation gives fresh keys for a rotation.
    pub fn seat_key(&self, generation: u32, index: u32) -> SecretKey {
        let seed = Hash::domain(
            "cairn seat key v1",
            &[
                &self.seed(),
                &generation.to_be_bytes(),
                &index.to_be_bytes(),
            ],
        );
        SecretKey::from_seed(seed.0)
    }

    /// The 32-byte seed, for writing a key file.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs a domain-separated digest.
    pub fn sign(&self, digest: &Hash) -> Signature {
        Signature(self.0.sign(&digest.0).to_bytes())
    }

    /// Signs raw bytes in another system's format (consensus votes, see [`verify_message`]).
    pub fn sign_message(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public {})", hex::encode(self.public_key().0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let key = SecretKey::from_label("alice");
        let digest = Hash::domain("cairn test", &[b"hello"]);
        let sig = key.sign(&digest);
        assert_eq!(key.public_key().verify(&digest, &sig), Ok(()));
        let other = Hash::domain("cairn test", &[b"hullo"]);
        assert_eq!(
            key.public_key().verify(&other, &sig),
            Err(SignatureError::Invalid)
        );
        let mallory = SecretKey::from_label("mallory").public_key();
        assert_eq!(mallory.verify(&digest, &sig), Err(SignatureError::Invalid));
    }

    #[test]
    fn batch_refuses_one_bad_signature() {
        let keys: Vec<SecretKey> = (0..8)
            .map(|i| SecretKey::from_label(&i.to_string()))
            .collect();
        let digests: Vec<Hash> = (0..8u8).map(|i| Hash::domain("t", &[&[i]])).collect();
        let mut sigs: Vec<Signature> = keys.iter().zip(&digests).map(|(k, d)| k.sign(d)).collect();
        let pks: Vec<PublicKey> = keys.iter().map(SecretKey::public_key).collect();
        assert_eq!(verify_batch(&digests, &sigs, &pks), Ok(()));
        sigs[5].0[3] ^= 1;
        assert!(verify_batch(&digests, &sigs, &pks).is_err());
        assert_eq!(
            verify_batch(&digests[..2], &sigs, &pks),
            Err(SignatureError::BatchShape)
        );
    }

    /// The eight points of small order, and a non-canonical encoding of the identity.
    fn weak_keys() -> Vec<[u8; 32]> {
        let mut keys: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .map(|p| p.compress().0)
            .collect();
        // y = p + 1 (the identity's y = 1, plus the modulus 2^255 - 19).
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        keys.push(non_canonical);
        keys
    }

    #[test]
    fn weak_keys_are_refused_and_real_keys_pass() {
        for key in weak_keys() {
            let key = PublicKey(key);
            assert!(key.check_strong().is_err(), "{key:?}");
            let digest = Hash::domain("t", &[b"m"]);
            // The classic forgery for a small-order key: R = identity, s = 0.
            let mut forged = [0u8; 64];
            forged[0] = 1;
            assert!(key.verify(&digest, &Signature(forged)).is_err());
        }
        assert_eq!(
            PublicKey(weak_keys()[8]).check_strong(),
            Err(KeyError::NonCanonical)
        );
        assert_eq!(
            PublicKey(weak_keys()[0]).check_strong(),
            Err(KeyError::SmallOrder)
        );
        for label in ["a", "b", "c"] {
            assert_eq!(
                SecretKey::from_label(label).public_key().check_strong(),
                Ok(())
            );
        }
    }

    #[test]
    fn seat_keys_are_distinct_and_deterministic() {
        let node = SecretKey::from_label("node");
        let a = node.seat_key(0, 0).public_key();
        assert_eq!(a, node.seat_key(0, 0).public_key());
        assert_ne!(a, node.seat_key(0, 1).public_key());
        assert_ne!(a, node.seat_key(1, 0).public_key());
        assert_ne!(a, node.public_key());
    }

    #[test]
    fn did_key_round_trip() {
        let pk = SecretKey::from_label("device").public_key();
        let did = pk.to_did_key();
        assert!(did.starts_with("did:key:z6Mk"), "{did}");
        assert_eq!(PublicKey::from_did_key(&did), Some(pk));
        assert_eq!(PublicKey::from_did_key("did:key:zzz"), None);
    }
}
