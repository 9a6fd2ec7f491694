//! Report signatures checked in batches on several threads, each with the answer checking it
//! alone gives.
//!
//! Cairn's signatures are ZIP-215 ed25519 ([`cairn_types::keys::verify_batch`]), whose batch
//! check accepts a batch exactly when every signature in it would be accepted alone. So the
//! tally checks the signatures of many reports at once: [`BATCH`] at a time on each thread, and
//! a batch that fails is checked one by one to find which. The answers do not depend on the
//! batching or on the number of threads, so every oracle and auditor gets the same tally on any
//! machine.

use cairn_types::keys::verify_batch;
use cairn_types::params::ChainId;
use cairn_types::report::{report_digest, session_cert_digest, SessionCert, SignedReport};
use cairn_types::transfer::SignedTransfer;
use cairn_types::{Hash, PublicKey, Signature};

/// Signatures checked in one batch.
pub const BATCH: usize = 64;

/// One signature a report carries.
#[derive(Clone, Copy, Debug)]
pub enum Claim<'a> {
    /// The device key over a session certificate ([`SessionCert::verify`]).
    Cert(&'a SessionCert),
    /// The session key over its report (the signature part of
    /// [`SignedReport::verify_report_signature`]).
    Report(&'a SignedReport),
    /// The payer over a transfer receipt ([`SignedTransfer::verify`]).
    Transfer(&'a SignedTransfer),
}

impl Claim<'_> {
    /// Whether the claim holds, checked alone (as [`check_claims`] answers it).
    pub fn verifies(&self, chain_id: &ChainId) -> bool {
        let (digest, signature, key) = self.parts(chain_id);
        key_verifies(&key, &digest, &signature)
    }

    /// What is signed, the signature and the key that must have made it.
    fn parts(&self, chain_id: &ChainId) -> (Hash, Signature, PublicKey) {
        match self {
            Claim::Cert(cert) => (
                session_cert_digest(chain_id, &cert.device, &cert.session, cert.expires_ms),
                cert.signature,
                cert.device.0,
            ),
            Claim::Report(report) => (
                report_digest(chain_id, &report.cert, &report.body),
                report.signature,
                report.cert.session,
            ),
            Claim::Transfer(transfer) => (
                transfer.receipt.digest(chain_id),
                transfer.payer_signature,
                transfer.receipt.payer.0,
            ),
        }
    }
}

/// Whether each claim's signature is valid, on up to `threads` threads.
pub fn check_claims(chain_id: &ChainId, claims: &[Claim<'_>], threads: usize) -> Vec<bool> {
    let per_thread = claims.len().div_ceil(threads.max(1)).max(BATCH);
    if claims.len() <= per_thread {
        return check_part(chain_id, claims);
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = claims
            .chunks(per_thread)
            .map(|part| scope.spawn(move || check_part(chain_id, part)))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Whether each claim of `claims` is valid, on this thread.
fn check_part(chain_id: &ChainId, claims: &[Claim<'_>]) -> Vec<bool> {
    let mut valid = Vec::with_capacity(claims.len());
    for batch in claims.chunks(BATCH) {
        let (mut digests, mut signatures, mut keys) = (
            Vec::with_capacity(batch.len()),
            Vec::with_capacity(batch.len()),
            Vec::with_capacity(batch.len()),
        );
        for claim in batch {
            let (digest, signature, key) = claim.parts(chain_id);
            digests.push(digest);
            signatures.push(signature);
            keys.push(key);
        }
        if verify_batch(&digests, &signatures, &keys).is_ok() {
            valid.extend(std::iter::repeat_n(true, batch.len()));
            continue;
        }
        for i in 0..batch.len() {
            valid.push(key_verifies(&keys[i], &digests[i], &signatures[i]));
        }
    }
    valid
}

/// One signature checked alone, as [`PublicKey::verify`] checks it.
fn key_verifies(key: &PublicKey, digest: &Hash, signature: &Signature) -> bool {
    key.verify(digest, signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::report::{ReportBody, ReportPayload};
    use cairn_types::SecretKey;
    use cairn_types::{DeviceId, Hash};
    use proptest::prelude::*;

    fn report(n: u8) -> SignedReport {
        let chain = ChainId::new("cairn-test").unwrap();
        let device = SecretKey::from_seed([n; 32]);
        let session = SecretKey::from_seed([n.wrapping_add(100); 32]);
        let cert = SessionCert::issue(&chain, &device, session.public_key(), 1_000_000);
        let body = ReportBody {
            time_ms: 1_000 + u64::from(n),
            entropy: Hash::ZERO,
            payload: ReportPayload::Heartbeat { uptime_secs: 1 },
        };
        SignedReport::sign(&chain, cert, &session, body)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// Whatever the batching and threads, each answer is the one checking alone gives.
        #[test]
        fn answers_are_those_of_checking_alone(
            bad in proptest::collection::btree_set(0usize..300, 0..12),
            threads in 1usize..4,
        ) {
            let chain = ChainId::new("cairn-test").unwrap();
            let mut reports: Vec<SignedReport> = (0..150u8).map(report).collect();
            for (i, r) in reports.iter_mut().enumerate() {
                if bad.contains(&(2 * i)) {
                    r.cert.signature.0[0] ^= 1;
                }
                if bad.contains(&(2 * i + 1)) {
                    r.signature.0[5] ^= 1;
                }
            }
            // A key that is not a curve point fails alone, and fails its whole batch.
            reports[7].cert.device = DeviceId(cairn_types::PublicKey([0xff; 32]));
            let claims: Vec<Claim<'_>> = reports
                .iter()
                .flat_map(|r| [Claim::Cert(&r.cert), Claim::Report(r)])
                .collect();
            let answers = check_claims(&chain, &claims, threads);
            let alone: Vec<bool> = reports
                .iter()
                .flat_map(|r| [r.cert.verify(&chain).is_ok(), r.verify_report_signature(&chain).is_ok()])
                .collect();
            prop_assert_eq!(&answers, &alone);
            // The swapped key also changes what the report's signature covers (its certificate).
            let mut wrong = bad.clone();
            wrong.extend([14, 15]);
            prop_assert_eq!(answers.iter().filter(|ok| !**ok).count(), wrong.len());
        }
    }
}
