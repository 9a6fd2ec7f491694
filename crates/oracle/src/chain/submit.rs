//! Sending the oracle's own transactions (prices, manifests, attestations, roots), one at a
//! time: each takes the account's next nonce from the node and is followed until it is included
//! or refused, so two never race for a nonce.

use super::client::{ChainError, NodeClient};
use cairn_types::params::ChainId;
use cairn_types::tx::{Action, Transaction};
use cairn_types::{Address, Amount, Hash, SecretKey};
use serde::Deserialize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a transaction is followed before it is given up on.
pub const INCLUSION_WAIT: Duration = Duration::from_secs(60);

/// What became of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Included and executed.
    Included {
        /// Its height.
        height: u64,
    },
    /// Included, but its action was refused (the fee was charged).
    Failed {
        /// The ledger's reason.
        reason: String,
    },
    /// Not admitted or dropped.
    Rejected {
        /// Why.
        reason: String,
    },
}

#[derive(Deserialize)]
struct StatusAnswer {
    status: String,
    height: Option<u64>,
    reason: Option<String>,
}

/// Signs and sends the oracle's transactions, one at a time.
pub struct Submitter {
    client: NodeClient,
    key: SecretKey,
    chain_id: ChainId,
    fee: Amount,
    lock: Mutex<()>,
}

impl Submitter {
    /// A submitter for the account of `key` on `chain_id`, paying `fee` per transaction.
    pub fn new(client: NodeClient, key: SecretKey, chain_id: ChainId, fee: Amount) -> Submitter {
        Submitter {
            client,
            key,
            chain_id,
            fee,
            lock: Mutex::new(()),
        }
    }

    /// The oracle's account.
    pub fn address(&self) -> Address {
        Address(self.key.public_key())
    }

    /// Signs a digest with the oracle's key (a reward root).
    pub fn sign(&self, digest: &Hash) -> cairn_types::Signature {
        self.key.sign(digest)
    }

    /// Signs `action` with the next nonce, sends it and waits for its outcome (blocking).
    pub fn send(&self, action: Action) -> Result<Outcome, ChainError> {
        let _one_at_a_time = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let account = self.client.account(&self.address())?;
        let tx = Transaction {
            chain_id: self.chain_id.clone(),
            sender: self.address(),
            nonce: account.nonce,
            fee: self.fee,
            action,
        }
        .sign(&self.key);
        let id = match self.client.submit(&tx) {
            Ok(id) => id,
            Err(ChainError::Node { reason, .. }) => return Ok(Outcome::Rejected { reason }),
            Err(e) => return Err(e),
        };
        self.follow(id)
    }

    fn follow(&self, id: Hash) -> Result<Outcome, ChainError> {
        let start = Instant::now();
        loop {
            let answer: StatusAnswer = self.client.get_json(&format!("/v1/transactions/{id}"))?;
            match answer.status.as_str() {
                "included" => {
                    return Ok(Outcome::Included {
                        height: answer.height.unwrap_or(0),
                    })
                }
                "failed" => {
                    return Ok(Outcome::Failed {
                        reason: answer.reason.unwrap_or_default(),
                    })
                }
                "rejected" => {
                    return Ok(Outcome::Rejected {
                        reason: answer.reason.unwrap_or_default(),
                    })
                }
                _ if start.elapsed() > INCLUSION_WAIT => {
                    return Ok(Outcome::Rejected {
                        reason: format!("still {} after {INCLUSION_WAIT:?}", answer.status),
                    })
                }
                _ => std::thread::sleep(Duration::from_millis(150)),
            }
        }
    }
}
