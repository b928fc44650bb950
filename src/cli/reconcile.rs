//! `cspguard reconcile [--period YYYY-MM] [--json]`: the billing reconciliation on demand (what
//! Microsoft billed the partner per customer and period against the partner's receivables),
//! without the rest of a run: no dunning, no mail, no Partner Center change. Exports already
//! reconciled are read from the state database (and newly reconciled ones remembered there).
//!
//! Exit codes: 0 reconciled (findings or not, legacy invoices included), 1 the customer list
//! could not be read, 2 configuration or usage (reconciliation not enabled, bad `--period`), 3
//! degraded (an export failed or is still running, or the receivables or Microsoft's invoices
//! could not be read: the output says what).

use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use cspguard::context;
use cspguard::exit::Exit;
use cspguard::ledger::Ledger;
use cspguard::plan::Finding;
use cspguard::planning;
use cspguard::recon::model::ReconReport;

use super::OrExit as _;

/// Arguments of `cspguard reconcile`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// Only this billing period (the month it starts in, e.g. 2026-10); default: the last
    /// `[reconciliation] periods` periods and this period's unbilled consumption.
    #[arg(long, value_name = "YYYY-MM")]
    pub period: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    at: jiff::Timestamp,
    period: Option<&'a str>,
    reconciliation: Option<&'a ReconReport>,
    findings: Vec<&'a Finding>,
}

fn valid_period(p: &str) -> bool {
    jiff::civil::Date::strptime("%Y-%m-%d", format!("{p}-01")).is_ok() && p.len() == 7
}

/// Run the command.
pub async fn run(config_path: &Path, args: ReconcileArgs) -> anyhow::Result<Exit> {
    let loaded = super::load_config_checked(config_path)?;
    let cfg = &loaded.config;
    if !cfg.reconciliation.get_ref().enabled {
        eprintln!(
            "error: billing reconciliation is not enabled in {}: add [reconciliation] with \
             enabled = true and a [graph] section (the Entra app needs the \
             PartnerBilling.Read.All application permission)",
            config_path.display()
        );
        return Ok(Exit::Config);
    }
    if let Some(p) = args.period.as_deref().filter(|p| !valid_period(p)) {
        eprintln!("error: --period {p:?} is not a month such as 2026-10");
        return Ok(Exit::Config);
    }
    let ledger = if cfg.state.path.exists() {
        Ledger::open(&cfg.state.path).or_exit()?
    } else {
        eprintln!(
            "note: no state database at {} yet (the first `cspguard run` creates it): exports \
             reconciled now are not remembered",
            cfg.state.path.display()
        );
        Ledger::open_in_memory().or_exit()?
    };
    let pc = context::client(cfg, None, uuid::Uuid::new_v4()).or_exit()?;
    let Some(graph) = context::graph_client(cfg, uuid::Uuid::new_v4()).or_exit()? else {
        eprintln!("error: [reconciliation] needs a [graph] section");
        return Ok(Exit::Config);
    };
    let now = super::now()?;
    let done =
        planning::reconcile_only(&pc, &graph, cfg, &ledger, args.period.as_deref(), now).await;
    let report = done.plan.recon.as_ref();
    if args.json {
        let out = Report {
            at: now,
            period: args.period.as_deref(),
            reconciliation: report,
            findings: done.findings(),
        };
        super::print_out(
            &serde_json::to_string_pretty(&out).context("cannot render the reconciliation")?,
        )?;
    } else {
        let text = report.map_or_else(
            || "Billing reconciliation: 0 items audited (nothing was reconciled)\n".to_owned(),
            ReconReport::tables,
        );
        super::print_out(text.trim_end())?;
    }
    Ok(done.exit())
}
