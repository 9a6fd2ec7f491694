//! The outbox: reports made but not yet delivered, kept on disk (redb, each write synced) until
//! enough oracles acknowledged them.
//!
//! Delivery is at least once: a report stays until `copies` oracles acknowledged it (accepted,
//! or already held it) or every oracle is done with it (a permanent refusal counts as done).
//! Each oracle has a bit; an entry keeps which oracles acknowledged it and which are done.
//! A crash loses nothing: what was pushed was synced, and an acknowledgement is recorded only
//! after the oracle answered (so at worst a report is sent again, and the oracle answers
//! `duplicate`). Bounded: when full, the oldest report that some oracle already holds is dropped
//! first, else the oldest.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::codec;
use cairn_types::report::SignedReport;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::Path;

/// Most reports kept.
pub const MAX_OUTBOX_REPORTS: u64 = 1_000_000;
/// Most oracles an agent delivers to (one bit each).
pub const MAX_ORACLES: usize = 64;

const REPORTS: TableDefinition<u64, &[u8]> = TableDefinition::new("reports");
const ORACLES: TableDefinition<&str, u64> = TableDefinition::new("oracles");
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");

/// Why the outbox failed (a disk fault).
#[derive(Debug, thiserror::Error)]
#[error("outbox: {0}")]
pub struct OutboxError(String);

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for OutboxError {
            fn from(e: $t) -> Self {
                OutboxError(e.to_string())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    codec::CodecError
);

#[derive(BorshSerialize, BorshDeserialize)]
struct Entry {
    report: Vec<u8>,
    acked: u64,
    done: u64,
}

/// What an oracle said of one report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// It holds the report (accepted now or before).
    Acknowledged,
    /// It refused it for good.
    Refused,
    /// Try again later.
    Later,
}

/// The outbox.
pub struct Outbox {
    db: Database,
    oracles: Vec<(String, u32)>,
    copies: usize,
}

impl Outbox {
    /// Opens the outbox at `path` for these oracles; a report is done once `copies` of them
    /// hold it.
    pub fn open(path: &Path, oracles: &[String], copies: usize) -> Result<Outbox, OutboxError> {
        if oracles.len() > MAX_ORACLES {
            return Err(OutboxError(format!("at most {MAX_ORACLES} oracles")));
        }
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        let mut bits = Vec::new();
        {
            let mut table = txn.open_table(ORACLES)?;
            txn.open_table(REPORTS)?;
            txn.open_table(COUNTERS)?;
            let mut used: Vec<u64> = Vec::new();
            for entry in table.iter()? {
                used.push(entry?.1.value());
            }
            for url in oracles {
                let known = table.get(url.as_str())?.map(|v| v.value());
                let bit = match known {
                    Some(bit) => bit,
                    None => {
                        let free = (0..MAX_ORACLES as u64)
                            .find(|b| !used.contains(b))
                            .ok_or_else(|| OutboxError("no free oracle slot".into()))?;
                        used.push(free);
                        table.insert(url.as_str(), free)?;
                        free
                    }
                };
                bits.push((url.clone(), bit as u32));
            }
        }
        txn.commit()?;
        Ok(Outbox {
            db,
            oracles: bits,
            copies: copies.clamp(1, oracles.len().max(1)),
        })
    }

    /// The oracles, in the order configured.
    pub fn oracles(&self) -> Vec<String> {
        self.oracles.iter().map(|(url, _)| url.clone()).collect()
    }

    /// Keeps reports (synced before this returns).
    pub fn push(&self, reports: &[SignedReport]) -> Result<(), OutboxError> {
        let txn = self.db.begin_write()?;
        {
            let mut counters = txn.open_table(COUNTERS)?;
            let mut next = counters.get("next")?.map_or(0, |v| v.value());
            let mut table = txn.open_table(REPORTS)?;
            for report in reports {
                if table.len()? >= MAX_OUTBOX_REPORTS {
                    evict_one(&mut table)?;
                }
                let entry = Entry {
                    report: report.encode(),
                    acked: 0,
                    done: 0,
                };
                table.insert(next, codec::encode(&entry).as_slice())?;
                next += 1;
            }
            counters.insert("next", next)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Up to `limit` reports that oracle number `oracle` (its position in the list) has not
    /// dealt with, oldest first.
    pub fn pending(&self, oracle: usize, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, OutboxError> {
        let Some((_, bit)) = self.oracles.get(oracle) else {
            return Ok(Vec::new());
        };
        let mask = 1u64 << bit;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(REPORTS)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (seq, value) = item?;
            let entry: Entry = codec::decode(value.value(), 4096)?;
            if entry.done & mask == 0 {
                out.push((seq.value(), entry.report));
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Records what oracle number `oracle` said of each report; removes the reports that are
    /// done.
    pub fn record(&self, oracle: usize, answers: &[(u64, Delivery)]) -> Result<(), OutboxError> {
        let Some((_, bit)) = self.oracles.get(oracle) else {
            return Ok(());
        };
        let mask = 1u64 << bit;
        let all: u64 = self.oracles.iter().fold(0, |m, (_, b)| m | (1 << b));
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(REPORTS)?;
            for (seq, delivery) in answers {
                let Some(value) = table.get(seq)?.map(|v| v.value().to_vec()) else {
                    continue;
                };
                let mut entry: Entry = codec::decode(&value, 4096)?;
                match delivery {
                    Delivery::Acknowledged => {
                        entry.acked |= mask;
                        entry.done |= mask;
                    }
                    Delivery::Refused => entry.done |= mask,
                    Delivery::Later => continue,
                }
                let acked = (entry.acked & all).count_ones() as usize;
                if acked >= self.copies || entry.done & all == all {
                    table.remove(seq)?;
                } else {
                    table.insert(seq, codec::encode(&entry).as_slice())?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Reports kept.
    pub fn depth(&self) -> Result<u64, OutboxError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(REPORTS)?.len()?)
    }
}

fn evict_one(table: &mut redb::Table<u64, &[u8]>) -> Result<(), OutboxError> {
    let mut victim = None;
    for item in table.iter()?.take(1_024) {
        let (seq, value) = item?;
        let entry: Entry = codec::decode(value.value(), 4096)?;
        if entry.acked != 0 {
            victim = Some(seq.value());
            break;
        }
        victim.get_or_insert(seq.value());
    }
    if let Some(seq) = victim {
        table.remove(seq)?;
        tracing::warn!(seq, "agent.outbox: full; a report was dropped");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::params::ChainId;
    use cairn_types::report::{ReportBody, ReportPayload, SessionCert};
    use cairn_types::{Hash, SecretKey};

    fn report(n: u64) -> SignedReport {
        let chain = ChainId::new("t").unwrap();
        let session = SecretKey::from_seed([2; 32]);
        let cert = SessionCert::issue(
            &chain,
            &SecretKey::from_seed([1; 32]),
            session.public_key(),
            1 << 42,
        );
        SignedReport::sign(
            &chain,
            cert,
            &session,
            ReportBody {
                time_ms: n,
                entropy: Hash::ZERO,
                payload: ReportPayload::Heartbeat { uptime_secs: n },
            },
        )
    }

    fn oracles() -> Vec<String> {
        vec!["http://a".into(), "http://b".into(), "http://c".into()]
    }

    #[test]
    fn a_report_stays_until_two_oracles_hold_it_even_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.redb");
        {
            let outbox = Outbox::open(&path, &oracles(), 2).unwrap();
            outbox.push(&[report(1), report(2)]).unwrap();
            let pending = outbox.pending(0, 10).unwrap();
            assert_eq!(pending.len(), 2);
            outbox
                .record(
                    0,
                    &[
                        (pending[0].0, Delivery::Acknowledged),
                        (pending[1].0, Delivery::Later),
                    ],
                )
                .unwrap();
            assert_eq!(outbox.pending(0, 10).unwrap().len(), 1);
        }
        let outbox = Outbox::open(&path, &oracles(), 2).unwrap();
        assert_eq!(outbox.depth().unwrap(), 2);
        let pending = outbox.pending(1, 10).unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(SignedReport::decode(&pending[0].1).unwrap(), report(1));
        outbox
            .record(1, &[(pending[0].0, Delivery::Acknowledged)])
            .unwrap();
        // Two oracles hold report 1: it is done.
        assert_eq!(outbox.depth().unwrap(), 1);
        // Report 2 refused for good by all three: dropped.
        let seq = pending[1].0;
        for oracle in 0..3 {
            outbox.record(oracle, &[(seq, Delivery::Refused)]).unwrap();
        }
        assert_eq!(outbox.depth().unwrap(), 0);
    }

    #[test]
    fn one_oracle_alone_is_enough_when_it_is_the_only_one() {
        let dir = tempfile::tempdir().unwrap();
        let outbox =
            Outbox::open(&dir.path().join("o.redb"), &["http://a".to_string()], 2).unwrap();
        outbox.push(&[report(1)]).unwrap();
        let p = outbox.pending(0, 10).unwrap();
        outbox
            .record(0, &[(p[0].0, Delivery::Acknowledged)])
            .unwrap();
        assert_eq!(outbox.depth().unwrap(), 0);
    }
}
