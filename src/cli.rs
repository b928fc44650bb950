//! Command-line interface definition (clap). Owns argument names, defaults and help text; it does
//! no work itself: `main.rs` dispatches each subcommand to its handler.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::commands::ledger_cmds::LedgerCommand;
use crate::commands::receivables::ReceivablesCommand;
use crate::commands::simulate::SimulateArgs;

/// Default location of the configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/cspguard/cspguard.toml";

/// cspguard: guards a Microsoft CSP partner against non-payment, fraud and misuse.
#[derive(Debug, Parser)]
#[command(name = "cspguard", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "CSPGUARD_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// More output (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output (only warnings and errors).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log format: auto (journald under systemd, else text), text, json or journald.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "CSPGUARD_LOG_FORMAT",
        default_value = "auto"
    )]
    pub log_format: crate::logging::LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats shared by read-only commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable tables.
    Table,
    /// Machine-readable JSON.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Collect what cspguard sees in Partner Center and print it (changes nothing).
    Snapshot(SnapshotArgs),
    /// Collect, evaluate every policy and print the findings and actions with their reasons
    /// (changes nothing in Partner Center and sends nothing).
    Plan(PlanArgs),
    /// Run one full cycle: collect, evaluate, send due notices and alerts, the digest when due,
    /// and record the run (what the systemd timer calls).
    Run(RunArgs),
    /// Run the built-in Partner Center simulator on loopback.
    Simulate(SimulateArgs),
    /// Show cspguard working end to end against the built-in simulator (no credentials needed).
    Demo(DemoArgs),
    /// Check and preview the email templates.
    Templates {
        #[command(subcommand)]
        cmd: crate::commands::templates::TemplatesCommand,
    },
    /// Work with the partner's receivables export.
    Receivables {
        #[command(subcommand)]
        cmd: ReceivablesCommand,
    },
    /// Run cycles on the `[daemon] schedule` (for hosts without systemd timers).
    Daemon(DaemonArgs),
    /// Check the installation: config, secrets, Partner Center, mail, templates, state, lock.
    Doctor,
    /// Fraud events: record Investigating / Resolved in Partner Center.
    Fraud {
        #[command(subcommand)]
        cmd: crate::commands::fraud::FraudCommand,
    },
    #[command(flatten)]
    Ledger(LedgerCommand),
    /// Measure calls, wall time, memory and evaluation CPU against the simulator at scale, next
    /// to a naive full scan (writes JSON and Markdown; see bench/README.md).
    Bench(BenchArgs),
    /// Write the man pages (one per command) into a directory, or print cspguard(1) to stdout.
    Man(ManArgs),
    /// Print the shell completion script for SHELL to stdout.
    Completions(CompletionsArgs),
}

/// Arguments of `cspguard man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write every page as DIR/cspguard[-SUBCOMMAND].1 instead of printing cspguard(1).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Arguments of `cspguard completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: crate::docs::Shell,
}

/// Arguments of `cspguard daemon`.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// Run one cycle at start, then follow the schedule.
    #[arg(long)]
    pub run_at_start: bool,
}

/// Arguments of `cspguard snapshot`.
#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Also fetch billing profile, subscriptions and budget for this customer id (repeatable).
    #[arg(long = "customer", value_name = "ID")]
    pub customers: Vec<String>,
    /// Fetch that detail for every customer (three calls per customer: slow on large tenants).
    #[arg(long, conflicts_with = "customers")]
    pub all_details: bool,
}

/// Arguments of `cspguard run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Send nothing and record no action, whatever the config's mode (the digest still goes out).
    #[arg(long)]
    pub dry_run: bool,
    /// Execute only actions a person approved (and the notices that wait for them), now: no
    /// collection, no new plan.
    #[arg(long, conflicts_with = "dry_run")]
    pub only_approved: bool,
}

/// Arguments of `cspguard plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Show only what concerns this customer id.
    #[arg(long, value_name = "ID")]
    pub customer: Option<String>,
}

/// Arguments of `cspguard demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Directory for the demo's state, outbox and reports.
    #[arg(long, default_value = "cspguard-demo")]
    pub dir: PathBuf,
    /// Quiet customers added to the scripted cast.
    #[arg(long, default_value_t = 200)]
    pub customers: usize,
}

/// Arguments of `cspguard bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Tenant sizes (customers), comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000usize, 10_000, 50_000])]
    pub sizes: Vec<usize>,
    /// Latency the simulator adds to every API call, in milliseconds.
    #[arg(long, default_value_t = 80)]
    pub latency_ms: u64,
    /// The simulator's rate limit (requests per minute, as Partner Center's).
    #[arg(long, default_value_t = 500)]
    pub rate_limit: u32,
    /// Run the naive full scan only for tenants up to this many customers; larger ones get its
    /// exact call count and lower bound computed, labelled "not run".
    #[arg(long, default_value_t = 1_000)]
    pub naive_max: usize,
    /// Seed of the generated tenants.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory (results.json, results.md and per-run files).
    #[arg(long, default_value = "bench/out")]
    pub out: PathBuf,
    /// Internal: run one measured planning pass in this process (`plan` or `naive`) with the
    /// global --config and write its figures to --worker-out.
    #[arg(long, hide = true, value_name = "MODE")]
    pub worker: Option<String>,
    /// Internal: where a worker writes its figures (JSON).
    #[arg(long, hide = true, requires = "worker")]
    pub worker_out: Option<PathBuf>,
}
