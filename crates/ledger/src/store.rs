//! Durable, authenticated state: a Jellyfish Merkle tree (`jmt`) stored in `redb`.
//!
//! Four tables live in one redb file:
//! - `flat`: key bytes → latest value, for fast reads during execution;
//! - `jmt_nodes`: the tree's nodes, by node key;
//! - `jmt_values`: (key hash, tree version) → value, so proofs can be served at any kept height;
//! - `roots`: height → state root.
//!
//! **Commits.** Each block's changes and tree update are committed atomically to an in-memory
//! write-back layer ([`Pending`]), which every read consults first. The layer is written to redb
//! in one transaction with immediate durability every `sync_every` blocks (every block by
//! default) and when the store is dropped. A crash therefore loses at most the blocks since the
//! last sync, never part of a block, and re-applying them gives the same roots. Writing several
//! blocks in one redb transaction is what makes a short sync interval cheap: the B-tree pages that
//! consecutive blocks touch are copied and written once instead of once per block (the design of
//! geth's dirty-trie cache).
//!
//! **Tree versions.** Each block is two tree versions: `2h` applies its deletions through jmt's
//! general path (rare), `2h + 1` its insertions through jmt's batch insert, which hashes each node
//! once where inserting key by key rehashes the whole path for every key (3x faster on blocks of
//! 1,000 transfers). The tree hashes with BLAKE3; key hashes are BLAKE3 of the key's canonical
//! bytes. Old nodes are not pruned yet (see docs/LEDGER.md).

use crate::error::StoreError;
use crate::state::overlay::{Changes, StateRead};
use borsh::BorshDeserialize;
use cairn_types::Hash;
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, RootHash, Version};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

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

/// The tree version holding the state after block `height` (see the module documentation).
pub fn tree_version(height: u64) -> Version {
    2 * height + 1
}

fn values_key(hash: &KeyHash, version: Version) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..32].copy_from_slice(&hash.0);
    out[32..].copy_from_slice(&version.to_be_bytes());
    out
}

/// A node's key in the database: the version big-endian, then the nibble path. Nodes written
/// together (one version, or consecutive versions) are then adjacent in the B-tree, so a flush
/// appends densely instead of splitting pages all over the table.
fn node_db_key(node_key: &NodeKey, out: &mut Vec<u8>) -> std::io::Result<()> {
    out.extend_from_slice(&node_key.version().to_be_bytes());
    borsh::to_writer(out, node_key.nibble_path())
}

/// The key of the tree's root node at `version`.
fn root_key(version: Version) -> NodeKey {
    NodeKey::new(
        version,
        jmt::storage::NibblePath::from_iter(std::iter::empty()),
    )
}

fn tree_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Tree(e.to_string())
}

/// Writes committed in memory and not yet in redb.
#[derive(Default)]
struct Pending {
    flat: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    nodes: FxHashMap<NodeKey, Node>,
    values: BTreeMap<(KeyHash, Version), Option<OwnedValue>>,
    roots: BTreeMap<u64, Hash>,
}

impl Pending {
    fn absorb(&mut self, batch: &TreeUpdateBatch) {
        for (key, node) in batch.node_batch.nodes() {
            self.nodes.insert(key.clone(), node.clone());
        }
        for (key, value) in batch.node_batch.values() {
            self.values.insert((key.1, key.0), value.clone());
        }
    }

    fn value(&self, max_version: Version, key_hash: KeyHash) -> Option<Option<OwnedValue>> {
        self.values
            .range((key_hash, 0)..=(key_hash, max_version))
            .next_back()
            .map(|(_, v)| v.clone())
    }
}

type SharedPending = Arc<Mutex<Pending>>;

fn lock(pending: &SharedPending) -> Result<MutexGuard<'_, Pending>, StoreError> {
    pending
        .lock()
        .map_err(|_| StoreError::Database("the write-back layer was poisoned by a panic".into()))
}

/// The ledger's database.
pub struct LedgerStore {
    db: Database,
    path: PathBuf,
    pending: SharedPending,
}

/// Reads the tree from layers of in-memory writes over redb tables.
struct TreeLayers<'p, T> {
    staged: Option<&'p Pending>,
    pending: &'p Pending,
    nodes: &'p T,
    values: &'p T,
}

impl<T: ReadableTable<&'static [u8], &'static [u8]>> TreeReader for TreeLayers<'_, T> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        for layer in self.staged.iter().chain(std::iter::once(&self.pending)) {
            if let Some(node) = layer.nodes.get(node_key) {
                return Ok(Some(node.clone()));
            }
        }
        let mut key = Vec::with_capacity(48);
        node_db_key(node_key, &mut key)?;
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
        for layer in self.staged.iter().chain(std::iter::once(&self.pending)) {
            if let Some(value) = layer.value(max_version, key_hash) {
                return Ok(value);
            }
        }
        let low = values_key(&key_hash, 0);
        let high = values_key(&key_hash, max_version);
        let mut range = self.values.range(low.as_slice()..=high.as_slice())?;
        match range.next_back() {
            None => Ok(None),
            Some(entry) => {
                let (_, value) = entry?;
                match value.value().split_first() {
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
    pending: SharedPending,
}

impl StateRead for Snapshot {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(value) = lock(&self.pending)?.flat.get(key) {
            return Ok(value.clone());
        }
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
            pending: SharedPending::default(),
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
            pending: SharedPending::default(),
        })
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Height and root of the last committed block, if any.
    pub fn head(&self) -> Result<Option<(u64, Hash)>, StoreError> {
        if let Some((height, root)) = lock(&self.pending)?.roots.last_key_value() {
            return Ok(Some((*height, *root)));
        }
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
        if let Some(root) = lock(&self.pending)?.roots.get(&height) {
            return Ok(*root);
        }
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
            pending: self.pending.clone(),
        })
    }

    /// Commits a block's changes as the state after `height` and returns the new state root.
    /// With `durable`, everything committed so far is written to disk before returning.
    pub fn commit(
        &self,
        height: u64,
        changes: &Changes,
        durable: bool,
    ) -> Result<Hash, StoreError> {
        let (root, staged) = self.stage(height, changes)?;
        {
            let mut pending = lock(&self.pending)?;
            let Pending {
                flat,
                nodes,
                values,
                roots,
            } = staged;
            pending.nodes.extend(nodes);
            pending.values.extend(values);
            pending.flat.extend(flat);
            pending.roots.extend(roots);
        }
        if durable {
            self.flush()?;
        }
        Ok(root)
    }

    /// Computes the root a commit would give, then drops the work, as a crash just before the
    /// commit would. For crash tests and block verification.
    #[doc(hidden)]
    pub fn commit_then_crash(&self, height: u64, changes: &Changes) -> Result<Hash, StoreError> {
        Ok(self.stage(height, changes)?.0)
    }

    /// Computes a block's tree update into a staging layer, without touching committed state.
    fn stage(&self, height: u64, changes: &Changes) -> Result<(Hash, Pending), StoreError> {
        let mut staged = Pending::default();
        let mut deletions = Vec::new();
        let mut insertions = Vec::with_capacity(changes.len());
        for (key, value) in changes {
            match value {
                Some(v) => insertions.push((key_hash(key), v.clone())),
                None => deletions.push((key_hash(key), None)),
            }
        }
        let txn = self.db.begin_read()?;
        let nodes = txn.open_table(JMT_NODES)?;
        let values = txn.open_table(JMT_VALUES)?;
        let pending = lock(&self.pending)?;

        // Version 2h: the deletions, or else the previous root carried over so that 2h exists.
        let deletion_version = 2 * height;
        if deletions.is_empty() {
            let root = if height == 0 {
                Node::Null
            } else {
                let layers = TreeLayers {
                    staged: None,
                    pending: &pending,

                    nodes: &nodes,
                    values: &values,
                };
                layers
                    .get_node_option(&root_key(deletion_version - 1))
                    .map_err(tree_err)?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("no state tree at height {}", height - 1))
                    })?
            };
            staged.nodes.insert(root_key(deletion_version), root);
        } else {
            let layers = TreeLayers {
                staged: None,
                pending: &pending,

                nodes: &nodes,
                values: &values,
            };
            let (_, batch) = StateTree::new(&layers)
                .put_value_set(deletions, deletion_version)
                .map_err(tree_err)?;
            staged.absorb(&batch);
        }

        // Version 2h + 1: every insertion in one batch, each node hashed once.
        let version = tree_version(height);
        let root = if insertions.is_empty() {
            let layers = TreeLayers {
                staged: Some(&staged),
                pending: &pending,

                nodes: &nodes,
                values: &values,
            };
            let root = layers
                .get_node_option(&root_key(deletion_version))
                .map_err(tree_err)?
                .ok_or_else(|| StoreError::Corrupt("missing deletion root".into()))?;
            staged.nodes.insert(root_key(version), root);
            let layers = TreeLayers {
                staged: Some(&staged),
                pending: &pending,

                nodes: &nodes,
                values: &values,
            };
            StateTree::new(&layers)
                .get_root_hash(version)
                .map_err(tree_err)?
                .0
        } else {
            let layers = TreeLayers {
                staged: Some(&staged),
                pending: &pending,

                nodes: &nodes,
                values: &values,
            };
            let (roots, batch) = StateTree::new(&layers)
                .batch_put_value_sets(vec![insertions], None, version)
                .map_err(tree_err)?;
            let root = roots
                .first()
                .ok_or_else(|| StoreError::Tree("no root from the tree update".into()))?
                .0;
            staged.absorb(&batch);
            root
        };
        drop(pending);
        staged.flat = changes.clone();
        staged.roots.insert(height, Hash(root));
        Ok((Hash(root), staged))
    }

    /// Forgets every commit since the last sync, as a crash would. For crash tests.
    #[doc(hidden)]
    pub fn discard_unsynced(&self) -> Result<(), StoreError> {
        *lock(&self.pending)? = Pending::default();
        Ok(())
    }

    /// Writes everything committed in memory to disk in one durable redb transaction.
    pub fn flush(&self) -> Result<(), StoreError> {
        let mut pending = lock(&self.pending)?;
        if pending.roots.is_empty() {
            return Ok(());
        }
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| StoreError::Database(e.to_string()))?;
        {
            let mut nodes = txn.open_table(JMT_NODES)?;
            let mut key = Vec::new();
            let mut value = Vec::new();
            for (node_key, node) in &pending.nodes {
                key.clear();
                value.clear();
                node_db_key(node_key, &mut key).map_err(tree_err)?;
                borsh::to_writer(&mut value, node).map_err(tree_err)?;
                nodes.insert(key.as_slice(), value.as_slice())?;
            }
            let mut values = txn.open_table(JMT_VALUES)?;
            for ((hash, version), stored) in &pending.values {
                value.clear();
                match stored {
                    Some(v) => {
                        value.push(1);
                        value.extend_from_slice(v);
                    }
                    None => value.push(0),
                }
                values.insert(values_key(hash, *version).as_slice(), value.as_slice())?;
            }
            let mut flat = txn.open_table(FLAT)?;
            for (key, stored) in &pending.flat {
                match stored {
                    Some(v) => {
                        flat.insert(key.as_slice(), v.as_slice())?;
                    }
                    None => {
                        flat.remove(key.as_slice())?;
                    }
                }
            }
            let mut roots = txn.open_table(ROOTS)?;
            for (height, root) in &pending.roots {
                roots.insert(*height, root.0.as_slice())?;
            }
        }
        txn.commit()?;
        *pending = Pending::default();
        Ok(())
    }

    /// Calls `visit` with every key and value of the latest state, in key order (flushes first).
    pub fn for_each(
        &self,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.flush()?;
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
        let nodes = txn.open_table(JMT_NODES)?;
        let values = txn.open_table(JMT_VALUES)?;
        let pending = lock(&self.pending)?;
        let layers = TreeLayers {
            staged: None,
            pending: &pending,

            nodes: &nodes,
            values: &values,
        };
        let (value, proof) = StateTree::new(&layers)
            .get_with_proof(key_hash(key), tree_version(height))
            .map_err(tree_err)?;
        Ok((value, proof, root))
    }
}

impl Drop for LedgerStore {
    fn drop(&mut self) {
        // A clean shutdown keeps every committed block.
        if let Err(error) = self.flush() {
            tracing::error!(%error, "ledger.flush_on_close failed; unsynced blocks will be re-applied");
        }
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
