//! Ingest: what an oracle checks before it writes a report to its log.
//!
//! For a batch from one client, in this order (cheap checks first, so a flood costs little):
//!
//! 1. the client's request rate (`client_rate_limited`);
//! 2. the batch's size and count, before any report is decoded (`malformed`);
//! 3. per report: its bytes (`malformed`); the device in the registry and not retired
//!    (`unknown_device`, `device_retired`), a lookup before any signature work; the device's time
//!    against the oracle's clock (`stale`: later than the allowed delay, or ahead by more than
//!    the allowed skew) and the epochs already closed (`epoch_closed`); a report taken before is
//!    acknowledged again and not written (`duplicate`), and so is a second copy in the same
//!    batch; a device already over its rate is refused (`device_rate_limited`) without being
//!    charged;
//! 4. the signatures of what is left, in one batch: the session certificate (once per device and
//!    certificate) and the report (`bad_certificate`, `session_expired`, `bad_signature`). A
//!    client whose batch holds a bad signature is refused for [`FORGER_BLOCK_MS`], then waits
//!    for its burst to refill: forging costs the forger;
//! 5. the device's rate (`device_rate_limited`), charged only now, for reports whose signatures
//!    hold: a forger who knows a device's id cannot spend that device's rate;
//! 6. the accepted reports, stamped with the receive time, are written to the journal and synced
//!    (`unavailable` if that fails: nothing was written); only then is the batch answered.
//!
//! - [`rate`]: token buckets.
//! - [`recent`]: per device, the ids taken lately and the rate bucket.

pub mod rate;
pub mod recent;

use crate::log::ReportLog;
use crate::registry::DeviceBook;
use cairn_resources::context::Registry;
use cairn_types::ingest::{IngestResponse, IngestResult, IngestStatus, Refusal};
use cairn_types::keys::verify_batch;
use cairn_types::params::ChainId;
use cairn_types::report::{
    report_digest, session_cert_digest, LoggedReport, ReportBatch, SignedReport,
};
use cairn_types::{DeviceId, Hash};
use rate::Bucket;
use recent::{Admission, DeviceRate, Recent};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};

/// Clients remembered for rate limiting at most; a new client beyond this takes the place of
/// the one that has been quiet longest (so that many addresses cannot lock new ones out).
pub const MAX_CLIENTS: usize = 65_536;

/// How long a client that sent a forged report is refused.
pub const FORGER_BLOCK_MS: u64 = 60_000;

/// Ingest's limits.
#[derive(Clone, Copy, Debug)]
pub struct IngestLimits {
    /// Each device's rate.
    pub device: DeviceRate,
    /// Batches a client (an IP address) may post a minute, sustained.
    pub client_batches_per_minute: u64,
    /// Batches a client may post at once.
    pub client_burst: u64,
}

/// The chain's rules that ingest applies (from the ledger's parameters; they may change).
#[derive(Clone, Debug)]
pub struct IngestRules {
    /// The chain reports are signed for.
    pub chain_id: ChainId,
    /// `report_skew_max_secs`, in ms.
    pub skew_ms: u64,
    /// `report_delay_max_secs`, in ms.
    pub delay_ms: u64,
    /// Reports made before this time belong to reward epochs this oracle has closed.
    pub closed_before_ms: u64,
}

/// The ingest service.
pub struct Ingest {
    rules: RwLock<IngestRules>,
    limits: IngestLimits,
    book: Arc<DeviceBook>,
    log: ReportLog,
    recent: Recent,
    clients: Mutex<HashMap<IpAddr, Bucket>>,
    certificates: Mutex<HashMap<DeviceId, Hash>>,
}

/// One report on its way through the checks.
struct Candidate {
    index: usize,
    report: SignedReport,
    id: Hash,
    certificate_known: bool,
}

impl Ingest {
    /// Ingest over `book`, writing to `log`.
    pub fn new(
        rules: IngestRules,
        limits: IngestLimits,
        book: Arc<DeviceBook>,
        log: ReportLog,
    ) -> Ingest {
        Ingest {
            rules: RwLock::new(rules),
            limits,
            book,
            log,
            recent: Recent::default(),
            clients: Mutex::new(HashMap::new()),
            certificates: Mutex::new(HashMap::new()),
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> IngestRules {
        self.rules
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the rules (the chain's parameters changed, or an epoch was closed).
    pub fn set_rules(&self, rules: IngestRules) {
        *self
            .rules
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = rules;
    }

    /// Remembers a report already in the log (at start), so that it is not taken twice.
    pub fn remember(&self, logged: &LoggedReport) {
        let id = short(logged.report.id());
        self.recent.remember(
            logged.report.device(),
            id,
            logged.received_ms,
            self.limits.device,
        );
    }

    /// Forgets what no longer matters (ids older than the delay allows, idle clients).
    pub fn prune(&self, now_ms: u64) {
        let rules = self.rules();
        let horizon = now_ms.saturating_sub(rules.delay_ms.saturating_add(rules.skew_ms));
        self.recent.prune(horizon, now_ms);
        self.lock_clients()
            .retain(|_, bucket| !bucket.idle_since(now_ms, 600_000));
    }

    /// Checks a batch from `client` received at `now_ms` and writes what passes. A refusal of
    /// the whole batch (the client's rate, a batch that does not decode) is an `Err`.
    pub async fn ingest(
        &self,
        client: IpAddr,
        body: &[u8],
        now_ms: u64,
    ) -> Result<IngestResponse, Refusal> {
        self.admit_client(client, now_ms)?;
        let batch = ReportBatch::decode(body).map_err(|_| Refusal::Malformed)?;
        let rules = self.rules();
        let mut results: Vec<IngestResult> = Vec::with_capacity(batch.0.len());
        let mut candidates = Vec::new();
        let mut in_batch = std::collections::HashSet::new();
        for (index, bytes) in batch.0.iter().enumerate() {
            let outcome = match within_kind_bound(bytes.as_slice())
                .then(|| SignedReport::decode(bytes.as_slice()))
            {
                None => Err((None, IngestStatus::Refused(Refusal::TooLarge))),
                Some(Err(_)) => Err((None, IngestStatus::Refused(Refusal::Malformed))),
                Some(Ok(report)) if !in_batch.insert(report.id()) => {
                    Err((Some(report.id()), IngestStatus::Duplicate))
                }
                Some(Ok(report)) => self.precheck(&rules, index, report, now_ms),
            };
            match outcome {
                Ok(candidate) => {
                    results.push(IngestResult {
                        id: Some(candidate.id),
                        status: IngestStatus::Accepted,
                    });
                    candidates.push(candidate);
                }
                Err((id, status)) => results.push(IngestResult { id, status }),
            }
        }
        let (verified, forged) = self.verify(&rules.chain_id, candidates, &mut results);
        if forged {
            self.penalize_client(client, now_ms);
        }
        let admitted = self.admit_devices(verified, now_ms, &mut results);
        self.write(admitted, now_ms, &mut results).await;
        Ok(IngestResponse { results })
    }

    fn admit_client(&self, client: IpAddr, now_ms: u64) -> Result<(), Refusal> {
        let client = client_key(client);
        let mut clients = self.lock_clients();
        if !clients.contains_key(&client) && clients.len() >= MAX_CLIENTS {
            let quietest = clients
                .iter()
                .min_by_key(|(_, bucket)| bucket.updated_ms())
                .map(|(key, _)| *key);
            if let Some(key) = quietest {
                clients.remove(&key);
            }
        }
        let limits = self.limits;
        let bucket = clients
            .entry(client)
            .or_insert_with(|| Bucket::full(limits.client_burst, now_ms));
        if bucket.take(
            now_ms,
            limits.client_batches_per_minute,
            limits.client_burst,
        ) {
            Ok(())
        } else {
            Err(Refusal::ClientRateLimited)
        }
    }

    /// A client that sent a forged report is refused for [`FORGER_BLOCK_MS`].
    fn penalize_client(&self, client: IpAddr, now_ms: u64) {
        if let Some(bucket) = self.lock_clients().get_mut(&client_key(client)) {
            bucket.block(now_ms, FORGER_BLOCK_MS);
        }
    }

    /// Step 3 of the module doc.
    fn precheck(
        &self,
        rules: &IngestRules,
        index: usize,
        report: SignedReport,
        now_ms: u64,
    ) -> Result<Candidate, (Option<Hash>, IngestStatus)> {
        let id = report.id();
        let refuse = |refusal| (Some(id), IngestStatus::Refused(refusal));
        let device = report.device();
        let info = self
            .book
            .device(&device)
            .ok_or(refuse(Refusal::UnknownDevice))?;
        if info.retired {
            return Err(refuse(Refusal::DeviceRetired));
        }
        let time_ms = report.body.time_ms;
        let late = now_ms > time_ms && now_ms - time_ms > rules.delay_ms;
        let early = time_ms > now_ms && time_ms - now_ms > rules.skew_ms;
        if late || early {
            return Err(refuse(Refusal::Stale));
        }
        if time_ms < rules.closed_before_ms {
            return Err(refuse(Refusal::EpochClosed));
        }
        if self.recent.seen(&device, &short(id)) {
            return Err((Some(id), IngestStatus::Duplicate));
        }
        if !self.recent.has_room(&device, now_ms, self.limits.device) {
            return Err(refuse(Refusal::DeviceRateLimited));
        }
        let certificate_known = self.lock_certificates().get(&device) == Some(&cert_hash(&report));
        Ok(Candidate {
            index,
            report,
            id,
            certificate_known,
        })
    }

    /// Step 4: every signature of the candidates in one batch check; on failure, one by one to
    /// name the culprits. Returns those that passed, and whether any signature was forged.
    fn verify(
        &self,
        chain_id: &ChainId,
        candidates: Vec<Candidate>,
        results: &mut [IngestResult],
    ) -> (Vec<Candidate>, bool) {
        let mut digests = Vec::with_capacity(candidates.len() * 2);
        let mut signatures = Vec::with_capacity(candidates.len() * 2);
        let mut keys = Vec::with_capacity(candidates.len() * 2);
        for c in &candidates {
            let r = &c.report;
            if !c.certificate_known {
                digests.push(session_cert_digest(
                    chain_id,
                    &r.cert.device,
                    &r.cert.session,
                    r.cert.expires_ms,
                ));
                signatures.push(r.cert.signature);
                keys.push(r.cert.device.0);
            }
            digests.push(report_digest(chain_id, &r.cert, &r.body));
            signatures.push(r.signature);
            keys.push(r.cert.session);
        }
        let all_good = verify_batch(&digests, &signatures, &keys).is_ok();
        let mut passed = Vec::with_capacity(candidates.len());
        let mut forged = false;
        for c in candidates {
            let verdict = if all_good {
                c.report
                    .check_session_time()
                    .map_err(|_| Refusal::SessionExpired)
            } else {
                check_one(chain_id, &c)
            };
            match verdict {
                Ok(()) => {
                    if !c.certificate_known {
                        self.lock_certificates()
                            .insert(c.report.device(), cert_hash(&c.report));
                    }
                    passed.push(c);
                }
                Err(refusal) => {
                    forged |= matches!(refusal, Refusal::BadCertificate | Refusal::BadSignature);
                    results[c.index].status = IngestStatus::Refused(refusal);
                }
            }
        }
        (passed, forged)
    }

    /// Step 5: the device's rate, and the duplicate check again (a concurrent batch may have
    /// taken the same report meanwhile).
    fn admit_devices(
        &self,
        verified: Vec<Candidate>,
        now_ms: u64,
        results: &mut [IngestResult],
    ) -> Vec<Candidate> {
        let mut admitted = Vec::with_capacity(verified.len());
        for c in verified {
            match self
                .recent
                .admit(c.report.device(), short(c.id), now_ms, self.limits.device)
            {
                Admission::New => admitted.push(c),
                Admission::Duplicate => results[c.index].status = IngestStatus::Duplicate,
                Admission::RateLimited => {
                    results[c.index].status = IngestStatus::Refused(Refusal::DeviceRateLimited)
                }
            }
        }
        admitted
    }

    /// Step 6.
    async fn write(&self, passed: Vec<Candidate>, now_ms: u64, results: &mut [IngestResult]) {
        if passed.is_empty() {
            return;
        }
        let logged: Vec<LoggedReport> = passed
            .iter()
            .map(|c| LoggedReport {
                received_ms: now_ms,
                report: c.report.clone(),
            })
            .collect();
        if let Err(error) = self.log.append(logged).await {
            tracing::warn!(%error, "oracle.ingest: the batch could not be written");
            for c in &passed {
                self.recent.forget(&c.report.device(), &short(c.id));
                results[c.index].status = IngestStatus::Refused(Refusal::Unavailable);
            }
        }
    }

    fn lock_clients(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Bucket>> {
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_certificates(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceId, Hash>> {
        self.certificates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One candidate's signatures alone, with the refusal that names what failed.
fn check_one(chain_id: &ChainId, c: &Candidate) -> Result<(), Refusal> {
    use cairn_types::report::ReportError;
    let result = if c.certificate_known {
        c.report.verify_report_signature(chain_id)
    } else {
        c.report.verify(chain_id)
    };
    result.map_err(|e| match e {
        ReportError::BadCertificate(_) => Refusal::BadCertificate,
        ReportError::SessionExpired { .. } => Refusal::SessionExpired,
        ReportError::BadSignature(_) => Refusal::BadSignature,
        ReportError::Malformed(_) => Refusal::Malformed,
    })
}

/// The key a client's rate is kept under: its IPv4 address, or its IPv6 /64 (one host commonly
/// holds a whole /64: counting its addresses apart would let it fill the table alone).
/// An IPv4 client seen through a dual-stack listener (`::ffff:a.b.c.d`) is its IPv4 address.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => IpAddr::V4(
            v6.to_ipv4_mapped()
                .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
        ),
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(std::net::Ipv6Addr::from(segments))
        }
    }
}

fn cert_hash(report: &SignedReport) -> Hash {
    Hash::domain(
        "cairn session cert id v1",
        &[&cairn_types::codec::encode(&report.cert)],
    )
}

fn short(id: Hash) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&id.0[..16]);
    out
}

#[cfg(test)]
mod tests;

/// Whether an encoded report is within its kind's size bound (each registered sub-network's
/// rule states it), read from its variant byte before anything is decoded; bytes of no known
/// kind are left to the decoder to refuse.
fn within_kind_bound(bytes: &[u8]) -> bool {
    SignedReport::peek_kind(bytes)
        .and_then(|kind| cairn_resources::kinds::standard().rule(kind))
        .is_none_or(|rule| bytes.len() <= rule.max_bytes())
}
