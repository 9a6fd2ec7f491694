//! Seed inputs for the fuzz targets, built from the real types so that they stay valid when the
//! encodings change.
//!
//! Each target calls [`write_seeds_if_asked`] once at start-up: when the environment variable
//! `CAIRN_FUZZ_SEEDS` names a directory, the target's seeds are written there (as
//! `seed-<name>`) before libFuzzer reads its corpus. `scripts/fuzz-smoke.sh` points it at the
//! target's corpus directory. Without seeds the slow `ledger_block` target would spend its
//! whole time budget finding the shape of a transaction.

use cairn_ledger::state::StateKey;
use cairn_ledger::testkit::{self, addr, key};
use cairn_types::codec::{self, BoundedString, BoundedVec};
use cairn_types::evidence::{DoubleSignEvidence, Vote, VoteKind};
use cairn_types::params::{ChainId, ParamId};
use cairn_types::reward_tree::{RewardLeaf, RewardTree};
use cairn_types::tx::{
    device_binding_digest, maker_attestation_digest, reward_root_digest, Action, MakerAttestation,
    OracleSignature, ProposalAction, RegisterDevice, RewardClaim, RewardRootSubmission, Settlement,
    SignedTransaction, StakeRole, Transaction, VoteChoice,
};
use cairn_types::validator_keys::ValidatorKeys;
use cairn_types::{Amount, Cell, Credits, DeviceId, Epoch, Hash, Price, Subnetwork};
use std::path::Path;

/// The environment variable naming the directory to write seeds into.
pub const SEEDS_ENV: &str = "CAIRN_FUZZ_SEEDS";

/// Writes `target`'s seeds into `$CAIRN_FUZZ_SEEDS` if that is set. Never fails the run: a seed
/// that cannot be written is reported and skipped.
pub fn write_seeds_if_asked(target: &str) {
    let Some(dir) = std::env::var_os(SEEDS_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("cairn-fuzz: cannot create {}: {e}", dir.display());
        return;
    }
    let seeds = seeds(target);
    for (name, bytes) in &seeds {
        let path = dir.join(format!("seed-{name}"));
        if let Err(e) = std::fs::write(&path, bytes) {
            eprintln!("cairn-fuzz: cannot write {}: {e}", path.display());
        }
    }
    eprintln!(
        "cairn-fuzz: wrote {} seeds for {target} into {}",
        seeds.len(),
        dir.display()
    );
}

/// The seeds of one target, by name.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "signed_transaction" => sample_transactions()
            .into_iter()
            .map(|(name, tx)| (name.to_string(), tx.encode()))
            .collect(),
        "state_key" => state_keys(),
        "reward_proof" => reward_proofs(),
        "text_parsers" => texts(),
        "genesis_json" => genesis_json(),
        "ledger_block" => blocks(),
        "rpc_batch" => batch_bodies(),
        "device_report" => device_reports(),
        "oracle_log" => oracle_logs(),
        "state_multiproof" => multiproofs(),
        _ => Vec::new(),
    }
}

fn chain_id() -> ChainId {
    BoundedString::new(testkit::TEST_CHAIN_ID).unwrap_or_default()
}

/// A transaction from a labelled test account, signed for the test chain.
fn tx(label: &str, nonce: u64, action: Action) -> SignedTransaction {
    Transaction {
        chain_id: chain_id(),
        sender: addr(label),
        nonce,
        fee: testkit::test_params().tx_fee_min,
        action,
    }
    .sign(&key(label))
}

fn device_registration(owner: &str, device: &str, maker: bool) -> RegisterDevice {
    let device_key = key(device);
    let id = DeviceId(device_key.public_key());
    let subnetwork = Subnetwork::Coverage;
    RegisterDevice {
        device: id,
        subnetwork,
        maker: maker.then(|| MakerAttestation {
            maker: key(testkit::MAKER).public_key(),
            signature: key(testkit::MAKER).sign(&maker_attestation_digest(&chain_id(), &id)),
        }),
        device_signature: device_key.sign(&device_binding_digest(
            &chain_id(),
            &id,
            &addr(owner),
            subnetwork,
        )),
    }
}

fn reward_tree() -> Option<RewardTree> {
    RewardTree::build(
        testkit::USERS
            .iter()
            .enumerate()
            .map(|(i, label)| RewardLeaf {
                account: addr(label),
                cumulative: Amount::tokens(100 * (i as u128 + 1)),
            })
            .collect(),
    )
    .ok()
}

fn double_sign() -> DoubleSignEvidence {
    let consensus = key(&format!("{}/consensus", testkit::VALIDATORS[0]));
    let vote = |b: u8| {
        Vote {
            epoch: 0,
            view: 1,
            parent_view: 0,
            kind: VoteKind::Finalize,
            block: Hash([b; 32]),
        }
        .sign(&consensus, &chain_id())
    };
    DoubleSignEvidence {
        consensus_key: consensus.public_key(),
        first: vote(1),
        second: vote(2),
    }
}

/// One transaction of every kind, each from an account that could send it at genesis (nonce 0).
fn sample_transactions() -> Vec<(&'static str, SignedTransaction)> {
    let device = DeviceId(key("hotspot-1").public_key());
    let paris = Cell::from_lat_lng(48.8566, 2.3522, 12).ok();
    let mut out = vec![
        (
            "transfer",
            tx(
                "alice",
                0,
                Action::Transfer {
                    to: addr("bob"),
                    amount: Amount::tokens(5),
                },
            ),
        ),
        (
            "bond_validator",
            tx(
                "alice",
                0,
                Action::BondValidator {
                    amount: Amount::tokens(50_000),
                    keys: Some(ValidatorKeys::derive(
                        &ChainId::new(testkit::TEST_CHAIN_ID).unwrap_or_default(),
                        &addr("alice"),
                        &key("alice/consensus"),
                        0,
                        4,
                    )),
                },
            ),
        ),
        (
            "bond_oracle",
            tx(
                "bob",
                0,
                Action::BondOracle {
                    amount: Amount::tokens(10_000),
                },
            ),
        ),
        (
            "unbond",
            tx(
                testkit::VALIDATORS[1],
                0,
                Action::Unbond {
                    role: StakeRole::Validator,
                    amount: Amount::tokens(1),
                },
            ),
        ),
        (
            "withdraw_unbonded",
            tx("alice", 0, Action::WithdrawUnbonded),
        ),
        (
            "report_double_sign",
            tx(
                "carol",
                0,
                Action::ReportDoubleSign {
                    evidence: double_sign(),
                },
            ),
        ),
        (
            "register_device",
            tx(
                "alice",
                0,
                Action::RegisterDevice(device_registration("alice", "hotspot-1", true)),
            ),
        ),
        (
            "transfer_device",
            tx(
                "alice",
                0,
                Action::TransferDevice {
                    device,
                    new_owner: addr("bob"),
                },
            ),
        ),
        (
            "retire_device",
            tx("alice", 0, Action::RetireDevice { device }),
        ),
        (
            "post_price",
            tx(
                testkit::ORACLES[0],
                0,
                Action::PostPrice {
                    price: Price(1_000_000_000),
                },
            ),
        ),
        (
            "burn_for_credits",
            tx(
                "alice",
                0,
                Action::BurnForCredits {
                    amount: Amount::tokens(10),
                    recipient: addr("alice"),
                    min_credits: Credits(0),
                },
            ),
        ),
        (
            "delegate_credits",
            tx(
                "alice",
                0,
                Action::DelegateCredits {
                    payer: addr("bob"),
                    subnetwork: Subnetwork::Sensing,
                    credits: Credits(100),
                },
            ),
        ),
        (
            "spend_credits",
            tx(
                "alice",
                0,
                Action::SpendCredits {
                    subnetwork: Subnetwork::Storage,
                    credits: Credits(10),
                    usage: Hash([9; 32]),
                },
            ),
        ),
        (
            "lock",
            tx(
                "alice",
                0,
                Action::Lock {
                    amount: Amount::tokens(1_000),
                    duration_epochs: 50,
                },
            ),
        ),
        ("unlock", tx("alice", 0, Action::Unlock)),
        (
            "propose",
            tx(
                "alice",
                0,
                Action::Propose {
                    action: ProposalAction::SetParameter {
                        param: ParamId::TxFeeMin,
                        value: 2_000,
                    },
                    description: BoundedString::new("raise the fee").unwrap_or_default(),
                },
            ),
        ),
        (
            "vote",
            tx(
                "alice",
                0,
                Action::Vote {
                    proposal: 0,
                    choice: VoteChoice::Yes,
                },
            ),
        ),
        (
            "execute_proposal",
            tx("alice", 0, Action::ExecuteProposal { proposal: 0 }),
        ),
    ];
    if let Some(cell) = paris {
        out.push((
            "assert_location",
            tx("alice", 0, Action::AssertLocation { device, cell }),
        ));
    }
    if let Some(tree) = reward_tree() {
        let root = tree.root();
        // A storage root, and a connectivity root settling one payer's debt.
        let settling = [Settlement {
            payer: addr("bob"),
            credits: Credits(40),
            signed: Credits(50),
        }];
        for (name, subnetwork, settlements) in [
            ("submit_reward_root", Subnetwork::Storage, &[][..]),
            (
                "submit_reward_root_settling",
                Subnetwork::Connectivity,
                &settling[..],
            ),
        ] {
            let digest = reward_root_digest(&chain_id(), Epoch(0), subnetwork, &root, settlements);
            let signatures = testkit::ORACLES
                .iter()
                .map(|o| OracleSignature {
                    oracle: addr(o),
                    signature: key(o).sign(&digest),
                })
                .collect();
            if let Ok(signatures) = BoundedVec::new(signatures) {
                out.push((
                    name,
                    tx(
                        "carol",
                        0,
                        Action::SubmitRewardRoot(RewardRootSubmission {
                            epoch: Epoch(0),
                            subnetwork,
                            root,
                            signatures,
                            settlements: BoundedVec::new(settlements.to_vec()).unwrap_or_default(),
                        }),
                    ),
                ));
            }
        }
        // Oracle 0 signs a second, different storage root for epoch 0: evidence that slashes it.
        let other = cairn_types::reward_tree::RewardNode {
            hash: cairn_types::Hash([9; 32]),
            sum: root.sum,
        };
        let none = cairn_types::tx::settlements_digest(&[]);
        let signed_root = |root: cairn_types::reward_tree::RewardNode| {
            let digest = reward_root_digest(&chain_id(), Epoch(0), Subnetwork::Storage, &root, &[]);
            cairn_types::oracle_evidence::SignedRoot {
                root,
                settlements: none,
                signature: key(testkit::ORACLES[0]).sign(&digest),
            }
        };
        out.push((
            "report_oracle_double_sign",
            tx(
                "carol",
                0,
                Action::ReportOracleDoubleSign {
                    evidence: cairn_types::oracle_evidence::OracleDoubleSignEvidence {
                        oracle: addr(testkit::ORACLES[0]),
                        epoch: Epoch(0),
                        subnetwork: Subnetwork::Storage,
                        first: signed_root(root),
                        second: signed_root(other),
                    },
                },
            ),
        ));
        let claims: Vec<RewardClaim> = testkit::USERS
            .iter()
            .filter_map(|u| tree.proof(&addr(u)))
            .map(|(leaf, proof)| RewardClaim {
                subnetwork: Subnetwork::Storage,
                account: leaf.account,
                cumulative: leaf.cumulative,
                proof,
            })
            .collect();
        if let Ok(claims) = BoundedVec::new(claims) {
            out.push((
                "claim_rewards",
                tx("dave", 0, Action::ClaimRewards { claims }),
            ));
        }
    }
    out
}

fn state_keys() -> Vec<(String, Vec<u8>)> {
    let a = addr("alice");
    let d = DeviceId(key("hotspot-1").public_key());
    [
        StateKey::ChainState,
        StateKey::Account(a),
        StateKey::DeviceLocation(d, 3),
        StateKey::DelegatedCredits(a, Subnetwork::Energy),
        StateKey::EmissionPool(Epoch(7), Subnetwork::Compute),
        StateKey::RewardClaimed(Subnetwork::Storage, a),
        StateKey::ProposalVote(1, a),
    ]
    .iter()
    .enumerate()
    .map(|(i, k)| (format!("key-{i}"), k.to_bytes()))
    .collect()
}

fn reward_proofs() -> Vec<(String, Vec<u8>)> {
    let Some(tree) = reward_tree() else {
        return Vec::new();
    };
    let root = codec::encode(&tree.root());
    let mut out = Vec::new();
    for (i, leaf) in tree.leaves().iter().enumerate() {
        if let Some((leaf, proof)) = tree.proof(&leaf.account) {
            let mut bytes = root.clone();
            bytes.extend(codec::encode(&leaf));
            bytes.extend(codec::encode(&proof));
            out.push((format!("proof-{i}"), bytes));
        }
    }
    let leaves: Vec<u8> = tree.leaves().iter().flat_map(codec::encode).collect();
    out.push(("leaves".to_string(), leaves));
    out
}

fn texts() -> Vec<(String, Vec<u8>)> {
    let pk = key("alice").public_key();
    let mut texts = vec![
        addr("alice").to_string(),
        DeviceId(pk).to_string(),
        hex_string(&pk.0),
        "12.5".to_string(),
        "0.000001".to_string(),
        "340282366920938463463374607431768.211455".to_string(),
        Hash([0xab; 32]).to_string(),
    ];
    if let Ok(cell) = Cell::from_lat_lng(48.8566, 2.3522, 12) {
        texts.push(cell.to_string());
    }
    texts.push(
        cairn_types::signed_request::SignedRequest::sign(
            &key("oracle-0"),
            testkit::TEST_CHAIN_ID,
            ("GET", "/v1/status", b""),
            1_700_000_000_000,
            [7; 16],
        )
        .to_header(),
    );
    texts.extend(ParamId::ALL.iter().map(ToString::to_string));
    texts.extend(Subnetwork::ALL.iter().map(ToString::to_string));
    texts
        .into_iter()
        .enumerate()
        .map(|(i, t)| (format!("text-{i}"), t.into_bytes()))
        .collect()
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn genesis_json() -> Vec<(String, Vec<u8>)> {
    serde_json::to_vec_pretty(&testkit::test_genesis())
        .map(|json| vec![("test-genesis".to_string(), json)])
        .unwrap_or_default()
}

/// Encodes a `ledger_block` input: head byte (count, re-sign flag), then length-prefixed txs.
pub fn block_input(resign: bool, txs: &[SignedTransaction]) -> Vec<u8> {
    let mut out = vec![(txs.len().min(8) as u8) | if resign { 0x80 } else { 0 }];
    for tx in txs.iter().take(8) {
        let bytes = tx.encode();
        let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
        out.extend(len.to_le_bytes());
        out.extend(&bytes[..usize::from(len)]);
    }
    out
}

fn blocks() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![("empty".to_string(), block_input(false, &[]))];
    for (name, tx) in sample_transactions() {
        out.push((
            name.to_string(),
            block_input(false, std::slice::from_ref(&tx)),
        ));
        out.push((
            format!("{name}-resign"),
            block_input(true, std::slice::from_ref(&tx)),
        ));
    }
    let device = DeviceId(key("hotspot-1").public_key());
    let mut devices = vec![
        tx(
            testkit::ORACLES[0],
            0,
            Action::PostPrice {
                price: Price(1_000_000_000),
            },
        ),
        tx(
            "alice",
            0,
            Action::BurnForCredits {
                amount: Amount::tokens(10),
                recipient: addr("alice"),
                min_credits: Credits(0),
            },
        ),
        tx(
            "alice",
            1,
            Action::RegisterDevice(device_registration("alice", "hotspot-1", true)),
        ),
    ];
    let mut nonce = 2;
    if let Ok(cell) = Cell::from_lat_lng(45.764, 4.8357, 12) {
        devices.push(tx("alice", nonce, Action::AssertLocation { device, cell }));
        nonce += 1;
    }
    devices.push(tx(
        "alice",
        nonce,
        Action::TransferDevice {
            device,
            new_owner: addr("bob"),
        },
    ));
    devices.push(tx("bob", 0, Action::RetireDevice { device }));
    let sequences: Vec<(&str, Vec<SignedTransaction>)> = vec![
        ("devices", devices),
        (
            "lock-propose-vote",
            vec![
                tx(
                    "alice",
                    0,
                    Action::Lock {
                        amount: Amount::tokens(1_000),
                        duration_epochs: 50,
                    },
                ),
                tx(
                    "alice",
                    1,
                    Action::Propose {
                        action: ProposalAction::TreasurySpend {
                            to: addr("bob"),
                            amount: Amount::tokens(1),
                        },
                        description: BoundedString::default(),
                    },
                ),
                tx(
                    "alice",
                    2,
                    Action::Vote {
                        proposal: 0,
                        choice: VoteChoice::Yes,
                    },
                ),
            ],
        ),
        (
            "transfers",
            vec![
                tx(
                    "alice",
                    0,
                    Action::Transfer {
                        to: addr("bob"),
                        amount: Amount::tokens(5),
                    },
                ),
                tx(
                    "bob",
                    0,
                    Action::Transfer {
                        to: addr("carol"),
                        amount: Amount::tokens(1_000_004),
                    },
                ),
                tx(
                    "carol",
                    0,
                    Action::Transfer {
                        to: addr("carol"),
                        amount: Amount(1),
                    },
                ),
            ],
        ),
    ];
    for (name, txs) in sequences {
        out.push((name.to_string(), block_input(false, &txs)));
        out.push((format!("{name}-resign"), block_input(true, &txs)));
    }
    out
}

/// Batch submission bodies: well formed, over a small limit, and a few wrong shapes.
fn batch_bodies() -> Vec<(String, Vec<u8>)> {
    let tx = hex_of(&sample_transactions()[0].1.encode());
    [
        ("one", format!(r#"{{"txs": ["{tx}"]}}"#)),
        ("three", format!(r#"{{"txs": ["{tx}", "00", "zz"]}}"#)),
        (
            "nine",
            format!(r#"{{"txs": [{}]}}"#, vec!["\"00\""; 9].join(",")),
        ),
        ("escaped", r#"{"txs": ["a\u0062"]}"#.to_string()),
        ("nested", r#"{"txs": [[[[]]]]}"#.to_string()),
    ]
    .into_iter()
    .map(|(name, body)| (name.to_string(), body.into_bytes()))
    .collect()
}

/// Lowercase hex of `bytes`.
fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A heartbeat, a reading and a transfer of a test device, signed with its session key.
fn sample_reports() -> Vec<cairn_types::report::SignedReport> {
    use cairn_types::report::{ReportBody, ReportPayload, SessionCert, SignedReport};
    let device = key("device-0");
    let session = key("device-0/session");
    let cert = SessionCert::issue(&chain_id(), &device, session.public_key(), 1 << 42);
    let payloads = [
        ReportPayload::Heartbeat { uptime_secs: 60 },
        ReportPayload::Reading {
            sensor: BoundedString::new("temperature").unwrap_or_default(),
            value_milli: -4_250,
        },
        ReportPayload::Transfer {
            transfer: cairn_types::transfer::TransferReceipt {
                payer: cairn_types::Address(key("payer").public_key()),
                device: cairn_types::DeviceId(device.public_key()),
                session: 1,
                seq: 0,
                bytes: 1 << 20,
                time_ms: 1_800_000_000_000,
            }
            .sign(&chain_id(), &key("payer")),
        },
    ];
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, payload)| {
            let body = ReportBody {
                time_ms: 1_800_000_000_000 + i as u64,
                entropy: Hash([7; 32]),
                payload,
            };
            SignedReport::sign(&chain_id(), cert.clone(), &session, body)
        })
        .collect()
}

fn device_reports() -> Vec<(String, Vec<u8>)> {
    let reports = sample_reports();
    let mut seeds: Vec<(String, Vec<u8>)> = reports
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("report-{i}"), r.encode()))
        .collect();
    if let Ok(batch) = cairn_types::report::ReportBatch::of(&reports) {
        seeds.push(("batch".into(), batch.encode()));
    }
    seeds
}

fn oracle_logs() -> Vec<(String, Vec<u8>)> {
    use cairn_oracle::log::format::{encode_file, write_frame};
    use cairn_types::report::LoggedReport;
    let mut frames = Vec::new();
    for (i, report) in sample_reports().into_iter().enumerate() {
        write_frame(
            &mut frames,
            &LoggedReport {
                received_ms: 1_800_000_000_100 + i as u64,
                report,
            },
        );
    }
    let mut seeds = Vec::new();
    if let Ok(file) = encode_file(&addr("oracle-0"), &frames) {
        // Byte 0 picks the decoder: 0 = log file, 1 = manifest.
        seeds.push(("log".into(), [&[0u8][..], &file].concat()));
    }
    seeds
}

/// A small state (40 keys) in a temporary ledger store, and the keys a multi-proof is made for
/// (12 present, the last three absent).
fn small_state() -> Option<(
    tempfile::TempDir,
    cairn_ledger::store::LedgerStore,
    Vec<Vec<u8>>,
)> {
    let dir = tempfile::tempdir().ok()?;
    let store = cairn_ledger::store::LedgerStore::create(&dir.path().join("state.redb")).ok()?;
    let changes: cairn_ledger::state::overlay::Changes = (0..40u32)
        .map(|i| (format!("key-{i}").into_bytes(), Some(format!("value-{i}").into_bytes())))
        .collect();
    store.commit(0, &changes, true).ok()?;
    let keys = (0..12u32)
        .map(|i| format!("key-{}", i * 3).into_bytes())
        .chain((100..103u32).map(|i| format!("key-{i}").into_bytes()))
        .collect();
    Some((dir, store, keys))
}

/// The small state's root, its keys and their values: what the fuzzed proofs are checked for.
pub fn multiproof_tree() -> (cairn_types::Hash, Vec<Vec<u8>>, Vec<Option<Vec<u8>>>) {
    type Tree = (cairn_types::Hash, Vec<Vec<u8>>, Vec<Option<Vec<u8>>>);
    static TREE: std::sync::OnceLock<Tree> = std::sync::OnceLock::new();
    TREE.get_or_init(|| {
        let (_dir, store, keys) = small_state().unwrap_or_else(|| panic!("a small state"));
        let (values, _, root) = store
            .reader()
            .prove_many(&keys, 0)
            .unwrap_or_else(|e| panic!("a proof: {e}"));
        (root, keys, values)
    })
    .clone()
}

fn multiproofs() -> Vec<(String, Vec<u8>)> {
    let Some((_dir, store, keys)) = small_state() else {
        return Vec::new();
    };
    [("all-keys", &keys[..]), ("one-key", &keys[..1])]
        .into_iter()
        .filter_map(|(name, keys)| {
            let (_, proof, _) = store.reader().prove_many(keys, 0).ok()?;
            Some((name.to_string(), proof.encode()))
        })
        .collect()
}
