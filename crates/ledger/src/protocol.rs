//! Protocol versions: which rules a block is executed under, and how the chain changes them.
//!
//! The genesis names the first version (`ChainConfig::protocol_version`). A passed governance
//! proposal (`ScheduleUpgrade`) schedules another version from a height at least two epochs
//! later (and a schedule cannot be moved once its height is that close); the first block at
//! that height switches. A build of the ledger runs the versions in
//! [`SUPPORTED_PROTOCOL_VERSIONS`]: asked to execute a block under any other, it refuses with
//! [`BlockError::UnsupportedProtocol`] and changes nothing, so an old node stops at the upgrade
//! height with a clear message instead of executing new rules the old way (a fork). Its operator
//! installs a release that runs the new version and starts the node again; it resumes from its
//! store (`docs/NODE.md`, "Upgrades").
//!
//! Block headers carry the version they were built under; validators refuse to vote for a
//! header whose version is not the one in force at its height.

use crate::error::{BlockError, ExecError, TxError};
use crate::exec::Exec;
use crate::state::{Overlay, StateKey};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The version this build writes into a new genesis.
pub const CURRENT_PROTOCOL_VERSION: u32 = 1;

/// The versions this build can execute.
pub const SUPPORTED_PROTOCOL_VERSIONS: RangeInclusive<u32> = 1..=CURRENT_PROTOCOL_VERSION;

/// Epochs between a proposal's execution and the earliest height it may switch the version at,
/// so that every validator has applied the schedule long before it proposes at that height.
pub const UPGRADE_NOTICE_EPOCHS: u64 = 2;

/// The version in force and the one scheduled, if any.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct ProtocolRecord {
    /// The version blocks are executed under now.
    pub version: u32,
    /// A version to switch to, and the first height built under it.
    pub upgrade: Option<Upgrade>,
}

/// A scheduled version change.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Upgrade {
    /// The new version.
    pub version: u32,
    /// The first height executed under it.
    pub height: u64,
}

impl ProtocolRecord {
    /// The version a block at `height` (after the current head) is executed under.
    pub fn version_at(&self, height: u64) -> u32 {
        match self.upgrade {
            Some(u) if height >= u.height => u.version,
            _ => self.version,
        }
    }
}

/// Switches the version at the upgrade height; refuses a version this build cannot run.
/// Called at the start of every block.
pub(crate) fn enter_block(overlay: &mut Overlay<'_>, height: u64) -> Result<(), BlockError> {
    let Some(record) = overlay.get::<ProtocolRecord>(&StateKey::Protocol)? else {
        return Ok(());
    };
    let version = record.version_at(height);
    if !SUPPORTED_PROTOCOL_VERSIONS.contains(&version) {
        return Err(BlockError::UnsupportedProtocol {
            version,
            height,
            oldest: *SUPPORTED_PROTOCOL_VERSIONS.start(),
            newest: *SUPPORTED_PROTOCOL_VERSIONS.end(),
        });
    }
    if version != record.version {
        overlay.put(
            &StateKey::Protocol,
            &ProtocolRecord {
                version,
                upgrade: None,
            },
        );
        overlay.commit_tx();
        tracing::info!(version, height, "ledger.protocol_upgraded");
    }
    Ok(())
}

/// Checks that an upgrade to `version` at `height` can be scheduled now.
pub(crate) fn check_upgrade(ex: &Exec<'_, '_>, version: u32, height: u64) -> Result<(), ExecError> {
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
pub(crate) fn schedule(ex: &mut Exec<'_, '_>, version: u32, height: u64) -> Result<(), ExecError> {
    check_upgrade(ex, version, height)?;
    let mut record = record_of(ex)?;
    record.upgrade = Some(Upgrade { version, height });
    ex.state.put(&StateKey::Protocol, &record);
    ex.notes.push(format!(
        "protocol version {version} scheduled from height {height}"
    ));
    Ok(())
}
