//! What cspguard knows of the partner's tenant, for checking what a person types: the customers
//! of the last run that read the customer list (id, company name, primary domain) and the
//! invoices of the last receivables import. `pause` and `resume` resolve their target here.
//!
//! Invariants: each list is replaced whole by the run that read it, never merged, so a customer
//! or invoice that left the tenant or the export stops being accepted; a target resolves only to
//! exactly one customer (by id, then full company name, then domain, then part of the company
//! name, all case-insensitive), otherwise the candidates are named and nothing is changed.

use jiff::Timestamp;
use rusqlite::params;
use serde::Serialize;

use super::error::{At, LedgerError};
use super::store::{Ledger, ts};

/// A customer as the last run saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownCustomer {
    /// The customer's tenant id.
    pub id: String,
    pub company_name: String,
    /// Primary domain, when Partner Center gave one.
    pub domain: Option<String>,
}

/// How a typed target resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub customer: KnownCustomer,
    /// What matched: `id`, `company name` or `domain`.
    pub by: &'static str,
}

/// At most this many candidates are named when a target is unknown or ambiguous.
const MAX_CANDIDATES: usize = 8;

impl Ledger {
    /// Replace the known customers with the tenant's list a run just read.
    pub fn record_known_customers<C: std::borrow::Borrow<KnownCustomer>>(
        &self,
        customers: impl IntoIterator<Item = C>,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        tx.execute("DELETE FROM known_customers", [])
            .at(&self.path)?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT OR REPLACE INTO known_customers (id, company_name, domain, seen_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .at(&self.path)?;
            // Rows come one at a time from the caller's iterator (50,000 customers are never
            // copied into a list first).
            for c in customers {
                let c = c.borrow();
                insert
                    .execute(params![c.id, c.company_name, c.domain, ts(now)])
                    .at(&self.path)?;
            }
        }
        tx.commit().at(&self.path)
    }

    /// Replace the known invoices with those of the receivables import a run just matched
    /// (`(customer id, invoice)` pairs).
    pub fn record_known_invoices(
        &self,
        invoices: &[(String, String)],
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        tx.execute("DELETE FROM known_invoices", [])
            .at(&self.path)?;
        for (customer, invoice) in invoices {
            tx.execute(
                "INSERT OR REPLACE INTO known_invoices (customer, invoice, imported_at) \
                 VALUES (?1, ?2, ?3)",
                params![customer, invoice, ts(now)],
            )
            .at(&self.path)?;
        }
        tx.commit().at(&self.path)
    }

    /// The customers of the last run that read the customer list, by company name.
    pub fn known_customers(&self) -> Result<Vec<KnownCustomer>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, company_name, domain FROM known_customers \
                 ORDER BY company_name COLLATE NOCASE, id",
            )
            .at(&self.path)?;
        stmt.query_map([], |r| {
            Ok(KnownCustomer {
                id: r.get(0)?,
                company_name: r.get(1)?,
                domain: r.get(2)?,
            })
        })
        .at(&self.path)?
        .collect::<Result<Vec<_>, _>>()
        .at(&self.path)
    }

    /// The invoices of `customer` in the last receivables import.
    pub fn known_invoices(&self, customer: &str) -> Result<Vec<String>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT invoice FROM known_invoices WHERE customer = ?1 COLLATE NOCASE \
                 ORDER BY invoice",
            )
            .at(&self.path)?;
        stmt.query_map(params![customer], |r| r.get(0))
            .at(&self.path)?
            .collect::<Result<Vec<String>, _>>()
            .at(&self.path)
    }

    /// Resolve what a person typed (tenant id, company name or primary domain) to exactly one
    /// known customer; unknown or ambiguous targets are refused with the candidates.
    pub fn resolve_customer(&self, target: &str) -> Result<Resolved, LedgerError> {
        let known = self.known_customers()?;
        resolve_among(&known, target)
    }

    /// Check that `invoice` is one of `customer`'s in the last receivables import; the exact
    /// spelling of the import on success.
    pub fn resolve_invoice(
        &self,
        customer: &KnownCustomer,
        invoice: &str,
    ) -> Result<String, LedgerError> {
        let known = self.known_invoices(&customer.id)?;
        if let Some(hit) = known
            .iter()
            .find(|i| i.eq_ignore_ascii_case(invoice.trim()))
        {
            return Ok(hit.clone());
        }
        let listed = if known.is_empty() {
            "the last receivables import has no invoice for it".to_owned()
        } else {
            format!(
                "its invoices in the last receivables import: {}",
                list(&known)
            )
        };
        Err(LedgerError::InvalidInput {
            detail: format!(
                "invoice {invoice:?} is not an invoice of {} ({}) in the last receivables \
                 import; {listed}. Nothing was changed",
                customer.company_name, customer.id
            ),
        })
    }
}

/// [`Ledger::resolve_customer`] over a list.
pub fn resolve_among(known: &[KnownCustomer], target: &str) -> Result<Resolved, LedgerError> {
    let t = target.trim();
    if known.is_empty() {
        return Err(LedgerError::InvalidInput {
            detail: format!(
                "cannot check {t:?}: cspguard knows no customers yet. Run `cspguard run \
                 --dry-run` once (it reads the customer list and the receivables without \
                 sending anything), then try again. Nothing was changed"
            ),
        });
    }
    let by = |what: &'static str, f: &dyn Fn(&KnownCustomer) -> bool| {
        let hits: Vec<&KnownCustomer> = known.iter().filter(|c| f(c)).collect();
        (what, hits)
    };
    for (what, hits) in [
        by("id", &|c| c.id.eq_ignore_ascii_case(t)),
        by("company name", &|c| {
            c.company_name.trim().eq_ignore_ascii_case(t)
        }),
        by("domain", &|c| {
            c.domain
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case(t))
        }),
    ] {
        match hits.as_slice() {
            [] => continue,
            [one] => {
                return Ok(Resolved {
                    customer: (*one).clone(),
                    by: what,
                });
            }
            many => {
                return Err(LedgerError::InvalidInput {
                    detail: format!(
                        "{t:?} is the {what} of {} customers: {}. Give the customer id. Nothing \
                         was changed",
                        many.len(),
                        candidates(many.iter().copied())
                    ),
                });
            }
        }
    }
    let lower = t.to_ascii_lowercase();
    let partial: Vec<&KnownCustomer> = known
        .iter()
        .filter(|c| !lower.is_empty() && c.company_name.to_ascii_lowercase().contains(&lower))
        .collect();
    match partial.as_slice() {
        [one] => {
            return Ok(Resolved {
                customer: (*one).clone(),
                by: "part of the company name",
            });
        }
        [] => {}
        many => {
            return Err(LedgerError::InvalidInput {
                detail: format!(
                    "{t:?} is part of the company name of {} customers: {}. Give the customer \
                     id, the full company name or the domain. Nothing was changed",
                    many.len(),
                    candidates(many.iter().copied())
                ),
            });
        }
    }
    let near: Vec<&KnownCustomer> = known
        .iter()
        .filter(|c| {
            !lower.is_empty()
                && (c.id.to_ascii_lowercase().starts_with(&lower)
                    || c.domain
                        .as_deref()
                        .is_some_and(|d| d.to_ascii_lowercase().contains(&lower)))
        })
        .collect();
    let hint = if near.is_empty() {
        format!(
            "no customer's id, company name or domain is like it ({} known; `cspguard status` \
             and the digest name them)",
            known.len()
        )
    } else {
        format!("did you mean: {}", candidates(near.into_iter()))
    };
    Err(LedgerError::InvalidInput {
        detail: format!(
            "{t:?} is not a customer cspguard knows (by id, company name or primary domain); \
             {hint}. Nothing was changed"
        ),
    })
}

fn candidates<'a>(cs: impl Iterator<Item = &'a KnownCustomer>) -> String {
    let all: Vec<String> = cs
        .map(|c| match &c.domain {
            Some(d) => format!("{} ({}, {d})", c.company_name, c.id),
            None => format!("{} ({})", c.company_name, c.id),
        })
        .collect();
    list(&all)
}

fn list(items: &[String]) -> String {
    let mut out = items
        .iter()
        .take(MAX_CANDIDATES)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > MAX_CANDIDATES {
        out.push_str(&format!("; and {} more", items.len() - MAX_CANDIDATES));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, name: &str, domain: &str) -> KnownCustomer {
        KnownCustomer {
            id: id.into(),
            company_name: name.into(),
            domain: Some(domain.into()),
        }
    }

    #[test]
    fn names_and_domains_resolve_only_when_unique() {
        let known = [
            c("id-1", "Contoso", "contoso.example"),
            c("id-2", "Contoso Pharmaceuticals", "contosopharma.example"),
            c("id-3", "Twin", "twin-a.example"),
            c("id-4", "twin", "twin-b.example"),
        ];
        let r = resolve_among(&known, " contoso ").unwrap();
        assert_eq!((r.customer.id.as_str(), r.by), ("id-1", "company name"));
        let r = resolve_among(&known, "CONTOSOPHARMA.example").unwrap();
        assert_eq!((r.customer.id.as_str(), r.by), ("id-2", "domain"));
        assert_eq!(resolve_among(&known, "ID-3").unwrap().by, "id");
        let e = resolve_among(&known, "Twin").unwrap_err().to_string();
        assert!(e.contains("id-3") && e.contains("id-4"), "{e}");
        let e = resolve_among(&known, "Contos").unwrap_err().to_string();
        assert!(e.contains("id-1") && e.contains("id-2"), "{e}");
        let r = resolve_among(&known, "pharma").unwrap();
        assert_eq!(
            (r.customer.id.as_str(), r.by),
            ("id-2", "part of the company name")
        );
        let e = resolve_among(&known, "twin-").unwrap_err().to_string();
        assert!(e.contains("did you mean") && e.contains("id-3"), "{e}");
        let e = resolve_among(&known, "not-a-customer")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a customer cspguard knows"), "{e}");
        assert!(resolve_among(&[], "x").is_err());
    }
}
