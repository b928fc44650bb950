//! Alert hygiene: turns findings into immediate ops alerts, deduplicated by fingerprint and
//! repeated only after a configurable interval while the finding still fires; notes findings
//! that stopped firing (resolved) once.
//!
//! Invariant: an alert's idempotency key is `alert/{fingerprint}/{slot}`, where the slot is the
//! ledger's `last_notified` time of the finding (or `first`). The same ledger state therefore
//! always yields the same key, so a rerun before the alert went out plans nothing new.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::plan::{ActionKind, PlanBuilder, PlannedAction, Severity};
use crate::policy::PolicyInput;

/// `[alerts]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    /// Send immediate ops alerts at all.
    pub enabled: bool,
    /// Findings at or above this severity alert immediately; others wait for the digest.
    pub min_severity: Severity,
    /// Hours before an alert for a finding that still fires is repeated.
    pub repeat_hours: u32,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_severity: Severity::Critical,
            repeat_hours: 24,
        }
    }
}

/// Plan ops alerts and resolutions for the findings gathered so far.
pub fn evaluate(input: &PolicyInput<'_>, out: &mut PlanBuilder) {
    let cfg = &input.config.alerts;
    let current: BTreeSet<String> = out
        .findings()
        .iter()
        .map(|f| f.fingerprint.clone())
        .collect();

    match input.ledger.open_findings() {
        Ok(open) => {
            for row in open {
                if !current.contains(&row.fingerprint) && out.was_evaluated(&row.rule) {
                    out.resolved(row.fingerprint);
                }
            }
        }
        Err(e) => out.skip(
            None,
            "alerts",
            format!("cannot read open findings from the ledger ({e}); resolutions not computed"),
        ),
    }

    if !cfg.enabled {
        return;
    }
    let repeat = jiff::SignedDuration::from_hours(i64::from(cfg.repeat_hours));
    let due: Vec<_> = out
        .findings()
        .iter()
        .filter(|f| f.severity >= cfg.min_severity)
        .cloned()
        .collect();
    for f in due {
        let slot = match input.ledger.finding(&f.fingerprint) {
            Ok(Some(row)) => match row.last_notified {
                Some(last) if input.now.duration_since(last) < repeat => continue,
                Some(last) => last.as_second().to_string(),
                None => "first".to_owned(),
            },
            Ok(None) => "first".to_owned(),
            Err(e) => {
                out.skip(
                    f.customer.as_deref(),
                    "alerts",
                    format!(
                        "cannot read finding {} from the ledger ({e}); alert not planned",
                        f.fingerprint
                    ),
                );
                continue;
            }
        };
        out.action(PlannedAction {
            key: format!("alert/{}/{slot}", f.fingerprint),
            customer: f.customer.clone(),
            kind: ActionKind::OpsAlert {
                fingerprint: f.fingerprint.clone(),
                severity: f.severity,
                summary: f.summary.clone(),
            },
            requires_approval: false,
            reason: format!("{} finding: {}", f.severity, f.summary),
            findings: vec![f.fingerprint.clone()],
            after: vec![],
        });
    }
}
