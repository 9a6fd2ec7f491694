//! What the sub-networks read besides the tally ([`ChainInputs`]), from the sources an oracle
//! (its follower and node) or an auditor (its node) has: blocks named as beacon entropy,
//! sensing stations' pasts, payers' delegated credits, and the denylist committed with the
//! epoch.

use super::{CreditSource, EntropySource, HistorySource};
use cairn_resources::coverage::types::Denylist;
use cairn_resources::sensing::score::StationHistory;
use cairn_resources::subnet::ChainInputs;
use cairn_types::{Address, Credits, DeviceId, Hash, Subnetwork};
use std::collections::BTreeMap;

/// One epoch's chain inputs.
pub struct EpochChain<'a> {
    /// The blocks beacons name.
    pub entropy: EntropySource<'a>,
    /// Sensing stations' pasts.
    pub history: HistorySource<'a>,
    /// Payers' delegated credits.
    pub credits: CreditSource<'a>,
    /// The denylist committed with the epoch.
    pub denylist: Denylist,
}

impl ChainInputs for EpochChain<'_> {
    fn entropy(&self, heights: &[u64]) -> Result<BTreeMap<u64, (Hash, u64)>, String> {
        let mut blocks = BTreeMap::new();
        for height in heights {
            let block =
                (self.entropy)(*height).map_err(|reason| format!("block {height}: {reason}"))?;
            if let Some(block) = block {
                blocks.insert(*height, block);
            }
        }
        Ok(blocks)
    }

    fn station_history(
        &self,
        stations: &[DeviceId],
    ) -> Result<BTreeMap<DeviceId, StationHistory>, String> {
        (self.history)(stations)
    }

    fn delegated_credits(
        &self,
        subnetwork: Subnetwork,
        payers: &[Address],
    ) -> Result<BTreeMap<Address, Credits>, String> {
        (self.credits)(subnetwork, payers)
    }

    fn denylist(&self) -> &Denylist {
        &self.denylist
    }
}

/// No chain at all: no entropy, no histories, no credits, no denylist (tests).
pub fn no_chain() -> EpochChain<'static> {
    EpochChain {
        entropy: super::entropy::no_entropy(),
        history: super::history::no_history(),
        credits: super::credits::no_credits(),
        denylist: Denylist::default(),
    }
}
