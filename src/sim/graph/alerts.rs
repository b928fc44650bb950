//! Simulated partner security alerts (`/beta/security/partner/securityAlerts`): list with
//! `$filter` (`status eq '…'` and `lastObservedDateTime ge …` terms joined by `or`), `$top` and
//! `@odata.nextLink` paging through `$skiptoken`, get by id, and PATCH of `status` and
//! `resolvedReason` (answered with the updated alert, as documented).
//!
//! Documented choices where the service is unconfirmed: the list is ordered by id; the default
//! page is 100 alerts (`$top` up to 500); an unsupported `$filter` is a 400 `BadRequest`;
//! resolving records `resolvedBy` = `"cspguard-app"` and an activity log entry.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{GraphCtx, graph_error};
use crate::sim::dataset::SimSecurityAlert;
use crate::sim::lock;
use crate::sim::wire::SimResponse;

const DEFAULT_TOP: usize = 100;
const MAX_TOP: usize = 500;
const STATUSES: [&str; 3] = ["active", "resolved", "investigating"];
const REASONS: [&str; 3] = ["legitimate", "ignore", "fraud"];

/// Serve a security-alerts request.
pub fn handle(ctx: &GraphCtx<'_>) -> SimResponse {
    if !ctx.version.eq_ignore_ascii_case("beta") {
        return graph_error(
            404,
            "ResourceNotFound",
            "Partner security alerts are only in the beta endpoint.",
        );
    }
    match (ctx.method, ctx.segs.get(3)) {
        ("GET", None) => list(ctx),
        ("GET", Some(id)) => get(ctx, id),
        ("PATCH", Some(id)) => patch(ctx, id),
        (method, _) => graph_error(
            405,
            "MethodNotAllowed",
            &format!("Method {method} is not allowed here."),
        ),
    }
}

fn param<'p>(ctx: &'p GraphCtx<'_>, name: &str) -> Option<&'p str> {
    ctx.params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One `$filter` term.
enum Term {
    Status(String),
    ObservedSince(Timestamp),
}

impl Term {
    fn matches(&self, a: &SimSecurityAlert) -> bool {
        match self {
            Term::Status(s) => a.status.eq_ignore_ascii_case(s),
            Term::ObservedSince(t) => a.last_observed >= *t,
        }
    }
}

/// `term or term or ...`; `None` when a term is not understood.
fn parse_filter(filter: &str) -> Option<Vec<Term>> {
    let mut terms = Vec::new();
    for raw in split_or(filter) {
        let words: Vec<&str> = raw.split_whitespace().collect();
        let term = match words.as_slice() {
            [field, op, value]
                if field.eq_ignore_ascii_case("status") && op.eq_ignore_ascii_case("eq") =>
            {
                Term::Status(value.trim_matches('\'').to_owned())
            }
            [field, op, value]
                if field.eq_ignore_ascii_case("lastObservedDateTime")
                    && op.eq_ignore_ascii_case("ge") =>
            {
                Term::ObservedSince(value.parse().ok()?)
            }
            _ => return None,
        };
        terms.push(term);
    }
    (!terms.is_empty()).then_some(terms)
}

fn split_or(filter: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let words: Vec<&str> = filter.split_whitespace().collect();
    for w in words {
        if w.eq_ignore_ascii_case("or") {
            out.push(String::new());
        } else if let Some(last) = out.last_mut() {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(w);
        }
    }
    out
}

fn list(ctx: &GraphCtx<'_>) -> SimResponse {
    let filter = param(ctx, "$filter")
        .map(str::trim)
        .filter(|f| !f.is_empty());
    let terms = match filter.map(parse_filter) {
        None => None,
        Some(Some(t)) => Some(t),
        Some(None) => {
            return graph_error(
                400,
                "BadRequest",
                &format!(
                    "Invalid filter clause: '{}'. Supported: status eq '...', lastObservedDateTime ge <time>, joined by 'or'.",
                    filter.unwrap_or_default()
                ),
            );
        }
    };
    let top = match param(ctx, "$top").map(str::parse::<usize>) {
        None => DEFAULT_TOP,
        Some(Ok(n)) if (1..=MAX_TOP).contains(&n) => n,
        Some(_) => {
            return graph_error(
                400,
                "BadRequest",
                &format!("Invalid $top: must be between 1 and {MAX_TOP}."),
            );
        }
    };
    let skip = match param(ctx, "$skiptoken").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return graph_error(400, "BadRequest", "Invalid $skiptoken."),
    };
    let data = lock(&ctx.sh.data);
    let mut matching: Vec<&SimSecurityAlert> = data
        .ds
        .security_alerts
        .iter()
        .filter(|a| {
            terms
                .as_ref()
                .is_none_or(|ts| ts.iter().any(|t| t.matches(a)))
        })
        .collect();
    matching.sort_by(|a, b| a.id.cmp(&b.id));
    let total = matching.len();
    let page: Vec<Value> = matching
        .iter()
        .skip(skip)
        .take(top)
        .map(|a| render(a))
        .collect();
    let mut body = json!({
        "@odata.context": ctx.absolute("/beta/$metadata#security/partner/securityAlerts"),
        "value": page,
    });
    if skip + top < total
        && let Some(map) = body.as_object_mut()
    {
        map.insert(
            "@odata.nextLink".into(),
            Value::from(next_link(ctx, filter, top, skip + top)),
        );
    }
    SimResponse::json(200, &body)
}

fn next_link(ctx: &GraphCtx<'_>, filter: Option<&str>, top: usize, skip: usize) -> String {
    let base = ctx.absolute("/beta/security/partner/securityAlerts");
    let Ok(mut url) = reqwest::Url::parse(&base) else {
        return base;
    };
    {
        let mut pairs = url.query_pairs_mut();
        if let Some(f) = filter {
            pairs.append_pair("$filter", f);
        }
        pairs.append_pair("$top", &top.to_string());
        pairs.append_pair("$skiptoken", &skip.to_string());
    }
    url.to_string()
}

fn get(ctx: &GraphCtx<'_>, id: &str) -> SimResponse {
    let data = lock(&ctx.sh.data);
    match data.ds.security_alerts.iter().find(|a| a.id == id) {
        Some(a) => SimResponse::json(200, &render(a)),
        None => not_found(id),
    }
}

fn not_found(id: &str) -> SimResponse {
    graph_error(
        404,
        "ResourceNotFound",
        &format!("Security alert '{id}' was not found."),
    )
}

fn patch(ctx: &GraphCtx<'_>, id: &str) -> SimResponse {
    let body = match ctx.json_body() {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let Some(status) = body
        .get("status")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .filter(|s| STATUSES.contains(&s.as_str()))
    else {
        return graph_error(
            400,
            "BadRequest",
            "status is required: active, resolved or investigating.",
        );
    };
    let reason = match body.get("resolvedReason") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str().map(str::to_ascii_lowercase) {
            Some(r) if REASONS.contains(&r.as_str()) => Some(r),
            _ => {
                return graph_error(
                    400,
                    "BadRequest",
                    "resolvedReason must be legitimate, ignore or fraud.",
                );
            }
        },
    };
    let now = ctx.sh.now();
    let mut data = lock(&ctx.sh.data);
    let Some(a) = data.ds.security_alerts.iter_mut().find(|a| a.id == id) else {
        return not_found(id);
    };
    let by = "cspguard-app".to_owned();
    a.activity_logs
        .push((a.status.clone(), status.clone(), by.clone(), now));
    if status == "resolved" {
        a.resolved_on = Some(now);
        a.resolved_by = Some(by);
    }
    a.status = status;
    if reason.is_some() {
        a.resolved_reason = reason;
    }
    SimResponse::json(200, &render(a))
}

/// An alert as Graph writes it (the shape of the official list example).
pub fn render(a: &SimSecurityAlert) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.partner.security.partnerSecurityAlert",
        "id": a.id,
        "displayName": a.display_name,
        "description": a.description,
        "alertType": a.alert_type,
        "status": a.status,
        "severity": a.severity,
        "confidenceLevel": a.confidence_level,
        "customerTenantId": a.customer_tenant_id,
        "subscriptionId": a.subscription_id,
        "valueAddedResellerTenantId": null,
        "catalogOfferId": a.catalog_offer_id,
        "detectedDateTime": a.detected.to_string(),
        "firstObservedDateTime": a.first_observed.to_string(),
        "lastObservedDateTime": a.last_observed.to_string(),
        "resolvedReason": a.resolved_reason,
        "resolvedOnDateTime": a.resolved_on.map(|t| t.to_string()),
        "resolvedBy": a.resolved_by,
        "isTest": a.is_test,
        "affectedResources": a.affected_resources.iter().map(|(id, kind)| json!({
            "resourceId": id,
            "resourceType": kind,
        })).collect::<Vec<_>>(),
        "activityLogs": a.activity_logs.iter().map(|(from, to, by, at)| json!({
            "statusFrom": from,
            "statusTo": to,
            "updatedBy": by,
            "updatedDateTime": at.to_string(),
        })).collect::<Vec<_>>(),
        "additionalDetails": {},
    })
}
