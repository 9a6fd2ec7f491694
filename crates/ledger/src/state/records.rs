//! The values stored in the state, one type per key.
//!
//! Supply accounting: `ChainState::total_supply` always equals the sum of every balance, stake,
//! unbonding entry, lock and the treasury. Burns lower it, mints raise it; the ledger's tests check
//! the identity after every block.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::reward_tree::RewardNode;
use cairn_types::tx::{ProposalAction, StakeRole, VoteChoice};
use cairn_types::{Address, Amount, Cell, Credits, Epoch, Hash, Price, PublicKey, Subnetwork};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Height, time, supply and counters.
#[derive(
    Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct ChainState {
    /// Height of the last applied block (0 = genesis).
    pub height: u64,
    /// Its timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Its epoch.
    pub epoch: Epoch,
    /// Every token in existence.
    pub total_supply: Amount,
    /// Every token ever burned (fees, data credits, slashing).
    pub total_burned: Amount,
    /// Every token the emission schedule has assigned (minted or pooled for rewards).
    pub total_emitted: Amount,
    /// Every token minted by reward claims.
    pub total_claimed: Amount,
    /// The treasury's balance (spent only by governance).
    pub treasury: Amount,
    /// Number of the next governance proposal.
    pub next_proposal: u64,
    /// The last block whose finalization signers were counted (see [`crate::liveness`]).
    pub signers_counted_through: u64,
    /// Seated validator stake unbonded in the current epoch (the unbond churn limit).
    pub unbonded_in_epoch: Amount,
    /// The epoch `unbonded_in_epoch` counts for.
    pub unbonded_epoch: Epoch,
}

/// An account.
#[derive(
    Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Account {
    /// Spendable tokens.
    pub balance: Amount,
    /// Transactions executed so far (the next one must carry this nonce).
    pub nonce: u64,
    /// Data credits (not transferable).
    pub credits: Credits,
}

/// A registered device.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Current owner.
    pub owner: Address,
    /// Sub-network.
    pub subnetwork: Subnetwork,
    /// The maker that vouched for it, if any.
    pub maker: Option<PublicKey>,
    /// Height of registration.
    pub registered_height: u64,
    /// Last asserted location.
    pub location: Option<Cell>,
    /// Number of location assertions (entries of the history).
    pub location_count: u32,
    /// Retired devices earn nothing and cannot be changed.
    pub retired: bool,
}

/// One location assertion.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct LocationEntry {
    /// The cell.
    pub cell: Cell,
    /// Height of the assertion.
    pub height: u64,
}

/// A maker approved by governance.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MakerRecord {
    /// Its name.
    pub name: String,
    /// False once revoked: its attestations no longer onboard devices.
    pub approved: bool,
    /// Once revoked: the first reward epoch its devices earn nothing in (the one after the
    /// epoch of the revocation, so the epoch under way still pays).
    pub revoked_from: Option<u64>,
}

/// Why a validator is jailed, if it is.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Debug,
    Default,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Jail {
    /// Not jailed.
    #[default]
    Free,
    /// Missed too many votes in epoch `epoch`; an `Unjail` transaction frees it from the epoch
    /// after.
    Downtime {
        /// The epoch it missed the votes of.
        epoch: Epoch,
    },
    /// Double-signed: jailed for good.
    DoubleSign,
}

impl Jail {
    /// True unless free.
    pub fn is_jailed(&self) -> bool {
        !matches!(self, Jail::Free)
    }
}

/// Keys registered for the next validator set chosen (a rotation in waiting).
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct PendingKeys {
    /// The new node key.
    pub node_key: PublicKey,
    /// The new seat keys.
    pub seat_keys: Vec<PublicKey>,
}

/// A validator: its keys, its stake and whether it is jailed.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ValidatorInfo {
    /// Its identity on the peer-to-peer network.
    pub node_key: PublicKey,
    /// One key per seat it may hold, in order.
    pub seat_keys: Vec<PublicKey>,
    /// Keys that replace these when the next validator set is chosen.
    pub pending_keys: Option<PendingKeys>,
    /// Bonded stake.
    pub stake: Amount,
    /// The part of its stake the churn limit has let count for seats so far.
    pub admitted: Amount,
    /// Jailed validators hold no seat and earn no emission.
    pub jail: Jail,
}

/// The validators eligible for seats (unjailed, with stake), by account: the index the epoch
/// step reads. Jailed and fully unbonded validators leave it, so it cannot be filled by them.
#[derive(
    Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Validators(pub BTreeMap<Address, Amount>);

pub use cairn_light::validators::{ValidatorSet, ValidatorSetMember};

/// Votes of one epoch's seats, counted from the finalization certificates that blocks carry.
#[derive(
    Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Liveness {
    /// Blocks of the epoch whose finalization signers were counted.
    pub counted: u64,
    /// Per seat, in the order of the seat keys' bytes: blocks whose finalization it did not sign.
    pub missed: Vec<u64>,
}

/// A price posted by an oracle.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct PricePost {
    /// The price.
    pub price: Price,
    /// Block time when it was posted.
    pub posted_ms: u64,
}

/// An oracle committee member.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct OracleInfo {
    /// Bonded stake (its weight when signing reward roots).
    pub stake: Amount,
    /// Its last price.
    pub price: Option<PricePost>,
}

/// The price the last burn or post with a usable price gave (see `crate::exec::prices`).
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct PriceReference {
    /// The price.
    pub price: Price,
    /// Time of the block that set it (block time, milliseconds since the Unix epoch).
    pub time_ms: u64,
}

/// Each oracle's stake at the start of an epoch.
#[derive(
    Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct OracleStakes(pub BTreeMap<Address, Amount>);

/// All oracle committee members, by account.
#[derive(
    Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Oracles(pub BTreeMap<Address, OracleInfo>);

/// Stake on its way out.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct UnbondingEntry {
    /// Which stake it came from.
    pub role: StakeRole,
    /// How much.
    pub amount: Amount,
    /// First epoch in which it can be withdrawn.
    pub release_epoch: Epoch,
    /// The epoch it was unbonded in (it answers for offences up to
    /// `release_epoch − unbonded_epoch` epochs old, the period fixed then).
    pub unbonded_epoch: Epoch,
}

/// An account's unbonding entries (bounded: see `MAX_UNBONDING_ENTRIES`).
#[derive(
    Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Unbondings(pub Vec<UnbondingEntry>);

/// A sub-network's pools that fell out of a root's reach unpaid, held for a later root.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Debug,
    Default,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct HeldPools {
    /// Their total.
    pub amount: Amount,
    /// The latest consensus epoch among them: only a root paying through this epoch or later
    /// takes them (its oracles' cumulative rewards count every held epoch).
    pub through: Epoch,
}

/// The latest accepted reward root of a sub-network.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RewardRootRecord {
    /// The epoch it covers (cumulatively).
    pub epoch: Epoch,
    /// The root; its sum is the cumulative total of rewards.
    pub root: RewardNode,
    /// Height at which it was accepted.
    pub accepted_height: u64,
    /// Everything claimed from this sub-network so far (never above `root.sum`).
    pub claimed_total: Amount,
}

/// A payer's settlements in one sub-network: the last one and the totals.
#[derive(
    Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct SettledRecord {
    /// The reward epoch of the last settlement.
    pub epoch: Epoch,
    /// What the service it signed for in that epoch cost.
    pub owed: Credits,
    /// What was burned for it (less than `owed` when the payer held less).
    pub burned: Credits,
    /// All credits burned by settlements, over every epoch.
    pub burned_total: Credits,
    /// All credits signed for but not held (0 for a payer that kept its balance up; the
    /// devices' bytes it did not pay for did not count).
    pub short_total: Credits,
}

/// The manifests committed for one reward epoch, by oracle.
#[derive(
    Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct EpochManifests(pub BTreeMap<Address, ManifestEntry>);

/// One oracle's committed manifest.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// BLAKE3 hash of the manifest.
    pub manifest: Hash,
    /// Reports its files hold (as the oracle says).
    pub reports: u64,
    /// Where the oracle serves the manifest and its files.
    pub endpoint: String,
    /// Height of the commit.
    pub committed_height: u64,
    /// Oracles that attested they fetched its files, in order of address.
    pub attesters: BTreeSet<Address>,
    /// True once the attesters hold 2/3 of the oracle stake recorded for the epoch: the
    /// epoch's rewards are computed from the reports of counted manifests only.
    pub counted: bool,
}

/// Mints by reward claims per epoch, within the circuit breaker's window.
#[derive(
    Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct MintWindow(pub Vec<(Epoch, Amount)>);

/// A vote-escrow lock.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct LockRecord {
    /// Tokens locked.
    pub amount: Amount,
    /// First epoch in which the lock has expired (voting power 0, withdrawable).
    pub end_epoch: Epoch,
}

/// Sums over the locks ending in one epoch, or over all live locks.
///
/// Voting power of a lock at epoch `e` is `amount × (end − e) / lock_epochs_max` for `e < end`.
/// Summed over live locks that is `(Σ amount·end − e·Σ amount) / lock_epochs_max`, so the total
/// is known from two sums, updated when a lock changes and when locks expire.
#[derive(
    Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct LockSums {
    /// Σ amount.
    pub amount: u128,
    /// Σ amount × end epoch.
    pub amount_end: u128,
}

/// Where a proposal stands.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Open for votes, or closed but not yet executed.
    Open,
    /// Passed and executed.
    Executed,
    /// Did not reach quorum or threshold.
    Rejected,
}

/// A governance proposal.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Proposal {
    /// Its number.
    pub id: u64,
    /// Who made it.
    pub proposer: Address,
    /// What it does.
    pub action: ProposalAction,
    /// Why.
    pub description: String,
    /// Height at which it was made.
    pub created_height: u64,
    /// Last height at which votes are accepted.
    pub voting_end_height: u64,
    /// Total voting power when it was made (the base of the quorum).
    pub total_power: u128,
    /// Power voting yes.
    pub yes: u128,
    /// Power voting no.
    pub no: u128,
    /// Power abstaining.
    pub abstain: u128,
    /// Status.
    pub status: ProposalStatus,
}

/// An account's vote on a proposal.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct VoteRecord {
    /// The choice.
    pub choice: VoteChoice,
    /// The voting power it carried.
    pub power: u128,
}

/// A punished offence.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct OffenceRecord {
    /// The validator punished (or the oracle, for signing two roots).
    pub validator: Address,
    /// Stake burned.
    pub slashed: Amount,
    /// Height of the punishment.
    pub height: u64,
    /// The transaction that reported it.
    pub reported_by: Hash,
}
