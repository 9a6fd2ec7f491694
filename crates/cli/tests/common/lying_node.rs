//! A node that lies: an HTTP proxy to a real node's API that changes one value in every state
//! batch it answers (its multi-proof then no longer checks against the attested root) and
//! passes every other request and answer on unchanged, signed-request header included.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The proxy's address and how many batch answers it changed.
pub(crate) struct LyingNode {
    pub(crate) url: String,
    pub(crate) lies: Arc<AtomicU64>,
}

impl LyingNode {
    /// Serves on a free loopback port, in front of the node API at `node` (`http://…`).
    pub(crate) fn to(node: &str) -> LyingNode {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let lies = Arc::new(AtomicU64::new(0));
        let (node, count) = (node.to_string(), lies.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (node, count) = (node.clone(), count.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &node, &count);
                });
            }
        });
        LyingNode { url, lies }
    }

    /// Batch answers changed so far.
    pub(crate) fn lies_told(&self) -> u64 {
        self.lies.load(Ordering::SeqCst)
    }
}

/// One request (the answer closes the connection).
fn serve(mut stream: TcpStream, node: &str, lies: &AtomicU64) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut request = lines.next().unwrap_or_default().split(' ');
    let method = request.next().unwrap_or("GET").to_string();
    let target = request.next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
        match name.as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "host" | "connection" | "transfer-encoding" | "accept-encoding" => {}
            _ => headers.push((name, value)),
        }
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let url = format!("{node}{target}");
    let agent = crate::nodes::agent();
    let answer = if method == "POST" {
        let mut request = agent.post(&url);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        request.send(&body[..])
    } else {
        let mut request = agent.get(&url);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        request.call()
    };
    let Ok(mut answer) = answer else {
        return stream.write_all(
            b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
    };
    let status = answer.status().as_u16();
    let kept: Vec<(&str, String)> = ["content-type", "retry-after", "cairn-lane"]
        .into_iter()
        .filter_map(|name| {
            let value = answer.headers().get(name)?.to_str().ok()?;
            Some((name, value.to_string()))
        })
        .collect();
    let mut out = answer
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap_or_default();
    if status == 200 && target.starts_with("/v1/state/batch") {
        if let Some(lie) = lie_about(&out) {
            out = lie;
            lies.fetch_add(1, Ordering::SeqCst);
        }
    }
    let mut head = format!("HTTP/1.1 {status} OK\r\n");
    for (name, value) in kept {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        out.len()
    ));
    stream.write_all(head.as_bytes())?;
    stream.write_all(&out)
}

/// The batch answer with the last hex digit of its first present value changed.
fn lie_about(answer: &[u8]) -> Option<Vec<u8>> {
    let mut json: Value = serde_json::from_slice(answer).ok()?;
    let value = json["values"]
        .as_array_mut()?
        .iter_mut()
        .find(|v| v.is_string())?;
    let mut hex = value.as_str()?.to_string();
    let last = hex.pop()?;
    hex.push(if last == '0' { '1' } else { '0' });
    *value = Value::String(hex);
    serde_json::to_vec(&json).ok()
}
