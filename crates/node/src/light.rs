//! What a light client checks, trusting only one epoch's seats: that a block header carries a
//! valid finalization certificate of that epoch. The header then vouches for the state root at its
//! `state_height` (every validator checked it before voting), and a state proof against that
//! root vouches for a value.
//!
//! The trust moves from one epoch to the next by a hand-off ([`follow`]): the last block of epoch
//! `e`, signed by the seats of `e`, attests a state holding the set of `e + 1` (chosen at the first
//! block of `e`), and a proof of that set against the attested root makes it trusted too.

use crate::block::Header;
use crate::types::{consensus_public_key, namespace, BlockDigest, ConsensusKey, ConsensusScheme};
use cairn_ledger::state::records::ValidatorSet;
use cairn_ledger::store::{verify_proof, StateProof};
use cairn_ledger::StateKey;
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

/// The hand-off from epoch `epoch`'s set to the next (see `GET /v1/epochs/{epoch}/handoff`).
#[derive(Clone, Debug)]
pub struct Handoff {
    /// The epoch whose seats sign `header`.
    pub epoch: u64,
    /// The header of the epoch's last block.
    pub header: Header,
    /// Its finalization certificate (encoded).
    pub certificate: Vec<u8>,
    /// The canonical bytes of `ValidatorSet(epoch + 1)`.
    pub next_set: Vec<u8>,
    /// Their proof against the root `header` attests.
    pub proof: StateProof,
}

/// Why a hand-off does not carry the trust on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoffError {
    /// Another epoch than the trusted one.
    #[error("the hand-off is for epoch {got}; the trusted set is of epoch {expected}")]
    Epoch {
        /// The trusted set's epoch.
        expected: u64,
        /// The hand-off's.
        got: u64,
    },
    /// The block is not the epoch's last.
    #[error("epoch {epoch} ends at block {last}; the hand-off's block is {got}")]
    NotLast {
        /// The epoch.
        epoch: u64,
        /// Its last height.
        last: u64,
        /// The block's.
        got: u64,
    },
    /// The block attests a state older than the epoch's first block.
    #[error("block {height} attests height {attested}, before its epoch began at {first}")]
    TooOld {
        /// The block.
        height: u64,
        /// The attested height.
        attested: u64,
        /// The epoch's first block.
        first: u64,
    },
    /// A key of the trusted set is not an ed25519 key.
    #[error("a seat key of the trusted set is not an ed25519 key")]
    BadSeatKey,
    /// The certificate does not finalize the block with the trusted seats.
    #[error(transparent)]
    Certificate(#[from] LightError),
    /// The proof of the next set does not verify.
    #[error("the proof of the next set does not verify: {0}")]
    Proof(String),
    /// The proven bytes are not the next epoch's set.
    #[error("the proven value is not the set of epoch {0}")]
    NotTheNextSet(u64),
}

/// Checks `handoff` against the set the client trusts (`trusted`, of epoch `handoff.epoch`) and
/// returns the set of the next epoch, now trusted too.
pub fn follow(
    chain_id: &str,
    blocks_per_epoch: u64,
    trusted: &ValidatorSet,
    handoff: &Handoff,
) -> Result<ValidatorSet, HandoffError> {
    let epoch = trusted.epoch.0;
    if handoff.epoch != epoch {
        return Err(HandoffError::Epoch {
            expected: epoch,
            got: handoff.epoch,
        });
    }
    let header = &handoff.header;
    let last = (epoch + 1).saturating_mul(blocks_per_epoch);
    if header.height != last {
        return Err(HandoffError::NotLast {
            epoch,
            last,
            got: header.height,
        });
    }
    let first = epoch * blocks_per_epoch + 1;
    if epoch >= 1 && header.state_height < first {
        return Err(HandoffError::TooOld {
            height: header.height,
            attested: header.state_height,
            first,
        });
    }
    let seats = seats_of(trusted).ok_or(HandoffError::BadSeatKey)?;
    LightClient::new(chain_id, seats).verify_header(header, &handoff.certificate, epoch)?;
    let key = StateKey::ValidatorSet(cairn_types::Epoch(epoch + 1)).to_bytes();
    verify_proof(
        &header.state_root,
        &key,
        Some(&handoff.next_set),
        &handoff.proof,
    )
    .map_err(HandoffError::Proof)?;
    let next: ValidatorSet = cairn_types::codec::decode(&handoff.next_set, 1 << 22)
        .map_err(|_| HandoffError::NotTheNextSet(epoch + 1))?;
    if next.epoch.0 != epoch + 1 {
        return Err(HandoffError::NotTheNextSet(epoch + 1));
    }
    Ok(next)
}
