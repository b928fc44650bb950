//! `cspguard snapshot`: collect what cspguard sees and print it. Changes nothing in Partner
//! Center; the only write is persisting a rotated App+User refresh token to the state database.

use std::path::Path;

use anyhow::Context as _;
use jiff::Timestamp;

use cspguard::cli::{OutputFormat, SnapshotArgs};
use cspguard::collect::{self, CollectOptions, DetailScope};
use cspguard::config::Config;
use cspguard::context;
use cspguard::exit::Exit;

/// Run the command.
pub async fn run(config_path: &Path, args: SnapshotArgs) -> anyhow::Result<Exit> {
    let loaded = Config::load(config_path)?;
    context::warn_about_secret_permissions(&loaded);
    let cfg = &loaded.config;
    let state = super::ledger::StateAccess::for_app_user(cfg)?;
    let pc = context::client(cfg, state.refresh_store(), uuid::Uuid::new_v4())?;

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
    let snap = collect::collect(&pc, &opts, now).await;

    let text = match args.format {
        OutputFormat::Json => snap
            .to_json()
            .context("cannot render the snapshot as JSON")?,
        OutputFormat::Table => snap.to_table(),
    };
    super::print_out(&text)?;
    Ok(snap.exit())
}
