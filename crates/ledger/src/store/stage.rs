//! Computing a block's tree update into a staging layer, without touching committed state.
//!
//! Each block is two tree versions: `2h` applies its deletions through jmt's general path
//! (rare), `2h + 1` its insertions through jmt's batch insert, which hashes each node once where
//! inserting key by key rehashes the whole path for every key (3x faster on blocks of 1,000
//! transfers).

use super::layers::{root_key, TreeLayers};
use super::live::{Live, NodeList, Pending};
use super::record::Record;
use super::{key_hash, tree_version, StateTree};
use crate::error::StoreError;
use crate::state::overlay::Changes;
use cairn_types::Hash;
use jmt::storage::{Node, NodeKey, TreeUpdateBatch};
use jmt::{KeyHash, Version};
use redb::ReadableTable;
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::sync::Arc;

/// A block's staged tree update.
pub(super) struct Staged {
    /// The new state root.
    pub(super) root: Hash,
    /// New nodes, records and the root, ready to join the in-memory commits.
    pub(super) writes: Pending,
    /// Nodes of the previous tree this block replaced.
    pub(super) stale: Vec<NodeKey>,
    /// Upper nodes of the previous tree read from disk, for the node cache.
    pub(super) misses: NodeList,
}

fn tree_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Tree(e.to_string())
}

/// Stages block `height`'s `changes` on top of the latest committed tree.
pub(super) fn stage<T: ReadableTable<&'static [u8], &'static [u8]>>(
    live: &Live,
    nodes: &T,
    values: &T,
    height: u64,
    changes: &Changes,
) -> Result<Staged, StoreError> {
    let mut keys: FxHashMap<KeyHash, &[u8]> = FxHashMap::default();
    let mut deletions = Vec::new();
    let mut insertions = Vec::with_capacity(changes.len());
    for (key, value) in changes {
        let hash = key_hash(key);
        keys.insert(hash, key);
        match value {
            Some(v) => insertions.push((hash, v.clone())),
            None => deletions.push((hash, None)),
        }
    }
    let misses = RefCell::new(Vec::new());
    let mut writes = Pending::default();
    let mut stale = Vec::new();

    // Version 2h: the deletions, or else the previous root carried over so that 2h exists.
    // Either way the previous root is stale (jmt does not say so when every deletion misses).
    let deletion_version = 2 * height;
    if height > 0 {
        stale.push(root_key(deletion_version - 1));
    }
    {
        let layers = TreeLayers {
            staged: None,
            live,
            nodes,
            values,
            misses: Some(&misses),
        };
        if deletions.is_empty() {
            let root = if height == 0 {
                Arc::new(Node::Null)
            } else {
                let previous = root_key(deletion_version - 1);
                layers.node(&previous)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("no state tree at height {}", height - 1))
                })?
            };
            writes.nodes.insert(root_key(deletion_version), root);
        } else {
            let (_, batch) = StateTree::new(&layers)
                .put_value_set(deletions, deletion_version)
                .map_err(tree_err)?;
            absorb(&batch, &keys, &mut writes, &mut stale)?;
        }
    }

    // Version 2h + 1: every insertion in one batch, each node hashed once.
    let version = tree_version(height);
    let root = {
        let layers = TreeLayers {
            staged: Some(&writes),
            live,
            nodes,
            values,
            misses: Some(&misses),
        };
        if insertions.is_empty() {
            let carried = root_key(deletion_version);
            let root = layers
                .node(&carried)?
                .ok_or_else(|| StoreError::Corrupt("missing deletion root".into()))?;
            let hash = StateTree::new(&layers)
                .get_root_hash(deletion_version)
                .map_err(tree_err)?;
            stale.push(carried);
            writes.nodes.insert(root_key(version), root);
            hash.0
        } else {
            let (roots, batch) = StateTree::new(&layers)
                .batch_put_value_sets(vec![insertions], None, version)
                .map_err(tree_err)?;
            let root = roots
                .first()
                .ok_or_else(|| StoreError::Tree("no root from the tree update".into()))?
                .0;
            absorb(&batch, &keys, &mut writes, &mut stale)?;
            root
        }
    };

    copy_moved_leaves(live, nodes, values, height, &mut writes)?;
    writes.roots.insert(height, Hash(root));
    Ok(Staged {
        root: Hash(root),
        writes,
        stale,
        misses: misses.into_inner(),
    })
}

/// Takes a jmt batch's nodes, value records and stale nodes into the staging layer.
fn absorb(
    batch: &TreeUpdateBatch,
    keys: &FxHashMap<KeyHash, &[u8]>,
    writes: &mut Pending,
    stale: &mut Vec<NodeKey>,
) -> Result<(), StoreError> {
    for (node_key, node) in batch.node_batch.nodes() {
        writes
            .nodes
            .insert(node_key.clone(), Arc::new(node.clone()));
    }
    for ((version, hash), value) in batch.node_batch.values() {
        let Some(value) = value else { continue };
        let key = keys
            .get(hash)
            .ok_or_else(|| StoreError::Tree("the tree wrote a key the block did not".into()))?;
        let record = Record {
            key: key.to_vec(),
            value: value.clone(),
        };
        writes.values.insert((*version, *hash), record);
    }
    stale.extend(
        batch
            .stale_node_index_batch
            .iter()
            .map(|index| index.node_key.clone()),
    );
    Ok(())
}

/// Gives a record to every new leaf that jmt created without a value write: a leaf pushed down
/// by a new neighbour, promoted by a deletion, or a single-leaf root carried to a new version.
/// Such a leaf's value is unchanged by the block, so it is read from the previous state.
fn copy_moved_leaves<T: ReadableTable<&'static [u8], &'static [u8]>>(
    live: &Live,
    nodes: &T,
    values: &T,
    height: u64,
    writes: &mut Pending,
) -> Result<(), StoreError> {
    let moved: Vec<(Version, KeyHash)> = writes
        .nodes
        .iter()
        .filter_map(|(node_key, node)| match &**node {
            Node::Leaf(leaf) => Some((node_key.version(), leaf.key_hash())),
            _ => None,
        })
        .filter(|slot| !writes.values.contains_key(slot))
        .collect();
    if moved.is_empty() {
        return Ok(());
    }
    let previous = height
        .checked_sub(1)
        .map(tree_version)
        .ok_or_else(|| StoreError::Tree("a leaf moved in the genesis tree".into()))?;
    let layers = TreeLayers {
        staged: None,
        live,
        nodes,
        values,
        misses: None,
    };
    for (version, hash) in moved {
        let record = layers.get(previous, &hash)?.ok_or_else(|| {
            StoreError::Corrupt(format!("moved leaf {hash:?} has no previous value"))
        })?;
        writes.values.insert((version, hash), record);
    }
    Ok(())
}
