//! The validators of an epoch, as the state holds them under `ValidatorSet(epoch)`: what a
//! light client trusts to check that epoch's finalization certificates.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::{Address, Amount, Epoch, PublicKey};
use serde::{Deserialize, Serialize};

/// One member of a validator set.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ValidatorSetMember {
    /// Its account.
    pub address: Address,
    /// Its identity on the peer-to-peer network.
    pub node_key: PublicKey,
    /// Its stake when the set was chosen.
    pub stake: Amount,
    /// The keys of the seats it holds (one vote each).
    pub seats: Vec<PublicKey>,
}

/// The validators of an epoch, ordered by stake (largest first), then address.
#[derive(
    Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct ValidatorSet {
    /// The epoch.
    pub epoch: Epoch,
    /// The stake each seat stands for.
    pub seat_size: Amount,
    /// The members.
    pub members: Vec<ValidatorSetMember>,
    /// The admitted stake of eligible validators left out because the committee is full: it
    /// earns nothing and does not secure the chain (see `docs/CONSENSUS.md`).
    #[serde(default)]
    pub waiting: Amount,
}

impl ValidatorSet {
    /// Seats in all.
    pub fn seat_count(&self) -> usize {
        self.members.iter().map(|m| m.seats.len()).sum()
    }

    /// Every seat key with its holder.
    pub fn seats(&self) -> impl Iterator<Item = (&PublicKey, &ValidatorSetMember)> {
        self.members
            .iter()
            .flat_map(|m| m.seats.iter().map(move |key| (key, m)))
    }
}

/// The canonical bytes of the state key `ValidatorSet(epoch)`: the borsh encoding of the
/// ledger's `StateKey::ValidatorSet` (variant 8, then the epoch, little-endian). A ledger test
/// checks the two agree.
pub fn validator_set_key(epoch: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(9);
    key.push(VALIDATOR_SET_KEY_TAG);
    key.extend_from_slice(&epoch.to_le_bytes());
    key
}

/// The variant index of `StateKey::ValidatorSet` in the ledger's key enum.
const VALIDATOR_SET_KEY_TAG: u8 = 8;
