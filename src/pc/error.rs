//! The one error type of the Partner Center client, [`PcError`].
//!
//! Depends on nothing else in `pc/` but the refresh-token store's [`StoreError`], so every other
//! part of the client (authentication, retries, transport) can use it without import circles.
//!
//! Invariants: every variant names the endpoint (or URL) involved and says what to do next; no
//! variant ever carries an access token, refresh token or client secret (bodies quoted from the
//! server are the server's own error descriptions, truncated).

use std::time::Duration;

use crate::pc::store::StoreError;

/// Longest server message quoted in an error, so a hostile body cannot flood logs.
pub(crate) const MAX_QUOTED: usize = 300;

/// Everything that can go wrong talking to Partner Center.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PcError {
    /// A configured URL uses plain `http://` for a non-loopback host.
    #[error(
        "refusing insecure URL {url}: credentials are only sent over https:// (plain http:// is allowed for 127.0.0.1, ::1 and localhost only); fix the URL in [partner_center]"
    )]
    InsecureUrl { url: String },

    /// A configured or server-provided URL could not be used.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// The endpoint needs App+User credentials and none are configured; no HTTP call was made.
    #[error(
        "{endpoint} needs App+User credentials, which are not configured; configure [partner_center.app_user] (a refresh token from the one-time MFA consent) to enable it"
    )]
    AppUserNotConfigured { endpoint: String },

    /// The server refused the call because it needs App+User credentials.
    #[error(
        "{status} on {endpoint}: this endpoint needs App+User credentials ({message}); configure [partner_center.app_user]"
    )]
    AppUserRequired {
        endpoint: String,
        status: u16,
        code: Option<String>,
        message: String,
    },

    /// 401 code 900421: Partner Center refused an App+User call because the access token has no
    /// MFA claim (enforced for every App+User call since 1 April 2026).
    #[error(
        "{status} on {endpoint}: Partner Center refused the App+User call because the token \
         carries no MFA claim{} ({message}). Every App+User call needs MFA since 1 April 2026: \
         redo the one-time App+User consent with a partner user who signs in with MFA (README, \
         \"Creating the Entra app and the App+User consent\", steps 3 and 4), store the new \
         refresh token as the refresh_token credential (a changed credential replaces the token \
         cspguard stored), then check with `cspguard doctor`. \
         App-only features, including Graph security alerts, keep working meanwhile",
        code.as_ref().map(|c| format!(" (code {c})")).unwrap_or_default()
    )]
    MfaRequired {
        endpoint: String,
        status: u16,
        code: Option<String>,
        message: String,
    },

    /// 412: the resource changed since it was read (ETag mismatch). Re-read and decide again.
    #[error(
        "412 on {endpoint}: the resource changed since it was read (ETag mismatch: {message}); re-read it and decide again"
    )]
    PreconditionFailed { endpoint: String, message: String },

    /// A non-retryable error answer from the API (4xx other than 408/429/412), or a retryable
    /// one on the last permitted attempt.
    #[error("{status} on {endpoint}: {message}{}; {hint}", code.as_ref().map(|c| format!(" (code {c})")).unwrap_or_default())]
    Api {
        endpoint: String,
        status: u16,
        code: Option<String>,
        message: String,
        hint: &'static str,
    },

    /// 429 with a `Retry-After` longer than the remaining retry budget.
    #[error(
        "429 on {endpoint}: throttled, server asks to wait {}s but only {}s of the retry budget remain; lower rate_limit_per_minute or run later",
        retry_after.as_secs(), remaining.as_secs()
    )]
    Throttled {
        endpoint: String,
        retry_after: Duration,
        remaining: Duration,
    },

    /// Transient failures (5xx, 429, timeouts, resets) outlasted the retry policy.
    #[error(
        "{endpoint} failed after {attempts} attempts over {}ms; last failure: {last}; Partner Center may be degraded, try again later or raise [partner_center.retry] limits",
        elapsed.as_millis()
    )]
    RetriesExhausted {
        endpoint: String,
        attempts: u32,
        elapsed: Duration,
        last: String,
    },

    /// A network-level failure that is not retried (e.g. TLS or request construction).
    #[error("{endpoint}: request failed: {message}; check network access to Partner Center")]
    Transport { endpoint: String, message: String },

    /// The response body could not be decoded into the expected shape (even after one retry).
    #[error(
        "{endpoint}: response body could not be decoded ({message}); the body was truncated or has an unexpected shape, retry later and report it if it persists"
    )]
    Decode { endpoint: String, message: String },

    /// Token acquisition failed.
    #[error("token request to {token_url} failed: {message}; {hint}")]
    Auth {
        token_url: String,
        message: String,
        hint: &'static str,
        /// Whether retrying later could help (network error, 5xx from the token endpoint).
        transient: bool,
    },

    /// The refresh-token store failed; the rotated token could not be persisted or loaded.
    #[error("App+User refresh-token store failed: {0}")]
    TokenStore(#[from] StoreError),

    /// The server returned the same next-page link twice (a paging loop).
    #[error(
        "{endpoint}: the server returned the same next page twice ({detail}); stopping to avoid an endless loop, report this Partner Center behaviour"
    )]
    PagingLoop { endpoint: String, detail: String },

    /// The response body is larger than `[partner_center] max_response_mb` allows; it was not
    /// read whole.
    #[error(
        "{endpoint}: the response body is larger than {limit} bytes, the configured maximum; \
         stopped reading it (raise [partner_center] max_response_mb if this answer is genuine)"
    )]
    ResponseTooLarge { endpoint: String, limit: usize },

    /// A collection had more pages than its bound allows.
    #[error(
        "{endpoint}: stopped after {pages} pages ({why}); the server keeps returning next pages, \
         report this Partner Center behaviour or raise [partner_center] max_pages"
    )]
    TooManyPages {
        endpoint: String,
        pages: u64,
        why: String,
    },

    /// A request could not be built from the caller's input (nothing was sent).
    #[error("{endpoint}: cannot build the request: {message}")]
    InvalidRequest { endpoint: String, message: String },

    /// Invalid client options.
    #[error("invalid Partner Center client options: {0}")]
    Config(String),
}

impl PcError {
    /// The HTTP status behind this error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            PcError::AppUserRequired { status, .. }
            | PcError::MfaRequired { status, .. }
            | PcError::Api { status, .. } => Some(*status),
            PcError::PreconditionFailed { .. } => Some(412),
            PcError::Throttled { .. } => Some(429),
            _ => None,
        }
    }

    /// True for a 404 answer.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// True when Partner Center refused an App+User call for a missing MFA claim.
    pub fn is_mfa_required(&self) -> bool {
        matches!(self, PcError::MfaRequired { .. })
    }

    /// True when the failure is about missing App+User credentials (configured or server side).
    pub fn is_app_user(&self) -> bool {
        matches!(
            self,
            PcError::AppUserNotConfigured { .. } | PcError::AppUserRequired { .. }
        )
    }
}

/// Shorten a server-provided text for inclusion in an error message, with every known secret
/// value redacted (a server may echo the request).
pub(crate) fn quote(text: &str) -> String {
    let redacted = crate::redact::redact(text);
    let trimmed = redacted.trim();
    if trimmed.chars().count() <= MAX_QUOTED {
        trimmed.to_owned()
    } else {
        let mut s: String = trimmed.chars().take(MAX_QUOTED).collect();
        s.push('…');
        s
    }
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
