//! The devnet's proof-of-work side: an oracle committee of three, bonded in the genesis (so the
//! price is posted and burns and device onboarding work), and one agent running simulated
//! devices owned by `alice`, which registers them on first start.
//!
//! ```text
//!   devnet/oracle-N/oracle.toml   oracle N: API on BASE+200+N, follows validator N's API
//!   devnet/agent/agent.toml       the agent: status on BASE+300, reports to every oracle
//! ```

use anyhow::Result;
use cairn_agent::config::{AgentConfig, RegisterSection, SimulationSection};
use cairn_ledger::genesis::{GenesisAccount, GenesisOracle};
use cairn_oracle::config::{LogSection, OracleConfig, PriceSection};
use cairn_types::params::Params;
use cairn_types::{Address, Amount, SecretKey};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Oracles of a new devnet.
pub(crate) const DEVNET_ORACLES: usize = 3;
/// Simulated devices of a new devnet unless `--devices` says otherwise.
pub(crate) const DEFAULT_DEVICES: u32 = 200;
/// The devnet's fixed token price: one dollar, in nano-dollars.
pub(crate) const DEVNET_PRICE_NANO_USD: u64 = 1_000_000_000;

/// The directory of oracle `i`.
pub(crate) fn oracle_dir(data_dir: &Path, i: usize) -> PathBuf {
    data_dir.join(format!("oracle-{i}"))
}

/// The agent's directory.
pub(crate) fn agent_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("agent")
}

/// The oracle-side parameters of a devnet: short windows, so that a reward epoch (one
/// consensus epoch) is cut, committed, attested and paid within a couple of minutes.
pub(crate) fn devnet_params(params: Params) -> Params {
    Params {
        uptime_window_secs: 10,
        report_skew_max_secs: 5,
        report_delay_max_secs: 20,
        // By block time, whatever the block rate: the cut-off is 25 s after an epoch's end,
        // then 20 s to commit and 20 s to attest.
        manifest_commit_secs: 20,
        manifest_attest_secs: 20,
        log_retention_epochs: 30,
        ..params
    }
}

/// The committee's keys (saved by `new_key`), funded and bonded: genesis entries.
pub(crate) fn committee(
    new_key: &dyn Fn(&str) -> Result<SecretKey>,
    stake: Amount,
) -> Result<(Vec<GenesisAccount>, Vec<GenesisOracle>)> {
    let mut accounts = Vec::new();
    let mut oracles = Vec::new();
    for i in 0..DEVNET_ORACLES {
        let address = Address(new_key(&format!("oracle-{i}"))?.public_key());
        accounts.push(GenesisAccount {
            address,
            balance: Amount::tokens(1_000),
        });
        oracles.push(GenesisOracle { address, stake });
    }
    Ok((accounts, oracles))
}

/// Writes each oracle's `oracle.toml` and the agent's `agent.toml`.
pub(crate) fn write_configs(
    data_dir: &Path,
    node_apis: &[SocketAddr],
    base_port: u16,
    devices: u32,
) -> Result<()> {
    let port = |offset: u32| -> Result<SocketAddr> {
        let p = u16::try_from(u32::from(base_port) + offset)?;
        Ok(SocketAddr::from(([127, 0, 0, 1], p)))
    };
    let mut oracle_urls = Vec::new();
    for i in 0..DEVNET_ORACLES {
        let listen = port(200 + i as u32)?;
        let node = node_apis[i % node_apis.len()];
        let config = OracleConfig {
            key: format!("oracle-{i}"),
            keys_home: "..".into(),
            data_dir: "data".into(),
            listen,
            public_url: format!("http://{listen}"),
            node: format!("http://{node}"),
            log: LogSection {
                roll_interval_secs: 5,
                ..LogSection::default()
            },
            ingest: Default::default(),
            price: PriceSection {
                source: "fixed".into(),
                nano_usd: vec![DEVNET_PRICE_NANO_USD],
                interval_secs: 30,
            },
        };
        let dir = oracle_dir(data_dir, i);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("oracle.toml"), config.to_toml())?;
        oracle_urls.push(config.public_url);
    }
    let mut agent = AgentConfig {
        chain_id: "cairn-devnet".into(),
        data_dir: "data".into(),
        oracles: oracle_urls,
        copies: 2,
        status_listen: port(300)?.to_string(),
        heartbeat_interval_secs: 10,
        clock_sync_secs: 15,
        delivery_interval_ms: 1_000,
        simulation: SimulationSection {
            devices,
            seed: "devnet".into(),
        },
        register: RegisterSection {
            node: format!("http://{}", node_apis[0]),
            owner: "alice".into(),
            owner_home: "..".into(),
            // Onboarding costs $40 of credits a device; at $1 a token, with room to spare.
            burn_tokens: Amount::tokens(50 * u128::from(devices.max(1))),
        },
        ..AgentConfig::default()
    };
    agent.device.key_file = String::new();
    let dir = agent_dir(data_dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("agent.toml"), agent.to_toml())?;
    Ok(())
}

/// The printout's part about the oracles and the agent: where they are, and how to look at
/// rewards, claim them and replay an epoch. Read from the configurations written.
pub(crate) fn guide(data_dir: &Path, node: &str) -> String {
    let home = data_dir.display();
    let mut out = String::new();
    let mut first_oracle = None;
    for i in 0..DEVNET_ORACLES {
        let dir = oracle_dir(data_dir, i);
        if let Ok(config) = OracleConfig::load(&dir.join("oracle.toml")) {
            let url = config.public_url.clone();
            out.push_str(&format!(
                "oracle {i}: api {url}  log {}\n",
                dir.join("oracle.log").display()
            ));
            first_oracle.get_or_insert(url);
        }
    }
    let agent = agent_dir(data_dir);
    if let Ok(config) = AgentConfig::load(&agent.join("agent.toml")) {
        out.push_str(&format!(
            "agent: {} simulated device(s) owned by alice, status http://{}/status  log {}\n",
            config.simulation.devices,
            config.status_listen,
            agent.join("agent.log").display()
        ));
    }
    if let Some(oracle) = first_oracle {
        out.push_str(&format!(
            "\nrewards (a reward epoch is paid about a minute after it ends):\n  \
             cairn --home {home} rewards show --oracle {oracle} --epoch 1 --owner alice\n  \
             cairn --home {home} rewards claim --oracle {oracle} --node {node} --from alice\n  \
             cairn --home {home} oracle replay --node {node} --epoch 1\n"
        ));
    }
    out
}
