//! The action outbox and its execution protocol.
//!
//! Invariants:
//! - `insert_action` is idempotent on the key (INSERT .. ON CONFLICT DO NOTHING, then read back,
//!   in one transaction).
//! - `claim` is one conditional UPDATE (`planned`/`approved`, due) -> `executing`, attempts+1, so
//!   two claimers can never both win.
//! - Only `executing` rows can be marked done/failed. `recover_interrupted` turns leftover
//!   `executing` rows into `uncertain`; nothing but `retry` (a person) makes those eligible again.
//! - A failed attempt is recorded by its [`FailureKind`] ([`Ledger::mark_failure`]): transient
//!   failures retry with backoff, permanent ones fail at once, uncertain ones become `uncertain`.
//! - Every state change a person makes records who and when.

use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};
use rusqlite::params;

use super::error::{At, LedgerError};
use super::store::{Ledger, ts};
use super::types::{ActionRow, ActionStatus, NewAction};

const ACTION_COLS: &str = "id, key, kind, customer, status, attempts, payload, reason, \
    requires_approval, created_at, updated_at, claimed_at, finished_at, next_attempt_at, result, \
    last_error, approved_by, approved_at, rejected_by, rejected_at, rejection_reason, retried_by, \
    retried_at";

/// Raw column values, decoded outside the rusqlite closure so bad data becomes `Data` errors.
struct RawAction {
    id: i64,
    key: String,
    kind: String,
    customer: Option<String>,
    status: String,
    attempts: i64,
    payload: String,
    reason: String,
    requires_approval: bool,
    created_at: String,
    updated_at: String,
    claimed_at: Option<String>,
    finished_at: Option<String>,
    next_attempt_at: Option<String>,
    result: Option<String>,
    last_error: Option<String>,
    approved_by: Option<String>,
    approved_at: Option<String>,
    rejected_by: Option<String>,
    rejected_at: Option<String>,
    rejection_reason: Option<String>,
    retried_by: Option<String>,
    retried_at: Option<String>,
}

fn read_raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawAction> {
    Ok(RawAction {
        id: r.get(0)?,
        key: r.get(1)?,
        kind: r.get(2)?,
        customer: r.get(3)?,
        status: r.get(4)?,
        attempts: r.get(5)?,
        payload: r.get(6)?,
        reason: r.get(7)?,
        requires_approval: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        claimed_at: r.get(11)?,
        finished_at: r.get(12)?,
        next_attempt_at: r.get(13)?,
        result: r.get(14)?,
        last_error: r.get(15)?,
        approved_by: r.get(16)?,
        approved_at: r.get(17)?,
        rejected_by: r.get(18)?,
        rejected_at: r.get(19)?,
        rejection_reason: r.get(20)?,
        retried_by: r.get(21)?,
        retried_at: r.get(22)?,
    })
}

/// What a failed attempt of an action means for trying it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// It may pass: the action goes back to `planned`/`approved` with the ledger's backoff,
    /// until the attempts are used up.
    Transient,
    /// Trying again cannot fix it: `failed` at once; a person may `retry` after fixing the cause.
    Permanent,
    /// It may or may not have happened: `uncertain`, never repeated automatically.
    Uncertain,
}

/// Why a claimed action failed: how the ledger records it, and the message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ActionError {
    /// Whether (and how) it is tried again.
    pub kind: FailureKind,
    /// What went wrong and what to do, for the ledger, the report and the digest.
    pub message: String,
}

impl ActionError {
    /// A failure worth retrying with backoff.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Transient,
            message: message.into(),
        }
    }

    /// A failure that retrying cannot fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Permanent,
            message: message.into(),
        }
    }

    /// A failure after which nobody can tell whether the action happened.
    pub fn uncertain(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Uncertain,
            message: message.into(),
        }
    }
}

/// Statuses a person may cancel.
const CANCELLABLE: &[ActionStatus] = &[
    ActionStatus::Planned,
    ActionStatus::AwaitingApproval,
    ActionStatus::Approved,
    ActionStatus::Failed,
    ActionStatus::Uncertain,
];

impl Ledger {
    fn decode(&self, raw: RawAction) -> Result<ActionRow, LedgerError> {
        let status =
            ActionStatus::from_str(&raw.status).map_err(|e| self.data("action status", e))?;
        Ok(ActionRow {
            id: raw.id,
            status,
            attempts: u32::try_from(raw.attempts)
                .map_err(|e| self.data("action attempts", format!("{}: {e}", raw.attempts)))?,
            payload: self.parse_json("action payload", &raw.payload)?,
            created_at: self.parse_ts("action created_at", &raw.created_at)?,
            updated_at: self.parse_ts("action updated_at", &raw.updated_at)?,
            claimed_at: self.parse_opt_ts("action claimed_at", raw.claimed_at)?,
            finished_at: self.parse_opt_ts("action finished_at", raw.finished_at)?,
            next_attempt_at: self.parse_opt_ts("action next_attempt_at", raw.next_attempt_at)?,
            result: raw
                .result
                .map(|s| self.parse_json("action result", &s))
                .transpose()?,
            approved_at: self.parse_opt_ts("action approved_at", raw.approved_at)?,
            rejected_at: self.parse_opt_ts("action rejected_at", raw.rejected_at)?,
            retried_at: self.parse_opt_ts("action retried_at", raw.retried_at)?,
            key: raw.key,
            kind: raw.kind,
            customer: raw.customer,
            reason: raw.reason,
            requires_approval: raw.requires_approval,
            last_error: raw.last_error,
            approved_by: raw.approved_by,
            rejected_by: raw.rejected_by,
            rejection_reason: raw.rejection_reason,
            retried_by: raw.retried_by,
        })
    }

    fn actions_where(
        &self,
        cond: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<ActionRow>, LedgerError> {
        let sql = format!("SELECT {ACTION_COLS} FROM actions WHERE {cond} ORDER BY id");
        let mut stmt = self.conn.prepare(&sql).at(&self.path)?;
        let raw = stmt
            .query_map(p, read_raw)
            .at(&self.path)?
            .collect::<Result<Vec<_>, _>>()
            .at(&self.path)?;
        raw.into_iter().map(|r| self.decode(r)).collect()
    }

    /// The action with this id, if any.
    pub fn action(&self, id: i64) -> Result<Option<ActionRow>, LedgerError> {
        Ok(self.actions_where("id = ?1", params![id])?.pop())
    }

    /// The action with this idempotency key, if any.
    pub fn action_by_key(&self, key: &str) -> Result<Option<ActionRow>, LedgerError> {
        Ok(self.actions_where("key = ?1", params![key])?.pop())
    }

    /// Actions in any of `statuses`, oldest first.
    pub fn actions_with_status(
        &self,
        statuses: &[ActionStatus],
    ) -> Result<Vec<ActionRow>, LedgerError> {
        let names: Vec<String> = statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        self.actions_where(&format!("status IN ({})", names.join(", ")), [])
    }

    /// Actions, optionally for one customer and/or created or updated since a time; oldest first.
    pub fn actions(
        &self,
        customer: Option<&str>,
        since: Option<Timestamp>,
    ) -> Result<Vec<ActionRow>, LedgerError> {
        self.actions_where(
            "(?1 IS NULL OR customer = ?1) AND (?2 IS NULL OR updated_at >= ?2)",
            params![customer, since.map(ts)],
        )
    }

    /// Write an action before anything happens. Idempotent: an existing key returns the existing
    /// row unchanged. `requires_approval` starts it as `awaiting_approval`, otherwise `planned`.
    pub fn insert_action(&self, a: &NewAction, now: Timestamp) -> Result<ActionRow, LedgerError> {
        let status = if a.requires_approval {
            ActionStatus::AwaitingApproval
        } else {
            ActionStatus::Planned
        };
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        tx.execute(
            "INSERT INTO actions (key, kind, customer, payload, reason, status, \
             requires_approval, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) ON CONFLICT (key) DO NOTHING",
            params![
                a.key,
                a.kind,
                a.customer,
                a.payload.to_string(),
                a.reason,
                status.as_str(),
                a.requires_approval,
                ts(now)
            ],
        )
        .at(&self.path)?;
        let row = self
            .action_by_key(&a.key)?
            .ok_or_else(|| LedgerError::not_found("action with key", &a.key))?;
        tx.commit().at(&self.path)?;
        Ok(row)
    }

    /// Actions that may be claimed now: `planned`/`approved` whose next attempt is due.
    pub fn executable(&self, now: Timestamp) -> Result<Vec<ActionRow>, LedgerError> {
        self.actions_where(
            "status IN ('planned', 'approved') \
             AND (next_attempt_at IS NULL OR next_attempt_at <= ?1)",
            params![ts(now)],
        )
    }

    /// Claim an action for execution: `planned`/`approved` and due -> `executing`, attempts+1, in
    /// one statement. `Ok(None)` if it is not claimable (already claimed, done, not due, …);
    /// `NotFound` if there is no such action.
    pub fn claim(&self, id: i64, now: Timestamp) -> Result<Option<ActionRow>, LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        let n = tx
            .execute(
                "UPDATE actions SET status = 'executing', attempts = attempts + 1, \
                 claimed_at = ?2, updated_at = ?2 \
                 WHERE id = ?1 AND status IN ('planned', 'approved') \
                 AND (next_attempt_at IS NULL OR next_attempt_at <= ?2)",
                params![id, ts(now)],
            )
            .at(&self.path)?;
        let row = self.action(id)?;
        tx.commit().at(&self.path)?;
        match (n, row) {
            (_, None) => Err(LedgerError::not_found("action", id)),
            (0, Some(_)) => Ok(None),
            (_, Some(row)) => Ok(Some(row)),
        }
    }

    /// Record that a claimed action was performed, with its result.
    pub fn mark_done(
        &self,
        id: i64,
        result: &serde_json::Value,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        self.transition(id, &[ActionStatus::Executing], "mark done", |tx| {
            tx.execute(
                "UPDATE actions SET status = 'done', result = ?2, finished_at = ?3, \
                 updated_at = ?3, next_attempt_at = NULL WHERE id = ?1",
                params![id, result.to_string(), ts(now)],
            )
        })
        .map(|_| ())
    }

    /// Record that a claimed action failed. While attempts remain it goes back to the status it
    /// was claimed from (`approved` if a person approved or retried it, else `planned`) with
    /// `next_attempt_at` = now + backoff; after `max_attempts` it stays `failed`.
    pub fn mark_failed(&self, id: i64, error: &str, now: Timestamp) -> Result<(), LedgerError> {
        let policy = self.retry;
        self.transition(id, &[ActionStatus::Executing], "mark failed", |tx| {
            let (attempts, person): (u32, bool) = tx.query_row(
                "SELECT attempts, approved_at IS NOT NULL OR retried_at IS NOT NULL \
                 FROM actions WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if attempts >= policy.max_attempts {
                tx.execute(
                    "UPDATE actions SET status = 'failed', last_error = ?2, finished_at = ?3, \
                     updated_at = ?3, next_attempt_at = NULL WHERE id = ?1",
                    params![id, error, ts(now)],
                )
            } else {
                let back = if person { "approved" } else { "planned" };
                let next = now
                    .checked_add(policy.backoff(attempts.max(1)))
                    .unwrap_or(now);
                tx.execute(
                    "UPDATE actions SET status = ?2, last_error = ?3, updated_at = ?4, \
                     next_attempt_at = ?5 WHERE id = ?1",
                    params![id, back, error, ts(now), ts(next)],
                )
            }
        })
        .map(|_| ())
    }

    /// Record that a claimed action failed in a way that retrying cannot fix (e.g. Partner
    /// Center refused it for a reason a person must resolve): `executing` -> `failed` at once,
    /// whatever attempts remain. A person may `retry` it after fixing the cause.
    pub fn mark_failed_final(
        &self,
        id: i64,
        error: &str,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        self.end_with_error(id, Ended::Failed, error, now)
    }

    /// Record a failed attempt of a claimed action as its kind says: transient ->
    /// [`Ledger::mark_failed`] (backoff), permanent -> [`Ledger::mark_failed_final`], uncertain ->
    /// [`Ledger::mark_uncertain`].
    pub fn mark_failure(
        &self,
        id: i64,
        error: &ActionError,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        match error.kind {
            FailureKind::Transient => self.mark_failed(id, &error.message, now),
            FailureKind::Permanent => self.mark_failed_final(id, &error.message, now),
            FailureKind::Uncertain => self.mark_uncertain(id, &error.message, now),
        }
    }

    /// Record that nobody can tell whether a claimed action happened: `executing` ->
    /// `uncertain` with the error, like an interrupted run. Only a person's `retry` makes it
    /// eligible again.
    pub fn mark_uncertain(&self, id: i64, error: &str, now: Timestamp) -> Result<(), LedgerError> {
        self.end_with_error(id, Ended::Uncertain, error, now)
    }

    /// `executing` -> `ended`, with the error and no further attempt scheduled.
    fn end_with_error(
        &self,
        id: i64,
        ended: Ended,
        error: &str,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        let (status, what) = match ended {
            Ended::Failed => (ActionStatus::Failed, "mark failed"),
            Ended::Uncertain => (ActionStatus::Uncertain, "mark uncertain"),
        };
        self.transition(id, &[ActionStatus::Executing], what, |tx| {
            tx.execute(
                "UPDATE actions SET status = ?4, last_error = ?2, finished_at = ?3, \
                 updated_at = ?3, next_attempt_at = NULL WHERE id = ?1",
                params![id, error, ts(now), status.as_str()],
            )
        })
        .map(|_| ())
    }

    /// Record that a claimed action was not performed because a check at execution time found it
    /// unnecessary or not allowed (already suspended, on hold, …): `executing` -> `cancelled`,
    /// with `who` and the reason, like a cancellation.
    pub fn mark_skipped(
        &self,
        id: i64,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        self.transition(id, &[ActionStatus::Executing], "mark skipped", |tx| {
            tx.execute(
                "UPDATE actions SET status = 'cancelled', rejected_by = ?2, rejected_at = ?3, \
                 rejection_reason = ?4, finished_at = ?3, updated_at = ?3, \
                 next_attempt_at = NULL WHERE id = ?1",
                params![id, who, ts(now), reason],
            )
        })
        .map(|_| ())
    }

    /// At run start (under the run lock): every action left `executing` by a run that died is
    /// now `uncertain` (it may or may not have happened). Returns those actions.
    pub fn recover_interrupted(&self, now: Timestamp) -> Result<Vec<ActionRow>, LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        let stuck = self.actions_where("status = 'executing'", [])?;
        for a in &stuck {
            let claimed = a
                .claimed_at
                .map_or_else(|| "an unknown time".to_string(), |t| t.to_string());
            tx.execute(
                "UPDATE actions SET status = 'uncertain', finished_at = ?2, updated_at = ?2, \
                 last_error = ?3 WHERE id = ?1 AND status = 'executing'",
                params![
                    a.id,
                    ts(now),
                    format!(
                        "interrupted: the run that claimed it at {claimed} ended before recording \
                         the outcome; check whether it happened, then `cspguard retry {}` or \
                         leave it",
                        a.id
                    )
                ],
            )
            .at(&self.path)?;
        }
        let ids: Vec<i64> = stuck.iter().map(|a| a.id).collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(row) = self.action(id)? {
                out.push(row);
            }
        }
        tx.commit().at(&self.path)?;
        Ok(out)
    }

    /// A person approves an action awaiting approval.
    pub fn approve(&self, id: i64, who: &str, now: Timestamp) -> Result<ActionRow, LedgerError> {
        self.transition(id, &[ActionStatus::AwaitingApproval], "approve", |tx| {
            tx.execute(
                "UPDATE actions SET status = 'approved', approved_by = ?2, approved_at = ?3, \
                 updated_at = ?3 WHERE id = ?1",
                params![id, who, ts(now)],
            )
        })
    }

    /// A person rejects an action awaiting (or given) approval: it is cancelled for good.
    pub fn reject(
        &self,
        id: i64,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<ActionRow, LedgerError> {
        let from = (
            &[ActionStatus::AwaitingApproval, ActionStatus::Approved][..],
            "reject",
        );
        self.cancel_from(id, from, (who, reason), now)
    }

    /// After a person has looked at an `uncertain` (or finally `failed`) action: make it
    /// eligible again (-> `approved`, due now), recording who and when.
    pub fn retry(&self, id: i64, who: &str, now: Timestamp) -> Result<ActionRow, LedgerError> {
        self.transition(
            id,
            &[ActionStatus::Uncertain, ActionStatus::Failed],
            "retry",
            |tx| {
                tx.execute(
                    "UPDATE actions SET status = 'approved', retried_by = ?2, retried_at = ?3, \
                     updated_at = ?3, finished_at = NULL, next_attempt_at = NULL WHERE id = ?1",
                    params![id, who, ts(now)],
                )
            },
        )
    }

    /// Cancel an action that has not run (or whose outcome is settled by a person).
    pub fn cancel(
        &self,
        id: i64,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<ActionRow, LedgerError> {
        self.cancel_from(id, (CANCELLABLE, "cancel"), (who, reason), now)
    }

    /// A person's `(who, reason)` cancels action `id` for good, from the `(statuses, verb)` the
    /// command allows.
    fn cancel_from(
        &self,
        id: i64,
        (allowed, verb): (&[ActionStatus], &'static str),
        (who, reason): (&str, &str),
        now: Timestamp,
    ) -> Result<ActionRow, LedgerError> {
        self.transition(id, allowed, verb, |tx| {
            tx.execute(
                "UPDATE actions SET status = 'cancelled', rejected_by = ?2, rejected_at = ?3, \
                 rejection_reason = ?4, finished_at = ?3, updated_at = ?3 WHERE id = ?1",
                params![id, who, ts(now), reason],
            )
        })
    }

    /// Approvals expire: `awaiting_approval` actions created, and `approved` actions approved (or
    /// retried), more than `max_age_days` before `now` become `expired`. Returns them.
    pub fn expire_approvals(
        &self,
        now: Timestamp,
        max_age_days: i64,
    ) -> Result<Vec<ActionRow>, LedgerError> {
        let age = SignedDuration::from_hours(max_age_days.clamp(0, 1_000_000) * 24);
        let cutoff = ts(now.checked_sub(age).unwrap_or(Timestamp::MIN));
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        let cond = "(status = 'awaiting_approval' AND created_at < ?1) OR \
                    (status = 'approved' AND COALESCE(retried_at, approved_at, created_at) < ?1)";
        let due = self.actions_where(cond, params![cutoff])?;
        for a in &due {
            tx.execute(
                "UPDATE actions SET status = 'expired', finished_at = ?2, updated_at = ?2 \
                 WHERE id = ?1",
                params![a.id, ts(now)],
            )
            .at(&self.path)?;
        }
        let mut out = Vec::with_capacity(due.len());
        for a in &due {
            if let Some(row) = self.action(a.id)? {
                out.push(row);
            }
        }
        tx.commit().at(&self.path)?;
        Ok(out)
    }

    /// Check the current status against `allowed`, apply `update`, return the new row; all in
    /// one transaction.
    pub(super) fn transition(
        &self,
        id: i64,
        allowed: &[ActionStatus],
        verb: &'static str,
        update: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<usize>,
    ) -> Result<ActionRow, LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        let row = self
            .action(id)?
            .ok_or_else(|| LedgerError::not_found("action", id))?;
        in_state(row, allowed, verb)?;
        update(&tx).at(&self.path)?;
        let row = self
            .action(id)?
            .ok_or_else(|| LedgerError::not_found("action", id))?;
        tx.commit().at(&self.path)?;
        Ok(row)
    }
}

/// `row` if it is in one of the `allowed` statuses; else `InvalidState` for `verb`.
pub(super) fn in_state(
    row: ActionRow,
    allowed: &[ActionStatus],
    verb: &'static str,
) -> Result<ActionRow, LedgerError> {
    if allowed.contains(&row.status) {
        return Ok(row);
    }
    Err(LedgerError::InvalidState {
        id: row.id,
        key: row.key,
        status: row.status,
        verb,
        allowed: allowed
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("/"),
    })
}

/// The two ends of a claimed action that keep its error for a person to read.
#[derive(Debug, Clone, Copy)]
enum Ended {
    /// Failed for good: only a person's `retry` revives it.
    Failed,
    /// Nobody can tell whether it happened.
    Uncertain,
}
