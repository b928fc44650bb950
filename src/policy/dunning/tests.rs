//! The dunning tests: config, the ladder stage by stage, holds, disputes, recipients,
//! cancellations and reactivation, each against a scripted customer and a temporary ledger.

use super::history::{suspend_key_invoice, with_generation};
use super::reactivation::is_nonpayment;
use super::*;
use crate::ledger::{ActionStatus, Ledger, NewAction, NewNotice};
use crate::plan::{ActionKind, DetailNeed, NoticeInvoice, Plan, PlannedAction, SuspendReason};
use crate::policy::testkit::{
    customer, date, dec, detail, ledger, matched, profile, receivable, run, snapshot, subscription,
    ts,
};
use crate::policy::{CustomerOverride, PolicyConfig};
use crate::receivables::UnmatchedReason;
use crate::receivables::matching::Unmatched;
use crate::snapshot::{Section, Snapshot};

const C: &str = "c1";

/// One customer, Contoso, with a billing profile and three subscriptions: an active licence,
/// an active Azure plan and a licence Microsoft suspended.
pub(super) struct World {
    pub snap: Snapshot,
    pub rows: Vec<Receivable>,
    pub ledger: Ledger,
    pub config: PolicyConfig,
}

impl World {
    pub fn new() -> World {
        let mut snap = snapshot(ts("2026-11-21T08:00:00Z"));
        snap.customers = Section::Ok {
            data: vec![customer(C, "Contoso")],
        };
        snap.details.insert(
            C.into(),
            detail(
                Some(profile(Some("ap@contoso.example"), Some("sv-SE"), "SE")),
                vec![
                    subscription("s1", "active", "O365 E3"),
                    subscription("s2", "active", "azure"),
                    subscription("s3", "suspended", "Visio"),
                ],
            ),
        );
        World {
            snap,
            rows: vec![],
            ledger: ledger(),
            config: PolicyConfig::default(),
        }
    }

    pub fn plan(&self, now: &str) -> Plan {
        self.plan_tz(now, None)
    }

    pub fn plan_tz(&self, now: &str, tz: Option<&str>) -> Plan {
        run(
            &self.snap,
            &matched(self.rows.clone()),
            &self.ledger,
            &self.config,
            ts(now),
            tz,
        )
    }

    /// Plan at `now` and execute everything planned at `now`.
    pub fn step(&self, now: &str) -> Plan {
        let p = self.plan(now);
        apply(&self.ledger, &p, ts(now), true);
        p
    }
}

/// Write a plan's actions and cancellations into the ledger; with `execute`, approve, claim
/// and finish them as the executor would (notices recorded, suspensions recorded).
pub(super) fn apply(l: &Ledger, p: &Plan, now: Timestamp, execute: bool) {
    for c in &p.cancellations {
        if let Some(row) = l.action_by_key(&c.key).unwrap() {
            l.cancel(row.id, SYSTEM_ACTOR, &c.reason, now).unwrap();
        }
    }
    // Suspensions and reactivations first: notices wait for them (`after`).
    let mut actions: Vec<&PlannedAction> = p.actions.iter().collect();
    actions.sort_by_key(|a| matches!(a.kind, ActionKind::CustomerNotice { .. }));
    for a in actions {
        let row = l
            .insert_action(
                &NewAction {
                    key: a.key.clone(),
                    kind: a.kind.name().to_owned(),
                    customer: a.customer.clone(),
                    payload: serde_json::to_value(&a.kind).unwrap(),
                    requires_approval: a.requires_approval,
                    reason: a.reason.clone(),
                },
                now,
            )
            .unwrap();
        if !execute {
            continue;
        }
        if row.status == ActionStatus::AwaitingApproval {
            l.approve(row.id, "ops@partner", now).unwrap();
        }
        if l.claim(row.id, now).unwrap().is_none() {
            continue;
        }
        let customer = a.customer.clone().unwrap();
        match &a.kind {
            ActionKind::CustomerNotice { to, template, .. } => {
                l.record_notice(
                    &NewNotice {
                        customer: Some(customer),
                        recipient: to.clone().unwrap(),
                        template: template.clone(),
                        locale: "en".into(),
                        message_id: format!("<{}@test>", a.key),
                        action_key: Some(a.key.clone()),
                    },
                    now,
                )
                .unwrap();
            }
            ActionKind::Suspend {
                subscription_id, ..
            } => {
                l.record_suspension(&customer, subscription_id, &a.key, "nonpayment", now)
                    .unwrap();
            }
            ActionKind::Reactivate {
                subscription_id, ..
            } => {
                l.record_reactivation(&customer, subscription_id, &a.key, now)
                    .unwrap();
            }
            _ => {}
        }
        l.mark_done(row.id, &serde_json::json!({}), now).unwrap();
    }
}

pub(super) fn keys(p: &Plan) -> Vec<&str> {
    p.actions.iter().map(|a| a.key.as_str()).collect()
}

fn notice(p: &Plan) -> Option<(&PlannedAction, &str, &[NoticeInvoice], Option<Date>)> {
    p.actions.iter().find_map(|a| match &a.kind {
        ActionKind::CustomerNotice {
            stage,
            invoices,
            suspension_date,
            ..
        } => Some((a, stage.as_str(), invoices.as_slice(), *suspension_date)),
        _ => None,
    })
}

fn stage_of(p: &Plan) -> Option<String> {
    notice(p).map(|(_, s, _, _)| s.to_owned())
}

fn skips(p: &Plan) -> String {
    p.skipped
        .iter()
        .map(|s| s.reason.as_str())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Asserts that some skip reason of `p` contains `why`.
#[track_caller]
fn assert_skipped(p: &Plan, why: &str) {
    let all = skips(p);
    assert!(all.contains(why), "no skip says {why:?}: {all}");
}

/// Asserts that `p` plans no action and that a skip reason contains `why`.
#[track_caller]
fn assert_nothing_planned(p: &Plan, why: &str) {
    assert!(p.actions.is_empty(), "{:?}", keys(p));
    assert_skipped(p, why);
}

/// Records that cspguard suspended `subscription` of customer `C` for nonpayment on
/// 2026-11-01 under the action `key`.
fn suspended_for_nonpayment(ledger: &Ledger, subscription: &str, key: &str) {
    ledger
        .record_suspension(
            C,
            subscription,
            key,
            "nonpayment",
            ts("2026-11-01T08:00:00Z"),
        )
        .unwrap();
}

fn finding<'p>(p: &'p Plan, fp: &str) -> Option<&'p Finding> {
    p.findings.iter().find(|f| f.fingerprint == fp)
}

// ---- config ---------------------------------------------------------------------------

#[test]
fn default_ladder_is_valid_and_toml_parses_with_defaults() {
    let d = DunningConfig::default();
    assert_eq!(d.validate(), Ok(()));
    assert_eq!(d.final_notice_index(), Some(2));
    assert_eq!(d.suspend_index(), Some(3));
    assert!(d.stages[3].requires_approval);
    assert_eq!(d.stages[3].template, "suspension-notice");

    let c: DunningConfig = toml::from_str(
        r#"
        min_gap_days = 2
        [[stages]]
        name = "pre-due"
        days = -3
        template = "pre-due"
        [[stages]]
        name = "reminder"
        days = 1
        template = "reminder-1"
        min_overdue_amount = "100.50"
        [[stages]]
        name = "final"
        days = 10
        template = "final-notice"
        kind = "final_notice"
        min_overdue_amount = 50
        "#,
    )
    .unwrap();
    assert_eq!(c.validate(), Ok(()));
    assert!(c.enabled);
    assert_eq!(c.min_gap_days, 2);
    assert_eq!(c.final_notice_lead_days, 7);
    assert_eq!(c.stages[0].kind, StageKind::Notice);
    assert_eq!(c.stages[1].min_overdue_amount, Some(dec("100.50")));
    assert_eq!(c.stages[2].min_overdue_amount, Some(dec("50")));
    assert!(
        toml::from_str::<DunningConfig>("min_gap = 2").is_err(),
        "unknown key"
    );
}

#[test]
fn validate_names_each_ladder_mistake() {
    let base = DunningConfig::default();
    type Edit = Box<dyn Fn(&mut DunningConfig)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "greater than the previous",
            Box::new(|c| c.stages[1].days = 1),
        ),
        (
            "used twice",
            Box::new(|c| c.stages[1].name = "reminder-1".into()),
        ),
        (
            "template is empty",
            Box::new(|c| c.stages[0].template = " ".into()),
        ),
        (
            "at most one is allowed",
            Box::new(|c| c.stages[1].kind = StageKind::FinalNotice),
        ),
        (
            "needs a final_notice stage before it",
            Box::new(|c| c.stages[2].kind = StageKind::Notice),
        ),
        (
            "must be the last stage",
            Box::new(|c| {
                c.stages
                    .push(StageConfig::new("late", 30, StageKind::Notice, "late"))
            }),
        ),
        (
            "reserved",
            Box::new(|c| c.stages[0].name = "reactivation".into()),
        ),
        ("without '/'", Box::new(|c| c.stages[0].name = "a/b".into())),
        (
            "negative",
            Box::new(|c| c.stages[0].min_overdue_amount = Some(dec("-1"))),
        ),
        ("min_gap_days", Box::new(|c| c.min_gap_days = -1)),
    ];
    for (want, edit) in cases {
        let mut c = base.clone();
        edit(&mut c);
        let err = c.validate().expect_err(want);
        assert!(err.contains(want), "{want:?} not in {err:?}");
    }
}

#[test]
fn invalid_config_plans_nothing_and_says_why() {
    let mut w = World::new();
    w.rows = vec![receivable(C, "INV-1", "2026-11-01", "100", "0")];
    w.config.dunning.stages[1].days = 0;
    let p = w.plan("2026-11-21T08:00:00Z");
    assert_nothing_planned(&p, "invalid dunning config");
}

// ---- days, amounts, time zones --------------------------------------------------------

#[test]
fn stage_boundaries_by_days_past_due() {
    // Due 2026-11-10; Stockholm is UTC+1 in November, 08:00Z is 09:00 local.
    let cases = [
        ("2026-11-10", None),
        ("2026-11-11", Some("reminder-1")),
        ("2026-11-16", Some("reminder-1")),
        ("2026-11-17", Some("reminder-2")),
        ("2026-11-23", Some("reminder-2")),
        ("2026-11-24", Some("final-notice")),
        ("2026-12-01", Some("final-notice")),
    ];
    for (day, want) in cases {
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", "2026-11-10", "100", "0")];
        let p = w.plan(&format!("{day}T08:00:00Z"));
        assert_eq!(stage_of(&p).as_deref(), want, "on {day}: {:?}", keys(&p));
        let n = p
            .actions
            .iter()
            .filter(|a| matches!(a.kind, ActionKind::CustomerNotice { .. }))
            .count();
        assert_eq!(
            n,
            usize::from(want.is_some()),
            "one notice at most, on {day}"
        );
    }
}

#[test]
fn min_amount_boundary_uses_the_remaining_balance() {
    let cases = [
        ("99.99", "0", None),
        ("100", "0", Some("reminder-1")),
        ("150", "50.01", None),
        ("150", "50", Some("reminder-1")),
    ];
    for (amount, paid, want) in cases {
        let mut w = World::new();
        w.config.dunning.stages[0].min_overdue_amount = Some(dec("100"));
        w.rows = vec![receivable(C, "INV-1", "2026-11-18", amount, paid)];
        let p = w.plan("2026-11-21T08:00:00Z");
        assert_eq!(stage_of(&p).as_deref(), want, "{amount} paid {paid}");
    }
}

#[test]
fn min_amount_sums_the_customers_overdue_in_the_same_currency_only() {
    let mut w = World::new();
    w.config.dunning.stages[0].min_overdue_amount = Some(dec("100"));
    let mut sek = receivable(C, "INV-3", "2026-11-18", "500", "0");
    sek.currency = "SEK".into();
    w.rows = vec![
        receivable(C, "INV-1", "2026-11-18", "60", "0"),
        receivable(C, "INV-2", "2026-11-19", "40", "0"),
        sek,
        // Not overdue yet: does not count.
        receivable(C, "INV-4", "2026-11-30", "1000", "0"),
    ];
    let p = w.plan("2026-11-21T08:00:00Z");
    let (_, stage, invs, _) = notice(&p).unwrap();
    assert_eq!(stage, "reminder-1");
    let listed: Vec<&str> = invs.iter().map(|i| i.invoice.as_str()).collect();
    assert_eq!(
        listed,
        ["INV-1", "INV-3", "INV-2"],
        "SEK 500 meets 100 on its own"
    );
    w.rows.remove(1);
    w.rows.remove(1);
    let p = w.plan("2026-11-21T08:00:00Z");
    assert!(notice(&p).is_none(), "EUR 60 alone is below 100");
}

#[test]
fn pre_due_reminder_stage() {
    let mut w = World::new();
    w.config.dunning.stages.insert(
        0,
        StageConfig::new("pre-due", -3, StageKind::Notice, "pre-due"),
    );
    w.rows = vec![receivable(C, "INV-1", "2026-11-24", "100", "0")];
    assert!(
        w.plan("2026-11-20T08:00:00Z").actions.is_empty(),
        "4 days before"
    );
    let p = w.plan("2026-11-21T08:00:00Z");
    let (a, stage, invs, _) = notice(&p).unwrap();
    assert_eq!(stage, "pre-due");
    assert_eq!(invs[0].days_past_due, -3);
    assert!(
        a.reason.contains("due in 3 days (2026-11-24)"),
        "{}",
        a.reason
    );
    assert!(a.reason.contains("reached at -3"), "{}", a.reason);
    assert!(
        finding(&p, "dunning.overdue:c1").is_none(),
        "not overdue yet"
    );
}

#[test]
fn local_day_not_utc_day_decides() {
    // 23:30 UTC on the 20th is 00:30 on the 21st in Stockholm.
    let mut w = World::new();
    w.rows = vec![receivable(C, "INV-1", "2026-11-20", "100", "0")];
    let now = "2026-11-20T23:30:00Z";
    assert_eq!(stage_of(&w.plan(now)).as_deref(), Some("reminder-1"));
    assert_eq!(stage_of(&w.plan_tz(now, Some("UTC"))), None);
    // One minute before local midnight: still the due date.
    assert_eq!(stage_of(&w.plan("2026-11-20T22:59:00Z")), None);
    // Westward: 02:00 UTC on the 21st is still the 20th in New York.
    assert_eq!(
        stage_of(&w.plan_tz("2026-11-21T02:00:00Z", Some("America/New_York"))),
        None
    );
}

#[test]
fn daylight_saving_days_are_local_calendar_days() {
    // Spring forward 2026-03-29 (02:00 CET -> 03:00 CEST): a 23-hour day still counts once.
    let cases = [
        ("2026-03-28", "2026-03-29T21:59:00Z", 1), // 23:59 CEST on the 29th
        ("2026-03-28", "2026-03-29T22:00:00Z", 2), // 00:00 CEST on the 30th
        ("2026-10-24", "2026-10-25T22:59:00Z", 1), // 23:59 CET on the 25th (25 h day)
        ("2026-10-24", "2026-10-25T23:00:00Z", 2), // 00:00 CET on the 26th
    ];
    for (due, now, dpd) in cases {
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", due, "100", "0")];
        let p = w.plan(now);
        let (_, _, invs, _) = notice(&p).unwrap();
        assert_eq!(invs[0].days_past_due, dpd, "due {due} at {now}");
    }
}

#[test]
fn min_gap_boundary_in_local_days_across_dst() {
    // Last notice 2026-10-25 00:30 CEST (22:30Z on the 24th). Fall back the same night.
    let cases = [
        ("2026-10-27T22:59:00Z", false), // 23:59 CET on the 27th: 2 local days (72.5 h)
        ("2026-10-27T23:00:00Z", true),  // 00:00 CET on the 28th: 3 local days
    ];
    for (now, allowed) in cases {
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", "2026-10-20", "100", "0")];
        w.ledger
            .record_notice(
                &NewNotice {
                    customer: Some(C.into()),
                    recipient: "ap@contoso.example".into(),
                    template: "budget-threshold".into(),
                    locale: "sv".into(),
                    message_id: "<m1@test>".into(),
                    action_key: None,
                },
                ts("2026-10-24T22:30:00Z"),
            )
            .unwrap();
        let p = w.plan(now);
        assert_eq!(notice(&p).is_some(), allowed, "at {now}: {}", skips(&p));
        if !allowed {
            assert_skipped(
                &p,
                "waiting: last notice on 2026-10-25; next notice allowed from 2026-10-28",
            );
        }
    }
}

#[test]
fn min_gap_two_versus_three_days_after_a_reminder() {
    let mut w = World::new();
    w.rows = vec![receivable(C, "INV-1", "2026-11-09", "100", "0")];
    // Reminder-1 sent on the 15th (6 days past due).
    assert_eq!(
        stage_of(&w.step("2026-11-15T08:00:00Z")).as_deref(),
        Some("reminder-1")
    );
    // A second invoice is at reminder-1 on the 16th and reminder-2 of INV-1 is due from the
    // 16th: still within the gap on the 17th.
    w.rows.push(receivable(C, "INV-2", "2026-11-15", "50", "0"));
    let p = w.plan("2026-11-17T08:00:00Z");
    assert_nothing_planned(&p, "next notice allowed from 2026-11-18");
    let p = w.plan("2026-11-18T08:00:00Z");
    assert_eq!(keys(&p), ["notice/c1/reminder-2/INV-1"]);
    let (_, _, invs, _) = notice(&p).unwrap();
    assert_eq!(invs.len(), 2);
    assert_eq!(invs[1].invoice, "INV-2");
    assert_eq!(invs[1].stage_index, 0, "INV-2 reaches reminder-1 with it");
}

// ---- catch-up, partial payment, idempotency -------------------------------------------

#[test]
fn catch_up_sends_only_the_highest_stage_due() {
    let mut w = World::new();
    w.rows = vec![
        receivable(C, "INV-104", "2026-10-22", "1240", "0"),
        receivable(C, "INV-105", "2026-11-18", "200", "0"),
    ];
    // 30 days past due, nothing sent: suspension is due but there was no final notice.
    let p = w.plan("2026-11-21T08:00:00Z");
    assert_eq!(keys(&p), ["notice/c1/final-notice/INV-104"]);
    let (a, stage, invs, susp) = notice(&p).unwrap();
    assert_eq!(stage, "final-notice");
    assert_eq!(susp, Some(date("2026-11-28")), "today + 7 lead days");
    assert_eq!(invs[0].stage_index, 2);
    assert_eq!(invs[1].stage_index, 0);
    assert_eq!(
        a.reason,
        "INV-104 (€1,240.00) 30 days past due; stage suspension reached at +21; \
         catch-up: reminder-1, reminder-2 not sent, only this notice is; also listed: \
         INV-105 (€200.00, 3 days past due); names suspension date 2026-11-28"
    );
    assert!(!a.requires_approval);
    let f = finding(&p, "dunning.overdue:c1").unwrap();
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.summary,
        "Contoso: 2 invoices overdue, €1,440.00 outstanding; oldest INV-104 (€1,240.00) is \
         30 days past due; stage suspension; last notice none"
    );
    assert_eq!(f.facts["outstanding_EUR"], "1440");
    assert_eq!(f.facts["oldest_days_past_due"], "30");
}

#[test]
fn final_notice_names_due_plus_suspension_days_when_later() {
    let mut w = World::new();
    w.rows = vec![receivable(C, "INV-1", "2026-11-07", "100", "0")];
    let p = w.plan("2026-11-21T08:00:00Z");
    let (_, stage, _, susp) = notice(&p).unwrap();
    assert_eq!(stage, "final-notice");
    // due + 21 = 2026-11-28 = today + 7: equal; one day earlier due gives today + 7.
    assert_eq!(susp, Some(date("2026-11-28")));
    w.config.dunning.final_notice_lead_days = 3;
    let (_, _, _, susp) = notice(&w.plan("2026-11-21T08:00:00Z")).unwrap();
    assert_eq!(
        susp,
        Some(date("2026-11-28")),
        "due + 21 wins over today + 3"
    );
}

#[test]
fn partial_payment_keeps_the_invoice_on_the_remaining_balance() {
    let mut w = World::new();
    w.rows = vec![receivable(C, "INV-1", "2026-11-14", "1000", "0")];
    w.step("2026-11-15T08:00:00Z");
    w.rows = vec![receivable(C, "INV-1", "2026-11-14", "1000", "600")];
    let p = w.plan("2026-11-21T08:00:00Z");
    let (a, stage, invs, _) = notice(&p).unwrap();
    assert_eq!(stage, "reminder-2");
    assert_eq!(invs[0].outstanding, dec("400"));
    assert_eq!(invs[0].amount, dec("1000"));
    assert!(
        a.reason.starts_with("INV-1 (€400.00) 7 days past due"),
        "{}",
        a.reason
    );
}

#[test]
fn evaluating_twice_plans_no_new_keys_and_pending_blocks_the_next_stage() {
    let mut w = World::new();
    w.rows = vec![receivable(C, "INV-1", "2026-11-01", "100", "0")];
    let first = w.plan("2026-11-16T08:00:00Z");
    assert_eq!(keys(&first), ["notice/c1/final-notice/INV-1"]);
    apply(&w.ledger, &first, ts("2026-11-16T08:00:00Z"), false);
    let again = w.plan("2026-11-16T08:05:00Z");
    assert!(again.actions.is_empty(), "{:?}", keys(&again));
    // Days later, while it is still pending, nothing else is planned either.
    let later = w.plan("2026-11-23T08:00:00Z");
    assert!(later.actions.is_empty(), "{:?}", keys(&later));
    assert!(skips(&later).contains("notice/c1/final-notice/INV-1 is still planned"));
}

#[test]
fn a_stage_is_not_planned_again_after_it_was_sent_and_the_ladder_advances() {
    let mut w = World::new();
    w.rows = vec![receivable(C, "INV-1", "2026-11-01", "100", "0")];
    let mut seen = BTreeSet::new();
    for day in 2..=30 {
        let now = format!("2026-11-{day:02}T08:00:00Z");
        let p = w.step(&now);
        for k in keys(&p) {
            assert!(seen.insert(k.to_owned()), "{k} planned twice (on {now})");
        }
    }
    let sent: Vec<String> = w
        .ledger
        .notices(Some(C), None)
        .unwrap()
        .into_iter()
        .map(|n| format!("{} {}", n.sent_at, n.template))
        .collect();
    assert_eq!(
        sent,
        [
            "2026-11-02T08:00:00Z reminder-1",
            "2026-11-08T08:00:00Z reminder-2",
            "2026-11-15T08:00:00Z final-notice",
            "2026-11-22T08:00:00Z suspension-notice",
        ]
    );
    assert!(seen.contains("suspend/c1/s1/INV-1"));
    assert_eq!(w.ledger.active_suspensions(Some(C)).unwrap().len(), 1);
}

// ---- suspension -----------------------------------------------------------------------

/// INV-1 due 2026-10-20; the catch-up final notice goes out on 2026-11-14 (25 days past due)
/// naming 2026-11-21.
fn after_final_notice() -> World {
    let mut w = World::new();
    w.rows = vec![receivable(C, "INV-1", "2026-10-20", "500", "0")];
    let p = w.step("2026-11-14T08:00:00Z");
    assert_eq!(notice(&p).unwrap().3, Some(date("2026-11-21")));
    w
}

#[test]
fn suspension_waits_for_the_final_notice_lead_days() {
    let w = after_final_notice();
    let p = w.plan("2026-11-20T08:00:00Z");
    assert_nothing_planned(
        &p,
        "suspension waits: final notice sent 2026-11-14, suspension allowed from \
             2026-11-21",
    );
    // 22:59Z on the 20th is 23:59 local: still waiting; 23:00Z is the 21st locally.
    assert!(w.plan("2026-11-20T22:59:00Z").actions.is_empty());
    let p = w.plan("2026-11-20T23:00:00Z");
    assert_eq!(
        keys(&p),
        ["notice/c1/suspension/INV-1", "suspend/c1/s1/INV-1"],
        "only the active licence: not the Azure plan, not the suspended one"
    );
    let sus = p
        .actions
        .iter()
        .find(|a| a.key.starts_with("suspend/"))
        .unwrap();
    assert!(sus.requires_approval);
    assert_eq!(
        sus.kind,
        ActionKind::Suspend {
            subscription_id: "s1".into(),
            reason: SuspendReason::Nonpayment
        }
    );
    let (n, stage, _, _) = notice(&p).unwrap();
    assert_eq!(stage, "suspension");
    assert_eq!(n.after, ["suspend/c1/s1/INV-1"]);
    assert!(!n.requires_approval);
}

#[test]
fn suspension_scope_follows_the_config() {
    let mut w = after_final_notice();
    w.config.dunning.suspend_azure_plans = true;
    w.config.dunning.suspend_billing_types = vec!["license".into(), "usage".into()];
    let p = w.plan("2026-11-21T08:00:00Z");
    assert!(keys(&p).contains(&"suspend/c1/s2/INV-1"), "{:?}", keys(&p));
    w.config.dunning.suspend_azure_plans = false;
    w.config.dunning.suspend_billing_types = vec!["usage".into()];
    let p = w.plan("2026-11-21T08:00:00Z");
    assert_nothing_planned(&p, "no subscription is in scope");
}

#[test]
fn no_suspension_without_a_sent_final_notice() {
    let mut w = World::new();
    w.rows = vec![receivable(C, "INV-1", "2026-10-20", "500", "0")];
    let p = w.plan("2026-11-14T08:00:00Z");
    apply(&w.ledger, &p, ts("2026-11-14T08:00:00Z"), false);
    // The final notice failed for good: it counts as its stage, but was never sent.
    let row = w
        .ledger
        .action_by_key("notice/c1/final-notice/INV-1")
        .unwrap()
        .unwrap();
    w.ledger.claim(row.id, ts("2026-11-14T08:00:00Z")).unwrap();
    let mut l = w.ledger;
    l.set_retry_policy(crate::ledger::RetryPolicy {
        max_attempts: 1,
        ..l.retry_policy()
    });
    l.mark_failed(row.id, "smtp down", ts("2026-11-14T08:00:01Z"))
        .unwrap();
    w.ledger = l;
    let p = w.plan("2026-12-01T08:00:00Z");
    assert_nothing_planned(
        &p,
        "suspension waits: no final notice for INV-1 was sent yet",
    );
}

#[test]
fn missing_or_failed_detail_plans_nothing_for_that_customer() {
    let mut w = after_final_notice();
    w.snap.details.clear();
    let p = w.plan("2026-11-21T08:00:00Z");
    assert!(p.actions.is_empty());
    assert_eq!(
        p.needs_detail.get(C),
        Some(&DetailNeed {
            profile: true,
            subscriptions: true
        })
    );
    assert_skipped(&p, "detail not fetched");

    let mut w = after_final_notice();
    if let Some(d) = w.snap.details.get_mut(C) {
        d.subscriptions = Section::Failed {
            error: "HTTP 500".into(),
        };
    }
    let p = w.plan("2026-11-21T08:00:00Z");
    assert_nothing_planned(&p, "subscriptions could not be read (HTTP 500)");

    // A notice needs only the profile.
    let mut w = World::new();
    w.rows = vec![receivable(C, "INV-1", "2026-11-18", "100", "0")];
    w.snap.details.clear();
    let p = w.plan("2026-11-21T08:00:00Z");
    assert!(p.actions.is_empty());
    assert_eq!(
        p.needs_detail.get(C),
        Some(&DetailNeed {
            profile: true,
            subscriptions: false
        })
    );
}

#[test]
fn person_rejection_is_final_but_a_system_cancellation_is_replanned() {
    let w = after_final_notice();
    let now = ts("2026-11-21T08:00:00Z");
    let p = w.plan("2026-11-21T08:00:00Z");
    apply(&w.ledger, &p, now, false);
    let sus = w
        .ledger
        .action_by_key("suspend/c1/s1/INV-1")
        .unwrap()
        .unwrap();
    w.ledger
        .reject(sus.id, "anna", "promised to pay", now)
        .unwrap();
    let n = w
        .ledger
        .action_by_key("notice/c1/suspension/INV-1")
        .unwrap()
        .unwrap();
    w.ledger
        .cancel(n.id, SYSTEM_ACTOR, "suspension rejected", now)
        .unwrap();
    let p = w.plan("2026-11-24T08:00:00Z");
    assert_nothing_planned(&p, "suspend/c1/s1/INV-1 was cancelled by anna");

    // The same, but cancelled by cspguard (e.g. a hold that has ended): planned again.
    let w = after_final_notice();
    let p = w.plan("2026-11-21T08:00:00Z");
    apply(&w.ledger, &p, now, false);
    for k in ["suspend/c1/s1/INV-1", "notice/c1/suspension/INV-1"] {
        let row = w.ledger.action_by_key(k).unwrap().unwrap();
        w.ledger.cancel(row.id, SYSTEM_ACTOR, "hold", now).unwrap();
    }
    let p = w.plan("2026-11-24T08:00:00Z");
    assert_eq!(
        keys(&p),
        ["notice/c1/suspension~2/INV-1", "suspend/c1/s1~2/INV-1"]
    );
    assert_eq!(
        suspend_key_invoice(C, "suspend/c1/s1~2/INV-1").as_deref(),
        Some("INV-1")
    );
}

// ---- holds, disputes, exemptions ------------------------------------------------------

#[test]
fn customer_hold_stops_the_ladder_and_cancels_pending_actions() {
    let w = after_final_notice();
    let now = ts("2026-11-21T08:00:00Z");
    let p = w.plan("2026-11-21T08:00:00Z");
    apply(&w.ledger, &p, now, false);
    w.ledger
        .place_hold(C, None, "promise to pay", date("2026-11-30"), "anna", now)
        .unwrap();
    let p = w.plan("2026-11-22T08:00:00Z");
    assert!(p.actions.is_empty(), "{:?}", keys(&p));
    let cancelled: Vec<&str> = p.cancellations.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        cancelled,
        ["notice/c1/suspension/INV-1", "suspend/c1/s1/INV-1"]
    );
    assert!(
        p.cancellations[0]
            .reason
            .contains("customer on hold until 2026-11-30")
    );
    assert_skipped(&p, "the ladder is stopped");
    let f = finding(&p, "dunning.overdue:c1").unwrap();
    assert!(
        f.summary
            .contains("customer on hold until 2026-11-30 (promise to pay")
    );
    // After the hold ends the ladder resumes (under a new key, the old one was cancelled).
    apply(&w.ledger, &p, ts("2026-11-22T08:00:00Z"), true);
    let p = w.plan("2026-12-01T08:00:00Z");
    assert_eq!(
        keys(&p),
        ["notice/c1/suspension~2/INV-1", "suspend/c1/s1~2/INV-1"]
    );
}

#[test]
fn invoice_hold_excludes_only_that_invoice() {
    let mut w = World::new();
    let now = ts("2026-11-21T08:00:00Z");
    w.rows = vec![
        receivable(C, "INV-1", "2026-11-01", "100", "0"),
        receivable(C, "INV-2", "2026-11-18", "50", "0"),
    ];
    w.ledger
        .place_hold(
            C,
            Some("INV-1"),
            "dispute call",
            date("2026-12-31"),
            "anna",
            now,
        )
        .unwrap();
    let p = w.plan("2026-11-21T08:00:00Z");
    assert_eq!(keys(&p), ["notice/c1/reminder-1/INV-2"]);
    let (_, _, invs, _) = notice(&p).unwrap();
    assert_eq!(invs.len(), 1, "the held invoice is not listed");
    let f = finding(&p, "dunning.overdue:c1").unwrap();
    assert_eq!(f.facts["invoices_on_hold"], "INV-1");
}

#[test]
fn disputed_invoices_are_skipped_without_a_finding() {
    let mut w = World::new();
    let mut r = receivable(C, "INV-1", "2026-11-01", "100", "0");
    r.status = InvoiceStatus::Disputed;
    w.rows = vec![r];
    let p = w.plan("2026-11-21T08:00:00Z");
    assert!(p.actions.is_empty());
    assert!(p.findings.is_empty(), "{:?}", p.findings);
    assert_skipped(
        &p,
        "Contoso: disputed, not dunned: INV-1 (€100.00, 20 days past due)",
    );
}

#[test]
fn exempt_customer_is_never_dunned_and_pending_suspension_is_cancelled() {
    let mut w = after_final_notice();
    let p = w.plan("2026-11-21T08:00:00Z");
    apply(&w.ledger, &p, ts("2026-11-21T08:00:00Z"), false);
    w.config.customers.insert(
        C.into(),
        CustomerOverride {
            exempt: true,
            ..CustomerOverride::default()
        },
    );
    let p = w.plan("2026-11-22T08:00:00Z");
    assert!(p.actions.is_empty());
    assert!(
        p.cancellations
            .iter()
            .any(|c| c.key == "suspend/c1/s1/INV-1")
    );
    assert_skipped(&p, "exempt");
}

// ---- data problems --------------------------------------------------------------------

#[test]
fn failed_import_plans_nothing_for_anyone_and_says_why() {
    let w = after_final_notice();
    suspended_for_nonpayment(&w.ledger, "s9", "suspend/c1/s9/INV-0");
    let rec = ReceivablesInput::Failed {
        error: "ar.csv: missing".into(),
    };
    let p = run(
        &w.snap,
        &rec,
        &w.ledger,
        &w.config,
        ts("2026-11-21T08:00:00Z"),
        None,
    );
    // Only the ops alert about the failure itself (alert hygiene), no dunning action.
    assert!(
        p.actions
            .iter()
            .all(|a| matches!(a.kind, ActionKind::OpsAlertGroup(_))),
        "{:?}",
        keys(&p)
    );
    assert!(p.cancellations.is_empty());
    let f = finding(&p, "dunning.import_failed:partner").unwrap();
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.summary.contains("ar.csv: missing"));
    assert!(
        p.skipped
            .iter()
            .any(|s| s.customer.is_none() && s.policy == "dunning")
    );
    assert!(p.resolved.is_empty());
}

#[test]
fn unmatched_rows_give_one_info_finding() {
    let w = World::new();
    let mut rec = matched(vec![]);
    if let ReceivablesInput::Loaded(m) = &mut rec {
        for (inv, reason) in [
            ("INV-8", UnmatchedReason::NotInDirectory),
            ("INV-9", UnmatchedReason::NotInDirectory),
            ("INV-7", UnmatchedReason::NotATenantId),
        ] {
            m.unmatched.push(Unmatched {
                receivable: receivable("x", inv, "2026-11-01", "1", "0"),
                reason,
            });
        }
    }
    let p = run(
        &w.snap,
        &rec,
        &w.ledger,
        &w.config,
        ts("2026-11-21T08:00:00Z"),
        None,
    );
    let f = finding(&p, "dunning.unmatched:partner").unwrap();
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.facts["count"], "3");
    assert!(
        f.summary
            .starts_with("3 receivable rows matched no Partner Center customer")
    );
    assert!(f.summary.contains("INV-8, INV-9"), "{}", f.summary);
}

#[test]
fn no_usable_email_gives_a_warning_and_no_notice() {
    let mut w = World::new();
    w.rows = vec![receivable(C, "INV-1", "2026-11-18", "100", "0")];
    if let Some(d) = w.snap.details.get_mut(C) {
        d.billing_profile = Section::Ok {
            data: profile(None, Some("sv-SE"), "SE"),
        };
    }
    let p = w.plan("2026-11-21T08:00:00Z");
    assert!(p.actions.is_empty());
    let f = finding(&p, "dunning.no_contact:c1").unwrap();
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.summary
            .starts_with("Contoso has 1 overdue invoice but no usable email address"),
        "{}",
        f.summary
    );
}

#[test]
fn recipient_precedence_override_then_receivable_then_profile() {
    let mut w = World::new();
    let mut r = receivable(C, "INV-1", "2026-11-18", "100", "0");
    r.contact_email = Some("invoices@contoso.example".into());
    w.rows = vec![r];
    let to = |p: &Plan| match &notice(p).unwrap().0.kind {
        ActionKind::CustomerNotice {
            to,
            cc,
            locale_hint,
            ..
        } => (to.clone(), cc.clone(), locale_hint.clone()),
        _ => unreachable!(),
    };
    let (t, cc, loc) = to(&w.plan("2026-11-21T08:00:00Z"));
    assert_eq!(t.as_deref(), Some("invoices@contoso.example"));
    assert!(cc.is_empty());
    assert_eq!(loc.as_deref(), Some("sv-SE"));
    w.rows[0].contact_email = None;
    assert_eq!(
        to(&w.plan("2026-11-21T08:00:00Z")).0.as_deref(),
        Some("ap@contoso.example")
    );
    w.config.customers.insert(
        C.into(),
        CustomerOverride {
            email: Some("cfo@contoso.example".into()),
            cc: vec!["am@partner.example".into()],
            locale: Some("en".into()),
            ..CustomerOverride::default()
        },
    );
    w.snap.details.clear(); // override email and locale: no profile needed
    let (t, cc, loc) = to(&w.plan("2026-11-21T08:00:00Z"));
    assert_eq!(t.as_deref(), Some("cfo@contoso.example"));
    assert_eq!(cc, ["am@partner.example"]);
    assert_eq!(loc.as_deref(), Some("en"));
}

#[test]
fn ledger_action_with_unreadable_payload_skips_the_customer() {
    let mut w = World::new();
    w.rows = vec![receivable(C, "INV-1", "2026-11-18", "100", "0")];
    w.ledger
        .insert_action(
            &NewAction {
                key: "notice/c1/reminder-1/INV-1".into(),
                kind: "customer_notice".into(),
                customer: Some(C.into()),
                payload: serde_json::json!({"kind": "customer_notice", "garbage": 1}),
                requires_approval: false,
                reason: "r".into(),
            },
            ts("2026-11-20T08:00:00Z"),
        )
        .unwrap();
    let p = w.plan("2026-11-21T08:00:00Z");
    assert_nothing_planned(&p, "payload cspguard cannot read");
}

// ---- paying -------------------------------------------------------------------------

#[test]
fn paying_cancels_pending_and_reactivates_only_our_suspensions() {
    let mut w = after_final_notice();
    w.rows.push(receivable(C, "INV-2", "2026-11-19", "80", "0"));
    w.step("2026-11-21T08:00:00Z");
    assert_eq!(w.ledger.active_suspensions(Some(C)).unwrap().len(), 1);
    // INV-2 reached reminder-1 with the suspension notice; reminder-2 is written on the
    // 26th (7 days past due) but not sent yet.
    assert!(w.plan("2026-11-25T08:00:00Z").actions.is_empty());
    let p = w.plan("2026-11-26T08:00:00Z");
    assert_eq!(keys(&p), ["notice/c1/reminder-2/INV-2"], "{}", skips(&p));
    apply(&w.ledger, &p, ts("2026-11-26T08:00:00Z"), false);
    // A suspension Microsoft made, and a fraud suspension by cspguard: never reactivated.
    w.ledger
        .record_suspension(C, "s7", "fraud/c1/s7", "fraud", ts("2026-11-20T08:00:00Z"))
        .unwrap();

    // Everything paid.
    w.rows = vec![
        receivable(C, "INV-1", "2026-10-20", "500", "500"),
        receivable(C, "INV-2", "2026-11-19", "80", "80"),
    ];
    let p = w.plan("2026-11-27T08:00:00Z");
    assert_eq!(
        keys(&p),
        [
            "notice/c1/reactivation/suspend/c1/s1/INV-1",
            "reactivate/c1/s1/suspend/c1/s1/INV-1",
        ]
    );
    assert_eq!(
        p.cancellations
            .iter()
            .map(|c| c.key.as_str())
            .collect::<Vec<_>>(),
        ["notice/c1/reminder-2/INV-2"]
    );
    assert!(
        p.cancellations[0].reason.contains("INV-2 is paid"),
        "{}",
        p.cancellations[0].reason
    );
    let (n, stage, invs, _) = notice(&p).unwrap();
    assert_eq!(stage, "reactivation");
    assert!(invs.is_empty());
    assert_eq!(n.after, ["reactivate/c1/s1/suspend/c1/s1/INV-1"]);
    assert!(finding(&p, "dunning.overdue:c1").is_none(), "resolves");
}

#[test]
fn partly_paid_customer_stays_suspended_until_no_invoice_is_at_the_suspension_stage() {
    let mut w = after_final_notice();
    w.step("2026-11-21T08:00:00Z");
    w.rows = vec![receivable(C, "INV-1", "2026-10-20", "500", "499")];
    let p = w.plan("2026-11-26T08:00:00Z");
    assert!(
        !p.actions
            .iter()
            .any(|a| matches!(a.kind, ActionKind::Reactivate { .. }))
    );
    assert_skipped(
        &p,
        "stays suspended: INV-1 (€1.00) is 37 days past due and open",
    );
}

#[test]
fn reactivation_works_for_customers_without_receivable_rows() {
    let w = World::new();
    suspended_for_nonpayment(&w.ledger, "s1", "suspend/c1/s1/INV-1");
    let p = w.plan("2026-11-21T08:00:00Z");
    assert_eq!(
        keys(&p),
        [
            "notice/c1/reactivation/suspend/c1/s1/INV-1",
            "reactivate/c1/s1/suspend/c1/s1/INV-1"
        ]
    );
}

#[test]
fn disabled_plans_nothing_and_says_so() {
    let mut w = World::new();
    w.rows = vec![receivable(C, "INV-1", "2026-11-01", "100", "0")];
    w.config.dunning.enabled = false;
    let p = w.plan("2026-11-21T08:00:00Z");
    assert!(p.actions.is_empty() && p.findings.is_empty());
    assert_skipped(&p, "dunning is disabled");
}

#[test]
fn reactivation_without_contact_still_reactivates_and_warns() {
    let mut w = World::new();
    if let Some(d) = w.snap.details.get_mut(C) {
        d.billing_profile = Section::Ok {
            data: profile(Some("not an address"), None, "SE"),
        };
    }
    suspended_for_nonpayment(&w.ledger, "s1", "suspend/c1/s1/INV-1");
    let p = w.plan("2026-11-21T08:00:00Z");
    assert_eq!(keys(&p), ["reactivate/c1/s1/suspend/c1/s1/INV-1"]);
    let f = finding(&p, "dunning.no_contact:c1").unwrap();
    assert!(
        f.summary
            .starts_with("Contoso: no usable email address for the reactivation confirmation"),
        "{}",
        f.summary
    );
}

#[test]
fn money_and_day_phrases() {
    assert_eq!(money(dec("1240"), "EUR"), "€1,240.00");
    assert_eq!(money(dec("1234567.005"), "USD"), "$1,234,567.01");
    assert_eq!(money(dec("0.5"), "SEK"), "SEK 0.50");
    assert_eq!(money(dec("999.999"), "GBP"), "£1,000.00");
    assert_eq!(days_phrase(1, date("2026-11-20")), "1 day past due");
    assert_eq!(days_phrase(0, date("2026-11-20")), "due today");
    assert_eq!(
        with_generation("notice/c/final/INV/2", 3),
        "notice/c/final~3/INV/2"
    );
    assert!(is_nonpayment("Non-Payment") && !is_nonpayment("fraud"));
}
