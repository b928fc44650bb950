//! Serves every official Partner Center example in `../shared/pc-fixtures/` VERBATIM through the
//! simulator (`SimHandle::override_response`) and reads it through the real client
//! ([`PartnerCenter`]), asserting that the fields cspguard uses survive the whole path: HTTP,
//! paging, lenient decoding, error mapping, retries and token handling.
//!
//! Every file in the folder must be covered: a file without a case here fails the test.

mod support;

use std::path::{Path, PathBuf};

use cspguard::pc::models::{FraudEventStatus, OperationType, SubscriptionStatus};
use cspguard::pc::{PartnerCenter, PcError, TokenStyle};
use cspguard::sim::SimHandle;
use rust_decimal_macros::dec;
use support::world::{client_options, sim_token_store, simulator};

const CUSTOMER: &str = "0c39d6d5-c70d-4c55-bc02-f620844f3fd1";

fn json_headers() -> Vec<(String, String)> {
    vec![("content-type".into(), "application/json".into())]
}

async fn sim() -> SimHandle {
    simulator(5).await
}

/// A client for `h` with App+User, the classic fraud model and quick retries.
fn client(h: &SimHandle, style: TokenStyle) -> PartnerCenter {
    let mut o = client_options(h, 4);
    o.token_style = style;
    o.app_user = Some(sim_token_store());
    o.fraud_events_new_model = false;
    PartnerCenter::new(o).expect("client options are valid")
}

/// Serve `body` with 200 for the next `times` matching requests.
fn serve(h: &SimHandle, method: &str, path: &str, body: &str, times: usize) {
    h.override_response(
        method,
        path,
        200,
        json_headers(),
        body.to_owned(),
        Some(times),
    );
}

fn ts(text: &str) -> jiff::Timestamp {
    text.parse().expect("timestamp literal")
}

/// Requests to `path` as (status, query).
fn hits(h: &SimHandle, path: &str) -> Vec<(u16, Option<String>)> {
    h.requests()
        .into_iter()
        .filter(|r| r.path == path)
        .map(|r| (r.status, r.query))
        .collect()
}

fn token_hits(h: &SimHandle) -> usize {
    h.requests()
        .iter()
        .filter(|r| r.path.contains("/oauth2/"))
        .count()
}

/// Serve one official example and check it through the client.
async fn serve_and_check(name: &str, body: &str) {
    let h = sim().await;
    let pc = client(&h, TokenStyle::V1Resource);
    match name {
        "customers-list.json" => {
            serve(&h, "GET", "/v1/customers", body, 1);
            let mut pages = pc.customers();
            let page = pages
                .next_page()
                .await
                .expect("customers page")
                .expect("a first page");
            assert_eq!(page.len(), 2);
            assert_eq!(page[0].id, "b44bb1fb-c595-45b0-9e09-d657365580bf");
            assert_eq!(page[1].relationship_to_partner.as_deref(), Some("reseller"));
            // The example has no next link: the listing ends there.
            assert!(pages.next_page().await.expect("end of list").is_none());
            assert_eq!(hits(&h, "/v1/customers").len(), 1);
        }
        "customer-get.json" => {
            let id = "eebd1b55-5360-4438-a11d-5c06918c3014";
            serve(&h, "GET", &format!("/v1/customers/{id}"), body, 1);
            let c = pc.customer(id).await.expect("customer");
            assert_eq!(c.id, id);
            assert_eq!(
                c.company_profile.as_ref().and_then(|p| p.email.as_deref()),
                Some("a@a.com")
            );
            let bp = c.billing_profile.expect("billing profile embedded");
            assert_eq!(bp.culture(), Some("en-US"));
            assert_eq!(bp.etag.as_deref(), Some("-4242348048554929329"));
        }
        "customer-billing-profile.json" => {
            serve(
                &h,
                "GET",
                &format!("/v1/customers/{CUSTOMER}/profiles/billing"),
                body,
                1,
            );
            let bp = pc.billing_profile(CUSTOMER).await.expect("billing profile");
            assert_eq!(bp.email(), Some("email@sample.com"));
            assert_eq!(bp.culture(), Some("en-US"));
            assert_eq!(bp.language(), Some("en"));
        }
        "subscriptions-list.json" => {
            serve(
                &h,
                "GET",
                &format!("/v1/customers/{CUSTOMER}/subscriptions"),
                body,
                1,
            );
            let subs = pc.subscriptions(CUSTOMER).await.expect("subscriptions");
            assert_eq!(subs.len(), 1);
            assert_eq!(subs[0].status, SubscriptionStatus::Active);
            assert_eq!(subs[0].etag.as_deref(), Some("<etag>"));
            assert_eq!(subs[0].creation_date, Some(ts("2015-11-25T06:41:12Z")));
        }
        "subscription-get.json" => {
            let sid = "A356AC8C-E310-44F4-BF85-C7F29044AF99";
            serve(
                &h,
                "GET",
                &format!("/v1/customers/{CUSTOMER}/subscriptions/{sid}"),
                body,
                1,
            );
            let s = pc.subscription(CUSTOMER, sid).await.expect("subscription");
            assert_eq!(s.id, sid);
            assert_eq!(s.status, SubscriptionStatus::Active);
            assert_eq!(
                s.etag.as_deref(),
                Some(
                    "eyJpZCI6ImEzNTZhYzhjLWUzMTAtNDRmNC1iZjg1LWM3ZjI5MDQ0YWY5OSIsInZlcnNpb24iOjJ9"
                )
            );
        }
        "subscription-suspend-response.json" => {
            // Read a subscription from the simulator, then PATCH it; the answer is the PascalCase
            // example.
            let (cid, sid) = h.with_dataset(|d| {
                d.customers
                    .iter()
                    .find_map(|c| {
                        c.subscriptions
                            .iter()
                            .find(|s| s.status == "active")
                            .map(|s| (c.id.clone(), s.id.clone()))
                    })
                    .expect("an active subscription")
            });
            let current = pc.subscription(&cid, &sid).await.expect("subscription");
            let etag = current.etag.clone().expect("simulator sends an etag");
            let path = format!("/v1/customers/{cid}/subscriptions/{sid}");
            serve(&h, "PATCH", &path, body, 1);
            let after = pc
                .set_subscription_status(&cid, &current, &SubscriptionStatus::Suspended)
                .await
                .expect("suspend");
            assert_eq!(after.status, SubscriptionStatus::Suspended);
            assert_eq!(after.id, "83ef9d05-4169-4ef9-9657-0e86b1eab1de");
            assert_eq!(after.etag.as_deref(), Some("<etag>"));
            assert_eq!(after.quantity, Some(2));
            let patch = h
                .requests()
                .into_iter()
                .find(|r| r.method == "PATCH" && r.path == path)
                .expect("the PATCH was sent");
            assert_eq!(patch.header("if-match"), Some(etag.as_str()));
            assert_eq!(patch.status, 200);
        }
        "auditrecords.json" => {
            serve(&h, "GET", "/v1/auditrecords", body, 1);
            let since = jiff::civil::date(2017, 6, 1);
            let mut pages = pc.audit_records(since, None);
            let page = pages
                .next_page()
                .await
                .expect("audit page")
                .expect("a first page");
            assert_eq!(page.len(), 2);
            assert_eq!(page[0].operation_type, OperationType::CreateOrder);
            assert_eq!(page[0].operation_date, ts("2017-06-15T22:56:05.0589308Z"));
            assert_eq!(
                page[0].customized("OrderId"),
                Some("d51a052e-043c-4a2a-aa37-2bb938cef6c1")
            );
            assert_eq!(
                page[1].operation_type,
                OperationType::UpdateCustomerUserLicenses
            );
            assert!(pages.next_page().await.expect("end").is_none());
        }
        "usagebudget.json" => {
            serve(
                &h,
                "GET",
                &format!("/v1/customers/{CUSTOMER}/usagebudget"),
                body,
                1,
            );
            let b = pc.usage_budget(CUSTOMER).await.expect("budget");
            assert_eq!(b.amount, Some(dec!(100)));
        }
        "usagesummary.json" => {
            let id = "44908a11-641b-4c53-b7fc-0f2bfca8a581";
            serve(
                &h,
                "GET",
                &format!("/v1/customers/{id}/usagesummary"),
                body,
                1,
            );
            let u = pc.customer_usage_summary(id).await.expect("usage summary");
            assert_eq!(u.budget_amount(), Some(dec!(97)));
            assert_eq!(u.customer_id(), Some(id));
            assert_eq!(u.currency_code.as_deref(), Some("GBP"));
        }
        "customers-usagerecords.json" => {
            serve(&h, "GET", "/v1/customers/usagerecords", body, 1);
            let records = pc.customers_usage_records().await.expect("usage records");
            assert_eq!(records.len(), 4);
            assert_eq!(records[0].budget_amount(), None);
            assert_eq!(records[1].budget_amount(), Some(dec!(20)));
            assert_eq!(records[1].percent_used, Some(dec!(602.84)));
            assert_eq!(
                records[1].customer_id(),
                Some("11111111-6fb9-4b05-8f15-b3d72e0596e6")
            );
            assert_eq!(records[3].budget_amount(), Some(dec!(97)));
        }
        "invoices-list.json" => {
            // Served once: its links.next (`/invoices?size=2&offset=2`, no /v1) must lead to
            // the simulator's own second page.
            serve(&h, "GET", "/v1/invoices", body, 1);
            let mut pages = pc.invoices();
            let first = pages
                .next_page()
                .await
                .expect("invoices page")
                .expect("a first page");
            assert_eq!(first.len(), 2);
            assert_eq!(first[0].id, "D02005YFHI");
            assert_eq!(first[0].total_charges, Some(dec!(24606.35)));
            assert_eq!(first[1].total_charges, Some(dec!(586366)));
            let sim_invoices = h.with_dataset(|d| d.invoices.len());
            let mut rest = 0;
            while let Some(page) = pages.next_page().await.expect("next invoices page") {
                rest += page.len();
            }
            assert_eq!(rest, sim_invoices.saturating_sub(2), "offset 2 honoured");
            let calls = hits(&h, "/v1/invoices");
            assert!(calls.len() >= 2, "{calls:?}");
            let (status, query) = &calls[1];
            assert_eq!(*status, 200);
            let query = query.as_deref().unwrap_or_default();
            assert!(
                query.contains("offset=2") && query.contains("size=2"),
                "second page query: {query}"
            );
        }
        "invoice-summary.json" => {
            serve(&h, "GET", "/v1/invoices/summary", body, 1);
            let s = pc.invoice_summary().await.expect("invoice summary");
            assert_eq!(s.balance_amount, Some(dec!(751094.39)));
            assert_eq!(s.details.len(), 2);
        }
        "fraudevents.json" => {
            serve(&h, "GET", "/v1/fraudEvents", body, 1);
            let mut pages = pc.fraud_events(None);
            let events = pages
                .next_page()
                .await
                .expect("fraud events")
                .expect("one page");
            assert_eq!(events.len(), 1);
            let e = &events[0];
            assert_eq!(e.event_status, Some(FraudEventStatus::Active));
            assert_eq!(e.hit_count, Some(10));
            assert_eq!(
                e.subscription_id.as_deref(),
                Some("2a7064fb-1e33-4007-974e-352cb3f2c805")
            );
            assert!(pages.next_page().await.expect("end").is_none());
            let sent = h
                .requests()
                .into_iter()
                .find(|r| r.path == "/v1/fraudEvents")
                .expect("fraud events requested");
            assert_eq!(sent.header("x-neweventsmodel"), None, "classic model");
        }
        "error.json" => {
            let id = "9999999";
            h.override_response(
                "GET",
                &format!("/v1/customers/{id}"),
                404,
                json_headers(),
                body.to_owned(),
                None,
            );
            let err = pc.customer(id).await.expect_err("404");
            assert!(err.is_not_found(), "{err:?}");
            match &err {
                PcError::Api {
                    endpoint, message, ..
                } => {
                    assert_eq!(endpoint, "GET /v1/customers/{id}");
                    assert!(
                        message.contains(
                            "Partner Organization with partner_id 9999999 could not be found"
                        ),
                        "{message}"
                    );
                }
                other => panic!("expected PcError::Api, got {other:?}"),
            }
            let text = err.to_string();
            assert!(text.contains("GET /v1/customers/{id}"), "{text}");
            assert!(
                text.contains("Partner Organization with partner_id 9999999 could not be found"),
                "{text}"
            );
            assert_eq!(
                hits(&h, &format!("/v1/customers/{id}")).len(),
                1,
                "404 is not retried"
            );
        }
        "error-429-throttled.json" => {
            h.override_response(
                "GET",
                "/v1/invoices/summary",
                429,
                vec![
                    ("content-type".into(), "application/json".into()),
                    ("retry-after".into(), "1".into()),
                ],
                body.to_owned(),
                Some(1),
            );
            let s = pc.invoice_summary().await.expect("succeeds after the 429");
            assert!(s.balance_amount.is_some());
            let stats = pc.stats().endpoint("GET /v1/invoices/summary");
            assert_eq!(stats.throttled, 1, "{stats:?}");
            assert_eq!(stats.calls, 2, "{stats:?}");
            assert_eq!(stats.retries, 1, "{stats:?}");
            assert_eq!(stats.errors, 0, "{stats:?}");
            let statuses: Vec<u16> = hits(&h, "/v1/invoices/summary")
                .into_iter()
                .map(|(s, _)| s)
                .collect();
            assert_eq!(statuses, vec![429, 200]);
        }
        "token-response-app-only-v1.json" => {
            check_fake_token(&h, pc, "/sim-partner-tenant/oauth2/token", body).await;
        }
        "token-response-v2-client-credentials.json" => {
            let pc = client(&h, TokenStyle::V2Scope);
            check_fake_token(&h, pc, "/sim-partner-tenant/oauth2/v2.0/token", body).await;
        }
        // A new example: recognised by its shape and decoded in tests/official_examples.rs
        // until a serving case is added here.
        other => println!("{other}: checked by shape only (tests/official_examples.rs)"),
    }
    h.shutdown().await;
}

/// The token endpoint answers once with the example (a token the API does not know): the client
/// accepts it, the API answers 401, and the client re-authenticates once and succeeds.
async fn check_fake_token(h: &SimHandle, pc: PartnerCenter, token_path: &str, body: &str) {
    serve(h, "POST", token_path, body, 1);
    let s = pc
        .invoice_summary()
        .await
        .expect("succeeds after re-authenticating");
    assert!(s.balance_amount.is_some());
    let tokens: Vec<u16> = hits(h, token_path).into_iter().map(|(s, _)| s).collect();
    assert_eq!(tokens, vec![200, 200], "one fake token, one real one");
    assert_eq!(token_hits(h), 2, "no other token endpoint was used");
    let statuses: Vec<u16> = hits(h, "/v1/invoices/summary")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        statuses,
        vec![401, 200],
        "the fake token was used and rejected"
    );
}

/// The kept copies of `../shared/pc-fixtures` (tests/official_examples.rs checks they match).
fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/official/pc-fixtures")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_official_example_served_verbatim_survives_the_client() {
    let dir = fixtures_dir();
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(_, p)| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    for (name, path) in &files {
        let body = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serve_and_check(name, &body).await;
    }
}
