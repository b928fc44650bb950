//! `cspguard fraud resolve`: load the config, take the run lock (the call writes the ledger and
//! may rotate the App+User refresh token), build the Partner Center client and set the status
//! (`cspguard::fraud_status`). `cspguard fraud list`: read the events and what cspguard did about
//! them (`cspguard::fraud_list`); read-only like `plan`.

use std::path::Path;

use cspguard::context;
use cspguard::credentials;
use cspguard::exit::Exit;
use cspguard::fraud_list;
use cspguard::fraud_status::{self, ReasonArg, ResolveRequest, StatusArg};
use cspguard::ledger::admin::current_os_user;
use cspguard::ledger::{Ledger, RunLock};

use super::{OrExit as _, OutputFormat};

/// Subcommands of `cspguard fraud`.
#[derive(Debug, clap::Subcommand)]
pub enum FraudCommand {
    /// List the Azure fraud events Partner Center reports now, with their status, customer
    /// names and what cspguard did about each (changes nothing).
    List(ListArgs),
    /// Mark the fraud events of an Azure subscription Investigating or Resolved in Partner
    /// Center and record who did it in the ledger (this only records the status; it does not
    /// stop the activity).
    Resolve(ResolveArgs),
}

/// Arguments of `cspguard fraud list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

/// Arguments of `cspguard fraud resolve`.
#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    /// The Azure subscription id the events are about.
    pub azure_subscription_id: String,
    /// Only these event ids (default: every event of the subscription).
    #[arg(long = "event", value_name = "ID")]
    pub events: Vec<String>,
    /// New status.
    #[arg(long, value_enum)]
    pub status: StatusArg,
    /// Why (required with `--status resolved`).
    #[arg(long, value_enum)]
    pub reason: Option<ReasonArg>,
}

/// Run a `fraud` subcommand.
pub async fn run(config_path: &Path, cmd: FraudCommand) -> anyhow::Result<Exit> {
    let loaded = super::load_config_checked(config_path)?;
    let cfg = &loaded.config;
    let args = match cmd {
        FraudCommand::List(args) => return list(cfg, args).await,
        FraudCommand::Resolve(args) => args,
    };
    let request = ResolveRequest {
        azure_subscription_id: args.azure_subscription_id,
        events: args.events,
        status: args.status,
        reason: args.reason,
    };
    request.status_and_reason().or_exit()?;
    cspguard::ledger::ensure_state_dir(&cfg.state.path).or_exit()?;
    let _lock = RunLock::acquire(&cfg.state.path).or_exit()?;
    let ledger = Ledger::open(&cfg.state.path).or_exit()?;
    let store = credentials::refresh_store(cfg).or_exit()?;
    let pc = context::client(cfg, store, cspguard::observe::correlation_id()).or_exit()?;
    let now = super::now()?;
    let mut stdout = std::io::stdout().lock();
    let who = current_os_user();
    fraud_status::resolve(&pc, &ledger, &request, &who, now, &mut stdout)
        .await
        .or_exit()?;
    super::flush(stdout)?;
    Ok(Exit::Ok)
}

/// `cspguard fraud list`: read-only, like `plan` (an existing state database only).
async fn list(cfg: &cspguard::config::Config, args: ListArgs) -> anyhow::Result<Exit> {
    let state = credentials::AppUserState::open(cfg).or_exit()?;
    if let Some(why) = state.not_used() {
        eprintln!("note: {why}");
    }
    let ledger = super::existing_ledger_or_empty(cfg, "no cspguard action is recorded")?;
    let pc = context::client(
        cfg,
        state.refresh_store(),
        cspguard::observe::correlation_id(),
    )
    .or_exit()?;
    let entries = fraud_list::list(&pc, &ledger).await.or_exit()?;
    let text = match args.format {
        OutputFormat::Json => serde_json::to_string_pretty(&entries)?,
        OutputFormat::Table => fraud_list::render(&entries, &cfg.time_zone()),
    };
    super::print_out(text.trim_end())?;
    Ok(Exit::Ok)
}
