//! Emails per run (issue 14): what the first run on a fresh ledger would send (ops alert emails
//! and customer notices), then, after delivering all of it into the ledger as a `notify` run
//! would, what a second run an hour later would send. Used by the benchmark's `plan` worker.
//!
//! Invariant: the delivery is the ledger's own protocol (record, claim, mark done, mark the group
//! notified) without a mailer, so the second count is what the real second run would send.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::config::{Config, Mode};
use crate::execute::{ExecutionReport, Executor, Selection};
use crate::ledger::{ActionStatus, Ledger};
use crate::notices::templates::Renderer;
use crate::pc::PartnerCenter;
use crate::plan::{ActionKind, Plan};
use crate::planning;

/// Emails of the first and the second run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailsPerRun {
    /// Ops alert emails: first run, second run.
    pub ops: [usize; 2],
    /// Customer notices: first run, second run.
    pub customer: [usize; 2],
}

/// Count, deliver, plan the second run an hour later and count again.
pub async fn emails_per_run(
    pc: &PartnerCenter,
    cfg: &Config,
    ledger: &Ledger,
    first: &Plan,
    now: Timestamp,
) -> Result<EmailsPerRun, String> {
    let (ops1, customer1) = count(first, ledger)?;
    deliver(first, cfg, ledger, now)?;
    let later = now
        .checked_add(SignedDuration::from_hours(1))
        .map_err(|e| e.to_string())?;
    let second = planning::plan(pc, cfg, ledger, later).await;
    let (ops2, customer2) = count(&second.plan, ledger)?;
    Ok(EmailsPerRun {
        ops: [ops1, ops2],
        customer: [customer1, customer2],
    })
}

/// Ops and customer emails of a plan that the ledger has not sent yet.
fn count(plan: &Plan, ledger: &Ledger) -> Result<(usize, usize), String> {
    let (mut ops, mut customer) = (0, 0);
    for a in &plan.actions {
        let sent = ledger
            .action_by_key(&a.key)
            .map_err(|e| e.to_string())?
            .is_some_and(|r| r.status == ActionStatus::Done);
        match &a.kind {
            _ if sent => {}
            ActionKind::OpsAlert { .. } | ActionKind::OpsAlertGroup(_) => ops += 1,
            ActionKind::CustomerNotice { .. } => customer += 1,
            _ => {}
        }
    }
    Ok((ops, customer))
}

/// Record the plan as a `notify` run does and mark every email done (groups notified).
fn deliver(plan: &Plan, cfg: &Config, ledger: &Ledger, now: Timestamp) -> Result<(), String> {
    let renderer = Renderer::new(None).map_err(|e| e.to_string())?;
    let exec = Executor {
        ledger,
        mailer: None,
        renderer: &renderer,
        config: cfg,
        mode: Mode::Notify,
        now,
        pc: None,
        graph: None,
        selection: Selection::All,
        stop: None,
    };
    exec.record(plan, &mut ExecutionReport::default())
        .map_err(|e| e.to_string())?;
    for a in &plan.actions {
        let group = match &a.kind {
            ActionKind::OpsAlertGroup(g) => Some(g),
            ActionKind::OpsAlert { .. } | ActionKind::CustomerNotice { .. } => None,
            _ => continue,
        };
        let Some(row) = ledger.action_by_key(&a.key).map_err(|e| e.to_string())? else {
            continue;
        };
        let Some(claimed) = ledger.claim(row.id, now).map_err(|e| e.to_string())? else {
            continue;
        };
        ledger
            .mark_done(claimed.id, &serde_json::json!({"bench": "delivered"}), now)
            .map_err(|e| e.to_string())?;
        if let Some(g) = group {
            let fps: Vec<String> = g.entries.iter().map(|e| e.fingerprint.clone()).collect();
            ledger
                .mark_group_notified(&a.key, &g.groups, &fps, now)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
