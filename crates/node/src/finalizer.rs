//! Applies finalized blocks to the ledger, in height order, exactly once.
//!
//! Marshal reports each finalized block with an acknowledgement; the [`Finalizer`] (marshal's
//! reporter, which must not block) hands it to [`run`], which applies it and then acknowledges.
//! Marshal redelivers blocks after a restart, so blocks at or below the applied height are only
//! acknowledged. A ledger synced every few blocks can restart behind marshal's acknowledged
//! height; the gap is filled from marshal's own block archive before anything else.

use crate::block::Block;
use crate::chain::Chain;
use crate::consensus::MarshalMailbox;
use commonware_consensus::marshal::Update;
use commonware_consensus::types::Height;
use commonware_consensus::Reporter;
use commonware_utils::acknowledgement::Exact;
use commonware_utils::Acknowledgement;
use futures::channel::mpsc;
use futures::StreamExt;
use std::sync::Arc;

/// Marshal's reporter: forwards finalized blocks to [`run`].
#[derive(Clone)]
pub struct Finalizer {
    sender: mpsc::UnboundedSender<(Arc<Block>, Exact)>,
}

/// The receiving end, for [`run`].
pub type Applier = mpsc::UnboundedReceiver<(Arc<Block>, Exact)>;

impl Finalizer {
    /// A reporter and the queue it feeds.
    pub fn new() -> (Finalizer, Applier) {
        let (sender, receiver) = mpsc::unbounded();
        (Finalizer { sender }, receiver)
    }
}

impl Reporter for Finalizer {
    type Activity = Update<Block>;

    fn report(&mut self, activity: Update<Block>) -> commonware_actor::Feedback {
        if let Update::Block(block, ack) = activity {
            // If the applier has stopped, the dropped ack stops marshal too, as it should.
            let _ = self.sender.unbounded_send((block.inner_shared(), ack));
        }
        commonware_actor::Feedback::Ok
    }
}

/// Applies the block at `height` kept by marshal.
async fn apply_from_archive(chain: &Chain, marshal: &MarshalMailbox, height: u64) -> bool {
    match marshal.get_block(Height::new(height)).await {
        Some(block) => match chain.apply_finalized(block.inner()) {
            Ok(_) => true,
            Err(error) => {
                tracing::error!(%error, height, "node.apply_failed");
                false
            }
        },
        None => false,
    }
}

/// Applies finalized blocks until marshal stops or applying fails.
pub async fn run(chain: Arc<Chain>, marshal: MarshalMailbox, mut blocks: Applier) {
    // Catch up with what marshal already finalized before a restart.
    loop {
        let next = chain.head().height + 1;
        if !apply_from_archive(&chain, &marshal, next).await {
            break;
        }
    }
    while let Some((block, ack)) = blocks.next().await {
        let height = block.header.height;
        while chain.head().height + 1 < height {
            let next = chain.head().height + 1;
            if !apply_from_archive(&chain, &marshal, next).await {
                tracing::error!(missing = next, height, "node.finalized_gap");
                return;
            }
        }
        match chain.apply_finalized(&block) {
            Ok(applied) => {
                if applied {
                    tracing::debug!(height, txs = block.transactions.len(), "node.finalized");
                }
                ack.acknowledge();
            }
            Err(error) => {
                // Dropping the ack stops marshal; the node must restart from durable state.
                tracing::error!(%error, height, "node.apply_failed");
                return;
            }
        }
    }
}
