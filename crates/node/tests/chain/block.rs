//! The block codec: round trips, and every malformed input is refused with an error.

use cairn_ledger::testkit::{self, TestChain};
use cairn_node::block::{Block, BlockLimits, HEADER_BYTES};
use cairn_types::amount::Amount;
use cairn_types::hash::Hash;
use cairn_types::keys::PublicKey;
use cairn_types::tx::Action;
use commonware_codec::{Decode, Encode};
use commonware_cryptography::blake3::Digest;
use commonware_cryptography::Digestible;

fn sample(count: u64) -> Block {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(dir.path()).unwrap();
    let txs = (0..count)
        .map(|i| {
            let mut tx = chain.tx(
                "alice",
                Action::Transfer {
                    to: testkit::addr("bob"),
                    amount: Amount::tokens(1),
                },
            );
            tx.tx.nonce = i;
            tx.tx.clone().sign(&testkit::key("alice"))
        })
        .collect();
    Block::new(
        Digest([7; 32]),
        (12, 1),
        1_000,
        PublicKey([3; 32]),
        (11, Hash([9; 32])),
        (10, VOTES.to_vec()),
        txs,
    )
}

/// The bytes sample blocks carry as their votes (the codec does not read them).
const VOTES: [u8; 40] = [5; 40];

#[test]
fn a_block_round_trips_and_its_digest_covers_the_transactions() {
    let block = sample(3);
    let bytes = block.encode();
    assert_eq!(
        bytes.len(),
        commonware_codec::EncodeSize::encode_size(&block)
    );
    let decoded = Block::decode_cfg(bytes.clone(), &BlockLimits::default()).unwrap();
    assert_eq!(decoded, block);
    assert_eq!(decoded.digest(), block.digest());
    let fewer = Block::new(
        Digest([7; 32]),
        (12, 1),
        1_000,
        PublicKey([3; 32]),
        (11, Hash([9; 32])),
        (10, VOTES.to_vec()),
        block.transactions[..2].to_vec(),
    );
    assert_ne!(fewer.digest(), block.digest());
    let other_votes = Block::new(
        Digest([7; 32]),
        (12, 1),
        1_000,
        PublicKey([3; 32]),
        (11, Hash([9; 32])),
        (10, vec![6; 40]),
        block.transactions.clone(),
    );
    assert_ne!(other_votes.digest(), block.digest());
}

#[test]
fn every_truncation_and_trailing_byte_is_refused() {
    let bytes = sample(2).encode();
    for len in 0..bytes.len() {
        assert!(
            Block::decode_cfg(bytes.slice(..len), &BlockLimits::default()).is_err(),
            "a block cut to {len} bytes decoded"
        );
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(Block::decode_cfg(bytes::Bytes::from(longer), &BlockLimits::default()).is_err());
}

#[test]
fn a_transaction_swapped_under_the_header_is_refused() {
    let block = sample(2);
    let other = sample(3);
    let mut bytes = block.encode().to_vec();
    // Replace the second transaction by the third of the other block (same length).
    let second = block.transactions[1].encode();
    let third = other.transactions[2].encode();
    assert_eq!(second.len(), third.len());
    let at = bytes.len() - second.len();
    bytes[at..].copy_from_slice(&third);
    assert!(Block::decode_cfg(bytes::Bytes::from(bytes), &BlockLimits::default()).is_err());
}

#[test]
fn blocks_over_the_limits_are_refused_before_reading_them() {
    let bytes = sample(3).encode();
    let few = BlockLimits {
        max_transactions: 2,
        ..BlockLimits::default()
    };
    assert!(Block::decode_cfg(bytes.clone(), &few).is_err());
    let small = BlockLimits {
        max_transaction_bytes: 100,
        ..BlockLimits::default()
    };
    assert!(Block::decode_cfg(bytes.clone(), &small).is_err());
    // A count claiming far more transactions than the input holds.
    let count_at = HEADER_BYTES + 4 + VOTES.len();
    let mut lying = bytes.to_vec();
    lying[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(Block::decode_cfg(bytes::Bytes::from(lying), &BlockLimits::default()).is_err());
    // A votes length over the bound, and votes that are not the header's.
    let mut long = bytes.to_vec();
    long[HEADER_BYTES..HEADER_BYTES + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(Block::decode_cfg(bytes::Bytes::from(long), &BlockLimits::default()).is_err());
    let mut swapped = bytes.to_vec();
    swapped[HEADER_BYTES + 4] ^= 1;
    assert!(Block::decode_cfg(bytes::Bytes::from(swapped), &BlockLimits::default()).is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Bytes from the network: anything decodes to an error or to a block that encodes back
    /// to exactly those bytes (the encoding is canonical), and nothing panics.
    #[test]
    fn any_bytes_decode_canonically_or_not_at_all(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
    ) {
        if let Ok(block) = Block::decode_cfg(bytes::Bytes::from(bytes.clone()), &BlockLimits::default()) {
            proptest::prop_assert_eq!(block.encode().to_vec(), bytes);
        }
    }

    /// A valid block with one byte changed: refused, or a different block whose encoding is
    /// those very bytes (a header field), never the same block.
    #[test]
    fn one_changed_byte_never_yields_the_same_block(at in 0usize..10_000, xor in 1u8..=255) {
        let block = sample(2);
        let mut bytes = block.encode().to_vec();
        let at = at % bytes.len();
        bytes[at] ^= xor;
        if let Ok(decoded) = Block::decode_cfg(bytes::Bytes::from(bytes.clone()), &BlockLimits::default()) {
            proptest::prop_assert_ne!(decoded.digest(), block.digest());
            proptest::prop_assert_eq!(decoded.encode().to_vec(), bytes);
        }
    }
}
