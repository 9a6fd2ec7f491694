//! The denylist that applies to a reward epoch, read from its counted manifests and the
//! oracle stakes on chain (see [`crate::denylist`]).

use crate::denylist::{committed, DenyEntry};
use crate::manifest::Manifest;
use cairn_resources::coverage::types::Denylist;
use cairn_types::{Address, Amount};
use std::collections::BTreeMap;

/// The denylist committed with reward epoch `epoch`: from its counted `manifests`, each oracle
/// weighed as the chain weighs its attestations: the stake recorded when the epoch began, but
/// no more than it still had at risk (bonded, plus oracle stake unbonded since the epoch
/// began). All read through `reads`, at the one state the epoch's inputs are read at, proven,
/// so every oracle and every replay reads the same.
pub fn of_epoch(
    reads: &crate::chain::reads::StateReads<'_>,
    chain: &cairn_types::params::ChainConfig,
    epoch: cairn_types::Epoch,
    manifests: &[Manifest],
) -> Result<Denylist, String> {
    use cairn_ledger::state::records::{OracleStakes, Oracles, Unbondings};
    use cairn_ledger::StateKey;
    if manifests.iter().all(|m| m.denylist.is_empty()) {
        return Ok(Denylist::default());
    }
    let began = chain.reward_clock().first_epoch(epoch);
    let stakes: OracleStakes = reads
        .get(&StateKey::OracleStakes(began))
        .map_err(|e| e.to_string())?
        .ok_or(format!("no oracle stakes recorded for epoch {began}"))?;
    let bonded: Oracles = reads
        .get(&StateKey::Oracles)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let mut total = Amount::ZERO;
    for stake in stakes.0.values() {
        total = total.checked_add(*stake).ok_or("oracle stakes overflow")?;
    }
    let mut weights = BTreeMap::new();
    for m in manifests.iter().filter(|m| !m.denylist.is_empty()) {
        let Some(recorded) = stakes.0.get(&m.oracle) else {
            continue;
        };
        let unbonding: Unbondings = reads
            .get(&StateKey::Unbonding(m.oracle))
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let mut at_risk = bonded.0.get(&m.oracle).map_or(Amount::ZERO, |o| o.stake);
        for entry in unbonding
            .0
            .iter()
            .filter(|e| e.role == cairn_types::tx::StakeRole::Oracle && e.unbonded_epoch >= began)
        {
            at_risk = at_risk
                .checked_add(entry.amount)
                .ok_or("oracle stake overflow")?;
        }
        weights.insert(m.oracle, (*recorded).min(at_risk));
    }
    let lists: Vec<(Address, &[DenyEntry])> = manifests
        .iter()
        .map(|m| (m.oracle, m.denylist.as_slice()))
        .collect();
    Ok(committed(&lists, &weights, total))
}
