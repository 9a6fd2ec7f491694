//! Evidence that an oracle signed two different reward roots for one epoch, built from two of
//! its signed answers (`GET /v1/rewards/{epoch}/signed`, saved as JSON: one as it served it to
//! you, one as it served it to someone else or as its signature on chain shows it). Checked
//! here before it is sent, so a mistaken report fails with a message, not a charged
//! transaction.

use anyhow::{bail, Context as _, Result};
use cairn_types::oracle_evidence::{OracleDoubleSignEvidence, SignedRoot};
use cairn_types::params::ChainId;
use cairn_types::reward_tree::RewardNode;
use cairn_types::tx::{settlements_digest, Settlement};
use cairn_types::{Address, Epoch, Signature, Subnetwork};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The parts of an oracle's signed answer the evidence needs.
#[derive(Deserialize)]
struct SignedAnswer {
    epoch: Epoch,
    oracle: Address,
    roots: Vec<(Subnetwork, RewardNode, Signature)>,
    #[serde(default)]
    settlements: BTreeMap<Subnetwork, Vec<Settlement>>,
}

impl SignedAnswer {
    fn read(path: &Path) -> Result<SignedAnswer> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not an oracle's signed answer (GET /v1/rewards/EPOCH/signed)",
                path.display()
            )
        })
    }

    fn root(&self, subnetwork: Subnetwork) -> Option<SignedRoot> {
        self.roots
            .iter()
            .find(|(s, _, _)| *s == subnetwork)
            .map(|(_, root, signature)| SignedRoot {
                root: *root,
                settlements: settlements_digest(
                    self.settlements
                        .get(&subnetwork)
                        .map_or(&[][..], Vec::as_slice),
                ),
                signature: *signature,
            })
    }
}

/// The evidence in the answers saved at `first` and `second`, for `subnetwork` or else the
/// first sub-network whose two roots differ, checked against `chain_id`.
pub(crate) fn from_signed_answers(
    first: &Path,
    second: &Path,
    subnetwork: Option<Subnetwork>,
    chain_id: &ChainId,
) -> Result<OracleDoubleSignEvidence> {
    let (a, b) = (SignedAnswer::read(first)?, SignedAnswer::read(second)?);
    if a.oracle != b.oracle || a.epoch != b.epoch {
        bail!(
            "the answers are of oracle {} for reward epoch {} and of oracle {} for reward epoch \
             {}: evidence needs one oracle and one epoch",
            a.oracle,
            a.epoch,
            b.oracle,
            b.epoch
        );
    }
    let candidates: Vec<Subnetwork> = match subnetwork {
        Some(s) => vec![s],
        None => Subnetwork::ALL.to_vec(),
    };
    for s in candidates {
        let (Some(x), Some(y)) = (a.root(s), b.root(s)) else {
            continue;
        };
        if x.root == y.root && x.settlements == y.settlements {
            continue;
        }
        let evidence = OracleDoubleSignEvidence {
            oracle: a.oracle,
            epoch: a.epoch,
            subnetwork: s,
            first: x,
            second: y,
        };
        evidence
            .verify(chain_id)
            .with_context(|| format!("the {s} roots of the two answers prove nothing"))?;
        return Ok(evidence);
    }
    bail!(
        "the two answers sign the same roots{}: no evidence",
        subnetwork.map_or(String::new(), |s| format!(" for {s}"))
    )
}
