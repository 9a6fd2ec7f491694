//! Log files served as they are read from disk, never whole in memory: at most
//! [`MAX_FILE_READS`] at once in all and [`MAX_FILE_READS_PER_CLIENT`] per client (an IPv4
//! address, an IPv6 /64; over either: 503 `busy` with `Retry-After: 1`), each sent in chunks of
//! [`CHUNK`] bytes as the client takes them. A turn lasts until the file is sent, the client
//! goes, or [`turn_deadline`] passes (30 s plus a second a MiB): a client that reads a byte a
//! minute keeps its connection, not the turn. Files are up to 256 MiB and a client may hold 64
//! connections: read whole, a few clients could exhaust the oracle's memory.

use super::refused;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use cairn_serve::ClientKey;
use futures::{Stream, StreamExt};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Files served at once, in all.
pub const MAX_FILE_READS: usize = 16;
/// Files served at once to one client.
pub const MAX_FILE_READS_PER_CLIENT: usize = 4;
/// Bytes read from disk and sent at a time.
pub const CHUNK: usize = 64 * 1024;

/// How long a turn to send `size` bytes lasts at most: 30 s, plus a second for each MiB.
pub fn turn_deadline(size: u64) -> Duration {
    Duration::from_secs(30 + size.div_ceil(1 << 20))
}

/// The turns to serve a file, shared by every file route.
#[derive(Clone)]
pub struct FileReads {
    turns: Arc<Semaphore>,
    clients: Arc<Mutex<HashMap<ClientKey, usize>>>,
}

impl Default for FileReads {
    fn default() -> Self {
        FileReads {
            turns: Arc::new(Semaphore::new(MAX_FILE_READS)),
            clients: Arc::default(),
        }
    }
}

/// A turn being used: one of the [`MAX_FILE_READS`], and one of its client's.
struct Held {
    _permit: OwnedSemaphorePermit,
    clients: Arc<Mutex<HashMap<ClientKey, usize>>>,
    client: ClientKey,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut clients = lock(&self.clients);
        if let Some(n) = clients.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                clients.remove(&self.client);
            }
        }
    }
}

/// A turn to serve a file: given back when its answer ends, or at its deadline.
pub(super) struct Turn(Arc<Mutex<Option<Held>>>);

impl FileReads {
    /// A turn for `client` to be served a file; `None` when every turn, or every one of the
    /// client's, is taken (answer [`busy`]).
    pub(super) fn turn(&self, client: ClientKey) -> Option<Turn> {
        let mut clients = lock(&self.clients);
        let theirs = clients.get(&client).copied().unwrap_or(0);
        if theirs >= MAX_FILE_READS_PER_CLIENT {
            return None;
        }
        let permit = self.turns.clone().try_acquire_owned().ok()?;
        clients.insert(client, theirs + 1);
        Some(Turn(Arc::new(Mutex::new(Some(Held {
            _permit: permit,
            clients: self.clients.clone(),
            client,
        })))))
    }

    /// The turns free now.
    pub fn free(&self) -> usize {
        self.turns.available_permits()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The answer when every turn to serve a file is taken: 503 `busy`, `Retry-After: 1`.
pub(super) fn busy() -> Response {
    let mut busy = refused(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        format!(
            "{MAX_FILE_READS} files in all, or {MAX_FILE_READS_PER_CLIENT} to this client, are \
             being served; try again in a second"
        ),
        true,
    );
    busy.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    busy
}

/// An answer of `size` bytes sent from `chunks`, holding `turn` until the last is sent, the
/// client goes, or the turn's deadline ([`turn_deadline`]) passes.
pub(super) fn streamed<S, E>(chunks: S, size: u64, turn: Turn) -> Response
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<axum::BoxError> + 'static,
{
    let Turn(held) = turn;
    let at_deadline: Weak<Mutex<Option<Held>>> = Arc::downgrade(&held);
    tokio::spawn(async move {
        tokio::time::sleep(turn_deadline(size)).await;
        if let Some(held) = at_deadline.upgrade() {
            drop(lock(&held).take());
        }
    });
    let held = chunks.map(move |chunk| {
        let _turn = &held;
        chunk
    });
    let mut response = Response::new(Body::from_stream(held));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    response
}

/// The file at `path` as chunks, and its size; `None` when it cannot be opened.
pub(super) async fn from_disk(
    path: PathBuf,
) -> Option<(impl Stream<Item = Result<Bytes, std::io::Error>>, u64)> {
    let file = tokio::fs::File::open(&path).await.ok()?;
    let size = file.metadata().await.ok()?.len();
    let chunks = futures::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buffer = vec![0u8; CHUNK];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(Bytes::from(buffer)), Some(file)))
            }
            // The error ends the answer (the client sees it cut short).
            Err(error) => Some((Err(error), None)),
        }
    });
    Some((chunks, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(n: u8) -> ClientKey {
        ClientKey::of(std::net::IpAddr::from([10, 0, 0, n]))
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_holds_four_turns_at_most_and_a_stalled_one_is_given_back_at_its_deadline() {
        let reads = FileReads::default();
        let mut held = Vec::new();
        for _ in 0..MAX_FILE_READS_PER_CLIENT {
            held.push(reads.turn(client(1)).expect("a turn"));
        }
        assert!(
            reads.turn(client(1)).is_none(),
            "a fifth turn for one client"
        );
        // A client that never reads: its answer stays open, but its turn is given back at the
        // deadline.
        let turn = reads.turn(client(2)).expect("another client's turn");
        let pending = futures::stream::pending::<Result<Bytes, std::io::Error>>();
        let stalled = streamed(pending, 1 << 20, turn);
        assert_eq!(reads.free(), MAX_FILE_READS - MAX_FILE_READS_PER_CLIENT - 1);
        tokio::time::sleep(turn_deadline(1 << 20) + Duration::from_secs(1)).await;
        assert_eq!(reads.free(), MAX_FILE_READS - MAX_FILE_READS_PER_CLIENT);
        drop(stalled);
        // Turns whose answers end are given back at once, and the client's count with them.
        held.clear();
        assert_eq!(reads.free(), MAX_FILE_READS);
        assert!(reads.turn(client(1)).is_some());
    }
}
