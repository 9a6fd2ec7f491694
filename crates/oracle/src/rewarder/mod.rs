//! The rewarder: one reward epoch's rewards from the reports of the counted manifests, as a
//! pure computation every oracle (and every auditor) runs alone and must get byte for byte.
//!
//! ```text
//!  counted manifests (by oracle address) → their files (in manifest order) → each report
//!    → tally (registry at the epoch's last block; once per device, kind and window, by the
//!      rules of the registered sub-networks' reports)
//!    → each registered sub-network's judgement, in slot order (points, refusals, and what
//!      each payer owes, capped by its delegated credits), reading the chain through one
//!      interface ([`inputs`])
//!    → payout (each sub-network's pool split by points as it splits, rounded down)
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
//! - [`credits`]: payers' credits delegated to a sub-network at the epoch's last block.
//! - [`inputs`]: all of that behind the one interface the sub-networks read
//!   ([`cairn_resources::subnet::ChainInputs`]).
//! - [`gather`]: the one way an epoch's chain inputs are read (one proven state) and the epoch
//!   computed, for the live reward stage and for replay alike.

pub mod credits;
pub mod denylist;
pub mod entropy;
pub mod gather;
pub mod history;
pub mod inputs;
pub mod registry;

use crate::log::format::FileReader;
use crate::manifest::{file_hash, Manifest};
use borsh::{BorshDeserialize, BorshSerialize};
use cairn_resources::context::{EpochContext, Registry};
use cairn_resources::kinds::Kinds;
use cairn_resources::payout::{pay, DevicePayout, Outcomes};
use cairn_resources::sensing::score::StationHistory;
use cairn_resources::subnet::{ChainInputs, InputError};
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

/// Reads payers' credits delegated to a sub-network at the epoch's last block, all at once; a
/// payer left out of the answer holds none.
pub type CreditSource<'a> =
    &'a dyn Fn(Subnetwork, &[Address]) -> Result<BTreeMap<Address, Credits>, String>;

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
    /// The sub-networks, each with its rules ([`cairn_resources::kinds::registered`]).
    pub kinds: &'a Kinds,
    /// What they read of the chain ([`inputs::EpochChain`]).
    pub chain: &'a dyn ChainInputs,
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
    /// What each payer owes, per sub-network, carried by that root.
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
    /// A sub-network's chain inputs could not be read.
    #[error("{subnetwork}: {error}")]
    Input {
        /// The sub-network reading.
        subnetwork: Subnetwork,
        /// What failed.
        error: InputError,
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
    let mut tally = Tally::with_kinds(inputs.ctx.clone(), inputs.registry, inputs.kinds);
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
    let tallied = tally.finish();
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
    let mut outcomes = Outcomes::new();
    for kind in inputs.kinds.iter() {
        let subnetwork = kind.subnetwork();
        let judged = kind
            .judge(&inputs.ctx, &tallied, inputs.chain)
            .map_err(|error| RewardError::Input { subnetwork, error })?;
        outcomes.insert(subnetwork, judged);
    }
    let settlements: BTreeMap<Subnetwork, Vec<Settlement>> = outcomes
        .iter_mut()
        .filter(|(_, judged)| !judged.settlements.is_empty())
        .map(|(s, judged)| (*s, std::mem::take(&mut judged.settlements)))
        .collect();
    let payout = pay(&tallied, &inputs.pools, inputs.kinds, &outcomes);
    // Every settlement in slot order, as one list: the same bytes as before sub-networks
    // plugged in (when connectivity alone settled), so oracles of both versions compare.
    let all_settled: Vec<Settlement> = settlements.values().flatten().copied().collect();
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
            &codec::encode(&all_settled),
        ],
    );
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
            kinds: cairn_resources::kinds::standard(),
            chain: Box::leak(Box::new(inputs::no_chain())),
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

    /// A sub-network defined only here, in the energy slot: its points are ten per window and
    /// it splits the whole pool to the device with the most points. The real rewarder runs it
    /// and names it nowhere.
    #[test]
    fn a_kind_registered_in_a_slot_is_run_by_the_rewarder() {
        use crate::log::format::write_frame;
        use cairn_resources::context::DeviceInfo;
        use cairn_resources::subnet::{live, DeviceOutcome, Judged, ReportRule, Subnet};
        use cairn_resources::tally::TallyResult;
        use cairn_types::report::{ReportBody, ReportPayload, SessionCert, SignedReport};
        use cairn_types::SecretKey;

        struct Toy;
        impl Subnet for Toy {
            fn subnetwork(&self) -> Subnetwork {
                Subnetwork::Energy
            }
            fn report_rules(&self) -> Vec<Box<dyn ReportRule>> {
                Vec::new()
            }
            fn judge(
                &self,
                _: &EpochContext,
                tally: &TallyResult,
                _: &dyn ChainInputs,
            ) -> Result<Judged, InputError> {
                let devices = live(tally, Subnetwork::Energy)
                    .map(|(id, d)| {
                        let outcome = DeviceOutcome {
                            points: d.windows * 10,
                            ..DeviceOutcome::default()
                        };
                        (*id, outcome)
                    })
                    .collect();
                Ok(Judged {
                    devices,
                    settlements: Vec::new(),
                })
            }
            fn split(
                &self,
                pool: Amount,
                points: &[(DeviceId, u64)],
            ) -> (Vec<(DeviceId, Amount)>, Amount) {
                match points.iter().max_by_key(|(id, p)| (*p, *id)) {
                    Some((id, p)) if *p > 0 => (vec![(*id, pool)], Amount::ZERO),
                    _ => (Vec::new(), pool),
                }
            }
        }

        let chain = ChainId::new("cairn-test").unwrap();
        let oracle = Address::default();
        let mut frames = Vec::new();
        let mut registry = BTreeMap::new();
        for (n, beats) in [(1u8, 1u64), (2, 3)] {
            let device = SecretKey::from_seed([n; 32]);
            let session = SecretKey::from_seed([n + 100; 32]);
            let cert = SessionCert::issue(&chain, &device, session.public_key(), 1_000_000);
            for beat in 0..beats {
                let body = ReportBody {
                    time_ms: beat * 20_000 + 1_000,
                    entropy: Hash::ZERO,
                    payload: ReportPayload::Heartbeat { uptime_secs: beat },
                };
                let report = SignedReport::sign(&chain, cert.clone(), &session, body);
                write_frame(
                    &mut frames,
                    &LoggedReport {
                        received_ms: beat * 20_000 + 1_000,
                        report,
                    },
                );
            }
            let info = DeviceInfo {
                owner: Address(device.public_key()),
                subnetwork: Subnetwork::Energy,
                retired: false,
                maker_revoked: false,
                location: None,
            };
            registry.insert(DeviceId(device.public_key()), info);
        }
        let bytes = encode_file(&oracle, &frames).unwrap();
        let manifest = Manifest {
            epoch: Epoch(1),
            oracle,
            denylist: BoundedVec::from_bounded(Vec::new()),
            files: BoundedVec::new(vec![ManifestFile {
                name: BoundedString::new(file_name(1, 0)).unwrap(),
                hash: file_hash(&bytes),
                bytes: bytes.len() as u64,
                reports: 4,
            }])
            .unwrap(),
        };
        let file = |_: &Address, _: &str| Ok(bytes.clone());
        let kinds = cairn_resources::kinds::standard_with(Box::new(Toy)).unwrap();
        let mut epoch = inputs(&manifest, &file, &registry);
        epoch.ctx.window_ms = 20_000;
        epoch.pools = BTreeMap::from([(Subnetwork::Energy, Amount(1_000))]);
        epoch.kinds = &kinds;
        let result = compute(epoch).unwrap();
        let points: Vec<u64> = result.devices.iter().map(|d| d.points).collect();
        let mut sorted = points.clone();
        sorted.sort();
        assert_eq!(sorted, vec![10, 30]);
        let paid: Vec<Amount> = result.devices.iter().map(|d| d.reward).collect();
        let winner = points.iter().position(|p| *p == 30).unwrap();
        assert_eq!(paid[winner], Amount(1_000));
        assert_eq!(
            result.roots.keys().copied().collect::<Vec<_>>(),
            [Subnetwork::Energy]
        );
    }
}
