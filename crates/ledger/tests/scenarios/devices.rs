use crate::helpers::{assert_balanced, chain, fund_credits};
use cairn_ledger::state::records::{DeviceRecord, LocationEntry};
use cairn_ledger::testkit::{addr, key, MAKER};
use cairn_ledger::{StateKey, TxError};
use cairn_types::tx::{
    device_binding_digest, maker_attestation_digest, Action, MakerAttestation, RegisterDevice,
};
use cairn_types::{Cell, Credits, DeviceId, SecretKey, Subnetwork};

fn registration(
    chain: &cairn_ledger::testkit::TestChain,
    device: &SecretKey,
    owner: &str,
    maker: Option<&SecretKey>,
) -> RegisterDevice {
    let chain_id = chain.ledger.config().chain_id.clone();
    let id = DeviceId(device.public_key());
    RegisterDevice {
        device: id,
        subnetwork: Subnetwork::Coverage,
        maker: maker.map(|m| MakerAttestation {
            maker: m.public_key(),
            signature: m.sign(&maker_attestation_digest(&chain_id, &id)),
        }),
        device_signature: device.sign(&device_binding_digest(
            &chain_id,
            &id,
            &addr(owner),
            Subnetwork::Coverage,
        )),
    }
}

#[test]
fn register_assert_transfer_retire() {
    let (mut chain, _dir) = chain();
    fund_credits(&mut chain, "alice");
    let device = key("hotspot-1");
    let id = DeviceId(device.public_key());
    let credits = chain.account(&addr("alice")).credits;
    chain
        .run(
            "alice",
            Action::RegisterDevice(registration(&chain, &device, "alice", Some(&key(MAKER)))),
        )
        .unwrap();
    let record: DeviceRecord = chain.ledger.get(&StateKey::Device(id)).unwrap().unwrap();
    assert_eq!(record.owner, addr("alice"));
    assert_eq!(record.maker, Some(key(MAKER).public_key()));
    assert_eq!(
        chain.account(&addr("alice")).credits,
        Credits(credits.0 - 1_000)
    );

    let paris = Cell::from_lat_lng(48.8566, 2.3522, 12).unwrap();
    let lyon = Cell::from_lat_lng(45.764, 4.8357, 12).unwrap();
    chain
        .run(
            "alice",
            Action::AssertLocation {
                device: id,
                cell: paris,
            },
        )
        .unwrap();
    chain
        .run(
            "alice",
            Action::AssertLocation {
                device: id,
                cell: lyon,
            },
        )
        .unwrap();
    let record: DeviceRecord = chain.ledger.get(&StateKey::Device(id)).unwrap().unwrap();
    assert_eq!(record.location, Some(lyon));
    assert_eq!(record.location_count, 2);
    let first: LocationEntry = chain
        .ledger
        .get(&StateKey::DeviceLocation(id, 0))
        .unwrap()
        .unwrap();
    assert_eq!(first.cell, paris, "history is kept");
    assert_eq!(
        chain.account(&addr("alice")).credits,
        Credits(credits.0 - 1_200)
    );

    refused!(
        chain,
        "bob",
        Action::AssertLocation {
            device: id,
            cell: paris
        },
        TxError::NotDeviceOwner {
            device: id,
            sender: addr("bob")
        },
    );
    chain
        .run(
            "alice",
            Action::TransferDevice {
                device: id,
                new_owner: addr("bob"),
            },
        )
        .unwrap();
    refused!(
        chain,
        "alice",
        Action::RetireDevice { device: id },
        TxError::NotDeviceOwner {
            device: id,
            sender: addr("alice")
        },
    );
    chain
        .run("bob", Action::RetireDevice { device: id })
        .unwrap();
    refused!(
        chain,
        "bob",
        Action::RetireDevice { device: id },
        TxError::DeviceRetired(id)
    );
    assert_balanced(&chain);
}

#[test]
fn registration_errors() {
    let (mut chain, _dir) = chain();
    let device = key("hotspot-2");
    let id = DeviceId(device.public_key());
    // No credits yet.
    refused!(
        chain,
        "alice",
        Action::RegisterDevice(registration(&chain, &device, "alice", None)),
        TxError::InsufficientCredits {
            needed: Credits(1_000),
            available: Credits(0)
        },
    );
    fund_credits(&mut chain, "alice");
    // The device signed a binding to bob, not alice: someone else's device cannot be claimed.
    refused!(
        chain,
        "alice",
        Action::RegisterDevice(registration(&chain, &device, "bob", None)),
        TxError::BadDeviceSignature,
    );
    let rogue = key("rogue-maker");
    refused!(
        chain,
        "alice",
        Action::RegisterDevice(registration(&chain, &device, "alice", Some(&rogue))),
        TxError::UnknownMaker(rogue.public_key()),
    );
    let mut forged = registration(&chain, &device, "alice", Some(&key(MAKER)));
    if let Some(m) = forged.maker.as_mut() {
        m.signature = rogue.sign(&maker_attestation_digest(
            &chain.ledger.config().chain_id,
            &id,
        ));
    }
    refused!(
        chain,
        "alice",
        Action::RegisterDevice(forged),
        TxError::BadMakerSignature
    );
    chain
        .run(
            "alice",
            Action::RegisterDevice(registration(&chain, &device, "alice", None)),
        )
        .unwrap();
    refused!(
        chain,
        "alice",
        Action::RegisterDevice(registration(&chain, &device, "alice", None)),
        TxError::DeviceExists(id),
    );
    let unknown = DeviceId(key("nope").public_key());
    refused!(
        chain,
        "alice",
        Action::RetireDevice { device: unknown },
        TxError::UnknownDevice(unknown)
    );
}
