//! `cairn ledger demo`: a scripted tour of the token economy on a real on-disk ledger.
//!
//! Every step is a real signed transaction in a real block; the output says what happened and
//! what the state became, and bad input is shown being refused with its typed error.

use crate::context::Context;
use anyhow::{bail, Context as _, Result};
use cairn_ledger::audit::audit_supply;
use cairn_ledger::genesis::Genesis;
use cairn_ledger::state::records::{Account, ChainState, DeviceRecord, Proposal, RewardRootRecord};
use cairn_ledger::store::verify_proof;
use cairn_ledger::testkit::{addr, key, test_genesis, TestChain, MAKER};
use cairn_ledger::{BlockError, BlockOutcome, StateKey, TxError};
use cairn_types::codec::{BoundedString, BoundedVec};
use cairn_types::params::{ParamId, Params};
use cairn_types::reward_tree::{RewardLeaf, RewardTree};
use cairn_types::tx::{
    device_binding_digest, maker_attestation_digest, reward_root_digest, Action, MakerAttestation,
    OracleSignature, ProposalAction, RegisterDevice, RewardClaim, RewardRootSubmission, VoteChoice,
};
use cairn_types::{Amount, Cell, Credits, DeviceId, Epoch, Price, Subnetwork};
use std::path::{Path, PathBuf};

struct Tour {
    chain: TestChain,
    step: usize,
}

impl Tour {
    fn title(&mut self, text: &str) {
        self.step += 1;
        println!("\n== {}. {text}", self.step);
    }

    fn say(&self, text: impl AsRef<str>) {
        println!("   {}", text.as_ref());
    }

    fn show(&self, outcome: &BlockOutcome) {
        for note in outcome
            .notes
            .iter()
            .chain(outcome.receipts.iter().flat_map(|r| r.notes.iter()))
        {
            self.say(format!("- {note}"));
        }
        self.say(format!(
            "block {} -> state root {}",
            outcome.height, outcome.state_root
        ));
    }

    fn run(&mut self, label: &str, action: Action) -> Result<BlockOutcome> {
        let tx = self.chain.tx(label, action);
        let outcome = self
            .chain
            .block(vec![tx])
            .map_err(|e| anyhow::anyhow!("demo step failed: {e}"))?;
        self.show(&outcome);
        Ok(outcome)
    }

    fn refused(&mut self, what: &str, label: &str, action: Action) -> Result<TxError> {
        let before = self.chain.ledger.head();
        let tx = self.chain.tx(label, action);
        match self.chain.block(vec![tx]) {
            Ok(_) => bail!("demo expected `{what}` to be refused"),
            Err(cairn_ledger::BlockError::Transaction { error, .. }) => {
                anyhow::ensure!(
                    self.chain.ledger.head() == before,
                    "a refused transaction changed the state"
                );
                self.say(format!("refused {what}: {error} (state unchanged)"));
                Ok(error)
            }
            Err(other) => bail!("demo step `{what}` failed: {other}"),
        }
    }

    fn balance(&self, label: &str) -> Amount {
        self.chain.account(&addr(label)).balance
    }

    fn chain_state(&self) -> Result<ChainState> {
        self.chain
            .ledger
            .get(&StateKey::ChainState)?
            .context("no chain state")
    }
}

/// Runs the tour.
pub(crate) fn run(_ctx: &Context, data_dir: Option<PathBuf>) -> Result<()> {
    let temp;
    let dir = match data_dir {
        Some(dir) => dir,
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let genesis = test_genesis();
    let chain = TestChain::with_genesis(&dir, &genesis).with_context(|| {
        format!(
            "creating the demo ledger in {} (use an empty directory)",
            dir.display()
        )
    })?;
    let mut tour = Tour { chain, step: 0 };
    show_genesis(&mut tour, &genesis, &dir)?;
    transfer(&mut tour)?;
    bad_input(&mut tour)?;
    credits(&mut tour)?;
    device(&mut tour, &genesis)?;
    epoch_end(&mut tour)?;
    rewards(&mut tour, &genesis)?;
    governance(&mut tour, &genesis)?;
    light_client(&mut tour)?;
    audit(&mut tour)?;
    Ok(())
}

/// Genesis.
fn show_genesis(tour: &mut Tour, genesis: &Genesis, dir: &Path) -> Result<()> {
    tour.title("Genesis");
    let state = tour.chain_state()?;
    tour.say(format!(
        "chain `{}`: {} validators, {} oracles, {} blocks per epoch, supply {} CAIRN",
        genesis.chain.chain_id,
        genesis.validators.len(),
        genesis.oracles.len(),
        genesis.chain.blocks_per_epoch,
        state.total_supply
    ));
    tour.say(format!(
        "ledger in {}, genesis state root {}",
        dir.display(),
        tour.chain.ledger.head().state_root
    ));
    Ok(())
}

/// Alice sends 12.5 CAIRN to Bob (the fee is burned).
fn transfer(tour: &mut Tour) -> Result<()> {
    tour.title("Alice sends 12.5 CAIRN to Bob (the fee is burned)");
    let bob_before = tour.balance("bob");
    tour.run(
        "alice",
        Action::Transfer {
            to: addr("bob"),
            amount: "12.5".parse()?,
        },
    )?;
    tour.say(format!("bob: {} -> {}", bob_before, tour.balance("bob")));
    Ok(())
}

/// Bad input is refused and changes nothing.
fn bad_input(tour: &mut Tour) -> Result<()> {
    tour.title("Bad input is refused and changes nothing");
    let replay = tour.chain.tx(
        "alice",
        Action::Transfer {
            to: addr("bob"),
            amount: Amount(1),
        },
    );
    tour.chain
        .block(vec![replay.clone()])
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match tour.chain.block(vec![replay]) {
        Err(BlockError::Transaction { error, .. }) => {
            tour.say(format!("refused a replayed transaction: {error}"))
        }
        other => bail!("replay was not refused: {other:?}"),
    }
    let forged = tour
        .chain
        .tx(
            "alice",
            Action::Transfer {
                to: addr("mallory"),
                amount: Amount::tokens(1),
            },
        )
        .tx
        .sign(&key("mallory"));
    match tour.chain.block(vec![forged]) {
        Err(BlockError::Transaction { error, .. }) => {
            tour.say(format!("refused a forged signature: {error}"))
        }
        other => bail!("forgery was not refused: {other:?}"),
    }
    tour.refused(
        "an overdraft",
        "bob",
        Action::Transfer {
            to: addr("alice"),
            amount: Amount::tokens(5_000_000),
        },
    )?;
    Ok(())
}

/// Oracles post the token price; Alice burns tokens for data credits.
fn credits(tour: &mut Tour) -> Result<()> {
    tour.title("Oracles post the token price; Alice burns tokens for data credits");
    for (oracle, usd) in [
        ("oracle-0", 350_000_000u64),
        ("oracle-1", 360_000_000),
        ("oracle-2", 340_000_000),
    ] {
        tour.chain
            .run(oracle, Action::PostPrice { price: Price(usd) })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    tour.say("prices posted: $0.35, $0.36, $0.34 (median $0.35)");
    tour.run(
        "alice",
        Action::BurnForCredits {
            amount: Amount::tokens(100),
            recipient: addr("alice"),
            min_credits: Credits(0),
        },
    )?;
    tour.say(format!(
        "alice holds {}",
        tour.chain.account(&addr("alice")).credits
    ));
    Ok(())
}

/// Alice onboards a coverage hotspot made by Acme and asserts its location.
fn device(tour: &mut Tour, genesis: &Genesis) -> Result<()> {
    tour.title("Alice onboards a coverage hotspot made by Acme and asserts its location");
    let device_key = key("demo-hotspot");
    let device = DeviceId(device_key.public_key());
    let chain_id = genesis.chain.chain_id.clone();
    let registration = RegisterDevice {
        device,
        subnetwork: Subnetwork::Coverage,
        maker: Some(MakerAttestation {
            maker: key(MAKER).public_key(),
            signature: key(MAKER).sign(&maker_attestation_digest(&chain_id, &device)),
        }),
        device_signature: device_key.sign(&device_binding_digest(
            &chain_id,
            &device,
            &addr("alice"),
            Subnetwork::Coverage,
        )),
    };
    tour.run("alice", Action::RegisterDevice(registration))?;
    let cell = Cell::from_lat_lng(48.8584, 2.2945, 12)?;
    tour.run("alice", Action::AssertLocation { device, cell })?;
    let record: DeviceRecord = tour
        .chain
        .ledger
        .get(&StateKey::Device(device))?
        .context("device")?;
    tour.say(format!(
        "device {device}: owner {}, location {:?}",
        record.owner,
        record.location.map(|c| c.to_string())
    ));
    tour.refused(
        "Bob retiring Alice's device",
        "bob",
        Action::RetireDevice { device },
    )?;
    Ok(())
}

/// Epoch 0 ends: emission is split between sub-networks, validators and treasury.
fn epoch_end(tour: &mut Tour) -> Result<()> {
    tour.title("Epoch 0 ends: emission is split between sub-networks, validators and treasury");
    let before = tour.chain.ledger.head().height;
    tour.chain
        .advance_to_epoch(1)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = tour.chain_state()?;
    tour.say(format!(
        "advanced from block {before} to {}; emitted so far {}, treasury {}, supply {}",
        tour.chain.ledger.head().height,
        state.total_emitted,
        state.treasury,
        state.total_supply
    ));
    Ok(())
}

/// Oracles commit epoch 0's coverage rewards; owners claim with Merkle proofs.
fn rewards(tour: &mut Tour, genesis: &Genesis) -> Result<()> {
    let chain_id = genesis.chain.chain_id.clone();
    tour.title("Oracles commit epoch 0's coverage rewards; owners claim with Merkle proofs");
    let tree = RewardTree::build(vec![
        RewardLeaf {
            account: addr("alice"),
            cumulative: Amount::tokens(900),
        },
        RewardLeaf {
            account: addr("bob"),
            cumulative: Amount::tokens(300),
        },
    ])?;
    let root = tree.root();
    let digest = reward_root_digest(&chain_id, Epoch(0), Subnetwork::Coverage, &root, &[]);
    let signatures = ["oracle-0", "oracle-1"]
        .iter()
        .map(|o| OracleSignature {
            oracle: addr(o),
            signature: key(o).sign(&digest),
        })
        .collect();
    tour.say(format!(
        "root {} with total {} signed by 2 of 3 oracles",
        root.hash, root.sum
    ));
    tour.run(
        "carol",
        Action::SubmitRewardRoot(RewardRootSubmission {
            epoch: Epoch(0),
            subnetwork: Subnetwork::Coverage,
            root,
            signatures: BoundedVec::new(signatures)?,
            settlements: BoundedVec::default(),
        }),
    )?;
    let claim = |label: &str| -> Result<RewardClaim> {
        let (leaf, proof) = tree.proof(&addr(label)).context("no leaf")?;
        Ok(RewardClaim {
            subnetwork: Subnetwork::Coverage,
            account: leaf.account,
            cumulative: leaf.cumulative,
            proof,
        })
    };
    let alice_before = tour.balance("alice");
    tour.run(
        "bob",
        Action::ClaimRewards {
            claims: BoundedVec::new(vec![claim("alice")?, claim("bob")?])?,
        },
    )?;
    tour.say(format!(
        "alice: {} -> {} (bob paid the fee for both claims)",
        alice_before,
        tour.balance("alice")
    ));
    tour.refused(
        "claiming again",
        "alice",
        Action::ClaimRewards {
            claims: BoundedVec::new(vec![claim("alice")?])?,
        },
    )?;
    let mut inflated = claim("alice")?;
    inflated.cumulative = Amount::tokens(5_000);
    tour.refused(
        "a claim above the cumulative amount",
        "alice",
        Action::ClaimRewards {
            claims: BoundedVec::new(vec![inflated])?,
        },
    )?;
    let record: RewardRootRecord = tour
        .chain
        .ledger
        .get(&StateKey::RewardRoot(Subnetwork::Coverage))?
        .context("root")?;
    tour.say(format!(
        "claimed so far from coverage: {} of {}",
        record.claimed_total, record.root.sum
    ));
    Ok(())
}

/// Governance: Alice and Bob lock tokens; a fee change passes after its timelock.
fn governance(tour: &mut Tour, genesis: &Genesis) -> Result<()> {
    tour.title("Governance: Alice and Bob lock tokens; a fee change passes after its timelock");
    tour.run(
        "alice",
        Action::Lock {
            amount: Amount::tokens(10_000),
            duration_epochs: 100,
        },
    )?;
    tour.run(
        "bob",
        Action::Lock {
            amount: Amount::tokens(4_000),
            duration_epochs: 50,
        },
    )?;
    tour.run(
        "alice",
        Action::Propose {
            action: ProposalAction::SetParameter {
                param: ParamId::TxFeeMin,
                value: 2_000,
            },
            description: BoundedString::new("Double the minimum fee")?,
        },
    )?;
    tour.run(
        "alice",
        Action::Vote {
            proposal: 0,
            choice: VoteChoice::Yes,
        },
    )?;
    tour.run(
        "bob",
        Action::Vote {
            proposal: 0,
            choice: VoteChoice::No,
        },
    )?;
    let proposal: Proposal = tour
        .chain
        .ledger
        .get(&StateKey::Proposal(0))?
        .context("proposal")?;
    tour.say(format!(
        "tally: yes {} / no {} of total power {}",
        Amount(proposal.yes),
        Amount(proposal.no),
        Amount(proposal.total_power)
    ));
    while tour.chain.ledger.head().height
        <= proposal.voting_end_height + genesis.params.timelock_blocks
    {
        tour.chain
            .block(Vec::new())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    tour.run("carol", Action::ExecuteProposal { proposal: 0 })?;
    let params: Params = tour
        .chain
        .ledger
        .get(&StateKey::Params)?
        .context("params")?;
    tour.say(format!("tx_fee_min is now {}", params.tx_fee_min));
    tour.chain.fee = params.tx_fee_min;
    Ok(())
}

/// A light client checks Alice's account against the state root.
fn light_client(tour: &mut Tour) -> Result<()> {
    tour.title("A light client checks Alice's account against the state root");
    let key_alice = StateKey::Account(addr("alice"));
    let (value, proof, state_root) = tour.chain.ledger.prove(&key_alice, None)?;
    let bytes = value.context("alice has an account")?;
    verify_proof(&state_root, &key_alice.to_bytes(), Some(&bytes), &proof)
        .map_err(|e| anyhow::anyhow!(e))?;
    let account: Account = cairn_types::codec::decode(&bytes, 1 << 20)?;
    tour.say(format!(
        "alice: balance {}, nonce {}, {} — proof verified against {}",
        account.balance, account.nonce, account.credits, state_root
    ));
    Ok(())
}

/// Auditor: every token is accounted for.
fn audit(tour: &mut Tour) -> Result<()> {
    tour.title("Auditor: every token is accounted for");
    let audit = audit_supply(&tour.chain.ledger)?;
    tour.say(format!(
        "balances {} + stake {} + oracle stake {} + locked {} + treasury {} = {} = supply {}",
        audit.balances,
        audit.validator_stake,
        audit.oracle_stake,
        audit.locked,
        audit.treasury,
        audit.counted,
        audit.total_supply
    ));
    anyhow::ensure!(audit.balanced(), "the supply does not balance");
    let state = tour.chain_state()?;
    println!(
        "\nDemo complete: height {}, epoch {}, state root {}, burned {}, claimed {}.",
        state.height,
        state.epoch,
        tour.chain.ledger.head().state_root,
        state.total_burned,
        state.total_claimed
    );
    Ok(())
}
