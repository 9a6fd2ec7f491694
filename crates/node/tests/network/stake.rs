//! Voting power that follows stake: silent seats are jailed while the chain goes on, cheap seats
//! that never vote cannot stop or take over the chain, seat keys rotate at epoch boundaries, and a
//! light client follows the validator sets across those rotations.

use crate::harness::{link, runtime, Network};
use crate::scenarios::for_each_seed;
use cairn_ledger::state::records::{Jail, ValidatorSet};
use cairn_ledger::testkit::{self, TEST_BLOCKS_PER_EPOCH};
use cairn_ledger::StateKey;
use cairn_node::light::{self, Handoff};
use cairn_types::amount::Amount;
use cairn_types::tx::Action;
use cairn_types::Epoch;
use commonware_consensus::types::Height;
use commonware_runtime::{deterministic, Clock, Runner};
use std::time::Duration;

const N: u64 = TEST_BLOCKS_PER_EPOCH;

/// The validator set of `epoch` in node `at`'s state.
fn set_of(net: &Network, at: usize, epoch: u64) -> ValidatorSet {
    net.nodes[at]
        .chain
        .ledger()
        .validator_set_of_epoch(Epoch(epoch))
        .expect("read")
        .unwrap_or_else(|| panic!("no set for epoch {epoch}"))
}

/// The seats node `i` holds in `set`.
fn seats_held(net: &Network, set: &ValidatorSet, i: usize) -> usize {
    let address = testkit::addr(&net.label(i));
    set.members
        .iter()
        .find(|m| m.address == address)
        .map_or(0, |m| m.seats.len())
}

/// One validator of four (a quarter of the seats, under a third) never runs: the others finalize
/// on, and at the end of epoch 0 it is jailed for downtime and loses its seats from epoch 2; the
/// ones that voted are not jailed.
fn silent_quarter(seed: u64) {
    deterministic::Runner::new(runtime(seed, 900)).start(|context| async move {
        let mut net = Network::new(&context, 4, link(10, 5, 100)).await;
        let silent = 3;
        let live = [0, 1, 2];
        for &i in &live {
            net.start(&context, i).await;
        }
        net.wait_for_height(&context, &live, 2 * N + 2, Duration::from_secs(300))
            .await;
        net.check_agreement(&live).await;
        assert_eq!(
            net.validator_record(0, silent).jail,
            Jail::Downtime { epoch: Epoch(0) }
        );
        for &i in &live {
            assert_eq!(net.validator_record(0, i).jail, Jail::Free, "validator {i}");
        }
        let two = set_of(&net, 0, 2);
        assert_eq!(seats_held(&net, &two, silent), 0);
        assert_eq!(two.members.len(), 3);
    });
}

#[test]
fn validators_under_a_third_of_the_seats_go_silent_the_chain_stays_live_and_they_are_jailed() {
    for_each_seed(10_000, 30, silent_quarter);
}

/// Seats of eight validators in a committee of 16 (f = 5: a quorum is 11 seats). The first three
/// hold 5 seats, just under a third of the seated stake.
const JUST_UNDER: [u64; 8] = [2, 2, 1, 3, 2, 2, 2, 2];

/// The same committee with the first three holding 6 seats, just over a third.
const JUST_OVER: [u64; 8] = [2, 2, 2, 2, 2, 2, 2, 2];

/// The validators that go silent: `validator-0` to `validator-2`.
const SILENT: [&str; 3] = ["validator-0", "validator-1", "validator-2"];

/// The nodes of `net` split into the silent ones and the others.
fn silent_and_live(net: &Network) -> (Vec<usize>, Vec<usize>) {
    (0..net.nodes.len()).partition(|&i| SILENT.contains(&net.label(i).as_str()))
}

/// Three of eight validators, holding 5 of 16 seats (31%, just under a third of the seated
/// stake, spread over seats of unequal validators), never run: the other five finalize on
/// through two epochs and agree, and the silent three are jailed.
fn silent_just_under_a_third(seed: u64) {
    deterministic::Runner::new(runtime(seed, 900)).start(|context| async move {
        let mut net = Network::with_seats(&context, &JUST_UNDER, link(10, 5, 100)).await;
        let (silent, live) = silent_and_live(&net);
        let genesis_set = set_of(&net, live[0], 0);
        assert_eq!(genesis_set.seat_count(), 16);
        let silent_seats: usize = silent
            .iter()
            .map(|&i| seats_held(&net, &genesis_set, i))
            .sum();
        assert_eq!(silent_seats, 5, "just under a third of the seats");
        for &i in &live {
            net.start(&context, i).await;
        }
        net.wait_for_height(&context, &live, 2 * N + 2, Duration::from_secs(400))
            .await;
        net.check_agreement(&live).await;
        for &i in &silent {
            assert!(net.validator_record(live[0], i).jail.is_jailed(), "{i}");
        }
    });
}

#[test]
fn silent_stake_just_under_a_third_keeps_finalizing() {
    for_each_seed(12_000, 3, silent_just_under_a_third);
}

/// Its twin: the silent three hold 6 of 16 seats (37.5%, just over a third). Nothing is
/// finalized while they are away (the others hold 10 seats, one short of a quorum); when they
/// come back the chain finalizes again and all eight agree.
fn silent_just_over_a_third(seed: u64) {
    deterministic::Runner::new(runtime(seed, 900)).start(|context| async move {
        let mut net = Network::with_seats(&context, &JUST_OVER, link(10, 5, 100)).await;
        let (silent, live) = silent_and_live(&net);
        let genesis_set = set_of(&net, live[0], 0);
        let silent_seats: usize = silent
            .iter()
            .map(|&i| seats_held(&net, &genesis_set, i))
            .sum();
        assert_eq!(genesis_set.seat_count(), 16);
        assert_eq!(silent_seats, 6, "just over a third of the seats");
        for &i in &live {
            net.start(&context, i).await;
        }
        context.sleep(Duration::from_secs(60)).await;
        for &i in &live {
            assert_eq!(
                net.nodes[i].chain.head().height,
                0,
                "validator {i} finalized"
            );
        }
        for &i in &silent {
            net.start(&context, i).await;
        }
        // The halt was the silent stake's: with it back, the first block comes well within the
        // minute the live ones waited in vain.
        let everyone: Vec<usize> = (0..net.nodes.len()).collect();
        net.wait_for_height(&context, &everyone, 1, Duration::from_secs(20))
            .await;
        net.wait_for_height(&context, &everyone, N + 2, Duration::from_secs(400))
            .await;
        net.check_agreement(&everyone).await;
    });
}

#[test]
fn silent_stake_just_over_a_third_halts_and_recovers_when_it_returns() {
    for_each_seed(13_000, 3, silent_just_over_a_third);
}

/// An attacker bonds stake with many seat keys and never runs a node. It gets seats in proportion
/// to its stake only (under a third here), so it can neither stop finalization nor finalize
/// alone; the chain stays live through the epochs it holds seats in, and it is jailed for them.
fn cheap_seats(seed: u64) {
    deterministic::Runner::new(runtime(seed, 900)).start(|context| async move {
        let mut net = Network::with_validators(&context, 5, 4, link(10, 5, 100)).await;
        let attacker = net.index_of("validator-4");
        let honest: Vec<usize> = (0..5).filter(|&i| i != attacker).collect();
        for &i in &honest {
            net.start(&context, i).await;
        }
        net.wait_for_height(&context, &honest, 1, Duration::from_secs(60))
            .await;
        let keys = net.keys_of(attacker, 0);
        for &to in &honest {
            net.submit_as(
                &context,
                attacker,
                to,
                Action::BondValidator {
                    amount: Amount::tokens(30_000),
                    keys: Some(keys.clone()),
                },
            );
        }
        // Bonded in epoch 0: seated in epoch 2, jailed at the start of epoch 3, gone from 4.
        net.wait_for_height(&context, &honest, 4 * N + 2, Duration::from_secs(400))
            .await;
        net.check_agreement(&honest).await;
        let seated = (1..=4)
            .map(|e| set_of(&net, honest[0], e))
            .find(|set| seats_held(&net, set, attacker) > 0)
            .expect("the attacker got seats");
        let held = seats_held(&net, &seated, attacker);
        assert!(
            3 * held < seated.seat_count(),
            "{held} of {} seats: a third or more",
            seated.seat_count()
        );
        assert!(net.validator_record(honest[0], attacker).jail.is_jailed());
        let latest = set_of(&net, honest[0], 5);
        assert_eq!(seats_held(&net, &latest, attacker), 0);
    });
}

#[test]
fn an_attacker_with_seats_that_never_vote_cannot_stop_or_take_over_the_chain() {
    for_each_seed(11_000, 30, cheap_seats);
}

/// Two validators rotate their seat keys, in epochs 0 and 1 (so new keys sign from epochs 2 and
/// 3); both keep voting with the new keys (neither is jailed), and a light client that trusts
/// only the genesis set follows every hand-off to epoch 4 and checks a value there.
fn rotations(seed: u64) {
    deterministic::Runner::new(runtime(seed, 900)).start(|context| async move {
        let mut net = Network::new(&context, 4, link(10, 5, 100)).await;
        let everyone = [0, 1, 2, 3];
        for &i in &everyone {
            net.start(&context, i).await;
        }
        net.wait_for_height(&context, &everyone, 1, Duration::from_secs(60))
            .await;
        let rotate = |net: &Network, i: usize| {
            let keys = net.keys_of(i, 1);
            for to in 0..4 {
                net.submit_as(
                    &context,
                    i,
                    to,
                    Action::RotateValidatorKeys { keys: keys.clone() },
                );
            }
        };
        rotate(&net, 0);
        net.wait_for_height(&context, &everyone, N + 2, Duration::from_secs(120))
            .await;
        rotate(&net, 1);
        net.wait_for_height(&context, &everyone, 5 * N + 2, Duration::from_secs(400))
            .await;
        net.check_agreement(&everyone).await;
        for (i, from) in [(0, 2), (1, 3)] {
            let new = net.keys_of(i, 1).seat_keys();
            let member_seats = |epoch: u64| {
                let set = set_of(&net, 2, epoch);
                let address = testkit::addr(&net.label(i));
                set.members
                    .iter()
                    .find(|m| m.address == address)
                    .expect("still a validator")
                    .seats
                    .clone()
            };
            assert!(member_seats(from).iter().all(|k| new.contains(k)), "{i}");
            assert!(
                member_seats(from - 1).iter().all(|k| !new.contains(k)),
                "{i}"
            );
            assert_eq!(net.validator_record(2, i).jail, Jail::Free, "validator {i}");
        }
        light_client_follows(&net, 2, 4).await;
    });
}

/// A light client trusting the genesis set follows the hand-offs (built from node `at`'s blocks,
/// certificates and proofs) to `epoch`, then checks a proven account balance under a certificate
/// of that epoch.
async fn light_client_follows(net: &Network, at: usize, epoch: u64) {
    let node = &net.nodes[at];
    let marshal = &node.running.as_ref().expect("running").marshal;
    let mut trusted = net.genesis().initial_validator_set();
    for e in 0..epoch {
        let last = (e + 1) * N;
        let block = marshal
            .get_block(Height::new(last))
            .await
            .expect("last block");
        let header = block.inner().header;
        let certificate = marshal
            .get_finalization(Height::new(last))
            .await
            .expect("the last block of an epoch has its own certificate");
        let key = StateKey::ValidatorSet(Epoch(e + 1));
        let (value, proof, _) = node
            .chain
            .ledger()
            .prove(&key, Some(header.state_height))
            .expect("prove");
        let handoff = Handoff {
            epoch: e,
            header,
            certificate: light::encode_certificate(&certificate),
            next_set: value.expect("the next set is stored"),
            proof,
        };
        trusted = light::follow(&net.chain_id, N, &trusted, &handoff)
            .unwrap_or_else(|error| panic!("hand-off of epoch {e}: {error}"));
        // A forged hand-off (the certificate of another epoch) is refused.
        if e > 0 {
            let mut forged = handoff.clone();
            forged.epoch = e;
            forged.certificate = light::encode_certificate(
                &marshal
                    .get_finalization(Height::new(e * N))
                    .await
                    .expect("certificate"),
            );
            assert!(light::follow(&net.chain_id, N, &set_of(net, at, e), &forged).is_err());
        }
    }
    assert_eq!(trusted, set_of(net, at, epoch));
    // A value proven at a state a block of `epoch` attests, under that block's certificate.
    let last = (epoch + 1) * N;
    let block = marshal.get_block(Height::new(last)).await.expect("block");
    let header = block.inner().header;
    let certificate = marshal
        .get_finalization(Height::new(last))
        .await
        .expect("certificate");
    let seats = light::seats_of(&trusted).expect("seat keys");
    light::LightClient::new(&net.chain_id, seats)
        .verify_header(&header, &light::encode_certificate(&certificate), epoch)
        .expect("the certificate of epoch {epoch}");
    let key = StateKey::Account(testkit::addr("alice"));
    let (value, proof, root) = node
        .chain
        .ledger()
        .prove(&key, Some(header.state_height))
        .expect("prove");
    assert_eq!(root, header.state_root);
    cairn_ledger::store::verify_proof(&root, &key.to_bytes(), value.as_deref(), &proof)
        .expect("the balance is proven");
}

#[test]
fn seat_keys_rotate_at_epoch_boundaries_and_a_light_client_follows_the_sets() {
    for_each_seed(12_000, 15, rotations);
}
