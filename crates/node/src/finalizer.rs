//! Applies finalized blocks to the ledger, in height order, exactly once.
//!
//! Marshal reports each finalized block with an acknowledgement; the [`Finalizer`] (marshal's
//! reporter, which must not block) hands it to [`run`], which applies it and then acknowledges.
//! Marshal redelivers blocks after a restart, so blocks at or below the applied height are only
//! acknowledged. A ledger synced every few blocks can restart behind marshal's acknowledged
//! height; the gap is filled from marshal's own block archive before anything else.
//!
//! Each block goes to the ledger with the seats whose votes it carries
//! ([`crate::liveness`]). When applying fails the node halts ([`Chain::halt`]): the applier keeps the block's
//! acknowledgement unanswered and waits for the restart, so marshal delivers nothing more and
//! the process stays up to report why (status, metric, log).

use crate::block::Block;
use crate::chain::{Chain, Halted};
use crate::epochs::EpochSchemes;
use crate::liveness;
use crate::types::MarshalMailbox;
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

/// What applying the block at some height from marshal's archive came to.
enum FromArchive {
    Applied,
    /// Marshal does not have it (yet).
    Missing,
    /// Applying it halted the node.
    Halted,
}

/// Applies a finalized block with the seats whose votes it carries; votes that its voters
/// accepted but this node cannot read halt it.
fn apply(chain: &Chain, schemes: &EpochSchemes, block: &Block) -> Result<bool, Halted> {
    let blocks_per_epoch = chain.ledger().config().blocks_per_epoch;
    match liveness::signer_record(schemes, blocks_per_epoch, block) {
        Ok(signers) => chain.apply_finalized(block, signers),
        Err(error) => {
            let reason = format!(
                "finalized block {} carries votes this node cannot read: {error}",
                block.header.height
            );
            chain.halt(reason.clone());
            Err(Halted(reason))
        }
    }
}

/// Applies the block at `height` kept by marshal.
async fn apply_from_archive(
    chain: &Chain,
    schemes: &EpochSchemes,
    marshal: &MarshalMailbox,
    height: u64,
) -> FromArchive {
    let Some(block) = marshal.get_block(Height::new(height)).await else {
        return FromArchive::Missing;
    };
    match apply(chain, schemes, block.inner()) {
        Ok(_) => FromArchive::Applied,
        Err(_) => FromArchive::Halted,
    }
}

/// Waits for the restart of a halted node, holding `ack` (if any) so that marshal delivers
/// nothing more.
async fn park(ack: Option<Exact>) {
    futures::future::pending::<()>().await;
    drop(ack);
}

/// Applies finalized blocks until marshal stops; parks once the node has halted.
pub async fn run(
    chain: Arc<Chain>,
    marshal: MarshalMailbox,
    schemes: EpochSchemes,
    mut blocks: Applier,
) {
    // Catch up with what marshal already finalized before a restart.
    loop {
        let next = chain.head().height + 1;
        match apply_from_archive(&chain, &schemes, &marshal, next).await {
            FromArchive::Applied => {}
            FromArchive::Missing => break,
            FromArchive::Halted => return park(None).await,
        }
    }
    while let Some((block, ack)) = blocks.next().await {
        let height = block.header.height;
        while chain.head().height + 1 < height {
            let next = chain.head().height + 1;
            match apply_from_archive(&chain, &schemes, &marshal, next).await {
                FromArchive::Applied => {}
                FromArchive::Missing => {
                    // Marshal delivers in order, so a gap means its archive lost a block.
                    chain.halt(format!("finalized block {next} is missing below {height}"));
                    return park(Some(ack)).await;
                }
                FromArchive::Halted => return park(Some(ack)).await,
            }
        }
        match apply(&chain, &schemes, &block) {
            Ok(applied) => {
                if applied {
                    tracing::debug!(height, txs = block.transactions.len(), "node.finalized");
                }
                ack.acknowledge();
            }
            Err(_) => return park(Some(ack)).await,
        }
    }
}
