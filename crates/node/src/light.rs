//! What a light client checks, trusting only the validator set: that a block header carries a
//! valid finalization certificate. The header then vouches for the state root at its
//! `state_height` (every validator checked it before voting), and a state proof against that
//! root vouches for a value.

use crate::block::Header;
use crate::types::{namespace, BlockDigest, ConsensusKey, ConsensusScheme};
use commonware_codec::{Decode as _, Encode};
use commonware_consensus::simplex::types::Finalization;
use commonware_consensus::Epochable as _;
use commonware_cryptography::certificate::Verifier as _;
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;

/// A finalization certificate of a Cairn block.
pub type BlockFinalization = Finalization<ConsensusScheme, BlockDigest>;

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
        "the certificate (epoch {epoch}) is not signed by a quorum of the validator set this \
         client trusts (the genesis set; a later epoch may have another)"
    )]
    BadSignatures {
        /// The certificate's consensus epoch.
        epoch: u64,
    },
}

/// Checks finalization certificates against a known validator set.
pub struct LightClient {
    verifier: ConsensusScheme,
}

impl LightClient {
    /// A client for chain `chain_id` that trusts `validators`.
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

    /// Checks that `certificate` (encoded) finalizes `header`.
    pub fn verify_header(&self, header: &Header, certificate: &[u8]) -> Result<(), LightError> {
        let finalization = self.decode(certificate)?;
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
