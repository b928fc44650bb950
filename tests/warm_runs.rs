//! Warm runs (issue 18) on the simulator: a warm plan equals a cold plan of the same moment; a
//! customer created between full refreshes is in the next warm run; a failed consistency check
//! reads the whole list at once; the refresh interval is honoured.

mod support;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use cspguard::config::Config;
use cspguard::ledger::Ledger;
use cspguard::pc::PartnerCenter;
use cspguard::planning::{self, Planned};
use cspguard::sim::dataset::{SimAuditRecord, SimCustomer};
use cspguard::sim::scenario;
use support::world::{World, sim_client};

const NOW: &str = "2026-11-21T08:00:00Z";
const NEW_ID: &str = "11111111-2222-4333-8444-555555555555";

/// The scripted tenant plus `filler` quiet customers, listed 5 to a page.
async fn world(now: Timestamp, filler: usize) -> World {
    let tz = TimeZone::get("Europe/Stockholm").expect("tz");
    let s = scenario::demo_tenant(now, &tz, filler);
    World::builder()
        .dataset(s.dataset)
        .clock(now)
        .receivables(&s.receivables_csv)
        .sim(|c| c.page_size_max = 5)
        .minimal()
        .start()
        .await
}

/// Plans with one client per world: the App+User refresh token rotates on use, so a second
/// client seeded with the first token would be refused.
async fn plan(w: &World, ledger: &Ledger, now: Timestamp) -> Planned {
    static CLIENTS: std::sync::Mutex<Vec<(String, PartnerCenter)>> =
        std::sync::Mutex::new(Vec::new());
    let config = w.config();
    let url = w.sim().base_url();
    let pc = {
        let mut clients = CLIENTS.lock().expect("clients");
        match clients.iter().find(|(u, _)| *u == url) {
            Some((_, pc)) => pc.clone(),
            None => {
                let pc = sim_client(&config);
                clients.push((url, pc.clone()));
                pc
            }
        }
    };
    planning::plan(&pc, &config, ledger, now).await
}

/// Requests to the customer list (its pages), and to one customer by id.
fn list_pages(w: &World) -> usize {
    w.sim()
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/customers")
        .count()
}

fn plan_json(p: &Planned) -> serde_json::Value {
    serde_json::to_value(&p.plan).expect("plan serializes")
}

fn customer_ids(p: &Planned) -> Vec<String> {
    p.snapshot
        .customers
        .data()
        .expect("customer list")
        .iter()
        .map(|c| c.id.clone())
        .collect()
}

/// A cold plan of the same moment, on a fresh ledger.
async fn cold(w: &World, now: Timestamp) -> Planned {
    plan(w, &Ledger::open_in_memory().expect("ledger"), now).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_plan_equals_the_cold_plan_and_reads_one_page_of_the_list() {
    let now: Timestamp = NOW.parse().expect("now");
    let w = world(now, 20).await;
    let ledger = Ledger::open_in_memory().expect("ledger");
    let first = plan(&w, &ledger, now).await;
    let pages = list_pages(&w);
    assert!(pages > 3, "the cold run lists every page: {pages}");

    w.sim().clear_requests();
    let later = now + SignedDuration::from_hours(1);
    let warm = plan(&w, &ledger, later).await;
    assert_eq!(list_pages(&w), 1, "a warm run reads only the first page");
    let cold = cold(&w, later).await;
    assert_eq!(customer_ids(&warm), customer_ids(&cold));
    assert_eq!(
        warm.snapshot.audit_records.data().map(Vec::len),
        cold.snapshot.audit_records.data().map(Vec::len)
    );
    assert_eq!(plan_json(&warm), plan_json(&cold));
    assert_eq!(plan_json(&first), plan_json(&cold));
    assert!(
        !warm.plan.actions.is_empty(),
        "the scripted tenant has work"
    );
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_created_between_full_refreshes_is_in_the_next_warm_run() {
    let now: Timestamp = NOW.parse().expect("now");
    let w = world(now, 12).await;
    let ledger = Ledger::open_in_memory().expect("ledger");
    let first = plan(&w, &ledger, now).await;
    assert!(first.snapshot.customer(NEW_ID).is_none());

    // Created a few minutes before the next hourly run, as Partner Center records it.
    let created = now - SignedDuration::from_mins(5);
    w.sim().with_dataset(|d| {
        let c = SimCustomer::new(NEW_ID, "Northwind Newcomer");
        d.audit_records.push(SimAuditRecord {
            id: "audit-new-customer".into(),
            user_principal_name: "admin@partner.example".into(),
            ..SimAuditRecord::succeeded(&c, ("customer", "add_customer"), created)
        });
        d.customers.push(c);
    });
    w.sim().clear_requests();
    let warm = plan(&w, &ledger, now).await;
    assert_eq!(
        warm.snapshot.company_name(NEW_ID),
        Some("Northwind Newcomer"),
        "the new customer is known to the warm run"
    );
    assert_eq!(list_pages(&w), 1, "without re-listing the customers");
    let by_id = w
        .sim()
        .requests()
        .iter()
        .filter(|r| r.path == format!("/v1/customers/{NEW_ID}"))
        .count();
    assert_eq!(by_id, 1, "the new customer is read by id once");

    let cold = cold(&w, now).await;
    assert_eq!(customer_ids(&warm), customer_ids(&cold));
    assert_eq!(plan_json(&warm), plan_json(&cold));

    // The next warm run does not read it again.
    w.sim().clear_requests();
    let again = plan(&w, &ledger, now).await;
    assert!(again.snapshot.customer(NEW_ID).is_some());
    assert!(w.sim().requests().iter().all(|r| !r.path.contains(NEW_ID)));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_consistency_check_reads_the_whole_list_at_once() {
    let now: Timestamp = NOW.parse().expect("now");
    let w = world(now, 12).await;
    let ledger = Ledger::open_in_memory().expect("ledger");
    plan(&w, &ledger, now).await;
    let cold_pages = list_pages(&w);

    // Renamed without an activity record: the first-page check sees it.
    let renamed = w.sim().with_dataset(|d| {
        d.customers[0].company_name = "Renamed Behind Our Back Ltd".into();
        d.customers[0].id.clone()
    });
    w.sim().clear_requests();
    let warm = plan(&w, &ledger, now).await;
    assert_eq!(
        list_pages(&w),
        1 + cold_pages,
        "the first page, then the whole list again"
    );
    assert_eq!(
        warm.snapshot.company_name(&renamed),
        Some("Renamed Behind Our Back Ltd")
    );
    assert_eq!(plan_json(&warm), plan_json(&cold(&w, now).await));

    // A customer on a later page, unknown to the cache and absent from the activity log, but
    // named by a usage record: the usage check sees it.
    w.sim().with_dataset(|d| {
        let mut c = SimCustomer::new(NEW_ID, "Silent Arrival");
        c.usage_mtd = rust_decimal::Decimal::new(1250, 0);
        d.customers.push(c);
    });
    w.sim().clear_requests();
    let warm = plan(&w, &ledger, now).await;
    assert!(list_pages(&w) > 1, "the whole list is read again");
    assert_eq!(warm.snapshot.company_name(NEW_ID), Some("Silent Arrival"));

    // And then the cache is warm again.
    w.sim().clear_requests();
    plan(&w, &ledger, now).await;
    assert_eq!(list_pages(&w), 1);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_list_is_read_once_per_refresh_interval() {
    let now: Timestamp = NOW.parse().expect("now");
    let mut w = world(now, 12).await;
    w.configure(|c| {
        c.set("snapshot", "full_refresh_hours", "2");
    });
    let ledger = Ledger::open_in_memory().expect("ledger");
    plan(&w, &ledger, now).await;
    let cold_pages = list_pages(&w);
    for (hours, pages) in [(1, 1), (2, cold_pages), (3, 1)] {
        w.sim().clear_requests();
        plan(&w, &ledger, now + SignedDuration::from_hours(hours)).await;
        assert_eq!(list_pages(&w), pages, "at +{hours} h");
    }

    // 0: every run reads the whole list.
    w.configure(|c| {
        c.set("snapshot", "full_refresh_hours", "0");
    });
    w.sim().clear_requests();
    plan(&w, &ledger, now + SignedDuration::from_hours(3)).await;
    assert_eq!(list_pages(&w), cold_pages);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_interval_is_validated_at_load() {
    let now: Timestamp = NOW.parse().expect("now");
    let mut w = world(now, 0).await;
    w.configure(|c| {
        c.set("snapshot", "full_refresh_hours", "500");
    });
    let err = Config::load(&w.config_path()).expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("snapshot.full_refresh_hours = 500") && text.contains("between 0"),
        "{text}"
    );
    w.shutdown().await;
}
