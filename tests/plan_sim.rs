//! `plan` end to end against the simulator: the explained plan for the scripted tenant (an insta
//! snapshot at a fixed clock), and the demand-driven call budget on a large tenant.

mod support;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use cspguard::ledger::Ledger;
use cspguard::planning::{self, Planned};
use cspguard::sim::scenario::{self, ids};
use support::world::{World, sim_client};

const NOW: &str = "2026-11-21T08:00:00Z";

/// The simulator serving `dataset` at `now`, and a minimal config (no mode, partner, digest or
/// mail) reading `receivables_csv`.
async fn world(
    dataset: cspguard::sim::dataset::Dataset,
    receivables_csv: &str,
    now: Timestamp,
) -> World {
    World::builder()
        .dataset(dataset)
        .clock(now)
        .receivables(receivables_csv)
        .minimal()
        .start()
        .await
}

async fn plan(w: &World, now: Timestamp) -> Planned {
    let ledger = Ledger::open_in_memory().expect("ledger");
    let config = w.config();
    planning::plan(&sim_client(&config), &config, &ledger, now).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_tenant_plan_is_explained_and_stable() {
    let now: Timestamp = NOW.parse().expect("now");
    let tz = TimeZone::get("Europe/Stockholm").expect("tz");
    let s = scenario::demo_tenant(now, &tz, 5);
    let w = world(s.dataset, &s.receivables_csv, now).await;
    let planned = plan(&w, now).await;
    assert_eq!(
        planned.exit(),
        cspguard::exit::Exit::Ok,
        "{:?}",
        planned.snapshot.calls
    );
    insta::assert_json_snapshot!("scripted_tenant_plan", planned.plan);

    // Quiet customers never cost a per-customer call.
    let per_customer_filler = w
        .sim()
        .requests()
        .iter()
        .filter(|r| r.path.contains(ids::FILLER_PREFIX))
        .count();
    assert_eq!(per_customer_filler, 0);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_tenant_costs_calls_for_customers_needing_attention_not_for_all() {
    let now: Timestamp = NOW.parse().expect("now");
    let tz = TimeZone::get("Europe/Stockholm").expect("tz");
    // 10,000 customers; 100 of them (the first filler customers) are 16 days late.
    let s = scenario::demo_tenant(now, &tz, 10_000);
    let today = now.to_zoned(tz.clone()).date();
    let due = today.checked_sub(jiff::Span::new().days(16)).expect("date");
    let issue = due.checked_sub(jiff::Span::new().days(30)).expect("date");
    let mut csv =
        String::from("customer,invoice,issue_date,due_date,amount,amount_paid,currency\n");
    for i in 0..100 {
        let id = format!("{}{:012}", ids::FILLER_PREFIX, i);
        csv.push_str(&format!("{id},LATE-{i:04},{issue},{due},500.00,0,USD\n"));
    }
    let w = world(s.dataset, &csv, now).await;
    let planned = plan(&w, now).await;
    let requests = w.sim().requests();
    let api_calls = requests
        .iter()
        .filter(|r| r.path.starts_with("/v1/"))
        .count();
    let per_customer = requests
        .iter()
        .filter(|r| r.endpoint.contains("/v1/customers/{id}"))
        .count();
    // Bulk: 21 pages of customers at 500 + usage + audit + fraud + invoices + summary; detail:
    // at most billing profile and subscriptions for each of the 100 late payers and the cast.
    assert!(
        per_customer <= 2 * (100 + 17),
        "{per_customer} per-customer calls"
    );
    assert!(
        api_calls <= 30 + 2 * (100 + 17),
        "{api_calls} calls for 10,017 customers"
    );
    assert_eq!(
        planned.snapshot.calls.totals.calls as usize, api_calls,
        "the client's own count agrees with the simulator's"
    );
    assert_eq!(planned.snapshot.calls.totals.throttled, 0);
    w.shutdown().await;
}
