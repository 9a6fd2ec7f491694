//! The fetcher against a peer on loopback that serves, then stops serving, then lies.

use super::*;
use crate::manifest::ManifestFile;
use cairn_types::codec::{BoundedString, BoundedVec};
use cairn_types::PublicKey;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A one-thread HTTP/1.1 server answering `GET path` from a map (404 when absent).
pub(crate) fn serve(routes: Arc<Mutex<HashMap<String, Vec<u8>>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) <= 2 {
                    break;
                }
            }
            let path = request.split(' ').nth(1).unwrap_or("").to_string();
            let body = routes.lock().unwrap().get(&path).cloned();
            let (status, body) = match body {
                Some(b) => ("200 OK", b),
                None => ("404 Not Found", Vec::new()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    url
}

#[test]
fn kept_manifests_and_files_outlive_their_server_and_damaged_copies_are_refetched() {
    let dir = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(dir.path());
    let oracle = Address(PublicKey([7; 32]));
    let name = "0001796242075416-0000000017.log.gz";
    let content = b"the bytes of a log file".to_vec();
    let manifest = Manifest {
        epoch: Epoch(3),
        oracle,
        denylist: BoundedVec::from_bounded(Vec::new()),
        files: BoundedVec::new(vec![ManifestFile {
            name: BoundedString::new(name.to_string()).unwrap(),
            hash: file_hash(&content),
            bytes: content.len() as u64,
            reports: 1,
        }])
        .unwrap(),
    };
    let committed = manifest.hash();
    let routes = Arc::new(Mutex::new(HashMap::from([
        ("/v1/manifests/3".to_string(), manifest.encode()),
        (format!("/v1/logs/{name}"), content.clone()),
    ])));
    let endpoint = serve(routes.clone());

    // A manifest whose hash is not the committed one is refused.
    assert!(matches!(
        fetcher.manifest(&endpoint, &oracle, Epoch(3), &Hash([9; 32])),
        Err(FetchError::Mismatch { .. })
    ));
    let fetched = fetcher
        .manifest(&endpoint, &oracle, Epoch(3), &committed)
        .unwrap();
    assert_eq!(fetched, manifest);
    fetcher.files(&endpoint, &fetched).unwrap();
    assert_eq!(std::fs::read(fetcher.path(&oracle, name)).unwrap(), content);

    // The peer stops serving (after its manifest counted): the kept copies still serve.
    routes.lock().unwrap().clear();
    let again = fetcher
        .manifest(&endpoint, &oracle, Epoch(3), &committed)
        .unwrap();
    assert_eq!(again, manifest);
    fetcher.files(&endpoint, &again).unwrap();

    // A damaged kept file is not trusted: with the peer gone it is an error...
    std::fs::write(fetcher.path(&oracle, name), b"the bytes of a log fil3").unwrap();
    assert!(matches!(
        fetcher.files(&endpoint, &again),
        Err(FetchError::Unreachable { .. })
    ));
    // ...a peer serving other bytes under the name is refused...
    routes.lock().unwrap().insert(
        format!("/v1/logs/{name}"),
        b"other bytes, same name!".to_vec(),
    );
    assert!(matches!(
        fetcher.files(&endpoint, &again),
        Err(FetchError::Mismatch { .. })
    ));
    // ...and the right bytes are fetched again.
    routes
        .lock()
        .unwrap()
        .insert(format!("/v1/logs/{name}"), content.clone());
    fetcher.files(&endpoint, &again).unwrap();
    assert_eq!(std::fs::read(fetcher.path(&oracle, name)).unwrap(), content);
}

#[test]
fn a_manifest_naming_one_file_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(dir.path());
    let oracle = Address(PublicKey([7; 32]));
    let entry = |content: &[u8]| ManifestFile {
        name: BoundedString::new("0001796242075416-0000000017.log.gz".to_string()).unwrap(),
        hash: file_hash(content),
        bytes: content.len() as u64,
        reports: 1,
    };
    let manifest = Manifest {
        epoch: Epoch(3),
        oracle,
        denylist: BoundedVec::from_bounded(Vec::new()),
        files: BoundedVec::new(vec![entry(b"one"), entry(b"two")]).unwrap(),
    };
    let routes = HashMap::from([("/v1/manifests/3".to_string(), manifest.encode())]);
    let endpoint = serve(Arc::new(Mutex::new(routes)));
    let refused = fetcher.manifest(&endpoint, &oracle, Epoch(3), &manifest.hash());
    assert!(
        matches!(&refused, Err(FetchError::Mismatch { reason, .. }) if reason.contains("twice")),
        "{refused:?}"
    );
}

#[test]
fn temporary_files_a_crash_left_are_deleted_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let oracle = dir.path().join("ab");
    std::fs::create_dir_all(oracle.join("manifests")).unwrap();
    let partial = oracle.join("0000000000000100-0000000000.log.part-7-0");
    let partial_manifest = oracle.join("manifests").join("3-abc.part-7-1");
    let whole = oracle.join("0000000000000100-0000000000.log.gz");
    for path in [&partial, &partial_manifest, &whole] {
        std::fs::write(path, b"abc").unwrap();
    }
    let _fetcher = Fetcher::new(dir.path());
    assert!(!partial.exists() && !partial_manifest.exists());
    assert!(whole.exists());
}
