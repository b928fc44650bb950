//! The usage-anomaly policy: day-over-day growth of Azure spend against the customer's trailing
//! median daily increase (`[anomaly]`).
//!
//! Data: the ledger's daily month-to-date (MTD) spend snapshots, plus today's value, which is the
//! current usage record's `total_cost` (a ledger row for today, if any, is ignored in favour of
//! it). A daily increase is the MTD difference between two consecutive local days of the SAME
//! month: MTD resets at the month rollover, so no increase is ever computed across it; a missing
//! day breaks the chain (no increase over a gap). Rows in another currency than the usage record
//! are ignored.
//!
//! Rule: `anomaly.spend:{customer}:{date}` (warning) when today's increase is strictly greater
//! than `factor` x the median of the trailing increases (within `window_days`) AND strictly
//! greater than `min_increase` (in the record's currency), with at least `min_days` trailing
//! increases.
//!
//! Invariants: the rule family is declared evaluated only when the usage section was read and
//! every ledger read succeeded; a failed read is a skip for that customer.

use std::collections::BTreeMap;

use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::facts::Facts;
use crate::ledger::SpendSnapshot;
use crate::money;
use crate::plan::{Finding, PlanBuilder, Severity};
use crate::policy::budgets::record_currency;
use crate::policy::{OrSkip, PolicyInput};

const POLICY: &str = "anomaly";

/// `[anomaly]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyConfig {
    /// Run the anomaly policy at all.
    pub enabled: bool,
    /// Today's increase must exceed this many times the trailing median daily increase.
    pub factor: Decimal,
    /// ... and this absolute amount (in the usage record's currency).
    pub min_increase: Decimal,
    /// Trailing daily increases needed before the rule can fire.
    pub min_days: u32,
    /// How many days back the trailing increases are taken from.
    pub window_days: u32,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            factor: Decimal::from(3),
            min_increase: Decimal::from(100),
            min_days: 5,
            window_days: 14,
        }
    }
}

impl AnomalyConfig {
    /// Check the settings (called at config load).
    pub fn validate(&self) -> Result<(), String> {
        if self.factor <= Decimal::ZERO {
            return Err(format!("anomaly.factor = {} must be above 0", self.factor));
        }
        if self.min_increase < Decimal::ZERO {
            return Err("anomaly.min_increase must not be negative".into());
        }
        if self.min_days == 0 {
            return Err("anomaly.min_days must be at least 1".into());
        }
        if self.window_days < self.min_days {
            return Err(format!(
                "anomaly.window_days ({}) must be at least anomaly.min_days ({})",
                self.window_days, self.min_days
            ));
        }
        if self.window_days > 90 {
            return Err("anomaly.window_days must be at most 90".into());
        }
        Ok(())
    }
}

/// The median of a non-empty list (mean of the middle two for an even count).
fn median(mut xs: Vec<Decimal>) -> Option<Decimal> {
    xs.sort();
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let hi = xs.get(n / 2).copied()?;
    if n % 2 == 1 {
        Some(hi)
    } else {
        let lo = xs.get(n / 2 - 1).copied()?;
        Some((lo + hi) / Decimal::TWO)
    }
}

fn same_month(a: Date, b: Date) -> bool {
    a.year() == b.year() && a.month() == b.month()
}

/// Daily increases `(day, increase)` between consecutive days of the same month.
fn increases(points: &BTreeMap<Date, Decimal>) -> Vec<(Date, Decimal)> {
    let mut out = Vec::new();
    let mut prev: Option<(Date, Decimal)> = None;
    for (&d, &v) in points {
        if let Some((pd, pv)) = prev
            && pd.tomorrow().ok() == Some(d)
            && same_month(pd, d)
        {
            out.push((d, v - pv));
        }
        prev = Some((d, v));
    }
    out
}

/// Add this policy's findings.
pub fn evaluate(input: &PolicyInput<'_>, out: &mut PlanBuilder) {
    let cfg = &input.config.anomaly;
    if !cfg.enabled {
        return;
    }
    let Some(records) = input.snapshot.usage.or_skip(out, POLICY, "usage") else {
        return;
    };
    let today = input.today();
    let since = today
        .checked_sub(jiff::Span::new().days(i64::from(cfg.window_days) + 1))
        .unwrap_or(today);
    // One ledger read for every customer: the cost must not grow with per-customer queries.
    let mut by_customer: BTreeMap<String, Vec<SpendSnapshot>> = BTreeMap::new();
    match input.ledger.spend_history_all(since) {
        Ok(rows) => {
            for row in rows {
                by_customer
                    .entry(row.customer.to_ascii_lowercase())
                    .or_default()
                    .push(row);
            }
        }
        Err(e) => {
            out.skip(
                None,
                POLICY,
                format!("cannot read spend history ({e}); anomalies not checked this run"),
            );
            return;
        }
    }
    let empty = Vec::new();
    for r in records {
        let Some(customer) = r.customer_id().map(str::trim).filter(|c| !c.is_empty()) else {
            continue;
        };
        let Some(mtd) = r.total_cost else {
            continue;
        };
        let currency = record_currency(r);
        let history = by_customer
            .get(&customer.to_ascii_lowercase())
            .unwrap_or(&empty);
        let name = r
            .customer_name()
            .map(str::to_owned)
            .or_else(|| input.snapshot.company_name(customer).map(str::to_owned))
            .unwrap_or_else(|| customer.to_owned());
        let spend = Spend {
            customer,
            name: &name,
            mtd,
            currency: &currency,
            today,
            history,
        };
        check(input, &spend, out);
    }
    out.evaluated("anomaly.spend");
}

/// One customer's spend as the rule reads it.
struct Spend<'x> {
    customer: &'x str,
    /// The customer as people know it.
    name: &'x str,
    /// Month-to-date spend today.
    mtd: Decimal,
    currency: &'x str,
    /// Today in the partner's time zone.
    today: Date,
    /// The customer's daily spend snapshots of the window.
    history: &'x [SpendSnapshot],
}

/// An `anomaly.spend` finding when today's increase is far above the median daily increase.
fn check(input: &PolicyInput<'_>, spend: &Spend<'_>, out: &mut PlanBuilder) {
    let Spend {
        customer,
        name,
        mtd,
        currency,
        today,
        history,
    } = *spend;
    let cfg = &input.config.anomaly;
    let mut points: BTreeMap<Date, Decimal> = history
        .iter()
        .filter(|s| s.date < today && s.currency.trim().eq_ignore_ascii_case(currency))
        .map(|s| (s.date, s.amount))
        .collect();
    let Ok(yesterday) = today.yesterday() else {
        return;
    };
    let Some(&prev) = points
        .get(&yesterday)
        .filter(|_| same_month(yesterday, today))
    else {
        return;
    };
    points.insert(today, mtd);
    let all = increases(&points);
    let trailing: Vec<Decimal> = all
        .iter()
        .filter(|(d, _)| *d < today)
        .map(|(_, inc)| *inc)
        .collect();
    let days = trailing.len();
    if days < cfg.min_days as usize {
        return;
    }
    let Some(med) = median(trailing) else {
        return;
    };
    let increase = mtd - prev;
    if increase <= cfg.min_increase || increase <= cfg.factor * med {
        return;
    }
    let ratio = if med > Decimal::ZERO {
        Some((increase / med).round_dp(1))
    } else {
        None
    };
    let mut facts = Facts::new();
    facts.insert("date", today.to_string());
    facts.insert("mtd_today", mtd.to_string());
    facts.insert("mtd_yesterday", prev.to_string());
    facts.insert("increase", increase.to_string());
    facts.insert("median_increase", med.to_string());
    facts.insert("history_days", days.to_string());
    facts.insert("factor", cfg.factor.to_string());
    facts.insert("min_increase", cfg.min_increase.to_string());
    facts.insert("currency", currency.to_owned());
    if let Some(r) = ratio {
        facts.insert("ratio", r.to_string());
    }
    let times = match ratio {
        Some(r) => format!("{}x", r.normalize()),
        None => "far above".to_owned(),
    };
    out.finding(Finding {
        fingerprint: format!("anomaly.spend:{customer}:{today}"),
        rule: "anomaly.spend".into(),
        severity: Severity::Warning,
        customer: Some(customer.to_owned()),
        summary: format!(
            "{name}'s Azure spend rose by {} since yesterday (to {} this month), {times} its \
             median daily increase of {} over the last {days} days",
            money::format_code(increase, currency),
            money::format_code(mtd, currency),
            money::format_code(med, currency)
        ),
        facts,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ledger;
    use crate::plan::Plan;
    use crate::policy::testkit::*;
    use crate::policy::{PolicyConfig, ReceivablesInput};
    use crate::snapshot::Section;

    /// Record `n` consecutive daily EUR snapshots from `first`, starting at `start` and growing
    /// by `step` a day.
    fn series(l: &Ledger, customer: &str, first: &str, n: i64, start: &str, step: &str) {
        let mut d = date(first);
        let mut v = dec(start);
        for _ in 0..n {
            spend(l, customer, d, v, "EUR");
            d = d.tomorrow().unwrap();
            v += dec(step);
        }
    }

    /// Record one daily snapshot (when it was recorded does not matter to the rule).
    fn spend(l: &Ledger, customer: &str, day: Date, mtd: Decimal, currency: &str) {
        l.record_spend(customer, day, mtd, currency, ts("2026-01-01T00:00:00Z"))
            .unwrap();
    }

    fn go(l: &Ledger, today_mtd: &str, now: &str, tz: Option<&str>, c: &PolicyConfig) -> Plan {
        let now = ts(now);
        let mut s = snapshot(now);
        s.usage = Section::Ok {
            data: vec![usage("c1", Some("100000"), today_mtd, "EUR")],
        };
        run(&s, &ReceivablesInput::NotConfigured, l, c, now, tz)
    }

    fn fired(p: &Plan) -> Vec<String> {
        p.findings
            .iter()
            .filter(|f| f.rule == "anomaly.spend")
            .map(|f| f.fingerprint.clone())
            .collect()
    }

    #[test]
    fn fires_only_above_both_floors() {
        // Nov 10..19 at +50/day: median 50; yesterday (19th) MTD = 100 + 9*50 = 550.
        let l = ledger();
        series(&l, "c1", "2026-11-10", 10, "100", "50");
        let c = PolicyConfig::default();
        let now = "2026-11-20T08:00:00Z";
        // (today's MTD, fires): relative floor 3*50 = 150, absolute floor 100.
        for (mtd, fires) in [
            ("700", false),   // +150: not above 150
            ("700.01", true), // +150.01
            ("600", false),   // +50
        ] {
            let p = go(&l, mtd, now, None, &c);
            assert_eq!(!fired(&p).is_empty(), fires, "{mtd}");
        }
        // The absolute floor: median 10, +100 is 10x but not above 100.
        let l = ledger();
        series(&l, "c1", "2026-11-10", 10, "100", "10");
        assert!(fired(&go(&l, "290", now, None, &c)).is_empty()); // 190 + 100
        let p = go(&l, "290.01", now, None, &c);
        assert_eq!(fired(&p), ["anomaly.spend:c1:2026-11-20"]);
        let f = &p
            .findings
            .iter()
            .find(|f| f.rule == "anomaly.spend")
            .unwrap();
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.facts["increase"], "100.01");
        assert_eq!(f.facts["median_increase"], "10");
        assert_eq!(f.facts["history_days"], "9");
        assert!(f.summary.contains("EUR 100.01"), "{}", f.summary);
    }

    #[test]
    fn needs_min_days_of_history() {
        let c = PolicyConfig::default(); // min_days 5
        let now = "2026-11-20T08:00:00Z";
        // 6 snapshots (14..19) -> 5 trailing increases: enough.
        let l = ledger();
        series(&l, "c1", "2026-11-14", 6, "100", "10");
        assert_eq!(fired(&go(&l, "1000", now, None, &c)).len(), 1);
        // 5 snapshots (15..19) -> 4 increases: not enough.
        let l = ledger();
        series(&l, "c1", "2026-11-15", 5, "100", "10");
        assert!(fired(&go(&l, "1000", now, None, &c)).is_empty());
        // Yesterday missing: no comparison at all.
        let l = ledger();
        series(&l, "c1", "2026-11-10", 8, "100", "10"); // 10..17
        assert!(fired(&go(&l, "1000", now, None, &c)).is_empty());
    }

    #[test]
    fn never_compares_across_the_month_rollover() {
        let c = PolicyConfig::default();
        // October 20..31 growing by 10 to 210; today is Nov 1 with a fresh MTD.
        let l = ledger();
        series(&l, "c1", "2026-10-20", 12, "100", "10");
        // 2026-10-31T23:30Z is Nov 1 in Stockholm: yesterday (Oct 31) is another month.
        assert!(fired(&go(&l, "5000", "2026-10-31T23:30:00Z", None, &c)).is_empty());
        // The same instant is still Oct 31 in UTC: Oct 31 has a ledger row, which is ignored in
        // favour of the usage record; Oct 30 (200) -> 5000 fires.
        assert_eq!(
            fired(&go(&l, "5000", "2026-10-31T23:30:00Z", Some("UTC"), &c)),
            ["anomaly.spend:c1:2026-10-31"]
        );
        // Trailing increases from the previous month count, but not the drop across the reset:
        // Oct 26..31 (+10/day), Nov 1 = 5 (a drop of 205, not an increase pair), Nov 2 today.
        let l = ledger();
        series(&l, "c1", "2026-10-26", 6, "160", "10");
        spend(&l, "c1", date("2026-11-01"), dec("5"), "EUR");
        let p = go(&l, "200", "2026-11-02T08:00:00Z", None, &c);
        // increases: Oct 27..31 = five +10s (the Oct 31 -> Nov 1 pair is excluded): median 10.
        assert_eq!(fired(&p), ["anomaly.spend:c1:2026-11-02"]);
        let f = p
            .findings
            .iter()
            .find(|f| f.rule == "anomaly.spend")
            .unwrap();
        assert_eq!(f.facts["history_days"], "5");
        assert_eq!(f.facts["median_increase"], "10");
    }

    #[test]
    fn dst_change_days_are_ordinary_days() {
        // Europe/Stockholm leaves DST on 2026-10-25 (a 25-hour day): days are local dates.
        let c = PolicyConfig::default();
        let l = ledger();
        series(&l, "c1", "2026-10-19", 7, "100", "20"); // 19..25, MTD 220 on the 25th
        // 2026-10-25T23:30Z is 00:30 on the 26th in Stockholm (UTC+1 after the change).
        assert_eq!(
            fired(&go(&l, "400", "2026-10-25T23:30:00Z", None, &c)),
            ["anomaly.spend:c1:2026-10-26"]
        );
        // 2026-10-25T22:30Z is 23:30 on the 25th: today is the 25th, yesterday's MTD is 200.
        assert_eq!(
            fired(&go(&l, "400", "2026-10-25T22:30:00Z", None, &c)),
            ["anomaly.spend:c1:2026-10-25"]
        );
    }

    #[test]
    fn other_currency_rows_and_gaps_are_ignored() {
        let c = PolicyConfig::default();
        let l = ledger();
        series(&l, "c1", "2026-11-10", 10, "100", "10");
        // A USD row for yesterday replaces the EUR one (one row per day): no EUR yesterday.
        spend(&l, "c1", date("2026-11-19"), dec("10"), "USD");
        assert!(fired(&go(&l, "1000", "2026-11-20T08:00:00Z", None, &c)).is_empty());
    }

    #[test]
    fn median_and_validation() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![dec("3"), dec("1"), dec("2")]), Some(dec("2")));
        assert_eq!(
            median(vec![dec("4"), dec("1"), dec("2"), dec("3")]),
            Some(dec("2.5"))
        );
        assert!(AnomalyConfig::default().validate().is_ok());
        let c: AnomalyConfig =
            toml::from_str("factor = 2.5\nmin_increase = 250\nmin_days = 3").unwrap();
        assert_eq!(c.factor, dec("2.5"));
        assert!(c.validate().is_ok());
        assert!(toml::from_str::<AnomalyConfig>("factr = 2").is_err());
        let bad = AnomalyConfig {
            window_days: 3,
            ..AnomalyConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = AnomalyConfig {
            factor: Decimal::ZERO,
            ..AnomalyConfig::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn evaluating_twice_gives_identical_plans() {
        let l = ledger();
        series(&l, "c1", "2026-11-10", 10, "100", "10");
        let c = PolicyConfig::default();
        let a = go(&l, "900", "2026-11-20T08:00:00Z", None, &c);
        let b = go(&l, "900", "2026-11-20T08:00:00Z", None, &c);
        assert_eq!(a, b);
        assert_eq!(fired(&a).len(), 1);
    }
}
