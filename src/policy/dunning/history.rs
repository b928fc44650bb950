//! What the ledger says about a customer's dunning: its actions, notices and cspguard's
//! suspensions, read once per run, and the facts the ladder derives from them (the stage each
//! invoice was sent, the final notice's evidence, the next free idempotency key).

use jiff::civil::Date;

use crate::ledger::{ActionRow, ActionStatus, LedgerError, NoticeRow, Suspension};
use crate::plan::{ActionKind, SuspendReason};

use super::{Run, SYSTEM_ACTOR};

/// Why a customer could not be evaluated this run.
#[derive(Debug, thiserror::Error)]
pub(super) enum CustomerError {
    #[error("the ledger could not be read: {0}")]
    Ledger(#[from] LedgerError),
    #[error("ledger action {key} has a payload cspguard cannot read ({error}); fix or cancel it")]
    Payload { key: String, error: String },
}

/// The ledger's history of one customer, read once.
pub(super) struct History {
    pub actions: Vec<ActionRow>,
    pub notices: Vec<NoticeRow>,
    pub suspensions: Vec<Suspension>,
}

/// A dunning action found in the ledger.
pub(super) struct DunAction<'l> {
    pub row: &'l ActionRow,
    pub what: DunKind,
    /// Local date it was sent (notice row, or `done`), for notices.
    pub sent: Option<Date>,
}

pub(super) enum DunKind {
    Notice {
        stage: String,
        invoices: Vec<(String, usize)>,
        suspension_date: Option<Date>,
    },
    Suspend {
        driver: String,
    },
}

pub(super) fn is_live(s: ActionStatus) -> bool {
    !matches!(s, ActionStatus::Cancelled | ActionStatus::Expired)
}

pub(super) fn is_pending(s: ActionStatus) -> bool {
    matches!(
        s,
        ActionStatus::Planned
            | ActionStatus::AwaitingApproval
            | ActionStatus::Approved
            | ActionStatus::Executing
            | ActionStatus::Uncertain
    )
}

pub(super) fn is_cancellable(s: ActionStatus) -> bool {
    matches!(
        s,
        ActionStatus::Planned | ActionStatus::AwaitingApproval | ActionStatus::Approved
    )
}

impl Run<'_, '_> {
    pub(super) fn history(&self, c: &str) -> Result<History, CustomerError> {
        let l = self.input.ledger;
        Ok(History {
            actions: l.actions_for_customer(c)?,
            notices: l.notices_for_customer(c)?,
            suspensions: l.active_suspensions(Some(c))?,
        })
    }

    /// The dunning actions (`notice/…` customer notices and `suspend/…` non-payment suspends).
    pub(super) fn dunning_actions<'l>(
        &self,
        c: &str,
        h: &'l History,
    ) -> Result<Vec<DunAction<'l>>, CustomerError> {
        let last = self.cfg.stages.len().saturating_sub(1);
        let mut out = Vec::new();
        for row in &h.actions {
            let notice = row.kind == "customer_notice" && row.key.starts_with("notice/");
            let suspend = row.kind == "suspend" && row.key.starts_with("suspend/");
            if !notice && !suspend {
                continue;
            }
            let kind: ActionKind = serde_json::from_value(row.payload.clone()).map_err(|e| {
                CustomerError::Payload {
                    key: row.key.clone(),
                    error: e.to_string(),
                }
            })?;
            let what = match kind {
                ActionKind::CustomerNotice {
                    stage,
                    invoices,
                    suspension_date,
                    ..
                } => DunKind::Notice {
                    stage,
                    invoices: invoices
                        .into_iter()
                        .map(|i| (i.invoice, i.stage_index.min(last)))
                        .collect(),
                    suspension_date,
                },
                ActionKind::Suspend {
                    reason: SuspendReason::Nonpayment,
                    ..
                } => match suspend_key_invoice(c, &row.key) {
                    Some(driver) => DunKind::Suspend { driver },
                    None => {
                        return Err(CustomerError::Payload {
                            key: row.key.clone(),
                            error: "the key names no invoice".to_owned(),
                        });
                    }
                },
                _ => continue,
            };
            let sent = match what {
                DunKind::Notice { .. } => self.sent_on(h, row),
                DunKind::Suspend { .. } => None,
            };
            out.push(DunAction { row, what, sent });
        }
        Ok(out)
    }

    /// Local date a notice action was sent: its earliest notice row, or when it was done.
    fn sent_on(&self, h: &History, row: &ActionRow) -> Option<Date> {
        let noticed = h
            .notices
            .iter()
            .filter(|n| n.action_key.as_deref() == Some(row.key.as_str()))
            .map(|n| self.local_date(n.sent_at))
            .min();
        let done = (row.status == ActionStatus::Done)
            .then(|| self.local_date(row.finished_at.unwrap_or(row.updated_at)));
        match (noticed, done) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Local date of the last notice of any kind to the customer.
    pub(super) fn last_notice(&self, h: &History) -> Option<Date> {
        let rows = h.notices.iter().map(|n| self.local_date(n.sent_at));
        let done = h
            .actions
            .iter()
            .filter(|a| a.kind == "customer_notice" && a.status == ActionStatus::Done)
            .map(|a| self.local_date(a.finished_at.unwrap_or(a.updated_at)));
        rows.chain(done).max()
    }

    /// The key to plan under: `base`, or `base` with `~N` after its third segment (the stage or
    /// the subscription) when earlier attempts were cancelled by cspguard or expired. A
    /// cancellation by a person is final.
    pub(super) fn free_key(&self, base: &str, actions: &[ActionRow]) -> Result<String, String> {
        const MAX_ATTEMPTS: usize = 20;
        for n in 1..=MAX_ATTEMPTS {
            let key = if n == 1 {
                base.to_owned()
            } else {
                with_generation(base, n)
            };
            match actions.iter().find(|a| a.key == key) {
                None => return Ok(key),
                Some(a) if is_live(a.status) => return Ok(key),
                Some(a)
                    if a.status == ActionStatus::Cancelled
                        && !a
                            .rejected_by
                            .as_deref()
                            .is_some_and(|w| w.eq_ignore_ascii_case(SYSTEM_ACTOR)) =>
                {
                    return Err(format!(
                        "{key} was cancelled by {}{}{}; cspguard does not plan it again (place a \
                         hold, or pay/void the invoice)",
                        a.rejected_by.as_deref().unwrap_or("a person"),
                        a.rejected_at
                            .map(|t| format!(" on {}", self.local_date(t)))
                            .unwrap_or_default(),
                        a.rejection_reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ));
                }
                Some(_) => {}
            }
        }
        Err(format!(
            "{base} was cancelled or expired {MAX_ATTEMPTS} times; not planned again"
        ))
    }
}

/// `notice/{c}/{stage}/{invoice}` -> `notice/{c}/{stage}~n/{invoice}` (likewise for the
/// subscription of a `suspend/…` key).
pub(super) fn with_generation(base: &str, n: usize) -> String {
    let mut parts: Vec<String> = base.splitn(4, '/').map(str::to_owned).collect();
    if let Some(p) = parts.get_mut(2) {
        p.push_str(&format!("~{n}"));
    }
    parts.join("/")
}

/// Highest stage of a live dunning action naming `invoice`.
pub(super) fn sent_stage(
    actions: &[DunAction<'_>],
    invoice: &str,
    suspend_idx: Option<usize>,
) -> Option<usize> {
    actions
        .iter()
        .filter(|a| is_live(a.row.status))
        .filter_map(|a| match &a.what {
            DunKind::Notice { invoices, .. } => invoices
                .iter()
                .filter(|(i, _)| i == invoice)
                .map(|(_, s)| *s)
                .max(),
            DunKind::Suspend { driver } => (driver == invoice).then_some(suspend_idx).flatten(),
        })
        .max()
}

/// The earliest sent notice taking `invoice` to the final stage or beyond: (sent date, the
/// suspension date it named).
pub(super) fn final_notice_evidence(
    actions: &[DunAction<'_>],
    invoice: &str,
    final_idx: usize,
) -> Option<(Date, Option<Date>)> {
    actions
        .iter()
        .filter(|a| is_live(a.row.status))
        .filter_map(|a| match &a.what {
            DunKind::Notice {
                invoices,
                suspension_date,
                ..
            } if invoices
                .iter()
                .any(|(i, s)| i == invoice && *s >= final_idx) =>
            {
                a.sent.map(|d| (d, *suspension_date))
            }
            _ => None,
        })
        .min_by_key(|(d, _)| *d)
}

/// The invoice of a `suspend/{customer}/{subscription}/{invoice}` key.
pub(super) fn suspend_key_invoice(customer: &str, key: &str) -> Option<String> {
    let rest = key
        .strip_prefix("suspend/")?
        .strip_prefix(customer)?
        .strip_prefix('/')?;
    let (_, invoice) = rest.split_once('/')?;
    (!invoice.is_empty()).then(|| invoice.to_owned())
}
