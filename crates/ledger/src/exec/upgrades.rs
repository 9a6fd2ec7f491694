//! Scheduling protocol upgrades by governance (see [`crate::protocol`]).

use super::Exec;
use crate::error::{ExecError, TxError};
use crate::protocol::{ProtocolRecord, Upgrade, UPGRADE_NOTICE_EPOCHS};
use crate::state::StateKey;

/// Checks that an upgrade to `version` at `height` can be scheduled now.
pub fn check_upgrade(ex: &Exec<'_, '_>, version: u32, height: u64) -> Result<(), ExecError> {
    let record = record_of(ex)?;
    if version <= record.version {
        return Err(TxError::UpgradeNotNewer {
            version,
            current: record.version,
        }
        .into());
    }
    let earliest = ex.height.saturating_add(
        ex.config
            .blocks_per_epoch
            .saturating_mul(UPGRADE_NOTICE_EPOCHS),
    );
    if height < earliest {
        return Err(TxError::UpgradeTooSoon { height, earliest }.into());
    }
    // A schedule close to its height stays: every validator must agree on the version of each
    // height near the head, however far behind it has applied.
    if let Some(upgrade) = record.upgrade {
        if upgrade.height < earliest {
            return Err(TxError::UpgradeImminent {
                height: upgrade.height,
            }
            .into());
        }
    }
    Ok(())
}

/// The protocol record (a store without one runs the genesis's version, nothing scheduled).
fn record_of(ex: &Exec<'_, '_>) -> Result<ProtocolRecord, ExecError> {
    Ok(ex
        .state
        .get(&StateKey::Protocol)?
        .unwrap_or(ProtocolRecord {
            version: ex.config.protocol_version,
            upgrade: None,
        }))
}

/// Schedules an upgrade (replacing one scheduled before and not yet in force).
pub fn schedule(ex: &mut Exec<'_, '_>, version: u32, height: u64) -> Result<(), ExecError> {
    check_upgrade(ex, version, height)?;
    let mut record = record_of(ex)?;
    record.upgrade = Some(Upgrade { version, height });
    ex.state.put(&StateKey::Protocol, &record);
    ex.notes.push(format!(
        "protocol version {version} scheduled from height {height}"
    ));
    Ok(())
}
