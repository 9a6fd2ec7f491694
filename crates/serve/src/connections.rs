//! Accepting and serving connections among strangers: a bounded number open at once (in all
//! and per client), a time limit on each request's head (also a keep-alive connection's wait
//! for its next request), and connections on which no byte moves closed. A connection over a
//! limit gets a 503 and is closed. Each request carries [`ClientAddr`] (and axum's
//! [`ConnectInfo`](axum::extract::ConnectInfo) of the peer) in its extensions.

use crate::fair::ClientGroup;
use crate::rate::ClientKey;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// The address of the client that sent a request (in the request's extensions).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub IpAddr);

/// The bounds on connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at once.
    pub max_connections: usize,
    /// Open connections of one client (an IPv4 address, an IPv6 /64) at once.
    pub max_connections_per_client: usize,
    /// Open connections of one client group (an IPv4 /24, an IPv6 /48: what one operator
    /// usually holds) at once, so that many addresses of one network cannot take every
    /// connection.
    pub max_connections_per_group: usize,
    /// Time a client has to send a request's head; a keep-alive connection waiting for its
    /// next request is closed after the same time.
    pub header_read_timeout_ms: u64,
    /// A connection on which no byte moves either way for this long is closed.
    pub idle_timeout_ms: u64,
}

/// The answer to a connection over the limit, written once before closing it.
const OVER_CONNECTION_LIMIT: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
Content-Type: application/json\r\nContent-Length: 79\r\nConnection: close\r\n\r\n\
{\"error\":{\"code\":\"busy\",\"message\":\"too many open connections; retry shortly\"}}\n";

/// Longest time spent answering a connection over the limit.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// Connections over a limit being answered (a 503, then closed) at once, each for at most
/// [`REFUSAL_TIME`]; past them a connection over a limit is just closed.
pub const REFUSALS_AT_ONCE: usize = 64;

/// Accepts connections, each served in its own task while fewer than `max_connections` are
/// open; one over the limit gets a 503 and is closed. A failed accept (out of file descriptors,
/// a connection reset before it was taken) is waited out, so this runs until dropped; dropping
/// it ends every connection it serves.
pub async fn accept(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: ConnectionLimits,
) -> std::convert::Infallible {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(REFUSALS_AT_ONCE));
    let per_client = Arc::new(PerClient::default());
    let mut serving = tokio::task::JoinSet::new();
    loop {
        while serving.try_join_next().is_some() {}
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors or a connection reset before accept: wait and go on.
                tracing::warn!(%error, "serve.accept_failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let client = per_client.enter(
            peer.ip(),
            limits.max_connections_per_client,
            limits.max_connections_per_group,
        );
        let permit = match (client, open.clone().try_acquire_owned()) {
            (Some(client), Ok(permit)) => Some((client, permit)),
            _ => None,
        };
        let Some((client, permit)) = permit else {
            // Past the refusals already in progress, the connection is just dropped.
            if let Ok(slot) = refusing.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(slot);
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        serving.spawn(async move {
            serve_connection(stream, peer, app, limits).await;
            drop((permit, client));
        });
    }
}

/// Open connections per client and per client group.
#[derive(Default)]
struct PerClient {
    open: std::sync::Mutex<Open>,
}

#[derive(Default)]
struct Open {
    clients: std::collections::HashMap<ClientKey, usize>,
    groups: std::collections::HashMap<ClientGroup, usize>,
}

/// One open connection of a client; counted out when dropped.
struct ClientConnection {
    table: Arc<PerClient>,
    key: ClientKey,
    group: ClientGroup,
}

impl PerClient {
    /// Counts a new connection from `ip`, unless that client already has `max` open or its
    /// group `max_group`.
    fn enter(
        self: &Arc<Self>,
        ip: std::net::IpAddr,
        max: usize,
        max_group: usize,
    ) -> Option<ClientConnection> {
        let (key, group) = (ClientKey::of(ip), ClientGroup::of(ip));
        let mut open = self.open.lock().ok()?;
        let in_group = open.groups.get(&group).copied().unwrap_or(0);
        let of_client = open.clients.get(&key).copied().unwrap_or(0);
        if of_client >= max || in_group >= max_group {
            return None;
        }
        *open.clients.entry(key).or_default() += 1;
        *open.groups.entry(group).or_default() += 1;
        Some(ClientConnection {
            table: self.clone(),
            key,
            group,
        })
    }
}

/// Counts one out of `key`'s entry of `table`, removing it at zero.
fn count_out<K: std::hash::Hash + Eq>(table: &mut std::collections::HashMap<K, usize>, key: &K) {
    if let Some(count) = table.get_mut(key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            table.remove(key);
        }
    }
}

impl Drop for ClientConnection {
    fn drop(&mut self) {
        if let Ok(mut open) = self.table.open.lock() {
            count_out(&mut open.clients, &self.key);
            count_out(&mut open.groups, &self.group);
        }
    }
}

/// Answers a connection over a limit with a 503, reading (and discarding) what the client
/// sent first so that closing does not reset the connection before it reads the answer; all
/// within [`REFUSAL_TIME`].
async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        stream.write_all(OVER_CONNECTION_LIMIT).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}

/// Serves one connection's requests until it closes, its head is too slow, or it is idle.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: axum::Router,
    limits: ConnectionLimits,
) {
    let activity = Activity::new();
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let client = ClientAddr(peer.ip());
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(client);
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        app.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        .max_buf_size(64 * 1024);
    let connection = builder.serve_connection(io, service).with_upgrades();
    let idle = Duration::from_millis(limits.idle_timeout_ms);
    tokio::select! {
        _ = connection => {}
        _ = activity.idle_for(idle) => {
            tracing::debug!(%peer, "serve.idle_connection_closed");
        }
    }
}

/// When a connection last moved a byte.
#[derive(Clone)]
struct Activity {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Resolves once no byte has moved for `idle`.
    async fn idle_for(&self, idle: Duration) {
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        loop {
            let quiet = self
                .now_ms()
                .saturating_sub(self.last_ms.load(Ordering::Relaxed));
            if quiet >= idle_ms {
                return;
            }
            tokio::time::sleep(Duration::from_millis(idle_ms - quiet)).await;
        }
    }
}

/// A stream that records when it last moved a byte.
struct Watched {
    inner: tokio::net::TcpStream,
    activity: Activity,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &poll {
            if *n > 0 {
                self.activity.touch();
            }
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
