//! `cspguard fraud resolve`: load the config, take the run lock (the call writes the ledger and
//! may rotate the App+User refresh token), build the Partner Center client (v1 events) or the
//! Graph client (`--alert`) and set the status (`cspguard::fraud_status`). `cspguard fraud
//! list`: read the events and alerts and what cspguard did about them (`cspguard::fraud_list`);
//! read-only like `plan`.

use std::path::Path;

use cspguard::context;
use cspguard::credentials;
use cspguard::exit::Exit;
use cspguard::fraud_list;
use cspguard::fraud_status::{self, AlertResolveRequest, ReasonArg, ResolveRequest, StatusArg};
use cspguard::ledger::admin::current_os_user;
use cspguard::ledger::{Ledger, RunLock};
use cspguard::policy::fraud::{FraudSource, SourceUse};

use super::{OrExit as _, OutputFormat};

/// Subcommands of `cspguard fraud`.
#[derive(Debug, clap::Subcommand)]
pub enum FraudCommand {
    /// List the Azure fraud events Partner Center reports now and the Graph security alerts,
    /// with their status, customer names and what cspguard did about each (changes nothing).
    List(ListArgs),
    /// Mark the fraud events of an Azure subscription (or one Graph security alert, --alert)
    /// Investigating or Resolved and record who did it in the ledger (this only records the
    /// status; it does not stop the activity).
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
    /// The Azure subscription id the Partner Center fraud events are about.
    #[arg(required_unless_present = "alert", conflicts_with = "alert")]
    pub azure_subscription_id: Option<String>,
    /// Only these event ids (default: every event of the subscription).
    #[arg(long = "event", value_name = "ID", conflicts_with = "alert")]
    pub events: Vec<String>,
    /// A Microsoft Graph security alert id instead (PATCH of its status and resolvedReason).
    #[arg(long, value_name = "ID")]
    pub alert: Option<String>,
    /// New status.
    #[arg(long, value_enum)]
    pub status: StatusArg,
    /// Why (required with `--status resolved`; `legitimate` for Graph alerts only).
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
    if let Some(alert_id) = args.alert {
        let request = AlertResolveRequest {
            alert_id,
            status: args.status,
            reason: args.reason,
        };
        return resolve_alert(cfg, &request).await;
    }
    let request = ResolveRequest {
        azure_subscription_id: args.azure_subscription_id.unwrap_or_default(),
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

/// `cspguard fraud resolve --alert ID`: PATCH the alert through Graph, recorded in the ledger.
async fn resolve_alert(
    cfg: &cspguard::config::Config,
    request: &AlertResolveRequest,
) -> anyhow::Result<Exit> {
    request.status_and_reason().or_exit()?;
    let Some(graph) = context::graph_client(cfg, cspguard::observe::correlation_id()).or_exit()?
    else {
        eprintln!(
            "error: --alert updates a Microsoft Graph security alert, and the config has no \
             [graph] section; add one (README, \"Graph security alerts\")"
        );
        return Ok(Exit::Config);
    };
    cspguard::ledger::ensure_state_dir(&cfg.state.path).or_exit()?;
    let _lock = RunLock::acquire(&cfg.state.path).or_exit()?;
    let ledger = Ledger::open(&cfg.state.path).or_exit()?;
    let now = super::now()?;
    let mut stdout = std::io::stdout().lock();
    fraud_status::resolve_alert(
        &graph,
        &ledger,
        request,
        &current_os_user(),
        now,
        &mut stdout,
    )
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
    let graph = context::graph_client(cfg, cspguard::observe::correlation_id()).or_exit()?;
    let reason = |s: SourceUse| match s {
        SourceUse::Read => None,
        SourceUse::Skip(why) => Some(why),
    };
    let v1_skip = reason(cfg.fraud_source_use(FraudSource::V1));
    let graph_skip = reason(cfg.fraud_source_use(FraudSource::Graph));
    let sources = fraud_list::Sources {
        v1: v1_skip.is_none().then_some(&pc),
        graph: graph.as_ref().filter(|_| graph_skip.is_none()),
        why_none: format!(
            "v1 fraud events: {}; Graph security alerts: {}",
            v1_skip.as_deref().unwrap_or("read"),
            graph_skip.as_deref().unwrap_or("read")
        ),
    };
    let entries = fraud_list::list(&sources, &ledger, super::now()?)
        .await
        .or_exit()?;
    let text = match args.format {
        OutputFormat::Json => serde_json::to_string_pretty(&entries)?,
        OutputFormat::Table => fraud_list::render(&entries, &cfg.time_zone()),
    };
    super::print_out(text.trim_end())?;
    Ok(Exit::Ok)
}
