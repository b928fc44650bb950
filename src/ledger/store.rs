//! The concrete SQLite engine: opening (pragmas, migrations, corruption detection), value
//! encoding, and the small tables (runs, notices, findings, watermarks, spend snapshots,
//! credentials, profile cache). Actions live in `actions.rs`, holds and suspensions in `holds.rs`.
//!
//! Invariants: WAL journal, `synchronous=FULL` (a claim survives power loss, so it is never
//! repeated), a busy timeout, IMMEDIATE transactions; the file is created owner-only (0600)
//! because it holds the refresh token; times are `YYYY-MM-DDTHH:MM:SSZ` text.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};

use super::error::{At, LedgerError};
use super::schema;
use super::types::{
    ActionRow, FindingRow, Hold, NewNotice, NoticeRow, RunRow, SpendSnapshot, Suspension,
};
use super::{ActionStatus, LedgerView};

/// How long a writer waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Credentials row holding the App+User refresh token.
const REFRESH_TOKEN: &str = "app_user_refresh_token";
/// The configured refresh token the stored one descends from: a different configured token is
/// a new consent and replaces the stored one.
const REFRESH_SEED: &str = "app_user_refresh_seed";

/// Bounded retries with exponential backoff for failed actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total (first try included) before an action stays `failed`.
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further failure.
    pub base_backoff: SignedDuration,
    /// Upper bound of the wait.
    pub max_backoff: SignedDuration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_backoff: SignedDuration::from_mins(15),
            max_backoff: SignedDuration::from_hours(24),
        }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts (`attempts >= 1`).
    pub fn backoff(&self, attempts: u32) -> SignedDuration {
        let exp = attempts.saturating_sub(1).min(30);
        let factor = 1i32 << exp;
        self.base_backoff
            .checked_mul(factor)
            .map_or(self.max_backoff, |d| d.min(self.max_backoff))
    }
}

/// The ledger over one SQLite state file.
pub struct Ledger {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    pub(crate) retry: RetryPolicy,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("path", &self.path)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Rows of `runs`, `notices` and `findings` as SQLite returns them, in `SELECT` order.
type RawRun = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
);

type RawNotice = (
    i64,
    Option<String>,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
);

type RawFinding = (
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

impl Ledger {
    /// Open (creating if missing) and migrate the state file at `path`.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        create_private(path);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| LedgerError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ledger::init(conn, path.to_path_buf())
    }

    /// Open an existing state file; `LedgerError::Missing` if there is none (read-only commands
    /// must not create a state file at a mistyped path).
    pub fn open_existing(path: &Path) -> Result<Ledger, LedgerError> {
        if !path.exists() {
            return Err(LedgerError::Missing {
                path: path.to_path_buf(),
            });
        }
        Ledger::open(path)
    }

    /// Open an existing state file for reading only (`status`, `history`, `doctor`): never
    /// creates it (`LedgerError::Missing`), never migrates it (`LedgerError::SchemaOld` for an
    /// older schema) and refuses every write (`PRAGMA query_only`).
    ///
    /// The file is opened read-write when this user may write it, so that closing the last
    /// connection of a WAL database removes the `-wal` and `-shm` files SQLite needs while
    /// reading, and the state directory is left as it was found. A user who may only read the
    /// file gets a read-only connection; SQLite then leaves `-wal` and `-shm` beside the file
    /// (when the directory is writable; otherwise opening fails unless a run holds them open).
    pub fn open_read_only(path: &Path) -> Result<Ledger, LedgerError> {
        if !path.exists() {
            return Err(LedgerError::Missing {
                path: path.to_path_buf(),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| LedgerError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let path = path.to_path_buf();
        conn.busy_timeout(BUSY_TIMEOUT).at(&path)?;
        conn.pragma_update(None, "query_only", "ON").at(&path)?;
        let found = schema::user_version(&conn, &path)?;
        if found != schema::SCHEMA_VERSION {
            return Err(if found > schema::SCHEMA_VERSION {
                LedgerError::SchemaTooNew {
                    found,
                    supported: schema::SCHEMA_VERSION,
                    path,
                }
            } else {
                LedgerError::SchemaOld {
                    found,
                    current: schema::SCHEMA_VERSION,
                    path,
                }
            });
        }
        Ok(Ledger {
            conn,
            path,
            retry: RetryPolicy::default(),
        })
    }

    /// A private in-memory ledger (tests, dry runs).
    pub fn open_in_memory() -> Result<Ledger, LedgerError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| LedgerError::Open {
            path: path.clone(),
            source,
        })?;
        Ledger::init(conn, path)
    }

    fn init(mut conn: Connection, path: PathBuf) -> Result<Ledger, LedgerError> {
        conn.busy_timeout(BUSY_TIMEOUT).at(&path)?;
        conn.set_transaction_behavior(TransactionBehavior::Immediate);
        // Reading the header first detects foreign/corrupt files and newer schemas before we
        // change anything (journal mode included).
        let found = schema::user_version(&conn, &path)?;
        if found > schema::SCHEMA_VERSION {
            return Err(LedgerError::SchemaTooNew {
                found,
                supported: schema::SCHEMA_VERSION,
                path,
            });
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .at(&path)?;
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            return Err(LedgerError::InvalidInput {
                detail: format!(
                    "state database {}: cannot switch to WAL journal mode (got {mode}); put the \
                     state file on a local filesystem",
                    path.display()
                ),
            });
        }
        conn.pragma_update(None, "synchronous", "FULL").at(&path)?;
        conn.pragma_update(None, "foreign_keys", "ON").at(&path)?;
        schema::migrate(&conn, &path)?;
        Ok(Ledger {
            conn,
            path,
            retry: RetryPolicy::default(),
        })
    }

    /// The state file this ledger uses (`:memory:` for in-memory ledgers).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replace the retry policy for failed actions.
    pub fn set_retry_policy(&mut self, policy: RetryPolicy) {
        self.retry = policy;
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, LedgerError> {
        schema::user_version(&self.conn, &self.path)
    }

    // ---- runs -------------------------------------------------------------------------------

    /// Record the start of a run; returns its id.
    pub fn begin_run(&self, mode: &str, now: Timestamp) -> Result<i64, LedgerError> {
        self.conn
            .execute(
                "INSERT INTO runs (mode, started_at) VALUES (?1, ?2)",
                params![mode, ts(now)],
            )
            .at(&self.path)?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Record the end of a run.
    pub fn finish_run(
        &self,
        id: i64,
        outcome: &str,
        counts: &serde_json::Value,
        errors: &[String],
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        let errors = serde_json::Value::from(errors.to_vec()).to_string();
        self.exec_one(
            "UPDATE runs SET finished_at = ?1, outcome = ?2, counts = ?3, errors = ?4 \
             WHERE id = ?5",
            params![ts(now), outcome, counts.to_string(), errors, id],
            ("run", &id.to_string()),
        )
    }

    /// The most recent runs, newest first.
    pub fn recent_runs(&self, limit: u32) -> Result<Vec<RunRow>, LedgerError> {
        let raw: Vec<RawRun> = self.select(
            "SELECT id, mode, started_at, finished_at, outcome, counts, errors FROM runs \
                 ORDER BY id DESC LIMIT ?1",
            params![limit],
        )?;
        raw.into_iter()
            .map(|(id, mode, started, finished, outcome, counts, errors)| {
                Ok(RunRow {
                    id,
                    mode,
                    started_at: self.parse_ts("run start time", &started)?,
                    finished_at: self.parse_opt_ts("run end time", finished)?,
                    outcome,
                    counts: self.parse_json("run counts", &counts)?,
                    errors: serde_json::from_str(&errors)
                        .map_err(|e| self.data("run errors", e))?,
                })
            })
            .collect()
    }

    // ---- notices ----------------------------------------------------------------------------

    /// Record a sent notice for one recipient (a message to several has one row each).
    /// Idempotent on the Message-ID and recipient: recording it again returns the first row
    /// unchanged.
    pub fn record_notice(
        &self,
        n: &NewNotice,
        sent_at: Timestamp,
    ) -> Result<NoticeRow, LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        tx.execute(
            "INSERT INTO notices (customer, recipient, template, locale, message_id, action_key, \
             sent_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (message_id, recipient) DO NOTHING",
            params![
                n.customer,
                n.recipient,
                n.template,
                n.locale,
                n.message_id,
                n.action_key,
                ts(sent_at)
            ],
        )
        .at(&self.path)?;
        let row = self
            .notices_where(
                "message_id = ?1 AND recipient = ?2",
                params![n.message_id, n.recipient],
            )?
            .pop()
            .ok_or_else(|| LedgerError::not_found("notice", &n.message_id))?;
        tx.commit().at(&self.path)?;
        Ok(row)
    }

    /// Notices, optionally for one customer and/or since a time, oldest first.
    pub fn notices(
        &self,
        customer: Option<&str>,
        since: Option<Timestamp>,
    ) -> Result<Vec<NoticeRow>, LedgerError> {
        self.notices_where(
            "(?1 IS NULL OR customer = ?1) AND (?2 IS NULL OR sent_at >= ?2)",
            params![customer, since.map(ts)],
        )
    }

    /// The notice sent for an action key, if any.
    pub fn notice_for_action(&self, action_key: &str) -> Result<Option<NoticeRow>, LedgerError> {
        Ok(self
            .notices_where("action_key = ?1", params![action_key])?
            .pop())
    }

    fn notices_where(
        &self,
        cond: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<NoticeRow>, LedgerError> {
        let sql = format!(
            "SELECT id, customer, recipient, template, locale, message_id, action_key, sent_at \
             FROM notices WHERE {cond} ORDER BY sent_at, id"
        );
        let raw: Vec<RawNotice> = self.select(&sql, p)?;
        raw.into_iter()
            .map(
                |(id, customer, recipient, template, locale, message_id, action_key, sent)| {
                    Ok(NoticeRow {
                        id,
                        customer,
                        recipient,
                        template,
                        locale,
                        message_id,
                        action_key,
                        sent_at: self.parse_ts("notice time", &sent)?,
                    })
                },
            )
            .collect()
    }

    // ---- findings ---------------------------------------------------------------------------

    /// Record that a finding was seen at `now`: created if new (first_seen = now), re-opened if it
    /// was resolved, last_seen updated. Returns the row.
    pub fn upsert_finding(
        &self,
        fingerprint: &str,
        rule: &str,
        customer: Option<&str>,
        severity: &str,
        summary: &str,
        now: Timestamp,
    ) -> Result<FindingRow, LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        tx.execute(
            "INSERT INTO findings (fingerprint, rule, customer, severity, summary, first_seen, \
             last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
             ON CONFLICT (fingerprint) DO UPDATE SET rule = excluded.rule, \
             customer = excluded.customer, severity = excluded.severity, \
             summary = excluded.summary, last_seen = excluded.last_seen, resolved_at = NULL",
            params![fingerprint, rule, customer, severity, summary, ts(now)],
        )
        .at(&self.path)?;
        let row = self
            .finding_row(fingerprint)?
            .ok_or_else(|| LedgerError::not_found("finding", fingerprint))?;
        tx.commit().at(&self.path)?;
        Ok(row)
    }

    /// Record that a finding was notified at `now`.
    pub fn mark_finding_notified(
        &self,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        self.update_finding("last_notified", fingerprint, now)
    }

    /// Mark a finding resolved at `now`.
    pub fn resolve_finding(&self, fingerprint: &str, now: Timestamp) -> Result<(), LedgerError> {
        self.update_finding("resolved_at", fingerprint, now)
    }

    fn update_finding(
        &self,
        column: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        self.exec_one(
            &format!("UPDATE findings SET {column} = ?1 WHERE fingerprint = ?2"),
            params![ts(now), fingerprint],
            ("finding", fingerprint),
        )
    }

    /// Findings that are not resolved, oldest first.
    pub fn open_findings(&self) -> Result<Vec<FindingRow>, LedgerError> {
        self.findings_where("resolved_at IS NULL", [])
    }

    fn finding_row(&self, fingerprint: &str) -> Result<Option<FindingRow>, LedgerError> {
        Ok(self
            .findings_where("fingerprint = ?1", params![fingerprint])?
            .pop())
    }

    fn findings_where(
        &self,
        cond: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<FindingRow>, LedgerError> {
        let sql = format!(
            "SELECT fingerprint, rule, customer, severity, summary, first_seen, last_seen, \
             last_notified, resolved_at FROM findings WHERE {cond} ORDER BY first_seen, fingerprint"
        );
        let raw: Vec<RawFinding> = self.select(&sql, p)?;
        raw.into_iter()
            .map(
                |(
                    fingerprint,
                    rule,
                    customer,
                    severity,
                    summary,
                    first,
                    last,
                    notified,
                    resolved,
                )| {
                    Ok(FindingRow {
                        fingerprint,
                        rule,
                        customer,
                        severity,
                        summary,
                        first_seen: self.parse_ts("finding first_seen", &first)?,
                        last_seen: self.parse_ts("finding last_seen", &last)?,
                        last_notified: self.parse_opt_ts("finding last_notified", notified)?,
                        resolved_at: self.parse_opt_ts("finding resolved_at", resolved)?,
                    })
                },
            )
            .collect()
    }

    // ---- watermarks -------------------------------------------------------------------------

    /// Set a named watermark.
    pub fn set_watermark(
        &self,
        name: &str,
        value: &str,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        self.exec(
            "INSERT INTO watermarks (name, value, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
             updated_at = excluded.updated_at",
            params![name, value, ts(now)],
        )
    }

    // ---- spend snapshots --------------------------------------------------------------------

    /// Record (or replace) a customer's spend for one day.
    pub fn record_spend(
        &self,
        customer: &str,
        date: Date,
        amount: Decimal,
        currency: &str,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        self.exec(
            "INSERT INTO spend_snapshots (customer, day, amount, currency, recorded_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (customer, day) DO UPDATE SET \
             amount = excluded.amount, currency = excluded.currency, \
             recorded_at = excluded.recorded_at",
            params![
                customer,
                date.to_string(),
                amount.to_string(),
                currency,
                ts(now)
            ],
        )
    }

    /// Record many customers' spend for one day in a single transaction (one fsync, not one per
    /// customer): `(customer, amount, currency)`. All or nothing.
    pub fn record_spends(
        &self,
        date: Date,
        rows: &[(String, Decimal, String)],
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO spend_snapshots (customer, day, amount, currency, recorded_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (customer, day) DO UPDATE SET \
                     amount = excluded.amount, currency = excluded.currency, \
                     recorded_at = excluded.recorded_at",
                )
                .at(&self.path)?;
            let day = date.to_string();
            let at = ts(now);
            for (customer, amount, currency) in rows {
                stmt.execute(params![customer, day, amount.to_string(), currency, at])
                    .at(&self.path)?;
            }
        }
        tx.commit().at(&self.path)?;
        Ok(())
    }

    // ---- credentials ------------------------------------------------------------------------

    /// The stored App+User refresh token, if any.
    pub fn load_refresh_token(&self) -> Result<Option<SecretString>, LedgerError> {
        self.load_credential(REFRESH_TOKEN)
    }

    /// The credential stored under `name`, if any.
    fn load_credential(&self, name: &str) -> Result<Option<SecretString>, LedgerError> {
        let value: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM credentials WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .at(&self.path)?;
        Ok(value.map(SecretString::from))
    }

    /// The configured App+User refresh token the stored one descends from (the consent it came
    /// from), if recorded.
    pub fn load_refresh_seed(&self) -> Result<Option<SecretString>, LedgerError> {
        self.load_credential(REFRESH_SEED)
    }

    /// Record the configured refresh token (the consent) the stored token descends from.
    pub fn save_refresh_seed(
        &self,
        seed: &SecretString,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        self.save_credential(REFRESH_SEED, seed, now)
    }

    /// Persist the rotated App+User refresh token (replacing the previous one).
    pub fn save_refresh_token(
        &self,
        token: &SecretString,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        self.save_credential(REFRESH_TOKEN, token, now)
    }

    /// Store (or replace) the credential `name`.
    fn save_credential(
        &self,
        name: &str,
        value: &SecretString,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        self.exec(
            "INSERT INTO credentials (name, value, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
             updated_at = excluded.updated_at",
            params![name, value.expose_secret(), ts(now)],
        )
    }

    // ---- billing profile cache --------------------------------------------------------------

    /// Cache a customer's billing profile fetched at `now`.
    pub fn put_cached_profile(
        &self,
        customer: &str,
        profile: &serde_json::Value,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        self.exec(
            "INSERT INTO profile_cache (customer, profile, fetched_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (customer) DO UPDATE SET profile = excluded.profile, \
             fetched_at = excluded.fetched_at",
            params![customer, profile.to_string(), ts(now)],
        )
    }

    /// Run one statement that returns no rows.
    fn exec(&self, sql: &str, params: impl rusqlite::Params) -> Result<(), LedgerError> {
        self.conn.execute(sql, params).at(&self.path)?;
        Ok(())
    }

    /// Run one statement that must change a row; `NotFound` with `(what, id)` when none matched.
    fn exec_one(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        (what, id): (&'static str, &str),
    ) -> Result<(), LedgerError> {
        let n = self.conn.execute(sql, params).at(&self.path)?;
        if n == 0 {
            return Err(LedgerError::NotFound {
                what,
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// Run one query and read every row as a tuple of its columns, in `SELECT` order.
    ///
    /// The one place rows leave SQLite: callers turn the raw tuples into typed records.
    pub(crate) fn select<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<T>, LedgerError>
    where
        T: for<'r> TryFrom<&'r rusqlite::Row<'r>, Error = rusqlite::Error>,
    {
        let mut stmt = self.conn.prepare(sql).at(&self.path)?;
        stmt.query_map(params, |r| T::try_from(r))
            .at(&self.path)?
            .collect::<Result<Vec<_>, _>>()
            .at(&self.path)
    }

    // ---- decoding helpers -------------------------------------------------------------------

    pub(crate) fn data(&self, what: &str, detail: impl std::fmt::Display) -> LedgerError {
        LedgerError::Data {
            path: self.path.clone(),
            what: what.to_string(),
            detail: detail.to_string(),
        }
    }

    pub(crate) fn parse_ts(&self, what: &str, s: &str) -> Result<Timestamp, LedgerError> {
        Timestamp::from_str(s).map_err(|e| self.data(what, format!("{s:?}: {e}")))
    }

    pub(crate) fn parse_opt_ts(
        &self,
        what: &str,
        s: Option<String>,
    ) -> Result<Option<Timestamp>, LedgerError> {
        s.map(|s| self.parse_ts(what, &s)).transpose()
    }

    pub(crate) fn parse_date(&self, what: &str, s: &str) -> Result<Date, LedgerError> {
        Date::from_str(s).map_err(|e| self.data(what, format!("{s:?}: {e}")))
    }

    pub(crate) fn parse_json(&self, what: &str, s: &str) -> Result<serde_json::Value, LedgerError> {
        serde_json::from_str(s).map_err(|e| self.data(what, e))
    }
}

impl Ledger {
    /// Spend snapshots on or after `since`, for one customer or all, by customer then day.
    fn spend_rows(
        &self,
        customer: Option<&str>,
        since: Date,
    ) -> Result<Vec<SpendSnapshot>, LedgerError> {
        let raw: Vec<(String, String, String, String)> = self.select(
            "SELECT customer, day, amount, currency FROM spend_snapshots \
                 WHERE (?1 IS NULL OR customer = ?1) AND day >= ?2 ORDER BY customer, day",
            params![customer, since.to_string()],
        )?;
        raw.into_iter()
            .map(|(customer, day, amount, currency)| {
                Ok(SpendSnapshot {
                    customer,
                    date: self.parse_date("spend day", &day)?,
                    amount: Decimal::from_str(&amount)
                        .map_err(|e| self.data("spend amount", format!("{amount:?}: {e}")))?,
                    currency,
                })
            })
            .collect()
    }
}

impl LedgerView for Ledger {
    fn action_by_key(&self, key: &str) -> Result<Option<ActionRow>, LedgerError> {
        Ledger::action_by_key(self, key)
    }

    fn actions_for_customer(&self, customer: &str) -> Result<Vec<ActionRow>, LedgerError> {
        self.actions(Some(customer), None)
    }

    fn notices_for_customer(&self, customer: &str) -> Result<Vec<NoticeRow>, LedgerError> {
        self.notices(Some(customer), None)
    }

    fn finding(&self, fingerprint: &str) -> Result<Option<FindingRow>, LedgerError> {
        self.finding_row(fingerprint)
    }

    fn open_findings(&self) -> Result<Vec<FindingRow>, LedgerError> {
        Ledger::open_findings(self)
    }

    fn watermark(&self, name: &str) -> Result<Option<String>, LedgerError> {
        self.conn
            .query_row(
                "SELECT value FROM watermarks WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .at(&self.path)
    }

    fn spend_history(
        &self,
        customer: &str,
        since: Date,
    ) -> Result<Vec<SpendSnapshot>, LedgerError> {
        self.spend_rows(Some(customer), since)
    }

    fn spend_history_all(&self, since: Date) -> Result<Vec<SpendSnapshot>, LedgerError> {
        self.spend_rows(None, since)
    }

    fn actions_in_status(&self, statuses: &[ActionStatus]) -> Result<Vec<ActionRow>, LedgerError> {
        self.actions_with_status(statuses)
    }

    fn actions_changed_since(&self, since: Timestamp) -> Result<Vec<ActionRow>, LedgerError> {
        self.actions(None, Some(since))
    }

    fn customers_with_pending_actions(&self) -> Result<Vec<String>, LedgerError> {
        let pending = self.actions_with_status(&[
            ActionStatus::Planned,
            ActionStatus::AwaitingApproval,
            ActionStatus::Approved,
            ActionStatus::Executing,
            ActionStatus::Uncertain,
        ])?;
        let mut customers: Vec<String> = pending.into_iter().filter_map(|a| a.customer).collect();
        customers.sort();
        customers.dedup();
        Ok(customers)
    }

    fn active_holds(&self, now: Timestamp) -> Result<Vec<Hold>, LedgerError> {
        Ledger::active_holds(self, now)
    }

    fn hold_for(
        &self,
        customer: &str,
        invoice: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<Hold>, LedgerError> {
        Ledger::hold_for(self, customer, invoice, now)
    }

    fn active_silences(&self, now: Timestamp) -> Result<Vec<super::Silence>, LedgerError> {
        self.silences(now, false)
    }

    fn alert_groups(&self) -> Result<Vec<super::GroupState>, LedgerError> {
        self.group_states()
    }

    fn active_suspensions(&self, customer: Option<&str>) -> Result<Vec<Suspension>, LedgerError> {
        Ledger::active_suspensions(self, customer)
    }

    fn get_cached_profile(
        &self,
        customer: &str,
        now: Timestamp,
        ttl: SignedDuration,
    ) -> Result<Option<serde_json::Value>, LedgerError> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT profile, fetched_at FROM profile_cache WHERE customer = ?1",
                params![customer],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .at(&self.path)?;
        let Some((profile, fetched)) = row else {
            return Ok(None);
        };
        let fetched = self.parse_ts("profile fetched_at", &fetched)?;
        if now.duration_since(fetched) > ttl || fetched > now {
            return Ok(None);
        }
        Ok(Some(self.parse_json("cached profile", &profile)?))
    }
}

/// Stored form of a timestamp: RFC 3339 UTC, whole seconds, so text order is time order.
pub(crate) fn ts(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

/// Create the state file owner-only if it does not exist yet (it holds the refresh token).
/// Failures are left for SQLite to report with its own error.
fn create_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
    }
    #[cfg(not(unix))]
    let _ = path;
}
