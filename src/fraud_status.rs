//! Setting the status of Azure fraud events by hand (`cspguard fraud resolve`): `Investigating`,
//! or `Resolved` with a reason, in Partner Center ([`resolve`]), or of a Microsoft Graph security
//! alert (`--alert`, [`resolve_alert`], a PATCH with `legitimate`, `ignore` or `fraud`), recorded
//! in the ledger as a done action with who asked and when.
//!
//! Invariants: the arguments are checked before anything is written or sent (`resolved` needs a
//! reason, `investigating` takes none); the action is written to the ledger, approved by the OS
//! user and claimed before the Partner Center call, then marked done or failed, like every other
//! action, so the history shows who changed which events and when. Partner Center only records the
//! status: it does not stop the fraudulent activity, and the output says so.

use std::io::Write;

use jiff::Timestamp;
use serde_json::json;

use crate::enforce::{Enforcer, Performed};
use crate::graph::GraphClient;
use crate::graph::alerts::{self, AlertResolvedReason, AlertStatus};
use crate::ledger::{Ledger, LedgerError, NewAction};
use crate::pc::PartnerCenter;
use crate::plan::{ActionKind, PlannedAction};

/// The new status of fraud events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusArg {
    Investigating,
    Resolved,
}

/// Why events are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReasonArg {
    /// It was fraud (and has been dealt with).
    Fraud,
    /// Not fraud: a false positive.
    Ignore,
    /// Legitimate activity (Graph security alerts only).
    Legitimate,
}

/// Which fraud events get which status.
#[derive(Debug)]
pub struct ResolveRequest {
    /// The Azure subscription id the events are about.
    pub azure_subscription_id: String,
    /// Only these event ids (default: every event of the subscription).
    pub events: Vec<String>,
    /// New status.
    pub status: StatusArg,
    /// Why (required with `Resolved`).
    pub reason: Option<ReasonArg>,
}

/// Errors of setting fraud-event status.
#[derive(Debug, thiserror::Error)]
pub enum FraudStatusError {
    /// The arguments do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// The ledger refused or failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Partner Center refused or failed; the ledger records the action as failed.
    #[error(
        "Partner Center did not update the fraud events: {0}; the attempt is recorded in the \
         ledger (`cspguard history`); fix the cause and run the command again"
    )]
    Partner(String),
    /// Microsoft Graph refused or failed; the ledger records the action as failed.
    #[error(
        "Microsoft Graph did not update the security alert: {0}; the attempt is recorded in the \
         ledger (`cspguard history`); fix the cause (the app needs the application permission \
         PartnerSecurity.ReadWrite.All to update alerts) and run the command again"
    )]
    Graph(String),
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// Encoding the action failed.
    #[error("cannot encode the action: {0}")]
    Json(#[from] serde_json::Error),
}

impl crate::exit::ExitStatus for FraudStatusError {
    fn exit(&self) -> crate::exit::Exit {
        match self {
            FraudStatusError::Usage(_) => crate::exit::Exit::Config,
            FraudStatusError::Ledger(_)
            | FraudStatusError::Partner(_)
            | FraudStatusError::Graph(_)
            | FraudStatusError::Output(_)
            | FraudStatusError::Json(_) => crate::exit::Exit::Failed,
        }
    }
}

impl ResolveRequest {
    /// The Partner Center status and reason, or why the combination is invalid.
    pub fn status_and_reason(
        &self,
    ) -> Result<(&'static str, Option<&'static str>), FraudStatusError> {
        match (self.status, self.reason) {
            (StatusArg::Investigating, None) => Ok(("Investigating", None)),
            (StatusArg::Investigating, Some(_)) => Err(FraudStatusError::Usage(
                "--reason applies only to --status resolved; leave it out for investigating"
                    .to_owned(),
            )),
            (StatusArg::Resolved, Some(ReasonArg::Fraud)) => Ok(("Resolved", Some("Fraud"))),
            (StatusArg::Resolved, Some(ReasonArg::Ignore)) => Ok(("Resolved", Some("Ignore"))),
            (StatusArg::Resolved, Some(ReasonArg::Legitimate)) => Err(FraudStatusError::Usage(
                "--reason legitimate applies to Graph security alerts (--alert ID) only; \
                 Partner Center fraud events take --reason fraud or --reason ignore"
                    .to_owned(),
            )),
            (StatusArg::Resolved, None) => Err(FraudStatusError::Usage(
                "--status resolved needs --reason fraud (it was fraud) or --reason ignore (a \
                 false positive)"
                    .to_owned(),
            )),
        }
    }
}

/// The ledger action recording who set which events to which status.
fn manual_action(
    sub: &str,
    events: &[String],
    (status, reason): (&str, Option<&str>),
    which: &str,
    who: &str,
    now: Timestamp,
) -> PlannedAction {
    PlannedAction {
        key: format!(
            "fraud-status/{sub}/manual/{status}/{}",
            now.as_millisecond()
        ),
        customer: None,
        kind: ActionKind::FraudEventStatus {
            azure_subscription_id: sub.to_owned(),
            event_ids: events.to_vec(),
            status: status.to_owned(),
            resolved_reason: reason.map(str::to_owned),
        },
        requires_approval: true,
        reason: format!(
            "{who} set fraud events of Azure subscription {sub} ({which}) to {status}{} with \
             `cspguard fraud resolve`",
            reason.map(|r| format!(" ({r})")).unwrap_or_default()
        ),
        findings: Vec::new(),
        after: Vec::new(),
    }
}

/// Set the status: write the action, approve it as `who`, claim it, call Partner
/// Center, record the outcome.
pub async fn resolve(
    pc: &PartnerCenter,
    ledger: &Ledger,
    args: &ResolveRequest,
    who: &str,
    now: Timestamp,
    out: &mut dyn Write,
) -> Result<(), FraudStatusError> {
    let (status, reason) = args.status_and_reason()?;
    let sub = args.azure_subscription_id.trim();
    if sub.is_empty() {
        return Err(FraudStatusError::Usage(
            "the Azure subscription id is empty".to_owned(),
        ));
    }
    let mut events = args.events.clone();
    events.sort();
    events.dedup();
    let which = if events.is_empty() {
        "all events".to_owned()
    } else {
        events.join(", ")
    };
    let action = manual_action(sub, &events, (status, reason), &which, who, now);
    let row = ledger.insert_action(
        &NewAction {
            key: action.key.clone(),
            kind: action.kind.name().to_owned(),
            customer: None,
            payload: serde_json::to_value(&action)?,
            requires_approval: true,
            reason: action.reason.clone(),
        },
        now,
    )?;
    let row = ledger.approve(row.id, who, now)?;
    let Some(claimed) = ledger.claim(row.id, now)? else {
        return Err(FraudStatusError::Usage(format!(
            "action {} could not be claimed (is a run executing it?)",
            row.key
        )));
    };
    let e = Enforcer { pc, ledger, now };
    match e.set_fraud_status(sub, &events, status, reason).await {
        Ok(Performed::Done(mut result)) => {
            if let Some(m) = result.as_object_mut() {
                m.insert("by".to_owned(), json!(who));
            }
            ledger.mark_done(claimed.id, &result, now)?;
            let updated = result
                .get("events_updated")
                .and_then(|v| v.as_array())
                .map_or(0, Vec::len);
            writeln!(
                out,
                "Fraud events of Azure subscription {sub} ({which}): {status}{}; {updated} \
                 event(s) updated in Partner Center, recorded as action {} by {who}. Partner \
                 Center only records the status: it does not stop the activity.",
                reason.map(|r| format!(" ({r})")).unwrap_or_default(),
                claimed.id
            )?;
            Ok(())
        }
        Ok(Performed::Skipped(error)) => {
            ledger.mark_failed_final(claimed.id, &error, now)?;
            Err(FraudStatusError::Partner(error))
        }
        Err(e) => {
            let error = e.to_string();
            ledger.mark_failed_final(claimed.id, &error, now)?;
            Err(FraudStatusError::Partner(error))
        }
    }
}

/// Which Graph security alert gets which status (`cspguard fraud resolve --alert ID`).
#[derive(Debug)]
pub struct AlertResolveRequest {
    pub alert_id: String,
    pub status: StatusArg,
    /// Why (required with `Resolved`): `legitimate`, `ignore` or `fraud`.
    pub reason: Option<ReasonArg>,
}

impl AlertResolveRequest {
    /// Graph's status and reason, or why the combination is invalid.
    pub fn status_and_reason(
        &self,
    ) -> Result<(AlertStatus, Option<AlertResolvedReason>), FraudStatusError> {
        match (self.status, self.reason) {
            (StatusArg::Investigating, None) => Ok((AlertStatus::Investigating, None)),
            (StatusArg::Investigating, Some(_)) => Err(FraudStatusError::Usage(
                "--reason applies only to --status resolved; leave it out for investigating"
                    .to_owned(),
            )),
            (StatusArg::Resolved, Some(r)) => Ok((
                AlertStatus::Resolved,
                Some(match r {
                    ReasonArg::Fraud => AlertResolvedReason::Fraud,
                    ReasonArg::Ignore => AlertResolvedReason::Ignore,
                    ReasonArg::Legitimate => AlertResolvedReason::Legitimate,
                }),
            )),
            (StatusArg::Resolved, None) => Err(FraudStatusError::Usage(
                "--status resolved needs --reason fraud (it was fraud), --reason legitimate \
                 (legitimate activity) or --reason ignore (ignore this alert)"
                    .to_owned(),
            )),
        }
    }
}

/// Write, approve as `who` and claim the ledger action recording a manual change.
fn claim_manual(
    ledger: &Ledger,
    action: &PlannedAction,
    who: &str,
    now: Timestamp,
) -> Result<i64, FraudStatusError> {
    let row = ledger.insert_action(
        &NewAction {
            key: action.key.clone(),
            kind: action.kind.name().to_owned(),
            customer: action.customer.clone(),
            payload: serde_json::to_value(action)?,
            requires_approval: true,
            reason: action.reason.clone(),
        },
        now,
    )?;
    let row = ledger.approve(row.id, who, now)?;
    match ledger.claim(row.id, now)? {
        Some(claimed) => Ok(claimed.id),
        None => Err(FraudStatusError::Usage(format!(
            "action {} could not be claimed (is a run executing it?)",
            row.key
        ))),
    }
}

/// Set a Graph security alert's status with a PATCH, recorded in the ledger like the v1 path:
/// written, approved by `who`, claimed, then marked done (with the alert as Graph reports it
/// afterwards) or failed.
pub async fn resolve_alert(
    graph: &GraphClient,
    ledger: &Ledger,
    args: &AlertResolveRequest,
    who: &str,
    now: Timestamp,
    out: &mut dyn Write,
) -> Result<(), FraudStatusError> {
    let (status, reason) = args.status_and_reason()?;
    let id = args.alert_id.trim();
    if id.is_empty() {
        return Err(FraudStatusError::Usage("the alert id is empty".to_owned()));
    }
    let action = PlannedAction {
        key: format!(
            "fraud-alert-status/{id}/manual/{status}/{}",
            now.as_millisecond()
        ),
        customer: None,
        kind: ActionKind::GraphAlertStatus {
            alert_id: id.to_owned(),
            status: status.to_string(),
            resolved_reason: reason.as_ref().map(ToString::to_string),
        },
        requires_approval: true,
        reason: format!(
            "{who} set Graph security alert {id} to {status}{} with `cspguard fraud resolve`",
            reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        findings: Vec::new(),
        after: Vec::new(),
    };
    let claimed = claim_manual(ledger, &action, who, now)?;
    match alerts::update_status(graph, id, &status, reason.as_ref()).await {
        Ok(alert) => {
            let result = json!({
                "alert_id": id,
                "status": alert.status.as_ref().map(ToString::to_string),
                "resolved_reason": alert.resolved_reason.as_ref().map(ToString::to_string),
                "by": who,
            });
            ledger.mark_done(claimed, &result, now)?;
            writeln!(
                out,
                "Graph security alert {id}: {}{}, as Microsoft Graph now reports it; recorded \
                 as action {claimed} by {who}. The status is only a record: it does not stop \
                 the activity.",
                alert.status.as_ref().map_or("unknown", |s| s.as_str()),
                alert
                    .resolved_reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
            )?;
            Ok(())
        }
        Err(e) => {
            let error = e.to_string();
            ledger.mark_failed_final(claimed, &error, now)?;
            Err(FraudStatusError::Graph(error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(status: StatusArg, reason: Option<ReasonArg>) -> ResolveRequest {
        ResolveRequest {
            azure_subscription_id: "az1".into(),
            events: vec![],
            status,
            reason,
        }
    }

    #[test]
    fn resolved_needs_a_reason_and_investigating_takes_none() {
        assert_eq!(
            args(StatusArg::Investigating, None)
                .status_and_reason()
                .expect("ok"),
            ("Investigating", None)
        );
        assert_eq!(
            args(StatusArg::Resolved, Some(ReasonArg::Ignore))
                .status_and_reason()
                .expect("ok"),
            ("Resolved", Some("Ignore"))
        );
        let e = args(StatusArg::Resolved, None)
            .status_and_reason()
            .expect_err("needs a reason");
        assert!(e.to_string().contains("--reason fraud"), "{e}");
        assert!(
            args(StatusArg::Investigating, Some(ReasonArg::Fraud))
                .status_and_reason()
                .is_err()
        );
    }
}
