//! The coverage denylist: devices, and beaconer-witness pairs, that earn nothing from coverage,
//! each with its reason, committed with the epoch by 2/3 of oracle stake.
//!
//! Each oracle's operator keeps a denylist file (`denylist` in `oracle.toml`); the oracle puts
//! its entries into every manifest it commits, so the chain commits them by hash with the
//! epoch. An entry applies to an epoch when the oracles whose counted manifests list it hold at
//! least 2/3 of the oracle stake recorded for the epoch; its reason is the one given by the
//! listing oracle of lowest address. Everyone who replays the epoch reads the same manifests
//! and stakes, so gets the same denylist.
//!
//! ```toml
//! [[device]]
//! id = "<device id, hex>"
//! reason = "location spoofed: its witnesses are 900 km from where it says"
//!
//! [[pair]]
//! beaconer = "<device id>"
//! witness = "<device id>"
//! reason = "witnesses only each other's beacons since 2026-11-02"
//! ```

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_resources::coverage::types::Denylist;
use cairn_types::codec::BoundedString;
use cairn_types::{Address, Amount, DeviceId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Most entries in one oracle's denylist.
pub const MAX_DENY_ENTRIES: usize = 10_000;
/// Longest reason, in bytes.
pub const MAX_REASON_BYTES: usize = 200;
/// Largest encoded entry: a device, an optional witness, a reason.
pub const MAX_ENTRY_BYTES: usize = 32 + 33 + 4 + MAX_REASON_BYTES;

/// One entry: a device (`witness` none) or a beaconer-witness pair, and why.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct DenyEntry {
    /// The device, or the beaconer of the pair.
    pub device: DeviceId,
    /// The witness of the pair.
    pub witness: Option<DeviceId>,
    /// Why, for the owner to read.
    pub reason: BoundedString<MAX_REASON_BYTES>,
}

/// The denylist file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DenylistFile {
    #[serde(default)]
    device: Vec<DeviceLine>,
    #[serde(default)]
    pair: Vec<PairLine>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceLine {
    id: DeviceId,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairLine {
    beaconer: DeviceId,
    witness: DeviceId,
    reason: String,
}

/// Reads a denylist file into entries, sorted and without repeats; a clear error otherwise.
pub fn load(path: &Path) -> Result<Vec<DenyEntry>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a denylist's TOML text.
pub fn parse(text: &str) -> Result<Vec<DenyEntry>, String> {
    let file: DenylistFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let reason = |r: String| {
        if r.chars().any(char::is_control) {
            return Err(format!("reason {r:?} holds a control character"));
        }
        BoundedString::new(r)
            .map_err(|_| format!("a reason is longer than {MAX_REASON_BYTES} bytes"))
    };
    let mut entries = BTreeMap::new();
    for d in file.device {
        entries.insert((d.id, None), reason(d.reason)?);
    }
    for p in file.pair {
        if p.beaconer == p.witness {
            return Err(format!("pair {}: a device with itself", p.beaconer));
        }
        entries.insert((p.beaconer, Some(p.witness)), reason(p.reason)?);
    }
    if entries.len() > MAX_DENY_ENTRIES {
        return Err(format!("more than {MAX_DENY_ENTRIES} entries"));
    }
    Ok(entries
        .into_iter()
        .map(|((device, witness), reason)| DenyEntry {
            device,
            witness,
            reason,
        })
        .collect())
}

/// The epoch's denylist: the entries listed by oracles whose `weights` (what each oracle's
/// signature weighs for the epoch, as the chain weighs attestations) add up to at least 2/3 of
/// `total` (the oracle stake recorded for the epoch). Each entry's reason is the text with the
/// most weight behind it (ties: the smallest text), control characters removed.
pub fn committed(
    lists: &[(Address, &[DenyEntry])],
    weights: &BTreeMap<Address, Amount>,
    total: Amount,
) -> Denylist {
    type Key = (DeviceId, Option<DeviceId>);
    // Each entry's listers' weight, in all and per reason text.
    let mut support: BTreeMap<Key, (u128, BTreeMap<String, u128>)> = BTreeMap::new();
    for (oracle, entries) in lists {
        let weight = weights.get(oracle).map_or(0, |s| s.0);
        let mut seen = std::collections::BTreeSet::new();
        for e in entries.iter() {
            if !seen.insert((e.device, e.witness)) {
                continue; // an oracle counts once per entry
            }
            let slot = support.entry((e.device, e.witness)).or_default();
            slot.0 = slot.0.saturating_add(weight);
            let text: String = e
                .reason
                .as_str()
                .chars()
                .filter(|c| !c.is_control())
                .collect();
            let by_text = slot.1.entry(text).or_default();
            *by_text = by_text.saturating_add(weight);
        }
    }
    let mut out = Denylist::default();
    for ((device, witness), (weight, reasons)) in support {
        let two_thirds = !total.is_zero() && weight.saturating_mul(3) >= total.0.saturating_mul(2);
        if !two_thirds {
            continue;
        }
        // The most weight; among equals, the smallest text (the map iterates texts in order).
        let mut best: Option<(&String, u128)> = None;
        for (text, w) in &reasons {
            if best.is_none_or(|(_, b)| *w > b) {
                best = Some((text, *w));
            }
        }
        let reason = best.map(|(t, _)| t.clone()).unwrap_or_default();
        match witness {
            None => {
                out.devices.insert(device, reason);
            }
            Some(witness) => {
                out.edges.insert((device, witness), reason);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::SecretKey;

    fn device(n: u8) -> DeviceId {
        DeviceId(SecretKey::from_seed([n; 32]).public_key())
    }

    fn oracle(n: u8) -> Address {
        Address(SecretKey::from_seed([100 + n; 32]).public_key())
    }

    fn entry(d: u8, w: Option<u8>, reason: &str) -> DenyEntry {
        DenyEntry {
            device: device(d),
            witness: w.map(device),
            reason: BoundedString::new(reason.to_string()).unwrap(),
        }
    }

    #[test]
    fn a_file_parses_and_mistakes_are_named() {
        let text = format!(
            "[[device]]\nid = \"{}\"\nreason = \"spoofed\"\n\n[[pair]]\nbeaconer = \"{}\"\nwitness = \"{}\"\nreason = \"ring\"\n",
            device(1),
            device(2),
            device(3)
        );
        let entries = parse(&text).unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries.contains(&entry(1, None, "spoofed")));
        assert!(entries.contains(&entry(2, Some(3), "ring")));
        assert!(parse("[[device]]\nid = \"zz\"\nreason = \"x\"").is_err());
        assert!(parse("[[devices]]").unwrap_err().contains("unknown field"));
        let long = format!(
            "[[device]]\nid = \"{}\"\nreason = \"{}\"",
            device(1),
            "x".repeat(201)
        );
        assert!(parse(&long).unwrap_err().contains("longer than 200"));
        let escape = format!(
            "[[device]]\nid = \"{}\"\nreason = \"a\\u001b[31m\"",
            device(1)
        );
        assert!(parse(&escape).unwrap_err().contains("control character"));
        let same = format!(
            "[[pair]]\nbeaconer = \"{0}\"\nwitness = \"{0}\"\nreason = \"x\"",
            device(1)
        );
        assert!(parse(&same).unwrap_err().contains("itself"));
        assert_eq!(parse("").unwrap(), []);
    }

    #[test]
    fn an_entry_applies_only_with_two_thirds_of_oracle_stake() {
        let stakes: BTreeMap<Address, Amount> = [
            (oracle(0), Amount(40)),
            (oracle(1), Amount(20)),
            (oracle(2), Amount(40)),
        ]
        .into_iter()
        .collect();
        let total = Amount(100);
        let a = [entry(1, None, "spoofed"), entry(2, Some(3), "ring")];
        let b = [
            entry(1, None, "spoofed\u{1b}[31m (b)"),
            entry(2, Some(3), "ring"),
            entry(4, None, "b alone"),
        ];
        let c = [entry(2, Some(3), "ring"), entry(1, None, "spoofed")];
        // 40 + 20 of 100 is not 2/3; 40 + 20 + 40 is.
        let list = committed(&[(oracle(0), &a), (oracle(1), &b)], &stakes, total);
        assert!(list.devices.is_empty() && list.edges.is_empty());
        let all = [
            (oracle(0), &a[..]),
            (oracle(1), &b[..]),
            (oracle(2), &c[..]),
        ];
        let list = committed(&all, &stakes, total);
        assert_eq!(list.devices.len(), 1);
        assert_eq!(list.edges[&(device(2), device(3))], "ring");
        // The reason with the most stake behind it (80 against 20), whatever the order.
        assert_eq!(list.devices[&device(1)], "spoofed");
        let mut reversed = all;
        reversed.reverse();
        assert_eq!(committed(&reversed, &stakes, total), list);
        // Control characters never reach an owner's terminal; equal weight: the smaller text.
        let even: BTreeMap<Address, Amount> = (0..3).map(|i| (oracle(i), Amount(1))).collect();
        let list = committed(&[(oracle(1), &b), (oracle(2), &c)], &even, Amount(3));
        assert_eq!(list.devices[&device(1)], "spoofed");
        let list = committed(&[(oracle(1), &b), (oracle(0), &b)], &even, Amount(3));
        assert_eq!(list.devices[&device(1)], "spoofed[31m (b)");
        // An oracle listing an entry twice counts once; an oracle without weight counts nothing.
        let twice = [entry(4, None, "x"), entry(4, None, "x")];
        let lists = [
            (oracle(1), &twice[..]),
            (oracle(2), &twice[..]),
            (oracle(9), &twice[..]),
        ];
        assert!(committed(&lists, &stakes, total).devices.is_empty());
        // Exactly 2/3 is enough; weights below the recorded stake (stake withdrawn) count less.
        let lists = [(oracle(0), &twice[..]), (oracle(1), &twice[..])];
        assert_eq!(committed(&lists, &even, Amount(3)).devices[&device(4)], "x");
        let mut withdrawn = even.clone();
        withdrawn.insert(oracle(1), Amount(0));
        assert!(committed(&lists, &withdrawn, Amount(3)).devices.is_empty());
        assert!(committed(&lists, &BTreeMap::new(), Amount::ZERO)
            .devices
            .is_empty());
    }
}
