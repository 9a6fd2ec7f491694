//! Why a stage of an epoch did not go through: a fault of this oracle's own records, which
//! stops it (a state its peers do not have must never be signed from a failing disk), or
//! anything else (a node or a peer down or busy, a file still being fetched), which is tried
//! again later.

use crate::chain::reads::ReadError;
use crate::index::IndexError;

/// A stage's failure.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// This oracle's index (its redb file) failed: the oracle stops, naming it; restart it
    /// once the disk is fixed (it goes on from what the index holds).
    #[error("{0} (the oracle stops: its own records failed)")]
    Own(#[from] IndexError),
    /// This oracle's index failed under a computation that only kept the fault's text (a
    /// state read of the rewarder): the oracle stops all the same.
    #[error("oracle index: {0} (the oracle stops: its own records failed)")]
    OwnRecords(String),
    /// A node, a peer or a file failed, or is not there yet: tried again later.
    #[error("{0}")]
    Retry(String),
}

impl StageError {
    /// True when retrying cannot help and the oracle must stop.
    pub fn is_fatal(&self) -> bool {
        matches!(self, StageError::Own(_) | StageError::OwnRecords(_))
    }
}

impl From<String> for StageError {
    fn from(reason: String) -> Self {
        StageError::Retry(reason)
    }
}

impl From<&str> for StageError {
    fn from(reason: &str) -> Self {
        StageError::Retry(reason.to_string())
    }
}

impl From<ReadError> for StageError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Index(own) => StageError::Own(own),
            other => StageError::Retry(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_oracles_own_records_are_fatal() {
        assert!(!StageError::from("a peer is down").is_fatal());
        let own = StageError::from(ReadError::Index(IndexError::from(
            cairn_types::codec::CodecError::Malformed("a damaged record".into()),
        )));
        assert!(own.is_fatal());
    }
}
