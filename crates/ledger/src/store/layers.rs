//! Reading the tree and its values through the layers: a block being staged, commits held in
//! memory, the node cache, then the database.
//!
//! **Finding a value.** A key's value is found by walking the tree at the wanted version along
//! the key hash's nibbles. When the walk reaches a leaf written at version `v`, the value is the
//! record stored under `(v, key hash)`. Every leaf has such a record (the store writes one for
//! each leaf a commit creates, including leaves jmt only moves), and a record `(v, h)` exists
//! only if key `h` had a leaf written at `v`; so when the leaf on `h`'s path was written at `v`
//! and `(v, h)` exists, that leaf is `h`'s, and when `(v, h)` does not exist the key is absent.
//! The walk therefore never needs to read the leaf node itself.
//!
//! **Integrity.** redb does not check data on ordinary reads, so a record whose bytes rotted on
//! disk would be read as a valid value and executed, and this node would commit a state root no
//! other validator has. Each record is therefore checked against the tree before it is used: the
//! walk ends at the leaf's hash (kept in its parent), which commits to the key hash and the
//! value's hash, and a record that does not match is [`StoreError::Corrupt`].

use super::live::{Live, NodeCache, NodeList, Pending};
use super::record::{node_db_key, value_db_key, Record};
use super::{Blake3Hasher, MAX_NODE_BYTES};
use crate::error::StoreError;
use borsh::BorshDeserialize;
use jmt::storage::{LeafNode, NibblePath, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, ValueHash, Version};
use redb::ReadableTable;
use std::cell::RefCell;
use std::sync::Arc;

/// The deepest a walk can go: one nibble per half byte of a 32-byte key hash.
const MAX_DEPTH: usize = 64;

/// The key of the tree's root node at `version`.
pub(super) fn root_key(version: Version) -> NodeKey {
    NodeKey::new(version, NibblePath::from_iter(std::iter::empty()))
}

/// The `index`-th nibble of a key hash (high half of each byte first, as jmt orders them).
fn nibble(hash: &KeyHash, index: usize) -> u8 {
    let byte = hash.0[index / 2];
    if index.is_multiple_of(2) {
        byte >> 4
    } else {
        byte & 0x0f
    }
}

/// The leaf a walk ends at: its node key and its hash (as its parent holds it).
struct Leaf {
    key: NodeKey,
    hash: [u8; 32],
}

/// A node's hash, as its parent holds it.
fn node_hash(node: &Node) -> [u8; 32] {
    match node {
        Node::Internal(internal) => internal.hash::<Blake3Hasher>(),
        Node::Leaf(leaf) => leaf.hash::<Blake3Hasher>(),
        // jmt's placeholder for an empty subtree (private in jmt).
        Node::Null => *b"SPARSE_MERKLE_PLACEHOLDER_HASH__",
    }
}

/// Layered read access to the tree and values.
pub(super) struct TreeLayers<'p, T> {
    /// A block being staged, read first.
    pub(super) staged: Option<&'p Pending>,
    /// Commits in memory and the node cache.
    pub(super) live: &'p Live,
    /// The database's node table.
    pub(super) nodes: &'p T,
    /// The database's value table.
    pub(super) values: &'p T,
    /// When set, upper internal nodes read from disk are collected here for the node cache.
    /// Only set for walks of the latest tree.
    pub(super) misses: Option<&'p RefCell<NodeList>>,
}

impl<T: ReadableTable<&'static [u8], &'static [u8]>> TreeLayers<'_, T> {
    fn layers(&self) -> impl Iterator<Item = &Pending> {
        self.staged
            .into_iter()
            .chain(std::iter::once(&self.live.pending))
    }

    /// A tree node, if it exists, shared with the layer that holds it.
    pub(super) fn node(&self, node_key: &NodeKey) -> Result<Option<Arc<Node>>, StoreError> {
        self.node_checked(node_key, None)
    }

    /// Like [`TreeLayers::node`]; a node read from disk must also hash to `expected` (the hash
    /// its parent holds for it), else it is [`StoreError::Corrupt`]. Nodes in memory were
    /// checked or computed when they got there.
    fn node_checked(
        &self,
        node_key: &NodeKey,
        expected: Option<&[u8; 32]>,
    ) -> Result<Option<Arc<Node>>, StoreError> {
        for layer in self.layers() {
            if let Some(node) = layer.nodes.get(node_key) {
                return Ok(Some(node.clone()));
            }
        }
        if let Some(node) = self.live.cache.get(node_key) {
            return Ok(Some(node.clone()));
        }
        let mut key = Vec::with_capacity(48);
        node_db_key(node_key, &mut key).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let Some(bytes) = self.nodes.get(key.as_slice())? else {
            return Ok(None);
        };
        let bytes = bytes.value();
        if bytes.len() > MAX_NODE_BYTES {
            return Err(StoreError::Corrupt("tree node too large".into()));
        }
        let node = Arc::new(
            Node::try_from_slice(bytes)
                .map_err(|e| StoreError::Corrupt(format!("tree node: {e}")))?,
        );
        if let Some(expected) = expected {
            if node_hash(&node) != *expected {
                return Err(StoreError::Corrupt(format!(
                    "tree node {node_key:?} does not match its parent"
                )));
            }
        }
        if let Some(misses) = self.misses {
            if NodeCache::wants(node_key, &node) {
                misses.borrow_mut().push((node_key.clone(), node.clone()));
            }
        }
        Ok(Some(node))
    }

    /// The record stored for key hash `hash` at leaf version `version`, if any.
    pub(super) fn record(
        &self,
        version: Version,
        hash: &KeyHash,
    ) -> Result<Option<Record>, StoreError> {
        for layer in self.layers() {
            if let Some(record) = layer.values.get(&(version, *hash)) {
                return Ok(Some(record.clone()));
            }
        }
        match self.values.get(value_db_key(version, hash).as_slice())? {
            None => Ok(None),
            Some(bytes) => Ok(Some(Record::decode(bytes.value())?)),
        }
    }

    /// The version at which the leaf on `hash`'s path in the tree at `version` was written and
    /// that leaf's hash, or `None` when the path ends without a leaf. (Whether the leaf is
    /// `hash`'s own is settled by the record lookup: see the module documentation.)
    fn leaf_version(&self, version: Version, hash: &KeyHash) -> Result<Option<Leaf>, StoreError> {
        let mut node_key = root_key(version);
        let mut node = self
            .node(&node_key)?
            .ok_or_else(|| StoreError::Corrupt(format!("no tree root at version {version}")))?;
        for depth in 0..MAX_DEPTH {
            let internal = match &*node {
                Node::Null => return Ok(None),
                Node::Leaf(leaf) => {
                    let found = Leaf {
                        key: node_key.clone(),
                        hash: leaf.hash::<Blake3Hasher>(),
                    };
                    return Ok((leaf.key_hash() == *hash).then_some(found));
                }
                Node::Internal(internal) => internal,
            };
            let index = nibble(hash, depth).into();
            let Some(child) = internal.child(index) else {
                return Ok(None);
            };
            let path: NibblePath = node_key
                .nibble_path()
                .nibbles()
                .chain(std::iter::once(index))
                .collect();
            let child_key = NodeKey::new(child.version, path);
            if child.is_leaf() {
                return Ok(Some(Leaf {
                    key: child_key,
                    hash: child.hash,
                }));
            }
            let expected = child.hash;
            node_key = child_key;
            node = self
                .node_checked(&node_key, Some(&expected))?
                .ok_or_else(|| StoreError::Corrupt(format!("missing tree node {node_key:?}")))?;
        }
        Err(StoreError::Corrupt("tree deeper than a key hash".into()))
    }

    /// The record of key hash `hash` in the tree at `version`, if the key is present.
    pub(super) fn get(
        &self,
        version: Version,
        hash: &KeyHash,
    ) -> Result<Option<Record>, StoreError> {
        let Some(leaf) = self.leaf_version(version, hash)? else {
            return Ok(None);
        };
        let leaf_version = leaf.key.version();
        let corrupt = || {
            StoreError::Corrupt(format!(
                "the record of key hash {} at version {leaf_version} does not match the tree",
                hex::encode(hash.0)
            ))
        };
        let Some(record) = self.record(leaf_version, hash)? else {
            // The leaf on the path is another key's, or this key's record is lost: only the
            // leaf itself tells which.
            let owner = self.node_checked(&leaf.key, Some(&leaf.hash))?;
            return match owner.as_deref() {
                Some(Node::Leaf(other)) if other.key_hash() != *hash => Ok(None),
                _ => Err(corrupt()),
            };
        };
        let value_hash = ValueHash::with::<Blake3Hasher>(&record.value);
        if LeafNode::new(*hash, value_hash).hash::<Blake3Hasher>() != leaf.hash
            || super::key_hash(&record.key) != *hash
        {
            return Err(corrupt());
        }
        Ok(Some(record))
    }

    /// Calls `visit` with every record of the tree at `version`, in key-hash order.
    pub(super) fn for_each_record(
        &self,
        version: Version,
        visit: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stack = vec![root_key(version)];
        while let Some(node_key) = stack.pop() {
            let node = self
                .node(&node_key)?
                .ok_or_else(|| StoreError::Corrupt(format!("missing tree node {node_key:?}")))?;
            match &*node {
                Node::Null => {}
                Node::Leaf(leaf) => {
                    let record = self
                        .record(node_key.version(), &leaf.key_hash())?
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!("no value for leaf {node_key:?}"))
                        })?;
                    visit(record)?;
                }
                Node::Internal(internal) => {
                    // Pushed in reverse so that children pop in nibble order.
                    let children: Vec<_> = internal.children_sorted().collect();
                    for (index, child) in children.into_iter().rev() {
                        let path: NibblePath = node_key
                            .nibble_path()
                            .nibbles()
                            .chain(std::iter::once(index))
                            .collect();
                        stack.push(NodeKey::new(child.version, path));
                    }
                }
            }
        }
        Ok(())
    }
}

impl<T: ReadableTable<&'static [u8], &'static [u8]>> TreeReader for TreeLayers<'_, T> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.node(node_key)?.map(Arc::unwrap_or_clone))
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self.get(max_version, &key_hash)?.map(|record| record.value))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only used by jmt's state-sync restore, which Cairn does not use.
        Err(anyhow::anyhow!("rightmost-leaf lookup is not supported"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nibbles_are_high_half_first() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        bytes[31] = 0xcd;
        let hash = KeyHash(bytes);
        assert_eq!(nibble(&hash, 0), 0xa);
        assert_eq!(nibble(&hash, 1), 0xb);
        assert_eq!(nibble(&hash, 62), 0xc);
        assert_eq!(nibble(&hash, 63), 0xd);
    }
}
