//! Signed requests: how a known party (a bonded oracle today; the services to come) signs an
//! HTTP request to a Cairn API, so that the API can give it a lane of its own (its own rate,
//! its own slots) instead of the public one shared with every stranger.
//!
//! One header, [`HEADER`], carries `KEY.TIME.NONCE.BODY.SIGNATURE` (hex, decimal ms, hex, hex,
//! hex): the signer's public key, its clock, 16 random bytes, the BLAKE3 hash of the body, and
//! an ed25519 signature over
//!
//! ```text
//! BLAKE3-derive("cairn signed request v1", chain id ‖ 0 ‖ method ‖ 0 ‖ path and query ‖ 0 ‖
//!                time (8 bytes, big-endian) ‖ nonce ‖ BLAKE3(body))
//! ```
//!
//! The body's hash travels in the header so that the API checks the signature before it reads
//! a byte of the body (a forged signature costs it one verification, never a buffered body);
//! the body it then reads must have that hash. The API accepts a header within
//! [`REPLAY_WINDOW_MS`] of its own clock, either way, and once: a nonce seen in the window is
//! refused ([`NonceBook`]). What the header buys is a lane, not an authority: every answer is
//! still what any client would get.

use crate::hash::Hash;
use crate::keys::{PublicKey, SecretKey, Signature};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

/// The header's name.
pub const HEADER: &str = "cairn-signed";

/// How far the signer's clock may be from the API's, either way, in ms.
pub const REPLAY_WINDOW_MS: u64 = 30_000;

/// Most nonces one signer may have in the window (above it, its requests are refused until
/// older ones leave the window): about what a node's default oracle rate allows in it.
pub const MAX_NONCES_PER_SIGNER: usize = 16_384;

/// The header's most characters (64 + 1 + 20 + 1 + 32 + 1 + 64 + 1 + 128, with room).
pub const MAX_HEADER_CHARS: usize = 400;

/// Why a signed request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedRequestError {
    /// The header is not `KEY.TIME.NONCE.BODY.SIGNATURE`.
    #[error("the {HEADER} header is not KEY.TIME_MS.NONCE.BODY_HASH.SIGNATURE: {0}")]
    Malformed(&'static str),
    /// The body is not the one whose hash was signed.
    #[error("the request's body is not the one the {HEADER} header signs")]
    OtherBody,
    /// Its time is too far from the API's clock.
    #[error("the {HEADER} time {time_ms} is more than {REPLAY_WINDOW_MS} ms from this node's clock ({now_ms})")]
    Stale {
        /// The request's time.
        time_ms: u64,
        /// The API's.
        now_ms: u64,
    },
    /// The signature does not verify.
    #[error("the {HEADER} signature does not verify for this request")]
    BadSignature,
    /// The nonce was used already in the window.
    #[error("the {HEADER} nonce was used already")]
    Replayed,
    /// The signer has too many requests in the window.
    #[error("too many signed requests from this key within {REPLAY_WINDOW_MS} ms")]
    TooMany,
    /// The signer (its key, hex) is not one the API gives a lane to.
    #[error("key {0} is not a bonded oracle of this chain")]
    Unknown(String),
}

impl SignedRequestError {
    /// The API's error code.
    pub fn code(&self) -> &'static str {
        match self {
            SignedRequestError::Malformed(_) => "signed_request_malformed",
            SignedRequestError::OtherBody => "signed_request_other_body",
            SignedRequestError::Stale { .. } => "signed_request_stale",
            SignedRequestError::BadSignature => "signed_request_bad_signature",
            SignedRequestError::Replayed => "signed_request_replayed",
            SignedRequestError::TooMany => "signed_request_too_many",
            SignedRequestError::Unknown(_) => "signed_request_unknown_signer",
        }
    }
}

/// A request's signature, as the header carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    /// The signer.
    pub key: PublicKey,
    /// Its clock, ms since the Unix epoch.
    pub time_ms: u64,
    /// Random bytes, used once.
    pub nonce: [u8; 16],
    /// The BLAKE3 hash of the body.
    pub body_hash: [u8; 32],
    /// Over [`digest`].
    pub signature: Signature,
}

/// What is signed (see the module doc), for a body of hash `body_hash`.
pub fn digest(
    chain_id: &str,
    method: &str,
    path_and_query: &str,
    time_ms: u64,
    nonce: &[u8; 16],
    body_hash: &[u8; 32],
) -> Hash {
    Hash::domain(
        "cairn signed request v1",
        &[
            chain_id.as_bytes(),
            &[0],
            method.as_bytes(),
            &[0],
            path_and_query.as_bytes(),
            &[0],
            &time_ms.to_be_bytes(),
            nonce,
            body_hash,
        ],
    )
}

/// The hash of a request's body, as the header carries it.
pub fn body_hash(body: &[u8]) -> [u8; 32] {
    *blake3::hash(body).as_bytes()
}

impl SignedRequest {
    /// Signs a request with `key` at `time_ms`, with `nonce`.
    pub fn sign(
        key: &SecretKey,
        chain_id: &str,
        (method, path_and_query, body): (&str, &str, &[u8]),
        time_ms: u64,
        nonce: [u8; 16],
    ) -> SignedRequest {
        let body_hash = body_hash(body);
        let signed = digest(
            chain_id,
            method,
            path_and_query,
            time_ms,
            &nonce,
            &body_hash,
        );
        SignedRequest {
            key: key.public_key(),
            time_ms,
            nonce,
            body_hash,
            signature: key.sign(&signed),
        }
    }

    /// The header's value.
    pub fn to_header(&self) -> String {
        format!(
            "{}.{}.{}.{}.{}",
            hex::encode(self.key.0),
            self.time_ms,
            hex::encode(self.nonce),
            hex::encode(self.body_hash),
            hex::encode(self.signature.0)
        )
    }

    /// Reads a header's value (nothing verified yet).
    pub fn parse(text: &str) -> Result<SignedRequest, SignedRequestError> {
        if text.len() > MAX_HEADER_CHARS {
            return Err(SignedRequestError::Malformed("too long"));
        }
        let mut parts = text.trim().split('.');
        let mut next = |what| parts.next().ok_or(SignedRequestError::Malformed(what));
        let (key, time, nonce, body, signature) = (
            next("key")?,
            next("time")?,
            next("nonce")?,
            next("body hash")?,
            next("signature")?,
        );
        if parts.next().is_some() {
            return Err(SignedRequestError::Malformed("more than five parts"));
        }
        let mut key_bytes = [0u8; 32];
        hex::decode_to_slice(key, &mut key_bytes)
            .map_err(|_| SignedRequestError::Malformed("key"))?;
        let mut nonce_bytes = [0u8; 16];
        hex::decode_to_slice(nonce, &mut nonce_bytes)
            .map_err(|_| SignedRequestError::Malformed("nonce"))?;
        let mut body_bytes = [0u8; 32];
        hex::decode_to_slice(body, &mut body_bytes)
            .map_err(|_| SignedRequestError::Malformed("body hash"))?;
        let mut signature_bytes = [0u8; 64];
        hex::decode_to_slice(signature, &mut signature_bytes)
            .map_err(|_| SignedRequestError::Malformed("signature"))?;
        Ok(SignedRequest {
            key: PublicKey(key_bytes),
            time_ms: time
                .parse()
                .map_err(|_| SignedRequestError::Malformed("time"))?,
            nonce: nonce_bytes,
            body_hash: body_bytes,
            signature: Signature(signature_bytes),
        })
    }

    /// Checks the time against `now_ms` and the signature over this request's method, path and
    /// the body hash the header names (before the body is read: see [`Self::check_body`]).
    pub fn verify(
        &self,
        chain_id: &str,
        (method, path_and_query): (&str, &str),
        now_ms: u64,
    ) -> Result<(), SignedRequestError> {
        if self.time_ms.abs_diff(now_ms) > REPLAY_WINDOW_MS {
            return Err(SignedRequestError::Stale {
                time_ms: self.time_ms,
                now_ms,
            });
        }
        let signed = digest(
            chain_id,
            method,
            path_and_query,
            self.time_ms,
            &self.nonce,
            &self.body_hash,
        );
        self.key
            .verify(&signed, &self.signature)
            .map_err(|_| SignedRequestError::BadSignature)
    }

    /// Checks that `body` is the one whose hash was signed.
    pub fn check_body(&self, body: &[u8]) -> Result<(), SignedRequestError> {
        if body_hash(body) == self.body_hash {
            Ok(())
        } else {
            Err(SignedRequestError::OtherBody)
        }
    }
}

/// 16 bytes never given before by this process (random, mixed with a counter so that they
/// stay distinct even if the system's randomness fails).
pub fn fresh_nonce() -> [u8; 16] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut random = [0u8; 16];
    // On failure the counter alone keeps the nonces distinct within this process.
    let _ = getrandom::getrandom(&mut random);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mixed = blake3::hash(&[&random[..], &count.to_le_bytes()].concat());
    let mut nonce = [0u8; 16];
    nonce.copy_from_slice(&mixed.as_bytes()[..16]);
    nonce
}

/// The nonces seen in the window, per signer: a signed request is accepted once.
#[derive(Debug, Default)]
pub struct NonceBook {
    seen: HashMap<PublicKey, BTreeMap<(u64, [u8; 16]), ()>>,
}

impl NonceBook {
    /// Records `request`'s nonce at `now_ms`, or refuses it as replayed (or one too many).
    /// Nonces older than the window are forgotten first.
    pub fn record(
        &mut self,
        request: &SignedRequest,
        now_ms: u64,
    ) -> Result<(), SignedRequestError> {
        let oldest = now_ms.saturating_sub(REPLAY_WINDOW_MS);
        let nonces = self.seen.entry(request.key).or_default();
        while let Some((&(time, _), _)) = nonces.first_key_value() {
            if time >= oldest {
                break;
            }
            nonces.pop_first();
        }
        let entry = (request.time_ms, request.nonce);
        if nonces.contains_key(&entry) {
            return Err(SignedRequestError::Replayed);
        }
        if nonces.len() >= MAX_NONCES_PER_SIGNER {
            return Err(SignedRequestError::TooMany);
        }
        nonces.insert(entry, ());
        Ok(())
    }

    /// Forgets the signers not in `keep` (no longer given a lane).
    pub fn retain(&mut self, keep: impl Fn(&PublicKey) -> bool) {
        self.seen.retain(|key, _| keep(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAIN: &str = "cairn-test";

    fn signed(time_ms: u64, nonce: u8) -> SignedRequest {
        SignedRequest::sign(
            &SecretKey::from_seed([3; 32]),
            CHAIN,
            ("POST", "/v1/state/batch?height=9", b"{\"keys\":[]}"),
            time_ms,
            [nonce; 16],
        )
    }

    #[test]
    fn a_signed_request_verifies_once_and_only_as_signed() {
        let request = signed(100_000, 1);
        let header = request.to_header();
        let parsed = SignedRequest::parse(&header).unwrap();
        assert_eq!(parsed, request);
        let what = ("POST", "/v1/state/batch?height=9");
        assert_eq!(parsed.verify(CHAIN, what, 110_000), Ok(()));
        assert_eq!(parsed.check_body(b"{\"keys\":[]}"), Ok(()));
        // Another body, path, method or chain: refused.
        assert_eq!(
            parsed.check_body(b"{\"keys\":[\"00\"]}"),
            Err(SignedRequestError::OtherBody)
        );
        for other in [("POST", "/v1/state/batch?height=8"), ("GET", what.1)] {
            assert_eq!(
                parsed.verify(CHAIN, other, 110_000),
                Err(SignedRequestError::BadSignature)
            );
        }
        assert_eq!(
            parsed.verify("other", what, 110_000),
            Err(SignedRequestError::BadSignature)
        );
        // A body hash changed in the header: the signature no longer holds.
        let mut swapped = parsed;
        swapped.body_hash = body_hash(b"{}");
        assert_eq!(
            swapped.verify(CHAIN, what, 110_000),
            Err(SignedRequestError::BadSignature)
        );
        // Out of the window either way.
        assert!(matches!(
            parsed.verify(CHAIN, what, 130_001),
            Err(SignedRequestError::Stale { .. })
        ));
        assert!(matches!(
            parsed.verify(CHAIN, what, 69_999),
            Err(SignedRequestError::Stale { .. })
        ));
        // Once.
        let mut book = NonceBook::default();
        assert_eq!(book.record(&parsed, 100_000), Ok(()));
        assert_eq!(
            book.record(&parsed, 100_500),
            Err(SignedRequestError::Replayed)
        );
        assert_eq!(book.record(&signed(100_000, 2), 100_500), Ok(()));
        // Out of the window, a nonce is forgotten (its time is refused as stale anyway).
        assert_eq!(book.record(&signed(200_000, 3), 200_000), Ok(()));
        assert_eq!(book.seen[&parsed.key].len(), 1);
    }

    #[test]
    fn bad_headers_are_refused_without_a_panic() {
        for text in [
            "",
            "a.b.c.d",
            "00.1.00.00",
            &"a".repeat(500),
            &format!(
                "{}.{}.{}.{}.{}.x",
                "00".repeat(32),
                1,
                "00".repeat(16),
                "00".repeat(32),
                "00".repeat(64)
            ),
            &format!(
                "{}.{}.{}.{}.{}",
                "00".repeat(32),
                "-1",
                "00".repeat(16),
                "00".repeat(32),
                "00".repeat(64)
            ),
            &format!(
                "{}.{}.{}.{}",
                "00".repeat(32),
                1,
                "00".repeat(16),
                "00".repeat(64)
            ),
        ] {
            assert!(
                matches!(
                    SignedRequest::parse(text),
                    Err(SignedRequestError::Malformed(_))
                ),
                "{text}"
            );
        }
    }
}
