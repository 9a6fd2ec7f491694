//! Oracle stake as the weight of reward roots, and its slashing.
//!
//! When an epoch begins, each oracle's bonded stake is recorded ([`StateKey::OracleStakes`]). A
//! reward root paying that epoch is weighed with that record: stake bonded later does not count,
//! so nobody can bond after seeing an epoch's reports and outvote the committee that watched it.
//! A signer counts for the smaller of its recorded stake and what can still be slashed from it
//! now (bonded plus unbonding oracle stake), so stake already withdrawn signs for nothing; and
//! the unbonding stake of every signer of an accepted root is held for a whole unbonding period
//! from then ([`hold_for_root`]), so no signer can withdraw before a slash for the root.
//!
//! Unbonding oracle stake stays slashable until it is withdrawn, and a governance proposal
//! ([`cairn_types::tx::ProposalAction::SlashOracle`]) burns a share of both, for a price or a
//! root the voters judge proven bad. An oracle that signed two different roots for one epoch and
//! sub-network is slashed without a vote, on evidence anyone reports
//! ([`slash_double_sign`]).

use super::rewards::MAX_ROOT_EPOCH_SPAN;
use super::Exec;
use crate::error::{ExecError, TxError};
use crate::state::records::{OffenceRecord, OracleStakes, Oracles, Unbondings};
use crate::state::StateKey;
use cairn_types::amount::mul_div_floor;
use cairn_types::oracle_evidence::OracleDoubleSignEvidence;
use cairn_types::subnetwork::BPS_DENOMINATOR;
use cairn_types::tx::StakeRole;
use cairn_types::{Address, Amount, Epoch, Hash};

/// Records every oracle's stake as `epoch` begins, and forgets the record that no root can use
/// any more (older than [`MAX_ROOT_EPOCH_SPAN`] epochs).
pub fn snapshot(ex: &mut Exec<'_, '_>, epoch: Epoch) -> Result<(), ExecError> {
    let oracles: Oracles = ex.state.get_or_default(&StateKey::Oracles)?;
    let stakes = OracleStakes(oracles.0.iter().map(|(a, o)| (*a, o.stake)).collect());
    ex.state.put(&StateKey::OracleStakes(epoch), &stakes);
    if let Some(old) = epoch.0.checked_sub(MAX_ROOT_EPOCH_SPAN + 1) {
        ex.state.delete(&StateKey::OracleStakes(Epoch(old)));
    }
    Ok(())
}

/// The oldest epoch a root may pay now.
pub fn oldest_payable(now: Epoch) -> Epoch {
    Epoch(now.0.saturating_sub(MAX_ROOT_EPOCH_SPAN))
}

/// The recorded oracle stakes of `epoch`.
pub fn stakes_of(ex: &Exec<'_, '_>, epoch: Epoch) -> Result<OracleStakes, ExecError> {
    let oldest = oldest_payable(ex.epoch());
    match ex.state.get(&StateKey::OracleStakes(epoch))? {
        Some(stakes) if epoch >= oldest => Ok(stakes),
        _ => Err(TxError::RootEpochTooOld { epoch, oldest }.into()),
    }
}

/// Oracle stake of `oracle` that can be slashed now: bonded plus unbonding.
pub fn slashable(ex: &Exec<'_, '_>, oracle: &Address) -> Result<Amount, ExecError> {
    at_risk_since(ex, oracle, Epoch(0))
}

/// Oracle stake of `oracle` that can be slashed now and was bonded when `epoch` began: bonded
/// plus what it unbonded since.
pub fn at_risk_since(
    ex: &Exec<'_, '_>,
    oracle: &Address,
    epoch: Epoch,
) -> Result<Amount, ExecError> {
    let oracles: Oracles = ex.state.get_or_default(&StateKey::Oracles)?;
    let mut total = oracles.0.get(oracle).map_or(Amount::ZERO, |o| o.stake);
    let entries: Unbondings = ex.state.get_or_default(&StateKey::Unbonding(*oracle))?;
    for entry in entries
        .0
        .iter()
        .filter(|e| e.role == StakeRole::Oracle && e.unbonded_epoch >= epoch)
    {
        total = total
            .checked_add(entry.amount)
            .ok_or(TxError::AmountOverflow)?;
    }
    Ok(total)
}

/// What `oracle`'s signature weighs for a root or an attestation of the epoch whose recorded
/// stakes are `stakes` (and which began at consensus epoch `epoch`): its recorded stake, but no
/// more than can still be slashed from it (stake withdrawn since signs for nothing).
pub fn signing_weight(
    ex: &Exec<'_, '_>,
    stakes: &OracleStakes,
    oracle: &Address,
    epoch: Epoch,
) -> Result<Amount, ExecError> {
    let Some(recorded) = stakes.0.get(oracle) else {
        return Ok(Amount::ZERO);
    };
    Ok((*recorded).min(at_risk_since(ex, oracle, epoch)?))
}

/// True when `signed` is at least 2/3 of a non-zero `total`, in integers: 3·signed ≥ 2·total.
pub fn is_two_thirds(signed: Amount, total: Amount) -> bool {
    !total.is_zero()
        && signed
            .0
            .checked_mul(3)
            .zip(total.0.checked_mul(2))
            .is_some_and(|(s, t)| s >= t)
}

/// Keeps the oracle stake that `oracle` unbonded since `epoch` began (the stake that weighed its
/// signature on that epoch's root) from being withdrawn for a whole unbonding period from now:
/// called for each signer of an accepted root, so stake that signed a root can be slashed for
/// it (its bonded stake, if unbonded later, waits the period anyway). Stake unbonded before
/// the epoch did not sign and is not held.
pub fn hold_for_root(
    ex: &mut Exec<'_, '_>,
    oracle: &Address,
    epoch: Epoch,
) -> Result<(), ExecError> {
    let key = StateKey::Unbonding(*oracle);
    let Some(mut entries) = ex.state.get::<Unbondings>(&key)? else {
        return Ok(());
    };
    let until = Epoch(ex.epoch().0.saturating_add(ex.params.unbonding_epochs));
    let mut changed = false;
    for entry in entries
        .0
        .iter_mut()
        .filter(|e| e.role == StakeRole::Oracle && e.unbonded_epoch >= epoch)
    {
        if entry.release_epoch < until {
            entry.release_epoch = until;
            changed = true;
        }
    }
    if changed {
        ex.state.put(&key, &entries);
    }
    Ok(())
}

/// Checks that a slash of `bps` of `oracle`'s stake can run.
pub fn check_slash(ex: &Exec<'_, '_>, oracle: &Address, bps: u64) -> Result<(), ExecError> {
    if bps == 0 || bps > BPS_DENOMINATOR {
        return Err(TxError::SlashOutOfRange(bps).into());
    }
    if slashable(ex, oracle)?.is_zero() {
        return Err(TxError::NoOracleStake(*oracle).into());
    }
    Ok(())
}

/// Burns `bps` of `oracle`'s bonded and unbonding oracle stake (each rounded down).
pub fn slash(ex: &mut Exec<'_, '_>, oracle: &Address, bps: u64) -> Result<Amount, ExecError> {
    check_slash(ex, oracle, bps)?;
    let cut = |stake: Amount| {
        Amount(mul_div_floor(stake.0, u128::from(bps), u128::from(BPS_DENOMINATOR)).unwrap_or(0))
    };
    let mut slashed = Amount::ZERO;
    let mut oracles: Oracles = ex.state.get_or_default(&StateKey::Oracles)?;
    if let Some(info) = oracles.0.get_mut(oracle) {
        let part = cut(info.stake);
        info.stake = info.stake.saturating_sub(part);
        slashed = part;
        if info.stake.is_zero() {
            oracles.0.remove(oracle);
        }
        ex.state.put(&StateKey::Oracles, &oracles);
    }
    let key = StateKey::Unbonding(*oracle);
    let mut entries: Unbondings = ex.state.get_or_default(&key)?;
    for entry in entries.0.iter_mut().filter(|e| e.role == StakeRole::Oracle) {
        let part = cut(entry.amount);
        entry.amount = entry.amount.saturating_sub(part);
        slashed = slashed.checked_add(part).ok_or(TxError::AmountOverflow)?;
    }
    if !entries.0.is_empty() {
        ex.state.put(&key, &entries);
    }
    ex.burn(slashed)?;
    Ok(slashed)
}

/// Slashes an oracle proven to have signed two different roots for one epoch and sub-network
/// ([`OracleDoubleSignEvidence`]), reported by transaction `reported_by`: burns
/// `slash_double_sign_bps` of its bonded and unbonding oracle stake (each rounded down) and
/// takes it off the committee, what it still had bonded unbonding as usual (slashable until
/// withdrawn). One offence per oracle, epoch and sub-network.
pub fn slash_double_sign(
    ex: &mut Exec<'_, '_>,
    evidence: &OracleDoubleSignEvidence,
    reported_by: Hash,
) -> Result<(), ExecError> {
    evidence
        .verify(&ex.config.chain_id)
        .map_err(TxError::InvalidOracleEvidence)?;
    let offence = evidence.offence_id();
    super::staking::not_punished_yet(ex, offence)?;
    let oracle = evidence.oracle;
    // Only a member of the epoch's committee signs its roots, and only roots a root could still
    // pay count: older evidence is refused (`root_epoch_too_old`), as is one of an oracle that
    // was not a member (`unknown_oracle`).
    let began = ex.config.reward_clock().first_epoch(evidence.epoch);
    let stakes = stakes_of(ex, began)?;
    if !stakes.0.contains_key(&oracle) {
        return Err(TxError::UnknownOracle(oracle).into());
    }
    let slashed = slash(ex, &oracle, ex.params.slash_double_sign_bps)?;
    let mut oracles: Oracles = ex.state.get_or_default(&StateKey::Oracles)?;
    if let Some(info) = oracles.0.remove(&oracle) {
        ex.state.put(&StateKey::Oracles, &oracles);
        super::staking::unbond_removed_oracle(ex, &oracle, info.stake)?;
    }
    ex.state.put(
        &StateKey::Offence(offence),
        &OffenceRecord {
            validator: oracle,
            slashed,
            height: ex.height,
            reported_by,
        },
    );
    ex.notes.push(format!(
        "oracle {oracle} slashed {slashed} and taken off the committee for signing two roots of \
         epoch {} ({})",
        evidence.epoch, evidence.subnetwork
    ));
    Ok(())
}
