//! Cairn's proof-of-resource plug-ins: what a report proves and how an epoch's pool is split.
//!
//! Everything here is a pure function of its inputs (reports, the ledger state at the epoch's
//! last block, the epoch's bounds): no disk, no network, no clock. The oracle feeds it the
//! reports of the counted manifests and writes out what it returns; an auditor's replay feeds
//! it the same and must get the same bytes.
//!
//! - [`context`]: what a verifier checks against: the epoch's bounds, its rules, the device
//!   registry.
//! - [`subnet`]: what a sub-network decides, behind two traits: each kind of report's rule
//!   and the judgement and split of an epoch.
//! - [`rule`]: how the tally counts one kind of report, as its sub-network rules.
//! - [`counted`]: what the tally hands on: each device's counted reports and refusals.
//! - [`kinds`]: the registered sub-networks, in slot order (the one file that names them).
//! - [`uptime`]: heartbeats, and the uptime rule that pays a sub-network with no verifier yet.
//! - [`connectivity`]: paid data transfer: the pool shared by the bytes carried, in buckets,
//!   and what each payer owes, capped by its delegated credits.
//! - [`coverage`]: proof of coverage: beacons, witnesses, density scaling, rings, the denylist.
//! - [`reason`]: why a report or a device was not paid, as stable codes shown to owners.
//! - [`sensing`]: sensing by quality of data: ranges, jumps, frozen sensors, complete hours.
//! - [`sorted`]: a map that is one sorted vector while small (what the tally keeps per device).
//! - [`tally`]: the epoch's reports, checked and counted once per (device, kind, window), in
//!   memory bounded by devices, not reports.
//! - [`verify`]: report signatures checked in batches on several threads, each with the answer
//!   checking it alone gives.
//! - [`split`]: a pool split pro rata in integers, rounding down, with the residue returned.
//! - [`payout`]: points to rewards per device and per owner, for each sub-network's pool.
//!
//! ```
//! use cairn_resources::split::split_pro_rata;
//! use cairn_types::Amount;
//! let (shares, residue) = split_pro_rata(Amount(100), &[("a", 1), ("b", 2)]);
//! assert_eq!(shares, vec![("a", Amount(33)), ("b", Amount(66))]);
//! assert_eq!(residue, Amount(1));
//! ```

pub mod connectivity;
pub mod context;
pub mod counted;
pub mod coverage;
pub mod kinds;
pub mod payout;
pub mod reason;
pub mod rule;
pub mod sensing;
pub mod sorted;
pub mod split;
pub mod subnet;
pub mod tally;
pub mod uptime;
pub mod verify;
