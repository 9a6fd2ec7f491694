//! Faults, with real processes on loopback: a devnet's validators and oracle committee, and an
//! agent of the test's own that reaches the oracles through proxies the test can cut.
//! - Oracle 1 is SIGKILLed mid-epoch (the devnet restarts it): its log holds reports from both
//!   sides of the kill and none twice.
//! - Oracle 2 withholds its log: restarted with a public URL where nothing answers, it commits
//!   manifests no one can fetch. Its manifest is not counted, and the epoch's root lands anyway.
//! - The agent is cut off from every oracle for a while: its outbox grows, then drains once the
//!   oracles are back, and every report made offline is logged, none twice.
//! - Malformed, oversized, replayed, stale, too frequent and forged reports posted to a real
//!   oracle come back with their codes.
//! - Oracle 0's index file is replaced by bytes that are no database: it stops naming the file
//!   and the devnet restarts it until the file is back. It then reads through a node that lies
//!   about every state batch: the proofs do not check, the node is named in its log, the next
//!   node is asked, and its epochs' digests and roots are another oracle's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/lying_node.rs"]
mod lying_node;
#[path = "common/nodes.rs"]
mod nodes;
#[path = "common/running.rs"]
mod running;

use cairn_agent::config::{AgentConfig, RegisterSection, SimulationSection};
use cairn_agent::session::Session;
use cairn_agent::signer::FileSigner;
use cairn_ledger::state::records::EpochManifests;
use cairn_ledger::StateKey;
use cairn_oracle::log::format::decode_file;
use cairn_oracle::manifest::Manifest;
use cairn_types::report::{LoggedReport, ReportBatch, ReportBody, ReportPayload, SignedReport};
use cairn_types::{Amount, Epoch, Hash, SecretKey, Subnetwork};
use nodes::{agent, get, wait_for};
use running::{devnet, state, Running};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A TCP proxy to one oracle that the test can cut (every connection dropped, new ones refused)
/// and restore.
struct Proxy {
    url: String,
    online: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn to(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let online = Arc::new(AtomicBool::new(true));
        let live = Arc::new(Mutex::new(Vec::new()));
        let (on, streams) = (online.clone(), live.clone());
        std::thread::spawn(move || {
            for inbound in listener.incoming() {
                let Ok(inbound) = inbound else { continue };
                let outbound = match TcpStream::connect(target) {
                    Ok(outbound) if on.load(Ordering::SeqCst) => outbound,
                    _ => {
                        let _ = inbound.shutdown(Shutdown::Both);
                        continue;
                    }
                };
                let mut open = streams.lock().unwrap();
                open.push(inbound.try_clone().unwrap());
                open.push(outbound.try_clone().unwrap());
                pipe(inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
                pipe(outbound, inbound);
            }
        });
        Proxy { url, online, live }
    }

    fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::SeqCst);
        if !online {
            for stream in self.live.lock().unwrap().drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn bytes(url: &str) -> Option<Vec<u8>> {
    let mut response = agent().get(url).call().ok()?;
    if response.status() != 200 {
        return None;
    }
    response.body_mut().read_to_vec().ok()
}

/// Every report in an oracle's files for epochs `0..=last` (read from its own API, whatever URL
/// it publishes), in file order.
fn logged(oracle: &str, last: u64) -> Vec<LoggedReport> {
    let mut names = Vec::new();
    let mut reports = Vec::new();
    for e in 0..=last {
        let Some(raw) = bytes(&format!("{oracle}/v1/manifests/{e}")) else {
            continue;
        };
        let manifest = Manifest::decode(&raw).unwrap();
        for file in manifest.files.iter() {
            let name = file.name.as_str().to_string();
            if names.contains(&name) {
                continue;
            }
            let raw = bytes(&format!("{oracle}/v1/logs/{name}")).unwrap();
            reports.extend(decode_file(&raw).unwrap().1);
            names.push(name);
        }
    }
    reports
}

fn agent_status(url: &str) -> Value {
    get(&format!("{url}/status"))
        .map(|(_, v)| v)
        .unwrap_or(Value::Null)
}

/// Posts a batch's bytes; returns the HTTP status and the answer.
fn post_raw(oracle: &str, body: &[u8]) -> (u16, Value) {
    let mut response = agent()
        .post(&format!("{oracle}/v1/reports"))
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The codes (or statuses) of each report of a batch's answer.
fn codes(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("not a batch answer: {answer}"))
        .iter()
        .map(|r| {
            r["code"]
                .as_str()
                .unwrap_or_else(|| r["status"].as_str().unwrap())
                .to_string()
        })
        .collect()
}

fn write_agent_config(dir: &Path, home: &Path, node: &str, oracles: Vec<String>, status: u16) {
    let config = AgentConfig {
        chain_id: "cairn-devnet".into(),
        data_dir: "data".into(),
        oracles,
        copies: 2,
        status_listen: format!("127.0.0.1:{status}"),
        heartbeat_interval_secs: 3,
        clock_sync_secs: 10,
        delivery_interval_ms: 500,
        simulation: SimulationSection {
            devices: 3,
            seed: "faults".into(),
        },
        register: RegisterSection {
            node: node.to_string(),
            owner: "alice".into(),
            owner_home: home.to_str().unwrap().into(),
            burn_tokens: Amount::tokens(200),
        },
        ..AgentConfig::default()
    };
    let mut config = config;
    config.device.key_file = String::new();
    // Storage devices are paid by uptime (heartbeats) until their verifier lands: every epoch
    // with reports has a root, which this test needs (weather stations need whole hours of
    // readings, which the test's 8-second epochs do not hold).
    config.device.subnetwork = Subnetwork::Storage;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("agent.toml"), config.to_toml()).unwrap();
}

fn pid(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap().trim().to_string()
}

#[test]
#[ignore = "slow tier (over a minute): scripts/test.sh runs it; --quick skips it"]
fn a_killed_oracle_a_withholding_oracle_and_an_offline_agent_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("devnet");
    // Ports 16000-19999, apart from every other end-to-end test (12000-15999: oracle_e2e).
    let base = common::port_base(16_000, 400, 10);
    let _devnet = devnet(&home, base, (0, 0, 0), 40, &dir.path().join("devnet.log"));
    let node = format!("http://127.0.0.1:{}", base + 100);
    let oracle_addr = |i: u16| SocketAddr::from(([127, 0, 0, 1], base + 200 + i));
    let oracles: Vec<String> = (0..3)
        .map(|i| format!("http://{}", oracle_addr(i)))
        .collect();
    wait_for("the oracles", Duration::from_secs(120), || {
        oracles
            .iter()
            .all(|o| get(&format!("{o}/v1/status")).is_some_and(|(s, _)| s == 200))
    });

    // The test's agent, through proxies.
    let proxies: Vec<Proxy> = (0..3).map(|i| Proxy::to(oracle_addr(i))).collect();
    let agent_dir = dir.path().join("agent");
    let status_port = base + 380;
    let status_url = format!("http://127.0.0.1:{status_port}");
    write_agent_config(
        &agent_dir,
        &home,
        &node,
        proxies.iter().map(|p| p.url.clone()).collect(),
        status_port,
    );
    let agent_log = std::fs::File::create(agent_dir.join("agent.log")).unwrap();
    let agent_process = Running(
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("agent")
            .arg("--config")
            .arg(agent_dir.join("agent.toml"))
            .env("CAIRN_HOME", &home)
            .env("CAIRN_PASSPHRASE", "correct horse battery staple")
            .stdin(Stdio::null())
            .stdout(agent_log.try_clone().unwrap())
            .stderr(agent_log)
            .spawn()
            .unwrap(),
    );
    let accepted = |s: &Value| -> Vec<u64> {
        s["oracles"]
            .as_array()
            .map(|o| o.iter().map(|o| o["accepted"].as_u64().unwrap()).collect())
            .unwrap_or_default()
    };
    wait_for(
        "reports accepted by every oracle",
        Duration::from_secs(180),
        || {
            let a = accepted(&agent_status(&status_url));
            a.len() == 3 && a.iter().all(|n| *n > 0)
        },
    );

    // Oracle 1 is SIGKILLed mid-epoch; oracle 2 is restarted with a URL that serves nothing.
    let dead_url = format!("http://127.0.0.1:{}", base + 390);
    let oracle2_toml = home.join("oracle-2/oracle.toml");
    let text = std::fs::read_to_string(&oracle2_toml).unwrap();
    let text = text.replace(&format!("\"{}\"", oracles[2]), &format!("\"{dead_url}\""));
    assert!(text.contains(&dead_url), "no public_url in:\n{text}");
    std::fs::write(&oracle2_toml, text).unwrap();
    let killed_ms = now_ms();
    for i in [1, 2] {
        let pid = pid(&home.join(format!("oracle-{i}/oracle.pid")));
        assert!(Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success());
    }
    // Oracle 1 is dead: whatever it takes from here on was received after the kill.
    let accepted_before_kill = accepted(&agent_status(&status_url))[1];
    std::thread::sleep(Duration::from_secs(3));
    wait_for("the killed oracles back", Duration::from_secs(60), || {
        oracles[1..]
            .iter()
            .all(|o| get(&format!("{o}/v1/status")).is_some_and(|(s, _)| s == 200))
    });
    // The restarted oracle 1 takes reports again (the agent retries it after a backoff of up
    // to 30 s; two copies are enough, so without this wait the others could take them all).
    wait_for(
        "the restarted oracle 1 taking reports",
        Duration::from_secs(120),
        || accepted(&agent_status(&status_url)).get(1) > Some(&accepted_before_kill),
    );

    // The agent is cut off from every oracle; it keeps reporting into its outbox. (Shorter than
    // the devnet's `report_delay_max_secs`, 20 s: older reports are refused as stale.)
    let before = agent_status(&status_url)["reports_made"].as_u64().unwrap();
    for proxy in &proxies {
        proxy.set_online(false);
    }
    let offline_from_ms = now_ms();
    std::thread::sleep(Duration::from_secs(12));
    let offline = agent_status(&status_url);
    let offline_until_ms = now_ms();
    assert!(
        offline["reports_made"].as_u64().unwrap() > before,
        "{offline}"
    );
    assert!(offline["outbox"].as_u64().unwrap() > 0, "{offline}");
    for proxy in &proxies {
        proxy.set_online(true);
    }
    wait_for("the backlog delivered", Duration::from_secs(120), || {
        agent_status(&status_url)["outbox"].as_u64() == Some(0)
    });
    let delivered = agent_status(&status_url);
    for oracle in delivered["oracles"].as_array().unwrap() {
        assert_eq!(oracle["refused"], serde_json::json!({}), "{delivered}");
    }

    // The agent is cut off again (its counts final) and stopped.
    for proxy in &proxies {
        proxy.set_online(false);
    }
    std::thread::sleep(Duration::from_secs(2));
    let last_status = agent_status(&status_url);
    drop(agent_process);
    let stopped_ms = now_ms();

    // The root of an epoch whose manifests oracle 2 committed with its dead URL lands.
    let mut withheld = None;
    wait_for(
        "a root for an epoch oracle 2 withheld",
        Duration::from_secs(600),
        || {
            for e in 0..40 {
                let Some(manifests) =
                    state::<EpochManifests>(&node, &StateKey::Manifests(Epoch(e)))
                else {
                    continue;
                };
                let withheld_here = manifests.0.values().any(|m| m.endpoint == dead_url);
                let root_key = StateKey::RewardRootOf(Subnetwork::Storage, Epoch(e));
                let landed = get(&format!(
                    "{node}/v1/state/{}",
                    hex::encode(root_key.to_bytes())
                ))
                .is_some_and(|(s, v)| s == 200 && v["value"].is_string());
                if withheld_here && landed {
                    withheld = Some((e, manifests));
                    return true;
                }
            }
            false
        },
    );
    let (epoch, manifests) = withheld.unwrap();
    for entry in manifests.0.values() {
        assert_eq!(
            entry.counted,
            entry.endpoint != dead_url,
            "epoch {epoch}: {manifests:?}"
        );
    }

    // Wait until every report the agent made is in an epoch cut at every oracle.
    let mut last = epoch;
    wait_for(
        "the agent's epochs in manifests",
        Duration::from_secs(300),
        || {
            let cut = |e: u64| {
                state::<EpochManifests>(&node, &StateKey::Manifests(Epoch(e)))
                    .is_some_and(|m| m.0.len() == 3)
            };
            while cut(last + 1) {
                last += 1;
            }
            state::<u64>(&node, &StateKey::RewardEpochEnd(Epoch(last)))
                .is_some_and(|end_ms| end_ms > stopped_ms)
        },
    );

    // Each oracle logged every report it acknowledged, and none twice (more than it
    // acknowledged only by the duplicates the agent was told of and what was left in flight);
    // the killed one holds reports from both sides of the kill; reports made offline reached
    // the oracles.
    let counts = |i: usize, field: &str| last_status["oracles"][i][field].as_u64().unwrap();
    let in_flight = last_status["outbox"].as_u64().unwrap();
    let mut union = HashSet::new();
    for (i, oracle) in oracles.iter().enumerate() {
        let reports = logged(oracle, last);
        let mut seen = HashSet::new();
        for r in &reports {
            assert!(
                seen.insert(r.report.id()),
                "oracle {i} logged a report twice"
            );
        }
        let (acked, duplicates) = (counts(i, "accepted"), counts(i, "duplicates"));
        let held = reports.len() as u64;
        assert!(
            acked <= held && held <= acked + duplicates + in_flight,
            "oracle {i} holds {held} reports; it acknowledged {acked} ({duplicates} \
             duplicates, {in_flight} in flight): {last_status}"
        );
        if i == 1 {
            assert!(reports.iter().any(|r| r.received_ms < killed_ms));
            assert!(reports.iter().any(|r| r.received_ms > killed_ms));
        }
        union.extend(
            reports
                .into_iter()
                .map(|r| (r.report.id(), r.report.body.time_ms)),
        );
    }
    let made = last_status["reports_made"].as_u64().unwrap();
    assert!(
        union.len() as u64 + in_flight >= made,
        "{made} reports made, {} logged, {in_flight} in flight",
        union.len()
    );
    let mut made_offline: BTreeMap<_, u64> = BTreeMap::new();
    for (_, time_ms) in &union {
        if (offline_from_ms + 1_000..offline_until_ms.saturating_sub(1_000)).contains(time_ms) {
            *made_offline.entry(time_ms / 1_000).or_default() += 1;
        }
    }
    assert!(
        made_offline.len() >= 2,
        "reports made offline missing from the logs: {made_offline:?}"
    );

    refusals_over_http(&oracles[0]);
    a_broken_index_then_a_lying_node(
        &home,
        &node,
        (&oracles[0], &oracles[1]),
        &dir.path().join("devnet.log"),
    );
}

/// Oracle 0 is killed with its index file replaced by bytes that are no database: each start
/// stops with a message naming the file, and the devnet restarts it (with a growing wait) until
/// the file is back. It restarts configured to read first through a node that lies about every
/// state batch; the lies are caught by the proofs and named, the next node is asked, and what
/// oracle 0 computes is what oracle 1 computes.
fn a_broken_index_then_a_lying_node(
    home: &Path,
    node: &str,
    (oracle, other): (&str, &str),
    devnet_log: &Path,
) {
    let liar = lying_node::LyingNode::to(node);
    let toml_path = home.join("oracle-0/oracle.toml");
    let text = std::fs::read_to_string(&toml_path).unwrap();
    let text = text.replace(
        &format!("node = \"{node}\""),
        &format!("node = \"{}\"", liar.url),
    );
    assert!(text.contains(&liar.url), "no node setting in:\n{text}");
    std::fs::write(&toml_path, text).unwrap();
    let index = home.join("oracle-0/data/index.redb");
    let kept = home.join("oracle-0/data/index.redb.kept");
    std::fs::rename(&index, &kept).unwrap();
    std::fs::write(&index, b"these bytes are no database").unwrap();
    let restarted_at = nodes::height(node).unwrap();
    let pid = pid(&home.join("oracle-0/oracle.pid"));
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap()
        .success());
    let oracle_log = || std::fs::read_to_string(home.join("oracle-0/oracle.log")).unwrap();
    wait_for(
        "oracle 0 to stop on its broken index, and be restarted",
        Duration::from_secs(60),
        || {
            let printout = std::fs::read_to_string(devnet_log).unwrap();
            let restarts = printout
                .lines()
                .filter(|l| l.contains("oracle 0") && l.contains("index.redb"))
                .count();
            restarts >= 2
        },
    );
    assert!(
        oracle_log().contains(&index.display().to_string()),
        "the oracle's log does not name its index file:\n{}",
        oracle_log()
    );
    std::fs::rename(&kept, &index).unwrap();
    wait_for("oracle 0 back", Duration::from_secs(120), || {
        get(&format!("{oracle}/v1/status")).is_some_and(|(s, _)| s == 200)
    });

    // Epochs rewarded after the restart: every batch the liar answered was a lie, yet oracle 0
    // computed them, so what it read came from the honest nodes; its digests (the counted
    // manifests, the tally, the payout, the cumulative rewards) and roots are oracle 1's.
    // (With no device reporting any more, these epochs pay nothing: the digests are what
    // there is to compare.)
    let first = restarted_at / 40 + 1;
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let signed_by = |url: &str, e: u64| -> Option<Value> {
        let (status, signed) = get(&format!("{url}/v1/rewards/{e}/signed"))?;
        (status == 200).then_some(signed)
    };
    let roots_of = |signed: &Value| -> Vec<(String, String)> {
        signed["roots"]
            .as_array()
            .map(|roots| {
                roots
                    .iter()
                    .map(|r| {
                        let hash = r[1]["hash"].as_str().unwrap_or_default();
                        (r[0].to_string(), hash.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut compared = 0;
    let mut next = first;
    loop {
        while let (Some(mine), Some(theirs)) = (signed_by(oracle, next), signed_by(other, next)) {
            assert_eq!(
                (&mine["digests"], roots_of(&mine)),
                (&theirs["digests"], roots_of(&theirs)),
                "epoch {next}: oracle 0 read something else than oracle 1"
            );
            compared += 1;
            next += 1;
        }
        if compared >= 2 && liar.lies_told() > 0 {
            break;
        }
        if std::time::Instant::now() > deadline {
            let lines: Vec<String> = oracle_log().lines().map(str::to_string).collect();
            let status = get(&format!("{oracle}/v1/status")).map(|(_, v)| v);
            panic!(
                "oracle 0 computed {compared} epochs from {first} through the lying node ({} lies \
                 told, chain at height {:?}); its status: {status:?}; its log:\n{}",
                liar.lies_told(),
                nodes::height(node),
                lines[lines.len().saturating_sub(60)..].join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = oracle_log();
    assert!(
        log.lines()
            .any(|l| l.contains("does not check") && l.contains(&liar.url)),
        "the lying node is not named in oracle 0's log:\n{log}"
    );
}

/// Bad reports posted to a real oracle get their codes; the forger comes last (it is blocked
/// for a minute after).
fn refusals_over_http(oracle: &str) {
    let (status, answer) = post_raw(oracle, b"\xff\xff\xff\xff");
    assert_eq!((status, answer["code"].as_str()), (400, Some("malformed")));
    let huge = vec![0u8; cairn_types::report::MAX_BATCH_BYTES + 1];
    let (status, answer) = post_raw(oracle, &huge);
    assert_eq!((status, answer["code"].as_str()), (413, Some("too_large")));

    // A device of the test's agent (registered), with a session of the test's.
    let chain = cairn_types::params::ChainId::new("cairn-devnet").unwrap();
    let device = FileSigner::from_key(SecretKey::from_label("faults/device-0"));
    let dir = tempfile::tempdir().unwrap();
    let session = Session::load_or_start(&chain, &device, &dir.path().join("s"), now_ms()).unwrap();
    let time: Value = get(&format!("{oracle}/v1/time")).unwrap().1;
    let entropy: Hash = serde_json::from_value(time["entropy"].clone()).unwrap();
    let report = |time_ms: u64, uptime_secs: u64| -> SignedReport {
        session.sign(ReportBody {
            time_ms,
            entropy,
            payload: ReportPayload::Heartbeat { uptime_secs },
        })
    };
    let batch = |reports: &[SignedReport]| ReportBatch::of(reports).unwrap().encode();

    let fresh = report(now_ms(), 1);
    let stale = report(now_ms() + 3_600_000, 2);
    let (_, answer) = post_raw(oracle, &batch(&[fresh.clone(), stale]));
    assert_eq!(codes(&answer), ["accepted", "stale"]);
    let (_, answer) = post_raw(oracle, &batch(std::slice::from_ref(&fresh)));
    assert_eq!(codes(&answer), ["duplicate"], "a replay is taken once");

    // More than the device's burst at once: the rest wait for its rate.
    let now = now_ms();
    let flood: Vec<SignedReport> = (0..1_000).map(|n| report(now, 100 + n)).collect();
    let mut limited = 0;
    for chunk in flood.chunks(500) {
        let (_, answer) = post_raw(oracle, &batch(chunk));
        limited += codes(&answer)
            .iter()
            .filter(|c| *c == "device_rate_limited")
            .count();
    }
    assert!(limited > 0, "a flood of one device was all taken");

    // A forgery under another device (the first is over its rate now).
    let other = FileSigner::from_key(SecretKey::from_label("faults/device-1"));
    let other = Session::load_or_start(&chain, &other, &dir.path().join("t"), now_ms()).unwrap();
    let mut forged = other.sign(ReportBody {
        time_ms: now_ms(),
        entropy,
        payload: ReportPayload::Heartbeat { uptime_secs: 1 },
    });
    forged.signature.0[10] ^= 1;
    let (_, answer) = post_raw(oracle, &batch(&[forged]));
    assert_eq!(codes(&answer), ["bad_signature"]);
    let (status, answer) = post_raw(oracle, &batch(&[report(now_ms(), 5_001)]));
    assert_eq!(
        (status, answer["code"].as_str()),
        (429, Some("client_rate_limited")),
        "the forger is blocked"
    );
}
