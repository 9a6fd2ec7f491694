//! Data credits: burn-and-mint at the oracle price, delegation to payers, spending on services.
//!
//! Oracles post the token's price; a burn uses the median of the prices posted within
//! `price_max_age_secs` of the block time and is refused when fewer than `price_fresh_min` are
//! fresh. 1 DC = $0.00001, so credits = tokens × price / $0.00001, rounded down. Credits cannot
//! be transferred, only delegated to a payer key for one sub-network and spent there.

use super::Exec;
use crate::error::{ExecError, TxError};
use crate::state::records::{Account, Oracles, PricePost};
use crate::state::StateKey;
use cairn_types::{Address, Amount, Credits, Hash, Price, Subnetwork};

/// Records an oracle's price at the block time.
pub fn post_price(ex: &mut Exec<'_, '_>, sender: &Address, price: Price) -> Result<(), ExecError> {
    if price.0 == 0 {
        return Err(TxError::ZeroPrice.into());
    }
    let mut oracles: Oracles = ex.state.get_or_default(&StateKey::Oracles)?;
    let info = oracles
        .0
        .get_mut(sender)
        .ok_or(TxError::NotAnOracle(*sender))?;
    info.price = Some(PricePost {
        price,
        posted_ms: ex.time_ms,
    });
    ex.state.put(&StateKey::Oracles, &oracles);
    Ok(())
}

/// The median of fresh prices (for an even count, the mean of the middle two, rounded down).
pub fn median_fresh_price(ex: &Exec<'_, '_>) -> Result<Price, ExecError> {
    let oracles: Oracles = ex.state.get_or_default(&StateKey::Oracles)?;
    let max_age_ms = ex.params.price_max_age_secs.saturating_mul(1000);
    let mut fresh: Vec<u64> = oracles
        .0
        .values()
        .filter_map(|o| o.price)
        .filter(|p| p.posted_ms.saturating_add(max_age_ms) >= ex.time_ms)
        .map(|p| p.price.0)
        .collect();
    let needed = ex.params.price_fresh_min;
    if (fresh.len() as u64) < needed || fresh.is_empty() {
        return Err(TxError::PriceStale {
            fresh: fresh.len() as u64,
            needed,
        }
        .into());
    }
    fresh.sort_unstable();
    let mid = fresh.len() / 2;
    let median = if fresh.len() % 2 == 1 {
        fresh[mid]
    } else {
        let sum = u128::from(fresh[mid - 1]) + u128::from(fresh[mid]);
        u64::try_from(sum / 2).unwrap_or(u64::MAX)
    };
    Ok(Price(median))
}

/// Burns `amount` of the sender's tokens and gives the credits to `recipient`.
pub fn burn_for_credits(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    amount: Amount,
    recipient: &Address,
) -> Result<(), ExecError> {
    if amount.is_zero() {
        return Err(TxError::ZeroAmount.into());
    }
    let price = median_fresh_price(ex)?;
    let credits = price.credits_for(amount).ok_or(TxError::CreditOverflow)?;
    if credits.0 == 0 {
        return Err(TxError::BurnTooSmall(amount).into());
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
