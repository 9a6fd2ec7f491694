//! Work done at an epoch boundary, in the first block of the new epoch.
//!
//! 1. Emission of the epoch that just closed: the schedule's amount (halving, capped) is split by
//!    the governance weights. Each sub-network's share becomes a pool that reward roots draw on;
//!    the validators' share is paid to the closed epoch's validators pro rata to stake; the
//!    treasury gets its share plus every rounding residue. Every split rounds down.
//! 2. Locks that end at the new epoch leave the total voting power.
//! 3. The new epoch's validator set is chosen from stake now: unjailed candidates with at least
//!    the minimum stake, largest stake first (ties by address), at most `max_validators`. If none
//!    qualifies the previous set stays, so the chain never loses its validators.

use crate::error::{ExecError, TxError};
use crate::exec::{governance, Exec};
use crate::state::records::{ValidatorSet, ValidatorSetMember, Validators};
use crate::state::StateKey;
use cairn_types::amount::mul_div_floor;
use cairn_types::params::Params;
use cairn_types::subnetwork::BPS_DENOMINATOR;
use cairn_types::{Amount, Epoch, Subnetwork};

/// Closes epoch `new − 1` and opens epoch `new`.
pub fn enter_epoch(ex: &mut Exec<'_, '_>, new: Epoch) -> Result<(), ExecError> {
    let closed = Epoch(new.0.saturating_sub(1));
    emit(ex, closed)?;
    ex.chain.epoch = new;
    governance::expire_locks(ex, new)?;
    let set = select_validators(ex, new)?;
    ex.notes.push(format!(
        "epoch {new} begins with {} validator(s)",
        set.members.len()
    ));
    Ok(())
}

fn share(amount: Amount, bps: u64) -> Result<Amount, ExecError> {
    mul_div_floor(amount.0, u128::from(bps), u128::from(BPS_DENOMINATOR))
        .map(Amount)
        .ok_or(TxError::AmountOverflow.into())
}

fn emit(ex: &mut Exec<'_, '_>, closed: Epoch) -> Result<(), ExecError> {
    let amount = ex
        .config
        .emission
        .emission_for(closed.0, ex.chain.total_emitted);
    if amount.is_zero() {
        return Ok(());
    }
    ex.chain.total_emitted = ex
        .chain
        .total_emitted
        .checked_add(amount)
        .ok_or(TxError::AmountOverflow)?;
    let weights = ex.params.emission_weights;
    let mut pooled = Amount::ZERO;
    for subnetwork in Subnetwork::ALL {
        let pool = share(amount, u64::from(weights.subnetwork_bps(subnetwork)))?;
        if !pool.is_zero() {
            ex.state
                .put(&StateKey::EmissionPool(closed, subnetwork), &pool);
        }
        pooled = pooled.checked_add(pool).ok_or(TxError::AmountOverflow)?;
    }
    let validators_share = share(amount, u64::from(weights.validators_bps))?;
    let set: ValidatorSet = ex.state.get_or_default(&StateKey::ValidatorSet)?;
    // A validator jailed or fully unbonded during the epoch earns nothing for it; its share goes
    // to the treasury.
    let registry: Validators = ex.state.get_or_default(&StateKey::Validators)?;
    let paid_members: Vec<&ValidatorSetMember> = set
        .members
        .iter()
        .filter(|m| {
            registry
                .0
                .get(&m.address)
                .is_some_and(|v| !v.jailed && !v.stake.is_zero())
        })
        .collect();
    let total_stake = set
        .members
        .iter()
        .try_fold(0u128, |acc, m| acc.checked_add(m.stake.0))
        .ok_or(TxError::AmountOverflow)?;
    let mut paid = Amount::ZERO;
    if total_stake > 0 {
        for member in paid_members {
            let reward = mul_div_floor(validators_share.0, member.stake.0, total_stake)
                .map(Amount)
                .ok_or(TxError::AmountOverflow)?;
            if !reward.is_zero() {
                ex.credit(&member.address, reward)?;
                paid = paid.checked_add(reward).ok_or(TxError::AmountOverflow)?;
            }
        }
    }
    // Minted now: everything but the pools (which are minted when claimed). The treasury gets the
    // remainder: its own share, the validators' rounding residue, and the pools' rounding residue.
    let minted = amount.saturating_sub(pooled);
    let to_treasury = minted.saturating_sub(paid);
    ex.mint(minted)?;
    ex.chain.treasury = ex
        .chain
        .treasury
        .checked_add(to_treasury)
        .ok_or(TxError::AmountOverflow)?;
    ex.notes.push(format!(
        "epoch {closed} emission {amount}: {pooled} to sub-network pools, {paid} to validators, \
         {to_treasury} to the treasury"
    ));
    Ok(())
}

/// Chooses and stores the validator set of `epoch` from the current registry.
pub fn select_validators(ex: &mut Exec<'_, '_>, epoch: Epoch) -> Result<ValidatorSet, ExecError> {
    let registry: Validators = ex.state.get_or_default(&StateKey::Validators)?;
    let previous: ValidatorSet = ex.state.get_or_default(&StateKey::ValidatorSet)?;
    let set = choose_validators(&registry, &ex.params, previous, epoch);
    ex.state.put(&StateKey::ValidatorSet, &set);
    Ok(set)
}

/// The validator set of `epoch` chosen from `registry` under `params`: unjailed candidates with
/// at least the minimum stake, largest stake first (ties by address), at most
/// `max_validators`; `previous` (renumbered) if none qualifies.
pub fn choose_validators(
    registry: &Validators,
    params: &Params,
    previous: ValidatorSet,
    epoch: Epoch,
) -> ValidatorSet {
    let mut members: Vec<ValidatorSetMember> = registry
        .0
        .iter()
        .filter(|(_, v)| !v.jailed && v.stake >= params.validator_stake_min)
        .map(|(address, v)| ValidatorSetMember {
            address: *address,
            consensus_key: v.consensus_key,
            stake: v.stake,
        })
        .collect();
    members.sort_by(|a, b| b.stake.cmp(&a.stake).then(a.address.cmp(&b.address)));
    members.truncate(usize::try_from(params.max_validators).unwrap_or(usize::MAX));
    if members.is_empty() {
        ValidatorSet { epoch, ..previous }
    } else {
        ValidatorSet { epoch, members }
    }
}
