//! `cairn`: the command line of Cairn.
//!
//! Thin by design: each subcommand parses its arguments, calls the library crates and prints the
//! result (human text, or JSON with `--json`). Errors are reported with their cause chain and a
//! non-zero exit status.

mod bench;
mod bench_devnet;
mod bench_flood;
mod bench_oracle;
mod bench_oracle_cheaters;
mod bench_oracle_epoch;
mod bench_oracle_ingest;
mod bench_oracle_inputs;
mod bench_support;
mod client;
mod cmd_agent;
mod cmd_devnet;
mod cmd_genesis;
mod cmd_keys;
mod cmd_ledger;
mod cmd_node;
mod cmd_oracle;
mod cmd_query;
mod cmd_rewards;
mod cmd_tx;
mod context;
mod demo;
mod devnet_services;
mod keystore;
mod node_process;
mod oracle_evidence;
mod procstat;
mod rewards_live;
mod supervisor;
mod wallet;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Cairn: run a decentralized physical infrastructure network.
#[derive(Parser)]
#[command(name = "cairn", version, about, long_about = None)]
struct Cli {
    /// Where keys live (default: $CAIRN_HOME, else ~/.cairn).
    #[arg(long, global = true, env = "CAIRN_HOME")]
    home: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local network of validators (4 by default) with prefunded accounts.
    Devnet(cmd_devnet::DevnetArgs),
    /// Run one validator from its configuration file.
    Node(cmd_node::NodeArgs),
    /// Run one oracle from its configuration file.
    Oracle(cmd_oracle::OracleArgs),
    /// Run the edge agent of one device (or of simulated devices) from its configuration file.
    Agent(cmd_agent::AgentArgs),
    /// Create, list and show keys.
    #[command(subcommand)]
    Keys(cmd_keys::KeysCommand),
    /// Write and check genesis files.
    #[command(subcommand)]
    Genesis(cmd_genesis::GenesisCommand),
    /// Build and sign transactions (and apply them to a local ledger with --apply).
    Tx(cmd_tx::TxArgs),
    /// Read the ledger state, optionally with proofs.
    Query(cmd_query::QueryArgs),
    /// Build reward roots, sign them as an oracle, extract claims with proofs.
    #[command(subcommand)]
    Rewards(cmd_rewards::RewardsCommand),
    /// Work with a local ledger: init, apply, audit, demo.
    #[command(subcommand)]
    Ledger(cmd_ledger::LedgerCommand),
    /// Measure hot paths and print one JSON line.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let ctx = context::Context::new(cli.home, cli.json);
    let result = match cli.command {
        Command::Devnet(args) => cmd_devnet::run(args),
        Command::Node(args) => cmd_node::run(args),
        Command::Oracle(args) => cmd_oracle::run(&ctx, args),
        Command::Agent(args) => cmd_agent::run(args),
        Command::Keys(cmd) => cmd_keys::run(&ctx, cmd),
        Command::Genesis(cmd) => cmd_genesis::run(&ctx, cmd),
        Command::Tx(args) => cmd_tx::run(&ctx, args),
        Command::Query(args) => cmd_query::run(&ctx, args),
        Command::Rewards(cmd) => cmd_rewards::run(&ctx, cmd),
        Command::Ledger(cmd) => cmd_ledger::run(&ctx, cmd),
        Command::Bench(cmd) => bench::run(&ctx, cmd),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
