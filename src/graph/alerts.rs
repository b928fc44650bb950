//! Partner security alerts (`/beta/security/partner/securityAlerts`, Microsoft Graph beta): the
//! typed alert model ([`PartnerSecurityAlert`]) and the client calls that list, read and update
//! them ([`list`], [`get`], [`update_status`]).
//!
//! The resource is beta: its enums are open ([`AlertStatus`], [`AlertSeverity`],
//! [`AlertConfidence`], [`AlertResolvedReason`] keep unknown values as data), every field but
//! `id` may be absent or null, and lists follow `@odata.nextLink`.
//!
//! Permissions (application): `PartnerSecurity.Read.All` to read, `PartnerSecurity.ReadWrite.All`
//! to update. No user and no MFA are involved.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{GraphClient, GraphPages};
use crate::open_enum;
use crate::pc::PcError;
use crate::pc::lenient;

/// Path segments of the collection.
pub const ALERTS_PATH: [&str; 4] = ["beta", "security", "partner", "securityAlerts"];
/// Endpoint labels (call statistics, logs, errors).
pub const LIST_LABEL: &str = "GET /beta/security/partner/securityAlerts";
pub const GET_LABEL: &str = "GET /beta/security/partner/securityAlerts/{id}";
pub const PATCH_LABEL: &str = "PATCH /beta/security/partner/securityAlerts/{id}";

open_enum! {
    /// `status` of an alert (`securityAlertStatus`).
    pub enum AlertStatus {
        Active => "active",
        Resolved => "resolved",
        Investigating => "investigating",
    }
}

open_enum! {
    /// `severity` of an alert (`securityAlertSeverity`).
    pub enum AlertSeverity {
        Informational => "informational",
        Low => "low",
        Medium => "medium",
        High => "high",
    }
}

open_enum! {
    /// `confidenceLevel` of an alert (`securityAlertConfidence`).
    pub enum AlertConfidence {
        Low => "low",
        Medium => "medium",
        High => "high",
    }
}

open_enum! {
    /// `resolvedReason` of an alert (`securityAlertResolvedReason`).
    pub enum AlertResolvedReason {
        Legitimate => "legitimate",
        Ignore => "ignore",
        Fraud => "fraud",
    }
}

/// A resource named by an alert (`affectedResource`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AlertResource {
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub resource_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub resource_type: Option<String>,
}

/// One status change of an alert (`activityLog`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AlertActivity {
    #[serde(default)]
    pub status_from: Option<AlertStatus>,
    #[serde(default)]
    pub status_to: Option<AlertStatus>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub updated_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub updated_date_time: Option<Timestamp>,
}

/// A partner security alert (`microsoft.graph.partner.security.partnerSecurityAlert`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PartnerSecurityAlert {
    #[serde(deserialize_with = "lenient::text_or_empty")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub description: Option<String>,
    /// e.g. `networkConnectionsToCryptoMiningPools`, `usageAnomalyDetection`.
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub alert_type: Option<String>,
    #[serde(default)]
    pub status: Option<AlertStatus>,
    #[serde(default)]
    pub severity: Option<AlertSeverity>,
    #[serde(default)]
    pub confidence_level: Option<AlertConfidence>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub customer_tenant_id: Option<String>,
    /// The Azure subscription id.
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub subscription_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub value_added_reseller_tenant_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub catalog_offer_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub detected_date_time: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub first_observed_date_time: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub last_observed_date_time: Option<Timestamp>,
    #[serde(default)]
    pub resolved_reason: Option<AlertResolvedReason>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub resolved_on_date_time: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub resolved_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_test: Option<bool>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub affected_resources: Vec<AlertResource>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub activity_logs: Vec<AlertActivity>,
    /// Name-value pairs (their key case is not guaranteed: the lenient decoder lower-cases the
    /// first letter of every key).
    #[serde(default)]
    pub additional_details: Option<BTreeMap<String, Value>>,
}

impl PartnerSecurityAlert {
    /// Still needs attention: `active`, `investigating`, an unknown status or none.
    pub fn is_open(&self) -> bool {
        !matches!(self.status, Some(AlertStatus::Resolved))
    }

    /// Flagged `isTest`: shown, never acted on.
    pub fn is_test(&self) -> bool {
        self.is_test == Some(true)
    }
}

/// Which alerts to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertQuery {
    /// Every alert (no `$filter`).
    All,
    /// The open alerts (`active`, `investigating`), plus every alert observed at or after
    /// `since` when given: `status eq 'active' or status eq 'investigating' or
    /// lastObservedDateTime ge {since}`.
    OpenOrObservedSince(Option<Timestamp>),
}

impl AlertQuery {
    /// The `$filter` text, if any.
    pub fn filter(&self) -> Option<String> {
        match self {
            AlertQuery::All => None,
            AlertQuery::OpenOrObservedSince(since) => {
                let mut f = "status eq 'active' or status eq 'investigating'".to_owned();
                if let Some(t) = since {
                    let whole = jiff::TimestampRound::new()
                        .smallest(jiff::Unit::Second)
                        .mode(jiff::RoundMode::Trunc);
                    let t = t.round(whole).unwrap_or(*t);
                    f.push_str(&format!(" or lastObservedDateTime ge {t}"));
                }
                Some(f)
            }
        }
    }
}

/// The alerts matching `query`, page by page (`@odata.nextLink`, bounded by the client).
pub fn list(
    client: &GraphClient,
    query: &AlertQuery,
) -> Result<GraphPages<PartnerSecurityAlert>, PcError> {
    let filter = query.filter();
    let params: Vec<(&str, &str)> = filter
        .as_deref()
        .map(|f| ("$filter", f))
        .into_iter()
        .collect();
    let url = client.url(&ALERTS_PATH, &params)?;
    Ok(client.pages(LIST_LABEL, url))
}

/// One alert by id.
pub async fn get(client: &GraphClient, id: &str) -> Result<PartnerSecurityAlert, PcError> {
    let url = client.url(&alert_path(id)?, &[])?;
    client.get(GET_LABEL, url).await
}

/// Set an alert's `status` (and `resolvedReason`) with a PATCH; the alert as Graph returns it
/// afterwards (read again when the PATCH answers without a body).
pub async fn update_status(
    client: &GraphClient,
    id: &str,
    status: &AlertStatus,
    reason: Option<&AlertResolvedReason>,
) -> Result<PartnerSecurityAlert, PcError> {
    let url = client.url(&alert_path(id)?, &[])?;
    let mut body = serde_json::json!({
        "@odata.type": "#microsoft.graph.partner.security.partnerSecurityAlert",
        "status": status.as_str(),
    });
    if let (Some(reason), Some(map)) = (reason, body.as_object_mut()) {
        map.insert("resolvedReason".into(), Value::from(reason.as_str()));
    }
    client.patch(PATCH_LABEL, url, body).await?;
    get(client, id).await
}

fn alert_path(id: &str) -> Result<[&str; 5], PcError> {
    let id = id.trim();
    if id.is_empty() {
        return Err(PcError::InvalidRequest {
            endpoint: GET_LABEL.to_owned(),
            message: "the alert id is empty".to_owned(),
        });
    }
    let [a, b, c, d] = ALERTS_PATH;
    Ok([a, b, c, d, id])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_are_data_and_nulls_are_absent() {
        let a: PartnerSecurityAlert = lenient::from_slice(
            br#"{"id":"a1","status":"escalated","severity":"critical","confidenceLevel":null,
                "resolvedReason":null,"isTest":"true","affectedResources":null,
                "lastObservedDateTime":"2026-11-20T10:00:00.123Z"}"#,
        )
        .expect("lenient");
        assert_eq!(a.status, Some(AlertStatus::Other("escalated".into())));
        assert_eq!(a.severity, Some(AlertSeverity::Other("critical".into())));
        assert!(a.is_open() && a.is_test());
        assert!(a.affected_resources.is_empty());
        assert!(a.confidence_level.is_none() && a.resolved_reason.is_none());
    }

    #[test]
    fn the_incremental_filter_names_open_statuses_and_the_watermark() {
        assert_eq!(AlertQuery::All.filter(), None);
        assert_eq!(
            AlertQuery::OpenOrObservedSince(None).filter().as_deref(),
            Some("status eq 'active' or status eq 'investigating'")
        );
        let t: Timestamp = "2026-11-20T10:00:00.5Z".parse().expect("ts");
        let f = AlertQuery::OpenOrObservedSince(Some(t))
            .filter()
            .expect("filter");
        assert!(
            f.ends_with("or lastObservedDateTime ge 2026-11-20T10:00:00Z"),
            "{f}"
        );
    }
}
