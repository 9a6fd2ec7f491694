//! What a sub-network decides, behind two traits: [`ReportRule`] for each kind of report it
//! counts, [`Subnet`] for what it makes of an epoch's counted reports. The tally, the payout
//! and the oracle's rewarder run the registered kinds ([`crate::kinds`]) in a fixed order and
//! name none of them; a new sub-network is one module implementing these traits and one line
//! in the registration (docs/SUBNETWORKS.md).
//!
//! ```text
//!  each copy → the tally (generic: device, epoch, freshness, duplicates, signatures)
//!                 asks its kind's ReportRule: who may send it, its slot, its limit, what it keeps
//!  the tally → each Subnet::judge (its live devices' kept reports, what it reads of the chain)
//!                 → points, refusals, settlements per device and payer
//!  the pools → each Subnet::split (pro rata by default) → rewards per device and owner
//! ```

use crate::context::{Denylist, EpochContext, StationHistory};
use crate::counted::{DeviceResult, TallyResult};
use crate::reason::Reason;
use crate::split::split_pro_rata;
use cairn_types::tx::Settlement;
use cairn_types::{Address, Amount, Credits, DeviceId, Hash, Subnetwork};
use std::collections::BTreeMap;

pub use crate::counted::{kept_of, KeptReport};
pub use crate::rule::{ReportRule, Slot};

/// What a sub-network may read besides the tally: the chain at the epoch's last block and
/// what was committed with the epoch. Each read is in bulk; a failed read is an error (the
/// epoch is computed again later), never "nothing there".
pub trait ChainInputs {
    /// The blocks at `heights` that may serve as beacon entropy: digest and time (ms); a
    /// height left out may not.
    fn entropy(&self, heights: &[u64]) -> Result<BTreeMap<u64, (Hash, u64)>, String>;

    /// Sensing stations' pasts; a station left out has none (registered at 0, never moved).
    fn station_history(
        &self,
        stations: &[DeviceId],
    ) -> Result<BTreeMap<DeviceId, StationHistory>, String>;

    /// Payers' credits delegated to `subnetwork`; a payer left out holds none.
    fn delegated_credits(
        &self,
        subnetwork: Subnetwork,
        payers: &[Address],
    ) -> Result<BTreeMap<Address, Credits>, String>;

    /// The coverage denylist committed with the epoch's manifests.
    fn denylist(&self) -> &Denylist;
}

/// Why a sub-network could not judge its epoch: a read of the chain failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct InputError {
    /// What was read (`history of 12 sensing stations`).
    pub what: String,
    /// Why it failed.
    pub reason: String,
}

/// One device's outcome for the epoch under its sub-network's judgement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceOutcome {
    /// Its points: its share of the pool.
    pub points: u64,
    /// What the judgement refused it, by reason (added to the tally's refusals).
    pub refused: BTreeMap<Reason, u64>,
    /// Why the epoch's denylist names it (coverage).
    pub denylisted: Vec<String>,
    /// Its quality of data for the epoch, in basis points (sensing).
    pub quality_bps: Option<u64>,
}

/// A sub-network's judgement of an epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judged {
    /// Each of its live devices that earned points or was refused something.
    pub devices: BTreeMap<DeviceId, DeviceOutcome>,
    /// What each payer owes for the epoch's service, by address, strictly ascending.
    pub settlements: Vec<Settlement>,
}

/// One sub-network: what its devices report, how an epoch of them is judged and paid.
pub trait Subnet: Send + Sync {
    /// Its slot: whose devices, pool and root it decides.
    fn subnetwork(&self) -> Subnetwork;

    /// The rules of the kinds of report it owns.
    fn report_rules(&self) -> Vec<Box<dyn ReportRule>>;

    /// Its live devices' points and refusals and its payers' settlements, from the tally (its
    /// own devices are [`live`]) and what it reads through `chain`.
    fn judge(
        &self,
        ctx: &EpochContext,
        tally: &TallyResult,
        chain: &dyn ChainInputs,
    ) -> Result<Judged, InputError>;

    /// Splits the epoch's `pool` among its devices by `points` (each share rounded down), with
    /// the residue left unallocated: pro rata unless the kind says otherwise.
    fn split(&self, pool: Amount, points: &[(DeviceId, u64)]) -> (Vec<(DeviceId, Amount)>, Amount) {
        split_pro_rata(pool, points)
    }
}

/// The devices of `subnetwork` in the tally that are not retired, in id order.
pub fn live(
    tally: &TallyResult,
    subnetwork: Subnetwork,
) -> impl Iterator<Item = (&DeviceId, &DeviceResult)> {
    tally
        .devices
        .iter()
        .filter(move |(_, d)| d.info.subnetwork == subnetwork && !d.info.retired)
}
