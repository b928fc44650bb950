//! Token issuance and validation for the simulator: the Entra v1 (`resource=`) and v2 (`scope=`)
//! token endpoints, client-credentials (app-only) and refresh-token (App+User) grants, refresh
//! token rotation, and bearer checks, with the token's audience (Partner Center or Graph).
//!
//! Invariants: exactly one refresh token is valid at a time (each refresh grant rotates it, the
//! old one is rejected with `invalid_grant`); access tokens are opaque random strings remembered
//! with their kind and a tokio `Instant` expiry; expired tokens stay known (so 401 says
//! "expired", not "unknown").

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::wire::{SimResponse, param, parse_pairs};

/// What an access token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    AppOnly,
    AppUser,
}

/// Which API an access token was issued for (its `aud` claim): a Partner Center token is refused
/// by Graph and a Graph token by Partner Center.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    PartnerCenter,
    Graph,
}

impl Audience {
    /// The audience a `resource=` (v1) or `scope=` (v2) parameter asks for, if it is one the
    /// simulator serves.
    fn from_request(resource_or_scope: &str) -> Option<Audience> {
        let first = resource_or_scope.split_whitespace().next().unwrap_or("");
        let r = first
            .trim_end_matches("/.default")
            .trim_end_matches("/user_impersonation")
            .trim_end_matches('/')
            .to_ascii_lowercase();
        match r.as_str() {
            "https://api.partnercenter.microsoft.com" => Some(Audience::PartnerCenter),
            "https://graph.microsoft.com" => Some(Audience::Graph),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct AccessToken {
    kind: TokenKind,
    audience: Audience,
    expires: Instant,
}

/// Result of checking a bearer token.
#[derive(Debug, PartialEq, Eq)]
pub enum Bearer {
    Valid(TokenKind, Audience, String),
    Missing,
    Unknown,
    Expired(String),
}

/// Server-side token store.
#[derive(Debug)]
pub struct Tokens {
    access: HashMap<String, AccessToken>,
    /// The currently valid refresh token.
    pub refresh: String,
    rotations: u64,
}

const PC_RESOURCE: &str = "https://api.partnercenter.microsoft.com";

impl Tokens {
    pub fn new(initial_refresh: String) -> Self {
        Tokens {
            access: HashMap::new(),
            refresh: initial_refresh,
            rotations: 0,
        }
    }

    /// Expires every access token issued so far.
    pub fn expire_all(&mut self) {
        let now = Instant::now();
        for t in self.access.values_mut() {
            t.expires = now;
        }
    }

    /// Expires one token (the expire-token fault).
    pub fn expire(&mut self, token: &str) {
        if let Some(t) = self.access.get_mut(token) {
            t.expires = Instant::now();
        }
    }

    fn issue(&mut self, kind: TokenKind, audience: Audience, lifetime: Duration) -> String {
        let token = format!("sim-at-{}", uuid::Uuid::new_v4().simple());
        let expires = Instant::now()
            .checked_add(lifetime)
            .unwrap_or_else(Instant::now);
        self.access.insert(
            token.clone(),
            AccessToken {
                kind,
                audience,
                expires,
            },
        );
        token
    }

    fn rotate_refresh(&mut self) -> String {
        self.rotations += 1;
        self.refresh = format!("sim-refresh-token-{}", self.rotations);
        self.refresh.clone()
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&str>) -> Bearer {
        let Some(value) = authorization else {
            return Bearer::Missing;
        };
        let value = value.trim();
        let token = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => return Bearer::Missing,
        };
        match self.access.get(token) {
            None => Bearer::Unknown,
            Some(t) if t.expires <= Instant::now() => Bearer::Expired(token.to_string()),
            Some(t) => Bearer::Valid(t.kind, t.audience, token.to_string()),
        }
    }
}

/// Which token endpoint was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenVersion {
    V1,
    V2,
}

/// Static settings the token endpoint checks against.
pub struct TokenSettings<'a> {
    pub tenant_id: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub lifetime: Duration,
}

/// Handles `POST /{tenant}/oauth2/token` and `/{tenant}/oauth2/v2.0/token`.
pub fn token_endpoint(
    tokens: &mut Tokens,
    settings: &TokenSettings<'_>,
    version: TokenVersion,
    tenant: &str,
    body: &[u8],
) -> SimResponse {
    if !tenant.eq_ignore_ascii_case(settings.tenant_id) {
        return SimResponse::entra_error(
            400,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found. Use the partner tenant id in the token URL."),
        );
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return SimResponse::entra_error(
            400,
            "invalid_request",
            900144,
            "The request body must be application/x-www-form-urlencoded UTF-8.",
        );
    };
    let form = parse_pairs(text);
    let Some(grant) = param(&form, "grant_type") else {
        return SimResponse::entra_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    };
    let client_id = param(&form, "client_id").unwrap_or("");
    let client_secret = param(&form, "client_secret").unwrap_or("");
    if client_id != settings.client_id || client_secret != settings.client_secret {
        return SimResponse::entra_error(
            400,
            "invalid_client",
            7000215,
            "Invalid client secret provided or unknown application. Check client_id and client_secret.",
        );
    }
    let scope = param(&form, "scope");
    if version == TokenVersion::V2 && scope.is_none_or(str::is_empty) {
        return SimResponse::entra_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    }
    let resource = param(&form, "resource").unwrap_or(PC_RESOURCE).to_string();
    let asked = match version {
        TokenVersion::V1 => resource.as_str(),
        TokenVersion::V2 => scope.unwrap_or(""),
    };
    let Some(audience) = Audience::from_request(asked) else {
        return SimResponse::entra_error(
            400,
            "invalid_resource",
            500011,
            &format!(
                "The resource principal named {asked} was not found in the tenant. Ask for https://api.partnercenter.microsoft.com or https://graph.microsoft.com."
            ),
        );
    };
    let lifetime = settings.lifetime;
    let secs = lifetime.as_secs();
    let now_unix = jiff::Timestamp::now().as_second();
    // The v1 shape sends numbers as strings and adds `expires_on`, `not_before`, `resource`.
    let token_body = |access: String| match version {
        TokenVersion::V1 => json!({
            "token_type": "Bearer",
            "expires_in": secs.to_string(),
            "ext_expires_in": secs.to_string(),
            "expires_on": (now_unix + secs as i64).to_string(),
            "not_before": now_unix.to_string(),
            "resource": resource,
            "access_token": access,
        }),
        TokenVersion::V2 => json!({
            "token_type": "Bearer",
            "expires_in": secs,
            "ext_expires_in": secs,
            "access_token": access,
        }),
    };
    match grant {
        "client_credentials" => {
            let body = token_body(tokens.issue(TokenKind::AppOnly, audience, lifetime));
            SimResponse::json(200, &body)
        }
        "refresh_token" => {
            let presented = param(&form, "refresh_token").unwrap_or("");
            if presented.is_empty() || presented != tokens.refresh {
                return SimResponse::entra_error(
                    400,
                    "invalid_grant",
                    70000,
                    "The provided refresh token is invalid, expired or already redeemed. Refresh tokens rotate: use the newest one, or redo the consent.",
                );
            }
            let mut body = token_body(tokens.issue(TokenKind::AppUser, audience, lifetime));
            body["refresh_token"] = json!(tokens.rotate_refresh());
            body["scope"] = match version {
                TokenVersion::V1 => json!("user_impersonation"),
                TokenVersion::V2 => json!(format!("{PC_RESOURCE}/user_impersonation")),
            };
            SimResponse::json(200, &body)
        }
        other => SimResponse::entra_error(
            400,
            "unsupported_grant_type",
            70003,
            &format!(
                "The app requested an unsupported grant type '{other}'. Use client_credentials or refresh_token."
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TokenSettings<'static> {
        TokenSettings {
            tenant_id: "t",
            client_id: "c",
            client_secret: "s",
            lifetime: Duration::from_secs(60),
        }
    }

    #[test]
    fn bearer_checks() {
        let mut t = Tokens::new("r0".into());
        let tok = t.issue(
            TokenKind::AppOnly,
            Audience::PartnerCenter,
            Duration::from_secs(60),
        );
        assert_eq!(
            t.check(Some(&format!("Bearer {tok}"))),
            Bearer::Valid(TokenKind::AppOnly, Audience::PartnerCenter, tok.clone())
        );
        assert_eq!(
            t.check(Some(&format!("bearer  {tok}"))),
            Bearer::Valid(TokenKind::AppOnly, Audience::PartnerCenter, tok.clone())
        );
        assert_eq!(t.check(None), Bearer::Missing);
        assert_eq!(t.check(Some("Basic abc")), Bearer::Missing);
        assert_eq!(t.check(Some("Bearer nope")), Bearer::Unknown);
        t.expire_all();
        assert_eq!(
            t.check(Some(&format!("Bearer {tok}"))),
            Bearer::Expired(tok)
        );
    }

    #[test]
    fn refresh_rotates() {
        let mut t = Tokens::new("r0".into());
        let ok = token_endpoint(
            &mut t,
            &settings(),
            TokenVersion::V1,
            "t",
            b"grant_type=refresh_token&refresh_token=r0&client_id=c&client_secret=s",
        );
        assert_eq!(ok.status, 200);
        assert_eq!(t.refresh, "sim-refresh-token-1");
        let again = token_endpoint(
            &mut t,
            &settings(),
            TokenVersion::V1,
            "t",
            b"grant_type=refresh_token&refresh_token=r0&client_id=c&client_secret=s",
        );
        assert_eq!(again.status, 400);
        assert!(again.body.contains("invalid_grant"));
        let bad = token_endpoint(
            &mut t,
            &settings(),
            TokenVersion::V1,
            "t",
            b"grant_type=client_credentials&client_id=c&client_secret=x",
        );
        assert!(bad.body.contains("invalid_client"));
        let graph = token_endpoint(
            &mut t,
            &settings(),
            TokenVersion::V2,
            "t",
            b"grant_type=client_credentials&client_id=c&client_secret=s&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
        );
        assert_eq!(graph.status, 200, "{}", graph.body);
        let elsewhere = token_endpoint(
            &mut t,
            &settings(),
            TokenVersion::V1,
            "t",
            b"grant_type=client_credentials&client_id=c&client_secret=s&resource=https%3A%2F%2Fmanagement.azure.com",
        );
        assert!(elsewhere.body.contains("invalid_resource"));
        let tenant = token_endpoint(&mut t, &settings(), TokenVersion::V1, "other", b"");
        assert_eq!(tenant.status, 400);
        let garbage = token_endpoint(&mut t, &settings(), TokenVersion::V2, "t", &[0xff, 0xfe]);
        assert_eq!(garbage.status, 400);
    }
}
