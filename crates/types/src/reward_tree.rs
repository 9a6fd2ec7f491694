//! The Merkle sum tree of cumulative rewards that owners claim against.
//!
//! Once per epoch and sub-network, the oracle committee computes every account's *cumulative*
//! reward (everything it has ever earned there) and publishes the root of a tree over those
//! amounts. The ledger accepts a root only if its `sum` fits the emission; an owner then claims
//! with a [`RewardProof`], and is paid `cumulative - already claimed`. Because the amounts are
//! cumulative, a missed claim is never lost, and a replayed proof pays nothing.
//!
//! # Why a *sum* tree
//!
//! In a plain Merkle tree the root commits to the leaves but says nothing about how much they add
//! up to: a quorum of oracles could declare a total that matches emission and still hide leaves
//! that add up to far more, and the ledger would only notice once the claims had drained it. Here
//! every node carries the sum of the amounts beneath it, and a node's hash covers both children's
//! hashes *and* their sums. The root's `sum` is therefore the exact, checked total of all leaves:
//! a root that declares a total cannot have leaves adding up to more, and since sums are unsigned
//! and every addition is checked, no single proof can show a leaf larger than the root's sum.
//! Checking the root's `sum` against emission is checking the whole distribution.
//!
//! # Shape
//!
//! - A leaf node is `Hash::domain("cairn reward leaf v1", [account, cumulative as u128 LE])` with
//!   sum `cumulative`.
//! - An interior node is `Hash::domain("cairn reward node v1", [l.hash, l.sum LE, r.hash, r.sum
//!   LE])` with sum `l.sum + r.sum` (checked).
//! - Leaves are sorted by account bytes; an account appears at most once. The leaf count is
//!   padded to the next power of two with empty nodes (`Hash::domain("cairn reward empty v1",
//!   [])`, sum 0). Padding is never materialised: the hash of an all-empty subtree of each height
//!   is computed once, so building costs time proportional to the real leaves only.
//! - No leaf: the root is the empty node. One leaf: the root is that leaf's node. Both have depth
//!   0 and their proofs (if any) have no siblings.
//!
//! Three domains keep the node kinds apart, so a leaf can never be passed off as an interior node
//! (or the reverse) to forge a proof. A proof lists the siblings from the leaf level up; bit `k`
//! of its `leaf_index` says whether the path is the right (1) or left (0) child at level `k`.

use crate::address::Address;
use crate::amount::Amount;
use crate::codec::BoundedVec;
use crate::hash::Hash;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::sync::OnceLock;

/// The deepest reward tree: 2^40 (about a trillion) leaves. Proofs carry at most this many
/// siblings.
pub const MAX_REWARD_TREE_DEPTH: usize = 40;

/// The largest number of leaves a reward tree may hold.
const MAX_REWARD_TREE_LEAVES: u64 = 1 << MAX_REWARD_TREE_DEPTH;

const LEAF_DOMAIN: &str = "cairn reward leaf v1";
const NODE_DOMAIN: &str = "cairn reward node v1";
const EMPTY_DOMAIN: &str = "cairn reward empty v1";

/// One account's cumulative reward: a leaf of the tree.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct RewardLeaf {
    /// The account paid.
    pub account: Address,
    /// Everything the account has earned so far (not just this epoch).
    pub cumulative: Amount,
}

/// A node of the tree: a digest and the total of the rewards beneath it. The root is one.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct RewardNode {
    /// Digest of the subtree, covering every hash and sum beneath it.
    pub hash: Hash,
    /// Sum of the cumulative rewards of the leaves beneath this node.
    pub sum: Amount,
}

/// Proof that a leaf is in the tree under a given root.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RewardProof {
    /// Position of the leaf among the (sorted, padded) leaves; bit `k` is 1 when the path is the
    /// right child at level `k`.
    pub leaf_index: u64,
    /// The sibling at each level, from the leaf level up to just below the root.
    pub siblings: BoundedVec<RewardNode, MAX_REWARD_TREE_DEPTH>,
}

/// Why a reward tree could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewardTreeError {
    /// The same account appears in two leaves.
    #[error("account {0} appears in more than one leaf")]
    DuplicateAccount(Address),
    /// The rewards add up to more than the largest representable amount.
    #[error("the rewards add up to more than the largest representable amount")]
    SumOverflow,
    /// More than 2^40 leaves.
    #[error("a reward tree holds at most 2^40 leaves")]
    TooManyLeaves,
}

/// Why a reward proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewardProofError {
    /// The leaf index does not fit in a tree as deep as the proof (`leaf_index >= 2^depth`).
    #[error("leaf index {leaf_index} is out of range for a tree of depth {depth}")]
    IndexOutOfRange {
        /// The index claimed by the proof.
        leaf_index: u64,
        /// The depth of the tree, i.e. the number of siblings in the proof.
        depth: usize,
    },
    /// Two sums on the path add up to more than the largest representable amount.
    #[error("the sums along the proof overflow")]
    SumOverflow,
    /// The recomputed root differs from the committed one.
    #[error("the proof does not lead to the committed root")]
    RootMismatch,
}

impl RewardLeaf {
    /// This leaf's node in the tree.
    pub fn node(&self) -> RewardNode {
        RewardNode {
            hash: Hash::domain(
                LEAF_DOMAIN,
                &[&self.account.0 .0, &self.cumulative.0.to_le_bytes()],
            ),
            sum: self.cumulative,
        }
    }
}

impl RewardNode {
    /// The empty node that pads the leaf level (and the root of a tree without leaves).
    pub fn empty() -> RewardNode {
        empty_subtrees()[0]
    }

    /// The parent of `left` and `right`, or `None` if their sums overflow.
    pub fn parent(left: &RewardNode, right: &RewardNode) -> Option<RewardNode> {
        let sum = left.sum.checked_add(right.sum)?;
        Some(RewardNode {
            hash: parent_hash(left, right),
            sum,
        })
    }
}

fn parent_hash(left: &RewardNode, right: &RewardNode) -> Hash {
    Hash::domain(
        NODE_DOMAIN,
        &[
            &left.hash.0,
            &left.sum.0.to_le_bytes(),
            &right.hash.0,
            &right.sum.0.to_le_bytes(),
        ],
    )
}

/// `[k]` is the root of an all-empty subtree of height `k` (sum 0), for `k` up to the max depth.
fn empty_subtrees() -> &'static [RewardNode; MAX_REWARD_TREE_DEPTH + 1] {
    static EMPTY: OnceLock<[RewardNode; MAX_REWARD_TREE_DEPTH + 1]> = OnceLock::new();
    EMPTY.get_or_init(|| {
        let empty = RewardNode {
            hash: Hash::domain(EMPTY_DOMAIN, &[]),
            sum: Amount::ZERO,
        };
        let mut out = [empty; MAX_REWARD_TREE_DEPTH + 1];
        let mut below = empty;
        for slot in out.iter_mut().skip(1) {
            below = RewardNode {
                hash: parent_hash(&below, &below),
                sum: Amount::ZERO,
            };
            *slot = below;
        }
        out
    })
}

/// The depth of a tree with `count` leaves: the smallest `d` with `count <= 2^d`.
fn depth_for(count: usize) -> Result<u32, RewardTreeError> {
    let count = u64::try_from(count).map_err(|_| RewardTreeError::TooManyLeaves)?;
    if count > MAX_REWARD_TREE_LEAVES {
        return Err(RewardTreeError::TooManyLeaves);
    }
    Ok(match count {
        0 | 1 => 0,
        n => u64::BITS - (n - 1).leading_zeros(),
    })
}

/// Hashes `items` (the real nodes of one level) pairwise into the next level up; a last item
/// without a partner is paired with `empty`, the root of an all-empty subtree of that height.
fn next_level<T>(
    items: &[T],
    node: impl Fn(&T) -> RewardNode,
    empty: &RewardNode,
) -> Result<Vec<RewardNode>, RewardTreeError> {
    let mut out = Vec::with_capacity(items.len().div_ceil(2));
    for pair in items.chunks(2) {
        let (left, right) = match pair {
            [left, right] => (node(left), node(right)),
            [left] => (node(left), *empty),
            // `chunks(2)` yields only slices of one or two items.
            _ => continue,
        };
        out.push(RewardNode::parent(&left, &right).ok_or(RewardTreeError::SumOverflow)?);
    }
    Ok(out)
}

/// A built reward tree: the sorted leaves and every interior level, ready to serve proofs.
///
/// The encoded form (borsh and serde alike) is the list of leaves alone; decoding rebuilds the
/// tree. The borsh decoder additionally requires the leaves in strictly ascending account order,
/// so that a tree has exactly one canonical encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewardTree {
    /// Leaves sorted by account, unique.
    leaves: Vec<RewardLeaf>,
    /// `levels[k]` holds the real nodes of level `k + 1` (level 0 being the leaves, whose nodes
    /// are recomputed on demand rather than stored). Padding is never stored.
    levels: Vec<Vec<RewardNode>>,
    root: RewardNode,
    depth: u32,
}

impl RewardTree {
    /// Builds the tree over `leaves`, in any order: they are sorted by account here.
    ///
    /// Refuses an account that appears twice, a total that overflows and more than 2^40 leaves.
    /// Costs one hash per leaf plus about one per leaf for the interior, and no padding.
    pub fn build(mut leaves: Vec<RewardLeaf>) -> Result<RewardTree, RewardTreeError> {
        let depth = depth_for(leaves.len())?;
        leaves.sort_unstable_by_key(|leaf| leaf.account);
        if let Some(pair) = leaves.windows(2).find(|w| w[0].account == w[1].account) {
            return Err(RewardTreeError::DuplicateAccount(pair[0].account));
        }

        let empty = empty_subtrees();
        let mut root = leaves
            .first()
            .map_or_else(RewardNode::empty, RewardLeaf::node);
        let mut levels: Vec<Vec<RewardNode>> = Vec::with_capacity(depth as usize);
        for empty_below in empty.iter().take(depth as usize) {
            let level = match levels.last() {
                None => next_level(&leaves, RewardLeaf::node, empty_below)?,
                Some(below) => next_level(below, |n| *n, empty_below)?,
            };
            if let Some(first) = level.first() {
                root = *first;
            }
            levels.push(level);
        }
        Ok(RewardTree {
            leaves,
            levels,
            root,
            depth,
        })
    }

    /// The root: its hash is what the committee signs, its sum the total it distributes.
    pub fn root(&self) -> RewardNode {
        self.root
    }

    /// Number of (real) leaves.
    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    /// True when the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// Number of levels below the root: every proof from this tree has this many siblings.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// The leaves, sorted by account.
    pub fn leaves(&self) -> &[RewardLeaf] {
        &self.leaves
    }

    /// The leaf of `account` and the proof that it is under [`RewardTree::root`], or `None` if
    /// the account has no leaf.
    pub fn proof(&self, account: &Address) -> Option<(RewardLeaf, RewardProof)> {
        let index = self
            .leaves
            .binary_search_by(|leaf| leaf.account.cmp(account))
            .ok()?;
        let leaf = *self.leaves.get(index)?;
        let empty = empty_subtrees();
        let mut siblings = Vec::with_capacity(self.depth as usize);
        for (height, empty_here) in empty.iter().enumerate().take(self.depth as usize) {
            let position = (index >> height) ^ 1;
            let real = match height {
                0 => self.leaves.get(position).map(RewardLeaf::node),
                _ => self
                    .levels
                    .get(height - 1)
                    .and_then(|level| level.get(position))
                    .copied(),
            };
            siblings.push(real.unwrap_or(*empty_here));
        }
        let proof = RewardProof {
            leaf_index: u64::try_from(index).ok()?,
            // Cannot fail: the depth is at most MAX_REWARD_TREE_DEPTH, checked when building.
            siblings: BoundedVec::new(siblings).ok()?,
        };
        Some((leaf, proof))
    }
}

/// Checks that `leaf` is in the tree whose root is `root`, as `proof` claims.
///
/// Recomputes the path from the leaf to the root with checked sums. Never panics, whatever the
/// input. On success the leaf's `cumulative` is at most `root.sum`.
pub fn verify_reward_proof(
    root: &RewardNode,
    leaf: &RewardLeaf,
    proof: &RewardProof,
) -> Result<(), RewardProofError> {
    let depth = proof.siblings.len();
    // `leaf_index < 2^depth`; a depth of 64 or more admits every u64 index.
    let in_range = u32::try_from(depth)
        .ok()
        .and_then(|d| proof.leaf_index.checked_shr(d))
        .is_none_or(|rest| rest == 0);
    if !in_range {
        return Err(RewardProofError::IndexOutOfRange {
            leaf_index: proof.leaf_index,
            depth,
        });
    }
    let mut current = leaf.node();
    let mut path = proof.leaf_index;
    for sibling in proof.siblings.iter() {
        let (left, right) = if path & 1 == 1 {
            (sibling, &current)
        } else {
            (&current, sibling)
        };
        current = RewardNode::parent(left, right).ok_or(RewardProofError::SumOverflow)?;
        path >>= 1;
    }
    if current == *root {
        Ok(())
    } else {
        Err(RewardProofError::RootMismatch)
    }
}

impl BorshSerialize for RewardTree {
    fn serialize<W: Write>(&self, writer: &mut W) -> std::io::Result<()> {
        BorshSerialize::serialize(&self.leaves, writer)
    }
}

impl BorshDeserialize for RewardTree {
    fn deserialize_reader<R: Read>(reader: &mut R) -> std::io::Result<Self> {
        let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
        let leaves = Vec::<RewardLeaf>::deserialize_reader(reader)?;
        if leaves.windows(2).any(|w| w[0].account >= w[1].account) {
            return Err(invalid(
                "reward leaves are not in strictly ascending account order".to_string(),
            ));
        }
        RewardTree::build(leaves).map_err(|e| invalid(e.to_string()))
    }
}

impl Serialize for RewardTree {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Serialize::serialize(&self.leaves, serializer)
    }
}

impl<'de> Deserialize<'de> for RewardTree {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let leaves = <Vec<RewardLeaf> as Deserialize>::deserialize(deserializer)?;
        RewardTree::build(leaves).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode};
    use crate::keys::PublicKey;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn account(i: u8) -> Address {
        Address(PublicKey([i; 32]))
    }

    fn leaf(i: u8, amount: u128) -> RewardLeaf {
        RewardLeaf {
            account: account(i),
            cumulative: Amount(amount),
        }
    }

    /// The textbook construction: sort, pad to a power of two with empty nodes, fold pairwise.
    fn naive_root(leaves: &[RewardLeaf]) -> Option<RewardNode> {
        let mut sorted = leaves.to_vec();
        sorted.sort_by_key(|l| l.account);
        let mut level: Vec<RewardNode> = sorted.iter().map(RewardLeaf::node).collect();
        if level.is_empty() {
            return Some(RewardNode::empty());
        }
        level.resize(level.len().next_power_of_two(), RewardNode::empty());
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|p| RewardNode::parent(&p[0], &p[1]))
                .collect::<Option<Vec<_>>>()?;
        }
        Some(level[0])
    }

    fn assert_all_proofs_verify(tree: &RewardTree) {
        let root = tree.root();
        for l in tree.leaves() {
            let (got, proof) = tree.proof(&l.account).unwrap();
            assert_eq!(got, *l);
            assert_eq!(proof.siblings.len(), tree.depth() as usize);
            assert_eq!(verify_reward_proof(&root, &got, &proof), Ok(()));
        }
    }

    fn small(n: u8) -> Vec<RewardLeaf> {
        (1..=n).map(|i| leaf(i, u128::from(i) * 100)).collect()
    }

    #[test]
    fn known_small_trees() {
        for (n, depth) in [(0u8, 0u32), (1, 0), (2, 1), (3, 2), (5, 3)] {
            let leaves = small(n);
            let tree = RewardTree::build(leaves.clone()).unwrap();
            assert_eq!(tree.len(), usize::from(n));
            assert_eq!(tree.is_empty(), n == 0);
            assert_eq!(tree.depth(), depth, "n = {n}");
            assert_eq!(Some(tree.root()), naive_root(&leaves), "n = {n}");
            let total: u128 = leaves.iter().map(|l| l.cumulative.0).sum();
            assert_eq!(tree.root().sum, Amount(total));
            assert_all_proofs_verify(&tree);
            assert!(tree.proof(&account(200)).is_none());
        }
    }

    #[test]
    fn small_tree_shapes_by_hand() {
        let empty = RewardNode::empty();
        assert_eq!(empty.hash, Hash::domain("cairn reward empty v1", &[]));
        assert_eq!(empty.sum, Amount::ZERO);

        let tree = RewardTree::build(vec![]).unwrap();
        assert_eq!(tree.root(), empty);

        let l = small(5);
        let n: Vec<RewardNode> = l.iter().map(RewardLeaf::node).collect();
        assert_eq!(
            n[0].hash,
            Hash::domain(
                "cairn reward leaf v1",
                &[&[1u8; 32], &100u128.to_le_bytes()]
            )
        );
        let p = |a: &RewardNode, b: &RewardNode| RewardNode::parent(a, b).unwrap();

        assert_eq!(RewardTree::build(l[..1].to_vec()).unwrap().root(), n[0]);
        assert_eq!(
            RewardTree::build(l[..2].to_vec()).unwrap().root(),
            p(&n[0], &n[1])
        );
        assert_eq!(
            RewardTree::build(l[..3].to_vec()).unwrap().root(),
            p(&p(&n[0], &n[1]), &p(&n[2], &empty))
        );
        let e1 = p(&empty, &empty);
        assert_eq!(
            RewardTree::build(l.clone()).unwrap().root(),
            p(
                &p(&p(&n[0], &n[1]), &p(&n[2], &n[3])),
                &p(&p(&n[4], &empty), &e1)
            )
        );
        // The proof of the fifth leaf (index 4): its empty partner, the empty subtree of height
        // 1, then the whole left half.
        let tree = RewardTree::build(l).unwrap();
        let (_, proof) = tree.proof(&account(5)).unwrap();
        assert_eq!(proof.leaf_index, 4);
        assert_eq!(
            proof.siblings.as_slice(),
            &[empty, e1, p(&p(&n[0], &n[1]), &p(&n[2], &n[3]))]
        );
    }

    #[test]
    fn order_of_input_does_not_matter() {
        let mut leaves = small(7);
        let sorted = RewardTree::build(leaves.clone()).unwrap();
        leaves.reverse();
        leaves.swap(1, 4);
        assert_eq!(RewardTree::build(leaves).unwrap(), sorted);
    }

    /// Pins the encoding: if this changes, every published root and proof changes with it.
    #[test]
    fn test_vector_three_leaves() {
        let tree = RewardTree::build(vec![leaf(3, 300), leaf(1, 100), leaf(2, 200)]).unwrap();
        assert_eq!(tree.root().sum, Amount(600));
        assert_eq!(
            tree.root().hash.to_string(),
            "5f410aa1a5d5bf998019c5c94cb0f8fc2da2150992a50ae1477853da98494f91"
        );
    }

    fn three() -> (RewardTree, RewardLeaf, RewardProof) {
        let tree = RewardTree::build(small(3)).unwrap();
        let (leaf, proof) = tree.proof(&account(2)).unwrap();
        (tree, leaf, proof)
    }

    #[test]
    fn tampered_amount_is_refused() {
        let (tree, mut leaf, proof) = three();
        leaf.cumulative = Amount(leaf.cumulative.0 + 1);
        assert_eq!(
            verify_reward_proof(&tree.root(), &leaf, &proof),
            Err(RewardProofError::RootMismatch)
        );
    }

    #[test]
    fn tampered_account_is_refused() {
        let (tree, mut leaf, proof) = three();
        leaf.account = account(9);
        assert_eq!(
            verify_reward_proof(&tree.root(), &leaf, &proof),
            Err(RewardProofError::RootMismatch)
        );
        // Another real leaf with this leaf's proof fails too.
        let other = tree.leaves()[0];
        assert_eq!(
            verify_reward_proof(&tree.root(), &other, &proof),
            Err(RewardProofError::RootMismatch)
        );
    }

    #[test]
    fn tampered_sibling_is_refused() {
        let (tree, leaf, proof) = three();
        for i in 0..proof.siblings.len() {
            let mut hash_changed = proof.siblings.clone().into_inner();
            hash_changed[i].hash.0[0] ^= 1;
            let mut sum_changed = proof.siblings.clone().into_inner();
            sum_changed[i].sum = Amount(sum_changed[i].sum.0 + 1);
            for siblings in [hash_changed, sum_changed] {
                let bad = RewardProof {
                    leaf_index: proof.leaf_index,
                    siblings: BoundedVec::new(siblings).unwrap(),
                };
                assert_eq!(
                    verify_reward_proof(&tree.root(), &leaf, &bad),
                    Err(RewardProofError::RootMismatch)
                );
            }
        }
        // A sibling too many or too few.
        let mut longer = proof.siblings.clone().into_inner();
        longer.push(RewardNode::empty());
        let mut shorter = proof.siblings.clone().into_inner();
        shorter.pop();
        for siblings in [longer, shorter] {
            let bad = RewardProof {
                leaf_index: proof.leaf_index,
                siblings: BoundedVec::new(siblings).unwrap(),
            };
            assert_eq!(
                verify_reward_proof(&tree.root(), &leaf, &bad),
                Err(RewardProofError::RootMismatch)
            );
        }
    }

    #[test]
    fn tampered_index_is_refused() {
        let (tree, leaf, proof) = three();
        for index in [0u64, 2, 3] {
            let bad = RewardProof {
                leaf_index: index,
                ..proof.clone()
            };
            assert_eq!(
                verify_reward_proof(&tree.root(), &leaf, &bad),
                Err(RewardProofError::RootMismatch)
            );
        }
        for index in [4u64, 5, u64::MAX] {
            let bad = RewardProof {
                leaf_index: index,
                ..proof.clone()
            };
            assert_eq!(
                verify_reward_proof(&tree.root(), &leaf, &bad),
                Err(RewardProofError::IndexOutOfRange {
                    leaf_index: index,
                    depth: 2
                })
            );
        }
        // Depth 0: only index 0 exists.
        let single = RewardTree::build(small(1)).unwrap();
        let (l, p) = single.proof(&account(1)).unwrap();
        assert_eq!(verify_reward_proof(&single.root(), &l, &p), Ok(()));
        let bad = RewardProof { leaf_index: 1, ..p };
        assert_eq!(
            verify_reward_proof(&single.root(), &l, &bad),
            Err(RewardProofError::IndexOutOfRange {
                leaf_index: 1,
                depth: 0
            })
        );
    }

    #[test]
    fn wrong_root_is_refused() {
        let (tree, leaf, proof) = three();
        let other = RewardTree::build(small(4)).unwrap();
        assert_eq!(
            verify_reward_proof(&other.root(), &leaf, &proof),
            Err(RewardProofError::RootMismatch)
        );
        // Same hash, different declared total.
        let inflated = RewardNode {
            sum: Amount(tree.root().sum.0 + 1),
            ..tree.root()
        };
        assert_eq!(
            verify_reward_proof(&inflated, &leaf, &proof),
            Err(RewardProofError::RootMismatch)
        );
        assert_eq!(
            verify_reward_proof(&RewardNode::empty(), &leaf, &proof),
            Err(RewardProofError::RootMismatch)
        );
    }

    #[test]
    fn proof_sum_overflow_is_refused() {
        let (tree, leaf, proof) = three();
        let mut siblings = proof.siblings.into_inner();
        siblings[0].sum = Amount(u128::MAX);
        let bad = RewardProof {
            leaf_index: proof.leaf_index,
            siblings: BoundedVec::new(siblings).unwrap(),
        };
        assert_eq!(
            verify_reward_proof(&tree.root(), &leaf, &bad),
            Err(RewardProofError::SumOverflow)
        );
    }

    #[test]
    fn duplicate_account_is_refused() {
        let leaves = vec![leaf(1, 5), leaf(2, 6), leaf(1, 7)];
        assert_eq!(
            RewardTree::build(leaves),
            Err(RewardTreeError::DuplicateAccount(account(1)))
        );
        // Even with identical amounts.
        assert_eq!(
            RewardTree::build(vec![leaf(4, 1), leaf(4, 1)]),
            Err(RewardTreeError::DuplicateAccount(account(4)))
        );
    }

    #[test]
    fn overflow_is_refused() {
        assert_eq!(
            RewardTree::build(vec![leaf(1, u128::MAX), leaf(2, 1)]),
            Err(RewardTreeError::SumOverflow)
        );
        // Overflow high up in the tree, not in the first pair.
        let leaves = vec![
            leaf(1, u128::MAX / 2),
            leaf(2, 1),
            leaf(3, u128::MAX / 2),
            leaf(4, 2),
        ];
        assert_eq!(RewardTree::build(leaves), Err(RewardTreeError::SumOverflow));
        // Exactly the maximum is fine.
        let tree = RewardTree::build(vec![leaf(1, u128::MAX - 1), leaf(2, 1)]).unwrap();
        assert_eq!(tree.root().sum, Amount(u128::MAX));
        assert_all_proofs_verify(&tree);
    }

    #[test]
    fn depth_limit() {
        assert_eq!(depth_for(0), Ok(0));
        assert_eq!(depth_for(1), Ok(0));
        assert_eq!(depth_for(2), Ok(1));
        assert_eq!(depth_for(3), Ok(2));
        assert_eq!(depth_for(4), Ok(2));
        assert_eq!(depth_for(5), Ok(3));
        assert_eq!(depth_for(1_000_000), Ok(20));
        #[cfg(target_pointer_width = "64")]
        {
            assert_eq!(depth_for(1 << 40), Ok(40));
            assert_eq!(
                depth_for((1 << 40) + 1),
                Err(RewardTreeError::TooManyLeaves)
            );
            assert_eq!(depth_for(usize::MAX), Err(RewardTreeError::TooManyLeaves));
        }
    }

    #[test]
    fn tree_codec_round_trip_and_canonical_order() {
        let tree = RewardTree::build(small(5)).unwrap();
        let bytes = encode(&tree);
        assert_eq!(decode::<RewardTree>(&bytes, 1 << 16), Ok(tree.clone()));
        let json = serde_json::to_string(&tree).unwrap();
        assert_eq!(serde_json::from_str::<RewardTree>(&json).unwrap(), tree);
        // Unsorted or duplicated leaves are not a canonical encoding.
        let mut unsorted = small(3);
        unsorted.swap(0, 1);
        assert!(decode::<RewardTree>(&encode(&unsorted), 1 << 16).is_err());
        assert!(decode::<RewardTree>(&encode(&vec![leaf(1, 1), leaf(1, 1)]), 1 << 16).is_err());
    }

    #[test]
    fn proof_json_round_trip() {
        let (_, _, proof) = three();
        let json = serde_json::to_string(&proof).unwrap();
        assert_eq!(serde_json::from_str::<RewardProof>(&json).unwrap(), proof);
    }

    fn arb_leaves(max: usize) -> impl Strategy<Value = Vec<RewardLeaf>> {
        proptest::collection::btree_map(any::<[u8; 32]>(), 0..=u128::from(u64::MAX), 0..max)
            .prop_map(|m: BTreeMap<[u8; 32], u128>| {
                m.into_iter()
                    .map(|(a, c)| RewardLeaf {
                        account: Address(PublicKey(a)),
                        cumulative: Amount(c),
                    })
                    .collect()
            })
            .prop_shuffle()
    }

    fn arb_node() -> impl Strategy<Value = RewardNode> {
        (any::<[u8; 32]>(), any::<u128>()).prop_map(|(h, s)| RewardNode {
            hash: Hash(h),
            sum: Amount(s),
        })
    }

    proptest! {
        #[test]
        fn every_proof_verifies_and_sums_add_up(leaves in arb_leaves(70)) {
            let tree = RewardTree::build(leaves.clone()).unwrap();
            let total: u128 = leaves.iter().map(|l| l.cumulative.0).sum();
            prop_assert_eq!(tree.root().sum, Amount(total));
            prop_assert_eq!(Some(tree.root()), naive_root(&leaves));
            prop_assert_eq!(tree.len(), leaves.len());
            for l in &leaves {
                let (got, proof) = tree.proof(&l.account).unwrap();
                prop_assert_eq!(got, *l);
                prop_assert!(got.cumulative <= tree.root().sum);
                prop_assert_eq!(verify_reward_proof(&tree.root(), &got, &proof), Ok(()));
                let decoded: RewardProof = decode(&encode(&proof), 1 << 16).unwrap();
                prop_assert_eq!(&decoded, &proof);
                prop_assert_eq!(verify_reward_proof(&tree.root(), &got, &decoded), Ok(()));
            }
        }

        #[test]
        fn verify_never_panics(root in arb_node(),
                               account in any::<[u8; 32]>(),
                               cumulative in any::<u128>(),
                               leaf_index in any::<u64>(),
                               siblings in proptest::collection::vec(arb_node(), 0..=MAX_REWARD_TREE_DEPTH)) {
            let leaf = RewardLeaf { account: Address(PublicKey(account)), cumulative: Amount(cumulative) };
            let proof = RewardProof { leaf_index, siblings: BoundedVec::new(siblings).unwrap() };
            let _ = verify_reward_proof(&root, &leaf, &proof);
            // Small indices, which do reach the hashing path.
            let proof = RewardProof { leaf_index: leaf_index % 4, ..proof };
            let _ = verify_reward_proof(&root, &leaf, &proof);
        }

        #[test]
        fn arbitrary_proof_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(proof) = decode::<RewardProof>(&bytes, 1 << 16) {
                let _ = verify_reward_proof(&RewardNode::empty(), &leaf(1, 1), &proof);
            }
            let _ = decode::<RewardTree>(&bytes, 1 << 16);
        }
    }
}
