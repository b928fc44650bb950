//! Enforcement end to end: the real binary against the simulator and an embedded SMTP server,
//! with an injected clock (`CSPGUARD_TEST_NOW`) walking a late payer day by day through the
//! dunning ladder to suspension (automatic in `enforce`, after approval in `notify`), then payment
//! and reactivation; plus the safety rules: caps and the circuit breaker, expired and rejected
//! approvals, 412 ETag conflicts, 403/900115 on an Azure plan, subscriptions suspended by someone
//! else, holds added between planning and execution, business hours, fraud responses and budgets.

mod support;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use rust_decimal::Decimal;

use cspguard::ledger::{ActionStatus, FindingRow};
use cspguard::sim::dataset::{Dataset, SimCustomer, SimSubscription};
use cspguard::sim::scenario;
use support::config::{OPS, SuspendApproval, TZ, quote};
use support::smtp::Received;
use support::world::{World, WorldBuilder};

const LATE: &str = "11111111-0000-4000-8000-000000000001";
const LATE2: &str = "11111111-0000-4000-8000-000000000002";
const LATE3: &str = "11111111-0000-4000-8000-000000000003";
const LATE4: &str = "11111111-0000-4000-8000-000000000004";
const QUIET: &str = "11111111-0000-4000-9000-00000000000";

fn tz() -> TimeZone {
    TimeZone::get(TZ).expect("tz")
}

/// The local date the late payer's invoice fell due: 21 days before today, so the suspension
/// day of the default ladder is today (approvals given with the real clock are then fresh).
fn due_date() -> Date {
    let today = Timestamp::now().to_zoned(tz()).date();
    today.checked_sub(Span::new().days(21)).expect("date")
}

/// Local `hour`:00 on `due + days`.
fn at(days: i64, hour: i8) -> Timestamp {
    due_date()
        .checked_add(Span::new().days(days))
        .expect("date")
        .at(hour, 0, 0, 0)
        .to_zoned(tz())
        .expect("local time")
        .timestamp()
}

fn sub_id(customer: &str, n: u8) -> String {
    format!("{customer}-sub{n}")
}

fn late_customer(id: &str, name: &str, licences: u8) -> SimCustomer {
    let mut c = SimCustomer::new(id, name);
    for n in 1..=licences {
        c = c.with_subscription(SimSubscription::license(
            sub_id(id, n),
            "Microsoft 365 Business Premium",
            10,
        ));
    }
    c
}

fn dataset(late: &[SimCustomer], quiet: usize) -> Dataset {
    let mut d = Dataset::empty();
    d.customers.extend(late.iter().cloned());
    for i in 0..quiet {
        d.customers.push(SimCustomer::new(
            format!("{QUIET}{i}"),
            format!("Quiet Customer {i}"),
        ));
    }
    d
}

/// A receivables export: one open invoice per customer, due on `due_date()`; `paid` ones paid.
fn receivables(customers: &[&str], paid: &[&str]) -> String {
    let due = due_date();
    let issue = due.checked_sub(Span::new().days(30)).expect("date");
    let mut rows =
        vec!["customer,invoice,issue_date,due_date,amount,amount_paid,currency,status".to_owned()];
    for (i, c) in customers.iter().enumerate() {
        let (paid_amount, status) = if paid.contains(c) {
            ("1200.00", "paid")
        } else {
            ("0", "open")
        };
        rows.push(format!(
            "{c},INV-{},{issue},{due},1200.00,{paid_amount},USD,{status}",
            100 + i
        ));
    }
    rows.push(String::new());
    rows.join("\n")
}

/// The enforcement tests' world: this tenant and export, the simulator's clock on day 23, mail
/// through the embedded server, no digest, business hours every day, and the ladder spelled
/// out with the suspension waiting for approval except in `enforce`. Approvals are by "alice".
fn builder(ds: Dataset, receivables_csv: &str, mode: &'static str) -> WorldBuilder {
    let approval = if mode == "enforce" {
        SuspendApproval::Automatic
    } else {
        SuspendApproval::Required
    };
    World::builder()
        .dataset(ds)
        .clock(at(23, 12))
        .receivables(receivables_csv)
        .smtp()
        .mode(mode)
        .env("USER", "alice")
        .configure(move |c, _| {
            c.digest_off()
                .business_hours_every_day()
                .dunning_ladder(approval);
        })
}

async fn world(ds: Dataset, receivables_csv: &str, mode: &'static str) -> World {
    builder(ds, receivables_csv, mode).start().await
}

/// The most common world: "Late Payer AB" with one licence and one open invoice, among 30 quiet
/// customers.
fn one_late_payer(mode: &'static str) -> WorldBuilder {
    let ds = dataset(&[late_customer(LATE, "Late Payer AB", 1)], 30);
    builder(ds, &receivables(&[LATE], &[]), mode)
}

/// "Late Payer AB" and "Slow Payer AB", one licence and one open invoice each, among `quiet`
/// quiet customers, in `notify` (suspensions wait for approval).
async fn two_late_payers(quiet: usize) -> World {
    let ds = dataset(
        &[
            late_customer(LATE, "Late Payer AB", 1),
            late_customer(LATE2, "Slow Payer AB", 1),
        ],
        quiet,
    );
    world(ds, &receivables(&[LATE, LATE2], &[]), "notify").await
}

/// What these tests read from a world.
trait Enforcement {
    fn status_of(&self, customer: &str, sid: &str) -> String;
    fn action(&self, key: &str) -> cspguard::ledger::ActionRow;
    /// Templates of the notices the ledger recorded for a customer, in order.
    fn templates(&self, customer: &str) -> Vec<String>;
    /// The template of the last notice recorded for a customer.
    fn last_template(&self, customer: &str) -> Option<String> {
        self.templates(customer).pop()
    }
    fn patches(&self) -> Vec<cspguard::sim::RecordedRequest>;
    /// The open finding `matching` picks; panics naming `what` when there is none.
    fn open_finding(&self, what: &str, matching: impl Fn(&FindingRow) -> bool) -> FindingRow;
}

impl Enforcement for World {
    fn open_finding(&self, what: &str, matching: impl Fn(&FindingRow) -> bool) -> FindingRow {
        self.ledger()
            .open_findings()
            .expect("findings")
            .into_iter()
            .find(|f| matching(f))
            .unwrap_or_else(|| panic!("no open {what} finding"))
    }

    fn status_of(&self, customer: &str, sid: &str) -> String {
        self.sim().with_dataset(|d| {
            d.customer(customer)
                .and_then(|c| c.subscriptions.iter().find(|s| s.id == sid))
                .map(|s| s.status.clone())
                .unwrap_or_default()
        })
    }

    fn action(&self, key: &str) -> cspguard::ledger::ActionRow {
        self.ledger()
            .action_by_key(key)
            .expect("ledger read")
            .unwrap_or_else(|| panic!("no action {key}"))
    }

    fn templates(&self, customer: &str) -> Vec<String> {
        self.ledger()
            .notices(Some(customer), None)
            .expect("notices")
            .into_iter()
            .map(|n| n.template)
            .collect()
    }

    fn patches(&self) -> Vec<cspguard::sim::RecordedRequest> {
        self.sim()
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.path.contains("/subscriptions/"))
            .collect()
    }
}

fn subject(m: &Received) -> String {
    m.subject()
}

/// The ops alerts after the first `before`.
fn alerts_since(w: &World, before: usize) -> Vec<Received> {
    mails_to(w, OPS).into_iter().skip(before).collect()
}

fn mails_to(w: &World, who: &str) -> Vec<Received> {
    w.smtp()
        .received()
        .into_iter()
        .filter(|m| m.rcpt_to.iter().any(|r| r.contains(who)))
        .collect()
}

fn suspend_key(customer: &str, n: u8, invoice: &str) -> String {
    format!("suspend/{customer}/{}/{invoice}", sub_id(customer, n))
}

fn notice_key(customer: &str, invoice: &str) -> String {
    format!("notice/{customer}/suspension/{invoice}")
}

/// Walk the ladder up to the final notice (days 1, 2, 7, 14), checking each day's notice.
async fn walk_to_final_notice(w: &World, customer: &str) {
    w.run(at(1, 12), &[], 0).await;
    assert_eq!(w.templates(customer), ["reminder-1"]);
    w.run(at(2, 12), &[], 0).await;
    assert_eq!(w.templates(customer), ["reminder-1"], "nothing on day 2");
    w.run(at(7, 12), &[], 0).await;
    assert_eq!(w.templates(customer), ["reminder-1", "reminder-2"]);
    w.run(at(14, 12), &[], 0).await;
    assert_eq!(
        w.templates(customer),
        ["reminder-1", "reminder-2", "final-notice"]
    );
    w.run(at(20, 12), &[], 0).await;
    assert_eq!(w.templates(customer).len(), 3, "nothing the day before");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_walks_a_late_payer_through_the_ladder_suspends_then_reactivates_after_payment() {
    let w = one_late_payer("enforce").start().await;
    walk_to_final_notice(&w, LATE).await;
    let sid = sub_id(LATE, 1);
    assert_eq!(w.status_of(LATE, &sid), "active");

    let out = w.run(at(21, 12), &[], 0).await;
    assert!(out.stdout.contains("performed: suspend/"), "{}", out.stdout);
    assert_eq!(w.status_of(LATE, &sid), "suspended");
    let l = w.ledger();
    let s = l
        .suspended_by_us(LATE, &sid)
        .expect("read")
        .expect("recorded as suspended by cspguard");
    assert_eq!(s.reason, "nonpayment");
    assert_eq!(s.action_key, suspend_key(LATE, 1, "INV-100"));
    // The PATCH carried the ETag read just before.
    let patch = w.patches().pop().expect("a PATCH");
    assert!(patch.header("if-match").is_some_and(|v| !v.is_empty()));
    // The suspension notice went out after the suspension, in the same run.
    assert_eq!(
        w.templates(LATE),
        [
            "reminder-1",
            "reminder-2",
            "final-notice",
            "suspension-notice"
        ]
    );
    let suspend_done = w.action(&suspend_key(LATE, 1, "INV-100")).finished_at;
    let notice_sent = l
        .notice_for_action(&notice_key(LATE, "INV-100"))
        .expect("read")
        .expect("notice");
    assert!(suspend_done.is_some_and(|t| t <= notice_sent.sent_at));
    assert_eq!(mails_to(&w, "latepayerab").len(), 4);

    // A rerun the same day does nothing more.
    w.run(at(21, 13), &[], 0).await;
    assert_eq!(w.patches().len(), 1);
    assert_eq!(mails_to(&w, "latepayerab").len(), 4);

    // The customer pays: reactivation and a confirmation.
    w.set_receivables(&receivables(&[LATE], &[LATE]));
    let out = w.run(at(22, 12), &[], 0).await;
    assert!(
        out.stdout.contains("performed: reactivate/"),
        "{}",
        out.stdout
    );
    assert_eq!(w.status_of(LATE, &sid), "active");
    assert!(
        w.ledger()
            .suspended_by_us(LATE, &sid)
            .expect("read")
            .is_none()
    );
    assert_eq!(w.last_template(LATE).as_deref(), Some("reactivation"));
    assert_eq!(mails_to(&w, "latepayerab").len(), 5);
    w.run(at(22, 13), &[], 0).await;
    assert_eq!(mails_to(&w, "latepayerab").len(), 5, "nothing twice");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_suspends_only_after_approval_and_only_approved_runs_it_at_once() {
    let ds = dataset(&[late_customer(LATE, "Late Payer AB", 1)], 5);
    let w = world(ds, &receivables(&[LATE], &[]), "notify").await;
    walk_to_final_notice(&w, LATE).await;
    let sid = sub_id(LATE, 1);
    let key = suspend_key(LATE, 1, "INV-100");

    w.run(at(21, 10), &[], 0).await;
    assert_eq!(w.action(&key).status, ActionStatus::AwaitingApproval);
    assert_eq!(w.status_of(LATE, &sid), "active");
    assert!(w.patches().is_empty());
    assert_eq!(
        w.templates(LATE).len(),
        3,
        "no suspension notice before the suspension"
    );

    let approve = w.cli(at(21, 10), &["approve", &key]).await;
    assert_eq!(approve.code, Some(0), "{}", approve.stderr);
    assert!(!approve.stdout.contains("IRREVERSIBLE"));
    w.sim().clear_requests();
    let out = w.run(at(21, 11), &["--only-approved"], 0).await;
    assert!(out.stdout.contains("only approved"), "{}", out.stdout);
    assert_eq!(w.status_of(LATE, &sid), "suspended");
    assert_eq!(w.last_template(LATE).as_deref(), Some("suspension-notice"));
    // No bulk collection, no new plan: only the subscription read and the PATCH.
    let paths: Vec<String> = w
        .sim()
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/v1/"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths.iter().all(|p| p.contains(&sid)), "{paths:?}");
    let row = w.action(&key);
    assert_eq!(row.status, ActionStatus::Done);
    assert_eq!(row.approved_by.as_deref(), Some("alice"));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breaker_stops_every_suspension_and_alerts_then_the_cap_limits_each_run() {
    let late = [LATE, LATE2, LATE3, LATE4];
    let ds = dataset(
        &late
            .iter()
            .enumerate()
            .map(|(i, c)| late_customer(c, &format!("Late Payer {i}"), 1))
            .collect::<Vec<_>>(),
        0,
    );
    let mut w = builder(ds, &receivables(&late, &[]), "enforce")
        .configure(|c, _| {
            c.set("enforcement", "breaker_count", "3").set(
                "enforcement",
                "max_suspensions_per_run",
                "1",
            );
        })
        .start()
        .await;
    w.run(at(14, 12), &[], 0).await;
    let ops_before = mails_to(&w, OPS).len();

    let out = w.run(at(21, 12), &[], 0).await;
    assert!(out.stderr.contains("CIRCUIT BREAKER"), "{}", out.stderr);
    assert!(w.patches().is_empty(), "no suspension at all");
    for c in late {
        assert_eq!(w.status_of(c, &sub_id(c, 1)), "active");
    }
    let alerts = alerts_since(&w, ops_before);
    let breaker = alerts
        .iter()
        .find(|m| m.text().contains("Circuit breaker"))
        .unwrap_or_else(|| {
            panic!(
                "an immediate breaker alert: {:?}",
                alerts.iter().map(subject).collect::<Vec<_>>()
            )
        });
    let text = breaker.text();
    assert!(text.contains("4 of 4 customers"), "{text}");
    assert!(text.contains("receivables export complete"), "{text}");
    let f = w.open_finding("breaker", |f| f.fingerprint == "enforce.breaker:partner");
    assert_eq!(f.severity, "critical");

    // The suspensions are real: raise the breaker; the cap allows one per run.
    w.configure(|c| {
        c.set("enforcement", "breaker_count", "10")
            .set("enforcement", "breaker_share", "1");
    });
    let out = w.run(at(21, 13), &[], 0).await;
    assert_eq!(w.patches().len(), 1, "{}", out.stdout);
    let suspended = |w: &World| {
        late.iter()
            .filter(|c| w.status_of(c, &sub_id(c, 1)) == "suspended")
            .count()
    };
    assert_eq!(suspended(&w), 1);
    let waiting = w
        .ledger()
        .actions_with_status(&[ActionStatus::Planned])
        .expect("read")
        .into_iter()
        .filter(|a| a.kind == "suspend")
        .count();
    assert_eq!(waiting, 3, "the rest wait for later runs");
    w.run(at(21, 14), &[], 0).await;
    assert_eq!(suspended(&w), 2);
    assert!(
        w.ledger()
            .open_findings()
            .expect("findings")
            .iter()
            .all(|f| f.fingerprint != "enforce.breaker:partner"),
        "a run within the limits resolves the breaker finding"
    );
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_rejected_approvals_never_suspend_and_release_no_notice() {
    let w = two_late_payers(5).await;
    w.run(at(14, 12), &[], 0).await;
    w.run(at(21, 12), &[], 0).await;
    let k1 = suspend_key(LATE, 1, "INV-100");
    let k2 = suspend_key(LATE2, 1, "INV-101");
    assert_eq!(w.action(&k1).status, ActionStatus::AwaitingApproval);
    assert_eq!(w.action(&k2).status, ActionStatus::AwaitingApproval);

    let rejected = w
        .cli(
            at(21, 12),
            &["reject", &k2, "--reason", "customer called, pays Friday"],
        )
        .await;
    assert_eq!(rejected.code, Some(0), "{}", rejected.stderr);
    // Eight days later the other approval has expired (expire_days = 7).
    w.run(at(29, 12), &[], 0).await;
    assert_eq!(w.action(&k1).status, ActionStatus::Expired);
    let r2 = w.action(&k2);
    assert_eq!(r2.status, ActionStatus::Cancelled);
    assert_eq!(r2.rejected_by.as_deref(), Some("alice"));
    assert!(w.patches().is_empty());
    assert_eq!(w.status_of(LATE, &sub_id(LATE, 1)), "active");
    assert_eq!(w.status_of(LATE2, &sub_id(LATE2, 1)), "active");
    for (c, inv) in [(LATE, "INV-100"), (LATE2, "INV-101")] {
        let n = w.action(&notice_key(c, inv));
        assert_eq!(n.status, ActionStatus::Cancelled, "{n:?}");
        assert!(!w.templates(c).contains(&"suspension-notice".to_owned()));
    }
    // An expired approval cannot be approved any more.
    let late_approve = w.cli(at(29, 12), &["approve", &k1]).await;
    assert_ne!(late_approve.code, Some(0));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etag_conflicts_are_reread_and_retried_once_and_a_changed_etag_is_used() {
    let w = two_late_payers(30).await;
    w.run(at(14, 12), &[], 0).await;
    w.run(at(21, 9), &[], 0).await;
    let (s1, s2) = (sub_id(LATE, 1), sub_id(LATE2, 1));
    let (k1, k2) = (
        suspend_key(LATE, 1, "INV-100"),
        suspend_key(LATE2, 1, "INV-101"),
    );

    // Between planning and execution someone changes the subscription: its ETag moves on.
    let planned_etag = w.sim().with_dataset(|d| {
        let s = d
            .customer_mut(LATE)
            .and_then(|c| c.subscriptions.iter_mut().find(|s| s.id == s1))
            .expect("sub");
        let before = s.etag();
        s.etag_version += 1;
        before
    });
    // And the first PATCH of the other one meets a 412 (changed between re-read and PATCH).
    let p2 = format!("/v1/customers/{LATE2}/subscriptions/{s2}");
    w.sim().override_response(
        "PATCH",
        &p2,
        412,
        vec![],
        r#"{"code":412,"description":"etag mismatch"}"#.to_owned(),
        Some(1),
    );
    for k in [&k1, &k2] {
        let a = w.cli(at(21, 9), &["approve", k]).await;
        assert_eq!(a.code, Some(0), "{}", a.stderr);
    }
    w.sim().clear_requests();
    w.run(at(21, 10), &["--only-approved"], 0).await;
    assert_eq!(w.status_of(LATE, &s1), "suspended");
    assert_eq!(w.status_of(LATE2, &s2), "suspended");
    let patches = w.patches();
    let first: Vec<_> = patches.iter().filter(|r| r.path.ends_with(&s1)).collect();
    assert_eq!(first.len(), 1);
    assert_ne!(
        first[0]
            .header("if-match")
            .map(|v| v.trim_matches('"').to_owned()),
        Some(planned_etag),
        "the ETag read at execution is sent, not the one seen at planning"
    );
    let second: Vec<_> = patches.iter().filter(|r| r.path.ends_with(&s2)).collect();
    assert_eq!(second.len(), 2, "412, re-read, one retry");
    assert_eq!(second[0].status, 412);
    let r2 = w.action(&k2);
    assert_eq!(r2.status, ActionStatus::Done);
    assert_eq!(
        r2.result
            .as_ref()
            .and_then(|r| r["etag_conflicts"].as_i64()),
        Some(1)
    );
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_etag_conflicts_fail_the_attempt_and_hold_back_the_notice_until_it_succeeds() {
    let w = one_late_payer("enforce").start().await;
    w.run(at(14, 12), &[], 0).await;
    let sid = sub_id(LATE, 1);
    let path = format!("/v1/customers/{LATE}/subscriptions/{sid}");
    w.sim().override_response(
        "PATCH",
        &path,
        412,
        vec![],
        r#"{"code":412,"description":"etag mismatch"}"#.to_owned(),
        Some(2),
    );
    let out = w.run(at(21, 10), &[], 3).await;
    assert!(out.stderr.contains("412"), "{}", out.stderr);
    let key = suspend_key(LATE, 1, "INV-100");
    let row = w.action(&key);
    assert_eq!(row.status, ActionStatus::Planned, "retried later: {row:?}");
    assert!(row.next_attempt_at.is_some());
    assert_eq!(w.status_of(LATE, &sid), "active");
    assert_eq!(
        w.action(&notice_key(LATE, "INV-100")).status,
        ActionStatus::Planned,
        "the notice waits"
    );
    assert!(!w.templates(LATE).contains(&"suspension-notice".to_owned()));
    // Later, the conflict is gone.
    w.run(at(21, 15), &[], 0).await;
    assert_eq!(w.status_of(LATE, &sid), "suspended");
    assert_eq!(w.last_template(LATE).as_deref(), Some("suspension-notice"));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_azure_plan_with_active_azure_subscriptions_is_refused_and_ops_are_told_what_to_do() {
    let plan = format!("{LATE}-azure");
    let customer = late_customer(LATE, "Late Payer AB", 1).with_subscription(
        SimSubscription::azure_plan(plan.clone())
            .with_entitlement("7a1b0000-0000-4000-8000-0000000000aa"),
    );
    let ds = dataset(&[customer], 30);
    let w = builder(ds, &receivables(&[LATE], &[]), "enforce")
        .configure(|c, _| {
            c.set("dunning", "suspend_azure_plans", "true").set(
                "dunning",
                "suspend_billing_types",
                r#"["license", "usage"]"#,
            );
        })
        .start()
        .await;
    w.run(at(14, 12), &[], 0).await;
    let ops_before = mails_to(&w, OPS).len();

    let out = w.run(at(21, 12), &[], 3).await;
    assert!(out.stderr.contains("900115"), "{}", out.stderr);
    assert_eq!(w.status_of(LATE, &sub_id(LATE, 1)), "suspended");
    assert_eq!(w.status_of(LATE, &plan), "active");
    let key = format!("suspend/{LATE}/{plan}/INV-100");
    let row = w.action(&key);
    assert_eq!(row.status, ActionStatus::Failed, "not retried blindly");
    let err = row.last_error.unwrap_or_default();
    assert!(err.contains("cancel or move"), "{err}");
    let f = w.open_finding("Azure plan", |f| f.rule == "enforce.azure_plan_refused");
    assert_eq!(f.severity, "critical");
    assert!(
        f.summary.contains("suspend_azure_plans = false"),
        "{}",
        f.summary
    );
    let alerts = alerts_since(&w, ops_before);
    assert!(
        alerts.iter().any(|m| m.text().contains("900115")),
        "ops alerted: {:?}",
        alerts.iter().map(subject).collect::<Vec<_>>()
    );
    // The licence was suspended, so the customer hears about it.
    assert_eq!(w.last_template(LATE).as_deref(), Some("suspension-notice"));
    // The next run does not try the Azure plan again.
    let before = w.patches().len();
    w.run(at(21, 16), &[], 0).await;
    assert_eq!(w.patches().len(), before);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_suspended_by_someone_else_is_never_recorded_nor_reactivated() {
    let ds = dataset(&[late_customer(LATE, "Late Payer AB", 2)], 30);
    let w = world(ds, &receivables(&[LATE], &[]), "notify").await;
    w.run(at(14, 12), &[], 0).await;
    w.run(at(21, 9), &[], 0).await;
    let (s1, s2) = (sub_id(LATE, 1), sub_id(LATE, 2));
    // Between planning and execution Microsoft (or a person) suspends the second one.
    w.sim().with_dataset(|d| {
        let s = d
            .customer_mut(LATE)
            .and_then(|c| c.subscriptions.iter_mut().find(|s| s.id == s2))
            .expect("sub");
        s.status = "suspended".into();
        s.suspension_reasons = vec!["fraud".into()];
        s.etag_version += 1;
    });
    let (k1, k2) = (
        suspend_key(LATE, 1, "INV-100"),
        suspend_key(LATE, 2, "INV-100"),
    );
    let a = w.cli(at(21, 9), &["approve", &k1, &k2]).await;
    assert_eq!(a.code, Some(0), "{}", a.stderr);
    let out = w.run(at(21, 10), &["--only-approved"], 0).await;
    assert!(out.stdout.contains("not by cspguard"), "{}", out.stdout);
    let l = w.ledger();
    assert!(l.suspended_by_us(LATE, &s1).expect("read").is_some());
    assert!(l.suspended_by_us(LATE, &s2).expect("read").is_none());
    let r2 = w.action(&k2);
    assert_eq!(r2.status, ActionStatus::Cancelled);
    assert!(
        r2.rejection_reason
            .unwrap_or_default()
            .contains("already suspended"),
    );
    assert_eq!(
        w.patches().len(),
        1,
        "no PATCH for the one already suspended"
    );
    // One of two was suspended by cspguard: the notice goes out.
    assert_eq!(w.last_template(LATE).as_deref(), Some("suspension-notice"));

    // The customer pays: only cspguard's own suspension is undone.
    w.set_receivables(&receivables(&[LATE], &[LATE]));
    w.run(at(22, 12), &[], 0).await;
    assert_eq!(w.status_of(LATE, &s1), "active");
    assert_eq!(w.status_of(LATE, &s2), "suspended", "never reactivated");
    assert_eq!(w.last_template(LATE).as_deref(), Some("reactivation"));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_added_between_planning_and_execution_cancels_the_suspension_with_the_reason() {
    let w = one_late_payer("notify").start().await;
    w.run(at(14, 12), &[], 0).await;
    w.run(at(21, 9), &[], 0).await;
    let key = suspend_key(LATE, 1, "INV-100");
    let a = w.cli(at(21, 9), &["approve", &key]).await;
    assert_eq!(a.code, Some(0), "{}", a.stderr);
    let until = due_date()
        .checked_add(Span::new().days(60))
        .expect("date")
        .to_string();
    let p = w
        .cli(
            at(21, 9),
            &[
                "pause",
                LATE,
                "--until",
                &until,
                "--reason",
                "promise to pay by the 30th",
            ],
        )
        .await;
    assert_eq!(p.code, Some(0), "{}", p.stderr);
    w.run(at(21, 10), &["--only-approved"], 0).await;
    let row = w.action(&key);
    assert_eq!(row.status, ActionStatus::Cancelled);
    let why = row.rejection_reason.unwrap_or_default();
    assert!(
        why.contains("on hold") && why.contains("promise to pay"),
        "{why}"
    );
    assert!(w.patches().is_empty());
    assert_eq!(w.status_of(LATE, &sub_id(LATE, 1)), "active");
    // The notice is cancelled when the run sees its prerequisite will not happen.
    w.run(at(21, 11), &[], 0).await;
    assert_eq!(
        w.action(&notice_key(LATE, "INV-100")).status,
        ActionStatus::Cancelled
    );
    assert!(!w.templates(LATE).contains(&"suspension-notice".to_owned()));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_business_hours_suspensions_wait_unclaimed_and_run_in_the_next_window() {
    let w = one_late_payer("enforce").start().await;
    w.run(at(14, 12), &[], 0).await;
    w.run(at(21, 19), &[], 0).await;
    let key = suspend_key(LATE, 1, "INV-100");
    let row = w.action(&key);
    assert_eq!(row.status, ActionStatus::Planned);
    assert_eq!(row.attempts, 0, "not claimed");
    assert!(w.patches().is_empty());
    w.run(at(22, 8), &[], 0).await;
    assert_eq!(w.status_of(LATE, &sub_id(LATE, 1)), "suspended");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fraud_cancel_needs_approval_warns_irreversible_and_fraud_resolve_is_recorded() {
    let demo = scenario::demo_tenant(at(21, 12), &tz(), 0);
    let mut ds = Dataset::empty();
    let fraud = demo
        .dataset
        .customer(scenario::ids::FRAUD)
        .cloned()
        .expect("fraud customer");
    ds.customers.push(fraud);
    ds.fraud_events = demo.dataset.fraud_events.clone();
    let azure_sub = ds.fraud_events[0].subscription_id.clone();
    let w = builder(ds, &receivables(&[], &[]), "enforce")
        .configure(|c, _| {
            c.set("fraud", "response", &quote("cancel"));
        })
        .start()
        .await;
    w.run(at(21, 12), &[], 0).await;
    let key = format!("fraud-cancel/{}/{azure_sub}", scenario::ids::FRAUD);
    assert_eq!(
        w.action(&key).status,
        ActionStatus::AwaitingApproval,
        "always approval-gated, even in enforce"
    );
    let entitlement = |w: &World| {
        w.sim().with_dataset(|d| {
            d.customer(scenario::ids::FRAUD)
                .into_iter()
                .flat_map(|c| c.subscriptions.iter())
                .flat_map(|s| s.entitlements.iter())
                .find(|e| e.id == azure_sub)
                .map(|e| e.status.clone())
                .unwrap_or_default()
        })
    };
    assert_eq!(entitlement(&w), "active");
    let a = w.cli(at(21, 12), &["approve", &key]).await;
    assert_eq!(a.code, Some(0), "{}", a.stderr);
    assert!(
        a.stdout.contains("IRREVERSIBLE") && a.stdout.contains(&azure_sub),
        "{}",
        a.stdout
    );
    w.run(at(21, 12), &["--only-approved"], 0).await;
    assert_eq!(entitlement(&w), "disabled");
    assert_eq!(w.action(&key).status, ActionStatus::Done);

    // Mark the events resolved, recorded with who and when.
    let bad = w
        .cli(
            at(21, 13),
            &["fraud", "resolve", &azure_sub, "--status", "resolved"],
        )
        .await;
    assert_eq!(bad.code, Some(2), "a reason is required: {}", bad.stderr);
    let ok = w
        .cli(
            at(21, 13),
            &[
                "fraud", "resolve", &azure_sub, "--status", "resolved", "--reason", "fraud",
            ],
        )
        .await;
    assert_eq!(ok.code, Some(0), "{}\n{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("1 event(s) updated"), "{}", ok.stdout);
    let status = w.sim().with_dataset(|d| {
        (
            d.fraud_events[0].event_status.clone(),
            d.fraud_events[0].resolved_reason.clone(),
        )
    });
    assert_eq!(status, ("Resolved".to_owned(), "Fraud".to_owned()));
    let done = w
        .ledger()
        .actions(None, None)
        .expect("actions")
        .into_iter()
        .find(|a| {
            a.key
                .starts_with(&format!("fraud-status/{azure_sub}/manual/Resolved"))
        })
        .expect("recorded");
    assert_eq!(done.status, ActionStatus::Done);
    assert_eq!(done.approved_by.as_deref(), Some("alice"));
    assert_eq!(done.approved_at, Some(at(21, 13)));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_sets_the_default_budget_with_patch() {
    let customer = SimCustomer::new(LATE, "Spender Inc")
        .with_subscription(
            SimSubscription::azure_plan(format!("{LATE}-azure"))
                .with_entitlement("7a1b0000-0000-4000-8000-0000000000bb"),
        )
        .with_budget_usage(None, Decimal::from(640));
    let w = builder(dataset(&[customer], 3), &receivables(&[], &[]), "enforce")
        .configure(|c, _| {
            c.set("budgets.default_budget", "enabled", "true")
                .set("budgets.default_budget", "amount", "800")
                .set("budgets.default_budget", "requires_approval", "false");
        })
        .start()
        .await;
    let out = w.run(at(21, 12), &[], 0).await;
    assert!(
        out.stdout.contains("performed: set-budget/"),
        "{}",
        out.stdout
    );
    let budget = w
        .sim()
        .with_dataset(|d| d.customer(LATE).and_then(|c| c.budget));
    assert_eq!(budget, Some(Decimal::from(800)));
    assert!(
        w.sim()
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path.ends_with("/usagebudget"))
    );
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_overrides_enforce_and_touches_nothing() {
    let w = one_late_payer("enforce").start().await;
    w.run(at(14, 12), &[], 0).await;
    w.run(at(21, 12), &["--dry-run"], 0).await;
    assert!(w.patches().is_empty());
    assert_eq!(w.status_of(LATE, &sub_id(LATE, 1)), "active");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_that_may_have_applied_unseen_is_never_claimed_as_someone_elses_nor_as_ours() {
    let w = one_late_payer("enforce")
        .configure(|c, _| {
            c.retry_attempts(1);
        })
        .start()
        .await;
    w.run(at(14, 12), &[], 0).await;
    let sid = sub_id(LATE, 1);
    w.sim().override_response(
        "PATCH",
        &format!("/v1/customers/{LATE}/subscriptions/{sid}"),
        503,
        vec![],
        r#"{"code":503,"description":"service unavailable"}"#.to_owned(),
        Some(1),
    );
    w.run(at(21, 10), &[], 3).await;
    let key = suspend_key(LATE, 1, "INV-100");
    assert_eq!(
        w.action(&key).status,
        ActionStatus::Planned,
        "retried later"
    );
    // The PATCH was applied after all, but the answer was lost.
    w.sim().with_dataset(|d| {
        let s = d
            .customer_mut(LATE)
            .and_then(|c| c.subscriptions.iter_mut().find(|s| s.id == sid))
            .expect("sub");
        s.status = "suspended".into();
        s.etag_version += 1;
    });
    let ops_before = mails_to(&w, OPS).len();
    w.run(at(21, 15), &[], 3).await;
    let row = w.action(&key);
    assert_eq!(row.status, ActionStatus::Failed, "for a person: {row:?}");
    assert!(row.last_error.unwrap_or_default().contains("activity log"));
    assert!(
        w.ledger()
            .suspended_by_us(LATE, &sid)
            .expect("read")
            .is_none()
    );
    assert_eq!(
        w.action(&notice_key(LATE, "INV-100")).status,
        ActionStatus::Cancelled,
        "no notice for a suspension cspguard cannot vouch for"
    );
    let alerts = alerts_since(&w, ops_before);
    assert!(alerts.iter().any(|m| m.text().contains("activity log")));
    w.shutdown().await;
}
