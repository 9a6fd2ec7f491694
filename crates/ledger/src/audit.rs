//! The supply audit: recounts every token in the state and checks it against the books.
//!
//! `total_supply` must equal the sum of all balances, validator and oracle stake, unbonding
//! stake, vote-escrow locks and the treasury. The audit walks the whole state, so it is for
//! auditors, tests and `cairn ledger audit`, not for block execution.

use crate::error::StoreError;
use crate::ledger::Ledger;
use crate::state::overlay::MAX_STATE_VALUE_BYTES;
use crate::state::records::{Account, ChainState, LockRecord, Oracles, Unbondings, ValidatorInfo};
use crate::state::StateKey;
use borsh::BorshDeserialize;
use cairn_types::Amount;
use serde::{Deserialize, Serialize};

/// Where every token is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplyAudit {
    /// Sum of account balances.
    pub balances: Amount,
    /// Sum of validator stake.
    pub validator_stake: Amount,
    /// Sum of oracle stake.
    pub oracle_stake: Amount,
    /// Sum of unbonding stake.
    pub unbonding: Amount,
    /// Sum of vote-escrow locks.
    pub locked: Amount,
    /// The treasury.
    pub treasury: Amount,
    /// The sum of all the above.
    pub counted: Amount,
    /// What the chain state says the supply is.
    pub total_supply: Amount,
    /// Number of accounts.
    pub accounts: u64,
}

impl SupplyAudit {
    /// True when the count matches the books.
    pub fn balanced(&self) -> bool {
        self.counted == self.total_supply
    }
}

fn decode<V: BorshDeserialize>(bytes: &[u8]) -> Result<V, StoreError> {
    cairn_types::codec::decode(bytes, MAX_STATE_VALUE_BYTES)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn add(total: &mut Amount, amount: Amount) -> Result<(), StoreError> {
    *total = total
        .checked_add(amount)
        .ok_or_else(|| StoreError::Corrupt("supply overflows".into()))?;
    Ok(())
}

/// Recounts the supply of the latest state.
pub fn audit_supply(ledger: &Ledger) -> Result<SupplyAudit, StoreError> {
    let mut audit = SupplyAudit::default();
    ledger.store().for_each(|key, value| {
        let Ok(key) = decode::<StateKey>(key) else {
            return Err(StoreError::Corrupt("undecodable state key".into()));
        };
        match key {
            StateKey::Account(_) => {
                add(&mut audit.balances, decode::<Account>(value)?.balance)?;
                audit.accounts += 1;
            }
            StateKey::Validator(_) => {
                add(
                    &mut audit.validator_stake,
                    decode::<ValidatorInfo>(value)?.stake,
                )?;
            }
            StateKey::Oracles => {
                for o in decode::<Oracles>(value)?.0.values() {
                    add(&mut audit.oracle_stake, o.stake)?;
                }
            }
            StateKey::Unbonding(_) => {
                for e in decode::<Unbondings>(value)?.0 {
                    add(&mut audit.unbonding, e.amount)?;
                }
            }
            StateKey::Lock(_) => add(&mut audit.locked, decode::<LockRecord>(value)?.amount)?,
            StateKey::ChainState => {
                let chain: ChainState = decode(value)?;
                audit.treasury = chain.treasury;
                audit.total_supply = chain.total_supply;
            }
            _ => {}
        }
        Ok(())
    })?;
    let mut counted = Amount::ZERO;
    for part in [
        audit.balances,
        audit.validator_stake,
        audit.oracle_stake,
        audit.unbonding,
        audit.locked,
        audit.treasury,
    ] {
        add(&mut counted, part)?;
    }
    audit.counted = counted;
    Ok(audit)
}
