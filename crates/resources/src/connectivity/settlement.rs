//! Settlement: what each payer owes for the bytes its key signed for in an epoch, capped by
//! the credits it delegated to the connectivity sub-network, and the devices' bytes cut to what
//! was paid for.
//!
//! ```text
//! owed(payer)  = ceil(bytes signed × dc_per_mib / 2^20)          (rounded up: the payer pays)
//! paid(payer)  = min(owed, delegated credits at the epoch's last block)
//! counted(chunk) = floor(chunk bytes × paid / owed)              (rounded down: the device)
//! ```
//!
//! Only [`MAX_SETTLEMENTS`] payers fit in one root: when more pay, those paying the least are
//! left out and their chunks count nothing (`payer_not_settled`).
//!
//! A payer with no delegated credits pays nothing and none of its bytes count: a device that
//! names its owner's own key as payer earns only what that key burns. The settlements ride the
//! connectivity root; the ledger burns them when 2/3 of oracle stake signed it.

use super::kind::{counted_transfer, CountedTransfer};
use super::TransferPolicy;
use crate::counted::{DeviceResult, TallyResult};
use crate::reason::Reason;
use crate::subnet::{kept_of, live};
use cairn_types::report::ReportKind;
use cairn_types::tx::{Settlement, MAX_SETTLEMENTS};
use cairn_types::{Address, Credits, DeviceId, Subnetwork};
use std::collections::{BTreeMap, BTreeSet};

const MIB: u128 = 1 << 20;

/// A device's counted transfer chunks, in key order.
pub fn transfers_of(d: &DeviceResult) -> Vec<CountedTransfer> {
    kept_of(d, ReportKind::Transfer, counted_transfer).collect()
}

/// Every payer named by a counted transfer of a live connectivity device (whose delegated
/// credits settlement reads).
pub fn payers(tally: &TallyResult) -> BTreeSet<Address> {
    live(tally, Subnetwork::Connectivity)
        .flat_map(|(_, d)| transfers_of(d))
        .map(|t| t.payer)
        .collect()
}

/// A device's bytes after settlement, and the chunks cut, by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceBytes {
    /// Its counted bytes, each chunk cut to what its payer paid (saturating: no device reaches
    /// 2⁶⁴ bytes).
    pub bytes: u64,
    /// Its chunks cut: `payer_short`, `payer_not_settled`.
    pub cut: BTreeMap<Reason, u64>,
}

/// What an epoch's connectivity settles: each payer's debt, each live device's bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// What each paying payer owes, by address.
    pub settlements: Vec<Settlement>,
    /// Each live connectivity device's bytes after the cut.
    pub devices: BTreeMap<DeviceId, DeviceBytes>,
}

/// Prices each payer's signed bytes, caps them at its `balances`, cuts every device's counted
/// bytes to what was paid (counting `payer_short` for each chunk cut), and returns what each
/// payer owes, by address. When more than [`MAX_SETTLEMENTS`] payers pay, those paying the
/// least (then the highest addresses) are left out and their bytes do not count.
pub fn settle(
    tally: &TallyResult,
    balances: &BTreeMap<Address, Credits>,
    policy: &TransferPolicy,
) -> Settled {
    let devices: Vec<(DeviceId, Vec<CountedTransfer>)> = live(tally, Subnetwork::Connectivity)
        .map(|(id, d)| (*id, transfers_of(d)))
        .collect();
    let mut signed: BTreeMap<Address, u128> = BTreeMap::new();
    for t in devices.iter().flat_map(|(_, transfers)| transfers) {
        *signed.entry(t.payer).or_default() += u128::from(t.bytes);
    }
    // (owed, paid) per payer; payers left out by the cut are named apart.
    let mut cut: BTreeSet<Address> = BTreeSet::new();
    let mut terms: BTreeMap<Address, (u128, u128)> = signed
        .iter()
        .map(|(payer, bytes)| {
            let owed = (bytes * u128::from(policy.dc_per_mib)).div_ceil(MIB);
            let held = u128::from(balances.get(payer).map_or(0, |c| c.0));
            (*payer, (owed, owed.min(held)))
        })
        .collect();
    let mut paying: Vec<(Address, u128)> = terms
        .iter()
        .filter(|(_, (_, paid))| *paid > 0)
        .map(|(payer, (_, paid))| (*payer, *paid))
        .collect();
    if paying.len() > MAX_SETTLEMENTS {
        paying.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for (payer, _) in paying.split_off(MAX_SETTLEMENTS) {
            if let Some(t) = terms.get_mut(&payer) {
                t.1 = 0;
            }
            cut.insert(payer);
        }
        paying.sort_by_key(|(payer, _)| *payer);
    }
    let mut settled = Settled::default();
    for (id, transfers) in devices {
        let mut device = DeviceBytes::default();
        let (mut short, mut unsettled) = (0u64, 0u64);
        for t in transfers {
            let (owed, paid) = terms.get(&t.payer).copied().unwrap_or((0, 0));
            let bytes = if owed == 0 || paid == owed {
                t.bytes // free (a zero price) or paid in full
            } else {
                if cut.contains(&t.payer) {
                    unsettled += 1;
                } else {
                    short += 1;
                }
                // paid < owed, so the cut is below the chunk's bytes and fits in u64.
                u64::try_from(u128::from(t.bytes) * paid / owed).unwrap_or(0)
            };
            device.bytes = device.bytes.saturating_add(bytes);
        }
        for (reason, n) in [
            (Reason::PayerShort, short),
            (Reason::PayerNotSettled, unsettled),
        ] {
            if n > 0 {
                device.cut.insert(reason, n);
            }
        }
        settled.devices.insert(id, device);
    }
    // paid ≤ owed, and paid ≤ a u64 balance; owed of one payer's bytes (at most 2^64 chunks
    // of 1 GiB) fits in u64 at any sane price, saturating otherwise.
    let credits = |c: u128| Credits(u64::try_from(c).unwrap_or(u64::MAX));
    settled.settlements = paying
        .into_iter()
        .map(|(payer, paid)| Settlement {
            payer,
            credits: credits(paid),
            signed: credits(terms.get(&payer).map_or(paid, |t| t.0)),
        })
        .collect();
    settled
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectivity::kind::kept_transfer;
    use crate::context::DeviceInfo;
    use cairn_types::{DeviceId, SecretKey};

    fn address(n: u8) -> Address {
        Address(SecretKey::from_seed([n; 32]).public_key())
    }

    fn device(transfers: &[(u8, u64)]) -> DeviceResult {
        DeviceResult {
            info: DeviceInfo {
                owner: address(200),
                subnetwork: Subnetwork::Connectivity,
                retired: false,
                maker_revoked: false,
                location: None,
            },
            windows: 1,
            reports: transfers.len() as u64,
            kept: transfers
                .iter()
                .map(|(payer, bytes)| {
                    let chunk = CountedTransfer {
                        payer: address(*payer),
                        bytes: *bytes,
                    };
                    kept_transfer([0; 16], &chunk)
                })
                .collect(),
            rejected: BTreeMap::new(),
        }
    }

    fn tally(devices: Vec<DeviceResult>) -> TallyResult {
        TallyResult {
            devices: devices
                .into_iter()
                .enumerate()
                .map(|(i, d)| (DeviceId(address(100 + i as u8).0), d))
                .collect(),
            unattributed: BTreeMap::new(),
            copies: 0,
        }
    }

    /// Each device's bytes after the cut, in device order.
    fn bytes_of(settled: &Settled) -> Vec<u64> {
        settled.devices.values().map(|d| d.bytes).collect()
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_funded_payer_pays_for_every_byte_rounded_up() {
        // Payer 1 signed 10 MiB + 1 byte over two devices: 500 DC and a bit, rounded up to 501.
        let t = tally(vec![device(&[(1, 4 * MIB)]), device(&[(1, 6 * MIB + 1)])]);
        let balances = BTreeMap::from([(address(1), Credits(10_000))]);
        let settled = settle(&t, &balances, &TransferPolicy::default());
        assert_eq!(
            settled.settlements,
            vec![Settlement {
                payer: address(1),
                credits: Credits(501),
                signed: Credits(501),
            }]
        );
        assert_eq!(bytes_of(&settled), vec![4 * MIB, 6 * MIB + 1]);
        assert!(settled.devices.values().all(|d| d.cut.is_empty()));
    }

    #[test]
    fn a_payer_short_of_credits_pays_what_it_holds_and_its_bytes_count_pro_rata() {
        // Payer 1 owes 500 DC for 10 MiB but holds 125: a quarter of each chunk counts.
        // Payer 2 holds nothing (a device naming its owner's empty key): nothing counts.
        // Payer 3 is paid in full.
        let t = tally(vec![
            device(&[(1, 4 * MIB), (3, MIB)]),
            device(&[(1, 6 * MIB), (2, 50 * MIB)]),
        ]);
        let balances = BTreeMap::from([(address(1), Credits(125)), (address(3), Credits(1_000))]);
        let settled = settle(&t, &balances, &TransferPolicy::default());
        let list = &settled.settlements;
        let owed: BTreeMap<Address, (Credits, Credits)> = list
            .iter()
            .map(|s| (s.payer, (s.credits, s.signed)))
            .collect();
        assert_eq!(
            owed,
            BTreeMap::from([
                (address(1), (Credits(125), Credits(500))),
                (address(3), (Credits(50), Credits(50)))
            ])
        );
        assert!(list.windows(2).all(|w| w[0].payer < w[1].payer));
        // A quarter of 4 MiB and all of payer 3's MiB; a quarter of 6 MiB and none of 50.
        let mut got = bytes_of(&settled);
        got.sort();
        assert_eq!(got, vec![6 * MIB / 4, 2 * MIB]);
        let short: u64 = settled
            .devices
            .values()
            .map(|d| d.cut.get(&Reason::PayerShort).copied().unwrap_or(0))
            .sum();
        assert_eq!(short, 3);
    }

    #[test]
    fn other_sub_networks_and_retired_devices_are_not_settled() {
        let mut storage = device(&[(1, MIB)]);
        storage.info.subnetwork = Subnetwork::Storage;
        let mut retired = device(&[(1, MIB)]);
        retired.info.retired = true;
        let t = tally(vec![storage, retired]);
        assert!(payers(&t).is_empty());
        let balances = BTreeMap::from([(address(1), Credits(1_000))]);
        let settled = settle(&t, &balances, &TransferPolicy::default());
        assert!(settled.settlements.is_empty());
        assert!(settled.devices.is_empty());
    }
}
