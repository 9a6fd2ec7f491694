//! A `cairn devnet` process for the oracle tests, and reads of the chain's state.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use cairn_ledger::StateKey;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A process stopped with SIGINT (the devnet stops its own processes) however the test ends.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Starts `cairn devnet` in `home` with `devices` honest weather stations, `coverage`
/// honest coverage devices and `hotspots` honest hotspots (0: no such agent), `blocks_per_epoch` blocks an epoch (at least 100
/// for stations: their hours need whole 10-second windows), ports from `base`, its printout in
/// `log`.
pub(crate) fn devnet(
    home: &Path,
    base: u16,
    (devices, coverage, hotspots): (u32, u32, u32),
    blocks_per_epoch: u64,
    log: &Path,
) -> Running {
    let log = std::fs::File::create(log).unwrap();
    Running(
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["devnet", "--devices", &devices.to_string()])
            .args(["--coverage-devices", &coverage.to_string()])
            .args(["--hotspots", &hotspots.to_string()])
            .args(["--blocks-per-epoch", &blocks_per_epoch.to_string()])
            .arg("--data-dir")
            .arg(home)
            .args(["--base-port", &base.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// The value under `key` in the node's state, decoded (None when absent or unreadable).
pub(crate) fn state<T: borsh::BorshDeserialize>(node: &str, key: &StateKey) -> Option<T> {
    let key = hex::encode(key.to_bytes());
    let (status, answer) = crate::nodes::get(&format!("{node}/v1/state/{key}"))?;
    let value = answer["value"].as_str().filter(|_| status == 200)?;
    cairn_types::codec::decode(&hex::decode(value).ok()?, 1 << 20).ok()
}

/// `account`'s balance, by `cairn query account` against `node`.
pub(crate) fn balance(home: &Path, node: &str, account: &str) -> cairn_types::Amount {
    let out = crate::common::ok(
        home,
        &["--json", "query", "--node", node, "account", account],
    );
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    answer["balance"].as_str().unwrap().parse().unwrap()
}

/// The three devnet oracles' logs, one after the other (empty where none is written yet).
pub(crate) fn oracle_logs(home: &Path) -> String {
    (0..3)
        .map(|i| {
            std::fs::read_to_string(home.join(format!("oracle-{i}/oracle.log"))).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
