//! Chain configuration (fixed at genesis) and parameters (changed by governance).
//!
//! [`ChainConfig`] holds what cannot change without a new chain: the chain id, the epoch length
//! and the emission schedule. [`Params`] holds every knob that vote-escrow governance may turn;
//! each is named by a [`ParamId`] and checked against its allowed range by [`Params::set`], so a
//! proposal cannot put the chain into a state it cannot leave (a zero voting period, a quorum
//! above 100%).

use crate::amount::{Amount, Credits};
use crate::codec::BoundedString;
use crate::subnetwork::{EmissionWeights, BPS_DENOMINATOR};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Most seats of one epoch, whatever governance sets: consensus messages are sized for it.
pub const MAX_SEATS: u64 = 1024;

/// Longest chain id, in bytes.
pub const MAX_CHAIN_ID_BYTES: usize = 32;

/// A chain's name; part of every signed transaction, so nothing signed for one chain is valid on
/// another.
pub type ChainId = BoundedString<MAX_CHAIN_ID_BYTES>;

/// Tokens emitted per epoch, halving on a fixed interval, with a hard cap.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct EmissionSchedule {
    /// Emission of epoch 0.
    pub initial_per_epoch: Amount,
    /// Emission halves every this many epochs.
    pub halving_interval_epochs: u64,
    /// Total that the schedule may ever emit (excluding genesis allocations).
    pub emission_cap: Amount,
}

impl EmissionSchedule {
    /// Emission of `epoch`, given what was already emitted before it. Never exceeds the cap.
    pub fn emission_for(&self, epoch: u64, emitted_so_far: Amount) -> Amount {
        let halvings = epoch / self.halving_interval_epochs.max(1);
        let scheduled = if halvings >= 128 {
            0
        } else {
            self.initial_per_epoch.0 >> halvings
        };
        let room = self.emission_cap.saturating_sub(emitted_so_far);
        Amount(scheduled.min(room.0))
    }
}

/// What a chain fixes at genesis.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// The chain's name.
    pub chain_id: ChainId,
    /// Blocks in one epoch.
    pub blocks_per_epoch: u64,
    /// The emission schedule.
    pub emission: EmissionSchedule,
    /// Block and timing rules of consensus (absent from older genesis files: the defaults).
    #[serde(default)]
    pub consensus: ConsensusRules,
    /// The protocol version the chain starts with (absent from older genesis files: 1);
    /// governance schedules later versions (`docs/NODE.md`, "Upgrades").
    #[serde(default = "first_protocol_version")]
    pub protocol_version: u32,
    /// Consensus epochs in one reward epoch (absent from older genesis files: 1). Oracles cut
    /// their report logs, commit manifests and sign reward roots once per reward epoch.
    #[serde(default = "one_epoch")]
    pub epochs_per_reward_epoch: u64,
}

fn one_epoch() -> u64 {
    1
}

/// Most consensus epochs in a reward epoch: a root may pay up to `MAX_ROOT_EPOCH_SPAN` (64)
/// consensus epochs back, so a root that covers a missed reward epoch still reaches it.
pub const MAX_EPOCHS_PER_REWARD_EPOCH: u64 = 16;

impl ChainConfig {
    /// How reward epochs map to consensus epochs and heights.
    pub fn reward_clock(&self) -> crate::epoch::RewardClock {
        crate::epoch::RewardClock {
            blocks_per_epoch: self.blocks_per_epoch.max(1),
            epochs_per_reward_epoch: self
                .epochs_per_reward_epoch
                .clamp(1, MAX_EPOCHS_PER_REWARD_EPOCH),
        }
    }
}

fn first_protocol_version() -> u32 {
    1
}

/// Rules of block building and voting that every validator must share, fixed at genesis: a
/// validator with other limits would refuse blocks its peers accept.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(default, deny_unknown_fields)]
pub struct ConsensusRules {
    /// Most transactions in one block.
    pub block_transactions_max: u32,
    /// Most bytes of encoded transactions in one block.
    pub block_transaction_bytes_max: u32,
    /// A proposer waits this long after its parent's time, so that an idle chain does not
    /// produce blocks as fast as the network allows.
    pub block_interval_ms: u64,
    /// A validator does not vote for a block timed further than this ahead of its own clock (it
    /// waits instead).
    pub clock_drift_max_ms: u64,
}

impl ConsensusRules {
    /// The most transactions a genesis may allow in a block.
    pub const BLOCK_TRANSACTIONS_LIMIT: u32 = 20_000;
    /// The most transaction bytes a genesis may allow in a block (every message on the network
    /// is sized for a full block, so this also bounds what a peer can make a node buffer).
    pub const BLOCK_TRANSACTION_BYTES_LIMIT: u32 = 16 * 1024 * 1024;
}

impl Default for ConsensusRules {
    fn default() -> Self {
        ConsensusRules {
            block_transactions_max: 10_000,
            block_transaction_bytes_max: 4 * 1024 * 1024,
            block_interval_ms: 200,
            clock_drift_max_ms: 2_000,
        }
    }
}

/// Every parameter that governance can change.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Params {
    /// Smallest fee a transaction may pay; every fee is burned.
    pub tx_fee_min: Amount,
    /// Epochs between an unbond and the withdrawal of the stake.
    pub unbonding_epochs: u64,
    /// Most consensus seats of an epoch (at most [`MAX_SEATS`]); the seat
    /// size is chosen so that the seats of all eligible stake fit (`docs/CONSENSUS.md`).
    #[serde(alias = "max_validators")]
    pub max_seats: u64,
    /// Smallest stake that makes a validator eligible for the set.
    pub validator_stake_min: Amount,
    /// Smallest stake of an oracle committee member.
    pub oracle_stake_min: Amount,
    /// Share of a validator's stake burned for a double signature.
    pub slash_double_sign_bps: u64,
    /// Data credits paid to register a device.
    pub device_onboard_fee_dc: Credits,
    /// Data credits paid for each location assertion.
    pub location_assert_fee_dc: Credits,
    /// A posted price older than this is stale and not used.
    pub price_max_age_secs: u64,
    /// Fresh prices needed before a burn is allowed (besides fresh posts from oracles holding
    /// at least 2/3 of oracle stake).
    pub price_fresh_min: u64,
    /// Most the price a burn uses may move per minute of chain time (block time) since the
    /// reference price was set, in basis points of that price.
    #[serde(default = "default_price_move_max_bps_per_minute")]
    pub price_move_max_bps_per_minute: u64,
    /// Burns are refused unless 2/3 of the fresh oracle stake posted prices within a range this
    /// wide, in basis points of their median.
    #[serde(default = "default_price_spread_max_bps")]
    pub price_spread_max_bps: u64,
    /// Length of the reward-claim circuit breaker's window.
    pub mint_window_epochs: u64,
    /// Most that reward claims may mint within one window.
    pub mint_window_max: Amount,
    /// Longest vote-escrow lock (full voting weight).
    pub lock_epochs_max: u64,
    /// How long a proposal is open for votes.
    pub voting_period_blocks: u64,
    /// Delay between the end of a passed vote and its execution.
    pub timelock_blocks: u64,
    /// Share of all voting power that must vote (yes, no or abstain) for a result to count.
    pub quorum_bps: u64,
    /// Share of yes among yes and no needed to pass.
    pub threshold_bps: u64,
    /// Voting power needed to make a proposal.
    pub proposal_power_min: Amount,
    /// How each epoch's emission is split.
    pub emission_weights: EmissionWeights,
    /// A validator whose seats missed more than this share of the votes counted in an epoch is
    /// jailed for downtime at the epoch's end.
    #[serde(default = "default_downtime_jail_bps")]
    pub downtime_jail_bps: u64,
    /// Most seated stake that may enter, and most that may leave, the validator set from one
    /// epoch to the next, as a share of the seated stake (jailing is never held back by it);
    /// also the most oracle stake a full committee may lose to evictions in one epoch, as a
    /// share of the stake recorded when it began (the first eviction always passes).
    #[serde(default = "default_churn_bps")]
    pub churn_bps: u64,
    /// Seconds, after a reward epoch's cut-off (its end plus `report_delay_max_secs` and
    /// `report_skew_max_secs`, by block time), during which each oracle commits the hash of its
    /// report-log manifest for it.
    #[serde(default = "default_manifest_commit_secs")]
    pub manifest_commit_secs: u64,
    /// Seconds after the commit window during which oracles attest that they fetched the
    /// committed logs; a manifest counts once 2/3 of oracle stake attested it.
    #[serde(default = "default_manifest_attest_secs")]
    pub manifest_attest_secs: u64,
    /// Reward epochs an oracle keeps its report logs (and serves them to auditors).
    #[serde(default = "default_log_retention_epochs")]
    pub log_retention_epochs: u64,
    /// Most a report's device time may be ahead of the time an oracle received it (clocks
    /// disagree).
    #[serde(default = "default_report_skew_max_secs")]
    pub report_skew_max_secs: u64,
    /// Most a report may arrive after its device time (an agent delivering its backlog after an
    /// outage); an oracle closes a reward epoch this long after its end.
    #[serde(default = "default_report_delay_max_secs")]
    pub report_delay_max_secs: u64,
    /// Length of an uptime window: a device earns a point for each window in which it
    /// delivered a valid report.
    #[serde(default = "default_uptime_window_secs")]
    pub uptime_window_secs: u64,
    /// Seconds the oracles are allowed, after the attest window, to compute an epoch's rewards
    /// and land its root. With the report windows it must fit in half of the
    /// [`MAX_ROOT_EPOCH_SPAN`] epochs a root can reach back ([`Params::check_root_span`]).
    #[serde(default = "default_reward_compute_allowance_secs")]
    pub reward_compute_allowance_secs: u64,
    /// Most bytes one of another oracle's log files may decompress to for it to be attested
    /// (an honest oracle rolls its journal at `roll_max_bytes`, 50 MB by default).
    #[serde(default = "default_log_file_bytes_max")]
    pub log_file_bytes_max: u64,
    /// Most reports one of another oracle's log files may hold for it to be attested.
    #[serde(default = "default_log_file_frames_max")]
    pub log_file_frames_max: u64,
    /// Most bytes one of another oracle's log files may decompress to per byte of its size
    /// (signatures do not compress: an honest log is a few to one; a gzip bomb about 1000:1).
    #[serde(default = "default_log_file_ratio_max")]
    pub log_file_ratio_max: u64,
    /// Most bytes all the files of another oracle's manifest may decompress to for it to be
    /// attested.
    #[serde(default = "default_manifest_log_bytes_max")]
    pub manifest_log_bytes_max: u64,
    /// Most reports all the files of another oracle's manifest may hold for it to be attested.
    #[serde(default = "default_manifest_frames_max")]
    pub manifest_frames_max: u64,
    /// Most distinct devices that are not registered the reports of another oracle's manifest
    /// may name for it to be attested (an honest oracle refuses them at ingest).
    #[serde(default = "default_manifest_unregistered_devices_max")]
    pub manifest_unregistered_devices_max: u64,
}

/// Consensus epochs back a reward root can pay (older pools are held for the next root).
pub const MAX_ROOT_EPOCH_SPAN: u64 = 64;

fn default_reward_compute_allowance_secs() -> u64 {
    600
}

// The log bounds leave room for the storage sub-network's proofs (about 3 KiB each, 100 a
// provider an epoch, 10,000 providers: 1,000,000 proofs, 3 GB) beside a million devices'
// ten million reports, and no more than the rewarder replays within
// `reward_compute_allowance_secs` (docs/ORACLE.md, "Bounds on other oracles' logs").

fn default_log_file_bytes_max() -> u64 {
    1 << 30
}

fn default_log_file_frames_max() -> u64 {
    8_000_000
}

fn default_log_file_ratio_max() -> u64 {
    32
}

fn default_manifest_log_bytes_max() -> u64 {
    8 << 30
}

fn default_manifest_frames_max() -> u64 {
    16_000_000
}

fn default_manifest_unregistered_devices_max() -> u64 {
    1_000
}

fn default_manifest_commit_secs() -> u64 {
    600
}

fn default_manifest_attest_secs() -> u64 {
    600
}

fn default_log_retention_epochs() -> u64 {
    30
}

fn default_report_skew_max_secs() -> u64 {
    300
}

fn default_report_delay_max_secs() -> u64 {
    1_800
}

fn default_uptime_window_secs() -> u64 {
    3_600
}

fn default_downtime_jail_bps() -> u64 {
    5_000
}

fn default_churn_bps() -> u64 {
    2_500
}

fn default_price_move_max_bps_per_minute() -> u64 {
    100
}

fn default_price_spread_max_bps() -> u64 {
    1_000
}

impl Default for Params {
    fn default() -> Self {
        Params {
            tx_fee_min: Amount(1_000),
            unbonding_epochs: 7,
            max_seats: 100,
            validator_stake_min: Amount::tokens(1_000),
            oracle_stake_min: Amount::tokens(1_000),
            slash_double_sign_bps: 500,
            device_onboard_fee_dc: Credits(4_000_000),
            location_assert_fee_dc: Credits(1_000_000),
            price_max_age_secs: 600,
            price_fresh_min: 1,
            mint_window_epochs: 7,
            mint_window_max: Amount::tokens(10_000_000),
            lock_epochs_max: 1_461,
            voting_period_blocks: 100,
            timelock_blocks: 10,
            quorum_bps: 2_000,
            threshold_bps: 5_000,
            proposal_power_min: Amount::tokens(100),
            emission_weights: EmissionWeights::default(),
            downtime_jail_bps: default_downtime_jail_bps(),
            churn_bps: default_churn_bps(),
            price_move_max_bps_per_minute: default_price_move_max_bps_per_minute(),
            price_spread_max_bps: default_price_spread_max_bps(),
            manifest_commit_secs: default_manifest_commit_secs(),
            manifest_attest_secs: default_manifest_attest_secs(),
            log_retention_epochs: default_log_retention_epochs(),
            report_skew_max_secs: default_report_skew_max_secs(),
            report_delay_max_secs: default_report_delay_max_secs(),
            uptime_window_secs: default_uptime_window_secs(),
            reward_compute_allowance_secs: default_reward_compute_allowance_secs(),
            log_file_bytes_max: default_log_file_bytes_max(),
            log_file_frames_max: default_log_file_frames_max(),
            log_file_ratio_max: default_log_file_ratio_max(),
            manifest_log_bytes_max: default_manifest_log_bytes_max(),
            manifest_frames_max: default_manifest_frames_max(),
            manifest_unregistered_devices_max: default_manifest_unregistered_devices_max(),
        }
    }
}

/// The name of one scalar parameter (the emission split has its own proposal).
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[borsh(use_discriminant = true)]
#[repr(u8)]
#[allow(missing_docs)] // Each variant is documented on the field of `Params` with the same name.
pub enum ParamId {
    TxFeeMin = 0,
    UnbondingEpochs = 1,
    MaxSeats = 2,
    ValidatorStakeMin = 3,
    OracleStakeMin = 4,
    SlashDoubleSignBps = 5,
    DeviceOnboardFeeDc = 6,
    LocationAssertFeeDc = 7,
    PriceMaxAgeSecs = 8,
    PriceFreshMin = 9,
    MintWindowEpochs = 10,
    MintWindowMax = 11,
    LockEpochsMax = 12,
    VotingPeriodBlocks = 13,
    TimelockBlocks = 14,
    QuorumBps = 15,
    ThresholdBps = 16,
    ProposalPowerMin = 17,
    DowntimeJailBps = 18,
    ChurnBps = 19,
    PriceMoveMaxBpsPerMinute = 20,
    PriceSpreadMaxBps = 21,
    ManifestCommitSecs = 22,
    ManifestAttestSecs = 23,
    LogRetentionEpochs = 24,
    ReportSkewMaxSecs = 25,
    UptimeWindowSecs = 26,
    ReportDelayMaxSecs = 27,
    RewardComputeAllowanceSecs = 28,
    LogFileBytesMax = 29,
    LogFileFramesMax = 30,
    LogFileRatioMax = 31,
    ManifestLogBytesMax = 32,
    ManifestFramesMax = 33,
    ManifestUnregisteredDevicesMax = 34,
}

impl ParamId {
    /// Every parameter, in order.
    pub const ALL: [ParamId; 35] = [
        ParamId::TxFeeMin,
        ParamId::UnbondingEpochs,
        ParamId::MaxSeats,
        ParamId::ValidatorStakeMin,
        ParamId::OracleStakeMin,
        ParamId::SlashDoubleSignBps,
        ParamId::DeviceOnboardFeeDc,
        ParamId::LocationAssertFeeDc,
        ParamId::PriceMaxAgeSecs,
        ParamId::PriceFreshMin,
        ParamId::MintWindowEpochs,
        ParamId::MintWindowMax,
        ParamId::LockEpochsMax,
        ParamId::VotingPeriodBlocks,
        ParamId::TimelockBlocks,
        ParamId::QuorumBps,
        ParamId::ThresholdBps,
        ParamId::ProposalPowerMin,
        ParamId::DowntimeJailBps,
        ParamId::ChurnBps,
        ParamId::PriceMoveMaxBpsPerMinute,
        ParamId::PriceSpreadMaxBps,
        ParamId::ManifestCommitSecs,
        ParamId::ManifestAttestSecs,
        ParamId::LogRetentionEpochs,
        ParamId::ReportSkewMaxSecs,
        ParamId::UptimeWindowSecs,
        ParamId::ReportDelayMaxSecs,
        ParamId::RewardComputeAllowanceSecs,
        ParamId::LogFileBytesMax,
        ParamId::LogFileFramesMax,
        ParamId::LogFileRatioMax,
        ParamId::ManifestLogBytesMax,
        ParamId::ManifestFramesMax,
        ParamId::ManifestUnregisteredDevicesMax,
    ];

    /// The snake_case name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ParamId::TxFeeMin => "tx_fee_min",
            ParamId::UnbondingEpochs => "unbonding_epochs",
            ParamId::MaxSeats => "max_seats",
            ParamId::ValidatorStakeMin => "validator_stake_min",
            ParamId::OracleStakeMin => "oracle_stake_min",
            ParamId::SlashDoubleSignBps => "slash_double_sign_bps",
            ParamId::DeviceOnboardFeeDc => "device_onboard_fee_dc",
            ParamId::LocationAssertFeeDc => "location_assert_fee_dc",
            ParamId::PriceMaxAgeSecs => "price_max_age_secs",
            ParamId::PriceFreshMin => "price_fresh_min",
            ParamId::MintWindowEpochs => "mint_window_epochs",
            ParamId::MintWindowMax => "mint_window_max",
            ParamId::LockEpochsMax => "lock_epochs_max",
            ParamId::VotingPeriodBlocks => "voting_period_blocks",
            ParamId::TimelockBlocks => "timelock_blocks",
            ParamId::QuorumBps => "quorum_bps",
            ParamId::ThresholdBps => "threshold_bps",
            ParamId::ProposalPowerMin => "proposal_power_min",
            ParamId::DowntimeJailBps => "downtime_jail_bps",
            ParamId::ChurnBps => "churn_bps",
            ParamId::PriceMoveMaxBpsPerMinute => "price_move_max_bps_per_minute",
            ParamId::PriceSpreadMaxBps => "price_spread_max_bps",
            ParamId::ManifestCommitSecs => "manifest_commit_secs",
            ParamId::ManifestAttestSecs => "manifest_attest_secs",
            ParamId::LogRetentionEpochs => "log_retention_epochs",
            ParamId::ReportSkewMaxSecs => "report_skew_max_secs",
            ParamId::UptimeWindowSecs => "uptime_window_secs",
            ParamId::ReportDelayMaxSecs => "report_delay_max_secs",
            ParamId::RewardComputeAllowanceSecs => "reward_compute_allowance_secs",
            ParamId::LogFileBytesMax => "log_file_bytes_max",
            ParamId::LogFileFramesMax => "log_file_frames_max",
            ParamId::LogFileRatioMax => "log_file_ratio_max",
            ParamId::ManifestLogBytesMax => "manifest_log_bytes_max",
            ParamId::ManifestFramesMax => "manifest_frames_max",
            ParamId::ManifestUnregisteredDevicesMax => "manifest_unregistered_devices_max",
        }
    }

    /// Allowed values, inclusive. Amounts are in base units.
    pub fn range(self) -> (u128, u128) {
        let bps = u128::from(BPS_DENOMINATOR);
        match self {
            ParamId::TxFeeMin => (0, Amount::tokens(1_000).0),
            // Sets are chosen an epoch ahead: a leaver holds seats for up to two more epochs and must
            // stay slashable through them.
            ParamId::UnbondingEpochs => (3, 10_000),
            ParamId::MaxSeats => (1, u128::from(MAX_SEATS)),
            ParamId::ValidatorStakeMin | ParamId::OracleStakeMin => (1, u128::from(u64::MAX)),
            ParamId::SlashDoubleSignBps => (0, bps),
            ParamId::DeviceOnboardFeeDc | ParamId::LocationAssertFeeDc => (0, u128::from(u64::MAX)),
            ParamId::PriceMaxAgeSecs => (1, 7 * 24 * 3600),
            ParamId::PriceFreshMin => (1, 64),
            ParamId::MintWindowEpochs => (1, 10_000),
            ParamId::MintWindowMax => (0, u128::MAX),
            ParamId::LockEpochsMax => (1, 100_000),
            ParamId::VotingPeriodBlocks => (1, 10_000_000),
            ParamId::TimelockBlocks => (0, 10_000_000),
            ParamId::QuorumBps | ParamId::ThresholdBps => (1, bps),
            ParamId::ProposalPowerMin => (0, u128::MAX),
            ParamId::DowntimeJailBps => (0, bps),
            ParamId::ChurnBps => (1, bps),
            ParamId::PriceMoveMaxBpsPerMinute => (1, bps),
            ParamId::PriceSpreadMaxBps => (1, 100 * bps),
            ParamId::ManifestCommitSecs | ParamId::ManifestAttestSecs => (1, 86_400),
            ParamId::LogRetentionEpochs => (1, 10_000),
            ParamId::ReportSkewMaxSecs
            | ParamId::UptimeWindowSecs
            | ParamId::ReportDelayMaxSecs
            | ParamId::RewardComputeAllowanceSecs => (1, 86_400),
            ParamId::LogFileBytesMax => (1 << 20, 64 << 30),
            ParamId::LogFileFramesMax => (1_000, 1_000_000_000),
            ParamId::LogFileRatioMax => (2, 1_100),
            ParamId::ManifestLogBytesMax => (1 << 20, 1 << 40),
            ParamId::ManifestFramesMax => (1_000, 100_000_000_000),
            ParamId::ManifestUnregisteredDevicesMax => (0, 100_000_000),
        }
    }
}

impl fmt::Display for ParamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a parameter name or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// No parameter has this name.
    #[error("unknown parameter `{0}`")]
    Unknown(String),
    /// The value is outside the parameter's allowed range.
    #[error("{param} must be between {min} and {max}, got {value}")]
    OutOfRange {
        /// The parameter.
        param: ParamId,
        /// The refused value.
        value: u128,
        /// Smallest allowed value.
        min: u128,
        /// Largest allowed value.
        max: u128,
    },
    /// The emission weights do not sum to 10,000 basis points.
    #[error("emission weights sum to {0} basis points, expected 10000")]
    WeightsNotWhole(u64),
    /// The report, commit and attest windows and the compute allowance do not leave a root
    /// time to land before the epoch's pools fall out of its reach.
    #[error(
        "report_skew_max_secs + report_delay_max_secs + manifest_commit_secs + \
         manifest_attest_secs + reward_compute_allowance_secs is {windows_secs} s, over \
         {span_secs} s (half of the {MAX_ROOT_EPOCH_SPAN} epochs a root reaches back, at the \
         genesis block interval): shorten them or lengthen the epochs"
    )]
    WindowsExceedRootSpan {
        /// What the windows sum to.
        windows_secs: u64,
        /// Half the root span, in seconds.
        span_secs: u64,
    },
}

impl FromStr for ParamId {
    type Err = ParamError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ParamId::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| ParamError::Unknown(s.to_string()))
    }
}

fn to_u64(value: u128) -> u64 {
    // Callers have checked `value` against a range whose maximum fits in u64.
    u64::try_from(value).unwrap_or(u64::MAX)
}

impl Params {
    /// The current value of one parameter (amounts in base units).
    pub fn get(&self, param: ParamId) -> u128 {
        match param {
            ParamId::TxFeeMin => self.tx_fee_min.0,
            ParamId::UnbondingEpochs => self.unbonding_epochs.into(),
            ParamId::MaxSeats => self.max_seats.into(),
            ParamId::ValidatorStakeMin => self.validator_stake_min.0,
            ParamId::OracleStakeMin => self.oracle_stake_min.0,
            ParamId::SlashDoubleSignBps => self.slash_double_sign_bps.into(),
            ParamId::DeviceOnboardFeeDc => self.device_onboard_fee_dc.0.into(),
            ParamId::LocationAssertFeeDc => self.location_assert_fee_dc.0.into(),
            ParamId::PriceMaxAgeSecs => self.price_max_age_secs.into(),
            ParamId::PriceFreshMin => self.price_fresh_min.into(),
            ParamId::MintWindowEpochs => self.mint_window_epochs.into(),
            ParamId::MintWindowMax => self.mint_window_max.0,
            ParamId::LockEpochsMax => self.lock_epochs_max.into(),
            ParamId::VotingPeriodBlocks => self.voting_period_blocks.into(),
            ParamId::TimelockBlocks => self.timelock_blocks.into(),
            ParamId::QuorumBps => self.quorum_bps.into(),
            ParamId::ThresholdBps => self.threshold_bps.into(),
            ParamId::ProposalPowerMin => self.proposal_power_min.0,
            ParamId::DowntimeJailBps => self.downtime_jail_bps.into(),
            ParamId::ChurnBps => self.churn_bps.into(),
            ParamId::PriceMoveMaxBpsPerMinute => self.price_move_max_bps_per_minute.into(),
            ParamId::PriceSpreadMaxBps => self.price_spread_max_bps.into(),
            ParamId::ManifestCommitSecs => self.manifest_commit_secs.into(),
            ParamId::ManifestAttestSecs => self.manifest_attest_secs.into(),
            ParamId::LogRetentionEpochs => self.log_retention_epochs.into(),
            ParamId::ReportSkewMaxSecs => self.report_skew_max_secs.into(),
            ParamId::UptimeWindowSecs => self.uptime_window_secs.into(),
            ParamId::ReportDelayMaxSecs => self.report_delay_max_secs.into(),
            ParamId::RewardComputeAllowanceSecs => self.reward_compute_allowance_secs.into(),
            ParamId::LogFileBytesMax => self.log_file_bytes_max.into(),
            ParamId::LogFileFramesMax => self.log_file_frames_max.into(),
            ParamId::LogFileRatioMax => self.log_file_ratio_max.into(),
            ParamId::ManifestLogBytesMax => self.manifest_log_bytes_max.into(),
            ParamId::ManifestFramesMax => self.manifest_frames_max.into(),
            ParamId::ManifestUnregisteredDevicesMax => {
                self.manifest_unregistered_devices_max.into()
            }
        }
    }

    /// Sets one parameter after checking its range. Changes nothing on error.
    pub fn set(&mut self, param: ParamId, value: u128) -> Result<(), ParamError> {
        let (min, max) = param.range();
        if value < min || value > max {
            return Err(ParamError::OutOfRange {
                param,
                value,
                min,
                max,
            });
        }
        match param {
            ParamId::TxFeeMin => self.tx_fee_min = Amount(value),
            ParamId::UnbondingEpochs => self.unbonding_epochs = to_u64(value),
            ParamId::MaxSeats => self.max_seats = to_u64(value),
            ParamId::ValidatorStakeMin => self.validator_stake_min = Amount(value),
            ParamId::OracleStakeMin => self.oracle_stake_min = Amount(value),
            ParamId::SlashDoubleSignBps => self.slash_double_sign_bps = to_u64(value),
            ParamId::DeviceOnboardFeeDc => self.device_onboard_fee_dc = Credits(to_u64(value)),
            ParamId::LocationAssertFeeDc => self.location_assert_fee_dc = Credits(to_u64(value)),
            ParamId::PriceMaxAgeSecs => self.price_max_age_secs = to_u64(value),
            ParamId::PriceFreshMin => self.price_fresh_min = to_u64(value),
            ParamId::MintWindowEpochs => self.mint_window_epochs = to_u64(value),
            ParamId::MintWindowMax => self.mint_window_max = Amount(value),
            ParamId::LockEpochsMax => self.lock_epochs_max = to_u64(value),
            ParamId::VotingPeriodBlocks => self.voting_period_blocks = to_u64(value),
            ParamId::TimelockBlocks => self.timelock_blocks = to_u64(value),
            ParamId::QuorumBps => self.quorum_bps = to_u64(value),
            ParamId::ThresholdBps => self.threshold_bps = to_u64(value),
            ParamId::ProposalPowerMin => self.proposal_power_min = Amount(value),
            ParamId::DowntimeJailBps => self.downtime_jail_bps = to_u64(value),
            ParamId::ChurnBps => self.churn_bps = to_u64(value),
            ParamId::PriceMoveMaxBpsPerMinute => self.price_move_max_bps_per_minute = to_u64(value),
            ParamId::PriceSpreadMaxBps => self.price_spread_max_bps = to_u64(value),
            ParamId::ManifestCommitSecs => self.manifest_commit_secs = to_u64(value),
            ParamId::ManifestAttestSecs => self.manifest_attest_secs = to_u64(value),
            ParamId::LogRetentionEpochs => self.log_retention_epochs = to_u64(value),
            ParamId::ReportSkewMaxSecs => self.report_skew_max_secs = to_u64(value),
            ParamId::UptimeWindowSecs => self.uptime_window_secs = to_u64(value),
            ParamId::ReportDelayMaxSecs => self.report_delay_max_secs = to_u64(value),
            ParamId::RewardComputeAllowanceSecs => {
                self.reward_compute_allowance_secs = to_u64(value)
            }
            ParamId::LogFileBytesMax => self.log_file_bytes_max = to_u64(value),
            ParamId::LogFileFramesMax => self.log_file_frames_max = to_u64(value),
            ParamId::LogFileRatioMax => self.log_file_ratio_max = to_u64(value),
            ParamId::ManifestLogBytesMax => self.manifest_log_bytes_max = to_u64(value),
            ParamId::ManifestFramesMax => self.manifest_frames_max = to_u64(value),
            ParamId::ManifestUnregisteredDevicesMax => {
                self.manifest_unregistered_devices_max = to_u64(value)
            }
        }
        Ok(())
    }

    /// Checks that an epoch's report windows (`report_skew_max_secs`, `report_delay_max_secs`),
    /// its manifest windows (`manifest_commit_secs`, `manifest_attest_secs`) and
    /// `reward_compute_allowance_secs` sum to at most half of [`MAX_ROOT_EPOCH_SPAN`]
    /// consensus epochs of `chain` at its block interval, so that a root always has as long
    /// again to land (retries, an outage) before its pools fall out of reach. The genesis and
    /// every parameter proposal are refused otherwise (`windows_exceed_root_span`).
    pub fn check_root_span(&self, chain: &ChainConfig) -> Result<(), ParamError> {
        let windows_secs = [
            self.report_skew_max_secs,
            self.report_delay_max_secs,
            self.manifest_commit_secs,
            self.manifest_attest_secs,
            self.reward_compute_allowance_secs,
        ]
        .iter()
        .fold(0u64, |sum, w| sum.saturating_add(*w));
        let span_ms = u128::from(MAX_ROOT_EPOCH_SPAN / 2)
            * u128::from(chain.blocks_per_epoch)
            * u128::from(chain.consensus.block_interval_ms);
        let span_secs = u64::try_from(span_ms / 1_000).unwrap_or(u64::MAX);
        if windows_secs > span_secs {
            return Err(ParamError::WindowsExceedRootSpan {
                windows_secs,
                span_secs,
            });
        }
        Ok(())
    }

    /// Checks every parameter against its range and the emission weights: used on genesis files.
    pub fn validate(&self) -> Result<(), ParamError> {
        let mut copy = self.clone();
        for param in ParamId::ALL {
            copy.set(param, self.get(param))?;
        }
        if !self.emission_weights.is_valid() {
            return Err(ParamError::WeightsNotWhole(
                self.emission_weights.total_bps(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_every_param_round_trips() {
        let mut params = Params::default();
        assert_eq!(params.validate(), Ok(()));
        for param in ParamId::ALL {
            assert_eq!(param.name().parse::<ParamId>(), Ok(param));
            let (min, max) = param.range();
            params.set(param, min).unwrap();
            assert_eq!(params.get(param), min);
            params.set(param, max).unwrap();
            assert_eq!(params.get(param), max);
        }
    }

    fn chain(blocks_per_epoch: u64) -> ChainConfig {
        ChainConfig {
            chain_id: ChainId::new("span").unwrap(),
            blocks_per_epoch,
            emission: EmissionSchedule {
                initial_per_epoch: Amount(0),
                halving_interval_epochs: 1,
                emission_cap: Amount(0),
            },
            consensus: ConsensusRules::default(),
            protocol_version: 1,
            epochs_per_reward_epoch: 1,
        }
    }

    #[test]
    fn the_windows_must_fit_in_half_the_epochs_a_root_reaches_back() {
        let params = Params::default();
        // 3,900 s of windows; `cairn genesis`'s 8,640-block epochs give 32 × 1,728 s.
        assert_eq!(params.check_root_span(&chain(8_640)), Ok(()));
        // 10-block epochs of 200 ms: 32 × 2 s = 64 s.
        assert_eq!(
            params.check_root_span(&chain(10)),
            Err(ParamError::WindowsExceedRootSpan {
                windows_secs: 3_900,
                span_secs: 64
            })
        );
        let short = Params {
            report_skew_max_secs: 4,
            report_delay_max_secs: 20,
            manifest_commit_secs: 10,
            manifest_attest_secs: 10,
            reward_compute_allowance_secs: 20,
            ..Params::default()
        };
        assert_eq!(short.check_root_span(&chain(10)), Ok(()));
        let over = Params {
            reward_compute_allowance_secs: 21,
            ..short
        };
        assert!(over.check_root_span(&chain(10)).is_err());
    }

    #[test]
    fn out_of_range_changes_nothing() {
        let mut params = Params::default();
        let before = params.clone();
        assert!(matches!(
            params.set(ParamId::QuorumBps, 10_001),
            Err(ParamError::OutOfRange { .. })
        ));
        assert!(params.set(ParamId::VotingPeriodBlocks, 0).is_err());
        assert_eq!(params, before);
        assert_eq!(
            "nope".parse::<ParamId>(),
            Err(ParamError::Unknown("nope".into()))
        );
    }

    #[test]
    fn emission_halves_and_respects_cap() {
        let schedule = EmissionSchedule {
            initial_per_epoch: Amount(1000),
            halving_interval_epochs: 10,
            emission_cap: Amount(25_000),
        };
        assert_eq!(schedule.emission_for(0, Amount(0)), Amount(1000));
        assert_eq!(schedule.emission_for(9, Amount(0)), Amount(1000));
        assert_eq!(schedule.emission_for(10, Amount(0)), Amount(500));
        assert_eq!(schedule.emission_for(25, Amount(0)), Amount(250));
        assert_eq!(schedule.emission_for(1000, Amount(0)), Amount(0));
        assert_eq!(schedule.emission_for(0, Amount(24_900)), Amount(100));
        assert_eq!(schedule.emission_for(0, Amount(30_000)), Amount(0));
    }
}
