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

pub use crate::carried::{
    check_consent, consent_digest, Carried, CarriedRecord, RecoveryError, RecoveryKeys,
};
use crate::carried::{check_value, decoded, plus, record};
use crate::genesis::{Genesis, GenesisValidator};
use crate::ledger::Ledger;
use crate::state::overlay::MAX_STATE_VALUE_BYTES;
use crate::state::records::{
    ChainState, HeldPools, Jail, LockRecord, LockSums, MintWindow, Proposal, RewardRootRecord,
    Unbondings, ValidatorInfo,
};
use crate::state::StateKey;
use crate::StoreError;
use cairn_types::codec::{decode, encode};
use cairn_types::params::{ChainConfig, ChainId, Params};
use cairn_types::validator_keys::ValidatorKeys;
use cairn_types::{Address, Amount, Epoch, Signature};
use std::collections::BTreeMap;

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
    /// The validators of the first epochs, their new keys (signed for `chain_id`) and each
    /// account's consent ([`consent_digest`]); each must be a validator of the halted chain, not
    /// jailed for good, with at least the minimum stake.
    pub validators: Vec<(Address, ValidatorKeys, Signature)>,
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
    let mut chosen: BTreeMap<Address, (&ValidatorKeys, Signature)> = BTreeMap::new();
    for (address, keys, consent) in &plan.validators {
        check_consent(&plan.chain_id, address, keys, consent)?;
        if chosen.insert(*address, (keys, *consent)).is_some() {
            return Err(RecoveryError::ChosenTwice(*address));
        }
    }
    let mut validators = Vec::new();
    for (address, (keys, consent)) in &chosen {
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
            consent: Some(*consent),
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
            | StateKey::PriceReference
            | StateKey::OracleStakes(_)
            | StateKey::OracleEvictions
            | StateKey::Protocol
            | StateKey::ChainState
            // The halted chain's epochs are over: its manifests and root history stay with it.
            | StateKey::Manifests(_)
            | StateKey::RewardRootOf(..)
            | StateKey::SettlementsOf(..)
            | StateKey::RewardEpochEnd(_) => None,
            StateKey::EmissionPool(..) => {
                let pool: Amount = decoded(key, bytes)?;
                unpaid_pools = plus(unpaid_pools, pool);
                None
            }
            StateKey::UnpaidPools(_) => {
                let held: HeldPools = decoded(key, bytes)?;
                unpaid_pools = plus(unpaid_pools, held.amount);
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
                // A rotation that was waiting takes effect: the old keys may be the ones the
                // validator was getting away from.
                if let Some(keys) = info.pending_keys.take() {
                    info.node_key = keys.node_key;
                    info.seat_keys = keys.seat_keys;
                }
                Some(encode(&info))
            }
            StateKey::Unbonding(_) => {
                let mut entries: Unbondings = decoded(key, bytes)?;
                for entry in &mut entries.0 {
                    entry.release_epoch = mover.epoch(entry.release_epoch);
                    entry.unbonded_epoch = mover.epoch(entry.unbonded_epoch);
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
            StateKey::GovTotals | StateKey::GovOverCap => {
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
            // The new chain starts under the version the halted chain ran.
            protocol_version: ledger.protocol_at(head.height)?,
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
