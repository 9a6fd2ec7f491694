//! The application consensus drives through marshal's `Inline` wrapper: it builds blocks when
//! this validator leads and checks the blocks others propose.
//!
//! Execution follows ordering (see [`crate::block`]): a proposal needs no state after its
//! unfinalized parent. The proposer checks candidates against its applied state followed by
//! the transactions of the unfinalized ancestors, and attests the root of its latest applied
//! height. A verifier votes for a block only if its proposer is the round's leader, its time is
//! not before its parent's, every signature in it is valid, no transaction appears twice, and
//! the attested state root matches the verifier's own ledger at that height (it waits until it
//! has applied that height).
//!
//! A halted node (see [`crate::chain`]) proposes nothing and leaves every verification
//! unanswered, which abstains (checked again before answering, as a node may halt while it
//! waits); a storage fault met here halts it too.

use crate::block::Block;
use crate::chain::Chain;
use crate::types::{cairn_key, now_ms, ConsensusContext, ConsensusScheme};
use cairn_ledger::ledger::verify_signatures;
use commonware_consensus::marshal::ancestry::Ancestry;
use commonware_consensus::Application;
use commonware_cryptography::{Digested, Digestible};
use commonware_runtime::Clock;
use futures::StreamExt;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Cairn's consensus application.
#[derive(Clone)]
pub struct CairnApp {
    chain: Arc<Chain>,
}

impl CairnApp {
    /// An application over `chain`.
    pub fn new(chain: Arc<Chain>) -> CairnApp {
        CairnApp { chain }
    }
}

/// Waits until the runtime's clock reads at least `target_ms`.
async fn sleep_until_ms(clock: &impl Clock, target_ms: u64) {
    let now = now_ms(clock);
    if now < target_ms {
        clock.sleep(Duration::from_millis(target_ms - now)).await;
    }
}

async fn propose(
    chain: Arc<Chain>,
    clock: impl Clock,
    context: ConsensusContext,
    mut ancestry: impl Ancestry<Block>,
) -> Option<Digested<Block>> {
    if chain.halted().is_some() {
        return None;
    }
    let parent = ancestry.next().await?;
    let parent_header = parent.inner().header;
    // Attest at least what the parent attested.
    chain.wait_applied(parent_header.state_height).await;
    let rules = *chain.rules();
    sleep_until_ms(
        &clock,
        parent_header
            .timestamp_ms
            .saturating_add(rules.block_interval_ms),
    )
    .await;
    let applied = chain.head().height;
    // The ordered blocks above the applied state, oldest first.
    let mut pending = Vec::new();
    if parent_header.height > applied {
        pending.push(parent.inner().clone());
        while let Some(block) = ancestry.next().await {
            if block.inner().header.height <= applied {
                break;
            }
            pending.push(block.inner().clone());
        }
        pending.reverse();
    }
    let timestamp_ms = now_ms(&clock).max(parent_header.timestamp_ms);
    let transactions = match chain.select(&pending, timestamp_ms) {
        Ok(txs) => txs,
        Err(error) => {
            chain.halt(format!("storage fault while proposing: {error}"));
            return None;
        }
    };
    let (state_height, state_root) = {
        let ledger = chain.ledger();
        let height = ledger.head().height.min(parent_header.height);
        match ledger.store().root_at(height) {
            Ok(root) => (height, root),
            Err(error) => {
                drop(ledger);
                chain.halt(format!("storage fault while proposing: {error}"));
                return None;
            }
        }
    };
    let block = Block::new(
        parent.digest(),
        parent_header.height + 1,
        timestamp_ms,
        cairn_key(&context.leader),
        (state_height, state_root),
        transactions,
    );
    tracing::debug!(
        height = block.header.height,
        txs = block.transactions.len(),
        state_height,
        "node.proposed"
    );
    if chain.halted().is_some() {
        return None;
    }
    let digest = block.digest();
    Some(Digested::precomputed(block, digest))
}

async fn verify(
    chain: Arc<Chain>,
    clock: impl Clock,
    context: ConsensusContext,
    mut ancestry: impl Ancestry<Block>,
) -> bool {
    let (Some(block), Some(parent)) = (ancestry.next().await, ancestry.next().await) else {
        return false;
    };
    if chain.halted().is_some() {
        return abstain().await;
    }
    let (block, parent) = (block.inner(), parent.inner().header);
    let header = block.header;
    let rules = *chain.rules();
    if header.proposer != cairn_key(&context.leader) {
        tracing::info!(
            height = header.height,
            "node.verify: proposer is not the leader"
        );
        return false;
    }
    if header.timestamp_ms < parent.timestamp_ms {
        tracing::info!(height = header.height, "node.verify: time before parent");
        return false;
    }
    if header.state_height < parent.state_height || header.state_height > parent.height {
        tracing::info!(
            height = header.height,
            "node.verify: state height out of range"
        );
        return false;
    }
    if block.transactions.len() > rules.limits.max_transactions {
        return false;
    }
    let mut seen = HashSet::with_capacity(block.transactions.len());
    if !block.transactions.iter().all(|tx| seen.insert(tx.id())) {
        tracing::info!(height = header.height, "node.verify: duplicate transaction");
        return false;
    }
    if verify_signatures(&block.transactions).is_err() {
        tracing::info!(height = header.height, "node.verify: bad signature");
        return false;
    }
    // A block from the future waits for this clock to catch up instead of being refused.
    sleep_until_ms(
        &clock,
        header.timestamp_ms.saturating_sub(rules.max_clock_drift_ms),
    )
    .await;
    chain.wait_applied(header.state_height).await;
    let root = chain.ledger().store().root_at(header.state_height);
    if chain.halted().is_some() {
        return abstain().await;
    }
    match root {
        Ok(root) if root == header.state_root => true,
        Ok(_) => {
            tracing::info!(height = header.height, "node.verify: wrong state root");
            false
        }
        Err(error) => {
            // A local storage fault is not the proposer's: halt and abstain rather than vote no.
            chain.halt(format!("storage fault while verifying: {error}"));
            abstain().await
        }
    }
}

/// Never answers: consensus gets no vote from this node for the block.
async fn abstain() -> bool {
    futures::future::pending::<()>().await;
    false
}

impl<E> Application<E> for CairnApp
where
    E: Clock + Send + Sync + 'static,
{
    type SigningScheme = ConsensusScheme;
    type Context = ConsensusContext;
    type Block = Block;
    type Input = ();

    fn propose(
        &mut self,
        (clock, context): (E, ConsensusContext),
        ancestry: impl Ancestry<Block>,
        _input: (),
    ) -> impl std::future::Future<Output = Option<Digested<Block>>> + Send {
        propose(self.chain.clone(), clock, context, ancestry)
    }

    fn verify(
        &mut self,
        (clock, context): (E, ConsensusContext),
        ancestry: impl Ancestry<Block>,
    ) -> impl std::future::Future<Output = bool> + Send {
        verify(self.chain.clone(), clock, context, ancestry)
    }
}
