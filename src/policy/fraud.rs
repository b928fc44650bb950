//! The fraud policy: Azure fraud events from Partner Center (App+User only) and the configured
//! response to them (`[fraud]`).
//!
//! Rules:
//! - `fraud.event:{customer}:{eventId}` (critical): an open event (status Active, Investigating or
//!   absent). Critical findings become ops alerts through `alerts`; this module plans no alert.
//!   Events flagged as test events (`isTest`) are information only and get no response.
//! - `fraud.not_checked:partner` (info): fraud events were not read (no App+User credentials).
//! - `fraud.read_failed:partner` (warning): reading fraud events failed.
//!
//! Responses (`response`): `alert` (the finding alone), `suspend` (a `Suspend{Fraud}` of each
//! active Azure plan subscription of the customer, key
//! `fraud-suspend/{customer}/{subscription}/{eventId}`) or `cancel` (a
//! `CancelAzureSubscription` of the affected Azure subscription, key
//! `fraud-cancel/{customer}/{azureSub}`). With `mark_investigating`, new Active events get a
//! `FraudEventStatus{Investigating}` action, key `fraud-status/{azureSub}/{eventId}/Investigating`.
//!
//! Invariants: suspension and cancellation ALWAYS require approval, whatever the config;
//! customers marked `exempt` are never suspended or cancelled (the plan says so); a suspension is
//! planned only from subscriptions actually fetched (detail is requested when absent).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::pc::models::{FraudEvent, FraudEventStatus, Subscription};
use crate::plan::{
    ActionKind, DetailNeed, Finding, PlanBuilder, PlannedAction, Severity, SuspendReason,
    short_time,
};
use crate::policy::PolicyInput;
use crate::snapshot::Section;

const POLICY: &str = "fraud";

/// What cspguard does about an open fraud event, beyond the critical finding and its alert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FraudResponse {
    /// Only the finding (and the ops alert it triggers).
    #[default]
    Alert,
    /// Plan suspension of the customer's active Azure plan subscription(s), with approval.
    Suspend,
    /// Plan cancellation of the compromised Azure subscription (irreversible), with approval.
    Cancel,
}

/// `[fraud]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FraudConfig {
    /// `alert` (default), `suspend` or `cancel`.
    pub response: FraudResponse,
    /// Set new Active events to `Investigating` in Partner Center.
    pub mark_investigating: bool,
}

impl FraudConfig {
    /// Check the settings (called at config load). Every combination is valid today.
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

fn status_text(e: &FraudEvent) -> &str {
    e.event_status
        .as_ref()
        .map(|s| s.as_str())
        .unwrap_or("unknown")
}

/// An open fraud event with what every rule derives from it.
struct Event<'e> {
    e: &'e FraudEvent,
    /// The customer's tenant id, if the event names one.
    customer: Option<&'e str>,
    /// The finding's fingerprint.
    fp: String,
    /// The customer as people know it.
    name: String,
    /// What happened, e.g. "Crypto mining".
    kind: String,
    azure_sub: Option<&'e str>,
    /// Flagged `isTest`: information only, no response.
    is_test: bool,
}

impl<'e> Event<'e> {
    fn new(e: &'e FraudEvent) -> Event<'e> {
        let customer = e
            .customer_tenant_id
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let cust_key = customer.unwrap_or("partner");
        Event {
            e,
            customer,
            fp: format!("fraud.event:{cust_key}:{}", e.event_id),
            name: e
                .customer_friendly_name
                .clone()
                .or_else(|| customer.map(str::to_owned))
                .unwrap_or_else(|| "an unknown customer".to_owned()),
            kind: e
                .display_name
                .clone()
                .or_else(|| e.event_type.clone())
                .or_else(|| e.service_name.clone().map(|s| format!("{s} event")))
                .unwrap_or_else(|| "fraud event".to_owned()),
            azure_sub: e
                .subscription_id
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty()),
            is_test: e.is_test == Some(true),
        }
    }
}

/// Add this policy's findings and actions.
pub fn evaluate(input: &PolicyInput<'_>, out: &mut PlanBuilder) {
    let Some(events) = read_events(input, out) else {
        return;
    };
    out.evaluated("fraud.event");
    out.evaluated("fraud.not_checked");
    out.evaluated("fraud.read_failed");
    let cfg = &input.config.fraud;

    // Sort so that the plan (and which event's key a shared action gets) never depends on the
    // order of the API response.
    let mut open: Vec<&FraudEvent> = events.iter().filter(|e| e.is_open()).collect();
    open.sort_by(|a, b| {
        (&a.customer_tenant_id, &a.event_id).cmp(&(&b.customer_tenant_id, &b.event_id))
    });
    let mut cancel_groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();

    for e in open {
        let ev = Event::new(e);
        event_finding(&ev, out);
        if ev.is_test {
            continue;
        }
        let is_new = matches!(e.event_status, None | Some(FraudEventStatus::Active));
        if cfg.mark_investigating && is_new {
            mark_investigating(&ev, out);
        }
        if let Some(customer) = responder(input, &ev, out) {
            match cfg.response {
                FraudResponse::Alert => {}
                FraudResponse::Suspend => plan_suspend(input, &ev, customer, out),
                FraudResponse::Cancel => match ev.azure_sub {
                    Some(sub) => cancel_groups
                        .entry((customer.to_owned(), sub.to_owned()))
                        .or_default()
                        .push(ev.fp.clone()),
                    None => out.skip(
                        Some(customer),
                        POLICY,
                        format!(
                            "fraud event {} has no Azure subscription id; nothing to cancel",
                            e.event_id
                        ),
                    ),
                },
            }
        }
    }
    plan_cancels(cancel_groups, out);
}

/// The fraud events, or `None` after the finding and skip saying why they cannot be used.
fn read_events<'i>(input: &'i PolicyInput<'_>, out: &mut PlanBuilder) -> Option<&'i [FraudEvent]> {
    match &input.snapshot.fraud_events {
        Section::Ok { data } => Some(data),
        Section::NotChecked { reason } => {
            let mut facts = BTreeMap::new();
            facts.insert("reason".into(), reason.clone());
            out.finding(Finding {
                fingerprint: "fraud.not_checked:partner".into(),
                rule: "fraud.not_checked".into(),
                severity: Severity::Info,
                customer: None,
                summary: format!("Azure fraud events were not checked: {reason}"),
                facts,
            });
            out.skip(None, POLICY, format!("fraud events not checked: {reason}"));
            None
        }
        Section::Failed { error } => {
            out.evaluated("fraud.not_checked");
            let mut facts = BTreeMap::new();
            facts.insert("error".into(), error.clone());
            out.finding(Finding {
                fingerprint: "fraud.read_failed:partner".into(),
                rule: "fraud.read_failed".into(),
                severity: Severity::Warning,
                customer: None,
                summary: format!("Azure fraud events could not be read this run: {error}"),
                facts,
            });
            out.skip(
                None,
                POLICY,
                format!("fraud events could not be read: {error}"),
            );
            None
        }
    }
}

/// The `fraud.event` finding: critical, or info for a test event.
fn event_finding(ev: &Event<'_>, out: &mut PlanBuilder) {
    let e = ev.e;
    let mut facts = BTreeMap::new();
    facts.insert("event_id".into(), e.event_id.clone());
    facts.insert("status".into(), status_text(e).to_owned());
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            facts.insert(k.to_owned(), v);
        }
    };
    put("event_type", e.event_type.clone());
    put(
        "severity",
        e.severity.as_ref().map(|s| s.as_str().to_owned()),
    );
    put("azure_subscription", ev.azure_sub.map(str::to_owned));
    put("service", e.service_name.clone());
    put(
        "resource",
        e.resource_name.clone().or(e.entity_name.clone()),
    );
    put("hit_count", e.hit_count.map(|h| h.to_string()));
    put(
        "first_occurrence",
        e.first_occurrence.map(|t| t.to_string()),
    );
    put("last_occurrence", e.last_occurrence.map(|t| t.to_string()));
    put("description", e.description.clone());
    put("country", e.country.clone());
    if ev.is_test {
        facts.insert("is_test".into(), "true".into());
    }
    out.finding(Finding {
        fingerprint: ev.fp.clone(),
        rule: "fraud.event".into(),
        severity: if ev.is_test {
            Severity::Info
        } else {
            Severity::Critical
        },
        customer: ev.customer.map(str::to_owned),
        summary: event_summary(ev),
        facts,
    });
}

fn event_summary(ev: &Event<'_>) -> String {
    let e = ev.e;
    let mut summary = format!(
        "{}Azure fraud event on {}: {}",
        if ev.is_test { "TEST " } else { "" },
        ev.name,
        ev.kind
    );
    if let Some(s) = &e.severity {
        summary.push_str(&format!(" (severity {s})"));
    }
    if let Some(sub) = ev.azure_sub {
        summary.push_str(&format!(" on Azure subscription {sub}"));
    }
    summary.push_str(&format!(", status {}", status_text(e)));
    if let Some(h) = e.hit_count {
        summary.push_str(&format!(", {h} hits"));
    }
    if let Some(t) = e.first_occurrence {
        summary.push_str(&format!(" since {}", short_time(t)));
    }
    summary
}

/// Set a new event to `Investigating` in Partner Center (needs its Azure subscription id).
fn mark_investigating(ev: &Event<'_>, out: &mut PlanBuilder) {
    let e = ev.e;
    match ev.azure_sub {
        Some(sub) => {
            out.action(PlannedAction {
                key: format!("fraud-status/{sub}/{}/Investigating", e.event_id),
                customer: ev.customer.map(str::to_owned),
                kind: ActionKind::FraudEventStatus {
                    azure_subscription_id: sub.to_owned(),
                    event_ids: vec![e.event_id.clone()],
                    status: "Investigating".into(),
                    resolved_reason: None,
                },
                requires_approval: false,
                reason: format!(
                    "Mark fraud event {} ({}) on {} as Investigating in Partner Center (this only \
                     records the status; it does not stop the activity)",
                    e.event_id, ev.kind, ev.name
                ),
                findings: vec![ev.fp.clone()],
                after: vec![],
            });
        }
        None => out.skip(
            ev.customer,
            POLICY,
            format!(
                "fraud event {} has no Azure subscription id; status not updated",
                e.event_id
            ),
        ),
    }
}

/// The customer a suspension or cancellation may be planned for, or `None` (with a skip when
/// the configured response is not `alert`): the event names no customer, or it is exempt.
fn responder<'e>(
    input: &PolicyInput<'_>,
    ev: &Event<'e>,
    out: &mut PlanBuilder,
) -> Option<&'e str> {
    let response = input.config.fraud.response;
    if response == FraudResponse::Alert {
        return None;
    }
    let Some(customer) = ev.customer else {
        out.skip(
            None,
            POLICY,
            format!(
                "fraud event {} names no customer; no suspension or cancellation planned",
                ev.e.event_id
            ),
        );
        return None;
    };
    if input.config.customer(customer).is_some_and(|o| o.exempt) {
        out.skip(
            Some(customer),
            POLICY,
            format!(
                "customer is exempt: no {} planned for fraud event {} (the alert still goes out)",
                if response == FraudResponse::Suspend {
                    "suspension"
                } else {
                    "cancellation"
                },
                ev.e.event_id
            ),
        );
        return None;
    }
    Some(customer)
}

/// One cancellation per (customer, Azure subscription), naming every event behind it.
fn plan_cancels(cancel_groups: BTreeMap<(String, String), Vec<String>>, out: &mut PlanBuilder) {
    for ((customer, sub), fps) in cancel_groups {
        let events: BTreeSet<&str> = fps.iter().filter_map(|f| f.rsplit(':').next()).collect();
        out.action(PlannedAction {
            key: format!("fraud-cancel/{customer}/{sub}"),
            customer: Some(customer.clone()),
            kind: ActionKind::CancelAzureSubscription {
                azure_subscription_id: sub.clone(),
            },
            requires_approval: true,
            reason: format!(
                "Cancel Azure subscription {sub} of customer {customer} as compromised (fraud \
                 event(s) {}). This is irreversible: the subscription and its resources cannot be \
                 restored after cancellation.",
                events.into_iter().collect::<Vec<_>>().join(", ")
            ),
            findings: fps,
            after: vec![],
        });
    }
}

/// The customer's subscriptions, or `None` after asking for them or saying they failed.
fn subscriptions<'i>(
    input: &'i PolicyInput<'_>,
    ev: &Event<'_>,
    customer: &str,
    out: &mut PlanBuilder,
) -> Option<&'i [Subscription]> {
    match input.snapshot.detail(customer).map(|d| &d.subscriptions) {
        None | Some(Section::NotChecked { .. }) => {
            out.need_detail(
                customer,
                DetailNeed {
                    subscriptions: true,
                    ..DetailNeed::default()
                },
            );
            out.skip(
                Some(customer),
                POLICY,
                format!(
                    "fraud event {}: suspension waits for the customer's subscriptions",
                    ev.e.event_id
                ),
            );
            None
        }
        Some(Section::Failed { error }) => {
            out.skip(
                Some(customer),
                POLICY,
                format!(
                    "fraud event {}: subscriptions could not be read ({error}); no suspension planned",
                    ev.e.event_id
                ),
            );
            None
        }
        Some(Section::Ok { data }) => Some(data),
    }
}

/// Suspend every active Azure plan of the customer, with approval.
fn plan_suspend(input: &PolicyInput<'_>, ev: &Event<'_>, customer: &str, out: &mut PlanBuilder) {
    let Some(subs) = subscriptions(input, ev, customer, out) else {
        return;
    };
    let e = ev.e;
    let mut targets: Vec<&str> = subs
        .iter()
        .filter(|s| s.is_azure_plan() && s.status.as_str().eq_ignore_ascii_case("active"))
        .map(|s| s.id.as_str())
        .collect();
    targets.sort_unstable();
    targets.dedup();
    if targets.is_empty() {
        out.skip(
            Some(customer),
            POLICY,
            format!(
                "fraud event {}: the customer has no active Azure plan subscription to suspend",
                e.event_id
            ),
        );
        return;
    }
    for sub in targets {
        out.action(PlannedAction {
            key: format!("fraud-suspend/{customer}/{sub}/{}", e.event_id),
            customer: Some(customer.to_owned()),
            kind: ActionKind::Suspend {
                subscription_id: sub.to_owned(),
                reason: SuspendReason::Fraud,
            },
            requires_approval: true,
            reason: format!(
                "Suspend Azure plan {sub} of {} because of fraud event {} ({}). Partner \
                 Center refuses to suspend an Azure plan that still has active Azure \
                 subscriptions or reservations; cancelling the compromised subscription may be \
                 needed instead.",
                ev.name, e.event_id, ev.kind
            ),
            findings: vec![ev.fp.clone()],
            after: vec![],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use crate::policy::testkit::*;
    use crate::policy::{CustomerOverride, PolicyConfig, ReceivablesInput};
    use crate::snapshot::Snapshot;

    fn now() -> jiff::Timestamp {
        ts("2026-11-21T08:00:00Z")
    }

    fn config(response: FraudResponse, mark: bool) -> PolicyConfig {
        PolicyConfig {
            fraud: FraudConfig {
                response,
                mark_investigating: mark,
            },
            ..PolicyConfig::default()
        }
    }

    fn snap(events: Vec<FraudEvent>) -> Snapshot {
        let mut s = snapshot(now());
        s.fraud_events = Section::Ok { data: events };
        s
    }

    fn go(s: &Snapshot, c: &PolicyConfig) -> Plan {
        run(
            s,
            &ReceivablesInput::NotConfigured,
            &ledger(),
            c,
            now(),
            None,
        )
    }

    fn keys(p: &Plan) -> Vec<&str> {
        p.actions
            .iter()
            .filter(|a| !a.key.starts_with("alert-group/"))
            .map(|a| a.key.as_str())
            .collect()
    }

    #[test]
    fn open_events_are_critical_and_resolved_ones_ignored() {
        let s = snap(vec![
            fraud_event("ev1", "c1", "az1", "Active"),
            fraud_event("ev2", "c1", "az1", "Investigating"),
            fraud_event("ev3", "c1", "az1", "Resolved"),
        ]);
        let p = go(&s, &config(FraudResponse::Alert, false));
        let fps: Vec<_> = p.findings.iter().map(|f| f.fingerprint.as_str()).collect();
        assert_eq!(fps, ["fraud.event:c1:ev1", "fraud.event:c1:ev2"]);
        assert!(p.findings.iter().all(|f| f.severity == Severity::Critical));
        let f = &p.findings[0];
        assert_eq!(f.facts["azure_subscription"], "az1");
        assert!(
            f.summary.contains("NetworkConnectionsToCryptoMiningPools"),
            "{}",
            f.summary
        );
        assert!(f.summary.contains("az1"));
        // The alert policy turns them into ops alerts; fraud itself plans nothing.
        assert!(keys(&p).is_empty());
        // Both in the one fraud/critical group email.
        let groups: Vec<_> = p
            .actions
            .iter()
            .filter(|a| a.key.starts_with("alert-group/fraud/critical/"))
            .collect();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].findings.len(), 2);
    }

    #[test]
    fn mark_investigating_only_for_new_active_events() {
        let s = snap(vec![
            fraud_event("ev1", "c1", "az1", "Active"),
            fraud_event("ev2", "c1", "az1", "Investigating"),
        ]);
        let p = go(&s, &config(FraudResponse::Alert, true));
        assert_eq!(keys(&p), ["fraud-status/az1/ev1/Investigating"]);
        let a = &p
            .actions
            .iter()
            .find(|a| a.key.starts_with("fraud-status"))
            .unwrap();
        assert!(!a.requires_approval);
        assert_eq!(
            a.kind,
            ActionKind::FraudEventStatus {
                azure_subscription_id: "az1".into(),
                event_ids: vec!["ev1".into()],
                status: "Investigating".into(),
                resolved_reason: None,
            }
        );
        assert!(keys(&go(&s, &config(FraudResponse::Alert, false))).is_empty());
    }

    #[test]
    fn suspend_requests_subscriptions_then_suspends_active_azure_plans_with_approval() {
        let mut s = snap(vec![fraud_event("ev1", "c1", "az1", "Active")]);
        let c = config(FraudResponse::Suspend, false);
        let p = go(&s, &c);
        assert!(keys(&p).is_empty());
        assert_eq!(
            p.needs_detail.get("c1").map(|n| n.subscriptions),
            Some(true)
        );

        s.details.insert(
            "c1".into(),
            detail(
                None,
                vec![
                    subscription("plan-b", "active", "azure"),
                    subscription("plan-a", "active", "azure"),
                    subscription("plan-old", "suspended", "azure"),
                    subscription("m365", "active", "O365_E3"),
                ],
            ),
        );
        let p = go(&s, &c);
        assert_eq!(
            keys(&p),
            ["fraud-suspend/c1/plan-a/ev1", "fraud-suspend/c1/plan-b/ev1"]
        );
        for a in p
            .actions
            .iter()
            .filter(|a| a.key.starts_with("fraud-suspend"))
        {
            assert!(a.requires_approval);
            assert!(matches!(
                a.kind,
                ActionKind::Suspend {
                    reason: SuspendReason::Fraud,
                    ..
                }
            ));
            assert_eq!(a.findings, ["fraud.event:c1:ev1"]);
        }
        assert!(p.needs_detail.is_empty());
    }

    #[test]
    fn suspend_without_an_active_azure_plan_says_why() {
        let mut s = snap(vec![fraud_event("ev1", "c1", "az1", "Active")]);
        s.details.insert(
            "c1".into(),
            detail(None, vec![subscription("m365", "active", "O365_E3")]),
        );
        let p = go(&s, &config(FraudResponse::Suspend, false));
        assert!(keys(&p).is_empty());
        assert!(
            p.skipped
                .iter()
                .any(|k| k.reason.contains("no active Azure plan"))
        );
    }

    #[test]
    fn cancel_is_irreversible_approval_gated_and_one_per_azure_subscription() {
        let s = snap(vec![
            fraud_event("ev2", "c1", "az1", "Active"),
            fraud_event("ev1", "c1", "az1", "Active"),
            fraud_event("ev3", "c1", "az2", "Active"),
        ]);
        let p = go(&s, &config(FraudResponse::Cancel, false));
        assert_eq!(keys(&p), ["fraud-cancel/c1/az1", "fraud-cancel/c1/az2"]);
        let a = &p
            .actions
            .iter()
            .find(|a| a.key == "fraud-cancel/c1/az1")
            .unwrap();
        assert!(a.requires_approval);
        assert!(a.reason.contains("irreversible"), "{}", a.reason);
        assert_eq!(a.findings, ["fraud.event:c1:ev1", "fraud.event:c1:ev2"]);
        assert_eq!(
            a.kind,
            ActionKind::CancelAzureSubscription {
                azure_subscription_id: "az1".into()
            }
        );
    }

    #[test]
    fn exempt_customers_and_test_events_get_no_response() {
        let mut s = snap(vec![fraud_event("ev1", "c1", "az1", "Active")]);
        let mut c = config(FraudResponse::Cancel, false);
        c.customers.insert(
            "C1".into(),
            CustomerOverride {
                exempt: true,
                ..CustomerOverride::default()
            },
        );
        let p = go(&s, &c);
        assert!(keys(&p).is_empty());
        assert_eq!(p.findings[0].severity, Severity::Critical);
        assert!(p.skipped.iter().any(|k| k.reason.contains("exempt")));

        let mut ev = fraud_event("ev9", "c2", "az9", "Active");
        ev.is_test = Some(true);
        s.fraud_events = Section::Ok { data: vec![ev] };
        let p = go(&s, &config(FraudResponse::Cancel, true));
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(p.findings[0].severity, Severity::Info);
    }

    #[test]
    fn not_checked_is_an_info_finding_and_a_skip() {
        let mut s = snapshot(now());
        s.fraud_events = Section::NotChecked {
            reason: "App+User credentials not configured".into(),
        };
        let p = go(&s, &config(FraudResponse::Suspend, true));
        let f = &p.findings[0];
        assert_eq!(f.fingerprint, "fraud.not_checked:partner");
        assert_eq!(f.severity, Severity::Info);
        assert!(f.summary.contains("App+User credentials not configured"));
        assert!(p.skipped.iter().any(|k| k.policy == "fraud"));
        assert!(p.actions.is_empty());

        s.fraud_events = Section::Failed {
            error: "HTTP 500".into(),
        };
        let p = go(&s, &config(FraudResponse::Alert, false));
        assert_eq!(p.findings[0].fingerprint, "fraud.read_failed:partner");
        assert_eq!(p.findings[0].severity, Severity::Warning);
    }

    #[test]
    fn config_parses_and_evaluating_twice_is_identical() {
        let c: FraudConfig =
            toml::from_str("response = \"cancel\"\nmark_investigating = true").unwrap();
        assert_eq!(c.response, FraudResponse::Cancel);
        assert!(c.validate().is_ok());
        assert!(toml::from_str::<FraudConfig>("response = \"nuke\"").is_err());
        assert!(toml::from_str::<FraudConfig>("respond = \"alert\"").is_err());
        assert_eq!(FraudConfig::default().response, FraudResponse::Alert);

        let mut s = snap(vec![
            fraud_event("ev2", "c2", "az2", "Active"),
            fraud_event("ev1", "c1", "az1", "Active"),
        ]);
        s.details.insert(
            "c1".into(),
            detail(None, vec![subscription("plan", "active", "azure")]),
        );
        let c = config(FraudResponse::Suspend, true);
        assert_eq!(go(&s, &c), go(&s, &c));
    }
}
