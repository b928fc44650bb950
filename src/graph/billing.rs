//! Billing reconciliation exports (`/v1.0/reports/partners/billing/...`): the typed operation
//! and manifest models and the calls that start a billed export (per invoice) or an unbilled
//! export (current or last period), wait for the operation with `Retry-After` under a bound on
//! polls and total wait, and read the manifest.
//!
//! Owns: the Graph side of an export only. Blob downloads carry no bearer token and go to another
//! origin (Azure storage), so they live with the reconciliation (`crate::recon::blob`).
//!
//! Invariants: an operation is polled at most [`PollBounds::max_polls`] times and for at most
//! [`PollBounds::max_wait`]; a `Retry-After` longer than [`PollBounds::max_interval`] is capped;
//! the SAS token of a manifest is registered with `crate::redact` as soon as it is decoded and
//! is never part of `Debug` output.

use std::time::{Duration, Instant};

use reqwest::Url;
use serde::Deserialize;

use super::client::GraphClient;
use crate::pc::error::PcError;

/// Label of the billed export request.
pub const EP_BILLED_EXPORT: &str =
    "POST /v1.0/reports/partners/billing/reconciliation/billed/export";
/// Label of the unbilled export request.
pub const EP_UNBILLED_EXPORT: &str =
    "POST /v1.0/reports/partners/billing/reconciliation/unbilled/export";
/// Label of an operation poll.
pub const EP_OPERATION: &str = "GET /v1.0/reports/partners/billing/operations/{id}";
/// Label of a manifest read.
pub const EP_MANIFEST: &str = "GET /v1.0/reports/partners/billing/manifests/{id}";

/// Which unbilled period to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnbilledPeriod {
    Current,
    Last,
}

impl UnbilledPeriod {
    fn as_str(self) -> &'static str {
        match self {
            UnbilledPeriod::Current => "current",
            UnbilledPeriod::Last => "last",
        }
    }
}

/// One operation as Graph returns it (`runningOperation`, `exportSuccessOperation`,
/// `failedOperation`); unknown fields are ignored, an unknown status is kept as text.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, rename = "resourceLocation@odata.navigationLink")]
    pub resource_location: Option<String>,
    #[serde(default)]
    pub error: Option<OperationError>,
}

/// The error of a failed operation (`code` 5000: "No data available", e.g. a legacy invoice).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationError {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// The manifest of a succeeded export.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub data_format: Option<String>,
    #[serde(default)]
    pub root_directory: String,
    /// The SAS token (a secret: registered with `crate::redact`, never printed).
    #[serde(default)]
    pub sas_token: String,
    #[serde(default)]
    pub blob_count: Option<u64>,
    #[serde(default)]
    pub blobs: Vec<ManifestBlob>,
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifest")
            .field("id", &self.id)
            .field("data_format", &self.data_format)
            .field("root_directory", &self.root_directory)
            .field("sas_token", &"[redacted]")
            .field("blob_count", &self.blob_count)
            .field("blobs", &self.blobs)
            .finish()
    }
}

/// One blob of a manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestBlob {
    pub name: String,
    #[serde(default)]
    pub partition_value: Option<String>,
}

impl Manifest {
    /// The URL of blob `blob`: `rootDirectory/name?sasToken` (the name percent-encoded as one
    /// path segment).
    /// The root must be `https` (or `http` to loopback), since the SAS token travels with it.
    pub fn blob_url(&self, blob: &ManifestBlob) -> Result<Url, PcError> {
        crate::net::check_url(self.root_directory.trim()).map_err(|why| PcError::InvalidUrl {
            url: crate::pc::error::quote(&self.root_directory),
            reason: format!("manifest rootDirectory: {why}"),
        })?;
        let mut url = Url::parse(self.root_directory.trim()).map_err(|e| PcError::InvalidUrl {
            url: crate::pc::error::quote(&self.root_directory),
            reason: format!("manifest rootDirectory: {e}"),
        })?;
        url.path_segments_mut()
            .map_err(|()| PcError::InvalidUrl {
                url: crate::pc::error::quote(&self.root_directory),
                reason: "manifest rootDirectory cannot hold a path".to_owned(),
            })?
            .pop_if_empty()
            .push(&blob.name);
        let sas = self.sas_token.trim().trim_start_matches('?');
        url.set_query((!sas.is_empty()).then_some(sas));
        Ok(url)
    }
}

/// Bounds of the wait for an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollBounds {
    pub max_polls: u32,
    pub max_wait: Duration,
    /// Longest pause between polls (a longer `Retry-After` is capped; 0 polls at once).
    pub max_interval: Duration,
}

impl Default for PollBounds {
    fn default() -> Self {
        Self {
            max_polls: 60,
            max_wait: Duration::from_secs(900),
            max_interval: Duration::from_secs(60),
        }
    }
}

/// How an export operation ended.
#[derive(Debug, Clone)]
pub enum Finished {
    /// Succeeded: the manifest's URL (on the Graph origin).
    Succeeded { manifest: Url },
    /// Failed with Graph's code and message (5000 = no data, e.g. a legacy invoice).
    Failed { code: String, message: String },
    /// Still running after the bound.
    GaveUp { polls: u32, waited: Duration },
}

/// `.../billing/reconciliation/{kind}/export` (`kind`: `billed` or `unbilled`).
fn export_url(client: &GraphClient, kind: &str) -> Result<reqwest::Url, PcError> {
    client.url(
        &[
            "v1.0",
            "reports",
            "partners",
            "billing",
            "reconciliation",
            kind,
            "export",
        ],
        &[],
    )
}

/// Start the billed reconciliation export of one invoice (`attributeSet` `full`).
pub async fn start_billed(
    client: &GraphClient,
    invoice_id: &str,
) -> Result<super::Accepted, PcError> {
    let url = export_url(client, "billed")?;
    let body = serde_json::json!({"invoiceId": invoice_id, "attributeSet": "full"});
    client.start_operation(EP_BILLED_EXPORT, url, body).await
}

/// Start the unbilled reconciliation export of a period in one currency.
pub async fn start_unbilled(
    client: &GraphClient,
    period: UnbilledPeriod,
    currency: &str,
) -> Result<super::Accepted, PcError> {
    let url = export_url(client, "unbilled")?;
    let body = serde_json::json!({
        "billingPeriod": period.as_str(),
        "currencyCode": currency,
        "attributeSet": "full",
    });
    client.start_operation(EP_UNBILLED_EXPORT, url, body).await
}

/// Poll an accepted export until it succeeds or fails, honouring `Retry-After` (capped by
/// `bounds.max_interval`), within `bounds`.
pub async fn wait(
    client: &GraphClient,
    accepted: &super::Accepted,
    bounds: PollBounds,
) -> Result<Finished, PcError> {
    let started = Instant::now();
    let mut pause = accepted.retry_after;
    for polls in 1..=bounds.max_polls.max(1) {
        let delay = pause
            .unwrap_or(Duration::from_secs(5))
            .min(bounds.max_interval);
        if started.elapsed() + delay > bounds.max_wait {
            return Ok(Finished::GaveUp {
                polls: polls - 1,
                waited: started.elapsed(),
            });
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let polled = client
            .poll::<Operation>(EP_OPERATION, &accepted.location)
            .await?;
        pause = polled.retry_after;
        let op = polled.value;
        match op.status.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("succeeded") => return succeeded(client, op),
            Some("failed") => {
                let e = op.error.unwrap_or(OperationError {
                    code: None,
                    message: None,
                });
                return Ok(Finished::Failed {
                    code: e.code.unwrap_or_else(|| "unknown".to_owned()),
                    message: crate::redact::redact(
                        &e.message.unwrap_or_else(|| "no message".to_owned()),
                    ),
                });
            }
            _ => {}
        }
    }
    Ok(Finished::GaveUp {
        polls: bounds.max_polls.max(1),
        waited: started.elapsed(),
    })
}

fn succeeded(client: &GraphClient, op: Operation) -> Result<Finished, PcError> {
    let raw = op.resource_location.unwrap_or_default();
    if raw.trim().is_empty() {
        return Err(PcError::Decode {
            endpoint: EP_OPERATION.to_owned(),
            message: "succeeded operation without resourceLocation@odata.navigationLink".to_owned(),
        });
    }
    let manifest = client
        .base()
        .join(raw.trim())
        .map_err(|e| PcError::InvalidUrl {
            url: crate::pc::error::quote(&raw),
            reason: format!("manifest link: {e}"),
        })?;
    Ok(Finished::Succeeded { manifest })
}

/// Read a manifest (its SAS token is registered as a secret before it is returned).
pub async fn manifest(client: &GraphClient, url: &Url) -> Result<Manifest, PcError> {
    let m: Manifest = client.poll(EP_MANIFEST, url).await?.value;
    crate::redact::register(&m.sas_token);
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_url_joins_root_name_and_sas() {
        let m: Manifest = serde_json::from_str(
            r#"{"rootDirectory": "https://x.blob.core.windows.net/c/v1/P=1/", "sasToken": "sv=1&sig=abc",
                "blobs": [{"name": "part-0.json.gz"}], "unknown": 1}"#,
        )
        .unwrap();
        let url = m.blob_url(&m.blobs[0]).unwrap();
        assert_eq!(
            url.as_str(),
            "https://x.blob.core.windows.net/c/v1/P=1/part-0.json.gz?sv=1&sig=abc"
        );
        assert!(!format!("{m:?}").contains("sig=abc"));
        let plain: Manifest = serde_json::from_str(
            r#"{"rootDirectory": "http://storage.example/c", "sasToken": "sig=x", "blobs": [{"name": "b"}]}"#,
        )
        .unwrap();
        assert!(
            plain.blob_url(&plain.blobs[0]).is_err(),
            "no SAS token over plain http"
        );
    }

    #[test]
    fn operations_decode_by_status() {
        let op: Operation = serde_json::from_str(
            r##"{"@odata.type": "#microsoft.graph.partners.billing.failedOperation", "status": "failed",
                "error": {"code": "5000", "message": "No data available"}}"##,
        )
        .unwrap();
        assert_eq!(op.status.as_deref(), Some("failed"));
        assert_eq!(op.error.unwrap().code.as_deref(), Some("5000"));
    }
}
