//! `cairn agent --config agent.toml`: run the edge agent (its devices' heartbeats and readings,
//! delivered to the oracles) until Ctrl-C or SIGTERM; with `[register]`, first register every
//! device that is not on chain yet, signed by its owner, and assert the location of each
//! simulated coverage device and weather station that has none (and the second location of
//! each simulated station that plays a mover, once it has its first); and for simulated
//! hotspots, top up the payer key's delegated connectivity credits to `delegate_credits` when
//! it holds under half of them (the owner burns tokens for the credits if it must).

use crate::client::NodeClient;
use crate::cmd_node::init_logging;
use crate::context::passphrase;
use crate::keystore::Keystore;
use anyhow::{bail, Context as _, Result};
use cairn_agent::config::AgentConfig;
use cairn_agent::coverage::Planner;
use cairn_agent::run::{device_signers, payer_signer, Agent};
use cairn_agent::signer::DeviceSigner;
use cairn_agent::weather::Stations;
use cairn_types::params::{ChainId, Params};
use cairn_types::tx::{device_binding_digest, Action, RegisterDevice, Transaction};
use cairn_types::{Address, Cell, Credits, DeviceId, SecretKey, Subnetwork};
use clap::Args;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options.
#[derive(Args)]
pub(crate) struct AgentArgs {
    /// The agent's configuration file (agent.toml).
    #[arg(long)]
    config: PathBuf,
}

/// How long registration waits for its transactions.
const REGISTER_WAIT: Duration = Duration::from_secs(120);

/// Runs `cairn agent`.
pub(crate) fn run(args: AgentArgs) -> Result<()> {
    init_logging();
    let config = AgentConfig::load(&args.config)?;
    if !config.register.node.is_empty() {
        register_devices(&config)?;
        fund_payer(&config)?;
    }
    let agent = Agent::open(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("agent")
        .build()
        .context("starting the agent's runtime")?;
    runtime.block_on(cairn_agent::run::run(
        agent,
        crate::cmd_oracle::stop_signal(),
    ))?;
    Ok(())
}

/// Registers, for the configured owner, each device the node does not know yet.
pub(crate) fn register_devices(config: &AgentConfig) -> Result<()> {
    let node = NodeClient::new(&config.register.node);
    let start = Instant::now();
    let status: Value = loop {
        match node.get("/v1/status") {
            Ok(status) => break status,
            Err(error) if start.elapsed() > REGISTER_WAIT => {
                return Err(error.context("the node to register through does not answer"))
            }
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    };
    if status["chain_id"].as_str() != Some(config.chain_id.as_str()) {
        bail!(
            "the node serves chain `{}`, but agent.toml names `{}`: not registering",
            status["chain_id"].as_str().unwrap_or(""),
            config.chain_id
        );
    }
    let name = &config.register.owner;
    let owner_key = Keystore::new(&config.register.owner_home)
        .load(name, || passphrase(name, false).ok().flatten())
        .with_context(|| format!("loading the owner key `{name}`"))?;
    let chain_id = ChainId::new(config.chain_id.clone()).context("chain_id")?;
    let signers = device_signers(config)?;
    let places = simulated_places(config, &signers);
    let mut missing = Vec::new();
    let mut to_locate = Vec::new();
    let mut to_move = Vec::new();
    for (signer, (place, moved)) in signers.iter().zip(&places) {
        let known: Result<Value> = node.get(&format!("/v1/devices/{}", signer.device()));
        let located = known
            .as_ref()
            .is_ok_and(|record| !record["location"].is_null());
        let moves_made = known
            .as_ref()
            .map_or(0, |record| record["location_count"].as_u64().unwrap_or(0));
        if known.is_err() {
            missing.push(signer.clone());
        }
        if let (Some(cell), false) = (place, located) {
            to_locate.push((signer.device(), *cell));
        }
        if let (Some(cell), true) = (moved, moves_made < 2) {
            to_move.push((signer.device(), *cell));
        }
    }
    if missing.is_empty() && to_locate.is_empty() && to_move.is_empty() {
        return Ok(());
    }
    let params: Params = node.get("/v1/params")?;
    let needed = params
        .device_onboard_fee_dc
        .0
        .saturating_mul(missing.len() as u64)
        .saturating_add(
            params
                .location_assert_fee_dc
                .0
                .saturating_mul((to_locate.len() + to_move.len()) as u64),
        );
    ensure_credits(&node, &chain_id, &owner_key, config, Credits(needed))?;
    let owner = Address(owner_key.public_key());
    if !missing.is_empty() {
        let ids = send_registrations(&node, &chain_id, &owner_key, config, &missing)?;
        wait_included(&node, &ids)?;
        eprintln!("registered {} device(s) for {owner}", missing.len());
    }
    if !to_locate.is_empty() {
        let ids = send_locations(&node, &chain_id, &owner_key, &to_locate)?;
        wait_included(&node, &ids)?;
        eprintln!(
            "asserted the location of {} simulated device(s); an asserted cell is public chain \
             state (any node serves it, with proofs, at the resolution asserted, 12 for \
             coverage devices: about 300 m²), while rewards publish resolution 8",
            to_locate.len()
        );
    }
    if !to_move.is_empty() {
        let ids = send_locations(&node, &chain_id, &owner_key, &to_move)?;
        wait_included(&node, &ids)?;
        eprintln!("moved {} simulated station(s) (movers)", to_move.len());
    }
    Ok(())
}

/// Tops the payer key up to `delegate_credits` connectivity credits, delegated by the owner,
/// when it holds under half of them.
pub(crate) fn fund_payer(config: &AgentConfig) -> Result<()> {
    let wanted = config.connectivity.delegate_credits;
    if config.device.subnetwork != Subnetwork::Connectivity || wanted == 0 {
        return Ok(());
    }
    let Some(payer) = payer_signer(config)? else {
        return Ok(());
    };
    let payer = Address(payer.device().0);
    let node = NodeClient::new(&config.register.node);
    let key = cairn_ledger::StateKey::DelegatedCredits(payer, Subnetwork::Connectivity);
    let answer: Value = node.get(&format!("/v1/state/{}", hex::encode(key.to_bytes())))?;
    let held = match answer["value"].as_str() {
        Some(value) => cairn_types::codec::decode::<Credits>(&hex::decode(value)?, 64)?,
        None => Credits(0),
    };
    if held.0 >= wanted / 2 {
        return Ok(());
    }
    let top_up = Credits(wanted - held.0);
    let name = &config.register.owner;
    let owner_key = Keystore::new(&config.register.owner_home)
        .load(name, || passphrase(name, false).ok().flatten())
        .with_context(|| format!("loading the owner key `{name}`"))?;
    let chain_id = ChainId::new(config.chain_id.clone()).context("chain_id")?;
    ensure_credits(&node, &chain_id, &owner_key, config, top_up)?;
    let action = Action::DelegateCredits {
        payer,
        subnetwork: Subnetwork::Connectivity,
        credits: top_up,
    };
    let what = format!("delegating {top_up} to the payer {payer}");
    let ids = send_as_owner(
        &node,
        &chain_id,
        &owner_key,
        std::iter::once((action, what)),
    )?;
    wait_included(&node, &ids)?;
    eprintln!("delegated {top_up} connectivity credits to the payer {payer}");
    Ok(())
}

/// Where each simulated device first says it stands (a spoofing cheater lies), and where a
/// moving station says it stands next.
fn simulated_places(
    config: &AgentConfig,
    signers: &[Arc<dyn DeviceSigner>],
) -> Vec<(Option<Cell>, Option<Cell>)> {
    let ids: Vec<DeviceId> = signers.iter().map(|s| s.device()).collect();
    let first_simulated = usize::from(!config.device.key_file.is_empty());
    match config.device.subnetwork {
        Subnetwork::Coverage => {
            let planner = Planner::new(
                &config.coverage,
                &config.simulation.seed,
                &ids,
                first_simulated,
            );
            (0..ids.len())
                .map(|i| (planner.location(i), None))
                .collect()
        }
        Subnetwork::Sensing if config.simulation.devices > 0 => {
            let stations = Stations::new(
                &config.sensing,
                &config.simulation.seed,
                ids.len(),
                first_simulated,
            );
            (0..ids.len())
                .map(|i| (stations.location(i), stations.moved_location(i)))
                .collect()
        }
        _ => vec![(None, None); signers.len()],
    }
}

/// Sends one location assertion per device, signed by the owner.
fn send_locations(
    node: &NodeClient,
    chain_id: &ChainId,
    owner_key: &SecretKey,
    places: &[(DeviceId, Cell)],
) -> Result<Vec<String>> {
    let actions = places.iter().map(|(device, cell)| {
        let action = Action::AssertLocation {
            device: *device,
            cell: *cell,
        };
        (action, format!("asserting the location of device {device}"))
    });
    send_as_owner(node, chain_id, owner_key, actions)
}

/// Signs each action as the owner, with consecutive nonces, and submits it; returns the
/// transaction ids.
fn send_as_owner(
    node: &NodeClient,
    chain_id: &ChainId,
    owner_key: &SecretKey,
    actions: impl Iterator<Item = (Action, String)>,
) -> Result<Vec<String>> {
    let owner = Address(owner_key.public_key());
    let params: Params = node.get("/v1/params")?;
    let fee = crate::wallet::fee(None, params.tx_fee_min, None, None)?;
    let account: cairn_ledger::state::records::Account =
        node.get(&format!("/v1/accounts/{owner}"))?;
    let mut ids = Vec::new();
    for (i, (action, what)) in actions.enumerate() {
        let tx = Transaction {
            chain_id: chain_id.clone(),
            sender: owner,
            nonce: account.nonce + i as u64,
            fee,
            action,
        }
        .sign(owner_key);
        let body = serde_json::json!({ "tx": hex::encode(tx.encode()) });
        let answer: Value = node.post("/v1/transactions", &body).context(what)?;
        ids.push(answer["id"].as_str().unwrap_or_default().to_string());
    }
    Ok(ids)
}

/// Burns `burn_tokens` for data credits if the owner has fewer than `needed` (what registering
/// and locating the devices costs); retries while the oracles' price is not there yet.
fn ensure_credits(
    node: &NodeClient,
    chain_id: &ChainId,
    owner_key: &SecretKey,
    config: &AgentConfig,
    needed: Credits,
) -> Result<()> {
    let owner = Address(owner_key.public_key());
    let params: Params = node.get("/v1/params")?;
    let start = Instant::now();
    loop {
        let account: cairn_ledger::state::records::Account =
            node.get(&format!("/v1/accounts/{owner}"))?;
        if account.credits >= needed {
            return Ok(());
        }
        let burn = config.register.burn_tokens;
        if burn.is_zero() {
            bail!(
                "{owner} has {} data credits, registering and locating the devices costs {needed}: burn tokens for credits first (or set [register] burn_tokens)",
                account.credits
            );
        }
        let fee = crate::wallet::fee(None, params.tx_fee_min, None, None)?;
        let tx = Transaction {
            chain_id: chain_id.clone(),
            sender: owner,
            nonce: account.nonce,
            fee,
            action: Action::BurnForCredits {
                amount: burn,
                recipient: owner,
                min_credits: Credits(needed.0 - account.credits.0),
            },
        }
        .sign(owner_key);
        let body = serde_json::json!({ "tx": hex::encode(tx.encode()) });
        let sent: Result<Value> = node.post("/v1/transactions", &body);
        match sent.and_then(|answer| {
            wait_included(
                node,
                &[answer["id"].as_str().unwrap_or_default().to_string()],
            )
        }) {
            Ok(()) => eprintln!("burned {burn} for data credits to register the devices"),
            Err(error) if start.elapsed() < REGISTER_WAIT => {
                eprintln!("waiting to burn for data credits: {error:#}");
                std::thread::sleep(Duration::from_secs(2));
            }
            Err(error) => return Err(error.context("burning tokens for data credits")),
        }
    }
}

fn send_registrations(
    node: &NodeClient,
    chain_id: &ChainId,
    owner_key: &SecretKey,
    config: &AgentConfig,
    devices: &[Arc<dyn DeviceSigner>],
) -> Result<Vec<String>> {
    let owner = Address(owner_key.public_key());
    let subnetwork = config.device.subnetwork;
    let actions = devices.iter().map(|signer| {
        let device = signer.device();
        let binding = device_binding_digest(chain_id, &device, &owner, subnetwork);
        let action = Action::RegisterDevice(RegisterDevice {
            device,
            subnetwork,
            maker: None,
            device_signature: signer.sign(&binding),
        });
        (action, format!("registering device {device}"))
    });
    send_as_owner(node, chain_id, owner_key, actions)
}

fn wait_included(node: &NodeClient, ids: &[String]) -> Result<()> {
    let start = Instant::now();
    for id in ids {
        loop {
            let status: Value = node.get(&format!("/v1/transactions/{id}"))?;
            match status["status"].as_str() {
                Some("included") => break,
                Some("failed") | Some("rejected") => bail!(
                    "registration {id} {}: {}",
                    status["status"],
                    status["reason"].as_str().unwrap_or("")
                ),
                _ if start.elapsed() > REGISTER_WAIT => {
                    bail!("registration {id} is still pending after {REGISTER_WAIT:?}")
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
    Ok(())
}
