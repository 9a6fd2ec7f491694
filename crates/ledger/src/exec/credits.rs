//! Data credits: burn-and-mint at the oracle price, delegation to payers, spending on services.
//!
//! A burn uses the oracle committee's price ([`super::prices`]). 1 DC = $0.00001, so credits =
//! tokens × price / $0.00001, rounded down; the sender names the fewest credits it accepts.
//! Credits cannot be transferred, only delegated to a payer key for one sub-network and spent
//! there.

use super::Exec;
use crate::error::{ExecError, TxError};
use crate::state::records::Account;
use crate::state::StateKey;
use cairn_types::{Address, Amount, Credits, Hash, Subnetwork};

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
