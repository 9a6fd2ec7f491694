//! Proofs of many keys at one height, each sibling node sent once.
//!
//! A single-key proof ([`StateProof`]) carries the key's leaf (if any) and its siblings from the
//! bottom of the tree to the root. Keys read together share the upper part of their paths, so a
//! batch of 1,024 separate proofs would repeat the same upper siblings up to 1,024 times. A
//! [`MultiProof`] keeps each distinct sibling node once, in [`MultiProof::nodes`] order, and each
//! key's path as indices into that table:
//!
//! ```text
//!  nodes: [n0, n1, n2, …]                      every sibling node once (jmt's own encoding)
//!  paths: key 0 → leaf?, [3, 7, 1, 0]          bottom to root
//!         key 1 → leaf?, [4, 7, 1, 0]          shares n7, n1, n0 with key 0
//! ```
//!
//! Checking a multi-proof rebuilds each key's jmt proof and checks it with jmt's own verifier
//! against the one state root, so no hashing rule is written twice. A sibling is a node (null,
//! internal with its two children's hashes, or leaf with its key and value hashes), never a
//! bare hash, exactly as in jmt's proofs: a prover cannot pass a leaf off as a subtree.
//!
//! Bounds, checked before anything else is read: the encoded size (by the caller's limit), at
//! most [`MAX_SIBLINGS`] siblings a path, and every index within the table.

use crate::{verify_proof, StateProof};
use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::Hash;
use std::collections::HashMap;

/// Most keys one batch reads and proves (`POST /v1/state/batch`).
pub const MAX_BATCH_KEYS: usize = 1_024;

/// Most siblings on one key's path (the tree is 256 bits deep).
pub const MAX_SIBLINGS: usize = 256;

/// Why a multi-proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The bytes do not decode as a multi-proof.
    #[error("the multi-proof does not decode: {0}")]
    Malformed(String),
    /// It proves another number of keys than were asked.
    #[error("the multi-proof covers {got} keys, not the {expected} asked")]
    KeyCount {
        /// Keys asked (and values answered).
        expected: usize,
        /// Paths in the proof.
        got: usize,
    },
    /// A path names a sibling the table does not hold, or is longer than the tree is deep.
    #[error("path {index} of the multi-proof is malformed: {reason}")]
    BadPath {
        /// The key's place in the batch.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A key's value (or absence) is not what the root commits to.
    #[error("key {index} of the batch does not check against the state root: {reason}")]
    Invalid {
        /// The key's place in the batch.
        index: usize,
        /// jmt's reason.
        reason: String,
    },
}

/// A sibling node as jmt encodes it in a proof (borsh: a tag, then the node's 64 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
enum Node {
    /// An empty subtree.
    Null,
    /// An internal node: its left and right children's hashes.
    Internal([u8; 64]),
    /// A leaf: its key hash and value hash.
    Leaf([u8; 64]),
}

/// A jmt proof as borsh lays it out: the leaf (key hash and value hash), then the siblings
/// bottom up. The hasher marker encodes to nothing.
#[derive(BorshSerialize, BorshDeserialize)]
struct Layout {
    leaf: Option<[u8; 64]>,
    siblings: Vec<Node>,
}

/// One key's path: its leaf, and its siblings bottom up as indices into the node table.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
struct Path {
    leaf: Option<[u8; 64]>,
    siblings: Vec<u32>,
}

/// Proofs of many keys against one state root (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MultiProof {
    nodes: Vec<Node>,
    paths: Vec<Path>,
}

impl MultiProof {
    /// Gathers single-key proofs (in the batch's key order) into one, each sibling kept once.
    pub fn from_proofs(proofs: &[StateProof]) -> Result<MultiProof, ProofError> {
        let mut table: HashMap<Node, u32> = HashMap::new();
        let mut nodes = Vec::new();
        let mut paths = Vec::with_capacity(proofs.len());
        for proof in proofs {
            let bytes = borsh::to_vec(proof).map_err(|e| ProofError::Malformed(e.to_string()))?;
            let layout: Layout =
                borsh::from_slice(&bytes).map_err(|e| ProofError::Malformed(e.to_string()))?;
            let mut siblings = Vec::with_capacity(layout.siblings.len());
            for node in layout.siblings {
                let next = u32::try_from(nodes.len())
                    .map_err(|_| ProofError::Malformed("too many nodes".into()))?;
                let index = *table.entry(node.clone()).or_insert_with(|| {
                    nodes.push(node);
                    next
                });
                siblings.push(index);
            }
            paths.push(Path {
                leaf: layout.leaf,
                siblings,
            });
        }
        Ok(MultiProof { nodes, paths })
    }

    /// Keys it proves.
    pub fn keys(&self) -> usize {
        self.paths.len()
    }

    /// Distinct sibling nodes it carries.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// The single-key proof of the `index`-th key.
    pub fn proof(&self, index: usize) -> Result<StateProof, ProofError> {
        let path = self.paths.get(index).ok_or(ProofError::BadPath {
            index,
            reason: "no such key",
        })?;
        if path.siblings.len() > MAX_SIBLINGS {
            return Err(ProofError::BadPath {
                index,
                reason: "more siblings than the tree is deep",
            });
        }
        let mut siblings = Vec::with_capacity(path.siblings.len());
        for at in &path.siblings {
            let node = usize::try_from(*at)
                .ok()
                .and_then(|at| self.nodes.get(at))
                .ok_or(ProofError::BadPath {
                    index,
                    reason: "a sibling index is outside the node table",
                })?;
            siblings.push(node.clone());
        }
        let layout = Layout {
            leaf: path.leaf,
            siblings,
        };
        let bytes = borsh::to_vec(&layout).map_err(|e| ProofError::Malformed(e.to_string()))?;
        borsh::from_slice(&bytes).map_err(|e| ProofError::Malformed(e.to_string()))
    }

    /// Checks that each `(key, value)` (value `None`: absent), in the batch's order, is what
    /// `root` commits to.
    pub fn verify(
        &self,
        root: &Hash,
        entries: &[(&[u8], Option<&[u8]>)],
    ) -> Result<(), ProofError> {
        if entries.len() != self.paths.len() {
            return Err(ProofError::KeyCount {
                expected: entries.len(),
                got: self.paths.len(),
            });
        }
        for (index, (key, value)) in entries.iter().enumerate() {
            let proof = self.proof(index)?;
            verify_proof(root, key, *value, &proof)
                .map_err(|reason| ProofError::Invalid { index, reason })?;
        }
        Ok(())
    }

    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        cairn_types::codec::encode(self)
    }

    /// Decodes at most `max_bytes` of input; every index is checked when a path is used.
    pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<MultiProof, ProofError> {
        cairn_types::codec::decode(bytes, max_bytes)
            .map_err(|e| ProofError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Blake3Hasher;
    use jmt::mock::MockTreeStore;
    use jmt::{JellyfishMerkleTree, KeyHash};
    use proptest::prelude::*;

    /// A tree of `n` keys `key-i` → `value-i` and the proofs of `asked`, with its root.
    fn proofs_of(n: u32, asked: &[Vec<u8>]) -> (Hash, Vec<StateProof>) {
        let store = MockTreeStore::default();
        let tree = JellyfishMerkleTree::<_, Blake3Hasher>::new(&store);
        let values: Vec<(KeyHash, Option<Vec<u8>>)> = (0..n)
            .map(|i| {
                (
                    crate::key_hash(format!("key-{i}").as_bytes()),
                    Some(format!("value-{i}").into_bytes()),
                )
            })
            .collect();
        let (root, batch) = tree.put_value_set(values, 0).unwrap();
        store.write_tree_update_batch(batch).unwrap();
        let proofs = asked
            .iter()
            .map(|key| tree.get_with_proof(crate::key_hash(key), 0).unwrap().1)
            .collect();
        (Hash(root.0), proofs)
    }

    fn key(i: u32) -> Vec<u8> {
        format!("key-{i}").into_bytes()
    }

    fn value(i: u32) -> Vec<u8> {
        format!("value-{i}").into_bytes()
    }

    #[test]
    fn a_multi_proof_gives_back_each_proof_and_checks() {
        let asked: Vec<Vec<u8>> = (0..64).map(|i| key(i * 3)).chain([key(5_000)]).collect();
        let (root, proofs) = proofs_of(500, &asked);
        let multi = MultiProof::from_proofs(&proofs).unwrap();
        for (i, proof) in proofs.iter().enumerate() {
            assert_eq!(&multi.proof(i).unwrap(), proof);
        }
        let values: Vec<Option<Vec<u8>>> =
            (0..64).map(|i| Some(value(i * 3))).chain([None]).collect();
        let entries: Vec<(&[u8], Option<&[u8]>)> = asked
            .iter()
            .zip(&values)
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
            .collect();
        let decoded = MultiProof::decode(&multi.encode(), 1 << 20).unwrap();
        decoded.verify(&root, &entries).unwrap();
        // Shared upper siblings are sent once: far fewer nodes than siblings on all paths.
        let total: usize = multi.paths.iter().map(|p| p.siblings.len()).sum();
        assert!(
            multi.nodes() < total,
            "{} nodes for {total} siblings",
            multi.nodes()
        );
    }

    #[test]
    fn a_wrong_value_an_absent_claim_or_another_root_is_refused() {
        let asked = vec![key(1), key(2)];
        let (root, proofs) = proofs_of(100, &asked);
        let multi = MultiProof::from_proofs(&proofs).unwrap();
        let (v1, v2) = (value(1), value(2));
        let good: Vec<(&[u8], Option<&[u8]>)> =
            vec![(&asked[0], Some(&v1)), (&asked[1], Some(&v2))];
        multi.verify(&root, &good).unwrap();
        let lie: Vec<(&[u8], Option<&[u8]>)> = vec![(&asked[0], Some(&v1)), (&asked[1], Some(&v1))];
        assert!(matches!(
            multi.verify(&root, &lie),
            Err(ProofError::Invalid { index: 1, .. })
        ));
        let hidden: Vec<(&[u8], Option<&[u8]>)> = vec![(&asked[0], None), (&asked[1], Some(&v2))];
        assert!(matches!(
            multi.verify(&root, &hidden),
            Err(ProofError::Invalid { index: 0, .. })
        ));
        assert!(multi.verify(&Hash([7; 32]), &good).is_err());
        assert!(matches!(
            multi.verify(&root, &good[..1]),
            Err(ProofError::KeyCount {
                expected: 1,
                got: 2
            })
        ));
    }

    #[test]
    fn an_index_outside_the_table_is_refused_not_a_panic() {
        let asked = vec![key(1)];
        let (root, proofs) = proofs_of(10, &asked);
        let mut multi = MultiProof::from_proofs(&proofs).unwrap();
        multi.paths[0].siblings.push(u32::MAX);
        let v = value(1);
        assert!(matches!(
            multi.verify(&root, &[(&asked[0], Some(&v))]),
            Err(ProofError::BadPath { index: 0, .. })
        ));
        multi.paths[0].siblings = vec![0; MAX_SIBLINGS + 1];
        assert!(matches!(multi.proof(0), Err(ProofError::BadPath { .. })));
    }

    proptest! {
        /// Any bytes decode to a proof whose checks fail cleanly, or are refused.
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(multi) = MultiProof::decode(&bytes, 4096) {
                for i in 0..multi.keys().min(8) {
                    let _ = multi.proof(i);
                }
                let _ = multi.verify(&Hash([0; 32]), &[]);
            }
        }
    }
}
