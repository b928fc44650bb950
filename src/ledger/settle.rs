//! Settling an `uncertain` action by a person (`cspguard resolve`): the run that performed it was
//! interrupted between claim and mark, so only a person can say whether it happened.
//!
//! Invariants: only `uncertain` actions are settled; who, when and why are recorded on the
//! action (`retried_by`/`retried_at` and a `settled` object in its result); `sent` makes it done
//! (a later run never repeats it and the customer's dunning moves on), `not sent` makes it
//! eligible again (a later run performs it, with every execution-time check).

use jiff::Timestamp;
use rusqlite::params;

use super::LedgerError;
use super::store::{Ledger, ts};
use super::types::{ActionRow, ActionStatus};

/// What a person found out about an uncertain action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// It happened (the email arrived, the subscription is suspended): mark it done.
    Sent,
    /// It did not happen: make it eligible again.
    NotSent,
}

impl Settlement {
    /// `sent` or `not_sent`, as recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            Settlement::Sent => "sent",
            Settlement::NotSent => "not_sent",
        }
    }
}

impl Ledger {
    /// Settle uncertain action `id` as `how`, recording who and why.
    pub fn settle_uncertain(
        &self,
        id: i64,
        how: Settlement,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<ActionRow, LedgerError> {
        let settled = serde_json::json!({
            "settled": how.as_str(),
            "by": who,
            "at": ts(now),
            "reason": reason,
        })
        .to_string();
        self.transition(id, &[ActionStatus::Uncertain], "resolve", |tx| match how {
            Settlement::Sent => tx.execute(
                "UPDATE actions SET status = 'done', result = ?4, retried_by = ?2, \
                 retried_at = ?3, finished_at = ?3, updated_at = ?3, next_attempt_at = NULL \
                 WHERE id = ?1",
                params![id, who, ts(now), settled],
            ),
            Settlement::NotSent => tx.execute(
                "UPDATE actions SET status = 'approved', result = ?4, retried_by = ?2, \
                 retried_at = ?3, last_error = ?5, updated_at = ?3, finished_at = NULL, \
                 next_attempt_at = NULL WHERE id = ?1",
                params![
                    id,
                    who,
                    ts(now),
                    settled,
                    format!("settled as not sent by {who}: {reason}")
                ],
            ),
        })
    }
}
