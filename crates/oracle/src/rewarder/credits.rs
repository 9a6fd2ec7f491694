//! Payers' credits delegated to a sub-network at an epoch's last block, read from a node in
//! bulk: what settlement caps each payer's debt at. A read that fails is an error and the epoch is
//! computed again later (it must not read as "holds nothing").

use crate::chain::reads::StateReads;
use cairn_ledger::StateKey;
use cairn_types::{Address, Credits, Subnetwork};
use std::collections::BTreeMap;

/// A credit source over `reads` (at the epoch's last block).
pub fn credits_at<'a>(
    reads: &'a StateReads<'a>,
) -> impl Fn(Subnetwork, &[Address]) -> Result<BTreeMap<Address, Credits>, String> + 'a {
    move |subnetwork, payers| {
        let keys: Vec<StateKey> = payers
            .iter()
            .map(|p| StateKey::DelegatedCredits(*p, subnetwork))
            .collect();
        let held: Vec<Option<Credits>> = reads.read(&keys).map_err(|e| e.to_string())?;
        Ok(payers
            .iter()
            .zip(held)
            .map(|(payer, held)| (*payer, held.unwrap_or_default()))
            .collect())
    }
}

/// No payer holds anything (tests without paid service).
pub fn no_credits() -> super::CreditSource<'static> {
    &|_, _| Ok(BTreeMap::new())
}
