//! The activity-log policy: rules over Partner Center audit records (`[activity]`).
//!
//! Rules (rule family, severity):
//! - `activity.signup_burst:partner:{first record}` (critical): at least `count` `add_customer`
//!   records within `window_minutes` (possible automated sign-ups).
//! - `activity.admin_grant:{customer}:{record}` (critical): an admin-access grant (DAP/GDAP
//!   approvals and activations, access assignments; `add_user_member` only on
//!   `customer_directory_role` resources).
//! - `activity.young_order:{customer}:{record}` (warning; critical when the customer is young AND
//!   has no paid invoice): a `create_order` whose line-item quantities sum to at least
//!   `min_quantity`, or an `update_subscription` raising the quantity by at least that much, by a
//!   customer younger than `max_age_days` at the time of the order (age from its `add_customer`
//!   record; unknown = not young) or without a paid invoice (receivables loaded, none `Paid`).
//! - `activity.budget_raise:{customer}:{record}` (warning): a spending budget raised (new > old)
//!   or removed (old amount, new null = no limit).
//! - `activity.fraud_detected:{customer}:{record}` (critical): `azure_fraud_event_detected`.
//! - `activity.failed_spike:partner:{first record}` (warning): at least `count` failed operations
//!   within `window_minutes`.
//! - `activity.high_risk_country:{customer}:{country}` (warning): the billing country is in
//!   `high_risk_countries` (from the `add_customer` record, else a fetched billing profile).
//!
//! Invariants: a record is identified by its `id`, else by operation type + customer +
//! operation date, so fingerprints are stable while the same records are re-read. Only records
//! with status `succeeded` (or no status) count as having happened, except for the failed-spike
//! rule. Bursts are found in time order with a fixed scan, so the same records always give the
//! same bursts. Audit records not read -> a skip, and no rule family is declared evaluated. The
//! high-risk-country family is never declared evaluated: its data (fetched profiles) differs from
//! run to run, so its absence does not mean "resolved".

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use crate::facts::Facts;
use crate::pc::models::{AuditRecord, OperationStatus};
use crate::plan::{DetailNeed, Finding, PlanBuilder, Severity, short_time};
use crate::policy::{OrSkip, PolicyInput, ReceivablesInput};
use crate::receivables::InvoiceStatus;

const POLICY: &str = "activity";

/// A count within a time window.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BurstRule {
    pub enabled: bool,
    /// Records needed within the window (at least 2).
    pub count: u32,
    /// Window length: the first and last record are at most this many minutes apart.
    pub window_minutes: u32,
}

impl BurstRule {
    fn new(count: u32, window_minutes: u32) -> Self {
        Self {
            enabled: true,
            count,
            window_minutes,
        }
    }

    fn validate(&self, name: &str) -> Result<(), String> {
        if self.count < 2 {
            return Err(format!("activity.{name}.count must be at least 2"));
        }
        if self.window_minutes == 0 {
            return Err(format!("activity.{name}.window_minutes must be at least 1"));
        }
        Ok(())
    }
}

impl Default for BurstRule {
    fn default() -> Self {
        Self::new(5, 60)
    }
}

/// `[activity.admin_grants]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminGrantRule {
    pub enabled: bool,
    /// Operation types that grant admin access.
    pub operations: Vec<String>,
    /// Operation types that grant admin access only on `customer_directory_role` resources.
    pub directory_role_operations: Vec<String>,
    /// The operations among the above that are critical; the others are routine partner
    /// operations (GDAP relationships and access assignments the partner's own users create,
    /// approve or activate) and are warnings, listed in the digest.
    pub critical_operations: Vec<String>,
}

impl Default for AdminGrantRule {
    fn default() -> Self {
        Self {
            enabled: true,
            operations: [
                "dap_admin_relationship_approved",
                "granular_admin_relationship_approved",
                "granular_admin_relationship_activated",
                "granular_admin_access_assignment_created",
                "granular_admin_access_assignment_activated",
            ]
            .map(str::to_owned)
            .to_vec(),
            directory_role_operations: vec!["add_user_member".to_owned()],
            // Legacy DAP gives the partner Global Administrator in the customer's tenant with no
            // end date (Microsoft is retiring it in favour of GDAP), and a user added to a
            // customer's directory role is a standing admin: both are rare and worth waking
            // someone for. GDAP approvals and assignments are the documented, least-privilege,
            // time-bound routine.
            critical_operations: ["dap_admin_relationship_approved", "add_user_member"]
                .map(str::to_owned)
                .to_vec(),
        }
    }
}

/// `[activity.young_order]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct YoungOrderRule {
    pub enabled: bool,
    /// Customers younger than this (at the time of the order) are young.
    pub max_age_days: u32,
    /// Orders (summed line-item quantity) or quantity increases at least this large are large.
    pub min_quantity: u64,
}

impl Default for YoungOrderRule {
    fn default() -> Self {
        Self {
            enabled: true,
            max_age_days: 30,
            min_quantity: 50,
        }
    }
}

/// A rule with no numbers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Toggle {
    pub enabled: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `[activity]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActivityConfig {
    /// Run the activity rules at all.
    pub enabled: bool,
    pub signup_burst: BurstRule,
    pub admin_grants: AdminGrantRule,
    pub young_order: YoungOrderRule,
    pub budget_raise: Toggle,
    pub fraud_detected: Toggle,
    pub failed_spike: BurstRule,
    /// Billing countries (as in the billing profile, e.g. ISO codes) that raise a finding.
    /// Empty: the rule is off.
    pub high_risk_countries: Vec<String>,
}

impl Default for ActivityConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            signup_burst: BurstRule::new(5, 60),
            admin_grants: AdminGrantRule::default(),
            young_order: YoungOrderRule::default(),
            budget_raise: Toggle::default(),
            fraud_detected: Toggle::default(),
            failed_spike: BurstRule::new(20, 60),
            high_risk_countries: Vec::new(),
        }
    }
}

impl ActivityConfig {
    /// Check the settings (called at config load).
    pub fn validate(&self) -> Result<(), String> {
        self.signup_burst.validate("signup_burst")?;
        self.failed_spike.validate("failed_spike")?;
        if self.young_order.max_age_days == 0 {
            return Err("activity.young_order.max_age_days must be at least 1".into());
        }
        if self.young_order.min_quantity == 0 {
            return Err("activity.young_order.min_quantity must be at least 1".into());
        }
        for op in self
            .admin_grants
            .operations
            .iter()
            .chain(&self.admin_grants.directory_role_operations)
        {
            if op.trim().is_empty() {
                return Err("activity.admin_grants lists an empty operation type".into());
            }
        }
        if self.high_risk_countries.iter().any(|c| c.trim().is_empty()) {
            return Err("activity.high_risk_countries lists an empty country".into());
        }
        Ok(())
    }
}

/// The stable identity of a record within a fingerprint.
fn record_key(r: &AuditRecord) -> String {
    match r.id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) => id.to_owned(),
        None => format!(
            "{}:{}:{}",
            r.operation_type.as_str(),
            r.customer_id.as_deref().unwrap_or("-"),
            r.operation_date.as_second()
        ),
    }
}

fn happened(r: &AuditRecord) -> bool {
    matches!(r.operation_status, None | Some(OperationStatus::Succeeded))
}

fn failed(r: &AuditRecord) -> bool {
    matches!(r.operation_status, Some(OperationStatus::Failed))
}

fn op_is(r: &AuditRecord, name: &str) -> bool {
    r.operation_type.as_str().eq_ignore_ascii_case(name.trim())
}

/// A JSON number or numeric string as a decimal.
fn json_decimal(v: &Value) -> Option<Decimal> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    text.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(&text).ok())
}

fn json_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Context shared by the rules: names (from the snapshot), ages, receivables.
struct Ctx<'a> {
    snapshot: &'a crate::snapshot::Snapshot,
    /// `add_customer` time per customer id (lower case).
    created: BTreeMap<String, Timestamp>,
    receivables: &'a ReceivablesInput,
}

impl Ctx<'_> {
    fn name(&self, r: &AuditRecord) -> String {
        let id = r.customer_id.as_deref();
        r.customer_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .or_else(|| {
                id.and_then(|i| self.snapshot.company_name(i))
                    .map(str::to_owned)
            })
            .or_else(|| id.map(str::to_owned))
            .unwrap_or_else(|| "an unknown customer".to_owned())
    }

    /// `Some(true)` when receivables are loaded and the customer has no paid invoice.
    fn no_paid_invoice(&self, customer: &str) -> Option<bool> {
        match self.receivables {
            ReceivablesInput::Loaded(m) => Some(
                !m.matched
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case(customer))
                    .flat_map(|(_, rs)| rs)
                    .any(|r| r.status == InvoiceStatus::Paid),
            ),
            _ => None,
        }
    }
}

fn base_facts(r: &AuditRecord) -> Facts {
    let mut f = Facts::new();
    f.insert("record", record_key(r));
    f.insert("operation", r.operation_type.as_str().to_owned());
    f.insert("operation_date", r.operation_date.to_string());
    if !r.user_principal_name.is_empty() {
        f.insert("user", r.user_principal_name.clone());
    }
    if let Some(a) = &r.application_id {
        f.insert("application", a.clone());
    }
    if let Some(t) = &r.resource_type {
        f.insert("resource_type", t.as_str().to_owned());
    }
    f
}

fn by_whom(r: &AuditRecord) -> String {
    if r.user_principal_name.is_empty() {
        String::new()
    } else {
        format!(" by {}", r.user_principal_name)
    }
}

/// Add this policy's findings.
pub fn evaluate(input: &PolicyInput<'_>, out: &mut PlanBuilder) {
    let cfg = &input.config.activity;
    if !cfg.enabled {
        return;
    }
    let Some(records) = input
        .snapshot
        .audit_records
        .or_skip(out, POLICY, "audit records")
    else {
        return;
    };
    let records = unique_in_time_order(records);
    let ctx = Ctx {
        snapshot: input.snapshot,
        created: created_times(&records),
        receivables: input.receivables,
    };

    if cfg.signup_burst.enabled {
        out.evaluated("activity.signup_burst");
        let adds: Vec<&AuditRecord> = records
            .iter()
            .copied()
            .filter(|r| op_is(r, "add_customer") && happened(r))
            .collect();
        for burst in bursts(&adds, &cfg.signup_burst) {
            signup_burst(out, &ctx, &burst, &cfg.signup_burst);
        }
    }
    if cfg.failed_spike.enabled {
        out.evaluated("activity.failed_spike");
        let fails: Vec<&AuditRecord> = records.iter().copied().filter(|r| failed(r)).collect();
        for burst in bursts(&fails, &cfg.failed_spike) {
            failed_spike(out, &burst, &cfg.failed_spike);
        }
    }
    if cfg.admin_grants.enabled {
        out.evaluated("activity.admin_grant");
    }
    if cfg.young_order.enabled {
        out.evaluated("activity.young_order");
    }
    if cfg.budget_raise.enabled {
        out.evaluated("activity.budget_raise");
    }
    if cfg.fraud_detected.enabled {
        out.evaluated("activity.fraud_detected");
    }
    for r in records.iter().copied().filter(|r| happened(r)) {
        if cfg.admin_grants.enabled {
            admin_grant(out, &ctx, r, &cfg.admin_grants);
        }
        if cfg.young_order.enabled {
            young_order(out, &ctx, r, &cfg.young_order);
        }
        if cfg.budget_raise.enabled {
            budget_raise(out, &ctx, r);
        }
        if cfg.fraud_detected.enabled && op_is(r, "azure_fraud_event_detected") {
            fraud_detected(out, &ctx, r);
        }
    }
    if !cfg.high_risk_countries.is_empty() {
        high_risk(input, out, &ctx, &records, &cfg.high_risk_countries);
    }
}

/// One copy of each record (pages may overlap), in time order.
fn unique_in_time_order(records: &[AuditRecord]) -> Vec<&AuditRecord> {
    let mut seen = BTreeSet::new();
    let mut records: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| seen.insert(record_key(r)))
        .collect();
    records.sort_by(|a, b| {
        a.operation_date
            .cmp(&b.operation_date)
            .then_with(|| record_key(a).cmp(&record_key(b)))
    });
    records
}

/// When each customer was added (the first successful `add_customer`), by lower-case id.
fn created_times(records: &[&AuditRecord]) -> BTreeMap<String, Timestamp> {
    let mut created = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| op_is(r, "add_customer") && happened(r))
    {
        if let Some(c) = &r.customer_id {
            created
                .entry(c.to_ascii_lowercase())
                .or_insert(r.operation_date);
        }
    }
    created
}

/// `activity.fraud_detected`: the activity log reports an Azure fraud event.
fn fraud_detected(out: &mut PlanBuilder, ctx: &Ctx<'_>, r: &AuditRecord) {
    let customer = r.customer_id.clone();
    out.finding(Finding {
        fingerprint: format!(
            "activity.fraud_detected:{}:{}",
            customer.as_deref().unwrap_or("partner"),
            record_key(r)
        ),
        rule: "activity.fraud_detected".into(),
        severity: Severity::Critical,
        customer,
        summary: format!(
            "The activity log reports an Azure fraud event for {} at {}",
            ctx.name(r),
            short_time(r.operation_date)
        ),
        facts: base_facts(r),
    });
}

/// Maximal runs of records where every `count` consecutive records span at most the window.
/// Scans in time order: the earliest qualifying window starts a burst, which grows while the
/// latest `count` records still fit in the window; scanning resumes after it.
fn bursts<'r>(records: &[&'r AuditRecord], rule: &BurstRule) -> Vec<Vec<&'r AuditRecord>> {
    let n = rule.count as usize;
    let window = SignedDuration::from_mins(i64::from(rule.window_minutes));
    let fits = |first: &AuditRecord, last: &AuditRecord| {
        last.operation_date.duration_since(first.operation_date) <= window
    };
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    let mut i = 0;
    while i + n <= records.len() {
        let (Some(first), Some(last)) = (records.get(i), records.get(i + n - 1)) else {
            break;
        };
        if !fits(first, last) {
            i += 1;
            continue;
        }
        let mut end = i + n; // exclusive
        while let (Some(next), Some(start)) = (records.get(end), records.get(end + 1 - n)) {
            if fits(start, next) {
                end += 1;
            } else {
                break;
            }
        }
        out.push(records.get(i..end).map(<[_]>::to_vec).unwrap_or_default());
        i = end;
    }
    out
}

fn span_facts(burst: &[&AuditRecord], rule: &BurstRule) -> Option<Facts> {
    let first = burst.first()?;
    let last = burst.last()?;
    let mut f = Facts::new();
    f.insert("count", burst.len().to_string());
    f.insert("first", first.operation_date.to_string());
    f.insert("last", last.operation_date.to_string());
    f.insert("threshold_count", rule.count.to_string());
    f.insert("window_minutes", rule.window_minutes.to_string());
    f.insert("first_record", record_key(first));
    Some(f)
}

fn minutes_between(a: &AuditRecord, b: &AuditRecord) -> i64 {
    b.operation_date.duration_since(a.operation_date).as_mins()
}

fn signup_burst(out: &mut PlanBuilder, ctx: &Ctx<'_>, burst: &[&AuditRecord], rule: &BurstRule) {
    let (Some(first), Some(last), Some(mut facts)) =
        (burst.first(), burst.last(), span_facts(burst, rule))
    else {
        return;
    };
    let names: Vec<String> = burst.iter().map(|r| ctx.name(r)).collect();
    facts.insert("customers", names.join(", "));
    out.finding(Finding {
        fingerprint: format!("activity.signup_burst:partner:{}", record_key(first)),
        rule: "activity.signup_burst".into(),
        severity: Severity::Critical,
        customer: None,
        summary: format!(
            "{} new customers were added within {} minutes ({} to {}), possibly automated \
             sign-ups: {}",
            burst.len(),
            minutes_between(first, last),
            short_time(first.operation_date),
            short_time(last.operation_date),
            names.join(", ")
        ),
        facts,
    });
}

fn failed_spike(out: &mut PlanBuilder, burst: &[&AuditRecord], rule: &BurstRule) {
    let (Some(first), Some(last), Some(mut facts)) =
        (burst.first(), burst.last(), span_facts(burst, rule))
    else {
        return;
    };
    let mut ops: BTreeMap<&str, usize> = BTreeMap::new();
    for r in burst {
        *ops.entry(r.operation_type.as_str()).or_default() += 1;
    }
    let ops_text = ops
        .iter()
        .map(|(op, n)| format!("{op} x{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    facts.insert("operations", ops_text.clone());
    out.finding(Finding {
        fingerprint: format!("activity.failed_spike:partner:{}", record_key(first)),
        rule: "activity.failed_spike".into(),
        severity: Severity::Warning,
        customer: None,
        summary: format!(
            "{} Partner Center operations failed within {} minutes ({} to {}): {ops_text}",
            burst.len(),
            minutes_between(first, last),
            short_time(first.operation_date),
            short_time(last.operation_date),
        ),
        facts,
    });
}

fn admin_grant(out: &mut PlanBuilder, ctx: &Ctx<'_>, r: &AuditRecord, rule: &AdminGrantRule) {
    let plain = rule.operations.iter().any(|o| op_is(r, o));
    let on_role = rule.directory_role_operations.iter().any(|o| op_is(r, o))
        && r.resource_type
            .as_ref()
            .is_some_and(|t| t.as_str().eq_ignore_ascii_case("customer_directory_role"));
    if !plain && !on_role {
        return;
    }
    let customer = r.customer_id.clone();
    let severity = if rule.critical_operations.iter().any(|o| op_is(r, o)) {
        Severity::Critical
    } else {
        Severity::Warning
    };
    out.finding(Finding {
        fingerprint: format!(
            "activity.admin_grant:{}:{}",
            customer.as_deref().unwrap_or("partner"),
            record_key(r)
        ),
        rule: "activity.admin_grant".into(),
        severity,
        customer,
        summary: format!(
            "Admin access granted on {}: {}{} at {}",
            ctx.name(r),
            r.operation_type.as_str(),
            by_whom(r),
            short_time(r.operation_date)
        ),
        facts: base_facts(r),
    });
}

/// The ordered quantity of a `create_order` (sum of line items), from the new value, else from
/// the `Quantity-N` customized data.
fn order_quantity(r: &AuditRecord) -> Option<u64> {
    let from_json = r
        .resource_new_value
        .as_ref()
        .and_then(|v| v.parsed_normalized())
        .and_then(|v| {
            let items = v.get("lineItems")?.as_array()?.clone();
            let qs: Vec<u64> = items
                .iter()
                .filter_map(|i| i.get("quantity").and_then(json_u64))
                .collect();
            (!qs.is_empty()).then(|| qs.iter().fold(0u64, |a, q| a.saturating_add(*q)))
        });
    from_json.or_else(|| {
        let qs: Vec<u64> = r
            .customized_data
            .iter()
            .filter(|d| d.is_quantity())
            .filter_map(|d| d.value.as_deref()?.trim().parse().ok())
            .collect();
        (!qs.is_empty()).then(|| qs.iter().fold(0u64, |a, q| a.saturating_add(*q)))
    })
}

fn value_field(v: Option<&crate::pc::lenient::JsonString>, key: &str) -> Option<Value> {
    v?.parsed_normalized()?.get(key).cloned()
}

fn young_order(out: &mut PlanBuilder, ctx: &Ctx<'_>, r: &AuditRecord, rule: &YoungOrderRule) {
    let (quantity, what) = if op_is(r, "create_order") {
        match order_quantity(r) {
            Some(q) => (q, format!("ordered {q} units")),
            None => return,
        }
    } else if op_is(r, "update_subscription") {
        let old = value_field(r.resource_old_value.as_ref(), "quantity").and_then(|v| json_u64(&v));
        let new = value_field(r.resource_new_value.as_ref(), "quantity").and_then(|v| json_u64(&v));
        match (old, new) {
            (Some(o), Some(n)) if n > o => (n - o, format!("raised a quantity from {o} to {n}")),
            _ => return,
        }
    } else {
        return;
    };
    if quantity < rule.min_quantity {
        return;
    }
    let Some(customer) = r.customer_id.as_deref() else {
        return;
    };
    let max_age = SignedDuration::from_hours(i64::from(rule.max_age_days) * 24);
    let age = ctx
        .created
        .get(&customer.to_ascii_lowercase())
        .map(|c| r.operation_date.duration_since(*c));
    let young = age.is_some_and(|a| a < max_age);
    let unpaid = ctx.no_paid_invoice(customer) == Some(true);
    if !young && !unpaid {
        return;
    }
    let mut why = Vec::new();
    if let Some(a) = age.filter(|_| young) {
        why.push(format!(
            "the customer was added {} days before",
            a.as_hours() / 24
        ));
    }
    if unpaid {
        why.push("the customer has no paid invoice yet".to_owned());
    }
    let mut facts = base_facts(r);
    facts.insert("quantity", quantity.to_string());
    facts.insert("young", young.to_string());
    facts.insert("no_paid_invoice", unpaid.to_string());
    if let Some(a) = age {
        facts.insert("customer_age_hours", a.as_hours().to_string());
    }
    out.finding(Finding {
        fingerprint: format!("activity.young_order:{customer}:{}", record_key(r)),
        rule: "activity.young_order".into(),
        severity: if young && unpaid {
            Severity::Critical
        } else {
            Severity::Warning
        },
        customer: Some(customer.to_owned()),
        summary: format!(
            "{} {what} at {}, and {}",
            ctx.name(r),
            short_time(r.operation_date),
            why.join(" and ")
        ),
        facts,
    });
}

fn budget_raise(out: &mut PlanBuilder, ctx: &Ctx<'_>, r: &AuditRecord) {
    if !op_is(r, "update_customer_spending_budget") {
        return;
    }
    let amount = |v: Option<&crate::pc::lenient::JsonString>| -> Option<Option<Decimal>> {
        // Some(None): the value is there and says "no budget"; None: nothing readable.
        let parsed = v?.parsed_normalized()?;
        match parsed.get("amount") {
            None | Some(Value::Null) => Some(None),
            Some(x) => json_decimal(x).map(Some),
        }
    };
    let old = amount(r.resource_old_value.as_ref());
    let new = amount(r.resource_new_value.as_ref());
    let text = match (old, new) {
        (Some(Some(o)), Some(Some(n))) if n > o => format!("raised from {o} to {n}"),
        (Some(Some(o)), Some(None)) => format!("removed (was {o}; no limit now)"),
        _ => return,
    };
    let Some(customer) = r.customer_id.as_deref() else {
        return;
    };
    let mut facts = base_facts(r);
    if let Some(Some(o)) = old {
        facts.insert("old_amount", o.to_string());
    }
    if let Some(Some(n)) = new {
        facts.insert("new_amount", n.to_string());
    }
    out.finding(Finding {
        fingerprint: format!("activity.budget_raise:{customer}:{}", record_key(r)),
        rule: "activity.budget_raise".into(),
        severity: Severity::Warning,
        customer: Some(customer.to_owned()),
        summary: format!(
            "The Azure spending budget of {} was {text}{} at {}",
            ctx.name(r),
            by_whom(r),
            short_time(r.operation_date)
        ),
        facts,
    });
}

/// The billing country carried by an `add_customer` record's new value.
fn record_country(r: &AuditRecord) -> Option<String> {
    let v = r.resource_new_value.as_ref()?.parsed_normalized()?;
    let paths: [&[&str]; 3] = [
        &["billingProfile", "defaultAddress", "country"],
        &["defaultAddress", "country"],
        &["companyProfile", "address", "country"],
    ];
    paths.iter().find_map(|p| {
        let mut cur = &v;
        for k in *p {
            cur = cur.get(k)?;
        }
        cur.as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    })
}

fn high_risk(
    input: &PolicyInput<'_>,
    out: &mut PlanBuilder,
    ctx: &Ctx<'_>,
    records: &[&AuditRecord],
    countries: &[String],
) {
    let risky = |c: &str| {
        countries
            .iter()
            .any(|h| h.trim().eq_ignore_ascii_case(c.trim()))
    };
    // customer id -> (display name, country, source)
    let mut found: BTreeMap<String, (String, String, &'static str)> = BTreeMap::new();
    for (id, d) in &input.snapshot.details {
        if let Some(c) = d.billing_profile.data().and_then(|p| p.country()) {
            let name = ctx
                .snapshot
                .company_name(id)
                .map_or_else(|| id.clone(), str::to_owned);
            found.insert(id.clone(), (name, c.trim().to_owned(), "billing profile"));
        }
    }
    for r in records
        .iter()
        .filter(|r| op_is(r, "add_customer") && happened(r))
    {
        let Some(id) = r.customer_id.as_deref() else {
            continue;
        };
        if found.keys().any(|k| k.eq_ignore_ascii_case(id)) {
            continue;
        }
        match record_country(r) {
            Some(c) => {
                found.insert(id.to_owned(), (ctx.name(r), c, "add_customer record"));
            }
            None => {
                // A new customer whose country we do not know yet: fetch its profile (bounded:
                // only customers added within the audit window).
                let fetched = input
                    .snapshot
                    .details
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case(id));
                if !fetched {
                    out.need_detail(
                        id,
                        DetailNeed {
                            profile: true,
                            ..DetailNeed::default()
                        },
                    );
                }
            }
        }
    }
    for (id, (name, country, source)) in found {
        if !risky(&country) {
            continue;
        }
        let country = country.to_ascii_uppercase();
        let mut facts = Facts::new();
        facts.insert("country", country.clone());
        facts.insert("source", source.to_owned());
        out.finding(Finding {
            fingerprint: format!("activity.high_risk_country:{id}:{country}"),
            rule: "activity.high_risk_country".into(),
            severity: Severity::Warning,
            customer: Some(id),
            summary: format!(
                "{name}'s billing country {country} is on the configured high-risk list \
                 (from its {source})"
            ),
            facts,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use crate::policy::PolicyConfig;
    use crate::policy::testkit::*;
    use crate::snapshot::Section;
    use crate::snapshot::Snapshot;
    use serde_json::json;

    fn now() -> Timestamp {
        ts("2026-11-21T08:00:00Z")
    }

    fn snap(records: Vec<AuditRecord>) -> Snapshot {
        let mut s = snapshot(now());
        s.audit_records = Section::Ok { data: records };
        s
    }

    fn go_with(s: &Snapshot, c: &PolicyConfig, rec: &ReceivablesInput) -> Plan {
        run(s, rec, &ledger(), c, now(), None)
    }

    fn go(records: Vec<AuditRecord>) -> Plan {
        go_with(
            &snap(records),
            &PolicyConfig::default(),
            &ReceivablesInput::NotConfigured,
        )
    }

    fn rule<'p>(p: &'p Plan, r: &str) -> Vec<&'p Finding> {
        p.findings.iter().filter(|f| f.rule == r).collect()
    }

    fn add(id: &str, cust: &str, at: &str) -> AuditRecord {
        audit(id, "add_customer", Some(cust), at, "succeeded", None, None)
    }

    /// `n` records of `op` starting at `start`, `step_secs` apart.
    fn spaced(
        n: usize,
        step_secs: i64,
        f: impl Fn(usize, Timestamp) -> AuditRecord,
    ) -> Vec<AuditRecord> {
        let start = ts("2026-11-20T10:00:00Z");
        (0..n)
            .map(|i| f(i, start + SignedDuration::from_secs(step_secs * i as i64)))
            .collect()
    }

    #[test]
    fn signup_burst_window_boundaries() {
        // (records, seconds apart, fires): 5 within 60 minutes.
        let cases = [
            (5, 900, true),  // span 60:00
            (5, 901, false), // span 60:04
            (4, 60, false),  // too few
            (8, 60, true),   // one burst of 8
        ];
        for (n, step, fires) in cases {
            let recs = spaced(n, step, |i, t| {
                add(&format!("a{i}"), &format!("c{i}"), &t.to_string())
            });
            let p = go(recs);
            let f = rule(&p, "activity.signup_burst");
            assert_eq!(f.len(), usize::from(fires), "{n} x {step}s");
            if fires {
                assert_eq!(f[0].fingerprint, "activity.signup_burst:partner:a0");
                assert_eq!(f[0].severity, Severity::Critical);
                assert_eq!(f[0].facts["count"], n.to_string());
                assert!(f[0].summary.contains("c0, c1"), "{}", f[0].summary);
            }
        }
    }

    #[test]
    fn failed_spike_counts_only_failed_records() {
        let mut c = PolicyConfig::default();
        c.activity.failed_spike = BurstRule::new(3, 10);
        let mk = |status: &'static str| {
            move |i: usize, t: Timestamp| {
                audit(
                    &format!("f{i}"),
                    "create_order",
                    Some("c1"),
                    &t.to_string(),
                    status,
                    None,
                    None,
                )
            }
        };
        let rec = ReceivablesInput::NotConfigured;
        let p = go_with(&snap(spaced(3, 300, mk("failed"))), &c, &rec);
        let f = rule(&p, "activity.failed_spike");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].fingerprint, "activity.failed_spike:partner:f0");
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].summary.contains("create_order x3"));
        assert!(
            rule(
                &go_with(&snap(spaced(3, 301, mk("failed"))), &c, &rec),
                "activity.failed_spike"
            )
            .is_empty()
        );
        assert!(
            rule(
                &go_with(&snap(spaced(3, 60, mk("succeeded"))), &c, &rec),
                "activity.failed_spike"
            )
            .is_empty()
        );
    }

    #[test]
    fn admin_grants_by_operation_and_directory_role() {
        let mut role = audit(
            "r1",
            "add_user_member",
            Some("c1"),
            "2026-11-20T10:00:00Z",
            "succeeded",
            None,
            None,
        );
        role.resource_type = Some(crate::pc::models::AuditResourceType::parse(
            "customer_directory_role",
        ));
        let other_member = audit(
            "r2",
            "add_user_member",
            Some("c1"),
            "2026-11-20T10:00:00Z",
            "succeeded",
            None,
            None,
        );
        let cases = [
            (
                audit(
                    "g1",
                    "granular_admin_relationship_approved",
                    Some("c1"),
                    "2026-11-20T10:00:00Z",
                    "succeeded",
                    None,
                    None,
                ),
                true,
            ),
            (
                audit(
                    "g2",
                    "granular_admin_access_assignment_activated",
                    Some("c1"),
                    "2026-11-20T10:00:00Z",
                    "succeeded",
                    None,
                    None,
                ),
                true,
            ),
            (
                audit(
                    "g3",
                    "DAP_ADMIN_RELATIONSHIP_APPROVED",
                    Some("c1"),
                    "2026-11-20T10:00:00Z",
                    "succeeded",
                    None,
                    None,
                ),
                true,
            ),
            (
                audit(
                    "g4",
                    "granular_admin_relationship_approved",
                    Some("c1"),
                    "2026-11-20T10:00:00Z",
                    "failed",
                    None,
                    None,
                ),
                false,
            ),
            (
                audit(
                    "g5",
                    "granular_admin_relationship_terminated",
                    Some("c1"),
                    "2026-11-20T10:00:00Z",
                    "succeeded",
                    None,
                    None,
                ),
                false,
            ),
            (role, true),
            (other_member, false),
        ];
        for (r, fires) in cases {
            let id = r.id.clone().unwrap();
            let f = go(vec![r]);
            let f = rule(&f, "activity.admin_grant");
            assert_eq!(f.len(), usize::from(fires), "{id}");
            if fires {
                assert_eq!(f[0].fingerprint, format!("activity.admin_grant:c1:{id}"));
                // Severity review: GDAP approvals and assignments are routine partner
                // operations (warning); legacy DAP and directory-role membership are critical.
                let critical = id == "g3" || id == "r1";
                let expected = if critical {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                assert_eq!(f[0].severity, expected, "{id}");
                assert!(f[0].summary.contains("admin@partner.example"));
            }
        }
    }

    #[test]
    fn fingerprint_without_record_id_is_stable() {
        let mut r = audit(
            "x",
            "azure_fraud_event_detected",
            Some("c1"),
            "2026-11-20T10:00:00Z",
            "succeeded",
            None,
            None,
        );
        r.id = None;
        let a = go(vec![r.clone()]);
        let b = go(vec![r.clone(), r]);
        let fa = rule(&a, "activity.fraud_detected");
        assert_eq!(fa.len(), 1);
        assert_eq!(
            fa[0].fingerprint,
            format!(
                "activity.fraud_detected:c1:azure_fraud_event_detected:c1:{}",
                ts("2026-11-20T10:00:00Z").as_second()
            )
        );
        assert_eq!(fa[0].severity, Severity::Critical);
        assert_eq!(a.findings, b.findings);
    }

    fn order(id: &str, cust: &str, at: &str, qtys: &[u64]) -> AuditRecord {
        let items: Vec<_> = qtys
            .iter()
            .map(|q| json!({"OfferId": "o", "Quantity": q}))
            .collect();
        audit(
            id,
            "create_order",
            Some(cust),
            at,
            "succeeded",
            Some(json!({"Id": id, "LineItems": items})),
            None,
        )
    }

    #[test]
    fn young_order_age_and_quantity_boundaries() {
        // Customer added 2026-10-21T10:00Z; max_age 30 days, min_quantity 50.
        let added = add("add1", "c1", "2026-10-21T10:00:00Z");
        let cases = [
            (
                "2026-11-20T09:59:59Z",
                &[25u64, 25][..],
                Some(Severity::Warning),
            ), // 29d23h59m, 50
            ("2026-11-20T10:00:00Z", &[50][..], None), // exactly 30 days
            ("2026-11-01T10:00:00Z", &[49][..], None), // too small
            (
                "2026-11-01T10:00:00Z",
                &[10, 40][..],
                Some(Severity::Warning),
            ),
        ];
        for (at, q, want) in cases {
            let p = go(vec![added.clone(), order("o1", "c1", at, q)]);
            let f = rule(&p, "activity.young_order");
            assert_eq!(f.first().map(|f| f.severity), want, "{at} {q:?}");
            if let Some(f) = f.first() {
                assert_eq!(f.fingerprint, "activity.young_order:c1:o1");
                assert_eq!(f.facts["quantity"], q.iter().sum::<u64>().to_string());
            }
        }
        // Unknown age (no add_customer record) is not young.
        assert!(
            rule(
                &go(vec![order("o1", "c1", "2026-11-01T10:00:00Z", &[500])]),
                "activity.young_order"
            )
            .is_empty()
        );
    }

    #[test]
    fn no_paid_invoice_makes_orders_suspicious_and_young_ones_critical() {
        let added = add("add1", "c1", "2026-11-10T10:00:00Z");
        let big = order("o1", "c1", "2026-11-12T10:00:00Z", &[60]);
        let old_customer_big = order("o2", "c2", "2026-11-12T10:00:00Z", &[60]);
        let s = snap(vec![added, big, old_customer_big]);
        let c = PolicyConfig::default();
        // Receivables loaded; c1 has only an open invoice, c2 has a paid one.
        let rec = matched(vec![
            receivable("c1", "INV-1", "2026-12-01", "100", "0"),
            receivable("c2", "INV-2", "2026-10-01", "100", "100"),
        ]);
        let p = go_with(&s, &c, &rec);
        let f = rule(&p, "activity.young_order");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].fingerprint, "activity.young_order:c1:o1");
        assert_eq!(f[0].severity, Severity::Critical);
        // c2 without any receivable: no paid invoice -> warning (age unknown).
        let rec = matched(vec![receivable("c1", "INV-1", "2026-12-01", "100", "0")]);
        let p = go_with(&s, &c, &rec);
        let sev: Vec<_> = rule(&p, "activity.young_order")
            .iter()
            .map(|f| (f.fingerprint.clone(), f.severity))
            .collect();
        assert_eq!(
            sev,
            [
                ("activity.young_order:c1:o1".to_owned(), Severity::Critical),
                ("activity.young_order:c2:o2".to_owned(), Severity::Warning)
            ]
        );
    }

    #[test]
    fn quantity_increase_on_update_subscription() {
        let added = add("add1", "c1", "2026-11-10T10:00:00Z");
        let upd = |id: &str, old: u64, new: u64| {
            audit(
                id,
                "update_subscription",
                Some("c1"),
                "2026-11-12T10:00:00Z",
                "succeeded",
                Some(json!({"Id": "s1", "Quantity": new})),
                Some(json!({"Id": "s1", "Quantity": old})),
            )
        };
        for (old, new, fires) in [(10, 60, true), (10, 59, false), (60, 10, false)] {
            let p = go(vec![added.clone(), upd("u1", old, new)]);
            assert_eq!(
                rule(&p, "activity.young_order").len(),
                usize::from(fires),
                "{old}->{new}"
            );
        }
        // Status-only updates carry no quantity.
        let st = audit(
            "u2",
            "update_subscription",
            Some("c1"),
            "2026-11-12T10:00:00Z",
            "succeeded",
            Some(json!({"Id": "s1", "Status": "suspended"})),
            Some(json!({"Id": "s1", "Status": "active"})),
        );
        assert!(rule(&go(vec![added, st]), "activity.young_order").is_empty());
    }

    #[test]
    fn budget_raises_and_removals() {
        let rec = |id: &str, old: Value, new: Value| {
            audit(
                id,
                "update_customer_spending_budget",
                Some("c1"),
                "2026-11-12T10:00:00Z",
                "succeeded",
                Some(json!({"Amount": new})),
                Some(json!({"Amount": old})),
            )
        };
        let cases = [
            (json!(1000), json!(1000.01), true),
            (json!(1000), json!(1000), false),
            (json!(1000), json!(500), false),
            (json!(null), json!(500), false), // a first budget limits spend
            (json!(1000), json!(null), true), // removing the budget lifts the limit
            (json!("1000"), json!("2000"), true),
        ];
        for (old, new, fires) in cases {
            let p = go(vec![rec("b1", old.clone(), new.clone())]);
            let f = rule(&p, "activity.budget_raise");
            assert_eq!(f.len(), usize::from(fires), "{old} -> {new}");
            if fires {
                assert_eq!(f[0].fingerprint, "activity.budget_raise:c1:b1");
                assert_eq!(f[0].severity, Severity::Warning);
            }
        }
    }

    #[test]
    fn high_risk_country_from_record_or_profile() {
        let mut c = PolicyConfig::default();
        c.activity.high_risk_countries = vec!["xx".into()];
        let with_country = audit(
            "a1",
            "add_customer",
            Some("c1"),
            "2026-11-20T10:00:00Z",
            "succeeded",
            Some(json!({"Id": "c1", "BillingProfile": {"DefaultAddress": {"Country": "XX"}}})),
            None,
        );
        let without = add("a2", "c2", "2026-11-20T10:05:00Z");
        let safe = audit(
            "a3",
            "add_customer",
            Some("c3"),
            "2026-11-20T10:10:00Z",
            "succeeded",
            Some(json!({"BillingProfile": {"DefaultAddress": {"Country": "SE"}}})),
            None,
        );
        let mut s = snap(vec![with_country, without, safe]);
        let rec = ReceivablesInput::NotConfigured;
        let p = go_with(&s, &c, &rec);
        let f = rule(&p, "activity.high_risk_country");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].fingerprint, "activity.high_risk_country:c1:XX");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(p.needs_detail.get("c2").map(|n| n.profile), Some(true));
        assert!(!p.needs_detail.contains_key("c3"));
        // The fetched profile of c2 (and of an older customer c9) decides.
        s.details
            .insert("c2".into(), detail(Some(profile(None, None, "XX")), vec![]));
        s.details
            .insert("c9".into(), detail(Some(profile(None, None, "xx")), vec![]));
        let p = go_with(&s, &c, &rec);
        let fps: Vec<_> = rule(&p, "activity.high_risk_country")
            .iter()
            .map(|f| f.fingerprint.clone())
            .collect();
        assert_eq!(
            fps,
            [
                "activity.high_risk_country:c1:XX",
                "activity.high_risk_country:c2:XX",
                "activity.high_risk_country:c9:XX"
            ]
        );
        // Off by default.
        assert!(
            rule(
                &go_with(&s, &PolicyConfig::default(), &rec),
                "activity.high_risk_country"
            )
            .is_empty()
        );
    }

    #[test]
    fn disabled_rules_and_unread_records() {
        let mut c = PolicyConfig::default();
        c.activity.admin_grants.enabled = false;
        let r = audit(
            "g1",
            "granular_admin_relationship_approved",
            Some("c1"),
            "2026-11-20T10:00:00Z",
            "succeeded",
            None,
            None,
        );
        assert!(
            go_with(&snap(vec![r]), &c, &ReceivablesInput::NotConfigured)
                .findings
                .is_empty()
        );

        let mut s = snapshot(now());
        s.audit_records = Section::Failed {
            error: "HTTP 503".into(),
        };
        let p = go_with(
            &s,
            &PolicyConfig::default(),
            &ReceivablesInput::NotConfigured,
        );
        assert!(p.findings.is_empty());
        assert!(
            p.skipped
                .iter()
                .any(|k| k.policy == "activity" && k.reason.contains("HTTP 503"))
        );
    }

    #[test]
    fn config_parses_validates_and_evaluating_twice_is_identical() {
        let c: ActivityConfig = toml::from_str(
            "high_risk_countries = [\"XX\"]\n[signup_burst]\ncount = 3\nwindow_minutes = 10\n[young_order]\nmax_age_days = 14\n",
        )
        .unwrap();
        assert_eq!(c.signup_burst, BurstRule::new(3, 10));
        assert_eq!(c.young_order.min_quantity, 50);
        assert!(c.validate().is_ok());
        assert!(toml::from_str::<ActivityConfig>("[signup_burst]\ncnt = 3").is_err());
        let mut bad = ActivityConfig::default();
        bad.failed_spike.count = 1;
        assert!(bad.validate().is_err());
        assert!(ActivityConfig::default().validate().is_ok());

        let mut recs = spaced(6, 60, |i, t| {
            add(&format!("a{i}"), &format!("c{i}"), &t.to_string())
        });
        recs.push(order("o1", "c1", "2026-11-20T12:00:00Z", &[100]));
        recs.push(audit(
            "g1",
            "granular_admin_relationship_approved",
            Some("c2"),
            "2026-11-20T12:00:00Z",
            "succeeded",
            None,
            None,
        ));
        let mut reversed = recs.clone();
        reversed.reverse();
        let a = go(recs);
        assert_eq!(a, go(reversed), "record order must not matter");
        assert_eq!(a.findings.len(), 3, "{:?}", a.findings);
    }
}
