//! What a light client checks, trusting only one epoch's seats: that a block header carries a
//! valid finalization certificate of that epoch. The header then vouches for the state root at
//! its `state_height` (every validator checked it before voting), and a state proof against
//! that root vouches for a value.

use crate::header::Header;
use crate::validators::ValidatorSet;
use commonware_codec::{Decode as _, DecodeExt as _, Encode as _};
use commonware_consensus::simplex;
use commonware_consensus::simplex::types::Finalization;
use commonware_consensus::Epochable as _;
use commonware_cryptography::certificate::Verifier as _;
use commonware_cryptography::ed25519;
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;

/// The signing scheme of consensus votes: ed25519, so that each vote is attributable and a
/// double vote is evidence anyone can check.
pub type ConsensusScheme = simplex::scheme::ed25519::Scheme;
/// A validator's consensus (and network) identity.
pub type ConsensusKey = ed25519::PublicKey;
/// A block's digest.
pub type BlockDigest = commonware_cryptography::blake3::Digest;
/// A finalization certificate of a Cairn block.
pub type BlockFinalization = Finalization<ConsensusScheme, BlockDigest>;

/// The consensus namespace of a chain: votes signed for one chain are worthless on another.
pub fn namespace(chain_id: &str) -> Vec<u8> {
    cairn_types::evidence::consensus_namespace(chain_id)
}

/// A Cairn key as a commonware consensus key (`None` if it is not a valid ed25519 point).
pub fn consensus_public_key(key: &cairn_types::keys::PublicKey) -> Option<ConsensusKey> {
    ConsensusKey::decode(key.0.to_vec()).ok()
}

/// Why a header is not proven final.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LightError {
    /// The certificate's bytes do not decode.
    #[error("the finalization certificate does not decode: {0}")]
    Malformed(String),
    /// The certificate is for another block.
    #[error("the certificate finalizes block {certified}, not this header ({header})")]
    OtherBlock {
        /// Digest the certificate covers.
        certified: String,
        /// Digest of the header.
        header: String,
    },
    /// The signatures do not make a quorum of this validator set.
    #[error(
        "the certificate (epoch {epoch}) is not signed by a quorum of the seats this client \
         trusts for that epoch"
    )]
    BadSignatures {
        /// The certificate's consensus epoch.
        epoch: u64,
    },
    /// The certificate is of another epoch than the set it was checked with.
    #[error("the certificate is of epoch {got}; the trusted set is that of epoch {expected}")]
    WrongEpoch {
        /// The epoch of the trusted set.
        expected: u64,
        /// The certificate's.
        got: u64,
    },
}

/// Checks finalization certificates against a known validator set.
pub struct LightClient {
    verifier: ConsensusScheme,
}

impl LightClient {
    /// A client for chain `chain_id` that trusts the seat keys `validators` (of one epoch).
    pub fn new(chain_id: &str, validators: Set<ConsensusKey>) -> LightClient {
        LightClient {
            verifier: ConsensusScheme::verifier(&namespace(chain_id), validators),
        }
    }

    /// Decodes a certificate (bounded by the size of the validator set).
    pub fn decode(&self, bytes: &[u8]) -> Result<BlockFinalization, LightError> {
        let cfg = self.verifier.certificate_codec_config();
        BlockFinalization::decode_cfg(bytes.to_vec(), &cfg)
            .map_err(|e| LightError::Malformed(e.to_string()))
    }

    /// Checks that `certificate` (encoded) finalizes `header` and is of `epoch`, the epoch of
    /// the seats this client was made with.
    pub fn verify_header(
        &self,
        header: &Header,
        certificate: &[u8],
        epoch: u64,
    ) -> Result<(), LightError> {
        let finalization = self.decode(certificate)?;
        if finalization.epoch().get() != epoch {
            return Err(LightError::WrongEpoch {
                expected: epoch,
                got: finalization.epoch().get(),
            });
        }
        let digest = header.digest();
        if finalization.proposal.payload != digest {
            return Err(LightError::OtherBlock {
                certified: hex::encode(finalization.proposal.payload.0),
                header: hex::encode(digest.0),
            });
        }
        let mut rng = commonware_utils::sys_rng();
        if !finalization.verify(&mut rng, &self.verifier, &Sequential) {
            return Err(LightError::BadSignatures {
                epoch: finalization.epoch().get(),
            });
        }
        Ok(())
    }
}

/// The encoding of a certificate, as the RPC serves it.
pub fn encode_certificate(finalization: &BlockFinalization) -> Vec<u8> {
    finalization.encode().to_vec()
}

/// The seat keys of a validator set (an epoch's participants).
pub fn seats_of(set: &ValidatorSet) -> Option<Set<ConsensusKey>> {
    let keys: Option<Vec<ConsensusKey>> = set
        .seats()
        .map(|(seat, _)| consensus_public_key(seat))
        .collect();
    Some(Set::from_iter_dedup(keys?))
}
