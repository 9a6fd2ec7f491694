//! Log files served as they are read from disk, never whole in memory: at most
//! [`MAX_FILE_READS`] at once in all (over it: 503 `busy` with `Retry-After: 1`), each sent in
//! chunks of [`CHUNK`] bytes as the client takes them. Files are up to 256 MiB and a client may
//! hold 64 connections: read whole, a few clients could exhaust the oracle's memory.

use super::refused;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Files served at once, in all.
pub const MAX_FILE_READS: usize = 16;
/// Bytes read from disk and sent at a time.
pub const CHUNK: usize = 64 * 1024;

/// The turns to serve a file, shared by every file route.
#[derive(Clone)]
pub struct FileReads(Arc<Semaphore>);

impl Default for FileReads {
    fn default() -> Self {
        FileReads(Arc::new(Semaphore::new(MAX_FILE_READS)))
    }
}

impl FileReads {
    /// A turn to serve a file, held until its last byte is sent; `None` when every turn is
    /// taken (answer [`busy`]).
    pub(super) fn turn(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }
}

/// The answer when every turn to serve a file is taken: 503 `busy`, `Retry-After: 1`.
pub(super) fn busy() -> Response {
    let mut busy = refused(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        format!("{MAX_FILE_READS} files are being served; try again in a second"),
        true,
    );
    busy.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    busy
}

/// An answer of `size` bytes sent from `chunks`, holding `turn` until the last is sent (or the
/// client goes).
pub(super) fn streamed<S, E>(chunks: S, size: u64, turn: OwnedSemaphorePermit) -> Response
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<axum::BoxError> + 'static,
{
    let held = chunks.map(move |chunk| {
        let _turn = &turn;
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
