//! `cspguard plan`: collect, evaluate and print every finding and action with its reason.
//! Changes nothing in Partner Center and sends nothing; it may refresh the billing-profile cache
//! and, with App+User credentials, store the rotated refresh token, both in an existing state
//! database only: without one it creates nothing, plans from an empty ledger and says so.
//! `--at DATE` evaluates every policy as if the run happened then, against the data as it is now
//! (the ledger as it is, receivables and Partner Center as they are).

use std::path::Path;

use anyhow::Context as _;
use jiff::Timestamp;
use serde::Serialize;

use cspguard::config::Config;
use cspguard::context;
use cspguard::credentials::AppUserState;
use cspguard::exit::Exit;
use cspguard::pc::CallStats;
use cspguard::plan::{Plan, render};
use cspguard::planning::{self, Planned};
use cspguard::policy::ReceivablesInput;

use super::{OrExit as _, OutputFormat};

/// Arguments of `cspguard plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Show only what concerns this customer id.
    #[arg(long, value_name = "ID")]
    pub customer: Option<String>,
    /// Plan a run at this time instead of now: an RFC 3339 time (2026-12-01T09:00:00+01:00), a
    /// date (2026-12-01, meaning 09:00 in the configured time zone) or `+N days` / `+Nd` from
    /// today 09:00. Policies see this time as "now"; the ledger, receivables and Partner Center
    /// data are used as they are today.
    #[arg(long, value_name = "DATE")]
    pub at: Option<String>,
}

/// The time `--at` names: an RFC 3339 time, a local date at 09:00 in `tz`, or `+N days` after
/// `today` (a local date) at 09:00.
fn parse_at(text: &str, tz: &jiff::tz::TimeZone, now: Timestamp) -> anyhow::Result<Timestamp> {
    let text = text.trim();
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let date = if let Some(rest) = text.strip_prefix('+') {
        let n: i64 = rest
            .trim_end_matches("days")
            .trim_end_matches("day")
            .trim_end_matches('d')
            .trim()
            .parse()
            .map_err(|_| at_error(text))?;
        now.to_zoned(tz.clone())
            .date()
            .checked_add(jiff::Span::new().try_days(n).map_err(|_| at_error(text))?)
            .map_err(|_| at_error(text))?
    } else {
        text.parse::<jiff::civil::Date>()
            .map_err(|_| at_error(text))?
    };
    Ok(date
        .at(9, 0, 0, 0)
        .to_zoned(tz.clone())
        .map_err(|_| at_error(text))?
        .timestamp())
}

fn at_error(text: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "--at {text:?} is not a time: give an RFC 3339 time (2026-12-01T09:00:00+01:00), a date \
         (2026-12-01, 09:00 in the configured time zone) or a number of days ahead (+7 days)"
    )
}

#[derive(Serialize)]
struct PlanReport<'a> {
    generated_at: Timestamp,
    /// The time the plan is for ("now" for every policy); differs from the current time with
    /// `--at`.
    at: Timestamp,
    mode: String,
    receivables: ReceivablesStatus,
    plan: &'a Plan,
    detail_fetched: usize,
    calls: &'a CallStats,
}

#[derive(Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum ReceivablesStatus {
    NotConfigured,
    Failed {
        error: String,
    },
    Loaded {
        matched_customers: usize,
        invoices: usize,
        unmatched: usize,
    },
}

fn receivables_status(r: &ReceivablesInput) -> ReceivablesStatus {
    match r {
        ReceivablesInput::NotConfigured => ReceivablesStatus::NotConfigured,
        ReceivablesInput::Failed { error } => ReceivablesStatus::Failed {
            error: error.clone(),
        },
        ReceivablesInput::Loaded(m) => ReceivablesStatus::Loaded {
            matched_customers: m.matched.len(),
            invoices: m.matched.values().map(Vec::len).sum(),
            unmatched: m.unmatched.len(),
        },
    }
}

/// Run the command.
pub async fn run(config_path: &Path, args: PlanArgs) -> anyhow::Result<Exit> {
    let loaded = super::load_config_checked(config_path)?;
    let cfg = &loaded.config;
    let state = AppUserState::open(cfg).or_exit()?;
    if let Some(why) = state.not_used() {
        eprintln!("note: {why}");
    }
    let ledger = super::existing_ledger_or_empty(
        cfg,
        "it is created by the first `cspguard run`. The plan starts from an empty ledger (no \
         holds, no earlier notices) and keeps no billing-profile cache",
    )?;
    let pc = context::client(cfg, state.refresh_store(), uuid::Uuid::new_v4()).or_exit()?;
    let now = match &args.at {
        Some(at) => match parse_at(at, &cfg.time_zone(), super::now()?) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(Exit::Config);
            }
        },
        None => super::now()?,
    };
    let graph = context::graph_client(cfg, uuid::Uuid::new_v4()).or_exit()?;
    let planned = planning::plan_with(&pc, graph.as_ref(), cfg, &ledger, now).await;
    print(&planned, cfg, args, now)?;
    Ok(planned.exit())
}

fn print(planned: &Planned, cfg: &Config, args: PlanArgs, now: Timestamp) -> anyhow::Result<()> {
    let plan = match &args.customer {
        Some(c) => std::borrow::Cow::Owned(render::filter_customer(&planned.plan, c)),
        None => std::borrow::Cow::Borrowed(&planned.plan),
    };
    match args.format {
        OutputFormat::Json => {
            let report = PlanReport {
                generated_at: super::now()?,
                at: now,
                mode: cfg.mode.to_string(),
                receivables: receivables_status(&planned.receivables),
                plan: &plan,
                detail_fetched: planned.detail_fetched,
                calls: &planned.snapshot.calls,
            };
            super::print_json(&report).context("cannot write the plan as JSON")?;
        }
        OutputFormat::Table => {
            let receivables = match &planned.receivables {
                ReceivablesInput::NotConfigured => {
                    "Receivables: not configured ([receivables]); no dunning".to_owned()
                }
                ReceivablesInput::Failed { error } => {
                    format!("Receivables: IMPORT FAILED, no dunning this run:\n{error}")
                }
                ReceivablesInput::Loaded(m) => format!(
                    "Receivables: {} invoices for {} customers ({} rows unmatched)",
                    m.matched.values().map(Vec::len).sum::<usize>(),
                    m.matched.len(),
                    m.unmatched.len()
                ),
            };
            let at = if args.at.is_some() {
                format!(
                    "Plan for a run at {} (ledger, receivables and Partner Center as they are \
                     now)",
                    now.to_zoned(cfg.time_zone()).strftime("%Y-%m-%d %H:%M %Z")
                )
            } else {
                format!("Plan at {now}")
            };
            let recon = planned
                .plan
                .recon
                .as_ref()
                .map(|r| format!("\n{}", r.text().render()))
                .unwrap_or_default();
            super::print_out(&format!(
                "{at} (mode {}; nothing is executed by `plan`)\n{receivables}\n\n{}{recon}\n\
                 Partner Center calls: {} (detail fetched for {} customers)",
                cfg.mode,
                render::to_table(&plan, &planned.snapshot),
                planned.snapshot.calls.totals.calls,
                planned.detail_fetched
            ))?;
        }
    }
    Ok(())
}
