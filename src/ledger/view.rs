//! The read-only view of the ledger that the pure policies take, and the ledger's calendar day.
//!
//! Owns: [`LedgerView`] and [`utc_date`]. No I/O here: the trait names what a policy may read;
//! the SQLite engine (`store.rs`) implements it, and tests may implement it in memory.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::error::LedgerError;
use super::silences::{GroupState, Silence};
use super::types::{
    ActionRow, ActionStatus, FindingRow, Hold, NoticeRow, SpendSnapshot, Suspension,
};

/// The UTC calendar date of `now` (the day holds and daily spend are stored under).
pub fn utc_date(now: Timestamp) -> Date {
    now.to_zoned(TimeZone::UTC).date()
}

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
    /// Silences in force at `now`, newest first.
    fn active_silences(&self, now: Timestamp) -> Result<Vec<Silence>, LedgerError>;
    /// Every alert group's last email.
    fn alert_groups(&self) -> Result<Vec<GroupState>, LedgerError>;
    /// A cached billing profile no older than `ttl`.
    fn get_cached_profile(
        &self,
        customer: &str,
        now: Timestamp,
        ttl: SignedDuration,
    ) -> Result<Option<serde_json::Value>, LedgerError>;
}
