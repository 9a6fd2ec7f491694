//! Differential test: the ledger's double-sign evidence checks exactly the bytes commonware's
//! simplex signs, so votes taken from consensus are evidence as they are.

use cairn_node::slasher::evidence_from_activity;
use cairn_node::types::{cairn_key, namespace, BlockDigest, ConsensusScheme};
use cairn_types::evidence::{EvidenceError, VoteKind};
use cairn_types::keys::SecretKey;
use cairn_types::params::ChainId;
use commonware_consensus::simplex::types::{
    Activity, ConflictingFinalize, ConflictingNotarize, Finalize, Notarize, Proposal,
};
use commonware_consensus::types::{Epoch, Round, View};
use commonware_cryptography::ed25519::PrivateKey;
use commonware_cryptography::Signer;
use commonware_utils::ordered::Set;

const CHAIN: &str = "cairn-evidence-test";

fn setup() -> (
    Vec<PrivateKey>,
    Set<commonware_cryptography::ed25519::PublicKey>,
) {
    let keys: Vec<PrivateKey> = (0..4).map(PrivateKey::from_seed).collect();
    let participants = Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
    (keys, participants)
}

fn scheme(
    key: &PrivateKey,
    participants: &Set<commonware_cryptography::ed25519::PublicKey>,
) -> ConsensusScheme {
    ConsensusScheme::signer(&namespace(CHAIN), participants.clone(), key.clone()).unwrap()
}

fn proposal(view: u64, parent: u64, payload: u8) -> Proposal<BlockDigest> {
    Proposal::new(
        Round::new(Epoch::new(3), View::new(view)),
        View::new(parent),
        commonware_cryptography::blake3::Digest([payload; 32]),
    )
}

#[test]
fn conflicting_notarizes_from_commonware_are_valid_evidence() {
    let (keys, participants) = setup();
    let signer = scheme(&keys[1], &participants);
    let a = Notarize::sign(&signer, proposal(700, 699, 1)).unwrap();
    let b = Notarize::sign(&signer, proposal(700, 699, 2)).unwrap();
    let activity = Activity::ConflictingNotarize(ConflictingNotarize::new(a, b));
    let evidence = evidence_from_activity(&activity, &participants).expect("evidence");
    assert_eq!(evidence.consensus_key, cairn_key(&keys[1].public_key()));
    assert_eq!(evidence.first.vote.kind, VoteKind::Notarize);
    assert_eq!(evidence.first.vote.epoch, 3);
    assert_eq!(evidence.first.vote.view, 700);
    assert_eq!(evidence.first.vote.parent_view, 699);
    let chain = ChainId::new(CHAIN).unwrap();
    assert_eq!(evidence.verify(&chain), Ok(()));
    // Not valid on another chain (the namespace differs), nor with a swapped block.
    let other = ChainId::new("another-chain").unwrap();
    assert_eq!(evidence.verify(&other), Err(EvidenceError::BadSignature));
    let mut forged = evidence.clone();
    forged.second.vote.block = cairn_types::hash::Hash([9; 32]);
    assert_eq!(forged.verify(&chain), Err(EvidenceError::BadSignature));
}

#[test]
fn conflicting_finalizes_from_commonware_are_valid_evidence() {
    let (keys, participants) = setup();
    let signer = scheme(&keys[2], &participants);
    // Same block, different parents: still two different proposals.
    let a = Finalize::sign(&signer, proposal(5, 4, 7)).unwrap();
    let b = Finalize::sign(&signer, proposal(5, 3, 7)).unwrap();
    let activity = Activity::ConflictingFinalize(ConflictingFinalize::new(a, b));
    let evidence = evidence_from_activity(&activity, &participants).expect("evidence");
    assert_eq!(evidence.first.vote.kind, VoteKind::Finalize);
    assert_eq!(evidence.verify(&ChainId::new(CHAIN).unwrap()), Ok(()));
}

#[test]
fn cairn_signs_the_same_bytes_as_commonware() {
    // ed25519 is deterministic: signing the same message with the same key gives the same
    // signature, so equal signatures mean equal signed bytes.
    let (keys, participants) = setup();
    let seed: [u8; 32] = {
        use commonware_codec::Encode;
        keys[0].encode().as_ref().try_into().unwrap()
    };
    let cairn_secret = SecretKey::from_seed(seed);
    let signer = scheme(&keys[0], &participants);
    for view in [1u64, 127, 128, 300, 1 << 40] {
        let n = Notarize::sign(&signer, proposal(view, view - 1, 5)).unwrap();
        let other = Notarize::sign(&signer, proposal(view, view - 1, 6)).unwrap();
        let activity = Activity::ConflictingNotarize(ConflictingNotarize::new(n, other));
        let evidence = evidence_from_activity(&activity, &participants).unwrap();
        let resigned = evidence
            .first
            .vote
            .clone()
            .sign(&cairn_secret, &ChainId::new(CHAIN).unwrap());
        assert_eq!(resigned.signature, evidence.first.signature, "view {view}");
    }
}

#[test]
fn other_activities_are_not_evidence() {
    let (keys, participants) = setup();
    let signer = scheme(&keys[0], &participants);
    let n = Notarize::sign(&signer, proposal(2, 1, 1)).unwrap();
    assert!(evidence_from_activity(&Activity::Notarize(n), &participants).is_none());
}

/// Two conflicting notarizes by a test-chain validator at `view`, as the ledger checks them.
fn ledger_evidence(chain_id: &ChainId, view: u64) -> cairn_types::evidence::DoubleSignEvidence {
    use cairn_types::evidence::{DoubleSignEvidence, Vote};
    let offender = cairn_ledger::testkit::key("validator-2/consensus");
    let vote = |block: u8| {
        Vote {
            epoch: 0,
            view,
            parent_view: view - 1,
            kind: VoteKind::Notarize,
            block: cairn_types::hash::Hash([block; 32]),
        }
        .sign(&offender, chain_id)
    };
    DoubleSignEvidence {
        consensus_key: offender.public_key(),
        first: vote(1),
        second: vote(2),
    }
}

/// A second offence is reported while the first report still waits in the pool: the reports
/// take consecutive nonces and both are pooled.
#[test]
fn the_slasher_reports_a_second_offence_while_the_first_is_pooled() {
    use cairn_ledger::testkit::{addr, key, TestChain};
    use cairn_node::chain::Chain;
    use cairn_node::mempool::MempoolConfig;
    let dir = tempfile::tempdir().unwrap();
    let test = TestChain::new(dir.path()).unwrap();
    let chain_id = test.ledger.config().chain_id.clone();
    let now = test.ledger.head().timestamp_ms + 1_000;
    let chain = Chain::new(test.ledger, MempoolConfig::default());
    let reporter = key("bob");
    let first =
        cairn_node::slasher::submit(&chain, &reporter, ledger_evidence(&chain_id, 7), now).unwrap();
    let second =
        cairn_node::slasher::submit(&chain, &reporter, ledger_evidence(&chain_id, 9), now).unwrap();
    assert_ne!(first, second);
    assert_eq!(chain.mempool_size().0, 2);
    assert_eq!(chain.next_nonce(&addr("bob")).unwrap(), 2);
}
