//! The rewarder: one reward epoch's rewards from the reports of the counted manifests, as a
//! pure computation every oracle (and every auditor) runs alone and must get byte for byte.
//!
//! ```text
//!  counted manifests (by oracle address) → their files (in manifest order) → each report
//!    → tally (registry at the epoch's last block; once per device, kind and window)
//!    → settlement (connectivity: each payer's bytes priced, capped by its delegated credits)
//!    → payout (each sub-network's pool pro rata to points, rounded down)
//!    → cumulative = previous cumulative + this epoch's, per sub-network and owner
//!    → one reward sum tree per sub-network paid this epoch → its root
//! ```
//!
//! Memory is bounded by devices and owners, not reports: files are read one at a time, 16,384
//! reports at a time, whose signatures are checked together on every core (the answers, and so
//! the roots, do not depend on the cores: [`cairn_resources::verify`]). Each stage leaves a digest ([`Digests`]), so oracles whose roots differ can
//! see where their computations parted.
//!
//! - [`registry`]: device records at the epoch's last block, read from a node.
//! - [`entropy`]: the blocks beacons name as entropy, read from a node.
//! - [`denylist`]: the coverage denylist that applies to an epoch, from its manifests and the
//!   oracle stakes on chain.
//! - [`history`]: sensing stations' registration heights and moves, read from a node.
//! - [`credits`]: payers' delegated connectivity credits at the epoch's last block.
//! - [`gather`]: the one way an epoch's chain inputs are read (one proven state) and the epoch
//!   computed, for the live reward stage and for replay alike.

pub mod credits;
pub mod denylist;
pub mod entropy;
pub mod gather;
pub mod history;
pub mod registry;

use crate::log::format::FileReader;
use crate::manifest::{file_hash, Manifest};
use borsh::{BorshDeserialize, BorshSerialize};
use cairn_resources::connectivity::TransferPolicy;
use cairn_resources::context::{EpochContext, Registry};
use cairn_resources::coverage::collect::{coverage_outcomes, entropy_heights, CoverageInputs};
use cairn_resources::coverage::rules::CoverageRules;
use cairn_resources::coverage::types::Denylist;
use cairn_resources::payout::{pay, DevicePayout, Outcomes};
use cairn_resources::sensing::rules::SensingRules;
use cairn_resources::sensing::score::{sensing_outcomes, SensingInputs, StationHistory};
use cairn_resources::settlement;
use cairn_resources::tally::Tally;
use cairn_types::codec;
use cairn_types::report::LoggedReport;
use cairn_types::reward_tree::{RewardLeaf, RewardNode, RewardTree};
use cairn_types::tx::Settlement;
use cairn_types::{Address, Amount, Credits, DeviceId, Hash, Subnetwork};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every owner's cumulative reward, per sub-network.
pub type Cumulative = BTreeMap<Subnetwork, BTreeMap<Address, Amount>>;

/// Reads the bytes of one of an oracle's log files.
pub type FileSource<'a> = &'a dyn Fn(&Address, &str) -> Result<Vec<u8>, String>;

/// Reads the block at a height: its digest and time, or `None` if it may not serve as entropy.
pub type EntropySource<'a> = &'a dyn Fn(u64) -> Result<Option<(Hash, u64)>, String>;

/// Reads sensing stations' pasts (registration height and last move), all at once; a station
/// left out of the answer has none (registered at 0, never moved).
pub type HistorySource<'a> =
    &'a dyn Fn(&[DeviceId]) -> Result<BTreeMap<DeviceId, StationHistory>, String>;

/// Reads payers' delegated connectivity credits at the epoch's last block, all at once; a
/// payer left out of the answer holds none.
pub type CreditSource<'a> = &'a dyn Fn(&[Address]) -> Result<BTreeMap<Address, Credits>, String>;

/// What an epoch's computation reads.
pub struct EpochInputs<'a> {
    /// The epoch's bounds and rules.
    pub ctx: EpochContext,
    /// Each sub-network's emission for the epoch.
    pub pools: BTreeMap<Subnetwork, Amount>,
    /// The counted manifests, by oracle address.
    pub manifests: Vec<Manifest>,
    /// The bytes of one of an oracle's files.
    pub file: FileSource<'a>,
    /// Devices at the epoch's last block.
    pub registry: &'a dyn Registry,
    /// Cumulative rewards before the epoch.
    pub previous: Cumulative,
    /// The coverage sub-network's rules.
    pub coverage_rules: CoverageRules,
    /// The denylist committed with the epoch.
    pub denylist: Denylist,
    /// The blocks beacons name as entropy.
    pub entropy: EntropySource<'a>,
    /// The sensing sub-network's rules.
    pub sensing_rules: SensingRules,
    /// Sensing stations' pasts.
    pub history: HistorySource<'a>,
    /// Payers' delegated connectivity credits.
    pub credits: CreditSource<'a>,
}

/// Where the computation stood after each stage.
#[derive(
    Clone, Debug, PartialEq, Eq, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Digests {
    /// The counted manifests (oracle and hash, in order).
    pub manifests: Hash,
    /// The tally: every device's points, reports and refusals.
    pub tally: Hash,
    /// The epoch's rewards per owner.
    pub payout: Hash,
    /// The cumulative rewards.
    pub cumulative: Hash,
}

/// One epoch's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochResult {
    /// Every reporting device's outcome, by id.
    pub devices: Vec<DevicePayout>,
    /// Cumulative rewards through the epoch.
    pub cumulative: Cumulative,
    /// The root of each sub-network whose cumulative rewards grew or that settles payers.
    pub roots: BTreeMap<Subnetwork, RewardNode>,
    /// What each payer owes, per sub-network (connectivity), carried by that root.
    pub settlements: BTreeMap<Subnetwork, Vec<Settlement>>,
    /// Reports read, and copies refused or merged.
    pub copies: u64,
    /// Each stage's digest.
    pub digests: Digests,
}

/// Why an epoch could not be computed (now: it is retried).
#[derive(Debug, thiserror::Error)]
pub enum RewardError {
    /// A file of a counted manifest could not be had.
    #[error("file {name} of {oracle}: {reason}")]
    File {
        /// The oracle.
        oracle: Address,
        /// The file.
        name: String,
        /// Why.
        reason: String,
    },
    /// The reward tree could not be built (more than 2^40 owners).
    #[error("reward tree: {0}")]
    Tree(String),
    /// The device records could not all be read (the node failed or lied).
    #[error("device records: {0}")]
    Registry(String),
    /// Sensing stations' pasts could not be read.
    #[error("history of {stations} sensing stations: {reason}")]
    History {
        /// Stations asked.
        stations: usize,
        /// Why.
        reason: String,
    },
    /// Payers' delegated credits could not be read.
    #[error("credits of {payers} payers: {reason}")]
    Credits {
        /// Payers asked.
        payers: usize,
        /// Why.
        reason: String,
    },
    /// A block named as beacon entropy could not be read.
    #[error("entropy block {height}: {reason}")]
    Entropy {
        /// Its height.
        height: u64,
        /// Why.
        reason: String,
    },
}

/// Computes one epoch (see the module doc).
pub fn compute(inputs: EpochInputs<'_>) -> Result<EpochResult, RewardError> {
    let manifests_digest = Hash::domain(
        "cairn digest manifests v1",
        &[&codec::encode(
            &inputs
                .manifests
                .iter()
                .map(|m| (m.oracle, m.hash()))
                .collect::<Vec<_>>(),
        )],
    );
    let mut tally = Tally::new(inputs.ctx.clone(), inputs.registry);
    for manifest in &inputs.manifests {
        for file in manifest.files.iter() {
            let name = file.name.as_str();
            let bad = |reason: String| RewardError::File {
                oracle: manifest.oracle,
                name: name.to_string(),
                reason,
            };
            let bytes = (inputs.file)(&manifest.oracle, name).map_err(bad)?;
            // Only the bytes the manifest names count (a damaged copy is not read).
            if bytes.len() as u64 != file.bytes || file_hash(&bytes) != file.hash {
                return Err(bad("its size or hash is not the manifest's".into()));
            }
            read_file(&bytes, &mut tally, inputs.registry);
        }
    }
    let mut tallied = tally.finish();
    let tally_digest = Hash::domain(
        "cairn digest tally v1",
        &[&codec::encode(
            &tallied
                .devices
                .iter()
                .map(|(id, d)| {
                    (
                        *id,
                        d.windows,
                        d.reports,
                        d.rejected
                            .iter()
                            .map(|(r, n)| (*r as u8, *n))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect::<Vec<_>>(),
        )],
    );
    let mut entropy = BTreeMap::new();
    for height in entropy_heights(&tallied) {
        let block =
            (inputs.entropy)(height).map_err(|reason| RewardError::Entropy { height, reason })?;
        if let Some(block) = block {
            entropy.insert(height, block);
        }
    }
    let coverage = coverage_outcomes(
        &tallied,
        &CoverageInputs {
            rules: inputs.coverage_rules,
            denylist: inputs.denylist,
            entropy,
        },
        inputs.ctx.window_ms,
    );
    let stations: Vec<DeviceId> = tallied
        .devices
        .iter()
        .filter(|(_, d)| d.info.subnetwork == Subnetwork::Sensing && !d.info.retired)
        .map(|(device, _)| *device)
        .collect();
    let mut history = (inputs.history)(&stations).map_err(|reason| RewardError::History {
        stations: stations.len(),
        reason,
    })?;
    for station in &stations {
        history.entry(*station).or_default();
    }
    let sensing = sensing_outcomes(
        &tallied,
        &SensingInputs {
            rules: inputs.sensing_rules,
            epoch: inputs.ctx.epoch,
            bounds: (inputs.ctx.start_ms, inputs.ctx.end_ms),
            window_ms: inputs.ctx.window_ms,
            history,
        },
    );
    let transfer_policy = TransferPolicy::default();
    let payers: Vec<Address> = settlement::payers(&tallied).into_iter().collect();
    let mut balances = (inputs.credits)(&payers).map_err(|reason| RewardError::Credits {
        payers: payers.len(),
        reason,
    })?;
    for payer in &payers {
        balances.entry(*payer).or_insert(Credits(0));
    }
    let settled = settlement::settle(&mut tallied, &balances, &transfer_policy);
    let outcomes = Outcomes {
        coverage,
        sensing,
        transfer_policy,
    };
    let payout = pay(&tallied, &inputs.pools, &outcomes);
    let payout_digest = Hash::domain(
        "cairn digest payout v2",
        &[
            &codec::encode(
                &payout
                    .owners
                    .iter()
                    .map(|((s, a), amount)| (*s, *a, *amount))
                    .collect::<Vec<_>>(),
            ),
            &codec::encode(&settled),
        ],
    );
    let mut settlements = BTreeMap::new();
    if !settled.is_empty() {
        settlements.insert(Subnetwork::Connectivity, settled);
    }
    let mut cumulative = inputs.previous;
    let mut grown = std::collections::BTreeSet::new();
    for ((subnetwork, owner), amount) in &payout.owners {
        let entry = cumulative
            .entry(*subnetwork)
            .or_default()
            .entry(*owner)
            .or_insert(Amount::ZERO);
        // A sum of pools, far below u128::MAX: never saturates.
        *entry = Amount(entry.0.saturating_add(amount.0));
        grown.insert(*subnetwork);
    }
    // A root carries the settlements even when no reward grew (its digest covers them).
    grown.extend(settlements.keys().copied());
    let mut roots = BTreeMap::new();
    for subnetwork in grown {
        let leaves = leaves_of(&cumulative, subnetwork);
        let tree = RewardTree::build(leaves).map_err(|e| RewardError::Tree(e.to_string()))?;
        roots.insert(subnetwork, tree.root());
    }
    let cumulative_digest = Hash::domain(
        "cairn digest cumulative v1",
        &[&encode_cumulative(&cumulative)],
    );
    Ok(EpochResult {
        devices: payout.devices,
        cumulative,
        roots,
        settlements,
        copies: tallied.copies,
        digests: Digests {
            manifests: manifests_digest,
            tally: tally_digest,
            payout: payout_digest,
            cumulative: cumulative_digest,
        },
    })
}

/// Copies the tally takes at a time: their signatures are checked together, in batches on
/// every core ([`Tally::add_all`]).
const TALLY_CHUNK: usize = 16_384;

/// Every report of one file into the tally; a file that breaks off counts one malformed copy
/// and is read no further. The registry is told each chunk's devices first, so that a
/// registry read from a node reads them in bulk.
fn read_file<R: Registry + ?Sized>(bytes: &[u8], tally: &mut Tally<'_, R>, registry: &R) {
    let add = |tally: &mut Tally<'_, R>, chunk: &[LoggedReport], threads: usize| {
        let devices: Vec<DeviceId> = chunk.iter().map(|c| c.report.device()).collect();
        registry.prefetch(&devices);
        tally.add_all(chunk, threads);
    };
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let Ok(mut reader) = FileReader::open(bytes) else {
        tally.add_malformed();
        return;
    };
    let mut chunk = Vec::with_capacity(TALLY_CHUNK);
    loop {
        match reader.next_report() {
            Ok(Some(report)) => {
                chunk.push(report);
                if chunk.len() == TALLY_CHUNK {
                    add(tally, &chunk, threads);
                    chunk.clear();
                }
            }
            Ok(None) => break add(tally, &chunk, threads),
            Err(_) => {
                add(tally, &chunk, threads);
                tally.add_malformed();
                return;
            }
        }
    }
}

/// The leaves of one sub-network's tree (accounts with a non-zero cumulative reward).
pub fn leaves_of(cumulative: &Cumulative, subnetwork: Subnetwork) -> Vec<RewardLeaf> {
    cumulative
        .get(&subnetwork)
        .map(|owners| {
            owners
                .iter()
                .filter(|(_, a)| !a.is_zero())
                .map(|(account, cumulative)| RewardLeaf {
                    account: *account,
                    cumulative: *cumulative,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The canonical encoding of cumulative rewards (kept by oracles, served to auditors).
pub fn encode_cumulative(cumulative: &Cumulative) -> Vec<u8> {
    let flat: Vec<(Subnetwork, Vec<(Address, Amount)>)> = cumulative
        .iter()
        .map(|(s, owners)| (*s, owners.iter().map(|(a, v)| (*a, *v)).collect()))
        .collect();
    codec::encode(&flat)
}

/// Decodes what [`encode_cumulative`] wrote.
pub fn decode_cumulative(bytes: &[u8]) -> Result<Cumulative, codec::CodecError> {
    let flat: Vec<(Subnetwork, Vec<(Address, Amount)>)> = codec::decode(bytes, usize::MAX)?;
    Ok(flat
        .into_iter()
        .map(|(s, owners)| (s, owners.into_iter().collect()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::format::{encode_file, file_name};
    use crate::manifest::ManifestFile;
    use cairn_types::codec::{BoundedString, BoundedVec};
    use cairn_types::params::ChainId;
    use cairn_types::Epoch;

    fn inputs<'a>(
        manifest: &Manifest,
        file: FileSource<'a>,
        registry: &'a BTreeMap<cairn_types::DeviceId, cairn_resources::context::DeviceInfo>,
    ) -> EpochInputs<'a> {
        EpochInputs {
            ctx: EpochContext {
                chain_id: ChainId::new("cairn-test").unwrap(),
                epoch: 1,
                start_ms: 0,
                end_ms: 60_000,
                window_ms: 60_000,
                skew_ms: 0,
                delay_ms: 0,
            },
            pools: BTreeMap::new(),
            manifests: vec![manifest.clone()],
            file,
            registry,
            previous: Cumulative::new(),
            coverage_rules: CoverageRules::default(),
            denylist: Denylist::default(),
            entropy: entropy::no_entropy(),
            sensing_rules: SensingRules::default(),
            history: history::no_history(),
            credits: credits::no_credits(),
        }
    }

    #[test]
    fn a_file_whose_bytes_are_not_the_manifests_is_not_read() {
        let oracle = Address::default();
        let bytes = encode_file(&oracle, &[]).unwrap();
        let name = file_name(1, 0);
        let manifest = Manifest {
            epoch: Epoch(1),
            oracle,
            denylist: BoundedVec::from_bounded(Vec::new()),
            files: BoundedVec::new(vec![ManifestFile {
                name: BoundedString::new(name.clone()).unwrap(),
                hash: file_hash(&bytes),
                bytes: bytes.len() as u64,
                reports: 0,
            }])
            .unwrap(),
        };
        let registry = BTreeMap::new();
        let good = |_: &Address, _: &str| Ok(bytes.clone());
        assert!(compute(inputs(&manifest, &good, &registry)).is_ok());
        let mut damaged = bytes.clone();
        damaged[0] ^= 1;
        let bad = |_: &Address, _: &str| Ok(damaged.clone());
        let error = compute(inputs(&manifest, &bad, &registry)).unwrap_err();
        assert!(
            matches!(&error, RewardError::File { name: n, .. } if *n == name),
            "{error}"
        );
        let short = |_: &Address, _: &str| Ok(bytes[..bytes.len() - 1].to_vec());
        assert!(compute(inputs(&manifest, &short, &registry)).is_err());
    }
}
