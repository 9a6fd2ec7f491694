//! The ledger's errors: why a transaction, a block or a storage operation was refused.
//!
//! Every refusal of user input is a [`TxError`] variant specific enough to act on ("nonce 4
//! expected, got 6", "price stale: 0 fresh prices, 1 needed"), and a refused transaction changes
//! no state at all, not even its nonce or fee.

use cairn_types::amount::AmountError;
use cairn_types::codec::CodecError;
use cairn_types::evidence::EvidenceError;
use cairn_types::params::ParamError;
use cairn_types::reward_tree::RewardProofError;
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
    /// The consensus key already belongs to another validator.
    #[error("consensus key is already used by validator {0}")]
    ConsensusKeyInUse(Address),
    /// A later bond names a different consensus key.
    #[error("validator's consensus key is fixed at its first bond")]
    ConsensusKeyMismatch,
    /// A jailed validator cannot bond again.
    #[error("validator {0} is jailed")]
    Jailed(Address),
    /// No unbonding entry has matured.
    #[error("no unbonded stake is ready to withdraw yet")]
    NothingToWithdraw,
    /// Too many unbonding entries in flight.
    #[error("at most {0} unbonding entries may be in flight")]
    TooManyUnbondings(usize),
    /// Slashing evidence does not prove anything.
    #[error("invalid evidence: {0}")]
    InvalidEvidence(EvidenceError),
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

    /// Storage failed or holds corrupt data; not the sender's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl TxError {
    /// A stable, machine-readable code: the variant's name in snake case (`nonce_mismatch`,
    /// `insufficient_balance`, …), used by the RPC's JSON errors.
    pub fn code(&self) -> String {
        let debug = format!("{self:?}");
        let name = debug
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or_default();
        let mut code = String::with_capacity(name.len() + 4);
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    code.push('_');
                }
                code.push(c.to_ascii_lowercase());
            } else {
                code.push(c);
            }
        }
        code
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Internal(e.to_string())
    }
}

/// Why a block was refused. The block changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_variant_names() {
        assert_eq!(TxError::BadSignature.code(), "bad_signature");
        assert_eq!(
            TxError::NonceMismatch {
                expected: 1,
                got: 2
            }
            .code(),
            "nonce_mismatch"
        );
    }
}
