//! Staking: validators and oracles bond stake, unbond it through a waiting period, and
//! validators are slashed for double signing.
//!
//! Bonded and unbonding stake stays in the supply but leaves the balance. A validator's weight in
//! consensus is its stake at the epoch boundary (see [`crate::epoch`]); unbonding stake can still
//! be slashed until it is withdrawn, which is what makes the unbonding period meaningful.

use super::Exec;
use crate::error::{ExecError, TxError};
use crate::state::records::{
    OffenceRecord, OracleInfo, Oracles, UnbondingEntry, Unbondings, ValidatorInfo, Validators,
};
use crate::state::StateKey;
use cairn_types::amount::mul_div_floor;
use cairn_types::evidence::DoubleSignEvidence;
use cairn_types::subnetwork::BPS_DENOMINATOR;
use cairn_types::tx::StakeRole;
use cairn_types::{Address, Amount, Epoch, Hash, PublicKey};

/// Most unbonding entries one account may have in flight.
pub const MAX_UNBONDING_ENTRIES: usize = 32;
/// Most validator candidates (a bound on the registry's size).
pub const MAX_VALIDATOR_CANDIDATES: usize = 10_000;
/// Most oracle committee members.
pub const MAX_ORACLES: usize = 128;

/// Bonds validator stake; the first bond fixes the consensus key.
pub fn bond_validator(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    amount: Amount,
    consensus_key: PublicKey,
) -> Result<(), ExecError> {
    if amount.is_zero() {
        return Err(TxError::ZeroAmount.into());
    }
    let mut validators: Validators = ex.state.get_or_default(&StateKey::Validators)?;
    if let Some((owner, _)) = validators
        .0
        .iter()
        .find(|(a, v)| v.consensus_key == consensus_key && *a != sender)
    {
        return Err(TxError::ConsensusKeyInUse(*owner).into());
    }
    let current = validators.0.get(sender).cloned();
    let info = match current {
        Some(v) if v.jailed => return Err(TxError::Jailed(*sender).into()),
        Some(v) if v.consensus_key != consensus_key => {
            return Err(TxError::ConsensusKeyMismatch.into())
        }
        Some(v) => v,
        None => {
            if validators.0.len() >= MAX_VALIDATOR_CANDIDATES {
                return Err(TxError::ValidatorRegistryFull {
                    max: MAX_VALIDATOR_CANDIDATES,
                }
                .into());
            }
            ValidatorInfo {
                consensus_key,
                stake: Amount::ZERO,
                jailed: false,
            }
        }
    };
    let stake = info
        .stake
        .checked_add(amount)
        .ok_or(TxError::AmountOverflow)?;
    if stake < ex.params.validator_stake_min {
        return Err(TxError::StakeTooLow {
            min: ex.params.validator_stake_min,
            got: stake,
        }
        .into());
    }
    ex.debit(sender, amount)?;
    validators
        .0
        .insert(*sender, ValidatorInfo { stake, ..info });
    ex.state.put(&StateKey::Validators, &validators);
    Ok(())
}

/// Bonds oracle stake.
pub fn bond_oracle(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    amount: Amount,
) -> Result<(), ExecError> {
    if amount.is_zero() {
        return Err(TxError::ZeroAmount.into());
    }
    let mut oracles: Oracles = ex.state.get_or_default(&StateKey::Oracles)?;
    let current = oracles.0.get(sender).cloned();
    if current.is_none() && oracles.0.len() >= MAX_ORACLES {
        return Err(TxError::OracleCommitteeFull { max: MAX_ORACLES }.into());
    }
    let info = current.unwrap_or(OracleInfo {
        stake: Amount::ZERO,
        price: None,
    });
    let stake = info
        .stake
        .checked_add(amount)
        .ok_or(TxError::AmountOverflow)?;
    if stake < ex.params.oracle_stake_min {
        return Err(TxError::StakeTooLow {
            min: ex.params.oracle_stake_min,
            got: stake,
        }
        .into());
    }
    ex.debit(sender, amount)?;
    oracles.0.insert(*sender, OracleInfo { stake, ..info });
    ex.state.put(&StateKey::Oracles, &oracles);
    Ok(())
}

/// Starts unbonding. What remains bonded must be zero or at least the minimum.
pub fn unbond(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    role: StakeRole,
    amount: Amount,
) -> Result<(), ExecError> {
    if amount.is_zero() {
        return Err(TxError::ZeroAmount.into());
    }
    let shortfall = |bonded: Amount| TxError::InsufficientStake {
        bonded,
        requested: amount,
    };
    match role {
        StakeRole::Validator => {
            let mut validators: Validators = ex.state.get_or_default(&StateKey::Validators)?;
            let info = validators
                .0
                .get_mut(sender)
                .ok_or(TxError::NotAValidator(*sender))?;
            let left = info
                .stake
                .checked_sub(amount)
                .ok_or_else(|| shortfall(info.stake))?;
            check_remaining(left, ex.params.validator_stake_min)?;
            info.stake = left;
            // A validator that unbonds everything stays on record (with no stake, so in no
            // set) until its unbonding stake is withdrawn: evidence of an earlier double
            // signature must still find it and cut that stake.
            ex.state.put(&StateKey::Validators, &validators);
        }
        StakeRole::Oracle => {
            let mut oracles: Oracles = ex.state.get_or_default(&StateKey::Oracles)?;
            let info = oracles
                .0
                .get_mut(sender)
                .ok_or(TxError::NotAnOracle(*sender))?;
            let left = info
                .stake
                .checked_sub(amount)
                .ok_or_else(|| shortfall(info.stake))?;
            check_remaining(left, ex.params.oracle_stake_min)?;
            info.stake = left;
            if left.is_zero() {
                oracles.0.remove(sender);
            }
            ex.state.put(&StateKey::Oracles, &oracles);
        }
    }
    let key = StateKey::Unbonding(*sender);
    let mut entries: Unbondings = ex.state.get_or_default(&key)?;
    if entries.0.len() >= MAX_UNBONDING_ENTRIES {
        return Err(TxError::TooManyUnbondings(MAX_UNBONDING_ENTRIES).into());
    }
    let release_epoch = Epoch(ex.epoch().0.saturating_add(ex.params.unbonding_epochs));
    entries.0.push(UnbondingEntry {
        role,
        amount,
        release_epoch,
    });
    ex.state.put(&key, &entries);
    ex.notes
        .push(format!("{amount} unbonding until epoch {release_epoch}"));
    Ok(())
}

fn check_remaining(left: Amount, min: Amount) -> Result<(), ExecError> {
    if !left.is_zero() && left < min {
        return Err(TxError::StakeTooLow { min, got: left }.into());
    }
    Ok(())
}

/// Returns every matured unbonding entry to the balance.
pub fn withdraw(ex: &mut Exec<'_, '_>, sender: &Address) -> Result<(), ExecError> {
    let key = StateKey::Unbonding(*sender);
    let entries: Unbondings = ex.state.get_or_default(&key)?;
    let now = ex.epoch();
    let (ready, waiting): (Vec<_>, Vec<_>) =
        entries.0.into_iter().partition(|e| e.release_epoch <= now);
    if ready.is_empty() {
        return Err(TxError::NothingToWithdraw.into());
    }
    let mut total = Amount::ZERO;
    for entry in &ready {
        total = total
            .checked_add(entry.amount)
            .ok_or(TxError::AmountOverflow)?;
    }
    ex.credit(sender, total)?;
    // The record of a validator with no stake left goes once no validator stake is unbonding.
    if !waiting.iter().any(|e| e.role == StakeRole::Validator) {
        let mut validators: Validators = ex.state.get_or_default(&StateKey::Validators)?;
        if validators
            .0
            .get(sender)
            .is_some_and(|v| v.stake.is_zero() && !v.jailed)
        {
            validators.0.remove(sender);
            ex.state.put(&StateKey::Validators, &validators);
        }
    }
    if waiting.is_empty() {
        ex.state.delete(&key);
    } else {
        ex.state.put(&key, &Unbondings(waiting));
    }
    ex.notes.push(format!("withdrew {total} of unbonded stake"));
    Ok(())
}

/// Slashes a validator proven to have double-signed: burns `slash_double_sign_bps` of its bonded
/// and unbonding validator stake (rounded down) and jails it.
pub fn slash_double_sign(
    ex: &mut Exec<'_, '_>,
    evidence: &DoubleSignEvidence,
    reported_by: Hash,
) -> Result<(), ExecError> {
    evidence
        .verify(&ex.config.chain_id)
        .map_err(TxError::InvalidEvidence)?;
    let offence = evidence.offence_id();
    if ex
        .state
        .get::<OffenceRecord>(&StateKey::Offence(offence))?
        .is_some()
    {
        return Err(TxError::AlreadyPunished(offence).into());
    }
    let oldest = ex.epoch().0.saturating_sub(ex.params.unbonding_epochs);
    if evidence.first.vote.epoch < oldest {
        return Err(TxError::EvidenceTooOld {
            evidence: evidence.first.vote.epoch,
            oldest,
        }
        .into());
    }
    let mut validators: Validators = ex.state.get_or_default(&StateKey::Validators)?;
    let (address, info) = validators
        .0
        .iter_mut()
        .find(|(_, v)| v.consensus_key == evidence.consensus_key)
        .ok_or(TxError::UnknownConsensusKey(evidence.consensus_key))?;
    let address = *address;
    let bps = u128::from(ex.params.slash_double_sign_bps);
    let denominator = u128::from(BPS_DENOMINATOR);
    // Rounded down: the slashed validator keeps the fraction of a base unit.
    let cut = |stake: Amount| Amount(mul_div_floor(stake.0, bps, denominator).unwrap_or(0));
    let mut slashed = cut(info.stake);
    info.stake = info.stake.saturating_sub(slashed);
    info.jailed = true;
    let unbonding_key = StateKey::Unbonding(address);
    let mut entries: Unbondings = ex.state.get_or_default(&unbonding_key)?;
    for entry in entries
        .0
        .iter_mut()
        .filter(|e| e.role == StakeRole::Validator)
    {
        let part = cut(entry.amount);
        entry.amount = entry.amount.saturating_sub(part);
        slashed = slashed.checked_add(part).ok_or(TxError::AmountOverflow)?;
    }
    if !entries.0.is_empty() {
        ex.state.put(&unbonding_key, &entries);
    }
    ex.state.put(&StateKey::Validators, &validators);
    ex.burn(slashed)?;
    ex.state.put(
        &StateKey::Offence(offence),
        &OffenceRecord {
            validator: address,
            slashed,
            height: ex.height,
            reported_by,
        },
    );
    ex.notes.push(format!(
        "validator {address} slashed {slashed} and jailed for double signing"
    ));
    Ok(())
}
