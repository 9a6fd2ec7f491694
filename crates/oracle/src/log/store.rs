//! Where log files live: any `object_store` backend (a local directory by default; S3 and
//! S3-compatible stores when the oracle is built with the `s3` feature and configured with an
//! `s3://` URL).

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::Arc;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend refused or failed.
    #[error("log store: {0}")]
    Backend(#[from] object_store::Error),
    /// The URL names no backend this build has.
    #[error("log store URL `{url}`: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// The oracle's log files.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
}

impl LogStore {
    /// A store in a local directory (created if missing).
    pub fn local(dir: &std::path::Path) -> Result<LogStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Url {
            url: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let inner = object_store::local::LocalFileSystem::new_with_prefix(dir)?;
        Ok(LogStore {
            inner: Arc::new(inner),
            prefix: ObjectPath::from("logs"),
        })
    }

    /// A store named by a URL: `file:///abs/dir`, or `s3://bucket/prefix` (with the `s3`
    /// feature; credentials and endpoint from `options` and the usual `AWS_*` variables).
    pub fn from_url(url: &str, options: &[(String, String)]) -> Result<LogStore, StoreError> {
        let bad = |reason: String| StoreError::Url {
            url: url.to_string(),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if parsed.scheme() == "file" {
            let dir = parsed
                .to_file_path()
                .map_err(|()| bad("not an absolute path".into()))?;
            return LogStore::local(&dir);
        }
        let mut opts: Vec<(String, String)> = options.to_vec();
        for (key, value) in std::env::vars() {
            if key.starts_with("AWS_") {
                opts.push((key.to_ascii_lowercase(), value));
            }
        }
        let (inner, prefix) =
            object_store::parse_url_opts(&parsed, opts).map_err(|e| bad(e.to_string()))?;
        Ok(LogStore {
            inner: Arc::from(inner),
            prefix,
        })
    }

    fn path(&self, name: &str) -> ObjectPath {
        self.prefix.clone().join(name)
    }

    /// Writes a whole file (replacing one of the same name: files are rolled deterministically,
    /// so a second write after a crash writes the same bytes).
    pub async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.inner
            .put(&self.path(name), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// Reads a whole file.
    pub async fn get(&self, name: &str) -> Result<Bytes, StoreError> {
        Ok(self.inner.get(&self.path(name)).await?.bytes().await?)
    }

    /// A file as chunks, read as they are taken (never whole in memory), and its size.
    pub async fn get_stream(
        &self,
        name: &str,
    ) -> Result<
        (
            futures::stream::BoxStream<'static, Result<Bytes, object_store::Error>>,
            u64,
        ),
        StoreError,
    > {
        let found = self.inner.get(&self.path(name)).await?;
        let size = found.meta.size;
        Ok((found.into_stream(), size))
    }

    /// Deletes a file (retention).
    pub async fn delete(&self, name: &str) -> Result<(), StoreError> {
        match self.inner.delete(&self.path(name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
