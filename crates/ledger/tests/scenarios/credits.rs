use crate::helpers::{assert_balanced, chain};
use cairn_ledger::testkit::addr;
use cairn_ledger::{StateKey, TxError};
use cairn_types::tx::Action;
use cairn_types::{Amount, Credits, Hash, Price, Subnetwork};

#[test]
fn burn_uses_the_median_of_fresh_prices() {
    let (mut chain, _dir) = chain();
    chain
        .run(
            "oracle-0",
            Action::PostPrice {
                price: Price(1_000_000_000),
            },
        )
        .unwrap();
    chain
        .run(
            "oracle-1",
            Action::PostPrice {
                price: Price(3_000_000_000),
            },
        )
        .unwrap();
    chain
        .run(
            "oracle-2",
            Action::PostPrice {
                price: Price(2_000_000_000),
            },
        )
        .unwrap();
    // Median of $1, $2, $3 is $2: 1 token buys 200,000 DC.
    chain
        .run(
            "alice",
            Action::BurnForCredits {
                amount: Amount::tokens(1),
                recipient: addr("bob"),
            },
        )
        .unwrap();
    assert_eq!(chain.account(&addr("bob")).credits, Credits(200_000));
    assert_balanced(&chain);
}

#[test]
fn stale_or_missing_prices_refuse_the_burn() {
    let (mut chain, _dir) = chain();
    let burn = Action::BurnForCredits {
        amount: Amount::tokens(1),
        recipient: addr("alice"),
    };
    refused!(
        chain,
        "alice",
        burn.clone(),
        TxError::PriceStale {
            fresh: 0,
            needed: 1
        }
    );
    chain
        .run(
            "oracle-0",
            Action::PostPrice {
                price: Price(1_000_000_000),
            },
        )
        .unwrap();
    // 601 blocks of one second each: the price is now older than 600 s.
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
    chain
        .run(
            "oracle-0",
            Action::PostPrice {
                price: Price(1_000_000_000),
            },
        )
        .unwrap();
    refused!(
        chain,
        "alice",
        Action::BurnForCredits {
            amount: Amount(5),
            recipient: addr("alice")
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
