//! The executor: records a plan in the ledger and performs the actions it may perform, each
//! through the ledger's outbox protocol (insert under the idempotency key, claim, perform, mark).
//!
//! What it performs: customer notices and ops alerts (email), and the Partner Center actions
//! (suspension, reactivation, spending budget, fraud-event status, cancellation of a compromised
//! Azure subscription) through `crate::enforce`. Outside `enforce` mode destructive actions are
//! recorded as `awaiting_approval` and run only once a person approved them.
//!
//! Architecture invariant: nothing is performed that was not first written to the ledger and
//! claimed in one transaction. A crash between claim and mark leaves the action `executing`, which
//! the next run turns into `uncertain` for a person to check; it is never repeated blindly.
//!
//! Architecture invariant: in `dry-run` nothing is written to the outbox, no finding or alert
//! state changes and nothing is sent; the plan is reported as "would" (only the digest leaves
//! the machine).
//!
//! Architecture invariant: an action whose `after` prerequisites are not all settled is not
//! claimed; one whose prerequisites all ended without any being done is cancelled (a suspension
//! notice never goes out for a suspension that did not happen).
//!
//! Safety invariants (destructive actions): they are not claimed outside the `[enforcement]`
//! business hours; at most `max_suspensions_per_run` suspensions are claimed per run; when the
//! circuit breaker trips no suspension is claimed and ops are alerted at once; holds and exempt
//! lists are checked again right before claiming, and a hit cancels the action with the reason.
//!
//! A stop request (SIGTERM, `crate::stop::Stop`) is read before each claim: the action in flight
//! finishes and is marked, nothing more is claimed, and the rest wait for the next run.

mod group_alerts;

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::Serialize;

use crate::config::{Config, Mode};
use crate::enforce::{self, EnforceError, Enforcer, Performed, UnseenPatch};
use crate::facts::Facts;
use crate::ledger::{
    ActionError, ActionRow, ActionStatus, FailureKind, Ledger, LedgerError, LedgerView, NewAction,
    NewNotice,
};
use crate::notice_facts;
use crate::notices::format::choose_locale;
use crate::notices::mail::{MailError, Mailer, OutgoingEmail, Refusal};
use crate::notices::templates::{
    CustomerInfo, NoticeContext, OpsAlertContext, PartnerInfo, Renderer,
};
use crate::pc::PartnerCenter;
use crate::plan::{ActionKind, Finding, Plan, PlannedAction, Severity, SuspendReason};
use crate::snapshot::Snapshot;
use crate::stop::Stop;

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
    /// Executable actions left alone (waiting for prerequisites, for mail configuration,
    /// business hours, the suspension cap or the circuit breaker), with why.
    pub waiting: Vec<(String, String)>,
    /// Partner Center actions performed (suspensions, reactivations, budgets, fraud
    /// responses), with the recorded result.
    pub performed: Vec<(String, String)>,
    /// Actions not performed because a check at execution time stopped them (already
    /// suspended, a hold, an exempt customer, …), with why. They are cancelled in the ledger.
    pub skipped: Vec<(String, String)>,
    /// Why the circuit breaker stopped every suspension this run, if it did.
    pub breaker: Option<String>,
    /// Ops alert emails sent (group emails and single-finding alerts of older runs).
    pub ops_emails: usize,
    /// Findings sent in ops alert emails, per rule family.
    pub alerts_sent: BTreeMap<String, usize>,
    /// Alert groups emailed this run (at most one email each).
    #[serde(skip)]
    pub emailed_groups: BTreeSet<String>,
    /// Findings made at execution time (breaker, refusals), alerted in groups at the end.
    #[serde(skip)]
    pub late_findings: Vec<Finding>,
    /// Recipients the mail server refused while the notice went to the others (action key,
    /// what was refused); each is alerted to ops.
    pub refused: Vec<(String, String)>,
    /// The refusals still to alert (action key, customer, refusal).
    #[serde(skip)]
    refusals: Vec<(String, Option<String>, Refusal)>,
    /// Why execution stopped claiming actions before the end (e.g. "stopped by SIGTERM"); the
    /// actions it left are in `waiting`.
    pub stopped: Option<String>,
}

/// Everything the executor needs.
pub struct Executor<'a> {
    pub ledger: &'a Ledger,
    pub mailer: Option<&'a Mailer>,
    pub renderer: &'a Renderer,
    pub config: &'a Config,
    pub mode: Mode,
    pub now: Timestamp,
    /// The Partner Center client for suspensions and the other Partner Center actions
    /// (`None`: they wait).
    pub pc: Option<&'a PartnerCenter>,
    /// The Graph client for Graph alert status changes (`None`: they wait).
    pub graph: Option<&'a crate::graph::GraphClient>,
    /// Which executable actions this run performs.
    pub selection: Selection,
    /// A stop request (SIGTERM): read before claiming each action; once set, nothing more is
    /// claimed (`None`: never stopped).
    pub stop: Option<&'a Stop>,
}

/// Which executable actions a run performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Selection {
    /// Every executable action (a normal run).
    #[default]
    All,
    /// `cspguard run --only-approved`: only approved actions and the actions that wait only for
    /// them (their notices).
    OnlyApproved,
}

impl Executor<'_> {
    /// Outside dry-run: record findings, resolutions and cancellations, and write every planned
    /// action to the outbox. Destructive actions always wait for approval outside `enforce`.
    /// A dry-run writes nothing (it only reports what it would do), so the findings and alert
    /// state a later real run depends on stay as they were.
    pub fn record(&self, plan: &Plan, report: &mut ExecutionReport) -> Result<(), ExecuteError> {
        let l = self.ledger;
        if self.mode == Mode::DryRun {
            report
                .would
                .extend(plan.actions.iter().map(|a| a.key.clone()));
            return Ok(());
        }
        for f in &plan.findings {
            self.record_finding(f)?;
        }
        for fp in &plan.resolved {
            l.resolve_finding(fp, self.now)?;
        }
        self.record_baseline(plan)?;
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

    /// Perform every executable action: ops alerts first, then Partner Center actions
    /// (suspensions, reactivations, budgets, fraud responses) within the safety rules, then
    /// notices, and last the actions that wait for others (`after`), so a suspension notice goes
    /// out in the same run as the suspension it reports.
    pub async fn execute(
        &self,
        plan: &Plan,
        snapshot: &Snapshot,
        report: &mut ExecutionReport,
    ) -> Result<(), ExecuteError> {
        if self.mode == Mode::DryRun {
            return Ok(());
        }
        let findings: BTreeMap<&str, &Finding> = plan
            .findings
            .iter()
            .map(|f| (f.fingerprint.as_str(), f))
            .collect();
        let mut work: Vec<(ActionRow, PlannedAction)> = Vec::new();
        for row in self.ledger.executable(self.now)? {
            match serde_json::from_value::<PlannedAction>(row.payload.clone()) {
                Ok(a) => work.push((row, a)),
                Err(e) => report.waiting.push((
                    row.key.clone(),
                    format!("its payload cannot be read ({e}); left for a person to check"),
                )),
            }
        }
        if self.selection == Selection::OnlyApproved {
            let approved: BTreeSet<String> = work
                .iter()
                .filter(|(r, _)| r.status == ActionStatus::Approved)
                .map(|(r, _)| r.key.clone())
                .collect();
            work.retain(|(r, a)| {
                r.status == ActionStatus::Approved
                    || (!a.after.is_empty() && a.after.iter().all(|k| approved.contains(k)))
            });
        }
        work.sort_by_key(|(r, a)| (phase(a), r.id));

        let mut guard = self.enforcement_guard(&work, snapshot, report).await?;
        for (row, action) in work {
            if let Some(why) = self.stop.and_then(Stop::reason) {
                report.waiting.push((
                    row.key.clone(),
                    format!("not claimed: {why}; the next run takes it"),
                ));
                report.stopped = Some(why);
                continue;
            }
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
            if !matches!(
                action.kind,
                ActionKind::CustomerNotice { .. }
                    | ActionKind::OpsAlert { .. }
                    | ActionKind::OpsAlertGroup(_)
            ) {
                self.enforce_one(&row, &action, &mut guard, snapshot, report)
                    .await?;
                continue;
            }
            let Some(mailer) = self.mailer else {
                report.waiting.push((
                    row.key.clone(),
                    "no [mail] section is configured, so no email can be sent".to_owned(),
                ));
                continue;
            };
            // Render before claiming: a template that fails (or runs out of fuel) never leaves a
            // claimed action behind it.
            let composed = self.compose(&row, &action, &findings, snapshot).await;
            let Some(claimed) = self.ledger.claim(row.id, self.now)? else {
                continue;
            };
            self.send(mailer, &claimed, &action, composed, report)
                .await?;
        }
        self.alert_refusals(snapshot, report).await?;
        self.send_late_alerts(snapshot, report).await
    }

    /// Alert ops about every recipient the mail server refused while the notice went to the
    /// others (once per `[alerts] repeat_hours` per address).
    async fn alert_refusals(
        &self,
        snapshot: &Snapshot,
        report: &mut ExecutionReport,
    ) -> Result<(), ExecuteError> {
        let refusals = std::mem::take(&mut report.refusals);
        for (key, customer, r) in refusals {
            let who = customer.as_deref().unwrap_or("partner");
            let finding = Finding {
                fingerprint: format!("mail.refused:{who}:{}", r.address.to_ascii_lowercase()),
                rule: "mail.refused".into(),
                severity: Severity::Critical,
                customer: customer.clone(),
                summary: format!(
                    "The mail server refused {} ({} of {key}); the email went to the other \
                     recipients. Fix the address (billing profile or [customers] email/cc). {}",
                    r.address, r.field, r.reason
                ),
                facts: Facts::from([
                    ("action", key.clone()),
                    ("address", r.address.clone()),
                    ("field", r.field.to_owned()),
                ]),
            };
            self.alert_now(&finding, snapshot, report).await?;
        }
        Ok(())
    }

    /// Perform a claimed email action (rendered before the claim) and record the outcome.
    async fn send(
        &self,
        mailer: &Mailer,
        claimed: &ActionRow,
        action: &PlannedAction,
        composed: Result<Composed, ActionError>,
        report: &mut ExecutionReport,
    ) -> Result<(), ExecuteError> {
        match self.perform(mailer, claimed, action, composed).await {
            Ok(done) => {
                self.ledger.mark_done(claimed.id, &done.result, self.now)?;
                for n in &done.notices {
                    self.ledger.record_notice(n, self.now)?;
                }
                match &action.kind {
                    ActionKind::OpsAlert { fingerprint, .. } => {
                        self.ledger.mark_finding_notified(fingerprint, self.now)?;
                        report.ops_emails += 1;
                        *report
                            .alerts_sent
                            .entry(crate::plan::rule_family(fingerprint).to_owned())
                            .or_default() += 1;
                    }
                    ActionKind::OpsAlertGroup(g) => self.group_sent(claimed, g, report)?,
                    _ => {}
                }
                report.sent += 1;
                for r in done.refused {
                    report
                        .refused
                        .push((claimed.key.clone(), format!("{}: {}", r.address, r.reason)));
                    if matches!(action.kind, ActionKind::CustomerNotice { .. }) {
                        report
                            .refusals
                            .push((claimed.key.clone(), action.customer.clone(), r));
                    }
                }
            }
            Err(error) => self.record_failure(claimed, error, report)?,
        }
        Ok(())
    }

    /// Record a failed attempt on the action as its kind says, and in the report.
    fn record_failure(
        &self,
        claimed: &ActionRow,
        error: ActionError,
        report: &mut ExecutionReport,
    ) -> Result<(), ExecuteError> {
        match error.kind {
            FailureKind::Transient => {
                tracing::warn!(key = %claimed.key, %error, "action failed; it will be retried");
            }
            FailureKind::Permanent | FailureKind::Uncertain => {
                tracing::error!(key = %claimed.key, %error, "refused; not retried automatically");
            }
        }
        self.ledger.mark_failure(claimed.id, &error, self.now)?;
        report.failed.push((claimed.key.clone(), error.message));
        Ok(())
    }

    /// Run-wide enforcement state: the business window, the suspension cap and the circuit
    /// breaker, evaluated once over the suspensions that could run now. A tripped breaker is
    /// recorded as a critical finding and alerted to ops at once.
    async fn enforcement_guard(
        &self,
        work: &[(ActionRow, PlannedAction)],
        snapshot: &Snapshot,
        report: &mut ExecutionReport,
    ) -> Result<Guard, ExecuteError> {
        let cfg = &self.config.enforcement;
        let window = match cfg.window() {
            Ok(w) => w.check(self.now, &self.config.time_zone()),
            Err(e) => Err(format!(
                "[enforcement] is invalid ({e}); destructive actions wait"
            )),
        };
        let suspend_customers: BTreeSet<&str> = work
            .iter()
            .filter(|(_, a)| matches!(a.kind, ActionKind::Suspend { .. }))
            .map(|(r, _)| r.customer.as_deref().unwrap_or(""))
            .collect();
        let mut guard = Guard {
            window,
            breaker: None,
            suspensions_left: cfg.max_suspensions_per_run,
        };
        if suspend_customers.is_empty() {
            return Ok(guard);
        }
        let total = snapshot.customers.data().map(Vec::len);
        let Some(why) = enforce::breaker(cfg, suspend_customers.len(), total) else {
            if self.ledger.finding(BREAKER_FINGERPRINT)?.is_some() {
                self.ledger.resolve_finding(BREAKER_FINGERPRINT, self.now)?;
            }
            return Ok(guard);
        };
        tracing::error!(customers = suspend_customers.len(), "{why}");
        guard.breaker = Some(why.clone());
        report.breaker = Some(why.clone());
        let finding = Finding {
            fingerprint: BREAKER_FINGERPRINT.to_owned(),
            rule: "enforce.breaker".into(),
            severity: Severity::Critical,
            customer: None,
            summary: why,
            facts: Facts::from([
                ("customers_to_suspend", suspend_customers.len().to_string()),
                (
                    "customers_total",
                    total.map_or_else(|| "unknown".to_owned(), |t| t.to_string()),
                ),
            ]),
        };
        self.alert_now(&finding, snapshot, report).await?;
        Ok(guard)
    }

    /// Record a finding found at execution time; it is alerted in its group at the end of this
    /// run (or, when its group already emailed this run, in the next run).
    async fn alert_now(
        &self,
        f: &Finding,
        _snapshot: &Snapshot,
        report: &mut ExecutionReport,
    ) -> Result<(), ExecuteError> {
        self.record_finding(f)?;
        report.late_findings.push(f.clone());
        Ok(())
    }

    /// Write (or refresh) a finding in the ledger at this run's time.
    fn record_finding(&self, f: &Finding) -> Result<(), LedgerError> {
        self.ledger.upsert_finding(
            &f.fingerprint,
            &f.rule,
            f.customer.as_deref(),
            f.severity.as_str(),
            &f.summary,
            self.now,
        )?;
        Ok(())
    }

    /// Checks that apply again at execution time: exempt customers are never suspended or have
    /// Azure subscriptions cancelled, and a hold on the customer (or on the invoice a non-payment
    /// suspension is for) stops the suspension. `Some(why)` cancels the action.
    fn execution_time_block(
        &self,
        row: &ActionRow,
        action: &PlannedAction,
    ) -> Result<Option<String>, ExecuteError> {
        let Some(customer) = action.customer.as_deref() else {
            return Ok(None);
        };
        let exempt = self
            .config
            .customers
            .iter()
            .any(|(k, o)| k.eq_ignore_ascii_case(customer) && o.exempt);
        match &action.kind {
            ActionKind::Suspend { reason, .. } => {
                if exempt {
                    return Ok(Some(format!(
                        "customer {customer} is exempt ([customers] exempt = true, checked again \
                         at execution): never suspended"
                    )));
                }
                if *reason == SuspendReason::Nonpayment {
                    let invoice = row.key.splitn(4, '/').nth(3);
                    if let Some(h) = self.ledger.hold_for(customer, invoice, self.now)? {
                        return Ok(Some(format!(
                            "{} on hold until {} ({}; placed by {} at {}), checked again at \
                             execution: the suspension is cancelled",
                            match &h.invoice {
                                Some(i) => format!("invoice {i} of customer {customer} is"),
                                None => format!("customer {customer} is"),
                            },
                            h.until,
                            h.reason,
                            h.placed_by,
                            h.placed_at
                        )));
                    }
                }
                Ok(None)
            }
            ActionKind::CancelAzureSubscription { .. } if exempt => Ok(Some(format!(
                "customer {customer} is exempt ([customers] exempt = true, checked again at \
                 execution): no Azure subscription is cancelled"
            ))),
            _ => Ok(None),
        }
    }

    /// Perform one Partner Center action within the safety rules and record the outcome.
    async fn enforce_one(
        &self,
        row: &ActionRow,
        action: &PlannedAction,
        guard: &mut Guard,
        snapshot: &Snapshot,
        report: &mut ExecutionReport,
    ) -> Result<(), ExecuteError> {
        if matches!(action.kind, ActionKind::GraphAlertStatus { .. }) {
            return self.graph_one(row, action, snapshot, report).await;
        }
        let Some(pc) = self.pc else {
            report.waiting.push((
                row.key.clone(),
                "no Partner Center connection in this run".to_owned(),
            ));
            return Ok(());
        };
        if let Some(why) = self.enforcement_wait(action, guard) {
            report.waiting.push((row.key.clone(), why));
            return Ok(());
        }
        if let Some(why) = self.execution_time_block(row, action)? {
            self.ledger.cancel(row.id, RUN_ACTOR, &why, self.now)?;
            report.cancelled += 1;
            report.skipped.push((row.key.clone(), why));
            return Ok(());
        }
        let Some(claimed) = self.ledger.claim(row.id, self.now)? else {
            return Ok(());
        };
        if matches!(action.kind, ActionKind::Suspend { .. }) {
            guard.suspensions_left = guard.suspensions_left.saturating_sub(1);
        }
        let enforcer = Enforcer {
            pc,
            ledger: self.ledger,
            now: self.now,
        };
        let result = perform_pc(&enforcer, &claimed, action).await;
        self.record_enforcement(&claimed, result, snapshot, report)
            .await
    }

    /// Set a Graph security alert's status (claimed first, recorded like a Partner Center action).
    async fn graph_one(
        &self,
        row: &ActionRow,
        action: &PlannedAction,
        snapshot: &Snapshot,
        report: &mut ExecutionReport,
    ) -> Result<(), ExecuteError> {
        let (
            Some(graph),
            ActionKind::GraphAlertStatus {
                alert_id,
                status,
                resolved_reason,
            },
        ) = (self.graph, &action.kind)
        else {
            report.waiting.push((
                row.key.clone(),
                "no Microsoft Graph connection in this run ([graph])".to_owned(),
            ));
            return Ok(());
        };
        let Some(claimed) = self.ledger.claim(row.id, self.now)? else {
            return Ok(());
        };
        let status = crate::graph::alerts::AlertStatus::parse(status);
        let reason = resolved_reason
            .as_deref()
            .map(crate::graph::alerts::AlertResolvedReason::parse);
        let result =
            match crate::graph::alerts::update_status(graph, alert_id, &status, reason.as_ref())
                .await
            {
                Ok(alert) => Ok(Performed::Done(serde_json::json!({
                    "alert_id": alert_id,
                    "status": alert.status.as_ref().map(ToString::to_string),
                }))),
                Err(e) => Err(EnforceError::Action {
                    error: ActionError::transient(format!(
                        "Microsoft Graph did not update security alert {alert_id}: {e}"
                    )),
                    alert: None,
                }),
            };
        self.record_enforcement(&claimed, result, snapshot, report)
            .await
    }

    /// Why a Partner Center action must wait this run (business hours, the circuit breaker, the
    /// suspension cap), if it must.
    fn enforcement_wait(&self, action: &PlannedAction, guard: &Guard) -> Option<String> {
        if action.kind.is_destructive()
            && let Err(why) = &guard.window
        {
            return Some(why.clone());
        }
        if !matches!(action.kind, ActionKind::Suspend { .. }) {
            return None;
        }
        if let Some(why) = &guard.breaker {
            return Some(format!(
                "not run: {}",
                why.split(". ").next().unwrap_or(why)
            ));
        }
        (guard.suspensions_left == 0).then(|| {
            format!(
                "the cap of {} suspensions per run ([enforcement] max_suspensions_per_run) is \
                 reached; it runs in a later run",
                self.config.enforcement.max_suspensions_per_run
            )
        })
    }

    /// Record what performing a claimed Partner Center action did; a refusal alerts ops at once.
    async fn record_enforcement(
        &self,
        claimed: &ActionRow,
        result: Result<Performed, EnforceError>,
        snapshot: &Snapshot,
        report: &mut ExecutionReport,
    ) -> Result<(), ExecuteError> {
        match result {
            Ok(Performed::Done(result)) => {
                tracing::info!(key = %claimed.key, %result, "performed");
                self.ledger.mark_done(claimed.id, &result, self.now)?;
                report
                    .performed
                    .push((claimed.key.clone(), result.to_string()));
            }
            Ok(Performed::Skipped(why)) => {
                tracing::info!(key = %claimed.key, %why, "not performed");
                self.ledger
                    .mark_skipped(claimed.id, RUN_ACTOR, &why, self.now)?;
                report.cancelled += 1;
                report.skipped.push((claimed.key.clone(), why));
            }
            Err(EnforceError::Ledger(e)) => return Err(e.into()),
            Err(EnforceError::Action { error, alert }) => {
                self.record_failure(claimed, error, report)?;
                if let Some(finding) = alert {
                    let f = Finding {
                        fingerprint: finding.fingerprint,
                        rule: finding.rule.into(),
                        severity: Severity::Critical,
                        customer: Some(finding.customer),
                        summary: finding.summary,
                        facts: Facts::from([("action", claimed.key.clone())]),
                    };
                    self.alert_now(&f, snapshot, report).await?;
                }
            }
        }
        Ok(())
    }

    /// Whether an action's prerequisites (`after`) allow it to run: it waits while any is
    /// pending; once all are settled it runs if at least one was done, and is cancelled if none
    /// was (all cancelled, expired, skipped or finally failed), so a notice never reports a
    /// suspension or reactivation that did not happen.
    fn gate(&self, action: &PlannedAction) -> Result<Gate, ExecuteError> {
        let mut done = 0;
        let mut ended = Vec::new();
        for key in &action.after {
            match self.ledger.action_by_key(key)? {
                Some(r) if r.status == ActionStatus::Done => done += 1,
                Some(r)
                    if matches!(
                        r.status,
                        ActionStatus::Cancelled | ActionStatus::Expired | ActionStatus::Failed
                    ) =>
                {
                    ended.push(format!("{key} was {}", r.status.as_str()));
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
        if done == 0 && !ended.is_empty() {
            return Ok(Gate::Cancel(format!(
                "none of its prerequisites happened ({}), so it will not happen either",
                ended.join("; ")
            )));
        }
        Ok(Gate::Go)
    }

    /// Render an email action (before it is claimed).
    async fn compose(
        &self,
        row: &ActionRow,
        action: &PlannedAction,
        findings: &BTreeMap<&str, &Finding>,
        snapshot: &Snapshot,
    ) -> Result<Composed, ActionError> {
        match &action.kind {
            ActionKind::CustomerNotice { .. } => self.compose_notice(row, action, snapshot).await,
            ActionKind::OpsAlert { .. } => self.compose_alert(row, action, findings, snapshot),
            ActionKind::OpsAlertGroup(g) => self.compose_group(row, g, snapshot),
            _ => Err(not_an_email(row)),
        }
    }

    /// Send a claimed, rendered email action; what the ledger records when it went out.
    async fn perform(
        &self,
        mailer: &Mailer,
        row: &ActionRow,
        action: &PlannedAction,
        composed: Result<Composed, ActionError>,
    ) -> Result<Done, ActionError> {
        let composed = composed?;
        let receipt = mailer.send(&composed.email).await.map_err(mail_failure)?;
        let notices = receipt
            .accepted
            .iter()
            .cloned()
            .map(|recipient| NewNotice {
                customer: action.customer.clone(),
                recipient,
                template: composed.template.clone(),
                locale: composed.locale.clone(),
                message_id: receipt.message_id.clone(),
                action_key: Some(row.key.clone()),
            })
            .collect();
        let mut result = serde_json::json!({
            "message_id": receipt.message_id,
            "transport_response": receipt.transport_response,
        });
        if !receipt.refused.is_empty() {
            result["refused"] = receipt
                .refused
                .iter()
                .map(|r| serde_json::json!({"address": r.address, "field": r.field, "reason": r.reason}))
                .collect();
        }
        Ok(Done {
            result,
            notices,
            refused: receipt.refused,
        })
    }

    /// The email of a customer notice, rendered in the customer's locale.
    async fn compose_notice(
        &self,
        row: &ActionRow,
        action: &PlannedAction,
        snapshot: &Snapshot,
    ) -> Result<Composed, ActionError> {
        let ActionKind::CustomerNotice {
            template, to, cc, ..
        } = &action.kind
        else {
            return Err(not_an_email(row));
        };
        let Some(to) = to.clone() else {
            return Err(ActionError::transient(
                "the notice has no recipient address",
            ));
        };
        let customer = action.customer.clone().unwrap_or_default();
        let locale = self.notice_locale(&customer, &action.kind, snapshot);
        let ctx = self
            .notice_context(action, &locale, snapshot)
            .await
            .map_err(ActionError::transient)?;
        let rendered = self
            .renderer
            .render(template, &locale, &ctx)
            .map_err(|e| ActionError::transient(e.to_string()))?;
        Ok(Composed {
            email: OutgoingEmail {
                key: row.key.clone(),
                to: vec![to],
                cc: cc.clone(),
                subject: rendered.subject,
                text: rendered.text,
                html: rendered.html,
                date: self.now,
            },
            template: template.clone(),
            locale,
        })
    }

    /// The email of an ops alert, from the run's finding (or the action's copy of it).
    fn compose_alert(
        &self,
        row: &ActionRow,
        action: &PlannedAction,
        findings: &BTreeMap<&str, &Finding>,
        snapshot: &Snapshot,
    ) -> Result<Composed, ActionError> {
        let ActionKind::OpsAlert {
            fingerprint,
            severity,
            summary,
        } = &action.kind
        else {
            return Err(not_an_email(row));
        };
        let ops = self.ops_to();
        if ops.is_empty() {
            return Err(ActionError::transient(
                "mail.ops_to is empty: nobody to alert",
            ));
        }
        let fallback = Finding {
            fingerprint: fingerprint.clone(),
            rule: fingerprint
                .split(':')
                .next()
                .unwrap_or("")
                .to_owned()
                .into(),
            severity: *severity,
            customer: action.customer.clone(),
            summary: summary.clone(),
            facts: Facts::new(),
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
            .map_err(|e| ActionError::transient(e.to_string()))?;
        Ok(Composed {
            email: OutgoingEmail {
                key: row.key.clone(),
                to: ops,
                cc: Vec::new(),
                subject: rendered.subject,
                text: rendered.text,
                html: rendered.html,
                date: self.now,
            },
            template: "ops-alert".to_owned(),
            locale: "en".to_owned(),
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

    /// The context of a customer notice, with only what is true for that customer: reminders
    /// mentioned only when some were sent, the exact subscriptions a suspension touches.
    async fn notice_context(
        &self,
        action: &PlannedAction,
        locale: &str,
        snapshot: &Snapshot,
    ) -> Result<NoticeContext, String> {
        let customer = action.customer.clone().unwrap_or_default();
        let earlier =
            notice_facts::earlier_reminders(self.ledger, action).map_err(|e| e.to_string())?;
        let known = match notice_facts::subscriptions(snapshot, &customer) {
            Some(subs) => subs.to_vec(),
            // A final notice names what the suspension will touch: read the subscriptions when
            // this run did not (one call per final notice); no notice rather than a vague one.
            None => match self
                .pc
                .filter(|_| notice_facts::announces_suspension(action))
            {
                Some(pc) => pc.subscriptions(&customer).await.map_err(|e| {
                    format!(
                        "cannot read the subscriptions of {customer} to name what the \
                         suspension will touch: {e}"
                    )
                })?,
                None => Vec::new(),
            },
        };
        let affected =
            notice_facts::affected_subscriptions(self.ledger, action, &known, &self.config.dunning)
                .map_err(|e| e.to_string())?;
        NoticeContext::from_action(
            &action.kind,
            locale,
            self.partner(locale),
            CustomerInfo {
                id: customer.clone(),
                company_name: company_name(snapshot, &customer),
                contact_name: None,
            },
            affected,
        )
        .map(|ctx| ctx.with_earlier_reminders(earlier))
        .map_err(|e| e.to_string())
    }

    fn partner(&self, locale: &str) -> PartnerInfo {
        PartnerInfo::from_config(&self.config.partner, locale)
    }

    fn ops_to(&self) -> Vec<String> {
        self.config
            .mail
            .as_ref()
            .map(|m| m.ops_to.clone())
            .unwrap_or_default()
    }
}

/// The fingerprint of the circuit-breaker finding.
pub const BREAKER_FINGERPRINT: &str = "enforce.breaker:partner";

/// Run-wide enforcement limits, evaluated once per run.
struct Guard {
    /// `Err(why)` outside business hours: destructive actions wait (not claimed).
    window: Result<(), String>,
    /// The circuit breaker tripped: no suspension runs this run.
    breaker: Option<String>,
    /// Suspensions this run may still perform.
    suspensions_left: u32,
}

/// Execution order: ops alerts, Partner Center actions, notices, then actions that wait for
/// others.
fn phase(a: &PlannedAction) -> u8 {
    match (&a.kind, a.after.is_empty()) {
        (_, false) => 3,
        (ActionKind::OpsAlert { .. } | ActionKind::OpsAlertGroup(_), true) => 0,
        (ActionKind::CustomerNotice { .. }, true) => 2,
        _ => 1,
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
    /// Recipients the server refused while the others got the email.
    refused: Vec<Refusal>,
}

/// A rendered email and what the ledger's notice records need.
struct Composed {
    email: OutgoingEmail,
    template: String,
    locale: String,
}

/// The failure of a non-email action handed to the mailer (recorded as before: transient).
fn not_an_email(row: &ActionRow) -> ActionError {
    ActionError::transient(format!("{} is not an email action", row.kind))
}

/// The company name of a customer as Partner Center knows it, or its id.
pub fn company_name(snapshot: &Snapshot, customer: &str) -> String {
    snapshot
        .company_name(customer)
        .map_or_else(|| customer.to_owned(), str::to_owned)
}

/// Perform a claimed Partner Center action through the enforcer.
async fn perform_pc(
    e: &Enforcer<'_>,
    claimed: &ActionRow,
    action: &PlannedAction,
) -> Result<Performed, EnforceError> {
    let customer = action.customer.clone().unwrap_or_default();
    match &action.kind {
        ActionKind::Suspend {
            subscription_id,
            reason,
        } => {
            let unseen = if claimed.attempts > 1 {
                UnseenPatch::Possible
            } else {
                UnseenPatch::RuledOut
            };
            e.suspend(&claimed.key, &customer, subscription_id, *reason, unseen)
                .await
        }
        ActionKind::Reactivate {
            subscription_id, ..
        } => e.reactivate(&claimed.key, &customer, subscription_id).await,
        ActionKind::SetBudget { amount } => e.set_budget(&customer, *amount).await,
        ActionKind::FraudEventStatus {
            azure_subscription_id,
            event_ids,
            status,
            resolved_reason,
        } => {
            e.set_fraud_status(
                azure_subscription_id,
                event_ids,
                status,
                resolved_reason.as_deref(),
            )
            .await
        }
        ActionKind::CancelAzureSubscription {
            azure_subscription_id,
        } => e.cancel_azure(&customer, azure_subscription_id).await,
        ActionKind::GraphAlertStatus { .. } => Err(EnforceError::Action {
            error: ActionError::permanent(
                "a Graph alert status is set through Microsoft Graph, not Partner Center"
                    .to_owned(),
            ),
            alert: None,
        }),
        ActionKind::CustomerNotice { .. }
        | ActionKind::OpsAlert { .. }
        | ActionKind::OpsAlertGroup(_) => Err(EnforceError::Action {
            error: ActionError::transient(format!(
                "{} is not a Partner Center action",
                claimed.kind
            )),
            alert: None,
        }),
    }
}

/// How a failed send is recorded: a transaction cut off by the timeout is uncertain (it may have
/// been delivered: never repeated blindly); a permanent refusal by the mail server (5xx) is not
/// retried (the action fails; `cspguard retry` after fixing the address); every other mail
/// failure is transient (retried with the ledger's backoff until its attempts are used up).
fn mail_failure(e: MailError) -> ActionError {
    match e {
        MailError::Uncertain { .. } => ActionError::uncertain(e.to_string()),
        MailError::Rejected { .. } => ActionError::permanent(e.to_string()),
        _ => ActionError::transient(e.to_string()),
    }
}
