//! Tests of alert hygiene: grouping, intervals, inhibition, silences, the baseline, the bound on
//! emails per run, and the property that every new finding is emailed exactly once or held.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;
use crate::facts::Facts;
use crate::ledger::{FindingRow, Silence};
use crate::plan::{
    ActionKind, AlertGroupEmail, EntryStatus, Finding, GroupSend, HeldReason, PlannedAction,
    Severity,
};

fn now() -> Timestamp {
    "2026-11-21T08:00:00Z".parse().unwrap()
}

fn hours(h: i64) -> Timestamp {
    now().checked_add(SignedDuration::from_hours(h)).unwrap()
}

fn f(rule: &str, customer: &str, n: u32, severity: Severity) -> Finding {
    Finding {
        fingerprint: format!("{rule}:{customer}:{n}"),
        rule: rule.to_owned().into(),
        severity,
        customer: Some(customer.into()),
        summary: format!("{rule} on {customer} #{n}"),
        facts: Facts::from([("n", n.to_string())]),
    }
}

fn crit(rule: &str, customer: &str, n: u32) -> Finding {
    f(rule, customer, n, Severity::Critical)
}

/// The ledger as a test sees it between runs.
#[derive(Default)]
struct State {
    open: BTreeMap<String, FindingRow>,
    groups: BTreeMap<String, Timestamp>,
    silences: Vec<Silence>,
    baseline_at: Option<Timestamp>,
}

impl State {
    fn decide(&self, findings: &[Finding], cfg: &AlertConfig, at: Timestamp) -> Decision {
        let rows: Vec<FindingRow> = self.open.values().cloned().collect();
        let sources = sources(findings, &rows, &BTreeSet::new());
        decide(&DecideInput {
            findings,
            also: &[],
            open: &by_fingerprint(&rows),
            resolved: &[],
            sources: &sources,
            groups: &self.groups,
            silences: &self.silences,
            config: cfg,
            now: at,
            baseline_at: self.baseline_at,
            budget: cfg.max_groups,
            emailed: &BTreeSet::new(),
        })
    }

    /// What the executor does: record the findings, then mark every sent email.
    fn apply(&mut self, findings: &[Finding], d: &Decision, at: Timestamp) {
        for f in findings {
            let row = self
                .open
                .entry(f.fingerprint.clone())
                .or_insert(FindingRow {
                    fingerprint: f.fingerprint.clone(),
                    rule: f.rule.to_string(),
                    customer: f.customer.clone(),
                    severity: f.severity.as_str().into(),
                    summary: f.summary.clone(),
                    first_seen: at,
                    last_seen: at,
                    last_notified: None,
                    resolved_at: None,
                });
            row.summary = f.summary.clone();
            row.severity = f.severity.as_str().into();
        }
        for a in &d.emails {
            let g = group(a);
            for k in &g.groups {
                self.groups.insert(k.clone(), at);
            }
            for e in &g.entries {
                if let Some(r) = self.open.get_mut(&e.fingerprint) {
                    r.last_notified = Some(at);
                }
            }
        }
    }
}

/// The open rows as `decide` reads them.
fn by_fingerprint(rows: &[FindingRow]) -> BTreeMap<&str, &FindingRow> {
    rows.iter().map(|r| (r.fingerprint.as_str(), r)).collect()
}

fn group(a: &PlannedAction) -> &AlertGroupEmail {
    match &a.kind {
        ActionKind::OpsAlertGroup(g) => g,
        other => panic!("not a group email: {other:?}"),
    }
}

fn keys(d: &Decision) -> Vec<&str> {
    d.emails.iter().map(|a| a.key.as_str()).collect()
}

#[test]
fn findings_are_grouped_by_family_and_severity_one_email_per_group() {
    let cfg = AlertConfig::default();
    let mut findings: Vec<Finding> = (0..40)
        .map(|i| crit("activity.admin_grant", "c", i))
        .collect();
    findings.extend((0..11).map(|i| crit("budget.threshold", &format!("b{i}"), 0)));
    findings.push(f("budget.forecast", "b1", 0, Severity::Warning));
    let d = State::default().decide(&findings, &cfg, now());
    assert_eq!(
        keys(&d),
        [
            "alert-group/activity/critical/first",
            "alert-group/budget/critical/first"
        ]
    );
    assert_eq!(group(&d.emails[0]).entries.len(), 40);
    assert_eq!(
        group(&d.emails[1]).entries.len(),
        11,
        "the warning waits for the digest"
    );
    assert!(
        group(&d.emails[0])
            .entries
            .iter()
            .all(|e| e.status == EntryStatus::New)
    );
    assert_eq!(d.hygiene.families["activity"].grouped, 40);
    assert!(d.emails.iter().all(|a| a.customer.is_none()));
}

#[test]
fn rerun_sends_nothing_and_repeat_interval_repeats_each_group_once() {
    let cfg = AlertConfig::default();
    let findings = vec![
        crit("budget.threshold", "c1", 0),
        crit("fraud.event", "c2", 0),
    ];
    let mut st = State::default();
    let first = st.decide(&findings, &cfg, now());
    assert_eq!(first.emails.len(), 2);
    // Planned again before the email went out: the same keys (the ledger makes it a no-op).
    assert_eq!(keys(&st.decide(&findings, &cfg, now())), keys(&first));
    st.apply(&findings, &first, now());
    assert!(st.decide(&findings, &cfg, hours(1)).emails.is_empty());
    assert!(st.decide(&findings, &cfg, hours(23)).emails.is_empty());
    let repeat = st.decide(&findings, &cfg, hours(24));
    assert_eq!(repeat.emails.len(), 2);
    assert!(
        repeat
            .emails
            .iter()
            .all(|a| group(a).send == GroupSend::Repeat)
    );
    assert!(
        repeat
            .emails
            .iter()
            .all(|a| !a.key.ends_with("/first") && a.key.contains(&now().as_second().to_string()))
    );
    st.apply(&findings, &repeat, hours(24));
    assert!(st.decide(&findings, &cfg, hours(25)).emails.is_empty());
}

#[test]
fn new_findings_in_a_recently_emailed_group_wait_for_group_interval() {
    let cfg = AlertConfig::default();
    let mut st = State::default();
    let a = vec![crit("budget.threshold", "c1", 0)];
    let d = st.decide(&a, &cfg, now());
    st.apply(&a, &d, now());
    let mut b = a.clone();
    b.push(crit("budget.threshold", "c2", 0));
    let early = now().checked_add(SignedDuration::from_mins(10)).unwrap();
    let d = st.decide(&b, &cfg, early);
    assert!(d.emails.is_empty());
    assert!(matches!(
        d.hygiene.held[0].why,
        HeldReason::Deferred { ref group, .. } if group == "budget/critical"
    ));
    let later = now().checked_add(SignedDuration::from_mins(30)).unwrap();
    let d = st.decide(&b, &cfg, later);
    let g = group(&d.emails[0]);
    assert_eq!(g.send, GroupSend::Update);
    let statuses: Vec<_> = g.entries.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [EntryStatus::New, EntryStatus::Firing]);
    // A changed summary counts as news.
    st.apply(&b, &d, later);
    let mut c = b.clone();
    c[0].summary = "budget.threshold on c1: now 150%".into();
    let d = st.decide(&c, &cfg, hours(2));
    assert_eq!(group(&d.emails[0]).entries[0].status, EntryStatus::Changed);
}

#[test]
fn fraud_inhibits_the_same_customers_budget_and_anomaly_alerts_only() {
    let cfg = AlertConfig::default();
    let findings = vec![
        crit("fraud.event", "c1", 0),
        crit("budget.threshold", "c1", 0),
        crit("anomaly.spend", "c1", 0),
        crit("budget.threshold", "c2", 0),
    ];
    let d = State::default().decide(&findings, &cfg, now());
    let inhibited: Vec<_> = d
        .hygiene
        .held
        .iter()
        .filter(|h| matches!(h.why, HeldReason::Inhibited { ref by } if by == "fraud.event:c1:0"))
        .map(|h| h.fingerprint.as_str())
        .collect();
    assert_eq!(inhibited, ["budget.threshold:c1:0", "anomaly.spend:c1:0"]);
    assert_eq!(d.hygiene.families["budget"].inhibited, 1);
    assert!(sent_contains(&d, "fraud.event:c1:0"));
    assert!(sent_contains(&d, "budget.threshold:c2:0"));
    assert_eq!(d.emails.len(), 2);
}

fn sent_contains(d: &Decision, fp: &str) -> bool {
    d.emails
        .iter()
        .any(|a| group(a).entries.iter().any(|e| e.fingerprint == fp))
}

#[test]
fn the_breaker_inhibits_the_suspension_alerts_it_caused() {
    let cfg = AlertConfig::default();
    let mut st = State::default();
    st.open.insert(
        "enforce.breaker".into(),
        FindingRow {
            fingerprint: "enforce.breaker".into(),
            rule: "enforce.breaker".into(),
            customer: None,
            severity: "critical".into(),
            summary: "breaker".into(),
            first_seen: now(),
            last_seen: now(),
            last_notified: Some(now()),
            resolved_at: None,
        },
    );
    let findings = vec![crit("enforce.azure_plan_refused", "c1", 0)];
    let d = st.decide(&findings, &cfg, now());
    assert!(d.emails.is_empty());
    assert!(
        matches!(d.hygiene.held[0].why, HeldReason::Inhibited { ref by } if by == "enforce.breaker")
    );
}

fn silence(id: i64, matchers: &[&str], until: Timestamp) -> Silence {
    Silence {
        id,
        matchers: matchers.iter().map(|m| m.parse().unwrap()).collect(),
        until,
        reason: "planned migration".into(),
        created_by: "alice".into(),
        created_at: now(),
        expired_by: None,
        expired_at: None,
    }
}

#[test]
fn silences_hold_matching_findings_until_they_end() {
    let cfg = AlertConfig::default();
    let st = State {
        silences: vec![silence(7, &["rule=budget.*", "customer=c1"], hours(48))],
        ..State::default()
    };
    let findings = vec![
        crit("budget.threshold", "c1", 0),
        crit("budget.threshold", "c2", 0),
    ];
    let d = st.decide(&findings, &cfg, now());
    assert_eq!(d.hygiene.held.len(), 1);
    assert!(matches!(
        d.hygiene.held[0].why,
        HeldReason::Silenced { silence: 7, .. }
    ));
    assert_eq!(group(&d.emails[0]).entries.len(), 1);
    let after = st.decide(&findings, &cfg, hours(49));
    assert_eq!(
        group(&after.emails[0]).entries.len(),
        2,
        "the silence ended"
    );
}

#[test]
fn activity_before_the_first_run_is_baseline_not_alerted() {
    let cfg = AlertConfig::default();
    let st = State {
        baseline_at: Some(now()),
        ..State::default()
    };
    let mut old = crit("activity.young_order", "c1", 0);
    old.facts.insert("operation_date", "2026-11-20T10:00:00Z");
    let mut new = crit("activity.young_order", "c1", 1);
    new.facts.insert("operation_date", "2026-11-21T09:00:00Z");
    let d = st.decide(&[old, new], &cfg, hours(2));
    assert_eq!(d.hygiene.held.len(), 1);
    assert_eq!(d.hygiene.held[0].why, HeldReason::Baseline);
    assert_eq!(
        group(&d.emails[0]).entries[0].fingerprint,
        "activity.young_order:c1:1"
    );
    let off = AlertConfig {
        baseline: false,
        ..AlertConfig::default()
    };
    let mut old = crit("activity.young_order", "c1", 0);
    old.facts.insert("operation_date", "2026-11-20T10:00:00Z");
    assert_eq!(st.decide(&[old], &off, hours(2)).emails.len(), 1);
}

#[test]
fn groups_beyond_max_groups_are_folded_into_the_last_email_never_dropped() {
    let cfg = AlertConfig {
        max_groups: 3,
        group_by: vec![GroupLabel::Customer],
        ..AlertConfig::default()
    };
    let findings: Vec<Finding> = (0..7)
        .map(|i| crit("budget.threshold", &format!("c{i}"), 0))
        .collect();
    let d = State::default().decide(&findings, &cfg, now());
    assert_eq!(d.emails.len(), 3);
    let last = group(&d.emails[2]);
    assert_eq!(last.groups.len(), 5);
    assert!(d.emails[2].key.starts_with("alert-group/folded-5/"));
    let total: usize = d.emails.iter().map(|a| group(a).entries.len()).sum();
    assert_eq!(total, 7);
    // Marking the folded email moves every group it covers.
    let mut st = State::default();
    st.apply(&findings, &d, now());
    assert!(st.decide(&findings, &cfg, hours(1)).emails.is_empty());
}

#[test]
fn resolved_findings_are_listed_when_configured() {
    let cfg = AlertConfig {
        send_resolved: true,
        ..AlertConfig::default()
    };
    let mut st = State::default();
    let a = vec![
        crit("budget.threshold", "c1", 0),
        crit("budget.threshold", "c2", 0),
    ];
    let d = st.decide(&a, &cfg, now());
    st.apply(&a, &d, now());
    let gone = st.open["budget.threshold:c2:0"].clone();
    let rows: Vec<FindingRow> = st.open.values().cloned().collect();
    let sources = sources(&a[..1], &rows, &BTreeSet::new());
    let d = decide(&DecideInput {
        findings: &a[..1],
        also: &[],
        open: &by_fingerprint(&rows),
        resolved: std::slice::from_ref(&gone),
        sources: &sources,
        groups: &st.groups,
        silences: &[],
        config: &cfg,
        now: hours(1),
        baseline_at: None,
        budget: 10,
        emailed: &BTreeSet::new(),
    });
    let g = group(&d.emails[0]);
    assert_eq!(g.send, GroupSend::Update);
    assert_eq!(g.entries[1].status, EntryStatus::Resolved);
}

#[test]
fn config_validation_names_the_problem() {
    let bad = AlertConfig {
        group_by: vec![],
        ..AlertConfig::default()
    };
    assert!(bad.validate().unwrap_err().contains("group_by"));
    let bad = AlertConfig {
        max_groups: 0,
        ..AlertConfig::default()
    };
    assert!(bad.validate().unwrap_err().contains("max_groups"));
    assert!(AlertConfig::default().validate().is_ok());
}

const RULES: &[&str] = &[
    "activity.admin_grant",
    "activity.young_order",
    "activity.signup_burst",
    "activity.fraud_detected",
    "budget.threshold",
    "budget.forecast",
    "fraud.event",
    "anomaly.spend",
    "dunning.import_failed",
    "enforce.azure_plan_refused",
    "enforce.breaker",
];

fn arb_finding() -> impl Strategy<Value = Finding> {
    (0..RULES.len(), 0..3u8, 0..12u32, 0..4u32).prop_map(|(r, s, c, n)| {
        let severity = match s {
            0 => Severity::Info,
            1 => Severity::Warning,
            _ => Severity::Critical,
        };
        f(RULES[r], &format!("c{c}"), n, severity)
    })
}

fn arb_config() -> impl Strategy<Value = AlertConfig> {
    (1..12usize, 0..3u8, 0..3u8).prop_map(|(max_groups, g, m)| AlertConfig {
        max_groups,
        group_by: match g {
            0 => vec![GroupLabel::Family, GroupLabel::Severity],
            1 => vec![GroupLabel::Rule],
            _ => vec![GroupLabel::Customer, GroupLabel::Family],
        },
        min_severity: match m {
            0 => Severity::Info,
            1 => Severity::Warning,
            _ => Severity::Critical,
        },
        ..AlertConfig::default()
    })
}

proptest! {
    /// For any findings: the ops emails of a run are at most the number of groups (and at most
    /// `max_groups`), and every new finding at or above the minimum severity is in exactly one
    /// email of the run it first appears in, unless silenced or inhibited, and then it is held
    /// (listed in the digest). A rerun at once sends nothing.
    #[test]
    fn emails_are_bounded_and_every_new_finding_is_emailed_once_or_held(
        raw in proptest::collection::vec(arb_finding(), 0..80),
        cfg in arb_config(),
        silenced_customer in proptest::option::of(0..12u32),
    ) {
        let mut seen = BTreeSet::new();
        let findings: Vec<Finding> =
            raw.into_iter().filter(|f| seen.insert(f.fingerprint.clone())).collect();
        let mut st = State::default();
        if let Some(c) = silenced_customer {
            st.silences = vec![silence(1, &[&format!("customer=c{c}")], hours(48))];
        }
        let d = st.decide(&findings, &cfg, now());
        let due: Vec<&Finding> =
            findings.iter().filter(|f| f.severity >= cfg.min_severity).collect();
        let groups: BTreeSet<String> = due
            .iter()
            .map(|f| {
                cfg.group_by
                    .iter()
                    .map(|l| match l {
                        GroupLabel::Family => crate::plan::rule_family(&f.rule).to_owned(),
                        GroupLabel::Rule => f.rule.to_string(),
                        GroupLabel::Severity => f.severity.as_str().to_owned(),
                        GroupLabel::Customer => f.customer.clone().unwrap_or_default(),
                    })
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect();
        prop_assert!(d.emails.len() <= groups.len());
        prop_assert!(d.emails.len() <= cfg.max_groups);
        let mut in_email: BTreeMap<&str, usize> = BTreeMap::new();
        for a in &d.emails {
            for e in &group(a).entries {
                *in_email.entry(e.fingerprint.as_str()).or_default() += 1;
            }
        }
        let held: BTreeMap<&str, &HeldReason> =
            d.hygiene.held.iter().map(|h| (h.fingerprint.as_str(), &h.why)).collect();
        prop_assert_eq!(held.len(), d.hygiene.held.len(), "held at most once");
        for f in &due {
            let emailed = in_email.get(f.fingerprint.as_str()).copied().unwrap_or(0);
            match held.get(f.fingerprint.as_str()) {
                Some(why) => {
                    prop_assert_eq!(emailed, 0);
                    let silenced_or_inhibited =
                        matches!(why, HeldReason::Silenced { .. } | HeldReason::Inhibited { .. });
                    prop_assert!(silenced_or_inhibited, "held only when silenced or inhibited");
                }
                None => prop_assert_eq!(emailed, 1, "{} emailed once", f.fingerprint),
            }
        }
        prop_assert_eq!(in_email.len(), in_email.values().sum::<usize>());
        prop_assert!(in_email.keys().all(|fp| due.iter().any(|f| f.fingerprint == *fp)));
        st.apply(&findings, &d, now());
        prop_assert!(st.decide(&findings, &cfg, hours(1)).emails.is_empty());
    }
}
