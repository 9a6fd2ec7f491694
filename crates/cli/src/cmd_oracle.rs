//! `cairn oracle --config oracle.toml`: run one oracle (report ingest, the report log, the
//! follower of its node, the HTTP API) until Ctrl-C or SIGTERM.

use crate::cmd_node::init_logging;
use crate::context::passphrase;
use crate::keystore::Keystore;
use anyhow::{Context as _, Result};
use cairn_oracle::config::OracleConfig;
use clap::Args;
use std::path::PathBuf;

/// Options.
#[derive(Args)]
pub(crate) struct OracleArgs {
    /// The oracle's configuration file (oracle.toml).
    #[arg(long)]
    config: PathBuf,
}

/// Runs `cairn oracle`.
pub(crate) fn run(args: OracleArgs) -> Result<()> {
    init_logging();
    let config = OracleConfig::load(&args.config)?;
    let keystore = Keystore::new(&config.keys_home);
    let key = keystore
        .load(&config.key, || {
            passphrase(&config.key, false).ok().flatten()
        })
        .with_context(|| format!("loading the oracle key `{}`", config.key))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("oracle")
        .build()
        .context("starting the oracle's runtime")?;
    runtime.block_on(cairn_oracle::service::serve(config, key, stop_signal()))?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
