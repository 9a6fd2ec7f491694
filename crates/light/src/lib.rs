//! What a light client checks of Cairn's state, trusting only a state root: that a value (or
//! its absence) is what the root commits to. The state is a Jellyfish Merkle tree hashed with
//! BLAKE3 ([`Blake3Hasher`]); a key's place in it is the BLAKE3 hash of the key's canonical
//! bytes ([`key_hash`]).
//!
//! - One key: a [`StateProof`] (jmt's sparse Merkle proof), checked by [`verify_proof`].
//! - Many keys at one height: a [`MultiProof`], every sibling node sent once however many of
//!   the keys' paths share it (what `POST /v1/state/batch` answers), checked by
//!   [`MultiProof::verify`].
//!
//! - A header: its finalization certificate, signed by a quorum of its epoch's seats
//!   ([`certificate::LightClient`]); the seats of the next epoch, by the hand-off
//!   ([`handoff::follow`]) from the set trusted now, back to the genesis or a checkpoint.
//!
//! This crate depends on neither the ledger nor the node, so an auditor's or an oracle's
//! checks do not pull in the state machine:
//!
//! ```
//! use cairn_light::{verify_proof, MultiProof};
//! // A proof that does not decode is refused with a typed error, never a panic.
//! assert!(MultiProof::decode(&[1, 2, 3], 4).is_err());
//! # let _ = verify_proof;
//! ```

pub mod certificate;
pub mod handoff;
mod hasher;
pub mod header;
pub mod multiproof;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod validators;

pub use hasher::Blake3Hasher;
pub use multiproof::{MultiProof, ProofError};

use cairn_types::Hash;
use jmt::{KeyHash, RootHash};

/// A proof of a key's value (or absence) against a state root.
pub type StateProof = jmt::proof::SparseMerkleProof<Blake3Hasher>;

/// The tree's key hash for state key bytes.
pub fn key_hash(key: &[u8]) -> KeyHash {
    // The same as `KeyHash::with::<Blake3Hasher>`, without its per-call debug event.
    KeyHash(*blake3::hash(key).as_bytes())
}

/// Checks a proof of `value` (or of absence, when `None`) for state key bytes `key` against a
/// trusted state `root`. This is all a light client needs.
pub fn verify_proof(
    root: &Hash,
    key: &[u8],
    value: Option<&[u8]>,
    proof: &StateProof,
) -> Result<(), String> {
    proof
        .verify(RootHash(root.0), key_hash(key), value)
        .map_err(|e| e.to_string())
}
