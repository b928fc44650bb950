//! Graph partner security alerts as a fraud source, end to end (issue 16): the simulator's Graph
//! endpoints (`$filter`, `$top` and `@odata.nextLink` paging, PATCH), a run with only app-only
//! credentials that detects a crypto-mining alert, alerts ops over real SMTP (STARTTLS + AUTH),
//! plans the configured response and lets `cspguard fraud resolve --alert` update the alert in
//! the simulator; with both sources on, one signal makes one finding; Partner Center's MFA
//! refusal of App+User calls is recognised by the run and by `doctor`.

mod support;

use jiff::Timestamp;

use cspguard::graph::alerts::{self, AlertQuery, AlertResolvedReason, AlertStatus};
use cspguard::graph::{GraphClient, GraphOptions};
use cspguard::ledger::{ActionStatus, LedgerView};
use cspguard::sim::dataset::{Dataset, SimMfa, SimSecurityAlert};
use cspguard::sim::scenario::{self, ids};
use support::config::{OPS, TZ, quote};
use support::noon_today as now;
use support::world::{World, WorldBuilder, client_options, simulator};

/// Fourth Coffee (the scripted fraud customer) with its Azure plan, the scripted fraud event
/// and the Graph alert reporting the same signal, plus an `isTest` alert on the same customer.
fn fraud_tenant(now: Timestamp) -> (Dataset, String, String) {
    let tz = jiff::tz::TimeZone::get(TZ).expect("tz");
    let demo = scenario::demo_tenant(now, &tz, 0);
    let mut ds = Dataset::empty();
    ds.customers.push(
        demo.dataset
            .customer(ids::FRAUD)
            .cloned()
            .expect("fraud customer"),
    );
    ds.fraud_events = demo.dataset.fraud_events.clone();
    ds.security_alerts = demo.dataset.security_alerts.clone();
    let alert_id = ds.security_alerts[0].id.clone();
    let mut test = SimSecurityAlert::for_event(&ds.fraud_events[0]);
    test.id = "test-alert-1".into();
    test.is_test = true;
    test.subscription_id = "7a1b0000-0000-4000-8000-0000000000ff".into();
    ds.security_alerts.push(test);
    let plan = ds.customers[0]
        .subscriptions
        .iter()
        .find(|s| s.is_azure_plan())
        .map(|s| s.id.clone())
        .expect("an Azure plan");
    (ds, alert_id, plan)
}

fn world(ds: Dataset, now: Timestamp) -> WorldBuilder {
    World::builder()
        .dataset(ds)
        .clock(now)
        .smtp()
        .configure(|c, _| {
            c.set("alerts", "baseline", "false")
                .set("fraud", "response", &quote("suspend"));
        })
}

/// Points `[graph]` at the world's simulator.
fn with_graph(w: &mut World) {
    let url = w.sim().base_url();
    w.configure(|c| {
        c.set("graph", "base_url", &quote(&url));
    });
}

fn sim_alert(w: &World, id: &str) -> SimSecurityAlert {
    w.sim().with_dataset(|d| {
        d.security_alerts
            .iter()
            .find(|a| a.id == id)
            .cloned()
            .expect("alert in the simulator")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_only_run_detects_crypto_mining_alerts_ops_plans_response_and_resolve_patches() {
    let now = now();
    let (ds, alert_id, plan) = fraud_tenant(now);
    let mut w = world(ds, now)
        .configure(|c, _| {
            c.remove_section("partner_center.app_user")
                .set("fraud", "mark_investigating", "true");
        })
        .start()
        .await;
    with_graph(&mut w);
    assert!(!w.config_text().contains("refresh_token"), "app-only");

    w.run(now, &[], 0).await;

    // Detected from Graph alone: Partner Center's fraud events were never asked for.
    let requests = w.sim().requests();
    assert!(requests.iter().all(|r| !r.path.contains("fraudEvents")));
    let list = requests
        .iter()
        .find(|r| r.path == "/beta/security/partner/securityAlerts")
        .expect("alerts listed");
    assert!(
        list.query
            .as_deref()
            .is_some_and(|q| q.contains("%24filter") || q.contains("$filter")),
        "{list:?}"
    );

    let ledger = w.ledger();
    let findings = ledger.open_findings().expect("findings");
    let fp = format!("fraud.alert:{}:{alert_id}", ids::FRAUD);
    let f = findings
        .iter()
        .find(|f| f.fingerprint == fp)
        .unwrap_or_else(|| panic!("{fp} in {findings:#?}"));
    assert_eq!(f.severity, "critical");
    assert!(f.summary.contains("Fourth Coffee"), "{}", f.summary);
    let test = findings
        .iter()
        .find(|f| f.fingerprint.ends_with(":test-alert-1"))
        .expect("the test alert is shown");
    assert_eq!(test.severity, "info");
    assert!(test.summary.starts_with("TEST "), "{}", test.summary);

    // Ops were alerted over SMTP about the crypto-mining alert.
    let mails = w.smtp().received();
    let ops: Vec<_> = mails.iter().filter(|m| m.to() == OPS).collect();
    assert!(
        ops.iter()
            .any(|m| m.mail().parts.iter().any(|p| p.body.contains(&fp))),
        "an ops email names {fp}: {:?}",
        ops.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );

    // The configured response (suspend) is planned, approval-gated; nothing for the test alert.
    let actions = ledger.actions(None, None).expect("actions");
    let key = format!("fraud-suspend/{}/{plan}/{alert_id}", ids::FRAUD);
    let suspend = actions
        .iter()
        .find(|a| a.key == key)
        .expect("suspension planned");
    assert_eq!(suspend.status, ActionStatus::AwaitingApproval);
    assert!(actions.iter().all(|a| !a.key.contains("test-alert-1")));
    // mark_investigating: the new alert was PATCHed to investigating; the test alert was not.
    assert_eq!(sim_alert(&w, &alert_id).status, "investigating");
    assert_eq!(sim_alert(&w, "test-alert-1").status, "active");

    // The watermark advanced; `fraud list` shows the Graph alerts.
    assert!(
        ledger
            .watermark("graph_security_alerts")
            .expect("watermark")
            .is_some()
    );
    let listed = w.cli(now, &["fraud", "list", "--format", "json"]).await;
    assert_eq!(listed.code, Some(0), "{}", listed.show());
    let entries: serde_json::Value = serde_json::from_str(&listed.stdout).expect("JSON");
    let entry = entries
        .as_array()
        .and_then(|l| l.iter().find(|e| e["event_id"] == alert_id.as_str()))
        .expect("the alert is listed");
    assert_eq!(entry["source"], "graph");
    assert_eq!(entry["customer_name"], "Fourth Coffee");
    assert!(entry["finding"].is_string(), "{entry}");

    // `cspguard snapshot` shows the alerts as their own section.
    let snap = w.cli(now, &["snapshot", "--format", "json"]).await;
    assert_eq!(snap.code, Some(0), "{}", snap.show());
    let v: serde_json::Value = serde_json::from_str(&snap.stdout).expect("JSON");
    assert_eq!(
        v["security_alerts"]["status"], "ok",
        "{}",
        v["security_alerts"]
    );
    assert_eq!(
        v["security_alerts"]["data"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(v["fraud_events"]["status"], "not_checked");

    // `fraud resolve --alert` PATCHes the alert; the simulator holds the new status.
    let bad = w
        .cli(
            now,
            &[
                "fraud", "resolve", "--alert", &alert_id, "--status", "resolved",
            ],
        )
        .await;
    assert_eq!(bad.code, Some(2), "a reason is required: {}", bad.show());
    let ok = w
        .cli(
            now,
            &[
                "fraud", "resolve", "--alert", &alert_id, "--status", "resolved", "--reason",
                "fraud",
            ],
        )
        .await;
    assert_eq!(ok.code, Some(0), "{}", ok.show());
    assert!(ok.stdout.contains("resolved (fraud)"), "{}", ok.stdout);
    let after = sim_alert(&w, &alert_id);
    assert_eq!(after.status, "resolved");
    assert_eq!(after.resolved_reason.as_deref(), Some("fraud"));
    assert!(
        w.sim()
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path.ends_with(&alert_id))
    );
    let done = w
        .ledger()
        .actions(None, None)
        .expect("actions")
        .into_iter()
        .find(|a| {
            a.key
                .starts_with(&format!("fraud-alert-status/{alert_id}/manual/"))
        })
        .expect("recorded in the ledger");
    assert_eq!(done.status, ActionStatus::Done);
    assert_eq!(done.kind, "graph_alert_status");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_both_sources_a_signal_in_both_is_one_finding() {
    let now = now();
    let (ds, alert_id, _) = fraud_tenant(now);
    let event_id = ds.fraud_events[0].clone();
    let mut w = world(ds, now).start().await;
    with_graph(&mut w);
    w.run(now, &[], 0).await;

    let findings = w.ledger().open_findings().expect("findings");
    let fraud: Vec<_> = findings
        .iter()
        .filter(|f| f.rule == "fraud.event" || f.rule == "fraud.alert")
        .filter(|f| f.severity == "critical")
        .collect();
    assert_eq!(fraud.len(), 1, "one finding for one signal: {fraud:#?}");
    assert!(
        fraud[0].fingerprint.starts_with("fraud.event:"),
        "{fraud:#?}"
    );
    assert!(
        fraud[0]
            .summary
            .contains(&format!("also Graph security alert {alert_id}")),
        "{}",
        fraud[0].summary
    );
    assert_eq!(event_id.customer_id, ids::FRAUD);
    let actions = w.ledger().actions(None, None).expect("actions");
    let suspends: Vec<_> = actions
        .iter()
        .filter(|a| a.key.starts_with("fraud-suspend/"))
        .collect();
    assert_eq!(suspends.len(), 1, "one response: {suspends:#?}");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_refusal_says_what_to_redo_in_the_run_and_in_doctor() {
    let now = now();
    let (mut ds, _, _) = fraud_tenant(now);
    ds.mfa = SimMfa::Missing;
    let mut w = world(ds, now).start().await;
    with_graph(&mut w);
    let out = w.run(now, &[], 3).await;
    let text = format!("{}\n{}", out.stdout, out.stderr);
    assert!(text.contains("no MFA claim"), "{text}");
    // Graph alerts still ran: fraud was checked without App+User.
    let findings = w.ledger().open_findings().expect("findings");
    assert!(
        findings.iter().any(|f| f.rule == "fraud.alert"),
        "{findings:#?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f.fingerprint == "fraud.read_failed:partner")
    );

    let doctor = w.cli(now, &["doctor"]).await;
    let line = doctor
        .stdout
        .lines()
        .find(|l| l.contains("Partner Center MFA"))
        .unwrap_or_else(|| panic!("{}", doctor.show()));
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(
        line.contains("redo the one-time App+User consent"),
        "{line}"
    );
    assert!(
        doctor.stdout.contains("PASS  Graph security alerts"),
        "{}",
        doctor.show()
    );
    w.shutdown().await;
}

fn graph(h: &cspguard::sim::SimHandle) -> GraphClient {
    let pc = client_options(h, 3);
    let options = GraphOptions {
        base_url: h.base_url(),
        ..GraphOptions::default()
    };
    GraphClient::new(&pc, &options).expect("graph client")
}

#[tokio::test]
async fn simulator_pages_filters_and_patches_generated_alerts() {
    let h = simulator(1500).await;
    let (total, open_total, types) = h.with_dataset(|d| {
        let open = d
            .security_alerts
            .iter()
            .filter(|a| a.status != "resolved")
            .count();
        let types: Vec<(String, bool, String)> = d
            .security_alerts
            .iter()
            .map(|a| (a.alert_type.clone(), a.is_test, a.subscription_id.clone()))
            .collect();
        (d.security_alerts.len(), open, types)
    });
    assert!(total >= 3, "generated alerts: {total}");
    assert!(types.iter().any(|(_, test, _)| *test), "an isTest alert");
    assert!(
        types
            .iter()
            .any(|(t, test, _)| t == "networkConnectionsToCryptoMiningPools" && !test),
        "a crypto-mining alert: {types:?}"
    );
    // Every alert names an Azure subscription of its customer.
    h.with_dataset(|d| {
        for a in &d.security_alerts {
            let c = d.customer(&a.customer_tenant_id).expect("customer exists");
            assert!(
                c.subscriptions
                    .iter()
                    .flat_map(|s| s.entitlements.iter())
                    .any(|e| e.id == a.subscription_id),
                "{} on {}",
                a.id,
                a.subscription_id
            );
        }
    });

    let g = graph(&h);
    // One alert per page: the client follows @odata.nextLink to the end.
    let url = g
        .url(
            &alerts::ALERTS_PATH,
            &[("$filter", "status eq 'active'"), ("$top", "1")],
        )
        .expect("url");
    let mut pages = g.pages::<alerts::PartnerSecurityAlert>(alerts::LIST_LABEL, url);
    let mut seen = 0;
    while let Some(page) = pages.next_page().await.expect("page") {
        assert!(page.len() <= 1);
        seen += page.len();
    }
    assert_eq!(seen, open_total);
    assert_eq!(pages.pages_fetched() as usize, open_total.max(1));

    // PATCH and read back.
    let id = h.with_dataset(|d| d.security_alerts[0].id.clone());
    let updated = alerts::update_status(
        &g,
        &id,
        &AlertStatus::Resolved,
        Some(&AlertResolvedReason::Legitimate),
    )
    .await
    .expect("patched");
    assert_eq!(updated.status, Some(AlertStatus::Resolved));
    assert_eq!(
        updated.resolved_reason,
        Some(AlertResolvedReason::Legitimate)
    );
    assert_eq!(updated.activity_logs.len(), 1);
    let open = alerts::list(&g, &AlertQuery::OpenOrObservedSince(None))
        .expect("list")
        .collect_all()
        .await
        .expect("open alerts");
    assert!(
        open.iter().all(|a| a.id != id),
        "resolved alerts are not open"
    );
    let since = h.with_dataset(|d| d.generated_at);
    let recent = alerts::list(&g, &AlertQuery::OpenOrObservedSince(Some(since)))
        .expect("list")
        .collect_all()
        .await
        .expect("alerts");
    assert_eq!(
        recent.len(),
        open.len(),
        "nothing observed after generation"
    );

    // A bad filter is Graph's 400.
    let url = g
        .url(&alerts::ALERTS_PATH, &[("$filter", "severity gt 'low'")])
        .expect("url");
    let err = g
        .get::<serde_json::Value>(alerts::LIST_LABEL, url)
        .await
        .expect_err("unsupported filter");
    assert_eq!(err.status(), Some(400), "{err}");
    let missing = alerts::get(&g, "no-such-alert").await.expect_err("404");
    assert!(missing.is_not_found(), "{missing}");
    h.shutdown().await;
}

#[tokio::test]
async fn an_mfa_refusal_is_recognised_at_once_without_re_authenticating() {
    let h = simulator(3).await;
    h.with_dataset(|d| d.mfa = SimMfa::Missing);
    let mut o = client_options(&h, 3);
    o.app_user = Some(support::world::sim_token_store());
    let pc = cspguard::pc::PartnerCenter::new(o).expect("client");
    let err = pc
        .fraud_events(None)
        .next_page()
        .await
        .expect_err("refused for MFA");
    assert!(err.is_mfa_required(), "{err:?}");
    assert_eq!(err.status(), Some(401));
    let text = err.to_string();
    assert!(
        text.contains("code 900421") && text.contains("redo the one-time"),
        "{text}"
    );
    let api_calls = h
        .requests()
        .iter()
        .filter(|r| r.path.contains("fraudEvents"))
        .count();
    assert_eq!(
        api_calls, 1,
        "not retried: a new token has no MFA claim either"
    );
    // App-only calls are unaffected.
    pc.invoice_summary().await.expect("app-only still works");
    h.shutdown().await;
}
