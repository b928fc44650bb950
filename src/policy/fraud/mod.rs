//! The fraud policy: fraud signals from two sources, Partner Center's v1 fraud events (App+User
//! only) and Microsoft Graph partner security alerts (app-only), and the configured response to
//! them (`[fraud]`, `config.rs`). `signal.rs` turns either into one [`signal::Signal`] and folds
//! a Graph alert into the v1 event reporting the same signal (same Azure subscription and type).
//!
//! Rules:
//! - `fraud.event:{customer}:{eventId}` (critical): an open v1 event (status Active,
//!   Investigating or absent); when both sources ran, it also names the Graph alert(s) of the
//!   same signal (`graph_alert_id`). Critical findings become ops alerts through `alerts`; this
//!   module plans no alert. Signals flagged `isTest` are information only and get no response.
//! - `fraud.alert:{customer}:{alertId}` (critical): an open Graph alert no v1 event reports.
//! - `fraud.not_checked:partner` (info): no fraud source was read (with why).
//! - `fraud.read_failed:partner` / `fraud.read_failed:graph` (warning): reading a source failed.
//!   A rule family is evaluated (its missing findings resolved) only when its source was read.
//!
//! Responses (`response`): `alert` (the finding alone), `suspend` (a `Suspend{Fraud}` of each
//! active Azure plan subscription of the customer, key
//! `fraud-suspend/{customer}/{subscription}/{eventId}`) or `cancel` (a
//! `CancelAzureSubscription` of the affected Azure subscription, key
//! `fraud-cancel/{customer}/{azureSub}`), from either source (the key's last part is the event or
//! alert id). With `mark_investigating`, new Active events get a `FraudEventStatus{Investigating}`
//! action, key `fraud-status/{azureSub}/{eventId}/Investigating`, and new Graph alerts a
//! `GraphAlertStatus{investigating}` action, key `fraud-alert-status/{alertId}/investigating`.
//!
//! Invariants: suspension and cancellation ALWAYS require approval, whatever the config;
//! customers marked `exempt` are never suspended or cancelled (the plan says so); a suspension is
//! planned only from subscriptions actually fetched (detail is requested when absent).

use std::collections::{BTreeMap, BTreeSet};

mod config;
mod signal;

pub use config::{Available, FraudConfig, FraudResponse, FraudSource, FraudSources, SourceUse};

use crate::facts::Facts;
use crate::pc::models::Subscription;
use crate::plan::{
    ActionKind, DetailNeed, Finding, PlanBuilder, PlannedAction, Severity, SuspendReason,
};
use crate::policy::PolicyInput;
use crate::snapshot::Section;
use signal::Signal;

const POLICY: &str = "fraud";

/// Add this policy's findings and actions.
pub fn evaluate(input: &PolicyInput<'_>, out: &mut PlanBuilder) {
    let snap = input.snapshot;
    let v1 = usable(&snap.fraud_events, FraudSource::V1, out);
    let graph = usable(&snap.security_alerts, FraudSource::Graph, out);
    let attempted = [
        snap.fraud_events.is_failed(),
        snap.security_alerts.is_failed(),
    ]
    .contains(&true)
        || v1.is_some()
        || graph.is_some();
    if !attempted {
        not_checked(input, out);
        return;
    }
    out.evaluated("fraud.not_checked");
    out.evaluated("fraud.read_failed");
    if v1.is_some() {
        out.evaluated("fraud.event");
    }
    if graph.is_some() {
        out.evaluated("fraud.alert");
    }
    let events: Vec<Signal<'_>> = v1
        .unwrap_or_default()
        .iter()
        .filter(|e| e.is_open())
        .map(Signal::from_event)
        .collect();
    let alerts: Vec<Signal<'_>> = graph
        .unwrap_or_default()
        .iter()
        .filter(|a| a.is_open())
        .map(|a| Signal::from_alert(a, snap))
        .collect();
    let mut open = signal::merge(events, alerts);
    // Sort so that the plan (and which signal's key a shared action gets) never depends on the
    // order of the API responses.
    open.sort_by(|a, b| (a.customer, a.id).cmp(&(b.customer, b.id)));
    respond(input, open, out);
}

/// The findings and the configured response for each open signal.
fn respond(input: &PolicyInput<'_>, open: Vec<Signal<'_>>, out: &mut PlanBuilder) {
    let cfg = &input.config.fraud;
    let mut cancel_groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for ev in &open {
        signal_finding(ev, out);
        if ev.is_test {
            continue;
        }
        if cfg.mark_investigating && ev.is_new {
            mark_investigating(ev, out);
        }
        let Some(customer) = responder(input, ev, out) else {
            continue;
        };
        match cfg.response {
            FraudResponse::Alert => {}
            FraudResponse::Suspend => plan_suspend(input, ev, customer, out),
            FraudResponse::Cancel => match ev.azure_sub {
                Some(sub) => cancel_groups
                    .entry((customer.to_owned(), sub.to_owned()))
                    .or_default()
                    .push(ev.fp.clone()),
                None => out.skip(
                    Some(customer),
                    POLICY,
                    format!(
                        "{} has no Azure subscription id; nothing to cancel",
                        ev.what()
                    ),
                ),
            },
        }
    }
    plan_cancels(cancel_groups, out);
}

/// A source's data, or `None` (after the `read_failed` finding and skip when it failed).
fn usable<'i, T>(
    section: &'i Section<Vec<T>>,
    source: FraudSource,
    out: &mut PlanBuilder,
) -> Option<&'i [T]> {
    match section {
        Section::Ok { data } => Some(data),
        Section::NotChecked { .. } => None,
        Section::Failed { error } => {
            let mut facts = Facts::new();
            facts.insert("error", error.clone());
            let (key, what) = match source {
                FraudSource::V1 => ("partner", "Azure fraud events"),
                FraudSource::Graph => ("graph", "Graph security alerts"),
            };
            out.finding(Finding {
                fingerprint: format!("fraud.read_failed:{key}"),
                rule: "fraud.read_failed".into(),
                severity: Severity::Warning,
                customer: None,
                summary: format!("{what} could not be read this run: {error}"),
                facts,
            });
            out.skip(
                None,
                POLICY,
                format!("{} could not be read: {error}", source_noun(source)),
            );
            None
        }
    }
}

fn source_noun(source: FraudSource) -> &'static str {
    match source {
        FraudSource::V1 => "fraud events",
        FraudSource::Graph => "Graph security alerts",
    }
}

/// No source was read: the info finding and skip saying why (the v1 reason first, as before
/// Graph alerts existed; the Graph reason as a fact when Graph was not configured either).
fn not_checked(input: &PolicyInput<'_>, out: &mut PlanBuilder) {
    let reason_of = |s: &Section<_>| match s {
        Section::NotChecked { reason } => reason.clone(),
        _ => String::new(),
    };
    let reason = match &input.snapshot.fraud_events {
        Section::NotChecked { reason } => reason.clone(),
        _ => "not read".to_owned(),
    };
    let graph_reason = match &input.snapshot.security_alerts {
        Section::NotChecked { reason } => reason.clone(),
        other => reason_of(other),
    };
    let mut facts = Facts::new();
    facts.insert("reason", reason.clone());
    if graph_reason != "[graph] is not configured" && !graph_reason.is_empty() {
        facts.insert("graph_reason", graph_reason);
    }
    out.finding(Finding {
        fingerprint: "fraud.not_checked:partner".into(),
        rule: "fraud.not_checked".into(),
        severity: Severity::Info,
        customer: None,
        summary: format!("Azure fraud events were not checked: {reason}"),
        facts,
    });
    out.skip(None, POLICY, format!("fraud events not checked: {reason}"));
}

/// The `fraud.event` / `fraud.alert` finding: critical, or info for a test signal.
fn signal_finding(ev: &Signal<'_>, out: &mut PlanBuilder) {
    out.finding(Finding {
        fingerprint: ev.fp.clone(),
        rule: ev.rule.into(),
        severity: if ev.is_test {
            Severity::Info
        } else {
            Severity::Critical
        },
        customer: ev.customer.map(str::to_owned),
        summary: ev.summary.clone(),
        facts: ev.facts.clone(),
    });
}

/// Set a new signal to investigating: a v1 event in Partner Center (needs its Azure
/// subscription id), a Graph alert with a PATCH.
fn mark_investigating(ev: &Signal<'_>, out: &mut PlanBuilder) {
    if ev.source == FraudSource::Graph {
        out.action(PlannedAction {
            key: format!("fraud-alert-status/{}/investigating", ev.id),
            customer: ev.customer.map(str::to_owned),
            kind: ActionKind::GraphAlertStatus {
                alert_id: ev.id.to_owned(),
                status: "investigating".into(),
                resolved_reason: None,
            },
            requires_approval: false,
            reason: format!(
                "Mark Graph security alert {} ({}) on {} as investigating (this only records \
                 the status; it does not stop the activity)",
                ev.id, ev.kind, ev.name
            ),
            findings: vec![ev.fp.clone()],
            after: vec![],
        });
        return;
    }
    match ev.azure_sub {
        Some(sub) => {
            out.action(PlannedAction {
                key: format!("fraud-status/{sub}/{}/Investigating", ev.id),
                customer: ev.customer.map(str::to_owned),
                kind: ActionKind::FraudEventStatus {
                    azure_subscription_id: sub.to_owned(),
                    event_ids: vec![ev.id.to_owned()],
                    status: "Investigating".into(),
                    resolved_reason: None,
                },
                requires_approval: false,
                reason: format!(
                    "Mark fraud event {} ({}) on {} as Investigating in Partner Center (this only \
                     records the status; it does not stop the activity)",
                    ev.id, ev.kind, ev.name
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
                ev.id
            ),
        ),
    }
}

/// The customer a suspension or cancellation may be planned for, or `None` (with a skip when
/// the configured response is not `alert`): the event names no customer, or it is exempt.
fn responder<'e>(
    input: &PolicyInput<'_>,
    ev: &Signal<'e>,
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
                "{} names no customer; no suspension or cancellation planned",
                ev.what()
            ),
        );
        return None;
    };
    if input.config.customer(customer).is_some_and(|o| o.exempt) {
        out.skip(
            Some(customer),
            POLICY,
            format!(
                "customer is exempt: no {} planned for {} (the alert still goes out)",
                if response == FraudResponse::Suspend {
                    "suspension"
                } else {
                    "cancellation"
                },
                ev.what()
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
    ev: &Signal<'_>,
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
                    "{}: suspension waits for the customer's subscriptions",
                    ev.what()
                ),
            );
            None
        }
        Some(Section::Failed { error }) => {
            out.skip(
                Some(customer),
                POLICY,
                format!(
                    "{}: subscriptions could not be read ({error}); no suspension planned",
                    ev.what()
                ),
            );
            None
        }
        Some(Section::Ok { data }) => Some(data),
    }
}

/// Suspend every active Azure plan of the customer, with approval.
fn plan_suspend(input: &PolicyInput<'_>, ev: &Signal<'_>, customer: &str, out: &mut PlanBuilder) {
    let Some(subs) = subscriptions(input, ev, customer, out) else {
        return;
    };
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
                "{}: the customer has no active Azure plan subscription to suspend",
                ev.what()
            ),
        );
        return;
    }
    for sub in targets {
        out.action(PlannedAction {
            key: format!("fraud-suspend/{customer}/{sub}/{}", ev.id),
            customer: Some(customer.to_owned()),
            kind: ActionKind::Suspend {
                subscription_id: sub.to_owned(),
                reason: SuspendReason::Fraud,
            },
            requires_approval: true,
            reason: format!(
                "Suspend Azure plan {sub} of {} because of {} ({}). Partner \
                 Center refuses to suspend an Azure plan that still has active Azure \
                 subscriptions or reservations; cancelling the compromised subscription may be \
                 needed instead.",
                ev.name,
                ev.what(),
                ev.kind
            ),
            findings: vec![ev.fp.clone()],
            after: vec![],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pc::models::FraudEvent;
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
                ..FraudConfig::default()
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

    #[test]
    fn graph_alerts_alone_make_findings_and_the_configured_response() {
        let mut s = snapshot(now());
        s.fraud_events = Section::NotChecked {
            reason: "App+User credentials not configured".into(),
        };
        let mut test_alert = security_alert("t1", "c2", "az9", "active");
        test_alert.is_test = Some(true);
        s.security_alerts = Section::Ok {
            data: vec![
                security_alert("a1", "c1", "az1", "active"),
                security_alert("a2", "c1", "az1", "resolved"),
                test_alert,
            ],
        };
        let p = go(&s, &config(FraudResponse::Cancel, true));
        let fps: Vec<_> = p.findings.iter().map(|f| f.fingerprint.as_str()).collect();
        assert_eq!(fps, ["fraud.alert:c1:a1", "fraud.alert:c2:t1"]);
        let f = &p.findings[0];
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.facts["confidence"], "medium");
        assert_eq!(f.facts["affected_resources"], "/subscriptions/x/vm-1");
        assert!(
            f.summary.contains("severity high, confidence medium"),
            "{}",
            f.summary
        );
        assert_eq!(p.findings[1].severity, Severity::Info);
        assert!(p.findings[1].summary.starts_with("TEST "));
        // The response works from the Graph source; the test alert gets none.
        assert_eq!(
            keys(&p),
            ["fraud-alert-status/a1/investigating", "fraud-cancel/c1/az1"]
        );
    }

    #[test]
    fn a_signal_in_both_sources_is_one_finding() {
        let mut s = snap(vec![fraud_event("ev1", "c1", "az1", "Active")]);
        s.security_alerts = Section::Ok {
            data: vec![
                security_alert("a1", "c1", "AZ1", "active"),
                security_alert("a2", "c1", "az2", "active"),
            ],
        };
        let p = go(&s, &config(FraudResponse::Cancel, false));
        let fps: Vec<_> = p.findings.iter().map(|f| f.fingerprint.as_str()).collect();
        assert_eq!(fps, ["fraud.alert:c1:a2", "fraud.event:c1:ev1"]);
        let merged = p
            .findings
            .iter()
            .find(|f| f.rule == "fraud.event")
            .expect("v1");
        assert_eq!(merged.facts["graph_alert_id"], "a1");
        assert!(merged.summary.contains("also Graph security alert a1"));
        assert_eq!(keys(&p), ["fraud-cancel/c1/az1", "fraud-cancel/c1/az2"]);
    }

    #[test]
    fn a_failed_graph_read_is_a_warning_beside_the_v1_events() {
        let mut s = snap(vec![fraud_event("ev1", "c1", "az1", "Active")]);
        s.security_alerts = Section::Failed {
            error: "403 on GET /beta/security/partner/securityAlerts".into(),
        };
        let p = go(&s, &config(FraudResponse::Alert, false));
        let fps: Vec<_> = p.findings.iter().map(|f| f.fingerprint.as_str()).collect();
        assert_eq!(fps, ["fraud.event:c1:ev1", "fraud.read_failed:graph"]);
    }

    #[test]
    fn sources_resolve_against_the_credentials() {
        let both = Available {
            graph: true,
            app_user: true,
        };
        let app_only = Available {
            graph: true,
            app_user: false,
        };
        let auto = FraudSources::Auto;
        assert!(auto.use_of(FraudSource::Graph, both).is_read());
        assert_eq!(
            auto.use_of(FraudSource::V1, app_only),
            SourceUse::Skip("App+User credentials not configured".into())
        );
        let only: FraudConfig = toml::from_str("sources = [\"graph\"]").expect("toml");
        assert_eq!(
            only.sources.use_of(FraudSource::V1, both),
            SourceUse::Skip("not selected in [fraud] sources".into())
        );
        let v1: FraudConfig = toml::from_str("sources = [\"v1\"]").expect("toml");
        let e = v1.sources.check(app_only).expect_err("no App+User");
        assert!(e.contains("[partner_center.app_user]"), "{e}");
        assert!(toml::from_str::<FraudConfig>("sources = \"graph\"").is_err());
        assert!(toml::from_str::<FraudConfig>("sources = [\"v2\"]").is_err());
        let auto: FraudConfig = toml::from_str("sources = \"auto\"").expect("toml");
        assert_eq!(auto.sources, FraudSources::Auto);
        assert!(FraudSources::Only(vec![]).check(both).is_err());
    }
}
