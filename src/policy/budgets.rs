//! The budgets policy: month-to-date Azure spend against each customer's Partner Center spending
//! budget (`[budgets]`).
//!
//! Rules (rule family = the fingerprint's part before the first `:`):
//! - `budget.threshold:{customer}:{YYYY-MM}:{pct}`: spend reached `pct`% of the budget this
//!   billing month. Every crossed threshold has its own fingerprint, so each fires once per month.
//!   Warning below `critical_at`, critical at or above it.
//! - `budget.forecast:{customer}:{YYYY-MM}` (warning): still under budget, but the straight-line
//!   month-end forecast `spend / elapsed_days * days_in_month` exceeds it. `elapsed_days` is the
//!   local day of month minus one (usage lags about 24 hours); no forecast before
//!   `forecast_min_days` elapsed days.
//! - `budget.missing:{customer}` (info; warning above `missing_warn_spend`): Azure spend but no
//!   budget. Optionally a `SetBudget` action `set-budget/{customer}` (approval-gated by default).
//! - Optional `CustomerNotice` (template `budget-threshold`) when the `notice_at` threshold is
//!   crossed, key `budget-notice/{customer}/{YYYY-MM}/{pct}`.
//!
//! Invariants: the billing month is the local month of `input.today()` (partner's time zone);
//! threshold comparisons are exact decimal arithmetic (`spend * 100 >= pct * budget`), never a
//! rounded percentage; amounts keep the usage record's currency. Missing usage data (not checked
//! or failed) produces a skip, never an "all clear": the rule families are declared evaluated
//! only when the usage section was read.

use std::collections::BTreeMap;

use jiff::civil::Date;
use rust_decimal::prelude::ToPrimitive as _;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;

use crate::facts::Facts;
use crate::money;
use crate::pc::models::CustomerMonthlyUsageRecord;
use crate::plan::{
    ActionKind, DetailNeed, Finding, NoticeBudget, PlanBuilder, PlannedAction, Severity, month_key,
};
use crate::policy::{OrSkip, PolicyInput};
use crate::snapshot::Section;

const POLICY: &str = "budgets";

/// `[budgets]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Run the budgets policy at all.
    pub enabled: bool,
    /// Percentages of the budget that raise a finding once per month each, e.g. `[80, 100]`.
    pub thresholds: Vec<Decimal>,
    /// Thresholds at or above this percentage are critical (they alert immediately).
    pub critical_at: Decimal,
    /// Forecast month-end spend.
    pub forecast: bool,
    /// Elapsed days (local day of month minus one) needed before forecasting.
    pub forecast_min_days: u32,
    /// Month-to-date spend above which a missing budget is a warning instead of information.
    pub missing_warn_spend: Decimal,
    /// Send the customer a notice when this threshold (one of `thresholds`) is crossed.
    /// Off when absent (the default).
    pub notice_at: Option<Decimal>,
    /// Plan a default budget for customers with spend and no budget.
    pub default_budget: DefaultBudgetConfig,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            thresholds: vec![Decimal::from(80), Decimal::from(100)],
            critical_at: Decimal::from(100),
            forecast: true,
            forecast_min_days: 5,
            missing_warn_spend: Decimal::from(1000),
            notice_at: None,
            default_budget: DefaultBudgetConfig::default(),
        }
    }
}

/// `[budgets.default_budget]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefaultBudgetConfig {
    /// Plan `SetBudget` for customers with spend and no budget.
    pub enabled: bool,
    /// A fixed amount (in each customer's currency). Takes precedence over the multiplier.
    pub amount: Option<Decimal>,
    /// Budget = multiplier x the highest month-end month-to-date spend in the last 90 days of
    /// the ledger's spend history (or this month's spend so far, if higher).
    pub trailing_multiplier: Option<Decimal>,
    /// Derived amounts are rounded up to a multiple of this.
    pub round_to: Decimal,
    /// The budget change waits for a person's approval.
    pub requires_approval: bool,
}

impl Default for DefaultBudgetConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            amount: None,
            trailing_multiplier: None,
            round_to: Decimal::from(100),
            requires_approval: true,
        }
    }
}

impl BudgetConfig {
    /// Check the settings (called at config load).
    pub fn validate(&self) -> Result<(), String> {
        if self.thresholds.is_empty() && self.enabled {
            return Err(
                "budgets.thresholds must list at least one percentage, e.g. [80, 100]".into(),
            );
        }
        for t in &self.thresholds {
            if *t <= Decimal::ZERO {
                return Err(format!(
                    "budgets.thresholds: {t} must be a percentage above 0"
                ));
            }
        }
        let mut sorted = self.thresholds.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != self.thresholds.len() {
            return Err("budgets.thresholds lists the same percentage twice".into());
        }
        if self.critical_at <= Decimal::ZERO {
            return Err(format!(
                "budgets.critical_at: {} must be above 0",
                self.critical_at
            ));
        }
        if self.missing_warn_spend < Decimal::ZERO {
            return Err("budgets.missing_warn_spend must not be negative".into());
        }
        if let Some(n) = self.notice_at
            && !self.thresholds.contains(&n)
        {
            return Err(format!(
                "budgets.notice_at = {n} is not one of budgets.thresholds ({})",
                self.thresholds
                    .iter()
                    .map(Decimal::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let d = &self.default_budget;
        if let Some(a) = d.amount
            && a <= Decimal::ZERO
        {
            return Err("budgets.default_budget.amount must be above 0".into());
        }
        if let Some(m) = d.trailing_multiplier
            && m <= Decimal::ZERO
        {
            return Err("budgets.default_budget.trailing_multiplier must be above 0".into());
        }
        if d.round_to <= Decimal::ZERO {
            return Err("budgets.default_budget.round_to must be above 0".into());
        }
        if d.enabled && d.amount.is_none() && d.trailing_multiplier.is_none() {
            return Err(
                "budgets.default_budget is enabled but has neither `amount` nor `trailing_multiplier`"
                    .into(),
            );
        }
        Ok(())
    }
}

/// A percentage for people, truncated (79.99 shows as 79.9, never as a crossed 80.0).
pub(crate) fn percent(p: Decimal) -> String {
    p.round_dp_with_strategy(1, RoundingStrategy::ToZero)
        .normalize()
        .to_string()
}

/// The currency of a usage record (code, else locale, else empty).
pub(crate) fn record_currency(r: &CustomerMonthlyUsageRecord) -> String {
    r.currency_code
        .as_deref()
        .or(r.currency_locale.as_deref())
        .map(str::trim)
        .unwrap_or("")
        .to_owned()
}

/// Number of days in a date's month.
fn days_in_month(d: Date) -> i8 {
    d.days_in_month()
}

/// Add this policy's findings and actions.
pub fn evaluate(input: &PolicyInput<'_>, out: &mut PlanBuilder) {
    let cfg = &input.config.budgets;
    if !cfg.enabled {
        return;
    }
    let Some(records) = input.snapshot.usage.or_skip(out, POLICY, "usage") else {
        return;
    };
    out.evaluated("budget.threshold");
    out.evaluated("budget.missing");
    if cfg.forecast {
        out.evaluated("budget.forecast");
    }
    let today = input.today();
    for r in records {
        evaluate_record(input, out, r, today);
    }
}

/// The billing month a usage record belongs to: the local month of its `lastModifiedDate` when
/// that is an earlier month than today (usage lags about a day, so just after local midnight at a
/// month's end the record still holds last month's spend), else the local month of today.
fn usage_month(input: &PolicyInput<'_>, r: &CustomerMonthlyUsageRecord, today: Date) -> String {
    let modified = r
        .last_modified_date
        .map(|t| t.to_zoned(input.tz.clone()).date())
        .filter(|d| *d < today && (d.year(), d.month()) != (today.year(), today.month()));
    month_key(modified.unwrap_or(today))
}

/// One customer's usage record as the budget rules read it.
struct Usage<'r> {
    customer: &'r str,
    /// The customer as people know it.
    name: &'r str,
    /// Month-to-date spend.
    spend: Decimal,
    currency: String,
    /// The billing month of the record (`YYYY-MM`).
    month: String,
    /// Today in the partner's time zone.
    today: Date,
}

/// A threshold the spend crossed.
struct Crossing<'x> {
    /// The finding's fingerprint.
    fp: &'x str,
    /// The threshold in percent, as written in keys and text (`80`).
    threshold: &'x str,
    /// How much of the budget is used (`125%`, or `all` of a zero budget).
    used: &'x str,
    budget: Decimal,
    /// The threshold in percent.
    percent: Decimal,
}

fn evaluate_record(
    input: &PolicyInput<'_>,
    out: &mut PlanBuilder,
    r: &CustomerMonthlyUsageRecord,
    today: Date,
) {
    let Some(customer) = r.customer_id().map(str::trim).filter(|c| !c.is_empty()) else {
        out.skip(None, POLICY, "a usage record has no customer id; ignored");
        return;
    };
    let name = r
        .customer_name()
        .or_else(|| input.snapshot.company_name(customer))
        .unwrap_or(customer);
    let Some(spend) = r.total_cost else {
        out.skip(
            Some(customer),
            POLICY,
            "the usage record has no total cost; budget not checked",
        );
        return;
    };
    let u = Usage {
        customer,
        name,
        spend,
        currency: record_currency(r),
        month: usage_month(input, r, today),
        today,
    };
    match r.budget_amount() {
        None => {
            if spend > Decimal::ZERO {
                missing_budget(input, &u, out);
            }
        }
        Some(b) if b < Decimal::ZERO => out.skip(
            Some(customer),
            POLICY,
            format!("the spending budget is negative ({b}); budget not checked"),
        ),
        Some(b) => {
            if spend <= Decimal::ZERO {
                return;
            }
            thresholds(input, &u, b, out);
            if input.config.budgets.forecast && spend < b {
                forecast(input, &u, b, out);
            }
        }
    }
}

/// A `budget.threshold` finding for every configured threshold the spend reached (and the
/// customer notice at `notice_at`).
fn thresholds(input: &PolicyInput<'_>, u: &Usage<'_>, b: Decimal, out: &mut PlanBuilder) {
    let cfg = &input.config.budgets;
    let (customer, name, spend, currency, month) =
        (u.customer, u.name, u.spend, &u.currency, &u.month);
    let pct_used = if b.is_zero() {
        None
    } else {
        Some(spend * Decimal::from(100) / b)
    };
    let used_text = match pct_used {
        Some(p) => format!("{}%", percent(p)),
        None => "all".to_owned(),
    };
    let mut thresholds = cfg.thresholds.clone();
    thresholds.sort();
    for t in thresholds {
        if spend * Decimal::from(100) < t * b {
            continue;
        }
        let t_text = t.normalize().to_string();
        let fp = format!("budget.threshold:{customer}:{month}:{t_text}");
        let severity = if t >= cfg.critical_at {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut facts = Facts::new();
        facts.insert("budget", b.to_string());
        facts.insert("spend", spend.to_string());
        facts.insert("currency", currency.clone());
        facts.insert("threshold_pct", t_text.clone());
        if let Some(p) = pct_used {
            facts.insert("percent_used", p.round_dp(2).to_string());
        }
        facts.insert("month", month.clone());
        // The notice (an action) is planned before the finding is added, so the finding keeps
        // the only copy of its fingerprint.
        let finding = Finding {
            fingerprint: fp,
            rule: "budget.threshold".into(),
            severity,
            customer: Some(customer.to_owned()),
            summary: format!(
                "{name} has used {used_text} of its {} Azure budget this month ({}), \
                 crossing the {t_text}% threshold",
                money::format_code(b, currency),
                money::format_code(spend, currency)
            ),
            facts,
        };
        if cfg.notice_at == Some(t) {
            let crossing = Crossing {
                fp: &finding.fingerprint,
                threshold: &t_text,
                used: &used_text,
                budget: b,
                percent: t,
            };
            budget_notice(input, u, &crossing, out);
        }
        out.finding(finding);
    }
}

/// A `budget.forecast` finding when the month's pace so far overshoots the budget.
fn forecast(input: &PolicyInput<'_>, u: &Usage<'_>, budget: Decimal, out: &mut PlanBuilder) {
    let cfg = &input.config.budgets;
    let (customer, name, spend, currency, today) =
        (u.customer, u.name, u.spend, u.currency.as_str(), u.today);
    let elapsed = i64::from(today.day()) - 1;
    if elapsed < i64::from(cfg.forecast_min_days) || elapsed <= 0 {
        return;
    }
    let dim = i64::from(days_in_month(today));
    let projected = spend / Decimal::from(elapsed) * Decimal::from(dim);
    if projected <= budget {
        return;
    }
    let month = month_key(today);
    let mut facts = Facts::new();
    facts.insert("budget", budget.to_string());
    facts.insert("spend", spend.to_string());
    facts.insert("currency", currency.to_owned());
    facts.insert("forecast", projected.round_dp(2).to_string());
    facts.insert("elapsed_days", elapsed.to_string());
    facts.insert("days_in_month", dim.to_string());
    facts.insert("month", month.clone());
    out.finding(Finding {
        fingerprint: format!("budget.forecast:{customer}:{month}"),
        rule: "budget.forecast".into(),
        severity: Severity::Warning,
        customer: Some(customer.to_owned()),
        summary: format!(
            "{name} is on course to spend {} this month against its {} Azure budget \
             ({} in the first {elapsed} days of {dim})",
            money::format_code(projected, currency),
            money::format_code(budget, currency),
            money::format_code(spend, currency)
        ),
        facts,
    });
}

/// Where the budget notice goes: the override email, else the billing profile's; `None` after
/// recording why it cannot be planned (detail missing, unreadable, or no address).
fn notice_recipient(
    input: &PolicyInput<'_>,
    customer: &str,
    out: &mut PlanBuilder,
) -> Option<String> {
    let ov = input.config.customer(customer);
    let detail = input.snapshot.detail(customer);
    let to = match ov.and_then(|o| o.email.clone()) {
        Some(e) => Some(e),
        None => match detail.map(|d| &d.billing_profile) {
            None => {
                out.need_detail(
                    customer,
                    DetailNeed {
                        profile: true,
                        ..DetailNeed::default()
                    },
                );
                out.skip(
                    Some(customer),
                    POLICY,
                    "budget notice waits for the billing profile (contact email)",
                );
                return None;
            }
            Some(Section::Ok { data }) => data.email().map(str::to_owned),
            Some(Section::NotChecked { reason }) => {
                out.skip(
                    Some(customer),
                    POLICY,
                    format!("budget notice not planned: billing profile not checked ({reason})"),
                );
                return None;
            }
            Some(Section::Failed { error }) => {
                out.skip(
                    Some(customer),
                    POLICY,
                    format!(
                        "budget notice not planned: billing profile could not be read ({error})"
                    ),
                );
                return None;
            }
        },
    };
    if to.is_none() {
        out.skip(
            Some(customer),
            POLICY,
            "budget notice not planned: no billing email on the profile and no override",
        );
    }
    to
}

/// The customer notice for the threshold at `notice_at`.
fn budget_notice(input: &PolicyInput<'_>, u: &Usage<'_>, c: &Crossing<'_>, out: &mut PlanBuilder) {
    let (customer, month, currency) = (u.customer, &u.month, u.currency.as_str());
    let Some(to) = notice_recipient(input, customer, out) else {
        return;
    };
    let ov = input.config.customer(customer);
    let profile = input
        .snapshot
        .detail(customer)
        .and_then(|d| d.billing_profile.data());
    let locale_hint = ov
        .and_then(|o| o.locale.clone())
        .or_else(|| profile.and_then(|p| p.culture().or(p.language()).map(str::to_owned)));
    out.action(PlannedAction {
        key: format!("budget-notice/{customer}/{month}/{}", c.threshold),
        customer: Some(customer.to_owned()),
        kind: ActionKind::CustomerNotice {
            template: "budget-threshold".into(),
            stage: "budget-threshold".into(),
            to: Some(to),
            cc: ov.map(|o| o.cc.clone()).unwrap_or_default(),
            locale_hint,
            invoices: vec![],
            suspension_date: None,
            budget: Some(notice_budget(input, u, c)),
        },
        requires_approval: false,
        reason: format!(
            "{} crossed the {}% budget threshold: {} of {} used ({})",
            u.name,
            c.threshold,
            c.used,
            money::format_code(c.budget, currency),
            money::format_code(u.spend, currency)
        ),
        findings: vec![c.fp.to_owned()],
        after: vec![],
    });
}

/// The facts the budget notice states: the crossing, and the month-end forecast at the current
/// pace once `forecast_min_days` of the month have passed.
fn notice_budget(input: &PolicyInput<'_>, u: &Usage<'_>, c: &Crossing<'_>) -> NoticeBudget {
    let elapsed = i64::from(u.today.day()) - 1;
    let forecast = (elapsed > 0 && elapsed >= i64::from(input.config.budgets.forecast_min_days))
        .then(|| {
            let dim = i64::from(days_in_month(u.today));
            (u.spend / Decimal::from(elapsed) * Decimal::from(dim)).round_dp(2)
        });
    NoticeBudget {
        threshold_percent: c.percent.round().to_u32().unwrap_or(u32::MAX),
        spend: u.spend,
        budget: c.budget,
        currency: u.currency.clone(),
        month: u.today,
        forecast,
    }
}

/// The `budget.missing` finding, and the default budget when one is configured.
fn missing_budget(input: &PolicyInput<'_>, u: &Usage<'_>, out: &mut PlanBuilder) {
    let cfg = &input.config.budgets;
    let (customer, name, spend, currency) = (u.customer, u.name, u.spend, u.currency.as_str());
    let fp = || format!("budget.missing:{customer}");
    let severity = if spend > cfg.missing_warn_spend {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut facts = Facts::new();
    facts.insert("spend", spend.to_string());
    facts.insert("currency", currency.to_owned());
    out.finding(Finding {
        fingerprint: fp(),
        rule: "budget.missing".into(),
        severity,
        customer: Some(customer.to_owned()),
        summary: format!(
            "{name} has no Azure spending budget and has used {} this month",
            money::format_code(spend, currency)
        ),
        facts,
    });
    let d = &cfg.default_budget;
    if !d.enabled {
        return;
    }
    let Some((amount, how)) = default_amount(input, u, out) else {
        return;
    };
    if amount <= Decimal::ZERO {
        out.skip(
            Some(customer),
            POLICY,
            format!("default budget not planned: the derived amount is {amount}"),
        );
        return;
    }
    out.action(PlannedAction {
        key: format!("set-budget/{customer}"),
        customer: Some(customer.to_owned()),
        kind: ActionKind::SetBudget { amount },
        requires_approval: d.requires_approval,
        reason: format!(
            "{name} has Azure spend ({}) but no spending budget; set a budget of {} from {how}",
            money::format_code(spend, currency),
            money::format_code(amount, currency)
        ),
        findings: vec![fp()],
        after: vec![],
    });
}

/// The default budget and how it was derived (the configured amount, or a multiple of the
/// highest recent month-end spend); `None` after recording why there is none.
fn default_amount(
    input: &PolicyInput<'_>,
    u: &Usage<'_>,
    out: &mut PlanBuilder,
) -> Option<(Decimal, String)> {
    let d = &input.config.budgets.default_budget;
    let (customer, currency, today) = (u.customer, u.currency.as_str(), u.today);
    if let Some(a) = d.amount {
        return Some((
            a,
            format!(
                "the configured default of {}",
                money::format_code(a, currency)
            ),
        ));
    }
    let Some(m) = d.trailing_multiplier else {
        out.skip(
            Some(customer),
            POLICY,
            "default budget not planned: neither an amount nor a trailing multiplier is configured",
        );
        return None;
    };
    let since = today
        .checked_sub(jiff::Span::new().days(90))
        .unwrap_or(today);
    let history = match input.ledger.spend_history(customer, since) {
        Ok(h) => h,
        Err(e) => {
            out.skip(
                Some(customer),
                POLICY,
                format!("default budget not planned: cannot read spend history ({e})"),
            );
            return None;
        }
    };
    let Some(peak) = highest_month_end(&history, currency, today) else {
        out.skip(
            Some(customer),
            POLICY,
            format!(
                "default budget not planned: no completed month of {currency} spend history \
                 in the last 90 days to derive it from"
            ),
        );
        return None;
    };
    let base = peak.max(u.spend);
    let raw = base * m;
    let amount = (raw / d.round_to).ceil() * d.round_to;
    Some((
        amount,
        format!(
            "{m} x {} (the highest month-end spend of the last 90 days, or this month's \
             if higher), rounded up to a multiple of {}",
            money::format_code(base, currency),
            d.round_to.normalize()
        ),
    ))
}

/// The highest month-end month-to-date spend among completed months (months before `today`'s),
/// counting only snapshots in `currency`. The month-end value is the month's latest snapshot.
fn highest_month_end(
    history: &[crate::ledger::SpendSnapshot],
    currency: &str,
    today: Date,
) -> Option<Decimal> {
    let current = (today.year(), today.month());
    let mut last_of_month: BTreeMap<(i16, i8), (Date, Decimal)> = BTreeMap::new();
    for s in history {
        if !s.currency.trim().eq_ignore_ascii_case(currency) {
            continue;
        }
        let m = (s.date.year(), s.date.month());
        if m >= current {
            continue;
        }
        let e = last_of_month.entry(m).or_insert((s.date, s.amount));
        if s.date >= e.0 {
            *e = (s.date, s.amount);
        }
    }
    last_of_month.values().map(|(_, a)| *a).max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use crate::policy::testkit::*;
    use crate::policy::{CustomerOverride, PolicyConfig, ReceivablesInput};

    fn cfg(b: BudgetConfig) -> PolicyConfig {
        PolicyConfig {
            budgets: b,
            ..PolicyConfig::default()
        }
    }

    fn plan_for(
        records: Vec<CustomerMonthlyUsageRecord>,
        config: &PolicyConfig,
        now: &str,
        tz: Option<&str>,
        l: &crate::ledger::Ledger,
    ) -> Plan {
        let now = ts(now);
        let mut snap = snapshot(now);
        snap.usage = Section::Ok { data: records };
        run(&snap, &ReceivablesInput::NotConfigured, l, config, now, tz)
    }

    fn fps(p: &Plan, prefix: &str) -> Vec<String> {
        p.findings
            .iter()
            .filter(|f| f.fingerprint.starts_with(prefix))
            .map(|f| f.fingerprint.clone())
            .collect()
    }

    #[test]
    fn thresholds_fire_at_exact_boundaries() {
        // (spend of a 100 budget, expected threshold fingerprints)
        let cases: &[(&str, &[&str])] = &[
            ("79.99", &[]),
            ("80.00", &["budget.threshold:c1:2026-11:80"]),
            ("99.99", &["budget.threshold:c1:2026-11:80"]),
            (
                "100.00",
                &[
                    "budget.threshold:c1:2026-11:100",
                    "budget.threshold:c1:2026-11:80",
                ],
            ),
            ("0", &[]),
        ];
        let config = cfg(BudgetConfig::default());
        for (spend, want) in cases {
            let p = plan_for(
                vec![usage("c1", Some("100"), spend, "EUR")],
                &config,
                "2026-11-03T08:00:00Z",
                None,
                &ledger(),
            );
            let mut got = fps(&p, "budget.threshold");
            got.sort();
            assert_eq!(got, *want, "spend {spend}");
        }
    }

    #[test]
    fn severity_follows_critical_at_and_summary_has_numbers() {
        let p = plan_for(
            vec![usage("c1", Some("20000"), "20840", "SEK")],
            &cfg(BudgetConfig::default()),
            "2026-11-03T08:00:00Z",
            None,
            &ledger(),
        );
        let at100 = p
            .findings
            .iter()
            .find(|f| f.fingerprint == "budget.threshold:c1:2026-11:100")
            .expect("100% finding");
        assert_eq!(at100.severity, Severity::Critical);
        assert!(
            at100.summary.starts_with(
                "c1 has used 104.2% of its SEK 20,000 Azure budget this month (SEK 20,840)"
            ),
            "{}",
            at100.summary
        );
        assert_eq!(at100.facts["spend"], "20840");
        let at80 = p
            .findings
            .iter()
            .find(|f| f.fingerprint == "budget.threshold:c1:2026-11:80")
            .expect("80% finding");
        assert_eq!(at80.severity, Severity::Warning);

        let b = BudgetConfig {
            critical_at: Decimal::from(80),
            ..BudgetConfig::default()
        };
        let p = plan_for(
            vec![usage("c1", Some("100"), "85", "EUR")],
            &cfg(b),
            "2026-11-03T08:00:00Z",
            None,
            &ledger(),
        );
        assert_eq!(p.findings[0].severity, Severity::Critical);
    }

    #[test]
    fn billing_month_follows_the_partner_time_zone() {
        // (now, tz, expected month in the fingerprint)
        let cases = [
            ("2026-10-31T23:30:00Z", "Europe/Stockholm", "2026-11"),
            ("2026-10-31T23:30:00Z", "UTC", "2026-10"),
            ("2026-10-31T22:59:59Z", "Europe/Stockholm", "2026-10"),
            ("2026-11-01T03:00:00Z", "America/New_York", "2026-10"),
            ("2026-03-31T22:00:00Z", "Europe/Stockholm", "2026-04"),
            ("2026-03-31T21:59:59Z", "Europe/Stockholm", "2026-03"),
        ];
        let config = cfg(BudgetConfig::default());
        for (now, tz, month) in cases {
            let p = plan_for(
                vec![usage("c1", Some("100"), "85", "EUR")],
                &config,
                now,
                Some(tz),
                &ledger(),
            );
            assert_eq!(
                fps(&p, "budget.threshold"),
                [format!("budget.threshold:c1:{month}:80")],
                "{now} in {tz}"
            );
        }
    }

    #[test]
    fn last_months_usage_read_after_local_midnight_keeps_last_months_key() {
        // 00:30 on 1 November in Stockholm; the record was last updated on 31 October.
        let mut record = usage("c1", Some("100"), "85", "EUR");
        record.last_modified_date = Some(ts("2026-10-31T20:00:00Z"));
        let config = cfg(BudgetConfig::default());
        let p = plan_for(
            vec![record],
            &config,
            "2026-10-31T23:30:00Z",
            Some("Europe/Stockholm"),
            &ledger(),
        );
        assert_eq!(
            fps(&p, "budget.threshold"),
            ["budget.threshold:c1:2026-10:80"]
        );
        // Once the record is refreshed in November, November's key is used.
        let mut record = usage("c1", Some("100"), "85", "EUR");
        record.last_modified_date = Some(ts("2026-11-01T06:00:00Z"));
        let p = plan_for(
            vec![record],
            &config,
            "2026-11-01T08:00:00Z",
            Some("Europe/Stockholm"),
            &ledger(),
        );
        assert_eq!(
            fps(&p, "budget.threshold"),
            ["budget.threshold:c1:2026-11:80"]
        );
    }

    #[test]
    fn forecast_needs_min_days_and_exceeding_budget() {
        // Budget 3000 in November (30 days). (now, spend, forecast fires)
        let cases = [
            // day 6 local -> 5 elapsed days: 501/5*30 = 3006 > 3000
            ("2026-11-06T08:00:00Z", "501", true),
            // exactly on budget: 500/5*30 = 3000, not above
            ("2026-11-06T08:00:00Z", "500", false),
            // day 5 local -> 4 elapsed days: below forecast_min_days
            ("2026-11-05T08:00:00Z", "900", false),
            // 2026-11-05T23:30Z is already day 6 in Stockholm
            ("2026-11-05T23:30:00Z", "501", true),
            // already over budget: the threshold finding says it, no forecast
            ("2026-11-20T08:00:00Z", "3100", false),
        ];
        let config = cfg(BudgetConfig::default());
        for (now, spend, fires) in cases {
            let p = plan_for(
                vec![usage("c1", Some("3000"), spend, "EUR")],
                &config,
                now,
                None,
                &ledger(),
            );
            let got = fps(&p, "budget.forecast");
            if fires {
                assert_eq!(got, ["budget.forecast:c1:2026-11"], "{now} {spend}");
                let f = &p
                    .findings
                    .iter()
                    .find(|f| f.rule == "budget.forecast")
                    .unwrap();
                assert_eq!(f.severity, Severity::Warning);
                assert!(f.facts.contains_key("forecast"));
            } else {
                assert!(got.is_empty(), "{now} {spend}: {got:?}");
            }
        }
    }

    #[test]
    fn forecast_uses_days_in_month_across_dst_months() {
        // October has 31 days; 2026-10-26 local (after the DST change on 10-25): 25 elapsed.
        // 2420/25*31 = 3000.8 > 3000 fires; 2419/25*31 = 2999.56 does not.
        let config = cfg(BudgetConfig::default());
        for (spend, fires) in [("2420", true), ("2419", false)] {
            let p = plan_for(
                vec![usage("c1", Some("3000"), spend, "EUR")],
                &config,
                "2026-10-26T10:00:00Z",
                None,
                &ledger(),
            );
            assert_eq!(!fps(&p, "budget.forecast").is_empty(), fires, "{spend}");
        }
    }

    #[test]
    fn missing_budget_is_info_or_warning_above_the_spend_floor() {
        let config = cfg(BudgetConfig::default());
        for (spend, want) in [
            ("0", None),
            ("0.01", Some(Severity::Info)),
            ("1000", Some(Severity::Info)),
            ("1000.01", Some(Severity::Warning)),
        ] {
            let p = plan_for(
                vec![usage("c1", None, spend, "EUR")],
                &config,
                "2026-11-10T08:00:00Z",
                None,
                &ledger(),
            );
            let f = p
                .findings
                .iter()
                .find(|f| f.fingerprint == "budget.missing:c1");
            assert_eq!(f.map(|f| f.severity), want, "{spend}");
            assert!(p.actions.is_empty(), "default budget is off by default");
        }
    }

    #[test]
    fn default_budget_fixed_amount_is_approval_gated() {
        let mut b = BudgetConfig::default();
        b.default_budget.enabled = true;
        b.default_budget.amount = Some(dec("5000"));
        let p = plan_for(
            vec![usage("c1", None, "10", "EUR")],
            &cfg(b),
            "2026-11-10T08:00:00Z",
            None,
            &ledger(),
        );
        assert_eq!(p.actions.len(), 1);
        let a = &p.actions[0];
        assert_eq!(a.key, "set-budget/c1");
        assert_eq!(
            a.kind,
            ActionKind::SetBudget {
                amount: dec("5000")
            }
        );
        assert!(a.requires_approval);
        assert_eq!(a.findings, ["budget.missing:c1"]);
    }

    #[test]
    fn default_budget_from_trailing_month_end_spend() {
        let l = ledger();
        let now = ts("2026-11-10T08:00:00Z");
        // September ends at 900, October at 1210 (its latest snapshot), an older day is higher
        // mid-month but not month-end; a USD row is ignored; November is not complete.
        for (d, amt, cur) in [
            ("2026-09-29", "850", "EUR"),
            ("2026-09-30", "900", "EUR"),
            ("2026-10-15", "700", "EUR"),
            ("2026-10-31", "1210", "EUR"),
            ("2026-10-30", "1300", "USD"),
            ("2026-11-09", "400", "EUR"),
        ] {
            l.record_spend("c1", date(d), dec(amt), cur, now).unwrap();
        }
        let mut b = BudgetConfig::default();
        b.default_budget.enabled = true;
        b.default_budget.trailing_multiplier = Some(dec("1.5"));
        b.default_budget.requires_approval = false;
        let config = cfg(b);
        let p = plan_for(
            vec![usage("c1", None, "400", "EUR")],
            &config,
            "2026-11-10T08:00:00Z",
            None,
            &l,
        );
        // 1210 * 1.5 = 1815 -> rounded up to 1900
        assert_eq!(p.actions.len(), 1, "{p:?}");
        assert_eq!(
            p.actions[0].kind,
            ActionKind::SetBudget {
                amount: dec("1900")
            }
        );
        assert!(!p.actions[0].requires_approval);

        // No completed month: no action, and the plan says why.
        let p = plan_for(
            vec![usage("c2", None, "400", "EUR")],
            &config,
            "2026-11-10T08:00:00Z",
            None,
            &l,
        );
        assert!(p.actions.is_empty());
        assert!(
            p.skipped
                .iter()
                .any(|s| s.customer.as_deref() == Some("c2")
                    && s.reason.contains("no completed month")),
            "{:?}",
            p.skipped
        );
    }

    #[test]
    fn customer_notice_at_configured_threshold() {
        let b = BudgetConfig {
            notice_at: Some(Decimal::from(100)),
            ..BudgetConfig::default()
        };
        let mut config = cfg(b);
        let now = ts("2026-11-10T08:00:00Z");
        let mut snap = snapshot(now);
        snap.usage = Section::Ok {
            data: vec![
                usage("c1", Some("100"), "101", "EUR"),
                usage("c2", Some("100"), "85", "EUR"),
            ],
        };
        // First pass: no profile yet -> detail requested, no notice.
        let p = run(
            &snap,
            &ReceivablesInput::NotConfigured,
            &ledger(),
            &config,
            now,
            None,
        );
        assert!(
            p.actions
                .iter()
                .all(|a| !a.key.starts_with("budget-notice/"))
        );
        assert_eq!(p.needs_detail.get("c1").map(|n| n.profile), Some(true));
        assert!(
            !p.needs_detail.contains_key("c2"),
            "c2 below the notice threshold"
        );
        // Second pass with the profile.
        snap.details.insert(
            "c1".into(),
            detail(
                Some(profile(Some("ap@c1.example"), Some("sv-SE"), "SE")),
                vec![],
            ),
        );
        config.customers.insert(
            "C1".into(),
            CustomerOverride {
                cc: vec!["am@partner.example".into()],
                ..CustomerOverride::default()
            },
        );
        let p = run(
            &snap,
            &ReceivablesInput::NotConfigured,
            &ledger(),
            &config,
            now,
            None,
        );
        let n = p
            .actions
            .iter()
            .find(|a| a.key == "budget-notice/c1/2026-11/100")
            .expect("notice");
        match &n.kind {
            ActionKind::CustomerNotice {
                template,
                to,
                cc,
                locale_hint,
                ..
            } => {
                assert_eq!(template, "budget-threshold");
                assert_eq!(to.as_deref(), Some("ap@c1.example"));
                assert_eq!(cc, &["am@partner.example".to_owned()]);
                assert_eq!(locale_hint.as_deref(), Some("sv-SE"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(n.findings, ["budget.threshold:c1:2026-11:100"]);
    }

    #[test]
    fn usage_not_checked_is_a_skip_not_all_clear() {
        let now = ts("2026-11-10T08:00:00Z");
        let mut snap = snapshot(now);
        snap.usage = Section::NotChecked {
            reason: "App+User credentials not configured".into(),
        };
        let mut b = PlanBuilder::default();
        let tz = jiff::tz::TimeZone::UTC;
        let l = ledger();
        let config = PolicyConfig::default();
        let rec = ReceivablesInput::NotConfigured;
        evaluate(
            &PolicyInput {
                snapshot: &snap,
                receivables: &rec,
                recon: &crate::recon::model::ReconInput::NotConfigured,
                ledger: &l,
                config: &config,
                now,
                tz: &tz,
            },
            &mut b,
        );
        assert!(!b.was_evaluated("budget.threshold"));
        let p = b.build();
        assert!(
            p.skipped[0].reason.contains("not checked: App+User"),
            "{:?}",
            p.skipped
        );
    }

    #[test]
    fn evaluating_twice_gives_identical_plans() {
        let config = cfg(BudgetConfig::default());
        let recs = || {
            vec![
                usage("c1", Some("100"), "120", "EUR"),
                usage("c2", None, "5000", "SEK"),
                usage("c3", Some("3000"), "950", "USD"),
            ]
        };
        let l = ledger();
        let a = plan_for(recs(), &config, "2026-11-10T08:00:00Z", None, &l);
        let b = plan_for(recs(), &config, "2026-11-10T08:00:00Z", None, &l);
        assert_eq!(a, b);
        assert_eq!(a.findings.len(), 4, "{a:?}");
    }

    #[test]
    fn config_parses_and_validates() {
        let c: BudgetConfig = toml::from_str(
            "thresholds = [50, 80.5, 100]\nnotice_at = 100\n[default_budget]\nenabled = true\ntrailing_multiplier = 1.2\n",
        )
        .unwrap();
        assert_eq!(c.thresholds, [dec("50"), dec("80.5"), dec("100")]);
        assert_eq!(c.validate(), Ok(()));
        assert!(toml::from_str::<BudgetConfig>("threshold = [1]").is_err());
        let bad = |f: fn(&mut BudgetConfig)| {
            let mut c = BudgetConfig::default();
            f(&mut c);
            c.validate()
        };
        assert!(bad(|c| c.thresholds = vec![]).is_err());
        assert!(bad(|c| c.thresholds = vec![Decimal::ZERO]).is_err());
        assert!(bad(|c| c.thresholds = vec![Decimal::ONE, Decimal::ONE]).is_err());
        assert!(bad(|c| c.notice_at = Some(Decimal::from(90))).is_err());
        assert!(bad(|c| c.default_budget.enabled = true).is_err());
        assert!(bad(|c| c.default_budget.round_to = Decimal::ZERO).is_err());
        assert_eq!(BudgetConfig::default().validate(), Ok(()));
    }

    #[test]
    fn money_formatting() {
        assert_eq!(money::format_code(dec("20000"), "SEK"), "SEK 20,000");
        assert_eq!(money::format_code(dec("1234.5"), "EUR"), "EUR 1,234.50");
        assert_eq!(money::format_code(dec("999.999"), "EUR"), "EUR 1,000");
        assert_eq!(
            money::format_code(dec("-1234567.05"), "EUR"),
            "EUR -1,234,567.05"
        );
        assert_eq!(money::format_code(dec("12"), ""), "12");
        assert_eq!(percent(dec("79.999")), "79.9");
        assert_eq!(percent(dec("104.2")), "104.2");
        // Minor units follow the currency: no decimals for JPY and KRW, three for KWD.
        assert_eq!(money::format_code(dec("1234.5"), "JPY"), "JPY 1,235");
        assert_eq!(money::format_code(dec("2450000.4"), "KRW"), "KRW 2,450,000");
        assert_eq!(money::format_code(dec("1.2345"), "KWD"), "KWD 1.235");
    }
}
