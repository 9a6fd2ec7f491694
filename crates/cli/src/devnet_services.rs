//! The devnet's proof-of-work side: an oracle committee of three, bonded in the genesis (so the
//! price is posted and burns and device onboarding work), one agent running simulated weather
//! stations owned by `alice`, honest ones and [`DEVNET_STATION_CHEATERS`], and one running
//! simulated coverage devices owned by `bob`, honest ones and [`DEVNET_CHEATERS`], and one
//! running simulated hotspots owned by `carol`, honest ones and [`DEVNET_HOTSPOT_CHEATERS`],
//! carrying data for a payer key whose connectivity credits carol delegates. Each agent
//! registers its devices (and asserts their locations) on first start.
//!
//! ```text
//!   devnet/oracle-N/oracle.toml          oracle N: API on BASE+200+N, follows validator N's API
//!   devnet/agent/agent.toml              weather stations: status on BASE+300 (it names the
//!                                        cheaters)
//!   devnet/coverage-agent/agent.toml     coverage devices: status on BASE+301 (it names the
//!                                        cheaters)
//!   devnet/connectivity-agent/agent.toml hotspots: status on BASE+302; payer.key beside it
//! ```

use anyhow::Result;
use cairn_agent::config::{
    AgentConfig, CheatersSection, ConnectivitySection, CoverageSection, DeviceSection,
    HotspotCheatersSection, RegisterSection, SensingSection, SimulationSection,
    StationCheatersSection,
};
use cairn_ledger::genesis::{GenesisAccount, GenesisOracle};
use cairn_oracle::config::{IngestSection, LogSection, OracleConfig, PriceSection};
use cairn_types::params::{ChainConfig, Params};
use cairn_types::{Address, Amount, SecretKey, Subnetwork};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Oracles of a new devnet.
pub(crate) const DEVNET_ORACLES: usize = 3;
/// Simulated devices of a new devnet unless `--devices` says otherwise.
pub(crate) const DEFAULT_DEVICES: u32 = 200;
/// Honest simulated coverage devices of a new devnet unless `--coverage-devices` says otherwise.
pub(crate) const DEFAULT_COVERAGE_DEVICES: u32 = 12;
/// The coverage cheaters every devnet with coverage devices runs besides the honest ones: a
/// location spoofed by 1,000 km, a witness ring of 20 in one cell, a device that reports
/// witnesses it could not have heard, and a replayed beacon.
pub(crate) const DEVNET_CHEATERS: CheatersSection = CheatersSection {
    spoofed: 1,
    ring: 20,
    fabricators: 1,
    replayers: 1,
    weak_fabricators: 0,
    bridged_ring: 0,
    spoofed_group: 0,
};
/// The sensing cheaters every devnet with stations runs besides the honest ones: a station far
/// off its neighbours, a frozen one, and one that moves.
pub(crate) const DEVNET_STATION_CHEATERS: StationCheatersSection = StationCheatersSection {
    far_off: 1,
    flatline: 1,
    movers: 1,
};
/// Honest simulated hotspots of a new devnet unless `--hotspots` says otherwise.
pub(crate) const DEFAULT_HOTSPOTS: u32 = 4;
/// The connectivity cheaters every devnet with hotspots runs besides the honest ones: one that
/// inflates the payer's receipts, one that signs them itself, one paid by an empty key.
pub(crate) const DEVNET_HOTSPOT_CHEATERS: HotspotCheatersSection = HotspotCheatersSection {
    inflaters: 1,
    device_signed: 1,
    unfunded: 1,
};
/// Connectivity credits carol keeps delegated to the devnet's payer key: $50 of data, about
/// 100 GiB at 50 DC a MiB.
pub(crate) const DEVNET_PAYER_CREDITS: u64 = 5_000_000;
/// A devnet device's reports a minute, at most, at each oracle: a coverage device beacons and
/// reports up to 32 witnesses every 10 s window, and heartbeats.
pub(crate) const DEVNET_DEVICE_REPORTS_PER_MINUTE: u64 = 300;
/// Each devnet oracle's denylist file, empty but for how to fill it.
const DENYLIST_TEMPLATE: &str = "\
# The coverage devices and pairs this oracle denies, committed with each epoch's manifest.
# An entry applies when oracles holding 2/3 of the oracle stake list it (on the devnet: two of
# the three oracles). Owners see the reason in `cairn rewards show`.
#
# [[device]]
# id = \"<device id>\"
# reason = \"location spoofed\"
#
# [[pair]]
# beaconer = \"<device id>\"
# witness = \"<device id>\"
# reason = \"they witness only each other\"
";
/// The devnet's fixed token price: one dollar, in nano-dollars.
pub(crate) const DEVNET_PRICE_NANO_USD: u64 = 1_000_000_000;

/// The directory of oracle `i`.
pub(crate) fn oracle_dir(data_dir: &Path, i: usize) -> PathBuf {
    data_dir.join(format!("oracle-{i}"))
}

/// The sensing agent's directory.
pub(crate) fn agent_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("agent")
}

/// The connectivity agent's directory.
pub(crate) fn connectivity_agent_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("connectivity-agent")
}

/// The coverage agent's directory.
pub(crate) fn coverage_agent_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("coverage-agent")
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
        // Two minutes to compute an epoch and land its root.
        reward_compute_allowance_secs: 120,
        log_retention_epochs: 30,
        ..params
    }
}

/// `params` with the report and manifest windows and the compute allowance shrunk in
/// proportion when `chain`'s epochs are too short for them: together they must fit in half the
/// 64 epochs a root reaches back (`Params::check_root_span`). A devnet of 10-block epochs (2 s)
/// gets a 64 s budget, shared in the same proportions; at least 1 s each.
pub(crate) fn fit_windows(params: Params, chain: &ChainConfig) -> Params {
    if params.check_root_span(chain).is_ok() {
        return params;
    }
    let span_secs = (cairn_types::params::MAX_ROOT_EPOCH_SPAN / 2)
        .saturating_mul(chain.blocks_per_epoch)
        .saturating_mul(chain.consensus.block_interval_ms)
        / 1_000;
    let total = params
        .report_skew_max_secs
        .saturating_add(params.report_delay_max_secs)
        .saturating_add(params.manifest_commit_secs)
        .saturating_add(params.manifest_attest_secs)
        .saturating_add(params.reward_compute_allowance_secs)
        .max(1);
    let scale = |w: u64| {
        u64::try_from(u128::from(w) * u128::from(span_secs) / u128::from(total))
            .unwrap_or(1)
            .max(1)
    };
    let mut fitted = Params {
        report_skew_max_secs: scale(params.report_skew_max_secs),
        report_delay_max_secs: scale(params.report_delay_max_secs),
        manifest_commit_secs: scale(params.manifest_commit_secs),
        manifest_attest_secs: scale(params.manifest_attest_secs),
        ..params
    };
    let others = fitted.report_skew_max_secs
        + fitted.report_delay_max_secs
        + fitted.manifest_commit_secs
        + fitted.manifest_attest_secs;
    fitted.reward_compute_allowance_secs = span_secs.saturating_sub(others).max(1);
    fitted
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

/// Writes each oracle's `oracle.toml` and each agent's `agent.toml`: `devices` honest weather
/// stations, `coverage` honest coverage devices, `hotspots` honest hotspots, and their
/// cheaters (no agent for 0).
pub(crate) fn write_configs(
    data_dir: &Path,
    node_apis: &[SocketAddr],
    base_port: u16,
    (devices, coverage, hotspots): (u32, u32, u32),
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
            // The other validators, asked for an epoch's state when its own node fails.
            nodes: node_apis
                .iter()
                .filter(|other| **other != node)
                .map(|other| format!("http://{other}"))
                .collect(),
            // Headers' certificates are checked against the genesis set, followed onwards.
            genesis: "../genesis.json".into(),
            denylist: "denylist.toml".into(),
            log: LogSection {
                roll_interval_secs: 5,
                ..LogSection::default()
            },
            ingest: IngestSection {
                device_reports_per_minute: DEVNET_DEVICE_REPORTS_PER_MINUTE,
                ..IngestSection::default()
            },
            price: PriceSection {
                source: "fixed".into(),
                nano_usd: vec![DEVNET_PRICE_NANO_USD],
                interval_secs: 30,
                ..PriceSection::default()
            },
        };
        let dir = oracle_dir(data_dir, i);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("oracle.toml"), config.to_toml())?;
        std::fs::write(dir.join("denylist.toml"), DENYLIST_TEMPLATE)?;
        oracle_urls.push(config.public_url);
    }
    let stations = devices + u32::try_from(DEVNET_STATION_CHEATERS.total())?;
    let agent = AgentConfig {
        simulation: SimulationSection {
            devices: stations,
            seed: "devnet".into(),
        },
        sensing: SensingSection {
            window_secs: devnet_params(Params::default()).uptime_window_secs,
            cheaters: DEVNET_STATION_CHEATERS,
            ..SensingSection::default()
        },
        register: RegisterSection {
            node: format!("http://{}", node_apis[0]),
            owner: "alice".into(),
            owner_home: "..".into(),
            // $40 to onboard and $10 to assert a location, a device (a mover twice); at $1 a
            // token, with room to spare.
            burn_tokens: Amount::tokens(70 * u128::from(stations)),
        },
        ..devnet_agent(&oracle_urls, port(300)?)
    };
    write_agent(&agent_dir(data_dir), &agent, devices > 0)?;
    let simulated = coverage + u32::try_from(DEVNET_CHEATERS.total())?;
    let coverage_agent = AgentConfig {
        device: DeviceSection {
            key_file: String::new(),
            subnetwork: Subnetwork::Coverage,
        },
        simulation: SimulationSection {
            devices: simulated,
            seed: "devnet-coverage".into(),
        },
        coverage: CoverageSection {
            window_secs: devnet_params(Params::default()).uptime_window_secs,
            cheaters: DEVNET_CHEATERS,
            ..CoverageSection::default()
        },
        register: RegisterSection {
            node: format!("http://{}", node_apis[0]),
            owner: "bob".into(),
            owner_home: "..".into(),
            // $40 to onboard and $10 to assert a location, a device; at $1 a token.
            burn_tokens: Amount::tokens(60 * u128::from(simulated)),
        },
        ..devnet_agent(&oracle_urls, port(301)?)
    };
    write_agent(&coverage_agent_dir(data_dir), &coverage_agent, coverage > 0)?;
    let simulated = hotspots + u32::try_from(DEVNET_HOTSPOT_CHEATERS.total())?;
    let connectivity_agent = AgentConfig {
        device: DeviceSection {
            key_file: String::new(),
            subnetwork: Subnetwork::Connectivity,
        },
        simulation: SimulationSection {
            devices: simulated,
            seed: "devnet-connectivity".into(),
        },
        connectivity: ConnectivitySection {
            window_secs: devnet_params(Params::default()).uptime_window_secs,
            payer_key_file: "payer.key".into(),
            delegate_credits: DEVNET_PAYER_CREDITS,
            cheaters: DEVNET_HOTSPOT_CHEATERS,
            ..ConnectivitySection::default()
        },
        register: RegisterSection {
            node: format!("http://{}", node_apis[0]),
            owner: "carol".into(),
            owner_home: "..".into(),
            // $40 to onboard a device, and the payer's $50 of credits; at $1 a token.
            burn_tokens: Amount::tokens(40 * u128::from(simulated) + 60),
        },
        ..devnet_agent(&oracle_urls, port(302)?)
    };
    write_agent(
        &connectivity_agent_dir(data_dir),
        &connectivity_agent,
        hotspots > 0,
    )?;
    Ok(())
}

/// What the devnet's agents share: its chain, its oracles, short intervals.
fn devnet_agent(oracles: &[String], status: SocketAddr) -> AgentConfig {
    AgentConfig {
        chain_id: "cairn-devnet".into(),
        data_dir: "data".into(),
        oracles: oracles.to_vec(),
        copies: 2,
        status_listen: status.to_string(),
        heartbeat_interval_secs: 10,
        clock_sync_secs: 15,
        clock_tolerance_ms: cairn_agent::clock::DEFAULT_TOLERANCE_MS,
        delivery_interval_ms: 1_000,
        device: DeviceSection {
            key_file: String::new(),
            ..DeviceSection::default()
        },
        ..AgentConfig::default()
    }
}

/// Writes `config` into `dir` if `wanted`, else removes `dir`.
fn write_agent(dir: &Path, config: &AgentConfig, wanted: bool) -> Result<()> {
    if !wanted {
        let _ = std::fs::remove_dir_all(dir);
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("agent.toml"), config.to_toml())?;
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
        let cheaters = &config.sensing.cheaters;
        out.push_str(&format!(
            "agent: {} simulated weather station(s) owned by alice, of which cheaters: {} far \
             off its neighbours, {} frozen, {} that moves (their ids: http://{}/status)  log {}\n",
            config.simulation.devices,
            cheaters.far_off,
            cheaters.flatline,
            cheaters.movers,
            config.status_listen,
            agent.join("agent.log").display()
        ));
    }
    let agent = coverage_agent_dir(data_dir);
    if let Ok(config) = AgentConfig::load(&agent.join("agent.toml")) {
        let cheaters = &config.coverage.cheaters;
        out.push_str(&format!(
            "coverage agent: {} simulated coverage device(s) owned by bob, of which cheaters: \
             {} spoofed location(s), a witness ring of {}, {} fabricator(s) of witnesses, {} \
             replayer(s) of beacons (their ids: http://{}/status)  log {}\n",
            config.simulation.devices,
            cheaters.spoofed,
            cheaters.ring,
            cheaters.fabricators,
            cheaters.replayers,
            config.status_listen,
            agent.join("agent.log").display()
        ));
    }
    let agent = connectivity_agent_dir(data_dir);
    if let Ok(config) = AgentConfig::load(&agent.join("agent.toml")) {
        let cheaters = &config.connectivity.cheaters;
        out.push_str(&format!(
            "connectivity agent: {} simulated hotspot(s) owned by carol carrying data for the \
             payer key in {} (funded by carol: `cairn --home {home} query --node {node} \
             delegated <payer> connectivity`), of which cheaters: {} inflating receipts, {} \
             signing them itself, {} paid by an empty key (their ids: http://{}/status)  log {}\n",
            config.simulation.devices,
            config.connectivity.payer_key_file,
            cheaters.inflaters,
            cheaters.device_signed,
            cheaters.unfunded,
            config.status_listen,
            agent.join("agent.log").display()
        ));
    }
    if let Some(oracle) = first_oracle {
        out.push_str(&format!(
            "\nrewards (a reward epoch is paid about a minute after it ends):\n  \
             cairn --home {home} rewards show --oracle {oracle} --epoch 1 --owner alice\n  \
             cairn --home {home} rewards show --oracle {oracle} --epoch 3 --owner bob\n  \
             cairn --home {home} rewards claim --oracle {oracle} --node {node} --from alice\n  \
             cairn --home {home} oracle replay --node {node} --epoch 1\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::params::{ChainId, ConsensusRules, EmissionSchedule};

    fn chain(blocks_per_epoch: u64) -> ChainConfig {
        ChainConfig {
            chain_id: ChainId::new("fit").unwrap_or_default(),
            blocks_per_epoch,
            emission: EmissionSchedule {
                initial_per_epoch: Amount::ZERO,
                halving_interval_epochs: 1,
                emission_cap: Amount::ZERO,
            },
            consensus: ConsensusRules::default(),
            protocol_version: 1,
            epochs_per_reward_epoch: 1,
        }
    }

    #[test]
    fn the_devnet_windows_shrink_to_fit_short_epochs_and_stay_otherwise() {
        let params = devnet_params(Params::default());
        // 600-block epochs: the devnet's own windows (185 s) fit as they are.
        assert_eq!(fit_windows(params.clone(), &chain(600)), params);
        for blocks in [2, 5, 10, 40] {
            let fitted = fit_windows(params.clone(), &chain(blocks));
            assert_eq!(fitted.check_root_span(&chain(blocks)), Ok(()), "{blocks}");
            assert!(fitted.report_delay_max_secs >= 1 && fitted.manifest_commit_secs >= 1);
        }
        let ten = fit_windows(params, &chain(10));
        assert_eq!(
            (
                ten.report_skew_max_secs,
                ten.report_delay_max_secs,
                ten.manifest_commit_secs,
                ten.manifest_attest_secs,
                ten.reward_compute_allowance_secs
            ),
            (1, 6, 6, 6, 45)
        );
    }
}
