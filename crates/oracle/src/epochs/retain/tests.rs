//! Retention deletes what is older than the cut, and only that.

use super::*;
use crate::index::FileMeta;
use crate::manifest::{Manifest, ManifestFile};
use cairn_types::codec::{BoundedString, BoundedVec};
use cairn_types::{Address, Hash, PublicKey};

fn meta(seq: u64, time_ms: (u64, u64)) -> FileMeta {
    FileMeta {
        seq,
        hash: Hash([seq as u8; 32]),
        bytes: 3,
        reports: 1,
        received_ms: time_ms,
        time_ms,
    }
}

fn manifest(epoch: u64, oracle: Address, names: &[&str]) -> Manifest {
    let files = names
        .iter()
        .map(|name| ManifestFile {
            name: BoundedString::new(name.to_string()).unwrap(),
            hash: Hash([0; 32]),
            bytes: 3,
            reports: 1,
        })
        .collect();
    Manifest {
        epoch: Epoch(epoch),
        oracle,
        denylist: BoundedVec::from_bounded(Vec::new()),
        files: BoundedVec::new(files).unwrap(),
    }
}

#[test]
fn what_is_older_than_the_cut_goes_and_the_rest_stays() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let index = Index::open(&dir.path().join("index.redb")).unwrap();
    let store = LogStore::local(&dir.path().join("store")).unwrap();
    let fetcher = Fetcher::new(&dir.path().join("peers"));

    // Our files: one wholly before the cut (epoch 2 starts at 250 ms), one reaching past it.
    let (old, spanning) = (
        "0000000000000100-0000000000.log.gz",
        "0000000000000200-0000000001.log.gz",
    );
    for (name, m) in [(old, meta(0, (100, 200))), (spanning, meta(1, (200, 300)))] {
        runtime.block_on(store.put(name, b"abc".to_vec())).unwrap();
        index.record_file(name, &m).unwrap();
    }
    index.put_manifest(Epoch(1), b"one").unwrap();
    index.put_manifest(Epoch(2), b"two").unwrap();
    let results: Vec<(String, Vec<u8>)> = (0..3)
        .flat_map(|e| [format!("signed/{e}"), format!("cumulative/{e}")])
        .map(|name| (name, b"x".to_vec()))
        .collect();
    index.put_blobs(&results).unwrap();

    // A peer's kept copies: manifests of epochs 1 and 2, the second naming one file.
    let peer = Address(PublicKey([5; 32]));
    let (gone, named) = (
        "0000000000000110-0000000000.log.gz",
        "0000000000000260-0000000001.log.gz",
    );
    for (epoch, names) in [(1, vec![gone]), (2, vec![named])] {
        let m = manifest(epoch, peer, &names);
        let path = dir
            .path()
            .join("peers")
            .join(hex::encode(peer.0 .0))
            .join("manifests")
            .join(format!("{epoch}-{}", m.hash()));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, m.encode()).unwrap();
    }
    for name in [gone, named] {
        std::fs::write(fetcher.path(&peer, name), b"abc").unwrap();
    }

    let deleted = delete_before(
        &index,
        &store,
        &fetcher,
        runtime.handle(),
        (Epoch(2), Epoch(1)),
        250,
    )
    .unwrap();
    assert_eq!(deleted, 1);
    let names: Vec<String> = index.files().unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, [spanning]);
    assert!(runtime.block_on(store.get(old)).is_err());
    assert!(runtime.block_on(store.get(spanning)).is_ok());
    assert_eq!(index.manifest(Epoch(1)).unwrap(), None);
    assert_eq!(index.manifest(Epoch(2)).unwrap().unwrap(), b"two");
    // Results before the epoch before the cut go; epoch 1's cumulative rewards stay for epoch 2.
    assert_eq!(index.blob("signed/0").unwrap(), None);
    assert_eq!(index.blob("cumulative/0").unwrap(), None);
    assert!(index.blob("cumulative/1").unwrap().is_some());
    assert!(index.blob("signed/2").unwrap().is_some());
    assert!(!fetcher.path(&peer, gone).exists());
    assert!(fetcher.path(&peer, named).exists());
    let kept: Vec<_> = std::fs::read_dir(
        dir.path()
            .join("peers")
            .join(hex::encode(peer.0 .0))
            .join("manifests"),
    )
    .unwrap()
    .map(|e| e.unwrap().file_name().into_string().unwrap())
    .collect();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].starts_with("2-"));

    // Run again: nothing more goes.
    assert_eq!(
        delete_before(
            &index,
            &store,
            &fetcher,
            runtime.handle(),
            (Epoch(2), Epoch(1)),
            250
        )
        .unwrap(),
        0
    );
}
