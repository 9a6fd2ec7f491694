//! The application consensus drives through marshal's `Inline` wrapper: it builds blocks when
//! this validator leads and checks the blocks others propose.
//!
//! Execution follows ordering (see [`crate::block`]): a proposal needs no state after its
//! unfinalized parent. The proposer checks candidates against its applied state followed by
//! the transactions of the unfinalized ancestors, and attests the root of its latest applied
//! height. A verifier votes for a block only if its proposer is the round's leader, its time is
//! not before its parent's, every signature in it is valid, no transaction appears twice, the
//! attested state root matches the verifier's own ledger at that height (it waits until it
//! has applied that height), and every transaction can be charged after its unfinalized
//! ancestors (the proposer's own dry run, [`cairn_ledger::charges`]): a leader cannot fill
//! blocks with transactions that pay nothing. A node with several seats checks each block once for all its
//! engines ([`crate::verdicts`]).
//!
//! Every block may carry an earlier block's finalization certificate for the ledger's liveness
//! accounting ([`crate::liveness`]); an epoch's last block attests a state at or after the
//! epoch's first block ([`least_state_height`]).
//!
//! A halted node (see [`crate::chain`]) proposes nothing and leaves every verification
//! unanswered, which abstains (checked again before answering, as a node may halt while it
//! waits); a storage fault met here halts it too.

use crate::block::Block;
use crate::chain::Chain;
use crate::epochs::EpochSchemes;
use crate::liveness;
use crate::types::{cairn_key, now_ms, ConsensusContext, ConsensusScheme, MarshalMailbox};
use crate::verdicts::Verdicts;
use crate::votes::VoteCache;
use cairn_ledger::ledger::verify_signatures;
use commonware_consensus::marshal::ancestry::Ancestry;
use commonware_consensus::Application;
use commonware_cryptography::{Digested, Digestible};
use commonware_runtime::Clock;
use futures::{FutureExt, StreamExt};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Cairn's consensus application.
#[derive(Clone)]
pub struct CairnApp {
    chain: Arc<Chain>,
    marshal: MarshalMailbox,
    schemes: EpochSchemes,
    votes: VoteCache,
    verdicts: Verdicts,
}

impl CairnApp {
    /// An application over `chain`, reading finalized blocks and certificates from `marshal`,
    /// validator sets from `schemes` and the finalize votes this node saw from `votes`.
    pub fn new(
        chain: Arc<Chain>,
        marshal: MarshalMailbox,
        schemes: EpochSchemes,
        votes: VoteCache,
    ) -> CairnApp {
        CairnApp {
            chain,
            marshal,
            schemes,
            votes,
            verdicts: Verdicts::default(),
        }
    }
}

/// The least state height a block at `height` may attest: the first block of its epoch when it
/// is its epoch's last block (so that a certificate of epoch `e` attests a state holding the set
/// of `e + 1`, the hand-off a light client follows), else anything.
pub fn least_state_height(height: u64, blocks_per_epoch: u64) -> u64 {
    let n = blocks_per_epoch.max(1);
    let epoch = cairn_types::Epoch::of_height(height, n).0;
    if epoch >= 1 && height == (epoch + 1).saturating_mul(n) {
        epoch * n + 1
    } else {
        0
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
    app: CairnApp,
    clock: impl Clock,
    context: ConsensusContext,
    mut ancestry: impl Ancestry<Block>,
) -> Option<Digested<Block>> {
    let chain = app.chain.clone();
    if chain.halted().is_some() {
        return None;
    }
    let parent = ancestry.next().await?;
    let parent_header = parent.inner().header;
    // Attest at least what the parent attested, and what an epoch's last block must.
    let blocks_per_epoch = chain.ledger().config().blocks_per_epoch;
    let least = least_state_height(parent_header.height + 1, blocks_per_epoch);
    chain
        .wait_applied(parent_header.state_height.max(least))
        .await;
    let rules = *chain.rules();
    sleep_until_ms(
        &clock,
        parent_header
            .timestamp_ms
            .saturating_add(rules.block_interval_ms),
    )
    .await;
    let pending = pending_inputs(&chain, &app.schemes, parent.clone(), &mut ancestry).await;
    let timestamp_ms = now_ms(&clock).max(parent_header.timestamp_ms);
    let (state_height, state_root, protocol_version) = {
        let ledger = chain.ledger();
        let height = ledger.head().height.min(parent_header.height);
        let root_and_version = ledger
            .store()
            .root_at(height)
            .and_then(|root| Ok((root, ledger.protocol_at(parent_header.height + 1)?)));
        match root_and_version {
            Ok((root, version)) => (height, root, version),
            Err(error) => {
                drop(ledger);
                chain.halt(format!("storage fault while proposing: {error}"));
                return None;
            }
        }
    };
    let carried = liveness::to_carry(
        &app.schemes,
        &app.votes,
        &app.marshal,
        blocks_per_epoch,
        (&parent_header, state_height),
    )
    .await;
    // The block's own carried votes are counted before its transactions run: so in the trial.
    let signers = liveness::signers_of(&app.schemes, blocks_per_epoch, (carried.0, &carried.1))
        .ok()
        .flatten();
    let transactions = match chain.select(&pending, (timestamp_ms, signers.as_ref())) {
        Ok(txs) => txs,
        Err(error) => {
            chain.halt(format!("cannot propose: {error}"));
            return None;
        }
    };
    let block = Block::new(
        parent.digest(),
        (parent_header.height + 1, protocol_version),
        timestamp_ms,
        cairn_key(&context.leader),
        (state_height, state_root),
        carried,
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
    app: CairnApp,
    clock: impl Clock + 'static,
    context: ConsensusContext,
    mut ancestry: impl Ancestry<Block>,
) -> bool {
    let (Some(block), Some(parent)) = (ancestry.next().await, ancestry.next().await) else {
        return false;
    };
    if app.chain.halted().is_some() {
        return abstain().await;
    }
    let height = block.inner().header.height;
    if block.inner().header.proposer != cairn_key(&context.leader) {
        tracing::info!(height, "node.verify: proposer is not the leader");
        return false;
    }
    // Every seat engine of this node asks about the same block: check it once.
    let verdicts = app.verdicts.clone();
    verdicts
        .get_or_start(block.digest(), move || {
            check_block(app, clock, block, parent, ancestry).boxed()
        })
        .await
}

/// Everything about a proposal but its leader: time, attested state, transactions, signatures,
/// carried votes and charges. Abstains (never answers) when the node halts.
async fn check_block(
    app: CairnApp,
    clock: impl Clock,
    block: Digested<Block>,
    parent: Digested<Block>,
    ancestry: impl Ancestry<Block>,
) -> bool {
    let chain = app.chain.clone();
    let parent_block = parent.clone();
    let (block, parent) = (block.inner(), parent.inner().header);
    let header = block.header;
    let rules = *chain.rules();
    if header.timestamp_ms < parent.timestamp_ms {
        tracing::info!(height = header.height, "node.verify: time before parent");
        return false;
    }
    let blocks_per_epoch = chain.ledger().config().blocks_per_epoch;
    if header.state_height < parent.state_height
        || header.state_height > parent.height
        || header.state_height < least_state_height(header.height, blocks_per_epoch)
    {
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
    let (root, version) = {
        let ledger = chain.ledger();
        (
            ledger.store().root_at(header.state_height),
            ledger.protocol_at(header.height),
        )
    };
    if chain.halted().is_some() {
        return abstain().await;
    }
    // Never vote for a block this build could not execute (it will halt at that height).
    let runnable =
        cairn_ledger::protocol::SUPPORTED_PROTOCOL_VERSIONS.contains(&header.protocol_version);
    if version.ok() != Some(header.protocol_version) || !runnable {
        tracing::info!(
            height = header.height,
            got = header.protocol_version,
            "node.verify: not the protocol version in force"
        );
        return false;
    }
    match root {
        Ok(root) if root == header.state_root => {
            match liveness::check(&app.schemes, &app.marshal, blocks_per_epoch, &parent, block)
                .await
            {
                Ok(()) => charges_paid(&chain, &app.schemes, block, parent_block, ancestry).await,
                Err(error) => {
                    tracing::info!(height = header.height, %error, "node.verify: carried votes");
                    false
                }
            }
        }
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

/// Whether every transaction of `block` can be charged against the state it will meet: this
/// node's applied state, then the ordered blocks from there to `parent` (read back through
/// `ancestry`, which continues below `parent`). The proposer's own dry run, so an honest
/// proposal passes; a storage fault halts the node and abstains.
async fn charges_paid(
    chain: &Chain,
    schemes: &EpochSchemes,
    block: &Block,
    parent: Digested<Block>,
    mut ancestry: impl Ancestry<Block>,
) -> bool {
    let height = block.header.height;
    let pending = pending_inputs(chain, schemes, parent, &mut ancestry).await;
    let blocks_per_epoch = chain.ledger().config().blocks_per_epoch;
    let signers = liveness::signer_record(schemes, blocks_per_epoch, block)
        .ok()
        .flatten();
    let checked = chain
        .ledger()
        .check_charges(&pending, &block.input(signers));
    match checked {
        Ok(cairn_ledger::ChargeCheck::Charged) => true,
        Ok(cairn_ledger::ChargeCheck::Uncharged(named)) => {
            let (id, error) = &named[0];
            tracing::info!(
                height,
                uncharged = named.len(),
                first = %id,
                %error,
                "node.verify: a transaction cannot be charged"
            );
            false
        }
        Ok(cairn_ledger::ChargeCheck::NoPath { reached }) => {
            tracing::info!(
                height,
                reached,
                "node.verify: the proposal's ancestors do not lead from the applied state"
            );
            false
        }
        Err(error) => {
            chain.halt(format!("storage fault while checking charges: {error}"));
            abstain().await
        }
    }
}

/// The ordered blocks from `parent` down to just above this node's applied state (read back
/// through `ancestry`, which continues below `parent`), oldest first, each with the signers
/// its carried votes name, as the ledger will execute them.
async fn pending_inputs(
    chain: &Chain,
    schemes: &EpochSchemes,
    parent: Digested<Block>,
    ancestry: &mut impl Ancestry<Block>,
) -> Vec<cairn_ledger::BlockInput> {
    let applied = chain.head().height;
    let blocks_per_epoch = chain.ledger().config().blocks_per_epoch;
    let mut pending = Vec::new();
    let mut next = Some(parent);
    while let Some(ancestor) = next {
        let block = ancestor.inner();
        if block.header.height <= applied {
            break;
        }
        let signers = liveness::signer_record(schemes, blocks_per_epoch, block)
            .ok()
            .flatten();
        pending.push(block.input(signers));
        next = ancestry.next().await;
    }
    pending.reverse();
    pending
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
        propose(self.clone(), clock, context, ancestry)
    }

    fn verify(
        &mut self,
        (clock, context): (E, ConsensusContext),
        ancestry: impl Ancestry<Block>,
    ) -> impl std::future::Future<Output = bool> + Send {
        verify(self.clone(), clock, context, ancestry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_ledger::testkit::{addr, key, test_genesis};
    use cairn_ledger::Ledger;
    use cairn_types::params::ChainId;
    use cairn_types::tx::{Action, SignedTransaction, Transaction};
    use cairn_types::{Amount, SecretKey};
    use futures::Stream;
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Blocks handed out newest first, as marshal's ancestry does.
    #[derive(Clone)]
    struct Ancestors(VecDeque<Digested<Block>>);

    impl Stream for Ancestors {
        type Item = Digested<Block>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.0.pop_front())
        }
    }

    impl Ancestry<Block> for Ancestors {
        fn peek(&self) -> Option<&Digested<Block>> {
            self.0.front()
        }
    }

    fn digested(block: Block) -> Digested<Block> {
        let digest = block.digest();
        Digested::precomputed(block, digest)
    }

    fn child(parent: &Block, transactions: Vec<SignedTransaction>) -> Block {
        Block::new(
            parent.digest(),
            (parent.header.height + 1, parent.header.protocol_version),
            parent.header.timestamp_ms + 1_000,
            parent.header.proposer,
            (parent.header.state_height, parent.header.state_root),
            (0, Vec::new()),
            transactions,
        )
    }

    fn pay(chain_id: &ChainId, from: &SecretKey, nonce: u64) -> SignedTransaction {
        Transaction {
            chain_id: chain_id.clone(),
            sender: cairn_types::Address(from.public_key()),
            nonce,
            fee: test_genesis().params.tx_fee_min,
            action: Action::Transfer {
                to: addr("bob"),
                amount: Amount::tokens(1),
            },
        }
        .sign(from)
    }

    /// A voter accepts a proposal whose transactions pay after its unapplied parent, and
    /// refuses one carrying a transaction the parent already charged (a replayed nonce) or one
    /// from an account that cannot pay the fee.
    #[test]
    fn a_voter_refuses_a_proposal_carrying_transactions_that_cannot_pay() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let genesis = test_genesis();
        let chain_id = genesis.chain.chain_id.clone();
        let ledger = Ledger::init(dir.path(), &genesis).expect("a ledger");
        let root = ledger.head().state_root;
        let chain = Arc::new(Chain::new(ledger, crate::mempool::MempoolConfig::default()));
        let schemes = EpochSchemes::new(chain.clone(), b"test".to_vec(), key("validator-0"))
            .expect("a node key");
        let alice = key("alice");
        let first = pay(&chain_id, &alice, 0);
        let genesis_block = Block::genesis(root, genesis.genesis_time_ms, 1);
        let parent = child(&genesis_block, vec![first.clone()]);
        let ancestry = Ancestors(VecDeque::from([digested(genesis_block)]));
        let verdict = |transactions: Vec<SignedTransaction>| {
            let proposal = child(&parent, transactions);
            futures::executor::block_on(charges_paid(
                &chain,
                &schemes,
                &proposal,
                digested(parent.clone()),
                ancestry.clone(),
            ))
        };
        assert!(verdict(vec![pay(&chain_id, &alice, 1)]));
        assert!(!verdict(vec![first.clone(), pay(&chain_id, &alice, 1)]));
        let stranger = SecretKey::from_label("a stranger with nothing");
        assert!(!verdict(vec![pay(&chain_id, &stranger, 0)]));
        assert!(verdict(Vec::new()));
    }
}
