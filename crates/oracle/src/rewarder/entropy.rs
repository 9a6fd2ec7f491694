//! The blocks beacons name as entropy: height → (digest, time). An oracle reads them from what
//! its follower kept of every block ([`followed_entropy`]), asking its node only for a block it
//! did not keep; an auditor's replay asks its node ([`entropy_at`]).
//!
//! Only heights from [`lookback_blocks`] before the epoch's first block to its last are read,
//! so a device naming far-off heights cannot make the rewarder read the whole chain; a beacon
//! naming any other height fails its entropy check. A read that fails (the node is
//! down) is an error, and the epoch is computed again later: it never counts as "no block".

use super::EntropySource;
use crate::chain::client::NodeClient;
use cairn_types::Hash;

/// Blocks added to the lookback beyond what the entropy validity spans.
pub const ENTROPY_LOOKBACK_MARGIN_BLOCKS: u64 = 10;

/// Blocks before an epoch's first block whose digests a beacon of the epoch may still name:
/// blocks are at least `block_interval_ms` apart, so no more than `entropy_valid_ms /
/// block_interval_ms` of them fall within the entropy's validity.
pub fn lookback_blocks(entropy_valid_ms: u64, block_interval_ms: u64) -> u64 {
    entropy_valid_ms / block_interval_ms.max(1) + ENTROPY_LOOKBACK_MARGIN_BLOCKS
}

/// An entropy source over the blocks `first_height − lookback ..= last_height` of `client`.
pub fn entropy_at(
    client: &NodeClient,
    (first_height, last_height): (u64, u64),
    lookback: u64,
) -> impl Fn(u64) -> Result<Option<(Hash, u64)>, String> + '_ {
    let low = first_height.saturating_sub(lookback);
    move |height| {
        if !(low..=last_height).contains(&height) {
            return Ok(None);
        }
        let block = client.block(height).map_err(|e| e.to_string())?;
        Ok(Some((block.digest, block.timestamp_ms)))
    }
}

/// An entropy source over the blocks the follower kept in `index`, asking `client` for any
/// block in range it did not keep.
pub fn followed_entropy<'a>(
    index: &'a crate::index::Index,
    client: &'a NodeClient,
    (first_height, last_height): (u64, u64),
    lookback: u64,
) -> impl Fn(u64) -> Result<Option<(Hash, u64)>, String> + 'a {
    let low = first_height.saturating_sub(lookback);
    move |height| {
        if !(low..=last_height).contains(&height) {
            return Ok(None);
        }
        if let Some(kept) = index.followed_digest(height).map_err(|e| e.to_string())? {
            return Ok(Some(kept));
        }
        let block = client.block(height).map_err(|e| e.to_string())?;
        Ok(Some((block.digest, block.timestamp_ms)))
    }
}

/// No entropy at all: for computations that have no chain (tests).
pub fn no_entropy() -> EntropySource<'static> {
    &|_| Ok(None)
}
