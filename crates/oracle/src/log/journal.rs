//! The journal: reports acknowledged but not yet rolled into a log file.
//!
//! Ingest appends each batch's accepted reports here and syncs the file to disk *before* it
//! answers the agent, so an acknowledged report survives a crash (SIGKILL, power loss). The
//! roller turns the journal into an immutable log file and then empties it; if the oracle dies
//! in between, the journal is rolled again at start into the very same file (same name, same
//! bytes), so nothing is lost and nothing is logged twice.
//!
//! The journal is frames as in a log file ([`super::format::write_frame`]), uncompressed. A torn
//! frame at its end (a write the crash cut short, never acknowledged) is cut off at open.

use super::format::write_frame;
use cairn_types::report::{LoggedReport, MAX_LOGGED_REPORT_BYTES};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// What the journal holds, for the file it will become.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Reports held.
    pub reports: u64,
    /// Earliest receive time (names the file).
    pub first_received_ms: u64,
    /// Latest receive time.
    pub last_received_ms: u64,
    /// Earliest device time.
    pub min_time_ms: u64,
    /// Latest device time.
    pub max_time_ms: u64,
}

impl JournalStats {
    fn add(&mut self, report: &LoggedReport) {
        let time = report.report.body.time_ms;
        if self.reports == 0 {
            *self = JournalStats {
                reports: 0,
                first_received_ms: report.received_ms,
                last_received_ms: report.received_ms,
                min_time_ms: time,
                max_time_ms: time,
            };
        }
        self.reports += 1;
        self.first_received_ms = self.first_received_ms.min(report.received_ms);
        self.last_received_ms = self.last_received_ms.max(report.received_ms);
        self.min_time_ms = self.min_time_ms.min(time);
        self.max_time_ms = self.max_time_ms.max(time);
    }
}

/// The open journal.
pub struct Journal {
    file: File,
    path: PathBuf,
    frames: Vec<u8>,
    stats: JournalStats,
}

impl Journal {
    /// Opens (or creates) the journal at `path`; returns it with the reports it already held.
    pub fn open(path: &Path) -> Result<(Journal, Vec<LoggedReport>), std::io::Error> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (reports, good_len) = read_frames(&bytes);
        if good_len < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                cut = bytes.len() - good_len,
                "oracle.journal: cutting a torn frame off the end (it was never acknowledged)"
            );
            file.set_len(good_len as u64)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::End(0))?;
        let mut journal = Journal {
            file,
            path: path.to_path_buf(),
            frames: Vec::new(),
            stats: JournalStats::default(),
        };
        for report in &reports {
            write_frame(&mut journal.frames, report);
            journal.stats.add(report);
        }
        Ok((journal, reports))
    }

    /// Appends reports and syncs them to disk; only then may they be acknowledged.
    pub fn append(&mut self, reports: &[LoggedReport]) -> Result<(), std::io::Error> {
        if reports.is_empty() {
            return Ok(());
        }
        let start = self.frames.len();
        for report in reports {
            write_frame(&mut self.frames, report);
        }
        let written = self
            .file
            .write_all(&self.frames[start..])
            .and_then(|()| self.file.sync_data());
        if let Err(error) = written {
            // Nothing of this batch is acknowledged: forget it here and cut the file back, so
            // the journal never holds reports that an agent will send again as refused.
            self.frames.truncate(start);
            let _ = self.file.set_len(start as u64);
            let _ = self.file.seek(SeekFrom::End(0));
            return Err(error);
        }
        for report in reports {
            self.stats.add(report);
        }
        Ok(())
    }

    /// The frames held, in order.
    pub fn frames(&self) -> &[u8] {
        &self.frames
    }

    /// What the journal holds.
    pub fn stats(&self) -> JournalStats {
        self.stats
    }

    /// Bytes held.
    pub fn len_bytes(&self) -> usize {
        self.frames.len()
    }

    /// Empties the journal once its reports are in a log file recorded in the index.
    pub fn clear(&mut self) -> Result<(), std::io::Error> {
        self.file.set_len(0)?;
        // The file is empty now: so is the journal, whether or not the rest succeeds (a later
        // append must not cut the file back to a length it no longer has).
        self.frames.clear();
        self.stats = JournalStats::default();
        self.file.seek(SeekFrom::Start(0))?;
        self.file.sync_all()?;
        Ok(())
    }

    /// Where the journal lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The reports of whole frames in `bytes`, and the length those frames take.
fn read_frames(bytes: &[u8]) -> (Vec<LoggedReport>, usize) {
    let mut reports = Vec::new();
    let mut at = 0;
    while let Some(length) = bytes.get(at..at + 4) {
        let length = u32::from_le_bytes([length[0], length[1], length[2], length[3]]) as usize;
        if length > MAX_LOGGED_REPORT_BYTES {
            break;
        }
        let Some(frame) = bytes.get(at + 4..at + 4 + length) else {
            break;
        };
        let Ok(report) = LoggedReport::decode(frame) else {
            break;
        };
        reports.push(report);
        at += 4 + length;
    }
    (reports, at)
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

    #[test]
    fn appended_reports_survive_a_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut journal, held) = Journal::open(&path).unwrap();
        assert!(held.is_empty());
        journal.append(&[logged(1), logged(2)]).unwrap();
        journal.append(&[logged(3)]).unwrap();
        assert_eq!(journal.stats().reports, 3);
        assert_eq!(journal.stats().first_received_ms, 2_001);
        assert_eq!(journal.stats().max_time_ms, 1_003);
        drop(journal);
        // A crash in the middle of a write leaves half a frame.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(f);
        let (journal, held) = Journal::open(&path).unwrap();
        assert_eq!(held, vec![logged(1), logged(2), logged(3)]);
        assert_eq!(journal.stats().reports, 3);
        let len = std::fs::metadata(&path).unwrap().len() as usize;
        assert_eq!(len, journal.len_bytes());
    }

    #[test]
    fn a_cleared_journal_is_empty_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut journal, _) = Journal::open(&path).unwrap();
        journal.append(&[logged(1)]).unwrap();
        journal.clear().unwrap();
        journal.append(&[logged(2)]).unwrap();
        drop(journal);
        let (_, held) = Journal::open(&path).unwrap();
        assert_eq!(held, vec![logged(2)]);
    }
}
