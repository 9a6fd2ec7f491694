//! Fuzzes reward-proof checking: decodes a root `RewardNode`, a `RewardLeaf` and a `RewardProof`
//! from the input and runs `verify_reward_proof`, which must never panic and, when it accepts,
//! must never accept a leaf larger than the root's sum. It also builds a `RewardTree` from the
//! input read as leaves and checks that every leaf's proof verifies against the tree's root and
//! that the root's sum is the exact total.
#![no_main]

use cairn_types::codec::{self, BoundedVec};
use cairn_types::reward_tree::{
    verify_reward_proof, RewardLeaf, RewardNode, RewardProof, RewardTree,
};
use cairn_types::Amount;
use libfuzzer_sys::fuzz_target;

/// Encoded size of a `RewardNode` (hash + u128 sum) and of a `RewardLeaf` (account + u128).
const NODE_BYTES: usize = 32 + 16;
const LEAF_BYTES: usize = 32 + 16;
/// Most leaves taken from one input for the tree check.
const MAX_TREE_LEAVES: usize = 64;

fuzz_target!(init: cairn_fuzz::write_seeds_if_asked("reward_proof"), |data: &[u8]| {
    check_proof(data);
    check_tree(data);
});

/// Layout: root (48 bytes) | leaf (48 bytes) | proof (the rest, exactly).
fn check_proof(data: &[u8]) {
    if data.len() < NODE_BYTES + LEAF_BYTES {
        return;
    }
    let (root_bytes, rest) = data.split_at(NODE_BYTES);
    let (leaf_bytes, proof_bytes) = rest.split_at(LEAF_BYTES);
    let (Ok(root), Ok(leaf), Ok(proof)) = (
        codec::decode::<RewardNode>(root_bytes, NODE_BYTES),
        codec::decode::<RewardLeaf>(leaf_bytes, LEAF_BYTES),
        codec::decode::<RewardProof>(proof_bytes, 64 * 1024),
    ) else {
        return;
    };
    if verify_reward_proof(&root, &leaf, &proof).is_ok() {
        assert!(
            leaf.cumulative <= root.sum,
            "a proof shows a leaf ({:?}) larger than its root's sum ({:?})",
            leaf.cumulative,
            root.sum
        );
    }
}

/// Reads the input as consecutive 48-byte leaves and builds a tree from them.
fn check_tree(data: &[u8]) {
    let leaves: Vec<RewardLeaf> = data
        .chunks_exact(LEAF_BYTES)
        .take(MAX_TREE_LEAVES)
        .filter_map(|chunk| codec::decode::<RewardLeaf>(chunk, LEAF_BYTES).ok())
        .collect();
    let Ok(tree) = RewardTree::build(leaves.clone()) else {
        return;
    };
    let root = tree.root();
    let total = leaves
        .iter()
        .try_fold(Amount::ZERO, |acc, leaf| acc.checked_add(leaf.cumulative))
        .expect("build accepted leaves whose sum overflows");
    assert_eq!(
        root.sum, total,
        "the root's sum is not the total of the leaves"
    );
    for leaf in &leaves {
        let (found, proof) = tree
            .proof(&leaf.account)
            .expect("a leaf of the tree has no proof");
        assert_eq!(found, *leaf);
        assert_eq!(proof.siblings.len(), tree.depth() as usize);
        assert_eq!(
            verify_reward_proof(&root, leaf, &proof),
            Ok(()),
            "a genuine proof is refused"
        );
        // The proof survives its wire form.
        let decoded: RewardProof = codec::decode(&codec::encode(&proof), 64 * 1024)
            .expect("a genuine proof does not decode");
        assert_eq!(decoded, proof);
        // A different amount for the same account must not verify.
        let forged = RewardLeaf {
            account: leaf.account,
            cumulative: Amount(leaf.cumulative.0 ^ 1),
        };
        assert!(
            verify_reward_proof(&root, &forged, &proof).is_err(),
            "a proof verifies for a forged amount"
        );
    }
    // A proof with no siblings only verifies a leaf that is itself the root.
    let empty = RewardProof {
        leaf_index: 0,
        siblings: BoundedVec::new(Vec::new()).expect("an empty list is within any bound"),
    };
    if let Some(leaf) = leaves.first() {
        if verify_reward_proof(&root, leaf, &empty).is_ok() {
            assert_eq!(leaf.node(), root);
        }
    }
}
