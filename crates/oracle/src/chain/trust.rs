//! Headers the oracle believes: a header vouches for the state an epoch's inputs are read at
//! only under a finalization certificate signed by a quorum of its epoch's seats, and those
//! seats are trusted only as far as they were followed from the genesis set through every
//! epoch's hand-off (`cairn_light`). The oracle then trusts its nodes for nothing: a node that
//! lies about a header, a certificate or a set is refused and the next configured node asked.
//!
//! ```text
//!  genesis set ─hand-off─▶ set of epoch 1 ─▶ … ─▶ set of the block's epoch ─▶ certificate ✓
//!                                                     attesting block ◀─parent─ … ◀─ certified descendant
//! ```
//!
//! A block finalized through a descendant carries no certificate of its own: the first
//! certified descendant within [`MAX_UNCERTIFIED_RUN`] blocks is checked instead, and the
//! parent digests link it back to the block.

use super::client::{ChainError, NodeClient};
use super::reads::AttestedState;
use crate::index::Index;
use cairn_ledger::genesis::Genesis;
use cairn_light::certificate::{seats_of, LightClient};
use cairn_light::handoff::{self, Handoff};
use cairn_light::header::{Header, HeaderJson};
use cairn_light::validators::ValidatorSet;
use cairn_light::StateProof;
use cairn_types::Epoch;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Most blocks after an attesting block looked at for a certified descendant (a node that
/// filled in blocks from a later certificate can leave long runs without one).
pub const MAX_UNCERTIFIED_RUN: u64 = 256;

/// Sets kept besides the genesis set (the latest followed), so a long-running oracle does not
/// walk from the genesis for each epoch, nor keep every epoch's set. An epoch's rewards look at
/// headers from the epoch's start to the chain's head, and an oracle catching up after an
/// outage at up to 64 epochs back: the sets of all those epochs stay kept.
const KEPT_SETS: usize = 128;

#[derive(Deserialize)]
struct CertifiedBlockAnswer {
    header: HeaderJson,
    finalization: Option<String>,
}

#[derive(Deserialize)]
struct HandoffAnswer {
    epoch: u64,
    block: CertifiedBlockAnswer,
    next_set: String,
    proof: String,
}

/// A block's header and its own certificate (encoded), if it has one.
pub struct CertifiedHeader {
    /// The header.
    pub header: Header,
    /// Its finalization certificate.
    pub certificate: Option<Vec<u8>>,
}

impl NodeClient {
    /// Block `height`'s header and certificate, decoded (nothing checked yet).
    pub fn certified_header(&self, height: u64) -> Result<CertifiedHeader, ChainError> {
        let path = format!("/v1/blocks/{height}?transactions=false");
        let answer: CertifiedBlockAnswer = self.get_json(&path)?;
        let malformed = |reason: String| ChainError::Malformed {
            url: format!("{}{path}", self.base()),
            reason,
        };
        let header = answer.header.to_header().map_err(malformed)?;
        let certificate = answer
            .finalization
            .map(|hex_text| hex::decode(hex_text).map_err(|e| malformed(e.to_string())))
            .transpose()?;
        Ok(CertifiedHeader {
            header,
            certificate,
        })
    }

    /// The hand-off from epoch `epoch`'s set to the next, decoded (nothing checked yet).
    pub fn handoff(&self, epoch: u64) -> Result<Handoff, ChainError> {
        let path = format!("/v1/epochs/{epoch}/handoff");
        let answer: HandoffAnswer = self.get_json(&path)?;
        let malformed = |reason: String| ChainError::Malformed {
            url: format!("{}{path}", self.base()),
            reason,
        };
        let header = answer.block.header.to_header().map_err(malformed)?;
        let certificate = answer
            .block
            .finalization
            .ok_or_else(|| malformed("the hand-off block comes without its certificate".into()))?;
        let proof_bytes = hex::decode(&answer.proof).map_err(|e| malformed(e.to_string()))?;
        let proof: StateProof = cairn_types::codec::decode(&proof_bytes, 1 << 20)
            .map_err(|e| malformed(e.to_string()))?;
        Ok(Handoff {
            epoch: answer.epoch,
            header,
            certificate: hex::decode(certificate).map_err(|e| malformed(e.to_string()))?,
            next_set: hex::decode(&answer.next_set).map_err(|e| malformed(e.to_string()))?,
            proof,
        })
    }
}

/// The seats the oracle trusts, followed from the genesis set (see the module doc).
pub struct HeaderTrust {
    chain_id: String,
    blocks_per_epoch: u64,
    genesis: ValidatorSet,
    followed: Mutex<BTreeMap<u64, ValidatorSet>>,
    index: Option<std::sync::Arc<Index>>,
}

/// The index blob holding the latest set followed (the oracle's own record: a restart goes on
/// from it instead of walking every hand-off from the genesis again), named by the chain and
/// its genesis set, so a set followed for another chain or genesis is never taken up.
fn latest_set_blob(chain_id: &str, genesis: &ValidatorSet) -> String {
    let genesis_hash = blake3::hash(&cairn_types::codec::encode(genesis));
    format!(
        "trust/{chain_id}/{}/latest_set",
        hex::encode(&genesis_hash.as_bytes()[..8])
    )
}

/// Hand-offs followed between two records of the latest set (a walk cut short goes on from
/// the last one kept).
const KEEP_EVERY: u64 = 16;

impl HeaderTrust {
    /// Trust starting from the genesis file at `path`, which must be of the chain `chain_id`
    /// with `blocks_per_epoch` (what the node says it runs).
    pub fn from_genesis(
        path: &std::path::Path,
        chain_id: &str,
        blocks_per_epoch: u64,
    ) -> Result<HeaderTrust, String> {
        let genesis = Genesis::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::of_genesis(&genesis, path, chain_id, blocks_per_epoch)
    }

    /// Trust starting from `genesis` (read from `path`), which must be of the chain `chain_id`
    /// with `blocks_per_epoch`.
    pub fn of_genesis(
        genesis: &Genesis,
        path: &std::path::Path,
        chain_id: &str,
        blocks_per_epoch: u64,
    ) -> Result<HeaderTrust, String> {
        if genesis.chain.chain_id.to_string() != chain_id
            || genesis.chain.blocks_per_epoch != blocks_per_epoch
        {
            return Err(format!(
                "{} is the genesis of chain {} ({} blocks per epoch); the node runs chain \
                 {chain_id} ({blocks_per_epoch} blocks per epoch)",
                path.display(),
                genesis.chain.chain_id,
                genesis.chain.blocks_per_epoch
            ));
        }
        Ok(HeaderTrust::new(
            chain_id,
            blocks_per_epoch,
            genesis.initial_validator_set(),
        ))
    }

    /// Trust starting from `start` (the genesis set, or a checkpoint's).
    pub fn new(chain_id: &str, blocks_per_epoch: u64, start: ValidatorSet) -> HeaderTrust {
        HeaderTrust {
            chain_id: chain_id.to_string(),
            blocks_per_epoch,
            genesis: start,
            followed: Mutex::new(BTreeMap::new()),
            index: None,
        }
    }

    /// Keeps the latest set followed in `index`, and goes on from the one kept there.
    pub fn kept_in(mut self, index: std::sync::Arc<Index>) -> Result<HeaderTrust, String> {
        let name = latest_set_blob(&self.chain_id, &self.genesis);
        if let Some(bytes) = index.blob(&name).map_err(|e| e.to_string())? {
            let set: ValidatorSet = cairn_types::codec::decode(&bytes, handoff::MAX_SET_BYTES)
                .map_err(|e| format!("the kept validator set does not decode: {e}"))?;
            if set.epoch.0 > self.genesis.epoch.0 && set.seat_count() > 0 {
                self.followed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(set.epoch.0, set);
            }
        }
        self.index = Some(index);
        Ok(self)
    }

    /// Checks that block `attested.block`, as `clients` serve it (the first asked first; one
    /// whose answer does not check is passed over for the next), attests `attested`'s height
    /// and root under a certificate its epoch's followed seats signed.
    pub fn certify(
        &self,
        clients: &[NodeClient],
        attested: AttestedState,
    ) -> Result<(), ChainError> {
        first_that_checks(clients, |client| self.certify_by(client, attested))
    }

    fn certify_by(&self, client: &NodeClient, attested: AttestedState) -> Result<(), ChainError> {
        let header = self.vouched_by(client, attested.block)?;
        if (header.state_height, header.state_root) != (attested.height, attested.root) {
            return Err(ChainError::Disproved {
                url: format!("{}/v1/blocks/{}", client.base(), attested.block),
                reason: format!(
                    "the node's header {} attests {} at height {}; the followed block attests \
                     {} at height {}",
                    header.height,
                    header.state_root,
                    header.state_height,
                    attested.root,
                    attested.height
                ),
            });
        }
        Ok(())
    }

    /// Block `height`'s header as `clients` serve it (the first asked first; one whose answer
    /// does not check is passed over for the next), vouched for by a certificate of its
    /// epoch's followed seats: its own, or its first certified descendant's with the parent
    /// links between them. Its time and the state it attests are then the chain's, not a
    /// node's word.
    pub fn vouched_header(
        &self,
        clients: &[NodeClient],
        height: u64,
    ) -> Result<Header, ChainError> {
        first_that_checks(clients, |client| self.vouched_by(client, height))
    }

    fn vouched_by(&self, client: &NodeClient, height: u64) -> Result<Header, ChainError> {
        let disproved = |reason: String| ChainError::Disproved {
            url: format!("{}/v1/blocks/{height}", client.base()),
            reason,
        };
        let first = client.certified_header(height)?;
        if first.header.height != height {
            return Err(disproved(format!(
                "asked block {height}, answered block {}",
                first.header.height
            )));
        }
        let header = first.header;
        let (certified, certificate) = certified_descendant(client, first)?;
        let epoch = Epoch::of_height(certified.height, self.blocks_per_epoch).0;
        let set = self.set_of(client, epoch)?;
        let seats = seats_of(&set)
            .filter(|seats| !seats.is_empty())
            .ok_or_else(|| disproved("the followed set has no valid seat keys".into()))?;
        LightClient::new(&self.chain_id, seats)
            .verify_header(&certified, &certificate, epoch)
            .map_err(|e| disproved(format!("block {}: {e}", certified.height)))?;
        Ok(header)
    }

    /// The set of consensus epoch `epoch`, followed by hand-offs from the latest set known at
    /// or before it.
    fn set_of(&self, client: &NodeClient, epoch: u64) -> Result<ValidatorSet, ChainError> {
        let mut set = {
            let followed = self.followed.lock().unwrap_or_else(|e| e.into_inner());
            followed
                .range(..=epoch)
                .next_back()
                .map(|(_, set)| set.clone())
                .filter(|set| set.epoch.0 >= self.genesis.epoch.0)
                .unwrap_or_else(|| self.genesis.clone())
        };
        if epoch < set.epoch.0 {
            return Err(ChainError::Disproved {
                url: client.base().to_string(),
                reason: format!(
                    "block of epoch {epoch} is before the trusted start (epoch {})",
                    set.epoch
                ),
            });
        }
        while set.epoch.0 < epoch {
            let from = set.epoch.0;
            let handoff = client.handoff(from)?;
            set = handoff::follow(&self.chain_id, self.blocks_per_epoch, &set, &handoff).map_err(
                |e| ChainError::Disproved {
                    url: format!("{}/v1/epochs/{from}/handoff", client.base()),
                    reason: e.to_string(),
                },
            )?;
            let mut followed = self.followed.lock().unwrap_or_else(|e| e.into_inner());
            followed.insert(set.epoch.0, set.clone());
            while followed.len() > KEPT_SETS {
                followed.pop_first();
            }
            drop(followed);
            if set.epoch.0 % KEEP_EVERY == 0 || set.epoch.0 == epoch {
                self.keep(&set);
            }
        }
        Ok(set)
    }

    /// Records `set` as the latest followed (a failure to is logged: it only costs a longer
    /// walk at the next start).
    fn keep(&self, set: &ValidatorSet) {
        let Some(index) = &self.index else {
            return;
        };
        let latest = self
            .followed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_key_value()
            .map(|(epoch, _)| *epoch);
        if latest > Some(set.epoch.0) {
            return;
        }
        let name = latest_set_blob(&self.chain_id, &self.genesis);
        if let Err(error) = index.put_blobs(&[(name, cairn_types::codec::encode(set))]) {
            tracing::warn!(%error, "oracle.trust: the latest set could not be kept");
        }
    }
}

/// The first of `clients` whose `check` passes (each one that fails is logged and passed over),
/// or the last failure.
fn first_that_checks<T>(
    clients: &[NodeClient],
    check: impl Fn(&NodeClient) -> Result<T, ChainError>,
) -> Result<T, ChainError> {
    let mut last = None;
    for client in clients {
        match check(client) {
            Ok(value) => return Ok(value),
            Err(error) => {
                tracing::warn!(node = client.base(), %error, "oracle.trust: header not certified by this node");
                last = Some(error);
            }
        }
    }
    Err(last.unwrap_or_else(|| ChainError::Node {
        url: String::new(),
        reason: "no node configured".into(),
    }))
}

/// `first` with its own certificate, or the first descendant within [`MAX_UNCERTIFIED_RUN`]
/// that has one, each block's parent digest checked against the one before.
fn certified_descendant(
    client: &NodeClient,
    first: CertifiedHeader,
) -> Result<(Header, Vec<u8>), ChainError> {
    let from = first.header.height;
    let mut current = first;
    for _ in 0..MAX_UNCERTIFIED_RUN {
        if let Some(certificate) = current.certificate {
            return Ok((current.header, certificate));
        }
        let height = current.header.height.saturating_add(1);
        let next = client.certified_header(height)?;
        if next.header.height != height || next.header.parent != current.header.digest() {
            return Err(ChainError::Disproved {
                url: format!("{}/v1/blocks/{height}", client.base()),
                reason: format!("block {height} is not a child of block {}", height - 1),
            });
        }
        current = next;
    }
    Err(ChainError::Node {
        url: format!("{}/v1/blocks/{}", client.base(), current.header.height),
        reason: format!(
            "no block from {from} to {} carries a finalization certificate",
            current.header.height
        ),
    })
}

#[cfg(test)]
mod tests;
