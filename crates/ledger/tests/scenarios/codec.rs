//! Every stored type round-trips through the canonical codec, and arbitrary bytes never panic
//! the decoders of state keys and records.

use cairn_ledger::genesis::Genesis;
use cairn_ledger::state::records::*;
use cairn_ledger::testkit::test_genesis;
use cairn_ledger::StateKey;
use cairn_types::codec::{decode, encode};
use cairn_types::reward_tree::RewardNode;
use cairn_types::tx::{ProposalAction, StakeRole, VoteChoice};
use cairn_types::{Address, Amount, Credits, DeviceId, Epoch, Hash, Price, PublicKey, Subnetwork};
use proptest::prelude::*;

fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 32]>().prop_map(|b| Address(PublicKey(b)))
}

fn subnetwork() -> impl Strategy<Value = Subnetwork> {
    (0usize..6).prop_map(|i| Subnetwork::ALL[i])
}

fn state_key() -> impl Strategy<Value = StateKey> {
    prop_oneof![
        Just(StateKey::ChainState),
        Just(StateKey::Params),
        Just(StateKey::Validators),
        any::<u64>().prop_map(|e| StateKey::ValidatorSet(Epoch(e))),
        address().prop_map(StateKey::Validator),
        address().prop_map(|a| StateKey::ConsensusKeyOwner(a.0)),
        any::<u64>().prop_map(|e| StateKey::Liveness(Epoch(e))),
        address().prop_map(StateKey::Account),
        address().prop_map(|a| StateKey::Device(DeviceId(a.0))),
        (address(), any::<u32>()).prop_map(|(a, i)| StateKey::DeviceLocation(DeviceId(a.0), i)),
        any::<[u8; 32]>().prop_map(|h| StateKey::Offence(Hash(h))),
        (address(), subnetwork()).prop_map(|(a, s)| StateKey::DelegatedCredits(a, s)),
        (any::<u64>(), subnetwork()).prop_map(|(e, s)| StateKey::EmissionPool(Epoch(e), s)),
        (subnetwork(), address()).prop_map(|(s, a)| StateKey::RewardClaimed(s, a)),
        (subnetwork(), address()).prop_map(|(s, a)| StateKey::Settled(s, a)),
        any::<u64>().prop_map(|e| StateKey::LockExpiry(Epoch(e))),
        (any::<u64>(), address()).prop_map(|(p, a)| StateKey::ProposalVote(p, a)),
    ]
}

fn round_trip<T: borsh::BorshSerialize + borsh::BorshDeserialize + PartialEq + std::fmt::Debug>(
    value: &T,
) {
    let bytes = encode(value);
    assert_eq!(&decode::<T>(&bytes, 1 << 22).unwrap(), value);
}

proptest! {
    #[test]
    fn state_keys_round_trip(key in state_key()) {
        let bytes = key.to_bytes();
        prop_assert_eq!(decode::<StateKey>(&bytes, 4096).unwrap(), key);
    }

    #[test]
    fn records_round_trip(
        a in address(), b in address(), x in any::<u128>(), y in any::<u64>(), z in any::<u32>(), flag in any::<bool>(), s in subnetwork()
    ) {
        round_trip(&Account { balance: Amount(x), nonce: y, credits: Credits(y / 3) });
        round_trip(&ChainState { height: y, timestamp_ms: y / 2, epoch: Epoch(y / 7), total_supply: Amount(x), total_burned: Amount(x / 2),
            total_emitted: Amount(x / 3), total_claimed: Amount(x / 5), treasury: Amount(x / 7), next_proposal: y / 11, signers_counted_through: y / 13,
            unbonded_in_epoch: Amount(x / 17), unbonded_epoch: Epoch(y / 19) });
        round_trip(&DeviceRecord { owner: a, subnetwork: s, maker: flag.then_some(b.0), registered_height: y, location: None,
            location_count: z, retired: flag });
        round_trip(&Validators([(a, Amount(x))].into_iter().collect()));
        round_trip(&ValidatorInfo { node_key: a.0, seat_keys: vec![b.0], pending_keys: flag.then(|| PendingKeys { node_key: b.0, seat_keys: vec![a.0] }),
            stake: Amount(x), admitted: Amount(x / 2), jail: if flag { Jail::Downtime { epoch: Epoch(y) } } else { Jail::DoubleSign } });
        round_trip(&ValidatorSet { epoch: Epoch(y), seat_size: Amount(x), members: vec![ValidatorSetMember { address: a, node_key: b.0, stake: Amount(x), seats: vec![a.0, b.0] }], waiting: Amount(x) });
        round_trip(&Liveness { counted: y, missed: vec![y / 2, y / 3] });
        round_trip(&Oracles([(a, OracleInfo { stake: Amount(x), price: flag.then_some(PricePost { price: Price(y), posted_ms: y / 2 }) })].into_iter().collect()));
        round_trip(&Unbondings(vec![UnbondingEntry { role: if flag { StakeRole::Oracle } else { StakeRole::Validator }, amount: Amount(x), release_epoch: Epoch(y), unbonded_epoch: Epoch(x as u64) }]));
        round_trip(&PriceReference { price: Price(y), time_ms: y / 3 });
        round_trip(&OracleStakes([(a, Amount(x)), (b, Amount(x / 2))].into_iter().collect()));
        round_trip(&RewardRootRecord { epoch: Epoch(y), root: RewardNode { hash: Hash(a.0 .0), sum: Amount(x) }, accepted_height: y, claimed_total: Amount(x / 2) });
        round_trip(&MintWindow(vec![(Epoch(y), Amount(x))]));
        round_trip(&LockRecord { amount: Amount(x), end_epoch: Epoch(y) });
        round_trip(&LockSums { amount: x, amount_end: x / 3 });
        round_trip(&Proposal { id: y, proposer: a, action: ProposalAction::TreasurySpend { to: b, amount: Amount(x) }, description: "d".into(),
            created_height: y, voting_end_height: y, total_power: x, yes: x / 2, no: x / 3, abstain: x / 5, status: ProposalStatus::Open });
        round_trip(&VoteRecord { choice: VoteChoice::No, power: x });
        round_trip(&OffenceRecord { validator: a, slashed: Amount(x), height: y, reported_by: Hash(b.0 .0) });
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_state_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode::<StateKey>(&bytes, 4096);
        let _ = decode::<Account>(&bytes, 4096);
        let _ = decode::<Validators>(&bytes, 4096);
        let _ = decode::<Proposal>(&bytes, 4096);
        let _ = decode::<ChainState>(&bytes, 4096);
        let _ = serde_json::from_slice::<Genesis>(&bytes);
    }
}

#[test]
fn genesis_json_round_trips() {
    let genesis = test_genesis();
    let text = serde_json::to_string_pretty(&genesis).unwrap();
    assert_eq!(serde_json::from_str::<Genesis>(&text).unwrap(), genesis);
}

proptest! {
    /// The light client names the validator-set key without the ledger: its bytes must be the
    /// ledger's own, or no hand-off would check.
    #[test]
    fn the_light_clients_validator_set_key_is_the_ledgers(epoch in any::<u64>()) {
        prop_assert_eq!(
            cairn_light::validators::validator_set_key(epoch),
            StateKey::ValidatorSet(Epoch(epoch)).to_bytes()
        );
    }
}
