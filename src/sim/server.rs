//! The simulator's HTTP server: shared state, routing, the request pipeline (record -> override
//! -> latency -> auth -> App+User check -> rate limit -> fault -> handler) and every Partner
//! Center handler.
//!
//! Invariants:
//! * One fallback handler routes by hand, so static segments win over ids
//!   (`/v1/customers/usagerecords` before `/v1/customers/{id}`, `/v1/invoices/summary` before
//!   `/v1/invoices/{id}`), matching is case-insensitive, and malformed input never reaches an
//!   extractor that could answer with a non-JSON rejection.
//! * Locks (on `state.rs`'s shared state) are never held across an `.await`.
//! * Every request is recorded at arrival; its status is filled in when the response is built.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::auth::{self, Audience, Bearer, TokenKind, TokenSettings, TokenVersion, Tokens};
use super::dataset::{Dataset, SimAuditRecord, SimCustomer, SimSubscription, guid_from};
use super::graph::{self, GraphCtx};
use super::render;
use super::state::{Data, Recorder, Shared};
use super::wire::{SimResponse, decode_token, encode_token, member, param, parse_pairs};
use super::{RecordedRequest, SimConfig, SimError, SimHandle, lock};

/// Largest request body accepted.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// How long a timeout fault holds its response.
const TIMEOUT_HOLD: Duration = Duration::from_secs(30);

/// The subscription `sid` of `c` (case-insensitive), or Partner Center's 404.
fn subscription<'a>(c: &'a SimCustomer, sid: &str) -> Result<&'a SimSubscription, SimResponse> {
    c.subscriptions
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(sid))
        .ok_or_else(|| SimResponse::not_found("Subscription", sid))
}

/// [`subscription`], to change.
fn subscription_mut<'a>(
    c: &'a mut SimCustomer,
    sid: &str,
) -> Result<&'a mut SimSubscription, SimResponse> {
    c.subscriptions
        .iter_mut()
        .find(|s| s.id.eq_ignore_ascii_case(sid))
        .ok_or_else(|| SimResponse::not_found("Subscription", sid))
}

/// One page of `items`: at most `size` of them from `offset` (both clamped), and the index
/// just after the page.
fn window<T>(items: &[T], offset: usize, size: usize) -> (&[T], usize) {
    let from = offset.min(items.len());
    let to = offset.saturating_add(size).min(items.len());
    (items.get(from..to).unwrap_or(&[]), to)
}

/// The user principal the simulated partner application acts as.
const AUTOMATION_UPN: &str = "sim-automation@simpartner.onmicrosoft.com";

/// The audit record of a change the client (the simulated partner application) just made.
fn automation_record(
    ctx: &Ctx<'_>,
    id: String,
    customer: &SimCustomer,
    operation: (&str, &str),
) -> SimAuditRecord {
    SimAuditRecord {
        id,
        user_principal_name: AUTOMATION_UPN.into(),
        application_id: Some(ctx.sh.cfg.client_id.clone()),
        ..SimAuditRecord::succeeded(customer, operation, ctx.sh.now())
    }
}

pub(super) async fn start(mut cfg: SimConfig, addr: SocketAddr) -> Result<SimHandle, SimError> {
    let ds = cfg.dataset.take().unwrap_or_else(|| {
        Dataset::generate(
            cfg.seed,
            cfg.customers,
            cfg.clock.unwrap_or_else(Timestamp::now),
        )
    });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| SimError::Bind { addr, source })?;
    let (tx, mut rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        tokens: Mutex::new(Tokens::new(cfg.refresh_token.clone())),
        faults: Mutex::new((cfg.faults, fastrand::Rng::with_seed(cfg.seed ^ 0x5eed_fa17))),
        latency: Mutex::new(cfg.latency),
        rate: Mutex::new(VecDeque::new()),
        recorder: Mutex::new(Recorder::default()),
        overrides: Mutex::new(Vec::new()),
        shutdown: tx,
        token_key: cfg.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xc0ff_ee00,
        id_rng: Mutex::new(fastrand::Rng::with_seed(cfg.seed ^ 0x1d5)),
        data: Mutex::new(Data::new(ds)),
        cfg,
    });
    let app = axum::Router::new()
        .route("/blobs/{*blob}", axum::routing::get(graph::billing::blob))
        .fallback(handle)
        .with_state(shared.clone());
    let join = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "simulator server stopped with an error");
        }
    });
    Ok(SimHandle {
        shared,
        addr: local,
        join: Arc::new(Mutex::new(Some(join))),
    })
}

/// A matched route.
#[derive(Debug, Clone)]
enum Route {
    Token(TokenVersion, String),
    Customers,
    Customer(String),
    BillingProfile(String),
    Subscriptions(String),
    Subscription(String, String),
    PatchSubscription(String, String),
    Entitlements(String, String),
    CancelEntitlement(String, String, String),
    AuditRecords,
    UsageBudget(String),
    PatchUsageBudget(String),
    UsageSummary(String),
    UsageRecords,
    Invoices,
    InvoiceSummary,
    InvoiceSummaries,
    Invoice(String),
    FraudEvents,
    FraudStatus(String),
    /// A Microsoft Graph path (`/v1.0/...`, `/beta/...`), served by `sim/graph/`.
    Graph(graph::Area),
    MethodNotAllowed,
    Unknown,
}

impl Route {
    fn app_user_only(&self) -> bool {
        matches!(
            self,
            Route::UsageSummary(_)
                | Route::UsageRecords
                | Route::Invoice(_)
                | Route::InvoiceSummaries
                | Route::FraudEvents
                | Route::FraudStatus(_)
        )
    }

    /// Customer and subscription resources are rate limited.
    fn rate_limited(&self) -> bool {
        matches!(
            self,
            Route::Customers
                | Route::Customer(_)
                | Route::BillingProfile(_)
                | Route::Subscriptions(_)
                | Route::Subscription(..)
                | Route::PatchSubscription(..)
                | Route::Entitlements(..)
                | Route::CancelEntitlement(..)
                | Route::UsageBudget(_)
                | Route::PatchUsageBudget(_)
                | Route::UsageSummary(_)
                | Route::UsageRecords
                | Route::Graph(_)
        )
    }
}

/// Matches method + path to a route and its template.
fn route(method: &str, path: &str) -> (Route, &'static str) {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = method.to_ascii_uppercase();
    let get = m == "GET";
    let post = m == "POST";
    let patch = m == "PATCH";
    if matches!(s.first(), Some(&"v1.0" | &"beta")) {
        let (area, template) = graph::classify(&m, &s);
        return (Route::Graph(area), template);
    }
    let (r, t) = match s.as_slice() {
        [tenant, "oauth2", "token"] if post => (
            Route::Token(TokenVersion::V1, tenant.to_string()),
            "POST /{tenant}/oauth2/token",
        ),
        [tenant, "oauth2", "v2.0", "token"] if post => (
            Route::Token(TokenVersion::V2, tenant.to_string()),
            "POST /{tenant}/oauth2/v2.0/token",
        ),
        ["v1", "customers"] if get => (Route::Customers, "GET /v1/customers"),
        ["v1", "customers", "usagerecords"] if get => {
            (Route::UsageRecords, "GET /v1/customers/usagerecords")
        }
        ["v1", "customers", id] if get => {
            (Route::Customer(id.to_string()), "GET /v1/customers/{id}")
        }
        ["v1", "customers", id, "profiles", "billing"] if get => (
            Route::BillingProfile(id.to_string()),
            "GET /v1/customers/{id}/profiles/billing",
        ),
        ["v1", "customers", id, "subscriptions"] if get => (
            Route::Subscriptions(id.to_string()),
            "GET /v1/customers/{id}/subscriptions",
        ),
        ["v1", "customers", id, "subscriptions", sid] if get => (
            Route::Subscription(id.to_string(), sid.to_string()),
            "GET /v1/customers/{id}/subscriptions/{sid}",
        ),
        ["v1", "customers", id, "subscriptions", sid] if patch => (
            Route::PatchSubscription(id.to_string(), sid.to_string()),
            "PATCH /v1/customers/{id}/subscriptions/{sid}",
        ),
        [
            "v1",
            "customers",
            id,
            "subscriptions",
            sid,
            "azureentitlements",
        ] if get => (
            Route::Entitlements(id.to_string(), sid.to_string()),
            "GET /v1/customers/{id}/subscriptions/{sid}/azureEntitlements",
        ),
        [
            "v1",
            "customers",
            id,
            "subscriptions",
            sid,
            "azureentitlements",
            eid,
            "cancel",
        ] if post => (
            Route::CancelEntitlement(id.to_string(), sid.to_string(), eid.to_string()),
            "POST /v1/customers/{id}/subscriptions/{sid}/azureEntitlements/{eid}/cancel",
        ),
        ["v1", "customers", id, "usagebudget"] if get => (
            Route::UsageBudget(id.to_string()),
            "GET /v1/customers/{id}/usagebudget",
        ),
        ["v1", "customers", id, "usagebudget"] if patch => (
            Route::PatchUsageBudget(id.to_string()),
            "PATCH /v1/customers/{id}/usagebudget",
        ),
        ["v1", "customers", id, "usagesummary"] if get => (
            Route::UsageSummary(id.to_string()),
            "GET /v1/customers/{id}/usagesummary",
        ),
        ["v1", "auditrecords"] if get => (Route::AuditRecords, "GET /v1/auditrecords"),
        ["v1", "invoices"] if get => (Route::Invoices, "GET /v1/invoices"),
        ["v1", "invoices", "summary"] if get => (Route::InvoiceSummary, "GET /v1/invoices/summary"),
        ["v1", "invoices", "summaries"] if get => {
            (Route::InvoiceSummaries, "GET /v1/invoices/summaries")
        }
        ["v1", "invoices", id] if get => (Route::Invoice(id.to_string()), "GET /v1/invoices/{id}"),
        ["v1", "fraudevents"] if get => (Route::FraudEvents, "GET /v1/fraudEvents"),
        ["v1", "fraudevents", "subscription", sid, "status"] if post => (
            Route::FraudStatus(sid.to_string()),
            "POST /v1/fraudEvents/subscription/{sid}/status",
        ),
        _ => (Route::Unknown, "UNKNOWN"),
    };
    if matches!(r, Route::Unknown) && known_path(&s) {
        return (Route::MethodNotAllowed, "UNKNOWN");
    }
    (r, t)
}

/// True when the path matches some route under another method (-> 405 instead of 404).
fn known_path(s: &[&str]) -> bool {
    matches!(
        s,
        [_, "oauth2", "token"]
            | [_, "oauth2", "v2.0", "token"]
            | ["v1", "customers"]
            | ["v1", "customers", _]
            | ["v1", "customers", _, "profiles", "billing"]
            | ["v1", "customers", _, "subscriptions"]
            | ["v1", "customers", _, "subscriptions", _]
            | [
                "v1",
                "customers",
                _,
                "subscriptions",
                _,
                "azureentitlements"
            ]
            | [
                "v1",
                "customers",
                _,
                "subscriptions",
                _,
                "azureentitlements",
                _,
                "cancel"
            ]
            | ["v1", "customers", _, "usagebudget"]
            | ["v1", "customers", _, "usagesummary"]
            | ["v1", "auditrecords"]
            | ["v1", "invoices"]
            | ["v1", "invoices", _]
            | ["v1", "fraudevents"]
            | ["v1", "fraudevents", "subscription", _, "status"]
    )
}

enum Fault {
    None,
    ServerError(u16),
    Timeout,
    Truncate,
    ExpireToken,
}

fn draw_fault(sh: &Shared) -> Fault {
    let mut g = lock(&sh.faults);
    let (f, rng) = &mut *g;
    let shares = [
        f.server_error_share,
        f.timeout_share,
        f.truncate_share,
        f.expire_token_share,
    ]
    .map(|x| {
        if x.is_finite() {
            x.clamp(0.0, 1.0)
        } else {
            0.0
        }
    });
    if shares.iter().all(|x| *x <= 0.0) {
        return Fault::None;
    }
    let r = rng.f64();
    let mut acc = 0.0;
    for (i, share) in shares.iter().enumerate() {
        acc += share;
        if r < acc {
            return match i {
                0 => Fault::ServerError(if rng.bool() { 500 } else { 503 }),
                1 => Fault::Timeout,
                2 => Fault::Truncate,
                _ => Fault::ExpireToken,
            };
        }
    }
    Fault::None
}

fn unauthorized(description: &str) -> SimResponse {
    SimResponse::json(
        401,
        &json!({"code": 401, "description": description, "source": "PartnerFD"}),
    )
    .with_header("www-authenticate", "OAuth realm=urn:cpsvc:cpid:sim-partner")
}

fn rate_check(sh: &Shared) -> Result<(), u64> {
    let limit = sh.cfg.rate_limit_per_minute;
    if limit == 0 {
        return Ok(());
    }
    let window = Duration::from_secs(60);
    let now = Instant::now();
    let mut q = lock(&sh.rate);
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
    if q.len() >= limit as usize {
        let wait = q
            .front()
            .map(|t| window.saturating_sub(now.duration_since(*t)))
            .unwrap_or(window);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return Err(secs.max(1));
    }
    q.push_back(now);
    Ok(())
}

async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            let name = k.as_str().to_ascii_lowercase();
            let value = if name == "authorization" {
                "<redacted>".to_string()
            } else {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            };
            (name, value)
        })
        .collect();
    let (route, template) = route(&method, &path);
    let slot = sh.record_start(RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        headers,
        status: 0,
        endpoint: if matches!(route, Route::Unknown | Route::MethodNotAllowed) {
            "UNKNOWN".into()
        } else {
            template.into()
        },
    });
    let body = axum::body::to_bytes(body, MAX_BODY).await;
    let mut resp = match body {
        Ok(bytes) => {
            process(
                &sh,
                &method,
                &path,
                query.as_deref(),
                &parts.headers,
                route,
                &bytes,
            )
            .await
        }
        Err(_) => SimResponse::bad_request(format!(
            "The request body could not be read or exceeds {MAX_BODY} bytes."
        )),
    };
    for (name, value) in [
        ("ms-requestid", "ms-requestid"),
        ("ms-correlationid", "ms-correlationid"),
    ] {
        let v = parts
            .headers
            .get(value)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        if !resp
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            resp.headers.push((name.into(), v));
        }
    }
    sh.record_finish(slot, resp.status);
    into_response(resp)
}

fn into_response(r: SimResponse) -> Response {
    let mut resp = Response::new(Body::from(r.body));
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    for (k, v) in r.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            h.append(name, value);
        }
    }
    resp
}

fn take_override(sh: &Shared, method: &str, path: &str) -> Option<SimResponse> {
    let mut ovs = lock(&sh.overrides);
    let pos = ovs.iter().rposition(|o| {
        o.method.eq_ignore_ascii_case(method) && o.path == path && o.remaining != Some(0)
    })?;
    let o = ovs.get_mut(pos)?;
    if let Some(n) = o.remaining.as_mut() {
        *n -= 1;
    }
    let resp = SimResponse {
        status: o.status,
        headers: o
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect(),
        body: o.body.clone(),
    };
    if o.remaining == Some(0) {
        ovs.remove(pos);
    }
    Some(resp)
}

async fn process(
    sh: &Arc<Shared>,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    route: Route,
    body: &[u8],
) -> SimResponse {
    if let Route::Token(version, tenant) = &route {
        if let Some(o) = take_override(sh, method, path) {
            return o;
        }
        let settings = TokenSettings {
            tenant_id: &sh.cfg.tenant_id,
            client_id: &sh.cfg.client_id,
            client_secret: &sh.cfg.client_secret,
            lifetime: sh.cfg.token_lifetime,
        };
        return auth::token_endpoint(&mut lock(&sh.tokens), &settings, *version, tenant, body);
    }
    let latency = *lock(&sh.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(o) = take_override(sh, method, path) {
        return o;
    }
    match route {
        Route::Unknown => {
            return SimResponse::pc_error(
                404,
                404,
                format!("No resource matches {method} {path}."),
            );
        }
        Route::MethodNotAllowed => {
            return SimResponse::pc_error(
                405,
                405,
                format!("Method {method} is not allowed on {path}."),
            );
        }
        _ => {}
    }
    let authz = headers.get("authorization").and_then(|v| v.to_str().ok());
    let bearer = lock(&sh.tokens).check(authz);
    let (kind, token) = match bearer {
        Bearer::Valid(kind, audience, token) => {
            if let Err(refused) = check_audience(&route, audience) {
                return refused;
            }
            (kind, token)
        }
        Bearer::Missing => {
            return unauthorized(
                "Authentication failed: no bearer token. Send 'Authorization: Bearer <access token>'.",
            );
        }
        Bearer::Unknown => {
            return unauthorized(
                "Authentication failed: the bearer token is not recognised. Acquire a new access token.",
            );
        }
        Bearer::Expired(_) => {
            return unauthorized(
                "Authentication failed: the access token has expired. Acquire a new access token.",
            );
        }
    };
    if kind == TokenKind::AppUser
        && !matches!(route, Route::Graph(_))
        && lock(&sh.data).ds.mfa == super::dataset::SimMfa::Missing
    {
        return SimResponse::pc_error(
            401,
            900421,
            "Multi-factor authentication is required for App+User calls to the Partner Center API, and the access token carries no MFA claim. Sign in again with MFA (the Secure Application Model consent) to obtain a new refresh token.",
        );
    }
    if route.app_user_only() && kind != TokenKind::AppUser {
        return SimResponse::pc_error(
            403,
            900316,
            "This operation requires App+User authentication; an app-only (partner application) token is not allowed. Use a token from the refresh-token grant.",
        );
    }
    if route.rate_limited()
        && let Err(secs) = rate_check(sh)
    {
        if matches!(route, Route::Graph(_)) {
            return graph::graph_error(
                429,
                "TooManyRequests",
                &format!("Too many requests. Retry after {secs} seconds."),
            )
            .with_header("retry-after", secs.to_string());
        }
        return SimResponse::json(
            429,
            &json!({"statusCode": 429, "message": format!("Rate limit is exceeded. Try again in {secs} seconds.")}),
        )
        .with_header("retry-after", secs.to_string());
    }
    let fault = draw_fault(sh);
    let params = query.map(parse_pairs).unwrap_or_default();
    let ctx = Ctx {
        sh,
        headers,
        params: &params,
        body,
        method,
        path,
    };
    match fault {
        Fault::None => dispatch(&ctx, &route),
        Fault::ServerError(status) => SimResponse::pc_error(
            status,
            status.into(),
            "The service encountered an internal error (simulated fault). Retry later.",
        ),
        Fault::ExpireToken => {
            lock(&sh.tokens).expire(&token);
            unauthorized(
                "Authentication failed: the access token has expired. Acquire a new access token.",
            )
        }
        Fault::Truncate => {
            let mut r = dispatch(&ctx, &route);
            let half = r.body.len() / 2;
            let mut cut = half;
            while cut > 0 && !r.body.is_char_boundary(cut) {
                cut -= 1;
            }
            r.body.truncate(cut);
            r.status = 200;
            r
        }
        Fault::Timeout => {
            let _ = dispatch(&ctx, &route);
            let mut rx = sh.shutdown.subscribe();
            tokio::select! {
                _ = tokio::time::sleep(TIMEOUT_HOLD) => {}
                _ = rx.wait_for(|stop| *stop) => {}
            }
            SimResponse::pc_error(504, 504, "The operation timed out (simulated fault).")
        }
    }
}

struct Ctx<'a> {
    sh: &'a Shared,
    headers: &'a HeaderMap,
    params: &'a [(String, String)],
    body: &'a [u8],
    method: &'a str,
    path: &'a str,
}

/// A Partner Center token is refused by Graph and a Graph token by Partner Center (401, in the
/// refusing service's error shape).
fn check_audience(route: &Route, audience: Audience) -> Result<(), SimResponse> {
    match (route, audience) {
        (Route::Graph(_), Audience::Graph) => Ok(()),
        (Route::Graph(_), Audience::PartnerCenter) => Err(graph::graph_error(
            401,
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience: the token was issued for Partner Center; ask for https://graph.microsoft.com/.default.",
        )),
        (_, Audience::Graph) => Err(unauthorized(
            "Authentication failed: the token's audience is Microsoft Graph, not Partner Center. Acquire a token for https://api.partnercenter.microsoft.com.",
        )),
        (_, Audience::PartnerCenter) => Ok(()),
    }
}

/// Serve a Graph route through `sim/graph/`.
fn graph_dispatch(ctx: &Ctx<'_>, area: graph::Area) -> SimResponse {
    let segs: Vec<&str> = ctx.path.split('/').filter(|s| !s.is_empty()).collect();
    let (version, rest) = match segs.split_first() {
        Some((v, rest)) => (*v, rest),
        None => ("", &[][..]),
    };
    let host = ctx.header("host").unwrap_or("127.0.0.1");
    let gctx = GraphCtx {
        sh: ctx.sh,
        method: ctx.method,
        segs: rest,
        version,
        params: ctx.params,
        headers: ctx.headers,
        body: ctx.body,
        origin: format!("http://{host}"),
    };
    graph::dispatch(&gctx, area)
}

impl Ctx<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json_body(&self) -> Result<Value, SimResponse> {
        let v: Value = serde_json::from_slice(self.body).map_err(|e| {
            SimResponse::bad_request(format!("The request body is not valid JSON: {e}."))
        })?;
        if !v.is_object() {
            return Err(SimResponse::bad_request(
                "The request body must be a JSON object.",
            ));
        }
        Ok(v)
    }

    /// Parses a positive integer parameter.
    fn usize_param(&self, name: &str, default: usize) -> Result<usize, SimResponse> {
        match param(self.params, name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    SimResponse::bad_request(format!(
                        "Query parameter '{name}' must be a positive integer, got '{v}'."
                    ))
                }),
        }
    }
}

fn dispatch(ctx: &Ctx<'_>, route: &Route) -> SimResponse {
    let r = match route {
        Route::Graph(area) => return graph_dispatch(ctx, *area),
        Route::Customers => list_customers(ctx),
        Route::Customer(id) => with_customer(ctx, id, |c| {
            Ok(SimResponse::json(200, &render::customer_full(c)))
        }),
        Route::BillingProfile(id) => with_customer(ctx, id, |c| {
            Ok(SimResponse::json(200, &render::billing_profile(c)))
        }),
        Route::Subscriptions(id) => with_customer(ctx, id, |c| {
            let items = c
                .subscriptions
                .iter()
                .map(|s| render::subscription(&c.id, s))
                .collect();
            Ok(SimResponse::json(
                200,
                &render::collection(items, &format!("/customers/{}/subscriptions", c.id), None),
            ))
        }),
        Route::Subscription(id, sid) => with_customer(ctx, id, |c| {
            let s = subscription(c, sid)?;
            Ok(SimResponse::json(200, &render::subscription(&c.id, s)))
        }),
        Route::PatchSubscription(id, sid) => patch_subscription(ctx, id, sid),
        Route::Entitlements(id, sid) => with_customer(ctx, id, |c| {
            let s = subscription(c, sid)?;
            let items = s
                .entitlements
                .iter()
                .map(|e| render::entitlement(&c.id, &s.id, e))
                .collect();
            Ok(SimResponse::json(
                200,
                &render::collection(
                    items,
                    &format!(
                        "/customers/{}/subscriptions/{}/azureEntitlements",
                        c.id, s.id
                    ),
                    None,
                ),
            ))
        }),
        Route::CancelEntitlement(id, sid, eid) => cancel_entitlement(ctx, id, sid, eid),
        Route::AuditRecords => audit_records(ctx),
        Route::UsageBudget(id) => with_customer(ctx, id, |c| {
            Ok(SimResponse::json(200, &render::usage_budget(c)))
        }),
        Route::PatchUsageBudget(id) => patch_budget(ctx, id),
        Route::UsageSummary(id) => {
            let (start, end, modified) = month_bounds(ctx.sh.now());
            with_customer(ctx, id, |c| {
                Ok(SimResponse::json(
                    200,
                    &render::usage_summary(c, &start, &end, &modified),
                ))
            })
        }
        Route::UsageRecords => {
            let (_, _, modified) = month_bounds(ctx.sh.now());
            let data = lock(&ctx.sh.data);
            let items = data
                .ds
                .customers
                .iter()
                .filter(|c| c.has_azure_plan() || c.budget.is_some() || !c.usage_mtd.is_zero())
                .map(|c| render::usage_record(c, &modified))
                .collect();
            Ok(SimResponse::json(
                200,
                &render::collection(items, "/customers/usagerecords", None),
            ))
        }
        Route::Invoices => list_invoices(ctx),
        Route::InvoiceSummary => {
            let data = lock(&ctx.sh.data);
            Ok(SimResponse::json(
                200,
                &render::invoice_summary(&data.ds.invoice_summary),
            ))
        }
        Route::InvoiceSummaries => {
            let data = lock(&ctx.sh.data);
            let item = render::invoice_summary(&data.ds.invoice_summary);
            Ok(SimResponse::json(
                200,
                &render::collection(vec![item], "/invoices/summaries", None),
            ))
        }
        Route::Invoice(id) => {
            let data = lock(&ctx.sh.data);
            data.ds
                .invoices
                .iter()
                .find(|i| i.id.eq_ignore_ascii_case(id))
                .map(|i| SimResponse::json(200, &render::invoice(i, true)))
                .ok_or_else(|| SimResponse::not_found("Invoice", id))
        }
        Route::FraudEvents => fraud_events(ctx),
        Route::FraudStatus(sid) => fraud_status(ctx, sid),
        Route::Token(..) | Route::MethodNotAllowed | Route::Unknown => {
            Err(SimResponse::pc_error(404, 404, "No such resource."))
        }
    };
    r.unwrap_or_else(|e| e)
}

type HandlerResult = Result<SimResponse, SimResponse>;

fn with_customer(
    ctx: &Ctx<'_>,
    id: &str,
    f: impl FnOnce(&SimCustomer) -> HandlerResult,
) -> HandlerResult {
    f(lock(&ctx.sh.data).customer(id)?)
}

/// (first day of month, first day of next month, last-modified = yesterday) as RFC 3339.
fn month_bounds(now: Timestamp) -> (String, String, String) {
    let z = now.to_zoned(jiff::tz::TimeZone::UTC);
    let first = z.date().first_of_month();
    let next = first
        .checked_add(jiff::Span::new().months(1))
        .unwrap_or(first);
    let fmt = |d: jiff::civil::Date| format!("{d}T00:00:00+00:00");
    let modified = now
        .checked_sub(SignedDuration::from_hours(20))
        .unwrap_or(now)
        .to_string();
    (fmt(first), fmt(next), modified)
}

fn list_customers(ctx: &Ctx<'_>) -> HandlerResult {
    let max = ctx.sh.cfg.page_size_max.max(1);
    let size = ctx.usize_param("size", max)?.min(max);
    let offset = seek_offset(ctx, "customers")?.map(|f| f.first().cloned().unwrap_or_default());
    let offset = match offset {
        None => 0,
        Some(o) => o.parse::<usize>().map_err(|_| bad_continuation())?,
    };
    let data = lock(&ctx.sh.data);
    let (page, end) = window(&data.ds.customers, offset, size);
    let items: Vec<Value> = page.iter().map(render::customer_list_item).collect();
    let next = (end < data.ds.customers.len()).then(|| {
        let token = encode_token("customers", &[end.to_string()], ctx.sh.token_key);
        seek_link(
            &format!("/v1/customers?size={size}&seekOperation=Next"),
            &token,
        )
    });
    Ok(SimResponse::json(
        200,
        &render::collection(items, &format!("/v1/customers?size={size}"), next),
    ))
}

fn bad_continuation() -> SimResponse {
    SimResponse::bad_request(
        "The continuation token is invalid or expired. Restart paging from the first page.",
    )
}

fn seek_link(uri: &str, token: &str) -> Value {
    json!({
        "uri": uri,
        "method": "GET",
        "headers": [{"key": "MS-ContinuationToken", "value": token}],
    })
}

/// For `seekOperation=Next` requests: validates the MS-ContinuationToken header and returns its
/// fields; `None` for a first-page request.
fn seek_offset(ctx: &Ctx<'_>, kind: &str) -> Result<Option<Vec<String>>, SimResponse> {
    let Some(op) = param(ctx.params, "seekOperation") else {
        return Ok(None);
    };
    if !op.eq_ignore_ascii_case("next") {
        return Err(SimResponse::bad_request(format!(
            "seekOperation '{op}' is not supported; use 'Next' with the MS-ContinuationToken header from links.next."
        )));
    }
    let Some(token) = ctx.header("ms-continuationtoken") else {
        return Err(SimResponse::bad_request(
            "seekOperation=Next requires the MS-ContinuationToken header from links.next.headers.",
        ));
    };
    decode_token(token, kind, ctx.sh.token_key)
        .map(Some)
        .ok_or_else(bad_continuation)
}

/// The string member `name` of a request body (case-insensitive), or a 400 saying `missing`.
fn required_text<'b>(body: &'b Value, name: &str, missing: &str) -> Result<&'b str, SimResponse> {
    member(body, name)
        .and_then(Value::as_str)
        .ok_or_else(|| SimResponse::bad_request(missing))
}

fn patch_subscription(ctx: &Ctx<'_>, id: &str, sid: &str) -> HandlerResult {
    let body = ctx.json_body()?;
    let status = required_text(
        &body,
        "status",
        "The subscription body must include 'status' ('suspended' or 'active').",
    )?;
    let target = status.to_ascii_lowercase();
    if target != "suspended" && target != "active" {
        return Err(SimResponse::bad_request(format!(
            "Status '{status}' cannot be set; use 'suspended' or 'active'."
        )));
    }
    let reasons: Option<Vec<String>> = member(&body, "suspensionReasons")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        });
    let if_match = ctx
        .header("if-match")
        .map(|v| v.trim().trim_matches('"').to_string());
    let mut guard = lock(&ctx.sh.data);
    let data = &mut *guard;
    let c = data.customer_mut(id)?;
    let new_id = guid_from(&mut lock(&ctx.sh.id_rng));
    let cid = c.id.clone();
    let s = subscription_mut(c, sid)?;
    match if_match {
        Some(tag) if tag == s.etag() => {}
        Some(_) => {
            return Err(SimResponse::pc_error(
                412,
                412,
                "The If-Match etag does not match the subscription's current etag; GET the subscription and retry with its attributes.etag.",
            ));
        }
        None => {
            return Err(SimResponse::pc_error(
                412,
                412,
                "The If-Match header is required: send the subscription's current attributes.etag.",
            ));
        }
    }
    let current = s.status.to_ascii_lowercase();
    if current != "active" && current != "suspended" {
        return Err(SimResponse::pc_error(
            400,
            800091,
            format!("Can't update a subscription with status '{}'.", s.status),
        ));
    }
    if target == "suspended"
        && s.is_azure_plan()
        && s.entitlements
            .iter()
            .any(|e| e.status.eq_ignore_ascii_case("active"))
    {
        return Err(SimResponse::pc_error(
            403,
            900115,
            "Azure plan can't be moved to suspended state since you have one or more Azure Subscriptions in the active state.",
        ));
    }
    if current != target {
        let old = s.status.clone();
        s.status = target.clone();
        s.suspension_reasons = if target == "suspended" {
            reasons
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| vec!["nonpayment".into()])
        } else {
            Vec::new()
        };
        s.etag_version = s.etag_version.wrapping_add(1);
        let sub_id = s.id.clone();
        let rendered = render::subscription_pascal(&cid, s);
        let record = SimAuditRecord {
            resource_old_value: Some(format!("{{\"Id\":\"{sub_id}\",\"Status\":\"{old}\"}}")),
            resource_new_value: Some(format!("{{\"Id\":\"{sub_id}\",\"Status\":\"{target}\"}}")),
            customized_data: vec![("SubscriptionId".into(), Some(sub_id))],
            ..automation_record(ctx, new_id, c, ("subscription", "update_subscription"))
        };
        data.ds.audit_records.push(record);
        return Ok(SimResponse::json(200, &rendered));
    }
    Ok(SimResponse::json(
        200,
        &render::subscription_pascal(&cid, s),
    ))
}

fn cancel_entitlement(ctx: &Ctx<'_>, id: &str, sid: &str, eid: &str) -> HandlerResult {
    let body = ctx.json_body().map_err(|_| {
        SimResponse::pc_error(
            400,
            800002,
            "The Azure entitlement cancellation request content is required.",
        )
    })?;
    let reason = member(&body, "cancellationReason")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !reason.eq_ignore_ascii_case("compromise") {
        return Err(SimResponse::pc_error(
            400,
            900307,
            format!("Cancellation reason '{reason}' is invalid. Use 'compromise'."),
        ));
    }
    let mut data = lock(&ctx.sh.data);
    let c = data.customer_mut(id)?;
    let cid = c.id.clone();
    let s = subscription_mut(c, sid)?;
    let sub_id = s.id.clone();
    let e = s
        .entitlements
        .iter_mut()
        .find(|e| e.id.eq_ignore_ascii_case(eid))
        .ok_or_else(|| {
            SimResponse::pc_error(
                404,
                800111,
                format!("Azure entitlement with ID {eid} isn't found."),
            )
        })?;
    e.status = "disabled".into();
    Ok(SimResponse::json(
        200,
        &render::entitlement(&cid, &sub_id, e),
    ))
}

/// Parses `yyyy-mm-dd`, a civil date-time or an RFC 3339 timestamp as UTC.
fn parse_when(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    s.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
}

fn audit_records(ctx: &Ctx<'_>) -> HandlerResult {
    let max = ctx.sh.cfg.page_size_max.max(1);
    let size = ctx.usize_param("size", max)?.min(max);
    let now = ctx.sh.now();
    let (start, end, filter, offset) = match seek_offset(ctx, "audit")? {
        Some(f) => {
            let [s, e, filt, o] = f.as_slice() else {
                return Err(bad_continuation());
            };
            let s = s
                .parse::<i64>()
                .ok()
                .and_then(|v| Timestamp::from_second(v).ok());
            let e = e
                .parse::<i64>()
                .ok()
                .and_then(|v| Timestamp::from_second(v).ok());
            let o = o.parse::<usize>().ok();
            let (Some(s), Some(e), Some(o)) = (s, e, o) else {
                return Err(bad_continuation());
            };
            (s, e, wire_unhex(filt), o)
        }
        None => {
            let start = match param(ctx.params, "startDate") {
                Some(v) => parse_when(v).ok_or_else(|| {
                    SimResponse::bad_request(format!("startDate '{v}' is not a date (yyyy-mm-dd)."))
                })?,
                None => now
                    .checked_sub(SignedDuration::from_hours(24 * 30))
                    .unwrap_or(now),
            };
            let cutoff_day = now
                .checked_sub(SignedDuration::from_hours(24 * 90))
                .unwrap_or(now)
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date();
            let cutoff = cutoff_day
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map(|z| z.timestamp())
                .unwrap_or(now);
            if start < cutoff {
                return Err(SimResponse::pc_error(
                    400,
                    400,
                    "Activity log data is limited to the previous 90 days; the startDate is too old. Use a startDate within the last 90 days.",
                ));
            }
            let end = match param(ctx.params, "endDate") {
                Some(v) => {
                    let e = parse_when(v).ok_or_else(|| {
                        SimResponse::bad_request(format!(
                            "endDate '{v}' is not a date (yyyy-mm-dd)."
                        ))
                    })?;
                    // A bare date is inclusive of that whole day.
                    if v.trim().len() == 10 {
                        e.checked_add(SignedDuration::from_hours(24)).unwrap_or(e)
                    } else {
                        e
                    }
                }
                None => now.checked_add(SignedDuration::from_secs(1)).unwrap_or(now),
            };
            if end < start {
                return Err(SimResponse::bad_request("endDate is before startDate."));
            }
            (
                start,
                end,
                param(ctx.params, "filter").unwrap_or("").to_string(),
                0,
            )
        }
    };
    let matcher = AuditFilter::parse(&filter)?;
    let data = lock(&ctx.sh.data);
    let mut selected: Vec<&SimAuditRecord> = data
        .ds
        .audit_records
        .iter()
        .filter(|a| a.operation_date >= start && a.operation_date < end && matcher.matches(a))
        .collect();
    selected.sort_by_key(|a| a.operation_date);
    let (page, to) = window(&selected, offset, size);
    let partner_id = data.ds.partner_id.clone();
    let items: Vec<Value> = page
        .iter()
        .map(|a| render::audit_record(a, &partner_id))
        .collect();
    let next = (to < selected.len()).then(|| {
        let token = encode_token(
            "audit",
            &[
                start.as_second().to_string(),
                end.as_second().to_string(),
                wire_hex(&filter),
                to.to_string(),
            ],
            ctx.sh.token_key,
        );
        seek_link(
            &format!("/auditrecords?size={size}&seekOperation=Next"),
            &token,
        )
    });
    let self_uri = format!(
        "/auditrecords?startDate={}&size={size}",
        start.to_zoned(jiff::tz::TimeZone::UTC).date()
    );
    Ok(SimResponse::json(
        200,
        &render::collection(items, &self_uri, next),
    ))
}

fn wire_hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn wire_unhex(s: &str) -> String {
    let bytes: Vec<u8> = s
        .as_bytes()
        .chunks(2)
        .filter_map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    String::from_utf8(bytes).unwrap_or_default()
}

/// The audit `filter` parameter: `{"Field":"CustomerId"|"CompanyName"|"ResourceType","Value":..,"Operator":"equals"|"substring"}`.
struct AuditFilter {
    field: String,
    value: String,
    substring: bool,
}

impl AuditFilter {
    fn parse(raw: &str) -> Result<Option<AuditFilter>, SimResponse> {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let bad = || {
            SimResponse::bad_request(
                "filter must be JSON like {\"Field\":\"CustomerId\",\"Value\":\"...\",\"Operator\":\"equals\"}.",
            )
        };
        let v: Value = serde_json::from_str(raw).map_err(|_| bad())?;
        let field = member(&v, "Field")
            .and_then(Value::as_str)
            .ok_or_else(bad)?
            .to_ascii_lowercase();
        let value = member(&v, "Value")
            .and_then(Value::as_str)
            .ok_or_else(bad)?
            .to_string();
        let op = member(&v, "Operator")
            .and_then(Value::as_str)
            .unwrap_or("equals")
            .to_ascii_lowercase();
        if !["customerid", "companyname", "resourcetype"].contains(&field.as_str())
            || !["equals", "substring"].contains(&op.as_str())
        {
            return Err(bad());
        }
        Ok(Some(AuditFilter {
            field,
            value,
            substring: op == "substring",
        }))
    }
}

trait Matches {
    fn matches(&self, a: &SimAuditRecord) -> bool;
}

impl Matches for Option<AuditFilter> {
    fn matches(&self, a: &SimAuditRecord) -> bool {
        let Some(f) = self else { return true };
        let hay = match f.field.as_str() {
            "customerid" => &a.customer_id,
            "companyname" => &a.customer_name,
            _ => &a.resource_type,
        };
        if f.substring {
            hay.to_lowercase().contains(&f.value.to_lowercase())
        } else {
            hay.eq_ignore_ascii_case(&f.value)
        }
    }
}

fn parse_amount(v: &Value) -> Option<Option<Decimal>> {
    match v {
        Value::Null => Some(None),
        Value::Number(n) => n.to_string().parse::<Decimal>().ok().map(Some),
        Value::String(s) => s.trim().parse::<Decimal>().ok().map(Some),
        _ => None,
    }
}

fn patch_budget(ctx: &Ctx<'_>, id: &str) -> HandlerResult {
    let body = ctx.json_body()?;
    let amount = member(&body, "amount").ok_or_else(|| {
        SimResponse::bad_request("The spending budget body must include 'Amount'.")
    })?;
    let amount = parse_amount(amount)
        .ok_or_else(|| SimResponse::bad_request("'Amount' must be a number or null."))?;
    if amount.is_some_and(|a| a.is_sign_negative()) {
        return Err(SimResponse::bad_request("'Amount' must not be negative."));
    }
    let new_id = guid_from(&mut lock(&ctx.sh.id_rng));
    let mut guard = lock(&ctx.sh.data);
    let data = &mut *guard;
    let c = data.customer_mut(id)?;
    let old = c.budget;
    c.budget = amount.map(|a| a.round_dp(2));
    let rendered = render::usage_budget(c);
    let fmt = |b: Option<Decimal>| b.map(|d| d.to_string()).unwrap_or_else(|| "null".into());
    let record = SimAuditRecord {
        resource_old_value: Some(format!("{{\"Amount\":{}}}", fmt(old))),
        resource_new_value: Some(format!("{{\"Amount\":{}}}", fmt(c.budget))),
        ..automation_record(
            ctx,
            new_id,
            c,
            ("customer", "update_customer_spending_budget"),
        )
    };
    data.ds.audit_records.push(record);
    Ok(SimResponse::json(200, &rendered))
}

fn list_invoices(ctx: &Ctx<'_>) -> HandlerResult {
    let size = ctx.usize_param("size", 200)?;
    let offset = match param(ctx.params, "offset") {
        None => 0,
        Some(v) => v.trim().parse::<usize>().map_err(|_| {
            SimResponse::bad_request(format!(
                "Query parameter 'offset' must be a non-negative integer, got '{v}'."
            ))
        })?,
    };
    let data = lock(&ctx.sh.data);
    let (page, to) = window(&data.ds.invoices, offset, size);
    let items: Vec<Value> = page.iter().map(|i| render::invoice(i, false)).collect();
    let next = (to < data.ds.invoices.len())
        .then(|| render::link(&format!("/invoices?size={size}&offset={to}")));
    let mut v = render::collection(
        items,
        &format!("/invoices?size={size}&offset={offset}"),
        next,
    );
    if let Some(obj) = v.as_object_mut() {
        obj.insert("totalCount".into(), json!(page.len()));
    }
    Ok(SimResponse::json(200, &v))
}

fn new_events_model(ctx: &Ctx<'_>) -> bool {
    ctx.header("x-neweventsmodel")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

fn fraud_events(ctx: &Ctx<'_>) -> HandlerResult {
    let new_model = new_events_model(ctx);
    let status = param(ctx.params, "EventStatus");
    if let Some(s) = status
        && !["active", "resolved", "investigating"].contains(&s.to_ascii_lowercase().as_str())
    {
        return Err(SimResponse::bad_request(format!(
            "EventStatus '{s}' is invalid; use Active, Resolved or Investigating."
        )));
    }
    let sub = param(ctx.params, "SubscriptionId");
    let etype = if new_model {
        param(ctx.params, "EventType")
    } else {
        None
    };
    let page = if new_model {
        let parse = |name: &str| {
            param(ctx.params, name)
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    SimResponse::bad_request(format!(
                        "With X-NewEventsModel: true, '{name}' is required and must be a positive integer."
                    ))
                })
        };
        Some((parse("PageSize")?, parse("PageNumber")?))
    } else {
        None
    };
    let data = lock(&ctx.sh.data);
    let matching: Vec<&super::SimFraudEvent> = data
        .ds
        .fraud_events
        .iter()
        .filter(|e| status.is_none_or(|s| e.event_status.eq_ignore_ascii_case(s)))
        .filter(|e| sub.is_none_or(|s| e.subscription_id.eq_ignore_ascii_case(s)))
        .filter(|e| etype.is_none_or(|t| e.event_type.eq_ignore_ascii_case(t)))
        .collect();
    let slice: &[&super::SimFraudEvent] = match page {
        None => &matching,
        Some((size, number)) => window(&matching, size.saturating_mul(number - 1), size).0,
    };
    let arr: Vec<Value> = slice
        .iter()
        .map(|e| render::fraud_event(e, &data.ds.partner_id, &data.ds.partner_name, new_model))
        .collect();
    Ok(SimResponse::json(200, &Value::Array(arr)))
}

fn fraud_status(ctx: &Ctx<'_>, sid: &str) -> HandlerResult {
    let new_model = new_events_model(ctx);
    let body = ctx.json_body()?;
    let status = required_text(
        &body,
        "EventStatus",
        "The body must include 'EventStatus' (Active, Resolved or Investigating).",
    )?;
    let status = match status.to_ascii_lowercase().as_str() {
        "active" => "Active",
        "resolved" | "resolve" => "Resolved",
        "investigating" => "Investigating",
        _ => {
            return Err(SimResponse::bad_request(format!(
                "EventStatus '{status}' is invalid; use Active, Resolved or Investigating."
            )));
        }
    };
    let reason = match member(&body, "ResolvedReason").and_then(Value::as_str) {
        None => None,
        Some(r) => match r.to_ascii_lowercase().as_str() {
            "fraud" => Some("Fraud"),
            "ignore" => Some("Ignore"),
            _ => {
                return Err(SimResponse::bad_request(format!(
                    "ResolvedReason '{r}' is invalid; use Fraud or Ignore."
                )));
            }
        },
    };
    if status == "Resolved" && reason.is_none() {
        return Err(SimResponse::bad_request(
            "Resolving events requires 'ResolvedReason' (Fraud or Ignore).",
        ));
    }
    let ids: Vec<String> = match member(&body, "EventIds") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(_) => {
            return Err(SimResponse::bad_request(
                "'EventIds' must be an array of event ids.",
            ));
        }
    };
    let now = ctx.sh.now();
    let mut guard = lock(&ctx.sh.data);
    let data = &mut *guard;
    let mut updated = Vec::new();
    for e in data
        .ds
        .fraud_events
        .iter_mut()
        .filter(|e| e.subscription_id.eq_ignore_ascii_case(sid))
    {
        let event_id = format!("{}_{}", e.subscription_id, e.entity_id);
        if !ids.is_empty() && !ids.iter().any(|i| i.eq_ignore_ascii_case(&event_id)) {
            continue;
        }
        e.event_status = status.into();
        if status == "Resolved" {
            e.resolved_reason = reason.unwrap_or("Fraud").into();
            e.resolved_on = Some(now);
            e.resolved_by = "sim-automation@simpartner.onmicrosoft.com".into();
        } else {
            e.resolved_reason = "None".into();
            e.resolved_on = None;
            e.resolved_by = String::new();
        }
        updated.push(render::fraud_event(
            e,
            &data.ds.partner_id,
            &data.ds.partner_name,
            new_model,
        ));
    }
    if updated.is_empty() {
        return Err(SimResponse::pc_error(
            404,
            3000,
            format!("No fraud events found for subscription '{sid}' with the given event ids."),
        ));
    }
    Ok(SimResponse::json(200, &Value::Array(updated)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_segments_win_over_ids() {
        assert_eq!(
            route("GET", "/v1/customers/usagerecords").1,
            "GET /v1/customers/usagerecords"
        );
        assert_eq!(
            route("GET", "/v1/customers/abc").1,
            "GET /v1/customers/{id}"
        );
        assert_eq!(
            route("GET", "/v1/invoices/summary").1,
            "GET /v1/invoices/summary"
        );
        assert_eq!(route("GET", "/v1/invoices/G1").1, "GET /v1/invoices/{id}");
        assert_eq!(route("GET", "/v1/fraudevents").1, "GET /v1/fraudEvents");
        assert_eq!(
            route("POST", "/t/oauth2/v2.0/token").1,
            "POST /{tenant}/oauth2/v2.0/token"
        );
        assert!(matches!(
            route("DELETE", "/v1/customers").0,
            Route::MethodNotAllowed
        ));
        assert!(matches!(route("GET", "/v2/nothing").0, Route::Unknown));
        assert_eq!(
            route("PATCH", "/v1/customers/a/subscriptions/b").1,
            "PATCH /v1/customers/{id}/subscriptions/{sid}"
        );
    }

    #[test]
    fn dates_parse_leniently() {
        assert!(parse_when("2026-01-02").is_some());
        assert!(parse_when("2026-01-02T03:04:05").is_some());
        assert!(parse_when("2026-01-02T03:04:05Z").is_some());
        assert!(parse_when("yesterday").is_none());
        assert_eq!(wire_unhex(&wire_hex("{\"a\":\"|\"}")), "{\"a\":\"|\"}");
    }
}
