//! What a customer notice may truthfully say about that customer, looked up at send time: how many
//! reminders about the notice's invoices were really sent before (so "despite our earlier
//! reminders" appears only after some), and exactly which subscriptions a suspension touches (the
//! final notice names the subscriptions in the suspension's scope; the suspension notice names the
//! subscriptions that were in fact suspended). Reads the ledger and the snapshot; decides nothing.

use crate::ledger::{ActionStatus, LedgerError, LedgerView};
use crate::pc::models::Subscription;
use crate::plan::{ActionKind, PlannedAction};
use crate::policy::dunning::DunningConfig;
use crate::snapshot::Snapshot;

/// Reminder templates: notices that came before a final notice.
fn is_reminder(template: &str) -> bool {
    template.starts_with("reminder")
}

/// The number of reminders about any of `action`'s invoices that were sent (done) before it.
pub fn earlier_reminders(
    ledger: &dyn LedgerView,
    action: &PlannedAction,
) -> Result<usize, LedgerError> {
    let (Some(customer), ActionKind::CustomerNotice { invoices, .. }) =
        (&action.customer, &action.kind)
    else {
        return Ok(0);
    };
    let rows = ledger.actions_for_customer(customer)?;
    let count = rows
        .iter()
        .filter(|r| r.key != action.key && r.status == ActionStatus::Done)
        .filter_map(|r| serde_json::from_value::<PlannedAction>(r.payload.clone()).ok())
        .filter(|a| match &a.kind {
            ActionKind::CustomerNotice {
                template,
                invoices: theirs,
                ..
            } => {
                is_reminder(template)
                    && theirs
                        .iter()
                        .any(|t| invoices.iter().any(|i| i.invoice == t.invoice))
            }
            _ => false,
        })
        .count();
    Ok(count)
}

/// The subscriptions a notice names as (to be) suspended, by name: for a suspension notice those
/// its suspensions (`after`) actually suspended; for a final notice those of the customer a
/// dunning suspension would touch now (`cfg`), when the run read the customer's subscriptions.
/// Empty when the notice suspends nothing or the subscriptions are not known.
pub fn affected_subscriptions(
    ledger: &dyn LedgerView,
    action: &PlannedAction,
    known: &[Subscription],
    cfg: &DunningConfig,
) -> Result<Vec<String>, LedgerError> {
    if action.customer.is_none() {
        return Ok(Vec::new());
    }
    if !action.after.is_empty() {
        let mut names = Vec::new();
        for key in &action.after {
            let Some(row) = ledger.action_by_key(key)? else {
                continue;
            };
            if row.status != ActionStatus::Done {
                continue;
            }
            if let Ok(PlannedAction {
                kind:
                    ActionKind::Suspend {
                        subscription_id, ..
                    },
                ..
            }) = serde_json::from_value::<PlannedAction>(row.payload)
            {
                let sub = known
                    .iter()
                    .find(|s| s.id.eq_ignore_ascii_case(&subscription_id));
                names.push(sub.map_or(subscription_id.clone(), name));
            }
        }
        return Ok(names);
    }
    if !announces_suspension(action) {
        return Ok(Vec::new());
    }
    Ok(known.iter().filter(|s| cfg.suspends(s)).map(name).collect())
}

/// True for a notice that announces a future suspension (a final notice with its date): it
/// needs the customer's subscriptions to name what will be suspended.
pub fn announces_suspension(action: &PlannedAction) -> bool {
    action.after.is_empty()
        && matches!(
            &action.kind,
            ActionKind::CustomerNotice {
                suspension_date: Some(_),
                ..
            }
        )
}

/// The customer's subscriptions as this run read them, when it did.
pub fn subscriptions<'a>(snapshot: &'a Snapshot, customer: &str) -> Option<&'a [Subscription]> {
    snapshot
        .details
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(customer))
        .and_then(|(_, d)| d.subscriptions.data())
        .map(Vec::as_slice)
}

/// A subscription as a customer knows it: its friendly name, else the offer, else the id.
fn name(s: &Subscription) -> String {
    s.friendly_name
        .as_deref()
        .or(s.offer_name.as_deref())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(&s.id)
        .to_owned()
}
