//! Alert hygiene, modelled on Prometheus Alertmanager: findings at or above `[alerts]
//! min_severity` become ops emails grouped by rule family and severity (configurable `group_by`),
//! at most one email per group per run and at most `max_groups` emails per run (the surplus is
//! folded into the last one, never dropped); a group repeats after `repeat_interval` while it
//! still fires, and new findings in a recently emailed group wait `group_interval`. Inhibition
//! rules, silences (from the ledger) and the first-run baseline hold findings back; everything held
//! is listed in the plan (and so in the digest). Findings that stopped firing are resolved once.
//!
//! Invariant: pure. The decision ([`decide::decide`]) takes findings, the ledger's view, the
//! config and `now`; sending stays in the executor through the ledger's claim-perform-mark
//! protocol, which marks every finding of a sent group email notified.

pub mod config;
pub mod decide;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use jiff::Timestamp;

pub use config::{AlertConfig, GroupLabel, InhibitRule};
pub use decide::{DecideInput, Decision, Source, decide};

use crate::ledger::{FindingRow, LedgerView};
use crate::plan::{Finding, PlanBuilder};
use crate::policy::PolicyInput;

/// Watermark holding the instant of cspguard's first run: activity before it is baseline.
pub const BASELINE_WATERMARK: &str = "alerts.baseline";
/// Watermark holding the first run's baseline summary (one line), for the digest.
pub const BASELINE_SUMMARY_WATERMARK: &str = "alerts.baseline_summary";
/// Watermark set once a digest has carried the baseline summary.
pub const BASELINE_REPORTED_WATERMARK: &str = "alerts.baseline_reported";

/// Rule prefix of findings the executor makes (breaker, refusals): never produced by the policies,
/// so an open one not yet emailed is picked up by the next run's grouping.
pub const EXECUTION_RULES: &str = "enforce.";

/// Plan resolutions and the group emails for the findings gathered so far.
pub fn evaluate(input: &PolicyInput<'_>, out: &mut PlanBuilder) {
    let cfg = &input.config.alerts;
    let open_rows = match input.ledger.open_findings() {
        Ok(open) => open,
        Err(e) => {
            out.skip(
                None,
                "alerts",
                format!(
                    "cannot read open findings from the ledger ({e}); resolutions not computed \
                     and no ops alert planned"
                ),
            );
            return;
        }
    };
    let resolved: Vec<&FindingRow> = open_rows
        .iter()
        .filter(|row| !out.has_finding(&row.fingerprint) && out.was_evaluated(&row.rule))
        .collect();
    for row in &resolved {
        out.resolved(row.fingerprint.clone());
    }
    if !cfg.enabled {
        return;
    }
    let Some(ledger) = LedgerParts::read(input.ledger, input.now, out) else {
        return;
    };
    let resolved_fps: BTreeSet<&str> = resolved.iter().map(|r| r.fingerprint.as_str()).collect();
    // The firing findings, the open rows and the inhibition sources are borrowed, not copied: at
    // 50,000 customers they are 13,000 findings with their facts (issue 18).
    let also: Vec<Finding> = open_rows
        .iter()
        .filter(|r| r.rule.starts_with(EXECUTION_RULES) && r.last_notified.is_none())
        .filter(|r| !out.has_finding(&r.fingerprint))
        .map(decide::finding_of_row)
        .collect();
    let resolved: Vec<FindingRow> = resolved.into_iter().cloned().collect();
    let findings = out.findings();
    let sources = sources(findings.iter().chain(&also), &open_rows, &resolved_fps);
    let open: BTreeMap<&str, &FindingRow> = open_rows
        .iter()
        .map(|r| (r.fingerprint.as_str(), r))
        .collect();
    let d = decide(&DecideInput {
        findings,
        also: &also,
        open: &open,
        resolved: &resolved,
        sources: &sources,
        groups: &ledger.groups,
        silences: &ledger.silences,
        config: cfg,
        now: input.now,
        baseline_at: ledger.baseline_at.filter(|_| cfg.baseline),
        budget: cfg.max_groups,
        emailed: &BTreeSet::new(),
    });
    for a in d.emails {
        out.action(a);
    }
    out.alerting(d.hygiene);
}

/// Findings that may inhibit: everything firing now and everything open that did not resolve
/// (each fingerprint once, the first seen).
pub fn sources<'f>(
    firing: impl IntoIterator<Item = &'f Finding>,
    open: &'f [FindingRow],
    resolved: &BTreeSet<&str>,
) -> Vec<Source<'f>> {
    let mut seen = HashSet::new();
    firing
        .into_iter()
        .map(|f| Source {
            fingerprint: &f.fingerprint,
            rule: &f.rule,
            customer: f.customer.as_deref(),
        })
        .chain(
            open.iter()
                .filter(|r| !resolved.contains(r.fingerprint.as_str()))
                .map(|r| Source {
                    fingerprint: &r.fingerprint,
                    rule: &r.rule,
                    customer: r.customer.as_deref(),
                }),
        )
        .filter(|s| seen.insert(s.fingerprint))
        .collect()
}

/// What the grouping reads from the ledger besides the findings.
pub struct LedgerParts {
    pub groups: BTreeMap<String, Timestamp>,
    pub silences: Vec<crate::ledger::Silence>,
    /// `Some(now)` on the first run (no baseline recorded yet).
    pub baseline_at: Option<Timestamp>,
}

impl LedgerParts {
    /// Read group states, silences and the baseline; a failed read becomes a skip and no alert is
    /// planned (a silence we could not read must not turn into a flood).
    pub fn read(
        ledger: &dyn LedgerView,
        now: Timestamp,
        out: &mut PlanBuilder,
    ) -> Option<LedgerParts> {
        let read = (|| {
            let groups = ledger
                .alert_groups()?
                .into_iter()
                .map(|g| (g.group, g.last_notified))
                .collect();
            let silences = ledger.active_silences(now)?;
            let baseline = ledger.watermark(BASELINE_WATERMARK)?;
            Ok::<_, crate::ledger::LedgerError>((groups, silences, baseline))
        })();
        match read {
            Ok((groups, silences, baseline)) => Some(LedgerParts {
                groups,
                silences,
                baseline_at: match baseline {
                    None => Some(now),
                    Some(t) => t.parse().ok(),
                },
            }),
            Err(e) => {
                out.skip(
                    None,
                    "alerts",
                    format!(
                        "cannot read alert groups, silences or the baseline from the ledger \
                         ({e}); no ops alert planned this run (the findings stay in the digest)"
                    ),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
