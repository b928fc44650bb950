//! Holds (a customer or one of its invoices paused, with reason and end date) and the record of
//! subscriptions cspguard suspended itself.
//!
//! Invariants: a hold is in force from when it is placed through its `until` date (inclusive,
//! UTC) unless released; releasing records who and when and never deletes. At most one
//! unreactivated suspension per (customer, subscription); only subscriptions recorded here may be
//! reactivated by cspguard.

use jiff::Timestamp;
use jiff::civil::Date;
use rusqlite::params;

use super::error::{At, LedgerError};
use super::store::{Ledger, ts};
use super::types::{Hold, Suspension};
use super::view::utc_date;

const HOLD_COLS: &str =
    "id, customer, invoice, reason, until, placed_by, placed_at, released_by, released_at";
const SUSPENSION_COLS: &str = "id, customer, subscription, action_key, suspended_at, reason, \
    reactivated_at, reactivation_key";

type RawHold = (
    i64,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

type RawSuspension = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

impl Ledger {
    fn holds_where(&self, cond: &str, p: impl rusqlite::Params) -> Result<Vec<Hold>, LedgerError> {
        let sql = format!("SELECT {HOLD_COLS} FROM holds WHERE {cond} ORDER BY id");
        let raw: Vec<RawHold> = self.select(&sql, p)?;
        raw.into_iter()
            .map(
                |(id, customer, invoice, reason, until, placed_by, placed_at, rel_by, rel_at)| {
                    Ok(Hold {
                        id,
                        customer,
                        invoice,
                        reason,
                        until: self.parse_date("hold until", &until)?,
                        placed_by,
                        placed_at: self.parse_ts("hold placed_at", &placed_at)?,
                        released_by: rel_by,
                        released_at: self.parse_opt_ts("hold released_at", rel_at)?,
                    })
                },
            )
            .collect()
    }

    /// Pause a customer (`invoice` = `None`) or one invoice until `until` (inclusive, UTC).
    /// An existing active hold on the same scope is replaced (new reason/until/who).
    /// An `until` before today is refused.
    pub fn place_hold(
        &self,
        customer: &str,
        invoice: Option<&str>,
        reason: &str,
        until: Date,
        who: &str,
        now: Timestamp,
    ) -> Result<Hold, LedgerError> {
        let today = utc_date(now);
        if until < today {
            return Err(LedgerError::InvalidInput {
                detail: format!(
                    "the hold end date {until} is in the past (today is {today} UTC); give a \
                     date today or later"
                ),
            });
        }
        if customer.trim().is_empty() || reason.trim().is_empty() {
            return Err(LedgerError::InvalidInput {
                detail: "a hold needs a customer id and a reason".to_string(),
            });
        }
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        tx.execute(
            "UPDATE holds SET released_by = ?3, released_at = ?4 WHERE customer = ?1 \
             AND invoice IS ?2 AND released_at IS NULL",
            params![customer, invoice, format!("{who} (replaced)"), ts(now)],
        )
        .at(&self.path)?;
        tx.execute(
            "INSERT INTO holds (customer, invoice, reason, until, placed_by, placed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![customer, invoice, reason, until.to_string(), who, ts(now)],
        )
        .at(&self.path)?;
        let id = tx.last_insert_rowid();
        let hold = self
            .holds_where("id = ?1", params![id])?
            .pop()
            .ok_or_else(|| LedgerError::not_found("hold", id))?;
        tx.commit().at(&self.path)?;
        Ok(hold)
    }

    /// End holds early: with an invoice, that invoice's hold; without, every active hold of the
    /// customer (customer-wide and per-invoice). `NotFound` if nothing was on hold.
    pub fn release_holds(
        &self,
        customer: &str,
        invoice: Option<&str>,
        who: &str,
        now: Timestamp,
    ) -> Result<Vec<Hold>, LedgerError> {
        let today = utc_date(now).to_string();
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        let cond = "customer = ?1 AND (?2 IS NULL OR invoice = ?2) AND released_at IS NULL \
                    AND until >= ?3";
        let active = self.holds_where(cond, params![customer, invoice, today])?;
        if active.is_empty() {
            return Err(LedgerError::NotFound {
                what: "active hold for",
                id: match invoice {
                    Some(inv) => format!("customer {customer} invoice {inv}"),
                    None => format!("customer {customer}"),
                },
            });
        }
        for h in &active {
            tx.execute(
                "UPDATE holds SET released_by = ?2, released_at = ?3 WHERE id = ?1",
                params![h.id, who, ts(now)],
            )
            .at(&self.path)?;
        }
        let mut out = Vec::new();
        for h in &active {
            out.extend(self.holds_where("id = ?1", params![h.id])?);
        }
        tx.commit().at(&self.path)?;
        Ok(out)
    }

    /// Holds in force at `now`.
    pub fn active_holds(&self, now: Timestamp) -> Result<Vec<Hold>, LedgerError> {
        self.holds_where(
            "released_at IS NULL AND until >= ?1",
            params![utc_date(now).to_string()],
        )
    }

    /// The hold covering this customer, or this invoice of it, at `now` (customer-wide first).
    pub fn hold_for(
        &self,
        customer: &str,
        invoice: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<Hold>, LedgerError> {
        let mut holds = self.holds_where(
            "customer = ?1 AND released_at IS NULL AND until >= ?2 \
             AND (invoice IS NULL OR invoice = ?3)",
            params![customer, utc_date(now).to_string(), invoice],
        )?;
        holds.sort_by_key(|h| h.invoice.is_some());
        Ok(holds.into_iter().next())
    }

    // ---- suspensions ------------------------------------------------------------------------

    fn suspensions_where(
        &self,
        cond: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<Suspension>, LedgerError> {
        let sql = format!("SELECT {SUSPENSION_COLS} FROM suspensions WHERE {cond} ORDER BY id");
        let raw: Vec<RawSuspension> = self.select(&sql, p)?;
        raw.into_iter()
            .map(
                |(id, customer, subscription, key, at, reason, re_at, re_key)| {
                    Ok(Suspension {
                        id,
                        customer,
                        subscription,
                        action_key: key,
                        suspended_at: self.parse_ts("suspension time", &at)?,
                        reason,
                        reactivated_at: self.parse_opt_ts("reactivation time", re_at)?,
                        reactivation_key: re_key,
                    })
                },
            )
            .collect()
    }

    /// Record that cspguard suspended a subscription (idempotent on `action_key`). If the
    /// subscription already has an unreactivated suspension by cspguard, that one is returned.
    pub fn record_suspension(
        &self,
        customer: &str,
        subscription: &str,
        action_key: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Suspension, LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        tx.execute(
            "INSERT INTO suspensions (customer, subscription, action_key, suspended_at, reason) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            params![customer, subscription, action_key, ts(now), reason],
        )
        .at(&self.path)?;
        let row = self
            .suspensions_where(
                "action_key = ?3 OR (customer = ?1 AND subscription = ?2 \
                 AND reactivated_at IS NULL)",
                params![customer, subscription, action_key],
            )?
            .pop()
            .ok_or_else(|| LedgerError::not_found("suspension", action_key))?;
        tx.commit().at(&self.path)?;
        Ok(row)
    }

    /// Record that cspguard reactivated a subscription it had suspended. `NotFound` if cspguard
    /// has no active suspension of it (then cspguard must not reactivate it).
    pub fn record_reactivation(
        &self,
        customer: &str,
        subscription: &str,
        reactivation_key: &str,
        now: Timestamp,
    ) -> Result<Suspension, LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        let active = self
            .suspended_by_us(customer, subscription)?
            .ok_or_else(|| LedgerError::NotFound {
                what: "suspension by cspguard of",
                id: format!("customer {customer} subscription {subscription}"),
            })?;
        tx.execute(
            "UPDATE suspensions SET reactivated_at = ?2, reactivation_key = ?3 WHERE id = ?1",
            params![active.id, ts(now), reactivation_key],
        )
        .at(&self.path)?;
        let row = self
            .suspensions_where("id = ?1", params![active.id])?
            .pop()
            .ok_or_else(|| LedgerError::not_found("suspension", active.id))?;
        tx.commit().at(&self.path)?;
        Ok(row)
    }

    /// cspguard's active suspension of this subscription, if any.
    pub fn suspended_by_us(
        &self,
        customer: &str,
        subscription: &str,
    ) -> Result<Option<Suspension>, LedgerError> {
        Ok(self
            .suspensions_where(
                "customer = ?1 AND subscription = ?2 AND reactivated_at IS NULL",
                params![customer, subscription],
            )?
            .pop())
    }

    /// Suspensions by cspguard not reactivated yet (all customers when `None`).
    pub fn active_suspensions(
        &self,
        customer: Option<&str>,
    ) -> Result<Vec<Suspension>, LedgerError> {
        self.suspensions_where(
            "reactivated_at IS NULL AND (?1 IS NULL OR customer = ?1)",
            params![customer],
        )
    }
}
