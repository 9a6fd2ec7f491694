//! Transaction execution: one module per area of the token economy.
//!
//! A signature-checked transaction runs in two steps, each in its own overlay layer:
//! - [`charge`] checks the chain id, the nonce and the fee, burns the fee and uses the nonce. A
//!   transaction refused here is *skipped*: it changes nothing.
//! - [`perform`] runs the action. A transaction refused here has *failed*: the caller rolls back
//!   the action's writes, but the fee stays burned and the nonce used, so a failing transaction
//!   costs its sender, and nobody else, a fee.
//!
//! - [`token`]: token transfers between accounts.
//! - [`staking`]: bonding, unbonding, withdrawal, slashing.
//! - [`devices`]: registration, location, transfer and retirement of devices.
//! - [`credits`]: prices, burn-and-mint of data credits, delegation and spending.
//! - [`manifests`]: the oracles' report-log manifests and which of them count.
//! - [`rewards`]: reward roots and claims, behind the circuit breaker.
//! - [`governance`]: vote-escrow locks, proposals, votes and execution.

pub mod credits;
pub mod devices;
pub mod governance;
pub mod manifests;
pub mod oracle_stake;
pub mod prices;
pub mod rewards;
pub mod staking;
pub mod token;
pub mod upgrades;

use crate::error::{ExecError, TxError};
use crate::state::records::{Account, ChainState};
use crate::state::{Overlay, StateKey};
use cairn_types::params::{ChainConfig, Params};
use cairn_types::tx::{Action, ProposalAction, SignedTransaction};
use cairn_types::{Address, Amount, PublicKey};

/// What a transaction or block did, in words, for receipts and the demo.
pub type Notes = Vec<String>;

/// The state a transaction executes against.
pub struct Exec<'o, 'a> {
    /// Reads and buffered writes.
    pub state: &'o mut Overlay<'a>,
    /// Chain-wide counters; written back once per block.
    pub chain: ChainState,
    /// Governance parameters in force.
    pub params: Params,
    /// Genesis-fixed configuration.
    pub config: &'o ChainConfig,
    /// Height of the block being executed.
    pub height: u64,
    /// Its timestamp in milliseconds.
    pub time_ms: u64,
    /// What happened, for the receipt.
    pub notes: Notes,
}

impl<'o, 'a> Exec<'o, 'a> {
    /// An execution context over `state` for the block at `(height, time_ms)`, starting from
    /// `chain` and `params`, with no notes yet.
    pub fn new(
        state: &'o mut Overlay<'a>,
        chain: &ChainState,
        params: &Params,
        config: &'o ChainConfig,
        (height, time_ms): (u64, u64),
    ) -> Exec<'o, 'a> {
        Exec {
            state,
            chain: chain.clone(),
            params: params.clone(),
            config,
            height,
            time_ms,
            notes: Vec::new(),
        }
    }

    /// An account, or an empty one.
    pub fn account(&self, address: &Address) -> Result<Account, ExecError> {
        Ok(self.state.get_or_default(&StateKey::Account(*address))?)
    }

    /// Stores an account.
    pub fn put_account(&mut self, address: &Address, account: &Account) {
        self.state.put(&StateKey::Account(*address), account);
    }

    /// Takes `amount` from an account's balance.
    pub fn debit(&mut self, address: &Address, amount: Amount) -> Result<(), ExecError> {
        let mut account = self.account(address)?;
        account.balance =
            account
                .balance
                .checked_sub(amount)
                .ok_or(TxError::InsufficientBalance {
                    needed: amount,
                    available: account.balance,
                })?;
        self.put_account(address, &account);
        Ok(())
    }

    /// Adds `amount` to an account's balance.
    pub fn credit(&mut self, address: &Address, amount: Amount) -> Result<(), ExecError> {
        let mut account = self.account(address)?;
        account.balance = account
            .balance
            .checked_add(amount)
            .ok_or(TxError::AmountOverflow)?;
        self.put_account(address, &account);
        Ok(())
    }

    /// Removes `amount` from the supply (it must already have left every balance).
    pub fn burn(&mut self, amount: Amount) -> Result<(), ExecError> {
        self.chain.total_supply = self
            .chain
            .total_supply
            .checked_sub(amount)
            // Whatever is burned has left a balance first, so it is part of the supply.
            .ok_or(ExecError::Invariant("a burn exceeds the total supply"))?;
        self.chain.total_burned = self
            .chain
            .total_burned
            .checked_add(amount)
            .ok_or(TxError::AmountOverflow)?;
        Ok(())
    }

    /// Adds `amount` to the supply (the caller puts it in a balance).
    pub fn mint(&mut self, amount: Amount) -> Result<(), ExecError> {
        self.chain.total_supply = self
            .chain
            .total_supply
            .checked_add(amount)
            .ok_or(TxError::AmountOverflow)?;
        Ok(())
    }

    /// Mints `amount` into the treasury (emission no root paid out).
    pub fn mint_to_treasury(&mut self, amount: Amount) -> Result<(), ExecError> {
        self.mint(amount)?;
        self.chain.treasury = self
            .chain
            .treasury
            .checked_add(amount)
            .ok_or(TxError::AmountOverflow)?;
        Ok(())
    }

    /// The current epoch.
    pub fn epoch(&self) -> cairn_types::Epoch {
        self.chain.epoch
    }
}

/// Checks the envelope of a transaction whose signature has already been checked (chain id,
/// nonce, fee) and charges it: burns the fee and uses the nonce.
pub fn charge(ex: &mut Exec<'_, '_>, signed: &SignedTransaction) -> Result<(), ExecError> {
    let tx = &signed.tx;
    if tx.chain_id != ex.config.chain_id {
        return Err(TxError::WrongChain {
            expected: ex.config.chain_id.to_string(),
            got: tx.chain_id.to_string(),
        }
        .into());
    }
    let mut sender = ex.account(&tx.sender)?;
    if tx.nonce != sender.nonce {
        return Err(TxError::NonceMismatch {
            expected: sender.nonce,
            got: tx.nonce,
        }
        .into());
    }
    if tx.fee < ex.params.tx_fee_min {
        return Err(TxError::FeeTooLow {
            min: ex.params.tx_fee_min,
            got: tx.fee,
        }
        .into());
    }
    sender.balance = sender
        .balance
        .checked_sub(tx.fee)
        .ok_or(TxError::InsufficientBalance {
            needed: tx.fee,
            available: sender.balance,
        })?;
    sender.nonce += 1;
    ex.put_account(&tx.sender, &sender);
    ex.burn(tx.fee)
}

/// Runs the action of a transaction that [`charge`] accepted.
pub fn perform(ex: &mut Exec<'_, '_>, signed: &SignedTransaction) -> Result<(), ExecError> {
    dispatch(ex, &signed.tx.sender, &signed.tx.action, signed)
}

/// Refuses a key no honest signer has (small order or non-canonical) where an action names an
/// account or a device that will hold value: funds sent to such a key could be taken by anyone.
pub fn strong(key: &PublicKey) -> Result<(), ExecError> {
    key.check_strong()
        .map_err(|error| TxError::WeakKey { key: *key, error }.into())
}

/// The keys an action names as new holders of value.
fn named_keys(action: &Action) -> Vec<PublicKey> {
    match action {
        Action::Transfer { to, .. } => vec![to.0],
        Action::BurnForCredits { recipient, .. } => vec![recipient.0],
        Action::DelegateCredits { payer, .. } => vec![payer.0],
        Action::TransferDevice { new_owner, .. } => vec![new_owner.0],
        Action::RegisterDevice(registration) => vec![registration.device.0],
        Action::Propose {
            action: ProposalAction::TreasurySpend { to, .. },
            ..
        } => vec![to.0],
        Action::Propose {
            action: ProposalAction::ApproveMaker { maker, .. },
            ..
        } => vec![*maker],
        _ => Vec::new(),
    }
}

fn dispatch(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    action: &Action,
    signed: &SignedTransaction,
) -> Result<(), ExecError> {
    for key in named_keys(action) {
        strong(&key)?;
    }
    match action {
        Action::Transfer { to, amount } => token::transfer(ex, sender, to, *amount),
        Action::BondValidator { amount, keys } => {
            staking::bond_validator(ex, sender, *amount, keys.as_ref())
        }
        Action::RotateValidatorKeys { keys } => staking::rotate_keys(ex, sender, keys),
        Action::Unjail => staking::unjail(ex, sender),
        Action::BondOracle { amount } => staking::bond_oracle(ex, sender, *amount),
        Action::Unbond { role, amount } => staking::unbond(ex, sender, *role, *amount),
        Action::WithdrawUnbonded => staking::withdraw(ex, sender),
        Action::ReportDoubleSign { evidence } => {
            staking::slash_double_sign(ex, evidence, signed.id())
        }
        Action::ReportOracleDoubleSign { evidence } => {
            oracle_stake::slash_double_sign(ex, evidence, signed.id())
        }
        Action::RegisterDevice(registration) => devices::register(ex, sender, registration),
        Action::AssertLocation { device, cell } => {
            devices::assert_location(ex, sender, device, *cell)
        }
        Action::TransferDevice { device, new_owner } => {
            devices::transfer(ex, sender, device, new_owner)
        }
        Action::RetireDevice { device } => devices::retire(ex, sender, device),
        Action::PostPrice { price } => prices::post_price(ex, sender, *price),
        Action::BurnForCredits {
            amount,
            recipient,
            min_credits,
        } => credits::burn_for_credits(ex, sender, *amount, recipient, *min_credits),
        Action::DelegateCredits {
            payer,
            subnetwork,
            credits,
        } => credits::delegate(ex, sender, payer, *subnetwork, *credits),
        Action::SpendCredits {
            subnetwork,
            credits,
            usage,
        } => credits::spend(ex, sender, *subnetwork, *credits, usage),
        Action::SubmitRewardRoot(submission) => rewards::submit_root(ex, submission),
        Action::ClaimRewards { claims } => rewards::claim(ex, claims.as_slice()),
        Action::Lock {
            amount,
            duration_epochs,
        } => governance::lock(ex, sender, *amount, *duration_epochs),
        Action::Unlock => governance::unlock(ex, sender),
        Action::Propose {
            action,
            description,
        } => governance::propose(ex, sender, action, description.as_str()),
        Action::Vote { proposal, choice } => governance::vote(ex, sender, *proposal, *choice),
        Action::ExecuteProposal { proposal } => governance::execute_proposal(ex, *proposal),
        Action::CommitManifest(commit) => manifests::commit(ex, sender, commit),
        Action::AttestManifests { epoch, manifests } => {
            manifests::attest(ex, sender, *epoch, manifests.as_slice())
        }
    }
}
