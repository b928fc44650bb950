//! Entra ID token acquisition for Partner Center, through the `oauth2` crate on our own
//! `reqwest::Client` (built with redirects disabled, so credentials never follow a redirect).
//!
//! Owns: the token response type ([`PcTokenResponse`], accepts `expires_in` as string or number),
//! the app-only (client credentials) and App+User (refresh-token) grants in both the v1
//! (`resource=`) and v2 (`scope=`) forms, the token cache, and refresh-token persistence through
//! a [`RefreshTokenStore`] (`pc/store.rs`). The [`Authenticator`] is the transport's
//! [`TokenSource`] (`pc/token.rs`); it never imports the transport.
//!
//! Invariants:
//! * Tokens and secrets live in `secrecy`/`oauth2` secret types; `Debug`/`Serialize` redact them
//!   and no error or log line contains them.
//! * A cached token is refreshed before expiry (5 minutes early, or half its lifetime if that is
//!   shorter); a 401 from the API invalidates it ([`Authenticator::invalidate`]).
//! * App+User: each refresh returns a new refresh token, which is persisted through the
//!   [`RefreshTokenStore`] *before* the new access token is used. Refreshes are serialised, so the
//!   one-time-use refresh token is never spent twice concurrently.
//! * A permanent refusal (e.g. `invalid_client`) ends authentication for the client's life: the
//!   first error is remembered per token kind and every later request gets it again without a
//!   call to the token endpoint.
//! * The client secret, every refresh token and every access token are registered with
//!   [`crate::redact`], so a server that echoes them cannot put them into errors or logs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AccessToken, AsyncHttpClient, AuthType, Client, ClientId, ClientSecret, EndpointNotSet,
    EndpointSet, HttpClientError, RefreshToken, RequestTokenError, Scope, StandardRevocableToken,
    TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::pc::error::{PcError, describe_reqwest, quote};
use crate::pc::store::RefreshTokenStore;
use crate::pc::token::{Bearer, BoxFuture, TokenKind, TokenSource};
use crate::pc::url::check_url_security;

/// Which token endpoint form to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStyle {
    /// `POST {authority}/{tenant}/oauth2/token` with `resource={resource}` (documented by Partner Center).
    #[default]
    V1Resource,
    /// `POST {authority}/{tenant}/oauth2/v2.0/token` with `scope={resource}/.default`.
    V2Scope,
}

/// A token endpoint response, v1 or v2. `expires_in` may be a string (`"3600"`, v1) or a number
/// (`3599`, v2). Debug and Serialize redact the tokens.
#[derive(Clone, Deserialize)]
pub struct PcTokenResponse {
    access_token: AccessToken,
    #[serde(default = "bearer", deserialize_with = "de_token_type")]
    token_type: BasicTokenType,
    #[serde(default, deserialize_with = "de_opt_u64")]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    #[serde(default, deserialize_with = "de_scopes")]
    scope: Option<Vec<Scope>>,
    #[serde(default)]
    resource: Option<String>,
}

fn bearer() -> BasicTokenType {
    BasicTokenType::Bearer
}

fn de_token_type<'de, D: Deserializer<'de>>(d: D) -> Result<BasicTokenType, D::Error> {
    let s = String::deserialize(d)?;
    Ok(if s.eq_ignore_ascii_case("bearer") {
        BasicTokenType::Bearer
    } else if s.eq_ignore_ascii_case("mac") {
        BasicTokenType::Mac
    } else {
        BasicTokenType::Extension(s)
    })
}

fn de_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        Num(u64),
        Float(f64),
        Str(String),
    }
    match Option::<NumOrStr>::deserialize(d)? {
        None => Ok(None),
        Some(NumOrStr::Num(n)) => Ok(Some(n)),
        Some(NumOrStr::Float(f)) if f.is_finite() && f >= 0.0 => Ok(Some(f as u64)),
        Some(NumOrStr::Float(_)) => Err(serde::de::Error::custom(
            "expires_in is not a valid duration",
        )),
        Some(NumOrStr::Str(s)) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("expires_in is not a number of seconds")),
    }
}

fn de_scopes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Scope>>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(|s| {
        s.split_whitespace()
            .map(|p| Scope::new(p.to_owned()))
            .collect()
    }))
}

impl std::fmt::Debug for PcTokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcTokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("scope", &self.scope)
            .field("resource", &self.resource)
            .finish()
    }
}

impl Serialize for PcTokenResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("PcTokenResponse", 4)?;
        st.serialize_field("access_token", "[redacted]")?;
        st.serialize_field("token_type", self.token_type.as_ref())?;
        st.serialize_field("expires_in", &self.expires_in)?;
        st.serialize_field(
            "refresh_token",
            &self.refresh_token.as_ref().map(|_| "[redacted]"),
        )?;
        st.end()
    }
}

impl TokenResponse for PcTokenResponse {
    type TokenType = BasicTokenType;
    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }
    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }
    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }
    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }
    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scope.as_ref()
    }
}

type PcOAuthClient = Client<
    BasicErrorResponse,
    PcTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Lifetime assumed when the token endpoint omits `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// How early a token is refreshed, at most.
const REFRESH_SKEW: Duration = Duration::from_secs(300);

/// How long after issue a token of `lifetime` should be considered stale: 5 minutes before expiry,
/// or half the lifetime if that is shorter.
pub fn refresh_after(lifetime: Duration) -> Duration {
    let skew = REFRESH_SKEW.min(lifetime / 2);
    lifetime.saturating_sub(skew)
}

/// The token endpoint URL for a style.
pub fn token_url(authority: &str, tenant: &str, style: TokenStyle) -> String {
    let authority = authority.trim_end_matches('/');
    match style {
        TokenStyle::V1Resource => format!("{authority}/{tenant}/oauth2/token"),
        TokenStyle::V2Scope => format!("{authority}/{tenant}/oauth2/v2.0/token"),
    }
}

struct Cached {
    token: SecretString,
    stale_at: Instant,
    generation: u64,
}

/// What an [`Authenticator`] needs to know.
pub struct AuthSettings<'a> {
    pub authority: &'a str,
    pub tenant: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a SecretString,
    pub style: TokenStyle,
    pub resource: &'a str,
    pub app_user: Option<Arc<dyn RefreshTokenStore>>,
}

/// The future an oauth2 HTTP call returns.
type OAuthHttpFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<oauth2::HttpResponse, HttpClientError<reqwest::Error>>,
            > + Send,
    >,
>;

/// Acquires and caches tokens for one partner tenant.
pub struct Authenticator {
    http: reqwest::Client,
    oauth: PcOAuthClient,
    token_url: String,
    style: TokenStyle,
    resource: String,
    app_user: Option<Arc<dyn RefreshTokenStore>>,
    app_cache: tokio::sync::Mutex<Option<Cached>>,
    user_cache: tokio::sync::Mutex<Option<Cached>>,
    generation: std::sync::atomic::AtomicU64,
    /// The permanent failure of each kind (app-only, App+User), once one happened.
    refused: std::sync::Mutex<[Option<Refusal>; 2]>,
}

/// A permanent token refusal, remembered so it is not retried.
#[derive(Debug, Clone)]
struct Refusal {
    message: String,
    hint: &'static str,
}

fn kind_index(kind: TokenKind) -> usize {
    match kind {
        TokenKind::AppOnly => 0,
        TokenKind::AppUser => 1,
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("token_url", &self.token_url)
            .field("style", &self.style)
            .field("resource", &self.resource)
            .field("app_user", &self.app_user.is_some())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Build an authenticator. `http` must be the redirect-free client of the transport.
    pub fn new(http: reqwest::Client, settings: AuthSettings<'_>) -> Result<Self, PcError> {
        let AuthSettings {
            authority,
            tenant,
            client_id,
            client_secret,
            style,
            resource,
            app_user,
        } = settings;
        let url = token_url(authority, tenant, style);
        let parsed = reqwest::Url::parse(&url).map_err(|e| PcError::InvalidUrl {
            url: url.clone(),
            reason: format!("token endpoint URL: {e}"),
        })?;
        check_url_security(&parsed)?;
        crate::redact::register(client_secret.expose_secret());
        let token = TokenUrl::from_url(parsed);
        let oauth = Client::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(client_secret.expose_secret().to_owned()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(token);
        Ok(Self {
            http,
            oauth,
            token_url: url,
            style,
            resource: resource.trim_end_matches('/').to_owned(),
            app_user,
            app_cache: tokio::sync::Mutex::new(None),
            user_cache: tokio::sync::Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(1),
            refused: std::sync::Mutex::new([None, None]),
        })
    }

    pub fn has_app_user(&self) -> bool {
        self.app_user.is_some()
    }

    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    fn cache(&self, kind: TokenKind) -> &tokio::sync::Mutex<Option<Cached>> {
        match kind {
            TokenKind::AppOnly => &self.app_cache,
            TokenKind::AppUser => &self.user_cache,
        }
    }

    /// A valid bearer token of `kind`, from the cache or freshly acquired.
    pub async fn bearer(&self, kind: TokenKind) -> Result<Bearer, PcError> {
        let mut guard = self.cache(kind).lock().await;
        if let Some(c) = guard.as_ref()
            && Instant::now() < c.stale_at
        {
            return Ok(Bearer {
                token: c.token.clone(),
                generation: c.generation,
            });
        }
        *guard = None;
        if let Some(r) = self.refusal(kind) {
            return Err(PcError::Auth {
                token_url: self.token_url.clone(),
                message: format!("{} (not asked again in this run)", r.message),
                hint: r.hint,
                transient: false,
            });
        }
        let issued = Instant::now();
        let fetched = match kind {
            TokenKind::AppOnly => self.fetch_app_only().await,
            TokenKind::AppUser => self.fetch_app_user().await,
        };
        let resp = fetched.inspect_err(|e| self.remember_refusal(kind, e))?;
        crate::redact::register(resp.access_token().secret());
        let lifetime = resp.expires_in().unwrap_or(DEFAULT_LIFETIME);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let token = SecretString::from(resp.access_token().secret().clone());
        *guard = Some(Cached {
            token: token.clone(),
            stale_at: issued + refresh_after(lifetime),
            generation,
        });
        tracing::debug!(
            kind = ?kind,
            lifetime_s = lifetime.as_secs(),
            "acquired Partner Center access token"
        );
        Ok(Bearer { token, generation })
    }

    /// The remembered permanent refusal of `kind`, if any.
    fn refusal(&self, kind: TokenKind) -> Option<Refusal> {
        let guard = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        guard[kind_index(kind)].clone()
    }

    /// Remember `e` when it is a permanent refusal by the token endpoint.
    fn remember_refusal(&self, kind: TokenKind, e: &PcError) {
        if let PcError::Auth {
            message,
            hint,
            transient: false,
            ..
        } = e
        {
            let mut guard = self.refused.lock().unwrap_or_else(|p| p.into_inner());
            guard[kind_index(kind)] = Some(Refusal {
                message: message.clone(),
                hint,
            });
        }
    }

    /// Drop the cached token of `kind` if it is still the one of `generation` (after a 401).
    pub async fn invalidate(&self, kind: TokenKind, generation: u64) {
        let mut guard = self.cache(kind).lock().await;
        if guard.as_ref().is_some_and(|c| c.generation == generation) {
            *guard = None;
        }
    }

    async fn fetch_app_only(&self) -> Result<PcTokenResponse, PcError> {
        let mut req = self.oauth.exchange_client_credentials();
        match self.style {
            TokenStyle::V1Resource => req = req.add_extra_param("resource", self.resource.clone()),
            TokenStyle::V2Scope => {
                req = req.add_scope(Scope::new(format!("{}/.default", self.resource)))
            }
        }
        let status = Arc::new(AtomicU16::new(0));
        let result = req.request_async(&self.http_fn(&status)).await;
        result.map_err(|e| {
            self.map_token_error(e, status.load(Ordering::Relaxed), TokenKind::AppOnly)
        })
    }

    async fn fetch_app_user(&self) -> Result<PcTokenResponse, PcError> {
        let store = self
            .app_user
            .as_ref()
            .ok_or_else(|| PcError::AppUserNotConfigured {
                endpoint: "App+User token".to_owned(),
            })?;
        let current = store.load()?.ok_or_else(|| PcError::Auth {
            token_url: self.token_url.clone(),
            message: "no App+User refresh token is stored".to_owned(),
            hint: "run the one-time App+User consent and store its refresh token",
            transient: false,
        })?;
        crate::redact::register(current.expose_secret());
        let refresh = RefreshToken::new(current.expose_secret().to_owned());
        let mut req = self.oauth.exchange_refresh_token(&refresh);
        match self.style {
            TokenStyle::V1Resource => {
                req = req
                    .add_extra_param("resource", self.resource.clone())
                    .add_scope(Scope::new("openid".to_owned()));
            }
            TokenStyle::V2Scope => {
                req = req
                    .add_scope(Scope::new(format!("{}/user_impersonation", self.resource)))
                    .add_scope(Scope::new("offline_access".to_owned()));
            }
        }
        let status = Arc::new(AtomicU16::new(0));
        let result = req.request_async(&self.http_fn(&status)).await;
        let resp = result.map_err(|e| {
            self.map_token_error(e, status.load(Ordering::Relaxed), TokenKind::AppUser)
        })?;
        match resp.refresh_token() {
            Some(new) => {
                crate::redact::register(new.secret());
                // Persist the rotated refresh token BEFORE the access token is used.
                store.save(&SecretString::from(new.secret().clone()))?;
                tracing::info!("App+User refresh token rotated and persisted");
            }
            None => tracing::warn!(
                "token endpoint returned no new refresh token; keeping the stored one"
            ),
        }
        Ok(resp)
    }

    /// An oauth2 HTTP client closure on our reqwest client that records the response status.
    fn http_fn(
        &self,
        status: &Arc<AtomicU16>,
    ) -> impl Fn(oauth2::HttpRequest) -> OAuthHttpFuture + use<> {
        let http = self.http.clone();
        let status = Arc::clone(status);
        move |req| {
            let http = http.clone();
            let status = Arc::clone(&status);
            Box::pin(async move {
                let resp = <reqwest::Client as AsyncHttpClient>::call(&http, req).await?;
                status.store(resp.status().as_u16(), Ordering::Relaxed);
                Ok(resp)
            })
        }
    }

    fn map_token_error(
        &self,
        e: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>,
        status: u16,
        kind: TokenKind,
    ) -> PcError {
        let token_url = self.token_url.clone();
        let server_fault = status >= 500 || status == 429 || status == 408;
        match e {
            RequestTokenError::ServerResponse(err) => {
                let mut message = format!("{} {}", status, quote(err.error().as_ref()));
                if let Some(d) = err.error_description() {
                    message.push_str(": ");
                    message.push_str(&quote(d));
                }
                PcError::Auth {
                    token_url,
                    message,
                    hint: if server_fault {
                        "the identity service is unavailable, try again later"
                    } else if kind == TokenKind::AppUser
                        && *err.error() == oauth2::basic::BasicErrorResponseType::InvalidGrant
                    {
                        // Only invalid_grant is about the refresh token; invalid_client on the
                        // refresh grant is the client secret, like on the app-only grant.
                        "the App+User refresh token was rejected (expired or revoked?); redo the App+User consent"
                    } else {
                        "check tenant_id, client_id and client_secret in [partner_center]"
                    },
                    transient: server_fault,
                }
            }
            RequestTokenError::Request(err) => PcError::Auth {
                token_url,
                message: format!("request failed: {}", describe_http_client_error(&err)),
                hint: "check network access to the identity service",
                transient: true,
            },
            RequestTokenError::Parse(err, _) => PcError::Auth {
                token_url,
                message: format!(
                    "HTTP {status}: unreadable token response ({})",
                    quote(&err.to_string())
                ),
                hint: if server_fault {
                    "the identity service is unavailable, try again later"
                } else {
                    "check the authority URL in [partner_center]"
                },
                transient: server_fault || status == 200,
            },
            RequestTokenError::Other(msg) => PcError::Auth {
                token_url,
                message: format!("HTTP {status}: {}", quote(&msg)),
                hint: if server_fault {
                    "the identity service is unavailable, try again later"
                } else {
                    "check the authority URL in [partner_center]"
                },
                transient: server_fault,
            },
        }
    }
}

impl TokenSource for Authenticator {
    fn bearer(&self, kind: TokenKind) -> BoxFuture<'_, Result<Bearer, PcError>> {
        Box::pin(Authenticator::bearer(self, kind))
    }

    fn invalidate(&self, kind: TokenKind, generation: u64) -> BoxFuture<'_, ()> {
        Box::pin(Authenticator::invalidate(self, kind, generation))
    }
}

fn describe_http_client_error(e: &HttpClientError<reqwest::Error>) -> String {
    match e {
        HttpClientError::Reqwest(inner) => describe_reqwest(inner),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"token_type":"Bearer","expires_in":"3600","ext_expires_in":"3600","expires_on":"1546469802","not_before":"1546465902","resource":"https://graph.windows.net","access_token":"value-has-been-removed"}"#;
    const V2: &str =
        r#"{"token_type": "Bearer","expires_in": 3599,"access_token": "eyJ0eXAiOiJKV1Qi-secret"}"#;

    #[test]
    fn parses_v1_string_expires_in() {
        let t: PcTokenResponse = serde_json::from_str(V1).expect("v1 parses");
        assert_eq!(t.expires_in(), Some(Duration::from_secs(3600)));
        assert_eq!(t.access_token().secret(), "value-has-been-removed");
        assert_eq!(t.token_type(), &BasicTokenType::Bearer);
    }

    #[test]
    fn parses_v2_numeric_expires_in_and_scopes() {
        let t: PcTokenResponse = serde_json::from_str(V2).expect("v2 parses");
        assert_eq!(t.expires_in(), Some(Duration::from_secs(3599)));
        let with_scope: PcTokenResponse = serde_json::from_str(
            r#"{"token_type":"bearer","expires_in":60,"access_token":"a","refresh_token":"r","scope":"user_impersonation openid"}"#,
        )
        .expect("parses");
        assert_eq!(with_scope.scopes().map(Vec::len), Some(2));
        assert_eq!(
            with_scope.refresh_token().map(|r| r.secret().as_str()),
            Some("r")
        );
    }

    #[test]
    fn rejects_non_numeric_expires_in() {
        let r = serde_json::from_str::<PcTokenResponse>(
            r#"{"token_type":"Bearer","expires_in":"soon","access_token":"a"}"#,
        );
        assert!(r.is_err());
    }

    #[test]
    fn token_debug_and_serialize_redact_secrets() {
        let t: PcTokenResponse = serde_json::from_str(
            r#"{"token_type":"Bearer","expires_in":"3600","access_token":"ACCESS-SECRET-XYZ","refresh_token":"REFRESH-SECRET-XYZ"}"#,
        )
        .expect("parses");
        let dbg = format!("{t:?}");
        let ser = serde_json::to_string(&t).expect("serializes");
        for out in [&dbg, &ser] {
            assert!(!out.contains("ACCESS-SECRET-XYZ"), "{out}");
            assert!(!out.contains("REFRESH-SECRET-XYZ"), "{out}");
            assert!(out.contains("redacted"), "{out}");
        }
    }

    #[test]
    fn refresh_deadline_uses_five_minutes_or_half_lifetime() {
        assert_eq!(
            refresh_after(Duration::from_secs(3600)),
            Duration::from_secs(3300)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(3599)),
            Duration::from_secs(3299)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(120)),
            Duration::from_secs(60)
        );
        assert_eq!(refresh_after(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn token_urls_per_style() {
        assert_eq!(
            token_url(
                "https://login.microsoftonline.com/",
                "t1",
                TokenStyle::V1Resource
            ),
            "https://login.microsoftonline.com/t1/oauth2/token"
        );
        assert_eq!(
            token_url(
                "https://login.microsoftonline.com",
                "t1",
                TokenStyle::V2Scope
            ),
            "https://login.microsoftonline.com/t1/oauth2/v2.0/token"
        );
    }
}
