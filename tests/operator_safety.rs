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
