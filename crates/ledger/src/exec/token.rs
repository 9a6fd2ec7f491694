//! Token transfers.

use super::Exec;
use crate::error::TxError;
use cairn_types::{Address, Amount};

/// Moves `amount` from `from` to `to`.
pub fn transfer(
    ex: &mut Exec<'_, '_>,
    from: &Address,
    to: &Address,
    amount: Amount,
) -> Result<(), TxError> {
    if amount.is_zero() {
        return Err(TxError::ZeroAmount);
    }
    ex.debit(from, amount)?;
    ex.credit(to, amount)
}
