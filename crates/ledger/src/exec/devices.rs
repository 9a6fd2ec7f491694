//! Devices: registration bound by the device's own signature, location assertions with history,
//! transfer between owners, retirement.
//!
//! Registration and location assertions cost data credits (set by governance), paid from the
//! owner's own credits: this is what makes flooding the network with fake devices expensive.

use super::credits::spend_own_credits;
use super::Exec;
use crate::error::{ExecError, TxError};
use crate::state::records::{DeviceRecord, LocationEntry, MakerRecord};
use crate::state::StateKey;
use cairn_types::tx::{device_binding_digest, maker_attestation_digest, RegisterDevice};
use cairn_types::{Address, Cell, DeviceId};

/// Registers a device for `owner`.
pub fn register(
    ex: &mut Exec<'_, '_>,
    owner: &Address,
    registration: &RegisterDevice,
) -> Result<(), ExecError> {
    let device = registration.device;
    let key = StateKey::Device(device);
    if ex.state.get::<DeviceRecord>(&key)?.is_some() {
        return Err(TxError::DeviceExists(device).into());
    }
    let binding =
        device_binding_digest(&ex.config.chain_id, &device, owner, registration.subnetwork);
    device
        .0
        .verify(&binding, &registration.device_signature)
        .map_err(|_| TxError::BadDeviceSignature)?;
    if let Some(attestation) = &registration.maker {
        let maker: MakerRecord = ex
            .state
            .get(&StateKey::Maker(attestation.maker))?
            .ok_or(TxError::UnknownMaker(attestation.maker))?;
        if !maker.approved {
            return Err(TxError::MakerRevoked(attestation.maker).into());
        }
        attestation
            .maker
            .verify(
                &maker_attestation_digest(&ex.config.chain_id, &device),
                &attestation.signature,
            )
            .map_err(|_| TxError::BadMakerSignature)?;
    }
    let fee = ex.params.device_onboard_fee_dc;
    spend_own_credits(ex, owner, registration.subnetwork, fee)?;
    ex.state.put(
        &key,
        &DeviceRecord {
            owner: *owner,
            subnetwork: registration.subnetwork,
            maker: registration.maker.as_ref().map(|m| m.maker),
            registered_height: ex.height,
            location: None,
            location_count: 0,
            retired: false,
        },
    );
    ex.notes.push(format!(
        "device {device} registered in {} for {owner} ({fee} paid)",
        registration.subnetwork
    ));
    Ok(())
}

fn owned_device(
    ex: &Exec<'_, '_>,
    sender: &Address,
    device: &DeviceId,
) -> Result<DeviceRecord, ExecError> {
    let record: DeviceRecord = ex
        .state
        .get(&StateKey::Device(*device))?
        .ok_or(TxError::UnknownDevice(*device))?;
    if record.owner != *sender {
        return Err(TxError::NotDeviceOwner {
            device: *device,
            sender: *sender,
        }
        .into());
    }
    if record.retired {
        return Err(TxError::DeviceRetired(*device).into());
    }
    Ok(record)
}

/// Asserts a device's location; the previous ones stay in its history.
pub fn assert_location(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    device: &DeviceId,
    cell: Cell,
) -> Result<(), ExecError> {
    let mut record = owned_device(ex, sender, device)?;
    let fee = ex.params.location_assert_fee_dc;
    spend_own_credits(ex, sender, record.subnetwork, fee)?;
    let index = record.location_count;
    record.location_count = index
        .checked_add(1)
        .ok_or(TxError::LocationHistoryFull(*device))?;
    record.location = Some(cell);
    ex.state.put(
        &StateKey::DeviceLocation(*device, index),
        &LocationEntry {
            cell,
            height: ex.height,
        },
    );
    ex.state.put(&StateKey::Device(*device), &record);
    ex.notes.push(format!(
        "device {device} asserted location {cell} ({fee} paid)"
    ));
    Ok(())
}

/// Gives a device to a new owner.
pub fn transfer(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    device: &DeviceId,
    new_owner: &Address,
) -> Result<(), ExecError> {
    let mut record = owned_device(ex, sender, device)?;
    record.owner = *new_owner;
    ex.state.put(&StateKey::Device(*device), &record);
    Ok(())
}

/// Retires a device for good.
pub fn retire(ex: &mut Exec<'_, '_>, sender: &Address, device: &DeviceId) -> Result<(), ExecError> {
    let mut record = owned_device(ex, sender, device)?;
    record.retired = true;
    ex.state.put(&StateKey::Device(*device), &record);
    Ok(())
}
