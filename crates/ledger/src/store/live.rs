//! What the store keeps in memory: commits not yet written to disk, and the upper levels of
//! the latest tree.

use super::record::Record;
use cairn_types::Hash;
use jmt::storage::{Node, NodeKey};
use jmt::{KeyHash, Version};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Internal nodes whose nibble path is at most this long are kept decoded in memory while they
/// are part of the latest tree: at most 1 + 16 + 256 + 4,096 + 65,536 nodes of about 1 KiB, so
/// at most about 70 MiB however large the state grows (about 30 MiB at 100,000 accounts).
pub(super) const CACHED_DEPTH: usize = 4;

/// Nodes with their keys.
pub(super) type NodeList = Vec<(NodeKey, Arc<Node>)>;

/// Commits held in memory until the next flush. Every read consults this layer first.
#[derive(Default)]
pub(super) struct Pending {
    /// New tree nodes (shared with the node cache).
    pub(super) nodes: FxHashMap<NodeKey, Arc<Node>>,
    /// New value records, by the version of their leaf and key hash.
    pub(super) values: FxHashMap<(Version, KeyHash), Record>,
    /// New state roots, by height.
    pub(super) roots: BTreeMap<u64, Hash>,
}

impl Pending {
    /// Moves `other`'s writes into this layer.
    pub(super) fn extend(&mut self, other: Pending) {
        self.nodes.extend(other.nodes);
        self.values.extend(other.values);
        self.roots.extend(other.roots);
    }
}

/// Decoded internal nodes of the latest tree's upper levels (see [`CACHED_DEPTH`]).
///
/// Entries are added when a commit creates them or when a walk of the latest tree reads them
/// from disk, and removed when a commit makes them stale; so the cache only ever holds nodes
/// of the latest tree, and tree walks skip the database for every level it covers.
#[derive(Default)]
pub(super) struct NodeCache {
    nodes: FxHashMap<NodeKey, Arc<Node>>,
}

impl NodeCache {
    /// Whether a node belongs in the cache.
    pub(super) fn wants(node_key: &NodeKey, node: &Node) -> bool {
        matches!(node, Node::Internal(_)) && node_key.nibble_path().num_nibbles() <= CACHED_DEPTH
    }

    /// The cached node, if any.
    pub(super) fn get(&self, node_key: &NodeKey) -> Option<&Arc<Node>> {
        self.nodes.get(node_key)
    }

    /// Adds nodes of the latest tree read from disk.
    pub(super) fn fill(&mut self, nodes: NodeList) {
        for (key, node) in nodes {
            if NodeCache::wants(&key, &node) {
                self.nodes.insert(key, node);
            }
        }
    }

    /// Applies a commit: adds its new upper nodes, then drops the ones it made stale.
    pub(super) fn commit(&mut self, new: &FxHashMap<NodeKey, Arc<Node>>, stale: &[NodeKey]) {
        for (key, node) in new {
            if NodeCache::wants(key, node) {
                self.nodes.insert(key.clone(), node.clone());
            }
        }
        for key in stale {
            self.nodes.remove(key);
        }
    }

    /// How many nodes are cached.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.nodes.len()
    }
}

/// The store's in-memory part, behind one lock.
#[derive(Default)]
pub(super) struct Live {
    /// Commits not yet on disk.
    pub(super) pending: Pending,
    /// Upper levels of the latest tree.
    pub(super) cache: NodeCache,
    /// Height and root of the latest commit.
    pub(super) head: Option<(u64, Hash)>,
    /// Flushes so far: read transactions opened before the last one miss what it wrote.
    pub(super) flushes: u64,
}
