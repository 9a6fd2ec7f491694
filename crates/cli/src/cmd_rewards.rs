//! `cairn rewards`: the reward-root workflow from the command line.
//!
//! An oracle turns a list of cumulative rewards into a Merkle sum tree and signs its root; the
//! signatures are gathered into a submission (`cairn tx submit-root`); owners (or anyone for them)
//! extract claims with proofs from the same list (`cairn tx claim`). The input is a JSON list of
//! `{"account": "cairn1…", "cumulative": "900.5"}`.

use crate::cmd_ledger::open_ledger;
use crate::context::Context;
use anyhow::{bail, Context as _, Result};
use cairn_types::codec::BoundedVec;
use cairn_types::params::ChainId;
use cairn_types::reward_tree::{RewardLeaf, RewardTree};
use cairn_types::tx::{reward_root_digest, OracleSignature, RewardClaim, RewardRootSubmission};
use cairn_types::{Epoch, Subnetwork};
use clap::Subcommand;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Reward commands.
#[derive(Subcommand)]
pub(crate) enum RewardsCommand {
    /// What devices earned in a reward epoch, with the reason for anything not paid.
    Show {
        /// An oracle's API.
        #[arg(long, default_value = "http://127.0.0.1:27200")]
        oracle: String,
        /// The reward epoch.
        #[arg(long)]
        epoch: u64,
        /// One device (did:key:…).
        #[arg(long, conflicts_with = "owner")]
        device: Option<String>,
        /// Every device of an owner (address or key name).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Claim everything owed to an account, in every sub-network, in one transaction (proofs
    /// from an oracle, checked by the chain).
    Claim {
        /// An oracle's API.
        #[arg(long, default_value = "http://127.0.0.1:27200")]
        oracle: String,
        /// A node's API to send the claim to.
        #[arg(long, default_value = "http://127.0.0.1:27100")]
        node: String,
        /// The owner's key name.
        #[arg(long)]
        from: String,
    },
    /// Build the tree and print its root (hash and total).
    Root {
        /// JSON list of {account, cumulative}.
        #[arg(long)]
        input: PathBuf,
    },
    /// Sign the root as an oracle; prints the signature as JSON. Careful: a key that signs two
    /// different roots for one epoch and sub-network (here and in a running oracle) can be
    /// slashed by anyone holding both (`cairn tx report-oracle-double-sign`).
    Sign {
        /// JSON list of {account, cumulative}.
        #[arg(long)]
        input: PathBuf,
        /// The epoch the rewards run up to.
        #[arg(long)]
        epoch: u64,
        /// The sub-network.
        #[arg(long)]
        subnetwork: Subnetwork,
        /// The oracle's key name.
        #[arg(long)]
        from: String,
        /// The chain id (or --data-dir to read it).
        #[arg(long)]
        chain_id: Option<String>,
        /// A local ledger to read the chain id from.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Gather oracle signatures into a submission for `cairn tx submit-root`.
    Submission {
        /// JSON list of {account, cumulative}.
        #[arg(long)]
        input: PathBuf,
        /// The epoch.
        #[arg(long)]
        epoch: u64,
        /// The sub-network.
        #[arg(long)]
        subnetwork: Subnetwork,
        /// Files written by `cairn rewards sign`.
        #[arg(long = "signature", required = true)]
        signatures: Vec<PathBuf>,
        /// Where to write the submission.
        #[arg(long)]
        out: PathBuf,
    },
    /// Extract claims with proofs for `cairn tx claim`.
    Claims {
        /// JSON list of {account, cumulative}.
        #[arg(long)]
        input: PathBuf,
        /// The sub-network.
        #[arg(long)]
        subnetwork: Subnetwork,
        /// Accounts to claim for (addresses or key names); all when omitted.
        #[arg(long = "account")]
        accounts: Vec<String>,
        /// Where to write the claims.
        #[arg(long)]
        out: PathBuf,
    },
}

fn tree(path: &Path) -> Result<RewardTree> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let leaves: Vec<RewardLeaf> =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(RewardTree::build(leaves)?)
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(value)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Runs a rewards command.
pub(crate) fn run(ctx: &Context, cmd: RewardsCommand) -> Result<()> {
    match cmd {
        RewardsCommand::Show {
            oracle,
            epoch,
            device,
            owner,
        } => crate::rewards_live::show(ctx, &oracle, epoch, device.as_deref(), owner.as_deref()),
        RewardsCommand::Claim { oracle, node, from } => {
            crate::rewards_live::claim(ctx, &oracle, &node, &from)
        }
        RewardsCommand::Root { input } => {
            let tree = tree(&input)?;
            let root = tree.root();
            ctx.print(
                &json!({"root": root, "accounts": tree.len(), "depth": tree.depth()}),
                || {
                    format!(
                        "root {} total {} ({} accounts, depth {})",
                        root.hash,
                        root.sum,
                        tree.len(),
                        tree.depth()
                    )
                },
            )
        }
        RewardsCommand::Sign {
            input,
            epoch,
            subnetwork,
            from,
            chain_id,
            data_dir,
        } => {
            let chain_id = match (chain_id, data_dir) {
                (Some(id), _) => ChainId::new(id).context("chain id")?,
                (None, Some(dir)) => open_ledger(&dir)?.config().chain_id.clone(),
                (None, None) => bail!("give --chain-id or --data-dir"),
            };
            let key = ctx.load_key(&from)?;
            let root = tree(&input)?.root();
            let signature = OracleSignature {
                oracle: cairn_types::Address(key.public_key()),
                signature: key.sign(&reward_root_digest(
                    &chain_id,
                    Epoch(epoch),
                    subnetwork,
                    &root,
                    &[],
                )),
            };
            println!("{}", serde_json::to_string_pretty(&signature)?);
            Ok(())
        }
        RewardsCommand::Submission {
            input,
            epoch,
            subnetwork,
            signatures,
            out,
        } => {
            let root = tree(&input)?.root();
            let mut collected = Vec::new();
            for path in &signatures {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let signature: OracleSignature = serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", path.display()))?;
                collected.push(signature);
            }
            let submission = RewardRootSubmission {
                epoch: Epoch(epoch),
                subnetwork,
                root,
                signatures: BoundedVec::new(collected).context("too many signatures")?,
                settlements: BoundedVec::default(),
            };
            write_json(&out, &submission)?;
            ctx.print(&submission, || {
                format!(
                    "wrote {} ({} signatures over root {})",
                    out.display(),
                    signatures.len(),
                    root.hash
                )
            })
        }
        RewardsCommand::Claims {
            input,
            subnetwork,
            accounts,
            out,
        } => {
            let tree = tree(&input)?;
            let wanted = if accounts.is_empty() {
                tree.leaves().iter().map(|l| l.account).collect()
            } else {
                accounts
                    .iter()
                    .map(|a| ctx.address(a))
                    .collect::<Result<Vec<_>>>()?
            };
            let mut claims = Vec::with_capacity(wanted.len());
            for account in wanted {
                let (leaf, proof) = tree
                    .proof(&account)
                    .with_context(|| format!("{account} has no reward in the list"))?;
                claims.push(RewardClaim {
                    subnetwork,
                    account,
                    cumulative: leaf.cumulative,
                    proof,
                });
            }
            write_json(&out, &claims)?;
            ctx.print(&json!({"claims": claims.len(), "out": out}), || {
                format!("wrote {} claims to {}", claims.len(), out.display())
            })
        }
    }
}
