use crate::helpers::{assert_balanced, chain, post_prices};
use cairn_ledger::state::records::PriceReference;
use cairn_ledger::testkit::addr;
use cairn_ledger::{StateKey, TxError};
use cairn_types::tx::Action;
use cairn_types::{Amount, Credits, Hash, Price, Subnetwork};

fn burn(tokens: u128, min_credits: u64) -> Action {
    Action::BurnForCredits {
        amount: Amount::tokens(tokens),
        recipient: addr("bob"),
        min_credits: Credits(min_credits),
    }
}

/// The median is weighed by stake: an oracle holding 5/7 of the stake sets it, where a median
/// of three posts would take the middle one.
#[test]
fn burn_uses_the_stake_weighted_median_of_fresh_prices() {
    let (mut chain, _dir) = chain();
    chain
        .run(
            "alice",
            Action::Transfer {
                to: addr("oracle-0"),
                amount: Amount::tokens(40_000),
            },
        )
        .unwrap();
    chain
        .run(
            "oracle-0",
            Action::BondOracle {
                amount: Amount::tokens(40_000),
            },
        )
        .unwrap();
    // Stake bonded during an epoch weighs from the next one.
    chain.advance_to_epoch(1).unwrap();
    post_prices(&mut chain, &[1_000_000_000, 1_050_000_000, 1_040_000_000]);
    chain.run("alice", burn(1, 100_000)).unwrap();
    // $1.00 (oracle-0's 50,000 of 70,000 stake), not $1.04 (the middle of three posts).
    assert_eq!(chain.account(&addr("bob")).credits, Credits(100_000));
    assert_balanced(&chain);
}

/// One oracle bonded alone, or any minority of the stake, cannot set the price: fresh posts
/// need 2/3 of oracle stake, and an outlier outside the 2/3 that agree changes nothing.
#[test]
fn a_minority_of_oracle_stake_cannot_set_or_block_the_price() {
    let (mut chain, _dir) = chain();
    chain
        .run(
            "oracle-2",
            Action::PostPrice {
                price: Price(u64::MAX),
            },
        )
        .unwrap();
    refused!(
        chain,
        "alice",
        burn(1, 0),
        TxError::PriceQuorum {
            fresh_stake: Amount::tokens(10_000),
            total: Amount::tokens(30_000),
        }
    );
    // The other two agree on $2: they are 2/3 of the stake, the outlier does not count.
    post_prices(&mut chain, &[2_000_000_000, 2_010_000_000, u64::MAX]);
    chain.run("alice", burn(1, 0)).unwrap();
    assert_eq!(chain.account(&addr("bob")).credits, Credits(201_000));
    // Dave bonds ten times the committee's stake and posts $100 in the same epoch: his stake
    // weighs nothing until the next epoch, so the price stays the committee's.
    chain
        .run(
            "dave",
            Action::BondOracle {
                amount: Amount::tokens(300_000),
            },
        )
        .unwrap();
    chain
        .run(
            "dave",
            Action::PostPrice {
                price: Price(100_000_000_000),
            },
        )
        .unwrap();
    post_prices(&mut chain, &[2_000_000_000, 2_010_000_000, 2_000_000_000]);
    chain.run("alice", burn(1, 0)).unwrap();
    // The committee's median fell to $2.00; the burn a second after the $2.01 reference may
    // go one second's worth (1/60 %) below it: $2.009665.
    assert_eq!(
        chain.account(&addr("bob")).credits,
        Credits(201_000 + 200_966)
    );
}

/// When no 2/3 of the stake agree within `price_spread_max_bps` (10%), burns are refused.
#[test]
fn burns_are_refused_while_the_oracles_disagree() {
    let (mut chain, _dir) = chain();
    post_prices(&mut chain, &[1_000_000_000, 1_200_000_000, 1_400_000_000]);
    // The narrowest 2/3 range is $1.00-$1.20 (or $1.20-$1.40): $0.20 of the $1.20 median.
    refused!(
        chain,
        "alice",
        burn(1, 0),
        TxError::PriceSpread {
            spread_bps: 1_667,
            max_bps: 1_000,
        }
    );
    post_prices(&mut chain, &[1_000_000_000, 1_050_000_000, 1_400_000_000]);
    chain.run("alice", burn(1, 0)).unwrap();
    assert_eq!(chain.account(&addr("bob")).credits, Credits(105_000));
}

/// The price may move at most `price_move_max_bps_per_minute` (1%) per minute of chain time
/// from the reference (the last usable price, set by burns and posts), up or down. The sender's
/// minimum refuses a burn at a price lower than it accepts.
#[test]
fn the_price_moves_at_most_the_limit_per_minute_and_min_credits_protects_the_buyer() {
    let (mut chain, _dir) = chain();
    post_prices(&mut chain, &[1_000_000_000; 3]);
    // Every oracle now says $2. In the posts' block the first post leaves the median at $1 (and
    // dates the $1 reference now); the later ones come with no time passed and move nothing.
    post_prices(&mut chain, &[2_000_000_000; 3]);
    let posted = chain.ledger.head().height;
    chain.block(vec![]).unwrap();
    // Two seconds after the reference: at most 2/60 % higher, $1.000333333.
    refused!(
        chain,
        "alice",
        burn(1, 200_000),
        TxError::CreditsBelowMinimum {
            min: Credits(200_000),
            got: Credits(100_033),
        }
    );
    chain.run("alice", burn(1, 100_033)).unwrap();
    assert_eq!(chain.ledger.head().height, posted + 2);
    assert_eq!(chain.account(&addr("bob")).credits, Credits(100_033));
    assert_balanced(&chain);
}

/// Blocks five times as fast move the price no faster: oracles reposting $2 in every block of
/// a minute at 200 ms a block (each post moving the reference) take the price from $1 up by
/// about 1% (compounded over 300 steps, each rounded down: at most e^0.01), as one-second
/// blocks do; under the
/// old per-block limit (0.1% a block) the same minute walked it up 35%.
#[test]
fn the_move_limit_is_the_same_per_minute_however_fast_blocks_come() {
    let mut moved = Vec::new();
    for interval_ms in [200u64, 1_000] {
        let (mut chain, _dir) = chain();
        post_prices(&mut chain, &[1_000_000_000; 3]);
        let start = chain.ledger.head().timestamp_ms;
        while chain.ledger.head().timestamp_ms < start + 60_000 {
            let txs = cairn_ledger::testkit::ORACLES
                .iter()
                .map(|o| {
                    chain.tx(
                        o,
                        Action::PostPrice {
                            price: Price(2_000_000_000),
                        },
                    )
                })
                .collect();
            let mut block = chain.next_block(txs);
            block.timestamp_ms = chain.ledger.head().timestamp_ms + interval_ms;
            chain.ledger.apply_block(&block).unwrap();
        }
        let reference: PriceReference = chain
            .ledger
            .get(&StateKey::PriceReference)
            .unwrap()
            .unwrap();
        moved.push(reference.price.0);
    }
    for price in &moved {
        assert!(
            (1_009_000_000..=1_010_051_000).contains(price),
            "a minute moved the price to {price}"
        );
    }
}

#[test]
fn stale_or_missing_prices_refuse_the_burn() {
    let (mut chain, _dir) = chain();
    let burn = burn(1, 0);
    refused!(
        chain,
        "alice",
        burn.clone(),
        TxError::PriceStale {
            fresh: 0,
            needed: 1
        }
    );
    post_prices(&mut chain, &[1_000_000_000; 3]);
    // 601 blocks of one second each: the prices are now older than 600 s.
    for _ in 0..601 {
        chain.block(vec![]).unwrap();
    }
    refused!(
        chain,
        "alice",
        burn,
        TxError::PriceStale {
            fresh: 0,
            needed: 1
        }
    );
    refused!(
        chain,
        "alice",
        Action::PostPrice { price: Price(5) },
        TxError::NotAnOracle(addr("alice"))
    );
    refused!(
        chain,
        "oracle-1",
        Action::PostPrice { price: Price(0) },
        TxError::ZeroPrice
    );
}

#[test]
fn tiny_burn_is_refused() {
    let (mut chain, _dir) = chain();
    post_prices(&mut chain, &[1_000_000_000; 3]);
    refused!(
        chain,
        "alice",
        Action::BurnForCredits {
            amount: Amount(5),
            recipient: addr("alice"),
            min_credits: Credits(0),
        },
        TxError::BurnTooSmall(Amount(5)),
    );
}

#[test]
fn delegated_credits_are_spent_first_and_usage_is_recorded() {
    let (mut chain, _dir) = chain();
    crate::helpers::fund_credits(&mut chain, "alice");
    let payer = addr("storage-payer");
    chain
        .run(
            "alice",
            Action::DelegateCredits {
                payer,
                subnetwork: Subnetwork::Storage,
                credits: Credits(500),
            },
        )
        .unwrap();
    assert_eq!(
        chain.account(&addr("alice")).credits,
        Credits(1_000_000 - 500)
    );
    // The payer needs tokens for the fee only.
    chain
        .run(
            "alice",
            Action::Transfer {
                to: payer,
                amount: Amount::tokens(1),
            },
        )
        .unwrap();
    let spend = |credits| Action::SpendCredits {
        subnetwork: Subnetwork::Storage,
        credits: Credits(credits),
        usage: Hash([9; 32]),
    };
    let tx = {
        let signed = cairn_types::tx::Transaction {
            chain_id: chain.ledger.config().chain_id.clone(),
            sender: payer,
            nonce: 0,
            fee: chain.fee,
            action: spend(300),
        };
        signed.sign(&cairn_ledger::testkit::key("storage-payer"))
    };
    chain.block(vec![tx]).unwrap();
    let left: Credits = chain
        .ledger
        .get(&StateKey::DelegatedCredits(payer, Subnetwork::Storage))
        .unwrap()
        .unwrap();
    assert_eq!(left, Credits(200));
    let used: Credits = chain
        .ledger
        .get(&StateKey::CreditUsage(Subnetwork::Storage))
        .unwrap()
        .unwrap();
    assert_eq!(used, Credits(300));
    refused!(
        chain,
        "storage-payer",
        spend(201),
        TxError::InsufficientCredits {
            needed: Credits(201),
            available: Credits(200)
        },
    );
    // Delegation is per sub-network.
    refused!(
        chain,
        "storage-payer",
        Action::SpendCredits {
            subnetwork: Subnetwork::Energy,
            credits: Credits(1),
            usage: Hash::ZERO
        },
        TxError::InsufficientCredits {
            needed: Credits(1),
            available: Credits(0)
        },
    );
    // The alice's own credits can be spent directly too.
    chain.run("alice", spend(1_000)).unwrap();
    assert_eq!(
        chain.account(&addr("alice")).credits,
        Credits(1_000_000 - 500 - 1_000)
    );
}

/// A price so low that one block's share of the move rounds down to nothing still moves at its
/// pace: posts in every block do not restart the clock while the price is held in place.
#[test]
fn frequent_posts_do_not_freeze_a_low_price() {
    let (mut chain, _dir) = chain();
    // $0.000001 a token: 1% a minute is 10 nano-dollars, a second's share is 1/6 of one.
    post_prices(&mut chain, &[1_000; 3]);
    for _ in 0..120 {
        post_prices(&mut chain, &[2_000; 3]);
    }
    let reference: PriceReference = chain
        .ledger
        .get(&StateKey::PriceReference)
        .unwrap()
        .unwrap();
    // Two minutes at 1% a minute, each step rounded down: 1,019 or 1,020.
    assert!(
        (1_015..=1_020).contains(&reference.price.0),
        "two minutes moved the price to {}",
        reference.price.0
    );
}
