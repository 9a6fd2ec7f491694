//! What an epoch needs besides its state, proven rather than taken on a node's word:
//!
//! - its **bounds**, the times of the blocks that began and ended it: each block's header
//!   vouched for by a certificate of followed seats ([`HeaderTrust::vouched_header`]), so its
//!   timestamp is the chain's;
//! - its **counted manifests**: read in a proven batch at a recent state that a certified
//!   header attests, once that state is shown final for them ([`final_state`]). Which
//!   manifests count is final once a block timed after the attest window is final
//!   ([`cairn_ledger`]'s manifests module): every state from the one before that block on holds
//!   the same record, so any such state gives every oracle and auditor the same set.
//!
//! Without a trust (no genesis configured) both are the first node's answers.

use super::client::{ChainError, NodeClient};
use super::reads::{AttestedState, StateReads};
use super::trust::HeaderTrust;
use cairn_ledger::exec::manifests::window_closes;
use cairn_ledger::state::records::EpochManifests;
use cairn_ledger::StateKey;
use cairn_types::params::Params;
use cairn_types::Epoch;

/// The time (ms) of block `height`, from a vouched header.
pub fn block_time(
    trust: &HeaderTrust,
    clients: &[NodeClient],
    height: u64,
) -> Result<u64, ChainError> {
    Ok(trust.vouched_header(clients, height)?.timestamp_ms)
}

/// A recent state in which the counted set of the reward epoch that ended at block time
/// `end_ms` (a vouched time) is final, or `None` while no node's is yet. The state S a node's
/// head block attests (under a certificate) is accepted only when block S + 1, vouched for, is
/// timed after the epoch's attest window closes under the parameters at S (read proven): block
/// times never go back, so no attestation can land after S, and every oracle and auditor reads
/// the same counted set, whichever such state it reads. A node that shows an older head (before
/// the set was final) is not believed for it: its state is simply not final, and the next node
/// is asked.
pub fn final_state(
    trust: &HeaderTrust,
    clients: &[NodeClient],
    end_ms: u64,
) -> Result<Option<AttestedState>, String> {
    let mut last = None;
    for client in clients {
        match final_state_at(trust, client, clients, end_ms) {
            Ok(Some(state)) => return Ok(Some(state)),
            Ok(None) => last = None,
            Err(error) => last = Some(error),
        }
    }
    match last {
        // The last node asked failed: say why (a node that was not final yet is a wait).
        Some(error) => Err(error),
        None => Ok(None),
    }
}

fn final_state_at(
    trust: &HeaderTrust,
    client: &NodeClient,
    clients: &[NodeClient],
    end_ms: u64,
) -> Result<Option<AttestedState>, String> {
    let head = client.status().map_err(|e| e.to_string())?.height;
    let header = trust
        .vouched_header(std::slice::from_ref(client), head)
        .map_err(|e| format!("its head block {head}: {e}"))?;
    if header.state_height >= head {
        return Err(format!(
            "its head block {head} attests the state of height {}, not an earlier one",
            header.state_height
        ));
    }
    let state = AttestedState {
        height: header.state_height,
        root: header.state_root,
        block: head,
    };
    let params: Params = StateReads::attested(clients, state)
        .get(&StateKey::Params)
        .map_err(|e| format!("the parameters at height {}: {e}", state.height))?
        .ok_or("the chain has no parameters")?;
    let closes_ms = window_closes(&params, end_ms).attestations_ms;
    let next = trust
        .vouched_header(clients, state.height + 1)
        .map_err(|e| format!("block {}: {e}", state.height + 1))?;
    Ok((next.timestamp_ms > closes_ms).then_some(state))
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
