//! Transactions and the signed envelope.
//!
//! A [`Transaction`] names the chain, the sender, the sender's next nonce, the fee and one
//! [`Action`]. The sender signs [`Transaction::signing_digest`], a domain-separated hash of the
//! whole canonical encoding: the chain id stops replay on another chain, the nonce (which must be
//! exactly the account's next one) stops replay on this chain.
//!
//! The wire form is [`SignedTransaction`], at most [`MAX_TX_BYTES`] long; decode it with
//! [`SignedTransaction::decode`], which checks the size before reading anything.

use crate::address::{Address, DeviceId};
use crate::amount::{Amount, Credits, Price};
use crate::cell::Cell;
use crate::codec::{self, BoundedString, BoundedVec, CodecError};
use crate::epoch::Epoch;
use crate::evidence::DoubleSignEvidence;
use crate::hash::Hash;
use crate::keys::{PublicKey, SecretKey, Signature};
use crate::oracle_evidence::OracleDoubleSignEvidence;
use crate::params::{ChainId, ParamId};
use crate::reward_tree::{RewardNode, RewardProof};
use crate::subnetwork::{EmissionWeights, Subnetwork};
use crate::validator_keys::ValidatorKeys;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Largest encoded signed transaction, in bytes.
pub const MAX_TX_BYTES: usize = 256 * 1024;
/// Most claims in one claim transaction.
pub const MAX_CLAIMS_PER_TX: usize = 200;
/// Most oracle signatures on one reward root.
pub const MAX_ROOT_SIGNATURES: usize = 128;
/// Longest proposal description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 1024;
/// Longest maker name, in bytes.
pub const MAX_MAKER_NAME_BYTES: usize = 64;
/// Most payers settled by one reward root.
pub const MAX_SETTLEMENTS: usize = 2048;

/// What a transaction does.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Move tokens to another account.
    Transfer {
        /// Receiver.
        to: Address,
        /// Amount moved.
        amount: Amount,
    },
    /// Bond stake as a validator. The first bond registers the validator's keys (each proven);
    /// later bonds only add stake.
    BondValidator {
        /// Stake added.
        amount: Amount,
        /// The node and seat keys, on the first bond only.
        keys: Option<ValidatorKeys>,
    },
    /// Replace a validator's node and seat keys from the next validator set chosen on.
    RotateValidatorKeys {
        /// The new keys, each proven.
        keys: ValidatorKeys,
    },
    /// Leave the jail a validator was put in for missing votes (not for double signing).
    Unjail,
    /// Bond stake as an oracle committee member.
    BondOracle {
        /// Stake added.
        amount: Amount,
    },
    /// Start unbonding stake; it can be withdrawn after the unbonding period.
    Unbond {
        /// Validator or oracle stake.
        role: StakeRole,
        /// Stake removed.
        amount: Amount,
    },
    /// Move every matured unbonding back to the balance.
    WithdrawUnbonded,
    /// Report a validator's double signature; the ledger slashes it.
    ReportDoubleSign {
        /// Two conflicting signed votes.
        evidence: DoubleSignEvidence,
    },
    /// Register a device for the sender (its owner).
    RegisterDevice(RegisterDevice),
    /// Assert where a device is; costs data credits and is kept in the device's history.
    AssertLocation {
        /// The device.
        device: DeviceId,
        /// Its H3 cell.
        cell: Cell,
    },
    /// Give a device to another owner.
    TransferDevice {
        /// The device.
        device: DeviceId,
        /// New owner.
        new_owner: Address,
    },
    /// Retire a device for good.
    RetireDevice {
        /// The device.
        device: DeviceId,
    },
    /// Post the token's price (oracle committee members only).
    PostPrice {
        /// Price of one token.
        price: Price,
    },
    /// Burn tokens for data credits at the oracle price (see `docs/LEDGER.md`, Data credits).
    BurnForCredits {
        /// Tokens burned.
        amount: Amount,
        /// Account that receives the credits.
        recipient: Address,
        /// The burn is refused if it would buy fewer credits than this (slippage protection).
        min_credits: Credits,
    },
    /// Give data credits to a payer key, usable only for one sub-network.
    DelegateCredits {
        /// The key that may spend them.
        payer: Address,
        /// Where they may be spent.
        subnetwork: Subnetwork,
        /// Credits moved.
        credits: Credits,
    },
    /// Spend data credits on a service (delegated credits first, then the sender's own).
    SpendCredits {
        /// The service's sub-network.
        subnetwork: Subnetwork,
        /// Credits burned.
        credits: Credits,
        /// What was bought (an opaque reference kept in the receipt).
        usage: Hash,
    },
    /// Submit an epoch's reward root, signed by the oracle committee.
    SubmitRewardRoot(RewardRootSubmission),
    /// Claim rewards for one or many accounts.
    ClaimRewards {
        /// The claims.
        claims: BoundedVec<RewardClaim, MAX_CLAIMS_PER_TX>,
    },
    /// Lock tokens for voting power, or add to and extend an existing lock.
    Lock {
        /// Tokens added (may be zero to only extend).
        amount: Amount,
        /// The lock ends this many epochs from now (never earlier than it already did).
        duration_epochs: u64,
    },
    /// Take back an expired lock.
    Unlock,
    /// Open a governance proposal.
    Propose {
        /// What happens if it passes.
        action: ProposalAction,
        /// Why.
        description: BoundedString<MAX_DESCRIPTION_BYTES>,
    },
    /// Vote on an open proposal with the sender's lock.
    Vote {
        /// Proposal number.
        proposal: u64,
        /// The vote.
        choice: VoteChoice,
    },
    /// Close a proposal whose vote ended: execute it if it passed (after the timelock).
    ExecuteProposal {
        /// Proposal number.
        proposal: u64,
    },
    /// Commit the hash of this oracle's report-log manifest for a reward epoch that ended
    /// (oracle committee members only, within the commit window).
    CommitManifest(ManifestCommit),
    /// Attest that this oracle fetched the logs of committed manifests and found them whole
    /// (oracle committee members only, until the attest window closes).
    AttestManifests {
        /// The reward epoch.
        epoch: Epoch,
        /// The manifests fetched.
        manifests: BoundedVec<ManifestRef, MAX_ROOT_SIGNATURES>,
    },
    /// Report an oracle that signed two different reward roots for one epoch and sub-network;
    /// the ledger slashes its oracle stake and takes it off the committee.
    ReportOracleDoubleSign {
        /// The two signed roots.
        evidence: OracleDoubleSignEvidence,
    },
}

/// Longest endpoint an oracle serves its logs from, in bytes.
pub const MAX_ENDPOINT_BYTES: usize = 200;

/// An oracle's commitment to the report logs it holds for one reward epoch.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ManifestCommit {
    /// The reward epoch.
    pub epoch: Epoch,
    /// BLAKE3 hash of the manifest (the list of the oracle's log files and their hashes).
    pub manifest: Hash,
    /// Reports the files hold.
    pub reports: u64,
    /// Where the oracle serves the manifest and its files (`http://` or `https://`).
    pub endpoint: BoundedString<MAX_ENDPOINT_BYTES>,
}

/// One committed manifest, named by its oracle and hash.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct ManifestRef {
    /// The oracle that committed it.
    pub oracle: Address,
    /// Its hash.
    pub manifest: Hash,
}

/// Which stake an unbond takes from.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum StakeRole {
    /// Validator stake.
    Validator,
    /// Oracle stake.
    Oracle,
}

/// A device registration. The device's own key signs the binding to its owner, so nobody can
/// register a key they do not hold; a maker can vouch for the hardware by signing the device key.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RegisterDevice {
    /// The device's key.
    pub device: DeviceId,
    /// Its sub-network.
    pub subnetwork: Subnetwork,
    /// The maker that vouches for it, if any.
    pub maker: Option<MakerAttestation>,
    /// The device's signature over [`device_binding_digest`].
    pub device_signature: Signature,
}

/// A maker's signature over a device key ([`maker_attestation_digest`]).
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MakerAttestation {
    /// The maker's key (approved by governance).
    pub maker: PublicKey,
    /// The maker's signature.
    pub signature: Signature,
}

/// What a device signs to bind itself to an owner on one chain.
pub fn device_binding_digest(
    chain_id: &ChainId,
    device: &DeviceId,
    owner: &Address,
    subnetwork: Subnetwork,
) -> Hash {
    Hash::domain(
        "cairn device binding v1",
        &[
            &codec::encode(chain_id),
            &device.0 .0,
            &owner.0 .0,
            &[subnetwork as u8],
        ],
    )
}

/// What a maker signs to vouch for a device on one chain.
pub fn maker_attestation_digest(chain_id: &ChainId, device: &DeviceId) -> Hash {
    Hash::domain(
        "cairn maker attestation v1",
        &[&codec::encode(chain_id), &device.0 .0],
    )
}

/// An epoch's reward root for one sub-network with the committee's signatures.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RewardRootSubmission {
    /// The epoch whose rewards the root includes (cumulative up to and including it).
    pub epoch: Epoch,
    /// The sub-network.
    pub subnetwork: Subnetwork,
    /// Root of the Merkle sum tree of cumulative rewards; its sum is the cumulative total.
    pub root: RewardNode,
    /// Oracle signatures over [`reward_root_digest`].
    pub signatures: BoundedVec<OracleSignature, MAX_ROOT_SIGNATURES>,
    /// The credits each payer owes for the epoch's service (connectivity: the bytes its
    /// delegated key signed for), by payer address, strictly ascending; the ledger burns them
    /// from the payer's delegated credits for the sub-network.
    #[serde(default)]
    pub settlements: BoundedVec<Settlement, MAX_SETTLEMENTS>,
}

/// What one payer owes for an epoch's service in a sub-network.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Settlement {
    /// The payer key (holder of delegated credits).
    pub payer: Address,
    /// Credits to burn (capped by the oracles at the payer's delegated balance at the epoch's
    /// last block; the ledger never burns more than the payer holds).
    pub credits: Credits,
    /// What the service the payer signed for costs, before the cap (at least `credits`).
    pub signed: Credits,
}

/// One oracle's signature.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct OracleSignature {
    /// The oracle's account.
    pub oracle: Address,
    /// Its signature.
    pub signature: Signature,
}

/// What each oracle signs for a reward root and the settlements it carries.
pub fn reward_root_digest(
    chain_id: &ChainId,
    epoch: Epoch,
    subnetwork: Subnetwork,
    root: &RewardNode,
    settlements: &[Settlement],
) -> Hash {
    reward_root_digest_of(
        chain_id,
        epoch,
        subnetwork,
        root,
        &settlements_digest(settlements),
    )
}

pub use crate::oracle_evidence::reward_root_digest_of;

/// The digest of a root's settlements the ledger keeps, for auditors to compare with theirs.
pub fn settlements_digest(settlements: &[Settlement]) -> Hash {
    Hash::domain(
        "cairn settlements v1",
        &[&codec::encode(&settlements.to_vec())],
    )
}

/// A claim of one account's cumulative reward in one sub-network.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RewardClaim {
    /// The sub-network.
    pub subnetwork: Subnetwork,
    /// The account paid.
    pub account: Address,
    /// Its cumulative reward in the latest accepted root.
    pub cumulative: Amount,
    /// Proof of the leaf (account, cumulative) against that root.
    pub proof: RewardProof,
}

/// A vote.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum VoteChoice {
    /// For.
    Yes,
    /// Against.
    No,
    /// Counts toward quorum only.
    Abstain,
}

/// What a passed proposal does.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProposalAction {
    /// Change one parameter.
    SetParameter {
        /// Which.
        param: ParamId,
        /// New value (amounts in base units).
        #[serde(with = "crate::amount::u128_text")]
        value: u128,
    },
    /// Change the emission split.
    SetEmissionWeights {
        /// New weights (must sum to 10,000 bps).
        weights: EmissionWeights,
    },
    /// Approve a maker, whose attestations then vouch for devices.
    ApproveMaker {
        /// Maker's key.
        maker: PublicKey,
        /// Its name.
        name: BoundedString<MAX_MAKER_NAME_BYTES>,
    },
    /// Revoke a maker: no new devices under it (existing ones keep working).
    RevokeMaker {
        /// Maker's key.
        maker: PublicKey,
    },
    /// Pay from the treasury.
    TreasurySpend {
        /// Receiver.
        to: Address,
        /// Amount.
        amount: Amount,
    },
    /// Burn a share of an oracle's bonded and unbonding stake, for a price or a reward root the
    /// voters judge proven bad (the proof goes in the proposal's description).
    SlashOracle {
        /// The oracle's account.
        oracle: Address,
        /// Share burned, in basis points (1 to 10,000).
        bps: u64,
    },
    /// Switch the chain to another protocol version at a height (at least two epochs after the
    /// proposal executes). Nodes that do not run that version stop at that height.
    ScheduleUpgrade {
        /// The new version (higher than the one in force).
        version: u32,
        /// First height built under it.
        height: u64,
    },
}

/// A transaction before signing.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Transaction {
    /// The chain it is for.
    pub chain_id: ChainId,
    /// The account that signs and pays.
    pub sender: Address,
    /// Must equal the sender's number of executed transactions.
    pub nonce: u64,
    /// Fee, burned; at least the `tx_fee_min` parameter.
    pub fee: Amount,
    /// What it does.
    pub action: Action,
}

impl Transaction {
    /// The digest the sender signs.
    pub fn signing_digest(&self) -> Hash {
        Hash::domain("cairn transaction v1", &[&codec::encode(self)])
    }

    /// Signs with `key` (which should be the sender's).
    pub fn sign(self, key: &SecretKey) -> SignedTransaction {
        let signature = key.sign(&self.signing_digest());
        SignedTransaction {
            tx: self,
            signature,
        }
    }
}

/// A transaction with its sender's signature: the wire form.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignedTransaction {
    /// The transaction.
    pub tx: Transaction,
    /// The sender's signature over [`Transaction::signing_digest`].
    pub signature: Signature,
}

impl SignedTransaction {
    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes wire bytes, refusing more than [`MAX_TX_BYTES`] before reading them.
    pub fn decode(bytes: &[u8]) -> Result<SignedTransaction, CodecError> {
        codec::decode(bytes, MAX_TX_BYTES)
    }

    /// The transaction's id: the hash of its canonical bytes.
    pub fn id(&self) -> Hash {
        Hash::domain("cairn transaction id v1", &[&self.encode()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{SignedVote, Vote, VoteKind};
    use proptest::prelude::*;

    fn chain() -> ChainId {
        ChainId::new("cairn-test").unwrap()
    }

    fn sample_actions() -> Vec<Action> {
        let pk = SecretKey::from_label("k").public_key();
        let addr = Address(pk);
        let dev = DeviceId(pk);
        let sig = Signature([7; 64]);
        let vote = |b: u8| SignedVote {
            vote: Vote {
                epoch: 1,
                view: 2,
                parent_view: 1,
                kind: VoteKind::Finalize,
                block: Hash([b; 32]),
            },
            signature: sig,
        };
        vec![
            Action::Transfer {
                to: addr,
                amount: Amount(5),
            },
            Action::BondValidator {
                amount: Amount(1),
                keys: Some(ValidatorKeys::derive(
                    &chain(),
                    &addr,
                    &SecretKey::from_label("node"),
                    0,
                    2,
                )),
            },
            Action::BondValidator {
                amount: Amount(1),
                keys: None,
            },
            Action::RotateValidatorKeys {
                keys: ValidatorKeys::derive(&chain(), &addr, &SecretKey::from_label("node"), 1, 1),
            },
            Action::Unjail,
            Action::BondOracle { amount: Amount(1) },
            Action::Unbond {
                role: StakeRole::Oracle,
                amount: Amount(1),
            },
            Action::WithdrawUnbonded,
            Action::ReportDoubleSign {
                evidence: DoubleSignEvidence {
                    consensus_key: pk,
                    first: vote(1),
                    second: vote(2),
                },
            },
            Action::RegisterDevice(RegisterDevice {
                device: dev,
                subnetwork: Subnetwork::Coverage,
                maker: Some(MakerAttestation {
                    maker: pk,
                    signature: sig,
                }),
                device_signature: sig,
            }),
            Action::AssertLocation {
                device: dev,
                cell: Cell::from_lat_lng(1.0, 2.0, 10).unwrap(),
            },
            Action::TransferDevice {
                device: dev,
                new_owner: addr,
            },
            Action::RetireDevice { device: dev },
            Action::PostPrice { price: Price(42) },
            Action::BurnForCredits {
                amount: Amount(3),
                recipient: addr,
                min_credits: Credits(0),
            },
            Action::DelegateCredits {
                payer: addr,
                subnetwork: Subnetwork::Energy,
                credits: Credits(9),
            },
            Action::SpendCredits {
                subnetwork: Subnetwork::Storage,
                credits: Credits(1),
                usage: Hash([1; 32]),
            },
            Action::SubmitRewardRoot(RewardRootSubmission {
                epoch: Epoch(3),
                subnetwork: Subnetwork::Sensing,
                root: RewardNode {
                    hash: Hash([2; 32]),
                    sum: Amount(10),
                },
                signatures: BoundedVec::new(vec![OracleSignature {
                    oracle: addr,
                    signature: sig,
                }])
                .unwrap(),
                settlements: BoundedVec::new(vec![Settlement {
                    payer: addr,
                    credits: Credits(5),
                    signed: Credits(7),
                }])
                .unwrap(),
            }),
            Action::ClaimRewards {
                claims: BoundedVec::new(vec![RewardClaim {
                    subnetwork: Subnetwork::Compute,
                    account: addr,
                    cumulative: Amount(10),
                    proof: RewardProof {
                        leaf_index: 0,
                        siblings: BoundedVec::new(vec![]).unwrap(),
                    },
                }])
                .unwrap(),
            },
            Action::Lock {
                amount: Amount(1),
                duration_epochs: 10,
            },
            Action::Unlock,
            Action::Propose {
                action: ProposalAction::SetParameter {
                    param: ParamId::QuorumBps,
                    value: 3000,
                },
                description: BoundedString::new("raise quorum").unwrap(),
            },
            Action::Propose {
                action: ProposalAction::ApproveMaker {
                    maker: pk,
                    name: BoundedString::new("acme").unwrap(),
                },
                description: BoundedString::default(),
            },
            Action::Vote {
                proposal: 1,
                choice: VoteChoice::Abstain,
            },
            Action::ExecuteProposal { proposal: 1 },
            Action::CommitManifest(ManifestCommit {
                epoch: Epoch(3),
                manifest: Hash([4; 32]),
                reports: 9,
                endpoint: BoundedString::new("https://oracle.example:7400").unwrap(),
            }),
            Action::AttestManifests {
                epoch: Epoch(3),
                manifests: BoundedVec::new(vec![ManifestRef {
                    oracle: Address(pk),
                    manifest: Hash([4; 32]),
                }])
                .unwrap(),
            },
            Action::ReportOracleDoubleSign {
                evidence: crate::oracle_evidence::OracleDoubleSignEvidence {
                    oracle: Address(pk),
                    epoch: Epoch(3),
                    subnetwork: Subnetwork::Sensing,
                    first: crate::oracle_evidence::SignedRoot {
                        root: RewardNode {
                            hash: Hash([1; 32]),
                            sum: Amount(5),
                        },
                        settlements: Hash([2; 32]),
                        signature: Signature([3; 64]),
                    },
                    second: crate::oracle_evidence::SignedRoot {
                        root: RewardNode {
                            hash: Hash([4; 32]),
                            sum: Amount(6),
                        },
                        settlements: Hash([2; 32]),
                        signature: Signature([5; 64]),
                    },
                },
            },
        ]
    }

    #[test]
    fn every_action_round_trips_in_binary_and_json() {
        let key = SecretKey::from_label("sender");
        for (nonce, action) in sample_actions().into_iter().enumerate() {
            let signed = Transaction {
                chain_id: chain(),
                sender: Address(key.public_key()),
                nonce: nonce as u64,
                fee: Amount(1000),
                action,
            }
            .sign(&key);
            let bytes = signed.encode();
            assert_eq!(SignedTransaction::decode(&bytes), Ok(signed.clone()));
            let json = serde_json::to_string(&signed).unwrap();
            assert_eq!(
                serde_json::from_str::<SignedTransaction>(&json).unwrap(),
                signed
            );
            assert_eq!(
                signed
                    .tx
                    .sender
                    .0
                    .verify(&signed.tx.signing_digest(), &signed.signature),
                Ok(())
            );
        }
    }

    #[test]
    fn signature_binds_chain_and_nonce() {
        let key = SecretKey::from_label("sender");
        let tx = Transaction {
            chain_id: chain(),
            sender: Address(key.public_key()),
            nonce: 0,
            fee: Amount(1000),
            action: Action::WithdrawUnbonded,
        };
        let signed = tx.clone().sign(&key);
        let mut other_chain = tx.clone();
        other_chain.chain_id = ChainId::new("other").unwrap();
        assert!(key
            .public_key()
            .verify(&other_chain.signing_digest(), &signed.signature)
            .is_err());
        let mut other_nonce = tx;
        other_nonce.nonce = 1;
        assert!(key
            .public_key()
            .verify(&other_nonce.signing_digest(), &signed.signature)
            .is_err());
    }

    /// Frozen wire format: if this changes, every signed transaction in the wild is invalidated.
    /// Regenerate only on purpose, and say so in the commit.
    #[test]
    fn transfer_encoding_is_frozen() {
        let key = SecretKey::from_label("sender");
        let signed = Transaction {
            chain_id: chain(),
            sender: Address(key.public_key()),
            nonce: 7,
            fee: Amount(1000),
            action: Action::Transfer {
                to: Address(SecretKey::from_label("receiver").public_key()),
                amount: Amount(12_500_000),
            },
        }
        .sign(&key);
        assert_eq!(
            signed.encode().len(),
            4 + 10 + 32 + 8 + 16 + 1 + 32 + 16 + 64
        );
        assert_eq!(
            signed.id().to_string(),
            include_str!("../tests/vectors/transfer_id.txt").trim()
        );
    }

    #[test]
    fn oversized_input_refused_before_decoding() {
        let bytes = vec![0u8; MAX_TX_BYTES + 1];
        assert!(matches!(
            SignedTransaction::decode(&bytes),
            Err(CodecError::TooLong { .. })
        ));
    }

    /// The encoding of a signed transaction carrying the `index`-th sample action.
    fn sample_encoded(index: usize) -> Vec<u8> {
        let key = SecretKey::from_label("sender");
        let actions = sample_actions();
        let action = actions[index % actions.len()].clone();
        Transaction {
            chain_id: chain(),
            sender: Address(key.public_key()),
            nonce: 1,
            fee: Amount(1),
            action,
        }
        .sign(&key)
        .encode()
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = SignedTransaction::decode(&bytes);
        }

        /// Random bytes rarely get past the chain id's length prefix; these keep a real
        /// transaction's first bytes (chain id, sender, nonce, fee, part of the action) and
        /// replace the rest, so every later field's decoder meets garbage too.
        #[test]
        fn arbitrary_bytes_after_a_valid_prefix_never_panic(
            index in 0usize..22,
            keep in 0usize..256,
            tail in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let mut bytes = sample_encoded(index);
            bytes.truncate(keep.min(bytes.len()));
            bytes.extend_from_slice(&tail);
            if let Ok(decoded) = SignedTransaction::decode(&bytes) {
                prop_assert_eq!(decoded.encode(), bytes);
            }
        }

        #[test]
        fn mutated_transactions_never_panic(index in 0usize..22, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
            let mut bytes = sample_encoded(index);
            for (pos, val) in flips {
                let i = pos % bytes.len();
                bytes[i] ^= val;
            }
            if let Ok(decoded) = SignedTransaction::decode(&bytes) {
                // Whatever decodes re-encodes to the same bytes: the encoding is canonical.
                prop_assert_eq!(decoded.encode(), bytes);
            }
        }

        #[test]
        fn transfers_round_trip(nonce in any::<u64>(), fee in any::<u128>(), amount in any::<u128>(), to in any::<[u8; 32]>()) {
            let key = SecretKey::from_label("sender");
            let signed = Transaction {
                chain_id: chain(),
                sender: Address(key.public_key()),
                nonce,
                fee: Amount(fee),
                action: Action::Transfer { to: Address(PublicKey(to)), amount: Amount(amount) },
            }.sign(&key);
            prop_assert_eq!(SignedTransaction::decode(&signed.encode()), Ok(signed));
        }
    }
}
