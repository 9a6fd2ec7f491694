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
//! header whose version is not the one in force at its height. The governance action lives in
//! `crate::exec::upgrades`.

use crate::error::BlockError;
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
