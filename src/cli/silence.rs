//! `cspguard silence add|list|expire`: silences of ops alerts, recorded in the ledger with who
//! and when (`cspguard::silence`).

use std::path::Path;

use cspguard::exit::Exit;
use cspguard::ledger::Ledger;
use cspguard::ledger::admin::current_os_user;
use cspguard::silence::{self, ListScope, SilenceRequest};

use super::OrExit as _;
use crate::cli::OutputFormat;

/// Subcommands of `cspguard silence`.
#[derive(Debug, clap::Subcommand)]
pub enum SilenceCommand {
    /// Stop ops emails for findings matching every --match until a date (they still appear in
    /// the digest, marked silenced); records the silence in the state file.
    Add(AddArgs),
    /// Show the silences in force (or all with --all); changes nothing.
    List(ListArgs),
    /// End a silence now (records the end in the state file).
    Expire(ExpireArgs),
}

/// Arguments of `cspguard silence add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// LABEL=PATTERN, label one of rule, family, severity, customer, fingerprint; `*` matches
    /// anything (e.g. `--match rule=budget.*`). Repeat to narrow.
    #[arg(long = "match", value_name = "LABEL=PATTERN")]
    pub matchers: Vec<String>,
    /// Only this customer (tenant id); the same as `--match customer=ID`.
    #[arg(long)]
    pub customer: Option<String>,
    /// When the silence ends: a date (through the end of that day in the configured time zone)
    /// or an RFC 3339 time. At most a year ahead.
    #[arg(long)]
    pub until: String,
    /// Why (shown in `status` and the digest).
    #[arg(long)]
    pub reason: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

/// Arguments of `cspguard silence list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Also show expired and ended silences.
    #[arg(long)]
    pub all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

/// Arguments of `cspguard silence expire`.
#[derive(Debug, clap::Args)]
pub struct ExpireArgs {
    /// The silence id (from `silence list`).
    pub id: i64,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

/// Run a silence subcommand against the configured state file, as the OS user.
pub fn run(config_path: &Path, cmd: SilenceCommand) -> anyhow::Result<Exit> {
    let loaded = super::load_config(config_path)?;
    let cfg = &loaded.config;
    cspguard::ledger::ensure_state_dir(&cfg.state.path).or_exit()?;
    let ledger = Ledger::open(&cfg.state.path).or_exit()?;
    let (req, format) = match cmd {
        SilenceCommand::Add(a) => (
            SilenceRequest::Add {
                matchers: a.matchers,
                customer: a.customer,
                until: a.until,
                reason: a.reason,
            },
            a.format,
        ),
        SilenceCommand::List(a) => (
            SilenceRequest::List {
                scope: if a.all {
                    ListScope::All
                } else {
                    ListScope::Active
                },
            },
            a.format,
        ),
        SilenceCommand::Expire(a) => (SilenceRequest::Expire { id: a.id }, a.format),
    };
    let now = super::now()?;
    let mut stdout = std::io::stdout().lock();
    silence::run(
        &ledger,
        req,
        &cfg.time_zone(),
        &current_os_user(),
        now,
        format,
        &mut stdout,
    )
    .or_exit()?;
    super::flush(stdout)?;
    Ok(Exit::Ok)
}
