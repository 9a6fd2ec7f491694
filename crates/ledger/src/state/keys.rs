//! Every key of the authenticated state.
//!
//! A key's bytes are the canonical encoding of [`StateKey`]; the authenticated tree indexes the
//! BLAKE3 hash of those bytes. Registries that are read whole and stay small (validators, oracles)
//! live under one key each; everything that grows with users (accounts, devices, locks) has a key
//! per item.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::{Address, DeviceId, Epoch, Hash, PublicKey, Subnetwork};
use serde::{Deserialize, Serialize};

/// A key of the ledger state.
#[derive(
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum StateKey {
    /// Height, time, supply and counters: [`super::records::ChainState`].
    ChainState,
    /// The genesis-fixed chain configuration.
    ChainConfig,
    /// Governance parameters.
    Params,
    /// An account's balance, nonce and data credits.
    Account(Address),
    /// A device's registration.
    Device(DeviceId),
    /// One entry of a device's location history (index from 0).
    DeviceLocation(DeviceId, u32),
    /// An approved (or revoked) maker.
    Maker(PublicKey),
    /// The validators eligible for seats and their stake.
    Validators,
    /// The validator set of an epoch (chosen at the first block of the epoch before; kept).
    ValidatorSet(Epoch),
    /// All oracle committee members, their stake and last posted price.
    Oracles,
    /// An account's unbonding stake.
    Unbonding(Address),
    /// A punished offence (so it is punished once).
    Offence(Hash),
    /// Credits delegated to a payer for one sub-network.
    DelegatedCredits(Address, Subnetwork),
    /// Credits spent in a sub-network, in total.
    CreditUsage(Subnetwork),
    /// The emission share of one sub-network for one epoch, not yet committed by a root.
    EmissionPool(Epoch, Subnetwork),
    /// The latest accepted reward root of a sub-network.
    RewardRoot(Subnetwork),
    /// What an account has claimed from a sub-network so far.
    RewardClaimed(Subnetwork, Address),
    /// Mints by reward claims in the circuit breaker's window.
    MintWindow,
    /// An account's vote-escrow lock.
    Lock(Address),
    /// Locks ending at the start of an epoch (to decay the total voting power).
    LockExpiry(Epoch),
    /// Totals of all live locks.
    GovTotals,
    /// A governance proposal.
    Proposal(u64),
    /// An account's vote on a proposal.
    ProposalVote(u64, Address),
    /// A validator's keys, stake and jail.
    Validator(Address),
    /// The account that registered a consensus key (node or seat key), kept for good: a key
    /// serves one validator only, and evidence against it finds its owner.
    ConsensusKeyOwner(PublicKey),
    /// Votes counted and missed by each seat of an epoch.
    Liveness(Epoch),
    /// The price the last burn used, and when (the base of the per-block move limit).
    PriceReference,
    /// Each oracle's stake when an epoch began (the weights of that epoch's reward root).
    OracleStakes(Epoch),
    /// Totals of the live locks whose remaining time is above `lock_epochs_max` (they count
    /// with the full weight, capped).
    GovOverCap,
    /// The protocol version in force and the one scheduled ([`crate::protocol`]).
    Protocol,
    /// The report-log manifests oracles committed for a reward epoch, and who attested them.
    Manifests(Epoch),
    /// The reward root accepted for one reward epoch of a sub-network (kept: auditors replay
    /// an epoch against it, and check the previous cumulative rewards with it).
    RewardRootOf(Subnetwork, Epoch),
    /// The time (ms) of the block that ended a reward epoch (the first block of the next one):
    /// the manifest windows are counted from it.
    RewardEpochEnd(Epoch),
    /// What a payer was last settled for in a sub-network, and in total.
    Settled(Subnetwork, Address),
    /// The digest of the settlements the root of a reward epoch carried (kept for auditors).
    SettlementsOf(Subnetwork, Epoch),
    /// A sub-network's pools that fell out of a root's reach unpaid (no root for more than
    /// `MAX_ROOT_EPOCH_SPAN` epochs), held for its next root: the oracles' cumulative rewards
    /// still count them, so a root after a long outage must still fit.
    UnpaidPools(Subnetwork),
    /// The oracle stake evicted from the full committee in the latest epoch that evicted any:
    /// `(epoch, stake)` ([`crate::exec::staking`]'s eviction churn limit).
    OracleEvictions,
}

impl StateKey {
    /// The key's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        cairn_types::codec::encode(self)
    }
}
