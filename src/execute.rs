//! The executor: records a plan in the ledger and performs the actions it may perform, each
//! through the ledger's outbox protocol (insert under the idempotency key, claim, perform, mark).
//!
//! What it performs today: customer notices and ops alerts (email). Destructive actions
//! (suspension, reactivation, budget changes, fraud-event status, cancellations) are recorded and
//! wait for approval; performing them is not implemented in this build, so they are never
//! claimed (they stay visible in `status` and the digest).
//!
//! Architecture invariant: nothing is performed that was not first written to the ledger and
//! claimed in one transaction. A crash between claim and mark leaves the action `executing`, which
//! the next run turns into `uncertain` for a person to check; it is never repeated blindly.
//!
//! Architecture invariant: in `dry-run` nothing is written to the outbox and nothing is sent; the
//! plan is reported as "would" (only the digest leaves the machine).
//!
//! Architecture invariant: an action whose `after` prerequisites are not all done is not claimed.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::config::{Config, Mode};
use crate::ledger::{ActionRow, ActionStatus, Ledger, LedgerError, NewAction, NewNotice};
use crate::notices::format::choose_locale;
use crate::notices::mail::{Mailer, OutgoingEmail};
use crate::notices::templates::{
    CustomerInfo, NoticeContext, OpsAlertContext, PartnerInfo, Renderer,
};
use crate::plan::{ActionKind, Finding, Plan, PlannedAction};
use crate::snapshot::{Section, Snapshot};

/// Who the ledger records for changes made by the run itself.
pub const RUN_ACTOR: &str = "cspguard";

/// Errors that stop execution as a whole (per-action failures are recorded on the action).
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot encode the payload of action {key}: {source}")]
    Payload {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

/// What recording and executing did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExecutionReport {
    /// Actions newly written to the ledger this run.
    pub recorded: usize,
    /// Pending actions cancelled because the plan said so.
    pub cancelled: usize,
    /// Emails sent.
    pub sent: usize,
    /// Actions that failed this run, with the error (they retry on later runs with backoff).
    pub failed: Vec<(String, String)>,
    /// Actions the plan contains that were not recorded or performed because of the mode.
    pub would: Vec<String>,
    /// Executable actions left alone (waiting for prerequisites, for mail configuration, or of a
    /// kind this build does not perform), with why.
    pub waiting: Vec<(String, String)>,
}

/// Everything the executor needs.
pub struct Executor<'a> {
    pub ledger: &'a Ledger,
    pub mailer: Option<&'a Mailer>,
    pub renderer: &'a Renderer,
    pub config: &'a Config,
    pub mode: Mode,
    pub now: Timestamp,
}

impl Executor<'_> {
    /// Record findings, resolutions and cancellations, and (outside dry-run) write every planned
    /// action to the outbox. Destructive actions always wait for approval outside `enforce`.
    pub fn record(&self, plan: &Plan, report: &mut ExecutionReport) -> Result<(), ExecuteError> {
        let l = self.ledger;
        for f in &plan.findings {
            l.upsert_finding(
                &f.fingerprint,
                &f.rule,
                f.customer.as_deref(),
                f.severity.as_str(),
                &f.summary,
                self.now,
            )?;
        }
        for fp in &plan.resolved {
            l.resolve_finding(fp, self.now)?;
        }
        if self.mode == Mode::DryRun {
            report
                .would
                .extend(plan.actions.iter().map(|a| a.key.clone()));
            return Ok(());
        }
        for c in &plan.cancellations {
            if let Some(row) = l.action_by_key(&c.key)?
                && matches!(
                    row.status,
                    ActionStatus::Planned | ActionStatus::AwaitingApproval | ActionStatus::Approved
                )
            {
                l.cancel(row.id, RUN_ACTOR, &c.reason, self.now)?;
                report.cancelled += 1;
            }
        }
        for a in &plan.actions {
            let requires_approval =
                a.requires_approval || (a.kind.is_destructive() && self.mode != Mode::Enforce);
            let payload = serde_json::to_value(a).map_err(|source| ExecuteError::Payload {
                key: a.key.clone(),
                source,
            })?;
            let existed = l.action_by_key(&a.key)?.is_some();
            l.insert_action(
                &NewAction {
                    key: a.key.clone(),
                    kind: a.kind.name().to_owned(),
                    customer: a.customer.clone(),
                    payload,
                    requires_approval,
                    reason: a.reason.clone(),
                },
                self.now,
            )?;
            if !existed {
                report.recorded += 1;
            }
        }
        Ok(())
    }

    /// Perform every executable email action, alerts first. Destructive kinds are left waiting.
    pub async fn execute(
        &self,
        plan: &Plan,
        snapshot: &Snapshot,
        report: &mut ExecutionReport,
    ) -> Result<(), ExecuteError> {
        if self.mode == Mode::DryRun {
            return Ok(());
        }
        let mut rows = self.ledger.executable(self.now)?;
        rows.sort_by_key(|r| (r.kind != "ops_alert", r.id));
        let findings: BTreeMap<&str, &Finding> = plan
            .findings
            .iter()
            .map(|f| (f.fingerprint.as_str(), f))
            .collect();
        for row in rows {
            let action: PlannedAction = match serde_json::from_value(row.payload.clone()) {
                Ok(a) => a,
                Err(e) => {
                    report.waiting.push((
                        row.key.clone(),
                        format!("its payload cannot be read ({e}); left for a person to check"),
                    ));
                    continue;
                }
            };
            match self.gate(&action)? {
                Gate::Go => {}
                Gate::Wait(why) => {
                    report.waiting.push((row.key.clone(), why));
                    continue;
                }
                Gate::Cancel(why) => {
                    self.ledger.cancel(row.id, RUN_ACTOR, &why, self.now)?;
                    report.cancelled += 1;
                    continue;
                }
            }
            match &action.kind {
                ActionKind::CustomerNotice { .. } | ActionKind::OpsAlert { .. } => {}
                _ => {
                    report.waiting.push((
                        row.key.clone(),
                        format!(
                            "{} is recorded but not performed: this build does not execute \
                             destructive actions (see README, Status and limitations)",
                            row.kind
                        ),
                    ));
                    continue;
                }
            }
            let Some(mailer) = self.mailer else {
                report.waiting.push((
                    row.key.clone(),
                    "no [mail] section is configured, so no email can be sent".to_owned(),
                ));
                continue;
            };
            let Some(claimed) = self.ledger.claim(row.id, self.now)? else {
                continue;
            };
            match self
                .perform(mailer, &claimed, &action, &findings, snapshot)
                .await
            {
                Ok(done) => {
                    self.ledger.mark_done(claimed.id, &done.result, self.now)?;
                    for n in &done.notices {
                        self.ledger.record_notice(n, self.now)?;
                    }
                    if let ActionKind::OpsAlert { fingerprint, .. } = &action.kind {
                        self.ledger.mark_finding_notified(fingerprint, self.now)?;
                    }
                    report.sent += 1;
                }
                Err(error) => {
                    tracing::warn!(key = %claimed.key, %error, "action failed; it will be retried");
                    self.ledger.mark_failed(claimed.id, &error, self.now)?;
                    report.failed.push((claimed.key.clone(), error));
                }
            }
        }
        Ok(())
    }

    /// Whether an action's prerequisites (`after`) allow it to run.
    fn gate(&self, action: &PlannedAction) -> Result<Gate, ExecuteError> {
        for key in &action.after {
            match self.ledger.action_by_key(key)? {
                Some(r) if r.status == ActionStatus::Done => {}
                Some(r) if matches!(r.status, ActionStatus::Cancelled | ActionStatus::Expired) => {
                    return Ok(Gate::Cancel(format!(
                        "its prerequisite {key} was {} and will not happen",
                        r.status.as_str()
                    )));
                }
                Some(r) => {
                    return Ok(Gate::Wait(format!(
                        "waits for {key}, which is {}",
                        r.status.as_str()
                    )));
                }
                None => {
                    return Ok(Gate::Wait(format!(
                        "waits for {key}, which is not recorded"
                    )));
                }
            }
        }
        Ok(Gate::Go)
    }

    async fn perform(
        &self,
        mailer: &Mailer,
        row: &ActionRow,
        action: &PlannedAction,
        findings: &BTreeMap<&str, &Finding>,
        snapshot: &Snapshot,
    ) -> Result<Done, String> {
        let (email, template, locale, recipients) = match &action.kind {
            ActionKind::CustomerNotice {
                template, to, cc, ..
            } => {
                let Some(to) = to.clone() else {
                    return Err("the notice has no recipient address".to_owned());
                };
                let customer = action.customer.clone().unwrap_or_default();
                let locale = self.notice_locale(&customer, &action.kind, snapshot);
                let ctx = NoticeContext::from_action(
                    &action.kind,
                    &locale,
                    self.partner(),
                    CustomerInfo {
                        id: customer.clone(),
                        company_name: company_name(snapshot, &customer),
                        contact_name: None,
                    },
                    Vec::new(),
                )
                .map_err(|e| e.to_string())?;
                let rendered = self
                    .renderer
                    .render(template, &locale, &ctx)
                    .map_err(|e| e.to_string())?;
                let mut recipients = vec![to.clone()];
                recipients.extend(cc.iter().cloned());
                (
                    OutgoingEmail {
                        key: row.key.clone(),
                        to: vec![to],
                        cc: cc.clone(),
                        subject: rendered.subject,
                        text: rendered.text,
                        html: rendered.html,
                        date: self.now,
                    },
                    template.clone(),
                    locale,
                    recipients,
                )
            }
            ActionKind::OpsAlert {
                fingerprint,
                severity,
                summary,
            } => {
                let ops = self.ops_to();
                if ops.is_empty() {
                    return Err("mail.ops_to is empty: nobody to alert".to_owned());
                }
                let fallback = Finding {
                    fingerprint: fingerprint.clone(),
                    rule: fingerprint.split(':').next().unwrap_or("").to_owned(),
                    severity: *severity,
                    customer: action.customer.clone(),
                    summary: summary.clone(),
                    facts: BTreeMap::new(),
                };
                let finding = findings
                    .get(fingerprint.as_str())
                    .copied()
                    .unwrap_or(&fallback);
                let customer_name = action
                    .customer
                    .as_deref()
                    .map(|c| company_name(snapshot, c));
                let ctx = OpsAlertContext::from_finding(
                    finding,
                    &self.config.partner.name,
                    customer_name.as_deref(),
                    self.now,
                );
                let rendered = self
                    .renderer
                    .render_ops_alert(&ctx)
                    .map_err(|e| e.to_string())?;
                (
                    OutgoingEmail {
                        key: row.key.clone(),
                        to: ops.clone(),
                        cc: Vec::new(),
                        subject: rendered.subject,
                        text: rendered.text,
                        html: rendered.html,
                        date: self.now,
                    },
                    "ops-alert".to_owned(),
                    "en".to_owned(),
                    ops,
                )
            }
            _ => return Err(format!("{} is not an email action", row.kind)),
        };
        let receipt = mailer.send(&email).await.map_err(|e| e.to_string())?;
        let notices = recipients
            .into_iter()
            .map(|recipient| NewNotice {
                customer: action.customer.clone(),
                recipient,
                template: template.clone(),
                locale: locale.clone(),
                message_id: receipt.message_id.clone(),
                action_key: Some(row.key.clone()),
            })
            .collect();
        Ok(Done {
            result: serde_json::json!({
                "message_id": receipt.message_id,
                "transport_response": receipt.transport_response,
            }),
            notices,
        })
    }

    fn notice_locale(&self, customer: &str, kind: &ActionKind, snapshot: &Snapshot) -> String {
        let available = self.renderer.available_locales();
        let available: Vec<&str> = available.iter().map(String::as_str).collect();
        let override_ = self
            .config
            .customers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(customer))
            .and_then(|(_, o)| o.locale.clone());
        let profile = snapshot
            .details
            .get(customer)
            .and_then(|d| d.billing_profile.data());
        let hint = match kind {
            ActionKind::CustomerNotice { locale_hint, .. } => locale_hint.clone(),
            _ => None,
        };
        choose_locale(
            override_.as_deref().or(hint.as_deref()),
            profile.and_then(|p| p.culture()),
            profile.and_then(|p| p.language()),
            &available,
            &self.config.partner.default_locale,
        )
    }

    fn partner(&self) -> PartnerInfo {
        let p = &self.config.partner;
        PartnerInfo {
            name: p.name.clone(),
            contact_email: p.contact_email.clone(),
            contact_phone: p.contact_phone.clone(),
            payment_instructions: p.payment_instructions.clone(),
        }
    }

    fn ops_to(&self) -> Vec<String> {
        self.config
            .mail
            .as_ref()
            .map(|m| m.ops_to.clone())
            .unwrap_or_default()
    }
}

/// What an action's prerequisites allow.
enum Gate {
    Go,
    Wait(String),
    /// A prerequisite ended without being done: the action must not happen either.
    Cancel(String),
}

struct Done {
    result: serde_json::Value,
    notices: Vec<NewNotice>,
}

/// The company name of a customer as Partner Center knows it, or its id.
pub fn company_name(snapshot: &Snapshot, customer: &str) -> String {
    if let Section::Ok { data } = &snapshot.customers
        && let Some(c) = data.iter().find(|c| c.id.eq_ignore_ascii_case(customer))
        && let Some(name) = c.company_name()
    {
        return name.to_owned();
    }
    customer.to_owned()
}
