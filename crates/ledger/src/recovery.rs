//! Recovering a halted chain: the state at its last finalized height becomes the genesis of a new
//! chain, with a validator set the operators choose.
//!
//! A chain halts for good when more than a third of its seats are gone (keys lost, operators
//! away) and cannot come back: nothing on chain can change the set without finalizing. The way
//! out, as in other BFT chains, is social: the operators agree on a height, a new chain id and a
//! new set, and [`export`] turns the state at that height into a [`Genesis`] whose
//! [`Carried`] records keep every account, stake, device, credit, reward claim and lock.
//! Anyone holding the same state gets the same file from the same plan, so each operator can
//! export on its own node and compare before starting (`docs/NODE.md`, "Recovering a halted
//! chain").
//!
//! The new chain starts at height 0 and epoch 0, so what was keyed by the old chain's epochs or
//! heights is moved (old epoch `E` of the export becomes epoch 0, old height `H` becomes 0):
//!
//! | record | in the new genesis |
//! |---|---|
//! | chain state | height, epoch and liveness counter 0; supply, burns, emission and treasury kept |
//! | validator sets, liveness | dropped: the genesis chooses the sets of epochs 0 and 1 |
//! | chosen validators | new keys (with proofs for the new chain id), unjailed, their stake |
//! | other validators | jailed for downtime at epoch 0: back with `Unjail` from epoch 2 |
//! | emission pools no root has paid | minted to the treasury (a root of the new chain cannot cover old epochs) |
//! | reward roots | kept, marked as accepted at height 0: the next root may start at epoch 0 |
//! | unbonding, locks, lock expiries | release and end epochs moved back by `E` |
//! | proposals | heights moved back by `H` (voting continues for the blocks it had left) |
//! | claim circuit breaker window | epochs moved back by `E` |
//! | everything else | unchanged |
//!
//! The emission schedule continues at the rate in force at `E`: the new chain's schedule starts
//! from `initial_per_epoch >> halvings(E)`, with the cap and the amount already emitted kept.
//! Evidence of double signing on the old chain cannot be reported on the new one (votes are
//! bound to the chain id), so it must be reported before the export.

use crate::genesis::{Genesis, GenesisValidator};
use crate::ledger::Ledger;
use crate::state::overlay::{Overlay, MAX_STATE_VALUE_BYTES};
use crate::state::records::{
    Account, ChainState, DeviceRecord, Jail, LocationEntry, LockRecord, LockSums, MakerRecord,
    MintWindow, OffenceRecord, Oracles, Proposal, RewardRootRecord, Unbondings, ValidatorInfo,
    VoteRecord,
};
use crate::state::StateKey;
use crate::StoreError;
use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::codec::{decode, encode};
use cairn_types::params::{ChainConfig, ChainId, Params};
use cairn_types::validator_keys::ValidatorKeys;
use cairn_types::{Address, Amount, Credits, Epoch, Hash};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The state a recovery genesis carries over from the halted chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carried {
    /// The halted chain.
    pub from_chain_id: ChainId,
    /// The height exported (its last finalized block).
    pub from_height: u64,
    /// The state root at that height, for operators to compare.
    pub from_state_root: Hash,
    /// The epoch of that height (epoch 0 of the new chain).
    pub from_epoch: Epoch,
    /// Every record, moved as the module documentation says, in key order.
    pub records: Vec<CarriedRecord>,
}

/// One state record: its key and its value in the canonical encoding (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedRecord {
    /// The key.
    pub key: StateKey,
    /// The value's bytes, hex.
    pub value: String,
}

/// What the operators agreed on.
#[derive(Clone, Debug)]
pub struct RecoveryPlan {
    /// The new chain's id (must differ from the halted chain's: votes and transactions signed
    /// for one are worthless on the other).
    pub chain_id: ChainId,
    /// The height to export; the ledger must stand exactly there.
    pub height: u64,
    /// The new genesis time, milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// The validators of the first epochs and their new keys (signed for `chain_id`); each must
    /// be a validator of the halted chain, free of jail, with at least the minimum stake.
    pub validators: Vec<(Address, ValidatorKeys)>,
}

/// Why a recovery export or a recovery genesis was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    /// The ledger is not at the agreed height.
    #[error("this ledger stands at height {at}, not at the agreed height {agreed}")]
    WrongHeight {
        /// Where it stands.
        at: u64,
        /// What was agreed.
        agreed: u64,
    },
    /// The new chain id is the old one.
    #[error("the new chain id must differ from the halted chain's ({0})")]
    SameChainId(ChainId),
    /// No validator was chosen.
    #[error("choose at least one validator")]
    NoValidators,
    /// A chosen validator is not a validator of the halted chain.
    #[error("{0} is not a validator of the halted chain")]
    NotAValidator(Address),
    /// A chosen validator is jailed for good.
    #[error("{0} is jailed for double signing and cannot be chosen")]
    Jailed(Address),
    /// A chosen validator's stake is below the minimum.
    #[error("{who} has {stake} bonded, below the minimum {min}")]
    StakeTooLow {
        /// The validator.
        who: Address,
        /// Its stake.
        stake: Amount,
        /// The minimum.
        min: Amount,
    },
    /// A carried record is of a kind the genesis builds itself, or repeats.
    #[error("the carried state may not hold {0}")]
    NotCarried(String),
    /// A carried record does not decode.
    #[error("carried record {key}: {reason}")]
    BadRecord {
        /// Its key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A recovery genesis lists accounts, oracles or makers besides its carried state.
    #[error("a recovery genesis takes accounts, oracles and makers from its carried state only")]
    Mixed,
    /// A chosen validator's genesis entry does not match its carried record.
    #[error("validator {0}: its genesis stake differs from its carried record")]
    StakeMismatch(Address),
    /// Reading the state failed.
    #[error("reading the state: {0}")]
    Store(String),
}

impl From<StoreError> for RecoveryError {
    fn from(error: StoreError) -> Self {
        RecoveryError::Store(error.to_string())
    }
}

/// Exports the state of `ledger` as the genesis of a new chain under `plan`.
pub fn export(ledger: &Ledger, plan: &RecoveryPlan) -> Result<Genesis, RecoveryError> {
    let head = ledger.head();
    if head.height != plan.height {
        return Err(RecoveryError::WrongHeight {
            at: head.height,
            agreed: plan.height,
        });
    }
    let old_config = ledger.config().clone();
    if plan.chain_id == old_config.chain_id {
        return Err(RecoveryError::SameChainId(plan.chain_id.clone()));
    }
    if plan.validators.is_empty() {
        return Err(RecoveryError::NoValidators);
    }
    let params: Params = ledger
        .get(&StateKey::Params)?
        .ok_or_else(|| RecoveryError::Store("no parameters".into()))?;
    let mut chain: ChainState = ledger
        .get(&StateKey::ChainState)?
        .ok_or_else(|| RecoveryError::Store("no chain state".into()))?;
    let mut records: BTreeMap<StateKey, Vec<u8>> = BTreeMap::new();
    ledger.store().for_each(|key, value| {
        let key: StateKey = decode(key, MAX_STATE_VALUE_BYTES)
            .map_err(|e| StoreError::Corrupt(format!("state key: {e}")))?;
        records.insert(key, value.to_vec());
        Ok(())
    })?;
    let mover = Mover {
        epochs: chain.epoch.0,
        heights: head.height,
    };
    let chosen: BTreeMap<Address, &ValidatorKeys> =
        plan.validators.iter().map(|(a, k)| (*a, k)).collect();
    let mut validators = Vec::new();
    for (address, keys) in &chosen {
        let info: ValidatorInfo = records
            .get(&StateKey::Validator(*address))
            .map(|bytes| decoded(&StateKey::Validator(*address), bytes))
            .transpose()?
            .ok_or(RecoveryError::NotAValidator(*address))?;
        if info.jail == Jail::DoubleSign {
            return Err(RecoveryError::Jailed(*address));
        }
        if info.stake < params.validator_stake_min {
            return Err(RecoveryError::StakeTooLow {
                who: *address,
                stake: info.stake,
                min: params.validator_stake_min,
            });
        }
        validators.push(GenesisValidator {
            address: *address,
            keys: (*keys).clone(),
            stake: info.stake,
        });
    }
    let mut carried = Vec::new();
    let mut unpaid_pools = Amount::ZERO;
    for (key, bytes) in &records {
        let value = match key {
            StateKey::ChainConfig
            | StateKey::Params
            | StateKey::Validators
            | StateKey::ValidatorSet(_)
            | StateKey::Liveness(_)
            | StateKey::ChainState => None,
            StateKey::EmissionPool(..) => {
                let pool: Amount = decoded(key, bytes)?;
                unpaid_pools = plus(unpaid_pools, pool);
                None
            }
            StateKey::Validator(address) => {
                let mut info: ValidatorInfo = decoded(key, bytes)?;
                info.admitted = Amount::ZERO;
                info.jail = match info.jail {
                    Jail::DoubleSign => Jail::DoubleSign,
                    // Chosen validators start free (their keys come from the genesis entry);
                    // the others prove they are back with `Unjail`.
                    _ if chosen.contains_key(address) => Jail::Free,
                    _ => Jail::Downtime { epoch: Epoch(0) },
                };
                info.pending_keys = None;
                Some(encode(&info))
            }
            StateKey::Unbonding(_) => {
                let mut entries: Unbondings = decoded(key, bytes)?;
                for entry in &mut entries.0 {
                    entry.release_epoch = mover.epoch(entry.release_epoch);
                }
                Some(encode(&entries))
            }
            StateKey::Lock(_) => {
                let mut lock: LockRecord = decoded(key, bytes)?;
                lock.end_epoch = mover.epoch(lock.end_epoch);
                Some(encode(&lock))
            }
            StateKey::LockExpiry(end) => {
                let sums: LockSums = decoded(key, bytes)?;
                let end = mover.epoch(*end);
                carried.push(record(
                    StateKey::LockExpiry(end),
                    &encode(&mover.sums(sums)),
                ));
                None
            }
            StateKey::GovTotals => {
                let sums: LockSums = decoded(key, bytes)?;
                Some(encode(&mover.sums(sums)))
            }
            StateKey::Proposal(_) => {
                let mut proposal: Proposal = decoded(key, bytes)?;
                proposal.created_height = mover.height(proposal.created_height);
                proposal.voting_end_height = mover.height(proposal.voting_end_height);
                Some(encode(&proposal))
            }
            StateKey::RewardRoot(_) => {
                let mut root: RewardRootRecord = decoded(key, bytes)?;
                root.epoch = Epoch(0);
                root.accepted_height = 0;
                Some(encode(&root))
            }
            StateKey::MintWindow => {
                let window: MintWindow = decoded(key, bytes)?;
                let mut moved: BTreeMap<Epoch, Amount> = BTreeMap::new();
                for (epoch, amount) in window.0 {
                    let slot = moved.entry(mover.epoch(epoch)).or_default();
                    *slot = plus(*slot, amount);
                }
                Some(encode(&MintWindow(moved.into_iter().collect())))
            }
            other => {
                check_value(other, bytes)?;
                Some(bytes.clone())
            }
        };
        if let Some(value) = value {
            carried.push(record(key.clone(), &value));
        }
    }
    // Old pools cannot be paid by roots of the new chain: they go to the treasury, minted.
    chain.treasury = plus(chain.treasury, unpaid_pools);
    chain.total_supply = plus(chain.total_supply, unpaid_pools);
    let new_chain = ChainState {
        height: 0,
        timestamp_ms: plan.genesis_time_ms,
        epoch: Epoch(0),
        signers_counted_through: 0,
        unbonded_in_epoch: Amount::ZERO,
        unbonded_epoch: Epoch(0),
        ..chain
    };
    carried.push(record(StateKey::ChainState, &encode(&new_chain)));
    carried.sort_by(|a, b| a.key.cmp(&b.key));
    let mut emission = old_config.emission;
    let halvings = mover.epochs / emission.halving_interval_epochs.max(1);
    emission.initial_per_epoch = Amount(if halvings >= 128 {
        0
    } else {
        emission.initial_per_epoch.0 >> halvings
    });
    Ok(Genesis {
        chain: ChainConfig {
            chain_id: plan.chain_id.clone(),
            emission,
            ..old_config.clone()
        },
        genesis_time_ms: plan.genesis_time_ms,
        params,
        accounts: Vec::new(),
        validators,
        oracles: Vec::new(),
        makers: Vec::new(),
        carried: Some(Carried {
            from_chain_id: old_config.chain_id,
            from_height: head.height,
            from_state_root: head.state_root,
            from_epoch: Epoch(mover.epochs),
            records: carried,
        }),
    })
}

/// Moves epochs and heights of the old chain to the new one's.
struct Mover {
    epochs: u64,
    heights: u64,
}

impl Mover {
    fn epoch(&self, epoch: Epoch) -> Epoch {
        Epoch(epoch.0.saturating_sub(self.epochs))
    }

    fn height(&self, height: u64) -> u64 {
        height.saturating_sub(self.heights)
    }

    /// Lock sums after every end epoch moved back: Σ amount × end loses `epochs × Σ amount`.
    fn sums(&self, sums: LockSums) -> LockSums {
        LockSums {
            amount: sums.amount,
            amount_end: sums
                .amount_end
                .saturating_sub(sums.amount.saturating_mul(u128::from(self.epochs))),
        }
    }
}

/// Sums amounts of a supply that is bounded far below `u128::MAX` (see
/// `genesis::SUPPLY_MAX_BASE_UNITS`).
fn plus(a: Amount, b: Amount) -> Amount {
    Amount(a.0.saturating_add(b.0))
}

fn record(key: StateKey, value: &[u8]) -> CarriedRecord {
    CarriedRecord {
        key,
        value: hex::encode(value),
    }
}

fn decoded<V: BorshDeserialize>(key: &StateKey, bytes: &[u8]) -> Result<V, RecoveryError> {
    decode(bytes, MAX_STATE_VALUE_BYTES).map_err(|e| RecoveryError::BadRecord {
        key: format!("{key:?}"),
        reason: e.to_string(),
    })
}

/// Checks that `bytes` decode as the value `key` holds; refuses the kinds a recovery genesis
/// builds itself.
fn check_value(key: &StateKey, bytes: &[u8]) -> Result<(), RecoveryError> {
    match key {
        StateKey::ChainState => decoded::<ChainState>(key, bytes).map(drop),
        StateKey::Account(_) => decoded::<Account>(key, bytes).map(drop),
        StateKey::Device(_) => decoded::<DeviceRecord>(key, bytes).map(drop),
        StateKey::DeviceLocation(..) => decoded::<LocationEntry>(key, bytes).map(drop),
        StateKey::Maker(_) => decoded::<MakerRecord>(key, bytes).map(drop),
        StateKey::Oracles => decoded::<Oracles>(key, bytes).map(drop),
        StateKey::Unbonding(_) => decoded::<Unbondings>(key, bytes).map(drop),
        StateKey::Offence(_) => decoded::<OffenceRecord>(key, bytes).map(drop),
        StateKey::DelegatedCredits(..) | StateKey::CreditUsage(_) => {
            decoded::<Credits>(key, bytes).map(drop)
        }
        StateKey::RewardRoot(_) => decoded::<RewardRootRecord>(key, bytes).map(drop),
        StateKey::RewardClaimed(..) => decoded::<Amount>(key, bytes).map(drop),
        StateKey::MintWindow => decoded::<MintWindow>(key, bytes).map(drop),
        StateKey::Lock(_) => decoded::<LockRecord>(key, bytes).map(drop),
        StateKey::LockExpiry(_) | StateKey::GovTotals => decoded::<LockSums>(key, bytes).map(drop),
        StateKey::Proposal(_) => decoded::<Proposal>(key, bytes).map(drop),
        StateKey::ProposalVote(..) => decoded::<VoteRecord>(key, bytes).map(drop),
        StateKey::Validator(_) => decoded::<ValidatorInfo>(key, bytes).map(drop),
        StateKey::ConsensusKeyOwner(_) => decoded::<Address>(key, bytes).map(drop),
        StateKey::ChainConfig
        | StateKey::Params
        | StateKey::Validators
        | StateKey::ValidatorSet(_)
        | StateKey::Liveness(_)
        | StateKey::EmissionPool(..) => Err(RecoveryError::NotCarried(format!("{key:?}"))),
    }
}

/// Bytes written verbatim (already in the canonical encoding).
struct Raw<'a>(&'a [u8]);

impl BorshSerialize for Raw<'_> {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(self.0)
    }
}

impl Carried {
    /// Checks every record: each key once, in order, of a kind carried, with a value that
    /// decodes; and a chain state among them. Returns that chain state.
    pub fn check(&self) -> Result<ChainState, RecoveryError> {
        let mut chain = None;
        for pair in self.records.windows(2) {
            if pair[0].key >= pair[1].key {
                return Err(RecoveryError::NotCarried(format!(
                    "{:?} out of order or twice",
                    pair[1].key
                )));
            }
        }
        for r in &self.records {
            let bytes = self.bytes(r)?;
            check_value(&r.key, &bytes)?;
            if r.key == StateKey::ChainState {
                chain = Some(decoded::<ChainState>(&r.key, &bytes)?);
            }
        }
        chain.ok_or_else(|| RecoveryError::BadRecord {
            key: "ChainState".into(),
            reason: "missing".into(),
        })
    }

    fn bytes(&self, r: &CarriedRecord) -> Result<Vec<u8>, RecoveryError> {
        hex::decode(&r.value).map_err(|e| RecoveryError::BadRecord {
            key: format!("{:?}", r.key),
            reason: e.to_string(),
        })
    }

    /// Writes every record into `overlay` (after [`Carried::check`]).
    pub fn write(&self, overlay: &mut Overlay<'_>) -> Result<(), RecoveryError> {
        for r in &self.records {
            let bytes = self.bytes(r)?;
            overlay.put(&r.key, &Raw(&bytes));
        }
        Ok(())
    }

    /// The carried record of validator `address`.
    pub fn validator(&self, address: &Address) -> Result<Option<ValidatorInfo>, RecoveryError> {
        let key = StateKey::Validator(*address);
        match self.records.binary_search_by(|r| r.key.cmp(&key)) {
            Ok(i) => Ok(Some(decoded(&key, &self.bytes(&self.records[i])?)?)),
            Err(_) => Ok(None),
        }
    }

    /// The owner of a consensus key in the carried state, if any.
    pub fn key_owner(
        &self,
        key: &cairn_types::PublicKey,
    ) -> Result<Option<Address>, RecoveryError> {
        let key = StateKey::ConsensusKeyOwner(*key);
        match self.records.binary_search_by(|r| r.key.cmp(&key)) {
            Ok(i) => Ok(Some(decoded(&key, &self.bytes(&self.records[i])?)?)),
            Err(_) => Ok(None),
        }
    }
}
