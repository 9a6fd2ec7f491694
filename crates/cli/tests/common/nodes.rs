//! Node processes for end-to-end tests: start, kill, read their logs, and ask their API.

#![allow(dead_code)] // Each test binary uses its own part.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills every node when the test ends, however it ends.
pub(crate) struct Nodes {
    pub(crate) dir: PathBuf,
    pub(crate) children: Vec<Option<Child>>,
}

impl Nodes {
    pub(crate) fn start(&mut self, i: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("node-{i}/node.log")))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["node", "--config"])
            .arg(self.dir.join(format!("node-{i}/node.toml")))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("node starts");
        self.children[i] = Some(child);
    }

    pub(crate) fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
    }

    pub(crate) fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join(format!("node-{i}/node.log")))
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
    }
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

pub(crate) fn get(url: &str) -> Option<(u16, Value)> {
    let mut response = agent().get(url).call().ok()?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().ok()?;
    Some((status, serde_json::from_str(&body).ok()?))
}

pub(crate) fn post(url: &str, body: &str) -> (u16, Value) {
    let mut response = agent()
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .expect("the node answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(crate) fn height(api: &str) -> Option<u64> {
    get(&format!("{api}/v1/status")).and_then(|(_, v)| v["height"].as_u64())
}

pub(crate) fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Writes a devnet of `nodes` validators into `home` (ports from `base`, epochs of
/// `blocks_per_epoch` blocks), starts every node and waits until each has finalized block 2.
/// Returns the nodes and their API addresses.
pub(crate) fn start_devnet(
    home: &Path,
    base: u16,
    nodes: usize,
    blocks_per_epoch: u64,
) -> (Nodes, Vec<String>) {
    init_devnet(home, base, nodes, blocks_per_epoch);
    start_all(home, nodes, base)
}

/// Writes a devnet of `nodes` validators into `home` without starting it.
pub(crate) fn init_devnet(home: &Path, base: u16, nodes: usize, blocks_per_epoch: u64) {
    crate::common::ok(
        home,
        &[
            "devnet",
            "--init-only",
            "--validators",
            &nodes.to_string(),
            "--data-dir",
            home.to_str().expect("a UTF-8 path"),
            "--base-port",
            &base.to_string(),
            "--blocks-per-epoch",
            &blocks_per_epoch.to_string(),
        ],
    );
}

/// Starts the `nodes` validators of the devnet in `home` and waits until each has finalized
/// block 2. Returns them and their API addresses.
pub(crate) fn start_all(home: &Path, nodes: usize, base: u16) -> (Nodes, Vec<String>) {
    let api: Vec<String> = (0..nodes)
        .map(|i| format!("http://127.0.0.1:{}", base + 100 + i as u16))
        .collect();
    let mut running = Nodes {
        dir: home.to_path_buf(),
        children: (0..nodes).map(|_| None).collect(),
    };
    for i in 0..nodes {
        running.start(i);
    }
    let start = Instant::now();
    while !api.iter().all(|a| height(a).is_some_and(|h| h >= 2)) {
        if start.elapsed() > Duration::from_secs(120) {
            let logs: Vec<String> = (0..nodes)
                .map(|i| format!("node {i}:\n{}", running.log_tail(i)))
                .collect();
            panic!(
                "timed out waiting for every node to finalize block 2\n{}",
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (running, api)
}
