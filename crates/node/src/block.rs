//! The block that consensus orders: a header that commits to its transactions and to a recent
//! finalized state, then the transactions.
//!
//! Execution follows ordering: a block is executed once it is finalized, so a proposer never
//! needs the state after an unfinalized parent (which simplex may never finalize on its own). The
//! header instead attests the state root after an earlier, already finalized block
//! (`state_height`, at most the parent's height and never below the parent's `state_height`).
//! Every validator checks that claim against its own ledger before voting, so the finalization
//! certificate of a block also certifies the state root at its `state_height`: that is what a
//! light client verifies proofs against.
//!
//! Wire form (commonware's codec, canonical: one block has exactly one encoding):
//!
//! | field | bytes |
//! |---|---|
//! | parent digest | 32 |
//! | height | 8, big-endian |
//! | timestamp (ms since the Unix epoch) | 8, big-endian |
//! | protocol version it is built under | 4, big-endian |
//! | proposer's consensus key | 32 |
//! | state height | 8, big-endian |
//! | state root after the block at state height | 32 |
//! | transactions root | 32 |
//! | counted through: the last height whose finalize votes are counted | 8, big-endian |
//! | hash of the carried votes (zero when none) | 32 |
//! | length of the carried votes, then the votes | 4 + n |
//! | transaction count | 4, big-endian |
//! | each transaction: length, then its canonical (borsh) bytes | 4 + n |
//!
//! The digest hashes the header only (the first 196 bytes); the transactions root and the
//! votes hash bind the rest, so a block's digest commits to all of it.
//!
//! The carried votes, when there are any, are finalize votes for block `counted_through` (above
//! the parent's `counted_through`), at least a quorum of its epoch's seats: the ledger counts
//! which seats voted (`cairn_ledger::liveness`), and voters check every signature before voting
//! (see [`crate::liveness`]).

use bytes::{Buf, BufMut};
use cairn_types::hash::Hash;
use cairn_types::keys::PublicKey;
use cairn_types::tx::SignedTransaction;
use commonware_codec::{EncodeSize, Error as CodecError, Read, Write};
use commonware_consensus::types::Height;
use commonware_consensus::{BoundedBlock, Heightable};
use commonware_cryptography::blake3::Digest;
use commonware_cryptography::Digestible;

pub use cairn_light::header::{Header, HEADER_BYTES};

/// Most bytes of carried votes: a finalize vote (about 110 bytes) from each of
/// [`cairn_types::validator_keys::MAX_SEATS`] seats, with room to spare.
pub const MAX_VOTES_BYTES: usize = 128 * 1024;

/// How large a block may be; every node must use the same limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockLimits {
    /// Most transactions in one block.
    pub max_transactions: usize,
    /// Most bytes of encoded transactions (without their length prefixes) in one block.
    pub max_transaction_bytes: usize,
}

impl BlockLimits {
    /// Most bytes an encoded block can take.
    pub fn max_block_bytes(&self) -> usize {
        HEADER_BYTES
            + 4
            + MAX_VOTES_BYTES
            + 4
            + 4 * self.max_transactions
            + self.max_transaction_bytes
    }
}

impl BlockLimits {
    /// The limits a genesis fixed.
    pub fn of(rules: &cairn_types::params::ConsensusRules) -> BlockLimits {
        let to_usize = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        BlockLimits {
            max_transactions: to_usize(rules.block_transactions_max),
            max_transaction_bytes: to_usize(rules.block_transaction_bytes_max),
        }
    }
}

impl Default for BlockLimits {
    /// The limits of a genesis that does not set them.
    fn default() -> Self {
        BlockLimits::of(&cairn_types::params::ConsensusRules::default())
    }
}

/// The hash a header holds for the bytes of the votes a block carries.
pub fn votes_hash(votes: &[u8]) -> Hash {
    if votes.is_empty() {
        Hash::ZERO
    } else {
        Hash::domain("cairn block votes v1", &[votes])
    }
}

/// A block: header, carried votes and transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// Finalize votes for block `header.counted_through`, encoded (empty when the block carries
    /// none; see [`crate::liveness`]).
    pub votes: Vec<u8>,
    /// The transactions, in execution order.
    pub transactions: Vec<SignedTransaction>,
    digest: Digest,
    /// Encoded size, computed once (the codec asks for it before every write).
    encoded_size: usize,
}

/// Encoded size of a block with these votes and transactions.
fn encoded_size(votes: &[u8], transactions: &[SignedTransaction]) -> usize {
    HEADER_BYTES
        + 4
        + votes.len()
        + 4
        + transactions
            .iter()
            .map(|tx| 4 + tx.encode().len())
            .sum::<usize>()
}

impl Block {
    /// Builds a block and computes its transactions root and digest. `counted_through` is the
    /// parent's, or higher when the block carries votes (for the block at that height).
    pub fn new(
        parent: Digest,
        (height, protocol_version): (u64, u32),
        timestamp_ms: u64,
        proposer: PublicKey,
        (state_height, state_root): (u64, Hash),
        (counted_through, votes): (u64, Vec<u8>),
        transactions: Vec<SignedTransaction>,
    ) -> Block {
        let header = Header {
            parent,
            height,
            timestamp_ms,
            protocol_version,
            proposer,
            state_height,
            state_root,
            transactions_root: transactions_root(&transactions),
            counted_through,
            votes_hash: votes_hash(&votes),
        };
        Block {
            digest: header.digest(),
            encoded_size: encoded_size(&votes, &transactions),
            header,
            votes,
            transactions,
        }
    }

    /// The first block of a chain whose genesis state has root `state_root`, at genesis time,
    /// under the genesis's protocol version.
    pub fn genesis(state_root: Hash, timestamp_ms: u64, protocol_version: u32) -> Block {
        Block::new(
            Digest([0; 32]),
            (0, protocol_version),
            timestamp_ms,
            PublicKey([0; 32]),
            (0, state_root),
            (0, Vec::new()),
            Vec::new(),
        )
    }

    /// The block as the ledger executes it, with the signers of its carried votes (read by the
    /// caller, which knows their validator set).
    pub fn input(
        &self,
        signers: Option<cairn_ledger::liveness::SignerRecord>,
    ) -> cairn_ledger::BlockInput {
        cairn_ledger::BlockInput {
            height: self.header.height,
            timestamp_ms: self.header.timestamp_ms,
            transactions: self.transactions.clone(),
            signers,
        }
    }
}

/// Merkle root of the transactions' ids: leaves `H("cairn tx leaf v1", id)`, inner nodes
/// `H("cairn tx node v1", left, right)`, an odd node carried up unchanged, and
/// `H("cairn tx root v1")` for no transactions.
pub fn transactions_root(transactions: &[SignedTransaction]) -> Hash {
    let mut level: Vec<Hash> = transactions
        .iter()
        .map(|tx| Hash::domain("cairn tx leaf v1", &[&tx.id().0]))
        .collect();
    if level.is_empty() {
        return Hash::domain("cairn tx root v1", &[]);
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => Hash::domain("cairn tx node v1", &[&left.0, &right.0]),
                [single] => *single,
                _ => Hash::domain("cairn tx root v1", &[]),
            })
            .collect();
    }
    level[0]
}

impl Write for Block {
    fn write(&self, out: &mut impl BufMut) {
        self.header.write_to(out);
        // Counts and lengths fit in u32: decoding bounds them far below that, and a proposer
        // builds blocks within the same limits.
        out.put_u32(self.votes.len() as u32);
        out.put_slice(&self.votes);
        out.put_u32(self.transactions.len() as u32);
        for tx in &self.transactions {
            let bytes = tx.encode();
            out.put_u32(bytes.len() as u32);
            out.put_slice(&bytes);
        }
    }
}

impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        self.encoded_size
    }
}

fn take<const N: usize>(buf: &mut impl Buf) -> Result<[u8; N], CodecError> {
    if buf.remaining() < N {
        return Err(CodecError::EndOfBuffer);
    }
    let mut out = [0u8; N];
    buf.copy_to_slice(&mut out);
    Ok(out)
}

impl Read for Block {
    type Cfg = BlockLimits;

    fn read_cfg(buf: &mut impl Buf, limits: &BlockLimits) -> Result<Block, CodecError> {
        let header = Header {
            parent: Digest(take::<32>(buf)?),
            height: u64::from_be_bytes(take::<8>(buf)?),
            timestamp_ms: u64::from_be_bytes(take::<8>(buf)?),
            protocol_version: u32::from_be_bytes(take::<4>(buf)?),
            proposer: PublicKey(take::<32>(buf)?),
            state_height: u64::from_be_bytes(take::<8>(buf)?),
            state_root: Hash(take::<32>(buf)?),
            transactions_root: Hash(take::<32>(buf)?),
            counted_through: u64::from_be_bytes(take::<8>(buf)?),
            votes_hash: Hash(take::<32>(buf)?),
        };
        let votes_len = u32::from_be_bytes(take::<4>(buf)?) as usize;
        if votes_len > MAX_VOTES_BYTES {
            return Err(CodecError::InvalidLength(votes_len));
        }
        if buf.remaining() < votes_len {
            return Err(CodecError::EndOfBuffer);
        }
        let mut votes = vec![0u8; votes_len];
        buf.copy_to_slice(&mut votes);
        if votes_hash(&votes) != header.votes_hash {
            return Err(CodecError::Invalid(
                "cairn::Block",
                "the votes do not match the header's hash",
            ));
        }
        let count = u32::from_be_bytes(take::<4>(buf)?) as usize;
        if count > limits.max_transactions {
            return Err(CodecError::InvalidLength(count));
        }
        let mut transactions = Vec::with_capacity(count);
        let mut total = 0usize;
        for _ in 0..count {
            let len = u32::from_be_bytes(take::<4>(buf)?) as usize;
            total = total.saturating_add(len);
            if total > limits.max_transaction_bytes {
                return Err(CodecError::InvalidLength(total));
            }
            if buf.remaining() < len {
                return Err(CodecError::EndOfBuffer);
            }
            let mut bytes = vec![0u8; len];
            buf.copy_to_slice(&mut bytes);
            let tx = SignedTransaction::decode(&bytes)
                .map_err(|_| CodecError::Invalid("cairn::Block", "malformed transaction"))?;
            transactions.push(tx);
        }
        if transactions_root(&transactions) != header.transactions_root {
            return Err(CodecError::Invalid(
                "cairn::Block",
                "transactions do not match the header's root",
            ));
        }
        Ok(Block {
            digest: header.digest(),
            encoded_size: HEADER_BYTES + 4 + votes_len + 4 + 4 * count + total,
            header,
            votes,
            transactions,
        })
    }
}

impl Digestible for Block {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        self.digest
    }
}

impl Heightable for Block {
    fn height(&self) -> Height {
        Height::new(self.header.height)
    }
}

impl commonware_consensus::Block for Block {
    fn parent(&self) -> Digest {
        self.header.parent
    }
}

impl BoundedBlock for Block {
    fn max_encode_size(limits: &BlockLimits) -> usize {
        limits.max_block_bytes()
    }
}
