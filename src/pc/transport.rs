//! The one HTTP transport to Partner Center, and the only module that retries.
//!
//! Owns: required headers on every call, the retry loop (it carries out what
//! [`RetryPolicy::decide`] in `pc/retry.rs` decides: 429 honouring `Retry-After`, 5xx, 408,
//! timeouts and connection failures with full-jitter exponential backoff, bounded by attempts and
//! total time, re-authentication once on 401), mapping of error answers to [`PcError`], call
//! statistics and tracing. Tokens come from a [`TokenSource`]; URLs are checked by `pc/url.rs`.
//!
//! Invariants:
//! * `MS-RequestId` is a new UUID per logical call and the same on every retry of that call;
//!   `MS-CorrelationId` is the run's id. A Graph transport ([`Service::Graph`]) sends the call's
//!   id as `client-request-id` instead and none of Partner Center's headers.
//! * Every HTTP attempt (retries included) takes a client-side rate-limit start and a
//!   concurrency permit first, and only then its access token, so a token never ages in the
//!   rate-limit queue.
//! * A response body is streamed and refused once it passes [`Limits::max_response_bytes`]; it
//!   is never read whole first.
//! * Redirects are never followed (the client is built with `redirect::Policy::none()`).
//! * Nothing logged or returned contains a token or secret.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::pc::error::{PcError, describe_reqwest, quote};
use crate::pc::limits::Limits;
use crate::pc::ratelimit::RateLimiter;
use crate::pc::retry::{
    Decision, GiveUp, Progress, RetryPolicy, RetryReason, StatusClass, classify_status,
    parse_retry_after,
};
use crate::pc::token::{TokenKind, TokenSource};
use crate::pc::url::check_url_security;

/// Per-endpoint call counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EndpointStats {
    /// HTTP requests sent (retries included).
    pub calls: u64,
    /// Requests that were retries of an earlier attempt.
    pub retries: u64,
    /// 429 answers received.
    pub throttled: u64,
    /// Logical calls that ended in an error.
    pub errors: u64,
}

impl EndpointStats {
    fn add(&mut self, o: &EndpointStats) {
        self.calls += o.calls;
        self.retries += o.retries;
        self.throttled += o.throttled;
        self.errors += o.errors;
    }
}

/// Call statistics keyed by endpoint template (e.g. `"GET /v1/customers/{id}/subscriptions"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    pub endpoints: BTreeMap<String, EndpointStats>,
    pub totals: EndpointStats,
}

impl CallStats {
    fn bump(&mut self, label: &str, f: impl Fn(&mut EndpointStats)) {
        let mut delta = EndpointStats::default();
        f(&mut delta);
        self.endpoints
            .entry(label.to_owned())
            .or_default()
            .add(&delta);
        self.totals.add(&delta);
    }

    /// Add another client's statistics (e.g. Graph's to Partner Center's, for one run total).
    pub fn merge(&mut self, other: &CallStats) {
        for (label, stats) in &other.endpoints {
            self.endpoints.entry(label.clone()).or_default().add(stats);
        }
        self.totals.add(&other.totals);
    }

    /// Stats of one endpoint label (zero if never called).
    pub fn endpoint(&self, label: &str) -> EndpointStats {
        self.endpoints.get(label).copied().unwrap_or_default()
    }
}

/// One logical API call.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    pub method: Method,
    /// Endpoint template used in stats and errors, e.g. `GET /v1/customers/{id}`.
    pub label: String,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
    pub kind: TokenKind,
}

impl ApiRequest {
    pub fn new(method: Method, label: impl Into<String>, url: Url, kind: TokenKind) -> Self {
        Self {
            method,
            label: label.into(),
            url,
            headers: Vec::new(),
            body: None,
            kind,
        }
    }

    pub fn header(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// A decoded successful answer plus a fingerprint of its body (for loop detection).
pub(crate) struct Decoded<T> {
    pub value: T,
    pub body_hash: u64,
    /// The answer's status and headers (`Location` and `Retry-After` of asynchronous operations).
    pub status: StatusCode,
    pub headers: HeaderMap,
}

/// The shared transport of one client.
pub(crate) struct Transport {
    http: reqwest::Client,
    auth: Arc<dyn TokenSource>,
    limiter: RateLimiter,
    retry: RetryPolicy,
    correlation_id: uuid::Uuid,
    base: Url,
    limits: Limits,
    stats: Mutex<CallStats>,
    /// Which service this transport talks to: its name in log lines and its request headers.
    service: Service,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base.as_str())
            .field("auth", &self.auth)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Build the one reqwest client: no redirects, timeouts, our User-Agent.
pub(crate) fn build_http(
    request_timeout: Duration,
    connect_timeout: Duration,
) -> Result<reqwest::Client, PcError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(request_timeout)
        .connect_timeout(connect_timeout)
        .user_agent(user_agent())
        .build()
        .map_err(|e| {
            PcError::Config(format!(
                "cannot build HTTP client: {}",
                describe_reqwest(&e)
            ))
        })
}

/// `cspguard/<version>`.
pub fn user_agent() -> String {
    format!("cspguard/{}", env!("CARGO_PKG_VERSION"))
}

/// An HTTP answer as read off the wire.
struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// The API a transport talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Partner Center: `MS-RequestId` per call, `MS-CorrelationId` per run, `MS-Contract-Version`.
    PartnerCenter,
    /// Microsoft Graph: `client-request-id` per call (Graph's own correlation header); none of
    /// Partner Center's headers.
    Graph,
}

impl Service {
    /// The name in log lines.
    pub fn name(self) -> &'static str {
        match self {
            Service::PartnerCenter => "Partner Center",
            Service::Graph => "Graph",
        }
    }

    /// The correlation headers of one attempt of a call (the same on every retry of it).
    fn headers(self, request_id: uuid::Uuid, correlation_id: uuid::Uuid) -> HeaderMap {
        let id = |u: uuid::Uuid| {
            HeaderValue::from_str(&u.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
        };
        let mut h = HeaderMap::new();
        match self {
            Service::PartnerCenter => {
                h.insert("MS-RequestId", id(request_id));
                h.insert("MS-CorrelationId", id(correlation_id));
                h.insert("MS-Contract-Version", HeaderValue::from_static("v1"));
            }
            Service::Graph => {
                h.insert("client-request-id", id(request_id));
            }
        }
        h
    }
}

/// One logical call in flight: the request, its extra headers and its `MS-RequestId`.
struct Call<'a> {
    req: &'a ApiRequest,
    extra: HeaderMap,
    request_id: uuid::Uuid,
}

/// How one attempt ended.
enum Attempt<T> {
    /// Success, decoded.
    Done(Decoded<T>),
    /// Stop with this error (not retryable).
    Fatal(PcError),
    /// Failed; `retry::RetryPolicy::decide` says whether and when to send again.
    Failed(RetryReason),
    /// 401 with the token of `generation`; `response` is reported if it stands.
    Unauthorized { generation: u64, response: Response },
}

impl Transport {
    pub fn new(
        http: reqwest::Client,
        auth: Arc<dyn TokenSource>,
        limiter: RateLimiter,
        retry: RetryPolicy,
        correlation_id: uuid::Uuid,
        base: Url,
    ) -> Self {
        Self {
            http,
            auth,
            limiter,
            retry,
            correlation_id,
            base,
            limits: Limits::default(),
            stats: Mutex::new(CallStats::default()),
            service: Service::PartnerCenter,
        }
    }

    /// The same transport, talking to `service` (its log lines and request headers).
    pub fn with_service(mut self, service: Service) -> Self {
        self.service = service;
        self
    }

    /// The same transport with these bounds.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Ask the token source for a token of `kind` once, without retries (an installation
    /// check: a token endpoint that is down or answers 5xx is reported, not waited out).
    pub(crate) async fn token_once(&self, kind: TokenKind) -> Result<(), PcError> {
        self.auth.bearer(kind).await.map(|_| ())
    }

    /// The bounds this transport and its pagers keep to.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn stats(&self) -> CallStats {
        match self.stats.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn bump(&self, label: &str, f: impl Fn(&mut EndpointStats)) {
        let mut g = match self.stats.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.bump(label, f);
    }

    /// Run one logical call with retries, decoding a 2xx body with `decode`.
    pub async fn execute<T>(
        &self,
        req: &ApiRequest,
        decode: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Result<Decoded<T>, PcError> {
        let result = self.execute_inner(req, decode).await;
        if result.is_err() {
            self.bump(&req.label, |s| s.errors += 1);
        }
        result
    }

    /// The retry loop: every decision comes from [`RetryPolicy::decide`]; this only carries it
    /// out (re-authenticate, wait, or turn the give-up into a [`PcError`]).
    async fn execute_inner<T>(
        &self,
        req: &ApiRequest,
        decode: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Result<Decoded<T>, PcError> {
        check_url_security(&req.url)?;
        let started = Instant::now();
        let call = Call {
            req,
            extra: build_extra_headers(&req.headers, &req.label)?,
            request_id: uuid::Uuid::new_v4(),
        };
        let mut progress = Progress::default();
        loop {
            progress.begin_attempt();
            let (reason, unauthorized) = match self.attempt(&call, &progress, &decode).await {
                Attempt::Done(decoded) => return Ok(decoded),
                Attempt::Fatal(e) => return Err(e),
                Attempt::Failed(reason) => (reason, None),
                Attempt::Unauthorized {
                    generation,
                    response,
                } => (RetryReason::Unauthorized, Some((generation, response))),
            };
            progress.elapsed = started.elapsed();
            let decision = self.retry.decide(&progress, reason, fastrand::f64());
            progress.record(&decision);
            match decision {
                Decision::Reauthenticate => {
                    if let Some((generation, _)) = unauthorized {
                        self.auth.invalidate(req.kind, generation).await;
                    }
                    tracing::warn!(endpoint = %req.label, request_id = %call.request_id,
                        service = self.service.name(),
                        "401 from the API; dropping cached token and retrying once");
                }
                Decision::Retry { reason, delay } => {
                    tracing::warn!(
                        endpoint = %req.label,
                        request_id = %call.request_id,
                        attempt = progress.attempts(),
                        delay_ms = delay.as_millis() as u64,
                        reason = %reason,
                        service = self.service.name(),
                        "retrying API call"
                    );
                    tokio::time::sleep(delay).await;
                }
                Decision::GiveUp(give_up) => {
                    return Err(match (give_up, unauthorized) {
                        (GiveUp::Rejected, Some((_, response))) => status_error(req, &response),
                        (give_up, _) => give_up_error(&req.label, give_up),
                    });
                }
            }
        }
    }

    /// Send one attempt and say how it ended.
    async fn attempt<T>(
        &self,
        call: &Call<'_>,
        progress: &Progress,
        decode: &impl Fn(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Attempt<T> {
        let req = call.req;
        // Wait for the rate-limit slot first, then take the token, so it cannot expire queued.
        let _permit = self.limiter.permit().await;
        self.limiter.acquire_start().await;
        let bearer = match self.auth.bearer(req.kind).await {
            Ok(b) => b,
            Err(PcError::Auth {
                transient: true,
                message,
                ..
            }) => return Attempt::Failed(RetryReason::TokenUnavailable(message)),
            Err(e) => return Attempt::Fatal(e),
        };
        let response = match self.send_once(call, &bearer.token, progress).await {
            Ok(r) => r,
            Err(SendError::TooLarge) => {
                return Attempt::Fatal(PcError::ResponseTooLarge {
                    endpoint: req.label.clone(),
                    limit: self.limits.max_response_bytes,
                });
            }
            Err(SendError::Http(e)) => {
                return match RetryReason::from_transport_error(&e) {
                    Some(reason) => Attempt::Failed(reason),
                    None => Attempt::Fatal(PcError::Transport {
                        endpoint: req.label.clone(),
                        message: describe_reqwest(&e),
                    }),
                };
            }
        };
        tracing::debug!(
            endpoint = %req.label,
            status = response.status.as_u16(),
            attempt = progress.attempts(),
            request_id = %call.request_id,
            bytes = response.body.len(),
            service = self.service.name(),
            "API call"
        );
        match classify_status(response.status) {
            StatusClass::Success => match decode(&response.body) {
                Ok(value) => Attempt::Done(Decoded {
                    value,
                    body_hash: hash_bytes(&response.body),
                    status: response.status,
                    headers: response.headers,
                }),
                Err(e) => Attempt::Failed(RetryReason::UndecodableBody {
                    error: e.to_string(),
                    bytes: response.body.len(),
                }),
            },
            // A refusal for a missing MFA claim stands: a new token from the same consent has
            // no MFA claim either, so re-authenticating would only rotate the refresh token.
            StatusClass::Unauthorized => match status_error(req, &response) {
                e @ PcError::MfaRequired { .. } => Attempt::Fatal(e),
                _ => Attempt::Unauthorized {
                    generation: bearer.generation,
                    response,
                },
            },
            StatusClass::Throttled => {
                self.bump(&req.label, |s| s.throttled += 1);
                let retry_after = response
                    .headers
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
                let (_, message) = error_info(&response.body, response.status);
                Attempt::Failed(RetryReason::Throttled {
                    retry_after,
                    message,
                })
            }
            StatusClass::Transient => {
                let (_, message) = error_info(&response.body, response.status);
                Attempt::Failed(RetryReason::ServerError {
                    status: response.status.as_u16(),
                    message,
                })
            }
            StatusClass::Final => Attempt::Fatal(status_error(req, &response)),
        }
    }

    async fn send_once(
        &self,
        call: &Call<'_>,
        token: &secrecy::SecretString,
        progress: &Progress,
    ) -> Result<Response, SendError> {
        let req = call.req;
        let is_retry = progress.retries() > 0;
        self.bump(&req.label, |s| {
            s.calls += 1;
            if is_retry {
                s.retries += 1;
            }
        });
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"));
        auth.set_sensitive(true);
        let mut builder = self
            .http
            .request(req.method.clone(), req.url.clone())
            .headers(call.extra.clone())
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::ACCEPT, "application/json")
            .headers(self.service.headers(call.request_id, self.correlation_id));
        if let Some(body) = &req.body {
            builder = builder.json(body);
        }
        let resp = builder.send().await.map_err(SendError::Http)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = read_capped(resp, self.limits.max_response_bytes).await?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// Why one send produced no [`Response`].
enum SendError {
    Http(reqwest::Error),
    /// The body passed the size cap.
    TooLarge,
}

/// Read a body chunk by chunk, refusing it once it passes `limit` bytes (a declared
/// `Content-Length` above the limit is refused before anything is read).
async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, SendError> {
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(SendError::TooLarge);
    }
    // Sized from the declared length (already checked against the cap), so a large body is not
    // grown by doubling, which briefly holds up to three times its size (issue 18).
    let declared = resp
        .content_length()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut body = Vec::with_capacity(declared.min(limit));
    while let Some(chunk) = resp.chunk().await.map_err(SendError::Http)? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(SendError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error for a retry decision that gave up.
fn give_up_error(endpoint: &str, give_up: GiveUp) -> PcError {
    let endpoint = endpoint.to_owned();
    match give_up {
        GiveUp::Throttled {
            retry_after,
            remaining,
        } => PcError::Throttled {
            endpoint,
            retry_after,
            remaining,
        },
        GiveUp::Undecodable { error, bytes } => PcError::Decode {
            endpoint,
            message: format!("{error} ({bytes} bytes received, on both tries)"),
        },
        GiveUp::Exhausted {
            last: last @ RetryReason::UndecodableBody { .. },
            ..
        } => PcError::Decode {
            endpoint,
            message: last.to_string(),
        },
        GiveUp::Exhausted {
            last,
            attempts,
            elapsed,
        } => PcError::RetriesExhausted {
            endpoint,
            attempts,
            elapsed,
            last: last.to_string(),
        },
        GiveUp::Rejected => PcError::Api {
            endpoint,
            status: 401,
            code: None,
            message: "the token was rejected".to_owned(),
            hint: hint_for(401),
        },
    }
}

/// The error for an answer that is not retried (or a 401 that stands): 412, a 403 that needs
/// App+User, or any other status with what to do about it.
fn status_error(req: &ApiRequest, response: &Response) -> PcError {
    let endpoint = req.label.clone();
    let status = response.status;
    let (code, message) = error_info(&response.body, status);
    let code_u16 = status.as_u16();
    if status == StatusCode::PRECONDITION_FAILED {
        return PcError::PreconditionFailed { endpoint, message };
    }
    if status == StatusCode::UNAUTHORIZED
        && req.kind == TokenKind::AppUser
        && mentions_mfa(code.as_deref(), &message)
    {
        return PcError::MfaRequired {
            endpoint,
            status: code_u16,
            code,
            message,
        };
    }
    if status == StatusCode::FORBIDDEN && mentions_app_user(code.as_deref(), &message) {
        return PcError::AppUserRequired {
            endpoint,
            status: code_u16,
            code,
            message,
        };
    }
    let hint = hint_for(code_u16);
    PcError::Api {
        endpoint,
        status: code_u16,
        code,
        message,
        hint,
    }
}

/// Partner Center's refusal of an App+User call without an MFA claim: code 900421 (reported by
/// partners; Microsoft's page names no body), or a message that says MFA is required.
fn mentions_mfa(code: Option<&str>, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    code.is_some_and(|c| c.trim() == "900421")
        || m.contains("multi-factor")
        || m.contains("multifactor")
        || m.contains("mfa")
}

/// What to do about an error answer that is not retried.
fn hint_for(status: u16) -> &'static str {
    match status {
        300..=399 => {
            "redirects are never followed (credentials must not leave the configured host); check base_url"
        }
        400 => "the request was rejected as invalid; not retried",
        401 => {
            "the token was rejected even after re-authentication; check the app registration and its Partner Center access"
        }
        403 => {
            "the partner lacks permission for this operation (check the Admin Agent role and app consent)"
        }
        404 => "the resource does not exist or is not visible to this partner",
        409 => "conflict with the resource's current state; re-read it before acting",
        _ => "not retried",
    }
}

fn build_extra_headers(headers: &[(String, String)], label: &str) -> Result<HeaderMap, PcError> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.trim().as_bytes()).map_err(|_| PcError::Decode {
            endpoint: label.to_owned(),
            message: format!("invalid header name {:?} in a next-page link", quote(k)),
        })?;
        // Never let server-provided headers replace credentials or request identity.
        if name == reqwest::header::AUTHORIZATION
            || name == reqwest::header::HOST
            || name.as_str().eq_ignore_ascii_case("ms-requestid")
            || name.as_str().eq_ignore_ascii_case("ms-correlationid")
        {
            continue;
        }
        let value = HeaderValue::from_str(v.trim()).map_err(|_| PcError::Decode {
            endpoint: label.to_owned(),
            message: format!("invalid value for header {name} in a next-page link"),
        })?;
        map.append(name, value);
    }
    Ok(map)
}

fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

/// Extract (code, message) from an error body in either documented shape.
fn error_info(body: &[u8], status: StatusCode) -> (Option<String>, String) {
    match crate::pc::lenient::from_slice::<crate::pc::models::ApiErrorBody>(body) {
        Ok(e) => {
            let msg = quote(&e.message());
            let msg = if msg.is_empty() {
                status.canonical_reason().unwrap_or("error").to_owned()
            } else {
                msg
            };
            (e.code(), msg)
        }
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = quote(&text);
            if text.is_empty() {
                (
                    None,
                    status.canonical_reason().unwrap_or("error").to_owned(),
                )
            } else {
                (None, text)
            }
        }
    }
}

/// Whether a 403's code/description says App+User credentials are required.
fn mentions_app_user(code: Option<&str>, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    let needles = [
        "app+user",
        "app + user",
        "app-user",
        "app user",
        "appuser",
        "app only",
        "app-only",
        "apponly",
        "user context",
        "user_impersonation",
        "delegated",
    ];
    needles.iter().any(|n| m.contains(n))
        || code.is_some_and(|c| {
            let c = c.to_ascii_lowercase();
            c.contains("appuser") || c.contains("app_user") || c.contains("apponly")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_sends_its_own_correlation_headers() {
        let (call, run) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let pc = Service::PartnerCenter.headers(call, run);
        assert_eq!(
            pc.get("MS-RequestId").map(|v| v.to_str().ok()),
            Some(Some(&*call.to_string()))
        );
        assert_eq!(
            pc.get("MS-CorrelationId").map(|v| v.to_str().ok()),
            Some(Some(&*run.to_string()))
        );
        assert_eq!(
            pc.get("MS-Contract-Version").map(|v| v.to_str().ok()),
            Some(Some("v1"))
        );
        assert!(pc.get("client-request-id").is_none());
        let graph = Service::Graph.headers(call, run);
        assert_eq!(
            graph.get("client-request-id").map(|v| v.to_str().ok()),
            Some(Some(&*call.to_string()))
        );
        assert_eq!(
            graph.len(),
            1,
            "no Partner Center header goes to Graph: {graph:?}"
        );
    }

    #[test]
    fn app_user_403_detection() {
        assert!(mentions_app_user(
            None,
            "This API requires App+User authentication"
        ));
        assert!(mentions_app_user(
            None,
            "App only authentication is not supported"
        ));
        assert!(!mentions_app_user(
            Some("900159"),
            "No commerce relationship"
        ));
    }

    #[test]
    fn link_headers_cannot_override_credentials() {
        let h = build_extra_headers(
            &[
                ("MS-ContinuationToken".into(), "abc".into()),
                ("Authorization".into(), "Bearer stolen".into()),
                ("MS-RequestId".into(), "x".into()),
            ],
            "GET /v1/customers",
        )
        .expect("headers");
        assert_eq!(
            h.get("ms-continuationtoken").map(|v| v.as_bytes()),
            Some(&b"abc"[..])
        );
        assert!(h.get("authorization").is_none());
        assert!(h.get("ms-requestid").is_none());
        assert!(build_extra_headers(&[("bad name".into(), "x".into())], "l").is_err());
    }
}
