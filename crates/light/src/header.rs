//! A block's header: what a finalization certificate signs (through its digest), and what
//! vouches for a state root. The whole block's wire form is in `cairn_node::block`; the header
//! is its first [`HEADER_BYTES`] bytes.

use bytes::BufMut;
use cairn_types::hash::Hash;
use cairn_types::keys::PublicKey;
use commonware_cryptography::blake3::Digest;
use serde::{Deserialize, Serialize};

/// Bytes in a header.
pub const HEADER_BYTES: usize = 32 + 8 + 8 + 4 + 32 + 8 + 32 + 32 + 8 + 32;

/// A block's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Digest of the parent block.
    pub parent: Digest,
    /// Height (genesis is 0).
    pub height: u64,
    /// Proposer's clock, never before the parent's.
    pub timestamp_ms: u64,
    /// The protocol version in force at this height (`cairn_ledger::protocol`).
    pub protocol_version: u32,
    /// The consensus key of the validator that proposed it (zero for genesis).
    pub proposer: PublicKey,
    /// A finalized height whose state this header attests.
    pub state_height: u64,
    /// Ledger state root after the block at `state_height`.
    pub state_root: Hash,
    /// Merkle root of the transaction ids (`cairn_node::block::transactions_root`).
    pub transactions_root: Hash,
    /// The last height whose finalize votes the chain has counted, this block included.
    pub counted_through: u64,
    /// Hash of the carried votes (`cairn_node::block::votes_hash`), zero when none.
    pub votes_hash: Hash,
}

impl Header {
    /// Writes the header's wire form (big-endian numbers, in field order).
    pub fn write_to(&self, out: &mut impl BufMut) {
        out.put_slice(&self.parent.0);
        out.put_u64(self.height);
        out.put_u64(self.timestamp_ms);
        out.put_u32(self.protocol_version);
        out.put_slice(&self.proposer.0);
        out.put_u64(self.state_height);
        out.put_slice(&self.state_root.0);
        out.put_slice(&self.transactions_root.0);
        out.put_u64(self.counted_through);
        out.put_slice(&self.votes_hash.0);
    }

    /// The header's digest: the block's identity.
    pub fn digest(&self) -> Digest {
        let mut bytes = Vec::with_capacity(HEADER_BYTES);
        self.write_to(&mut bytes);
        Digest(Hash::domain("cairn block header v1", &[&bytes]).0)
    }
}

/// A header in JSON (hashes and keys as hex), as the node's API serves it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeaderJson {
    /// The parent's digest.
    pub parent: String,
    /// Height.
    pub height: u64,
    /// Proposer's time, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// The protocol version the block was built under.
    pub protocol_version: u32,
    /// The proposer's consensus key.
    pub proposer: String,
    /// The height whose state root the header attests.
    pub state_height: u64,
    /// That state root.
    pub state_root: Hash,
    /// Merkle root of the transaction ids.
    pub transactions_root: Hash,
    /// The last height whose finalization signers are counted, this block included.
    pub counted_through: u64,
    /// Hash of the carried votes (zero when none).
    pub votes_hash: Hash,
}

impl From<&Header> for HeaderJson {
    fn from(h: &Header) -> HeaderJson {
        HeaderJson {
            parent: hex::encode(h.parent.0),
            height: h.height,
            timestamp_ms: h.timestamp_ms,
            protocol_version: h.protocol_version,
            proposer: hex::encode(h.proposer.0),
            state_height: h.state_height,
            state_root: h.state_root,
            transactions_root: h.transactions_root,
            counted_through: h.counted_through,
            votes_hash: h.votes_hash,
        }
    }
}

impl HeaderJson {
    /// The header back, or why not.
    pub fn to_header(&self) -> Result<Header, String> {
        let bytes32 = |text: &str, what: &str| -> Result<[u8; 32], String> {
            let mut out = [0u8; 32];
            hex::decode_to_slice(text, &mut out)
                .map_err(|_| format!("{what} is not 32 bytes of hex"))?;
            Ok(out)
        };
        Ok(Header {
            parent: Digest(bytes32(&self.parent, "parent")?),
            height: self.height,
            timestamp_ms: self.timestamp_ms,
            protocol_version: self.protocol_version,
            proposer: PublicKey(bytes32(&self.proposer, "proposer")?),
            state_height: self.state_height,
            state_root: self.state_root,
            transactions_root: self.transactions_root,
            counted_through: self.counted_through,
            votes_hash: self.votes_hash,
        })
    }
}
