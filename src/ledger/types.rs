//! Plain data types the ledger stores and returns. They hold no connections and do no I/O.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::Serialize;

/// Where an action is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// Written, will run when due.
    Planned,
    /// Destructive: waits for a person (`cspguard approve`).
    AwaitingApproval,
    /// A person approved it (or asked to retry it); will run when due.
    Approved,
    /// Claimed by a run; the outcome is not recorded yet.
    Executing,
    /// Performed; the result is recorded.
    Done,
    /// Failed and out of automatic retries.
    Failed,
    /// A run died while executing it: it may or may not have happened. Never repeated
    /// automatically.
    Uncertain,
    /// Rejected by a person or cancelled.
    Cancelled,
    /// Waited for approval (or ran) too long after approval.
    Expired,
}

impl ActionStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [ActionStatus; 9] = [
        ActionStatus::Planned,
        ActionStatus::AwaitingApproval,
        ActionStatus::Approved,
        ActionStatus::Executing,
        ActionStatus::Done,
        ActionStatus::Failed,
        ActionStatus::Uncertain,
        ActionStatus::Cancelled,
        ActionStatus::Expired,
    ];

    /// The stored (and displayed) name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Planned => "planned",
            ActionStatus::AwaitingApproval => "awaiting_approval",
            ActionStatus::Approved => "approved",
            ActionStatus::Executing => "executing",
            ActionStatus::Done => "done",
            ActionStatus::Failed => "failed",
            ActionStatus::Uncertain => "uncertain",
            ActionStatus::Cancelled => "cancelled",
            ActionStatus::Expired => "expired",
        }
    }
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ActionStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown action status {s:?}"))
    }
}

/// An action to be written to the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAction {
    /// Idempotency key: the same intent always has the same key.
    pub key: String,
    /// What to do (e.g. `email`, `suspend`).
    pub kind: String,
    /// The customer it concerns, if any.
    pub customer: Option<String>,
    /// Everything the executor needs.
    pub payload: serde_json::Value,
    /// Destructive actions wait for approval.
    pub requires_approval: bool,
    /// Why (shown to people).
    pub reason: String,
}

/// An action as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRow {
    pub id: i64,
    pub key: String,
    pub kind: String,
    pub customer: Option<String>,
    pub status: ActionStatus,
    pub attempts: u32,
    pub payload: serde_json::Value,
    pub reason: String,
    pub requires_approval: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the last claim happened.
    pub claimed_at: Option<Timestamp>,
    /// When it reached done/failed/cancelled/expired/uncertain.
    pub finished_at: Option<Timestamp>,
    /// Earliest time of the next attempt (after a failure).
    pub next_attempt_at: Option<Timestamp>,
    /// Result recorded by `mark_done`.
    pub result: Option<serde_json::Value>,
    /// The last error (failure, interruption).
    pub last_error: Option<String>,
    pub approved_by: Option<String>,
    pub approved_at: Option<Timestamp>,
    pub rejected_by: Option<String>,
    pub rejected_at: Option<Timestamp>,
    pub rejection_reason: Option<String>,
    /// Who made an uncertain/failed action eligible again, and when.
    pub retried_by: Option<String>,
    pub retried_at: Option<Timestamp>,
}

/// A run as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub mode: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// `None` while running (or if the run died).
    pub outcome: Option<String>,
    pub counts: serde_json::Value,
    pub errors: Vec<String>,
}

/// A notice to record as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotice {
    pub customer: Option<String>,
    pub recipient: String,
    pub template: String,
    pub locale: String,
    pub message_id: String,
    pub action_key: Option<String>,
}

/// A notice as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoticeRow {
    pub id: i64,
    pub customer: Option<String>,
    pub recipient: String,
    pub template: String,
    pub locale: String,
    pub message_id: String,
    pub action_key: Option<String>,
    pub sent_at: Timestamp,
}

/// A finding as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingRow {
    pub fingerprint: String,
    pub rule: String,
    pub customer: Option<String>,
    pub severity: String,
    pub summary: String,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub last_notified: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
}

/// One customer's spend on one day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpendSnapshot {
    pub customer: String,
    pub date: Date,
    pub amount: Decimal,
    pub currency: String,
}

/// A pause of dunning/enforcement for a customer or one of its invoices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hold {
    pub id: i64,
    pub customer: String,
    /// `None`: the whole customer.
    pub invoice: Option<String>,
    pub reason: String,
    /// Last day (UTC) the hold is in force.
    pub until: Date,
    pub placed_by: String,
    pub placed_at: Timestamp,
    pub released_by: Option<String>,
    pub released_at: Option<Timestamp>,
}

/// A subscription that cspguard suspended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suspension {
    pub id: i64,
    pub customer: String,
    pub subscription: String,
    pub action_key: String,
    pub suspended_at: Timestamp,
    pub reason: String,
    pub reactivated_at: Option<Timestamp>,
    pub reactivation_key: Option<String>,
}
