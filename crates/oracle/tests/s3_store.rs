//! The log store on a real S3 API: moto's S3 server on loopback (`pip install "moto[server]"`),
//! reached through `object_store` exactly as an oracle configured with `store = "s3://…"` is.
//! Built only with the `s3` feature; `scripts/test.sh` runs it when `moto_server` is installed.

#![cfg(feature = "s3")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use cairn_oracle::log::store::LogStore;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The S3 server, stopped however the test ends.
struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> (Moto, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server runs (pip install \"moto[server]\")");
    let moto = Moto(child);
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "moto_server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (moto, endpoint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_files_go_to_s3_and_come_back_byte_for_byte() {
    let (_moto, endpoint) = start_moto();
    // A bucket to write into (moto takes unsigned requests).
    let url = format!("{endpoint}/cairn-logs");
    let created = tokio::task::spawn_blocking(move || ureq::put(&url).send_empty().map(|_| ()))
        .await
        .unwrap();
    created.unwrap();

    let options: Vec<(String, String)> = [
        ("aws_endpoint", endpoint.as_str()),
        ("aws_allow_http", "true"),
        ("aws_access_key_id", "test"),
        ("aws_secret_access_key", "test"),
        ("aws_region", "us-east-1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let store = LogStore::from_url("s3://cairn-logs/oracle-0", &options).unwrap();

    let name = "0000000000000100-0000000000.log.gz";
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    store.put(name, bytes.clone()).await.unwrap();
    assert_eq!(store.get(name).await.unwrap().as_ref(), &bytes[..]);
    // Rolled again after a crash, the same file is written again: the same bytes stay.
    store.put(name, bytes.clone()).await.unwrap();
    assert_eq!(store.get(name).await.unwrap().as_ref(), &bytes[..]);
    // Retention deletes it; deleting what is gone is no error.
    store.delete(name).await.unwrap();
    assert!(store.get(name).await.is_err());
    store.delete(name).await.unwrap();
    // A bucket that does not exist is an error, not a panic.
    let missing = LogStore::from_url("s3://no-such-bucket/x", &options).unwrap();
    assert!(missing.put(name, b"abc".to_vec()).await.is_err());
}
