//! The genesis file: the chain's configuration, parameters and initial holdings.
//!
//! A genesis is JSON (written by `cairn genesis new`). [`Genesis::validate`] refuses anything
//! that would start a broken chain, with a message that names the problem; [`Genesis::state`]
//! turns it into the state at height 0.

use crate::carried::{Carried, RecoveryError};
use crate::exec::Exec;
use crate::state::overlay::{Changes, EmptyState};
use crate::state::records::{
    Account, ChainState, Jail, MakerRecord, OracleInfo, Oracles, ValidatorInfo, Validators,
};
use crate::state::{Overlay, StateKey};
use cairn_types::keys::KeyError;
use cairn_types::params::{
    ChainConfig, ConsensusRules, ParamError, Params, MAX_EPOCHS_PER_REWARD_EPOCH,
};
use cairn_types::validator_keys::{KeysError, ValidatorKeys};
use cairn_types::{Address, Amount, Epoch, PublicKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// An account funded at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisAccount {
    /// The account.
    pub address: Address,
    /// Its balance.
    pub balance: Amount,
}

/// A validator of the first epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisValidator {
    /// Its account.
    pub address: Address,
    /// Its node key and seat keys, each with its proof of possession.
    pub keys: ValidatorKeys,
    /// Its bonded stake.
    pub stake: Amount,
    /// In a recovery genesis, the account's consent to sit with these keys
    /// ([`crate::carried::consent_digest`]); unused otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<cairn_types::Signature>,
}

impl GenesisValidator {
    /// Its record in the state at height 0 (nothing admitted yet: the first set admits all).
    pub fn record(&self) -> ValidatorInfo {
        ValidatorInfo {
            node_key: self.keys.node.key,
            seat_keys: self.keys.seat_keys(),
            pending_keys: None,
            stake: self.stake,
            admitted: Amount::ZERO,
            jail: Jail::Free,
        }
    }
}

/// An oracle committee member at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisOracle {
    /// Its account.
    pub address: Address,
    /// Its bonded stake.
    pub stake: Amount,
}

/// A maker approved at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisMaker {
    /// Its key.
    pub key: PublicKey,
    /// Its name.
    pub name: String,
}

/// Everything a chain starts from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// Chain id, epoch length, emission schedule.
    pub chain: ChainConfig,
    /// Genesis time, milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// Governance parameters.
    pub params: Params,
    /// Funded accounts.
    pub accounts: Vec<GenesisAccount>,
    /// First validators.
    pub validators: Vec<GenesisValidator>,
    /// First oracle committee.
    pub oracles: Vec<GenesisOracle>,
    /// Approved makers.
    #[serde(default)]
    pub makers: Vec<GenesisMaker>,
    /// The state carried over from a halted chain (a recovery genesis, see
    /// [`crate::recovery`]): accounts, oracles and makers come from it, and `validators` are
    /// the chosen validators with new keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried: Option<Carried>,
}

/// Why a genesis was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The chain id is empty.
    #[error("chain id is empty")]
    EmptyChainId,
    /// A consensus rule is out of range.
    #[error("chain.consensus.{rule} must be between {min} and {max}, got {got}")]
    ConsensusRule {
        /// The rule's name.
        rule: &'static str,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
        /// Given.
        got: u64,
    },
    /// A reward epoch must be 1 to 16 consensus epochs long.
    #[error("epochs_per_reward_epoch must be between 1 and 16, got {0}")]
    RewardEpochLength(u64),
    /// An epoch must have at least two blocks.
    #[error("blocks_per_epoch must be at least 2, got {0}")]
    EpochTooShort(u64),
    /// The halving interval is zero.
    #[error("emission halving_interval_epochs must be at least 1")]
    ZeroHalvingInterval,
    /// This build cannot run the genesis's protocol version.
    #[error("the genesis starts with protocol version {version}; this build of cairn runs versions {oldest} to {newest}")]
    UnsupportedProtocol {
        /// The genesis's version.
        version: u32,
        /// Oldest version this build runs.
        oldest: u32,
        /// Newest version this build runs.
        newest: u32,
    },
    /// A parameter is out of range.
    #[error("invalid parameter: {0}")]
    Param(#[from] ParamError),
    /// An account, validator, oracle, consensus key or maker appears twice.
    #[error("{what} {who} appears twice")]
    Duplicate {
        /// What kind of entry.
        what: &'static str,
        /// Which.
        who: String,
    },
    /// No validator.
    #[error("genesis has no validator")]
    NoValidators,
    /// A validator's keys are refused.
    #[error("validator {who}: {error}")]
    Keys {
        /// The validator.
        who: Address,
        /// Why.
        error: KeysError,
    },
    /// An account or maker key that no honest signer has (small order or non-canonical).
    #[error("{what} {key:?} is a weak key: {error}")]
    WeakKey {
        /// What kind of entry.
        what: &'static str,
        /// The key.
        key: PublicKey,
        /// Why.
        error: KeyError,
    },
    /// The genesis supply plus everything the schedule may emit is too large for reward math.
    #[error(
        "genesis allocations plus the emission cap come to {total} base units; at most {max} \
         (reward shares multiply two amounts in 128 bits)"
    )]
    SupplyTooLarge {
        /// Allocations, stakes and the emission cap, added up (saturating).
        total: u128,
        /// The most allowed.
        max: u128,
    },
    /// A stake is below its minimum.
    #[error("{who} stakes {stake}, below the minimum {min}")]
    StakeTooLow {
        /// Which validator or oracle.
        who: Address,
        /// Its stake.
        stake: Amount,
        /// The minimum.
        min: Amount,
    },
    /// The total supply overflows.
    #[error("total supply overflows")]
    SupplyOverflow,
    /// Reading or parsing the file failed.
    #[error("genesis file: {0}")]
    File(String),
    /// The carried state of a recovery genesis is refused.
    #[error("recovery: {0}")]
    Recovery(#[from] RecoveryError),
}

fn unique<T: Ord + std::fmt::Display>(
    items: impl Iterator<Item = T>,
    what: &'static str,
) -> Result<(), GenesisError> {
    let mut seen = BTreeSet::new();
    for item in items {
        let who = item.to_string();
        if !seen.insert(item) {
            return Err(GenesisError::Duplicate { what, who });
        }
    }
    Ok(())
}

impl Genesis {
    /// Reads and validates a genesis file.
    pub fn load(path: &std::path::Path) -> Result<Genesis, GenesisError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GenesisError::File(format!("{}: {e}", path.display())))?;
        let genesis: Genesis = serde_json::from_str(&text)
            .map_err(|e| GenesisError::File(format!("{}: {e}", path.display())))?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// Checks that the genesis starts a working chain.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.chain.chain_id.as_str().is_empty() {
            return Err(GenesisError::EmptyChainId);
        }
        if self.chain.blocks_per_epoch < 2 {
            return Err(GenesisError::EpochTooShort(self.chain.blocks_per_epoch));
        }
        let reward_epoch = self.chain.epochs_per_reward_epoch;
        if reward_epoch == 0 || reward_epoch > MAX_EPOCHS_PER_REWARD_EPOCH {
            return Err(GenesisError::RewardEpochLength(reward_epoch));
        }
        if self.chain.emission.halving_interval_epochs == 0 {
            return Err(GenesisError::ZeroHalvingInterval);
        }
        let supported = crate::protocol::SUPPORTED_PROTOCOL_VERSIONS;
        if !supported.contains(&self.chain.protocol_version) {
            return Err(GenesisError::UnsupportedProtocol {
                version: self.chain.protocol_version,
                oldest: *supported.start(),
                newest: *supported.end(),
            });
        }
        validate_consensus_rules(&self.chain.consensus)?;
        self.validate_supply()?;
        self.params.validate()?;
        self.params.check_root_span(&self.chain)?;
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        unique(self.accounts.iter().map(|a| a.address), "account")?;
        unique(self.validators.iter().map(|v| v.address), "validator")?;
        unique(
            self.validators.iter().flat_map(|v| {
                std::iter::once(Address(v.keys.node.key))
                    .chain(v.keys.seats.iter().map(|p| Address(p.key)))
            }),
            "consensus key",
        )?;
        for v in &self.validators {
            v.keys
                .check(&self.chain.chain_id, &v.address)
                .map_err(|error| GenesisError::Keys {
                    who: v.address,
                    error,
                })?;
        }
        let accounts = self.accounts.iter().map(|a| ("account", a.address.0));
        let makers = self.makers.iter().map(|m| ("maker", m.key));
        for (what, key) in accounts.chain(makers) {
            key.check_strong()
                .map_err(|error| GenesisError::WeakKey { what, key, error })?;
        }
        unique(self.oracles.iter().map(|o| o.address), "oracle")?;
        unique(self.makers.iter().map(|m| Address(m.key)), "maker")?;
        for v in &self.validators {
            if v.stake < self.params.validator_stake_min {
                return Err(GenesisError::StakeTooLow {
                    who: v.address,
                    stake: v.stake,
                    min: self.params.validator_stake_min,
                });
            }
        }
        for o in &self.oracles {
            if o.stake < self.params.oracle_stake_min {
                return Err(GenesisError::StakeTooLow {
                    who: o.address,
                    stake: o.stake,
                    min: self.params.oracle_stake_min,
                });
            }
        }
        self.total_supply()?;
        if let Some(carried) = &self.carried {
            self.validate_carried(carried)?;
        }
        Ok(())
    }

    /// A recovery genesis: nothing besides the carried state but the chosen validators, each a
    /// validator of the halted chain with its stake there and new keys nobody else holds.
    fn validate_carried(&self, carried: &Carried) -> Result<(), GenesisError> {
        if !self.accounts.is_empty() || !self.oracles.is_empty() || !self.makers.is_empty() {
            return Err(RecoveryError::Mixed.into());
        }
        let chain = carried.check()?;
        if chain.timestamp_ms != self.genesis_time_ms {
            return Err(RecoveryError::Inconsistent(
                "the chain state's time is not the genesis time".into(),
            )
            .into());
        }
        for v in &self.validators {
            let consent = v.consent.ok_or(RecoveryError::NoConsent(v.address))?;
            crate::carried::check_consent(&self.chain.chain_id, &v.address, &v.keys, &consent)?;
            let record = carried
                .validator(&v.address)?
                .ok_or(RecoveryError::NotAValidator(v.address))?;
            if record.jail == Jail::DoubleSign {
                return Err(RecoveryError::Jailed(v.address).into());
            }
            if record.stake != v.stake {
                return Err(RecoveryError::StakeMismatch(v.address).into());
            }
            let keys = std::iter::once(v.keys.node.key).chain(v.keys.seat_keys());
            for key in keys {
                if let Some(owner) = carried.key_owner(&key)? {
                    if owner != v.address {
                        return Err(GenesisError::Duplicate {
                            what: "consensus key",
                            who: Address(key).to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn total_supply(&self) -> Result<Amount, GenesisError> {
        if let Some(carried) = &self.carried {
            // Stakes of the chosen validators are already in the carried supply.
            return Ok(carried.check()?.total_supply);
        }
        self.accounts
            .iter()
            .map(|a| a.balance)
            .chain(self.validators.iter().map(|v| v.stake))
            .chain(self.oracles.iter().map(|o| o.stake))
            .try_fold(Amount::ZERO, Amount::checked_add)
            .ok_or(GenesisError::SupplyOverflow)
    }

    /// The validator set of the first epochs (0 and 1), as [`Genesis::state`] stores it.
    pub fn initial_validator_set(&self) -> crate::state::records::ValidatorSet {
        let records = self
            .validators
            .iter()
            .map(|v| (v.address, v.record()))
            .collect();
        crate::epoch::choose_validators(&records, &self.params, Default::default(), Epoch(0)).0
    }

    /// The state at height 0.
    pub fn state(&self) -> Result<Changes, GenesisError> {
        self.validate()?;
        let mut overlay = Overlay::new(&EmptyState);
        if let Some(carried) = &self.carried {
            carried.write(&mut overlay)?;
        }
        overlay.put(&StateKey::ChainConfig, &self.chain);
        overlay.put(&StateKey::Params, &self.params);
        for a in &self.accounts {
            overlay.put(
                &StateKey::Account(a.address),
                &Account {
                    balance: a.balance,
                    ..Account::default()
                },
            );
        }
        for v in &self.validators {
            let info = v.record();
            overlay.put(&StateKey::Validator(v.address), &info);
            for key in std::iter::once(info.node_key).chain(info.seat_keys.iter().copied()) {
                overlay.put(&StateKey::ConsensusKeyOwner(key), &v.address);
            }
        }
        let index = Validators(
            self.validators
                .iter()
                .map(|v| (v.address, v.stake))
                .collect(),
        );
        overlay.put(&StateKey::Validators, &index);
        let oracles = Oracles(
            self.oracles
                .iter()
                .map(|o| {
                    (
                        o.address,
                        OracleInfo {
                            stake: o.stake,
                            price: None,
                        },
                    )
                })
                .collect(),
        );
        if self.carried.is_none() {
            overlay.put(&StateKey::Oracles, &oracles);
        }
        for m in &self.makers {
            overlay.put(
                &StateKey::Maker(m.key),
                &MakerRecord {
                    name: m.name.clone(),
                    approved: true,
                    revoked_from: None,
                },
            );
        }
        let chain = match &self.carried {
            Some(carried) => carried.check()?,
            None => ChainState {
                height: 0,
                timestamp_ms: self.genesis_time_ms,
                epoch: Epoch(0),
                total_supply: self.total_supply()?,
                ..ChainState::default()
            },
        };
        overlay.put(&StateKey::ChainState, &chain);
        overlay.put(
            &StateKey::Protocol,
            &crate::protocol::ProtocolRecord {
                version: self.chain.protocol_version,
                upgrade: None,
            },
        );
        overlay.commit_tx();
        let mut ex = Exec {
            state: &mut overlay,
            chain,
            params: self.params.clone(),
            config: &self.chain,
            height: 0,
            time_ms: self.genesis_time_ms,
            notes: Vec::new(),
        };
        // The sets of epochs 0 and 1 both come from the genesis state (later sets are chosen one
        // epoch ahead, at each epoch's first block).
        for epoch in [Epoch(0), Epoch(1)] {
            crate::epoch::select_validators(&mut ex, epoch)
                .map_err(|e| GenesisError::File(e.to_string()))?;
        }
        // The oracle stake that weighs the first epoch's reward root.
        let epoch = ex.chain.epoch;
        crate::exec::oracle_stake::snapshot(&mut ex, epoch)
            .map_err(|e| GenesisError::File(e.to_string()))?;
        Ok(overlay.into_changes())
    }
}

/// The most base units the supply may ever reach: supply only grows by emission, which the cap
/// bounds, and a reward share multiplies an amount by a stake, both below this, so the product
/// fits in 128 bits (no reward computation can overflow).
pub const SUPPLY_MAX_BASE_UNITS: u128 = 1 << 63;

impl Genesis {
    /// Refuses a genesis whose supply could grow past [`SUPPLY_MAX_BASE_UNITS`].
    fn validate_supply(&self) -> Result<(), GenesisError> {
        let amounts = self
            .accounts
            .iter()
            .map(|a| a.balance.0)
            .chain(self.validators.iter().map(|v| v.stake.0))
            .chain(self.oracles.iter().map(|o| o.stake.0))
            .chain(std::iter::once(self.chain.emission.emission_cap.0));
        let mut total = amounts.fold(0u128, u128::saturating_add);
        if let Some(carried) = &self.carried {
            let chain = carried.check()?;
            let room = self
                .chain
                .emission
                .emission_cap
                .saturating_sub(chain.total_emitted);
            total = chain.total_supply.0.saturating_add(room.0);
        }
        if total > SUPPLY_MAX_BASE_UNITS {
            return Err(GenesisError::SupplyTooLarge {
                total,
                max: SUPPLY_MAX_BASE_UNITS,
            });
        }
        Ok(())
    }
}

/// Checks each consensus rule against its range.
fn validate_consensus_rules(rules: &ConsensusRules) -> Result<(), GenesisError> {
    let ranges = [
        (
            "block_transactions_max",
            u64::from(rules.block_transactions_max),
            1,
            u64::from(ConsensusRules::BLOCK_TRANSACTIONS_LIMIT),
        ),
        (
            "block_transaction_bytes_max",
            u64::from(rules.block_transaction_bytes_max),
            // A block must hold the largest transaction the mempool admits.
            cairn_types::tx::MAX_TX_BYTES as u64,
            u64::from(ConsensusRules::BLOCK_TRANSACTION_BYTES_LIMIT),
        ),
        ("block_interval_ms", rules.block_interval_ms, 0, 60_000),
        ("clock_drift_max_ms", rules.clock_drift_max_ms, 0, 60_000),
    ];
    for (rule, got, min, max) in ranges {
        if got < min || got > max {
            return Err(GenesisError::ConsensusRule {
                rule,
                min,
                max,
                got,
            });
        }
    }
    Ok(())
}
