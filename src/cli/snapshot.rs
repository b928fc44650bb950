//! `cspguard snapshot`: collect what cspguard sees and print it. Changes nothing in Partner
//! Center; the only write is persisting a rotated App+User refresh token to an existing state
//! database (without one, App+User is not used and nothing is created).

use std::path::Path;

use anyhow::Context as _;
use jiff::Timestamp;

use cspguard::collect::{self, CollectOptions, DetailScope};
use cspguard::context;
use cspguard::credentials::AppUserState;
use cspguard::exit::Exit;

use super::{OrExit as _, OutputFormat};

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

/// Run the command.
pub async fn run(config_path: &Path, args: SnapshotArgs) -> anyhow::Result<Exit> {
    let loaded = super::load_config_checked(config_path)?;
    let cfg = &loaded.config;
    let state = AppUserState::open(cfg).or_exit()?;
    if let Some(why) = state.not_used() {
        eprintln!("note: {why}");
    }
    let pc = context::client(cfg, state.refresh_store(), uuid::Uuid::new_v4()).or_exit()?;

    let details = if args.all_details {
        DetailScope::All
    } else if args.customers.is_empty() {
        DetailScope::None
    } else {
        DetailScope::Some(args.customers.iter().cloned().collect())
    };
    let now = Timestamp::now();
    let mut opts = CollectOptions::last_days(now, *cfg.snapshot.audit_days.get_ref(), details);
    opts.max_concurrency = *cfg.partner_center.max_concurrency.get_ref();
    opts.fraud_v1 = cfg.fraud_source_use(cspguard::policy::fraud::FraudSource::V1);
    let mut snap = collect::collect(&pc, &opts, now).await;
    // Graph security alerts: all of them (no watermark: the snapshot shows what is there).
    let graph = context::graph_client(cfg, uuid::Uuid::new_v4()).or_exit()?;
    snap.security_alerts = cspguard::fraud_alerts::collect(
        graph.as_ref(),
        cfg,
        &cspguard::graph::alerts::AlertQuery::All,
    )
    .await;

    let text = match args.format {
        OutputFormat::Json => snap
            .to_json()
            .context("cannot render the snapshot as JSON")?,
        OutputFormat::Table => snap.to_table(),
    };
    super::print_out(&text)?;
    Ok(snap.exit())
}
