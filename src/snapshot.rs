//! The snapshot: everything cspguard saw in Partner Center during one collection, and its
//! rendering for `cspguard snapshot` (table or JSON).
//!
//! Architecture invariant: a part of the snapshot is either data, "not checked" with the reason
//! (e.g. App+User credentials not configured), or "failed" with the error. Nothing is silently
//! missing, so policies and the digest can tell "no fraud events" from "fraud events not read".

use std::collections::BTreeMap;
use std::fmt::Write as _;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use jiff::Timestamp;
use serde::Serialize;

use crate::graph::alerts::PartnerSecurityAlert;
use crate::money;
use crate::pc::CallStats;
use crate::pc::models::{
    AuditRecord, Customer, CustomerBillingProfile, CustomerMonthlyUsageRecord, FraudEvent, Invoice,
    InvoiceSummary, SpendingBudget, Subscription,
};

/// One part of a snapshot.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Section<T> {
    /// Collected.
    Ok { data: T },
    /// Deliberately not read, with the reason (shown as "not checked" in reports).
    NotChecked { reason: String },
    /// Reading it failed; the error says why and what to do.
    Failed { error: String },
}

impl<T> Section<T> {
    /// The data, if collected.
    pub fn data(&self) -> Option<&T> {
        match self {
            Section::Ok { data } => Some(data),
            _ => None,
        }
    }

    /// True when reading failed (not when it was deliberately skipped).
    pub fn is_failed(&self) -> bool {
        matches!(self, Section::Failed { .. })
    }

    fn status_line(&self, what: impl FnOnce(&T) -> String) -> String {
        match self {
            Section::Ok { data } => what(data),
            Section::NotChecked { reason } => format!("not checked: {reason}"),
            Section::Failed { error } => format!("FAILED: {error}"),
        }
    }
}

/// Per-customer detail, fetched only for customers that need it.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerDetail {
    pub billing_profile: Section<CustomerBillingProfile>,
    pub subscriptions: Section<Vec<Subscription>>,
    pub budget: Section<SpendingBudget>,
}

/// Everything collected in one pass.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub collected_at: Timestamp,
    pub customers: Section<Vec<Customer>>,
    /// Month-to-date usage against budget for every customer (one App+User call).
    pub usage: Section<Vec<CustomerMonthlyUsageRecord>>,
    pub audit_records: Section<Vec<AuditRecord>>,
    pub fraud_events: Section<Vec<FraudEvent>>,
    /// Microsoft Graph partner security alerts: the app-only fraud source beside
    /// `fraud_events` (read by its own collection step, `fraud_alerts`).
    pub security_alerts: Section<Vec<PartnerSecurityAlert>>,
    pub invoice_summary: Section<InvoiceSummary>,
    pub invoices: Section<Vec<Invoice>>,
    /// Detail per customer id, for the customers that were asked for.
    pub details: BTreeMap<String, CustomerDetail>,
    /// Partner Center calls made to collect this snapshot.
    pub calls: CallStats,
    /// Case-insensitive customer-id index, built on first use (not serialized).
    #[serde(skip)]
    pub index: CustomerIndex,
}

/// A lazily built index of `customers`: their positions sorted by id, compared
/// case-insensitively. It copies no id (a map keyed by lower-cased ids cost ~5 MB at 50,000
/// customers, issue 18).
///
/// Invariant: a lookup through the index is verified against the customer it points at, and a
/// stale or missing entry falls back to a scan, so replacing `customers` can never yield a wrong
/// answer, only a slower one. Among ids equal but for case, the first in list order wins, as a
/// scan would find it.
#[derive(Debug, Clone, Default)]
pub struct CustomerIndex(std::sync::OnceLock<Vec<u32>>);

/// Compare two ids as ASCII case-insensitive text.
fn cmp_id(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

impl Snapshot {
    /// The customer with this tenant id (case-insensitive), in O(log n) after the first call.
    pub fn customer(&self, id: &str) -> Option<&crate::pc::models::Customer> {
        let customers = self.customers.data()?;
        let sorted = self.index.0.get_or_init(|| {
            let mut positions: Vec<u32> = (0..customers.len())
                .filter_map(|i| u32::try_from(i).ok())
                .collect();
            // Stable: equal ids keep list order, so the first one is found first.
            positions
                .sort_by(|&a, &b| cmp_id(&customers[a as usize].id, &customers[b as usize].id));
            positions
        });
        let at = sorted.partition_point(|&i| {
            customers
                .get(i as usize)
                .is_some_and(|c| cmp_id(&c.id, id).is_lt())
        });
        match sorted.get(at).and_then(|&i| customers.get(i as usize)) {
            Some(c) if c.id.eq_ignore_ascii_case(id) => Some(c),
            _ => customers.iter().find(|c| c.id.eq_ignore_ascii_case(id)),
        }
    }

    /// Put `customers` in place of the customer list (returning the old one) and forget the
    /// index built over the old list, so lookups stay O(log n).
    pub fn replace_customers(
        &mut self,
        customers: Section<Vec<Customer>>,
    ) -> Section<Vec<Customer>> {
        self.index = CustomerIndex::default();
        std::mem::replace(&mut self.customers, customers)
    }

    /// The detail collected for a customer (tenant id compared case-insensitively), if it was
    /// asked for.
    pub fn detail(&self, id: &str) -> Option<&CustomerDetail> {
        self.details
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(id))
            .map(|(_, d)| d)
    }

    /// The company name Partner Center knows for a customer.
    pub fn company_name(&self, id: &str) -> Option<&str> {
        self.customer(id).and_then(|c| c.company_name())
    }

    /// True when any part failed (the run is then "degraded", exit code 3).
    pub fn has_failures(&self) -> bool {
        self.customers.is_failed()
            || self.usage.is_failed()
            || self.audit_records.is_failed()
            || self.fraud_events.is_failed()
            || self.security_alerts.is_failed()
            || self.invoice_summary.is_failed()
            || self.invoices.is_failed()
            || self.details.values().any(|d| {
                d.billing_profile.is_failed() || d.subscriptions.is_failed() || d.budget.is_failed()
            })
    }

    /// One line per part that failed (`part: error`), for the run's errors.
    pub fn failures(&self) -> Vec<String> {
        fn line<T>(out: &mut Vec<String>, part: &str, s: &Section<T>) {
            if let Section::Failed { error } = s {
                out.push(format!("{part}: {error}"));
            }
        }
        let mut out = Vec::new();
        line(&mut out, "customers", &self.customers);
        line(&mut out, "usage", &self.usage);
        line(&mut out, "audit records", &self.audit_records);
        line(&mut out, "fraud events", &self.fraud_events);
        line(&mut out, "Graph security alerts", &self.security_alerts);
        line(&mut out, "invoice summary", &self.invoice_summary);
        line(&mut out, "invoices", &self.invoices);
        for (customer, d) in &self.details {
            line(
                &mut out,
                &format!("{customer} billing profile"),
                &d.billing_profile,
            );
            line(
                &mut out,
                &format!("{customer} subscriptions"),
                &d.subscriptions,
            );
            line(&mut out, &format!("{customer} budget"), &d.budget);
        }
        out
    }

    /// The exit code this snapshot deserves: failed when not even the customer list could be
    /// read (nothing useful was collected), degraded when some part failed, ok otherwise.
    pub fn exit(&self) -> crate::exit::Exit {
        if self.customers.is_failed() {
            crate::exit::Exit::Failed
        } else if self.has_failures() {
            crate::exit::Exit::Degraded
        } else {
            crate::exit::Exit::Ok
        }
    }

    /// Render as pretty JSON.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// Render as human-readable tables.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Snapshot collected at {}", self.collected_at);
        let _ = writeln!(out);
        self.customers_table(&mut out);
        self.usage_table(&mut out);
        self.audit_table(&mut out);
        self.fraud_table(&mut out);
        self.alerts_table(&mut out);
        let _ = writeln!(
            out,
            "\nBalance owed to Microsoft: {}",
            self.invoice_summary.status_line(|s| format!(
                "{} {}",
                s.balance_amount
                    .map(|b| b.to_string())
                    .unwrap_or_else(|| "?".into()),
                s.currency_code.clone().unwrap_or_default()
            ))
        );
        let _ = writeln!(
            out,
            "Microsoft invoices: {}",
            self.invoices.status_line(|i| i.len().to_string())
        );
        for (id, d) in &self.details {
            self.detail_lines(id, d, &mut out);
        }
        self.calls_table(&mut out);
        out
    }

    fn customers_table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "Customers: {}",
            self.customers.status_line(|c| c.len().to_string())
        );
        let Some(customers) = self.customers.data() else {
            return;
        };
        let mut t = table(&["Customer id", "Company", "Domain", "Relationship"]);
        for c in customers {
            t.add_row(vec![
                c.id.clone(),
                c.company_name().unwrap_or_default().to_owned(),
                c.company_profile
                    .as_ref()
                    .and_then(|p| p.domain.clone())
                    .unwrap_or_default(),
                c.relationship_to_partner.clone().unwrap_or_default(),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }

    fn usage_table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\nUsage this month: {}",
            self.usage.status_line(|u| format!("{} customers", u.len()))
        );
        let Some(usage) = self.usage.data() else {
            return;
        };
        let mut t = table(&["Customer", "Budget", "Spend (est.)", "% used", "Currency"]);
        for u in usage {
            let currency = u
                .currency_code
                .clone()
                .or_else(|| u.currency_locale.clone())
                .unwrap_or_default();
            t.add_row(vec![
                u.customer_name().unwrap_or_default().to_owned(),
                u.budget_amount()
                    .map_or_else(|| "none".to_owned(), |b| b.to_string()),
                u.total_cost
                    .map(|c| money::round(c, &currency).to_string())
                    .unwrap_or_default(),
                u.percent_used
                    .map(|p| p.round_dp(1).to_string())
                    .unwrap_or_default(),
                currency,
            ]);
        }
        let _ = writeln!(out, "{t}");
    }

    fn audit_table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\nAudit records: {}",
            self.audit_records.status_line(|a| a.len().to_string())
        );
        let Some(records) = self.audit_records.data() else {
            return;
        };
        let mut t = table(&["When (UTC)", "Operation", "Status", "Customer", "By"]);
        for r in records {
            t.add_row(vec![
                r.operation_date.strftime("%Y-%m-%d %H:%M").to_string(),
                r.operation_type.to_string(),
                r.operation_status
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                r.customer_name
                    .clone()
                    .or_else(|| r.customer_id.clone())
                    .unwrap_or_default(),
                r.user_principal_name.clone(),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }

    fn alerts_table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\nGraph security alerts: {}",
            self.security_alerts.status_line(|a| a.len().to_string())
        );
        let Some(alerts) = self.security_alerts.data() else {
            return;
        };
        let mut t = table(&["Status", "Customer", "Subscription", "Alert", "Last seen"]);
        for a in alerts {
            let customer = a.customer_tenant_id.as_deref().unwrap_or_default();
            t.add_row(vec![
                a.status.as_ref().map(|s| s.to_string()).unwrap_or_default(),
                self.company_name(customer).unwrap_or(customer).to_owned(),
                a.subscription_id.clone().unwrap_or_default(),
                format!(
                    "{}{}",
                    if a.is_test() { "TEST " } else { "" },
                    a.alert_type.clone().unwrap_or_default()
                ),
                a.last_observed_date_time
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }

    fn fraud_table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\nFraud events: {}",
            self.fraud_events.status_line(|f| f.len().to_string())
        );
        let Some(events) = self.fraud_events.data() else {
            return;
        };
        let mut t = table(&["Status", "Customer", "Subscription", "Event", "Last seen"]);
        for e in events {
            t.add_row(vec![
                e.event_status
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                e.customer_friendly_name.clone().unwrap_or_default(),
                e.subscription_id.clone().unwrap_or_default(),
                e.event_type
                    .clone()
                    .or_else(|| e.service_name.clone())
                    .unwrap_or_default(),
                e.last_occurrence.map(|t| t.to_string()).unwrap_or_default(),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }

    fn detail_lines(&self, id: &str, d: &CustomerDetail, out: &mut String) {
        let name = self.company_name(id).unwrap_or("");
        let _ = writeln!(out, "\nCustomer {id} {name}");
        let _ = writeln!(
            out,
            "  billing contact: {}",
            d.billing_profile.status_line(|p| format!(
                "{} (culture {}, language {})",
                p.email().unwrap_or("no email"),
                p.culture().unwrap_or("-"),
                p.language().unwrap_or("-")
            ))
        );
        let _ = writeln!(
            out,
            "  spending budget: {}",
            d.budget.status_line(|b| b
                .amount
                .map_or_else(|| "none".to_owned(), |a| a.to_string()))
        );
        let _ = writeln!(
            out,
            "  subscriptions: {}",
            d.subscriptions.status_line(|s| s.len().to_string())
        );
        let Some(subs) = d.subscriptions.data() else {
            return;
        };
        let mut t = table(&["Subscription", "Offer", "Status", "Billing", "Qty"]);
        for s in subs {
            t.add_row(vec![
                s.id.clone(),
                s.offer_name
                    .clone()
                    .or_else(|| s.offer_id.clone())
                    .unwrap_or_default(),
                s.status.to_string(),
                s.billing_type
                    .as_ref()
                    .map(|b| b.to_string())
                    .unwrap_or_default(),
                s.quantity.map(|q| q.to_string()).unwrap_or_default(),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }

    fn calls_table(&self, out: &mut String) {
        let _ = writeln!(out, "\nPartner Center calls: {}", self.calls.totals.calls);
        let mut t = table(&["Endpoint", "Calls", "Retries", "429s", "Errors"]);
        for (endpoint, s) in &self.calls.endpoints {
            t.add_row(vec![
                endpoint.clone(),
                s.calls.to_string(),
                s.retries.to_string(),
                s.throttled.to_string(),
                s.errors.to_string(),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(header.to_vec());
    t
}

#[cfg(test)]
mod tests {
    use crate::policy::testkit::{customer, snapshot, ts};

    use super::Section;

    #[test]
    fn customer_lookup_is_case_insensitive_and_survives_a_replaced_customer_list() {
        let mut s = snapshot(ts("2026-11-21T08:00:00Z"));
        s.customers = Section::Ok {
            data: vec![
                customer("AAAA-1", "Contoso"),
                customer("bbbb-2", "Fabrikam"),
            ],
        };
        assert_eq!(s.company_name("aaaa-1"), Some("Contoso"));
        assert_eq!(s.company_name("BBBB-2"), Some("Fabrikam"));
        assert_eq!(s.company_name("cccc-3"), None);
        // The index was built for the old list; replacing the list must not give wrong answers.
        s.customers = Section::Ok {
            data: vec![
                customer("bbbb-2", "Fabrikam"),
                customer("cccc-3", "Tailspin"),
            ],
        };
        assert_eq!(s.company_name("bbbb-2"), Some("Fabrikam"));
        assert_eq!(s.company_name("cccc-3"), Some("Tailspin"));
        assert_eq!(s.company_name("aaaa-1"), None);

        // `replace_customers` also drops the old index, so the next lookup rebuilds it.
        assert!(s.index.0.get().is_some());
        let old = s.replace_customers(Section::Ok {
            data: vec![customer("dddd-4", "Northwind")],
        });
        assert_eq!(old.data().map(Vec::len), Some(2));
        assert!(s.index.0.get().is_none());
        assert_eq!(s.company_name("DDDD-4"), Some("Northwind"));
        assert_eq!(s.company_name("bbbb-2"), None);
    }
}
