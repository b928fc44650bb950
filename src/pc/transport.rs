//! The one HTTP transport to Partner Center, and the only module that retries.
//!
//! Owns: required headers on every call, the retry policy (429 honouring `Retry-After`, 5xx,
//! 408, timeouts and connection failures with full-jitter exponential backoff, bounded by
//! attempts and total time), re-authentication once on 401, mapping of error answers to
//! [`PcError`], URL security (plain `http://` only for loopback), call statistics and tracing.
//!
//! Invariants:
//! * `MS-RequestId` is a new UUID per logical call and the same on every retry of that call;
//!   `MS-CorrelationId` is the run's id.
//! * Every HTTP attempt (retries included) takes a client-side rate-limit start and a
//!   concurrency permit first.
//! * Redirects are never followed (the client is built with `redirect::Policy::none()`).
//! * Nothing logged or returned contains a token or secret.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::pc::auth::{Authenticator, TokenKind};
use crate::pc::error::{PcError, quote};
use crate::pc::ratelimit::RateLimiter;

/// How calls are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Maximum HTTP attempts per logical call (first try included), at least 1.
    pub max_attempts: u32,
    /// Total time budget per logical call, waits included.
    pub max_total: Duration,
    /// First backoff ceiling; doubles per retry.
    pub base_delay: Duration,
    /// Upper bound of any backoff ceiling.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            max_total: Duration::from_secs(180),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// Full-jitter exponential backoff: a delay uniformly drawn (via `unit` in `[0, 1)`) from
/// `[0, min(max_delay, base_delay * 2^(retry-1))]`. `retry` is 1 for the first retry.
pub fn backoff_delay(policy: &RetryPolicy, retry: u32, unit: f64) -> Duration {
    let exp = retry.saturating_sub(1).min(30);
    let ceiling = policy
        .base_delay
        .checked_mul(1u32 << exp)
        .unwrap_or(policy.max_delay)
        .min(policy.max_delay);
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    ceiling.mul_f64(unit)
}

/// Parse a `Retry-After` value: delay seconds (`"57"`) or an HTTP date, relative to `now`.
/// A date in the past means "now" (zero). Unparseable values give `None`.
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(v)
        .ok()?;
    let span = at.duration_since(now);
    Some(Duration::try_from(span).unwrap_or(Duration::ZERO))
}

/// Refuse plain `http://` except for loopback hosts (127.0.0.0/8, ::1, localhost), and any
/// scheme other than http/https.
pub fn check_url_security(url: &Url) -> Result<(), PcError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match url.host() {
                Some(oauth2::url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(oauth2::url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                Some(oauth2::url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err(PcError::InsecureUrl {
                    url: url.to_string(),
                })
            }
        }
        other => Err(PcError::InvalidUrl {
            url: url.to_string(),
            reason: format!("scheme {other:?} is not supported, use https://"),
        }),
    }
}

/// Parse and security-check a configured base URL.
pub fn parse_base_url(raw: &str) -> Result<Url, PcError> {
    let url = Url::parse(raw.trim()).map_err(|e| PcError::InvalidUrl {
        url: raw.to_owned(),
        reason: e.to_string(),
    })?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(PcError::InvalidUrl {
            url: raw.to_owned(),
            reason: "not an absolute http(s) URL with a host".to_owned(),
        });
    }
    check_url_security(&url)?;
    Ok(url)
}

/// Build `{base}/{segments...}?{query}`, percent-encoding every segment.
pub fn api_url(base: &Url, segments: &[&str], query: &[(&str, &str)]) -> Result<Url, PcError> {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    {
        let mut segs = url.path_segments_mut().map_err(|_| PcError::InvalidUrl {
            url: base.to_string(),
            reason: "base URL cannot have paths".to_owned(),
        })?;
        segs.pop_if_empty();
        for s in segments {
            segs.push(s);
        }
    }
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query.iter());
    }
    Ok(url)
}

/// Resolve a `links.*.uri` against the base URL: a missing `/v1` prefix is added
/// (`/auditrecords?x` -> `/v1/auditrecords?x`), `/v1/...` is kept, and absolute URLs must stay on
/// the base URL's origin (the bearer token never goes to another host).
pub fn normalize_link(base: &Url, uri: &str) -> Result<Url, PcError> {
    let uri = uri.trim();
    if uri.is_empty() {
        return Err(PcError::InvalidUrl {
            url: String::new(),
            reason: "empty next-page link".to_owned(),
        });
    }
    if let Ok(abs) = Url::parse(uri) {
        if abs.origin() != base.origin() {
            return Err(PcError::InvalidUrl {
                url: uri.to_owned(),
                reason: format!(
                    "next-page link leaves the Partner Center origin {}; refusing to send credentials there",
                    base.origin().ascii_serialization()
                ),
            });
        }
        check_url_security(&abs)?;
        return Ok(abs);
    }
    let (path, query) = match uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (uri, None),
    };
    let path = path.trim_start_matches('/');
    let versioned = if path == "v1" || path.starts_with("v1/") {
        format!("/{path}")
    } else {
        format!("/v1/{path}")
    };
    let prefix = base.path().trim_end_matches('/');
    let mut url = base.clone();
    url.set_fragment(None);
    url.set_path(&format!("{prefix}{versioned}"));
    url.set_query(query.filter(|q| !q.is_empty()));
    Ok(url)
}

/// Short description of a reqwest error without URLs that could carry query secrets.
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "connection closed while reading the body"
    } else if e.is_request() {
        "request failed (connection reset or closed)"
    } else if e.is_redirect() {
        "redirect refused"
    } else if e.is_builder() {
        "invalid request"
    } else {
        "transport error"
    };
    let mut msg = kind.to_owned();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut depth = 0;
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
        depth += 1;
        if depth > 3 {
            break;
        }
    }
    msg
}

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
}

/// The shared transport of one client.
pub(crate) struct Transport {
    http: reqwest::Client,
    auth: Authenticator,
    limiter: RateLimiter,
    retry: RetryPolicy,
    correlation_id: uuid::Uuid,
    base: Url,
    stats: Mutex<CallStats>,
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

enum Failure {
    /// Retry after the delay (if the policy allows); the string describes the failure.
    Retry {
        why: String,
        delay: Option<Duration>,
    },
    /// Stop with this error.
    Fatal(PcError),
}

impl Transport {
    pub fn new(
        http: reqwest::Client,
        auth: Authenticator,
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
            stats: Mutex::new(CallStats::default()),
        }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    pub fn auth(&self) -> &Authenticator {
        &self.auth
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

    async fn execute_inner<T>(
        &self,
        req: &ApiRequest,
        decode: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Result<Decoded<T>, PcError> {
        check_url_security(&req.url)?;
        let started = Instant::now();
        let request_id = uuid::Uuid::new_v4();
        let max_attempts = self.retry.max_attempts.max(1);
        let extra = build_extra_headers(&req.headers, &req.label)?;
        let mut attempt: u32 = 0;
        let mut retries: u32 = 0;
        let mut reauthed = false;
        let mut decode_retried = false;
        loop {
            attempt += 1;
            let failure = match self.auth.bearer(req.kind).await {
                Err(PcError::Auth {
                    transient: true,
                    message,
                    ..
                }) => Failure::Retry {
                    why: format!("token request failed: {message}"),
                    delay: None,
                },
                Err(e) => return Err(e),
                Ok(bearer) => {
                    let outcome = self
                        .send_once(req, &extra, request_id, &bearer.token, retries > 0)
                        .await;
                    match outcome {
                        Err(e) => {
                            let why = describe_reqwest(&e);
                            if e.is_builder() {
                                Failure::Fatal(PcError::Transport {
                                    endpoint: req.label.clone(),
                                    message: why,
                                })
                            } else {
                                Failure::Retry { why, delay: None }
                            }
                        }
                        Ok((status, headers, body)) => {
                            tracing::debug!(
                                endpoint = %req.label,
                                status = status.as_u16(),
                                attempt,
                                request_id = %request_id,
                                bytes = body.len(),
                                "Partner Center call"
                            );
                            if status.is_success() {
                                match decode(&body) {
                                    Ok(value) => {
                                        return Ok(Decoded {
                                            value,
                                            body_hash: hash_bytes(&body),
                                        });
                                    }
                                    Err(e) if !decode_retried => {
                                        decode_retried = true;
                                        Failure::Retry {
                                            why: format!("undecodable body: {e}"),
                                            delay: None,
                                        }
                                    }
                                    Err(e) => {
                                        return Err(PcError::Decode {
                                            endpoint: req.label.clone(),
                                            message: format!(
                                                "{e} ({} bytes received, on both tries)",
                                                body.len()
                                            ),
                                        });
                                    }
                                }
                            } else if status == StatusCode::UNAUTHORIZED && !reauthed {
                                reauthed = true;
                                self.auth.invalidate(req.kind, bearer.generation).await;
                                tracing::warn!(endpoint = %req.label, request_id = %request_id,
                                    "401 from Partner Center; dropping cached token and retrying once");
                                // A re-authentication retry does not consume the retry budget.
                                attempt -= 1;
                                retries += 1;
                                continue;
                            } else {
                                self.classify(req, status, &headers, &body, started)
                            }
                        }
                    }
                }
            };
            match failure {
                Failure::Fatal(e) => return Err(e),
                Failure::Retry { why, delay } => {
                    let elapsed = started.elapsed();
                    let delay = delay.unwrap_or_else(|| {
                        backoff_delay(&self.retry, retries + 1, fastrand::f64())
                    });
                    if attempt >= max_attempts || elapsed + delay > self.retry.max_total {
                        if decode_retried && why.starts_with("undecodable body") {
                            return Err(PcError::Decode {
                                endpoint: req.label.clone(),
                                message: why,
                            });
                        }
                        return Err(PcError::RetriesExhausted {
                            endpoint: req.label.clone(),
                            attempts: attempt,
                            elapsed,
                            last: why,
                        });
                    }
                    retries += 1;
                    tracing::warn!(
                        endpoint = %req.label,
                        request_id = %request_id,
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        reason = %why,
                        "retrying Partner Center call"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn send_once(
        &self,
        req: &ApiRequest,
        extra: &HeaderMap,
        request_id: uuid::Uuid,
        token: &secrecy::SecretString,
        is_retry: bool,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), reqwest::Error> {
        let _permit = self.limiter.permit().await;
        self.limiter.acquire_start().await;
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
            .headers(extra.clone())
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::ACCEPT, "application/json")
            .header("MS-RequestId", request_id.to_string())
            .header("MS-CorrelationId", self.correlation_id.to_string())
            .header("MS-Contract-Version", "v1");
        if let Some(body) = &req.body {
            builder = builder.json(body);
        }
        let resp = builder.send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        Ok((status, headers, body))
    }

    fn classify(
        &self,
        req: &ApiRequest,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        started: Instant,
    ) -> Failure {
        let endpoint = req.label.clone();
        let (code, message) = error_info(body, status);
        let code_u16 = status.as_u16();
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.bump(&req.label, |s| s.throttled += 1);
            let retry_after = headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
            if let Some(wait) = retry_after {
                let remaining = self.retry.max_total.saturating_sub(started.elapsed());
                if wait > remaining {
                    return Failure::Fatal(PcError::Throttled {
                        endpoint,
                        retry_after: wait,
                        remaining,
                    });
                }
            }
            return Failure::Retry {
                why: format!("429 throttled: {message}"),
                delay: retry_after,
            };
        }
        if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            return Failure::Retry {
                why: format!("{code_u16}: {message}"),
                delay: None,
            };
        }
        if status == StatusCode::PRECONDITION_FAILED {
            return Failure::Fatal(PcError::PreconditionFailed { endpoint, message });
        }
        if status == StatusCode::FORBIDDEN && mentions_app_user(code.as_deref(), &message) {
            return Failure::Fatal(PcError::AppUserRequired {
                endpoint,
                status: code_u16,
                code,
                message,
            });
        }
        let hint = match code_u16 {
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
        };
        Failure::Fatal(PcError::Api {
            endpoint,
            status: code_u16,
            code,
            message,
            hint,
        })
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
            let msg = quote(e.message());
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

    fn base() -> Url {
        Url::parse("https://api.partnercenter.microsoft.com").expect("url")
    }

    #[test]
    fn backoff_is_bounded_full_jitter() {
        let p = RetryPolicy {
            max_attempts: 5,
            max_total: Duration::from_secs(60),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(backoff_delay(&p, 1, 0.0), Duration::ZERO);
        assert_eq!(backoff_delay(&p, 1, 1.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(&p, 2, 1.0), Duration::from_millis(200));
        assert_eq!(backoff_delay(&p, 3, 0.5), Duration::from_millis(200));
        assert_eq!(backoff_delay(&p, 4, 1.0), Duration::from_millis(800));
        assert_eq!(backoff_delay(&p, 5, 1.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(&p, 60, 1.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(&p, 3, f64::NAN), Duration::ZERO);
        for r in 1..40 {
            assert!(backoff_delay(&p, r, fastrand::f64()) <= p.max_delay);
        }
    }

    #[test]
    fn retry_after_seconds_and_http_date() {
        let now: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().expect("ts");
        assert_eq!(parse_retry_after("57", now), Some(Duration::from_secs(57)));
        assert_eq!(parse_retry_after(" 1 ", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after("Mon, 01 Jan 2024 00:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 31 Dec 2023 23:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn link_normalisation() {
        let b = base();
        assert_eq!(
            normalize_link(&b, "/auditrecords?size=50&seekOperation=Next")
                .expect("ok")
                .as_str(),
            "https://api.partnercenter.microsoft.com/v1/auditrecords?size=50&seekOperation=Next"
        );
        assert_eq!(
            normalize_link(&b, "/v1/customers?size=40&seekOperation=Next")
                .expect("ok")
                .as_str(),
            "https://api.partnercenter.microsoft.com/v1/customers?size=40&seekOperation=Next"
        );
        assert_eq!(
            normalize_link(&b, "invoices?size=2&offset=2")
                .expect("ok")
                .as_str(),
            "https://api.partnercenter.microsoft.com/v1/invoices?size=2&offset=2"
        );
        let prefixed = Url::parse("http://127.0.0.1:8080/pc/").expect("url");
        assert_eq!(
            normalize_link(&prefixed, "/customers?size=1")
                .expect("ok")
                .as_str(),
            "http://127.0.0.1:8080/pc/v1/customers?size=1"
        );
        assert_eq!(
            normalize_link(
                &b,
                "https://api.partnercenter.microsoft.com/v1/customers?x=1"
            )
            .expect("same origin ok")
            .as_str(),
            "https://api.partnercenter.microsoft.com/v1/customers?x=1"
        );
        assert!(matches!(
            normalize_link(&b, "https://evil.example/v1/customers"),
            Err(PcError::InvalidUrl { .. })
        ));
        assert!(normalize_link(&b, "  ").is_err());
    }

    #[test]
    fn url_security() {
        for ok in [
            "https://api.partnercenter.microsoft.com",
            "http://127.0.0.1:1234",
            "http://127.8.9.10/",
            "http://[::1]:80/",
            "http://localhost:99",
            "http://LOCALHOST",
        ] {
            assert!(parse_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com",
            "http://10.0.0.1",
            "http://[::2]/",
            "http://localhost.evil.com",
        ] {
            assert!(
                matches!(parse_base_url(bad), Err(PcError::InsecureUrl { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_base_url("ftp://127.0.0.1"),
            Err(PcError::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse_base_url("not a url"),
            Err(PcError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn api_url_percent_encodes_segments() {
        let u = api_url(
            &base(),
            &["v1", "customers", "a/b c?d", "subscriptions"],
            &[("size", "5")],
        )
        .expect("url");
        assert_eq!(
            u.as_str(),
            "https://api.partnercenter.microsoft.com/v1/customers/a%2Fb%20c%3Fd/subscriptions?size=5"
        );
        let prefixed = Url::parse("http://127.0.0.1:1/pc/").expect("url");
        assert_eq!(
            api_url(&prefixed, &["v1", "invoices"], &[])
                .expect("url")
                .as_str(),
            "http://127.0.0.1:1/pc/v1/invoices"
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
