//! The executor's side of alert hygiene: composing a group email, marking a sent group (its state
//! and every finding in it notified, in one ledger transaction), alerting the findings made at
//! execution time (breaker, refusals) in their groups at the end of the run, and recording the
//! first-run baseline.
//!
//! Invariant: the decision of what to send is `policy::alerts::decide` (pure); this module only
//! writes what it decided to the outbox and performs it through claim-perform-mark.

use std::collections::{BTreeMap, BTreeSet};

use super::{Composed, ExecuteError, ExecutionReport, Executor, company_name};
use crate::config::Config;
use crate::ledger::{ActionError, ActionRow, LedgerView, NewAction};
use crate::notices::mail::OutgoingEmail;
use crate::notices::templates::{
    Fact, GROUP_DETAILED, GROUP_LISTED, GroupEntryLine, OPS_LOCALE, OpsAlertGroupContext, one_line,
};
use crate::plan::{
    AlertGroupEmail, EntryStatus, Finding, HeldReason, Plan, PlannedAction, rule_family,
};
use crate::policy::alerts::{
    self, BASELINE_SUMMARY_WATERMARK, BASELINE_WATERMARK, DecideInput, decide,
};
use crate::snapshot::Snapshot;
use jiff::Timestamp;

impl Executor<'_> {
    /// On the first run, record its instant (activity before it is baseline) and one line
    /// summarising the baseline for the digest. Recorded in every mode: the first run is usually
    /// a dry-run, and activity before it is what the baseline is about.
    pub(super) fn record_baseline(&self, plan: &Plan) -> Result<(), ExecuteError> {
        if self.ledger.watermark(BASELINE_WATERMARK)?.is_some() {
            return Ok(());
        }
        let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
        for h in &plan.alerting.held {
            if h.why == HeldReason::Baseline {
                *by_rule.entry(&h.rule).or_default() += 1;
            }
        }
        let summary = if by_rule.is_empty() {
            "no activity before the first run needed an alert".to_owned()
        } else {
            by_rule
                .iter()
                .map(|(rule, n)| format!("{n} {rule}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        self.ledger
            .set_watermark(BASELINE_SUMMARY_WATERMARK, &summary, self.now)?;
        self.ledger
            .set_watermark(BASELINE_WATERMARK, &self.now.to_string(), self.now)?;
        Ok(())
    }

    /// A group email went out: move its groups and mark every finding in it notified.
    pub(super) fn group_sent(
        &self,
        claimed: &ActionRow,
        g: &AlertGroupEmail,
        report: &mut ExecutionReport,
    ) -> Result<(), ExecuteError> {
        let fps: Vec<String> = g.entries.iter().map(|e| e.fingerprint.clone()).collect();
        self.ledger
            .mark_group_notified(&claimed.key, &g.groups, &fps, self.now)?;
        report.ops_emails += 1;
        for e in g
            .entries
            .iter()
            .filter(|e| e.status != EntryStatus::Resolved)
        {
            *report
                .alerts_sent
                .entry(rule_family(&e.rule).to_owned())
                .or_default() += 1;
        }
        report.emailed_groups.extend(g.groups.iter().cloned());
        Ok(())
    }

    /// Alert the findings made during execution, grouped like the plan's, within what is left
    /// of `[alerts] max_groups` and never twice for a group in one run. What cannot go out now
    /// stays un-notified in the ledger and goes out with the next run's groups.
    pub(super) async fn send_late_alerts(
        &self,
        snapshot: &Snapshot,
        report: &mut ExecutionReport,
    ) -> Result<(), ExecuteError> {
        let cfg = &self.config.alerts;
        let late = std::mem::take(&mut report.late_findings);
        let budget = cfg.max_groups.saturating_sub(report.ops_emails);
        if late.is_empty() || !cfg.enabled || budget == 0 {
            return Ok(());
        }
        let mut seen = BTreeSet::new();
        let late: Vec<Finding> = late
            .into_iter()
            .filter(|f| seen.insert(f.fingerprint.clone()))
            .collect();
        let open_rows = self.ledger.open_findings()?;
        let sources = alerts::sources(&late, &open_rows, &BTreeSet::new());
        let open = open_rows
            .iter()
            .map(|r| (r.fingerprint.as_str(), r))
            .collect();
        let groups = self
            .ledger
            .group_states()?
            .into_iter()
            .map(|g| (g.group, g.last_notified))
            .collect();
        let silences = self.ledger.silences(self.now, false)?;
        let d = decide(&DecideInput {
            findings: &late,
            also: &[],
            open: &open,
            resolved: &[],
            sources: &sources,
            groups: &groups,
            silences: &silences,
            config: cfg,
            now: self.now,
            baseline_at: None,
            budget,
            emailed: &report.emailed_groups,
        });
        for h in &d.hygiene.held {
            tracing::info!(fingerprint = %h.fingerprint, why = ?h.why, "alert held back");
        }
        for action in d.emails {
            self.send_one(action, snapshot, report).await?;
        }
        Ok(())
    }

    /// Write one planned email to the outbox, claim it and send it.
    async fn send_one(
        &self,
        action: PlannedAction,
        snapshot: &Snapshot,
        report: &mut ExecutionReport,
    ) -> Result<(), ExecuteError> {
        let payload = serde_json::to_value(&action).map_err(|source| ExecuteError::Payload {
            key: action.key.clone(),
            source,
        })?;
        let existed = self.ledger.action_by_key(&action.key)?.is_some();
        let row = self.ledger.insert_action(
            &NewAction {
                key: action.key.clone(),
                kind: action.kind.name().to_owned(),
                customer: action.customer.clone(),
                payload,
                requires_approval: false,
                reason: action.reason.clone(),
            },
            self.now,
        )?;
        if !existed {
            report.recorded += 1;
        }
        let Some(mailer) = self.mailer else {
            report.waiting.push((
                row.key.clone(),
                "no [mail] section is configured, so no email can be sent".to_owned(),
            ));
            return Ok(());
        };
        // Rendered before the claim: a template that cannot render leaves nothing claimed.
        let composed = self
            .compose(&row, &action, &BTreeMap::new(), snapshot)
            .await;
        let Some(claimed) = self.ledger.claim(row.id, self.now)? else {
            return Ok(());
        };
        self.send(mailer, &claimed, &action, composed, report).await
    }

    /// The email of one alert group.
    pub(super) fn compose_group(
        &self,
        row: &ActionRow,
        g: &AlertGroupEmail,
        snapshot: &Snapshot,
    ) -> Result<Composed, ActionError> {
        let ops = self.ops_to();
        if ops.is_empty() {
            return Err(ActionError::transient(
                "mail.ops_to is empty: nobody to alert",
            ));
        }
        let ctx = group_context(g, snapshot, self.config, self.now);
        let rendered = self
            .renderer
            .render_ops_alert_group(&ctx)
            .map_err(|e| ActionError::transient(e.to_string()))?;
        Ok(Composed {
            email: OutgoingEmail {
                key: row.key.clone(),
                to: ops.clone(),
                cc: Vec::new(),
                subject: rendered.subject,
                text: rendered.text,
                html: rendered.html,
                date: self.now,
            },
            template: "ops-alert-group".to_owned(),
            locale: OPS_LOCALE.to_owned(),
        })
    }
}

/// The template context of one alert group's email: at most [`GROUP_LISTED`] entries (the
/// group's order: new and changed first, then by severity), the first [`GROUP_DETAILED`] with
/// their facts; the counts cover every entry. Pure.
fn group_context(
    g: &AlertGroupEmail,
    snapshot: &Snapshot,
    config: &Config,
    now: Timestamp,
) -> OpsAlertGroupContext {
    let count = |s: &[EntryStatus]| g.entries.iter().filter(|e| s.contains(&e.status)).count();
    let entries = g
        .entries
        .iter()
        .take(GROUP_LISTED)
        .enumerate()
        .map(|(i, e)| GroupEntryLine {
            status: format!("{:?}", e.status).to_ascii_lowercase(),
            severity: e.severity,
            rule: e.rule.to_string(),
            fingerprint: e.fingerprint.clone(),
            summary: one_line(&e.summary),
            customer: match e.customer.as_deref() {
                Some(c) => format!("{} ({c})", one_line(&company_name(snapshot, c))),
                None => "partner-wide".to_owned(),
            },
            facts: if i < GROUP_DETAILED {
                e.facts
                    .iter()
                    .map(|(k, v)| Fact {
                        name: k.to_owned(),
                        value: one_line(v),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        })
        .collect();
    OpsAlertGroupContext {
        locale: OPS_LOCALE.to_owned(),
        partner_name: one_line(&config.partner.name),
        group: one_line(&g.label),
        severity: g.severity,
        send: format!("{:?}", g.send).to_ascii_lowercase(),
        new_count: count(&[EntryStatus::New, EntryStatus::Changed]),
        firing_count: count(&[EntryStatus::Firing]),
        resolved_count: count(&[EntryStatus::Resolved]),
        entries,
        more: g.entries.len().saturating_sub(GROUP_LISTED),
        detected_at: now.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        repeat_hours: config.alerts.repeat_hours,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Facts;
    use crate::notices::templates::Renderer;
    use crate::plan::{AlertEntry, GroupSend, Severity};
    use crate::policy::testkit;

    #[test]
    fn a_group_of_thousands_lists_a_bounded_number_renders_and_counts_every_finding() {
        // A first run at 50,000 customers put ~2,500 budget findings in one group: the email
        // could not render within the template output bound and was retried on every run.
        let now = testkit::ts("2026-11-21T06:00:00Z");
        let entry = |i: usize| AlertEntry {
            fingerprint: format!("budget.threshold:c{i:05}:2026-11:100"),
            rule: "budget.threshold".into(),
            severity: Severity::Critical,
            customer: Some(format!("c{i:05}")),
            summary: format!("Customer {i} has used 101% of its USD 1,100 Azure budget this month"),
            status: if i < 2_000 {
                EntryStatus::New
            } else {
                EntryStatus::Firing
            },
            facts: Facts::from([("budget", "1100"), ("currency", "USD")]),
        };
        let g = AlertGroupEmail {
            label: "family=budget, severity=critical".into(),
            groups: vec!["budget/critical".into()],
            severity: Severity::Critical,
            send: GroupSend::First,
            entries: (0..2_500).map(entry).collect(),
        };
        let config = Config::parse(
            "[partner_center]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
            std::path::Path::new("/etc/cspguard/cspguard.toml"),
        )
        .expect("config");
        let ctx = group_context(&g, &testkit::snapshot(now), &config, now);
        assert_eq!(ctx.entries.len(), GROUP_LISTED);
        assert_eq!(ctx.more, 2_500 - GROUP_LISTED);
        assert_eq!((ctx.new_count, ctx.firing_count), (2_000, 500));
        let rendered = Renderer::new(None)
            .and_then(|r| r.render_ops_alert_group(&ctx))
            .expect("a group of 2,500 renders within the output bound");
        assert!(
            rendered.subject.contains("2500 findings"),
            "{}",
            rendered.subject
        );
        assert!(
            rendered.text.contains("and 2300 more finding(s)"),
            "{}",
            rendered.text
        );
        assert!(rendered.html.contains("And 2300 more finding(s)"));
        assert!(rendered.text.contains("c00199") && !rendered.text.contains("c00200"));
    }
}
