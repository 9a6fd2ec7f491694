//! Validator processes of a local devnet: where each lives, starting one, waiting until it
//! answers, stopping them all.

use anyhow::{Context as _, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The directory of validator `i` (its `node.toml`, data, log and pid file).
pub(crate) fn node_dir(data_dir: &Path, i: usize) -> PathBuf {
    data_dir.join(format!("node-{i}"))
}

/// Starts `cairn node --config CONFIG`, appending its output to `log_path`.
pub(crate) fn start_node(config_path: &Path, log_path: &Path) -> Result<Child> {
    start_process("node", config_path, log_path)
}

/// Starts `cairn SUBCOMMAND --config CONFIG`, appending its output to `log_path`.
pub(crate) fn start_process(
    subcommand: &str,
    config_path: &Path,
    log_path: &Path,
) -> Result<Child> {
    let exe = std::env::current_exe().context("finding the cairn executable")?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    Command::new(exe)
        .arg(subcommand)
        .arg("--config")
        .arg(config_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting a `cairn {subcommand}` process"))
}

/// Whether the API at `rpc` answers within `limit`.
pub(crate) fn wait_ready(rpc: SocketAddr, limit: Duration) -> bool {
    let client = crate::client::NodeClient::new(&format!("http://{rpc}"));
    let start = Instant::now();
    while start.elapsed() < limit {
        if client.get::<serde_json::Value>("/v1/status").is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Asks every validator to stop (SIGTERM), then kills those still running after 10 s.
pub(crate) fn stop_all(children: &mut [Option<Child>]) {
    for child in children.iter().flatten() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
    }
    let start = Instant::now();
    for child in children.iter_mut().flatten() {
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if start.elapsed() > Duration::from_secs(10) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}
