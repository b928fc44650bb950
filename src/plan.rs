//! The plan: what the policies decided, as values. Findings say what is wrong (with the numbers
//! and the rule that says so); actions say what to do about it, each under an idempotency key.
//!
//! Architecture invariant: a plan is data. Building one performs no I/O and reads no clock;
//! executing one goes through the ledger's outbox protocol, where the idempotency key makes a
//! repeated plan a no-op.
//!
//! Architecture invariant: idempotency keys are derived only from stable facts (customer,
//! invoice, stage, subscription, fingerprint, billing month), never from the time of the run, so
//! the same situation planned twice yields the same keys.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, RandomState};

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::facts::Facts;

/// How urgent a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// Lower-case name, as stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a rule found, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable identity across runs (`{rule}:{customer}:{discriminator}`), used to deduplicate
    /// alerts and to notice when a finding is resolved.
    pub fingerprint: String,
    /// The rule that fired, e.g. `dunning.stage`, `budget.threshold`, `activity.admin_grant`
    /// (a literal where a policy builds it, so it costs no allocation).
    pub rule: Cow<'static, str>,
    pub severity: Severity,
    /// The customer tenant id, when the finding is about one customer.
    pub customer: Option<String>,
    /// One sentence a finance person can read, with the numbers.
    pub summary: String,
    /// The numbers behind the summary, by name (amounts as decimal text, dates ISO).
    pub facts: Facts,
}

/// Why a subscription is suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuspendReason {
    Nonpayment,
    Fraud,
}

/// One invoice named in a dunning notice, with the ladder stage it reaches with this notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeInvoice {
    pub invoice: String,
    pub due_date: Date,
    pub days_past_due: i64,
    pub amount: Decimal,
    pub outstanding: Decimal,
    pub currency: String,
    /// Index of the ladder stage this notice takes the invoice to.
    pub stage_index: usize,
}

/// The budget facts a `budget-threshold` notice states, fixed when the threshold was crossed, so
/// the notice renders the same on every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeBudget {
    /// The threshold crossed, in percent of the budget (e.g. 100).
    pub threshold_percent: u32,
    /// Month-to-date spend when the threshold was crossed.
    pub spend: Decimal,
    /// The monthly budget.
    pub budget: Decimal,
    pub currency: String,
    /// The day the threshold was seen crossed (names the billing month).
    pub month: Date,
    /// Forecast month-end spend at the current pace, when enough of the month has passed.
    pub forecast: Option<Decimal>,
}

/// What an action does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionKind {
    /// An email to the customer's billing contact.
    CustomerNotice {
        /// Template name, e.g. `reminder-1`, `final-notice`, `reactivation`.
        template: String,
        /// Ladder stage name (or `reactivation`, `budget-threshold`).
        stage: String,
        /// Recipient, when known at planning time (billing profile or override).
        to: Option<String>,
        /// Extra recipients (e.g. the account manager).
        cc: Vec<String>,
        /// Locale preference as known at planning time (override, culture, or language).
        locale_hint: Option<String>,
        /// The invoices the notice is about (empty for non-dunning notices).
        invoices: Vec<NoticeInvoice>,
        /// The suspension date the notice states (final notice).
        suspension_date: Option<Date>,
        /// The budget facts (budget-threshold notices only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget: Option<NoticeBudget>,
    },
    /// An immediate alert to the partner's ops team about a finding (one email per finding;
    /// planned by earlier versions, still executed when found in the ledger).
    OpsAlert {
        fingerprint: String,
        severity: Severity,
        summary: String,
    },
    /// One email to the ops team for an alert group: its new, changed, still-firing and
    /// (optionally) resolved findings (see `policy::alerts`).
    OpsAlertGroup(AlertGroupEmail),
    /// Suspend a subscription (PATCH status=suspended).
    Suspend {
        subscription_id: String,
        /// Serialized as `suspend_reason`: a flattened `reason` would collide with
        /// [`PlannedAction::reason`] and make the stored payload unreadable.
        #[serde(rename = "suspend_reason")]
        reason: SuspendReason,
    },
    /// Reactivate a subscription that cspguard suspended.
    Reactivate {
        subscription_id: String,
        /// The idempotency key of the suspension being undone.
        suspension_key: String,
    },
    /// Set the customer's Azure spending budget.
    SetBudget { amount: Decimal },
    /// Set the status of Azure fraud events (Partner Center only records it).
    FraudEventStatus {
        azure_subscription_id: String,
        event_ids: Vec<String>,
        status: String,
        resolved_reason: Option<String>,
    },
    /// Cancel a compromised Azure subscription (irreversible).
    CancelAzureSubscription { azure_subscription_id: String },
    /// Set a Microsoft Graph partner security alert's `status` (and `resolvedReason`) with a
    /// PATCH (`cspguard fraud resolve --alert`; it only records the status).
    GraphAlertStatus {
        alert_id: String,
        status: String,
        resolved_reason: Option<String>,
    },
}

impl ActionKind {
    /// The ledger's `kind` column.
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::CustomerNotice { .. } => "customer_notice",
            ActionKind::OpsAlert { .. } => "ops_alert",
            ActionKind::OpsAlertGroup(_) => "ops_alert_group",
            ActionKind::Suspend { .. } => "suspend",
            ActionKind::Reactivate { .. } => "reactivate",
            ActionKind::SetBudget { .. } => "set_budget",
            ActionKind::FraudEventStatus { .. } => "fraud_event_status",
            ActionKind::CancelAzureSubscription { .. } => "cancel_azure_subscription",
            ActionKind::GraphAlertStatus { .. } => "graph_alert_status",
        }
    }

    /// True for actions that change a customer's service or Partner Center state.
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            ActionKind::Suspend { .. }
                | ActionKind::SetBudget { .. }
                | ActionKind::CancelAzureSubscription { .. }
        )
    }
}

/// One planned action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAction {
    /// Idempotency key (see the module invariant).
    pub key: String,
    pub customer: Option<String>,
    #[serde(flatten)]
    pub kind: ActionKind,
    /// Waits in `awaiting_approval` until a person approves it.
    pub requires_approval: bool,
    /// Why it exists, in words, with the numbers.
    pub reason: String,
    /// Fingerprints of the findings that led to it.
    pub findings: Vec<String>,
    /// Keys of actions that must be done before this one may run (e.g. the suspension notice
    /// waits for the suspension itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

/// A pending action that should no longer happen (e.g. the customer paid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    pub key: String,
    pub reason: String,
}

/// A customer (or a whole policy) deliberately left alone this run, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    /// `None` when a whole policy was skipped (e.g. the receivables import failed).
    pub customer: Option<String>,
    pub policy: String,
    pub reason: String,
}

/// Per-customer detail a policy needs before it can decide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailNeed {
    /// Billing profile (contact email, language): for notices.
    pub profile: bool,
    /// Subscriptions: for suspension and reactivation.
    pub subscriptions: bool,
}

impl DetailNeed {
    /// Combine two needs.
    pub fn union(self, other: DetailNeed) -> DetailNeed {
        DetailNeed {
            profile: self.profile || other.profile,
            subscriptions: self.subscriptions || other.subscriptions,
        }
    }
}

/// A customer's risk score with its reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskScore {
    pub customer: String,
    pub company: Option<String>,
    pub score: u32,
    pub reasons: Vec<String>,
}

/// The result of one evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub findings: Vec<Finding>,
    pub actions: Vec<PlannedAction>,
    pub cancellations: Vec<Cancellation>,
    pub skipped: Vec<Skip>,
    /// Customers whose detail must be fetched before the policies can finish deciding.
    pub needs_detail: BTreeMap<String, DetailNeed>,
    /// Fingerprints of findings recorded open in the ledger that no longer fire.
    pub resolved: Vec<String>,
    /// Customers by descending risk.
    pub risk: Vec<RiskScore>,
    /// What alert hygiene held back (silenced, inhibited, baseline, deferred) and the counts per
    /// rule family.
    #[serde(default, skip_serializing_if = "AlertHygiene::is_empty")]
    pub alerting: AlertHygiene,
    /// The billing reconciliation (`[reconciliation]` enabled only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recon: Option<crate::recon::model::ReconReport>,
}

/// Why an alert group's email is sent this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupSend {
    /// The group has not been notified before.
    First,
    /// New, changed or resolved findings, `group_interval` after the last email.
    Update,
    /// Nothing new; the group still fires `repeat_interval` after the last email.
    Repeat,
}

/// Where a finding stands in its group's email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    New,
    Changed,
    Firing,
    Resolved,
}

/// One finding in a group email, with its facts and fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertEntry {
    pub fingerprint: String,
    pub rule: Cow<'static, str>,
    pub severity: Severity,
    pub customer: Option<String>,
    pub summary: String,
    pub status: EntryStatus,
    #[serde(default, skip_serializing_if = "Facts::is_empty")]
    pub facts: Facts,
}

/// The content of one alert group email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertGroupEmail {
    /// The group's labels in words, e.g. `family=budget, severity=critical`.
    pub label: String,
    /// The keys of the groups this email covers: one, or several when groups beyond
    /// `[alerts] max_groups` were folded into the last email.
    pub groups: Vec<String>,
    /// The highest severity in the email.
    pub severity: Severity,
    pub send: GroupSend,
    pub entries: Vec<AlertEntry>,
}

/// Why a finding at or above the alert severity did not go into an ops email this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum HeldReason {
    /// Matched an active silence.
    Silenced {
        silence: i64,
        until: Timestamp,
        reason: String,
    },
    /// An inhibition rule: this finding fired while `by` did.
    Inhibited { by: String },
    /// Activity older than cspguard's first run (`[alerts] baseline`).
    Baseline,
    /// Its group emailed less than `group_interval` ago; it goes out with the group's next email.
    Deferred {
        group: String,
        not_before: Timestamp,
    },
}

/// A finding held back from the ops emails, listed in the digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldAlert {
    pub fingerprint: String,
    pub rule: Cow<'static, str>,
    pub severity: Severity,
    pub customer: Option<String>,
    pub summary: String,
    #[serde(flatten)]
    pub why: HeldReason,
}

/// Alert hygiene counts of one rule family (the part of a rule before the first `.`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyCounts {
    /// Findings put into a group email this run.
    pub grouped: usize,
    pub inhibited: usize,
    pub silenced: usize,
    pub baseline: usize,
    pub deferred: usize,
}

/// What alert hygiene decided besides the group emails.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertHygiene {
    /// Findings held back, by fingerprint.
    pub held: Vec<HeldAlert>,
    /// Counts per rule family.
    pub families: BTreeMap<String, FamilyCounts>,
}

impl AlertHygiene {
    /// Nothing held and nothing counted.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty() && self.families.is_empty()
    }
}

/// The rule family of a rule or fingerprint: the part before the first `.` (`budget`, `activity`).
pub fn rule_family(rule: &str) -> &str {
    rule.split(['.', ':']).next().unwrap_or(rule)
}

/// Positions in a vector by a hash of each item's identity (a finding's fingerprint, an action's
/// key), always checked against the stored item: the index copies no strings, and a hash
/// collision can never make a new item look like a duplicate.
#[derive(Debug, Default)]
struct Positions<S = RandomState> {
    hasher: S,
    /// The position of the first item with each hash.
    first: HashMap<u64, usize>,
    /// Positions of items whose hash equals an earlier, different item's (practically never).
    collided: Vec<usize>,
}

impl<S: BuildHasher> Positions<S> {
    /// Whether an item with identity `id` is among `items`.
    fn contains<T>(&self, items: &[T], id: &str, ident: impl Fn(&T) -> &str) -> bool {
        let same = |i: &usize| items.get(*i).is_some_and(|item| ident(item) == id);
        self.first
            .get(&self.hasher.hash_one(id))
            .is_some_and(|first| same(first) || self.collided.iter().any(same))
    }

    /// Whether an item with identity `id` is already among `items` (whose identities `ident`
    /// reads); if not, records that it will be pushed at `items.len()`.
    fn insert<T>(&mut self, items: &[T], id: &str, ident: impl Fn(&T) -> &str) -> bool {
        let at = items.len();
        let hash = self.hasher.hash_one(id);
        let Some(&first) = self.first.get(&hash) else {
            self.first.insert(hash, at);
            return true;
        };
        let same = |i: &usize| items.get(*i).is_some_and(|item| ident(item) == id);
        if same(&first) || self.collided.iter().any(same) {
            return false;
        }
        self.collided.push(at);
        true
    }
}

/// Collects what the policies produce, keeping keys unique.
#[derive(Debug, Default)]
pub struct PlanBuilder {
    plan: Plan,
    /// Actions by key.
    keys: Positions,
    /// Findings by fingerprint.
    fingerprints: Positions,
    /// Rule families declared evaluated (a few dozen at most).
    evaluated: BTreeSet<String>,
}

impl PlanBuilder {
    /// Add a finding; a second finding with the same fingerprint is ignored.
    pub fn finding(&mut self, mut f: Finding) {
        let findings = &self.plan.findings;
        if self
            .fingerprints
            .insert(findings, &f.fingerprint, |f| &f.fingerprint)
        {
            f.facts.shrink_to_fit();
            self.plan.findings.push(f);
        }
    }

    /// Add an action; a second action with the same key is ignored (and reported by `false`).
    pub fn action(&mut self, a: PlannedAction) -> bool {
        if self.keys.insert(&self.plan.actions, &a.key, |a| &a.key) {
            self.plan.actions.push(a);
            true
        } else {
            false
        }
    }

    /// Cancel a pending action.
    pub fn cancel(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        let key = key.into();
        if !self.plan.cancellations.iter().any(|c| c.key == key) {
            self.plan.cancellations.push(Cancellation {
                key,
                reason: reason.into(),
            });
        }
    }

    /// Record a skip.
    pub fn skip(&mut self, customer: Option<&str>, policy: &str, reason: impl Into<String>) {
        self.plan.skipped.push(Skip {
            customer: customer.map(str::to_owned),
            policy: policy.to_owned(),
            reason: reason.into(),
        });
    }

    /// Ask for customer detail before the next evaluation.
    pub fn need_detail(&mut self, customer: &str, need: DetailNeed) {
        match self.plan.needs_detail.get_mut(customer) {
            Some(entry) => *entry = entry.union(need),
            None => {
                self.plan.needs_detail.insert(customer.to_owned(), need);
            }
        }
    }

    /// Declare that a rule family (the part of a fingerprint before the first `:`, e.g.
    /// `budget.threshold`) was evaluated on complete data this run. Only such families can have
    /// findings resolved: a check that did not run must not look like "all clear".
    pub fn evaluated(&mut self, rule: &str) {
        self.evaluated.insert(rule.to_owned());
    }

    /// Whether a rule family was evaluated this run.
    pub fn was_evaluated(&self, rule: &str) -> bool {
        self.evaluated.contains(rule)
    }

    /// Set the billing reconciliation's report.
    pub fn recon(&mut self, report: crate::recon::model::ReconReport) {
        self.plan.recon = Some(report);
    }

    /// Whether a finding with this fingerprint was added.
    pub fn has_finding(&self, fingerprint: &str) -> bool {
        self.fingerprints
            .contains(&self.plan.findings, fingerprint, |f| &f.fingerprint)
    }

    /// Findings added so far.
    pub fn findings(&self) -> &[Finding] {
        &self.plan.findings
    }

    /// Record fingerprints that were resolved.
    pub fn resolved(&mut self, fingerprint: String) {
        self.plan.resolved.push(fingerprint);
    }

    /// Set the risk ranking.
    pub fn risk(&mut self, risk: Vec<RiskScore>) {
        self.plan.risk = risk;
    }

    /// Set what alert hygiene held back and its counts.
    pub fn alerting(&mut self, alerting: AlertHygiene) {
        self.plan.alerting = alerting;
    }

    /// Finish: sort everything deterministically.
    pub fn build(mut self) -> Plan {
        let p = &mut self.plan;
        p.findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        p.actions.sort_by(|a, b| a.key.cmp(&b.key));
        p.cancellations.sort_by(|a, b| a.key.cmp(&b.key));
        p.skipped.sort_by(|a, b| {
            (&a.policy, &a.customer, &a.reason).cmp(&(&b.policy, &b.customer, &b.reason))
        });
        p.resolved.sort();
        p.resolved.dedup();
        self.plan
    }
}

/// Timestamp-free helper: the billing month (`YYYY-MM`) of a local date.
pub fn month_key(date: Date) -> String {
    format!("{:04}-{:02}", date.year(), date.month())
}

/// Render a timestamp for a reason string (UTC, minutes).
pub fn short_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(key: &str) -> PlannedAction {
        PlannedAction {
            key: key.into(),
            customer: Some("c".into()),
            kind: ActionKind::SetBudget {
                amount: Decimal::from(100),
            },
            requires_approval: true,
            reason: "r".into(),
            findings: vec![],
            after: vec![],
        }
    }

    #[test]
    fn text_tables_show_the_first_rows_and_count_the_rest() {
        let mut b = PlanBuilder::default();
        for i in 0..(render::TABLE_ROWS + 7) {
            b.finding(Finding {
                fingerprint: format!("f{i:05}"),
                rule: "budget.threshold".into(),
                severity: Severity::Warning,
                customer: None,
                summary: format!("finding number {i:05}"),
                facts: Facts::new(),
            });
        }
        let plan = b.build();
        let snapshot = crate::policy::testkit::snapshot(Timestamp::UNIX_EPOCH);
        let text = render::to_table(&plan, &snapshot);
        assert!(text.contains(&format!("Findings: {}", render::TABLE_ROWS + 7)));
        let shown = text.matches("finding number").count();
        assert_eq!(
            shown,
            render::TABLE_ROWS,
            "only the first rows are laid out"
        );
        assert!(
            text.contains("... and 7 more findings"),
            "the rest are counted: {}",
            text.lines().last().unwrap_or_default()
        );
        assert!(
            text.contains("--format json"),
            "and the operator is told where they are"
        );
    }

    #[test]
    fn duplicate_keys_and_fingerprints_are_ignored_and_output_is_sorted() {
        let mut b = PlanBuilder::default();
        assert!(b.action(action("b")));
        assert!(b.action(action("a")));
        assert!(!b.action(action("a")));
        let f = |fp: &str, s| Finding {
            fingerprint: fp.into(),
            rule: "r".into(),
            severity: s,
            customer: None,
            summary: "s".into(),
            facts: Facts::new(),
        };
        b.finding(f("x", Severity::Info));
        b.finding(f("y", Severity::Critical));
        b.finding(f("x", Severity::Critical));
        let p = b.build();
        assert_eq!(
            p.actions.iter().map(|a| a.key.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(p.findings.len(), 2);
        assert_eq!(p.findings[0].fingerprint, "y", "critical first");
    }

    #[test]
    fn a_hash_collision_never_makes_a_new_item_a_duplicate() {
        /// Every identity hashes alike.
        #[derive(Default)]
        struct Constant;
        impl BuildHasher for Constant {
            type Hasher = Constant;
            fn build_hasher(&self) -> Constant {
                Constant
            }
        }
        impl std::hash::Hasher for Constant {
            fn finish(&self) -> u64 {
                7
            }
            fn write(&mut self, _: &[u8]) {}
        }
        let mut index = Positions::<Constant>::default();
        let mut items: Vec<String> = Vec::new();
        for id in ["a", "b", "a", "c", "b", "d"] {
            if index.insert(&items, id, String::as_str) {
                items.push(id.to_owned());
            }
        }
        assert_eq!(items, ["a", "b", "c", "d"]);
        assert_eq!(index.collided.len(), 3);
        for id in ["a", "b", "c", "d"] {
            assert!(index.contains(&items, id, String::as_str));
        }
        assert!(!index.contains(&items, "e", String::as_str));
    }

    #[test]
    fn action_json_is_flat_with_a_kind_tag() {
        let v = serde_json::to_value(action("k")).unwrap();
        assert_eq!(v["kind"], "set_budget");
        assert_eq!(v["amount"], "100");
        assert_eq!(
            ActionKind::SetBudget {
                amount: Decimal::ONE
            }
            .name(),
            "set_budget"
        );
    }
}

/// Rendering of a plan for people (`cspguard plan`).
pub mod render {
    use std::fmt::Write as _;

    use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

    use super::{ActionKind, Plan};

    /// Keep only what concerns one customer.
    pub fn filter_customer(plan: &Plan, customer: &str) -> Plan {
        let is = |c: &Option<String>| {
            c.as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(customer))
        };
        Plan {
            findings: plan
                .findings
                .iter()
                .filter(|f| is(&f.customer))
                .cloned()
                .collect(),
            actions: plan
                .actions
                .iter()
                .filter(|a| is(&a.customer))
                .cloned()
                .collect(),
            cancellations: plan
                .cancellations
                .iter()
                .filter(|c| c.key.contains(customer))
                .cloned()
                .collect(),
            skipped: plan
                .skipped
                .iter()
                .filter(|s| is(&s.customer))
                .cloned()
                .collect(),
            needs_detail: plan
                .needs_detail
                .iter()
                .filter(|(c, _)| c.eq_ignore_ascii_case(customer))
                .map(|(c, n)| (c.clone(), *n))
                .collect(),
            resolved: plan
                .resolved
                .iter()
                .filter(|f| f.contains(customer))
                .cloned()
                .collect(),
            risk: plan
                .risk
                .iter()
                .filter(|r| r.customer.eq_ignore_ascii_case(customer))
                .cloned()
                .collect(),
            alerting: super::AlertHygiene {
                held: plan
                    .alerting
                    .held
                    .iter()
                    .filter(|h| is(&h.customer))
                    .cloned()
                    .collect(),
                families: Default::default(),
            },
            recon: None,
        }
    }

    fn table(header: &[&str]) -> Table {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_content_arrangement(ContentArrangement::Dynamic);
        t.set_width(160);
        t.set_header(header.to_vec());
        t
    }

    fn what(kind: &ActionKind) -> String {
        match kind {
            ActionKind::CustomerNotice { template, to, .. } => {
                format!(
                    "email {template} to {}",
                    to.as_deref().unwrap_or("(no address)")
                )
            }
            ActionKind::OpsAlert { severity, .. } => format!("ops alert ({severity})"),
            ActionKind::OpsAlertGroup(g) => format!(
                "ops alert group {} ({}, {} finding(s))",
                g.label,
                g.severity,
                g.entries.len()
            ),
            ActionKind::Suspend {
                subscription_id,
                reason,
            } => {
                format!("suspend subscription {subscription_id} ({reason:?})")
            }
            ActionKind::Reactivate {
                subscription_id, ..
            } => {
                format!("reactivate subscription {subscription_id}")
            }
            ActionKind::SetBudget { amount } => format!("set spending budget to {amount}"),
            ActionKind::FraudEventStatus {
                status, event_ids, ..
            } => {
                format!("mark {} fraud event(s) {status}", event_ids.len())
            }
            ActionKind::CancelAzureSubscription {
                azure_subscription_id,
            } => format!("CANCEL Azure subscription {azure_subscription_id} (irreversible)"),
            ActionKind::GraphAlertStatus {
                alert_id, status, ..
            } => format!("mark Graph security alert {alert_id} {status}"),
        }
    }

    /// Rows shown in one text table of findings or of customers left alone; the rest are
    /// counted, and the JSON output lists them all (a 50,000-customer tenant can have tens of
    /// thousands, which no one reads in a terminal and which would cost tens of MiB to lay out).
    pub const TABLE_ROWS: usize = 500;

    /// The line under a table that showed only [`TABLE_ROWS`] of `total` rows.
    fn more_rows(out: &mut String, total: usize, what: &str) {
        if total > TABLE_ROWS {
            let _ = writeln!(
                out,
                "... and {} more {what} (the first {TABLE_ROWS} are shown): \
                 `--format json` lists them all, `--customer ID` one customer's",
                total - TABLE_ROWS
            );
        }
    }

    /// Human-readable tables; customers are named from the snapshot's customer list.
    pub fn to_table(plan: &Plan, snapshot: &crate::snapshot::Snapshot) -> String {
        let name = |c: &Option<String>| -> String {
            match c {
                Some(id) => snapshot
                    .company_name(id)
                    .map_or_else(|| id.clone(), str::to_owned),
                None => "(partner)".to_owned(),
            }
        };
        let mut out = String::new();
        let _ = writeln!(out, "Findings: {}", plan.findings.len());
        if !plan.findings.is_empty() {
            let mut t = table(&["Severity", "Customer", "Rule", "What"]);
            for f in plan.findings.iter().take(TABLE_ROWS) {
                t.add_row(vec![
                    f.severity.to_string(),
                    name(&f.customer),
                    f.rule.to_string(),
                    f.summary.clone(),
                ]);
            }
            let _ = writeln!(out, "{t}");
            more_rows(&mut out, plan.findings.len(), "findings");
        }
        let _ = writeln!(out, "\nActions: {}", plan.actions.len());
        if !plan.actions.is_empty() {
            let mut t = table(&["Customer", "Action", "Approval", "Why", "Key"]);
            for a in &plan.actions {
                t.add_row(vec![
                    name(&a.customer),
                    what(&a.kind),
                    if a.requires_approval {
                        "needs approval"
                    } else {
                        "-"
                    }
                    .to_owned(),
                    a.reason.clone(),
                    a.key.clone(),
                ]);
            }
            let _ = writeln!(out, "{t}");
        }
        if !plan.cancellations.is_empty() {
            let _ = writeln!(
                out,
                "\nPending actions to cancel: {}",
                plan.cancellations.len()
            );
            for c in &plan.cancellations {
                let _ = writeln!(out, "  {}: {}", c.key, c.reason);
            }
        }
        if !plan.skipped.is_empty() {
            let _ = writeln!(out, "\nLeft alone this run: {}", plan.skipped.len());
            let mut t = table(&["Policy", "Customer", "Why"]);
            for s in plan.skipped.iter().take(TABLE_ROWS) {
                t.add_row(vec![s.policy.clone(), name(&s.customer), s.reason.clone()]);
            }
            let _ = writeln!(out, "{t}");
            more_rows(&mut out, plan.skipped.len(), "customers left alone");
        }
        if !plan.resolved.is_empty() {
            let _ = writeln!(
                out,
                "\nResolved since last run: {}",
                plan.resolved.join(", ")
            );
        }
        if !plan.risk.is_empty() {
            let _ = writeln!(out, "\nRiskiest customers:");
            let mut t = table(&["Score", "Customer", "Reasons"]);
            for r in &plan.risk {
                t.add_row(vec![
                    r.score.to_string(),
                    r.company.clone().unwrap_or_else(|| r.customer.clone()),
                    r.reasons.join("; "),
                ]);
            }
            let _ = writeln!(out, "{t}");
        }
        out
    }
}
