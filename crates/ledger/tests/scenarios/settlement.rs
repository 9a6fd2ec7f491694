//! Settlement: a reward root carries what each payer owes; the ledger burns it from the
//! payer's delegated credits when the root is accepted, never more than the payer holds.

use crate::helpers::{assert_balanced, chain, fund_credits};
use cairn_ledger::state::records::SettledRecord;
use cairn_ledger::testkit::{addr, key, TestChain};
use cairn_ledger::{StateKey, TxError};
use cairn_types::codec::BoundedVec;
use cairn_types::reward_tree::{RewardLeaf, RewardTree};
use cairn_types::tx::{
    reward_root_digest, Action, OracleSignature, RewardRootSubmission, Settlement,
};
use cairn_types::{Amount, Credits, Epoch, Subnetwork};

const NET: Subnetwork = Subnetwork::Connectivity;

/// A connectivity root for `epoch` paying alice 10 tokens and settling `owed`, signed by two of
/// the three genesis oracles over `signed` (the settlements they agreed).
fn root(chain: &TestChain, epoch: u64, owed: &[(&str, u64)], signed: &[(&str, u64)]) -> Action {
    let list = |pairs: &[(&str, u64)]| -> Vec<Settlement> {
        let mut list: Vec<Settlement> = pairs
            .iter()
            .map(|(payer, credits)| Settlement {
                payer: addr(payer),
                credits: Credits(*credits),
                signed: Credits(*credits),
            })
            .collect();
        list.sort_by_key(|s| s.payer);
        list
    };
    let tree = RewardTree::build(vec![RewardLeaf {
        account: addr("alice"),
        cumulative: Amount::tokens(10 * (epoch as u128 + 1)),
    }])
    .unwrap();
    let root = tree.root();
    let digest = reward_root_digest(
        &chain.ledger.config().chain_id,
        Epoch(epoch),
        NET,
        &root,
        &list(signed),
    );
    Action::SubmitRewardRoot(RewardRootSubmission {
        epoch: Epoch(epoch),
        subnetwork: NET,
        root,
        signatures: BoundedVec::new(
            ["oracle-0", "oracle-1"]
                .iter()
                .map(|o| OracleSignature {
                    oracle: addr(o),
                    signature: key(o).sign(&digest),
                })
                .collect(),
        )
        .unwrap(),
        settlements: BoundedVec::new(list(owed)).unwrap(),
    })
}

fn delegated(chain: &TestChain, payer: &str) -> Option<Credits> {
    chain
        .ledger
        .get(&StateKey::DelegatedCredits(addr(payer), NET))
        .unwrap()
}

fn settled(chain: &TestChain, payer: &str) -> SettledRecord {
    chain
        .ledger
        .get(&StateKey::Settled(NET, addr(payer)))
        .unwrap()
        .unwrap()
}

fn delegate(chain: &mut TestChain, payer: &str, credits: u64) {
    chain
        .run(
            "alice",
            Action::DelegateCredits {
                payer: addr(payer),
                subnetwork: NET,
                credits: Credits(credits),
            },
        )
        .unwrap();
}

#[test]
fn an_accepted_root_burns_what_each_payer_owes_and_never_more_than_it_holds() {
    let (mut chain, _dir) = chain();
    fund_credits(&mut chain, "alice");
    delegate(&mut chain, "router", 1_000);
    delegate(&mut chain, "app", 50);
    chain.advance_to_epoch(1).unwrap();
    let owed = [("router", 400), ("app", 80), ("nobody", 7)];
    chain.run("carol", root(&chain, 0, &owed, &owed)).unwrap();
    assert_eq!(delegated(&chain, "router"), Some(Credits(600)));
    // The app held 50 of the 80 it owed: all 50 burned, 30 short; the key is emptied.
    assert_eq!(delegated(&chain, "app"), None);
    let app = settled(&chain, "app");
    assert_eq!((app.owed, app.burned), (Credits(80), Credits(50)));
    assert_eq!(app.short_total, Credits(30));
    assert_eq!(settled(&chain, "nobody").burned, Credits(0));
    let used: Credits = chain
        .ledger
        .get(&StateKey::CreditUsage(NET))
        .unwrap()
        .unwrap();
    assert_eq!(used, Credits(450));

    // The next epoch's root settles again; the totals add up.
    chain.advance_to_epoch(2).unwrap();
    let owed = [("router", 100)];
    chain.run("carol", root(&chain, 1, &owed, &owed)).unwrap();
    let router = settled(&chain, "router");
    assert_eq!(router.epoch, Epoch(1));
    assert_eq!(router.burned_total, Credits(500));
    assert_eq!(delegated(&chain, "router"), Some(Credits(500)));
    assert_balanced(&chain);
}

#[test]
fn settlements_the_oracles_did_not_sign_or_out_of_order_are_refused() {
    let (mut chain, _dir) = chain();
    fund_credits(&mut chain, "alice");
    delegate(&mut chain, "router", 1_000);
    chain.advance_to_epoch(1).unwrap();
    // A submitter raises a payer's debt after the oracles signed: the signatures fail.
    let raised = root(&chain, 0, &[("router", 900)], &[("router", 400)]);
    let error = chain.run("carol", raised).unwrap_err();
    assert!(
        matches!(error, TxError::BadOracleSignature(_)),
        "unexpected error: {error}"
    );
    // Two entries for one payer, or a zero debt, are refused whatever the signatures.
    for owed in [vec![("router", 1), ("router", 2)], vec![("router", 0)]] {
        let error = chain
            .run("carol", root(&chain, 0, &owed, &owed))
            .unwrap_err();
        assert!(
            matches!(error, TxError::BadSettlements(_)),
            "unexpected error: {error}"
        );
    }
    assert_eq!(delegated(&chain, "router"), Some(Credits(1_000)));
}

#[test]
fn a_root_overtaken_by_a_later_one_still_settles_once() {
    let (mut chain, _dir) = chain();
    fund_credits(&mut chain, "alice");
    delegate(&mut chain, "router", 1_000);
    chain.advance_to_epoch(2).unwrap();
    // Epoch 1's root lands first (say a submitter raced it in): it pays epoch 0's rewards too.
    chain
        .run(
            "carol",
            root(&chain, 1, &[("router", 100)], &[("router", 100)]),
        )
        .unwrap();
    assert_eq!(delegated(&chain, "router"), Some(Credits(900)));
    // Epoch 0's root now only settles its debts (its rewards are in epoch 1's root).
    let late = root(&chain, 0, &[("router", 400)], &[("router", 400)]);
    chain.run("carol", late.clone()).unwrap();
    assert_eq!(delegated(&chain, "router"), Some(Credits(500)));
    assert_eq!(settled(&chain, "router").burned_total, Credits(500));
    let error = chain.run("carol", late).unwrap_err();
    assert!(
        matches!(error, TxError::AlreadySettled { .. }),
        "unexpected error: {error}"
    );
    // Without debts, an overtaken root is refused as before.
    let error = chain.run("carol", root(&chain, 0, &[], &[])).unwrap_err();
    assert!(
        matches!(error, TxError::RootNotNewer { .. }),
        "unexpected error: {error}"
    );
    assert_balanced(&chain);
}

#[test]
fn only_connectivity_settles_and_never_above_what_was_signed_for() {
    let (mut chain, _dir) = chain();
    fund_credits(&mut chain, "alice");
    delegate(&mut chain, "router", 1_000);
    chain.advance_to_epoch(1).unwrap();
    let Action::SubmitRewardRoot(mut submission) =
        root(&chain, 0, &[("router", 10)], &[("router", 10)])
    else {
        unreachable!()
    };
    let mut list = submission.settlements.clone().into_inner();
    list[0].signed = Credits(9);
    submission.settlements = BoundedVec::new(list).unwrap();
    let error = chain
        .run("carol", Action::SubmitRewardRoot(submission.clone()))
        .unwrap_err();
    assert!(matches!(error, TxError::BadSettlements(_)), "{error}");
    submission.subnetwork = Subnetwork::Storage;
    let error = chain
        .run("carol", Action::SubmitRewardRoot(submission))
        .unwrap_err();
    assert!(matches!(error, TxError::BadSettlements(_)), "{error}");
    assert_eq!(delegated(&chain, "router"), Some(Credits(1_000)));
}
