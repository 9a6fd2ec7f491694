//! The light client's chain of trust across epochs.
//!
//! A client starts from a set it trusts: the genesis set (epoch 0), or a checkpoint (a validator
//! set of some epoch, obtained from a source the user trusts). The set of epoch `e + 1` is
//! chosen at the first block of epoch `e`, and the last block of `e` attests a state at or after
//! it; so the last block of `e`, its finalization certificate signed by the seats of `e`, and a
//! proof of `ValidatorSet(e + 1)` against the root it attests, hand the trust from `e` to `e + 1`
//! (`GET /v1/epochs/{e}/handoff`). [`walk`] follows these hand-offs up to the epoch asked for,
//! checking every one; nothing the node says is taken on its word.

use crate::client::NodeClient;
use anyhow::{bail, Context as _, Result};
use cairn_ledger::genesis::Genesis;
use cairn_light::certificate::{self as light, LightClient};
use cairn_light::handoff;
use cairn_light::validators::ValidatorSet;
use cairn_light::StateProof;
use cairn_node::rpc::epochs::Handoff;
use cairn_types::Epoch;
use std::path::Path;

/// A validator set the client trusts, and what it needs to check certificates with it.
pub(crate) struct Trusted {
    /// The chain id (the vote namespace).
    pub(crate) chain_id: String,
    /// Blocks per epoch.
    pub(crate) blocks_per_epoch: u64,
    /// The set.
    pub(crate) set: ValidatorSet,
    /// The genesis's unbonding period, in epochs (how long a set stays slashable).
    pub(crate) unbonding_epochs: u64,
}

impl Trusted {
    /// The genesis set (epoch 0) of `genesis`.
    pub(crate) fn genesis(genesis: &Genesis) -> Trusted {
        Trusted {
            chain_id: genesis.chain.chain_id.to_string(),
            blocks_per_epoch: genesis.chain.blocks_per_epoch,
            set: genesis.initial_validator_set(),
            unbonding_epochs: genesis.params.unbonding_epochs,
        }
    }

    /// A checkpoint file (a validator set in JSON, as `cairn query checkpoint` writes it) of the
    /// chain of `genesis`.
    pub(crate) fn checkpoint(genesis: &Genesis, file: &Path) -> Result<Trusted> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the checkpoint {}", file.display()))?;
        let set: ValidatorSet = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a validator set", file.display()))?;
        Ok(Trusted {
            set,
            ..Trusted::genesis(genesis)
        })
    }

    /// A client checking certificates of the trusted set's epoch.
    pub(crate) fn client(&self) -> Result<LightClient> {
        let seats = light::seats_of(&self.set).context("a seat key is not an ed25519 key")?;
        Ok(LightClient::new(&self.chain_id, seats))
    }

    /// The epoch of block `height`.
    pub(crate) fn epoch_of(&self, height: u64) -> u64 {
        Epoch::of_height(height, self.blocks_per_epoch).0
    }
}

/// Checks one hand-off from `trusted` (epoch `e`) and returns the set of `e + 1`.
fn hand_off(trusted: &Trusted, handoff: &Handoff) -> Result<ValidatorSet> {
    let header = handoff
        .block
        .header
        .to_header()
        .map_err(|error| anyhow::anyhow!("epoch {}'s last block: {error}", handoff.epoch))?;
    if handoff.state_root != header.state_root {
        bail!("the proof is against another root than the block attests");
    }
    let certificate = handoff
        .block
        .finalization
        .as_deref()
        .context("the hand-off block comes without its certificate")?;
    let proof: StateProof = cairn_types::codec::decode(
        &hex::decode(&handoff.proof).context("the proof is not hex")?,
        1024 * 1024,
    )
    .context("the proof does not decode")?;
    let data = handoff::Handoff {
        epoch: handoff.epoch,
        header,
        certificate: hex::decode(certificate).context("the certificate is not hex")?,
        next_set: hex::decode(&handoff.next_set).context("the set is not hex")?,
        proof,
    };
    Ok(handoff::follow(
        &trusted.chain_id,
        trusted.blocks_per_epoch,
        &trusted.set,
        &data,
    )?)
}

/// Follows the hand-offs from `trusted` up to `epoch`, checking each, and returns the set of
/// `epoch`.
pub(crate) fn walk(node: &NodeClient, mut trusted: Trusted, epoch: u64) -> Result<Trusted> {
    if epoch < trusted.set.epoch.0 {
        bail!(
            "the trusted set is of epoch {}, after epoch {epoch}: start from an earlier checkpoint",
            trusted.set.epoch
        );
    }
    if epoch - trusted.set.epoch.0 > trusted.unbonding_epochs {
        eprintln!(
            "warning: the trusted set (epoch {}) is older than the unbonding period ({} epochs): \
             its validators may have withdrawn their stake and could sign a false history at no \
             risk; start from a recent checkpoint you trust (docs/CONSENSUS.md, weak subjectivity)",
            trusted.set.epoch, trusted.unbonding_epochs
        );
    }
    while trusted.set.epoch.0 < epoch {
        let e = trusted.set.epoch.0;
        let handoff: Handoff = node.get(&format!("/v1/epochs/{e}/handoff"))?;
        trusted.set = hand_off(&trusted, &handoff)
            .with_context(|| format!("the hand-off from epoch {e} to {}", e + 1))?;
    }
    Ok(trusted)
}
