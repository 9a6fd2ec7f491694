//! Cairn core types.
//!
//! Everything that crosses a boundary between Cairn's components (a transaction, an address, an
//! amount, a reward root) is defined here once, with its canonical encoding, so that the ledger,
//! the node, the oracles, the agent and the CLI all agree byte for byte.
//!
//! - [`codec`]: the canonical binary codec and its size-bounded wrappers.
//! - [`hash`], [`keys`], [`address`]: digests, ed25519 keys and signatures, checksummed names.
//! - [`amount`], [`epoch`], [`cell`], [`subnetwork`]: the units of the token economy.
//! - [`params`]: the governance parameters and the genesis-fixed chain configuration.
//! - [`tx`]: every transaction and the signed envelope that binds it to one chain and nonce.
//! - [`evidence`]: consensus double-signing evidence, the input to slashing.
//! - [`oracle_evidence`]: two reward roots one oracle signed for one epoch, the input to
//!   slashing its oracle stake.
//! - [`validator_keys`]: a validator's node and seat keys with their proofs of possession.
//! - [`reward_tree`]: the Merkle sum tree of cumulative rewards that owners claim against.
//! - [`signed_request`]: how a known party (a bonded oracle) signs an HTTP request to get an
//!   API lane of its own.
//! - [`report`]: the reports devices sign (session keys, heartbeats, readings) and oracles log.
//! - [`ingest`]: what an oracle answers for each report (accepted, duplicate, refused with a code).

/// Implements serde for a type through its `Display` and `FromStr`: the human form (an address,
/// an amount, a hash) is also the JSON form.
macro_rules! serde_as_text {
    ($type:ty) => {
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

pub mod address;
pub mod amount;
pub mod cell;
pub mod codec;
pub mod epoch;
pub mod evidence;
pub mod hash;
pub mod ingest;
pub mod keys;
pub mod oracle_evidence;
pub mod params;
pub mod report;
pub mod reward_tree;
pub mod signed_request;
pub mod subnetwork;
pub mod transfer;
pub mod tx;
pub mod validator_keys;

pub use address::{Address, DeviceId};
pub use amount::{Amount, Credits, Price};
pub use cell::Cell;
pub use epoch::Epoch;
pub use hash::Hash;
pub use keys::{PublicKey, SecretKey, Signature};
pub use subnetwork::{EmissionWeights, Subnetwork};
