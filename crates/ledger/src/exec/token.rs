//! Token transfers.

use super::Exec;
use crate::error::{ExecError, TxError};
use cairn_types::{Address, Amount};

/// Moves `amount` from `from` to `to`.
pub fn transfer(
    ex: &mut Exec<'_, '_>,
    from: &Address,
    to: &Address,
    amount: Amount,
) -> Result<(), ExecError> {
    if amount.is_zero() {
        return Err(TxError::ZeroAmount.into());
    }
    ex.debit(from, amount)?;
    ex.credit(to, amount)
}
