//! Protocol versions: governance schedules a change, and a ledger that does not run the new
//! version refuses the block at that height and changes nothing.

use crate::helpers::{chain, enact};
use cairn_ledger::genesis::GenesisError;
use cairn_ledger::protocol::{ProtocolRecord, Upgrade, CURRENT_PROTOCOL_VERSION};
use cairn_ledger::testkit::{test_genesis, TEST_BLOCKS_PER_EPOCH};
use cairn_ledger::{BlockError, StateKey, TxError};
use cairn_types::codec::BoundedString;
use cairn_types::tx::{Action, ProposalAction};

fn propose(version: u32, height: u64) -> Action {
    Action::Propose {
        action: ProposalAction::ScheduleUpgrade { version, height },
        description: BoundedString::new("upgrade").unwrap(),
    }
}

#[test]
fn a_scheduled_version_this_build_does_not_run_stops_the_ledger_at_its_height() {
    let (mut chain, _dir) = chain();
    assert_eq!(
        chain.ledger.protocol_at(1).unwrap(),
        CURRENT_PROTOCOL_VERSION
    );
    // Carol needs voting power to propose at all.
    chain
        .run(
            "carol",
            Action::Lock {
                amount: cairn_types::Amount::tokens(100_000),
                duration_epochs: 100,
            },
        )
        .unwrap();
    let soon = chain.ledger.head().height + 2 * TEST_BLOCKS_PER_EPOCH;
    refused!(
        chain,
        "carol",
        propose(2, soon),
        TxError::UpgradeTooSoon {
            height: soon,
            earliest: soon + 1,
        }
    );
    refused!(
        chain,
        "carol",
        propose(CURRENT_PROTOCOL_VERSION, 1_000),
        TxError::UpgradeNotNewer {
            version: CURRENT_PROTOCOL_VERSION,
            current: CURRENT_PROTOCOL_VERSION,
        }
    );
    let at = 100;
    enact(
        &mut chain,
        ProposalAction::ScheduleUpgrade {
            version: 2,
            height: at,
        },
    );
    let record: ProtocolRecord = chain.ledger.get(&StateKey::Protocol).unwrap().unwrap();
    assert_eq!(
        record.upgrade,
        Some(Upgrade {
            version: 2,
            height: at
        })
    );
    assert_eq!(chain.ledger.protocol_at(at - 1).unwrap(), 1);
    assert_eq!(chain.ledger.protocol_at(at).unwrap(), 2);
    // Within two epochs of its height, the schedule can no longer be moved.
    while chain.ledger.head().height < at - 2 * TEST_BLOCKS_PER_EPOCH {
        chain.block(vec![]).unwrap();
    }
    refused!(
        chain,
        "carol",
        propose(3, 1_000),
        TxError::UpgradeImminent { height: at }
    );
    while chain.ledger.head().height < at - 1 {
        chain.block(vec![]).unwrap();
    }
    let head = chain.ledger.head();
    let error = chain.block(vec![]).unwrap_err();
    assert!(
        matches!(
            error,
            BlockError::UnsupportedProtocol {
                version: 2,
                height,
                oldest: 1,
                newest: CURRENT_PROTOCOL_VERSION,
            } if height == at
        ),
        "{error}"
    );
    assert!(error.is_fault(), "the node must stop, not refuse the block");
    assert!(error.to_string().contains("install a release"), "{error}");
    assert_eq!(chain.ledger.head(), head, "nothing applied");
}

#[test]
fn a_genesis_under_an_unknown_version_is_refused() {
    let mut genesis = test_genesis();
    genesis.chain.protocol_version = 7;
    assert_eq!(
        genesis.validate(),
        Err(GenesisError::UnsupportedProtocol {
            version: 7,
            oldest: 1,
            newest: CURRENT_PROTOCOL_VERSION,
        })
    );
}
