//! A committee of test seats that signs real finalization certificates, for tests of what
//! checks them (the oracle's header trust, the light client). Built only with the `testing`
//! feature; never in a release binary.

use crate::certificate::{encode_certificate, namespace, BlockFinalization, ConsensusScheme};
use crate::header::Header;
use crate::validators::{ValidatorSet, ValidatorSetMember};
use cairn_types::{Address, Amount, Epoch, PublicKey};
use commonware_consensus::simplex::types::{Finalize, Proposal};
use commonware_consensus::types::{Epoch as ConsensusEpoch, Round, View};
use commonware_cryptography::{ed25519, Signer as _};
use commonware_parallel::Sequential;
use commonware_utils::non_empty;
use commonware_utils::ordered::Set;

/// Seats of one epoch, with their private keys.
pub struct Committee {
    keys: Vec<ed25519::PrivateKey>,
    /// The set as the state would hold it.
    pub set: ValidatorSet,
}

impl Committee {
    /// `seats` seats (one per member) of `epoch`, from deterministic seeds starting at `seed`.
    pub fn new(epoch: u64, seed: u64, seats: u64) -> Committee {
        let mut keys: Vec<ed25519::PrivateKey> = (seed..seed + seats)
            .map(ed25519::PrivateKey::from_seed)
            .collect();
        keys.sort_by_key(|k| k.public_key());
        let members = keys
            .iter()
            .map(|k| {
                let mut bytes = [0u8; 32];
                bytes.copy_from_slice(k.public_key().as_ref());
                ValidatorSetMember {
                    address: Address(PublicKey(bytes)),
                    node_key: PublicKey(bytes),
                    stake: Amount(1_000),
                    seats: vec![PublicKey(bytes)],
                }
            })
            .collect();
        Committee {
            keys,
            set: ValidatorSet {
                epoch: Epoch(epoch),
                seat_size: Amount(1_000),
                members,
                waiting: Amount(0),
            },
        }
    }

    /// A finalization certificate of `header` in this committee's epoch, signed by the first
    /// `signers` seats, encoded as the node's API serves it.
    pub fn certify(&self, chain_id: &str, header: &Header, signers: usize) -> Vec<u8> {
        let participants = Set::from_iter_dedup(self.keys.iter().map(|k| k.public_key()));
        let schemes: Vec<ConsensusScheme> = self
            .keys
            .iter()
            .filter_map(|k| {
                ConsensusScheme::signer(&namespace(chain_id), participants.clone(), k.clone())
            })
            .collect();
        let view = View::new(header.height.max(1));
        let proposal = Proposal::new(
            Round::new(ConsensusEpoch::new(self.set.epoch.0), view),
            View::new(header.height.saturating_sub(1)),
            header.digest(),
        );
        let votes: Vec<_> = schemes[..signers.min(schemes.len())]
            .iter()
            .filter_map(|s| Finalize::sign(s, proposal.clone()))
            .collect();
        let finalization: BlockFinalization =
            BlockFinalization::from_finalizes(&schemes[0], non_empty![@&votes], &Sequential)
                .unwrap_or_else(|e| panic!("assembling a test certificate: {e:?}"));
        encode_certificate(&finalization)
    }
}
