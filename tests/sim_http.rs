//! HTTP-level tests of the Partner Center simulator: reqwest against a real server on 127.0.0.1.

use std::collections::HashSet;

use cspguard::sim::{
    Dataset, Faults, SimConfig, SimCustomer, SimHandle, SimSubscription, Simulator,
};
use reqwest::StatusCode;
use rust_decimal_macros::dec;
use serde_json::Value;

fn cfg(customers: usize) -> SimConfig {
    SimConfig {
        customers,
        ..SimConfig::default()
    }
}

async fn start(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg).await.expect("simulator starts")
}

async fn form(url: &str, pairs: &[(&str, &str)]) -> (StatusCode, Value) {
    let body: String = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(':', "%3A").replace('/', "%2F")))
        .collect::<Vec<_>>()
        .join("&");
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("token call");
    let status = resp.status();
    (status, resp.json().await.expect("token json"))
}

/// An access token from the v1 endpoint for `grant` (plus the simulator's client and resource).
async fn token(h: &SimHandle, grant: &[(&str, &str)]) -> String {
    let mut params = grant.to_vec();
    params.extend([
        ("client_id", "sim-client-id"),
        ("client_secret", "sim-client-secret"),
        ("resource", "https://api.partnercenter.microsoft.com"),
    ]);
    let (status, v) = form(&h.token_url_v1(), &params).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

async fn app_token(h: &SimHandle) -> String {
    token(h, &[("grant_type", "client_credentials")]).await
}

async fn user_token(h: &SimHandle) -> String {
    let refresh = h.current_refresh_token();
    token(
        h,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await
}

async fn get(h: &SimHandle, token: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path}", h.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

async fn get_json(h: &SimHandle, token: &str, path: &str) -> (StatusCode, Value) {
    let r = get(h, token, path).await;
    let s = r.status();
    let text = r.text().await.expect("body");
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn tokens_v1_v2_and_refresh_rotation() {
    let h = start(cfg(3)).await;
    let (s, v1) = form(
        &h.token_url_v1(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-client-id"),
            ("client_secret", "sim-client-secret"),
            ("resource", "https://api.partnercenter.microsoft.com"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v1["expires_in"],
        Value::String("3600".into()),
        "v1 expires_in is a string"
    );
    assert_eq!(v1["token_type"], "Bearer");
    assert!(v1.get("refresh_token").is_none());

    let (s, v2) = form(
        &h.token_url_v2(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-client-id"),
            ("client_secret", "sim-client-secret"),
            ("scope", "https://api.partnercenter.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v2["expires_in"],
        Value::from(3600),
        "v2 expires_in is a number"
    );

    let (s, bad) = form(
        &h.token_url_v1(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-client-id"),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"], "invalid_client");

    // Refresh grant rotates the refresh token; the old one is dead.
    let old = h.current_refresh_token();
    assert_eq!(old, "sim-refresh-token-0");
    let (s, r1) = form(
        &h.token_url_v2(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &old),
            ("client_id", "sim-client-id"),
            ("client_secret", "sim-client-secret"),
            (
                "scope",
                "https://api.partnercenter.microsoft.com/user_impersonation offline_access",
            ),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let new = r1["refresh_token"]
        .as_str()
        .expect("rotated refresh token")
        .to_string();
    assert_ne!(new, old);
    assert_eq!(h.current_refresh_token(), new);
    let (s, again) = form(
        &h.token_url_v1(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &old),
            ("client_id", "sim-client-id"),
            ("client_secret", "sim-client-secret"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(again["error"], "invalid_grant");
    // The App+User token works on an App+User-only endpoint.
    let at = r1["access_token"].as_str().expect("access token");
    let (s, _) = get_json(&h, at, "/v1/fraudEvents").await;
    assert_eq!(s, StatusCode::OK);
    h.shutdown().await;
}

#[tokio::test]
async fn expired_missing_and_unknown_tokens_get_401() {
    let h = start(cfg(3)).await;
    let t = app_token(&h).await;
    assert_eq!(
        get(&h, &t, "/v1/customers?size=2").await.status(),
        StatusCode::OK
    );
    h.expire_all_tokens();
    let r = get(&h, &t, "/v1/customers?size=2").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let www = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(www.starts_with("OAuth realm="), "{www}");
    let body: Value = r.json().await.expect("json");
    assert!(body["code"].is_number());
    assert!(
        body["description"]
            .as_str()
            .unwrap_or("")
            .contains("expired")
    );
    let r = reqwest::get(format!("{}/v1/customers", h.base_url()))
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&h, "made-up", "/v1/customers").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A fresh token works again.
    let t2 = app_token(&h).await;
    assert_eq!(
        get(&h, &t2, "/v1/customers?size=2").await.status(),
        StatusCode::OK
    );
    h.shutdown().await;
}

#[tokio::test]
async fn app_only_token_is_refused_on_app_user_endpoints() {
    let h = start(cfg(5)).await;
    let app = app_token(&h).await;
    let user = user_token(&h).await;
    let (cid, inv) = h.with_dataset(|d| (d.customers[0].id.clone(), d.invoices[0].id.clone()));
    for path in [
        "/v1/fraudEvents".to_string(),
        "/v1/customers/usagerecords".to_string(),
        format!("/v1/customers/{cid}/usagesummary"),
        format!("/v1/invoices/{inv}"),
        "/v1/invoices/summaries".to_string(),
    ] {
        let (s, v) = get_json(&h, &app, &path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(v["code"], 900316, "{path}");
        assert!(v["description"].as_str().unwrap_or("").contains("App+User"));
        let (s, _) = get_json(&h, &user, &path).await;
        assert_eq!(s, StatusCode::OK, "{path} with App+User");
    }
    // App-only endpoints accept app-only tokens; summary is not confused with an invoice id.
    let (s, v) = get_json(&h, &app, "/v1/invoices/summary").await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["balanceAmount"].is_number());
    h.shutdown().await;
}

#[tokio::test]
async fn seek_paging_returns_every_customer_once() {
    let h = start(cfg(1234)).await;
    let t = app_token(&h).await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    let mut req = client.get(format!("{}/v1/customers?size=100", h.base_url()));
    let mut pages = 0;
    loop {
        let resp = req.bearer_auth(&t).send().await.expect("page");
        assert_eq!(resp.status(), StatusCode::OK);
        let v: Value = resp.json().await.expect("json");
        pages += 1;
        for item in v["items"].as_array().expect("items") {
            assert!(item.get("billingProfile").is_none());
            ids.push(item["id"].as_str().expect("id").to_string());
        }
        let Some(next) = v["links"].get("next") else {
            break;
        };
        let uri = next["uri"].as_str().expect("uri");
        assert!(uri.contains("seekOperation=Next"));
        req = client.get(format!("{}{uri}", h.base_url()));
        for hd in next["headers"].as_array().expect("headers") {
            req = req.header(
                hd["key"].as_str().expect("key"),
                hd["value"].as_str().expect("value"),
            );
        }
    }
    assert_eq!(pages, 13);
    assert_eq!(ids.len(), 1234);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 1234);
    let expected: Vec<String> =
        h.with_dataset(|d| d.customers.iter().map(|c| c.id.clone()).collect());
    assert_eq!(ids, expected);
    h.shutdown().await;
}

#[tokio::test]
async fn continuation_token_is_required_and_checked() {
    let h = start(cfg(30)).await;
    let t = app_token(&h).await;
    let (s, first) = get_json(&h, &t, "/v1/customers?size=10").await;
    assert_eq!(s, StatusCode::OK);
    let uri = first["links"]["next"]["uri"]
        .as_str()
        .expect("next")
        .to_string();
    let (s, v) = get_json(&h, &t, &uri).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "missing MS-ContinuationToken");
    assert!(
        v["description"]
            .as_str()
            .unwrap_or("")
            .contains("MS-ContinuationToken")
    );
    let r = reqwest::Client::new()
        .get(format!("{}{uri}", h.base_url()))
        .bearer_auth(&t)
        .header("MS-ContinuationToken", "not-a-token")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (s, _) = get_json(&h, &t, "/v1/customers?size=abc").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    h.shutdown().await;
}

#[tokio::test]
async fn audit_records_page_without_v1_prefix_and_enforce_90_days() {
    let h = start(cfg(400)).await;
    let t = app_token(&h).await;
    let today = jiff::Timestamp::now();
    let start_day = today
        .checked_sub(jiff::SignedDuration::from_hours(24 * 59))
        .expect("date")
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let client = reqwest::Client::new();
    let mut url = format!(
        "{}/v1/auditrecords?startDate={start_day}&size=7",
        h.base_url()
    );
    let mut header = None::<(String, String)>;
    let mut got = Vec::new();
    loop {
        let mut req = client.get(&url).bearer_auth(&t);
        if let Some((k, v)) = &header {
            req = req.header(k, v);
        }
        let resp = req.send().await.expect("page");
        assert_eq!(resp.status(), StatusCode::OK);
        let v: Value = resp.json().await.expect("json");
        for item in v["items"].as_array().expect("items") {
            assert_eq!(item["attributes"]["objectType"], "AuditRecord");
            got.push(item["id"].as_str().expect("id").to_string());
        }
        let Some(next) = v["links"].get("next") else {
            break;
        };
        let uri = next["uri"].as_str().expect("uri");
        assert!(
            uri.starts_with("/auditrecords?"),
            "next uri has no /v1 prefix: {uri}"
        );
        url = format!("{}/v1{uri}", h.base_url());
        let hd = &next["headers"][0];
        header = Some((
            hd["key"].as_str().expect("k").into(),
            hd["value"].as_str().expect("v").into(),
        ));
    }
    let start_ts = start_day
        .to_zoned(jiff::tz::TimeZone::UTC)
        .expect("zoned")
        .timestamp();
    let expected = h.with_dataset(|d| {
        d.audit_records
            .iter()
            .filter(|a| a.operation_date >= start_ts)
            .count()
    });
    assert!(expected > 7, "enough records to page ({expected})");
    assert_eq!(got.len(), expected);
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), expected);

    let old = today
        .checked_sub(jiff::SignedDuration::from_hours(24 * 95))
        .expect("date")
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let (s, v) = get_json(&h, &t, &format!("/v1/auditrecords?startDate={old}")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["description"].as_str().unwrap_or("").contains("90 days"));
    h.shutdown().await;
}

#[tokio::test]
async fn invoices_use_offset_paging() {
    let h = start(cfg(2)).await;
    let t = app_token(&h).await;
    let mut path = "/v1/invoices?size=5".to_string();
    let mut ids = Vec::new();
    let mut nexts = Vec::new();
    loop {
        let (s, v) = get_json(&h, &t, &path).await;
        assert_eq!(s, StatusCode::OK);
        for i in v["items"].as_array().expect("items") {
            assert!(i["totalCharges"].is_number());
            ids.push(i["id"].as_str().expect("id").to_string());
        }
        let Some(next) = v["links"].get("next") else {
            break;
        };
        let uri = next["uri"].as_str().expect("uri").to_string();
        nexts.push(uri.clone());
        path = format!("/v1{uri}");
    }
    assert_eq!(
        nexts,
        vec!["/invoices?size=5&offset=5", "/invoices?size=5&offset=10"]
    );
    assert_eq!(ids.len(), 12);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 12);
    h.shutdown().await;
}

fn fraud_dataset() -> Dataset {
    let mut ds = Dataset::generate(1, 500, jiff::Timestamp::now());
    let base = ds
        .fraud_events
        .first()
        .cloned()
        .expect("generated fraud event");
    ds.fraud_events.clear();
    for i in 0..5 {
        let mut e = base.clone();
        e.entity_id = format!("entity-{i}");
        if i == 4 {
            e.event_status = "Resolved".into();
        }
        ds.fraud_events.push(e);
    }
    ds
}

#[tokio::test]
async fn fraud_events_bare_array_and_page_number_paging() {
    let h = start(SimConfig {
        dataset: Some(fraud_dataset()),
        ..SimConfig::default()
    })
    .await;
    let t = user_token(&h).await;
    let (s, all) = get_json(&h, &t, "/v1/fraudEvents").await;
    assert_eq!(s, StatusCode::OK);
    let arr = all.as_array().expect("bare array");
    assert_eq!(arr.len(), 5);
    assert!(
        arr[0].get("eventType").is_none(),
        "classic model has no eventType"
    );
    assert!(
        arr[0]["resolvedOn"]
            .as_str()
            .unwrap_or("")
            .starts_with("9999-12-31")
    );
    let (_, active) = get_json(&h, &t, "/v1/fraudEvents?EventStatus=Active").await;
    assert_eq!(active.as_array().map(Vec::len), Some(4));

    let client = reqwest::Client::new();
    let page = |q: &str| {
        client
            .get(format!("{}/v1/fraudEvents{q}", h.base_url()))
            .bearer_auth(&t)
            .header("X-NewEventsModel", "true")
            .send()
    };
    let r = page("").await.expect("req");
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "PageSize/PageNumber required"
    );
    let r = page("?PageSize=2&PageNumber=0").await.expect("req");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let mut seen = Vec::new();
    for n in 1..=3 {
        let r = page(&format!("?PageSize=2&PageNumber={n}"))
            .await
            .expect("req");
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.expect("json");
        let items = v.as_array().expect("array").clone();
        assert_eq!(items.len(), if n < 3 { 2 } else { 1 });
        assert!(items[0]["eventType"].is_string());
        seen.extend(
            items
                .into_iter()
                .map(|i| i["eventId"].as_str().unwrap_or("").to_string()),
        );
    }
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 5);

    // Status update resolves the events of the subscription.
    let sid = arr[0]["subscriptionId"].as_str().expect("sid").to_string();
    let r = client
        .post(format!("{}/v1/fraudEvents/subscription/{sid}/status", h.base_url()))
        .bearer_auth(&t)
        .json(&serde_json::json!({"EventIds": [], "EventStatus": "Resolved", "ResolvedReason": "Fraud"}))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::OK);
    let updated: Value = r.json().await.expect("json");
    assert_eq!(updated.as_array().map(Vec::len), Some(5));
    assert!(h.with_dataset(|d| d.fraud_events.iter().all(|e| e.resolved_reason == "Fraud")));
    h.shutdown().await;
}

fn patch_dataset() -> Dataset {
    let mut ds = Dataset::empty();
    ds.customers.push(
        SimCustomer::new("c1", "Contoso")
            .with_subscription(SimSubscription::license("s-m365", "Microsoft 365 E3", 10))
            .with_subscription(SimSubscription::azure_plan("s-azure").with_entitlement("az-1")),
    );
    ds
}

async fn patch(
    h: &SimHandle,
    t: &str,
    sid: &str,
    etag: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .patch(format!(
            "{}/v1/customers/c1/subscriptions/{sid}",
            h.base_url()
        ))
        .bearer_auth(t)
        .json(&body);
    if let Some(e) = etag {
        req = req.header("If-Match", e);
    }
    let r = req.send().await.expect("patch");
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn patch_suspend_checks_etag_and_azure_plan() {
    let h = start(SimConfig {
        dataset: Some(patch_dataset()),
        ..SimConfig::default()
    })
    .await;
    let t = app_token(&h).await;
    let (s, sub) = get_json(&h, &t, "/v1/customers/c1/subscriptions/s-m365").await;
    assert_eq!(s, StatusCode::OK);
    let etag = sub["attributes"]["etag"]
        .as_str()
        .expect("etag")
        .to_string();
    let mut body = sub.clone();
    body["status"] = Value::from("suspended");

    let (s, v) = patch(&h, &t, "s-m365", Some("stale"), body.clone()).await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    assert!(v["code"].is_number());
    let (s, _) = patch(&h, &t, "s-m365", None, body.clone()).await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);

    let (s, v) = patch(&h, &t, "s-m365", Some(&etag), body.clone()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["Status"], "suspended", "PascalCase response");
    let new_etag = v["Attributes"]["Etag"].as_str().expect("Etag").to_string();
    assert_ne!(new_etag, etag);
    assert_eq!(v["SuspensionReasons"], serde_json::json!(["nonpayment"]));
    // Old etag is now stale.
    let (s, _) = patch(&h, &t, "s-m365", Some(&etag), body.clone()).await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    // Reactivate with a PascalCase body.
    let (s, v) = patch(
        &h,
        &t,
        "s-m365",
        Some(&new_etag),
        serde_json::json!({"Id": "s-m365", "Status": "active"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["Status"], "active");

    // Azure plan with an active entitlement cannot be suspended.
    let (_, plan) = get_json(&h, &t, "/v1/customers/c1/subscriptions/s-azure").await;
    let plan_etag = plan["attributes"]["etag"]
        .as_str()
        .expect("etag")
        .to_string();
    let (s, v) = patch(
        &h,
        &t,
        "s-azure",
        Some(&plan_etag),
        serde_json::json!({"status": "suspended"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["code"], 900115);

    // Cancel the entitlement (bad reason first), then the plan suspends.
    let cancel = |reason: &'static str| {
        reqwest::Client::new()
            .post(format!(
                "{}/v1/customers/c1/subscriptions/s-azure/azureEntitlements/az-1/cancel",
                h.base_url()
            ))
            .bearer_auth(&t)
            .json(&serde_json::json!({"cancellationReason": reason}))
            .send()
    };
    let r = cancel("boredom").await.expect("req");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], 900307);
    let r = cancel("compromise").await.expect("req");
    assert_eq!(r.status(), StatusCode::OK);
    let (s, v) = patch(
        &h,
        &t,
        "s-azure",
        Some(&plan_etag),
        serde_json::json!({"status": "suspended"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Malformed body and unknown ids.
    let r = reqwest::Client::new()
        .patch(format!(
            "{}/v1/customers/c1/subscriptions/s-m365",
            h.base_url()
        ))
        .bearer_auth(&t)
        .header("If-Match", "x")
        .body("{not json")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.json::<Value>().await.expect("json body")["description"].is_string());
    let (s, v) = get_json(&h, &t, "/v1/customers/nope/subscriptions").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(v["code"].is_number());
    h.shutdown().await;
}

#[tokio::test]
async fn rate_limit_answers_429_after_500_requests_in_a_minute() {
    let h = start(cfg(2)).await;
    let t = app_token(&h).await;
    let cid = h.with_dataset(|d| d.customers[0].id.clone());
    let client = reqwest::Client::new();
    let url = format!("{}/v1/customers/{cid}", h.base_url());
    for i in 0..500 {
        let r = client.get(&url).bearer_auth(&t).send().await.expect("req");
        assert_eq!(r.status(), StatusCode::OK, "request {i}");
    }
    let r = client.get(&url).bearer_auth(&t).send().await.expect("req");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!((1..=60).contains(&retry));
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["statusCode"], 429);
    assert_eq!(
        v["message"],
        format!("Rate limit is exceeded. Try again in {retry} seconds.")
    );
    // Invoices are not a customer/subscription resource.
    assert_eq!(get(&h, &t, "/v1/invoices").await.status(), StatusCode::OK);
    h.shutdown().await;
}

#[tokio::test]
async fn faults_truncate_fail_and_expire() {
    let h = start(cfg(20)).await;
    let t = app_token(&h).await;
    let full = get(&h, &t, "/v1/customers?size=20")
        .await
        .text()
        .await
        .expect("text");
    h.set_faults(Faults {
        truncate_share: 1.0,
        ..Faults::default()
    });
    let r = get(&h, &t, "/v1/customers?size=20").await;
    assert_eq!(r.status(), StatusCode::OK);
    let cut = r.text().await.expect("text");
    assert!(cut.len() <= full.len() / 2 && !cut.is_empty());
    assert!(serde_json::from_str::<Value>(&cut).is_err());

    h.set_faults(Faults {
        server_error_share: 1.0,
        ..Faults::default()
    });
    let s = get(&h, &t, "/v1/customers?size=1").await.status();
    assert!(
        s == StatusCode::INTERNAL_SERVER_ERROR || s == StatusCode::SERVICE_UNAVAILABLE,
        "{s}"
    );

    h.set_faults(Faults {
        expire_token_share: 1.0,
        ..Faults::default()
    });
    assert_eq!(
        get(&h, &t, "/v1/customers?size=1").await.status(),
        StatusCode::UNAUTHORIZED
    );
    h.set_faults(Faults::default());
    assert_eq!(
        get(&h, &t, "/v1/customers?size=1").await.status(),
        StatusCode::UNAUTHORIZED,
        "the token stays expired"
    );
    // Token calls are never faulted.
    h.set_faults(Faults {
        server_error_share: 1.0,
        ..Faults::default()
    });
    let _ = app_token(&h).await;
    h.shutdown().await;
}

#[tokio::test]
async fn same_seed_serves_same_data() {
    let a = start(SimConfig {
        seed: 5,
        customers: 40,
        ..SimConfig::default()
    })
    .await;
    let b = start(SimConfig {
        seed: 5,
        customers: 40,
        ..SimConfig::default()
    })
    .await;
    let c = start(SimConfig {
        seed: 6,
        customers: 40,
        ..SimConfig::default()
    })
    .await;
    let body = |h: SimHandle| async move {
        let t = app_token(&h).await;
        let text = get(&h, &t, "/v1/customers?size=40")
            .await
            .text()
            .await
            .expect("text");
        h.shutdown().await;
        text
    };
    let (ta, tb, tc) = (body(a).await, body(b).await, body(c).await);
    assert_eq!(ta, tb);
    assert_ne!(ta, tc);
    let now = jiff::Timestamp::now();
    assert_eq!(
        Dataset::generate(5, 40, now).to_json(),
        Dataset::generate(5, 40, now).to_json()
    );
}

#[tokio::test]
async fn requests_are_recorded_with_templates_and_redaction() {
    let h = start(patch_dataset_config()).await;
    let t = app_token(&h).await;
    h.clear_requests();
    let r = reqwest::Client::new()
        .get(format!(
            "{}/v1/customers/c1/subscriptions?x=1",
            h.base_url()
        ))
        .bearer_auth(&t)
        .header("MS-CorrelationId", "corr-1")
        .send()
        .await
        .expect("req");
    assert_eq!(
        r.headers()
            .get("ms-correlationid")
            .and_then(|v| v.to_str().ok()),
        Some("corr-1")
    );
    let _ = get(&h, &t, "/v1/customers/missing").await;
    let _ = get(&h, &t, "/v1/customers/usagerecords").await;
    let reqs = h.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/v1/customers/c1/subscriptions");
    assert_eq!(reqs[0].query.as_deref(), Some("x=1"));
    assert_eq!(reqs[0].endpoint, "GET /v1/customers/{id}/subscriptions");
    assert_eq!(reqs[0].status, 200);
    assert_eq!(reqs[0].header("authorization"), Some("<redacted>"));
    assert_eq!(reqs[0].header("ms-correlationid"), Some("corr-1"));
    assert_eq!(reqs[1].endpoint, "GET /v1/customers/{id}");
    assert_eq!(reqs[1].status, 404);
    assert_eq!(reqs[2].endpoint, "GET /v1/customers/usagerecords");
    assert_eq!(
        reqs[2].status, 403,
        "app-only token on an App+User endpoint"
    );
    h.clear_requests();
    assert!(h.requests().is_empty());
    h.shutdown().await;
}

fn patch_dataset_config() -> SimConfig {
    SimConfig {
        dataset: Some(patch_dataset()),
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn overrides_budget_and_usage_records() {
    let h = start(patch_dataset_config()).await;
    let t = app_token(&h).await;
    h.override_response(
        "GET",
        "/v1/customers/c1",
        503,
        vec![("Retry-After".into(), "2".into())],
        "{\"code\": 503}".into(),
        Some(1),
    );
    let r = get(&h, &t, "/v1/customers/c1").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("2")
    );
    assert_eq!(r.text().await.expect("text"), "{\"code\": 503}");
    let (s, c) = get_json(&h, &t, "/v1/customers/c1").await;
    assert_eq!(s, StatusCode::OK, "override used up");
    assert_eq!(c["billingProfile"]["culture"], "en-US");

    h.with_dataset(|d| {
        if let Some(c) = d.customer_mut("c1") {
            c.usage_mtd = dec!(90);
        }
    });
    let r = reqwest::Client::new()
        .patch(format!("{}/v1/customers/c1/usagebudget", h.base_url()))
        .bearer_auth(&t)
        .json(&serde_json::json!({"Amount": 100, "Attributes": {"ObjectType": "SpendingBudget"}}))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::OK);
    let (_, b) = get_json(&h, &t, "/v1/customers/c1/usagebudget").await;
    assert_eq!(b["amount"], 100);
    let user = user_token(&h).await;
    let (s, recs) = get_json(&h, &user, "/v1/customers/usagerecords").await;
    assert_eq!(s, StatusCode::OK);
    let item = &recs["items"][0];
    assert_eq!(item["percentUsed"], 90);
    assert_eq!(item["budget"]["amount"], 100);
    assert_eq!(item["isUpgraded"], true);
    h.shutdown().await;
}

#[tokio::test]
async fn start_on_refuses_non_loopback() {
    let addr: std::net::SocketAddr = "0.0.0.0:0".parse().expect("addr");
    let err = Simulator::start_on(SimConfig::default(), addr).await;
    assert!(matches!(
        err,
        Err(cspguard::sim::SimError::NotLoopback { .. })
    ));
}

#[tokio::test]
async fn timeout_fault_holds_the_response_but_applies_the_change() {
    let h = start(patch_dataset_config()).await;
    let t = app_token(&h).await;
    let etag = h.with_dataset(|d| d.customers[0].subscriptions[0].etag());
    h.set_faults(Faults {
        timeout_share: 1.0,
        ..Faults::default()
    });
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .expect("client");
    let err = client
        .patch(format!(
            "{}/v1/customers/c1/subscriptions/s-m365",
            h.base_url()
        ))
        .bearer_auth(&t)
        .header("If-Match", etag)
        .json(&serde_json::json!({"status": "suspended"}))
        .send()
        .await
        .expect_err("the client times out");
    assert!(err.is_timeout(), "{err}");
    // The outcome is ambiguous for the client, but the change did happen server-side.
    assert_eq!(
        h.with_dataset(|d| d.customers[0].subscriptions[0].status.clone()),
        "suspended"
    );
    // Shutdown releases the held response instead of waiting 30 s.
    h.shutdown().await;
}

#[tokio::test]
async fn token_lifetime_and_page_size_cap_are_honoured() {
    let h = start(SimConfig {
        customers: 25,
        page_size_max: 10,
        token_lifetime: std::time::Duration::ZERO,
        ..SimConfig::default()
    })
    .await;
    let t = app_token(&h).await;
    assert_eq!(
        get(&h, &t, "/v1/customers?size=5").await.status(),
        StatusCode::UNAUTHORIZED
    );
    h.shutdown().await;

    let h = start(SimConfig {
        customers: 25,
        page_size_max: 10,
        ..SimConfig::default()
    })
    .await;
    let t = app_token(&h).await;
    let (s, v) = get_json(&h, &t, "/v1/customers?size=50").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["items"].as_array().map(Vec::len), Some(10));
    assert_eq!(v["totalCount"], 10);
    assert!(
        v["links"]["next"]["uri"]
            .as_str()
            .unwrap_or("")
            .contains("size=10")
    );
    h.shutdown().await;
}
