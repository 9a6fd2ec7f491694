//! What an epoch needs besides its state, proven rather than taken on a node's word:
//!
//! - its **bounds**, the times of the blocks that began and ended it: each block's header
//!   vouched for by a certificate of followed seats ([`HeaderTrust::vouched_header`]), so its
//!   timestamp is the chain's;
//! - its **counted manifests**: read in a proven batch at a recent state that a certified
//!   header attests. Which manifests count is final once a block timed after the attest window
//!   is final ([`cairn_ledger`]'s manifests module): every state from the one before that block
//!   on holds the same record, so any such state gives every oracle and auditor the same set.
//!
//! Without a trust (no genesis configured) both are the first node's answers.

use super::client::{ChainError, NodeClient};
use super::reads::{AttestedState, StateReads};
use super::trust::HeaderTrust;
use cairn_ledger::state::records::EpochManifests;
use cairn_ledger::StateKey;
use cairn_types::Epoch;

/// The time (ms) of block `height`, from a vouched header.
pub fn block_time(
    trust: &HeaderTrust,
    clients: &[NodeClient],
    height: u64,
) -> Result<u64, ChainError> {
    Ok(trust.vouched_header(clients, height)?.timestamp_ms)
}

/// The state attested by the latest finalized block the first answering node has, under a
/// certificate; it must be at least `at_least` (a node behind the oracle's own view is asked
/// again later, or the next one).
pub fn recent_state(
    trust: &HeaderTrust,
    clients: &[NodeClient],
    at_least: u64,
) -> Result<AttestedState, ChainError> {
    let mut last = None;
    for client in clients {
        let head = match client.status() {
            Ok(status) => status.height,
            Err(error) => {
                last = Some(error);
                continue;
            }
        };
        let header = match trust.vouched_header(std::slice::from_ref(client), head) {
            Ok(header) => header,
            Err(error) => {
                last = Some(error);
                continue;
            }
        };
        if header.state_height < at_least {
            last = Some(ChainError::Node {
                url: client.base().to_string(),
                reason: format!(
                    "its latest state is of height {}, before height {at_least} the oracle \
                     already follows",
                    header.state_height
                ),
            });
            continue;
        }
        return Ok(AttestedState {
            height: header.state_height,
            root: header.state_root,
            block: head,
        });
    }
    Err(last.unwrap_or_else(|| ChainError::Node {
        url: String::new(),
        reason: "no node configured".into(),
    }))
}

/// Reward epoch `epoch`'s manifests record (empty when none was committed), read proven at
/// `state`.
pub fn manifests_at(
    clients: &[NodeClient],
    state: AttestedState,
    epoch: Epoch,
) -> Result<EpochManifests, String> {
    StateReads::attested(clients, state)
        .get::<EpochManifests>(&StateKey::Manifests(epoch))
        .map(Option::unwrap_or_default)
        .map_err(|e| format!("the manifests of reward epoch {epoch}: {e}"))
}
