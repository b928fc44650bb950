//! The Partner Center client against hostile servers (issue 15): endless paging with fresh
//! continuation tokens, oversized bodies, token endpoints and APIs that echo the request, and a
//! permanent `invalid_client`. Each server is a tiny axum app on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use cspguard::pc::{ClientOptions, Limits, PartnerCenter, PcError, RetryPolicy};
use secrecy::SecretString;

const SECRET: &str = "hostile-client-secret-9f3a";

/// What the token endpoint does.
#[derive(Clone, Copy)]
enum TokenAnswer {
    /// A valid token `hostile-access-token-<n>`.
    Grant,
    /// 400 `invalid_client` whose description echoes the whole request body.
    InvalidClientEcho,
}

struct Server {
    base: String,
    token_calls: Arc<AtomicUsize>,
    api_calls: Arc<AtomicUsize>,
}

type Api = Arc<dyn Fn(usize, &HeaderMap) -> (u16, String) + Send + Sync>;

async fn serve(token: TokenAnswer, api: Api) -> Server {
    let token_calls = Arc::new(AtomicUsize::new(0));
    let api_calls = Arc::new(AtomicUsize::new(0));
    let (tc, ac) = (Arc::clone(&token_calls), Arc::clone(&api_calls));
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let (tc, ac, api) = (Arc::clone(&tc), Arc::clone(&ac), Arc::clone(&api));
        async move {
            if uri.path().ends_with("/oauth2/token") {
                let n = tc.fetch_add(1, Ordering::SeqCst) + 1;
                return token_answer(token, n, &body);
            }
            let n = ac.fetch_add(1, Ordering::SeqCst) + 1;
            let (status, body) = api(n, &headers);
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                [("content-type", "application/json")],
                body,
            )
                .into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        base: format!("http://{addr}"),
        token_calls,
        api_calls,
    }
}

fn token_answer(token: TokenAnswer, n: usize, body: &Bytes) -> Response {
    let json = match token {
        TokenAnswer::Grant => serde_json::json!({"token_type": "Bearer", "expires_in": "3600",
            "access_token": format!("hostile-access-token-{n}")}),
        TokenAnswer::InvalidClientEcho => {
            let echo = String::from_utf8_lossy(body).into_owned();
            let json = serde_json::json!({"error": "invalid_client",
                "error_description": format!("AADSTS7000215: Invalid client secret. Request: {echo}")});
            return (
                StatusCode::BAD_REQUEST,
                [("content-type", "application/json")],
                json.to_string(),
            )
                .into_response();
        }
    };
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        json.to_string(),
    )
        .into_response()
}

fn options(server: &Server, limits: Limits) -> ClientOptions {
    let mut o = ClientOptions::new("t", "c", SecretString::from(SECRET));
    o.authority = server.base.clone();
    o.base_url = server.base.clone();
    o.retry = RetryPolicy {
        max_attempts: 3,
        max_total: Duration::from_secs(20),
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
    };
    o.page_size = 2;
    o.limits = limits;
    o
}

fn limits(max_pages: u64, max_response_bytes: usize) -> Limits {
    Limits {
        max_pages,
        page_slack: 2,
        max_response_bytes,
    }
}

/// A page with two customers and a fresh continuation token every time.
fn endless_page(n: usize, total: Option<u64>) -> String {
    let mut page = serde_json::json!({
        "items": [{"id": format!("a{n}")}, {"id": format!("b{n}")}],
        "links": {"next": {"uri": "/customers?seekOperation=Next",
            "headers": [{"key": "MS-ContinuationToken", "value": format!("token-{n}")}]}}
    });
    if let Some(t) = total {
        page["totalCount"] = t.into();
    }
    page.to_string()
}

async fn drain(pc: &PartnerCenter) -> Result<usize, PcError> {
    let mut pages = pc.customers();
    let mut n = 0;
    while pages.next_page().await?.is_some() {
        n += 1;
    }
    Ok(n)
}

#[tokio::test]
async fn fresh_continuation_tokens_stop_at_total_count_plus_slack() {
    let server = serve(
        TokenAnswer::Grant,
        Arc::new(|n, _| (200, endless_page(n, Some(6)))),
    )
    .await;
    let pc = PartnerCenter::new(options(&server, limits(1000, 1 << 20))).expect("client");
    let err = drain(&pc).await.expect_err("endless paging must stop");
    assert!(
        matches!(err, PcError::TooManyPages { pages: 5, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("totalCount 6"), "{err}");
    assert_eq!(
        server.api_calls.load(Ordering::SeqCst),
        5,
        "3 pages + slack 2"
    );
}

#[tokio::test]
async fn fresh_continuation_tokens_without_total_count_stop_at_the_cap() {
    let server = serve(
        TokenAnswer::Grant,
        Arc::new(|n, _| (200, endless_page(n, None))),
    )
    .await;
    let pc = PartnerCenter::new(options(&server, limits(12, 1 << 20))).expect("client");
    let err = drain(&pc).await.expect_err("endless paging must stop");
    assert!(
        matches!(err, PcError::TooManyPages { pages: 12, .. }),
        "{err}"
    );
    assert_eq!(server.api_calls.load(Ordering::SeqCst), 12);
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_not_read_whole() {
    let big = format!(
        r#"{{"id": "c1", "companyProfile": {{"companyName": "{}"}}}}"#,
        "x".repeat(64 * 1024)
    );
    let server = serve(TokenAnswer::Grant, Arc::new(move |_, _| (200, big.clone()))).await;
    let pc = PartnerCenter::new(options(&server, limits(10, 4096))).expect("client");
    let err = pc.customer("c1").await.expect_err("too large");
    assert!(
        matches!(err, PcError::ResponseTooLarge { limit: 4096, .. }),
        "{err}"
    );
    assert_eq!(server.api_calls.load(Ordering::SeqCst), 1, "not retried");
    // Under the cap the same answer is fine.
    let pc = PartnerCenter::new(options(&server, limits(10, 1 << 20))).expect("client");
    pc.customer("c1").await.expect("fits");
}

#[tokio::test]
async fn an_echoed_client_secret_is_redacted_and_invalid_client_is_asked_once() {
    let server = serve(
        TokenAnswer::InvalidClientEcho,
        Arc::new(|_, _| (200, "{}".into())),
    )
    .await;
    let pc = PartnerCenter::new(options(&server, Limits::default())).expect("client");
    let first = pc.customer("c1").await.expect_err("refused").to_string();
    assert!(!first.contains(SECRET), "{first}");
    assert!(first.contains("[redacted]"), "{first}");
    assert!(first.contains("invalid_client"), "{first}");
    let err = drain(&pc).await.expect_err("still refused").to_string();
    assert!(!err.contains(SECRET), "{err}");
    assert!(err.contains("not asked again"), "{err}");
    assert_eq!(
        server.token_calls.load(Ordering::SeqCst),
        1,
        "one sign-in per run"
    );
    assert_eq!(server.api_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_api_echoing_the_bearer_token_is_redacted() {
    let server = serve(
        TokenAnswer::Grant,
        Arc::new(|_, headers| {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body = serde_json::json!({"code": 400, "description": format!("bad request, you sent {auth}")});
            (400, body.to_string())
        }),
    )
    .await;
    let pc = PartnerCenter::new(options(&server, Limits::default())).expect("client");
    let err = pc.customer("c1").await.expect_err("400").to_string();
    assert!(!err.contains("hostile-access-token-1"), "{err}");
    assert!(err.contains("Bearer [redacted]"), "{err}");
}
