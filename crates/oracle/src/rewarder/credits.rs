//! Payers' delegated connectivity credits at an epoch's last block, read from a node: what
//! settlement caps each payer's bytes at. A read that fails is an error and the epoch is
//! computed again later (it must not read as "holds nothing").

use super::CreditSource;
use crate::chain::client::NodeClient;
use cairn_ledger::StateKey;
use cairn_types::{Address, Credits, Subnetwork};

/// A credit source over `client` at `last_height`.
pub fn credits_at(
    client: &NodeClient,
    last_height: u64,
) -> impl Fn(&Address) -> Result<Credits, String> + '_ {
    move |payer| {
        client
            .state::<Credits>(
                &StateKey::DelegatedCredits(*payer, Subnetwork::Connectivity),
                Some(last_height),
            )
            .map(Option::unwrap_or_default)
            .map_err(|e| e.to_string())
    }
}

/// No payer holds anything (tests without connectivity).
pub fn no_credits() -> CreditSource<'static> {
    &|_| Ok(Credits(0))
}
