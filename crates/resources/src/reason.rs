//! Why a report or a device was not paid: stable codes that owners see.
//!
//! The codes are API (`cairn rewards show` prints them, the oracle serves them, the explorer
//! will map them): [`Reason::code`] writes each one out, and a test pins them, so renaming a
//! variant does not change a code.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why one copy of a report earned nothing.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum Reason {
    /// The logged bytes are not a report.
    Malformed = 0,
    /// The device is not registered at the epoch's last block.
    UnknownDevice = 1,
    /// The device was retired.
    DeviceRetired = 2,
    /// The device key's signature over the session key does not verify.
    BadCertificate = 3,
    /// The session key had expired at the report's time (or was valid too long).
    SessionExpired = 4,
    /// The session key's signature over the report does not verify.
    BadSignature = 5,
    /// The device's time and the oracle's receive time differ by more than the allowed skew.
    Stale = 6,
    /// The report's time is outside the epoch (it is paid, or not, in its own epoch).
    OutsideEpoch = 7,
    /// Another report of the same device, kind and window was counted instead (received
    /// earlier).
    DuplicateWindow = 8,
    /// The device has no asserted location, which coverage needs.
    NoLocation = 9,
    /// The beacon's entropy is not a finalized block's digest from just before the beacon.
    BadEntropy = 10,
    /// The beacon's data is not the one derived from its entropy and device.
    BadBeaconData = 11,
    /// The beacon was sent outside the device's slot of the window.
    OffSlot = 12,
    /// The frequency is outside the region's band, or a witness heard another frequency.
    WrongFrequency = 13,
    /// The beacon claims more transmit power than its region allows.
    TxPowerTooHigh = 14,
    /// A witness of a beacon that was not counted in the epoch.
    UnknownBeacon = 15,
    /// A device witnessed its own beacon.
    SelfWitness = 16,
    /// The device already witnessed this beacon.
    DuplicateWitness = 17,
    /// The witness's time is too far from the beacon's.
    LateWitness = 18,
    /// The witness is in another radio region than the beaconer.
    WrongRegion = 19,
    /// The witness is nearer the beaconer than the minimum distance.
    TooClose = 20,
    /// The witness is farther from the beaconer than the maximum distance.
    TooFar = 21,
    /// The witness reports a signal stronger than free-space path loss allows.
    ImpossibleSignal = 22,
    /// The beacon already had its most witnesses counted (the first ones).
    WitnessLimit = 23,
    /// The device is on the denylist committed with the epoch.
    DenylistedDevice = 24,
    /// The beaconer-witness pair is on the denylist committed with the epoch.
    DenylistedEdge = 25,
    /// The device did not both beacon and witness validly in the epoch.
    NoReciprocity = 26,
    /// The device's witnesses connect only a group cut off from the rest of the network.
    WitnessRing = 27,
    /// The device claimed more witnesses in one window than the tally keeps.
    TooManyWitnesses = 28,
    /// The coverage device's asserted location is coarser than resolution 12.
    CoarseLocation = 29,
    /// A beacon or witness from a device that is not a coverage device.
    WrongKind = 30,
    /// A reading of a sensor the network does not know.
    UnknownSensor = 31,
    /// A reading outside the sensor's plausible range.
    OutOfRange = 32,
    /// A reading further from the previous one than the sensor can change in the time between.
    ImplausibleJump = 33,
    /// A reading in a long run of equal values: a frozen sensor.
    FrozenSensor = 34,
    /// An hour of the epoch with too few windows holding a valid reading.
    IncompleteHour = 35,
    /// A station's hour of a sensor far from what its neighbouring stations read.
    DisagreesWithNeighbours = 36,
    /// A station that moved recently: it earns nothing for a period.
    Relocated = 37,
    /// More stations in the cell than are rewarded; better or older ones were paid.
    CellFull = 38,
    /// More sensors in one window than the tally keeps.
    TooManySensors = 39,
    /// A wind or rain hour with no good hour of a compared sensor beside it.
    Uncorroborated = 40,
    /// A transfer receipt that names another device.
    TransferNotYours = 41,
    /// A transfer receipt without the payer's valid signature over its bytes.
    TransferUnsigned = 42,
    /// More transfer chunks in one window than the tally keeps.
    TooManyTransfers = 43,
    /// A transfer chunk of more bytes than one receipt may carry.
    TransferTooLarge = 44,
    /// A transfer receipt of no bytes.
    EmptyTransfer = 45,
    /// The payer's delegated credits did not cover the chunk: counted in part or not at all.
    PayerShort = 46,
    /// More payers paid than one root settles; this one, paying among the least, was left out.
    PayerNotSettled = 47,
    /// The device's maker was revoked by governance in an earlier epoch: its attestation no
    /// longer vouches for the device.
    MakerRevoked = 48,
    /// The beaconer never validly witnessed a beacon of this witness in the epoch: radio links
    /// go both ways, a made-up witness of a device that cannot hear you does not.
    OneWayWitness = 49,
}

impl Reason {
    /// Every reason, in code order.
    pub const ALL: [Reason; 50] = [
        Reason::Malformed,
        Reason::UnknownDevice,
        Reason::DeviceRetired,
        Reason::BadCertificate,
        Reason::SessionExpired,
        Reason::BadSignature,
        Reason::Stale,
        Reason::OutsideEpoch,
        Reason::DuplicateWindow,
        Reason::NoLocation,
        Reason::BadEntropy,
        Reason::BadBeaconData,
        Reason::OffSlot,
        Reason::WrongFrequency,
        Reason::TxPowerTooHigh,
        Reason::UnknownBeacon,
        Reason::SelfWitness,
        Reason::DuplicateWitness,
        Reason::LateWitness,
        Reason::WrongRegion,
        Reason::TooClose,
        Reason::TooFar,
        Reason::ImpossibleSignal,
        Reason::WitnessLimit,
        Reason::DenylistedDevice,
        Reason::DenylistedEdge,
        Reason::NoReciprocity,
        Reason::WitnessRing,
        Reason::TooManyWitnesses,
        Reason::CoarseLocation,
        Reason::WrongKind,
        Reason::UnknownSensor,
        Reason::OutOfRange,
        Reason::ImplausibleJump,
        Reason::FrozenSensor,
        Reason::IncompleteHour,
        Reason::DisagreesWithNeighbours,
        Reason::Relocated,
        Reason::CellFull,
        Reason::TooManySensors,
        Reason::Uncorroborated,
        Reason::TransferNotYours,
        Reason::TransferUnsigned,
        Reason::TooManyTransfers,
        Reason::TransferTooLarge,
        Reason::EmptyTransfer,
        Reason::PayerShort,
        Reason::PayerNotSettled,
        Reason::MakerRevoked,
        Reason::OneWayWitness,
    ];

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::UnknownDevice => "unknown_device",
            Reason::DeviceRetired => "device_retired",
            Reason::BadCertificate => "bad_certificate",
            Reason::SessionExpired => "session_expired",
            Reason::BadSignature => "bad_signature",
            Reason::Stale => "stale",
            Reason::OutsideEpoch => "outside_epoch",
            Reason::DuplicateWindow => "duplicate_window",
            Reason::NoLocation => "no_location",
            Reason::BadEntropy => "bad_entropy",
            Reason::BadBeaconData => "bad_beacon_data",
            Reason::OffSlot => "off_slot",
            Reason::WrongFrequency => "wrong_frequency",
            Reason::TxPowerTooHigh => "tx_power_too_high",
            Reason::UnknownBeacon => "unknown_beacon",
            Reason::SelfWitness => "self_witness",
            Reason::DuplicateWitness => "duplicate_witness",
            Reason::LateWitness => "late_witness",
            Reason::WrongRegion => "wrong_region",
            Reason::TooClose => "too_close",
            Reason::TooFar => "too_far",
            Reason::ImpossibleSignal => "impossible_signal",
            Reason::WitnessLimit => "witness_limit",
            Reason::DenylistedDevice => "denylisted_device",
            Reason::DenylistedEdge => "denylisted_edge",
            Reason::NoReciprocity => "no_reciprocity",
            Reason::WitnessRing => "witness_ring",
            Reason::TooManyWitnesses => "too_many_witnesses",
            Reason::CoarseLocation => "coarse_location",
            Reason::WrongKind => "wrong_kind",
            Reason::UnknownSensor => "unknown_sensor",
            Reason::OutOfRange => "out_of_range",
            Reason::ImplausibleJump => "implausible_jump",
            Reason::FrozenSensor => "frozen_sensor",
            Reason::IncompleteHour => "incomplete_hour",
            Reason::DisagreesWithNeighbours => "disagrees_with_neighbours",
            Reason::Relocated => "relocated",
            Reason::CellFull => "cell_full",
            Reason::TooManySensors => "too_many_sensors",
            Reason::Uncorroborated => "uncorroborated",
            Reason::TransferNotYours => "transfer_not_yours",
            Reason::TransferUnsigned => "transfer_unsigned",
            Reason::TooManyTransfers => "too_many_transfers",
            Reason::TransferTooLarge => "transfer_too_large",
            Reason::EmptyTransfer => "empty_transfer",
            Reason::PayerShort => "payer_short",
            Reason::PayerNotSettled => "payer_not_settled",
            Reason::MakerRevoked => "maker_revoked",
            Reason::OneWayWitness => "one_way_witness",
        }
    }

    /// What the owner can do about it, in one sentence.
    pub fn explain(self) -> &'static str {
        match self {
            Reason::Malformed => "the oracle logged bytes that are not a report",
            Reason::UnknownDevice => "the device was not registered when the epoch ended",
            Reason::DeviceRetired => "the device is retired",
            Reason::BadCertificate => "the session key was not signed by the device key",
            Reason::SessionExpired => "the agent used an expired session key; restart it",
            Reason::BadSignature => "the report was not signed by its session key",
            Reason::Stale => "the device clock was off or the report arrived too late",
            Reason::OutsideEpoch => "the report belongs to another epoch",
            Reason::DuplicateWindow => "another report of the same window was counted",
            Reason::NoLocation => "the device has no asserted location; assert one",
            Reason::BadEntropy => "the beacon used entropy that is unknown or too old; check the agent's clock and oracles",
            Reason::BadBeaconData => "the beacon's data was not derived from its entropy; update the agent",
            Reason::OffSlot => "the beacon was sent outside the device's slot; check the agent's clock",
            Reason::WrongFrequency => "the frequency is outside the region's band or is not the beacon's",
            Reason::TxPowerTooHigh => "the beacon claims more power than the region allows; fix the agent's radio settings",
            Reason::UnknownBeacon => "the witnessed beacon was not counted in the epoch",
            Reason::SelfWitness => "a device cannot witness its own beacon",
            Reason::DuplicateWitness => "the device witnessed this beacon more than once",
            Reason::LateWitness => "the witness came too long before or after the beacon; check the agent's clock",
            Reason::WrongRegion => "the witness is in another radio region than the beaconer",
            Reason::TooClose => "the devices are too close together for a witness to prove coverage",
            Reason::TooFar => "the devices are too far apart for a witness to be believable; check the asserted location",
            Reason::ImpossibleSignal => "the reported signal is stronger than physics allows at that distance; check the asserted location and antenna",
            Reason::WitnessLimit => "the beacon already had the most witnesses that count",
            Reason::DenylistedDevice => "the device is on the epoch's denylist; the entry says why",
            Reason::DenylistedEdge => "this pair of devices is on the epoch's denylist; the entry says why",
            Reason::NoReciprocity => "the device needs a valid beacon and a valid witness in the epoch",
            Reason::WitnessRing => "the device only witnesses, and is witnessed by, a group cut off from the network",
            Reason::TooManyWitnesses => "the device claimed to hear more beacons in a window than any device can",
            Reason::CoarseLocation => "the asserted location is coarser than resolution 12; assert the device's cell",
            Reason::WrongKind => "only coverage devices beacon and witness",
            Reason::UnknownSensor => "the network does not know this sensor's name; check the agent's sensor names",
            Reason::OutOfRange => "the reading is outside what the sensor can plausibly read; check the sensor and its units",
            Reason::ImplausibleJump => "the reading changed faster than the weather can; check the sensor's wiring and placement",
            Reason::FrozenSensor => "the sensor read the same value too many times in a row; it may be stuck",
            Reason::IncompleteHour => "too few windows of an hour held a valid reading; check the station's power and connection",
            Reason::DisagreesWithNeighbours => "the sensor read far from the stations around it; check its siting and calibration",
            Reason::Relocated => "the station's location changed recently; it earns again once the quarantine has passed",
            Reason::CellFull => "the cell already has as many rewarded stations as it may; better or older stations were paid",
            Reason::TooManySensors => "the device sent readings of more sensors in one window than are counted",
            Reason::TransferNotYours => "the transfer receipt names another device",
            Reason::TransferUnsigned => "the payer did not sign this receipt as it is (made by the device alone, or its bytes changed after the payer signed): nothing is paid for it",
            Reason::TooManyTransfers => "the device reported more transfer chunks in one window than are counted",
            Reason::EmptyTransfer => "the receipt carries no bytes",
            Reason::PayerNotSettled => {
                "more payers paid this epoch than one root settles (2,048); this one, among those paying the least, was left out and its bytes did not count"
            }
            Reason::PayerShort => {
                "the payer's delegated credits did not cover the bytes (counted in part or not at all)"
            }
            Reason::TransferTooLarge => "the receipt claims more bytes than one chunk may carry (1 GiB)",
            Reason::Uncorroborated => "a wind or rain hour counts only beside a good hour of a sensor checked against neighbours (temperature, humidity, pressure or pm2_5)",
            Reason::MakerRevoked => "governance revoked the device's maker: its attestation no longer vouches for the hardware",
            Reason::OneWayWitness => "the beaconer never heard a beacon of this witness in the epoch: radio links go both ways, so a witness counts only between devices that heard each other",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_pinned() {
        let codes: Vec<&str> = Reason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(
            codes,
            [
                "malformed",
                "unknown_device",
                "device_retired",
                "bad_certificate",
                "session_expired",
                "bad_signature",
                "stale",
                "outside_epoch",
                "duplicate_window",
                "no_location",
                "bad_entropy",
                "bad_beacon_data",
                "off_slot",
                "wrong_frequency",
                "tx_power_too_high",
                "unknown_beacon",
                "self_witness",
                "duplicate_witness",
                "late_witness",
                "wrong_region",
                "too_close",
                "too_far",
                "impossible_signal",
                "witness_limit",
                "denylisted_device",
                "denylisted_edge",
                "no_reciprocity",
                "witness_ring",
                "too_many_witnesses",
                "coarse_location",
                "wrong_kind",
                "unknown_sensor",
                "out_of_range",
                "implausible_jump",
                "frozen_sensor",
                "incomplete_hour",
                "disagrees_with_neighbours",
                "relocated",
                "cell_full",
                "too_many_sensors",
                "uncorroborated",
                "transfer_not_yours",
                "transfer_unsigned",
                "too_many_transfers",
                "transfer_too_large",
                "empty_transfer",
                "payer_short",
                "payer_not_settled",
                "maker_revoked",
                "one_way_witness",
            ]
        );
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert!(!r.explain().is_empty());
        }
    }
}
