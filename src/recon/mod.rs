//! Billing reconciliation, the I/O side (issue 17): for each Microsoft invoice of the periods
//! under review, the billed reconciliation export (and this period's unbilled export) through
//! Microsoft Graph: start, wait, manifest, blobs streamed and added up per customer tenant,
//! currency and product. The result is the policy's input ([`model::ReconInput`]).
//!
//! Owns: which invoices and periods are reviewed, the export flow per invoice, and the ledger's
//! memory of exports already reconciled (`Ledger::recon_export`): a remembered export is read
//! from the ledger, never fetched again. A legacy invoice (Graph code 5000, "No data available")
//! is remembered as not reconcilable; any other failure is reported and tried again next run.
//!
//! Invariants: every wait and stream is bounded (`[reconciliation]` poll and blob bounds);
//! memory does not grow with an export's size (`lines::LineSink`); a failed export is reported
//! with its reason, never silently dropped; the SAS token never reaches a log or an error.

pub mod blob;
pub mod lines;
pub mod model;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan as _};
use reqwest::Url;

use crate::graph::GraphClient;
use crate::graph::billing::{self, Finished, PollBounds, UnbilledPeriod};
use crate::ledger::{Ledger, ReconExportRow, ReconTotalRow};
use crate::pc::PcError;
use crate::pc::models::Invoice;
use lines::{LineSink, Totals};
use model::{
    CostLine, ExportKind, ExportRecord, ExportStatus, Period, ReconConfig, ReconInput,
    Reconciliation,
};

/// What one reconciliation needs besides the clients.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub config: &'a ReconConfig,
    /// Microsoft's invoices to the partner (`GET /v1/invoices`).
    pub invoices: &'a [Invoice],
    /// Only this period (`YYYY-MM`), else the last `config.periods`.
    pub period: Option<&'a str>,
    pub now: Timestamp,
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a blob.
    pub read_timeout: Duration,
}

/// Why an export could not be reconciled, and whether that is final (remembered).
struct Unreconcilable {
    reason: String,
    permanent: bool,
}

impl Unreconcilable {
    fn retry(reason: String) -> Self {
        Self {
            reason,
            permanent: false,
        }
    }
}

/// Reconcile the periods under review.
pub async fn reconcile(graph: &GraphClient, ledger: &Ledger, req: Request<'_>) -> ReconInput {
    let http = match blob::client(req.connect_timeout, req.read_timeout) {
        Ok(h) => h,
        Err(e) => {
            return ReconInput::Failed {
                error: e.to_string(),
            };
        }
    };
    let exporter = Exporter {
        graph,
        http,
        ledger,
        cfg: req.config,
    };
    let mut rec = Reconciliation::default();
    for (period, invoices) in under_review(req.invoices, req.config, req.period) {
        for invoice in invoices {
            let (record, lines) = exporter.billed(&invoice.id, &period, req.now).await;
            rec.exports.push(record);
            rec.billed.extend(lines);
        }
        rec.periods.push(period);
    }
    if req.config.unbilled && req.period.is_none_or(|p| p == month_label(today(req.now))) {
        let current = current_period(req.now);
        for currency in currencies(req.invoices) {
            let (record, lines) = exporter.unbilled(&currency, &current).await;
            rec.exports.push(record);
            rec.unbilled.extend(lines);
        }
    }
    ReconInput::Loaded(rec)
}

fn today(now: Timestamp) -> Date {
    now.to_zoned(jiff::tz::TimeZone::UTC).date()
}

fn month_label(d: Date) -> String {
    d.strftime("%Y-%m").to_string()
}

fn current_period(now: Timestamp) -> Period {
    let today = today(now);
    Period {
        label: month_label(today),
        start: today.first_of_month(),
        end: today,
    }
}

/// The billing period of a Microsoft invoice (`None` for credit notes and undated invoices).
fn period_of(inv: &Invoice) -> Option<Period> {
    if inv
        .document_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("invoice"))
    {
        return None;
    }
    let start = today(inv.billing_period_start_date?);
    let end = inv
        .billing_period_end_date
        .map(today)
        .filter(|e| *e >= start)
        .unwrap_or_else(|| {
            start
                .checked_add(1.month())
                .and_then(|d| d.checked_sub(1.day()))
                .unwrap_or(start)
        });
    Some(Period {
        label: month_label(start),
        start,
        end,
    })
}

/// The periods under review (oldest first) with their invoices: the last `config.periods`
/// periods that have an invoice, or only `period`.
fn under_review<'i>(
    invoices: &'i [Invoice],
    config: &ReconConfig,
    period: Option<&str>,
) -> Vec<(Period, Vec<&'i Invoice>)> {
    let mut by: BTreeMap<String, (Period, Vec<&Invoice>)> = BTreeMap::new();
    for inv in invoices {
        let Some(p) = period_of(inv) else { continue };
        let entry = by.entry(p.label.clone()).or_insert_with(|| (p, Vec::new()));
        entry.1.push(inv);
    }
    let mut chosen: Vec<(Period, Vec<&Invoice>)> = match period {
        Some(label) => by.remove(label).into_iter().collect(),
        None => by
            .into_values()
            .rev()
            .take(config.periods as usize)
            .collect(),
    };
    chosen.sort_by(|a, b| a.0.cmp(&b.0));
    if let (Some(label), true) = (period, chosen.is_empty())
        && let Ok(start) = Date::strptime("%Y-%m-%d", format!("{label}-01"))
    {
        let end = start
            .checked_add(1.month())
            .and_then(|d| d.checked_sub(1.day()))
            .unwrap_or(start);
        chosen.push((
            Period {
                label: label.to_owned(),
                start,
                end,
            },
            Vec::new(),
        ));
    }
    chosen
}

/// The currencies of Microsoft's invoices (USD when there are none).
fn currencies(invoices: &[Invoice]) -> Vec<String> {
    let mut out: Vec<String> = invoices
        .iter()
        .filter_map(|i| i.currency_code.as_deref())
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| c.len() == 3)
        .collect();
    out.sort();
    out.dedup();
    if out.is_empty() {
        out.push("USD".to_owned());
    }
    out
}

struct Exporter<'a> {
    graph: &'a GraphClient,
    http: reqwest::Client,
    ledger: &'a Ledger,
    cfg: &'a ReconConfig,
}

impl Exporter<'_> {
    /// The billed export of one invoice: from the ledger when remembered, else fetched (and
    /// remembered when reconciled or permanently not reconcilable).
    async fn billed(
        &self,
        invoice: &str,
        period: &Period,
        now: Timestamp,
    ) -> (ExportRecord, Vec<CostLine>) {
        let key = format!("billed/{invoice}");
        match self.ledger.recon_export(&key) {
            Ok(Some((row, totals))) => return remembered(row, totals, &period.label),
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot read the remembered export {key}: {e}; fetching it"),
        }
        let outcome = self.run(billing::start_billed(self.graph, invoice)).await;
        let (record, lines) =
            to_record(ExportKind::Billed, invoice, &period.label, outcome.as_ref());
        let remember = match &outcome {
            Ok(_) => true,
            Err(u) => u.permanent,
        };
        if remember {
            let row = ReconExportRow {
                key,
                kind: "billed".to_owned(),
                invoice: Some(invoice.to_owned()),
                period: period.label.clone(),
                status: match &record.status {
                    ExportStatus::Reconciled => "reconciled".to_owned(),
                    ExportStatus::NotReconcilable { .. } => "not_reconcilable".to_owned(),
                },
                reason: match &record.status {
                    ExportStatus::NotReconcilable { reason, .. } => Some(reason.clone()),
                    ExportStatus::Reconciled => None,
                },
                lines: record.lines,
                bad_lines: record.bad_lines,
            };
            let totals: Vec<ReconTotalRow> = lines.iter().map(total_row).collect();
            if let Err(e) = self.ledger.put_recon_export(&row, &totals, now) {
                tracing::warn!("cannot remember the export of invoice {invoice}: {e}");
            }
        }
        (record, lines)
    }

    /// This period's unbilled export in one currency (never remembered: it changes daily).
    async fn unbilled(&self, currency: &str, period: &Period) -> (ExportRecord, Vec<CostLine>) {
        let outcome = self
            .run(billing::start_unbilled(
                self.graph,
                UnbilledPeriod::Current,
                currency,
            ))
            .await;
        to_record(
            ExportKind::Unbilled,
            currency,
            &period.label,
            outcome.as_ref(),
        )
    }

    /// Start, wait, read the manifest and stream the blobs.
    async fn run(
        &self,
        start: impl Future<Output = Result<crate::graph::Accepted, PcError>>,
    ) -> Result<Totals, Unreconcilable> {
        let accepted = start.await.map_err(graph_failure)?;
        let bounds = PollBounds {
            max_polls: self.cfg.max_polls,
            max_wait: self.cfg.max_wait(),
            max_interval: Duration::from_secs(self.cfg.max_poll_interval_secs),
        };
        match billing::wait(self.graph, &accepted, bounds)
            .await
            .map_err(graph_failure)?
        {
            Finished::Succeeded { manifest } => self.read(&manifest).await,
            Finished::Failed { code, message } if code.trim() == "5000" => Err(Unreconcilable {
                reason: format!(
                    "no data available (Graph code 5000: {message}): a legacy-commerce invoice \
                     has no billed reconciliation export"
                ),
                permanent: true,
            }),
            Finished::Failed { code, message } => Err(Unreconcilable::retry(format!(
                "the export failed (Graph code {code}: {message}); tried again next run"
            ))),
            Finished::GaveUp { polls, waited } => Err(Unreconcilable::retry(format!(
                "the export was still running after {polls} polls and {}s \
                 (reconciliation.max_polls, max_wait_secs); tried again next run",
                waited.as_secs()
            ))),
        }
    }

    async fn read(&self, manifest_url: &Url) -> Result<Totals, Unreconcilable> {
        let manifest = billing::manifest(self.graph, manifest_url)
            .await
            .map_err(graph_failure)?;
        if let Some(f) = manifest.data_format.as_deref()
            && !f.eq_ignore_ascii_case("compressedJSON")
        {
            return Err(Unreconcilable::retry(format!(
                "the manifest's dataFormat is {f:?}; cspguard reads compressedJSON"
            )));
        }
        if manifest.blobs.len() > self.cfg.max_blobs as usize {
            return Err(Unreconcilable::retry(format!(
                "the manifest lists {} blobs, more than reconciliation.max_blobs = {}",
                manifest.blobs.len(),
                self.cfg.max_blobs
            )));
        }
        let mut totals = Totals::default();
        let mut sink = LineSink::new(
            &mut totals,
            self.cfg.max_line_bytes,
            self.cfg.max_lines,
            self.cfg.max_blob_bytes,
        );
        for b in &manifest.blobs {
            let url = manifest
                .blob_url(b)
                .map_err(|e| Unreconcilable::retry(e.to_string()))?;
            blob::download(&self.http, &url, &mut sink)
                .await
                .map_err(|e| Unreconcilable::retry(e.to_string()))?;
        }
        Ok(totals)
    }
}

fn graph_failure(e: PcError) -> Unreconcilable {
    let hint = match e.status() {
        Some(401 | 403) => {
            " (does the Entra app have the PartnerBilling.Read.All application permission, \
             with admin consent?)"
        }
        _ => "",
    };
    Unreconcilable::retry(format!("{e}{hint}; tried again next run"))
}

fn to_record(
    kind: ExportKind,
    subject: &str,
    period: &str,
    outcome: Result<&Totals, &Unreconcilable>,
) -> (ExportRecord, Vec<CostLine>) {
    let mut record = ExportRecord {
        kind,
        subject: subject.to_owned(),
        period: period.to_owned(),
        status: ExportStatus::Reconciled,
        lines: 0,
        bad_lines: 0,
        remembered: false,
    };
    let totals = match outcome {
        Ok(t) => t,
        Err(u) => {
            record.status = ExportStatus::NotReconcilable {
                reason: u.reason.clone(),
                retry: !u.permanent,
            };
            return (record, Vec::new());
        }
    };
    record.lines = totals.lines;
    record.bad_lines = totals.bad_lines;
    if totals.bad_lines > 0 {
        tracing::warn!(
            "{subject}: {} of {} line items could not be read (e.g. {})",
            totals.bad_lines,
            totals.lines,
            totals.samples.join("; ")
        );
    }
    let mut lines: Vec<CostLine> = totals
        .groups
        .iter()
        .map(|((customer, currency, product), t)| CostLine {
            customer: customer.clone(),
            customer_name: t.customer_name.clone(),
            period: period.to_owned(),
            currency: currency.clone(),
            product: product.clone(),
            amount: t.amount,
            lines: t.lines,
        })
        .collect();
    lines.sort_by(|a, b| {
        (&a.customer, &a.currency, &a.product).cmp(&(&b.customer, &b.currency, &b.product))
    });
    (record, lines)
}

fn remembered(
    row: ReconExportRow,
    totals: Vec<ReconTotalRow>,
    period: &str,
) -> (ExportRecord, Vec<CostLine>) {
    let status = if row.status == "reconciled" {
        ExportStatus::Reconciled
    } else {
        ExportStatus::NotReconcilable {
            reason: row.reason.unwrap_or_else(|| "not reconcilable".to_owned()),
            retry: false,
        }
    };
    let record = ExportRecord {
        kind: ExportKind::Billed,
        subject: row.invoice.unwrap_or(row.key),
        period: period.to_owned(),
        status,
        lines: row.lines,
        bad_lines: row.bad_lines,
        remembered: true,
    };
    let lines = totals
        .into_iter()
        .map(|t| CostLine {
            customer: t.customer,
            customer_name: t.customer_name,
            period: period.to_owned(),
            currency: t.currency,
            product: t.product,
            amount: t.amount,
            lines: t.lines,
        })
        .collect();
    (record, lines)
}

fn total_row(l: &CostLine) -> ReconTotalRow {
    ReconTotalRow {
        customer: l.customer.clone(),
        customer_name: l.customer_name.clone(),
        currency: l.currency.clone(),
        product: l.product.clone(),
        amount: l.amount,
        lines: l.lines,
    }
}
