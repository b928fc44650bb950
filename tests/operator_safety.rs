//! Issue 13, part 1 — nothing an operator does is silently lost, end to end: the real binary
//! against the simulator's scripted tenant, the embedded SMTP server (STARTTLS + AUTH) and a
//! temporary ledger.

mod support;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use cspguard::sim::scenario;
use support::config::TZ;
use support::noon_today as now;
use support::world::{World, WorldBuilder};

/// The scripted tenant at `now` with its receivables, mail through the embedded server.
fn scripted(now: Timestamp) -> WorldBuilder {
    let tz = TimeZone::get(TZ).expect("tz");
    let s = scenario::demo_tenant(now, &tz, 3);
    World::builder()
        .dataset(s.dataset)
        .clock(now)
        .receivables(&s.receivables_csv)
        .smtp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_threshold_notice_reaches_the_customer_with_its_numbers() {
    let now = now();
    let w = scripted(now)
        .configure(|c, _| {
            c.set("budgets", "notice_at", "100");
        })
        .start()
        .await;

    w.run(now, &[], 0).await;

    let mails = w.smtp().received();
    let adatum: Vec<_> = mails.iter().filter(|m| m.to().contains("adatum")).collect();
    assert_eq!(
        adatum.len(),
        1,
        "Adatum (125% of its budget) gets one notice"
    );
    let mail = adatum[0].mail();
    assert!(mail.subject().contains("100%"), "{}", mail.subject());
    let text = &mail.parts[0].body;
    assert!(text.contains("$1,250.00"), "spend stated: {text}");
    assert!(text.contains("$1,000.00"), "budget stated: {text}");
    let key_prefix = format!("budget-notice/{}/", scenario::ids::BUDGET_BREACH);
    let done = w
        .ledger()
        .actions(Some(scenario::ids::BUDGET_BREACH), None)
        .expect("actions")
        .into_iter()
        .find(|a| a.key.starts_with(&key_prefix))
        .expect("the budget notice is recorded");
    assert_eq!(done.status.as_str(), "done", "{:?}", done.last_error);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_partner_tenants_with_one_from_domain_never_share_a_message_id() {
    let now = now();
    let a = scripted(now).start().await;
    let tz = TimeZone::get(TZ).expect("tz");
    let s = scenario::demo_tenant(now, &tz, 3);
    let b = World::builder()
        .dataset(s.dataset)
        .clock(now)
        .receivables(&s.receivables_csv)
        .smtp_at(a.smtp_addr())
        .sim(|sim| sim.tenant_id = "second-partner-tenant".to_owned())
        .configure(|c, _| {
            c.set(
                "partner_center",
                "tenant_id",
                &support::config::quote("second-partner-tenant"),
            );
        })
        .start()
        .await;

    a.run(now, &[], 0).await;
    let from_a = a.smtp().received().len();
    b.run(now, &[], 0).await;
    let mails = a.smtp().received();
    assert_eq!(mails.len(), from_a * 2, "both tenants send the same set");

    let ids: Vec<String> = mails.iter().map(|m| m.mail().message_id()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no Message-ID is shared: {ids:?}");
    let digests: Vec<_> = mails
        .iter()
        .filter(|m| m.subject().contains("digest"))
        .map(|m| m.mail().message_id())
        .collect();
    assert_eq!(digests.len(), 2);
    assert!(
        digests
            .iter()
            .all(|d| d.ends_with("@contoso-cloud.example>"))
    );

    // The same action keeps its Message-ID: the ledger's record matches the header sent.
    let recorded: Vec<String> = a
        .ledger()
        .notices(None, None)
        .expect("notices")
        .into_iter()
        .map(|n| n.message_id)
        .collect();
    assert!(recorded.iter().all(|id| ids[..from_a].contains(id)));
    b.shutdown().await;
    a.shutdown().await;
}

/// `[customers."<Fabrikam>"] cc = [...]`.
fn fabrikam_cc(c: &mut support::config::ConfigBuilder, cc: &[&str]) {
    let list: Vec<String> = cc.iter().map(|a| support::config::quote(a)).collect();
    c.set(
        &format!("customers.\"{}\"", scenario::ids::REMINDER_1),
        "cc",
        &format!("[{}]", list.join(", ")),
    );
}

const FABRIKAM_TO: &str = "billing@fabrikamab.example";
const GOOD_CC: &str = "am@contoso-cloud.example";
const GONE_CC: &str = "gone@fabrikamab.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_cc_never_blocks_the_primary_and_every_recipient_is_recorded() {
    let now = now();
    let mut options = support::world::smtp_options();
    options.reject_recipient = Some(GONE_CC.to_owned());
    let tz = TimeZone::get(TZ).expect("tz");
    let s = scenario::demo_tenant(now, &tz, 3);
    let w = World::builder()
        .dataset(s.dataset)
        .clock(now)
        .receivables(&s.receivables_csv)
        .smtp_with(options)
        .configure(|c, _| fabrikam_cc(c, &[GOOD_CC, GONE_CC]))
        .start()
        .await;

    let out = w.run(now, &[], 0).await;

    let mails = w.smtp().received();
    let fabrikam_id = mails
        .iter()
        .find(|m| m.rcpt_to.contains(&FABRIKAM_TO.to_owned()))
        .expect("Fabrikam's reminder")
        .mail()
        .message_id();
    let delivered: Vec<String> = mails
        .iter()
        .filter(|m| m.mail().message_id() == fabrikam_id)
        .flat_map(|m| m.rcpt_to.clone())
        .collect();
    assert!(delivered.contains(&FABRIKAM_TO.to_owned()), "{delivered:?}");
    assert!(delivered.contains(&GOOD_CC.to_owned()), "{delivered:?}");
    assert!(!delivered.contains(&GONE_CC.to_owned()));

    // Ops hear about the refused address, named.
    let alert = mails
        .iter()
        .find(|m| m.to().contains(support::config::OPS) && m.text().contains(GONE_CC))
        .unwrap_or_else(|| panic!("an ops alert names {GONE_CC}\n{}", out.show()));
    assert!(alert.rcpt_to.iter().all(|r| r != GONE_CC));

    // The notice is done; its result names the refusal; every accepted recipient is recorded.
    let ledger = w.ledger();
    let notice = ledger
        .actions(Some(scenario::ids::REMINDER_1), None)
        .expect("actions")
        .into_iter()
        .find(|a| a.kind == "customer_notice")
        .expect("the reminder");
    assert_eq!(notice.status.as_str(), "done");
    let result = notice.result.expect("result").to_string();
    assert!(result.contains(GONE_CC), "{result}");
    let mut recorded: Vec<String> = ledger
        .notices(Some(scenario::ids::REMINDER_1), None)
        .expect("notices")
        .into_iter()
        .filter(|n| n.template != "ops-alert")
        .map(|n| n.recipient)
        .collect();
    recorded.sort();
    assert_eq!(recorded, [GOOD_CC, FABRIKAM_TO]);

    let history = w
        .cli(now, &["history", "--customer", scenario::ids::REMINDER_1])
        .await;
    assert!(history.stdout.contains(GOOD_CC), "{}", history.show());
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanently_refused_primary_is_not_retried_and_the_error_names_it() {
    let now = now();
    let mut options = support::world::smtp_options();
    options.reject_recipient = Some(FABRIKAM_TO.to_owned());
    let tz = TimeZone::get(TZ).expect("tz");
    let s = scenario::demo_tenant(now, &tz, 3);
    let w = World::builder()
        .dataset(s.dataset)
        .clock(now)
        .receivables(&s.receivables_csv)
        .smtp_with(options)
        .configure(|c, _| fabrikam_cc(c, &[GOOD_CC]))
        .start()
        .await;

    w.run(now, &[], 3).await;
    let notice = |w: &World| {
        w.ledger()
            .actions(Some(scenario::ids::REMINDER_1), None)
            .expect("actions")
            .into_iter()
            .find(|a| a.kind == "customer_notice")
            .expect("the reminder")
    };
    let failed = notice(&w);
    assert_eq!(failed.status.as_str(), "failed");
    let error = failed.last_error.clone().unwrap_or_default();
    assert!(
        error.contains(FABRIKAM_TO) && error.contains("550"),
        "{error}"
    );
    assert!(
        w.smtp()
            .received()
            .iter()
            .all(|m| !m.rcpt_to.contains(&GOOD_CC.to_owned())),
        "the cc does not get a notice the customer did not"
    );

    // A later run does not try again.
    let later = now
        .checked_add(jiff::SignedDuration::from_hours(2))
        .expect("time");
    w.run(later, &[], 0).await;
    assert_eq!(notice(&w).attempts, 1);
    w.shutdown().await;
}

/// The subjects of the ops alerts (not the digest) a world's server received, sorted.
fn ops_alerts(w: &World) -> Vec<String> {
    let mut subjects: Vec<String> = w
        .smtp()
        .received()
        .iter()
        .filter(|m| m.to().contains(support::config::OPS) && !m.subject().contains("digest"))
        .map(|m| m.subject())
        .collect();
    subjects.sort();
    subjects
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_first_changes_nothing_the_notify_run_alerts() {
    let now = now();
    let alone = scripted(now).start().await;
    alone.run(now, &[], 0).await;
    let expected = ops_alerts(&alone);
    assert!(
        expected.len() >= 2,
        "the scripted tenant alerts (grouped) budget and fraud findings: {expected:?}"
    );
    alone.shutdown().await;

    let w = scripted(now).start().await;
    w.run(now, &["--dry-run"], 0).await;
    assert!(ops_alerts(&w).is_empty(), "a dry-run alerts nobody");
    let later = now
        .checked_add(jiff::SignedDuration::from_mins(30))
        .expect("time");
    w.run(later, &[], 0).await;
    assert_eq!(ops_alerts(&w), expected);
    w.shutdown().await;
}

/// The keys of the dunning actions `plan` shows for `customer`.
async fn dunning_planned(w: &World, now: Timestamp, customer: &str) -> Vec<String> {
    let out = w.cli(now, &["plan", "--format", "json"]).await;
    assert!(matches!(out.code, Some(0 | 3)), "{}", out.show());
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).expect("plan JSON");
    plan["plan"]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["customer"] == customer)
        .filter_map(|a| a["key"].as_str())
        .filter(|k| k.starts_with("notice/") || k.starts_with("suspend/"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_by_company_name_protects_the_customer_and_refuses_unknown_targets() {
    let now = now();
    let w = scripted(now).start().await;
    let partial = scenario::ids::PARTIAL;
    let until = (now.to_zoned(TimeZone::get(TZ).expect("tz")).date())
        .checked_add(jiff::Span::new().days(30))
        .expect("date")
        .to_string();
    let pause = |target: &str, invoice: Option<&str>| {
        let mut args = vec![
            "pause".to_owned(),
            target.to_owned(),
            "--until".to_owned(),
            until.clone(),
            "--reason".to_owned(),
            "promise to pay".to_owned(),
        ];
        if let Some(i) = invoice {
            args.extend(["--invoice".to_owned(), i.to_owned()]);
        }
        args
    };
    let cli = |args: Vec<String>| {
        let w = &w;
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            w.cli(now, &refs).await
        }
    };

    // Before any run cspguard knows no customer: refused, with what to do.
    let early = cli(pause("Contoso", None)).await;
    assert_eq!(early.code, Some(2), "{}", early.show());
    assert!(early.stderr.contains("run --dry-run"), "{}", early.show());

    w.run(now, &["--dry-run"], 0).await;
    assert!(
        !dunning_planned(&w, now, partial).await.is_empty(),
        "Contoso Pharmaceuticals is dunned before the pause"
    );

    for (target, invoice, expect) in [
        ("not-a-customer", None, "not a customer cspguard knows"),
        ("Quick Signup", None, "6 customers"),
        (
            "Contoso",
            Some("AR-9999"),
            "not an invoice of Contoso Pharmaceuticals",
        ),
    ] {
        let out = cli(pause(target, invoice)).await;
        assert_eq!(out.code, Some(2), "{target}: {}", out.show());
        assert!(out.stderr.contains(expect), "{target}: {}", out.show());
    }
    let status = w.cli(now, &["status", "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&status.stdout).expect("status JSON");
    assert_eq!(
        v["holds"].as_array().map(Vec::len),
        Some(0),
        "refusals change nothing"
    );

    let ok = cli(pause("Contoso", None)).await;
    assert_eq!(ok.code, Some(0), "{}", ok.show());
    assert!(
        ok.stdout.contains(partial),
        "says what it resolved to: {}",
        ok.show()
    );
    assert!(
        ok.stdout.contains("Contoso Pharmaceuticals"),
        "{}",
        ok.show()
    );

    assert_eq!(
        dunning_planned(&w, now, partial).await,
        Vec::<String>::new(),
        "after the pause, plan no longer duns Contoso"
    );
    w.shutdown().await;
}

/// The customer notice planned for `customer`.
fn notice_of(w: &World, customer: &str) -> cspguard::ledger::ActionRow {
    w.ledger()
        .actions(Some(customer), None)
        .expect("actions")
        .into_iter()
        .find(|a| a.kind == "customer_notice")
        .expect("a notice")
}

/// The digest lists the customers whose dunning an uncertain notice blocks, since when, and the
/// `cspguard resolve` command (the same list as `status`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_lists_dunning_blocked_by_uncertain_notices_with_the_resolve_command() {
    let now = now();
    let tz = TimeZone::get(TZ).expect("tz");
    let s = scenario::demo_tenant(now, &tz, 3);
    let mut w = World::builder()
        .dataset(s.dataset)
        .clock(now)
        .receivables(&s.receivables_csv)
        .smtp_down()
        .start()
        .await;
    let (fabrikam, tailspin) = (scenario::ids::REMINDER_1, scenario::ids::REMINDER_2);
    w.run(now, &[], 3).await;
    let later = now
        .checked_add(jiff::SignedDuration::from_hours(2))
        .expect("time");
    let stuck: Vec<i64> = {
        let l = w.ledger();
        let ids: Vec<i64> = [fabrikam, tailspin]
            .iter()
            .map(|c| notice_of(&w, c).id)
            .collect();
        for id in &ids {
            l.claim(*id, later).expect("claim");
        }
        l.recover_interrupted(later).expect("recover");
        ids
    };

    w.start_smtp().await;
    w.run(later, &[], 0).await;
    let digest = w
        .smtp()
        .received()
        .into_iter()
        .find(|m| m.subject().starts_with("cspguard digest"))
        .expect("the digest went out");
    let text = digest.text();
    assert!(
        text.contains("DUNNING BLOCKED BY AN UNCERTAIN ACTION (2)"),
        "{text}"
    );
    assert!(text.contains("Fabrikam AB: blocked since"), "{text}");
    for id in stuck {
        assert!(
            text.contains(&format!("cspguard resolve {id} --sent")),
            "{text}"
        );
    }
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_settles_uncertain_notices_and_status_names_blocked_customers() {
    let now = now();
    let tz = TimeZone::get(TZ).expect("tz");
    let s = scenario::demo_tenant(now, &tz, 3);
    let mut w = World::builder()
        .dataset(s.dataset)
        .clock(now)
        .receivables(&s.receivables_csv)
        .smtp_down()
        .start()
        .await;
    let (fabrikam, tailspin) = (scenario::ids::REMINDER_1, scenario::ids::REMINDER_2);

    // Mail is down: the notices wait. Then a run dies mid-send (claimed, never marked), which
    // the next start turns uncertain.
    w.run(now, &[], 3).await;
    let later = now
        .checked_add(jiff::SignedDuration::from_hours(2))
        .expect("time");
    {
        let l = w.ledger();
        for c in [fabrikam, tailspin] {
            l.claim(notice_of(&w, c).id, later).expect("claim");
        }
        l.recover_interrupted(later).expect("recover");
    }
    let status = w.cli(later, &["status", "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&status.stdout).expect("status JSON");
    let blocked = v["dunning_blocked"].as_array().expect("dunning_blocked");
    assert_eq!(blocked.len(), 2, "{v}");
    assert!(
        blocked
            .iter()
            .any(|b| b["company_name"] == "Fabrikam AB" && b["since"].is_string())
    );
    let table = w.cli(later, &["status"]).await;
    assert!(table.stdout.contains("Dunning blocked") && table.stdout.contains("Fabrikam AB"));

    // Nothing to settle that is not uncertain; an outcome is required.
    let none = w.cli(later, &["resolve", "1", "--reason", "x"]).await;
    assert_eq!(none.code, Some(2), "{}", none.show());

    let f = notice_of(&w, fabrikam).id.to_string();
    let t = notice_of(&w, tailspin).id.to_string();
    let sent = w
        .cli(
            later,
            &[
                "resolve",
                &f,
                "--sent",
                "--reason",
                "customer confirmed receipt",
            ],
        )
        .await;
    assert_eq!(sent.code, Some(0), "{}", sent.show());
    let not_sent = w
        .cli(
            later,
            &[
                "resolve",
                &t,
                "--not-sent",
                "--reason",
                "not in the relay log",
            ],
        )
        .await;
    assert_eq!(not_sent.code, Some(0), "{}", not_sent.show());
    let again = w
        .cli(later, &["resolve", &f, "--not-sent", "--reason", "x"])
        .await;
    assert_eq!(again.code, Some(2), "only uncertain actions are settled");

    let done = notice_of(&w, fabrikam);
    assert_eq!(done.status.as_str(), "done");
    let result = done.result.expect("result").to_string();
    assert!(result.contains("customer confirmed receipt") && result.contains("\"sent\""));
    assert!(done.retried_by.is_some(), "who settled it is recorded");

    // Mail is back: the not-sent notice goes out, the settled one never again.
    w.start_smtp().await;
    let next = later
        .checked_add(jiff::SignedDuration::from_mins(10))
        .expect("time");
    w.run(next, &[], 0).await;
    let mails = w.smtp().received();
    assert!(mails.iter().any(|m| m.to().contains("tailspintoyskk")));
    assert!(!mails.iter().any(|m| m.to().contains("fabrikamab")));
    let v: serde_json::Value =
        serde_json::from_str(&w.cli(next, &["status", "--format", "json"]).await.stdout)
            .expect("status JSON");
    assert_eq!(v["dunning_blocked"].as_array().map(Vec::len), Some(0));
    w.shutdown().await;
}
