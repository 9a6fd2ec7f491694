//! Data credits: burn-and-mint at the oracle price, delegation to payers, spending on services.
//!
//! A burn uses the oracle committee's price ([`super::prices`]). 1 DC = $0.00001, so credits =
//! tokens × price / $0.00001, rounded down; the sender names the fewest credits it accepts.
//! Credits cannot be transferred, only delegated to a payer key for one sub-network and spent
//! there: by the payer itself ([`spend`]), or by the settlements a reward root carries for the
//! service the payer signed for ([`settle`]).

use super::Exec;
use crate::error::{ExecError, TxError};
use crate::state::records::{Account, SettledRecord};
use crate::state::StateKey;
use cairn_types::tx::Settlement;
use cairn_types::{Address, Amount, Credits, Epoch, Hash, Subnetwork};

/// Burns `amount` of the sender's tokens and gives the credits to `recipient`.
pub fn burn_for_credits(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    amount: Amount,
    recipient: &Address,
    min_credits: Credits,
) -> Result<(), ExecError> {
    if amount.is_zero() {
        return Err(TxError::ZeroAmount.into());
    }
    let price = super::prices::burn_price(ex)?;
    let credits = price.credits_for(amount).ok_or(TxError::CreditOverflow)?;
    if credits.0 == 0 {
        return Err(TxError::BurnTooSmall(amount).into());
    }
    if credits < min_credits {
        return Err(TxError::CreditsBelowMinimum {
            min: min_credits,
            got: credits,
        }
        .into());
    }
    ex.debit(sender, amount)?;
    ex.burn(amount)?;
    let mut account: Account = ex.account(recipient)?;
    account.credits = account
        .credits
        .checked_add(credits)
        .ok_or(TxError::CreditOverflow)?;
    ex.put_account(recipient, &account);
    ex.notes.push(format!(
        "burned {amount} at {price} per token for {credits} to {recipient}"
    ));
    Ok(())
}

/// Moves the sender's credits to a payer key, for one sub-network only.
pub fn delegate(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    payer: &Address,
    subnetwork: Subnetwork,
    credits: Credits,
) -> Result<(), ExecError> {
    if credits.0 == 0 {
        return Err(TxError::ZeroAmount.into());
    }
    take_own_credits(ex, sender, credits)?;
    let key = StateKey::DelegatedCredits(*payer, subnetwork);
    let held: Credits = ex.state.get_or_default(&key)?;
    ex.state.put(
        &key,
        &held.checked_add(credits).ok_or(TxError::CreditOverflow)?,
    );
    Ok(())
}

/// Spends credits on a service: delegated credits for the sub-network first, then the sender's.
pub fn spend(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    subnetwork: Subnetwork,
    credits: Credits,
    usage: &Hash,
) -> Result<(), ExecError> {
    if credits.0 == 0 {
        return Err(TxError::ZeroAmount.into());
    }
    let key = StateKey::DelegatedCredits(*sender, subnetwork);
    let delegated: Credits = ex.state.get_or_default(&key)?;
    let from_delegated = Credits(delegated.0.min(credits.0));
    let from_own = Credits(credits.0 - from_delegated.0);
    if from_own.0 > 0 {
        let own = ex.account(sender)?.credits;
        if own < from_own {
            return Err(TxError::InsufficientCredits {
                needed: credits,
                available: Credits(own.0.saturating_add(delegated.0)),
            }
            .into());
        }
        take_own_credits(ex, sender, from_own)?;
    }
    let left = Credits(delegated.0 - from_delegated.0);
    if left.0 == 0 {
        ex.state.delete(&key);
    } else {
        ex.state.put(&key, &left);
    }
    record_usage(ex, subnetwork, credits)?;
    ex.notes
        .push(format!("spent {credits} in {subnetwork} for {usage}"));
    Ok(())
}

/// Refuses settlements that are not one per payer in ascending order, each above zero and at
/// most what the payer signed for; only connectivity roots settle payers.
pub fn check_settlements(
    subnetwork: Subnetwork,
    settlements: &[Settlement],
) -> Result<(), TxError> {
    if !settlements.is_empty() && subnetwork != Subnetwork::Connectivity {
        return Err(TxError::BadSettlements(format!(
            "only connectivity roots settle payers, not {subnetwork}"
        )));
    }
    if let Some(over) = settlements.iter().find(|s| s.credits > s.signed) {
        return Err(TxError::BadSettlements(format!(
            "payer {} is charged more than it signed for",
            over.payer
        )));
    }
    for pair in settlements.windows(2) {
        if pair[0].payer >= pair[1].payer {
            return Err(TxError::BadSettlements(format!(
                "payer {} is not after {}",
                pair[1].payer, pair[0].payer
            )));
        }
    }
    if let Some(zero) = settlements.iter().find(|s| s.credits.0 == 0) {
        return Err(TxError::BadSettlements(format!(
            "payer {} owes nothing",
            zero.payer
        )));
    }
    Ok(())
}

/// Burns what each payer owes for `epoch`'s service in `subnetwork` from its delegated credits
/// there, never more than it holds (the rest is recorded as short), and records the settlement.
pub fn settle(
    ex: &mut Exec<'_, '_>,
    epoch: Epoch,
    subnetwork: Subnetwork,
    settlements: &[Settlement],
) -> Result<(), ExecError> {
    if settlements.is_empty() {
        return Ok(());
    }
    let (mut burned_all, mut short_all) = (0u64, 0u64);
    for Settlement {
        payer,
        credits,
        signed,
    } in settlements
    {
        let key = StateKey::DelegatedCredits(*payer, subnetwork);
        let held: Credits = ex.state.get_or_default(&key)?;
        let burned = Credits(held.0.min(credits.0));
        // What the payer signed for and did not pay: capped by the oracles, or spent since.
        let short = Credits(signed.0 - burned.0);
        if held.0 == burned.0 {
            ex.state.delete(&key);
        } else {
            ex.state.put(&key, &Credits(held.0 - burned.0));
        }
        let record_key = StateKey::Settled(subnetwork, *payer);
        let before: SettledRecord = ex.state.get_or_default(&record_key)?;
        ex.state.put(
            &record_key,
            &SettledRecord {
                epoch,
                owed: *signed,
                burned,
                burned_total: Credits(before.burned_total.0.saturating_add(burned.0)),
                short_total: Credits(before.short_total.0.saturating_add(short.0)),
            },
        );
        burned_all = burned_all.saturating_add(burned.0);
        short_all = short_all.saturating_add(short.0);
    }
    record_usage(ex, subnetwork, Credits(burned_all))?;
    ex.state.put(
        &StateKey::SettlementsOf(subnetwork, epoch),
        &cairn_types::tx::settlements_digest(settlements),
    );
    ex.notes.push(format!(
        "settled {} payer(s) in {subnetwork} for epoch {epoch}: {} burned, {} short",
        settlements.len(),
        Credits(burned_all),
        Credits(short_all)
    ));
    Ok(())
}

/// Burns credits from an account's own balance for a fee paid in a sub-network.
pub fn spend_own_credits(
    ex: &mut Exec<'_, '_>,
    account: &Address,
    subnetwork: Subnetwork,
    credits: Credits,
) -> Result<(), ExecError> {
    take_own_credits(ex, account, credits)?;
    record_usage(ex, subnetwork, credits)
}

fn take_own_credits(
    ex: &mut Exec<'_, '_>,
    address: &Address,
    credits: Credits,
) -> Result<(), ExecError> {
    let mut account = ex.account(address)?;
    account.credits = account
        .credits
        .checked_sub(credits)
        .ok_or(TxError::InsufficientCredits {
            needed: credits,
            available: account.credits,
        })?;
    ex.put_account(address, &account);
    Ok(())
}

fn record_usage(
    ex: &mut Exec<'_, '_>,
    subnetwork: Subnetwork,
    credits: Credits,
) -> Result<(), ExecError> {
    let key = StateKey::CreditUsage(subnetwork);
    let used: Credits = ex.state.get_or_default(&key)?;
    ex.state.put(
        &key,
        &used.checked_add(credits).ok_or(TxError::CreditOverflow)?,
    );
    Ok(())
}
