//! The snapshot cache of warm runs (issue 18): the customer list in Partner Center's order, the
//! compacted activity log, and named state (when the list was last read in full, up to when the
//! activity log was read). `crate::warm` decides what goes in; this file only stores it.
//!
//! Invariants: rows are opaque JSON text (the ledger does not know Partner Center's models); a
//! whole-list replacement and a batch of changes are each one transaction, so a crash never leaves
//! half a list; written by every run that reads Partner Center, dry-runs and `plan` included,
//! because it is a copy of Partner Center, not a decision.

use rusqlite::{OptionalExtension as _, params};

use super::error::{At, LedgerError};
use super::store::Ledger;

/// One cached activity-log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedAudit {
    /// The record's identity (its id, or a digest of its content when it has none).
    pub key: String,
    /// `operationDate`, RFC 3339 UTC (sortable as text).
    pub operation_date: String,
    /// The compacted record as JSON.
    pub record: String,
}

impl Ledger {
    /// A named value of the snapshot cache's state.
    pub fn snapshot_state(&self, name: &str) -> Result<Option<String>, LedgerError> {
        self.conn
            .query_row(
                "SELECT value FROM snapshot_state WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .at(&self.path)
    }

    /// Set named values of the snapshot cache's state, in one transaction.
    pub fn set_snapshot_state(&self, values: &[(&str, String)]) -> Result<(), LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        for (name, value) in values {
            tx.execute(
                "INSERT INTO snapshot_state (name, value) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
            .at(&self.path)?;
        }
        tx.commit().at(&self.path)
    }

    /// Each cached customer `(id, JSON)` in list order, handed to `each` one row at a time (so a
    /// caller decoding them never holds the whole list twice).
    pub fn each_cached_customer(
        &self,
        mut each: impl FnMut(&str, &str),
    ) -> Result<(), LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, customer FROM snapshot_customers ORDER BY position")
            .at(&self.path)?;
        let mut rows = stmt.query([]).at(&self.path)?;
        while let Some(row) = rows.next().at(&self.path)? {
            let id: String = row.get(0).at(&self.path)?;
            let json: String = row.get(1).at(&self.path)?;
            each(&id, &json);
        }
        Ok(())
    }

    /// Replace the cached customer list with `customers` (`(id, JSON)` in list order).
    pub fn replace_cached_customers(
        &self,
        customers: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        tx.execute("DELETE FROM snapshot_customers", [])
            .at(&self.path)?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT OR REPLACE INTO snapshot_customers (id, position, customer) \
                     VALUES (?1, ?2, ?3)",
                )
                .at(&self.path)?;
            // Rows are made one at a time by the caller's iterator, never all held at once.
            for (position, (id, json)) in customers.into_iter().enumerate() {
                insert
                    .execute(params![id, position as i64, json])
                    .at(&self.path)?;
            }
        }
        tx.commit().at(&self.path)
    }

    /// Apply changes to the cached list in one transaction: `upserts` replace a customer in
    /// place or append a new one at the end (as Partner Center lists a new customer last);
    /// `removals` drop customers by id.
    pub fn change_cached_customers(
        &self,
        upserts: &[(String, String)],
        removals: &[String],
    ) -> Result<(), LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        for id in removals {
            tx.execute("DELETE FROM snapshot_customers WHERE id = ?1", params![id])
                .at(&self.path)?;
        }
        for (id, json) in upserts {
            tx.execute(
                "INSERT INTO snapshot_customers (id, position, customer) VALUES (?1, \
                 (SELECT COALESCE(MAX(position), -1) + 1 FROM snapshot_customers), ?2) \
                 ON CONFLICT (id) DO UPDATE SET customer = excluded.customer",
                params![id, json],
            )
            .at(&self.path)?;
        }
        tx.commit().at(&self.path)
    }

    /// The cached activity log from `since` (RFC 3339 text) on, in time order (ties in the order
    /// they were first read).
    pub fn each_cached_audit(
        &self,
        since: &str,
        mut each: impl FnMut(&str, &str),
    ) -> Result<(), LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT key, record FROM snapshot_audit \
                 WHERE operation_date >= ?1 ORDER BY operation_date, seq",
            )
            .at(&self.path)?;
        let mut rows = stmt.query(params![since]).at(&self.path)?;
        while let Some(row) = rows.next().at(&self.path)? {
            let key: String = row.get(0).at(&self.path)?;
            let json: String = row.get(1).at(&self.path)?;
            each(&key, &json);
        }
        Ok(())
    }

    /// Add records not cached yet (by key) and drop those before `keep_from`, in one
    /// transaction; with `replace`, the cached log is emptied first.
    pub fn store_cached_audit(
        &self,
        records: impl IntoIterator<Item = CachedAudit>,
        keep_from: &str,
        replace: AuditStore,
    ) -> Result<(), LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        if replace == AuditStore::Replace {
            tx.execute("DELETE FROM snapshot_audit", [])
                .at(&self.path)?;
        }
        tx.execute(
            "DELETE FROM snapshot_audit WHERE operation_date < ?1",
            params![keep_from],
        )
        .at(&self.path)?;
        let next: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM snapshot_audit",
                [],
                |r| r.get(0),
            )
            .at(&self.path)?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT OR IGNORE INTO snapshot_audit (key, operation_date, seq, record) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .at(&self.path)?;
            for (i, r) in records.into_iter().enumerate() {
                insert
                    .execute(params![r.key, r.operation_date, next + i as i64, r.record])
                    .at(&self.path)?;
            }
        }
        tx.commit().at(&self.path)
    }

    /// Forget the cached billing profile of a customer (its billing profile changed).
    pub fn forget_cached_profile(&self, customer: &str) -> Result<(), LedgerError> {
        self.conn
            .execute(
                "DELETE FROM profile_cache WHERE customer = ?1",
                params![customer],
            )
            .at(&self.path)?;
        Ok(())
    }
}

/// Whether [`Ledger::store_cached_audit`] adds to the cached log or replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditStore {
    Add,
    Replace,
}
