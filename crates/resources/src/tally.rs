//! An epoch's reports, checked and counted once per (device, kind, window).
//!
//! The oracle feeds [`Tally::add`] every logged report of the epoch's counted manifests in a
//! canonical order (manifests by oracle address, files in manifest order, reports in file
//! order), so every oracle and every auditor makes the same decisions. For each copy:
//!
//! 1. the device must be registered at the epoch's last block and not retired (a lookup, before
//!    any signature work);
//! 2. its time must be in the epoch, and its receive stamp within the allowed delay after it
//!    (or the allowed clock skew before it);
//! 3. copies of one report (same bytes, from several oracles) merge: the earliest receive stamp
//!    is the report's time, and its signatures are checked once;
//! 4. of different reports for the same (device, kind, window) the one the device signed first
//!    counts (its own signed time; ties: the earlier receive stamp, then the smaller id), so no
//!    oracle chooses the winner by how it stamps; a later one is refused as `duplicate_window`
//!    without signature work;
//! 5. the session certificate is checked once per device and session, then the report's
//!    signature, and a second signature its kind names (a transfer: the payer's over its
//!    receipt).
//!
//! What is particular to a kind of report is its rule's ([`crate::subnet::ReportRule`], found
//! in the registered [`Kinds`]): whose devices may send it, the window and tag it counts under
//! (a transfer names the reporting device, 1 to `MAX_RECEIPT_BYTES` bytes and a payer time in
//! the epoch, and counts once per chunk in the epoch, whatever window the payer signed it in,
//! first come in the canonical order), how many a window, and what a counted one keeps for its
//! sub-network's judgement.
//!
//! [`Tally::add_all`] gives the same result as [`Tally::add`] on each copy in turn, with the
//! signatures checked beforehand in batches on several threads ([`crate::verify`]).
//!
//! Memory is bounded by devices × windows of the epoch, not by reports: per (device, kind,
//! window) the tally keeps the device's time, the receive stamp and 16 bytes of the counted
//! report's id.
//!
//! **What a receive stamp can claim.** The stamp is the logging oracle's word alone. It counts
//! only within `skew` before the device's own signed time and `delay` after it, and that time
//! must lie in the epoch: so a stamp can never place a report outside the epoch's manifests'
//! window, nor more than the allowed skew and delay from what the device itself signed. What
//! remains (docs/ORACLE.md, "Freshness"): an oracle colluding with a device's owner (who holds
//! the device key) can log, until the epoch's manifests close, reports the owner signs late
//! with earlier times, so that an offline device looks online for windows it missed.

use crate::context::{DeviceInfo, EpochContext, Registry};
use crate::kinds::{standard, Kinds};
use crate::reason::Reason;
use crate::sorted::SortedMap;
use crate::subnet::{KeptReport, ReportRule};

use crate::verify::{check_claims, Claim};
use cairn_types::codec;
use cairn_types::keys::SignatureError;
use cairn_types::report::{LoggedReport, ReportError, ReportKind, SessionCert, SignedReport};
use cairn_types::{DeviceId, Hash};
use std::collections::{BTreeMap, HashMap};

// What the tally hands on, and the per-window limits its rules apply, where callers knew them.
pub use crate::connectivity::kind::MAX_TRANSFERS_PER_WINDOW;
pub use crate::counted::{DeviceResult, TallyResult};
pub use crate::coverage::kind::MAX_WITNESSES_PER_WINDOW;
pub use crate::rule::short_tag;
pub use crate::sensing::kind::MAX_SENSORS_PER_WINDOW;

/// Session certificates remembered per device (checked or refused); beyond this each further
/// one is checked every time, so a device rotating keys cannot make the tally grow.
pub const MAX_SESSIONS_PER_DEVICE: usize = 8;

/// For each copy that `ask` says to check and `claim_of` gives a claim for, whether the claim
/// holds (checked in batches on `threads` threads); true for a copy asked with no claim,
/// false for one not asked.
fn answers<'a>(
    chain_id: &cairn_types::params::ChainId,
    copies: &'a [LoggedReport],
    ask: &[bool],
    threads: usize,
    claim_of: impl Fn(&'a LoggedReport) -> Option<Claim<'a>>,
) -> Vec<bool> {
    let mut claims = Vec::new();
    let mut slots = Vec::with_capacity(copies.len());
    for (copy, asked) in copies.iter().zip(ask) {
        slots.push(match (*asked, claim_of(copy)) {
            (true, Some(claim)) => {
                claims.push(claim);
                Some(claims.len() - 1)
            }
            _ => None,
        });
    }
    let valid = check_claims(chain_id, &claims, threads);
    slots
        .iter()
        .zip(ask)
        .map(|(slot, asked)| match slot {
            Some(i) => valid[*i],
            None => *asked,
        })
        .collect()
}

/// What a report is counted once under: its kind, its window, and for a witness the first
/// bytes of the beacon data it heard (a device may witness several beacons in a window), for a
/// reading the first bytes of its sensor name's hash (one reading per sensor and window), for a
/// transfer the first bytes of its chunk's id, in the window of the payer's time (one count per
/// chunk, however often and whenever the device reports it).
type CountKey = (ReportKind, u64, [u8; 8]);

/// How two reports of one key compare: the device's own time first, then the receive stamp,
/// then the id (the smaller wins).
type Rank = (u64, u64, [u8; 16]);

/// The rank of a copy of a report.
fn rank(logged: &LoggedReport, id: [u8; 16]) -> Rank {
    (logged.report.body.time_ms, logged.received_ms, id)
}

/// The counted report of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Counted {
    time_ms: u64,
    received_ms: u64,
    id: [u8; 16],
    /// What its rule kept for its sub-network's judgement.
    kept: Option<Box<[u8]>>,
}

/// What the tally keeps per device.
#[derive(Clone, Debug)]
struct DeviceTally {
    info: DeviceInfo,
    /// The digests of session certificates checked, and what the check found.
    sessions: Vec<(Hash, bool)>,
    counted: SortedMap<CountKey, Counted>,
    /// Each id counted once in the epoch ([`crate::subnet::Slot::once`]: a transfer's chunk)
    /// and the window it counts in, even if its payer signed it again at another time.
    chunks: SortedMap<Hash, u64>,
    rejected: BTreeMap<Reason, u64>,
}

impl DeviceTally {
    fn new(info: DeviceInfo) -> DeviceTally {
        DeviceTally {
            info,
            sessions: Vec::new(),
            counted: SortedMap::default(),
            chunks: SortedMap::default(),
            rejected: BTreeMap::new(),
        }
    }

    /// What an earlier check of this certificate found, if it is remembered.
    fn known_session(&self, cert: &SessionCert) -> Option<bool> {
        if self.sessions.is_empty() {
            return None;
        }
        let digest = cert_digest(cert);
        self.sessions
            .iter()
            .find(|(known, _)| *known == digest)
            .map(|(_, ok)| *ok)
    }
}

/// The answers of a copy's signatures, found before it is added ([`Tally::add_all`]).
#[derive(Clone, Copy, Debug)]
struct Verdict {
    /// The certificate's signature.
    cert: bool,
    /// The report's signature (its session time is checked apart).
    report: bool,
    /// The second signature its kind names (a transfer: the payer's), true for none.
    second: bool,
}

/// The epoch's reports so far.
pub struct Tally<'r, R: Registry + ?Sized> {
    ctx: EpochContext,
    registry: &'r R,
    kinds: &'r Kinds,
    devices: HashMap<DeviceId, DeviceTally>,
    unattributed: BTreeMap<Reason, u64>,
    copies: u64,
}

impl<'r, R: Registry + ?Sized> Tally<'r, R> {
    /// An empty tally of the epoch `ctx` over the registry at its last block, counting
    /// reports by the rules of Cairn's registered sub-networks.
    pub fn new(ctx: EpochContext, registry: &'r R) -> Self {
        Tally::with_kinds(ctx, registry, standard())
    }

    /// An empty tally counting reports by the rules of `kinds`.
    pub fn with_kinds(ctx: EpochContext, registry: &'r R, kinds: &'r Kinds) -> Self {
        Tally {
            ctx,
            registry,
            kinds,
            devices: HashMap::new(),
            unattributed: BTreeMap::new(),
            copies: 0,
        }
    }

    /// Records a copy whose bytes did not decode.
    pub fn add_malformed(&mut self) {
        self.copies += 1;
        *self.unattributed.entry(Reason::Malformed).or_default() += 1;
    }

    /// Checks and counts one logged copy of a report.
    pub fn add(&mut self, logged: &LoggedReport) {
        self.add_checked(logged, short_id(logged.report.id().0), None);
    }

    /// Checks and counts copies in order, as [`Tally::add`] on each would, but with the
    /// signatures they need checked beforehand in batches on up to `threads` threads
    /// ([`crate::verify`]): first the certificates not yet known, then the reports whose
    /// certificate holds and whose session covers their time, then the payers' receipts of
    /// the reports that hold. Only copies that would be checked one by one are planned (as far
    /// as the tally so far and the copies before them in `copies` show): a copy a one-by-one
    /// tally refuses or merges without signature work costs none here either. A copy the plan
    /// left out that turns out to need its signatures has them checked as [`Tally::add`] does.
    pub fn add_all(&mut self, copies: &[LoggedReport], threads: usize) {
        let ids = short_ids(copies, threads);
        let planned = self.plan(copies, &ids);
        let chain_id = &self.ctx.chain_id;
        let known = |report: &SignedReport| {
            self.devices
                .get(&report.device())
                .and_then(|e| e.known_session(&report.cert))
        };
        // 1. The certificates not yet known, each once.
        let mut certs: HashMap<&SessionCert, bool> = HashMap::new();
        let mut cert_order = Vec::new();
        for (logged, plan) in copies.iter().zip(&planned) {
            let report = &logged.report;
            if *plan && known(report).is_none() && !certs.contains_key(&report.cert) {
                certs.insert(&report.cert, false);
                cert_order.push(&report.cert);
            }
        }
        let claims: Vec<Claim<'_>> = cert_order.iter().map(|c| Claim::Cert(c)).collect();
        for (cert, ok) in cert_order
            .iter()
            .zip(check_claims(chain_id, &claims, threads))
        {
            certs.insert(cert, ok);
        }
        let cert_ok = |report: &SignedReport| {
            known(report).unwrap_or_else(|| certs.get(&report.cert).copied().unwrap_or(false))
        };
        // 2. The reports whose certificate holds and whose session covers their time.
        let report_checked: Vec<bool> = copies
            .iter()
            .zip(&planned)
            .map(|(c, plan)| *plan && cert_ok(&c.report) && c.report.check_session_time().is_ok())
            .collect();
        let report_ok = answers(chain_id, copies, &report_checked, threads, |c| {
            Some(Claim::Report(&c.report))
        });
        // 3. The second signatures (a transfer's payer's) of the reports that hold.
        let kinds = self.kinds;
        let second_ok = answers(chain_id, copies, &report_ok, threads, |c| {
            let rule = kinds.rule(c.report.body.payload.kind())?;
            rule.second_signature(&c.report.body)
                .map(|(claim, _)| claim)
        });
        let verdicts: Vec<Option<Verdict>> = (0..copies.len())
            .map(|i| {
                planned[i].then(|| Verdict {
                    cert: cert_ok(&copies[i].report),
                    report: report_ok[i],
                    second: second_ok[i],
                })
            })
            .collect();
        for ((logged, id), verdict) in copies.iter().zip(ids).zip(verdicts) {
            self.add_checked(logged, id, verdict.as_ref());
        }
    }

    /// Which of `copies` would have their signatures checked if added one by one, as far as
    /// the tally so far and the copies planned before them show.
    fn plan(&self, copies: &[LoggedReport], ids: &[[u8; 16]]) -> Vec<bool> {
        // The best copy planned per device and key, and the keys planned per device, kind and
        // window (against the per-window limits).
        let mut best: HashMap<(DeviceId, CountKey), Rank> = HashMap::new();
        let mut added: HashMap<(DeviceId, ReportKind, u64), usize> = HashMap::new();
        copies
            .iter()
            .zip(ids)
            .map(|(logged, id)| {
                let device = logged.report.device();
                let Some(key) = self.candidate_key(logged, *id) else {
                    return false;
                };
                let stamp = rank(logged, *id);
                if let Some(planned) = best.get(&(device, key)) {
                    // Another copy of the report planned, or one planned that it loses to.
                    if planned.2 == *id || *planned < stamp {
                        return false;
                    }
                } else if let Some((limit, _)) =
                    self.kinds.rule(key.0).and_then(|rule| rule.per_window())
                {
                    let counted = self.devices.get(&device);
                    let new_key = counted.is_none_or(|e| e.counted.get(&key).is_none());
                    if new_key {
                        let held = counted.map_or(0, |e| {
                            e.counted.count_between(
                                &(key.0, key.1, [0; 8]),
                                &(key.0, key.1, [u8::MAX; 8]),
                            )
                        });
                        let more = added.entry((device, key.0, key.1)).or_default();
                        if held + *more >= limit {
                            return false;
                        }
                        *more += 1;
                    }
                }
                best.insert((device, key), stamp);
                true
            })
            .collect()
    }

    /// The key a copy would be counted under if its signatures hold, when adding it now would
    /// check them.
    fn candidate_key(&self, logged: &LoggedReport, id: [u8; 16]) -> Option<CountKey> {
        let device = logged.report.device();
        let info = self.registry.device(&device)?;
        let fresh;
        let entry = match self.devices.get(&device) {
            Some(entry) => entry,
            None => {
                fresh = DeviceTally::new(info);
                &fresh
            }
        };
        match admit(&self.ctx, self.kinds, entry, logged, id) {
            Admission::Candidate { key, .. } => Some(key),
            Admission::Refused(_) | Admission::Copy(_) => None,
        }
    }

    /// [`Tally::add`] of a copy whose short id is `id`, with its signatures' answers if found.
    fn add_checked(&mut self, logged: &LoggedReport, id: [u8; 16], verdict: Option<&Verdict>) {
        self.copies += 1;
        let device = logged.report.device();
        let Some(info) = self.registry.device(&device) else {
            *self.unattributed.entry(Reason::UnknownDevice).or_default() += 1;
            return;
        };
        let entry = self
            .devices
            .entry(device)
            .or_insert_with(|| DeviceTally::new(info));
        if let Err(reason) = check_copy(&self.ctx, self.kinds, entry, logged, id, verdict) {
            *entry.rejected.entry(reason).or_default() += 1;
        }
    }

    /// The result, in device order.
    pub fn finish(self) -> TallyResult {
        let ctx = self.ctx;
        let devices = self
            .devices
            .into_iter()
            .map(|(device, t)| {
                let mut windows: Vec<u64> =
                    t.counted.keys().into_iter().map(|(_, w, _)| *w).collect();
                windows.sort_unstable();
                windows.dedup();
                let reports = t.counted.len() as u64;
                let kept = t
                    .counted
                    .into_entries()
                    .into_iter()
                    .filter_map(|((kind, _, _), counted)| {
                        counted.kept.map(|bytes| KeptReport {
                            kind,
                            id: counted.id,
                            bytes,
                        })
                    })
                    .collect();
                let result = DeviceResult {
                    info: t.info,
                    windows: (windows.len() as u64).min(ctx.windows_in_epoch()),
                    reports,
                    kept,
                    rejected: t.rejected,
                };
                (device, result)
            })
            .collect();
        TallyResult {
            devices,
            unattributed: self.unattributed,
            copies: self.copies,
        }
    }
}

/// What the checks before any signature work (steps 1 to 4) make of a copy.
enum Admission {
    /// Refused without signature work.
    Refused(Reason),
    /// Another copy of the report counted under its key: merged, nothing to check.
    Copy(CountKey),
    /// A report that counts if its signatures are good.
    Candidate {
        key: CountKey,
        /// The id it counts under once in the epoch, if its kind has one.
        once: Option<Hash>,
    },
}

/// Steps 1 to 4 of the module doc for one copy, whose short id is `id`, of a registered
/// device's report: read only.
fn admit(
    ctx: &EpochContext,
    kinds: &Kinds,
    entry: &DeviceTally,
    logged: &LoggedReport,
    id: [u8; 16],
) -> Admission {
    match admit_inner(ctx, kinds, entry, logged, id) {
        Ok(admission) => admission,
        Err(reason) => Admission::Refused(reason),
    }
}

fn admit_inner(
    ctx: &EpochContext,
    kinds: &Kinds,
    entry: &DeviceTally,
    logged: &LoggedReport,
    id: [u8; 16],
) -> Result<Admission, Reason> {
    let report = &logged.report;
    if entry.info.retired {
        return Err(Reason::DeviceRetired);
    }
    if entry.info.maker_revoked {
        return Err(Reason::MakerRevoked);
    }
    if !ctx.holds_time(report.body.time_ms) {
        return Err(Reason::OutsideEpoch);
    }
    if !ctx.in_time(report.body.time_ms, logged.received_ms) {
        return Err(Reason::Stale);
    }
    let kind = report.body.payload.kind();
    let rule = kinds.rule(kind).ok_or(Reason::WrongKind)?;
    if rule.senders().is_some_and(|s| s != entry.info.subnetwork) {
        return Err(Reason::WrongKind);
    }
    let slot = rule.slot(ctx, &report.device(), &report.body)?;
    let window = slot
        .window
        .unwrap_or_else(|| ctx.window_of(report.body.time_ms));
    if let Some(once) = &slot.once {
        if entry.chunks.get(once).is_some_and(|w| *w != window) {
            return Err(Reason::DuplicateWindow);
        }
    }
    let key = (kind, window, slot.tag);
    if let Some(current) = entry.counted.get(&key) {
        if current.id == id {
            return Ok(Admission::Copy(key));
        }
        if (current.time_ms, current.received_ms, current.id) < rank(logged, id) {
            return Err(Reason::DuplicateWindow);
        }
    } else if let Some((limit, refusal)) = rule.per_window() {
        let held = entry
            .counted
            .count_between(&(kind, window, [0; 8]), &(kind, window, [u8::MAX; 8]));
        if held >= limit {
            return Err(refusal);
        }
    }
    Ok(Admission::Candidate {
        key,
        once: slot.once,
    })
}

/// Steps 1 to 5 of the module doc for one copy of a registered device's report; `verdict`,
/// when given, holds its signatures' answers found beforehand.
fn check_copy(
    ctx: &EpochContext,
    kinds: &Kinds,
    entry: &mut DeviceTally,
    logged: &LoggedReport,
    id: [u8; 16],
    verdict: Option<&Verdict>,
) -> Result<(), Reason> {
    let (key, once) = match admit(ctx, kinds, entry, logged, id) {
        Admission::Refused(reason) => return Err(reason),
        Admission::Copy(key) => {
            // Another copy of the counted report: its earliest stamp is the report's time.
            if let Some(current) = entry.counted.get_mut(&key) {
                current.received_ms = current.received_ms.min(logged.received_ms);
            }
            return Ok(());
        }
        Admission::Candidate { key, once } => (key, once),
    };
    let report = &logged.report;
    check_signatures(ctx, entry, logged, verdict)?;
    // admit found the rule.
    let rule: &dyn ReportRule = kinds.rule(key.0).ok_or(Reason::WrongKind)?;
    if let Some((claim, refusal)) = rule.second_signature(&report.body) {
        let signed = match verdict {
            Some(verdict) => verdict.second,
            None => claim.verifies(&ctx.chain_id),
        };
        if !signed {
            return Err(refusal);
        }
    }
    if let Some(once) = once {
        entry.chunks.insert(once, key.1);
    }
    // Only a copy that counts keeps what its rule keeps.
    let candidate = Counted {
        time_ms: report.body.time_ms,
        received_ms: logged.received_ms,
        id,
        kept: rule.keep(&entry.info, &report.body),
    };
    if let Some(displaced) = entry.counted.insert(key, candidate) {
        debug_assert_ne!(displaced.id, id);
        *entry.rejected.entry(Reason::DuplicateWindow).or_default() += 1;
    }
    Ok(())
}

/// The certificate (once per device and session) and the report's own signature, from
/// `verdict` when given.
fn check_signatures(
    ctx: &EpochContext,
    entry: &mut DeviceTally,
    logged: &LoggedReport,
    verdict: Option<&Verdict>,
) -> Result<(), Reason> {
    let report = &logged.report;
    let cert_ok = match entry.known_session(&report.cert) {
        Some(ok) => ok,
        None => {
            let ok = match verdict {
                Some(verdict) => verdict.cert,
                None => report.cert.verify(&ctx.chain_id).is_ok(),
            };
            if entry.sessions.len() < MAX_SESSIONS_PER_DEVICE {
                entry.sessions.push((cert_digest(&report.cert), ok));
            }
            ok
        }
    };
    if !cert_ok {
        return Err(Reason::BadCertificate);
    }
    let checked = match verdict {
        Some(verdict) => report.check_session_time().and({
            if verdict.report {
                Ok(())
            } else {
                Err(ReportError::BadSignature(SignatureError::Invalid))
            }
        }),
        None => report.verify_report_signature(&ctx.chain_id),
    };
    checked.map_err(|error| match error {
        ReportError::SessionExpired { .. } => Reason::SessionExpired,
        ReportError::BadCertificate(_) => Reason::BadCertificate,
        ReportError::Malformed(_) => Reason::Malformed,
        ReportError::BadSignature(_) => Reason::BadSignature,
    })
}

/// What the tally remembers a checked session certificate by: a digest of all of it.
fn cert_digest(cert: &SessionCert) -> Hash {
    Hash::domain("cairn session cert seen v1", &[&codec::encode(cert)])
}

/// The short ids of `copies`, hashed on up to `threads` threads.
fn short_ids(copies: &[LoggedReport], threads: usize) -> Vec<[u8; 16]> {
    let ids_of = |part: &[LoggedReport]| -> Vec<[u8; 16]> {
        part.iter().map(|c| short_id(c.report.id().0)).collect()
    };
    let per_thread = copies.len().div_ceil(threads.max(1)).max(256);
    if copies.len() <= per_thread {
        return ids_of(copies);
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = copies
            .chunks(per_thread)
            .map(|part| scope.spawn(move || ids_of(part)))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

fn short_id(id: [u8; 32]) -> [u8; 16] {
    let mut short = [0u8; 16];
    short.copy_from_slice(&id[..16]);
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectivity::settlement::transfers_of;
    use crate::context::DeviceInfo;
    use crate::sensing::kind::sensor_reading;
    use crate::sensing::series::Reading;
    use cairn_types::params::ChainId;
    use cairn_types::report::{ReportBody, ReportPayload, SignedReport};
    use cairn_types::transfer::{TransferReceipt, MAX_RECEIPT_BYTES};
    use cairn_types::{Address, Hash, SecretKey, Subnetwork};
    use proptest::prelude::*;

    const WINDOW: u64 = 10_000;

    fn ctx() -> EpochContext {
        EpochContext {
            chain_id: ChainId::new("cairn-test").unwrap(),
            epoch: 1,
            start_ms: 100_000,
            end_ms: 200_000,
            window_ms: WINDOW,
            skew_ms: 1_000,
            delay_ms: 5_000,
        }
    }

    fn device_key(n: u8) -> SecretKey {
        SecretKey::from_seed([n; 32])
    }

    fn registry(devices: &[u8]) -> BTreeMap<DeviceId, DeviceInfo> {
        devices
            .iter()
            .map(|n| {
                (
                    DeviceId(device_key(*n).public_key()),
                    DeviceInfo {
                        owner: Address(SecretKey::from_seed([100 + n; 32]).public_key()),
                        subnetwork: Subnetwork::Sensing,
                        retired: false,
                        maker_revoked: false,
                        location: None,
                    },
                )
            })
            .collect()
    }

    fn heartbeat(n: u8, time_ms: u64, uptime_secs: u64) -> SignedReport {
        let chain = ctx().chain_id;
        let session = SecretKey::from_seed([200 + n; 32]);
        let cert = SessionCert::issue(&chain, &device_key(n), session.public_key(), 10_000_000);
        let body = ReportBody {
            time_ms,
            entropy: Hash::ZERO,
            payload: ReportPayload::Heartbeat { uptime_secs },
        };
        SignedReport::sign(&chain, cert, &session, body)
    }

    fn logged(report: &SignedReport, received_ms: u64) -> LoggedReport {
        LoggedReport {
            received_ms,
            report: report.clone(),
        }
    }

    fn result_of(reports: &[LoggedReport], devices: &[u8]) -> TallyResult {
        let reg = registry(devices);
        let mut tally = Tally::new(ctx(), &reg);
        for r in reports {
            tally.add(r);
        }
        tally.finish()
    }

    fn witness(n: u8, time_ms: u64, heard: u8) -> SignedReport {
        let mut r = heartbeat(n, time_ms, 0);
        r.body.payload = ReportPayload::Witness {
            beaconer: DeviceId(device_key(99).public_key()),
            data: Hash([heard; 32]),
            frequency_khz: 868_100,
            rssi_cdbm: -10_000,
            snr_cdb: 0,
        };
        let session = SecretKey::from_seed([200 + n; 32]);
        SignedReport::sign(&ctx().chain_id, r.cert, &session, r.body)
    }

    #[test]
    fn witnesses_count_per_beacon_heard_up_to_a_bound_and_only_for_coverage_devices() {
        let mut reg = registry(&[1, 2]);
        for info in reg.values_mut() {
            info.subnetwork = Subnetwork::Coverage;
        }
        reg.get_mut(&DeviceId(device_key(2).public_key()))
            .unwrap()
            .subnetwork = Subnetwork::Sensing;
        let mut tally = Tally::new(ctx(), &reg);
        let count = u8::try_from(MAX_WITNESSES_PER_WINDOW).unwrap() + 1;
        for heard in 0..count {
            tally.add(&logged(
                &witness(1, 120_000 + u64::from(heard), heard),
                121_000,
            ));
        }
        tally.add(&logged(&witness(2, 120_000, 0), 121_000));
        let out = tally.finish();
        let one = &out.devices[&DeviceId(device_key(1).public_key())];
        assert_eq!(one.reports, MAX_WITNESSES_PER_WINDOW as u64);
        assert_eq!(one.kept.len(), MAX_WITNESSES_PER_WINDOW);
        assert_eq!(one.rejected.get(&Reason::TooManyWitnesses), Some(&1));
        let two = &out.devices[&DeviceId(device_key(2).public_key())];
        assert_eq!(two.rejected.get(&Reason::WrongKind), Some(&1));
        assert!(two.kept.is_empty());
    }

    fn reading(n: u8, time_ms: u64, sensor: &str, value_milli: i64) -> SignedReport {
        let mut r = heartbeat(n, time_ms, 0);
        r.body.payload = ReportPayload::Reading {
            sensor: cairn_types::codec::BoundedString::new(sensor).unwrap(),
            value_milli,
        };
        let session = SecretKey::from_seed([200 + n; 32]);
        SignedReport::sign(&ctx().chain_id, r.cert, &session, r.body)
    }

    #[test]
    fn a_station_counts_one_reading_per_sensor_and_window_up_to_a_bound() {
        let reg = registry(&[1]);
        let mut tally = Tally::new(ctx(), &reg);
        tally.add(&logged(
            &reading(1, 101_000, "temperature", 21_000),
            101_100,
        ));
        tally.add(&logged(&reading(1, 102_000, "humidity", 55_000), 102_100));
        // A second temperature of the same window: the first received counts.
        tally.add(&logged(
            &reading(1, 103_000, "temperature", 22_000),
            103_100,
        ));
        for i in 0..MAX_SENSORS_PER_WINDOW {
            let sensor = format!("s{i}");
            tally.add(&logged(&reading(1, 104_000, &sensor, 1), 104_100));
        }
        let out = tally.finish();
        let d = &out.devices[&DeviceId(device_key(1).public_key())];
        assert_eq!(d.windows, 1);
        let readings: Vec<_> = d.kept.iter().filter_map(sensor_reading).collect();
        assert_eq!(readings.len(), MAX_SENSORS_PER_WINDOW);
        assert!(readings.iter().any(|r| r.sensor == "temperature"
            && r.reading
                == Reading {
                    time_ms: 101_000,
                    value: 21_000
                }));
        assert_eq!(d.rejected.get(&Reason::DuplicateWindow), Some(&1));
        assert_eq!(d.rejected.get(&Reason::TooManySensors), Some(&2));
    }

    #[test]
    fn one_point_per_window_and_copies_merge() {
        let a = heartbeat(1, 101_000, 1);
        let b = heartbeat(1, 105_000, 2); // same window as a
        let c = heartbeat(1, 111_000, 3);
        let result = result_of(
            &[
                logged(&a, 101_100),
                logged(&a, 101_050), // a copy from another oracle
                logged(&b, 105_100),
                logged(&c, 111_100),
            ],
            &[1],
        );
        let d = &result.devices[&DeviceId(device_key(1).public_key())];
        assert_eq!(d.windows, 2);
        assert_eq!(d.reports, 2);
        assert_eq!(d.rejected.get(&Reason::DuplicateWindow), Some(&1));
        assert_eq!(result.copies, 4);
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let chain = ctx().chain_id;
        let mut forged = heartbeat(1, 121_000, 1);
        forged.body.time_ms += 1; // signature no longer matches
        let mut bad_cert = heartbeat(1, 131_000, 1);
        bad_cert.cert =
            SessionCert::issue(&chain, &device_key(9), bad_cert.cert.session, 10_000_000);
        bad_cert.cert.device = DeviceId(device_key(1).public_key());
        let mut expired = heartbeat(1, 141_000, 1);
        expired.cert = SessionCert::issue(
            &chain,
            &device_key(1),
            SecretKey::from_seed([201; 32]).public_key(),
            141_000,
        );
        let result = result_of(
            &[
                logged(&heartbeat(1, 50_000, 1), 50_000), // before the epoch
                logged(&heartbeat(1, 110_000, 1), 120_000), // 10 s late
                logged(&forged, 121_000),
                logged(&bad_cert, 131_000),
                logged(&expired, 141_000),
                logged(&heartbeat(7, 151_000, 1), 151_000), // not registered
            ],
            &[1],
        );
        let d = &result.devices[&DeviceId(device_key(1).public_key())];
        assert_eq!(d.windows, 0);
        for reason in [
            Reason::OutsideEpoch,
            Reason::Stale,
            Reason::BadSignature,
            Reason::BadCertificate,
            Reason::SessionExpired,
        ] {
            assert_eq!(d.rejected.get(&reason), Some(&1), "{reason}");
        }
        assert_eq!(result.unattributed.get(&Reason::UnknownDevice), Some(&1));
    }

    #[test]
    fn a_retired_device_earns_nothing() {
        let mut reg = registry(&[1]);
        for info in reg.values_mut() {
            info.retired = true;
        }
        let mut tally = Tally::new(ctx(), &reg);
        tally.add(&logged(&heartbeat(1, 101_000, 1), 101_000));
        let result = tally.finish();
        let d = &result.devices[&DeviceId(device_key(1).public_key())];
        assert_eq!(d.windows, 0);
        assert_eq!(d.rejected.get(&Reason::DeviceRetired), Some(&1));
    }

    #[test]
    fn a_device_of_a_revoked_maker_earns_nothing_and_says_why() {
        let mut reg = registry(&[1, 2]);
        reg.get_mut(&DeviceId(device_key(1).public_key()))
            .expect("device 1")
            .maker_revoked = true;
        let mut tally = Tally::new(ctx(), &reg);
        tally.add(&logged(&heartbeat(1, 101_000, 1), 101_000));
        tally.add(&logged(&heartbeat(2, 101_000, 1), 101_000));
        let result = tally.finish();
        let revoked = &result.devices[&DeviceId(device_key(1).public_key())];
        assert_eq!(revoked.windows, 0);
        assert_eq!(revoked.rejected.get(&Reason::MakerRevoked), Some(&1));
        assert_eq!(
            result.devices[&DeviceId(device_key(2).public_key())].windows,
            1
        );
    }

    /// A colluding oracle that stamps a later-signed report as received first does not make
    /// it the window's report: the device's own signed time decides, in either order, whether
    /// the copies are added one by one or planned in a batch.
    #[test]
    fn the_report_the_device_signed_first_wins_whatever_an_oracle_stamps() {
        let first = heartbeat(1, 101_000, 1);
        let second = heartbeat(1, 101_500, 2);
        let copies = [logged(&first, 101_800), logged(&second, 100_600)];
        let reg = registry(&[1]);
        let device = DeviceId(device_key(1).public_key());
        let key = (ReportKind::Heartbeat, ctx().window_of(101_000), [0; 8]);
        for order in [[0, 1], [1, 0]] {
            let mut one_by_one = Tally::new(ctx(), &reg);
            let mut batched = Tally::new(ctx(), &reg);
            for i in order {
                one_by_one.add(&copies[i]);
            }
            batched.add_all(&[copies[order[0]].clone(), copies[order[1]].clone()], 2);
            for tally in [&one_by_one, &batched] {
                let counted = tally.devices[&device].counted.get(&key).expect("counted");
                assert_eq!(counted.id, short_id(first.id().0), "order {order:?}");
            }
        }
    }

    #[test]
    fn the_earliest_report_of_a_window_counts_whatever_the_order() {
        let early = heartbeat(1, 101_000, 1);
        let late = heartbeat(1, 102_000, 2);
        let forward = result_of(&[logged(&early, 101_000), logged(&late, 102_000)], &[1]);
        let backward = result_of(&[logged(&late, 102_000), logged(&early, 101_000)], &[1]);
        assert_eq!(forward, backward);
    }

    proptest! {
        /// Points never exceed the windows in the epoch, and copies in any order give the same
        /// points.
        #[test]
        fn points_are_bounded_and_order_free(
            times in proptest::collection::vec(90_000u64..210_000, 1..30),
            seed in any::<u64>(),
        ) {
            let reports: Vec<LoggedReport> = times
                .iter()
                .enumerate()
                .map(|(i, t)| logged(&heartbeat(1, *t, i as u64), *t + 100))
                .collect();
            let mut shuffled = reports.clone();
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let a = result_of(&reports, &[1]);
            let b = result_of(&shuffled, &[1]);
            let id = DeviceId(device_key(1).public_key());
            prop_assert!(a.devices[&id].windows <= ctx().windows_in_epoch());
            prop_assert_eq!(a.devices[&id].windows, b.devices[&id].windows);
            prop_assert_eq!(a.devices[&id].reports, b.devices[&id].reports);
        }
    }

    /// One copy of a random mix: device `n` (0 to 4; 4 is not registered), a kind, a time,
    /// a broken signature or none, and a later copy of an earlier report.
    fn mixed_copy(choice: (u8, u8, u64, u8), earlier: &[LoggedReport]) -> LoggedReport {
        let (n, kind, time, broken) = choice;
        let payer = SecretKey::from_label("payer");
        let mut report = match kind % 4 {
            0 => heartbeat(n, time, u64::from(broken)),
            1 => witness(n, time, broken % 3),
            2 => reading(n, time, ["t", "h"][usize::from(broken % 2)], 1),
            _ => transfer(
                n,
                time,
                TransferReceipt {
                    payer: Address(payer.public_key()),
                    device: DeviceId(device_key(n).public_key()),
                    session: 1,
                    seq: u32::from(broken % 4),
                    bytes: 1_000,
                    time_ms: time,
                },
                &payer,
            ),
        };
        match broken {
            10 => report.cert.signature.0[1] ^= 1,
            11 => report.signature.0[2] ^= 1,
            12 => {
                if let ReportPayload::Transfer { transfer } = &mut report.body.payload {
                    transfer.payer_signature.0[3] ^= 1;
                }
                let session = SecretKey::from_seed([200 + n; 32]);
                report = SignedReport::sign(&ctx().chain_id, report.cert, &session, report.body);
            }
            13 if !earlier.is_empty() => {
                let mut copy = earlier[usize::try_from(time).unwrap_or(0) % earlier.len()].clone();
                copy.received_ms += 10;
                return copy;
            }
            _ => {}
        }
        logged(&report, time + 500)
    }

    #[test]
    fn a_batch_plans_no_signature_work_that_one_by_one_would_not_do() {
        let mut reg = registry(&[1]);
        for info in reg.values_mut() {
            info.subnetwork = Subnetwork::Coverage;
        }
        let tally = Tally::new(ctx(), &reg);
        let first = logged(&heartbeat(1, 120_000, 1), 121_000);
        let mut copies = vec![first.clone(); 50];
        // Later reports of the same window lose to the first without signature work.
        copies.extend((2..30).map(|u| logged(&heartbeat(1, 120_000 + u, u), 121_000 + u)));
        // Witnesses of 40 beacons in one window: only the first 32 can count.
        let count = u8::try_from(MAX_WITNESSES_PER_WINDOW).unwrap() + 8;
        copies.extend(
            (0..count).map(|heard| logged(&witness(1, 130_000 + u64::from(heard), heard), 131_000)),
        );
        let ids: Vec<[u8; 16]> = copies.iter().map(|c| short_id(c.report.id().0)).collect();
        let planned = tally.plan(&copies, &ids);
        assert_eq!(
            planned.iter().filter(|p| **p).count(),
            1 + MAX_WITNESSES_PER_WINDOW
        );
        assert!(planned[0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Adding copies in batches, with signatures checked beforehand on several threads,
        /// gives the tally adding them one by one gives.
        #[test]
        fn batches_give_the_tally_of_one_by_one(
            choices in proptest::collection::vec(
                (0u8..5, 0u8..4, 95_000u64..205_000, 0u8..16), 1..80),
            batch in 1usize..40,
            threads in 1usize..4,
        ) {
            let mut copies: Vec<LoggedReport> = Vec::new();
            for choice in choices {
                let copy = mixed_copy(choice, &copies);
                copies.push(copy);
            }
            let mut reg = registry(&[0, 1, 2, 3]);
            let kinds = [
                Subnetwork::Coverage,
                Subnetwork::Sensing,
                Subnetwork::Connectivity,
                Subnetwork::Sensing,
            ];
            for (n, kind) in kinds.iter().enumerate() {
                let id = DeviceId(device_key(u8::try_from(n).unwrap()).public_key());
                reg.get_mut(&id).unwrap().subnetwork = *kind;
            }
            let mut one = Tally::new(ctx(), &reg);
            for copy in &copies {
                one.add(copy);
            }
            let mut batched = Tally::new(ctx(), &reg);
            for part in copies.chunks(batch) {
                batched.add_all(part, threads);
            }
            prop_assert_eq!(one.finish(), batched.finish());
        }
    }

    fn transfer(n: u8, time_ms: u64, receipt: TransferReceipt, payer: &SecretKey) -> SignedReport {
        let mut r = heartbeat(n, time_ms, 0);
        r.body.payload = ReportPayload::Transfer {
            transfer: receipt.sign(&ctx().chain_id, payer),
        };
        let session = SecretKey::from_seed([200 + n; 32]);
        SignedReport::sign(&ctx().chain_id, r.cert, &session, r.body)
    }

    #[test]
    fn a_transfer_counts_once_with_both_signatures_and_never_inflated() {
        let mut reg = registry(&[1, 2, 3]);
        for info in reg.values_mut() {
            info.subnetwork = Subnetwork::Connectivity;
        }
        reg.get_mut(&DeviceId(device_key(3).public_key()))
            .unwrap()
            .subnetwork = Subnetwork::Sensing;
        let payer = SecretKey::from_label("payer");
        let chunk = |n: u8, seq: u32, bytes: u64| TransferReceipt {
            payer: Address(payer.public_key()),
            device: DeviceId(device_key(n).public_key()),
            session: 1,
            seq,
            bytes,
            time_ms: 120_000,
        };
        let mut tally = Tally::new(ctx(), &reg);
        // Two honest chunks, the first reported twice (at two device times: one count).
        tally.add(&logged(
            &transfer(1, 120_500, chunk(1, 0, 4_000), &payer),
            121_000,
        ));
        tally.add(&logged(
            &transfer(1, 150_000, chunk(1, 0, 4_000), &payer),
            151_000,
        ));
        tally.add(&logged(
            &transfer(1, 120_600, chunk(1, 1, 6_000), &payer),
            121_000,
        ));
        // Inflated after the payer signed: refused.
        let mut inflated = transfer(1, 120_700, chunk(1, 2, 1_000), &payer);
        if let ReportPayload::Transfer { transfer } = &mut inflated.body.payload {
            transfer.receipt.bytes = 1_000_000;
        }
        let session = SecretKey::from_seed([201; 32]);
        let inflated = SignedReport::sign(&ctx().chain_id, inflated.cert, &session, inflated.body);
        tally.add(&logged(&inflated, 121_000));
        // Signed by the device alone.
        tally.add(&logged(
            &transfer(1, 120_800, chunk(1, 3, 9_000), &device_key(1)),
            121_000,
        ));
        // Another device's receipt, a chunk too large, a payer time outside the epoch.
        tally.add(&logged(
            &transfer(1, 120_900, chunk(2, 4, 9_000), &payer),
            121_000,
        ));
        let huge = chunk(1, 5, MAX_RECEIPT_BYTES + 1);
        tally.add(&logged(&transfer(1, 121_000, huge, &payer), 122_000));
        let late = TransferReceipt {
            time_ms: 250_000,
            ..chunk(1, 6, 1)
        };
        tally.add(&logged(&transfer(1, 121_100, late, &payer), 122_000));
        // The first chunk signed again at another time, and an empty chunk.
        let again = TransferReceipt {
            time_ms: 160_000,
            ..chunk(1, 0, 4_000)
        };
        tally.add(&logged(&transfer(1, 160_100, again, &payer), 161_000));
        tally.add(&logged(
            &transfer(1, 121_200, chunk(1, 7, 0), &payer),
            122_000,
        ));
        // Only connectivity devices carry transfers.
        tally.add(&logged(
            &transfer(3, 120_000, chunk(3, 0, 1), &payer),
            121_000,
        ));
        let out = tally.finish();
        let one = &out.devices[&DeviceId(device_key(1).public_key())];
        let bytes: Vec<u64> = transfers_of(one).iter().map(|t| t.bytes).collect();
        assert_eq!(bytes.iter().sum::<u64>(), 10_000, "{bytes:?}");
        assert!(transfers_of(one)
            .iter()
            .all(|t| t.payer == Address(payer.public_key())));
        for (reason, n) in [
            (Reason::DuplicateWindow, 2),
            (Reason::EmptyTransfer, 1),
            (Reason::TransferUnsigned, 2),
            (Reason::TransferNotYours, 1),
            (Reason::TransferTooLarge, 1),
            (Reason::OutsideEpoch, 1),
        ] {
            assert_eq!(
                one.rejected.get(&reason),
                Some(&n),
                "{reason:?}: {:?}",
                one.rejected
            );
        }
        let three = &out.devices[&DeviceId(device_key(3).public_key())];
        assert_eq!(three.rejected.get(&Reason::WrongKind), Some(&1));
        assert!(three.kept.is_empty());
    }
}
