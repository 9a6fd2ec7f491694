//! Durable, authenticated state: a Jellyfish Merkle tree (`jmt`) stored in `redb`.
//!
//! Three tables live in one redb file:
//! - `jmt_nodes`: the tree's nodes, by (version, nibble path);
//! - `values`: (version, key hash) -> the state key and its value, one record per leaf the
//!   tree creates (see [`layers`] for how a read finds it);
//! - `roots`: height -> state root.
//!
//! There is no separate "latest value" table: a read walks the latest tree, whose upper levels
//! are cached in memory ([`live::NodeCache`]), to the leaf's version and fetches one record.
//! Both big tables are keyed by version first, so a flush only appends (see [`record`]).
//!
//! **Commits.** Each block's changes and tree update are committed atomically to an in-memory
//! write-back layer, which every read consults first. The layer is written to redb in one
//! transaction with immediate durability every `sync_every` blocks (every block by default) and
//! when the store is dropped. A crash therefore loses at most the blocks since the last sync,
//! never part of a block, and re-applying them gives the same roots. Writing several blocks in
//! one redb transaction is what makes a short sync interval cheap (the design of geth's
//! dirty-trie cache).
//!
//! The tree hashes with BLAKE3; key hashes are BLAKE3 of the key's canonical bytes; each block
//! is two tree versions (see [`stage`]). Old nodes are not pruned yet (see docs/LEDGER.md).

pub mod faulty;
mod layers;
mod live;
mod record;
mod stage;

use crate::error::StoreError;
use crate::state::overlay::{Changes, StateRead};
use cairn_types::Hash;
use faulty::{Faults, FaultyFile};
use jmt::{JellyfishMerkleTree, Version};
use layers::TreeLayers;
use live::Live;
use record::{node_db_key, value_db_key};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

const JMT_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes");
const VALUES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("values");
const ROOTS: TableDefinition<u64, &[u8]> = TableDefinition::new("roots");

/// Largest tree node accepted from disk, in bytes.
const MAX_NODE_BYTES: usize = 64 * 1024;

/// The tree type used for Cairn state.
pub type StateTree<'a, R> = JellyfishMerkleTree<'a, R, Blake3Hasher>;
pub use cairn_light::{key_hash, verify_proof, Blake3Hasher, MultiProof, StateProof};

/// The tree version holding the state after block `height` (see [`stage`]).
pub fn tree_version(height: u64) -> Version {
    2 * height + 1
}

fn tree_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Tree(e.to_string())
}

type SharedLive = Arc<Mutex<Live>>;

fn lock(live: &SharedLive) -> Result<MutexGuard<'_, Live>, StoreError> {
    live.lock()
        .map_err(|_| StoreError::Database("the in-memory state was poisoned by a panic".into()))
}

/// The database's two big tables, opened for reading.
///
/// Always opened while holding the `live` lock: a flush holds that lock from its write until it
/// empties the in-memory layer, so tables opened under it plus that layer always show every
/// commit, whether or not it has reached the disk yet.
struct ReadTables {
    nodes: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    values: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    /// `Live::flushes` when the tables were opened.
    flushes: u64,
}

impl ReadTables {
    fn open(db: &Database, live: &Live) -> Result<ReadTables, StoreError> {
        let txn = db.begin_read()?;
        Ok(ReadTables {
            nodes: txn.open_table(JMT_NODES)?,
            values: txn.open_table(VALUES)?,
            flushes: live.flushes,
        })
    }
}

/// A read-only view of the latest committed state (as of its creation).
pub struct Snapshot {
    db: Arc<Database>,
    live: SharedLive,
    version: Option<Version>,
    tables: Mutex<ReadTables>,
}

impl Snapshot {
    /// The height whose state this snapshot reads (`None` for an empty store).
    pub fn height(&self) -> Option<u64> {
        self.version.map(|version| version / 2)
    }
}

impl StateRead for Snapshot {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(version) = self.version else {
            return Ok(None);
        };
        let mut live = lock(&self.live)?;
        let mut tables = self
            .tables
            .lock()
            .map_err(|_| StoreError::Database("snapshot lock poisoned".into()))?;
        if tables.flushes != live.flushes {
            // A flush moved commits from memory to disk, where the old read transaction cannot
            // see them.
            *tables = ReadTables::open(&self.db, &live)?;
        }
        let is_latest = live.head.map(|(height, _)| tree_version(height)) == Some(version);
        let misses = RefCell::new(Vec::new());
        let record = TreeLayers {
            staged: None,
            live: &live,
            nodes: &tables.nodes,
            values: &tables.values,
            misses: is_latest.then_some(&misses),
        }
        .get(version, &key_hash(key))?;
        live.cache.fill(misses.into_inner());
        Ok(record.map(|r| r.value))
    }
}

/// Reads the store's committed state from any thread, without the ledger's lock: roots,
/// snapshots and proofs. Block execution holds the in-memory layer's lock only while it
/// stages a commit and while it flushes, so a reader waits for that at most, never for a
/// whole block's execution. Cloning is cheap.
#[derive(Clone)]
pub struct StoreReader {
    db: Arc<Database>,
    live: SharedLive,
}

impl StoreReader {
    /// Height and root of the last committed block, if any.
    pub fn head(&self) -> Result<Option<(u64, Hash)>, StoreError> {
        Ok(lock(&self.live)?.head)
    }

    /// The state root committed at `height`.
    pub fn root_at(&self, height: u64) -> Result<Hash, StoreError> {
        if let Some(root) = lock(&self.live)?.pending.roots.get(&height) {
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
        let live = lock(&self.live)?;
        Ok(Snapshot {
            db: self.db.clone(),
            live: self.live.clone(),
            version: live.head.map(|(height, _)| tree_version(height)),
            tables: Mutex::new(ReadTables::open(&self.db, &live)?),
        })
    }

    /// The value of `key` at `height` with a proof against that height's root.
    pub fn prove(
        &self,
        key: &[u8],
        height: u64,
    ) -> Result<(Option<Vec<u8>>, StateProof, Hash), StoreError> {
        let ((value, proof), root) =
            self.proving(height, |live, tables| prove_in(live, tables, key, height))?;
        Ok((value, proof, root))
    }

    /// The values of `keys` at `height` with one multi-proof against that height's root (each
    /// sibling node once, see [`MultiProof`]). The tables are opened once for the whole batch.
    pub fn prove_many(&self, keys: &[Vec<u8>], height: u64) -> Result<ProvenBatch, StoreError> {
        let ((values, proofs), root) = self.proving(height, |live, tables| {
            let mut values = Vec::with_capacity(keys.len());
            let mut proofs = Vec::with_capacity(keys.len());
            for key in keys {
                let (value, proof) = prove_in(live, tables, key, height)?;
                values.push(value);
                proofs.push(proof);
            }
            Ok((values, proofs))
        })?;
        let proof = MultiProof::from_proofs(&proofs).map_err(tree_err)?;
        Ok((values, proof, root))
    }

    /// Runs `work` over the tables that hold `height` and returns its result with that
    /// height's root. A height already on disk (every height but the last few, with a short
    /// sync interval) is proven from the database alone, without holding the in-memory layer's
    /// lock, which block commits need: a flood of proofs never delays a commit.
    fn proving<T>(
        &self,
        height: u64,
        work: impl FnOnce(&Live, &ReadTables) -> Result<T, StoreError>,
    ) -> Result<(T, Hash), StoreError> {
        let root = self.root_at(height)?;
        let live = lock(&self.live)?;
        let tables = ReadTables::open(&self.db, &live)?;
        let on_disk = live
            .pending
            .roots
            .keys()
            .next()
            .is_none_or(|first_in_memory| *first_in_memory > height);
        let out = if on_disk {
            drop(live);
            work(&Live::default(), &tables)?
        } else {
            work(&live, &tables)?
        };
        Ok((out, root))
    }
}

/// What [`StoreReader::prove_many`] answers: the values of the keys asked (in their order), one
/// proof of them all, and the state root they are proven against.
pub type ProvenBatch = (Vec<Option<Vec<u8>>>, MultiProof, Hash);

/// The value of `key` at `height` with its proof, read through `live` and `tables`.
fn prove_in(
    live: &Live,
    tables: &ReadTables,
    key: &[u8],
    height: u64,
) -> Result<(Option<Vec<u8>>, StateProof), StoreError> {
    let layers = TreeLayers {
        staged: None,
        live,
        nodes: &tables.nodes,
        values: &tables.values,
        misses: None,
    };
    StateTree::new(&layers)
        .get_with_proof(key_hash(key), tree_version(height))
        .map_err(tree_err)
}

/// The ledger's database.
pub struct LedgerStore {
    reader: StoreReader,
    path: PathBuf,
}

impl LedgerStore {
    /// Creates a new, empty store at `path` (a file), refusing to overwrite one.
    pub fn create(path: &Path) -> Result<LedgerStore, StoreError> {
        LedgerStore::create_with(path, None)
    }

    /// Creates (`create`) or opens the database at `path`, on a fault-injecting disk when
    /// `faults` is given.
    fn database(
        path: &Path,
        faults: Option<&Faults>,
        create: bool,
    ) -> Result<Database, StoreError> {
        match faults {
            None if create => Ok(Database::create(path)?),
            None => Ok(Database::open(path)?),
            Some(faults) => {
                let file = FaultyFile::open(path, faults.clone())
                    .map_err(|e| StoreError::Database(format!("{}: {e}", path.display())))?;
                // No page cache: every read reaches the (faulty) disk.
                Ok(redb::Builder::new()
                    .set_cache_size(0)
                    .create_with_backend(file)?)
            }
        }
    }

    /// [`LedgerStore::create`] on a disk that injects `faults` (for tests).
    pub fn create_with(path: &Path, faults: Option<&Faults>) -> Result<LedgerStore, StoreError> {
        if path.exists() {
            return Err(StoreError::AlreadyInitialised(path.display().to_string()));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Database(format!("{}: {e}", parent.display())))?;
        }
        let db = LedgerStore::database(path, faults, true)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(JMT_NODES)?;
            txn.open_table(VALUES)?;
            txn.open_table(ROOTS)?;
        }
        txn.commit()?;
        Ok(LedgerStore {
            reader: StoreReader {
                db: Arc::new(db),
                live: SharedLive::default(),
            },
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing store.
    pub fn open(path: &Path) -> Result<LedgerStore, StoreError> {
        LedgerStore::open_with(path, None)
    }

    /// [`LedgerStore::open`] on a disk that injects `faults` (for tests).
    pub fn open_with(path: &Path, faults: Option<&Faults>) -> Result<LedgerStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::NotInitialised(path.display().to_string()));
        }
        let store = LedgerStore {
            reader: StoreReader {
                db: Arc::new(LedgerStore::database(path, faults, false)?),
                live: SharedLive::default(),
            },
            path: path.to_path_buf(),
        };
        lock(&store.reader.live)?.head = store.synced_head()?;
        Ok(store)
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Height and root of the last block written to disk.
    fn synced_head(&self) -> Result<Option<(u64, Hash)>, StoreError> {
        let txn = self.reader.db.begin_read()?;
        let roots = txn.open_table(ROOTS)?;
        let last = roots.last()?;
        match last {
            None => Ok(None),
            Some((height, root)) => Ok(Some((height.value(), decode_root(root.value())?))),
        }
    }

    /// Height and root of the last committed block, if any.
    pub fn head(&self) -> Result<Option<(u64, Hash)>, StoreError> {
        self.reader.head()
    }

    /// The state root committed at `height`.
    pub fn root_at(&self, height: u64) -> Result<Hash, StoreError> {
        self.reader.root_at(height)
    }

    /// A consistent read view of the latest state.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.reader.snapshot()
    }

    /// A handle that reads this store from any thread without borrowing it.
    pub fn reader(&self) -> StoreReader {
        self.reader.clone()
    }

    /// Commits a block's changes as the state after `height` and returns the new state root.
    /// With `durable`, everything committed so far is written to disk before returning.
    pub fn commit(
        &self,
        height: u64,
        changes: &Changes,
        durable: bool,
    ) -> Result<Hash, StoreError> {
        let root = {
            let mut live = lock(&self.reader.live)?;
            let expected = live.head.map_or(0, |(head, _)| head + 1);
            if height != expected {
                return Err(StoreError::OutOfOrder {
                    expected,
                    got: height,
                });
            }
            let tables = ReadTables::open(&self.reader.db, &live)?;
            let staged = stage::stage(&live, &tables.nodes, &tables.values, height, changes)?;
            let live = &mut *live;
            live.cache.fill(staged.misses);
            live.cache.commit(&staged.writes.nodes, &staged.stale);
            live.pending.extend(staged.writes);
            live.head = Some((height, staged.root));
            staged.root
        };
        if durable {
            self.flush()?;
        }
        Ok(root)
    }

    /// Computes the root a commit would give, then drops the work, as a crash just before the
    /// commit would. For crash tests and block verification.
    #[doc(hidden)]
    pub fn commit_then_crash(&self, height: u64, changes: &Changes) -> Result<Hash, StoreError> {
        let mut live = lock(&self.reader.live)?;
        let tables = ReadTables::open(&self.reader.db, &live)?;
        let staged = stage::stage(&live, &tables.nodes, &tables.values, height, changes)?;
        live.cache.fill(staged.misses);
        Ok(staged.root)
    }

    /// Forgets every commit since the last sync, as a crash would. For crash tests.
    #[doc(hidden)]
    pub fn discard_unsynced(&self) -> Result<(), StoreError> {
        let mut live = lock(&self.reader.live)?;
        let flushes = live.flushes + 1;
        *live = Live::default();
        live.head = self.synced_head()?;
        live.flushes = flushes;
        Ok(())
    }

    /// Writes everything committed in memory to disk in one durable redb transaction.
    pub fn flush(&self) -> Result<(), StoreError> {
        let mut live = lock(&self.reader.live)?;
        let pending = &mut live.pending;
        if pending.roots.is_empty() {
            return Ok(());
        }
        let mut txn = self.reader.db.begin_write()?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| StoreError::Database(e.to_string()))?;
        {
            // Sorted so that the B-trees are appended to in order.
            let mut entries: Vec<(Vec<u8>, &jmt::storage::Node)> =
                Vec::with_capacity(pending.nodes.len());
            for (node_key, node) in &pending.nodes {
                let mut key = Vec::with_capacity(48);
                node_db_key(node_key, &mut key).map_err(tree_err)?;
                entries.push((key, node));
            }
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            let mut nodes = txn.open_table(JMT_NODES)?;
            let mut value = Vec::new();
            for (key, node) in entries {
                value.clear();
                borsh::to_writer(&mut value, node).map_err(tree_err)?;
                nodes.insert(key.as_slice(), value.as_slice())?;
            }
            let mut records: Vec<_> = pending.values.iter().collect();
            records.sort_unstable_by_key(|((version, hash), _)| (*version, *hash));
            let mut values = txn.open_table(VALUES)?;
            for ((version, hash), record) in records {
                value.clear();
                record.encode_into(&mut value)?;
                values.insert(value_db_key(*version, hash).as_slice(), value.as_slice())?;
            }
            let mut roots = txn.open_table(ROOTS)?;
            for (height, root) in &pending.roots {
                roots.insert(*height, root.0.as_slice())?;
            }
        }
        txn.commit()?;
        *pending = live::Pending::default();
        live.flushes += 1;
        Ok(())
    }

    /// Calls `visit` with every key and value of the latest state, in key-hash order.
    pub fn for_each(
        &self,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let live = lock(&self.reader.live)?;
        let tables = ReadTables::open(&self.reader.db, &live)?;
        let Some((height, _)) = live.head else {
            return Ok(());
        };
        TreeLayers {
            staged: None,
            live: &live,
            nodes: &tables.nodes,
            values: &tables.values,
            misses: None,
        }
        .for_each_record(tree_version(height), &mut |record| {
            visit(&record.key, &record.value)
        })
    }

    /// The value of `key` at `height` with a proof against that height's root.
    pub fn prove(
        &self,
        key: &[u8],
        height: u64,
    ) -> Result<(Option<Vec<u8>>, StateProof, Hash), StoreError> {
        self.reader.prove(key, height)
    }

    /// How many tree nodes the in-memory cache holds (for tests).
    #[cfg(test)]
    fn cached_nodes(&self) -> usize {
        lock(&self.reader.live)
            .map(|live| live.cache.len())
            .unwrap_or(0)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> Vec<u8> {
        format!("account-{i}").into_bytes()
    }

    /// The node cache holds the latest tree's upper nodes only: it does not grow while blocks
    /// rewrite the same keys, and after a reopen reads fill it back to the same size at most.
    #[test]
    fn the_node_cache_tracks_the_latest_tree() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let store = LedgerStore::create(&path).unwrap();
        let genesis: Changes = (0..3_000).map(|i| (key(i), Some(vec![1]))).collect();
        store.commit(0, &genesis, true).unwrap();
        let cached = store.cached_nodes();
        assert!(cached > 16, "upper nodes are cached at commit ({cached})");
        for height in 1..=20u32 {
            let block: Changes = (0..100)
                .map(|i| (key((i * 29 + height * 7) % 3_000), Some(vec![height as u8])))
                .collect();
            store
                .commit(u64::from(height), &block, height % 3 == 0)
                .unwrap();
            assert_eq!(store.cached_nodes(), cached, "height {height}");
        }
        drop(store);
        let store = LedgerStore::open(&path).unwrap();
        assert_eq!(store.cached_nodes(), 0);
        let snapshot = store.snapshot().unwrap();
        for i in 0..3_000 {
            assert!(snapshot.read(&key(i)).unwrap().is_some());
        }
        assert!(store.cached_nodes() <= cached);
        assert!(store.cached_nodes() > 16);
    }

    /// A snapshot taken while a block is only in memory still reads it after a flush moved it
    /// to disk (its old read transaction cannot see the flush).
    #[test]
    fn a_snapshot_reads_through_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let store = LedgerStore::create(&dir.path().join("state.redb")).unwrap();
        let genesis: Changes = (0..3).map(|i| (key(i), Some(vec![1]))).collect();
        store.commit(0, &genesis, true).unwrap();
        let block: Changes = [(key(7), Some(vec![7]))].into_iter().collect();
        store.commit(1, &block, false).unwrap();
        let snapshot = store.snapshot().unwrap();
        store.commit(2, &Changes::new(), true).unwrap();
        assert_eq!(snapshot.read(&key(7)).unwrap(), Some(vec![7]));
        assert_eq!(snapshot.read(&key(1)).unwrap(), Some(vec![1]));
        assert_eq!(snapshot.read(&key(9)).unwrap(), None);
    }

    /// Proofs verify at every height, whether it is on disk (proven without the in-memory
    /// layer's lock) or still only in memory, through a reader held apart from the store.
    #[test]
    fn proofs_verify_on_disk_and_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let store = LedgerStore::create(&dir.path().join("state.redb")).unwrap();
        let reader = store.reader();
        let genesis: Changes = (0..200).map(|i| (key(i), Some(vec![0]))).collect();
        store.commit(0, &genesis, true).unwrap();
        for height in 1..=6u32 {
            let block: Changes = [(key(height), Some(vec![height as u8]))]
                .into_iter()
                .collect();
            // Heights 1 to 3 reach the disk; 4 to 6 stay in memory.
            store
                .commit(u64::from(height), &block, height <= 3)
                .unwrap();
        }
        for height in 0..=6u64 {
            for (k, expected) in [
                (key(2), Some(vec![if height >= 2 { 2 } else { 0 }])),
                (key(5), Some(vec![if height >= 5 { 5 } else { 0 }])),
                (b"absent".to_vec(), None),
            ] {
                let (value, proof, root) = reader.prove(&k, height).unwrap();
                assert_eq!(value, expected, "height {height}");
                assert_eq!(root, store.root_at(height).unwrap());
                verify_proof(&root, &k, value.as_deref(), &proof).unwrap();
            }
        }
        assert_eq!(reader.snapshot().unwrap().height(), Some(6));
    }

    /// Deleting absent keys (a no-op for the tree) does not leave old roots in the node cache.
    #[test]
    fn no_op_deletions_do_not_grow_the_node_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store = LedgerStore::create(&dir.path().join("state.redb")).unwrap();
        let genesis: Changes = (0..500).map(|i| (key(i), Some(vec![1]))).collect();
        store.commit(0, &genesis, true).unwrap();
        let cached = store.cached_nodes();
        for height in 1..=10u32 {
            let block: Changes = [
                (key(height), Some(vec![height as u8])),
                (format!("absent-{height}").into_bytes(), None),
            ]
            .into_iter()
            .collect();
            store.commit(u64::from(height), &block, false).unwrap();
            assert_eq!(store.cached_nodes(), cached, "height {height}");
        }
    }

    /// A commit must be for the next height; a wrong one is refused and changes nothing.
    #[test]
    fn commits_out_of_order_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = LedgerStore::create(&dir.path().join("state.redb")).unwrap();
        let genesis: Changes = [(key(1), Some(vec![1]))].into_iter().collect();
        let root = store.commit(0, &genesis, true).unwrap();
        let block: Changes = [(key(1), Some(vec![2]))].into_iter().collect();
        for height in [0, 2] {
            assert!(matches!(
                store.commit(height, &block, true),
                Err(StoreError::OutOfOrder { expected: 1, .. })
            ));
        }
        assert_eq!(store.head().unwrap(), Some((0, root)));
        assert_eq!(
            store.snapshot().unwrap().read(&key(1)).unwrap(),
            Some(vec![1])
        );
    }
}
