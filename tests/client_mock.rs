//! Precise transport behaviours of the Partner Center client against tiny scripted axum servers
//! on 127.0.0.1 (token endpoint and API on the same server).

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::{Mock, SECRET, customer_json, first_token_expired, ok};
use cspguard::pc::models::{FraudEventStatus, Subscription, SubscriptionStatus};
use cspguard::pc::store::{MemoryRefreshTokenStore, RefreshTokenStore};
use cspguard::pc::{ClientOptions, PartnerCenter, PcError, TokenStyle};
use secrecy::{ExposeSecret, SecretString};

#[tokio::test]
async fn request_id_reused_on_retries_new_per_call_and_headers_present() {
    let mock = Mock::start(|_, n| {
        if n <= 2 {
            (503, vec![], r#"{"code": 1, "description": "busy"}"#.into())
        } else {
            ok(customer_json("c1"))
        }
    })
    .await;
    let opts = mock.options();
    let correlation = opts.correlation_id.to_string();
    let pc = PartnerCenter::new(opts).expect("client");
    let c = pc.customer("c1").await.expect("succeeds after 5xx burst");
    assert_eq!(c.id, "c1");
    pc.customer("c1").await.expect("second call");

    let api = mock.api();
    assert_eq!(api.len(), 4, "2 failures + 1 success + 1 new call");
    let ids: Vec<&str> = api
        .iter()
        .map(|r| r.h("MS-RequestId").expect("request id"))
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[1], ids[2]);
    assert_ne!(ids[2], ids[3], "a new logical call gets a new MS-RequestId");
    assert!(uuid::Uuid::parse_str(ids[0]).is_ok());
    for r in &api {
        assert_eq!(r.path, "/v1/customers/c1");
        assert_eq!(r.h("authorization"), Some("Bearer mock-token-1"));
        assert_eq!(r.h("ms-correlationid"), Some(correlation.as_str()));
        assert_eq!(r.h("accept"), Some("application/json"));
        assert_eq!(r.h("ms-contract-version"), Some("v1"));
        assert_eq!(
            r.h("user-agent").map(str::to_owned),
            Some(format!("cspguard/{}", env!("CARGO_PKG_VERSION")))
        );
    }
    let tokens = mock.tokens();
    assert_eq!(tokens.len(), 1, "token is cached across calls");
    let form = tokens[0].form();
    assert_eq!(tokens[0].path, "/mock-tenant/oauth2/token");
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("client_credentials")
    );
    assert_eq!(
        form.get("resource").map(String::as_str),
        Some("https://api.partnercenter.microsoft.com")
    );
    assert_eq!(
        form.get("client_id").map(String::as_str),
        Some("mock-client")
    );

    let stats = pc.stats();
    let ep = stats.endpoint("GET /v1/customers/{id}");
    assert_eq!(ep.calls, 4);
    assert_eq!(ep.retries, 2);
    assert_eq!(ep.errors, 0);
    assert_eq!(stats.totals.calls, 4);
    let json = serde_json::to_value(&stats).expect("stats serialize");
    assert_eq!(json["totals"]["calls"], 4);
}

#[tokio::test]
async fn v2_token_form_uses_scope() {
    let mock = Mock::start(|_, _| ok(customer_json("c1"))).await;
    let mut opts = mock.options();
    opts.token_style = TokenStyle::V2Scope;
    let pc = PartnerCenter::new(opts).expect("client");
    pc.customer("c1").await.expect("ok");
    let tokens = mock.tokens();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].path, "/mock-tenant/oauth2/v2.0/token");
    let form = tokens[0].form();
    assert_eq!(
        form.get("scope").map(String::as_str),
        Some("https://api.partnercenter.microsoft.com/.default")
    );
    assert!(!form.contains_key("resource"));
}

#[tokio::test]
async fn throttled_429_with_retry_after_then_success() {
    let mock = Mock::start(|_, n| {
        if n == 1 {
            (
                429,
                vec![("retry-after", "1".to_owned())],
                r#"{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 1 seconds."}"#
                    .into(),
            )
        } else {
            ok(customer_json("c9"))
        }
    })
    .await;
    let pc = mock.client();
    let c = pc.customer("c9").await.expect("succeeds after 429");
    assert_eq!(c.id, "c9");
    assert_eq!(mock.api().len(), 2);
    let ep = pc.stats().endpoint("GET /v1/customers/{id}");
    assert_eq!(ep.throttled, 1);
    assert_eq!(ep.retries, 1);
}

#[tokio::test]
async fn retry_after_beyond_budget_fails_fast_with_clear_error() {
    let mock = Mock::start(|_, _| {
        (
            429,
            vec![("retry-after", "3600".to_owned())],
            r#"{"statusCode":429,"message":"later"}"#.into(),
        )
    })
    .await;
    let pc = mock.client();
    let err = pc.customer("c1").await.expect_err("must fail");
    assert!(matches!(err, PcError::Throttled { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("GET /v1/customers/{id}"), "{msg}");
    assert!(msg.contains("3600"), "{msg}");
    assert_eq!(mock.api().len(), 1);
}

#[tokio::test]
async fn non_retryable_404_and_400_are_single_calls() {
    for status in [404u16, 400] {
        let mock = Mock::start(move |_, _| {
            (
                status,
                vec![],
                r#"{"code": 3000, "description": "Customer not found", "source": "PartnerFD"}"#
                    .into(),
            )
        })
        .await;
        let pc = mock.client();
        let err = pc.customer("missing").await.expect_err("must fail");
        assert_eq!(err.status(), Some(status), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("GET /v1/customers/{id}"), "{msg}");
        assert!(msg.contains("Customer not found"), "{msg}");
        assert!(msg.contains("3000"), "{msg}");
        assert_eq!(mock.api().len(), 1, "{status} must not be retried");
        assert_eq!(pc.stats().totals.errors, 1);
    }
}

fn subscription_json(etag: &str, status: &str) -> serde_json::Value {
    serde_json::json!({
        "id": "s1", "offerId": "O1", "quantity": 1, "status": status,
        "attributes": {"etag": etag, "objectType": "Subscription"}
    })
}

#[tokio::test]
async fn patch_sends_full_resource_with_if_match_and_412_is_precondition_failed() {
    let mock = Mock::start(|req, _| {
        if req.method == "GET" {
            ok(subscription_json("etag-1", "active"))
        } else {
            (
                412,
                vec![],
                r#"{"code": 412, "description": "etag mismatch"}"#.into(),
            )
        }
    })
    .await;
    let pc = mock.client();
    let sub: Subscription = pc.subscription("cust 1", "s1").await.expect("read");
    let err = pc
        .set_subscription_status("cust 1", &sub, &SubscriptionStatus::Suspended)
        .await
        .expect_err("412");
    assert!(matches!(err, PcError::PreconditionFailed { .. }), "{err:?}");
    let api = mock.api();
    assert_eq!(api.len(), 2, "412 is not retried");
    assert_eq!(api[0].path, "/v1/customers/cust%201/subscriptions/s1");
    let patch = &api[1];
    assert_eq!(patch.method, "PATCH");
    assert_eq!(patch.h("if-match"), Some("etag-1"));
    let body: serde_json::Value = serde_json::from_str(&patch.body).expect("json body");
    assert_eq!(body["status"], "suspended");
    assert_eq!(body["offerId"], "O1");
}

#[tokio::test]
async fn truncated_body_is_a_decode_error_after_one_retry() {
    let mock = Mock::start(|_, _| (200, vec![], r#"{"id": "c1", "companyProf"#.into())).await;
    let pc = mock.client();
    let err = pc.customer("c1").await.expect_err("decode error");
    assert!(matches!(err, PcError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("GET /v1/customers/{id}"));
    assert_eq!(
        mock.api().len(),
        2,
        "a decode failure is retried exactly once"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let mock = Mock::start(|req, _| {
        if req.path == "/elsewhere" {
            ok(customer_json("stolen"))
        } else {
            (
                302,
                vec![("location", "/elsewhere".to_owned())],
                String::new(),
            )
        }
    })
    .await;
    let pc = mock.client();
    let err = pc.customer("c1").await.expect_err("redirect refused");
    assert_eq!(err.status(), Some(302), "{err:?}");
    let api = mock.api();
    assert_eq!(api.len(), 1);
    assert!(api.iter().all(|r| r.path != "/elsewhere"));
}

#[tokio::test]
async fn retries_are_bounded_by_max_attempts() {
    let mock = Mock::start(|_, _| (500, vec![], "oops".into())).await;
    let pc = mock.client();
    let err = pc.customer("c1").await.expect_err("exhausted");
    match &err {
        PcError::RetriesExhausted { attempts, last, .. } => {
            assert_eq!(*attempts, 4);
            assert!(last.contains("500"), "{last}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(mock.api().len(), 4);
    let ep = pc.stats().endpoint("GET /v1/customers/{id}");
    assert_eq!((ep.calls, ep.retries, ep.errors), (4, 3, 1));
}

#[tokio::test]
async fn a_401_drops_the_token_and_retries_once() {
    let mock = Mock::start(first_token_expired("c1")).await;
    let pc = mock.client();
    pc.customer("c1").await.expect("re-auth then success");
    assert_eq!(mock.tokens().len(), 2);
    let api = mock.api();
    assert_eq!(api.len(), 2);
    assert_eq!(api[1].h("authorization"), Some("Bearer mock-token-2"));
    assert_eq!(api[0].h("ms-requestid"), api[1].h("ms-requestid"));

    // A persistent 401 fails after one re-authentication.
    let always = Mock::start(|_, _| (401, vec![], "{}".into())).await;
    let pc = always.client();
    let err = pc.customer("c1").await.expect_err("401");
    assert_eq!(err.status(), Some(401));
    assert_eq!(always.api().len(), 2);
}

/// The access token is taken after the wait for a request slot (the in-flight bound and the
/// rate limit), never before: calls queued behind one whose token expired take the renewed
/// token when their turn comes, so one expiry costs one 401, not one per queued call. With the
/// token taken before `permit`/`acquire_start` in `Transport::attempt`, every queued call would
/// carry the expired token. A current-thread runtime makes the order of events deterministic;
/// nothing here depends on time.
#[tokio::test]
async fn the_token_is_taken_after_the_slot_wait_so_queued_calls_never_carry_an_expired_one() {
    // The first token expires while the first call is in flight: its 401 tells the client.
    let mock = Mock::start(first_token_expired("c")).await;
    let mut options = mock.options();
    options.max_concurrency = 1;
    let pc = PartnerCenter::new(options).expect("client builds");
    let (a, b, c, d) = tokio::join!(
        pc.customer("c1"),
        pc.customer("c2"),
        pc.customer("c3"),
        pc.customer("c4")
    );
    for r in [a, b, c, d] {
        r.expect("every call succeeds");
    }
    let api = mock.api();
    let expired = api
        .iter()
        .filter(|r| r.h("authorization") == Some("Bearer mock-token-1"))
        .count();
    assert_eq!(
        expired,
        1,
        "only the call in flight when the token expired sent it; the queued ones took the \
         renewed token: {:?}",
        api.iter().map(|r| r.h("authorization")).collect::<Vec<_>>()
    );
    assert_eq!(api.len(), 5, "four calls, one 401 round trip");
    assert_eq!(mock.tokens().len(), 2);
}

#[tokio::test]
async fn seek_paging_replays_continuation_and_normalises_links() {
    let mock = Mock::start(|req, _| {
        let token = req.h("ms-continuationtoken").unwrap_or("");
        let page = match (req.path.as_str(), token) {
            ("/v1/customers", "") => 1,
            ("/v1/customers", "tok-2") => 2,
            ("/v1/customers", "tok-3") => 3,
            _ => {
                return (
                    400,
                    vec![],
                    format!(r#"{{"description":"bad page {} {token}"}}"#, req.path),
                );
            }
        };
        let items: Vec<_> = (0..2)
            .map(|i| customer_json(&format!("p{page}-{i}")))
            .collect();
        let mut body = serde_json::json!({"totalCount": 6, "items": items, "links": {}});
        if page < 3 {
            // Page 1 links without the /v1 prefix, page 2 with it.
            let uri = if page == 1 {
                "/customers?size=2&seekOperation=Next"
            } else {
                "/v1/customers?size=2&seekOperation=Next"
            };
            body["links"]["next"] = serde_json::json!({
                "uri": uri, "method": "GET",
                "headers": [{"key": "MS-ContinuationToken", "value": format!("tok-{}", page + 1)}]
            });
        }
        ok(body)
    })
    .await;
    let pc = mock.client();
    let mut pages = pc.customers();
    let mut ids = Vec::new();
    while let Some(page) = pages.next_page().await.expect("page") {
        ids.extend(page.into_iter().map(|c| c.id));
    }
    assert_eq!(ids, ["p1-0", "p1-1", "p2-0", "p2-1", "p3-0", "p3-1"]);
    let api = mock.api();
    assert_eq!(api.len(), 3);
    assert!(api[0].query.contains("size=2"));
    assert!(api[1].query.contains("seekOperation=Next"));
}

#[tokio::test]
async fn repeated_next_link_is_a_paging_loop_error() {
    let mock = Mock::start(|_, _| {
        ok(
            serde_json::json!({"items": [customer_json("x")], "links": {"next": {
            "uri": "/customers?seekOperation=Next",
            "headers": [{"key": "MS-ContinuationToken", "value": "same"}]}}}),
        )
    })
    .await;
    let pc = mock.client();
    let mut pages = pc.customers();
    let mut err = None;
    for _ in 0..5 {
        match pages.next_page().await {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    assert!(matches!(err, Some(PcError::PagingLoop { .. })), "{err:?}");
    assert_eq!(mock.api().len(), 2);
}

fn fraud_event(id: &str) -> serde_json::Value {
    serde_json::json!({"eventId": id, "eventStatus": "Active", "subscriptionId": "az1",
        "eventTime": "2023-03-22T11:26:45"})
}

fn app_user_options(mock: &Mock, store: Arc<MemoryRefreshTokenStore>) -> ClientOptions {
    let mut o = mock.options();
    o.app_user = Some(store);
    o
}

#[tokio::test]
async fn app_user_endpoints_refused_without_configuration_and_no_http() {
    let mock = Mock::start(|_, _| ok(serde_json::json!([]))).await;
    let pc = mock.client();
    assert!(!pc.has_app_user());
    let err = pc
        .fraud_events(None)
        .next_page()
        .await
        .expect_err("not configured");
    assert!(
        matches!(err, PcError::AppUserNotConfigured { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("[partner_center.app_user]"));
    let err = pc
        .customers_usage_records()
        .await
        .expect_err("not configured");
    assert!(matches!(err, PcError::AppUserNotConfigured { .. }));
    let err = pc
        .customer_usage_summary("c1")
        .await
        .expect_err("not configured");
    assert!(matches!(err, PcError::AppUserNotConfigured { .. }));
    let err = pc
        .update_fraud_event_status("az1", &[], FraudEventStatus::Resolved, None)
        .await
        .expect_err("not configured");
    assert!(matches!(err, PcError::AppUserNotConfigured { .. }));
    assert!(mock.api().is_empty());
    assert!(mock.tokens().is_empty());
}

#[tokio::test]
async fn app_user_refresh_rotates_and_persists_and_pages_fraud_events_by_number() {
    let mock = Mock::start_with(
        |req, _| {
            if req.path != "/v1/fraudEvents" {
                return (404, vec![], "{}".into());
            }
            let page: usize = req
                .query
                .split('&')
                .find_map(|kv| kv.strip_prefix("PageNumber="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let n = match page {
                1 | 2 => 2,
                3 => 1,
                _ => 0,
            };
            let items: Vec<_> = (0..n)
                .map(|i| fraud_event(&format!("e{page}-{i}")))
                .collect();
            ok(serde_json::Value::Array(items))
        },
        true,
    )
    .await;
    let store = Arc::new(MemoryRefreshTokenStore::new(Some(SecretString::from(
        "initial-refresh",
    ))));
    let mut opts = app_user_options(&mock, Arc::clone(&store));
    opts.fraud_events_new_model = true;
    let pc = PartnerCenter::new(opts).expect("client");
    assert!(pc.has_app_user());
    let mut pages = pc.fraud_events(Some(FraudEventStatus::Active));
    let mut ids = Vec::new();
    while let Some(p) = pages.next_page().await.expect("page") {
        ids.extend(p.into_iter().map(|e| e.event_id));
    }
    assert_eq!(ids, ["e1-0", "e1-1", "e2-0", "e2-1", "e3-0"]);
    let api = mock.api();
    assert_eq!(api.len(), 3, "stops at the short page");
    for (i, r) in api.iter().enumerate() {
        assert_eq!(r.h("x-neweventsmodel"), Some("true"));
        assert!(r.query.contains("EventStatus=Active"), "{}", r.query);
        assert!(r.query.contains("PageSize=2"), "{}", r.query);
        assert!(
            r.query.contains(&format!("PageNumber={}", i + 1)),
            "{}",
            r.query
        );
    }
    let tokens = mock.tokens();
    assert_eq!(tokens.len(), 1);
    let form = tokens[0].form();
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("refresh_token")
    );
    assert_eq!(
        form.get("refresh_token").map(String::as_str),
        Some("initial-refresh")
    );
    assert_eq!(form.get("scope").map(String::as_str), Some("openid"));
    assert_eq!(
        form.get("resource").map(String::as_str),
        Some("https://api.partnercenter.microsoft.com")
    );
    let saved = store.load().expect("load").expect("token saved");
    assert_eq!(saved.expose_secret(), "rotated-refresh-1");
}

#[tokio::test]
async fn classic_fraud_model_is_one_bare_array_call() {
    let store = Arc::new(MemoryRefreshTokenStore::new(Some(SecretString::from("r0"))));
    let mock = Mock::start(|_, _| {
        ok(serde_json::json!([
            fraud_event("a"),
            fraud_event("b"),
            fraud_event("c")
        ]))
    })
    .await;
    let pc = PartnerCenter::new(app_user_options(&mock, store)).expect("client");
    let mut pages = pc.fraud_events(None);
    let first = pages.next_page().await.expect("page").expect("some");
    assert_eq!(first.len(), 3);
    assert!(pages.next_page().await.expect("end").is_none());
    let api = mock.api();
    assert_eq!(api.len(), 1);
    assert!(api[0].h("x-neweventsmodel").is_none());
    assert!(!api[0].query.contains("PageNumber"));
}

#[tokio::test]
async fn server_403_requiring_app_user_is_mapped() {
    let mock = Mock::start(|_, _| {
        (
            403,
            vec![],
            r#"{"code": 600001, "description": "This API requires App+User authentication; app only tokens are not supported."}"#
                .into(),
        )
    })
    .await;
    let store = Arc::new(MemoryRefreshTokenStore::new(Some(SecretString::from("r0"))));
    let pc = PartnerCenter::new(app_user_options(&mock, store)).expect("client");
    let err = pc.fraud_events(None).next_page().await.expect_err("403");
    assert!(matches!(err, PcError::AppUserRequired { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("403 on GET /v1/fraudEvents"), "{msg}");
    assert!(msg.contains("[partner_center.app_user]"), "{msg}");
    assert_eq!(mock.api().len(), 1);
}

#[tokio::test]
async fn token_endpoint_rejection_never_leaks_the_secret() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(|| async {
        (
            StatusCode::UNAUTHORIZED,
            [("content-type", "application/json")],
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#,
        )
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut o = ClientOptions::new("t1", "c1", SecretString::from(SECRET));
    o.authority = format!("http://{addr}");
    o.base_url = format!("http://{addr}");
    o.retry.base_delay = Duration::from_millis(1);
    let pc = PartnerCenter::new(o.clone()).expect("client");
    let err = pc.customer("c1").await.expect_err("auth fails");
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
    let msg = err.to_string();
    assert!(msg.contains("invalid_client"), "{msg}");
    assert!(msg.contains("/t1/oauth2/token"), "{msg}");
    for text in [msg, format!("{err:?}"), format!("{o:?}"), format!("{pc:?}")] {
        assert!(!text.contains(SECRET), "secret leaked: {text}");
    }
}

/// Scripted mock server: one axum server on 127.0.0.1:0 answering the token endpoint itself
/// and every API path through a script.
#[allow(dead_code)]
mod common {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::{IntoResponse, Response};
    use cspguard::pc::{ClientOptions, PartnerCenter, RetryPolicy};
    use secrecy::SecretString;

    pub const SECRET: &str = "mock-client-secret-DO-NOT-LEAK";

    /// One recorded request.
    #[derive(Debug, Clone)]
    pub struct Req {
        pub method: String,
        pub path: String,
        pub query: String,
        pub headers: HashMap<String, String>,
        pub body: String,
    }

    impl Req {
        pub fn h(&self, name: &str) -> Option<&str> {
            self.headers
                .get(&name.to_ascii_lowercase())
                .map(String::as_str)
        }

        /// The body as an `application/x-www-form-urlencoded` map.
        pub fn form(&self) -> HashMap<String, String> {
            self.body
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (decode(k), decode(v)))
                .collect()
        }
    }

    fn decode(s: &str) -> String {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%'
                && let Some(hex) = s.get(i + 1..i + 3)
                && let Ok(b) = u8::from_str_radix(hex, 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A scripted answer: status, headers, body.
    pub type Answer = (u16, Vec<(&'static str, String)>, String);
    type Script = Box<dyn Fn(&Req, usize) -> Answer + Send + Sync>;

    struct State {
        api: Mutex<Vec<Req>>,
        tokens: Mutex<Vec<Req>>,
        script: Script,
        token_counter: AtomicUsize,
        rotate: bool,
    }

    /// A running mock server.
    pub struct Mock {
        pub base: String,
        state: Arc<State>,
    }

    impl Mock {
        /// Start a server whose API answers come from `script(request, nth_api_request)` (1-based).
        pub async fn start(script: impl Fn(&Req, usize) -> Answer + Send + Sync + 'static) -> Mock {
            Self::start_with(script, false).await
        }

        /// Like [`Mock::start`]; with `rotate`, refresh-token grants return `rotated-refresh-{n}`.
        pub async fn start_with(
            script: impl Fn(&Req, usize) -> Answer + Send + Sync + 'static,
            rotate: bool,
        ) -> Mock {
            let state = Arc::new(State {
                api: Mutex::new(Vec::new()),
                tokens: Mutex::new(Vec::new()),
                script: Box::new(script),
                token_counter: AtomicUsize::new(0),
                rotate,
            });
            let st = Arc::clone(&state);
            let app = axum::Router::new().fallback(
                move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                    let st = Arc::clone(&st);
                    async move { handle(st, method, uri, headers, body) }
                },
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            let addr = listener.local_addr().expect("addr");
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            Mock {
                base: format!("http://{addr}"),
                state,
            }
        }

        pub fn api(&self) -> Vec<Req> {
            self.state.api.lock().expect("lock").clone()
        }

        pub fn tokens(&self) -> Vec<Req> {
            self.state.tokens.lock().expect("lock").clone()
        }

        /// Options pointing at this server, with millisecond retry delays and page size 2.
        pub fn options(&self) -> ClientOptions {
            let mut o =
                ClientOptions::new("mock-tenant", "mock-client", SecretString::from(SECRET));
            o.authority = self.base.clone();
            o.base_url = self.base.clone();
            o.retry = RetryPolicy {
                max_attempts: 4,
                max_total: Duration::from_secs(20),
                base_delay: Duration::from_millis(2),
                max_delay: Duration::from_millis(10),
            };
            o.page_size = 2;
            o
        }

        pub fn client(&self) -> PartnerCenter {
            PartnerCenter::new(self.options()).expect("client builds")
        }
    }

    fn handle(
        st: Arc<State>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let req = Req {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or("").to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        if req.path.ends_with("/oauth2/token") || req.path.ends_with("/oauth2/v2.0/token") {
            let n = st.token_counter.fetch_add(1, Ordering::SeqCst) + 1;
            let form = req.form();
            st.tokens.lock().expect("lock").push(req);
            let mut json = serde_json::json!({
                "token_type": "Bearer",
                "expires_in": "3600",
                "access_token": format!("mock-token-{n}"),
            });
            if st.rotate && form.get("grant_type").map(String::as_str) == Some("refresh_token") {
                json["refresh_token"] = format!("rotated-refresh-{n}").into();
            }
            return (
                StatusCode::OK,
                [("content-type", "application/json")],
                json.to_string(),
            )
                .into_response();
        }
        let n = {
            let mut log = st.api.lock().expect("lock");
            log.push(req.clone());
            log.len()
        };
        let (status, hdrs, body) = (st.script)(&req, n);
        let mut resp = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        )
            .into_response();
        resp.headers_mut().insert(
            "content-type",
            axum::http::HeaderValue::from_static("application/json"),
        );
        for (k, v) in hdrs {
            if let Ok(v) = axum::http::HeaderValue::from_str(&v) {
                resp.headers_mut().insert(k, v);
            }
        }
        resp
    }

    pub fn ok(body: serde_json::Value) -> Answer {
        (200, vec![], body.to_string())
    }

    /// A script whose first access token has expired (401 "token expired"); any later token
    /// reads customer `id`.
    pub fn first_token_expired(id: &'static str) -> impl Fn(&Req, usize) -> Answer {
        move |req, _| {
            if req.h("authorization") == Some("Bearer mock-token-1") {
                (
                    401,
                    vec![],
                    r#"{"code": 401, "description": "token expired"}"#.into(),
                )
            } else {
                ok(customer_json(id))
            }
        }
    }

    pub fn customer_json(id: &str) -> serde_json::Value {
        serde_json::json!({"id": id, "companyProfile": {"tenantId": id, "companyName": "Contoso"}})
    }
}
