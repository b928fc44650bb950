//! The digest's alert-hygiene section: the findings held back from the ops emails (silenced,
//! inhibited, deferred) with why, the silences in force and, once, the first run's baseline.
//!
//! Invariants: pure except reads through [`LedgerView`]; lists are bounded by [`MAX_HELD`] and
//! the totals count everything, so nothing held is lost from view; the baseline is shown until a
//! digest carrying it has been sent ([`mark_baseline_reported`]).

use jiff::Timestamp;

use crate::ledger::{Ledger, LedgerError, LedgerView};
use crate::notices::templates::{AlertSection, HeldLine, one_line};
use crate::plan::{HeldReason, Plan};
use crate::policy::alerts::{BASELINE_REPORTED_WATERMARK, BASELINE_SUMMARY_WATERMARK};

/// How many held findings the digest lists by name.
pub const MAX_HELD: usize = 25;

/// The section for one digest; `name` names a customer. A failed ledger read leaves that part
/// out and says so in the section.
pub fn section(
    plan: &Plan,
    ledger: &dyn LedgerView,
    now: Timestamp,
    name: &dyn Fn(&str) -> String,
) -> AlertSection {
    let held: Vec<_> = plan
        .alerting
        .held
        .iter()
        .filter(|h| h.why != HeldReason::Baseline)
        .collect();
    let mut s = AlertSection {
        held_total: held.len(),
        held: held
            .iter()
            .take(MAX_HELD)
            .map(|h| HeldLine {
                severity: h.severity,
                customer: h.customer.as_deref().map(name),
                summary: one_line(&h.summary),
                note: note(&h.why),
            })
            .collect(),
        ..AlertSection::default()
    };
    match ledger.active_silences(now) {
        Ok(v) => {
            s.silences = v
                .iter()
                .map(|x| {
                    one_line(&format!(
                        "#{} {} until {} by {}: {}",
                        x.id,
                        x.matchers_text(),
                        x.until,
                        x.created_by,
                        x.reason
                    ))
                })
                .collect();
        }
        Err(e) => s.silences = vec![format!("cannot read the silences from the ledger: {e}")],
    }
    let reported = ledger.watermark(BASELINE_REPORTED_WATERMARK);
    let summary = ledger.watermark(BASELINE_SUMMARY_WATERMARK);
    if let (Ok(None), Ok(Some(text))) = (reported, summary) {
        s.baseline = Some(one_line(&text));
    }
    s
}

fn note(why: &HeldReason) -> String {
    match why {
        HeldReason::Silenced {
            silence,
            until,
            reason,
        } => format!("silenced by #{silence} until {until}: {reason}"),
        HeldReason::Inhibited { by } => format!("inhibited while {by} fires"),
        HeldReason::Baseline => "baseline: before cspguard's first run".to_owned(),
        HeldReason::Deferred { group, not_before } => {
            format!(
                "group {group} emailed recently; goes out with its next email after {not_before}"
            )
        }
    }
}

/// After a digest went out: the baseline has been reported (shown once).
pub fn mark_baseline_reported(ledger: &Ledger, now: Timestamp) -> Result<(), LedgerError> {
    if ledger.watermark(BASELINE_SUMMARY_WATERMARK)?.is_some()
        && ledger.watermark(BASELINE_REPORTED_WATERMARK)?.is_none()
    {
        ledger.set_watermark(BASELINE_REPORTED_WATERMARK, &now.to_string(), now)?;
    }
    Ok(())
}
