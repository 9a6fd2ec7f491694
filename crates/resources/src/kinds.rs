//! The registered sub-networks: the one file that names them. The tally, the payout and the
//! rewarder take a [`Kinds`] and run its sub-networks in slot order
//! ([`Subnetwork::ALL`]); a new sub-network is a module and a line in [`registered`].

use crate::connectivity::kind::Connectivity;
use crate::connectivity::TransferPolicy;
use crate::coverage::kind::Coverage;
use crate::coverage::rules::CoverageRules;
use crate::sensing::kind::Sensing;
use crate::sensing::rules::SensingRules;
use crate::subnet::{ReportRule, Subnet};
use crate::uptime::{Heartbeats, Uptime};
use cairn_types::report::ReportKind;
use cairn_types::Subnetwork;
use std::sync::OnceLock;

/// Each registered sub-network's rules (what governance or a benchmark may set).
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// Coverage's.
    pub coverage: CoverageRules,
    /// Sensing's.
    pub sensing: SensingRules,
    /// Connectivity's pool buckets and price.
    pub transfer: TransferPolicy,
}

/// Cairn's sub-networks with `rules`, in slot order: storage, compute and energy are paid for
/// uptime until their own modules plug in.
pub fn registered(rules: &Rules) -> Kinds {
    let kinds: Vec<Box<dyn Subnet>> = vec![
        Box::new(Uptime(Subnetwork::Storage)),
        Box::new(Coverage::new(rules.coverage.clone())),
        Box::new(Sensing::new(rules.sensing.clone())),
        Box::new(Connectivity::new(rules.transfer)),
        Box::new(Uptime(Subnetwork::Compute)),
        Box::new(Uptime(Subnetwork::Energy)),
    ];
    Kinds::new(kinds, vec![Box::new(Heartbeats)])
        .unwrap_or_else(|e| unreachable!("Cairn's own kinds register: {e}"))
}

/// Cairn's sub-networks with the default rules.
pub fn standard() -> &'static Kinds {
    static STANDARD: OnceLock<Kinds> = OnceLock::new();
    STANDARD.get_or_init(|| registered(&Rules::default()))
}

/// Cairn's sub-networks with the default rules and `kind` in its slot instead (a test's own
/// sub-network); refused if it claims a kind of report another rule counts.
pub fn standard_with(kind: Box<dyn Subnet>) -> Result<Kinds, KindsError> {
    registered(&Rules::default()).with(kind)
}

/// Why a set of sub-networks cannot run together.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KindsError {
    /// Two sub-networks take one slot.
    #[error("two sub-networks take the {0} slot")]
    SlotTaken(Subnetwork),
    /// Two rules for one kind of report.
    #[error("two rules count {0:?} reports")]
    ReportClaimed(ReportKind),
}

/// The sub-networks an epoch runs, each in its slot, and the rule of each kind of report.
pub struct Kinds {
    /// By slot, in slot order.
    kinds: Vec<Box<dyn Subnet>>,
    /// By report kind.
    rules: Vec<(ReportKind, Box<dyn ReportRule>)>,
    /// The kinds of report whose rules no sub-network owns (heartbeats).
    common: Vec<ReportKind>,
}

impl Kinds {
    /// `kinds`, one per slot, and `common` rules of reports no one sub-network owns
    /// (heartbeats): a report kind is counted by one rule only.
    pub fn new(
        mut kinds: Vec<Box<dyn Subnet>>,
        common: Vec<Box<dyn ReportRule>>,
    ) -> Result<Kinds, KindsError> {
        kinds.sort_by_key(|k| k.subnetwork());
        for pair in kinds.windows(2) {
            if pair[0].subnetwork() == pair[1].subnetwork() {
                return Err(KindsError::SlotTaken(pair[0].subnetwork()));
            }
        }
        let common_kinds: Vec<ReportKind> = common.iter().map(|rule| rule.kind()).collect();
        let mut rules: Vec<(ReportKind, Box<dyn ReportRule>)> = Vec::new();
        for rule in common
            .into_iter()
            .chain(kinds.iter().flat_map(|k| k.report_rules()))
        {
            let kind = rule.kind();
            if rules.iter().any(|(k, _)| *k == kind) {
                return Err(KindsError::ReportClaimed(kind));
            }
            rules.push((kind, rule));
        }
        rules.sort_by_key(|(kind, _)| *kind);
        Ok(Kinds {
            kinds,
            rules,
            common: common_kinds,
        })
    }

    /// These kinds with `kind` in its slot instead of the one there (a test's own kind).
    pub fn with(self, kind: Box<dyn Subnet>) -> Result<Kinds, KindsError> {
        let Kinds {
            mut kinds,
            rules,
            common,
        } = self;
        let common: Vec<Box<dyn ReportRule>> = rules
            .into_iter()
            .filter(|(k, _)| common.contains(k))
            .map(|(_, rule)| rule)
            .collect();
        kinds.retain(|k| k.subnetwork() != kind.subnetwork());
        kinds.push(kind);
        Kinds::new(kinds, common)
    }

    /// The rule counting reports of `kind`, if one is registered.
    pub fn rule(&self, kind: ReportKind) -> Option<&dyn ReportRule> {
        self.rules
            .binary_search_by_key(&kind, |(k, _)| *k)
            .ok()
            .map(|i| self.rules[i].1.as_ref())
    }

    /// The sub-networks, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Subnet> {
        self.kinds.iter().map(|k| k.as_ref())
    }

    /// The sub-network in `slot`, if one is registered.
    pub fn get(&self, slot: Subnetwork) -> Option<&dyn Subnet> {
        self.iter().find(|k| k.subnetwork() == slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slot_and_every_report_kind_is_registered_once() {
        let kinds = standard();
        let slots: Vec<Subnetwork> = kinds.iter().map(|k| k.subnetwork()).collect();
        assert_eq!(slots, Subnetwork::ALL);
        for kind in [
            ReportKind::Heartbeat,
            ReportKind::Reading,
            ReportKind::Beacon,
            ReportKind::Witness,
            ReportKind::Transfer,
        ] {
            assert_eq!(kinds.rule(kind).map(|r| r.kind()), Some(kind));
        }
        let twice = Kinds::new(
            vec![
                Box::new(Uptime(Subnetwork::Storage)),
                Box::new(Uptime(Subnetwork::Storage)),
            ],
            Vec::new(),
        );
        assert_eq!(
            twice.err(),
            Some(KindsError::SlotTaken(Subnetwork::Storage))
        );
        let claimed = Kinds::new(Vec::new(), vec![Box::new(Heartbeats), Box::new(Heartbeats)]);
        assert_eq!(
            claimed.err(),
            Some(KindsError::ReportClaimed(ReportKind::Heartbeat))
        );
    }

    /// Each kind's size bound holds its largest honest report, and no bound is over what any
    /// report may be.
    #[test]
    fn each_size_bound_holds_the_largest_honest_report_of_its_kind() {
        use cairn_types::codec::BoundedString;
        use cairn_types::params::ChainId;
        use cairn_types::report::{
            ReportBody, ReportPayload, SessionCert, SignedReport, MAX_REPORT_BYTES,
            MAX_SENSOR_NAME_BYTES,
        };
        use cairn_types::transfer::TransferReceipt;
        use cairn_types::{Address, DeviceId, Hash, SecretKey};
        let chain = ChainId::new("cairn-test").unwrap();
        let key = SecretKey::from_seed([1; 32]);
        let cert = SessionCert::issue(&chain, &key, key.public_key(), u64::MAX);
        let receipt = TransferReceipt {
            payer: Address(key.public_key()),
            device: DeviceId(key.public_key()),
            session: u64::MAX,
            seq: u32::MAX,
            bytes: u64::MAX,
            time_ms: u64::MAX,
        };
        let payloads = [
            ReportPayload::Heartbeat {
                uptime_secs: u64::MAX,
            },
            ReportPayload::Reading {
                sensor: BoundedString::new("s".repeat(MAX_SENSOR_NAME_BYTES)).unwrap(),
                value_milli: i64::MIN,
            },
            ReportPayload::Beacon {
                entropy_height: u64::MAX,
                frequency_khz: u32::MAX,
                tx_power_cdbm: i32::MIN,
                data: Hash::ZERO,
            },
            ReportPayload::Witness {
                beaconer: DeviceId(key.public_key()),
                data: Hash::ZERO,
                frequency_khz: u32::MAX,
                rssi_cdbm: i32::MIN,
                snr_cdb: i32::MIN,
            },
            ReportPayload::Transfer {
                transfer: receipt.sign(&chain, &key),
            },
        ];
        for payload in payloads {
            let kind = payload.kind();
            let body = ReportBody {
                time_ms: u64::MAX,
                entropy: Hash::ZERO,
                payload,
            };
            let bytes = SignedReport::sign(&chain, cert.clone(), &key, body).encode();
            let bound = standard().rule(kind).unwrap().max_bytes();
            assert!(bytes.len() <= bound, "{kind:?}: {} > {bound}", bytes.len());
            assert!(bound <= MAX_REPORT_BYTES, "{kind:?}");
        }
    }
}
