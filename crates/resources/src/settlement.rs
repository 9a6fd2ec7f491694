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

use crate::connectivity::TransferPolicy;
use crate::reason::Reason;
use crate::tally::TallyResult;
use cairn_types::tx::{Settlement, MAX_SETTLEMENTS};
use cairn_types::{Address, Credits, Subnetwork};
use std::collections::{BTreeMap, BTreeSet};

const MIB: u128 = 1 << 20;

/// Every payer named by a counted transfer of a live connectivity device (whose delegated
/// credits settlement reads).
pub fn payers(tally: &TallyResult) -> BTreeSet<Address> {
    live_connectivity(tally)
        .flat_map(|d| d.transfers.iter().map(|t| t.payer))
        .collect()
}

fn live_connectivity(tally: &TallyResult) -> impl Iterator<Item = &crate::tally::DeviceResult> {
    tally
        .devices
        .values()
        .filter(|d| d.info.subnetwork == Subnetwork::Connectivity && !d.info.retired)
}

/// Prices each payer's signed bytes, caps them at its `balances`, cuts every device's counted
/// bytes to what was paid (counting `payer_short` for each chunk cut), and returns what each
/// payer owes, by address. When more than [`MAX_SETTLEMENTS`] payers pay, those paying the
/// least (then the highest addresses) are left out and their bytes do not count.
pub fn settle(
    tally: &mut TallyResult,
    balances: &BTreeMap<Address, Credits>,
    policy: &TransferPolicy,
) -> Vec<Settlement> {
    let mut signed: BTreeMap<Address, u128> = BTreeMap::new();
    for d in live_connectivity(tally) {
        for t in &d.transfers {
            *signed.entry(t.payer).or_default() += u128::from(t.bytes);
        }
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
    for d in tally
        .devices
        .values_mut()
        .filter(|d| d.info.subnetwork == Subnetwork::Connectivity && !d.info.retired)
    {
        let (mut short, mut unsettled) = (0u64, 0u64);
        for t in &mut d.transfers {
            let (owed, paid) = terms.get(&t.payer).copied().unwrap_or((0, 0));
            if owed == 0 || paid == owed {
                continue; // free (a zero price) or paid in full
            }
            // paid < owed, so the cut is below the chunk's bytes and fits in u64.
            t.bytes = u64::try_from(u128::from(t.bytes) * paid / owed).unwrap_or(0);
            if cut.contains(&t.payer) {
                unsettled += 1;
            } else {
                short += 1;
            }
        }
        for (reason, n) in [
            (Reason::PayerShort, short),
            (Reason::PayerNotSettled, unsettled),
        ] {
            if n > 0 {
                *d.rejected.entry(reason).or_default() += n;
            }
        }
    }
    // paid ≤ owed, and paid ≤ a u64 balance; owed of one payer's bytes (at most 2^64 chunks
    // of 1 GiB) fits in u64 at any sane price, saturating otherwise.
    let credits = |c: u128| Credits(u64::try_from(c).unwrap_or(u64::MAX));
    paying
        .into_iter()
        .map(|(payer, paid)| Settlement {
            payer,
            credits: credits(paid),
            signed: credits(terms.get(&payer).map_or(paid, |t| t.0)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::DeviceInfo;
    use crate::tally::{CountedTransfer, DeviceResult};
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
            coverage: Vec::new(),
            readings: Vec::new(),
            transfers: transfers
                .iter()
                .map(|(payer, bytes)| CountedTransfer {
                    payer: address(*payer),
                    bytes: *bytes,
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

    fn bytes_of(t: &TallyResult) -> Vec<Vec<u64>> {
        t.devices
            .values()
            .map(|d| d.transfers.iter().map(|t| t.bytes).collect())
            .collect()
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_funded_payer_pays_for_every_byte_rounded_up() {
        // Payer 1 signed 10 MiB + 1 byte over two devices: 500 DC and a bit, rounded up to 501.
        let mut t = tally(vec![device(&[(1, 4 * MIB)]), device(&[(1, 6 * MIB + 1)])]);
        let balances = BTreeMap::from([(address(1), Credits(10_000))]);
        let list = settle(&mut t, &balances, &TransferPolicy::default());
        assert_eq!(
            list,
            vec![Settlement {
                payer: address(1),
                credits: Credits(501),
                signed: Credits(501),
            }]
        );
        assert_eq!(bytes_of(&t), vec![vec![4 * MIB], vec![6 * MIB + 1]]);
        assert!(t.devices.values().all(|d| d.rejected.is_empty()));
    }

    #[test]
    fn a_payer_short_of_credits_pays_what_it_holds_and_its_bytes_count_pro_rata() {
        // Payer 1 owes 500 DC for 10 MiB but holds 125: a quarter of each chunk counts.
        // Payer 2 holds nothing (a device naming its owner's empty key): nothing counts.
        // Payer 3 is paid in full.
        let mut t = tally(vec![
            device(&[(1, 4 * MIB), (3, MIB)]),
            device(&[(1, 6 * MIB), (2, 50 * MIB)]),
        ]);
        let balances = BTreeMap::from([(address(1), Credits(125)), (address(3), Credits(1_000))]);
        let list = settle(&mut t, &balances, &TransferPolicy::default());
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
        let mut got = bytes_of(&t);
        got.iter_mut().for_each(|v| v.sort());
        let mut want = vec![vec![MIB, MIB], vec![0, 6 * MIB / 4]];
        want.iter_mut().for_each(|v| v.sort());
        // Device order is by id; compare as sets of vectors.
        got.sort();
        want.sort();
        assert_eq!(got, want);
        let short: u64 = t
            .devices
            .values()
            .map(|d| d.rejected.get(&Reason::PayerShort).copied().unwrap_or(0))
            .sum();
        assert_eq!(short, 3);
    }

    #[test]
    fn other_sub_networks_and_retired_devices_are_not_settled() {
        let mut storage = device(&[(1, MIB)]);
        storage.info.subnetwork = Subnetwork::Storage;
        let mut retired = device(&[(1, MIB)]);
        retired.info.retired = true;
        let mut t = tally(vec![storage, retired]);
        assert!(payers(&t).is_empty());
        let balances = BTreeMap::from([(address(1), Credits(1_000))]);
        assert!(settle(&mut t, &balances, &TransferPolicy::default()).is_empty());
    }
}
