//! `cairn bench flood`: a flood of expensive API requests against one or more nodes, to check
//! that it cannot starve consensus (run it against your own node only).
//!
//! `--clients` threads each keep one connection to a node and send state proofs
//! (`/v1/state/{key}?prove=true`) and recent blocks (`/v1/blocks/{h}`) in turn, at `--rate`
//! requests per second in all. On loopback each client sends from its own address
//! (127.0.0.2, 127.0.0.3, …; `--loopback-net N` takes them from 127.0.N.0/24 instead) so that
//! the nodes see many clients, as they would a distributed flood, and not one that their
//! per-client rate limit stops. (A node shares its expensive slots among client groups, /24s:
//! one such flood is one group; an honest reader is another `--loopback-net`.) Another thread holds `--idle`
//! connections that send nothing, opening a new one whenever a node closes one. The
//! process's open-file limit is raised to its hard limit for them. Prints one JSON line: the
//! answers by kind, the latency of the served ones, the idle connections kept, and the CPU
//! this process used.

use crate::procstat::process_cpu_seconds;
use anyhow::{bail, Context as _, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Options of `cairn bench flood`.
#[derive(Args, Clone)]
pub(crate) struct FloodArgs {
    /// A node's API (repeat for several; clients are spread over them).
    #[arg(long = "node", required = true)]
    nodes: Vec<String>,
    /// Requests per second in all.
    #[arg(long, default_value_t = 2_000)]
    rate: u64,
    /// Client threads, each with its own connection (and, on loopback, its own address).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=250))]
    clients: u64,
    /// Idle connections held open.
    #[arg(long, default_value_t = 2_000)]
    idle: usize,
    /// How long to flood, in seconds.
    #[arg(long, default_value_t = 60)]
    secs: u64,
    /// Accounts whose state is proven (the `cairn bench devnet` senders).
    #[arg(long, default_value_t = 2_000)]
    accounts: usize,
    /// On loopback, the clients send from 127.0.N.2, 127.0.N.3, …
    #[arg(long, default_value_t = 0)]
    loopback_net: u8,
}

/// The figures, printed as one JSON line.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct FloodReport {
    /// Requests sent.
    pub(crate) requests: u64,
    /// Answered 200.
    pub(crate) served: u64,
    /// Answered 429 (the client's rate).
    pub(crate) rate_limited: u64,
    /// Answered 503 (a bound of the node).
    pub(crate) busy: u64,
    /// Other answers, failed connections and timeouts.
    pub(crate) errors: u64,
    /// Median latency of the served requests, ms.
    pub(crate) served_p50_ms: u64,
    /// 99th percentile of the same.
    pub(crate) served_p99_ms: u64,
    /// Idle connections asked for.
    pub(crate) idle_target: usize,
    /// Idle connections open on average (sampled every 500 ms).
    pub(crate) idle_open_avg: u64,
    /// Idle connections the nodes closed (and the flood opened again).
    pub(crate) idle_closed_by_nodes: u64,
    /// CPU this process used, in cores (1.0: one core all the time).
    pub(crate) cpu_cores: Option<f64>,
    /// Seconds flooded.
    pub(crate) secs: u64,
}

/// Counters the clients share.
#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    served: AtomicU64,
    rate_limited: AtomicU64,
    busy: AtomicU64,
    errors: AtomicU64,
    latencies_ms: Mutex<Vec<u64>>,
}

/// Runs `cairn bench flood`.
pub(crate) fn run(args: FloodArgs) -> Result<()> {
    let report = flood(&args)?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn flood(args: &FloodArgs) -> Result<FloodReport> {
    // The node's own helper: the soft open-file limit up to the hard one.
    let _ = cairn_node::fdlimit::raise_open_file_limit();
    let targets: Vec<SocketAddr> = args
        .nodes
        .iter()
        .map(|url| {
            let host = url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string();
            host.to_socket_addrs()
                .with_context(|| format!("--node {url}"))?
                .next()
                .with_context(|| format!("--node {url}: no address"))
        })
        .collect::<Result<_>>()?;
    if targets.is_empty() {
        bail!("give at least one --node");
    }
    let keys: Vec<String> = (0..args.accounts.max(1))
        .map(|i| {
            let key = cairn_types::SecretKey::from_label(&format!("bench-sender-{i}"));
            let address = cairn_types::Address(key.public_key());
            hex::encode(cairn_ledger::StateKey::Account(address).to_bytes())
        })
        .collect();
    let counts = Counts::default();
    let stop = AtomicBool::new(false);
    let idle = IdleStats::default();
    let cpu_start = process_cpu_seconds("self");
    let started = Instant::now();
    let interval = Duration::from_secs_f64(args.clients as f64 / args.rate.max(1) as f64);
    std::thread::scope(|scope| {
        for c in 0..args.clients {
            let target = (targets[c as usize % targets.len()], args.loopback_net);
            let (counts, stop, keys) = (&counts, &stop, &keys);
            scope.spawn(move || client(c, target, interval, keys, counts, stop));
        }
        let (stop_ref, idle_ref, targets_ref) = (&stop, &idle, &targets);
        let net = args.loopback_net;
        scope.spawn(move || hold_idle((targets_ref, net), args.idle, idle_ref, stop_ref));
        while started.elapsed() < Duration::from_secs(args.secs) {
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let cpu = match (cpu_start, process_cpu_seconds("self")) {
        (Some(a), Some(b)) => Some(((b - a) / args.secs.max(1) as f64 * 100.0).round() / 100.0),
        _ => None,
    };
    let mut latencies = counts.latencies_ms.into_inner().unwrap_or_default();
    latencies.sort_unstable();
    let percentile = |p: usize| match latencies.len() {
        0 => 0,
        n => latencies[(n * p / 100).min(n - 1)],
    };
    let samples = idle.samples.load(Ordering::Relaxed).max(1);
    Ok(FloodReport {
        requests: counts.requests.into_inner(),
        served: counts.served.into_inner(),
        rate_limited: counts.rate_limited.into_inner(),
        busy: counts.busy.into_inner(),
        errors: counts.errors.into_inner(),
        served_p50_ms: percentile(50),
        served_p99_ms: percentile(99),
        idle_target: args.idle,
        idle_open_avg: idle.open_sum.load(Ordering::Relaxed) / samples,
        idle_closed_by_nodes: idle.closed.load(Ordering::Relaxed),
        cpu_cores: cpu,
        secs: args.secs,
    })
}

/// A connection to `target`, from loopback address 127.0.`net`.(2 + `index` mod 250) when the
/// target is on loopback.
fn connect((target, net): (SocketAddr, u8), index: u64) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(target), Type::STREAM, None)?;
    if target.ip().is_loopback() && target.is_ipv4() {
        let last = u8::try_from(2 + index % 250).unwrap_or(2);
        let source = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, net, last)), 0);
        socket.bind(&source.into())?;
    }
    socket.connect_timeout(&target.into(), Duration::from_secs(5))?;
    let stream: TcpStream = socket.into();
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(stream)
}

/// One client: a keep-alive connection, proofs and blocks in turn every `interval`.
fn client(
    index: u64,
    target: (SocketAddr, u8),
    interval: Duration,
    keys: &[String],
    counts: &Counts,
    stop: &AtomicBool,
) {
    let mut connection: Option<TcpStream> = None;
    let mut head = 1u64;
    let mut next = Instant::now();
    let mut n = index;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        // Behind by more than a second: start again from now rather than burst.
        next = (next + interval).max(Instant::now() - Duration::from_secs(1));
        n = n
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let path = if n.is_multiple_of(20) {
            "/v1/status".to_string()
        } else if n.is_multiple_of(2) {
            format!(
                "/v1/state/{}?prove=true",
                keys[(n >> 33) as usize % keys.len()]
            )
        } else {
            format!(
                "/v1/blocks/{}?transactions=false",
                head.saturating_sub((n >> 33) % 100).max(1)
            )
        };
        let stream = match connection.take() {
            Some(s) => s,
            None => match connect(target, index) {
                Ok(s) => s,
                Err(_) => {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            },
        };
        counts.requests.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        match get(stream, &path) {
            Ok((status, body, stream)) => {
                connection = stream;
                match status {
                    200 => {
                        counts.served.fetch_add(1, Ordering::Relaxed);
                        let ms = u64::try_from(sent.elapsed().as_millis()).unwrap_or(u64::MAX);
                        if let Ok(mut l) = counts.latencies_ms.lock() {
                            l.push(ms);
                        }
                        if path == "/v1/status" {
                            if let Some(h) = serde_json::from_slice::<serde_json::Value>(&body)
                                .ok()
                                .and_then(|v| v["height"].as_u64())
                            {
                                head = h;
                            }
                        }
                    }
                    429 => {
                        counts.rate_limited.fetch_add(1, Ordering::Relaxed);
                    }
                    503 => {
                        counts.busy.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        counts.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Err(_) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Sends `GET path` and reads the answer (status, body); the connection back if it stays
/// open.
fn get(mut stream: TcpStream, path: &str) -> std::io::Result<(u16, Vec<u8>, Option<TcpStream>)> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: cairn\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find(&buffer, b"\r\n\r\n") {
            break i + 4;
        }
        if buffer.len() > 64 * 1024 {
            return Err(std::io::Error::other("answer head too long"));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let keep = !head.contains("connection: close");
    Ok((status, body, keep.then_some(stream)))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What the idle holder saw.
#[derive(Default)]
struct IdleStats {
    open_sum: AtomicU64,
    samples: AtomicU64,
    closed: AtomicU64,
}

/// Holds `count` connections that send nothing, spread over `targets`; every 500 ms, finds
/// those a node closed and opens new ones.
fn hold_idle(
    (targets, net): (&[SocketAddr], u8),
    count: usize,
    stats: &IdleStats,
    stop: &AtomicBool,
) {
    let mut held: Vec<Option<TcpStream>> = (0..count).map(|_| None).collect();
    let mut probe = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        for (i, slot) in held.iter_mut().enumerate() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if let Some(stream) = slot {
                // A closed connection reads 0 bytes (or the node's 503) at once.
                match stream.read(&mut probe) {
                    Ok(_) => {
                        stats.closed.fetch_add(1, Ordering::Relaxed);
                        *slot = None;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        stats.closed.fetch_add(1, Ordering::Relaxed);
                        *slot = None;
                    }
                }
            }
            if slot.is_none() {
                let target = targets[i % targets.len()];
                *slot = connect((target, net), i as u64)
                    .and_then(|s| s.set_nonblocking(true).map(|()| s))
                    .ok();
            }
        }
        let open = held.iter().filter(|s| s.is_some()).count() as u64;
        stats.open_sum.fetch_add(open, Ordering::Relaxed);
        stats.samples.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(500));
    }
}
