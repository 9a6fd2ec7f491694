//! Human-readable, checksummed names for accounts and devices.
//!
//! An account's address *is* its ed25519 public key, written in bech32m with the prefix `cairn`
//! (`cairn1…`). Bech32m detects any error of up to four characters and any transposition, so a
//! mistyped address is refused rather than paid. A device is named by its key as a `did:key`.

use crate::keys::PublicKey;
use bech32::{Bech32m, Hrp};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The human-readable prefix of every account address.
pub const ADDRESS_PREFIX: &str = "cairn";

/// An account: the public key that controls it.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Address(pub PublicKey);

/// Why text is not an address or a device id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not bech32m, or the checksum does not match (a typo).
    #[error("not a valid address (bad characters or checksum): {0}")]
    Checksum(String),
    /// Valid bech32m, but for something other than a Cairn account.
    #[error("address has prefix `{0}`, expected `cairn`")]
    WrongPrefix(String),
    /// The payload is not 32 bytes.
    #[error("address holds {0} bytes, expected 32")]
    WrongLength(usize),
    /// Not a `did:key` or 64 hex characters.
    #[error("not a device id (expected did:key:z6Mk… or 64 hex characters): {0}")]
    Device(String),
}

impl Address {
    /// The address controlled by `key`.
    pub fn from_key(key: PublicKey) -> Address {
        Address(key)
    }

    /// The public key behind the address.
    pub fn key(&self) -> &PublicKey {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hrp = Hrp::parse_unchecked(ADDRESS_PREFIX);
        match bech32::encode::<Bech32m>(hrp, &self.0 .0) {
            Ok(text) => f.write_str(&text),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let checked = bech32::primitives::decode::CheckedHrpstring::new::<Bech32m>(s)
            .map_err(|e| AddressError::Checksum(e.to_string()))?;
        if checked.hrp().as_str() != ADDRESS_PREFIX {
            return Err(AddressError::WrongPrefix(checked.hrp().to_string()));
        }
        let bytes: Vec<u8> = checked.byte_iter().collect();
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AddressError::WrongLength(bytes.len()))?;
        Ok(Address(PublicKey(key)))
    }
}

serde_as_text!(Address);

/// A device: the public key it signs its reports with. Shown as a `did:key`.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct DeviceId(pub PublicKey);

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_did_key())
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({self})")
    }
}

impl FromStr for DeviceId {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(key) = PublicKey::from_did_key(s) {
            return Ok(DeviceId(key));
        }
        let mut key = [0u8; 32];
        hex::decode_to_slice(s, &mut key).map_err(|_| AddressError::Device(s.to_string()))?;
        Ok(DeviceId(PublicKey(key)))
    }
}

serde_as_text!(DeviceId);

/// Serde for a bare public key (validator consensus keys, maker keys): 64 hex characters.
impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as Deserialize>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for PublicKey {
    type Err = AddressError;
    /// Accepts 64 hex characters, a `cairn1…` address or a `did:key`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with(ADDRESS_PREFIX) {
            return s.parse::<Address>().map(|a| a.0);
        }
        s.parse::<DeviceId>().map(|d| d.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;
    use proptest::prelude::*;

    #[test]
    fn address_round_trip() {
        let addr = Address(SecretKey::from_label("alice").public_key());
        let text = addr.to_string();
        assert!(text.starts_with("cairn1"));
        assert_eq!(text.parse::<Address>(), Ok(addr));
    }

    #[test]
    fn typo_is_refused() {
        let text = Address(SecretKey::from_label("alice").public_key()).to_string();
        let mut chars: Vec<char> = text.chars().collect();
        let i = chars.len() - 5;
        chars[i] = if chars[i] == 'q' { 'p' } else { 'q' };
        let typo: String = chars.into_iter().collect();
        assert!(matches!(
            typo.parse::<Address>(),
            Err(AddressError::Checksum(_))
        ));
    }

    #[test]
    fn wrong_prefix_is_refused() {
        let hrp = Hrp::parse_unchecked("other");
        let text = bech32::encode::<Bech32m>(hrp, &[1u8; 32]).unwrap();
        assert_eq!(
            text.parse::<Address>(),
            Err(AddressError::WrongPrefix("other".into()))
        );
        let hrp = Hrp::parse_unchecked("cairn");
        let short = bech32::encode::<Bech32m>(hrp, &[1u8; 20]).unwrap();
        assert_eq!(short.parse::<Address>(), Err(AddressError::WrongLength(20)));
    }

    #[test]
    fn public_key_parses_any_form() {
        let pk = SecretKey::from_label("x").public_key();
        assert_eq!(hex::encode(pk.0).parse::<PublicKey>(), Ok(pk));
        assert_eq!(Address(pk).to_string().parse::<PublicKey>(), Ok(pk));
        assert_eq!(DeviceId(pk).to_string().parse::<PublicKey>(), Ok(pk));
        assert!("nonsense".parse::<PublicKey>().is_err());
    }

    proptest! {
        #[test]
        fn any_key_round_trips(bytes in any::<[u8; 32]>()) {
            let addr = Address(PublicKey(bytes));
            prop_assert_eq!(addr.to_string().parse::<Address>(), Ok(addr));
            let dev = DeviceId(PublicKey(bytes));
            prop_assert_eq!(dev.to_string().parse::<DeviceId>(), Ok(dev));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,90}") {
            let _ = text.parse::<Address>();
            let _ = text.parse::<DeviceId>();
        }
    }
}
