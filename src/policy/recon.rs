//! Billing reconciliation rules (issue 17): joins what Microsoft billed the partner per customer,
//! period and currency (`crate::recon::model::Reconciliation`) with the matched receivables, and
//! writes `recon.not_invoiced`, `recon.under_invoiced` and `recon.exposure` findings plus the
//! report (`Plan::recon`). The rules themselves are documented in `crate::recon::model`.
//!
//! Pure: amounts per currency (never converted or summed across currencies), coverage always
//! stated, no finding without loaded receivables.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use jiff::{Span, ToSpan as _};
use rust_decimal::Decimal;

use crate::facts::Facts;
use crate::money;
use crate::plan::{Finding, PlanBuilder, Severity};
use crate::policy::{PolicyInput, ReceivablesInput};
use crate::receivables::{InvoiceStatus, Receivable};
use crate::recon::model::{
    Coverage, CurrencyTotal, ExportStatus, Exposure, Gap, ReconInput, ReconReport, Reconciliation,
    Unreconciled,
};

/// Rule names.
pub const NOT_INVOICED: &str = "recon.not_invoiced";
pub const UNDER_INVOICED: &str = "recon.under_invoiced";
pub const EXPOSURE: &str = "recon.exposure";

/// (customer, period, currency) -> (cost, name from the export).
type Billed<'a> = BTreeMap<(&'a str, &'a str, &'a str), (Decimal, Option<&'a str>)>;

/// Reconcile, when configured.
pub fn evaluate(input: &PolicyInput<'_>, out: &mut PlanBuilder) {
    let rec = match input.recon {
        ReconInput::NotConfigured => return,
        ReconInput::Failed { error } => {
            out.skip(
                None,
                "recon",
                format!("billing reconciliation failed: {error}"),
            );
            out.recon(ReconReport {
                verdict: "0 items audited".to_owned(),
                coverage: Coverage {
                    note: Some(format!("the exports could not be read: {error}")),
                    ..Coverage::default()
                },
                ..ReconReport::default()
            });
            return;
        }
        ReconInput::Loaded(r) => r,
    };
    let mut report = ReconReport {
        coverage: coverage_of(rec),
        ..ReconReport::default()
    };
    let billed = group(rec);
    report.coverage.customers = billed
        .keys()
        .map(|(c, _, _)| *c)
        .collect::<BTreeSet<_>>()
        .len();
    let mut invoiced = BTreeMap::new();
    match input.receivables {
        ReceivablesInput::Loaded(m) => {
            report.coverage.unmatched_receivables = m.unmatched.len();
            let by_customer: BTreeMap<String, &Vec<Receivable>> = m
                .matched
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            invoiced = compare(input, rec, &billed, &by_customer, &mut report, out);
            exposure(input, rec, &by_customer, &mut report, out);
            out.evaluated(NOT_INVOICED);
            out.evaluated(UNDER_INVOICED);
            out.evaluated(EXPOSURE);
        }
        ReceivablesInput::NotConfigured => {
            report.coverage.note = Some(
                "no receivables configured ([receivables]): nothing was compared with what \
                 Microsoft billed"
                    .to_owned(),
            );
        }
        ReceivablesInput::Failed { error } => {
            report.coverage.note = Some(format!(
                "the receivables import failed, so nothing was compared: {error}"
            ));
        }
    }
    report.totals = totals(rec, &report, &invoiced);
    report.verdict = format!("{} items audited", report.coverage.items_audited);
    out.recon(report);
}

/// Coverage from the exports alone.
fn coverage_of(rec: &Reconciliation) -> Coverage {
    let mut c = Coverage {
        periods: rec.periods.iter().map(|p| p.label.clone()).collect(),
        ..Coverage::default()
    };
    for e in &rec.exports {
        if e.kind == crate::recon::model::ExportKind::Billed {
            c.invoices.push(e.subject.clone());
        }
        match &e.status {
            ExportStatus::Reconciled if e.remembered => c.exports_remembered += 1,
            ExportStatus::Reconciled => c.exports_fetched += 1,
            ExportStatus::NotReconcilable { reason, retry } => {
                c.not_reconcilable.push(Unreconciled {
                    what: format!(
                        "{} export {} ({})",
                        match e.kind {
                            crate::recon::model::ExportKind::Billed => "billed",
                            crate::recon::model::ExportKind::Unbilled => "unbilled",
                        },
                        e.subject,
                        e.period
                    ),
                    reason: reason.clone(),
                    retry: *retry,
                });
            }
        }
        c.lines += e.lines;
        c.bad_lines += e.bad_lines;
    }
    c
}

fn group(rec: &Reconciliation) -> Billed<'_> {
    let mut billed: Billed<'_> = BTreeMap::new();
    for l in &rec.billed {
        let e = billed
            .entry((&l.customer, &l.period, &l.currency))
            .or_insert((Decimal::ZERO, None));
        e.0 += l.amount;
        if e.1.is_none() {
            e.1 = l.customer_name.as_deref();
        }
    }
    billed
}

/// The customer invoices of `rows` issued within the period widened by the window, void ones
/// left out.
fn in_window(rows: &[Receivable], start: Date, end: Date, window: Span) -> Vec<&Receivable> {
    let from = start.checked_sub(window).unwrap_or(start);
    let to = end.checked_add(window).unwrap_or(end);
    rows.iter()
        .filter(|r| r.status != InvoiceStatus::Void && r.issue_date >= from && r.issue_date <= to)
        .collect()
}

fn compare(
    input: &PolicyInput<'_>,
    rec: &Reconciliation,
    billed: &Billed<'_>,
    receivables: &BTreeMap<String, &Vec<Receivable>>,
    report: &mut ReconReport,
    out: &mut PlanBuilder,
) -> BTreeMap<String, Decimal> {
    let mut invoiced_by: BTreeMap<String, Decimal> = BTreeMap::new();
    let cfg = &input.config.recon;
    let known: Option<BTreeSet<String>> = input
        .snapshot
        .customers
        .data()
        .map(|cs| cs.iter().map(|c| c.id.to_ascii_lowercase()).collect());
    let rule = Rule {
        window: i64::from(cfg.match_window_days).days(),
        margin: Decimal::ONE + cfg.min_margin_percent / Decimal::from(100),
    };
    for (&(customer, period, currency), &(cost, name)) in billed {
        let Some(p) = rec.periods.iter().find(|p| p.label == period) else {
            continue;
        };
        if cost <= Decimal::ZERO {
            continue;
        }
        if known.as_ref().is_some_and(|k| !k.contains(customer)) {
            let label = name.map_or(customer.to_owned(), |n| format!("{n} ({customer})"));
            if !report.coverage.unmapped_customers.contains(&label) {
                report.coverage.unmapped_customers.push(label);
            }
            continue;
        }
        let rows = receivables
            .get(customer)
            .map(|v| in_window(v, p.start, p.end, rule.window))
            .unwrap_or_default();
        let gap = Gap {
            customer: customer.to_owned(),
            company: input
                .snapshot
                .company_name(customer)
                .or(name)
                .map(str::to_owned),
            period: period.to_owned(),
            currency: currency.to_owned(),
            cost,
            invoiced: Decimal::ZERO,
            expected: money::round(cost * rule.margin, currency),
            invoices: Vec::new(),
        };
        if let Some(invoiced) = rule.judge(gap, p, &rows, report, out) {
            *invoiced_by.entry(currency.to_owned()).or_default() += invoiced;
        }
    }
    invoiced_by
}

/// The match window and the margin factor.
struct Rule {
    window: Span,
    margin: Decimal,
}

impl Rule {
    /// Judge one billed customer-period-currency against its customer invoices in the window
    /// (`rows`); returns what was invoiced in the billed currency, when comparable.
    fn judge(
        &self,
        mut gap: Gap,
        p: &crate::recon::model::Period,
        rows: &[&Receivable],
        report: &mut ReconReport,
        out: &mut PlanBuilder,
    ) -> Option<Decimal> {
        let same: Vec<&&Receivable> = rows.iter().filter(|r| r.currency == gap.currency).collect();
        if rows.is_empty() {
            report.coverage.items_audited += 1;
            out.finding(gap_finding(NOT_INVOICED, &gap, p.start, p.end, self.window));
            report.not_invoiced.push(gap);
            return Some(Decimal::ZERO);
        }
        if same.is_empty() {
            let other: BTreeSet<&str> = rows.iter().map(|r| r.currency.as_str()).collect();
            report.coverage.not_reconcilable.push(Unreconciled {
                what: format!(
                    "{} in {}",
                    gap.company.as_deref().unwrap_or(&gap.customer),
                    gap.period
                ),
                reason: format!(
                    "invoiced only in {} while Microsoft billed in {}; currencies are never \
                     converted",
                    other.into_iter().collect::<Vec<_>>().join(", "),
                    gap.currency
                ),
                retry: false,
            });
            return None;
        }
        report.coverage.items_audited += 1;
        gap.invoiced = same.iter().map(|r| r.amount).sum();
        let invoiced = gap.invoiced;
        if invoiced < gap.expected {
            gap.invoices = same.iter().map(|r| r.invoice.clone()).collect();
            out.finding(gap_finding(
                UNDER_INVOICED,
                &gap,
                p.start,
                p.end,
                self.window,
            ));
            report.under_invoiced.push(gap);
        }
        Some(invoiced)
    }
}

fn gap_finding(rule: &'static str, gap: &Gap, start: Date, end: Date, window: Span) -> Finding {
    let from = start.checked_sub(window).unwrap_or(start);
    let to = end.checked_add(window).unwrap_or(end);
    let who = gap.company.as_deref().unwrap_or(&gap.customer);
    let cost = money::format_code(gap.cost, &gap.currency);
    let summary = if rule == NOT_INVOICED {
        format!(
            "Microsoft billed the partner {cost} for {who} in {}, and no customer invoice was \
             issued between {from} and {to}",
            gap.period
        )
    } else {
        format!(
            "{who} was invoiced {} for {}, less than Microsoft's cost {cost} plus the minimum \
             margin ({})",
            money::format_code(gap.invoiced, &gap.currency),
            gap.period,
            money::format_code(gap.expected, &gap.currency)
        )
    };
    let mut facts = Facts::new();
    facts.insert("period", gap.period.clone());
    facts.insert("currency", gap.currency.clone());
    facts.insert("cost", gap.cost.to_string());
    facts.insert("invoiced", gap.invoiced.to_string());
    facts.insert("expected", gap.expected.to_string());
    facts.insert("window", format!("{from}..{to}"));
    if !gap.invoices.is_empty() {
        facts.insert("invoices", gap.invoices.join(", "));
    }
    Finding {
        fingerprint: format!("{rule}:{}:{}:{}", gap.customer, gap.period, gap.currency),
        rule: rule.into(),
        severity: Severity::Warning,
        customer: Some(gap.customer.clone()),
        summary,
        facts,
    }
}

/// Exposure of late payers: outstanding + never invoiced + this period's unbilled, per currency.
fn exposure(
    input: &PolicyInput<'_>,
    rec: &Reconciliation,
    receivables: &BTreeMap<String, &Vec<Receivable>>,
    report: &mut ReconReport,
    out: &mut PlanBuilder,
) {
    let today = input.today();
    let mut rows: BTreeMap<(String, String), Exposure> = BTreeMap::new();
    for (customer, invoices) in receivables {
        let overdue = invoices
            .iter()
            .filter(|r| r.outstanding() > Decimal::ZERO)
            .map(|r| r.days_past_due(today))
            .max()
            .unwrap_or(0);
        if overdue <= 0 {
            continue;
        }
        for r in invoices.iter().filter(|r| r.outstanding() > Decimal::ZERO) {
            let e = exposure_row(&mut rows, customer, &r.currency);
            e.uncollected += r.outstanding();
            e.days_overdue = overdue;
        }
        for g in report
            .not_invoiced
            .iter()
            .filter(|g| &g.customer == customer)
        {
            exposure_row(&mut rows, customer, &g.currency).not_invoiced += g.cost;
        }
        for u in rec.unbilled.iter().filter(|u| &u.customer == customer) {
            exposure_row(&mut rows, customer, &u.currency).unbilled += u.amount;
        }
    }
    for ((customer, _), mut e) in rows {
        e.days_overdue = e.days_overdue.max(1);
        e.total = e.uncollected + e.not_invoiced + e.unbilled;
        e.company = input.snapshot.company_name(&customer).map(str::to_owned);
        e.dunning = out
            .findings()
            .iter()
            .find(|f| {
                f.rule.starts_with("dunning.")
                    && f.customer
                        .as_deref()
                        .is_some_and(|c| c.eq_ignore_ascii_case(&customer))
            })
            .map(|f| f.summary.clone());
        if e.total > Decimal::ZERO {
            out.finding(exposure_finding(&e));
        }
        report.exposure.push(e);
    }
    report.exposure.sort_by(|a, b| {
        b.total
            .cmp(&a.total)
            .then_with(|| a.customer.cmp(&b.customer))
    });
}

fn exposure_row<'m>(
    rows: &'m mut BTreeMap<(String, String), Exposure>,
    customer: &str,
    currency: &str,
) -> &'m mut Exposure {
    rows.entry((customer.to_owned(), currency.to_owned()))
        .or_insert_with(|| Exposure {
            customer: customer.to_owned(),
            company: None,
            currency: currency.to_owned(),
            uncollected: Decimal::ZERO,
            not_invoiced: Decimal::ZERO,
            unbilled: Decimal::ZERO,
            total: Decimal::ZERO,
            days_overdue: 0,
            dunning: None,
        })
}

fn exposure_finding(e: &Exposure) -> Finding {
    let who = e.company.as_deref().unwrap_or(&e.customer);
    let mut facts = Facts::new();
    facts.insert("currency", e.currency.clone());
    facts.insert("uncollected", e.uncollected.to_string());
    facts.insert("not_invoiced", e.not_invoiced.to_string());
    facts.insert("unbilled", e.unbilled.to_string());
    facts.insert("total", e.total.to_string());
    facts.insert("days_overdue", e.days_overdue.to_string());
    Finding {
        fingerprint: format!("{EXPOSURE}:{}:{}", e.customer, e.currency),
        rule: EXPOSURE.into(),
        severity: Severity::Warning,
        customer: Some(e.customer.clone()),
        summary: format!(
            "{who} is {} days overdue with {} at stake (uncollected {}, never invoiced {}, \
             unbilled this period {})",
            e.days_overdue,
            money::format_code(e.total, &e.currency),
            money::format_code(e.uncollected, &e.currency),
            money::format_code(e.not_invoiced, &e.currency),
            money::format_code(e.unbilled, &e.currency)
        ),
        facts,
    }
}

/// Totals per currency: billed, invoiced (in the matching windows), never invoiced, unbilled.
fn totals(
    rec: &Reconciliation,
    report: &ReconReport,
    invoiced: &BTreeMap<String, Decimal>,
) -> Vec<CurrencyTotal> {
    let mut by: BTreeMap<&str, CurrencyTotal> = BTreeMap::new();
    let row = |c: &str| CurrencyTotal {
        currency: c.to_owned(),
        billed: Decimal::ZERO,
        invoiced: Decimal::ZERO,
        not_invoiced: Decimal::ZERO,
        unbilled: Decimal::ZERO,
    };
    for l in &rec.billed {
        by.entry(&l.currency)
            .or_insert_with(|| row(&l.currency))
            .billed += l.amount;
    }
    for l in &rec.unbilled {
        by.entry(&l.currency)
            .or_insert_with(|| row(&l.currency))
            .unbilled += l.amount;
    }
    for g in &report.not_invoiced {
        by.entry(&g.currency)
            .or_insert_with(|| row(&g.currency))
            .not_invoiced += g.cost;
    }
    for (currency, amount) in invoiced {
        by.entry(currency).or_insert_with(|| row(currency)).invoiced += *amount;
    }
    by.into_values().collect()
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;

    use super::*;
    use crate::policy::testkit::{customer, date, dec, ledger, matched, receivable, snapshot, ts};
    use crate::policy::{PolicyConfig, evaluate as evaluate_all};
    use crate::recon::model::{CostLine, Period};

    const A: &str = "aaaaaaaa-0000-4000-8000-000000000001";

    fn rec(currency: &str, amount: &str) -> ReconInput {
        ReconInput::Loaded(Reconciliation {
            periods: vec![Period {
                label: "2026-10".into(),
                start: date("2026-10-01"),
                end: date("2026-10-31"),
            }],
            exports: Vec::new(),
            billed: vec![CostLine {
                customer: A.into(),
                customer_name: Some("Alpha".into()),
                period: "2026-10".into(),
                currency: currency.into(),
                product: "P".into(),
                amount: dec(amount),
                lines: 3,
            }],
            unbilled: Vec::new(),
        })
    }

    fn plan(recon: &ReconInput, receivables: &ReceivablesInput) -> crate::plan::Plan {
        let now = ts("2026-11-21T08:00:00Z");
        let mut snap = snapshot(now);
        snap.customers = crate::snapshot::Section::Ok {
            data: vec![customer(A, "Alpha")],
        };
        let mut config = PolicyConfig::default();
        config.recon.min_margin_percent = dec("10");
        config.recon.match_window_days = 0;
        evaluate_all(&PolicyInput {
            snapshot: &snap,
            receivables,
            recon,
            ledger: &ledger(),
            config: &config,
            now,
            tz: &TimeZone::UTC,
        })
    }

    fn recon_rules(p: &crate::plan::Plan) -> Vec<&str> {
        p.findings
            .iter()
            .filter(|f| f.rule.starts_with("recon."))
            .map(|f| &*f.rule)
            .collect()
    }

    #[test]
    fn without_receivables_nothing_is_invented_and_nothing_is_clean() {
        let p = plan(&rec("EUR", "100"), &ReceivablesInput::NotConfigured);
        let r = p.recon.clone().expect("a report");
        assert_eq!(r.verdict, "0 items audited");
        assert!(r.coverage.note.is_some() && r.incomplete());
        assert!(recon_rules(&p).is_empty());
        let failed = ReceivablesInput::Failed {
            error: "bad row".into(),
        };
        let p = plan(&rec("EUR", "100"), &failed);
        assert!(recon_rules(&p).is_empty());
        assert!(p.recon.expect("report").verdict.starts_with("0 items"));
    }

    #[test]
    fn not_invoiced_under_invoiced_and_enough() {
        // Issued 2026-10-02 (due 2026-11-01): inside the October window.
        let none = matched(vec![]);
        assert_eq!(
            recon_rules(&plan(&rec("EUR", "100"), &none)),
            vec![NOT_INVOICED]
        );
        let low = matched(vec![receivable(A, "I1", "2026-11-01", "105", "105")]);
        assert_eq!(
            recon_rules(&plan(&rec("EUR", "100"), &low)),
            vec![UNDER_INVOICED]
        );
        let enough = matched(vec![receivable(A, "I1", "2026-11-01", "110", "110")]);
        let p = plan(&rec("EUR", "100"), &enough);
        assert!(recon_rules(&p).is_empty());
        assert_eq!(p.recon.expect("report").verdict, "1 items audited");
    }

    #[test]
    fn another_currency_is_never_converted() {
        let eur = matched(vec![receivable(A, "I1", "2026-11-01", "500", "500")]);
        let p = plan(&rec("USD", "100"), &eur);
        assert!(recon_rules(&p).is_empty());
        let r = p.recon.expect("report");
        assert_eq!(r.verdict, "0 items audited");
        assert!(
            r.coverage.not_reconcilable[0]
                .reason
                .contains("never converted")
        );
    }

    #[test]
    fn exposure_of_a_late_payer_counts_in_the_risk_ranking() {
        let late = matched(vec![receivable(A, "I1", "2026-11-01", "50", "0")]);
        let p = plan(&rec("EUR", "100"), &late);
        let mut rules = recon_rules(&p);
        rules.sort_unstable();
        assert_eq!(rules, vec![EXPOSURE, UNDER_INVOICED]);
        let r = p.recon.clone().expect("report");
        assert_eq!(r.exposure[0].total, dec("50"));
        assert_eq!(r.exposure[0].days_overdue, 20);
        assert!(p.risk.iter().any(|s| s.customer == A));
    }
}
