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
