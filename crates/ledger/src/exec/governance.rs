//! Vote-escrow governance: locks, proposals, votes, execution after a timelock.
//!
//! Voting power of a lock at epoch `e` is `amount × (end − e) / lock_epochs_max` (rounded down):
//! a four-year lock (the default maximum) counts fully, and power decays linearly as the lock
//! runs down; a lock with more than `lock_epochs_max` epochs left (possible after governance
//! lowered it) counts fully, no more. The total power, needed for the quorum, is the sum of
//! exactly these per-lock powers, from running sums (see [`LockSums`]) kept in two sets: locks
//! within the cap (`GovTotals`) and locks beyond it (`GovOverCap`, each counting its amount).
//! A lock crosses from the second set to the first at the epoch boundary when its remaining
//! time reaches the cap; a change of `lock_epochs_max` moves the buckets in between once; locks
//! leave the sums at the boundary of the epoch they end in.
//!
//! A proposal is open for `voting_period_blocks`. After that, anyone may send `ExecuteProposal`:
//! if turnout reached `quorum_bps` of the total power at creation and yes reached
//! `threshold_bps` of yes + no, the action runs once the `timelock_blocks` have passed;
//! otherwise the proposal is closed as rejected.

use super::Exec;
use crate::error::{ExecError, TxError};
use crate::state::records::{
    LockRecord, LockSums, MakerRecord, Proposal, ProposalStatus, VoteRecord,
};
use crate::state::StateKey;
use cairn_types::params::ParamId;
use cairn_types::subnetwork::BPS_DENOMINATOR;
use cairn_types::tx::{ProposalAction, VoteChoice};
use cairn_types::{Address, Amount, Epoch};

/// Voting power of a lock at `epoch` (rounded down).
pub fn voting_power(lock: &LockRecord, epoch: Epoch, lock_epochs_max: u64) -> u128 {
    if lock.end_epoch <= epoch {
        return 0;
    }
    let remaining = u128::from((lock.end_epoch.0 - epoch.0).min(lock_epochs_max));
    cairn_types::amount::mul_div_floor(lock.amount.0, remaining, u128::from(lock_epochs_max.max(1)))
        .unwrap_or(0)
}

/// Total voting power at `epoch` of the locks in `within` (remaining time at most
/// `lock_epochs_max`) and in `over` (remaining time above it: full weight), rounded down.
pub fn total_power(within: &LockSums, over: &LockSums, epoch: Epoch, lock_epochs_max: u64) -> u128 {
    let weighted = within
        .amount_end
        .saturating_sub(within.amount.saturating_mul(u128::from(epoch.0)));
    let full = over.amount.saturating_mul(u128::from(lock_epochs_max));
    weighted.saturating_add(full) / u128::from(lock_epochs_max.max(1))
}

/// Which running sums hold locks ending at `end`, seen from `now`.
fn set_of(end: Epoch, now: Epoch, lock_epochs_max: u64) -> StateKey {
    if end.0 > now.0.saturating_add(lock_epochs_max) {
        StateKey::GovOverCap
    } else {
        StateKey::GovTotals
    }
}

/// Moves the bucket of locks ending at `end` from one set of sums to the other.
fn move_bucket(
    ex: &mut Exec<'_, '_>,
    end: Epoch,
    from: &StateKey,
    to: &StateKey,
) -> Result<(), ExecError> {
    let Some(bucket) = ex.state.get::<LockSums>(&StateKey::LockExpiry(end))? else {
        return Ok(());
    };
    let mut source: LockSums = ex.state.get_or_default(from)?;
    source.amount = source.amount.saturating_sub(bucket.amount);
    source.amount_end = source.amount_end.saturating_sub(bucket.amount_end);
    ex.state.put(from, &source);
    let mut target: LockSums = ex.state.get_or_default(to)?;
    target.amount = target
        .amount
        .checked_add(bucket.amount)
        .ok_or(TxError::AmountOverflow)?;
    target.amount_end = target
        .amount_end
        .checked_add(bucket.amount_end)
        .ok_or(TxError::AmountOverflow)?;
    ex.state.put(to, &target);
    Ok(())
}

/// Moves the buckets that cross the cap when `lock_epochs_max` changes from `old` to `new`
/// (one read per epoch between the two caps, once per change).
fn recap(ex: &mut Exec<'_, '_>, old: u64, new: u64) -> Result<(), ExecError> {
    let now = ex.epoch().0;
    let (from, to, low, high) = if new < old {
        (StateKey::GovTotals, StateKey::GovOverCap, new, old)
    } else {
        (StateKey::GovOverCap, StateKey::GovTotals, old, new)
    };
    for remaining in low.saturating_add(1)..=high {
        move_bucket(ex, Epoch(now.saturating_add(remaining)), &from, &to)?;
    }
    Ok(())
}

fn add_sums(sums: &mut LockSums, amount: Amount, end: Epoch) -> Result<(), ExecError> {
    let weighted = amount
        .0
        .checked_mul(u128::from(end.0))
        .ok_or(TxError::AmountOverflow)?;
    sums.amount = sums
        .amount
        .checked_add(amount.0)
        .ok_or(TxError::AmountOverflow)?;
    sums.amount_end = sums
        .amount_end
        .checked_add(weighted)
        .ok_or(TxError::AmountOverflow)?;
    Ok(())
}

fn sub_sums(sums: &mut LockSums, amount: Amount, end: Epoch) {
    sums.amount = sums.amount.saturating_sub(amount.0);
    sums.amount_end = sums
        .amount_end
        .saturating_sub(amount.0.saturating_mul(u128::from(end.0)));
}

/// Creates a lock, or adds to a live one and pushes its end out to `now + duration_epochs`
/// (never earlier than it was).
pub fn lock(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    amount: Amount,
    duration_epochs: u64,
) -> Result<(), ExecError> {
    let max = ex.params.lock_epochs_max;
    if duration_epochs > max {
        return Err(TxError::LockTooLong {
            max,
            got: duration_epochs,
        }
        .into());
    }
    let now = ex.epoch();
    let key = StateKey::Lock(*sender);
    let existing: Option<LockRecord> = ex.state.get(&key)?;
    let (old_amount, old_end) = match &existing {
        Some(l) if l.end_epoch <= now => return Err(TxError::LockExpired.into()),
        Some(l) => (l.amount, l.end_epoch),
        None => {
            if amount.is_zero() || duration_epochs == 0 {
                return Err(TxError::ZeroAmount.into());
            }
            (Amount::ZERO, now)
        }
    };
    let new_end = Epoch(old_end.0.max(now.0.saturating_add(duration_epochs)));
    let new_amount = old_amount
        .checked_add(amount)
        .ok_or(TxError::AmountOverflow)?;
    if !amount.is_zero() {
        ex.debit(sender, amount)?;
    }
    if existing.is_some() {
        let old_set = set_of(old_end, now, max);
        let mut sums: LockSums = ex.state.get_or_default(&old_set)?;
        sub_sums(&mut sums, old_amount, old_end);
        ex.state.put(&old_set, &sums);
        let old_key = StateKey::LockExpiry(old_end);
        let mut bucket: LockSums = ex.state.get_or_default(&old_key)?;
        sub_sums(&mut bucket, old_amount, old_end);
        ex.state.put(&old_key, &bucket);
    }
    let new_set = set_of(new_end, now, max);
    let mut sums: LockSums = ex.state.get_or_default(&new_set)?;
    add_sums(&mut sums, new_amount, new_end)?;
    ex.state.put(&new_set, &sums);
    let new_key = StateKey::LockExpiry(new_end);
    let mut bucket: LockSums = ex.state.get_or_default(&new_key)?;
    add_sums(&mut bucket, new_amount, new_end)?;
    ex.state.put(&new_key, &bucket);
    let record = LockRecord {
        amount: new_amount,
        end_epoch: new_end,
    };
    ex.state.put(&key, &record);
    ex.notes.push(format!(
        "{sender} locks {new_amount} until epoch {new_end}: voting power {}",
        Amount(voting_power(&record, now, max))
    ));
    Ok(())
}

/// Returns an expired lock's tokens.
pub fn unlock(ex: &mut Exec<'_, '_>, sender: &Address) -> Result<(), ExecError> {
    let key = StateKey::Lock(*sender);
    let lock: LockRecord = ex.state.get(&key)?.ok_or(TxError::NoLock(*sender))?;
    if lock.end_epoch > ex.epoch() {
        return Err(TxError::LockNotExpired(lock.end_epoch).into());
    }
    ex.credit(sender, lock.amount)?;
    ex.state.delete(&key);
    Ok(())
}

/// Removes the locks ending at `epoch` from the total, and moves those whose remaining time
/// reaches the cap into the capped sums: called at that epoch's first block.
pub fn expire_locks(ex: &mut Exec<'_, '_>, epoch: Epoch) -> Result<(), ExecError> {
    let key = StateKey::LockExpiry(epoch);
    if let Some(bucket) = ex.state.get::<LockSums>(&key)? {
        let mut totals: LockSums = ex.state.get_or_default(&StateKey::GovTotals)?;
        totals.amount = totals.amount.saturating_sub(bucket.amount);
        totals.amount_end = totals.amount_end.saturating_sub(bucket.amount_end);
        ex.state.put(&StateKey::GovTotals, &totals);
        ex.state.delete(&key);
    }
    let crossing = Epoch(epoch.0.saturating_add(ex.params.lock_epochs_max));
    move_bucket(ex, crossing, &StateKey::GovOverCap, &StateKey::GovTotals)
}

/// Total voting power now.
pub fn power_now(ex: &Exec<'_, '_>) -> Result<u128, ExecError> {
    let within: LockSums = ex.state.get_or_default(&StateKey::GovTotals)?;
    let over: LockSums = ex.state.get_or_default(&StateKey::GovOverCap)?;
    Ok(total_power(
        &within,
        &over,
        ex.epoch(),
        ex.params.lock_epochs_max,
    ))
}

fn sender_power(ex: &Exec<'_, '_>, sender: &Address) -> Result<u128, ExecError> {
    let lock: Option<LockRecord> = ex.state.get(&StateKey::Lock(*sender))?;
    Ok(lock.map_or(0, |l| {
        voting_power(&l, ex.epoch(), ex.params.lock_epochs_max)
    }))
}

/// Checks that an action could run now, so that no proposal is made that must fail.
fn validate_action(ex: &Exec<'_, '_>, action: &ProposalAction) -> Result<(), ExecError> {
    match action {
        ProposalAction::SetParameter { param, value } => {
            let mut changed = ex.params.clone();
            changed.set(*param, *value)?;
            changed.check_root_span(ex.config)?;
        }
        ProposalAction::SetEmissionWeights { weights } => {
            if !weights.is_valid() {
                return Err(
                    cairn_types::params::ParamError::WeightsNotWhole(weights.total_bps()).into(),
                );
            }
        }
        ProposalAction::ApproveMaker { maker, .. } => {
            let existing: Option<MakerRecord> = ex.state.get(&StateKey::Maker(*maker))?;
            if existing.is_some_and(|m| m.approved) {
                return Err(TxError::MakerExists(*maker).into());
            }
        }
        ProposalAction::RevokeMaker { maker } => {
            let existing: Option<MakerRecord> = ex.state.get(&StateKey::Maker(*maker))?;
            if existing.is_none() {
                return Err(TxError::UnknownMaker(*maker).into());
            }
        }
        ProposalAction::TreasurySpend { amount, .. } => {
            if amount.is_zero() {
                return Err(TxError::ZeroAmount.into());
            }
        }
        ProposalAction::SlashOracle { oracle, bps } => {
            super::oracle_stake::check_slash(ex, oracle, *bps)?;
        }
        ProposalAction::ScheduleUpgrade { version, height } => {
            super::upgrades::check_upgrade(ex, *version, *height)?;
        }
    }
    Ok(())
}

/// Opens a proposal.
pub fn propose(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    action: &ProposalAction,
    description: &str,
) -> Result<(), ExecError> {
    let power = sender_power(ex, sender)?;
    let needed = ex.params.proposal_power_min.0.max(1);
    if power < needed {
        return Err(TxError::InsufficientVotingPower {
            needed,
            have: power,
        }
        .into());
    }
    validate_action(ex, action)?;
    let total_power = power_now(ex)?;
    let id = ex.chain.next_proposal;
    ex.chain.next_proposal = id.checked_add(1).ok_or(TxError::AmountOverflow)?;
    let voting_end_height = ex.height.saturating_add(ex.params.voting_period_blocks);
    let proposal = Proposal {
        id,
        proposer: *sender,
        action: action.clone(),
        description: description.to_string(),
        created_height: ex.height,
        voting_end_height,
        total_power,
        yes: 0,
        no: 0,
        abstain: 0,
        status: ProposalStatus::Open,
    };
    ex.state.put(&StateKey::Proposal(id), &proposal);
    ex.notes.push(format!(
        "proposal {id} opened, voting until height {voting_end_height}"
    ));
    Ok(())
}

/// Records a vote with the sender's current voting power.
pub fn vote(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    id: u64,
    choice: VoteChoice,
) -> Result<(), ExecError> {
    let key = StateKey::Proposal(id);
    let mut proposal: Proposal = ex.state.get(&key)?.ok_or(TxError::UnknownProposal(id))?;
    if proposal.status != ProposalStatus::Open || ex.height > proposal.voting_end_height {
        return Err(TxError::VotingClosed(id).into());
    }
    let vote_key = StateKey::ProposalVote(id, *sender);
    if ex.state.get::<VoteRecord>(&vote_key)?.is_some() {
        return Err(TxError::AlreadyVoted(*sender).into());
    }
    let power = sender_power(ex, sender)?;
    if power == 0 {
        return Err(TxError::InsufficientVotingPower { needed: 1, have: 0 }.into());
    }
    let tally = match choice {
        VoteChoice::Yes => &mut proposal.yes,
        VoteChoice::No => &mut proposal.no,
        VoteChoice::Abstain => &mut proposal.abstain,
    };
    *tally = tally.checked_add(power).ok_or(TxError::AmountOverflow)?;
    ex.state.put(&vote_key, &VoteRecord { choice, power });
    ex.state.put(&key, &proposal);
    Ok(())
}

/// True when turnout reached the quorum and yes reached the threshold.
pub fn passed(proposal: &Proposal, quorum_bps: u64, threshold_bps: u64) -> bool {
    let bps = u128::from(BPS_DENOMINATOR);
    let turnout = proposal
        .yes
        .saturating_add(proposal.no)
        .saturating_add(proposal.abstain);
    let quorum =
        turnout.saturating_mul(bps) >= proposal.total_power.saturating_mul(u128::from(quorum_bps));
    let decided = proposal.yes.saturating_add(proposal.no);
    let threshold = proposal.yes > 0
        && proposal.yes.saturating_mul(bps) >= decided.saturating_mul(u128::from(threshold_bps));
    quorum && threshold
}

/// Closes a proposal whose vote ended: runs its action if it passed and the timelock is over.
pub fn execute_proposal(ex: &mut Exec<'_, '_>, id: u64) -> Result<(), ExecError> {
    let key = StateKey::Proposal(id);
    let mut proposal: Proposal = ex.state.get(&key)?.ok_or(TxError::UnknownProposal(id))?;
    if proposal.status != ProposalStatus::Open {
        return Err(TxError::ProposalClosed(id).into());
    }
    if ex.height <= proposal.voting_end_height {
        return Err(TxError::VotingOpen {
            id,
            until: proposal.voting_end_height,
        }
        .into());
    }
    if !passed(&proposal, ex.params.quorum_bps, ex.params.threshold_bps) {
        proposal.status = ProposalStatus::Rejected;
        ex.state.put(&key, &proposal);
        ex.notes.push(format!("proposal {id} rejected"));
        return Ok(());
    }
    let from = proposal
        .voting_end_height
        .saturating_add(ex.params.timelock_blocks)
        .saturating_add(1);
    if ex.height < from {
        return Err(TxError::Timelocked { id, from }.into());
    }
    apply_action(ex, &proposal.action)?;
    proposal.status = ProposalStatus::Executed;
    ex.state.put(&key, &proposal);
    ex.notes.push(format!("proposal {id} executed"));
    Ok(())
}

fn apply_action(ex: &mut Exec<'_, '_>, action: &ProposalAction) -> Result<(), ExecError> {
    validate_action(ex, action)?;
    match action {
        ProposalAction::SetParameter { param, value } => {
            let old_cap = ex.params.lock_epochs_max;
            ex.params.set(*param, *value)?;
            ex.state.put(&StateKey::Params, &ex.params);
            if *param == ParamId::LockEpochsMax {
                recap(ex, old_cap, ex.params.lock_epochs_max)?;
            }
        }
        ProposalAction::SetEmissionWeights { weights } => {
            ex.params.emission_weights = *weights;
            ex.state.put(&StateKey::Params, &ex.params);
        }
        ProposalAction::ApproveMaker { maker, name } => {
            ex.state.put(
                &StateKey::Maker(*maker),
                &MakerRecord {
                    name: name.to_string(),
                    approved: true,
                    revoked_from: None,
                },
            );
        }
        ProposalAction::RevokeMaker { maker } => {
            let mut record: MakerRecord = ex
                .state
                .get(&StateKey::Maker(*maker))?
                .ok_or(TxError::UnknownMaker(*maker))?;
            record.approved = false;
            if record.revoked_from.is_none() {
                let current = ex.config.reward_clock().reward_epoch_of(ex.epoch());
                record.revoked_from = Some(current.0.saturating_add(1));
            }
            ex.state.put(&StateKey::Maker(*maker), &record);
        }
        ProposalAction::TreasurySpend { to, amount } => {
            ex.chain.treasury =
                ex.chain
                    .treasury
                    .checked_sub(*amount)
                    .ok_or(TxError::TreasuryInsufficient {
                        needed: *amount,
                        available: ex.chain.treasury,
                    })?;
            ex.credit(to, *amount)?;
        }
        ProposalAction::SlashOracle { oracle, bps } => {
            let slashed = super::oracle_stake::slash(ex, oracle, *bps)?;
            ex.notes
                .push(format!("oracle {oracle} slashed {slashed} by governance"));
        }
        ProposalAction::ScheduleUpgrade { version, height } => {
            super::upgrades::schedule(ex, *version, *height)?;
        }
    }
    Ok(())
}
