//! The ledger: crash-safe state that makes every notice and action happen once.
//!
//! It owns the embedded SQLite state file (`state.path`): runs, the action outbox, notices,
//! findings, watermarks, daily spend snapshots, holds, suspensions cspguard made, the rotated
//! App+User refresh token, the billing-profile cache, silences and the alert groups' last
//! emails, and the customers and invoices the last run saw (`directory.rs`, for checking the
//! targets of `pause`/`resume`), and the billing reconciliation exports already reconciled
//! (`recon.rs`); plus the run lock beside it.
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
//! Policies read the ledger only through [`LedgerView`] (in `view.rs`, beside the plain data types
//! of `types.rs`: neither does I/O); the concrete engine is [`Ledger`].

mod actions;
pub mod admin;
mod blocked;
mod directory;
mod error;
mod holds;
mod lock;
mod msgid;
mod names;
mod recon;
pub mod schema;
mod settle;
mod silences;
mod snapshot_cache;
mod store;
mod types;
mod view;

pub use actions::{ActionError, FailureKind};
pub use blocked::{Blocked, dunning_blocked, is_dunning_key};
pub use directory::{KnownCustomer, Resolved, resolve_among};
pub use error::LedgerError;
pub use lock::{RunLock, ensure_state_dir};
pub use msgid::{message_id_for, message_id_for_tenant};
pub use recon::{ReconExportRow, ReconTotalRow};
pub use settle::Settlement;
pub use silences::{
    GroupState, MAX_SILENCE_DAYS, MatchLabel, Matcher, NewSilence, Silence, silence_table,
};
pub use snapshot_cache::{AuditStore, CachedAudit};
pub use store::{Ledger, RetryPolicy};
pub use types::{
    ActionRow, ActionStatus, FindingRow, Hold, NewAction, NewNotice, NoticeRow, RunRow,
    SpendSnapshot, Suspension,
};
pub use view::{LedgerView, utc_date};
