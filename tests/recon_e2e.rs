//! Billing reconciliation end to end (issue 17): the simulator's Graph export flow (202 +
//! Location, running then succeeded, a legacy invoice failing with code 5000, a failing export,
//! manifest, gzip JSON-lines blobs without a bearer token), the receivables export and a
//! temporary ledger. A partner sees which customers Microsoft billed but it never invoiced, per
//! currency and period, in `cspguard reconcile`, `plan` and the digest; reconciled exports are
//! remembered and not fetched again.

mod support;

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde_json::Value;

use cspguard::sim::dataset::{
    DEPARTED_TENANT, Dataset, SimBilling, SimCustomer, SimInvoice, SimLineItem,
};
use support::config::quote;
use support::world::World;

const NOW: &str = "2026-11-21T08:00:00Z";
const BILLED_EXPORT: &str = "POST /v1.0/reports/partners/billing/reconciliation/billed/export";

fn line(
    inv: &SimInvoice,
    c: &SimCustomer,
    product: &str,
    quantity: u32,
    price: i64,
) -> SimLineItem {
    SimLineItem {
        invoice: Some(inv.id.clone()),
        customer_id: c.id.clone(),
        customer_name: c.company_name.clone(),
        product_id: format!("{product}-ID"),
        product_name: product.to_owned(),
        currency: c.currency.clone(),
        quantity,
        unit_price: Decimal::new(price, 2),
        charge_start: inv.billing_period_start,
        charge_end: inv.billing_period_end,
    }
}

/// Three customers: A (USD) invoiced in full, B (USD) invoiced too little in 2026-10, nothing
/// in 2026-09 and late, C (EUR) never invoiced; one billed tenant no longer a customer; the
/// 2026-08 invoice is legacy (5000) and the 2026-07 export fails.
fn dataset(now: Timestamp) -> Dataset {
    let mut ds = Dataset::generate(17, 3, now);
    for (c, cur) in ds.customers.iter_mut().zip(["USD", "USD", "EUR"]) {
        c.currency = cur.to_owned();
    }
    let inv: Vec<SimInvoice> = ds.invoices[..4].to_vec();
    let (a, b, c) = (&ds.customers[0], &ds.customers[1], &ds.customers[2]);
    let mut departed = a.clone();
    departed.id = DEPARTED_TENANT.to_owned();
    departed.company_name = "Departed Customer Ltd".to_owned();
    let mut billed = Vec::new();
    for i in &inv[..2] {
        billed.push(line(i, a, "Microsoft 365 E3", 10, 1200));
        billed.push(line(i, b, "Microsoft 365 Business Premium", 5, 2000));
    }
    billed.push(line(&inv[0], c, "Dynamics 365 Sales", 2, 4000));
    billed.push(line(&inv[0], &departed, "Exchange Online", 3, 600));
    let mut unbilled = line(&inv[0], b, "Azure plan", 1, 3000);
    unbilled.invoice = None;
    ds.billing = SimBilling {
        billed,
        unbilled: vec![unbilled],
        legacy_invoices: vec![inv[2].id.clone()],
        failing_invoices: vec![inv[3].id.clone()],
        running_polls: 2,
        ..SimBilling::default()
    };
    ds
}

fn receivables(ds: &Dataset) -> String {
    let (a, b) = (&ds.customers[0].id, &ds.customers[1].id);
    [
        "customer,invoice,issue_date,due_date,amount,amount_paid,currency,status".to_owned(),
        format!("{a},INV-A1,2026-10-20,2026-11-19,500.00,500.00,USD,paid"),
        format!("{a},INV-A2,2026-09-20,2026-10-20,500.00,500.00,USD,paid"),
        format!("{b},INV-B1,2026-10-20,2026-11-05,50.00,0,USD,open"),
    ]
    .join("\n")
        + "\n"
}

async fn world(now: Timestamp, smtp: bool) -> (World, Dataset) {
    let ds = dataset(now);
    let mut builder = World::builder()
        .dataset(ds.clone())
        .clock(now)
        .receivables(&receivables(&ds))
        .mode("dry-run");
    if smtp {
        builder = builder.smtp();
    } else {
        builder = builder.minimal();
    }
    let mut w = builder.start().await;
    let url = w.sim().base_url();
    w.configure(|c| {
        c.set("graph", "base_url", &quote(&url))
            .set("reconciliation", "enabled", "true")
            .set("reconciliation", "periods", "4")
            .set("reconciliation", "match_window_days", "0")
            .set("reconciliation", "min_margin_percent", "10")
            .set("reconciliation", "max_poll_interval_secs", "0");
    });
    (w, ds)
}

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
        .parse()
        .unwrap_or_else(|e| panic!("a decimal, not {v}: {e}"))
}

fn billed_exports(w: &World) -> usize {
    w.sim()
        .requests()
        .iter()
        .filter(|r| r.endpoint == BILLED_EXPORT)
        .count()
}

fn find<'a>(list: &'a Value, customer: &str, period: &str) -> &'a Value {
    list.as_array()
        .expect("a list")
        .iter()
        .find(|g| g["customer"] == customer && g["period"] == period)
        .unwrap_or_else(|| panic!("{customer} {period} in {list:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_shows_not_invoiced_customers_and_does_not_refetch_reconciled_exports() {
    let now: Timestamp = NOW.parse().expect("now");
    let (w, ds) = world(now, false).await;
    std::fs::create_dir_all(w.state_path().parent().expect("state dir")).expect("state dir");
    drop(cspguard::ledger::Ledger::open(&w.state_path()).expect("a state database"));
    let (a, b, c) = (&ds.customers[0], &ds.customers[1], &ds.customers[2]);
    let inv = &ds.invoices;

    let out = w.cli(now, &["reconcile", "--json"]).await;
    // A failing export makes the reconciliation incomplete: degraded, and it says why.
    assert_eq!(out.code, Some(3), "{}\n{}", out.stdout, out.stderr);
    let json: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let r = &json["reconciliation"];
    assert_eq!(r["verdict"], "5 items audited", "{r:#}");

    let b_sep = find(&r["not_invoiced"], &b.id, "2026-09");
    assert_eq!(
        (b_sep["currency"].as_str(), dec(&b_sep["cost"])),
        (Some("USD"), Decimal::new(100, 0))
    );
    let c_oct = find(&r["not_invoiced"], &c.id, "2026-10");
    assert_eq!(
        (c_oct["currency"].as_str(), dec(&c_oct["cost"])),
        (Some("EUR"), Decimal::new(80, 0))
    );
    assert_eq!(r["not_invoiced"].as_array().map(Vec::len), Some(2), "{r:#}");
    let b_oct = find(&r["under_invoiced"], &b.id, "2026-10");
    assert_eq!(dec(&b_oct["invoiced"]), Decimal::new(50, 0));
    assert_eq!(dec(&b_oct["expected"]), Decimal::new(110, 0));
    assert!(
        r["not_invoiced"].to_string().find(&a.id).is_none(),
        "A is invoiced in full"
    );

    // Exposure of the late payer B: uncollected 50 + never invoiced 100 + unbilled 30.
    let exposure = &r["exposure"][0];
    assert_eq!(exposure["customer"], b.id.as_str());
    assert_eq!(
        dec(&exposure["total"]),
        Decimal::new(180, 0),
        "{exposure:#}"
    );
    assert_eq!(exposure["days_overdue"], 16);

    // Totals per currency, never summed across currencies.
    let totals = r["totals"].as_array().expect("totals");
    let usd = totals.iter().find(|t| t["currency"] == "USD").expect("USD");
    let eur = totals.iter().find(|t| t["currency"] == "EUR").expect("EUR");
    assert_eq!(dec(&usd["billed"]), Decimal::new(458, 0));
    assert_eq!(dec(&eur["billed"]), Decimal::new(80, 0));
    assert_eq!(dec(&usd["unbilled"]), Decimal::new(30, 0));

    // Coverage: the legacy invoice (5000) and the failing export are not reconcilable, with
    // their reasons; the departed tenant is listed, not flagged.
    let cov = &r["coverage"];
    let unrec = cov["not_reconcilable"].to_string();
    assert!(
        unrec.contains(&inv[2].id) && unrec.contains("5000"),
        "{cov:#}"
    );
    assert!(
        unrec.contains(&inv[3].id) && unrec.contains("7000"),
        "{cov:#}"
    );
    assert!(
        cov["unmapped_customers"]
            .to_string()
            .contains("Departed Customer Ltd")
    );
    assert_eq!(
        cov["exports_fetched"], 3,
        "two billed and one unbilled: {cov:#}"
    );
    let rules: Vec<&str> = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(rules.contains(&"recon.not_invoiced") && rules.contains(&"recon.exposure"));
    assert_eq!(billed_exports(&w), 4);

    // Blobs were fetched without a bearer token, and the SAS signature is never printed.
    let blobs: Vec<_> = w
        .sim()
        .requests()
        .into_iter()
        .filter(|r| r.endpoint.starts_with("GET /blobs/"))
        .collect();
    assert!(!blobs.is_empty());
    for blob in &blobs {
        assert!(blob.header("authorization").is_none(), "{blob:?}");
        let sig = blob
            .query
            .as_deref()
            .unwrap_or_default()
            .split("sig=")
            .nth(1)
            .unwrap_or("x");
        assert!(!out.stdout.contains(sig) && !out.stderr.contains(sig));
    }

    // Second run: the reconciled invoices and the legacy one come from the ledger; only the
    // failed export is asked for again.
    let again = w.cli(now, &["reconcile"]).await;
    assert_eq!(again.code, Some(3), "{}\n{}", again.stdout, again.stderr);
    assert_eq!(
        billed_exports(&w),
        5,
        "only the failed export is fetched again"
    );
    let text = &again.stdout;
    assert!(
        text.contains("Billing reconciliation: 5 items audited"),
        "{text}"
    );
    assert!(
        text.contains("Billed by Microsoft, never invoiced"),
        "{text}"
    );
    let c_row = text
        .lines()
        .find(|l| l.contains(&c.id))
        .unwrap_or_else(|| panic!("a row for C: {text}"));
    assert!(
        c_row.contains("2026-10") && c_row.contains("EUR 80"),
        "{c_row}"
    );
    assert!(text.contains("2 remembered from earlier runs"), "{text}");

    // One period on its own.
    let sep = w
        .cli(now, &["reconcile", "--period", "2026-09", "--json"])
        .await;
    assert_eq!(sep.code, Some(0), "{}\n{}", sep.stdout, sep.stderr);
    let sep: Value = serde_json::from_str(&sep.stdout).expect("JSON");
    assert_eq!(
        sep["reconciliation"]["coverage"]["periods"],
        serde_json::json!(["2026-09"])
    );
    assert_eq!(billed_exports(&w), 5, "2026-09 is remembered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_the_digest_show_the_reconciliation() {
    let now: Timestamp = NOW.parse().expect("now");
    let (w, ds) = world(now, true).await;
    let c = &ds.customers[2];

    let plan = w.cli(now, &["plan", "--format", "json"]).await;
    let json: Value = serde_json::from_str(&plan.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", plan.stdout, plan.stderr));
    let recon = &json["plan"]["recon"];
    assert_eq!(recon["verdict"], "5 items audited", "{recon:#}");
    find(&recon["not_invoiced"], &c.id, "2026-10");
    let fingerprint = format!("recon.not_invoiced:{}:2026-10:EUR", c.id);
    assert!(json["plan"]["findings"].to_string().contains(&fingerprint));
    assert!(
        json["plan"]["risk"]
            .to_string()
            .contains(&ds.customers[1].id),
        "the late payer's exposure counts in the risk ranking"
    );
    let table = w.cli(now, &["plan"]).await;
    assert!(
        table
            .stdout
            .contains("Billing reconciliation: 5 items audited"),
        "{}",
        table.stdout
    );

    let out = w.run(now, &[], 0).await;
    let digest = w
        .smtp()
        .received()
        .into_iter()
        .find(|m| m.mail().subject().starts_with("cspguard digest"))
        .unwrap_or_else(|| panic!("a digest: {}", out.stderr));
    let text = digest
        .mail()
        .parts
        .into_iter()
        .find(|p| p.content_type.starts_with("text/plain"))
        .map(|p| p.body.replace("\r\n", "\n"))
        .expect("a text/plain part");
    let section = text
        .split("BILLING RECONCILIATION")
        .nth(1)
        .unwrap_or_else(|| panic!("a reconciliation section: {text}"));
    assert!(section.starts_with(" (5 items audited)"), "{section}");
    assert!(
        section.contains("EUR: billed by Microsoft EUR 80"),
        "{section}"
    );
    assert!(
        section.contains(&format!(
            "{} ({}), 2026-10: Microsoft billed EUR 80, invoiced nothing",
            c.company_name, c.id
        )),
        "{section}"
    );
    assert!(section.contains("Exposure of late payers"), "{section}");
    assert!(
        section.contains("no data available (Graph code 5000"),
        "{section}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_refuses_when_not_enabled() {
    let now: Timestamp = NOW.parse().expect("now");
    let (mut w, _) = world(now, false).await;
    w.configure(|c| {
        c.remove_section("reconciliation");
    });
    let out = w.cli(now, &["reconcile"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("PartnerBilling.Read.All"),
        "{}",
        out.stderr
    );
    assert_eq!(billed_exports(&w), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_still_running_past_the_poll_bound_is_reported_and_tried_again() {
    let now: Timestamp = NOW.parse().expect("now");
    let (mut w, _) = world(now, false).await;
    w.sim().with_dataset(|ds| ds.billing.running_polls = 1_000);
    w.configure(|c| {
        c.set("reconciliation", "max_polls", "3")
            .set("reconciliation", "unbilled", "false");
    });
    std::fs::create_dir_all(w.state_path().parent().expect("state dir")).expect("state dir");
    drop(cspguard::ledger::Ledger::open(&w.state_path()).expect("a state database"));
    for round in 1..=2 {
        let out = w.cli(now, &["reconcile", "--json"]).await;
        assert_eq!(out.code, Some(3), "{}\n{}", out.stdout, out.stderr);
        let json: Value = serde_json::from_str(&out.stdout).expect("JSON");
        let r = &json["reconciliation"];
        assert_eq!(r["verdict"], "0 items audited", "{r:#}");
        let unrec = r["coverage"]["not_reconcilable"].as_array().expect("list");
        assert_eq!(unrec.len(), 4, "{r:#}");
        assert!(
            unrec.iter().all(|u| u["reason"]
                .as_str()
                .is_some_and(|t| t.contains("still running after 3 polls")
                    && t.contains("tried again next run"))),
            "{r:#}"
        );
        assert!(r["not_invoiced"].as_array().is_some_and(Vec::is_empty));
        assert_eq!(billed_exports(&w), 4 * round, "nothing was remembered");
    }
}
