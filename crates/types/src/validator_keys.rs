//! A validator's keys, each proven to be held by the account that registers it.
//!
//! A validator runs one **node key** (its identity on the peer-to-peer network) and one
//! **seat key** per consensus seat it may hold (see the seat rule in `docs/CONSENSUS.md`). Every
//! key comes with a [`KeyPossession`]: the key's own signature over the registering account's
//! address and the chain id. So nobody can bond, or squat, a key whose secret they do not hold,
//! and a proof made for one account or chain is worthless for another.
//!
//! A node derives all its seat keys from its node key ([`SecretKey::seat_key`]), so an operator
//! keeps one key file; [`ValidatorKeys::derive`] builds the registration from it.

use crate::address::Address;
use crate::codec::BoundedVec;
use crate::hash::Hash;
use crate::keys::{KeyError, PublicKey, SecretKey, Signature, SignatureError};
use crate::params::ChainId;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Most seat keys one validator registers (so most seats it can hold in one epoch).
pub const MAX_SEAT_KEYS: usize = 128;

pub use crate::params::MAX_SEATS;

/// A public key and its signature over [`KeyPossession::digest`].
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct KeyPossession {
    /// The key.
    pub key: PublicKey,
    /// Its signature binding it to one account on one chain.
    pub signature: Signature,
}

impl KeyPossession {
    /// What a key signs to prove it belongs to `account` on `chain_id`.
    pub fn digest(chain_id: &ChainId, account: &Address, key: &PublicKey) -> Hash {
        Hash::domain(
            "cairn key possession v1",
            &[chain_id.as_str().as_bytes(), &account.0 .0, &key.0],
        )
    }

    /// The proof that `secret` belongs to `account` on `chain_id`.
    pub fn prove(chain_id: &ChainId, account: &Address, secret: &SecretKey) -> KeyPossession {
        let key = secret.public_key();
        KeyPossession {
            key,
            signature: secret.sign(&KeyPossession::digest(chain_id, account, &key)),
        }
    }

    /// Checks the proof (and that the key is strong).
    pub fn verify(&self, chain_id: &ChainId, account: &Address) -> Result<(), SignatureError> {
        self.key.verify(
            &KeyPossession::digest(chain_id, account, &self.key),
            &self.signature,
        )
    }
}

/// Why a validator's keys were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// No seat key: such a validator could never vote.
    #[error("at least one seat key is needed")]
    NoSeatKey,
    /// A key is weak (small order or not canonical).
    #[error("key {key:?} is weak: {error}")]
    Weak {
        /// The key.
        key: PublicKey,
        /// Why.
        error: KeyError,
    },
    /// A proof of possession does not verify.
    #[error("key {key:?} does not prove possession: {error}")]
    NoPossession {
        /// The key.
        key: PublicKey,
        /// Why.
        error: SignatureError,
    },
    /// The same key appears twice (as node key and seat key, or as two seats).
    #[error("key {0:?} is listed twice")]
    Duplicate(PublicKey),
}

/// A validator's node key and seat keys, each with its proof of possession.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ValidatorKeys {
    /// The node's identity on the peer-to-peer network.
    pub node: KeyPossession,
    /// One key per seat, in order: seat `i` of the validator signs with `seats[i]`.
    pub seats: BoundedVec<KeyPossession, MAX_SEAT_KEYS>,
}

impl ValidatorKeys {
    /// The keys of a node holding `node` for `account`: seat keys `0..seats` of `generation`,
    /// derived from the node key (at most [`MAX_SEAT_KEYS`]).
    pub fn derive(
        chain_id: &ChainId,
        account: &Address,
        node: &SecretKey,
        generation: u32,
        seats: u32,
    ) -> ValidatorKeys {
        let count = seats.min(MAX_SEAT_KEYS as u32);
        let mut seat_keys: Vec<KeyPossession> = (0..count)
            .map(|i| KeyPossession::prove(chain_id, account, &node.seat_key(generation, i)))
            .collect();
        seat_keys.truncate(MAX_SEAT_KEYS);
        ValidatorKeys {
            node: KeyPossession::prove(chain_id, account, node),
            seats: BoundedVec::from_bounded(seat_keys),
        }
    }

    /// Checks every key: strong, proven for `account` on `chain_id`, none twice, at least one
    /// seat.
    pub fn check(&self, chain_id: &ChainId, account: &Address) -> Result<(), KeysError> {
        if self.seats.is_empty() {
            return Err(KeysError::NoSeatKey);
        }
        let mut seen = BTreeSet::new();
        for proof in std::iter::once(&self.node).chain(self.seats.iter()) {
            proof.key.check_strong().map_err(|error| KeysError::Weak {
                key: proof.key,
                error,
            })?;
            if !seen.insert(proof.key) {
                return Err(KeysError::Duplicate(proof.key));
            }
            proof
                .verify(chain_id, account)
                .map_err(|error| KeysError::NoPossession {
                    key: proof.key,
                    error,
                })?;
        }
        Ok(())
    }

    /// The seat keys alone.
    pub fn seat_keys(&self) -> Vec<PublicKey> {
        self.seats.iter().map(|p| p.key).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> ChainId {
        ChainId::new("cairn-test").expect("short")
    }

    #[test]
    fn derived_keys_check_and_bind_one_account_and_chain() {
        let node = SecretKey::from_label("node");
        let alice = Address(SecretKey::from_label("alice").public_key());
        let bob = Address(SecretKey::from_label("bob").public_key());
        let keys = ValidatorKeys::derive(&chain(), &alice, &node, 0, 3);
        assert_eq!(keys.seats.len(), 3);
        assert_eq!(keys.check(&chain(), &alice), Ok(()));
        // Bob cannot reuse Alice's proofs, nor can another chain.
        assert!(matches!(
            keys.check(&chain(), &bob),
            Err(KeysError::NoPossession { .. })
        ));
        let other = ChainId::new("other").expect("short");
        assert!(keys.check(&other, &alice).is_err());
    }

    #[test]
    fn duplicates_weak_keys_and_no_seats_are_refused() {
        let node = SecretKey::from_label("node");
        let alice = Address(SecretKey::from_label("alice").public_key());
        let mut keys = ValidatorKeys::derive(&chain(), &alice, &node, 0, 2);
        let mut seats = keys.seats.clone().into_inner();
        seats[1] = seats[0].clone();
        keys.seats = BoundedVec::new(seats).expect("two");
        assert!(matches!(
            keys.check(&chain(), &alice),
            Err(KeysError::Duplicate(_))
        ));
        let none = ValidatorKeys {
            node: keys.node.clone(),
            seats: BoundedVec::new(Vec::new()).expect("empty"),
        };
        assert_eq!(none.check(&chain(), &alice), Err(KeysError::NoSeatKey));
        // The identity point, which signs anything under ZIP-215.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = ValidatorKeys {
            node: KeyPossession {
                key: PublicKey(identity),
                signature: Signature([0; 64]),
            },
            seats: keys.seats.clone(),
        };
        assert!(matches!(
            weak.check(&chain(), &alice),
            Err(KeysError::Weak { .. })
        ));
    }
}
