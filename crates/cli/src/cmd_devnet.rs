//! `cairn devnet`: a local network of validators on this machine, one `cairn node` process
//! each, with prefunded accounts. The first run writes keys, a genesis and one `node.toml` per
//! validator under the data directory; a later run with the same directory resumes that
//! network where it stopped.

use crate::cmd_genesis::now_ms;
use crate::keystore::Keystore;
pub(crate) use crate::node_process::{node_dir, wait_ready};
use crate::supervisor::Supervised;
use anyhow::{bail, Context as _, Result};
use cairn_ledger::genesis::{Genesis, GenesisAccount, GenesisValidator};
use cairn_node::config::{ConsensusSettings, MempoolSettings, NodeConfig};
use cairn_types::params::{ChainConfig, ChainId, ConsensusRules, EmissionSchedule, Params};
use cairn_types::validator_keys::ValidatorKeys;
use cairn_types::{Address, Amount, PublicKey, SecretKey};
use clap::Args;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The accounts every devnet funds.
pub(crate) const FUNDED: [&str; 3] = ["alice", "bob", "carol"];

/// Options.
#[derive(Args)]
pub(crate) struct DevnetArgs {
    /// How many validators (a new devnet has 4; a resumed one keeps its own).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=16))]
    validators: Option<u16>,
    /// Where the devnet keeps keys, genesis and each validator's state.
    #[arg(long, default_value = "devnet")]
    data_dir: PathBuf,
    /// Validator i listens for peers on BASE+i and serves its API on BASE+100+i.
    #[arg(long, default_value_t = 27_000)]
    base_port: u16,
    /// Blocks per epoch of a new devnet (the validator set can change at each epoch's end).
    #[arg(long, default_value_t = DEFAULT_BLOCKS_PER_EPOCH,
          value_parser = clap::value_parser!(u64).range(2..))]
    blocks_per_epoch: u64,
    /// Honest simulated weather stations of a new devnet; 3 cheaters run beside them (0: no sensing agent, and no cheaters).
    #[arg(long, default_value_t = crate::devnet_services::DEFAULT_DEVICES)]
    devices: u32,
    /// Honest simulated coverage devices of a new devnet; 23 cheaters run beside them (0: no
    /// coverage agent, and no cheaters).
    #[arg(long, default_value_t = crate::devnet_services::DEFAULT_COVERAGE_DEVICES)]
    coverage_devices: u32,
    /// Honest simulated hotspots of a new devnet, carrying a payer's data; 3 cheaters run
    /// beside them (0: no connectivity agent, and no cheaters).
    #[arg(long, default_value_t = crate::devnet_services::DEFAULT_HOTSPOTS)]
    hotspots: u32,
    /// Write the keys, genesis and configs, then exit without starting the nodes.
    #[arg(long)]
    init_only: bool,
}

/// A new devnet's epoch length: 600 blocks, about two minutes.
pub(crate) const DEFAULT_BLOCKS_PER_EPOCH: u64 = 600;

/// Writes a new devnet's keys, genesis and node configurations; `extra` accounts are funded in
/// the genesis too (their keys are the caller's).
pub(crate) fn create(
    data_dir: &Path,
    validators: usize,
    base_port: u16,
    blocks_per_epoch: u64,
    extra: &[GenesisAccount],
    agents: (u32, u32, u32),
) -> Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let keystore = Keystore::new(data_dir);
    let new_key = |name: &str| -> Result<SecretKey> {
        let key = SecretKey::generate().context("the system's random source")?;
        keystore.save(name, &key, None)?;
        Ok(key)
    };
    let (genesis, consensus_keys) = devnet_genesis(validators, blocks_per_epoch, extra, &new_key)?;
    std::fs::write(
        data_dir.join("genesis.json"),
        serde_json::to_string_pretty(&genesis)?,
    )?;
    // The wallet signs for the chain this home names, never for the one a node claims.
    crate::wallet::HomeConfig {
        chain_id: None,
        genesis: Some(PathBuf::from("genesis.json")),
    }
    .save(data_dir)?;
    let apis = write_node_configs(data_dir, &consensus_keys, base_port)?;
    crate::devnet_services::write_configs(data_dir, &apis, base_port, agents)?;
    Ok(())
}

/// Seat keys each devnet validator registers (enough for any stake it may bond on a devnet).
const DEVNET_SEAT_KEYS: u32 = 8;

/// The devnet's genesis: `validators` validators with fresh keys (saved by `new_key`), the
/// funded accounts, and `extra`. Returns it with the validators' consensus keys, in order.
fn devnet_genesis(
    validators: usize,
    blocks_per_epoch: u64,
    extra: &[GenesisAccount],
    new_key: &dyn Fn(&str) -> Result<SecretKey>,
) -> Result<(Genesis, Vec<PublicKey>)> {
    // One seat per validator: with equal stakes, `max_seats` = validators gives each one engine,
    // which is what a devnet on two cores can run; an attacker needs a seat's stake to get one.
    let params = crate::devnet_services::devnet_params(Params {
        max_seats: (validators as u64).max(1),
        ..Params::default()
    });
    let mut genesis = Genesis {
        chain: ChainConfig {
            chain_id: ChainId::new("cairn-devnet".to_string()).context("chain id")?,
            blocks_per_epoch,
            emission: EmissionSchedule {
                initial_per_epoch: Amount::tokens(10_000),
                halving_interval_epochs: 730,
                emission_cap: Amount::tokens(150_000_000),
            },
            consensus: ConsensusRules::default(),
            protocol_version: cairn_ledger::protocol::CURRENT_PROTOCOL_VERSION,
            epochs_per_reward_epoch: 1,
        },
        genesis_time_ms: now_ms(),
        params: params.clone(),
        accounts: Vec::new(),
        validators: Vec::new(),
        oracles: Vec::new(),
        makers: Vec::new(),
        carried: None,
    };
    genesis.params = crate::devnet_services::fit_windows(genesis.params, &genesis.chain);
    let mut consensus_keys = Vec::new();
    for i in 0..validators {
        let account = new_key(&format!("validator-{i}"))?;
        let consensus = new_key(&format!("validator-{i}-consensus"))?;
        let address = Address(account.public_key());
        genesis.validators.push(GenesisValidator {
            address,
            stake: params.validator_stake_min.max(Amount::tokens(10_000)),
            keys: ValidatorKeys::derive(
                &genesis.chain.chain_id,
                &address,
                &consensus,
                0,
                DEVNET_SEAT_KEYS,
            ),
            consent: None,
        });
        genesis.accounts.push(GenesisAccount {
            address: Address(account.public_key()),
            balance: Amount::tokens(1_000),
        });
        consensus_keys.push(consensus.public_key());
    }
    for name in FUNDED {
        let key = new_key(name)?;
        genesis.accounts.push(GenesisAccount {
            address: Address(key.public_key()),
            balance: Amount::tokens(1_000_000),
        });
    }
    let (oracle_accounts, oracles) = crate::devnet_services::committee(
        new_key,
        params.oracle_stake_min.max(Amount::tokens(5_000)),
    )?;
    genesis.accounts.extend(oracle_accounts);
    genesis.oracles = oracles;
    genesis.accounts.extend_from_slice(extra);
    genesis.validate().context("the devnet genesis")?;
    Ok((genesis, consensus_keys))
}

/// One `node.toml` per validator under `data_dir`, each listing the others as peers; returns
/// their API addresses.
fn write_node_configs(
    data_dir: &Path,
    consensus_keys: &[PublicKey],
    base_port: u16,
) -> Result<Vec<SocketAddr>> {
    let validators = consensus_keys.len();
    let addr = |port: u32| -> Result<SocketAddr> {
        let port = u16::try_from(port).context("--base-port is too high for this many nodes")?;
        Ok(SocketAddr::from(([127, 0, 0, 1], port)))
    };
    let mut apis = Vec::new();
    for i in 0..validators {
        let mut peers = BTreeMap::new();
        for (j, key) in consensus_keys.iter().enumerate() {
            if j != i {
                peers.insert(hex::encode(key.0), addr(u32::from(base_port) + j as u32)?);
            }
        }
        let config = NodeConfig {
            genesis: PathBuf::from("../genesis.json"),
            data_dir: PathBuf::from("data"),
            keys_home: PathBuf::from(".."),
            consensus_key: format!("validator-{i}-consensus"),
            account_key: Some(format!("validator-{i}")),
            p2p_listen: addr(u32::from(base_port) + i as u32)?,
            rpc_listen: addr(u32::from(base_port) + 100 + i as u32)?,
            peers,
            consensus: ConsensusSettings::default(),
            mempool: MempoolSettings::default(),
            api: cairn_node::rpc::ApiLimits::default(),
        };
        let dir = node_dir(data_dir, i);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("node.toml"), config.to_toml())?;
        apis.push(config.rpc_listen);
    }
    Ok(apis)
}

/// The node configurations of an existing devnet, in order.
pub(crate) fn configs(data_dir: &Path) -> Result<Vec<(PathBuf, NodeConfig)>> {
    let mut out = Vec::new();
    for i in 0.. {
        let path = node_dir(data_dir, i).join("node.toml");
        if !path.exists() {
            break;
        }
        let config = NodeConfig::load(&path)?;
        out.push((path, config));
    }
    Ok(out)
}

/// Runs `cairn devnet`.
pub(crate) fn run(args: DevnetArgs) -> Result<()> {
    let configs = create_or_resume(&args)?;
    if args.init_only {
        return Ok(());
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
    }
    // Runs until Ctrl-C, restarting any process that exits or validator that halts.
    crate::supervisor::supervise(processes(&args.data_dir, &configs), &stop, &|| {
        await_ready(&args.data_dir, &configs)
    });
    println!("stopped; run the same command again to resume");
    Ok(())
}

/// Every process of the devnet: its validators, then its oracles and its agents (when their
/// configurations exist: a devnet made by an older version has none).
pub(crate) fn processes(data_dir: &Path, configs: &[(PathBuf, NodeConfig)]) -> Vec<Supervised> {
    let mut out: Vec<Supervised> = configs
        .iter()
        .enumerate()
        .map(|(i, (path, config))| Supervised {
            label: format!("validator {i}"),
            subcommand: "node",
            config: path.clone(),
            log: node_dir(data_dir, i).join("node.log"),
            pid_file: node_dir(data_dir, i).join("node.pid"),
            halt_check: Some(format!("http://{}", config.rpc_listen)),
        })
        .collect();
    for i in 0.. {
        let dir = crate::devnet_services::oracle_dir(data_dir, i);
        if !dir.join("oracle.toml").exists() {
            break;
        }
        out.push(Supervised {
            label: format!("oracle {i}"),
            subcommand: "oracle",
            config: dir.join("oracle.toml"),
            log: dir.join("oracle.log"),
            pid_file: dir.join("oracle.pid"),
            halt_check: None,
        });
    }
    let agents = [
        ("agent", crate::devnet_services::agent_dir(data_dir)),
        (
            "coverage agent",
            crate::devnet_services::coverage_agent_dir(data_dir),
        ),
        (
            "connectivity agent",
            crate::devnet_services::connectivity_agent_dir(data_dir),
        ),
    ];
    for (label, dir) in agents {
        if dir.join("agent.toml").exists() {
            out.push(Supervised {
                label: label.into(),
                subcommand: "agent",
                config: dir.join("agent.toml"),
                log: dir.join("agent.log"),
                pid_file: dir.join("agent.pid"),
                halt_check: None,
            });
        }
    }
    out
}

/// Waits until every validator answers (saying which did not within 60 s), then prints how to
/// use the devnet.
pub(crate) fn await_ready(data_dir: &Path, configs: &[(PathBuf, NodeConfig)]) {
    for (i, (_, config)) in configs.iter().enumerate() {
        if !wait_ready(config.rpc_listen, Duration::from_secs(60)) {
            eprintln!(
                "validator {i} did not answer on {} within 60 s; see {}",
                config.rpc_listen,
                node_dir(data_dir, i).join("node.log").display()
            );
        }
    }
    print_guide(data_dir, configs);
}

/// Creates the devnet in `args.data_dir`, or checks the one already there; returns its node
/// configurations.
fn create_or_resume(args: &DevnetArgs) -> Result<Vec<(PathBuf, NodeConfig)>> {
    let resumed = args.data_dir.join("genesis.json").exists();
    if !resumed {
        let validators = args.validators.unwrap_or(4);
        create(
            &args.data_dir,
            usize::from(validators),
            args.base_port,
            args.blocks_per_epoch,
            &[],
            (args.devices, args.coverage_devices, args.hotspots),
        )?;
        println!(
            "created a devnet of {validators} validators in {}",
            args.data_dir.display()
        );
    }
    let configs = configs(&args.data_dir)?;
    if configs.is_empty() {
        bail!(
            "{} has a genesis but no node-*/node.toml",
            args.data_dir.display()
        );
    }
    if resumed {
        if let Some(wanted) = args.validators {
            if configs.len() != usize::from(wanted) {
                bail!(
                    "{} holds a devnet of {} validators; use another --data-dir for {wanted}",
                    args.data_dir.display(),
                    configs.len(),
                );
            }
        }
        println!(
            "resuming the devnet of {} validators in {}",
            configs.len(),
            args.data_dir.display()
        );
    }
    Ok(configs)
}

fn print_guide(data_dir: &Path, configs: &[(PathBuf, NodeConfig)]) {
    println!();
    for (i, (_, config)) in configs.iter().enumerate() {
        println!(
            "validator {i}: api http://{}  p2p {}  log {}",
            config.rpc_listen,
            config.p2p_listen,
            node_dir(data_dir, i).join("node.log").display()
        );
    }
    let node = format!("http://{}", configs[0].1.rpc_listen);
    print!("{}", crate::devnet_services::guide(data_dir, &node));
    let home = data_dir.display();
    println!(
        "\nfunded accounts: {} (keys in {home}/keys)\n\ntry, in another terminal:\n  \
         curl {node}/v1/status\n  \
         cairn --home {home} tx --node {node} --from alice --wait transfer --to bob --amount 12.5\n  \
         cairn --home {home} query --node {node} account bob\n  \
         cairn --home {home} query --node {node} --prove --wait-attested --verify --genesis {home}/genesis.json account bob\n\n\
         A validator that exits or halts is restarted (with a backoff; the reason is printed here).\n\
         Ctrl-C stops the network; the same command resumes it.",
        FUNDED.join(", ")
    );
}
