//! Official examples recognised by their shape, not their file name: [`classify`] names the
//! resource a JSON document is (from its keys, its `attributes.objectType`, its `@odata.type`,
//! or its items' keys), and [`check`] decodes it with the project's matching model, as the
//! client would. A document no shape matches is [`Shape::Unknown`]: the caller reports it (with
//! the file name) instead of guessing, so a new example is checked as soon as it arrives.

use cspguard::graph::alerts::PartnerSecurityAlert;
use cspguard::pc::auth::PcTokenResponse;
use cspguard::pc::lenient;
use cspguard::pc::models::*;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What an example is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shape {
    /// `GET /v1/customers`
    CustomersList,
    /// `GET /v1/customers/{id}`
    Customer,
    /// `GET /v1/customers/{id}/profiles/billing`
    BillingProfile,
    /// `GET /v1/customers/{id}/subscriptions`
    SubscriptionsList,
    /// `GET|PATCH /v1/customers/{id}/subscriptions/{id}`
    Subscription,
    /// `GET /v1/auditrecords`
    AuditRecords,
    /// `GET /v1/customers/usagerecords`
    CustomersUsageRecords,
    /// `GET /v1/customers/{id}/usagebudget`
    SpendingBudget,
    /// `GET /v1/customers/{id}/usagesummary`
    UsageSummary,
    /// `GET /v1/invoices`
    InvoicesList,
    /// `GET /v1/invoices/summary`
    InvoiceSummary,
    /// `GET /v1/fraudEvents` (a bare array)
    FraudEvents,
    /// A Partner Center error body (`code`, `description`) or its 429 (`statusCode`, `message`).
    PcError,
    /// A Graph error body (`error: {code, message}`).
    GraphError,
    /// An Entra token response (v1 `resource=` or v2).
    TokenResponse,
    /// `GET /beta/security/partner/securityAlerts` (an OData collection of alerts).
    GraphSecurityAlerts,
    /// `GET /beta/security/partner/securityAlerts/{id}`
    GraphSecurityAlert,
    /// A Graph billing reconciliation operation (`@odata.type` `...billing.*Operation`).
    GraphBillingOperation,
    /// A Graph billing export manifest (`rootDirectory`, `sasToken`, `blobs`).
    GraphBillingManifest,
    Unknown,
}

fn has(v: &Value, keys: &[&str]) -> bool {
    keys.iter().all(|k| v.get(*k).is_some())
}

fn object_type(v: &Value) -> Option<&str> {
    v.get("attributes")?.get("objectType")?.as_str()
}

/// The shape of a document (keys are compared after the client's key normalisation).
pub fn classify(raw: &Value) -> Shape {
    let mut v = raw.clone();
    lenient::normalize_keys(&mut v);
    if let Some(items) = v.as_array() {
        return match items.first() {
            Some(first) if has(first, &["eventId"]) => Shape::FraudEvents,
            _ => Shape::Unknown,
        };
    }
    if let Some(t) = v.get("@odata.type").and_then(Value::as_str) {
        if t.contains("partners.billing.") && t.ends_with("Operation") {
            return Shape::GraphBillingOperation;
        }
        if t.ends_with("partner.security.partnerSecurityAlert") {
            return Shape::GraphSecurityAlert;
        }
    }
    if v.get("error").is_some_and(Value::is_object) {
        return Shape::GraphError;
    }
    if has(&v, &["access_token", "token_type"]) {
        return Shape::TokenResponse;
    }
    if has(&v, &["code", "description"]) || has(&v, &["statusCode", "message"]) {
        return Shape::PcError;
    }
    if has(&v, &["rootDirectory", "blobs"]) {
        return Shape::GraphBillingManifest;
    }
    if has(&v, &["id", "alertType"]) {
        return Shape::GraphSecurityAlert;
    }
    if let Some(values) = v.get("value").and_then(Value::as_array) {
        return match values.first() {
            Some(first) if has(first, &["id", "alertType"]) => Shape::GraphSecurityAlerts,
            _ => Shape::Unknown,
        };
    }
    match object_type(&v) {
        Some("Collection") => collection(&v),
        Some("Customer") => Shape::Customer,
        Some("CustomerBillingProfile") => Shape::BillingProfile,
        Some("Subscription") => Shape::Subscription,
        Some("SpendingBudget") => Shape::SpendingBudget,
        Some("CustomerUsageSummary") => Shape::UsageSummary,
        Some("InvoiceSummary") => Shape::InvoiceSummary,
        Some(_) => Shape::Unknown,
        // The suspend response is PascalCase without attributes.
        None if has(&v, &["id", "status", "quantity"]) => Shape::Subscription,
        None => Shape::Unknown,
    }
}

/// A `{totalCount, items, attributes: {objectType: Collection}}` envelope, by its items.
fn collection(v: &Value) -> Shape {
    let Some(first) = v
        .get("items")
        .and_then(Value::as_array)
        .and_then(|i| i.first())
    else {
        return Shape::Unknown;
    };
    if has(first, &["operationType", "operationDate"]) {
        Shape::AuditRecords
    } else if has(first, &["companyProfile"]) {
        Shape::CustomersList
    } else if has(first, &["invoiceDate"]) {
        Shape::InvoicesList
    } else if has(first, &["totalCost"]) {
        Shape::CustomersUsageRecords
    } else if has(first, &["status", "quantity"]) {
        Shape::SubscriptionsList
    } else {
        Shape::Unknown
    }
}

fn one<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    lenient::from_slice(bytes).map_err(|e| e.to_string())
}

/// Decode every element of `items` (or `value`) with `T`; the count decoded.
fn each<T: DeserializeOwned>(bytes: &[u8], field: &str) -> Result<usize, String> {
    let v: Value = one(bytes)?;
    let items = v
        .get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no {field} array"))?;
    for (i, item) in items.iter().enumerate() {
        lenient::from_value::<T>(item.clone()).map_err(|e| format!("{field}[{i}]: {e}"))?;
    }
    Ok(items.len())
}

fn require(v: &Value, keys: &[&str]) -> Result<(), String> {
    match keys.iter().find(|k| v.get(**k).is_none()) {
        Some(k) => Err(format!("field {k} is missing")),
        None => Ok(()),
    }
}

/// Decode `bytes` with the model of `shape`; a short description of what was decoded.
pub fn check(shape: Shape, bytes: &[u8]) -> Result<String, String> {
    let items = |n: usize, what: &str| format!("{n} {what}");
    Ok(match shape {
        Shape::CustomersList => items(each::<Customer>(bytes, "items")?, "customers"),
        Shape::Customer => one::<Customer>(bytes)?.id,
        Shape::BillingProfile => {
            one::<CustomerBillingProfile>(bytes)?;
            "billing profile".into()
        }
        Shape::SubscriptionsList => items(each::<Subscription>(bytes, "items")?, "subscriptions"),
        Shape::Subscription => one::<Subscription>(bytes)?.id,
        Shape::AuditRecords => items(each::<AuditRecord>(bytes, "items")?, "audit records"),
        Shape::CustomersUsageRecords => items(
            each::<CustomerMonthlyUsageRecord>(bytes, "items")?,
            "usage records",
        ),
        Shape::SpendingBudget => format!("{:?}", one::<SpendingBudget>(bytes)?.amount),
        Shape::UsageSummary => {
            one::<CustomerUsageSummary>(bytes)?;
            "usage summary".into()
        }
        Shape::InvoicesList => items(each::<Invoice>(bytes, "items")?, "invoices"),
        Shape::InvoiceSummary => {
            one::<InvoiceSummary>(bytes)?;
            "invoice summary".into()
        }
        Shape::FraudEvents => items(one::<Vec<FraudEvent>>(bytes)?.len(), "fraud events"),
        Shape::PcError => one::<ApiErrorBody>(bytes)?.message(),
        Shape::GraphError => {
            let v: Value = one(bytes)?;
            require(&v["error"], &["code", "message"])?;
            "Graph error".into()
        }
        Shape::TokenResponse => {
            serde_json::from_slice::<PcTokenResponse>(bytes).map_err(|e| e.to_string())?;
            "token".into()
        }
        Shape::GraphSecurityAlerts => items(
            each::<PartnerSecurityAlert>(bytes, "value")?,
            "security alerts",
        ),
        Shape::GraphSecurityAlert => one::<PartnerSecurityAlert>(bytes)?.id,
        // The billing reconciliation models (`graph::billing`) decode these.
        Shape::GraphBillingOperation => {
            let v: Value = one(bytes)?;
            require(&v, &["@odata.type", "id", "status"])?;
            let op: cspguard::graph::billing::Operation = one(bytes)?;
            let status = op.status.ok_or("the model read no status")?;
            format!("operation {status}")
        }
        Shape::GraphBillingManifest => {
            let v: Value = one(bytes)?;
            require(
                &v,
                &["id", "rootDirectory", "sasToken", "blobCount", "blobs"],
            )?;
            let m: cspguard::graph::billing::Manifest = one(bytes)?;
            if m.blob_count != Some(m.blobs.len() as u64) {
                return Err(format!(
                    "blobCount {:?} but {} blobs decoded",
                    m.blob_count,
                    m.blobs.len()
                ));
            }
            for blob in &m.blobs {
                m.blob_url(blob)
                    .map_err(|e| format!("blob {}: {e}", blob.name))?;
            }
            let blobs = &m.blobs;
            items(blobs.len(), "blobs")
        }
        Shape::Unknown => return Err("no known shape".into()),
    })
}
