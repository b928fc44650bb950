//! The Partner Center client against the simulator (`cspguard::sim`): token expiry mid-run,
//! throttling and 5xx storms, large seek-paged listings, App+User gating and refresh-token
//! rotation persisted to a file, truncated bodies, ETag conflicts, and both token forms.

mod support;

use std::collections::HashSet;
use std::sync::Arc;

use cspguard::pc::models::SubscriptionStatus;
use cspguard::pc::store::{FileRefreshTokenStore, RefreshTokenStore};
use cspguard::pc::{ClientOptions, PartnerCenter, PcError, TokenStyle};
use cspguard::sim::SimHandle;
use secrecy::{ExposeSecret, SecretString};
use support::world::{client_options, simulator};

async fn sim(customers: usize) -> SimHandle {
    simulator(customers).await
}

/// App-only options with quick retries (6 attempts) and pages of 50.
fn options(h: &SimHandle) -> ClientOptions {
    let mut o = client_options(h, 6);
    o.page_size = 50;
    o
}

fn token_calls(h: &SimHandle) -> usize {
    h.requests()
        .iter()
        .filter(|r| r.path.contains("/oauth2/"))
        .count()
}

fn first_customer(h: &SimHandle) -> String {
    h.with_dataset(|ds| ds.customers.first().map(|c| c.id.clone()))
        .expect("dataset has a customer")
}

#[tokio::test]
async fn pages_through_2000_customers_with_continuation_tokens() {
    let h = sim(2000).await;
    let expected: HashSet<String> =
        h.with_dataset(|ds| ds.customers.iter().map(|c| c.id.clone()).collect());
    let pc = PartnerCenter::new(options(&h)).expect("client");
    let mut pages = pc.customers();
    let mut ids = Vec::new();
    while let Some(page) = pages.next_page().await.expect("page") {
        assert!(page.len() <= 50, "page size respected");
        ids.extend(page.into_iter().map(|c| c.id));
    }
    assert_eq!(ids.len(), 2000);
    let unique: HashSet<String> = ids.into_iter().collect();
    assert_eq!(unique.len(), 2000, "no duplicates");
    assert_eq!(unique, expected, "every customer id, nothing else");

    let lists: Vec<_> = h
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/v1/customers")
        .collect();
    assert_eq!(lists.len(), 40);
    assert!(lists[0].header("ms-continuationtoken").is_none());
    for r in &lists[1..] {
        assert!(
            r.header("ms-continuationtoken")
                .is_some_and(|t| !t.is_empty()),
            "continuation header replayed: {r:?}"
        );
        assert_eq!(r.status, 200);
    }
    assert_eq!(pc.stats().endpoint("GET /v1/customers").calls, 40);
}

#[tokio::test]
async fn token_expiry_between_pages_reauthenticates_transparently() {
    let h = sim(120).await;
    let pc = PartnerCenter::new(options(&h)).expect("client");
    let mut pages = pc.customers();
    let first = pages.next_page().await.expect("page 1").expect("some");
    assert_eq!(first.len(), 50);
    assert_eq!(token_calls(&h), 1);
    h.expire_all_tokens();
    let mut total = first.len();
    while let Some(p) = pages.next_page().await.expect("later pages survive expiry") {
        total += p.len();
    }
    assert_eq!(total, 120);
    assert_eq!(token_calls(&h), 2, "exactly one re-authentication");
    let unauthorized = h.requests().iter().filter(|r| r.status == 401).count();
    assert_eq!(unauthorized, 1);
}

#[tokio::test]
async fn throttling_storm_is_ridden_out() {
    let h = sim(3).await;
    let id = first_customer(&h);
    let path = format!("/v1/customers/{id}");
    h.override_response(
        "GET",
        &path,
        429,
        vec![("Retry-After".into(), "0".into())],
        r#"{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 0 seconds."}"#
            .into(),
        Some(4),
    );
    let pc = PartnerCenter::new(options(&h)).expect("client");
    let c = pc.customer(&id).await.expect("succeeds after the storm");
    assert_eq!(c.id, id);
    let ep = pc.stats().endpoint("GET /v1/customers/{id}");
    assert_eq!(
        (ep.calls, ep.throttled, ep.retries, ep.errors),
        (5, 4, 4, 0)
    );
}

#[tokio::test]
async fn server_error_burst_then_success_and_persistent_failure_bounded() {
    let h = sim(3).await;
    let id = first_customer(&h);
    let path = format!("/v1/customers/{id}/subscriptions");
    h.override_response(
        "GET",
        &path,
        503,
        vec![],
        r#"{"code": 503, "description": "Service unavailable", "source": "PartnerFD"}"#.into(),
        Some(3),
    );
    let pc = PartnerCenter::new(options(&h)).expect("client");
    let subs = pc.subscriptions(&id).await.expect("succeeds after burst");
    assert!(!subs.is_empty());
    let ep = pc.stats().endpoint("GET /v1/customers/{id}/subscriptions");
    assert_eq!((ep.calls, ep.retries), (4, 3));

    h.override_response("GET", &path, 500, vec![], "{}".into(), None);
    let err = pc.subscriptions(&id).await.expect_err("persistent 500");
    assert!(
        matches!(err, PcError::RetriesExhausted { attempts: 6, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn app_only_configuration_refuses_app_user_endpoints_without_http() {
    let h = sim(3).await;
    let pc = PartnerCenter::new(options(&h)).expect("client");
    assert!(!pc.has_app_user());
    let err = pc
        .fraud_events(None)
        .next_page()
        .await
        .expect_err("refused");
    assert!(
        matches!(err, PcError::AppUserNotConfigured { .. }),
        "{err:?}"
    );
    let err = pc.customers_usage_records().await.expect_err("refused");
    assert!(matches!(err, PcError::AppUserNotConfigured { .. }));
    assert!(h.requests().is_empty(), "no HTTP call at all");
}

#[tokio::test]
async fn server_403_for_app_user_is_mapped_to_app_user_required() {
    let h = sim(3).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(FileRefreshTokenStore::new(dir.path().join("rt")));
    store
        .save(&SecretString::from("sim-refresh-token-0"))
        .expect("seed store");
    h.override_response(
        "GET",
        "/v1/fraudEvents",
        403,
        vec![],
        r#"{"code": 900301, "description": "This operation requires App+User authentication; an app-only token is not allowed.", "source": "PartnerFD"}"#.into(),
        None,
    );
    let mut o = options(&h);
    o.app_user = Some(store);
    let pc = PartnerCenter::new(o).expect("client");
    let err = pc.fraud_events(None).next_page().await.expect_err("403");
    assert!(
        matches!(err, PcError::AppUserRequired { status: 403, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("[partner_center.app_user]"));
}

#[tokio::test]
async fn refresh_token_rotation_is_persisted_to_the_file_store() {
    let h = sim(5).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app-user-refresh-token");
    let store = Arc::new(FileRefreshTokenStore::new(&path));
    store
        .save(&SecretString::from("sim-refresh-token-0"))
        .expect("seed store");
    let mut o = options(&h);
    o.app_user = Some(Arc::clone(&store) as Arc<dyn RefreshTokenStore>);
    let pc = PartnerCenter::new(o).expect("client");

    let records = pc.customers_usage_records().await.expect("usage records");
    assert!(!records.is_empty());
    let rotated = store.load().expect("load").expect("present");
    assert_ne!(rotated.expose_secret(), "sim-refresh-token-0");
    assert_eq!(rotated.expose_secret(), h.current_refresh_token());

    // The access token expires; the next refresh must use the rotated token (the simulator
    // rejects a redeemed one), and persists the next rotation.
    h.expire_all_tokens();
    let mut fraud = pc.fraud_events(None);
    fraud.next_page().await.expect("fraud events after expiry");
    let again = store.load().expect("load").expect("present");
    assert_ne!(again.expose_secret(), rotated.expose_secret());
    assert_eq!(again.expose_secret(), h.current_refresh_token());
    let on_disk = std::fs::read_to_string(&path).expect("file");
    assert_eq!(on_disk.trim(), h.current_refresh_token());
}

#[tokio::test]
async fn truncated_body_gives_a_clear_decode_error() {
    let h = sim(3).await;
    let id = first_customer(&h);
    h.override_response(
        "GET",
        &format!("/v1/customers/{id}/profiles/billing"),
        200,
        vec![("Content-Type".into(), "application/json".into())],
        r#"{"id": "bp1", "firstName": "Ada", "email": "ada@exa"#.into(),
        None,
    );
    let pc = PartnerCenter::new(options(&h)).expect("client");
    let err = pc.billing_profile(&id).await.expect_err("decode error");
    assert!(matches!(err, PcError::Decode { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("GET /v1/customers/{id}/profiles/billing"),
        "{msg}"
    );
    assert!(msg.contains("truncated"), "{msg}");
}

#[tokio::test]
async fn suspend_with_etag_then_stale_etag_is_precondition_failed() {
    let h = sim(3).await;
    let (cust, sub_id) = h
        .with_dataset(|ds| {
            ds.customers.iter().find_map(|c| {
                c.subscriptions
                    .iter()
                    .find(|s| !s.is_azure_plan() && s.status == "active")
                    .map(|s| (c.id.clone(), s.id.clone()))
            })
        })
        .expect("an active licence subscription");
    let pc = PartnerCenter::new(options(&h)).expect("client");
    let before = pc.subscription(&cust, &sub_id).await.expect("read");
    let after = pc
        .set_subscription_status(&cust, &before, &SubscriptionStatus::Suspended)
        .await
        .expect("suspended");
    assert_eq!(after.status, SubscriptionStatus::Suspended);
    // Re-using the old resource (stale ETag) must not silently win.
    let err = pc
        .set_subscription_status(&cust, &before, &SubscriptionStatus::Active)
        .await
        .expect_err("stale etag");
    assert!(matches!(err, PcError::PreconditionFailed { .. }), "{err:?}");
    let fresh = pc.subscription(&cust, &sub_id).await.expect("re-read");
    let reactivated = pc
        .set_subscription_status(&cust, &fresh, &SubscriptionStatus::Active)
        .await
        .expect("reactivated with fresh etag");
    assert_eq!(reactivated.status, SubscriptionStatus::Active);
}

#[tokio::test]
async fn v1_and_v2_token_forms_both_work() {
    for style in [TokenStyle::V1Resource, TokenStyle::V2Scope] {
        let h = sim(3).await;
        let mut o = options(&h);
        o.token_style = style;
        let pc = PartnerCenter::new(o).expect("client");
        let first = pc
            .customers()
            .next_page()
            .await
            .expect("page")
            .expect("some");
        assert_eq!(first.len(), 3);
        let token_paths: Vec<String> = h
            .requests()
            .into_iter()
            .filter(|r| r.path.contains("/oauth2/"))
            .map(|r| r.path)
            .collect();
        let expected = match style {
            TokenStyle::V1Resource => "/sim-partner-tenant/oauth2/token",
            TokenStyle::V2Scope => "/sim-partner-tenant/oauth2/v2.0/token",
        };
        assert_eq!(token_paths, [expected]);
    }
}

#[tokio::test]
async fn wrong_secret_is_a_clear_auth_error_without_the_secret() {
    let h = sim(3).await;
    let mut o = options(&h);
    o.client_secret = SecretString::from("wrong-secret-value-42");
    let pc = PartnerCenter::new(o).expect("client");
    let err = pc.customers().next_page().await.expect_err("auth error");
    assert!(
        matches!(
            err,
            PcError::Auth {
                transient: false,
                ..
            }
        ),
        "{err:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(!text.contains("wrong-secret-value-42"), "{text}");
    assert!(text.contains("client_secret"), "{text}");
    assert!(
        h.requests().iter().all(|r| r.path.contains("/oauth2/")),
        "no API call without a token"
    );
}
