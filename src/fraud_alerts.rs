//! The Graph security-alert collection step: reads Microsoft Graph partner security alerts into
//! [`Snapshot::security_alerts`] beside Partner Center's bulk collection, incrementally.
//!
//! Each run reads the open alerts (`active`, `investigating`) plus every alert observed since the
//! last run's watermark minus `[fraud] overlap_hours`; the watermark (ledger watermark
//! [`ALERTS_WATERMARK`], the run's `now`) advances only after a complete read in a run that is
//! not a dry-run, so a failed or partial read is read again next time.
//!
//! Invariant: like every snapshot part, the alerts are data, "not checked" (Graph not configured
//! or not selected in `[fraud] sources`, with why) or "failed" (with the error).

use jiff::{SignedDuration, Timestamp};

use crate::config::Config;
use crate::graph::GraphClient;
use crate::graph::alerts::{self, AlertQuery, PartnerSecurityAlert};
use crate::ledger::{Ledger, LedgerView};
use crate::policy::fraud::{FraudSource, SourceUse};
use crate::snapshot::{Section, Snapshot};

/// Ledger watermark: the `now` of the last run that read the alerts completely (RFC 3339).
pub const ALERTS_WATERMARK: &str = "graph_security_alerts";

/// The alert query of this run: open alerts, plus those observed since the watermark minus
/// the overlap (the first run reads open alerts only).
pub fn query(ledger: &dyn LedgerView, config: &Config) -> AlertQuery {
    let overlap = SignedDuration::from_hours(i64::from(config.fraud.overlap_hours));
    let since = ledger
        .watermark(ALERTS_WATERMARK)
        .ok()
        .flatten()
        .and_then(|m| m.parse::<Timestamp>().ok())
        .map(|m| m.checked_sub(overlap).unwrap_or(m));
    AlertQuery::OpenOrObservedSince(since)
}

/// Read the alerts this config asks for (or say why they were not read).
pub async fn collect(
    graph: Option<&GraphClient>,
    config: &Config,
    query: &AlertQuery,
) -> Section<Vec<PartnerSecurityAlert>> {
    let graph = match (config.fraud_source_use(FraudSource::Graph), graph) {
        (SourceUse::Skip(reason), _) => return Section::NotChecked { reason },
        (SourceUse::Read, None) => {
            return Section::NotChecked {
                reason: "no Graph client for this command".to_owned(),
            };
        }
        (SourceUse::Read, Some(g)) => g,
    };
    let read = async { alerts::list(graph, query)?.collect_all().await };
    match read.await {
        Ok(data) => Section::Ok { data },
        Err(e) => {
            tracing::warn!("reading Graph security alerts failed: {e}");
            Section::Failed {
                error: format!(
                    "{e}; check `cspguard doctor` and that the app has the application \
                     permission PartnerSecurity.Read.All (admin consent in the partner tenant)"
                ),
            }
        }
    }
}

/// Advance the watermark after a complete read (observations: not in dry-run).
pub fn record_watermark(ledger: &Ledger, snapshot: &Snapshot, now: Timestamp) {
    if snapshot.security_alerts.data().is_none() {
        return;
    }
    if let Err(e) = ledger.set_watermark(ALERTS_WATERMARK, &now.to_string(), now) {
        tracing::warn!(error = %e, "cannot advance the Graph security-alert watermark");
    }
}
