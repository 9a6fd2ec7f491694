use crate::helpers::{assert_balanced, chain};
use cairn_ledger::testkit::{addr, key};
use cairn_ledger::{BlockError, TxError};
use cairn_types::params::ChainId;
use cairn_types::tx::{Action, Transaction};
use cairn_types::Amount;

#[test]
fn transfer_moves_tokens_burns_fee_and_bumps_nonce() {
    let (mut chain, _dir) = chain();
    let supply_before = chain
        .ledger
        .get::<cairn_ledger::state::records::ChainState>(&cairn_ledger::StateKey::ChainState)
        .unwrap()
        .unwrap()
        .total_supply;
    let alice = chain.account(&addr("alice"));
    chain
        .run(
            "alice",
            Action::Transfer {
                to: addr("bob"),
                amount: "12.5".parse().unwrap(),
            },
        )
        .unwrap();
    let after = chain.account(&addr("alice"));
    assert_eq!(after.nonce, alice.nonce + 1);
    assert_eq!(
        after.balance,
        Amount(alice.balance.0 - 12_500_000 - chain.fee.0)
    );
    assert_eq!(
        chain.account(&addr("bob")).balance,
        Amount::tokens(1_000_000)
            .checked_add("12.5".parse().unwrap())
            .unwrap()
    );
    let state = chain
        .ledger
        .get::<cairn_ledger::state::records::ChainState>(&cairn_ledger::StateKey::ChainState)
        .unwrap()
        .unwrap();
    assert_eq!(state.total_supply, Amount(supply_before.0 - chain.fee.0));
    assert_eq!(state.total_burned, chain.fee);
    assert_balanced(&chain);
}

#[test]
fn transfer_to_a_new_account_creates_it() {
    let (mut chain, _dir) = chain();
    chain
        .run(
            "alice",
            Action::Transfer {
                to: addr("newcomer"),
                amount: Amount(1),
            },
        )
        .unwrap();
    assert_eq!(chain.account(&addr("newcomer")).balance, Amount(1));
}

#[test]
fn bad_transfers_are_refused_with_typed_errors_and_change_nothing() {
    let (mut chain, _dir) = chain();
    let balance = chain.account(&addr("alice")).balance;
    refused!(
        chain,
        "alice",
        Action::Transfer {
            to: addr("bob"),
            amount: balance
        },
        TxError::InsufficientBalance {
            needed: balance,
            available: Amount(balance.0 - chain.fee.0)
        },
    );
    refused!(
        chain,
        "alice",
        Action::Transfer {
            to: addr("bob"),
            amount: Amount::ZERO
        },
        TxError::ZeroAmount
    );
    refused!(
        chain,
        "nobody",
        Action::Transfer {
            to: addr("bob"),
            amount: Amount(1)
        },
        TxError::InsufficientBalance {
            needed: chain.fee,
            available: Amount::ZERO
        },
    );
    // An amount that would overflow the receiver is refused, not wrapped.
    refused!(
        chain,
        "alice",
        Action::Transfer {
            to: addr("bob"),
            amount: Amount(u128::MAX)
        },
        TxError::InsufficientBalance {
            needed: Amount(u128::MAX),
            available: Amount(balance.0 - chain.fee.0)
        },
    );
}

#[test]
fn replay_wrong_chain_low_fee_and_forgery_are_refused() {
    let (mut chain, _dir) = chain();
    let tx = chain.tx(
        "alice",
        Action::Transfer {
            to: addr("bob"),
            amount: Amount(5),
        },
    );
    chain.block(vec![tx.clone()]).unwrap();
    let before = chain.ledger.head();
    // The same signed transaction again: its nonce is used.
    match chain.block(vec![tx]) {
        Err(BlockError::Transaction {
            error:
                TxError::NonceMismatch {
                    expected: 1,
                    got: 0,
                },
            ..
        }) => {}
        other => panic!("replay accepted or wrong error: {other:?}"),
    }
    // Signed for another chain.
    let other = Transaction {
        chain_id: ChainId::new("another-chain").unwrap(),
        sender: addr("alice"),
        nonce: 1,
        fee: chain.fee,
        action: Action::Transfer {
            to: addr("bob"),
            amount: Amount(5),
        },
    }
    .sign(&key("alice"));
    assert!(matches!(
        chain.block(vec![other]),
        Err(BlockError::Transaction {
            error: TxError::WrongChain { .. },
            ..
        })
    ));
    // Fee below the minimum.
    let mut low = chain
        .tx(
            "alice",
            Action::Transfer {
                to: addr("bob"),
                amount: Amount(5),
            },
        )
        .tx;
    low.fee = Amount(chain.fee.0 - 1);
    assert!(matches!(
        chain.block(vec![low.sign(&key("alice"))]),
        Err(BlockError::Transaction {
            error: TxError::FeeTooLow { .. },
            ..
        })
    ));
    // Signed by mallory in alice's name.
    let forged = chain
        .tx(
            "alice",
            Action::Transfer {
                to: addr("mallory"),
                amount: Amount(5),
            },
        )
        .tx
        .sign(&key("mallory"));
    assert!(matches!(
        chain.block(vec![forged.clone()]),
        Err(BlockError::Transaction {
            error: TxError::BadSignature,
            index: 0,
            ..
        })
    ));
    // A bad signature anywhere refuses the whole block, and names its position.
    let good = chain.tx(
        "bob",
        Action::Transfer {
            to: addr("carol"),
            amount: Amount(5),
        },
    );
    assert!(matches!(
        chain.block(vec![good, forged]),
        Err(BlockError::Transaction {
            error: TxError::BadSignature,
            index: 1,
            ..
        })
    ));
    assert_eq!(chain.ledger.head(), before);
}

#[test]
fn many_transactions_from_one_sender_in_one_block() {
    let (mut chain, _dir) = chain();
    let mut txs = Vec::new();
    for nonce in 0..50u64 {
        let tx = Transaction {
            chain_id: chain.ledger.config().chain_id.clone(),
            sender: addr("alice"),
            nonce,
            fee: chain.fee,
            action: Action::Transfer {
                to: addr("bob"),
                amount: Amount(1),
            },
        };
        txs.push(tx.sign(&key("alice")));
    }
    let outcome = chain.block(txs).unwrap();
    assert_eq!(outcome.receipts.len(), 50);
    assert_eq!(chain.account(&addr("alice")).nonce, 50);
    assert_balanced(&chain);
}
