//! The ledger's errors: why a transaction, a block or a storage operation was refused.
//!
//! Every refusal of user input is a [`TxError`] variant specific enough to act on ("nonce 4
//! expected, got 6", "price stale: 0 fresh prices, 1 needed"), and a refused transaction changes
//! no state at all, not even its nonce or fee.

use cairn_types::amount::AmountError;
use cairn_types::codec::CodecError;
use cairn_types::evidence::EvidenceError;
use cairn_types::keys::KeyError;
use cairn_types::oracle_evidence::OracleEvidenceError;
use cairn_types::params::ParamError;
use cairn_types::reward_tree::RewardProofError;
use cairn_types::validator_keys::KeysError;
use cairn_types::{Address, Amount, Credits, DeviceId, Epoch, Hash, PublicKey, Subnetwork};

/// A storage failure (disk, corruption). Not the user's fault; the block is not applied.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(String),
    /// Stored bytes do not decode.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The authenticated tree reported an error.
    #[error("state tree error: {0}")]
    Tree(String),
    /// The directory holds no initialised ledger.
    #[error("no ledger at {0}: initialise it from a genesis file first")]
    NotInitialised(String),
    /// The directory already holds a ledger.
    #[error("a ledger already exists at {0}")]
    AlreadyInitialised(String),
    /// No state is kept for the requested height.
    #[error("no state at height {0}")]
    UnknownHeight(u64),
    /// A commit for a height other than the next one.
    #[error("commit for height {got}, expected the next height {expected}")]
    OutOfOrder {
        /// The next height.
        expected: u64,
        /// The height given.
        got: u64,
    },
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

macro_rules! redb_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Database(e.to_string())
            }
        }
    )*};
}
redb_errors!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Why a transaction was refused. The transaction changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    // ---- envelope ----
    /// The bytes are not a transaction.
    #[error("malformed transaction: {0}")]
    Malformed(#[from] CodecError),
    /// Signed for another chain.
    #[error("transaction is for chain `{got}`, this is `{expected}`")]
    WrongChain {
        /// This chain.
        expected: String,
        /// The transaction's chain.
        got: String,
    },
    /// The sender's signature does not verify.
    #[error("signature does not verify for the sender")]
    BadSignature,
    /// The nonce is not the sender's next one (a replay, or a gap).
    #[error("nonce {got} is not the sender's next nonce {expected}")]
    NonceMismatch {
        /// The account's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The fee is below the minimum.
    #[error("fee {got} is below the minimum {min}")]
    FeeTooLow {
        /// Minimum fee.
        min: Amount,
        /// Offered fee.
        got: Amount,
    },
    /// Not enough tokens.
    #[error("insufficient balance: {needed} needed, {available} available")]
    InsufficientBalance {
        /// Amount needed (including the fee).
        needed: Amount,
        /// Balance.
        available: Amount,
    },
    /// A sum of amounts overflows.
    #[error("amount overflow")]
    AmountOverflow,
    /// A zero amount where something must move.
    #[error("amount must be greater than zero")]
    ZeroAmount,
    /// An amount given as text is invalid.
    #[error(transparent)]
    Amount(#[from] AmountError),

    // ---- staking ----
    /// The stake after bonding would be below the minimum.
    #[error("stake {got} is below the minimum {min}")]
    StakeTooLow {
        /// Minimum stake.
        min: Amount,
        /// Resulting stake.
        got: Amount,
    },
    /// The account has no validator stake.
    #[error("{0} is not a validator")]
    NotAValidator(Address),
    /// The account has no oracle stake.
    #[error("{0} is not an oracle committee member")]
    NotAnOracle(Address),
    /// Unbonding more than is bonded.
    #[error("cannot unbond {requested}: only {bonded} bonded")]
    InsufficientStake {
        /// Bonded stake.
        bonded: Amount,
        /// Requested.
        requested: Amount,
    },
    /// The consensus key already belongs to another validator (or was once registered: a key
    /// serves one validator only, for good).
    #[error("consensus key is already used by validator {0}")]
    ConsensusKeyInUse(Address),
    /// A first bond must register the validator's keys.
    #[error("a validator's first bond must register its node and seat keys")]
    KeysRequired,
    /// A later bond may not name keys (rotate them with `RotateValidatorKeys`).
    #[error("this validator's keys are registered; rotate them with a key rotation")]
    KeysAlreadySet,
    /// The keys do not prove possession, repeat, or are weak.
    #[error("invalid validator keys: {0}")]
    InvalidKeys(KeysError),
    /// A key that no honest signer has (small order or non-canonical).
    #[error("key {key:?} is weak: {error}")]
    WeakKey {
        /// The key.
        key: PublicKey,
        /// Why.
        error: KeyError,
    },
    /// `Unjail` from a validator not jailed for downtime.
    #[error("validator {0} is not jailed for downtime")]
    NotJailedForDowntime(Address),
    /// `Unjail` before the jail's end.
    #[error("the jail ends at epoch {until}; now is epoch {now}")]
    JailNotServed {
        /// First epoch it may leave.
        until: Epoch,
        /// The current epoch.
        now: Epoch,
    },
    /// A jailed validator cannot bond again.
    #[error("validator {0} is jailed")]
    Jailed(Address),
    /// Seated validators already unbonded this epoch's share of stake.
    #[error("the churn limit allows {left} more validator stake to unbond in epoch {epoch}; try next epoch")]
    ChurnLimit {
        /// The epoch.
        epoch: Epoch,
        /// What may still unbond in it.
        left: Amount,
    },
    /// The full oracle committee already lost this epoch's share of stake to evictions.
    #[error("the full oracle committee may lose only {left} more stake to evictions in the reward epoch that began at epoch {epoch}; bond again in the next reward epoch")]
    OracleEvictionChurn {
        /// The epoch.
        epoch: Epoch,
        /// What may still be evicted in it.
        left: Amount,
    },
    /// A key rotation already waits for the next validator set.
    #[error("validator {0} already has a key rotation waiting for the next validator set")]
    RotationPending(Address),
    /// No unbonding entry has matured.
    #[error("no unbonded stake is ready to withdraw yet")]
    NothingToWithdraw,
    /// Too many unbonding entries in flight.
    #[error("at most {0} unbonding entries may be in flight")]
    TooManyUnbondings(usize),
    /// Slashing evidence does not prove anything.
    #[error("invalid evidence: {0}")]
    InvalidEvidence(EvidenceError),
    /// Evidence of an oracle's two roots does not prove anything.
    #[error("invalid oracle evidence: {0}")]
    InvalidOracleEvidence(OracleEvidenceError),
    /// No validator has this consensus key.
    #[error("no validator has consensus key {0:?}")]
    UnknownConsensusKey(PublicKey),
    /// The offence was already punished.
    #[error("offence {0} was already punished")]
    AlreadyPunished(Hash),
    /// Evidence older than the unbonding period cannot be punished.
    #[error("evidence from epoch {evidence} is older than the oldest punishable epoch {oldest}")]
    EvidenceTooOld {
        /// The evidence's epoch.
        evidence: u64,
        /// Oldest epoch that can still be punished.
        oldest: u64,
    },

    // ---- devices ----
    /// The device key is already registered.
    #[error("device {0} is already registered")]
    DeviceExists(DeviceId),
    /// No such device.
    #[error("unknown device {0}")]
    UnknownDevice(DeviceId),
    /// Only the owner may do this.
    #[error("{sender} does not own device {device}")]
    NotDeviceOwner {
        /// The device.
        device: DeviceId,
        /// The sender.
        sender: Address,
    },
    /// The device is retired.
    #[error("device {0} is retired")]
    DeviceRetired(DeviceId),
    /// The device's signature over its binding does not verify.
    #[error("the device's signature over its binding to the owner does not verify")]
    BadDeviceSignature,
    /// The maker is not approved.
    #[error("unknown maker {0:?}")]
    UnknownMaker(PublicKey),
    /// The maker was revoked.
    #[error("maker {0:?} has been revoked")]
    MakerRevoked(PublicKey),
    /// The maker's attestation does not verify.
    #[error("the maker's attestation does not verify")]
    BadMakerSignature,
    /// The maker is already approved.
    #[error("maker {0:?} is already approved")]
    MakerExists(PublicKey),

    // ---- data credits ----
    /// Not enough data credits.
    #[error("insufficient data credits: {needed} needed, {available} available")]
    InsufficientCredits {
        /// Needed.
        needed: Credits,
        /// Available.
        available: Credits,
    },
    /// Too few fresh prices to burn.
    #[error("price is stale: {fresh} fresh price(s), {needed} needed")]
    PriceStale {
        /// Fresh prices.
        fresh: u64,
        /// Needed.
        needed: u64,
    },
    /// Fresh prices come from too little of the oracle stake.
    #[error(
        "fresh prices come from oracles holding {fresh_stake} of {total} oracle stake; 2/3 needed"
    )]
    PriceQuorum {
        /// Stake of the oracles with a fresh price.
        fresh_stake: Amount,
        /// All oracle stake.
        total: Amount,
    },
    /// The oracles disagree too much for a burn to be safe.
    #[error("the prices of 2/3 of the fresh oracle stake spread {spread_bps} bps of their median, more than the {max_bps} bps allowed")]
    PriceSpread {
        /// The narrowest range holding 2/3 (by stake) of fresh prices, in bps of the median.
        spread_bps: u64,
        /// `price_spread_max_bps`.
        max_bps: u64,
    },
    /// The burn would buy fewer credits than the sender asked for.
    #[error("the burn would buy {got}, fewer than the minimum {min}")]
    CreditsBelowMinimum {
        /// The sender's minimum.
        min: Credits,
        /// What the price gives.
        got: Credits,
    },
    /// No oracle stake was recorded for the epoch a root pays (it is too old).
    #[error("epoch {epoch} is too old for a reward root (oldest: {oldest})")]
    RootEpochTooOld {
        /// The root's epoch.
        epoch: Epoch,
        /// The oldest epoch a root may pay now.
        oldest: Epoch,
    },
    /// An upgrade must move to a newer version.
    #[error("protocol version {version} is not newer than version {current} in force")]
    UpgradeNotNewer {
        /// The proposed version.
        version: u32,
        /// The version in force.
        current: u32,
    },
    /// An upgrade must leave validators time to install the release.
    #[error("an upgrade at height {height} is too soon: the earliest is {earliest}")]
    UpgradeTooSoon {
        /// The proposed height.
        height: u64,
        /// The earliest allowed.
        earliest: u64,
    },
    /// A scheduled upgrade is too close to be changed.
    #[error("the upgrade scheduled at height {height} is too close to change")]
    UpgradeImminent {
        /// Its height.
        height: u64,
    },
    /// A slash must take more than nothing and at most everything.
    #[error("a slash must be between 1 and 10000 basis points, got {0}")]
    SlashOutOfRange(u64),
    /// The account has no oracle stake, bonded or unbonding, to slash.
    #[error("{0} has no oracle stake to slash")]
    NoOracleStake(Address),
    /// A price of zero.
    #[error("price must be greater than zero")]
    ZeroPrice,
    /// The burn buys less than one credit.
    #[error("burning {0} buys less than one data credit")]
    BurnTooSmall(Amount),
    /// Credits overflow.
    #[error("data credit overflow")]
    CreditOverflow,

    // ---- rewards ----
    /// The root's epoch has not ended.
    #[error("epoch {epoch} has not ended (current epoch {current})")]
    EpochNotEnded {
        /// The root's epoch.
        epoch: Epoch,
        /// Current epoch.
        current: Epoch,
    },
    /// A root for this or a later epoch was already accepted.
    #[error("a root for epoch {last} of {subnetwork} is already accepted")]
    RootNotNewer {
        /// The sub-network.
        subnetwork: Subnetwork,
        /// Its latest root's epoch.
        last: Epoch,
    },
    /// A signer is not an oracle.
    #[error("signer {0} is not an oracle committee member")]
    UnknownOracle(Address),
    /// An oracle signed twice.
    #[error("oracle {0} appears twice")]
    DuplicateSigner(Address),
    /// An oracle's signature does not verify.
    #[error("oracle {0}'s signature over the root does not verify")]
    BadOracleSignature(Address),
    /// The signers hold less than 2/3 of oracle stake.
    #[error("signers hold {signed} of {total} oracle stake, at least 2/3 needed")]
    InsufficientOracleStake {
        /// Stake that signed.
        signed: Amount,
        /// All oracle stake.
        total: Amount,
    },
    /// The root would mint more than the emission allows.
    #[error("root adds {requested} of rewards, but only {allowed} was emitted for it")]
    RootExceedsEmission {
        /// Emission available.
        allowed: Amount,
        /// New rewards in the root.
        requested: Amount,
    },
    /// A root's settlements are not one per payer, in ascending order, each above zero.
    #[error("bad settlements: {0}")]
    BadSettlements(String),
    /// The epoch's settlements were burned already.
    #[error("the settlements of {subnetwork} epoch {epoch} were burned already")]
    AlreadySettled {
        /// The sub-network.
        subnetwork: Subnetwork,
        /// The reward epoch.
        epoch: Epoch,
    },
    /// A cumulative root cannot shrink.
    #[error("root total {new} is below the previous root's {previous}")]
    RootDecreases {
        /// Previous total.
        previous: Amount,
        /// New total.
        new: Amount,
    },
    /// No root accepted yet.
    #[error("no reward root has been accepted for {0}")]
    NoRewardRoot(Subnetwork),
    /// The proof does not verify against the latest root.
    #[error("reward proof for {account} does not verify: {error}")]
    BadRewardProof {
        /// The account.
        account: Address,
        /// Why.
        error: RewardProofError,
    },
    /// Everything claimed pays nothing.
    #[error("nothing to claim: every account has already claimed its cumulative reward")]
    NothingToClaim,
    /// The circuit breaker refuses the mint.
    #[error(
        "circuit breaker: {minted} minted in the window, {requested} more requested, limit {limit}"
    )]
    CircuitBreaker {
        /// Minted in the window.
        minted: Amount,
        /// Requested.
        requested: Amount,
        /// Window limit.
        limit: Amount,
    },
    /// An account appears twice in one claim.
    #[error("{0} is claimed twice in one transaction")]
    DuplicateClaim(Address),

    // ---- report-log manifests ----
    /// The reward epoch has not ended: no manifest of it is taken before block `opens`.
    #[error("reward epoch {epoch} has not ended: its manifests are taken from height {opens}")]
    ManifestWindowNotOpen {
        /// The reward epoch.
        epoch: Epoch,
        /// The block that ends it.
        opens: u64,
    },
    /// The window for this manifest transaction has closed (commits close
    /// `manifest_commit_secs` after the epoch's cut-off, attestations `manifest_attest_secs`
    /// after that, by block time).
    #[error("the window for reward epoch {epoch} closed with blocks timed after {closed_ms} ms")]
    ManifestWindowClosed {
        /// The reward epoch.
        epoch: Epoch,
        /// The last block time (ms since the Unix epoch) the window took.
        closed_ms: u64,
    },
    /// The oracle already committed a manifest for the epoch.
    #[error("{0} already committed a manifest for this reward epoch")]
    ManifestAlreadyCommitted(Address),
    /// The oracle held no stake when the reward epoch began.
    #[error("{0} held no oracle stake when the reward epoch began")]
    NotAnEpochOracle(Address),
    /// An endpoint that is not an http(s) URL.
    #[error("endpoint must start with http:// or https://, got `{0}`")]
    BadEndpoint(String),
    /// An attested manifest was never committed, or under another hash.
    #[error("{oracle} committed no manifest {manifest} for this reward epoch")]
    ManifestUnknown {
        /// The oracle named.
        oracle: Address,
        /// The hash attested.
        manifest: Hash,
    },

    // ---- governance ----
    /// The lock would run past the maximum.
    #[error("a lock may last at most {max} epochs, asked {got}")]
    LockTooLong {
        /// Maximum.
        max: u64,
        /// Requested.
        got: u64,
    },
    /// No lock to add to or take back.
    #[error("{0} has no lock")]
    NoLock(Address),
    /// The lock has not expired.
    #[error("lock ends at epoch {0}")]
    LockNotExpired(Epoch),
    /// Adding to an expired lock is not allowed: unlock first.
    #[error("lock has expired: unlock it before locking again")]
    LockExpired,
    /// Not enough voting power.
    #[error("voting power {have} is below the {needed} needed")]
    InsufficientVotingPower {
        /// Needed.
        needed: u128,
        /// Held.
        have: u128,
    },
    /// No such proposal.
    #[error("unknown proposal {0}")]
    UnknownProposal(u64),
    /// Voting has ended.
    #[error("voting on proposal {0} has ended")]
    VotingClosed(u64),
    /// Voting has not ended.
    #[error("voting on proposal {id} is open until height {until}")]
    VotingOpen {
        /// Proposal.
        id: u64,
        /// Last voting height.
        until: u64,
    },
    /// The account already voted.
    #[error("{0} has already voted")]
    AlreadyVoted(Address),
    /// The timelock has not passed.
    #[error("proposal {id} can be executed from height {from}")]
    Timelocked {
        /// Proposal.
        id: u64,
        /// First executable height.
        from: u64,
    },
    /// The proposal is already closed.
    #[error("proposal {0} is already closed")]
    ProposalClosed(u64),
    /// A parameter change is out of range.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The treasury cannot pay.
    #[error("treasury holds {available}, {needed} requested")]
    TreasuryInsufficient {
        /// Requested.
        needed: Amount,
        /// Treasury balance.
        available: Amount,
    },

    // ---- registries at their bound ----
    /// The validator registry holds as many candidates as it may.
    #[error("the validator registry is full ({max} candidates)")]
    ValidatorRegistryFull {
        /// Most candidates.
        max: usize,
    },
    /// The oracle committee holds as many members as it may.
    #[error("the oracle committee is full ({max} members) and no member has a smaller stake than this bond would give; bond more to take the smallest member's place")]
    OracleCommitteeFull {
        /// Most members.
        max: usize,
    },
    /// The device's location history cannot grow any more.
    #[error("device {0} has asserted as many locations as it may")]
    LocationHistoryFull(DeviceId),
    /// Paying this claim would pay out more than the root's total (a root whose per-account
    /// amounts do not add up with what was already claimed under earlier roots).
    #[error("claims would pay {claimed} in all, more than the root's total {total}")]
    RootOverclaimed {
        /// What would have been paid under this root in all.
        claimed: Amount,
        /// The root's total.
        total: Amount,
    },
}

impl TxError {
    /// A stable, machine-readable code (`nonce_mismatch`, `insufficient_balance`, …), used by the
    /// RPC's JSON errors. Each code is written here once and pinned by a test: renaming a
    /// variant does not change the API.
    pub fn code(&self) -> &'static str {
        match self {
            TxError::Malformed(..) => "malformed",
            TxError::WrongChain { .. } => "wrong_chain",
            TxError::BadSignature => "bad_signature",
            TxError::NonceMismatch { .. } => "nonce_mismatch",
            TxError::FeeTooLow { .. } => "fee_too_low",
            TxError::InsufficientBalance { .. } => "insufficient_balance",
            TxError::AmountOverflow => "amount_overflow",
            TxError::ZeroAmount => "zero_amount",
            TxError::Amount(..) => "amount",
            TxError::StakeTooLow { .. } => "stake_too_low",
            TxError::NotAValidator(..) => "not_a_validator",
            TxError::NotAnOracle(..) => "not_an_oracle",
            TxError::InsufficientStake { .. } => "insufficient_stake",
            TxError::ConsensusKeyInUse(..) => "consensus_key_in_use",
            TxError::KeysRequired => "keys_required",
            TxError::KeysAlreadySet => "keys_already_set",
            TxError::InvalidKeys(..) => "invalid_keys",
            TxError::WeakKey { .. } => "weak_key",
            TxError::NotJailedForDowntime(..) => "not_jailed_for_downtime",
            TxError::JailNotServed { .. } => "jail_not_served",
            TxError::Jailed(..) => "jailed",
            TxError::RotationPending(..) => "rotation_pending",
            TxError::ChurnLimit { .. } => "churn_limit",
            TxError::OracleEvictionChurn { .. } => "oracle_eviction_churn",
            TxError::NothingToWithdraw => "nothing_to_withdraw",
            TxError::TooManyUnbondings(..) => "too_many_unbondings",
            TxError::InvalidEvidence(..) => "invalid_evidence",
            TxError::InvalidOracleEvidence(..) => "invalid_oracle_evidence",
            TxError::UnknownConsensusKey(..) => "unknown_consensus_key",
            TxError::AlreadyPunished(..) => "already_punished",
            TxError::EvidenceTooOld { .. } => "evidence_too_old",
            TxError::DeviceExists(..) => "device_exists",
            TxError::UnknownDevice(..) => "unknown_device",
            TxError::NotDeviceOwner { .. } => "not_device_owner",
            TxError::DeviceRetired(..) => "device_retired",
            TxError::BadDeviceSignature => "bad_device_signature",
            TxError::UnknownMaker(..) => "unknown_maker",
            TxError::MakerRevoked(..) => "maker_revoked",
            TxError::BadMakerSignature => "bad_maker_signature",
            TxError::MakerExists(..) => "maker_exists",
            TxError::InsufficientCredits { .. } => "insufficient_credits",
            TxError::PriceStale { .. } => "price_stale",
            TxError::PriceQuorum { .. } => "price_quorum",
            TxError::PriceSpread { .. } => "price_spread",
            TxError::CreditsBelowMinimum { .. } => "credits_below_minimum",
            TxError::RootEpochTooOld { .. } => "root_epoch_too_old",
            TxError::NoOracleStake(..) => "no_oracle_stake",
            TxError::SlashOutOfRange(..) => "slash_out_of_range",
            TxError::UpgradeNotNewer { .. } => "upgrade_not_newer",
            TxError::UpgradeTooSoon { .. } => "upgrade_too_soon",
            TxError::UpgradeImminent { .. } => "upgrade_imminent",
            TxError::ZeroPrice => "zero_price",
            TxError::BurnTooSmall(..) => "burn_too_small",
            TxError::CreditOverflow => "credit_overflow",
            TxError::EpochNotEnded { .. } => "epoch_not_ended",
            TxError::RootNotNewer { .. } => "root_not_newer",
            TxError::ManifestWindowNotOpen { .. } => "manifest_window_not_open",
            TxError::ManifestWindowClosed { .. } => "manifest_window_closed",
            TxError::ManifestAlreadyCommitted(..) => "manifest_already_committed",
            TxError::NotAnEpochOracle(..) => "not_an_epoch_oracle",
            TxError::BadEndpoint(..) => "bad_endpoint",
            TxError::ManifestUnknown { .. } => "manifest_unknown",
            TxError::UnknownOracle(..) => "unknown_oracle",
            TxError::DuplicateSigner(..) => "duplicate_signer",
            TxError::BadOracleSignature(..) => "bad_oracle_signature",
            TxError::InsufficientOracleStake { .. } => "insufficient_oracle_stake",
            TxError::RootExceedsEmission { .. } => "root_exceeds_emission",
            TxError::BadSettlements(..) => "bad_settlements",
            TxError::AlreadySettled { .. } => "already_settled",
            TxError::RootDecreases { .. } => "root_decreases",
            TxError::NoRewardRoot(..) => "no_reward_root",
            TxError::BadRewardProof { .. } => "bad_reward_proof",
            TxError::NothingToClaim => "nothing_to_claim",
            TxError::CircuitBreaker { .. } => "circuit_breaker",
            TxError::DuplicateClaim(..) => "duplicate_claim",
            TxError::LockTooLong { .. } => "lock_too_long",
            TxError::NoLock(..) => "no_lock",
            TxError::LockNotExpired(..) => "lock_not_expired",
            TxError::LockExpired => "lock_expired",
            TxError::InsufficientVotingPower { .. } => "insufficient_voting_power",
            TxError::UnknownProposal(..) => "unknown_proposal",
            TxError::VotingClosed(..) => "voting_closed",
            TxError::VotingOpen { .. } => "voting_open",
            TxError::AlreadyVoted(..) => "already_voted",
            TxError::Timelocked { .. } => "timelocked",
            TxError::ProposalClosed(..) => "proposal_closed",
            TxError::Param(ParamError::WindowsExceedRootSpan { .. }) => "windows_exceed_root_span",
            TxError::Param(..) => "param",
            TxError::TreasuryInsufficient { .. } => "treasury_insufficient",
            TxError::ValidatorRegistryFull { .. } => "validator_registry_full",
            TxError::OracleCommitteeFull { .. } => "oracle_committee_full",
            TxError::LocationHistoryFull(..) => "location_history_full",
            TxError::RootOverclaimed { .. } => "root_overclaimed",
        }
    }
}

/// Why executing a transaction (or an epoch step) did not succeed: either the transaction is
/// refused (its sender's doing: the block goes on without it, on every validator alike) or this
/// node faulted (its storage failed, or an invariant broke: the block must not be committed, as
/// another validator would commit something else).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The transaction is refused; nothing it did is kept.
    #[error(transparent)]
    Refused(#[from] TxError),
    /// Reading or writing this node's state failed, or read corrupt data.
    #[error(transparent)]
    Fault(#[from] StoreError),
    /// A rule that execution guarantees did not hold (a bug, or state corrupted in memory).
    #[error("invariant broken: {0}")]
    Invariant(&'static str),
}

impl From<ParamError> for ExecError {
    fn from(error: ParamError) -> Self {
        ExecError::Refused(TxError::Param(error))
    }
}

/// Why a block was refused. The block changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// The block carries the signers of a block other than the next one to count.
    #[error("the block carries the signers of block {got}; blocks from {expected} on are next")]
    SignersOutOfOrder {
        /// The lowest height that may be counted next.
        expected: u64,
        /// The height it carries.
        got: u64,
    },
    /// The signer flags do not match the seats of the block's epoch.
    #[error("the block carries {got} signer flags for {seats} seats")]
    SignersMismatch {
        /// Seats of the epoch.
        seats: usize,
        /// Flags carried.
        got: usize,
    },
    /// The height is not the next one.
    #[error("block height {got} is not the next height {expected}")]
    WrongHeight {
        /// Next height.
        expected: u64,
        /// The block's height.
        got: u64,
    },
    /// The timestamp is before the previous block's.
    #[error("block time {got} ms is before the previous block's {previous} ms")]
    TimeWentBackwards {
        /// Previous block time.
        previous: u64,
        /// This block's time.
        got: u64,
    },
    /// Too many transactions.
    #[error("block has {got} transactions, at most {max} allowed")]
    TooManyTransactions {
        /// Limit.
        max: usize,
        /// Count.
        got: usize,
    },
    /// A transaction in the block was refused.
    #[error("transaction {index} ({id}) refused: {error}")]
    Transaction {
        /// Position in the block.
        index: usize,
        /// Its id.
        id: Hash,
        /// Why.
        error: TxError,
    },
    /// Storage failed; nothing was applied.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The block was applied in memory but writing it to disk failed.
    #[error("block applied but not yet on disk: {0}")]
    NotDurable(StoreError),
    /// Execution broke a rule it guarantees; nothing was applied.
    #[error("invariant broken: {0}")]
    Invariant(&'static str),
    /// The block is due under a protocol version this build does not run: the node must be
    /// upgraded (the block itself may be fine).
    #[error(
        "protocol version {version} takes effect at height {height}, but this build of cairn \
         runs versions {oldest} to {newest}: install a release that runs version {version} and \
         start the node again (docs/NODE.md, Upgrades)"
    )]
    UnsupportedProtocol {
        /// The version due.
        version: u32,
        /// The block's height.
        height: u64,
        /// Oldest version this build runs.
        oldest: u32,
        /// Newest version this build runs.
        newest: u32,
    },
}

impl BlockError {
    /// Whether this is this node's fault (storage, corruption, a broken invariant) rather than
    /// the block's: a node that meets one must stop applying blocks, not refuse the block.
    pub fn is_fault(&self) -> bool {
        match self {
            BlockError::Store(_)
            | BlockError::NotDurable(_)
            | BlockError::Invariant(_)
            | BlockError::UnsupportedProtocol { .. } => true,
            BlockError::WrongHeight { .. }
            | BlockError::TimeWentBackwards { .. }
            | BlockError::TooManyTransactions { .. }
            | BlockError::SignersOutOfOrder { .. }
            | BlockError::SignersMismatch { .. }
            | BlockError::Transaction { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_pinned() {
        let key = PublicKey([7; 32]);
        let address = Address(key);
        let device = DeviceId(key);
        let amount = Amount(5);
        let subnetwork = Subnetwork::Coverage;
        let pinned: Vec<(TxError, &str)> = vec![
            (
                TxError::Malformed(CodecError::Malformed("x".into())),
                "malformed",
            ),
            (
                TxError::WrongChain {
                    expected: "a".into(),
                    got: "b".into(),
                },
                "wrong_chain",
            ),
            (TxError::BadSignature, "bad_signature"),
            (
                TxError::NonceMismatch {
                    expected: 1,
                    got: 2,
                },
                "nonce_mismatch",
            ),
            (
                TxError::FeeTooLow {
                    min: amount,
                    got: amount,
                },
                "fee_too_low",
            ),
            (
                TxError::InsufficientBalance {
                    needed: amount,
                    available: amount,
                },
                "insufficient_balance",
            ),
            (TxError::AmountOverflow, "amount_overflow"),
            (TxError::ZeroAmount, "zero_amount"),
            (TxError::Amount(AmountError::Syntax("x".into())), "amount"),
            (
                TxError::StakeTooLow {
                    min: amount,
                    got: amount,
                },
                "stake_too_low",
            ),
            (TxError::NotAValidator(address), "not_a_validator"),
            (TxError::NotAnOracle(address), "not_an_oracle"),
            (
                TxError::InsufficientStake {
                    bonded: amount,
                    requested: amount,
                },
                "insufficient_stake",
            ),
            (TxError::ConsensusKeyInUse(address), "consensus_key_in_use"),
            (TxError::KeysRequired, "keys_required"),
            (TxError::KeysAlreadySet, "keys_already_set"),
            (TxError::InvalidKeys(KeysError::NoSeatKey), "invalid_keys"),
            (
                TxError::WeakKey {
                    key,
                    error: KeyError::SmallOrder,
                },
                "weak_key",
            ),
            (
                TxError::NotJailedForDowntime(address),
                "not_jailed_for_downtime",
            ),
            (
                TxError::JailNotServed {
                    until: Epoch(2),
                    now: Epoch(1),
                },
                "jail_not_served",
            ),
            (TxError::Jailed(address), "jailed"),
            (TxError::RotationPending(address), "rotation_pending"),
            (
                TxError::ChurnLimit {
                    epoch: Epoch(1),
                    left: amount,
                },
                "churn_limit",
            ),
            (
                TxError::OracleEvictionChurn {
                    epoch: Epoch(1),
                    left: amount,
                },
                "oracle_eviction_churn",
            ),
            (TxError::NothingToWithdraw, "nothing_to_withdraw"),
            (TxError::TooManyUnbondings(3), "too_many_unbondings"),
            (
                TxError::InvalidEvidence(EvidenceError::DifferentSlots),
                "invalid_evidence",
            ),
            (
                TxError::InvalidOracleEvidence(OracleEvidenceError::SameRoot),
                "invalid_oracle_evidence",
            ),
            (TxError::UnknownConsensusKey(key), "unknown_consensus_key"),
            (TxError::AlreadyPunished(Hash::ZERO), "already_punished"),
            (
                TxError::EvidenceTooOld {
                    evidence: 1,
                    oldest: 2,
                },
                "evidence_too_old",
            ),
            (TxError::DeviceExists(device), "device_exists"),
            (TxError::UnknownDevice(device), "unknown_device"),
            (
                TxError::NotDeviceOwner {
                    device,
                    sender: address,
                },
                "not_device_owner",
            ),
            (TxError::DeviceRetired(device), "device_retired"),
            (TxError::BadDeviceSignature, "bad_device_signature"),
            (TxError::UnknownMaker(key), "unknown_maker"),
            (TxError::MakerRevoked(key), "maker_revoked"),
            (TxError::BadMakerSignature, "bad_maker_signature"),
            (TxError::MakerExists(key), "maker_exists"),
            (
                TxError::InsufficientCredits {
                    needed: Credits(2),
                    available: Credits(1),
                },
                "insufficient_credits",
            ),
            (
                TxError::PriceStale {
                    fresh: 0,
                    needed: 1,
                },
                "price_stale",
            ),
            (
                TxError::PriceQuorum {
                    fresh_stake: amount,
                    total: amount,
                },
                "price_quorum",
            ),
            (
                TxError::PriceSpread {
                    spread_bps: 2,
                    max_bps: 1,
                },
                "price_spread",
            ),
            (
                TxError::CreditsBelowMinimum {
                    min: Credits(2),
                    got: Credits(1),
                },
                "credits_below_minimum",
            ),
            (
                TxError::RootEpochTooOld {
                    epoch: Epoch(1),
                    oldest: Epoch(2),
                },
                "root_epoch_too_old",
            ),
            (TxError::NoOracleStake(address), "no_oracle_stake"),
            (TxError::SlashOutOfRange(0), "slash_out_of_range"),
            (
                TxError::UpgradeNotNewer {
                    version: 1,
                    current: 1,
                },
                "upgrade_not_newer",
            ),
            (
                TxError::UpgradeTooSoon {
                    height: 1,
                    earliest: 2,
                },
                "upgrade_too_soon",
            ),
            (TxError::UpgradeImminent { height: 1 }, "upgrade_imminent"),
            (TxError::ZeroPrice, "zero_price"),
            (TxError::BurnTooSmall(amount), "burn_too_small"),
            (TxError::CreditOverflow, "credit_overflow"),
            (
                TxError::EpochNotEnded {
                    epoch: Epoch(2),
                    current: Epoch(1),
                },
                "epoch_not_ended",
            ),
            (
                TxError::RootNotNewer {
                    subnetwork,
                    last: Epoch(1),
                },
                "root_not_newer",
            ),
            (TxError::UnknownOracle(address), "unknown_oracle"),
            (TxError::DuplicateSigner(address), "duplicate_signer"),
            (TxError::BadOracleSignature(address), "bad_oracle_signature"),
            (
                TxError::InsufficientOracleStake {
                    signed: amount,
                    total: amount,
                },
                "insufficient_oracle_stake",
            ),
            (
                TxError::RootExceedsEmission {
                    allowed: amount,
                    requested: amount,
                },
                "root_exceeds_emission",
            ),
            (
                TxError::RootDecreases {
                    previous: amount,
                    new: amount,
                },
                "root_decreases",
            ),
            (TxError::NoRewardRoot(subnetwork), "no_reward_root"),
            (
                TxError::BadRewardProof {
                    account: address,
                    error: RewardProofError::SumOverflow,
                },
                "bad_reward_proof",
            ),
            (TxError::NothingToClaim, "nothing_to_claim"),
            (
                TxError::CircuitBreaker {
                    minted: amount,
                    requested: amount,
                    limit: amount,
                },
                "circuit_breaker",
            ),
            (TxError::DuplicateClaim(address), "duplicate_claim"),
            (
                TxError::ManifestWindowNotOpen {
                    epoch: Epoch(1),
                    opens: 2,
                },
                "manifest_window_not_open",
            ),
            (
                TxError::ManifestWindowClosed {
                    epoch: Epoch(1),
                    closed_ms: 3,
                },
                "manifest_window_closed",
            ),
            (
                TxError::ManifestAlreadyCommitted(address),
                "manifest_already_committed",
            ),
            (TxError::NotAnEpochOracle(address), "not_an_epoch_oracle"),
            (TxError::BadEndpoint("ftp://x".into()), "bad_endpoint"),
            (
                TxError::ManifestUnknown {
                    oracle: address,
                    manifest: Hash::ZERO,
                },
                "manifest_unknown",
            ),
            (TxError::LockTooLong { max: 1, got: 2 }, "lock_too_long"),
            (TxError::NoLock(address), "no_lock"),
            (TxError::LockNotExpired(Epoch(3)), "lock_not_expired"),
            (TxError::LockExpired, "lock_expired"),
            (
                TxError::InsufficientVotingPower { needed: 2, have: 1 },
                "insufficient_voting_power",
            ),
            (TxError::UnknownProposal(1), "unknown_proposal"),
            (TxError::VotingClosed(1), "voting_closed"),
            (TxError::VotingOpen { id: 1, until: 2 }, "voting_open"),
            (TxError::AlreadyVoted(address), "already_voted"),
            (TxError::Timelocked { id: 1, from: 2 }, "timelocked"),
            (TxError::ProposalClosed(1), "proposal_closed"),
            (TxError::Param(ParamError::Unknown("x".into())), "param"),
            (
                TxError::TreasuryInsufficient {
                    needed: amount,
                    available: amount,
                },
                "treasury_insufficient",
            ),
            (
                TxError::ValidatorRegistryFull { max: 1 },
                "validator_registry_full",
            ),
            (
                TxError::OracleCommitteeFull { max: 1 },
                "oracle_committee_full",
            ),
            (
                TxError::LocationHistoryFull(device),
                "location_history_full",
            ),
            (
                TxError::RootOverclaimed {
                    claimed: amount,
                    total: amount,
                },
                "root_overclaimed",
            ),
        ];
        // One sample of every variant (the match in `code` is exhaustive, so a new variant
        // needs a code; this list needs its sample).
        assert_eq!(pinned.len(), 90);
        let mut seen = std::collections::HashSet::new();
        for (error, code) in &pinned {
            assert_eq!(error.code(), *code, "{error:?}");
            assert!(seen.insert(*code), "code {code} is used twice");
        }
    }

    #[test]
    fn faults_are_told_apart_from_refusals() {
        assert!(BlockError::Store(StoreError::Corrupt("x".into())).is_fault());
        assert!(BlockError::NotDurable(StoreError::Database("x".into())).is_fault());
        assert!(BlockError::Invariant("x").is_fault());
        assert!(!BlockError::WrongHeight {
            expected: 1,
            got: 2
        }
        .is_fault());
        let refused = BlockError::Transaction {
            index: 0,
            id: Hash::ZERO,
            error: TxError::ZeroAmount,
        };
        assert!(!refused.is_fault());
    }
}
