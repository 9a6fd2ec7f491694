//! The state a recovery genesis carries from a halted chain ([`crate::recovery`]), and the checks
//! every node runs on it before starting from it: each record once, in order, of a kind that may
//! be carried, in its canonical encoding; the supply identity; a chain state that starts a chain;
//! lock totals that match their expiries; proposal numbers that do not repeat; validator keys
//! registered to their validators; and each chosen validator's consent
//! ([`consent_digest`]).

use crate::state::overlay::{Overlay, MAX_STATE_VALUE_BYTES};
use crate::state::records::{
    Account, ChainState, DeviceRecord, LocationEntry, LockRecord, LockSums, MakerRecord,
    MintWindow, OffenceRecord, Oracles, Proposal, RewardRootRecord, SettledRecord, Unbondings,
    ValidatorInfo, VoteRecord,
};
use crate::state::StateKey;
use crate::StoreError;
use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::codec::{decode, encode};
use cairn_types::params::ChainId;
use cairn_types::validator_keys::ValidatorKeys;
use cairn_types::{Address, Amount, Credits, Epoch, Hash, Signature};
use serde::{Deserialize, Serialize};

/// The state a recovery genesis carries over from the halted chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carried {
    /// The halted chain.
    pub from_chain_id: ChainId,
    /// The height exported (its last finalized block).
    pub from_height: u64,
    /// The state root at that height, for operators to compare.
    pub from_state_root: Hash,
    /// The epoch of that height (epoch 0 of the new chain).
    pub from_epoch: Epoch,
    /// Every record, moved as the module documentation says, in key order.
    pub records: Vec<CarriedRecord>,
}

/// One state record: its key and its value in the canonical encoding (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedRecord {
    /// The key.
    pub key: StateKey,
    /// The value's bytes, hex.
    pub value: String,
}

/// A chosen validator's keys for a recovered chain with its account's consent, as
/// `cairn genesis validator-keys --recovery` writes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryKeys {
    /// The keys, with their proofs of possession for the new chain id.
    pub keys: ValidatorKeys,
    /// The account's signature over [`consent_digest`].
    pub consent: Signature,
}

/// What a validator's account signs to consent to sit in a recovered chain `chain_id` with
/// `keys`: without it, whoever writes the genesis could seat anyone's stake under keys it holds.
pub fn consent_digest(chain_id: &ChainId, account: &Address, keys: &ValidatorKeys) -> Hash {
    Hash::domain(
        "cairn recovery consent v1",
        &[chain_id.as_str().as_bytes(), &account.0 .0, &encode(keys)],
    )
}

/// Checks `consent` by `account` to `keys` on `chain_id`.
pub fn check_consent(
    chain_id: &ChainId,
    account: &Address,
    keys: &ValidatorKeys,
    consent: &Signature,
) -> Result<(), RecoveryError> {
    account
        .0
        .verify(&consent_digest(chain_id, account, keys), consent)
        .map_err(|_| RecoveryError::NoConsent(*account))
}

/// Why a recovery export or a recovery genesis was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    /// The ledger is not at the agreed height.
    #[error("this ledger stands at height {at}, not at the agreed height {agreed}")]
    WrongHeight {
        /// Where it stands.
        at: u64,
        /// What was agreed.
        agreed: u64,
    },
    /// The new chain id is the old one.
    #[error("the new chain id must differ from the halted chain's ({0})")]
    SameChainId(ChainId),
    /// No validator was chosen.
    #[error("choose at least one validator")]
    NoValidators,
    /// A chosen validator is not a validator of the halted chain.
    #[error("{0} is not a validator of the halted chain")]
    NotAValidator(Address),
    /// A chosen validator is jailed for good.
    #[error("{0} is jailed for double signing and cannot be chosen")]
    Jailed(Address),
    /// A chosen validator's stake is below the minimum.
    #[error("{who} has {stake} bonded, below the minimum {min}")]
    StakeTooLow {
        /// The validator.
        who: Address,
        /// Its stake.
        stake: Amount,
        /// The minimum.
        min: Amount,
    },
    /// A carried record is of a kind the genesis builds itself, or repeats.
    #[error("the carried state may not hold {0}")]
    NotCarried(String),
    /// A carried record does not decode.
    #[error("carried record {key}: {reason}")]
    BadRecord {
        /// Its key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A recovery genesis lists accounts, oracles or makers besides its carried state.
    #[error("a recovery genesis takes accounts, oracles and makers from its carried state only")]
    Mixed,
    /// A chosen validator's genesis entry does not match its carried record.
    #[error("validator {0}: its genesis stake differs from its carried record")]
    StakeMismatch(Address),
    /// A chosen validator's account did not sign its consent to its keys.
    #[error("validator {0}: no valid consent by its account to these keys (write them with `cairn genesis validator-keys --recovery`)")]
    NoConsent(Address),
    /// A validator is chosen twice.
    #[error("validator {0} is chosen twice")]
    ChosenTwice(Address),
    /// The carried state breaks a rule the ledger keeps.
    #[error("the carried state is inconsistent: {0}")]
    Inconsistent(String),
    /// Reading the state failed.
    #[error("reading the state: {0}")]
    Store(String),
}

impl From<StoreError> for RecoveryError {
    fn from(error: StoreError) -> Self {
        RecoveryError::Store(error.to_string())
    }
}

/// Sums amounts of a supply that is bounded far below `u128::MAX` (see
/// `genesis::SUPPLY_MAX_BASE_UNITS`).
pub(crate) fn plus(a: Amount, b: Amount) -> Amount {
    Amount(a.0.saturating_add(b.0))
}

pub(crate) fn record(key: StateKey, value: &[u8]) -> CarriedRecord {
    CarriedRecord {
        key,
        value: hex::encode(value),
    }
}

pub(crate) fn decoded<V: BorshDeserialize>(
    key: &StateKey,
    bytes: &[u8],
) -> Result<V, RecoveryError> {
    decode(bytes, MAX_STATE_VALUE_BYTES).map_err(|e| RecoveryError::BadRecord {
        key: format!("{key:?}"),
        reason: e.to_string(),
    })
}

/// Decodes `bytes` and checks they are the value's canonical encoding (a map re-ordered or with
/// a key repeated decodes, but is not what the ledger would have written).
fn canonical<V: BorshDeserialize + BorshSerialize>(
    key: &StateKey,
    bytes: &[u8],
) -> Result<V, RecoveryError> {
    let value: V = decoded(key, bytes)?;
    if encode(&value) != bytes {
        return Err(RecoveryError::BadRecord {
            key: format!("{key:?}"),
            reason: "not in the canonical encoding".into(),
        });
    }
    Ok(value)
}

/// Checks that `bytes` decode as the value `key` holds; refuses the kinds a recovery genesis
/// builds itself.
pub(crate) fn check_value(key: &StateKey, bytes: &[u8]) -> Result<(), RecoveryError> {
    match key {
        StateKey::ChainState => canonical::<ChainState>(key, bytes).map(drop),
        StateKey::Account(_) => canonical::<Account>(key, bytes).map(drop),
        StateKey::Device(_) => canonical::<DeviceRecord>(key, bytes).map(drop),
        StateKey::DeviceLocation(..) => canonical::<LocationEntry>(key, bytes).map(drop),
        StateKey::Maker(_) => canonical::<MakerRecord>(key, bytes).map(drop),
        StateKey::Oracles => canonical::<Oracles>(key, bytes).map(drop),
        StateKey::Unbonding(_) => canonical::<Unbondings>(key, bytes).map(drop),
        StateKey::Offence(_) => canonical::<OffenceRecord>(key, bytes).map(drop),
        StateKey::DelegatedCredits(..) | StateKey::CreditUsage(_) => {
            canonical::<Credits>(key, bytes).map(drop)
        }
        StateKey::RewardRoot(_) => canonical::<RewardRootRecord>(key, bytes).map(drop),
        StateKey::RewardClaimed(..) => canonical::<Amount>(key, bytes).map(drop),
        StateKey::Settled(..) => canonical::<SettledRecord>(key, bytes).map(drop),
        StateKey::MintWindow => canonical::<MintWindow>(key, bytes).map(drop),
        StateKey::Lock(_) => canonical::<LockRecord>(key, bytes).map(drop),
        StateKey::LockExpiry(_) | StateKey::GovTotals | StateKey::GovOverCap => {
            canonical::<LockSums>(key, bytes).map(drop)
        }
        StateKey::Proposal(_) => canonical::<Proposal>(key, bytes).map(drop),
        StateKey::ProposalVote(..) => canonical::<VoteRecord>(key, bytes).map(drop),
        StateKey::Validator(_) => canonical::<ValidatorInfo>(key, bytes).map(drop),
        StateKey::ConsensusKeyOwner(_) => canonical::<Address>(key, bytes).map(drop),
        StateKey::ChainConfig
        | StateKey::Params
        | StateKey::Validators
        | StateKey::ValidatorSet(_)
        | StateKey::Liveness(_)
        | StateKey::PriceReference
        | StateKey::OracleStakes(_)
        | StateKey::Protocol
        | StateKey::Manifests(_)
        | StateKey::RewardRootOf(..)
        | StateKey::SettlementsOf(..)
        | StateKey::RewardEpochEnd(_)
        | StateKey::EmissionPool(..)
        | StateKey::UnpaidPools(_)
        | StateKey::OracleEvictions => Err(RecoveryError::NotCarried(format!("{key:?}"))),
    }
}

/// Bytes written verbatim (already in the canonical encoding).
struct Raw<'a>(&'a [u8]);

impl BorshSerialize for Raw<'_> {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(self.0)
    }
}

impl Carried {
    /// Checks every record: each key once, in order, of a kind carried, with a value that
    /// decodes; and a chain state among them. Returns that chain state.
    pub fn check(&self) -> Result<ChainState, RecoveryError> {
        let mut chain = None;
        for pair in self.records.windows(2) {
            if pair[0].key >= pair[1].key {
                return Err(RecoveryError::NotCarried(format!(
                    "{:?} out of order or twice",
                    pair[1].key
                )));
            }
        }
        let mut books = Books::default();
        for r in &self.records {
            let bytes = self.bytes(r)?;
            check_value(&r.key, &bytes)?;
            if r.key == StateKey::ChainState {
                chain = Some(decoded::<ChainState>(&r.key, &bytes)?);
            }
            books.add(&r.key, &bytes)?;
        }
        let chain = chain.ok_or_else(|| RecoveryError::BadRecord {
            key: "ChainState".into(),
            reason: "missing".into(),
        })?;
        books.check(&chain, self)?;
        Ok(chain)
    }

    fn bytes(&self, r: &CarriedRecord) -> Result<Vec<u8>, RecoveryError> {
        hex::decode(&r.value).map_err(|e| RecoveryError::BadRecord {
            key: format!("{:?}", r.key),
            reason: e.to_string(),
        })
    }

    /// Writes every record into `overlay` (after [`Carried::check`]).
    pub fn write(&self, overlay: &mut Overlay<'_>) -> Result<(), RecoveryError> {
        for r in &self.records {
            let bytes = self.bytes(r)?;
            overlay.put(&r.key, &Raw(&bytes));
        }
        Ok(())
    }

    /// The carried record of validator `address`.
    pub fn validator(&self, address: &Address) -> Result<Option<ValidatorInfo>, RecoveryError> {
        let key = StateKey::Validator(*address);
        match self.records.binary_search_by(|r| r.key.cmp(&key)) {
            Ok(i) => Ok(Some(decoded(&key, &self.bytes(&self.records[i])?)?)),
            Err(_) => Ok(None),
        }
    }

    /// The owner of a consensus key in the carried state, if any.
    pub fn key_owner(
        &self,
        key: &cairn_types::PublicKey,
    ) -> Result<Option<Address>, RecoveryError> {
        let key = StateKey::ConsensusKeyOwner(*key);
        match self.records.binary_search_by(|r| r.key.cmp(&key)) {
            Ok(i) => Ok(Some(decoded(&key, &self.bytes(&self.records[i])?)?)),
            Err(_) => Ok(None),
        }
    }
}

/// What the carried records add up to, to check them against the rules the ledger keeps.
#[derive(Default)]
struct Books {
    /// Balances, stakes, unbonding, locks: everything the supply counts but the treasury.
    held: u128,
    /// Σ of the lock-expiry buckets.
    expiring: LockSums,
    /// The recorded totals of live locks within the cap.
    totals: LockSums,
    /// The recorded totals of live locks beyond the cap.
    over_cap: LockSums,
    /// The highest proposal id.
    last_proposal: Option<u64>,
    /// Each validator's keys, to check against their owners.
    validator_keys: Vec<(Address, Vec<cairn_types::PublicKey>)>,
    /// The first rule a record breaks on its own, if any.
    broken: Option<String>,
    /// The latest price post.
    latest_price_ms: u64,
}

impl Books {
    fn add(&mut self, key: &StateKey, bytes: &[u8]) -> Result<(), RecoveryError> {
        let add = |held: &mut u128, amount: Amount| *held = held.saturating_add(amount.0);
        match key {
            StateKey::Account(_) => add(&mut self.held, decoded::<Account>(key, bytes)?.balance),
            StateKey::Validator(address) => {
                let info: ValidatorInfo = decoded(key, bytes)?;
                add(&mut self.held, info.stake);
                // As the export leaves them: rotations applied, jails reset to the new epoch 0,
                // no more keys than a bond may register, none weak.
                let weak = std::iter::once(&info.node_key)
                    .chain(&info.seat_keys)
                    .any(|k| k.check_strong().is_err());
                if info.pending_keys.is_some()
                    || matches!(info.jail, crate::state::records::Jail::Downtime { epoch } if epoch != Epoch(0))
                    || info.seat_keys.len() > cairn_types::validator_keys::MAX_SEAT_KEYS
                    || weak
                {
                    self.broken.get_or_insert(format!(
                        "validator {address} is not as an export leaves it"
                    ));
                }
                let keys = std::iter::once(info.node_key)
                    .chain(info.seat_keys)
                    .collect();
                self.validator_keys.push((*address, keys));
            }
            StateKey::Oracles => {
                for o in decoded::<Oracles>(key, bytes)?.0.values() {
                    add(&mut self.held, o.stake);
                    if let Some(post) = &o.price {
                        self.latest_price_ms = self.latest_price_ms.max(post.posted_ms);
                    }
                }
            }
            StateKey::RewardRoot(_) => {
                let root: RewardRootRecord = decoded(key, bytes)?;
                if root.claimed_total > root.root.sum || root.accepted_height != 0 {
                    self.broken
                        .get_or_insert("a reward root is not as an export leaves it".into());
                }
            }
            StateKey::Unbonding(_) => {
                for e in decoded::<Unbondings>(key, bytes)?.0 {
                    add(&mut self.held, e.amount);
                }
            }
            StateKey::Lock(_) => add(&mut self.held, decoded::<LockRecord>(key, bytes)?.amount),
            StateKey::LockExpiry(_) => {
                let sums: LockSums = decoded(key, bytes)?;
                self.expiring.amount = self.expiring.amount.saturating_add(sums.amount);
                self.expiring.amount_end = self.expiring.amount_end.saturating_add(sums.amount_end);
            }
            StateKey::GovTotals => self.totals = decoded(key, bytes)?,
            StateKey::GovOverCap => self.over_cap = decoded(key, bytes)?,
            StateKey::Proposal(id) => {
                self.last_proposal = Some(self.last_proposal.map_or(*id, |l| l.max(*id)));
            }
            _ => {}
        }
        Ok(())
    }

    /// The supply identity, a chain state that starts a chain, lock totals that match their
    /// buckets, proposal numbers that do not repeat, and every validator key owned by its
    /// validator.
    fn check(&self, chain: &ChainState, carried: &Carried) -> Result<(), RecoveryError> {
        let bad = |what: &str| Err(RecoveryError::Inconsistent(what.to_string()));
        if let Some(what) = &self.broken {
            return bad(what);
        }
        if self.latest_price_ms > chain.timestamp_ms {
            return bad("a price is posted after the genesis time");
        }
        if self.held.saturating_add(chain.treasury.0) != chain.total_supply.0 {
            return bad("balances, stakes, locks and the treasury do not add up to the supply");
        }
        if chain.height != 0
            || chain.epoch != Epoch(0)
            || chain.signers_counted_through != 0
            || !chain.unbonded_in_epoch.is_zero()
        {
            return bad("the chain state does not start at height and epoch 0");
        }
        // Every bucket is in one of the two sets of sums: within the cap or beyond it.
        let amount = self.totals.amount.saturating_add(self.over_cap.amount);
        let amount_end = self
            .totals
            .amount_end
            .saturating_add(self.over_cap.amount_end);
        if self.expiring.amount != amount || self.expiring.amount_end != amount_end {
            return bad("the lock totals differ from the sum of their expiries");
        }
        if self
            .last_proposal
            .is_some_and(|last| chain.next_proposal <= last)
        {
            return bad("the next proposal number is already taken");
        }
        for (address, keys) in &self.validator_keys {
            for key in keys {
                if carried.key_owner(key)? != Some(*address) {
                    return bad("a validator's key is not registered to it");
                }
            }
        }
        Ok(())
    }
}
