//! The simulator's Microsoft Graph endpoints: routing of `/v1.0/...` and `/beta/...` paths to
//! their handlers, the request context they get ([`GraphCtx`]) and Graph's error shape.
//!
//! Owns: which Graph path goes to which handler module — partner security alerts
//! ([`alerts`]) and billing reconciliation exports ([`billing`]) — and the endpoint templates
//! used in request recording. Authentication (a Graph-audience, app-only token), the rate limit
//! with `Retry-After`, faults and latency are applied by the server pipeline before a handler
//! runs, exactly as for Partner Center routes.
//!
//! Invariants: a Graph handler never panics on client input (a 4xx with a Graph error body); the
//! absolute URLs it returns (`@odata.nextLink`, `Location`) point at this simulator's own origin.

pub mod alerts;
pub mod billing;

use axum::http::HeaderMap;

use super::state::Shared;
use super::wire::SimResponse;

/// What a Graph handler gets.
pub struct GraphCtx<'a> {
    pub sh: &'a Shared,
    /// Upper-case HTTP method.
    pub method: &'a str,
    /// Path segments as sent (case kept; compare with `eq_ignore_ascii_case`), without the
    /// version segment: `["security", "partner", "securityAlerts", "{id}"]`.
    pub segs: &'a [&'a str],
    /// `v1.0` or `beta`.
    pub version: &'a str,
    /// Decoded query parameters (`$filter`, `$top`, `$skiptoken`, ...).
    pub params: &'a [(String, String)],
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// This simulator's origin as the client addressed it, e.g. `http://127.0.0.1:40123`.
    pub origin: String,
}

impl GraphCtx<'_> {
    /// An absolute URL on this simulator for a path such as `/v1.0/reports/...`.
    pub fn absolute(&self, path_and_query: &str) -> String {
        format!("{}{}", self.origin, path_and_query)
    }

    /// The request body as a JSON object, or a Graph 400.
    pub fn json_body(&self) -> Result<serde_json::Value, SimResponse> {
        let v: serde_json::Value = serde_json::from_slice(self.body).map_err(|e| {
            graph_error(
                400,
                "BadRequest",
                &format!("The request body is not valid JSON: {e}."),
            )
        })?;
        if v.is_object() {
            Ok(v)
        } else {
            Err(graph_error(
                400,
                "BadRequest",
                "The request body must be a JSON object.",
            ))
        }
    }
}

/// Which Graph area a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    SecurityAlerts,
    Billing,
    Unknown,
}

/// The area and the endpoint template (for request recording) of a Graph path. `segs` are the
/// lower-cased path segments including the version segment.
pub fn classify(method: &str, segs: &[&str]) -> (Area, &'static str) {
    match segs {
        ["beta", "security", "partner", "securityalerts"] => (
            Area::SecurityAlerts,
            "GET /beta/security/partner/securityAlerts",
        ),
        ["beta", "security", "partner", "securityalerts", _] => (
            Area::SecurityAlerts,
            if method.eq_ignore_ascii_case("PATCH") {
                "PATCH /beta/security/partner/securityAlerts/{id}"
            } else {
                "GET /beta/security/partner/securityAlerts/{id}"
            },
        ),
        ["v1.0", "reports", "partners", "billing", rest @ ..] => {
            (Area::Billing, billing::template(method, rest))
        }
        _ => (Area::Unknown, "UNKNOWN"),
    }
}

/// Serve one Graph request.
pub fn dispatch(ctx: &GraphCtx<'_>, area: Area) -> SimResponse {
    match area {
        Area::SecurityAlerts => alerts::handle(ctx),
        Area::Billing => billing::handle(ctx),
        Area::Unknown => graph_error(
            404,
            "ResourceNotFound",
            &format!(
                "Resource not found for the segment '{}'.",
                ctx.segs.first().copied().unwrap_or("")
            ),
        ),
    }
}

/// Graph's error body: `{"error": {"code", "message", "innerError": {...}}}`.
pub fn graph_error(status: u16, code: &str, message: &str) -> SimResponse {
    let now = jiff::Timestamp::now().to_string();
    SimResponse::json(
        status,
        &serde_json::json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": now,
                    "request-id": uuid::Uuid::new_v4().to_string(),
                    "client-request-id": uuid::Uuid::new_v4().to_string(),
                }
            }
        }),
    )
}
