//! Reward roots and claims.
//!
//! Each consensus epoch, the emission share of a sub-network is set aside as a pool
//! ([`StateKey::EmissionPool`]). Once per *reward* epoch (a whole number of consensus epochs,
//! `epochs_per_reward_epoch`; the `epoch` of a root is a reward epoch), the oracle committee
//! commits the epoch's rewards as the root of a
//! Merkle *sum* tree of cumulative rewards per account; the ledger accepts it when oracles holding
//! at least 2/3 of oracle stake signed the identical root and the root's growth over the previous
//! root fits in the pools of the epochs it covers. Whatever the root leaves of those pools goes to
//! the treasury. A pool that no root paid within [`MAX_ROOT_EPOCH_SPAN`] epochs is moved to the
//! sub-network's unpaid pools ([`StateKey::UnpaidPools`]), which a root paying through their
//! latest epoch takes too (a root for an earlier epoch leaves them):
//! the oracles' cumulative rewards count every epoch they computed, so after an outage of more
//! than 64 epochs without a root, the next root must still fit (else every later root would be
//! refused for good). What that root leaves of them goes to the treasury. The
//! signers are weighed with the oracle stake recorded when the paid epoch began
//! ([`super::oracle_stake`]). Owners then claim `cumulative − already claimed` with a proof; claims mint
//! through a windowed circuit breaker, and a sub-network can never pay out more than its root's
//! total.
//!
//! A root may carry settlements: what each payer owes for the epoch's service in the
//! sub-network (connectivity: the bytes its key signed for, priced and capped by the oracles).
//! The signatures cover them; the ledger burns them from the payers' delegated credits
//! ([`super::credits::settle`]) when it accepts the root. A root overtaken by a later one (whose
//! cumulative rewards include it) may still be submitted for its settlements alone, once.

use super::oracle_stake;
use super::Exec;
use crate::error::{ExecError, TxError};
use crate::state::records::{HeldPools, MintWindow, RewardRootRecord};
use crate::state::StateKey;
use cairn_types::reward_tree::{verify_reward_proof, RewardLeaf};
use cairn_types::tx::{reward_root_digest, RewardClaim, RewardRootSubmission};
use cairn_types::{Address, Amount, Epoch, Subnetwork};
use std::collections::BTreeSet;

/// Most epochs one root may cover beyond the previous root (a bound on the pool scan).
pub const MAX_ROOT_EPOCH_SPAN: u64 = cairn_types::params::MAX_ROOT_EPOCH_SPAN;

/// Accepts a reward root signed by at least 2/3 of oracle stake.
pub fn submit_root(
    ex: &mut Exec<'_, '_>,
    submission: &RewardRootSubmission,
) -> Result<(), ExecError> {
    let RewardRootSubmission {
        epoch,
        subnetwork,
        root,
        signatures,
        settlements,
    } = submission;
    let (epoch, subnetwork) = (*epoch, *subnetwork);
    let clock = ex.config.reward_clock();
    let current = clock.reward_epoch_of(ex.epoch());
    if epoch >= current {
        return Err(TxError::EpochNotEnded { epoch, current }.into());
    }
    super::credits::check_settlements(subnetwork, settlements.as_slice())?;
    let key = StateKey::RewardRoot(subnetwork);
    let previous: Option<RewardRootRecord> = ex.state.get(&key)?;
    if let (Some(p), false) = (&previous, settlements.is_empty()) {
        if p.epoch >= epoch && p.accepted_height > 0 {
            // A later root landed first: this one's rewards are in it, its debts are not.
            return settle_late(ex, submission);
        }
    }
    // The first consensus epoch whose pool this root pays.
    let first_epoch = match &previous {
        // A root accepted at height 0 came with a recovery genesis (`crate::recovery`): it
        // covers the halted chain's epochs, none of this chain's.
        Some(p) if p.accepted_height == 0 => 0,
        Some(p) if p.epoch >= epoch => {
            return Err(TxError::RootNotNewer {
                subnetwork,
                last: p.epoch,
            }
            .into())
        }
        Some(p) => clock.first_epoch(p.epoch.next()).0,
        None => 0,
    };
    let last_epoch = clock.last_epoch(epoch).0;
    let previous_total = previous.as_ref().map_or(Amount::ZERO, |p| p.root.sum);
    let claimed_total = previous.as_ref().map_or(Amount::ZERO, |p| p.claimed_total);
    let growth = root
        .sum
        .checked_sub(previous_total)
        .ok_or(TxError::RootDecreases {
            previous: previous_total,
            new: root.sum,
        })?;
    // An oracle that fell far behind submits intermediate roots; this bounds the scan below.
    let first_epoch = first_epoch.max(last_epoch.saturating_sub(MAX_ROOT_EPOCH_SPAN - 1));
    // (Older pools went to the treasury when they fell out of reach: `expire_pools`.)

    // Signers are weighed with the stake recorded when the reward epoch began.
    let began = clock.first_epoch(epoch);
    check_quorum(ex, epoch, began, subnetwork, submission)?;
    // The signers' stake answers for this root for a whole unbonding period from now.
    for s in submission.signatures.iter() {
        oracle_stake::hold_for_root(ex, &s.oracle, began)?;
    }

    // What fell out of reach unpaid since the previous root is payable by a root that pays
    // through its latest epoch (a root for an earlier epoch leaves it for a later one, whose
    // cumulative rewards count it).
    let held_key = StateKey::UnpaidPools(subnetwork);
    let held: Option<HeldPools> = ex.state.get(&held_key)?;
    let mut allowed = Amount::ZERO;
    if let Some(held) = held.filter(|h| h.through.0 <= last_epoch) {
        allowed = held.amount;
        ex.state.delete(&held_key);
    }
    for e in first_epoch..=last_epoch {
        let pool_key = StateKey::EmissionPool(Epoch(e), subnetwork);
        let pool: Amount = ex.state.get_or_default(&pool_key)?;
        allowed = allowed.checked_add(pool).ok_or(TxError::AmountOverflow)?;
        ex.state.delete(&pool_key);
    }
    if growth > allowed {
        return Err(TxError::RootExceedsEmission {
            allowed,
            requested: growth,
        }
        .into());
    }
    // What the oracles did not allocate is not lost: it is minted to the treasury.
    let residue = allowed.saturating_sub(growth);
    ex.mint_to_treasury(residue)?;
    ex.state.put(
        &key,
        &RewardRootRecord {
            epoch,
            root: *root,
            accepted_height: ex.height,
            claimed_total,
        },
    );
    ex.state
        .put(&StateKey::RewardRootOf(subnetwork, epoch), root);
    super::credits::settle(ex, epoch, subnetwork, settlements.as_slice())?;
    ex.notes.push(format!(
        "reward root for {subnetwork} epoch {epoch} accepted: {growth} new rewards, \
         {} signatures, {residue} to the treasury",
        signatures.len()
    ));
    Ok(())
}

/// Burns the settlements of a root that a later root overtook (its rewards are in the later,
/// cumulative root; its debts are not): signed by 2/3 of the oracle stake of its epoch like any
/// root, once per epoch and sub-network.
fn settle_late(ex: &mut Exec<'_, '_>, submission: &RewardRootSubmission) -> Result<(), ExecError> {
    let (epoch, subnetwork) = (submission.epoch, submission.subnetwork);
    if ex
        .state
        .get::<cairn_types::Hash>(&StateKey::SettlementsOf(subnetwork, epoch))?
        .is_some()
    {
        return Err(TxError::AlreadySettled { subnetwork, epoch }.into());
    }
    let began = ex.config.reward_clock().first_epoch(epoch);
    check_quorum(ex, epoch, began, subnetwork, submission)?;
    super::credits::settle(ex, epoch, subnetwork, submission.settlements.as_slice())
}

fn check_quorum(
    ex: &Exec<'_, '_>,
    epoch: Epoch,
    began: Epoch,
    subnetwork: Subnetwork,
    submission: &RewardRootSubmission,
) -> Result<(), ExecError> {
    // Weighed with the stake recorded when the epoch began (`oracle_stake`).
    let stakes = oracle_stake::stakes_of(ex, began)?;
    let digest = reward_root_digest(
        &ex.config.chain_id,
        epoch,
        subnetwork,
        &submission.root,
        submission.settlements.as_slice(),
    );
    let mut seen = BTreeSet::new();
    let mut signed = Amount::ZERO;
    let mut digests = Vec::with_capacity(submission.signatures.len());
    let mut sigs = Vec::with_capacity(submission.signatures.len());
    let mut keys = Vec::with_capacity(submission.signatures.len());
    for s in submission.signatures.iter() {
        if !stakes.0.contains_key(&s.oracle) {
            return Err(TxError::UnknownOracle(s.oracle).into());
        }
        if !seen.insert(s.oracle) {
            return Err(TxError::DuplicateSigner(s.oracle).into());
        }
        // Stake withdrawn since signs for nothing: it could not be slashed.
        let weight = oracle_stake::signing_weight(ex, &stakes, &s.oracle, began)?;
        signed = signed.checked_add(weight).ok_or(TxError::AmountOverflow)?;
        digests.push(digest);
        sigs.push(s.signature);
        keys.push(s.oracle.0);
    }
    if cairn_types::keys::verify_batch(&digests, &sigs, &keys).is_err() {
        // Name the culprit for the submitter.
        for s in submission.signatures.iter() {
            if s.oracle.0.verify(&digest, &s.signature).is_err() {
                return Err(TxError::BadOracleSignature(s.oracle).into());
            }
        }
        return Err(TxError::BadOracleSignature(Address::default()).into());
    }
    let mut total = Amount::ZERO;
    for stake in stakes.0.values() {
        total = total.checked_add(*stake).ok_or(TxError::AmountOverflow)?;
    }
    if !oracle_stake::is_two_thirds(signed, total) {
        return Err(TxError::InsufficientOracleStake { signed, total }.into());
    }
    Ok(())
}

/// Moves the pools of `epoch` that no root can reach any more (a root scans at most
/// [`MAX_ROOT_EPOCH_SPAN`] epochs back) to each sub-network's unpaid pools, which the next root
/// pays from (and leaves to the treasury): called as `epoch + MAX_ROOT_EPOCH_SPAN + 1` begins,
/// so no emission is ever stranded in a pool no root can reach, and the cumulative rewards the
/// oracles computed for those epochs stay payable.
pub fn expire_pools(ex: &mut Exec<'_, '_>, epoch: Epoch) -> Result<(), ExecError> {
    for subnetwork in Subnetwork::ALL {
        let key = StateKey::EmissionPool(epoch, subnetwork);
        let Some(pool) = ex.state.get::<Amount>(&key)? else {
            continue;
        };
        ex.state.delete(&key);
        if pool.is_zero() {
            continue;
        }
        let held_key = StateKey::UnpaidPools(subnetwork);
        let held: HeldPools = ex.state.get_or_default(&held_key)?;
        let held = HeldPools {
            amount: held
                .amount
                .checked_add(pool)
                .ok_or(TxError::AmountOverflow)?,
            through: epoch.max(held.through),
        };
        ex.state.put(&held_key, &held);
        ex.notes.push(format!(
            "{pool} of epoch {epoch}'s {subnetwork} pool unpaid by any root within \
             {MAX_ROOT_EPOCH_SPAN} epochs: held for a root paying through epoch {} ({} held)",
            held.through, held.amount
        ));
    }
    Ok(())
}

/// Pays each claimed account its cumulative reward minus what it already claimed.
pub fn claim(ex: &mut Exec<'_, '_>, claims: &[RewardClaim]) -> Result<(), ExecError> {
    let mut seen = BTreeSet::new();
    let mut total = Amount::ZERO;
    let mut payouts: Vec<(Address, Amount)> = Vec::with_capacity(claims.len());
    for claim in claims {
        if !seen.insert((claim.subnetwork, claim.account)) {
            return Err(TxError::DuplicateClaim(claim.account).into());
        }
        let root_key = StateKey::RewardRoot(claim.subnetwork);
        let mut record: RewardRootRecord = ex
            .state
            .get(&root_key)?
            .ok_or(TxError::NoRewardRoot(claim.subnetwork))?;
        let leaf = RewardLeaf {
            account: claim.account,
            cumulative: claim.cumulative,
        };
        verify_reward_proof(&record.root, &leaf, &claim.proof).map_err(|error| {
            TxError::BadRewardProof {
                account: claim.account,
                error,
            }
        })?;
        let claimed_key = StateKey::RewardClaimed(claim.subnetwork, claim.account);
        let claimed: Amount = ex.state.get_or_default(&claimed_key)?;
        let payout = claim.cumulative.saturating_sub(claimed);
        if payout.is_zero() {
            continue;
        }
        let claimed_total = record
            .claimed_total
            .checked_add(payout)
            .ok_or(TxError::AmountOverflow)?;
        if claimed_total > record.root.sum {
            return Err(TxError::RootOverclaimed {
                claimed: claimed_total,
                total: record.root.sum,
            }
            .into());
        }
        record.claimed_total = claimed_total;
        ex.state.put(&root_key, &record);
        ex.state.put(&claimed_key, &claim.cumulative);
        total = total.checked_add(payout).ok_or(TxError::AmountOverflow)?;
        payouts.push((claim.account, payout));
    }
    if total.is_zero() {
        return Err(TxError::NothingToClaim.into());
    }
    charge_circuit_breaker(ex, total)?;
    for (account, payout) in &payouts {
        ex.credit(account, *payout)?;
    }
    ex.mint(total)?;
    ex.chain.total_claimed = ex
        .chain
        .total_claimed
        .checked_add(total)
        .ok_or(TxError::AmountOverflow)?;
    ex.notes
        .push(format!("claimed {total} for {} account(s)", payouts.len()));
    Ok(())
}

/// Refuses a mint that would take claims in the window above `mint_window_max`, else records it.
fn charge_circuit_breaker(ex: &mut Exec<'_, '_>, amount: Amount) -> Result<(), ExecError> {
    let now = ex.epoch();
    let window = ex.params.mint_window_epochs;
    let mut minted_window: MintWindow = ex.state.get_or_default(&StateKey::MintWindow)?;
    minted_window
        .0
        .retain(|(epoch, _)| epoch.0.saturating_add(window) > now.0);
    let mut minted = Amount::ZERO;
    for (_, m) in &minted_window.0 {
        minted = minted.checked_add(*m).ok_or(TxError::AmountOverflow)?;
    }
    let limit = ex.params.mint_window_max;
    let after = minted.checked_add(amount).ok_or(TxError::AmountOverflow)?;
    if after > limit {
        return Err(TxError::CircuitBreaker {
            minted,
            requested: amount,
            limit,
        }
        .into());
    }
    match minted_window.0.last_mut() {
        Some((epoch, m)) if *epoch == now => {
            *m = m.checked_add(amount).ok_or(TxError::AmountOverflow)?;
        }
        _ => minted_window.0.push((now, amount)),
    }
    ex.state.put(&StateKey::MintWindow, &minted_window);
    Ok(())
}
