//! Numbered schema migrations, tracked with `PRAGMA user_version`.
//!
//! Invariants: `MIGRATIONS[i]` upgrades version `i` to `i + 1`; entries are only ever appended,
//! never edited. Each migration runs in its own IMMEDIATE transaction together with the
//! `user_version` bump, so a crash mid-migration leaves the previous version intact and two
//! processes opening the same file cannot both apply it. A version above [`SCHEMA_VERSION`] is
//! refused (`LedgerError::SchemaTooNew`) before anything is changed.

use std::path::Path;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::error::{At, LedgerError};

/// The migrations, in order. Version `n` is the state after applying the first `n`.
pub const MIGRATIONS: &[&str] = &[
    // v1: the initial schema.
    r#"
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        mode        TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        outcome     TEXT,
        counts      TEXT NOT NULL DEFAULT '{}',
        errors      TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE actions (
        id                INTEGER PRIMARY KEY,
        key               TEXT NOT NULL UNIQUE,
        kind              TEXT NOT NULL,
        customer          TEXT,
        payload           TEXT NOT NULL,
        reason            TEXT NOT NULL,
        status            TEXT NOT NULL CHECK (status IN ('planned', 'awaiting_approval',
                              'approved', 'executing', 'done', 'failed', 'uncertain',
                              'cancelled', 'expired')),
        requires_approval INTEGER NOT NULL,
        attempts          INTEGER NOT NULL DEFAULT 0,
        created_at        TEXT NOT NULL,
        updated_at        TEXT NOT NULL,
        claimed_at        TEXT,
        finished_at       TEXT,
        next_attempt_at   TEXT,
        result            TEXT,
        last_error        TEXT,
        approved_by       TEXT,
        approved_at       TEXT,
        rejected_by       TEXT,
        rejected_at       TEXT,
        rejection_reason  TEXT,
        retried_by        TEXT,
        retried_at        TEXT
    );
    CREATE INDEX actions_status ON actions (status);
    CREATE INDEX actions_customer ON actions (customer);
    CREATE TABLE notices (
        id         INTEGER PRIMARY KEY,
        customer   TEXT,
        recipient  TEXT NOT NULL,
        template   TEXT NOT NULL,
        locale     TEXT NOT NULL,
        message_id TEXT NOT NULL UNIQUE,
        action_key TEXT,
        sent_at    TEXT NOT NULL
    );
    CREATE INDEX notices_customer ON notices (customer);
    CREATE TABLE findings (
        fingerprint   TEXT PRIMARY KEY,
        rule          TEXT NOT NULL,
        customer      TEXT,
        severity      TEXT NOT NULL,
        summary       TEXT NOT NULL,
        first_seen    TEXT NOT NULL,
        last_seen     TEXT NOT NULL,
        last_notified TEXT,
        resolved_at   TEXT
    );
    CREATE TABLE watermarks (
        name       TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE spend_snapshots (
        customer    TEXT NOT NULL,
        day         TEXT NOT NULL,
        amount      TEXT NOT NULL,
        currency    TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (customer, day)
    );
    CREATE TABLE holds (
        id          INTEGER PRIMARY KEY,
        customer    TEXT NOT NULL,
        invoice     TEXT,
        reason      TEXT NOT NULL,
        until       TEXT NOT NULL,
        placed_by   TEXT NOT NULL,
        placed_at   TEXT NOT NULL,
        released_by TEXT,
        released_at TEXT
    );
    CREATE INDEX holds_customer ON holds (customer);
    CREATE TABLE suspensions (
        id               INTEGER PRIMARY KEY,
        customer         TEXT NOT NULL,
        subscription     TEXT NOT NULL,
        action_key       TEXT NOT NULL UNIQUE,
        suspended_at     TEXT NOT NULL,
        reason           TEXT NOT NULL,
        reactivated_at   TEXT,
        reactivation_key TEXT
    );
    CREATE UNIQUE INDEX suspensions_active ON suspensions (customer, subscription)
        WHERE reactivated_at IS NULL;
    CREATE TABLE credentials (
        name       TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE profile_cache (
        customer   TEXT PRIMARY KEY,
        profile    TEXT NOT NULL,
        fetched_at TEXT NOT NULL
    );
    "#,
    // 1 -> 2: the last company name seen for each customer, so operator tables name customers.
    r#"
    CREATE TABLE customer_names (
        customer TEXT PRIMARY KEY,
        company  TEXT NOT NULL,
        seen_at  TEXT NOT NULL
    );
    "#,
    // 2 -> 3: alert hygiene (issue 14): silences and the last email of each alert group.
    r#"
    CREATE TABLE silences (
        id         INTEGER PRIMARY KEY,
        matchers   TEXT NOT NULL,
        until      TEXT NOT NULL,
        reason     TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expired_by TEXT,
        expired_at TEXT
    );
    CREATE TABLE alert_groups (
        group_key     TEXT PRIMARY KEY,
        last_notified TEXT NOT NULL,
        last_key      TEXT NOT NULL
    );
    "#,
    // 3 -> 4 (issue 13): one notice row per recipient (to and cc) of a message; the customers and
    // invoices cspguard knows, for validating holds; who settled an uncertain action and why.
    r#"
    CREATE TABLE notices_v2 (
        id         INTEGER PRIMARY KEY,
        customer   TEXT,
        recipient  TEXT NOT NULL,
        template   TEXT NOT NULL,
        locale     TEXT NOT NULL,
        message_id TEXT NOT NULL,
        action_key TEXT,
        sent_at    TEXT NOT NULL,
        UNIQUE (message_id, recipient)
    );
    INSERT INTO notices_v2 (id, customer, recipient, template, locale, message_id, action_key,
        sent_at)
        SELECT id, customer, recipient, template, locale, message_id, action_key, sent_at
        FROM notices;
    DROP TABLE notices;
    ALTER TABLE notices_v2 RENAME TO notices;
    CREATE INDEX notices_customer ON notices (customer);
    CREATE TABLE known_customers (
        id           TEXT PRIMARY KEY,
        company_name TEXT NOT NULL,
        domain       TEXT,
        seen_at      TEXT NOT NULL
    );
    CREATE TABLE known_invoices (
        customer    TEXT NOT NULL,
        invoice     TEXT NOT NULL,
        imported_at TEXT NOT NULL,
        PRIMARY KEY (customer, invoice)
    );
    "#,
    // 4 -> 5 (issue 17): billing reconciliation exports already reconciled (never fetched again)
    // and their totals per customer, currency and product.
    r#"
    CREATE TABLE recon_exports (
        export_key  TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        invoice     TEXT,
        period      TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('reconciled', 'not_reconcilable')),
        reason      TEXT,
        lines       INTEGER NOT NULL,
        bad_lines   INTEGER NOT NULL,
        recorded_at TEXT NOT NULL
    );
    CREATE TABLE recon_totals (
        export_key    TEXT NOT NULL REFERENCES recon_exports (export_key),
        customer      TEXT NOT NULL,
        customer_name TEXT,
        currency      TEXT NOT NULL,
        product       TEXT NOT NULL,
        amount        TEXT NOT NULL,
        lines         INTEGER NOT NULL,
        PRIMARY KEY (export_key, customer, currency, product)
    );
    "#,
    // 5 -> 6 (issue 18): the snapshot cache for warm runs: the customer list (in Partner Center's
    // order) and the compacted activity log, kept between full refreshes, and when they were
    // last read.
    r#"
    CREATE TABLE snapshot_customers (
        id       TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        customer TEXT NOT NULL
    );
    CREATE TABLE snapshot_audit (
        key            TEXT PRIMARY KEY,
        operation_date TEXT NOT NULL,
        seq            INTEGER NOT NULL,
        record         TEXT NOT NULL
    );
    CREATE INDEX snapshot_audit_date ON snapshot_audit (operation_date);
    CREATE TABLE snapshot_state (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    "#,
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The `user_version` of an open database.
pub fn user_version(conn: &Connection, path: &Path) -> Result<i64, LedgerError> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .at(path)
}

/// Bring the database up to `target` (at most [`SCHEMA_VERSION`]). Refuses newer files.
pub fn migrate_to(conn: &Connection, path: &Path, target: i64) -> Result<(), LedgerError> {
    let target = target.clamp(0, SCHEMA_VERSION);
    let found = user_version(conn, path)?;
    if found > SCHEMA_VERSION {
        return Err(LedgerError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
            path: path.to_path_buf(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        if version > target {
            break;
        }
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate).at(path)?;
        // Re-read under the write lock: another process may have migrated meanwhile.
        let current = user_version(&tx, path)?;
        if current >= version {
            continue;
        }
        tx.execute_batch(sql).at(path)?;
        tx.pragma_update(None, "user_version", version).at(path)?;
        tx.commit().at(path)?;
    }
    Ok(())
}

/// Bring the database up to [`SCHEMA_VERSION`].
pub fn migrate(conn: &Connection, path: &Path) -> Result<(), LedgerError> {
    migrate_to(conn, path, SCHEMA_VERSION)
}
