//! The Microsoft Graph client against the simulator: its own app-only token for the Graph
//! audience (a Partner Center token is refused by Graph and a Graph token by Partner Center),
//! Graph's error body shape, `@odata.nextLink` paging with its bounds, and asynchronous
//! operations whose `Location` must stay on the Graph origin.

mod support;

use cspguard::graph::{GraphClient, GraphOptions};
use cspguard::pc::PcError;
use cspguard::sim::SimHandle;
use support::world::{client_options, simulator};

fn graph(h: &SimHandle, max_pages: u64) -> GraphClient {
    let pc = client_options(h, 3);
    let mut options = GraphOptions {
        base_url: h.base_url(),
        ..GraphOptions::default()
    };
    options.limits.max_pages = max_pages;
    GraphClient::new(&pc, &options).expect("graph client")
}

fn json(value: serde_json::Value) -> String {
    value.to_string()
}

fn json_headers() -> Vec<(String, String)> {
    vec![("content-type".into(), "application/json".into())]
}

#[tokio::test]
async fn graph_token_is_for_graph_and_graph_errors_are_parsed() {
    let h = simulator(2).await;
    let g = graph(&h, 10);
    let url = g.url(&["v1.0", "nothing", "here"], &[]).expect("url");
    let err = g
        .get::<serde_json::Value>("GET /v1.0/nothing", url)
        .await
        .expect_err("unknown Graph path");
    match &err {
        PcError::Api { status, code, .. } => {
            assert_eq!(*status, 404, "{err}");
            assert_eq!(code.as_deref(), Some("ResourceNotFound"), "{err}");
        }
        other => panic!("expected a Graph 404, got {other:?}"),
    }
    // The Graph token is refused by Partner Center.
    let pc_url = g.url(&["v1", "customers"], &[]).expect("url");
    let refused = g
        .get::<serde_json::Value>("GET /v1/customers", pc_url)
        .await
        .expect_err("a Graph token on a Partner Center path");
    assert!(
        matches!(refused, PcError::Api { status: 401, .. }),
        "{refused:?}"
    );
    let tokens: Vec<_> = h
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/oauth2/"))
        .collect();
    assert!(!tokens.is_empty(), "a token was requested");
}

#[tokio::test]
async fn a_partner_center_token_is_refused_by_graph() {
    let h = simulator(1).await;
    let http = reqwest::Client::new();
    let form = [
        ("grant_type", "client_credentials".to_owned()),
        ("client_id", h.client_id()),
        ("client_secret", h.client_secret()),
        (
            "resource",
            "https://api.partnercenter.microsoft.com".to_owned(),
        ),
    ];
    let token: serde_json::Value = http
        .post(h.token_url_v1())
        .form(&form)
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let access = token["access_token"].as_str().expect("access token");
    let resp = http
        .get(format!(
            "{}/beta/security/partner/securityAlerts",
            h.base_url()
        ))
        .bearer_auth(access)
        .send()
        .await
        .expect("graph call");
    assert_eq!(resp.status().as_u16(), 401);
    let body: serde_json::Value = resp.json().await.expect("graph error json");
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
}

#[tokio::test]
async fn next_links_are_followed_and_bounded() {
    let h = simulator(1).await;
    let base = h.base_url();
    h.override_response(
        "GET",
        "/v1.0/things",
        200,
        json_headers(),
        json(
            serde_json::json!({"value": [1, 2], "@odata.nextLink": format!("{base}/v1.0/things2")}),
        ),
        None,
    );
    h.override_response(
        "GET",
        "/v1.0/things2",
        200,
        json_headers(),
        json(serde_json::json!({"value": [3]})),
        None,
    );
    let g = graph(&h, 10);
    let url = g.url(&["v1.0", "things"], &[]).expect("url");
    let all: Vec<u32> = g
        .pages("GET /v1.0/things", url)
        .collect_all()
        .await
        .expect("pages");
    assert_eq!(all, vec![1, 2, 3]);

    // A next link back to itself is a loop, reported instead of followed forever.
    h.override_response(
        "GET",
        "/v1.0/loop",
        200,
        json_headers(),
        json(serde_json::json!({"value": [1], "@odata.nextLink": format!("{base}/v1.0/loop")})),
        None,
    );
    let url = g.url(&["v1.0", "loop"], &[]).expect("url");
    let err = g
        .pages::<u32>("GET /v1.0/loop", url)
        .collect_all()
        .await
        .expect_err("loop");
    assert!(matches!(err, PcError::PagingLoop { .. }), "{err:?}");

    // Always-new next links stop at the page bound.
    for i in 0..5 {
        h.override_response(
            "GET",
            &format!("/v1.0/endless{i}"),
            200,
            json_headers(),
            json(serde_json::json!({"value": [i], "@odata.nextLink": format!("{base}/v1.0/endless{}", i + 1)})),
            None,
        );
    }
    let small = graph(&h, 3);
    let url = small.url(&["v1.0", "endless0"], &[]).expect("url");
    let err = small
        .pages::<u32>("GET /v1.0/endless", url)
        .collect_all()
        .await
        .expect_err("bound");
    assert!(
        matches!(err, PcError::TooManyPages { pages: 3, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_token_never_follows_a_link_to_another_origin() {
    let h = simulator(1).await;
    h.override_response(
        "GET",
        "/v1.0/leak",
        200,
        json_headers(),
        json(
            serde_json::json!({"value": [1], "@odata.nextLink": "https://attacker.example/steal"}),
        ),
        None,
    );
    h.override_response(
        "POST",
        "/v1.0/start",
        202,
        vec![("location".into(), "https://attacker.example/op/1".into())],
        String::new(),
        None,
    );
    let g = graph(&h, 10);
    let url = g.url(&["v1.0", "leak"], &[]).expect("url");
    let err = g
        .pages::<u32>("GET /v1.0/leak", url)
        .collect_all()
        .await
        .expect_err("foreign next link");
    assert!(matches!(err, PcError::InvalidUrl { .. }), "{err:?}");
    let url = g.url(&["v1.0", "start"], &[]).expect("url");
    let err = g
        .start_operation("POST /v1.0/start", url, serde_json::json!({}))
        .await
        .expect_err("foreign Location");
    assert!(matches!(err, PcError::InvalidUrl { .. }), "{err:?}");
    assert!(
        h.requests().iter().all(|r| !r.path.contains("steal")),
        "nothing was sent elsewhere"
    );
}

#[tokio::test]
async fn an_operation_answers_202_with_a_location_and_is_polled() {
    let h = simulator(1).await;
    let base = h.base_url();
    h.override_response(
        "POST",
        "/v1.0/export",
        202,
        vec![
            ("location".into(), format!("{base}/v1.0/operations/op1")),
            ("retry-after".into(), "7".into()),
        ],
        String::new(),
        None,
    );
    h.override_response(
        "GET",
        "/v1.0/operations/op1",
        200,
        vec![
            ("content-type".into(), "application/json".into()),
            ("retry-after".into(), "3".into()),
        ],
        json(serde_json::json!({"id": "op1", "status": "running"})),
        None,
    );
    let g = graph(&h, 10);
    let url = g.url(&["v1.0", "export"], &[]).expect("url");
    let accepted = g
        .start_operation(
            "POST /v1.0/export",
            url,
            serde_json::json!({"invoiceId": "G1"}),
        )
        .await
        .expect("accepted");
    assert_eq!(accepted.location.path(), "/v1.0/operations/op1");
    assert_eq!(
        accepted.retry_after,
        Some(std::time::Duration::from_secs(7))
    );
    let polled = g
        .poll::<serde_json::Value>("GET /v1.0/operations/{id}", &accepted.location)
        .await
        .expect("poll");
    assert_eq!(polled.value["status"], "running");
    assert_eq!(polled.retry_after, Some(std::time::Duration::from_secs(3)));
    let stats = g.stats();
    assert_eq!(stats.endpoint("POST /v1.0/export").calls, 1);
}
