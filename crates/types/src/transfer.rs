//! Data transfer receipts: what a payer's delegated key signs for bytes a device carried for it.
//!
//! A payer (a router, a roaming partner, an app) signs one [`TransferReceipt`] per chunk of a
//! session (each few megabytes, or each minute): the device, the session and the chunk's number,
//! its bytes and the payer's time. The device reports the signed receipt
//! ([`crate::report::ReportPayload::Transfer`]) under its own report signature, so a counted
//! transfer carries both. A receipt the device made alone, or whose bytes were raised after the
//! payer signed, fails [`SignedTransfer::verify`].

use crate::address::{Address, DeviceId};
use crate::codec;
use crate::hash::Hash;
use crate::keys::{SecretKey, Signature, SignatureError};
use crate::params::ChainId;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Most bytes one receipt may carry (1 GiB): a payer signs chunks, not whole sessions.
pub const MAX_RECEIPT_BYTES: u64 = 1 << 30;

/// One chunk of a transfer session, as the payer signs it.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct TransferReceipt {
    /// The payer's delegated key (it holds the credits the transfer is paid from).
    pub payer: Address,
    /// The device that carried the bytes.
    pub device: DeviceId,
    /// The payer's number for the session.
    pub session: u64,
    /// The chunk's number in the session.
    pub seq: u32,
    /// Bytes carried in the chunk.
    pub bytes: u64,
    /// The payer's clock when it signed (ms since the Unix epoch): the epoch the chunk counts in.
    pub time_ms: u64,
}

/// A receipt with the payer's signature.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct SignedTransfer {
    /// The receipt.
    pub receipt: TransferReceipt,
    /// The payer's signature over [`TransferReceipt::digest`].
    pub payer_signature: Signature,
}

impl TransferReceipt {
    /// What the payer signs: the receipt on one chain.
    pub fn digest(&self, chain_id: &ChainId) -> Hash {
        Hash::domain(
            "cairn transfer receipt v1",
            &[&codec::encode(chain_id), &codec::encode(self)],
        )
    }

    /// The receipt signed by `payer_key` (whose address must be [`TransferReceipt::payer`] for
    /// the signature to verify).
    pub fn sign(self, chain_id: &ChainId, payer_key: &SecretKey) -> SignedTransfer {
        SignedTransfer {
            payer_signature: payer_key.sign(&self.digest(chain_id)),
            receipt: self,
        }
    }

    /// The chunk's identity within the epoch: the same chunk reported twice is one chunk.
    pub fn chunk_id(&self) -> Hash {
        Hash::domain(
            "cairn transfer chunk v1",
            &[
                &codec::encode(&self.payer),
                &self.session.to_le_bytes(),
                &self.seq.to_le_bytes(),
            ],
        )
    }
}

impl SignedTransfer {
    /// Checks the payer's signature over the receipt as it is.
    pub fn verify(&self, chain_id: &ChainId) -> Result<(), SignatureError> {
        self.receipt
            .payer
            .0
            .verify(&self.receipt.digest(chain_id), &self.payer_signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(payer: &SecretKey) -> TransferReceipt {
        TransferReceipt {
            payer: Address(payer.public_key()),
            device: DeviceId(SecretKey::from_label("device").public_key()),
            session: 7,
            seq: 0,
            bytes: 1_000_000,
            time_ms: 1_000,
        }
    }

    #[test]
    fn only_the_payer_signature_over_the_bytes_it_signed_verifies() {
        let chain = ChainId::new("t").unwrap();
        let payer = SecretKey::from_label("payer");
        let signed = receipt(&payer).sign(&chain, &payer);
        assert!(signed.verify(&chain).is_ok());
        // Inflated bytes.
        let mut inflated = signed;
        inflated.receipt.bytes *= 10;
        assert!(inflated.verify(&chain).is_err());
        // Signed by the device alone, naming the payer.
        let device = SecretKey::from_label("device");
        assert!(receipt(&payer)
            .sign(&chain, &device)
            .verify(&chain)
            .is_err());
        // Another chain.
        assert!(signed.verify(&ChainId::new("u").unwrap()).is_err());
        // One chunk, whatever its bytes; another seq is another chunk.
        let mut next = receipt(&payer);
        assert_eq!(next.chunk_id(), inflated.receipt.chunk_id());
        next.seq = 1;
        assert_ne!(next.chunk_id(), signed.receipt.chunk_id());
    }
}
