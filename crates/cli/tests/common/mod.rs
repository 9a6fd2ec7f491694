//! Helpers shared by the end-to-end tests: run the `cairn` binary as a user would.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `cairn` with `home` as its key home (encrypted keys unlock with a fixed passphrase).
pub(crate) fn cairn(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .env("CAIRN_HOME", home)
        .env("CAIRN_PASSPHRASE", "correct horse battery staple")
        .output()
        .expect("cairn runs")
}

/// Runs `cairn` and returns its standard output; fails the test if it fails.
pub(crate) fn ok(home: &Path, args: &[&str]) -> String {
    let out = cairn(home, args);
    assert!(
        out.status.success(),
        "cairn {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
