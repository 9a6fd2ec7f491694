//! `cairn node --config FILE`: run one validator (consensus over TCP, the ledger, the HTTP API)
//! until Ctrl-C or SIGTERM.

use crate::context::passphrase;
use crate::keystore::Keystore;
use anyhow::{Context as _, Result};
use cairn_node::config::NodeConfig;
use clap::Args;
use std::path::PathBuf;

/// Options.
#[derive(Args)]
pub(crate) struct NodeArgs {
    /// The node's configuration file (node.toml).
    #[arg(long)]
    config: PathBuf,
}

/// What is logged unless `CAIRN_LOG` says otherwise: Cairn's own events, and only warnings
/// from the libraries (commonware logs every view at `info`).
const DEFAULT_LOG: &str = "warn,cairn=info,cairn_node=info,cairn_ledger=info,cairn_oracle=info";

/// Logs to stderr, filtered by `CAIRN_LOG` (an `EnvFilter`, e.g. `debug` or
/// `info,commonware_consensus=debug`); colours only on a terminal.
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs `cairn node`.
pub(crate) fn run(args: NodeArgs) -> Result<()> {
    init_logging();
    let config = NodeConfig::load(&args.config)?;
    let keystore = Keystore::new(&config.keys_home);
    let load = |name: &str, what: &str| {
        keystore
            .load(name, || passphrase(name, false).ok().flatten())
            .with_context(|| format!("loading {what} key `{name}`"))
    };
    let consensus = load(&config.consensus_key, "consensus")?;
    let account = match &config.account_key {
        Some(name) => Some(load(name, "account")?),
        None => None,
    };
    cairn_node::run::run(config, consensus, account)?;
    Ok(())
}
