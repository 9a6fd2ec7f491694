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

/// The first port of a block of `span` ports on 127.0.0.1 that are all free now, from one of
/// `slots` blocks starting at `lo` (the search starts at a block picked by the process id, so two
/// runs at once seldom meet). The blocks stay below 32768, where Linux hands out the ports of
/// outgoing connections: a test node must never find its port taken by a client's socket.
pub(crate) fn port_base(lo: u16, span: u16, slots: u16) -> u16 {
    let top = u32::from(lo) + u32::from(span) * u32::from(slots);
    assert!(
        top <= 32_768,
        "test ports {lo}..{top} reach the ephemeral range"
    );
    let first = (std::process::id() % u32::from(slots)) as u16;
    let free = |base: u16| {
        (base..base + span).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
    };
    (0..slots)
        .map(|k| lo + ((first + k) % slots) * span)
        .find(|&base| free(base))
        .unwrap_or(lo + first * span)
}
