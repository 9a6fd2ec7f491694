//! The report log: what ingest acknowledged, kept for good.
//!
//! ```text
//!  ingest ──append(batch)──> writer thread ──write + fsync──> journal ──roll──> log file in the
//!     ^                          │ (one fsync for all batches waiting)          store, recorded
//!     └──────── ack ─────────────┘                                               in the index
//! ```
//!
//! One thread owns the journal: ingest requests hand it their accepted reports and wait for the
//! fsync (group commit: every batch waiting when a write starts shares its fsync). The writer
//! rolls the journal into an immutable file when it is older than `roll_interval` or larger
//! than `roll_max_bytes`, or when asked (at an epoch's cut-off).
//!
//! - [`format`]: the file format.
//! - [`journal`]: the journal.
//! - [`store`]: where files live (`object_store`).

pub mod format;
pub mod journal;
pub mod store;

use crate::index::{FileMeta, Index};
use crate::log::format::file_hash;
use cairn_types::report::LoggedReport;
use cairn_types::Address;
use journal::Journal;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::LogStore;
use tokio::sync::oneshot;

/// Batches the writer takes into one journal write at most.
pub const MAX_GROUP_BATCHES: usize = 256;
/// Requests waiting for the writer at most; beyond this ingest answers `unavailable`.
pub const MAX_QUEUED_REQUESTS: usize = 1024;

/// When the journal becomes a file.
#[derive(Clone, Copy, Debug)]
pub struct RollPolicy {
    /// Roll when the journal's first report is this old.
    pub interval: Duration,
    /// Roll when the journal holds this many bytes.
    pub max_bytes: usize,
}

/// Why the log could not take reports.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The journal could not be written or synced: nothing of the batch was kept.
    #[error("journal: {0}")]
    Journal(String),
    /// The writer is gone or its queue is full.
    #[error("the log writer is unavailable")]
    Unavailable,
    /// Rolling failed (the journal keeps the reports; the next roll retries).
    #[error("roll: {0}")]
    Roll(String),
}

enum Command {
    Append(Vec<LoggedReport>, oneshot::Sender<Result<(), LogError>>),
    Roll(oneshot::Sender<Result<Option<(String, FileMeta)>, LogError>>),
}

/// A handle to the writer.
#[derive(Clone)]
pub struct ReportLog {
    commands: mpsc::SyncSender<Command>,
}

impl ReportLog {
    /// Opens the journal at `journal_path` and starts the writer thread. Returns the handle, the
    /// reports the journal held (acknowledged before a crash: rolled first thing), and the
    /// thread.
    pub fn start(
        oracle: Address,
        journal_path: &Path,
        store: LogStore,
        index: Arc<Index>,
        policy: RollPolicy,
        runtime: tokio::runtime::Handle,
    ) -> Result<(ReportLog, Vec<LoggedReport>, std::thread::JoinHandle<()>), LogError> {
        let (journal, held) =
            Journal::open(journal_path).map_err(|e| LogError::Journal(e.to_string()))?;
        let (commands, receiver) = mpsc::sync_channel(MAX_QUEUED_REQUESTS);
        let mut writer = Writer {
            oracle,
            journal,
            store,
            index,
            policy,
            runtime,
            opened: Instant::now(),
            clear_pending: false,
        };
        let thread = std::thread::Builder::new()
            .name("oracle-log".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| LogError::Journal(e.to_string()))?;
        Ok((ReportLog { commands }, held, thread))
    }

    /// Appends reports durably; returns once they are synced to disk.
    pub async fn append(&self, reports: Vec<LoggedReport>) -> Result<(), LogError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .try_send(Command::Append(reports, reply))
            .map_err(|_| LogError::Unavailable)?;
        answer.await.map_err(|_| LogError::Unavailable)?
    }

    /// Rolls the journal into a file now (if it holds anything); returns the file.
    pub async fn roll(&self) -> Result<Option<(String, FileMeta)>, LogError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .try_send(Command::Roll(reply))
            .map_err(|_| LogError::Unavailable)?;
        answer.await.map_err(|_| LogError::Unavailable)?
    }
}

struct Writer {
    oracle: Address,
    journal: Journal,
    store: LogStore,
    index: Arc<Index>,
    policy: RollPolicy,
    runtime: tokio::runtime::Handle,
    opened: Instant,
    /// A rolled file was recorded but the journal could not be cleared: until it is, appends
    /// are refused, so that the file's reports never go into a second file.
    clear_pending: bool,
}

impl Writer {
    fn run(&mut self, receiver: mpsc::Receiver<Command>) {
        // What a crash left in the journal becomes a file first.
        self.roll_logged();
        loop {
            let wait = self.policy.interval.saturating_sub(self.opened.elapsed());
            match receiver.recv_timeout(wait.max(Duration::from_millis(10))) {
                Ok(Command::Append(reports, reply)) => self.append_group(reports, reply, &receiver),
                Ok(Command::Roll(reply)) => {
                    let _ = reply.send(self.roll());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.roll_logged();
                    return;
                }
            }
            let due = self.opened.elapsed() >= self.policy.interval;
            if self.journal.len_bytes() >= self.policy.max_bytes
                || (due && self.journal.stats().reports > 0)
            {
                self.roll_logged();
            }
            if self.journal.stats().reports == 0 {
                self.opened = Instant::now();
            }
        }
    }

    /// Writes this batch and every batch already waiting with one fsync, then answers each.
    fn append_group(
        &mut self,
        first: Vec<LoggedReport>,
        reply: oneshot::Sender<Result<(), LogError>>,
        receiver: &mpsc::Receiver<Command>,
    ) {
        let mut reports = first;
        let mut replies = vec![reply];
        let mut rolls = Vec::new();
        while replies.len() < MAX_GROUP_BATCHES {
            match receiver.try_recv() {
                Ok(Command::Append(more, reply)) => {
                    reports.extend(more);
                    replies.push(reply);
                }
                Ok(Command::Roll(reply)) => rolls.push(reply),
                Err(_) => break,
            }
        }
        let result = self
            .clear_if_pending()
            .and_then(|()| self.journal.append(&reports));
        for reply in replies {
            let _ = reply.send(
                result
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| LogError::Journal(e.to_string())),
            );
        }
        if let Err(error) = result {
            tracing::error!(%error, "oracle.log.append failed: the batch was refused");
        }
        for reply in rolls {
            let _ = reply.send(self.roll());
        }
    }

    fn roll_logged(&mut self) {
        if let Err(error) = self.roll() {
            tracing::error!(%error, "oracle.log.roll failed; the journal keeps the reports");
        }
    }

    /// Empties the journal if a roll recorded its file but could not clear it.
    fn clear_if_pending(&mut self) -> Result<(), std::io::Error> {
        if self.clear_pending {
            self.journal.clear()?;
            self.clear_pending = false;
        }
        Ok(())
    }

    /// The journal into a file: written whole to the store, recorded, then the journal emptied.
    fn roll(&mut self) -> Result<Option<(String, FileMeta)>, LogError> {
        self.clear_if_pending()
            .map_err(|e| LogError::Roll(e.to_string()))?;
        let stats = self.journal.stats();
        if stats.reports == 0 {
            return Ok(None);
        }
        let seq = self
            .index
            .next_seq()
            .map_err(|e| LogError::Roll(e.to_string()))?;
        let name = format::file_name(stats.first_received_ms, seq);
        let bytes = format::encode_file(&self.oracle, self.journal.frames())
            .map_err(|e| LogError::Roll(e.to_string()))?;
        // A crash after the last file was recorded but before the journal was cleared leaves
        // the journal holding exactly that file's reports (files are the same bytes every
        // time): clear it, do not write them into a second file.
        let last = self
            .index
            .files()
            .map_err(|e| LogError::Roll(e.to_string()))?
            .pop();
        if let Some((name, meta)) = last.filter(|(_, m)| m.hash == file_hash(&bytes)) {
            self.journal
                .clear()
                .map_err(|e| LogError::Roll(e.to_string()))?;
            tracing::info!(file = %name, "oracle.log: the journal held a file already written");
            return Ok(Some((name, meta)));
        }
        let meta = FileMeta {
            seq,
            hash: file_hash(&bytes),
            bytes: bytes.len() as u64,
            reports: stats.reports,
            received_ms: (stats.first_received_ms, stats.last_received_ms),
            time_ms: (stats.min_time_ms, stats.max_time_ms),
        };
        self.runtime
            .block_on(self.store.put(&name, bytes))
            .map_err(|e| LogError::Roll(e.to_string()))?;
        self.index
            .record_file(&name, &meta)
            .map_err(|e| LogError::Roll(e.to_string()))?;
        self.clear_pending = true;
        self.clear_if_pending()
            .map_err(|e| LogError::Roll(e.to_string()))?;
        self.opened = Instant::now();
        tracing::info!(file = %name, reports = meta.reports, bytes = meta.bytes, "oracle.log.rolled");
        Ok(Some((name, meta)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::params::ChainId;
    use cairn_types::report::{ReportBody, ReportPayload, SessionCert, SignedReport};
    use cairn_types::{Hash, SecretKey};

    fn logged(n: u64) -> LoggedReport {
        let chain = ChainId::new("t").unwrap();
        let device = SecretKey::from_seed([1; 32]);
        let session = SecretKey::from_seed([2; 32]);
        let cert = SessionCert::issue(&chain, &device, session.public_key(), 1 << 40);
        let body = ReportBody {
            time_ms: 1_000 + n,
            entropy: Hash::ZERO,
            payload: ReportPayload::Heartbeat { uptime_secs: n },
        };
        LoggedReport {
            received_ms: 2_000 + n,
            report: SignedReport::sign(&chain, cert, &session, body),
        }
    }

    fn policy() -> RollPolicy {
        RollPolicy {
            interval: Duration::from_secs(3600),
            max_bytes: 1 << 20,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acknowledged_reports_end_in_one_file_even_across_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::local(&dir.path().join("store")).unwrap();
        let index = Arc::new(Index::open(&dir.path().join("index.redb")).unwrap());
        let journal = dir.path().join("journal");
        let oracle = Address::default();
        let (log, held, thread) = ReportLog::start(
            oracle,
            &journal,
            store.clone(),
            index.clone(),
            policy(),
            tokio::runtime::Handle::current(),
        )
        .unwrap();
        assert!(held.is_empty());
        log.append(vec![logged(1), logged(2)]).await.unwrap();
        log.append(vec![logged(3)]).await.unwrap();
        // The oracle dies here: the writer thread is gone, the journal holds three reports.
        drop(log);
        tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();
        // (A clean stop rolls; simulate the crash by rolling nothing and re-filling the journal.)
        let files = index.files().unwrap();
        assert_eq!(files.len(), 1, "a clean stop rolls what it holds");
        let (name, meta) = &files[0];
        assert_eq!(meta.reports, 3);
        let bytes = store.get(name).await.unwrap();
        assert_eq!(file_hash(&bytes), meta.hash);
        let (who, reports) = format::decode_file(&bytes).unwrap();
        assert_eq!(who, oracle);
        assert_eq!(reports, vec![logged(1), logged(2), logged(3)]);

        // A crash between the file's record and the journal's clear: the journal still holds
        // the file's reports; at start it is cleared, not rolled into a second file.
        let (held, rolled) =
            start_after_crash(&journal, &[logged(1), logged(2), logged(3)], &store, &index).await;
        assert_eq!(held.len(), 3);
        assert!(rolled.is_none(), "the journal was cleared");
        assert_eq!(
            index.files().unwrap().len(),
            1,
            "no second copy of the file"
        );

        // A crash with reports not yet in a file: at start they are rolled into a new one.
        let (held, rolled) = start_after_crash(&journal, &[logged(4)], &store, &index).await;
        assert_eq!(held, vec![logged(4)]);
        assert!(rolled.is_none(), "the start already rolled the held report");
        assert_eq!(index.files().unwrap().len(), 2);
    }

    /// Leaves `reports` in the journal as a crash would, starts the log, rolls, and stops it;
    /// returns what the start held and what the roll wrote.
    async fn start_after_crash(
        journal: &std::path::Path,
        reports: &[LoggedReport],
        store: &LogStore,
        index: &Arc<Index>,
    ) -> (Vec<LoggedReport>, Option<(String, FileMeta)>) {
        let (mut j, _) = Journal::open(journal).unwrap();
        j.append(reports).unwrap();
        drop(j);
        let (log, held, thread) = ReportLog::start(
            Address::default(),
            journal,
            store.clone(),
            index.clone(),
            policy(),
            tokio::runtime::Handle::current(),
        )
        .unwrap();
        let rolled = log.roll().await.unwrap();
        drop(log);
        tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();
        (held, rolled)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_journal_rolls_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::local(&dir.path().join("store")).unwrap();
        let index = Arc::new(Index::open(&dir.path().join("index.redb")).unwrap());
        let (log, _, _thread) = ReportLog::start(
            Address::default(),
            &dir.path().join("journal"),
            store,
            index.clone(),
            RollPolicy {
                interval: Duration::from_secs(3600),
                max_bytes: 1_000,
            },
            tokio::runtime::Handle::current(),
        )
        .unwrap();
        for n in 0..12 {
            log.append(vec![logged(n)]).await.unwrap();
        }
        // A roll waits for the writer: after it, every report is in a file.
        log.roll().await.unwrap();
        let files = index.files().unwrap();
        assert!(files.len() >= 3, "{} files", files.len());
        let total: u64 = files.iter().map(|(_, m)| m.reports).sum::<u64>();
        assert_eq!(total, 12);
    }
}
