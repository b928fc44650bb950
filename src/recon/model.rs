//! The billing reconciliation's values (issue 17): `[reconciliation]` ([`ReconConfig`]), what
//! the exports said ([`Reconciliation`], the policy's input [`ReconInput`]) and the result
//! ([`ReconReport`], carried in `Plan::recon`) and its text for people ([`ReconText`], shared by
//! `cspguard reconcile`, `plan` and the digest). Plain data: no I/O, imports only `crate::money`,
//! so the config, the plan, the policy and the digest can all name it.
//!
//! The rules (`crate::policy::recon`):
//! * `recon.not_invoiced`: Microsoft billed the partner for a customer in a period and the
//!   receivables hold no invoice for that customer issued within the period widened by
//!   `match_window_days` on both sides;
//! * `recon.under_invoiced`: the partner invoiced, in the same currency and window, less than
//!   Microsoft's cost plus `min_margin_percent`;
//! * `recon.exposure`: for customers with overdue receivables, what the partner stands to lose:
//!   outstanding receivables + billed cost never invoiced + this period's unbilled consumption.
//!
//! Invariants: amounts are per currency and never summed across currencies; every report states
//! its coverage, and a reconciliation that audited nothing says "0 items audited", never
//! "clean"; without loaded receivables there are no findings (nothing is invented); billed
//! customers unknown to Partner Center's customer list (so no receivable can map to them) are
//! listed, not flagged.

use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `[reconciliation]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconConfig {
    /// Off unless set: the exports need `PartnerBilling.Read.All` and `[graph]`.
    #[serde(default)]
    pub enabled: bool,
    /// How many recent billing periods (months of Microsoft invoices) to review.
    #[serde(default = "default_periods")]
    pub periods: u32,
    /// Days before the period's start and after its end in which a customer invoice counts.
    #[serde(default = "default_window")]
    pub match_window_days: u32,
    /// The least margin over Microsoft's cost a customer invoice must carry (percent).
    #[serde(default)]
    pub min_margin_percent: Decimal,
    /// Also export this period's unbilled consumption (for exposure).
    #[serde(default = "yes")]
    pub unbilled: bool,
    /// Most polls of one export operation.
    #[serde(default = "default_max_polls")]
    pub max_polls: u32,
    /// Longest wait for one export operation, in seconds.
    #[serde(default = "default_max_wait")]
    pub max_wait_secs: u64,
    /// Longest pause between polls, in seconds (a longer `Retry-After` is capped; 0 = none).
    #[serde(default = "default_max_interval")]
    pub max_poll_interval_secs: u64,
    /// Most blobs read from one manifest.
    #[serde(default = "default_max_blobs")]
    pub max_blobs: u32,
    /// Most line items read from one export.
    #[serde(default = "default_max_lines")]
    pub max_lines: u64,
    /// Longest line item (decompressed bytes); a longer line is counted as bad and skipped.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Most decompressed bytes read from one blob.
    #[serde(default = "default_max_blob_bytes")]
    pub max_blob_bytes: u64,
}

fn default_periods() -> u32 {
    3
}
fn default_window() -> u32 {
    20
}
fn yes() -> bool {
    true
}
fn default_max_polls() -> u32 {
    60
}
fn default_max_wait() -> u64 {
    900
}
fn default_max_interval() -> u64 {
    60
}
fn default_max_blobs() -> u32 {
    1000
}
fn default_max_lines() -> u64 {
    20_000_000
}
fn default_max_line_bytes() -> usize {
    64 * 1024
}
fn default_max_blob_bytes() -> u64 {
    16 * 1024 * 1024 * 1024
}

impl Default for ReconConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            periods: default_periods(),
            match_window_days: default_window(),
            min_margin_percent: Decimal::ZERO,
            unbilled: true,
            max_polls: default_max_polls(),
            max_wait_secs: default_max_wait(),
            max_poll_interval_secs: default_max_interval(),
            max_blobs: default_max_blobs(),
            max_lines: default_max_lines(),
            max_line_bytes: default_max_line_bytes(),
            max_blob_bytes: default_max_blob_bytes(),
        }
    }
}

impl ReconConfig {
    /// Why these settings cannot work (`reconciliation.<key> = value: ...`), if they cannot.
    pub fn problem(&self) -> Option<String> {
        let checks: [(bool, String); 8] = [
            (
                !(1..=24).contains(&self.periods),
                format!("periods = {}: must be between 1 and 24", self.periods),
            ),
            (
                self.match_window_days > 92,
                format!(
                    "match_window_days = {}: must be between 0 and 92",
                    self.match_window_days
                ),
            ),
            (
                self.min_margin_percent < Decimal::ZERO
                    || self.min_margin_percent > Decimal::from(1000),
                format!(
                    "min_margin_percent = {}: must be between 0 and 1000",
                    self.min_margin_percent
                ),
            ),
            (
                !(1..=10_000).contains(&self.max_polls),
                format!(
                    "max_polls = {}: must be between 1 and 10000",
                    self.max_polls
                ),
            ),
            (
                !(1..=86_400).contains(&self.max_wait_secs),
                format!(
                    "max_wait_secs = {}: must be between 1 and 86400",
                    self.max_wait_secs
                ),
            ),
            (
                self.max_poll_interval_secs > 3600,
                format!(
                    "max_poll_interval_secs = {}: must be between 0 and 3600",
                    self.max_poll_interval_secs
                ),
            ),
            (
                !(1..=100_000).contains(&self.max_blobs) || self.max_lines == 0,
                format!(
                    "max_blobs = {} / max_lines = {}: max_blobs must be between 1 and 100000 and \
                     max_lines at least 1",
                    self.max_blobs, self.max_lines
                ),
            ),
            (
                !(256..=16 * 1024 * 1024).contains(&self.max_line_bytes)
                    || self.max_blob_bytes < 1024,
                format!(
                    "max_line_bytes = {} / max_blob_bytes = {}: max_line_bytes must be between \
                     256 and 16777216 and max_blob_bytes at least 1024",
                    self.max_line_bytes, self.max_blob_bytes
                ),
            ),
        ];
        checks
            .into_iter()
            .find(|(bad, _)| *bad)
            .map(|(_, why)| format!("reconciliation.{why}"))
    }

    /// The poll bounds of one export.
    pub fn max_wait(&self) -> Duration {
        Duration::from_secs(self.max_wait_secs)
    }
}

/// The reconciliation as the policies see it.
#[derive(Debug, Clone, Default)]
pub enum ReconInput {
    /// `[reconciliation]` absent or not enabled: nothing is said.
    #[default]
    NotConfigured,
    /// Could not be gathered at all (why); reported, no findings.
    Failed {
        error: String,
    },
    Loaded(Reconciliation),
}

/// What the exports said, for the periods under review.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// Periods under review, `YYYY-MM`, oldest first.
    pub periods: Vec<Period>,
    /// Every export considered (reconciled, remembered or not reconcilable).
    pub exports: Vec<ExportRecord>,
    /// Billed totals per customer, period, currency and product.
    pub billed: Vec<CostLine>,
    /// This period's unbilled totals (exposure only).
    pub unbilled: Vec<CostLine>,
}

/// A billing period.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Period {
    /// `YYYY-MM` (the month the period starts in).
    pub label: String,
    pub start: jiff::civil::Date,
    pub end: jiff::civil::Date,
}

/// What Microsoft charged the partner for one customer, period, currency and product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostLine {
    /// Customer tenant id, lower case.
    pub customer: String,
    pub customer_name: Option<String>,
    /// `YYYY-MM`.
    pub period: String,
    pub currency: String,
    pub product: String,
    pub amount: Decimal,
    pub lines: u64,
}

/// Which export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportKind {
    Billed,
    Unbilled,
}

/// How an export ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ExportStatus {
    Reconciled,
    /// `retry`: tried again next run (a failure); otherwise final (a legacy invoice).
    NotReconcilable {
        reason: String,
        retry: bool,
    },
}

/// One export considered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRecord {
    pub kind: ExportKind,
    /// The Microsoft invoice (billed) or the currency (unbilled).
    pub subject: String,
    pub period: String,
    #[serde(flatten)]
    pub status: ExportStatus,
    pub lines: u64,
    pub bad_lines: u64,
    /// Read from the ledger (reconciled in an earlier run), not fetched.
    pub remembered: bool,
}

/// The reconciliation's result, carried in the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconReport {
    /// `N items audited` or `0 items audited` (never "clean").
    pub verdict: String,
    pub coverage: Coverage,
    pub totals: Vec<CurrencyTotal>,
    pub not_invoiced: Vec<Gap>,
    pub under_invoiced: Vec<Gap>,
    pub exposure: Vec<Exposure>,
}

/// What the reconciliation covered and what it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub periods: Vec<String>,
    pub invoices: Vec<String>,
    pub exports_fetched: usize,
    pub exports_remembered: usize,
    /// Customer-period-currency items compared with the receivables.
    pub items_audited: usize,
    pub customers: usize,
    pub lines: u64,
    pub bad_lines: u64,
    /// What could not be reconciled, and why.
    pub not_reconcilable: Vec<Unreconciled>,
    /// Billed customers that are not in Partner Center's customer list, so no receivable maps
    /// to them.
    pub unmapped_customers: Vec<String>,
    /// Receivables rows that matched no customer (a missing invoice may be among them).
    pub unmatched_receivables: usize,
    /// Why nothing was compared, when nothing was.
    pub note: Option<String>,
}

/// Something not reconciled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreconciled {
    pub what: String,
    pub reason: String,
    /// A failure tried again next run (a legacy invoice or a currency mismatch is not).
    pub retry: bool,
}

/// Totals of one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyTotal {
    pub currency: String,
    /// Billed by Microsoft in the periods under review.
    pub billed: Decimal,
    /// Invoiced by the partner to the billed customers in the matching windows.
    pub invoiced: Decimal,
    /// Billed cost of customer-periods with no customer invoice at all.
    pub not_invoiced: Decimal,
    /// This period's unbilled consumption.
    pub unbilled: Decimal,
}

/// A customer-period-currency where the partner invoiced nothing or too little.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub customer: String,
    pub company: Option<String>,
    pub period: String,
    pub currency: String,
    /// Microsoft's charge to the partner.
    pub cost: Decimal,
    /// What the partner invoiced in the window.
    pub invoiced: Decimal,
    /// Cost plus the minimum margin.
    pub expected: Decimal,
    /// The customer invoices counted.
    pub invoices: Vec<String>,
}

/// A late payer's exposure in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    pub customer: String,
    pub company: Option<String>,
    pub currency: String,
    /// Outstanding customer invoices (open or disputed).
    pub uncollected: Decimal,
    /// Billed cost never invoiced.
    pub not_invoiced: Decimal,
    /// This period's unbilled consumption.
    pub unbilled: Decimal,
    pub total: Decimal,
    /// Days past due of the oldest overdue invoice.
    pub days_overdue: i64,
    /// The dunning state beside it (this run's dunning finding, if any).
    pub dunning: Option<String>,
}

/// A reconciliation report as lines of text, by section (empty sections stay empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconText {
    /// `N items audited` (or `0 items audited`, with why).
    pub verdict: String,
    /// Per currency: billed, invoiced, never invoiced, unbilled.
    pub totals: Vec<String>,
    pub not_invoiced: Vec<String>,
    pub under_invoiced: Vec<String>,
    /// Late payers' exposure, beside their dunning state.
    pub exposure: Vec<String>,
    /// Periods, invoices, customers, lines, what could not be reconciled and why.
    pub coverage: Vec<String>,
}

impl ReconReport {
    /// Whether the partner has something to act on.
    pub fn has_findings(&self) -> bool {
        !(self.not_invoiced.is_empty()
            && self.under_invoiced.is_empty()
            && self.exposure.is_empty())
    }

    /// Whether something could not be reconciled for a reason a later run may clear (a failed
    /// export, unreadable receivables), as opposed to final reasons (legacy invoices).
    pub fn incomplete(&self) -> bool {
        self.coverage.note.is_some() || self.coverage.not_reconcilable.iter().any(|u| u.retry)
    }

    /// The report as text.
    pub fn text(&self) -> ReconText {
        let who = |g: &Gap| g.company.clone().unwrap_or_else(|| g.customer.clone());
        let m = crate::money::format_code;
        let mut verdict = self.verdict.clone();
        if let Some(note) = &self.coverage.note {
            verdict = format!("{verdict}: {note}");
        }
        ReconText {
            verdict,
            totals: self
                .totals
                .iter()
                .map(|t| {
                    format!(
                        "{}: billed by Microsoft {}, invoiced {}, never invoiced {}, unbilled this period {}",
                        t.currency,
                        m(t.billed, &t.currency),
                        m(t.invoiced, &t.currency),
                        m(t.not_invoiced, &t.currency),
                        m(t.unbilled, &t.currency)
                    )
                })
                .collect(),
            not_invoiced: self
                .not_invoiced
                .iter()
                .map(|g| {
                    format!(
                        "{} ({}), {}: Microsoft billed {}, invoiced nothing",
                        who(g),
                        g.customer,
                        g.period,
                        m(g.cost, &g.currency)
                    )
                })
                .collect(),
            under_invoiced: self
                .under_invoiced
                .iter()
                .map(|g| {
                    format!(
                        "{} ({}), {}: invoiced {} ({}) against cost {}; at least {} expected",
                        who(g),
                        g.customer,
                        g.period,
                        m(g.invoiced, &g.currency),
                        g.invoices.join(", "),
                        m(g.cost, &g.currency),
                        m(g.expected, &g.currency)
                    )
                })
                .collect(),
            exposure: self.exposure.iter().map(exposure_line).collect(),
            coverage: self.coverage_lines(),
        }
    }

    fn coverage_lines(&self) -> Vec<String> {
        let c = &self.coverage;
        let mut out = vec![
            format!(
                "periods {}; {} Microsoft invoice(s){}",
                if c.periods.is_empty() {
                    "none".to_owned()
                } else {
                    c.periods.join(", ")
                },
                c.invoices.len(),
                if c.invoices.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.invoices.join(", "))
                }
            ),
            format!(
                "{} export(s) fetched, {} remembered from earlier runs; {} billed customer(s); {} line item(s), {} unreadable",
                c.exports_fetched, c.exports_remembered, c.customers, c.lines, c.bad_lines
            ),
        ];
        for u in &c.not_reconcilable {
            out.push(format!("not reconcilable: {}: {}", u.what, u.reason));
        }
        if !c.unmapped_customers.is_empty() {
            out.push(format!(
                "billed customers not in Partner Center's customer list (no receivable can map to them): {}",
                c.unmapped_customers.join(", ")
            ));
        }
        if c.unmatched_receivables > 0 {
            out.push(format!(
                "{} receivables row(s) match no customer; an invoice reported missing may be among them",
                c.unmatched_receivables
            ));
        }
        out
    }
}

fn exposure_line(e: &Exposure) -> String {
    let m = crate::money::format_code;
    format!(
        "{} ({}): {} at stake ({} days overdue; uncollected {}, never invoiced {}, unbilled {}); dunning: {}",
        e.company.as_deref().unwrap_or(&e.customer),
        e.customer,
        m(e.total, &e.currency),
        e.days_overdue,
        m(e.uncollected, &e.currency),
        m(e.not_invoiced, &e.currency),
        m(e.unbilled, &e.currency),
        e.dunning.as_deref().unwrap_or("no dunning step this run")
    )
}

impl ReconText {
    /// Plain text for a terminal: a heading with the verdict, then each non-empty section.
    pub fn render(&self) -> String {
        let mut out = format!("Billing reconciliation: {}\n", self.verdict);
        for (title, lines) in [
            ("Totals per currency", &self.totals),
            ("Billed by Microsoft, never invoiced", &self.not_invoiced),
            (
                "Invoiced below cost plus the minimum margin",
                &self.under_invoiced,
            ),
            ("Exposure of late payers", &self.exposure),
            ("Coverage", &self.coverage),
        ] {
            if lines.is_empty() {
                continue;
            }
            out.push_str(&format!("{title}:\n"));
            for l in lines {
                out.push_str(&format!("  - {l}\n"));
            }
        }
        out
    }
}

impl ReconReport {
    /// The report as terminal tables (`cspguard reconcile`): the verdict, totals per currency,
    /// the never-invoiced and under-invoiced customer-periods, the late payers' exposure, then
    /// the coverage as a list.
    pub fn tables(&self) -> String {
        use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
        let m = crate::money::format_code;
        let table = |header: &[&str]| {
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED);
            t.set_content_arrangement(ContentArrangement::Dynamic);
            t.set_width(160);
            t.set_header(header.to_vec());
            t
        };
        let text = self.text();
        let mut out = format!("Billing reconciliation: {}\n", text.verdict);
        let mut totals = table(&[
            "currency",
            "billed",
            "invoiced",
            "never invoiced",
            "unbilled",
        ]);
        for t in &self.totals {
            let c = &t.currency;
            totals.add_row(vec![
                c.clone(),
                m(t.billed, c),
                m(t.invoiced, c),
                m(t.not_invoiced, c),
                m(t.unbilled, c),
            ]);
        }
        out.push_str(&format!("{totals}\n"));
        for (title, gaps) in [
            ("Billed by Microsoft, never invoiced", &self.not_invoiced),
            (
                "Invoiced below cost plus the minimum margin",
                &self.under_invoiced,
            ),
        ] {
            if gaps.is_empty() {
                continue;
            }
            let mut t = table(&[
                "customer", "tenant", "period", "cost", "invoiced", "expected",
            ]);
            for g in gaps {
                t.add_row(vec![
                    g.company.clone().unwrap_or_default(),
                    g.customer.clone(),
                    g.period.clone(),
                    m(g.cost, &g.currency),
                    m(g.invoiced, &g.currency),
                    m(g.expected, &g.currency),
                ]);
            }
            out.push_str(&format!("{title}:\n{t}\n"));
        }
        if !self.exposure.is_empty() {
            let mut t = table(&[
                "customer",
                "overdue",
                "at stake",
                "uncollected",
                "never invoiced",
                "unbilled",
                "dunning",
            ]);
            for e in &self.exposure {
                let c = &e.currency;
                t.add_row(vec![
                    e.company.clone().unwrap_or_else(|| e.customer.clone()),
                    format!("{} days", e.days_overdue),
                    m(e.total, c),
                    m(e.uncollected, c),
                    m(e.not_invoiced, c),
                    m(e.unbilled, c),
                    e.dunning
                        .clone()
                        .unwrap_or_else(|| "no dunning step this run".to_owned()),
                ]);
            }
            out.push_str(&format!("Exposure of late payers:\n{t}\n"));
        }
        out.push_str("Coverage:\n");
        for l in &text.coverage {
            out.push_str(&format!("  - {l}\n"));
        }
        out
    }
}
