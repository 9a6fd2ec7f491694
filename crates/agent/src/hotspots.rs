//! Simulated hotspots: the simulated devices of a connectivity agent, carrying a payer's data.
//!
//! Once a window each hotspot carries `bytes_per_window` bytes for the payer, and the payer's
//! key (which the agent holds in a simulation; a real payer is a router or an app of its own)
//! signs a receipt for them: one chunk, session = the window, seq = 0, timed by the oracles'
//! clock. The hotspot reports it, signed by its session key: the report carries both
//! signatures, and the oracles settle the bytes from the payer's delegated credits.
//!
//! The last simulated hotspots may play cheaters' parts (`[connectivity.cheaters]`), in this
//! order:
//!
//! - `inflater`: reports the payer's receipt with its bytes raised fourfold after the payer
//!   signed (the oracles refuse it: `transfer_unsigned`);
//! - `device_signed`: signs a receipt in the payer's name with its own key (`transfer_unsigned`);
//! - `unfunded`: names its own key as payer and signs with it: a valid receipt from a payer that
//!   holds no credits, so settlement counts none of its bytes (`payer_short`).

use crate::config::{ConnectivitySection, HotspotCheatersSection};
use crate::signer::DeviceSigner;
use cairn_types::params::ChainId;
use cairn_types::report::ReportPayload;
use cairn_types::transfer::{SignedTransfer, TransferReceipt};
use cairn_types::Address;
use std::sync::Arc;

/// How much an inflater raises the bytes.
pub const INFLATION: u64 = 4;

/// The part a simulated hotspot plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HotspotRole {
    /// Reports the payer's receipts as signed.
    Honest,
    /// Raises the bytes after the payer signed.
    Inflater,
    /// Signs in the payer's name with its own key.
    DeviceSigned,
    /// Pays itself from a key with no credits.
    Unfunded,
}

impl HotspotRole {
    /// The part's name, as the status page shows it.
    pub fn name(self) -> &'static str {
        match self {
            HotspotRole::Honest => "honest",
            HotspotRole::Inflater => "inflater",
            HotspotRole::DeviceSigned => "device_signed",
            HotspotRole::Unfunded => "unfunded",
        }
    }
}

/// The parts of `simulated` hotspots: honest first, then the cheaters in the order of
/// [`HotspotCheatersSection`] (fewer if there are not enough hotspots).
pub fn hotspot_roles(simulated: usize, cheaters: &HotspotCheatersSection) -> Vec<HotspotRole> {
    crate::cheat::cast(
        simulated,
        HotspotRole::Honest,
        &[
            (HotspotRole::Inflater, cheaters.inflaters),
            (HotspotRole::DeviceSigned, cheaters.device_signed),
            (HotspotRole::Unfunded, cheaters.unfunded),
        ],
    )
}

/// An agent's simulated hotspots and the payer whose data they carry.
pub struct Hotspots {
    chain_id: ChainId,
    window_ms: u64,
    bytes: u64,
    /// Devices before this index are real (they carry no simulated data).
    first_simulated: usize,
    roles: Vec<HotspotRole>,
    payer: Option<Arc<dyn DeviceSigner>>,
}

impl Hotspots {
    /// The hotspots of `devices` devices, of which those from `first_simulated` on are
    /// simulated, carrying data for `payer` (none: only the unfunded cheaters report).
    pub fn new(
        config: &ConnectivitySection,
        chain_id: ChainId,
        devices: usize,
        first_simulated: usize,
        payer: Option<Arc<dyn DeviceSigner>>,
    ) -> Hotspots {
        let first_simulated = first_simulated.min(devices);
        let mut roles = vec![HotspotRole::Honest; first_simulated];
        roles.extend(hotspot_roles(devices - first_simulated, &config.cheaters));
        Hotspots {
            chain_id,
            window_ms: config.window_secs.saturating_mul(1_000).max(1),
            bytes: config.bytes_per_window,
            first_simulated,
            roles,
            payer,
        }
    }

    /// The part device `index` plays (real devices are honest).
    pub fn role(&self, index: usize) -> HotspotRole {
        self.roles
            .get(index)
            .copied()
            .unwrap_or(HotspotRole::Honest)
    }

    /// The payer's address, if the agent has a payer key.
    pub fn payer(&self) -> Option<Address> {
        self.payer.as_ref().map(|p| Address(p.device().0))
    }

    /// The uptime window of `time_ms`.
    pub fn window_of(&self, time_ms: u64) -> u64 {
        time_ms / self.window_ms
    }

    /// Each simulated hotspot's transfer of `window`, signed at `time_ms`: (device index,
    /// report payload). `devices` are the agent's device keys, by index.
    pub fn transfers(
        &self,
        window: u64,
        time_ms: u64,
        devices: &[Arc<dyn DeviceSigner>],
    ) -> Vec<(usize, ReportPayload)> {
        let mut out = Vec::new();
        for (index, device) in devices.iter().enumerate().skip(self.first_simulated) {
            let role = self.role(index);
            let payer_address = match (role, self.payer()) {
                (HotspotRole::Unfunded, _) => Address(device.device().0),
                (_, Some(payer)) => payer,
                (_, None) => continue, // no payer: nothing carried
            };
            let receipt = TransferReceipt {
                payer: payer_address,
                device: device.device(),
                session: window,
                seq: 0,
                bytes: self.bytes,
                time_ms,
            };
            let digest = receipt.digest(&self.chain_id);
            let transfer = match (role, &self.payer) {
                (HotspotRole::Honest, Some(payer)) => SignedTransfer {
                    payer_signature: payer.sign(&digest),
                    receipt,
                },
                (HotspotRole::Inflater, Some(payer)) => SignedTransfer {
                    payer_signature: payer.sign(&digest),
                    receipt: TransferReceipt {
                        bytes: self.bytes.saturating_mul(INFLATION),
                        ..receipt
                    },
                },
                _ => SignedTransfer {
                    payer_signature: device.sign(&digest),
                    receipt,
                },
            };
            out.push((index, ReportPayload::Transfer { transfer }));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::FileSigner;
    use cairn_types::SecretKey;

    fn signer(label: &str) -> Arc<dyn DeviceSigner> {
        Arc::new(FileSigner::from_key(SecretKey::from_label(label)))
    }

    #[test]
    fn honest_receipts_verify_and_each_cheater_fails_for_its_own_reason() {
        let chain_id = ChainId::new("cairn-test").unwrap();
        let config = ConnectivitySection {
            window_secs: 10,
            cheaters: HotspotCheatersSection {
                inflaters: 1,
                device_signed: 1,
                unfunded: 1,
            },
            ..ConnectivitySection::default()
        };
        let payer = signer("payer");
        let payer_address = Address(payer.device().0);
        let devices: Vec<_> = (0..6).map(|i| signer(&format!("hotspot-{i}"))).collect();
        // Device 0 is real (carries nothing simulated); 1 and 2 honest; then the cheaters.
        let hotspots = Hotspots::new(&config, chain_id.clone(), 6, 1, Some(payer));
        assert_eq!(
            (1..6).map(|i| hotspots.role(i)).collect::<Vec<_>>(),
            vec![
                HotspotRole::Honest,
                HotspotRole::Honest,
                HotspotRole::Inflater,
                HotspotRole::DeviceSigned,
                HotspotRole::Unfunded
            ]
        );
        let transfers = hotspots.transfers(7, 70_500, &devices);
        assert_eq!(transfers.len(), 5);
        for (index, payload) in transfers {
            let ReportPayload::Transfer { transfer } = payload else {
                panic!("not a transfer");
            };
            let r = transfer.receipt;
            assert_eq!(r.device, devices[index].device());
            assert_eq!((r.session, r.seq, r.time_ms), (7, 0, 70_500));
            let verified = transfer.verify(&chain_id).is_ok();
            match hotspots.role(index) {
                HotspotRole::Honest => {
                    assert!(verified);
                    assert_eq!((r.payer, r.bytes), (payer_address, 8 << 20));
                }
                HotspotRole::Inflater => {
                    assert!(!verified);
                    assert_eq!(r.bytes, (8 << 20) * INFLATION);
                }
                HotspotRole::DeviceSigned => {
                    assert!(!verified);
                    assert_eq!(r.payer, payer_address);
                }
                HotspotRole::Unfunded => {
                    assert!(verified);
                    assert_eq!(r.payer, Address(devices[index].device().0));
                }
            }
        }
        // Without a payer key, only the unfunded cheater reports.
        let alone = Hotspots::new(&config, chain_id, 6, 1, None);
        let transfers = alone.transfers(7, 70_500, &devices);
        assert_eq!(transfers.len(), 1);
        assert_eq!(alone.role(transfers[0].0), HotspotRole::Unfunded);
    }
}
