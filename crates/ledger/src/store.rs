//! Durable, authenticated state: a Jellyfish Merkle tree (`jmt`) stored in `redb`.
//!
//! Four tables live in one redb file:
//! - `flat`: key bytes → latest value, for fast reads during execution;
//! - `jmt_nodes`: the tree's nodes, by node key;
//! - `jmt_values`: (key hash, height) → value, so proofs can be served at any kept height;
//! - `roots`: height → state root.
//!
//! A block's changes are written to all four in a single redb write transaction with immediate
//! durability: after a crash the database holds either the whole block or none of it, and
//! re-applying the same block yields the same root. The tree version is the block height.
//!
//! The tree hashes with BLAKE3 (a `jmt::SimpleHasher` below); key hashes are BLAKE3 of the
//! key's canonical bytes. Old tree nodes are not pruned yet (see docs/ledger.md).

use crate::error::StoreError;
use crate::state::overlay::{Changes, StateRead};
use borsh::BorshDeserialize;
use cairn_types::Hash;
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, RootHash, Version};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};

const FLAT: TableDefinition<&[u8], &[u8]> = TableDefinition::new("flat");
const JMT_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes");
const JMT_VALUES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_values");
const ROOTS: TableDefinition<u64, &[u8]> = TableDefinition::new("roots");

/// Largest tree node accepted from disk, in bytes.
const MAX_NODE_BYTES: usize = 64 * 1024;

/// BLAKE3 as the tree's hash function.
#[derive(Clone)]
pub struct Blake3Hasher(blake3::Hasher);

impl jmt::SimpleHasher for Blake3Hasher {
    fn new() -> Self {
        Blake3Hasher(blake3::Hasher::new())
    }
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn finalize(self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

/// The tree type used for Cairn state.
pub type StateTree<'a, R> = JellyfishMerkleTree<'a, R, Blake3Hasher>;
/// A proof of a key's value (or absence) against a state root.
pub type StateProof = jmt::proof::SparseMerkleProof<Blake3Hasher>;

/// The tree's key hash for state key bytes.
pub fn key_hash(key: &[u8]) -> KeyHash {
    KeyHash::with::<Blake3Hasher>(key)
}

fn values_key(hash: &KeyHash, version: Version) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..32].copy_from_slice(&hash.0);
    out[32..].copy_from_slice(&version.to_be_bytes());
    out
}

fn tree_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Tree(e.to_string())
}

/// The ledger's database.
pub struct LedgerStore {
    db: Database,
    path: PathBuf,
}

/// Reads the tree's nodes and values from any redb table handle (read or write transaction).
struct TreeTables<T> {
    nodes: T,
    values: T,
}

impl<T: ReadableTable<&'static [u8], &'static [u8]>> TreeReader for TreeTables<T> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let key = borsh::to_vec(node_key)?;
        match self.nodes.get(key.as_slice())? {
            None => Ok(None),
            Some(bytes) => {
                let bytes = bytes.value();
                if bytes.len() > MAX_NODE_BYTES {
                    return Err(anyhow::anyhow!("tree node too large"));
                }
                Ok(Some(Node::try_from_slice(bytes)?))
            }
        }
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        let low = values_key(&key_hash, 0);
        let high = values_key(&key_hash, max_version);
        let mut range = self.values.range(low.as_slice()..=high.as_slice())?;
        match range.next_back() {
            None => Ok(None),
            Some(entry) => {
                let (_, value) = entry?;
                let value = value.value();
                match value.split_first() {
                    Some((1, rest)) => Ok(Some(rest.to_vec())),
                    _ => Ok(None),
                }
            }
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only used by jmt's state-sync restore, which Cairn does not use.
        Err(anyhow::anyhow!("rightmost-leaf lookup is not supported"))
    }
}

/// A read-only view of the latest committed state.
pub struct Snapshot {
    flat: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl StateRead for Snapshot {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.flat.get(key)?.map(|v| v.value().to_vec()))
    }
}

impl LedgerStore {
    /// Creates a new, empty store at `path` (a file), refusing to overwrite one.
    pub fn create(path: &Path) -> Result<LedgerStore, StoreError> {
        if path.exists() {
            return Err(StoreError::AlreadyInitialised(path.display().to_string()));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Database(format!("{}: {e}", parent.display())))?;
        }
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(FLAT)?;
            txn.open_table(JMT_NODES)?;
            txn.open_table(JMT_VALUES)?;
            txn.open_table(ROOTS)?;
        }
        txn.commit()?;
        Ok(LedgerStore {
            db,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing store.
    pub fn open(path: &Path) -> Result<LedgerStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::NotInitialised(path.display().to_string()));
        }
        let db = Database::open(path)?;
        Ok(LedgerStore {
            db,
            path: path.to_path_buf(),
        })
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Height and root of the last committed block, if any.
    pub fn head(&self) -> Result<Option<(u64, Hash)>, StoreError> {
        let txn = self.db.begin_read()?;
        let roots = txn.open_table(ROOTS)?;
        let last = roots.last()?;
        match last {
            None => Ok(None),
            Some((height, root)) => Ok(Some((height.value(), decode_root(root.value())?))),
        }
    }

    /// The state root committed at `height`.
    pub fn root_at(&self, height: u64) -> Result<Hash, StoreError> {
        let txn = self.db.begin_read()?;
        let roots = txn.open_table(ROOTS)?;
        let root = roots
            .get(height)?
            .ok_or(StoreError::UnknownHeight(height))?;
        decode_root(root.value())
    }

    /// A consistent read view of the latest state.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(Snapshot {
            flat: txn.open_table(FLAT)?,
        })
    }

    /// Writes a block's changes as tree version `height` in one atomic, durable transaction and
    /// returns the new state root.
    pub fn commit(&self, height: u64, changes: &Changes) -> Result<Hash, StoreError> {
        self.write(height, changes, true)
    }

    /// Does all the work of [`LedgerStore::commit`] but drops the transaction instead of
    /// committing it: what a crash at the last moment leaves behind. For crash tests.
    #[doc(hidden)]
    pub fn commit_then_crash(&self, height: u64, changes: &Changes) -> Result<Hash, StoreError> {
        self.write(height, changes, false)
    }

    fn write(&self, height: u64, changes: &Changes, keep: bool) -> Result<Hash, StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let root = {
            let tables = TreeTables {
                nodes: txn.open_table(JMT_NODES)?,
                values: txn.open_table(JMT_VALUES)?,
            };
            let value_set: Vec<(KeyHash, Option<OwnedValue>)> = changes
                .iter()
                .map(|(k, v)| (key_hash(k), v.clone()))
                .collect();
            let (root, batch) = StateTree::new(&tables)
                .put_value_set(value_set, height)
                .map_err(tree_err)?;
            let TreeTables {
                mut nodes,
                mut values,
            } = tables;
            for (node_key, node) in batch.node_batch.nodes() {
                let key = borsh::to_vec(node_key).map_err(tree_err)?;
                let value = borsh::to_vec(node).map_err(tree_err)?;
                nodes.insert(key.as_slice(), value.as_slice())?;
            }
            for ((version, hash), value) in batch.node_batch.values() {
                let mut stored = Vec::with_capacity(1 + value.as_ref().map_or(0, Vec::len));
                match value {
                    Some(v) => {
                        stored.push(1);
                        stored.extend_from_slice(v);
                    }
                    None => stored.push(0),
                }
                values.insert(values_key(hash, *version).as_slice(), stored.as_slice())?;
            }
            let mut flat = txn.open_table(FLAT)?;
            for (key, value) in changes {
                match value {
                    Some(v) => {
                        flat.insert(key.as_slice(), v.as_slice())?;
                    }
                    None => {
                        flat.remove(key.as_slice())?;
                    }
                }
            }
            let mut roots = txn.open_table(ROOTS)?;
            roots.insert(height, root.0.as_slice())?;
            Hash(root.0)
        };
        if keep {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(root)
    }

    /// Calls `visit` with every key and value of the latest state, in key order.
    pub fn for_each(
        &self,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_read()?;
        let flat = txn.open_table(FLAT)?;
        for entry in flat.iter()? {
            let (key, value) = entry?;
            visit(key.value(), value.value())?;
        }
        Ok(())
    }

    /// The value of `key` at `height` with a proof against that height's root.
    pub fn prove(
        &self,
        key: &[u8],
        height: u64,
    ) -> Result<(Option<Vec<u8>>, StateProof, Hash), StoreError> {
        let root = self.root_at(height)?;
        let txn = self.db.begin_read()?;
        let tables = TreeTables {
            nodes: txn.open_table(JMT_NODES)?,
            values: txn.open_table(JMT_VALUES)?,
        };
        let (value, proof) = StateTree::new(&tables)
            .get_with_proof(key_hash(key), height)
            .map_err(tree_err)?;
        Ok((value, proof, root))
    }
}

fn decode_root(bytes: &[u8]) -> Result<Hash, StoreError> {
    let root: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("state root is not 32 bytes".into()))?;
    Ok(Hash(root))
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
