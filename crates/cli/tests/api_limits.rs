//! End-to-end: the API's limits on a real validator process (one validator, small limits from
//! its `node.toml`): connections over the limit get a 503, a slow request head and an idle
//! connection are closed, a client over its rate gets 429, each with `Retry-After`; a batch
//! over its count and a WebSocket backfill too deep are refused, as is a subscriber over the
//! limit; and the chain finalizes on throughout. Then the wallet: the chain id from the home,
//! a node serving another chain refused, a node fee above the cap refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

mod common;
#[path = "common/nodes.rs"]
mod nodes;
use common::{cairn, ok};
use nodes::{agent, get, height, post, wait_for};

const LIMITS: &str = "
[api]
max_connections = 6
header_read_timeout_ms = 1500
idle_timeout_ms = 3000
request_timeout_ms = 2000
requests_per_second_per_client = 10
burst_per_client = 20
max_ws_subscribers = 1
ws_backfill_blocks = 3
max_batch = 5
";

/// Requests signed by a bonded oracle of the devnet (`oracle-0`, bonded in its genesis) take
/// the oracles' lane while this client's public rate is spent; a replayed header and a
/// stranger's signed request take the public lane (429 now, then served, saying why).
fn signed_lane_checks(home: &std::path::Path, api: &str) {
    use cairn_types::signed_request::{fresh_nonce, SignedRequest, HEADER};
    use cairn_types::SecretKey;
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("keys/oracle-0.json")).unwrap())
            .unwrap();
    let seed: [u8; 32] = hex::decode(file["secret"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let oracle = SecretKey::from_seed(seed);
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let signed = |key: &SecretKey, path: &str, body: &[u8]| {
        let method = if body.is_empty() { "GET" } else { "POST" };
        SignedRequest::sign(
            key,
            "cairn-devnet",
            (method, path, body),
            now_ms(),
            fresh_nonce(),
        )
        .to_header()
    };
    let lane = |response: &ureq::http::Response<ureq::Body>| {
        response
            .headers()
            .get("cairn-lane")
            .map(|v| v.to_str().unwrap().to_string())
    };
    // Many in a row: the oracle's own rate, not the spent public one.
    let header = signed(&oracle, "/v1/status", b"");
    for _ in 0..30 {
        let response = agent()
            .get(&format!("{api}/v1/status"))
            .header(HEADER, signed(&oracle, "/v1/status", b""))
            .call()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(lane(&response).as_deref(), Some("oracle"));
    }
    // A state batch, signed over its body.
    let body =
        json!({ "keys": [hex::encode(cairn_ledger::StateKey::Params.to_bytes())] }).to_string();
    let response = agent()
        .post(&format!("{api}/v1/state/batch"))
        .header("content-type", "application/json")
        .header(HEADER, signed(&oracle, "/v1/state/batch", body.as_bytes()))
        .send(body.as_bytes())
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(lane(&response).as_deref(), Some("oracle"));
    // A body other than the one whose hash was signed: refused, whatever the lane.
    let mut response = agent()
        .post(&format!("{api}/v1/state/batch"))
        .header("content-type", "application/json")
        .header(HEADER, signed(&oracle, "/v1/state/batch", b"{}"))
        .send(body.as_bytes())
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let answer: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(answer["error"]["code"], "signed_request_other_body");
    std::thread::sleep(Duration::from_secs(2));
    // Once the public rate refilled: a replayed header and a stranger are public requests.
    let first = agent()
        .get(&format!("{api}/v1/status"))
        .header(HEADER, &header)
        .call()
        .unwrap();
    assert_eq!(lane(&first).as_deref(), Some("oracle"));
    let replayed = agent()
        .get(&format!("{api}/v1/status"))
        .header(HEADER, &header)
        .call()
        .unwrap();
    assert_eq!(replayed.status().as_u16(), 200);
    assert_eq!(
        lane(&replayed).as_deref(),
        Some("public; signed_request_replayed")
    );
    let stranger = SecretKey::from_seed([9; 32]);
    let response = agent()
        .get(&format!("{api}/v1/status"))
        .header(HEADER, signed(&stranger, "/v1/status", b""))
        .call()
        .unwrap();
    assert_eq!(
        lane(&response).as_deref(),
        Some("public; signed_request_unknown_signer")
    );
    std::thread::sleep(Duration::from_secs(2));
}

/// `POST /v1/state/batch` on a real node: proven values, a lie caught, bounds refused.
fn state_batch_checks(api: &str) {
    use cairn_ledger::store::MultiProof;
    use cairn_ledger::StateKey;
    let keys = [
        StateKey::Params.to_bytes(),
        StateKey::ChainConfig.to_bytes(),
        StateKey::Device(cairn_types::DeviceId(cairn_types::PublicKey([9; 32]))).to_bytes(),
    ];
    let hex_keys: Vec<String> = keys.iter().map(hex::encode).collect();
    let head = height(api).unwrap();
    let url = format!("{api}/v1/state/batch?height={head}");
    let (status, answer) = post(&url, &json!({ "keys": hex_keys }).to_string());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["height"], json!(head));
    let values: Vec<Option<Vec<u8>>> = answer["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().map(|h| hex::decode(h).unwrap()))
        .collect();
    assert!(values[0].is_some() && values[1].is_some() && values[2].is_none());
    let root: cairn_types::Hash = serde_json::from_value(answer["state_root"].clone()).unwrap();
    let proof = hex::decode(answer["proof"].as_str().unwrap()).unwrap();
    let proof = MultiProof::decode(&proof, 1 << 20).unwrap();
    let entries: Vec<(&[u8], Option<&[u8]>)> = keys
        .iter()
        .zip(&values)
        .map(|(k, v)| (k.as_slice(), v.as_deref()))
        .collect();
    proof.verify(&root, &entries).unwrap();
    // The same proof does not vouch for a value the node might have swapped in.
    let mut lie = entries.clone();
    lie[2].1 = Some(b"registered");
    assert!(proof.verify(&root, &lie).is_err());
    let over = vec!["00"; 1_025];
    let (status, answer) = post(&url, &json!({ "keys": over }).to_string());
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (400, json!("batch_too_large"))
    );
    let (status, answer) = post(&url, &json!({ "keys": ["xyz"] }).to_string());
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (400, json!("malformed_key"))
    );
    let ahead = format!("{api}/v1/state/batch?height={}", head + 1_000_000);
    let (status, _) = post(&ahead, &json!({ "keys": ["00"] }).to_string());
    assert_eq!(status, 404);
    std::thread::sleep(Duration::from_secs(1)); // the client's rate refills
}

/// Reads what the server sends until it closes the connection (or `limit` passes).
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut text = Vec::new();
    match stream.read_to_end(&mut text) {
        Ok(_) => Some(String::from_utf8_lossy(&text).into_owned()),
        Err(_) => None, // still open after `limit`
    }
}

#[test]
fn the_api_refuses_what_is_over_its_limits_and_the_chain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("devnet");
    let base = common::port_base(30_000, 200, 10);
    nodes::init_devnet(&home, base, 1, 600);
    let config = home.join("node-0/node.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    // The devnet writes every limit at its default in the last section, [api]: replace it.
    let before_api = &text[..text.find("[api]").expect("an [api] section")];
    std::fs::write(&config, format!("{before_api}{LIMITS}")).unwrap();
    let (nodes, api) = nodes::start_all(&home, 1, base);
    let api = &api[0];
    let addr = format!("127.0.0.1:{}", base + 100);
    let start_height = height(api).unwrap();

    // Open connections: at most six are held; those over the limit get a 503 with
    // Retry-After and are closed. (Ten are opened: a connection of the readiness checks may
    // still hold a slot for a moment.)
    let opened: Vec<TcpStream> = (0..10)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut held = Vec::new();
    let mut refusals = Vec::new();
    // Checked without waiting (a wait would let the header-read time close the held ones).
    for mut stream in opened {
        stream.set_nonblocking(true).unwrap();
        let mut buffer = [0u8; 1024];
        match stream.read(&mut buffer) {
            Ok(n) => refusals.push(String::from_utf8_lossy(&buffer[..n]).into_owned()),
            Err(_) => {
                stream.set_nonblocking(false).unwrap();
                held.push(stream); // open, waiting for a request
            }
        }
    }
    assert!(
        held.len() <= 6 && refusals.len() >= 4,
        "{} held, refusals {refusals:?}; log:\n{}",
        held.len(),
        nodes.log_tail(0)
    );
    for answer in &refusals {
        assert!(
            answer.starts_with("HTTP/1.1 503"),
            "{answer:?} among {refusals:?}, {} held",
            held.len()
        );
        assert!(answer.contains("Retry-After: 1"), "{answer}");
        assert!(answer.contains("\"busy\""), "{answer}");
    }

    // A request head that never ends, and connections that say nothing, are closed after the
    // header-read time; then there is room again.
    assert!(!held.is_empty(), "no connection was held");
    held[0]
        .write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    for stream in &mut held {
        assert!(
            read_until_closed(stream, Duration::from_secs(10)).is_some(),
            "a silent connection stayed open"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        height(api).is_some(),
        "no room after idle connections closed"
    );

    // One client over its rate: 429 with Retry-After, then served again after waiting.
    let mut limited = None;
    for _ in 0..40 {
        let response = agent().get(&format!("{api}/v1/status")).call().unwrap();
        if response.status().as_u16() == 429 {
            limited = Some(response);
            break;
        }
    }
    let mut limited = limited.expect("no 429 within 40 quick requests at 10/s, burst 20");
    assert!(limited.headers().get("retry-after").is_some());
    let body: Value = serde_json::from_str(&limited.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // This client's public rate is spent, yet a bonded oracle's signed requests are served,
    // in a lane of their own; a replayed or a stranger's signature is only a public request.
    signed_lane_checks(&home, api);

    // A batch over its count is refused before decoding; one within it is read.
    let batch = format!("{api}/v1/transactions/batch");
    let (status, answer) = post(&batch, &json!({ "txs": vec!["00"; 6] }).to_string());
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (400, json!("batch_too_large"))
    );
    let (status, answer) = post(&batch, &json!({ "txs": vec!["00"; 5] }).to_string());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"].as_array().unwrap().len(), 5);

    // A state batch: values with one multi-proof that checks against the state root given,
    // a present and an absent key alike; a lie is caught; over 1,024 keys is refused.
    state_batch_checks(api);

    // WebSocket: too deep a backfill is refused; a second subscriber over the limit is busy.
    wait_for("a few blocks", Duration::from_secs(60), || {
        height(api).is_some_and(|h| h >= start_height + 4)
    });
    let ws = |from: &str| format!("ws://{addr}/v1/ws/blocks{from}");
    match tungstenite::connect(ws("?from=1").as_str()) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("a deep backfill was accepted: {:?}", other.map(|_| ())),
    }
    let (mut first, _) = tungstenite::connect(ws("").as_str()).expect("one subscriber");
    match tungstenite::connect(ws("").as_str()) {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            assert!(response.headers().get("retry-after").is_some());
        }
        other => panic!("a second subscriber was accepted: {:?}", other.map(|_| ())),
    }
    let block: Value = serde_json::from_str(first.read().unwrap().to_text().unwrap()).unwrap();
    assert!(block["header"]["height"].as_u64().is_some());
    drop(first);

    // The wallet signs for the chain the home names (config.toml), and says what it signs.
    std::thread::sleep(Duration::from_secs(2));
    let out = cairn(
        &home,
        &[
            "--json", "tx", "--node", api, "--from", "alice", "--wait", "transfer", "--to", "bob",
            "--amount", "1",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("signing for chain cairn-devnet") && stderr.contains("fee 0.001"),
        "{stderr}"
    );
    // A node serving another chain than the one named is refused before signing.
    let out = cairn(
        &home,
        &[
            "tx",
            "--node",
            api,
            "--chain-id",
            "another-chain",
            "--from",
            "alice",
            "transfer",
            "--to",
            "bob",
            "--amount",
            "1",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("serves chain"));
    // A node fee above the cap needs --fee.
    let out = cairn(
        &home,
        &[
            "tx",
            "--node",
            api,
            "--max-fee",
            "0.0001",
            "--from",
            "alice",
            "transfer",
            "--to",
            "bob",
            "--amount",
            "1",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--fee 0.001"));
    assert!(ok(&home, &["keys", "list"]).contains("alice"));

    // Through all of it, the chain went on.
    let now = height(api).unwrap();
    assert!(now > start_height + 4, "{start_height} -> {now}");
    let _ = get(&format!("{api}/v1/status")).unwrap();
}
