//! The ledger: crash-safe state that makes every notice and action happen once.
//!
//! It owns the embedded SQLite state file (`state.path`): runs, the action outbox, notices,
//! findings, watermarks, daily spend snapshots, holds, suspensions cspguard made, the rotated
//! App+User refresh token and the billing-profile cache; plus the run lock beside it.
//!
//! Invariants:
//! - An action is written under its unique idempotency key before anything happens; inserting an
//!   existing key returns the existing row and changes nothing.
//! - Only `planned`/`approved` actions are claimed, one atomic UPDATE moves them to `executing`
//!   (attempts+1). An action left `executing` by a crash becomes `uncertain` at the next run start
//!   and is never executed again automatically: only a person (`cspguard retry`) makes it eligible.
//! - Failed actions are retried with exponential backoff up to `RetryPolicy::max_attempts`, then
//!   stay `failed` and visible.
//! - No clock reads: every time is passed in as `now`. Timestamps are stored as RFC 3339 UTC text
//!   truncated to whole seconds (`YYYY-MM-DDTHH:MM:SSZ`), so text order equals time order; dates as
//!   `YYYY-MM-DD`; money as decimal text.
//! - Data read from disk never panics: unreadable rows give `LedgerError::Data` naming the file.
//! - The refresh token never appears in Debug/Display/logs/errors.
//!
//! Policies read the ledger only through [`LedgerView`]; the concrete engine is [`Ledger`].

mod actions;
pub mod admin;
mod error;
mod holds;
mod lock;
mod msgid;
mod names;
pub mod schema;
mod store;
mod types;

pub use error::LedgerError;
pub use lock::{RunLock, ensure_state_dir};
pub use msgid::message_id_for;
pub use store::{Ledger, RetryPolicy, utc_date};
pub use types::{
    ActionRow, ActionStatus, FindingRow, Hold, NewAction, NewNotice, NoticeRow, RunRow,
    SpendSnapshot, Suspension,
};

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

/// Read-only view of the ledger that policies take. Policies are pure: they read through this
/// trait and never write; another storage engine only has to implement it (and the writer side).
pub trait LedgerView {
    /// The action recorded under `key`, if any.
    fn action_by_key(&self, key: &str) -> Result<Option<ActionRow>, LedgerError>;
    /// Every action for a customer, oldest first.
    fn actions_for_customer(&self, customer: &str) -> Result<Vec<ActionRow>, LedgerError>;
    /// Every notice sent to a customer, oldest first.
    fn notices_for_customer(&self, customer: &str) -> Result<Vec<NoticeRow>, LedgerError>;
    /// A finding by fingerprint.
    fn finding(&self, fingerprint: &str) -> Result<Option<FindingRow>, LedgerError>;
    /// Findings recorded and not resolved.
    fn open_findings(&self) -> Result<Vec<FindingRow>, LedgerError>;
    /// A named watermark (e.g. the last audit record seen).
    fn watermark(&self, name: &str) -> Result<Option<String>, LedgerError>;
    /// Daily spend snapshots of a customer on or after `since`, oldest first.
    fn spend_history(&self, customer: &str, since: Date)
    -> Result<Vec<SpendSnapshot>, LedgerError>;
    /// Daily spend snapshots of every customer on or after `since`, by customer then day (one
    /// read for policies that look at all customers).
    fn spend_history_all(&self, since: Date) -> Result<Vec<SpendSnapshot>, LedgerError>;
    /// Customers with an action that is planned, awaiting approval, approved, executing or
    /// uncertain.
    fn customers_with_pending_actions(&self) -> Result<Vec<String>, LedgerError>;
    /// Actions in any of these statuses, oldest first.
    fn actions_in_status(&self, statuses: &[ActionStatus]) -> Result<Vec<ActionRow>, LedgerError>;
    /// Actions created or changed at or after `since`, oldest first.
    fn actions_changed_since(&self, since: Timestamp) -> Result<Vec<ActionRow>, LedgerError>;
    /// Holds in force at `now`.
    fn active_holds(&self, now: Timestamp) -> Result<Vec<Hold>, LedgerError>;
    /// The hold covering this customer (or this customer's invoice) at `now`, if any.
    fn hold_for(
        &self,
        customer: &str,
        invoice: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<Hold>, LedgerError>;
    /// Suspensions cspguard made that are not reactivated yet (all customers when `None`).
    fn active_suspensions(&self, customer: Option<&str>) -> Result<Vec<Suspension>, LedgerError>;
    /// A cached billing profile no older than `ttl`.
    fn get_cached_profile(
        &self,
        customer: &str,
        now: Timestamp,
        ttl: SignedDuration,
    ) -> Result<Option<serde_json::Value>, LedgerError>;
}
