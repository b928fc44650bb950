//! The last company name seen for each customer (from the run's customer list), so that operator
//! tables (`status`, `history`, `approve`, ...) name customers without calling Partner Center.
//!
//! Invariant: a name is only ever replaced by a newer non-blank one, never deleted; a customer
//! without a recorded name is shown by its tenant id.

use std::collections::BTreeMap;

use jiff::Timestamp;
use rusqlite::params;

use super::error::{At, LedgerError};
use super::store::{Ledger, ts};

impl Ledger {
    /// Record the company names of this run's customer list (tenant id, name); blank names are
    /// skipped. One transaction; rows whose name did not change are left alone.
    pub fn record_customer_names(
        &self,
        names: &[(String, String)],
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO customer_names (customer, company, seen_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (customer) DO UPDATE SET company = excluded.company, \
                     seen_at = excluded.seen_at WHERE company != excluded.company",
                )
                .at(&self.path)?;
            let at = ts(now);
            for (customer, company) in names.iter().filter(|(_, c)| !c.trim().is_empty()) {
                stmt.execute(params![customer.to_ascii_lowercase(), company.trim(), at])
                    .at(&self.path)?;
            }
        }
        tx.commit().at(&self.path)?;
        Ok(())
    }

    /// Every recorded company name, by lower-case tenant id.
    pub fn customer_names(&self) -> Result<BTreeMap<String, String>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT customer, company FROM customer_names")
            .at(&self.path)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .at(&self.path)?;
        rows.collect::<Result<BTreeMap<_, _>, _>>().at(&self.path)
    }
}
