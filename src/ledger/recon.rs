//! Billing reconciliation exports already reconciled: one row per export (billed invoice) with
//! its outcome and line counts, and its totals per customer, currency and product, so that a
//! reconciled export is never fetched again and later runs still see its figures.
//!
//! Invariant: an export and its totals are written in one transaction, so an export is either
//! remembered whole or not at all; amounts are stored as decimal text.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};
use rust_decimal::Decimal;

use super::error::{At, LedgerError};
use super::store::{Ledger, ts};

/// A remembered export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconExportRow {
    /// `billed/{invoice id}`.
    pub key: String,
    /// `billed` (only billed exports are final and remembered).
    pub kind: String,
    pub invoice: Option<String>,
    /// `YYYY-MM`.
    pub period: String,
    /// `reconciled` or `not_reconcilable`.
    pub status: String,
    pub reason: Option<String>,
    pub lines: u64,
    pub bad_lines: u64,
}

/// One total of a remembered export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconTotalRow {
    pub customer: String,
    pub customer_name: Option<String>,
    pub currency: String,
    pub product: String,
    pub amount: Decimal,
    pub lines: u64,
}

impl Ledger {
    /// The remembered export under `key` and its totals, if any.
    pub fn recon_export(
        &self,
        key: &str,
    ) -> Result<Option<(ReconExportRow, Vec<ReconTotalRow>)>, LedgerError> {
        let row = self
            .conn
            .query_row(
                "SELECT export_key, kind, invoice, period, status, reason, lines, bad_lines \
                 FROM recon_exports WHERE export_key = ?1",
                params![key],
                |r| {
                    Ok(ReconExportRow {
                        key: r.get(0)?,
                        kind: r.get(1)?,
                        invoice: r.get(2)?,
                        period: r.get(3)?,
                        status: r.get(4)?,
                        reason: r.get(5)?,
                        lines: r.get::<_, i64>(6)?.max(0) as u64,
                        bad_lines: r.get::<_, i64>(7)?.max(0) as u64,
                    })
                },
            )
            .optional()
            .at(&self.path)?;
        let Some(row) = row else { return Ok(None) };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT customer, customer_name, currency, product, amount, lines \
                 FROM recon_totals WHERE export_key = ?1 ORDER BY customer, currency, product",
            )
            .at(&self.path)?;
        let raw = stmt
            .query_map(params![key], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })
            .at(&self.path)?
            .collect::<Result<Vec<_>, _>>()
            .at(&self.path)?;
        let mut totals = Vec::with_capacity(raw.len());
        for (customer, customer_name, currency, product, amount, lines) in raw {
            let amount: Decimal = amount
                .parse()
                .map_err(|e| self.data("recon_totals.amount", format!("{amount:?}: {e}")))?;
            totals.push(ReconTotalRow {
                customer,
                customer_name,
                currency,
                product,
                amount,
                lines: lines.max(0) as u64,
            });
        }
        Ok(Some((row, totals)))
    }

    /// Remember an export and its totals (one transaction; an existing key is left unchanged).
    pub fn put_recon_export(
        &self,
        row: &ReconExportRow,
        totals: &[ReconTotalRow],
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO recon_exports (export_key, kind, invoice, period, status, \
                 reason, lines, bad_lines, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    row.key,
                    row.kind,
                    row.invoice,
                    row.period,
                    row.status,
                    row.reason,
                    i64::try_from(row.lines).unwrap_or(i64::MAX),
                    i64::try_from(row.bad_lines).unwrap_or(i64::MAX),
                    ts(now)
                ],
            )
            .at(&self.path)?;
        if inserted == 1 {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO recon_totals (export_key, customer, customer_name, currency, \
                     product, amount, lines) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .at(&self.path)?;
            for t in totals {
                stmt.execute(params![
                    row.key,
                    t.customer,
                    t.customer_name,
                    t.currency,
                    t.product,
                    t.amount.to_string(),
                    i64::try_from(t.lines).unwrap_or(i64::MAX)
                ])
                .at(&self.path)?;
            }
        }
        tx.commit().at(&self.path)?;
        Ok(())
    }
}
