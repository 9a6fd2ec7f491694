//! Staking: validators and oracles bond stake, unbond it through a waiting period, and
//! validators are slashed for double signing and jailed for downtime.
//!
//! Bonded and unbonding stake stays in the supply but leaves the balance. A validator's seats in
//! consensus follow its stake when a validator set is chosen (see [`crate::epoch`] and
//! [`crate::seats`]); unbonding stake can still be slashed until it is withdrawn, which is what
//! makes the unbonding period meaningful.
//!
//! A validator's record (`StateKey::Validator`) holds its keys, stake and jail; the index
//! `StateKey::Validators` lists only validators eligible for seats (unjailed, with stake), so the
//! epoch step reads no more than it needs and jailed validators cannot fill it.

use super::Exec;
use crate::error::{ExecError, TxError};
use crate::state::records::{
    Jail, OffenceRecord, OracleInfo, Oracles, PendingKeys, UnbondingEntry, Unbondings,
    ValidatorInfo, Validators,
};
use crate::state::StateKey;
use cairn_types::amount::mul_div_floor;
use cairn_types::evidence::DoubleSignEvidence;
use cairn_types::subnetwork::BPS_DENOMINATOR;
use cairn_types::tx::StakeRole;
use cairn_types::validator_keys::ValidatorKeys;
use cairn_types::{Address, Amount, Epoch, Hash};

/// Most unbonding entries one account may have in flight.
pub const MAX_UNBONDING_ENTRIES: usize = 32;
/// Most validators eligible for seats at once (a bound on the index the epoch step reads; each
/// entry needs at least the minimum validator stake).
pub const MAX_VALIDATOR_CANDIDATES: usize = 1_000;
/// Most oracle committee members.
pub const MAX_ORACLES: usize = 128;

/// A validator's record, if it has one.
pub fn validator(ex: &Exec<'_, '_>, address: &Address) -> Result<Option<ValidatorInfo>, ExecError> {
    Ok(ex.state.get(&StateKey::Validator(*address))?)
}

/// Whether a change asks for a place in a full index ([`put_validator`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Index {
    /// A bond or an unjail: take the place of a smaller stake, or be refused.
    Enter,
    /// Anything else: a validator left out stays out, and the change goes through.
    Keep,
}

/// Stores a validator's record and keeps the index of eligible validators in step with it.
fn put_validator(
    ex: &mut Exec<'_, '_>,
    address: &Address,
    info: &ValidatorInfo,
    index_rule: Index,
) -> Result<(), ExecError> {
    ex.state.put(&StateKey::Validator(*address), info);
    let mut index: Validators = ex.state.get_or_default(&StateKey::Validators)?;
    let eligible = !info.jail.is_jailed() && !info.stake.is_zero();
    let left_out = !index.0.contains_key(address) && index.0.len() >= MAX_VALIDATOR_CANDIDATES;
    let changed = if eligible && left_out && index_rule == Index::Keep {
        false
    } else if eligible {
        if let Some(out) = make_room(&mut index, address, info.stake)? {
            ex.notes.push(format!(
                "validator {out} left the eligible index for a larger stake; bond more to come back"
            ));
        }
        index.0.insert(*address, info.stake) != Some(info.stake)
    } else {
        index.0.remove(address).is_some()
    };
    if changed {
        ex.state.put(&StateKey::Validators, &index);
    }
    Ok(())
}

/// Makes room in a full index for `address` with `stake`: a larger stake takes the place of the
/// smallest (ties: the higher address leaves), so squatting the index with minimum bonds locks
/// nobody out. The one that leaves keeps its record and stake and comes back by bonding more.
/// Returns who left; refuses when the newcomer is not larger than anyone.
fn make_room(
    index: &mut Validators,
    address: &Address,
    stake: Amount,
) -> Result<Option<Address>, TxError> {
    if index.0.contains_key(address) || index.0.len() < MAX_VALIDATOR_CANDIDATES {
        return Ok(None);
    }
    let out = replaced_by(index.0.iter().map(|(a, s)| (*a, *s)), stake).ok_or(
        TxError::ValidatorRegistryFull {
            max: MAX_VALIDATOR_CANDIDATES,
        },
    )?;
    index.0.remove(&out);
    Ok(Some(out))
}

/// Who a newcomer with `stake` replaces in a full index of `members` (address, stake): the
/// smallest stake (of equal ones, the higher address), when it is smaller than `stake`.
fn replaced_by(members: impl Iterator<Item = (Address, Amount)>, stake: Amount) -> Option<Address> {
    members
        .min_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .filter(|(_, least)| *least < stake)
        .map(|(out, _)| out)
}

/// Checks `keys` for `sender` and records `sender` as the owner of each. A key once registered
/// by another validator is refused for good (evidence against it must find one owner).
fn register_keys(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    keys: &ValidatorKeys,
) -> Result<PendingKeys, ExecError> {
    keys.check(&ex.config.chain_id, sender)
        .map_err(TxError::InvalidKeys)?;
    let all = std::iter::once(&keys.node).chain(keys.seats.iter());
    for proof in all {
        let slot = StateKey::ConsensusKeyOwner(proof.key);
        match ex.state.get::<Address>(&slot)? {
            Some(owner) if owner != *sender => return Err(TxError::ConsensusKeyInUse(owner).into()),
            Some(_) => {}
            None => ex.state.put(&slot, sender),
        }
    }
    Ok(PendingKeys {
        node_key: keys.node.key,
        seat_keys: keys.seat_keys(),
    })
}

/// Bonds validator stake; the first bond registers the validator's keys.
pub fn bond_validator(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    amount: Amount,
    keys: Option<&ValidatorKeys>,
) -> Result<(), ExecError> {
    if amount.is_zero() {
        return Err(TxError::ZeroAmount.into());
    }
    let info = match (validator(ex, sender)?, keys) {
        (Some(v), _) if v.jail.is_jailed() => return Err(TxError::Jailed(*sender).into()),
        (Some(_), Some(_)) => return Err(TxError::KeysAlreadySet.into()),
        (Some(v), None) => v,
        (None, None) => return Err(TxError::KeysRequired.into()),
        (None, Some(keys)) => {
            let keys = register_keys(ex, sender, keys)?;
            ValidatorInfo {
                node_key: keys.node_key,
                seat_keys: keys.seat_keys,
                pending_keys: None,
                stake: Amount::ZERO,
                admitted: Amount::ZERO,
                jail: Jail::Free,
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
    put_validator(ex, sender, &ValidatorInfo { stake, ..info }, Index::Enter)
}

/// Registers new keys for a validator; they replace the current ones in the next validator set
/// chosen (at the first block of the next epoch, for the epoch after it).
pub fn rotate_keys(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    keys: &ValidatorKeys,
) -> Result<(), ExecError> {
    let mut info = validator(ex, sender)?.ok_or(TxError::NotAValidator(*sender))?;
    // One rotation waits at a time (so at most one per epoch registers keys for good), and a
    // validator jailed for good has nothing to rotate.
    if info.jail == Jail::DoubleSign {
        return Err(TxError::Jailed(*sender).into());
    }
    if info.pending_keys.is_some() {
        return Err(TxError::RotationPending(*sender).into());
    }
    info.pending_keys = Some(register_keys(ex, sender, keys)?);
    ex.notes.push(format!(
        "validator {sender}: {} seat key(s) take over at the next validator set chosen",
        keys.seats.len()
    ));
    put_validator(ex, sender, &info, Index::Keep)
}

/// Frees a validator jailed for downtime, from the epoch after the one it missed.
pub fn unjail(ex: &mut Exec<'_, '_>, sender: &Address) -> Result<(), ExecError> {
    let mut info = validator(ex, sender)?.ok_or(TxError::NotAValidator(*sender))?;
    let Jail::Downtime { epoch } = info.jail else {
        return Err(TxError::NotJailedForDowntime(*sender).into());
    };
    let until = Epoch(epoch.0.saturating_add(2));
    if ex.epoch() < until {
        return Err(TxError::JailNotServed {
            until,
            now: ex.epoch(),
        }
        .into());
    }
    if info.stake < ex.params.validator_stake_min {
        return Err(TxError::StakeTooLow {
            min: ex.params.validator_stake_min,
            got: info.stake,
        }
        .into());
    }
    info.jail = Jail::Free;
    ex.notes.push(format!("validator {sender} unjailed"));
    match put_validator(ex, sender, &info, Index::Enter) {
        // A full index never keeps a validator in jail: it is free, and waits for room (or
        // bonds more) to be eligible again.
        Err(ExecError::Refused(TxError::ValidatorRegistryFull { .. })) => {
            ex.state.put(&StateKey::Validator(*sender), &info);
            ex.notes.push(format!(
                "validator {sender}: the eligible index is full; bond more to be eligible"
            ));
            Ok(())
        }
        other => other,
    }
}

/// Jails a validator that missed too many votes (the epoch step calls this); a validator already
/// jailed stays as it is.
pub fn jail_for_downtime(
    ex: &mut Exec<'_, '_>,
    address: &Address,
    epoch: Epoch,
) -> Result<(), ExecError> {
    let Some(mut info) = validator(ex, address)? else {
        return Ok(());
    };
    if info.jail.is_jailed() {
        return Ok(());
    }
    info.jail = Jail::Downtime { epoch };
    // Back in, it enters as any newcomer does, within the churn limit.
    info.admitted = Amount::ZERO;
    ex.notes.push(format!(
        "validator {address} jailed for missing votes in epoch {epoch}"
    ));
    put_validator(ex, address, &info, Index::Keep)
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
    let info = current.clone().unwrap_or(OracleInfo {
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
    // A full committee makes room for a larger stake: its smallest member leaves, so minimum
    // bonds cannot squat every seat. Within a churn limit, so that nobody replaces a third of
    // the committee's weight in one epoch.
    let evicted = if current.is_none() && oracles.0.len() >= MAX_ORACLES {
        let members = oracles.0.iter().map(|(a, o)| (*a, o.stake));
        let out =
            replaced_by(members, stake).ok_or(TxError::OracleCommitteeFull { max: MAX_ORACLES })?;
        let left = oracles.0.get(&out).map_or(Amount::ZERO, |o| o.stake);
        limit_eviction_churn(ex, left)?;
        Some((out, left))
    } else {
        None
    };
    ex.debit(sender, amount)?;
    if let Some((out, left)) = evicted {
        oracles.0.remove(&out);
        unbond_removed_oracle(ex, &out, left)?;
        ex.notes.push(format!(
            "oracle {out} left the full committee for a larger stake; its {left} unbonds"
        ));
    }
    oracles.0.insert(*sender, OracleInfo { stake, ..info });
    ex.state.put(&StateKey::Oracles, &oracles);
    Ok(())
}

/// The churn limit on evictions from the full oracle committee: in one reward epoch, the stake
/// of the members evicted may add up to at most `churn_bps` of the committee stake recorded
/// when it began, except that the first eviction of a reward epoch always passes (so a
/// committee of equal stakes still admits one newcomer a reward epoch). Records `stake` as
/// evicted.
fn limit_eviction_churn(ex: &mut Exec<'_, '_>, stake: Amount) -> Result<(), ExecError> {
    // Roots and attestations weigh the stakes recorded when a reward epoch began: the budget
    // is a reward epoch's, counted from that record.
    let clock = ex.config.reward_clock();
    let now = clock.first_epoch(clock.reward_epoch_of(ex.epoch()));
    let (epoch, so_far): (Epoch, Amount) = ex
        .state
        .get(&StateKey::OracleEvictions)?
        .unwrap_or((now, Amount::ZERO));
    let so_far = if epoch == now { so_far } else { Amount::ZERO };
    let recorded: crate::state::records::OracleStakes = ex
        .state
        .get(&StateKey::OracleStakes(now))?
        .unwrap_or_default();
    let committee: u128 = recorded.0.values().map(|s| s.0).sum();
    let budget = mul_div_floor(
        committee,
        u128::from(ex.params.churn_bps),
        u128::from(BPS_DENOMINATOR),
    )
    .unwrap_or(0);
    let total = so_far.0.saturating_add(stake.0);
    if !so_far.is_zero() && total > budget {
        return Err(TxError::OracleEvictionChurn {
            epoch: now,
            left: Amount(budget.saturating_sub(so_far.0)),
        }
        .into());
    }
    ex.state
        .put(&StateKey::OracleEvictions, &(now, Amount(total)));
    Ok(())
}

/// Starts unbonding the whole `stake` of an oracle taken off the committee (for a larger
/// stake, or for signing two roots). It unbonds as any oracle stake does (slashable until
/// withdrawn, held by the roots it signed); the entry is added even past
/// [`MAX_UNBONDING_ENTRIES`] (that bound is on the account's own unbonds; each removal needs a
/// new bond larger than the smallest member's first, and removals in one epoch share one
/// entry).
pub(crate) fn unbond_removed_oracle(
    ex: &mut Exec<'_, '_>,
    oracle: &Address,
    stake: Amount,
) -> Result<(), ExecError> {
    if stake.is_zero() {
        return Ok(());
    }
    let key = StateKey::Unbonding(*oracle);
    let mut entries: Unbondings = ex.state.get_or_default(&key)?;
    let entry = UnbondingEntry {
        role: StakeRole::Oracle,
        amount: stake,
        release_epoch: Epoch(ex.epoch().0.saturating_add(ex.params.unbonding_epochs)),
        unbonded_epoch: ex.epoch(),
    };
    // Removed twice in one epoch: one entry (the list grows by one an epoch at most).
    let same = entries.0.iter_mut().find(|e| {
        e.role == entry.role
            && e.unbonded_epoch == entry.unbonded_epoch
            && e.release_epoch == entry.release_epoch
    });
    match same {
        Some(e) => e.amount = e.amount.checked_add(stake).ok_or(TxError::AmountOverflow)?,
        None => entries.0.push(entry),
    }
    ex.state.put(&key, &entries);
    Ok(())
}

/// The churn limit on leaving: seated validators (members of the set in force or the next) may
/// unbond at most `churn_bps` of the stake seated now per epoch, except that the first unbond of
/// an epoch always passes (so any one validator can leave, however large). Jailing is never
/// limited.
fn limit_unbond_churn(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    amount: Amount,
) -> Result<(), ExecError> {
    let now = ex.epoch();
    let sets: [Option<crate::state::records::ValidatorSet>; 2] = [
        ex.state.get(&StateKey::ValidatorSet(now))?,
        ex.state
            .get(&StateKey::ValidatorSet(Epoch(now.0.saturating_add(1))))?,
    ];
    let seated = |set: &Option<crate::state::records::ValidatorSet>| {
        set.as_ref()
            .is_some_and(|s| s.members.iter().any(|m| m.address == *sender))
    };
    if !sets.iter().any(seated) {
        return Ok(());
    }
    let seated_stake: u128 = sets[0]
        .as_ref()
        .map_or(0, |s| s.members.iter().map(|m| m.stake.0).sum());
    let budget = mul_div_floor(
        seated_stake,
        u128::from(ex.params.churn_bps),
        u128::from(BPS_DENOMINATOR),
    )
    .unwrap_or(0);
    let so_far = if ex.chain.unbonded_epoch == now {
        ex.chain.unbonded_in_epoch.0
    } else {
        0
    };
    let total = so_far.saturating_add(amount.0);
    if so_far > 0 && total > budget {
        return Err(TxError::ChurnLimit {
            epoch: now,
            left: Amount(budget.saturating_sub(so_far)),
        }
        .into());
    }
    ex.chain.unbonded_epoch = now;
    ex.chain.unbonded_in_epoch = Amount(total);
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
            let mut info = validator(ex, sender)?.ok_or(TxError::NotAValidator(*sender))?;
            let left = info
                .stake
                .checked_sub(amount)
                .ok_or_else(|| shortfall(info.stake))?;
            check_remaining(left, ex.params.validator_stake_min)?;
            limit_unbond_churn(ex, sender, amount)?;
            info.stake = left;
            // A validator that unbonds everything keeps its record (with no stake, so in no
            // set) until its unbonding stake is withdrawn: evidence of an earlier double
            // signature must still find it and cut that stake.
            put_validator(ex, sender, &info, Index::Keep)?;
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
        unbonded_epoch: ex.epoch(),
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

/// Asks for every matured unbonding entry back. The entries are paid at the end of the block
/// ([`settle_withdrawal`]), after every other transaction in it: a report of an offence in the
/// same block slashes the stake first, whatever order the leader chose.
pub fn withdraw(ex: &mut Exec<'_, '_>, sender: &Address) -> Result<(), ExecError> {
    let entries: Unbondings = ex.state.get_or_default(&StateKey::Unbonding(*sender))?;
    let now = ex.epoch();
    if !entries.0.iter().any(|e| e.release_epoch <= now) {
        return Err(TxError::NothingToWithdraw.into());
    }
    ex.notes
        .push("matured unbonding stake is paid at the end of the block".into());
    Ok(())
}

/// Returns every matured unbonding entry to the balance (nothing when none is left).
pub fn settle_withdrawal(ex: &mut Exec<'_, '_>, sender: &Address) -> Result<(), ExecError> {
    let key = StateKey::Unbonding(*sender);
    let entries: Unbondings = ex.state.get_or_default(&key)?;
    let now = ex.epoch();
    let (ready, waiting): (Vec<_>, Vec<_>) =
        entries.0.into_iter().partition(|e| e.release_epoch <= now);
    if ready.is_empty() {
        return Ok(());
    }
    let mut total = Amount::ZERO;
    for entry in &ready {
        total = total
            .checked_add(entry.amount)
            .ok_or(TxError::AmountOverflow)?;
    }
    ex.credit(sender, total)?;
    // The record of a validator with no stake left goes once no validator stake is unbonding
    // (a double signer's stays: its jail is for good). Its keys stay registered to it.
    if !waiting.iter().any(|e| e.role == StakeRole::Validator) {
        if let Some(info) = validator(ex, sender)? {
            if info.stake.is_zero() && info.jail != Jail::DoubleSign {
                ex.state.delete(&StateKey::Validator(*sender));
            }
        }
    }
    if waiting.is_empty() {
        ex.state.delete(&key);
    } else {
        ex.state.put(&key, &Unbondings(waiting));
    }
    ex.notes
        .push(format!("{sender} withdrew {total} of unbonded stake"));
    Ok(())
}

/// Refuses an offence already punished (`already_punished`): each is punished once, whoever
/// reports it again and with whatever evidence.
pub(crate) fn not_punished_yet(ex: &Exec<'_, '_>, offence: Hash) -> Result<(), ExecError> {
    if ex
        .state
        .get::<OffenceRecord>(&StateKey::Offence(offence))?
        .is_some()
    {
        return Err(TxError::AlreadyPunished(offence).into());
    }
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
    not_punished_yet(ex, offence)?;
    let unknown = TxError::UnknownConsensusKey(evidence.consensus_key);
    let address: Address = ex
        .state
        .get(&StateKey::ConsensusKeyOwner(evidence.consensus_key))?
        .ok_or(unknown.clone())?;
    let mut info = validator(ex, &address)?.ok_or(unknown)?;
    let unbonding_key = StateKey::Unbonding(address);
    let mut entries: Unbondings = ex.state.get_or_default(&unbonding_key)?;
    // The window: bonded stake answers for offences up to `unbonding_epochs` old (as it is
    // now); each unbonding entry answers, until it is withdrawn, for offences committed while it
    // still backed seats (up to the epoch after its unbond: that epoch's set was chosen with it)
    // and as old as the period fixed when it was unbonded, so lowering `unbonding_epochs` later
    // frees nobody (and a tiny old entry exposes only itself).
    let now = ex.epoch().0;
    let offence_epoch = evidence.first.vote.epoch;
    let bonded_oldest = now.saturating_sub(ex.params.unbonding_epochs);
    let entry_oldest = |e: &UnbondingEntry| {
        now.saturating_sub(e.release_epoch.0.saturating_sub(e.unbonded_epoch.0))
    };
    let answers = |e: &UnbondingEntry| {
        offence_epoch >= entry_oldest(e) && offence_epoch <= e.unbonded_epoch.0.saturating_add(1)
    };
    let bonded_answers = offence_epoch >= bonded_oldest;
    let validator_entries = || entries.0.iter().filter(|e| e.role == StakeRole::Validator);
    if !bonded_answers && !validator_entries().any(answers) {
        let oldest = validator_entries()
            .map(entry_oldest)
            .fold(bonded_oldest, u64::min);
        return Err(TxError::EvidenceTooOld {
            evidence: offence_epoch,
            oldest,
        }
        .into());
    }
    let bps = u128::from(ex.params.slash_double_sign_bps);
    let denominator = u128::from(BPS_DENOMINATOR);
    // Rounded down: the slashed validator keeps the fraction of a base unit.
    let cut = |stake: Amount| Amount(mul_div_floor(stake.0, bps, denominator).unwrap_or(0));
    let mut slashed = if bonded_answers {
        cut(info.stake)
    } else {
        Amount::ZERO
    };
    info.stake = info.stake.saturating_sub(slashed);
    info.jail = Jail::DoubleSign;
    info.admitted = Amount::ZERO;
    let mut changed = false;
    for entry in entries.0.iter_mut() {
        if entry.role != StakeRole::Validator || !answers(entry) {
            continue;
        }
        let part = cut(entry.amount);
        entry.amount = entry.amount.saturating_sub(part);
        slashed = slashed.checked_add(part).ok_or(TxError::AmountOverflow)?;
        changed = true;
    }
    if changed {
        ex.state.put(&unbonding_key, &entries);
    }
    put_validator(ex, &address, &info, Index::Keep)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::SecretKey;

    fn address(i: usize) -> Address {
        Address(SecretKey::from_label(&format!("squatter-{i}")).public_key())
    }

    #[test]
    fn a_full_index_gives_way_to_a_larger_stake_only() {
        let mut index = Validators::default();
        for i in 0..MAX_VALIDATOR_CANDIDATES {
            index.0.insert(address(i), Amount(1_000 + (i as u128 % 2)));
        }
        let newcomer = address(usize::MAX);
        // Equal to the smallest: refused.
        assert_eq!(
            make_room(&mut index, &newcomer, Amount(1_000)),
            Err(TxError::ValidatorRegistryFull {
                max: MAX_VALIDATOR_CANDIDATES
            })
        );
        // Larger: the smallest (of the 1,000-token squatters, the highest address) leaves.
        let out = make_room(&mut index, &newcomer, Amount(1_001))
            .unwrap()
            .expect("someone leaves");
        assert_eq!(index.0.len(), MAX_VALIDATOR_CANDIDATES - 1);
        let highest_smallest = (0..MAX_VALIDATOR_CANDIDATES)
            .step_by(2)
            .map(address)
            .max()
            .unwrap();
        assert_eq!(out, highest_smallest);
        // A member already in the index never needs room.
        index.0.insert(newcomer, Amount(1_001));
        assert_eq!(make_room(&mut index, &newcomer, Amount(5)), Ok(None));
    }
}
