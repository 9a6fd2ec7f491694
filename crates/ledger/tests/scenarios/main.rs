//! Scenario tests of the ledger: every transaction, its success and its typed failures, through
//! real blocks on a real on-disk state.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

/// Asserts that the action fails with the expected error and changes nothing (see
/// `helpers::refused`). A macro so that the action may borrow the chain while it is built.
macro_rules! refused {
    ($chain:ident, $label:expr, $action:expr, $expected:expr $(,)?) => {{
        let action = $action;
        let expected = $expected;
        crate::helpers::refused(&mut $chain, $label, action, expected)
    }};
}

mod codec;
mod credits;
mod devices;
mod faults;
mod governance;
mod helpers;
mod manifests;
mod oracle_stake;
mod ordered;
mod properties;
mod protocol;
mod recovery;
mod rewards;
mod settlement;
mod slashing_edges;
mod staking;
mod state;
mod store_model;
mod token;
