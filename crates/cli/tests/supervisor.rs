//! End-to-end: `cairn devnet` supervises its validators. One killed with SIGKILL is restarted
//! after a backoff, the devnet says why, and the restarted validator catches up; Ctrl-C stops
//! them all.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
#[path = "common/nodes.rs"]
mod nodes;
use nodes::{height, wait_for};

#[test]
#[ignore = "slow tier (over a minute): scripts/test.sh runs it; --quick skips it"]
fn a_crashed_validator_is_restarted_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("devnet");
    // Ports 10000-11999 (8000-9999: roots_after_outage).
    let base = common::port_base(10_000, 400, 5);
    let stderr_path = dir.path().join("devnet.err");
    let mut devnet = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "devnet",
            "--validators",
            "4",
            "--blocks-per-epoch",
            "600",
            "--devices",
            "0",
            "--coverage-devices",
            "0",
            "--hotspots",
            "0",
        ])
        .arg("--data-dir")
        .arg(&home)
        .args(["--base-port", &base.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let api: Vec<String> = (0..4)
        .map(|i| format!("http://127.0.0.1:{}", base + 100 + i))
        .collect();
    let limit = Duration::from_secs(120);
    wait_for("every validator to finalize block 2", limit, || {
        api.iter().all(|a| height(a).is_some_and(|h| h >= 2))
    });

    let pid_file = home.join("node-2/node.pid");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let killed = Command::new("kill").args(["-KILL", pid.trim()]).status();
    assert!(killed.unwrap().success());
    let said = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    wait_for("the devnet to say it restarts validator 2", limit, || {
        said().contains("validator 2 exited") && said().contains("validator 2: restarting")
    });
    assert!(said().contains("restarting it in 1 s"), "{}", said());
    let restarted = std::fs::read_to_string(&pid_file).unwrap();
    assert_ne!(restarted.trim(), pid.trim(), "the same process id");
    let target = height(&api[0]).unwrap();
    wait_for("validator 2 to catch up", limit, || {
        height(&api[2]).is_some_and(|h| h >= target)
    });

    // Ctrl-C: the devnet stops every validator and exits.
    let _ = Command::new("kill")
        .args(["-INT", &devnet.id().to_string()])
        .status();
    let status = devnet.wait().unwrap();
    assert!(status.success(), "{status}: {}", said());
    assert!(!pid_file.exists(), "a pid file was left behind");
    assert!(
        api.iter().all(|a| height(a).is_none()),
        "a validator still answers"
    );
}
