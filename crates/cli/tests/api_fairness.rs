//! End-to-end: a node's expensive reads (proofs, blocks) are shared fairly among client
//! groups. A real validator process with two expensive slots, a flood of proof and block
//! requests from 100 loopback addresses of one /24 (2,000 a second, plus 100 idle connections:
//! 200 in all, within the group's 256, so every refusal it gets is a slot's, `cairn bench
//! flood`), and an honest reader in another /24: the reader still gets at least 90% of its
//! answers, while the flood is turned away in part. Latencies are printed, not asserted (they
//! depend on the machine). The group bound on connections has its own test
//! (`cairn-serve`'s `one_network_holds_at_most_its_group_share`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
#[path = "common/nodes.rs"]
mod nodes;

/// One `cairn bench flood` run to its end: its JSON report.
fn flood(api: &str, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["bench", "flood", "--node", api, "--accounts", "50"])
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("cairn bench flood runs");
    assert!(out.status.success(), "cairn bench flood {args:?} failed");
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().last().expect("a report line")).unwrap()
}

/// The honest reader: 2 connections from 127.0.1.x, 20 proofs and blocks a second for 10 s.
fn honest_reader(api: &str) -> Value {
    flood(
        api,
        &[
            "--rate",
            "20",
            "--clients",
            "2",
            "--idle",
            "0",
            "--secs",
            "10",
            "--loopback-net",
            "1",
        ],
    )
}

fn served_share(report: &Value) -> f64 {
    let requests = report["requests"].as_u64().unwrap().max(1);
    report["served"].as_u64().unwrap() as f64 / requests as f64
}

#[test]
#[ignore = "slow tier (a real validator under a flood, about a minute)"]
fn a_flood_from_one_network_cannot_crowd_out_an_honest_reader() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("devnet");
    let base = common::port_base(32_000, 200, 3);
    nodes::init_devnet(&home, base, 1, 600);
    // Two expensive slots instead of 8, so that this machine's flood fills them for sure.
    let config = home.join("node-0/node.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("max_concurrent_expensive = 8"), "{text}");
    let text = text.replace(
        "max_concurrent_expensive = 8",
        "max_concurrent_expensive = 2",
    );
    std::fs::write(&config, text).unwrap();
    let (nodes, api) = nodes::start_all(&home, 1, base);
    let api = api[0].clone();

    let quiet = honest_reader(&api);
    let flooding = {
        let api = api.clone();
        std::thread::spawn(move || {
            flood(
                &api,
                &[
                    "--rate",
                    "2000",
                    "--clients",
                    "100",
                    "--idle",
                    "100",
                    "--secs",
                    "25",
                ],
            )
        })
    };
    // Let the flood take every slot and fill its queue before the reader comes.
    std::thread::sleep(Duration::from_secs(4));
    let flooded = honest_reader(&api);
    let flood_report = flooding.join().expect("the flood thread");
    println!("honest reader, quiet:   {quiet}");
    println!("honest reader, flooded: {flooded}");
    println!("flood (127.0.0.0/24):   {flood_report}");

    // The flood was a real one: the node turned part of it away.
    assert!(
        flood_report["busy"].as_u64().unwrap() > 0,
        "the flood never filled the node's expensive slots: {flood_report}\n{}",
        nodes.log_tail(0)
    );
    assert!(served_share(&quiet) >= 0.99, "quiet: {quiet}");
    assert!(
        served_share(&flooded) >= 0.9,
        "the honest reader got {:.0}% of its answers under the flood: {flooded}",
        100.0 * served_share(&flooded)
    );
    // And the chain's own API still answers.
    assert!(nodes::height(&api).is_some());
}
