//! `cspguard fraud resolve`: set the status of Azure fraud events in Partner Center
//! (`Investigating`, or `Resolved` with a reason), recorded in the ledger as a done action with
//! who asked and when.
//!
//! Invariants: the arguments are checked before anything is written or sent (`resolved` needs a
//! reason, `investigating` takes none); the action is written to the ledger, approved by the OS
//! user and claimed before the Partner Center call, then marked done or failed, like every other
//! action, so the history shows who changed which events and when. Partner Center only records the
//! status: it does not stop the fraudulent activity, and the output says so.

use std::io::Write;

use jiff::Timestamp;
use serde_json::json;

use crate::enforce::{Enforcer, Outcome};
use crate::ledger::{Ledger, LedgerError, NewAction};
use crate::pc::PartnerCenter;
use crate::plan::{ActionKind, PlannedAction};

/// Subcommands of `cspguard fraud`.
#[derive(Debug, clap::Subcommand)]
pub enum FraudCommand {
    /// Mark the fraud events of an Azure subscription Investigating or Resolved in Partner
    /// Center (this only records the status; it does not stop the activity).
    Resolve(ResolveArgs),
}

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
}

/// Arguments of `cspguard fraud resolve`.
#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    /// The Azure subscription id the events are about.
    pub azure_subscription_id: String,
    /// Only these event ids (default: every event of the subscription).
    #[arg(long = "event", value_name = "ID")]
    pub events: Vec<String>,
    /// New status.
    #[arg(long, value_enum)]
    pub status: StatusArg,
    /// Why (required with `--status resolved`).
    #[arg(long, value_enum)]
    pub reason: Option<ReasonArg>,
}

/// Errors of `cspguard fraud`.
#[derive(Debug, thiserror::Error)]
pub enum FraudCmdError {
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
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// Encoding the action failed.
    #[error("cannot encode the action: {0}")]
    Json(#[from] serde_json::Error),
}

impl ResolveArgs {
    /// The Partner Center status and reason, or why the combination is invalid.
    pub fn status_and_reason(&self) -> Result<(&'static str, Option<&'static str>), FraudCmdError> {
        match (self.status, self.reason) {
            (StatusArg::Investigating, None) => Ok(("Investigating", None)),
            (StatusArg::Investigating, Some(_)) => Err(FraudCmdError::Usage(
                "--reason applies only to --status resolved; leave it out for investigating"
                    .to_owned(),
            )),
            (StatusArg::Resolved, Some(ReasonArg::Fraud)) => Ok(("Resolved", Some("Fraud"))),
            (StatusArg::Resolved, Some(ReasonArg::Ignore)) => Ok(("Resolved", Some("Ignore"))),
            (StatusArg::Resolved, None) => Err(FraudCmdError::Usage(
                "--status resolved needs --reason fraud (it was fraud) or --reason ignore (a \
                 false positive)"
                    .to_owned(),
            )),
        }
    }
}

/// Run `cspguard fraud resolve`: write the action, approve it as `who`, claim it, call Partner
/// Center, record the outcome.
pub async fn resolve(
    pc: &PartnerCenter,
    ledger: &Ledger,
    args: &ResolveArgs,
    who: &str,
    now: Timestamp,
    out: &mut dyn Write,
) -> Result<(), FraudCmdError> {
    let (status, reason) = args.status_and_reason()?;
    let sub = args.azure_subscription_id.trim();
    if sub.is_empty() {
        return Err(FraudCmdError::Usage(
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
    let action = PlannedAction {
        key: format!(
            "fraud-status/{sub}/manual/{status}/{}",
            now.as_millisecond()
        ),
        customer: None,
        kind: ActionKind::FraudEventStatus {
            azure_subscription_id: sub.to_owned(),
            event_ids: events.clone(),
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
    };
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
        return Err(FraudCmdError::Usage(format!(
            "action {} could not be claimed (is a run executing it?)",
            row.key
        )));
    };
    let e = Enforcer { pc, ledger, now };
    match e.fraud_status(sub, &events, status, reason).await {
        Outcome::Done(mut result) => {
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
        Outcome::Failed(error) | Outcome::Skipped(error) | Outcome::Refused { error, .. } => {
            ledger.mark_failed_final(claimed.id, &error, now)?;
            Err(FraudCmdError::Partner(error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(status: StatusArg, reason: Option<ReasonArg>) -> ResolveArgs {
        ResolveArgs {
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
