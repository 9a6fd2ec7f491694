//! Work done at an epoch boundary, in the first block of the new epoch.
//!
//! 1. Emission of the epoch that just closed: the schedule's amount (halving, capped) is split by
//!    the governance weights. Each sub-network's share becomes a pool that reward roots draw on;
//!    the validators' share is paid to the closed epoch's validators pro rata to their seats
//!    (seated stake); the treasury gets its share plus every rounding residue. Every split rounds
//!    down.
//!    Before that, downtime: a validator whose seats missed more than `downtime_jail_bps` of the
//!    votes counted in the closed epoch is jailed (no seats, no emission for that epoch) until it
//!    sends `Unjail`.
//!    Pools of the epoch that just fell out of reach of any root ([`MAX_ROOT_EPOCH_SPAN`]
//!    epochs back) go to the treasury; each oracle's stake is recorded for the new epoch's
//!    reward root ([`oracle_stake`]). When the new epoch begins a reward epoch, the block's time
//!    is recorded as the end of the reward epoch before ([`crate::exec::manifests`] counts its
//!    windows from it).
//! 2. Locks that end at the new epoch leave the total voting power.
//! 3. The validator set of the epoch **after** the new one is chosen from stake now (so the set
//!    of epoch `e + 1` is fixed at the first block of `e`, and a finalized block late in `e`
//!    attests it: the hand-off a light client follows). Seats of equal stake
//!    ([`crate::seats`]) among unjailed validators with at least the minimum stake; pending key
//!    rotations take effect; the churn limit caps how much seated stake may join. If nobody
//!    qualifies, the previous set stays, so the chain never loses its validators.

use crate::error::{ExecError, TxError};
use crate::exec::rewards::{self, MAX_ROOT_EPOCH_SPAN};
use crate::exec::staking::{self, validator};
use crate::exec::{governance, manifests, oracle_stake, Exec};
use crate::seats::{self, Candidate};
use crate::state::records::{
    Liveness, ValidatorInfo, ValidatorSet, ValidatorSetMember, Validators,
};
use crate::state::StateKey;
use cairn_types::amount::mul_div_floor;
use cairn_types::params::Params;
use cairn_types::subnetwork::BPS_DENOMINATOR;
use cairn_types::{Address, Amount, Epoch, Subnetwork};
use std::collections::BTreeMap;

/// Closes epoch `new − 1` and opens epoch `new`.
pub fn enter_epoch(ex: &mut Exec<'_, '_>, new: Epoch) -> Result<(), ExecError> {
    let closed = Epoch(new.0.saturating_sub(1));
    // Jailed first: a validator jailed for the closed epoch earns nothing for it.
    jail_for_downtime(ex, closed)?;
    emit(ex, closed)?;
    ex.chain.epoch = new;
    if let Some(unpayable) = new.0.checked_sub(MAX_ROOT_EPOCH_SPAN + 1) {
        rewards::expire_pools(ex, Epoch(unpayable))?;
    }
    oracle_stake::snapshot(ex, new)?;
    manifests::record_reward_epoch_end(ex, new);
    governance::expire_locks(ex, new)?;
    let next = Epoch(new.0.saturating_add(1));
    let set = select_validators(ex, next)?;
    ex.notes.push(format!(
        "epoch {new} begins; epoch {next} will have {} validator(s) in {} seat(s) of {}",
        set.members.len(),
        set.seat_count(),
        set.seat_size
    ));
    Ok(())
}

/// The validator set of `epoch`, if it was chosen.
pub fn set_of(ex: &Exec<'_, '_>, epoch: Epoch) -> Result<Option<ValidatorSet>, ExecError> {
    Ok(ex.state.get(&StateKey::ValidatorSet(epoch))?)
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
    let set = set_of(ex, closed)?.unwrap_or_default();
    // A validator is paid for the seats its stake still backs at the epoch's end: one jailed
    // or fully unbonded during the epoch earns nothing for it, one that unbonded part of its
    // stake earns for what is left; the rest goes to the treasury.
    let mut paid_members: Vec<(&ValidatorSetMember, u128)> = Vec::new();
    for member in &set.members {
        if let Some(v) =
            validator(ex, &member.address)?.filter(|v| !v.jail.is_jailed() && !v.stake.is_zero())
        {
            let backed = v.stake.0 / set.seat_size.0.max(1);
            paid_members.push((member, backed.min(member.seats.len() as u128)));
        }
    }
    let total_seats = set.seat_count() as u128;
    let mut paid = Amount::ZERO;
    if total_seats > 0 {
        for (member, seats) in paid_members {
            let reward = mul_div_floor(validators_share.0, seats, total_seats)
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

/// The fewest counted blocks in an epoch for anyone to be jailed for downtime in it.
pub const MIN_COUNTED_TO_JAIL: u64 = 4;

/// Jails the validators of `closed` whose seats missed more than `downtime_jail_bps` of the
/// votes counted for that epoch's blocks. Seat `i` is the `i`-th seat key in byte order, as in
/// consensus.
fn jail_for_downtime(ex: &mut Exec<'_, '_>, closed: Epoch) -> Result<(), ExecError> {
    let Some(liveness) = ex.state.get::<Liveness>(&StateKey::Liveness(closed))? else {
        return Ok(());
    };
    let Some(set) = set_of(ex, closed)? else {
        return Ok(());
    };
    // Too few counted blocks say little (and could all come from a few hostile proposers).
    if liveness.counted < MIN_COUNTED_TO_JAIL {
        return Ok(());
    }
    let order = seat_order(&set);
    let mut missed: BTreeMap<Address, (u128, u128)> = BTreeMap::new();
    for (index, (_, holder)) in order.iter().enumerate() {
        let entry = missed.entry(*holder).or_default();
        entry.0 += u128::from(liveness.missed.get(index).copied().unwrap_or(0));
        entry.1 += u128::from(liveness.counted);
    }
    let bps = u128::from(ex.params.downtime_jail_bps);
    for (address, (missed, possible)) in missed {
        // Missed more than the share: missed / possible > bps / 10,000 (exact, no rounding).
        if missed * u128::from(BPS_DENOMINATOR) > possible * bps {
            staking::jail_for_downtime(ex, &address, closed)?;
        }
    }
    Ok(())
}

/// The seats of `set` in consensus order (seat keys by their bytes), with their holders.
pub fn seat_order(set: &ValidatorSet) -> Vec<(cairn_types::PublicKey, Address)> {
    let mut seats: Vec<_> = set.seats().map(|(key, m)| (*key, m.address)).collect();
    seats.sort();
    seats
}

/// Chooses and stores the validator set of `epoch` from the validators now (pending key
/// rotations take effect; each validator's admitted stake moves as the churn limit allows).
pub fn select_validators(ex: &mut Exec<'_, '_>, epoch: Epoch) -> Result<ValidatorSet, ExecError> {
    let index: Validators = ex.state.get_or_default(&StateKey::Validators)?;
    let mut records = BTreeMap::new();
    for address in index.0.keys() {
        let Some(mut info) = validator(ex, address)? else {
            return Err(ExecError::Invariant("an indexed validator has no record"));
        };
        if let Some(keys) = info.pending_keys.take() {
            info.node_key = keys.node_key;
            info.seat_keys = keys.seat_keys;
        }
        records.insert(*address, info);
    }
    let previous = set_of(ex, Epoch(epoch.0.saturating_sub(1)))?.unwrap_or_default();
    let (set, admitted) = choose_validators(&records, &ex.params, previous, epoch);
    for (address, mut info) in records {
        let now = admitted.get(&address).copied().unwrap_or(Amount::ZERO);
        let before = ex
            .state
            .get::<ValidatorInfo>(&StateKey::Validator(address))?;
        info.admitted = now;
        if before.as_ref() != Some(&info) {
            ex.state.put(&StateKey::Validator(address), &info);
        }
    }
    ex.state.put(&StateKey::ValidatorSet(epoch), &set);
    Ok(set)
}

/// The validator set of `epoch` chosen from `records` under `params`, and each candidate's
/// admitted stake: seats of equal stake ([`seats::allocate`]) over the stake the churn limit
/// admits, among unjailed validators with at least the minimum stake; `previous` (renumbered)
/// if nobody qualifies.
pub fn choose_validators(
    records: &BTreeMap<Address, ValidatorInfo>,
    params: &Params,
    previous: ValidatorSet,
    epoch: Epoch,
) -> (ValidatorSet, BTreeMap<Address, Amount>) {
    let mut eligible: Vec<(&Address, &ValidatorInfo)> = records
        .iter()
        .filter(|(_, v)| !v.jail.is_jailed() && v.stake >= params.validator_stake_min)
        .collect();
    eligible.sort_by(|a, b| b.1.stake.cmp(&a.1.stake).then(a.0.cmp(b.0)));
    let admitted = admit(&eligible, params.churn_bps);
    let candidates: Vec<Candidate> = eligible
        .iter()
        .map(|(address, v)| Candidate {
            address: **address,
            stake: admitted.get(*address).copied().unwrap_or(Amount::ZERO),
            keys: u32::try_from(v.seat_keys.len()).unwrap_or(u32::MAX),
        })
        .collect();
    let allocation = seats::allocate(&candidates, params.max_seats, params.validator_stake_min);
    let members: Vec<ValidatorSetMember> = allocation
        .seats
        .iter()
        .filter_map(|(address, n)| {
            let info = records.get(address)?;
            Some(ValidatorSetMember {
                address: *address,
                node_key: info.node_key,
                stake: info.stake,
                seats: info.seat_keys.iter().take(*n as usize).copied().collect(),
            })
        })
        .collect();
    let set = if members.is_empty() {
        ValidatorSet { epoch, ..previous }
    } else {
        ValidatorSet {
            epoch,
            seat_size: allocation.seat_size,
            members,
            waiting: allocation.waiting,
        }
    };
    (set, admitted)
}

/// The churn limit: how much of each validator's stake counts for seats. A validator keeps what
/// was admitted before (never more than its stake now: leaving is not held back, and a jailed
/// validator starts again from nothing); growth beyond that is admitted, in priority order, up to
/// `churn_bps` of all the stake admitted before. So the seated stake that enters per epoch is
/// bounded, and so is how much the seat size (and with it the seats of everyone else) can move;
/// a large newcomer is admitted over several epochs. When nothing was admitted before (the
/// genesis), everything is.
fn admit(eligible: &[(&Address, &ValidatorInfo)], churn_bps: u64) -> BTreeMap<Address, Amount> {
    let before: u128 = eligible.iter().map(|(_, v)| v.admitted.0).sum();
    let mut budget = if before == 0 {
        u128::MAX
    } else {
        mul_div_floor(before, u128::from(churn_bps), u128::from(BPS_DENOMINATOR)).unwrap_or(0)
    };
    eligible
        .iter()
        .map(|(address, v)| {
            let kept = v.admitted.0.min(v.stake.0);
            let grant = (v.stake.0 - kept).min(budget);
            budget -= grant;
            (**address, Amount(kept + grant))
        })
        .collect()
}
