//! Collection: reads Partner Center into a [`Snapshot`].
//!
//! Bulk reads first (customer list, usage records for all customers in one call, audit records,
//! fraud events, the invoice summary and invoices), then per-customer detail (billing profile,
//! subscriptions, budget) only for the customers the caller names.
//!
//! Architecture invariant: collection never fails as a whole because one part failed. Each part
//! becomes a [`Section`] that is data, "not checked" (with why) or "failed" (with the error), so
//! that later stages can refuse to act on exactly the data that is missing.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use tokio::task::JoinSet;

use crate::pc::models::{
    AuditRecord, Customer, CustomerBillingProfile, CustomerMonthlyUsageRecord, FraudEvent,
};
use crate::pc::{PartnerCenter, PcError};
use crate::policy::fraud::SourceUse;
use crate::snapshot::{CustomerDetail, Section, Snapshot};

/// Which customers get per-customer detail calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetailScope {
    /// Bulk data only.
    None,
    /// These customer ids.
    Some(BTreeSet<String>),
    /// Every customer (three calls per customer: use with care on large tenants).
    All,
}

/// What to collect.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// First day of audit records to read (UTC date).
    pub audit_since: Date,
    pub details: DetailScope,
    /// Concurrent per-customer fetches (the client's rate limiter still bounds the rate).
    pub max_concurrency: usize,
    /// Whether Partner Center's v1 fraud events are read (`[fraud] sources`).
    pub fraud_v1: SourceUse,
}

impl CollectOptions {
    /// Audit records for the last `days` days before `now`.
    pub fn last_days(now: Timestamp, days: u32, details: DetailScope) -> Self {
        let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
        let audit_since = today
            .checked_sub(jiff::Span::new().days(i64::from(days)))
            .unwrap_or(today);
        Self {
            audit_since,
            details,
            max_concurrency: 8,
            fraud_v1: SourceUse::Read,
        }
    }
}

/// Collect a snapshot. `now` is only recorded, never used for decisions here.
pub async fn collect(pc: &PartnerCenter, opts: &CollectOptions, now: Timestamp) -> Snapshot {
    collect_with(
        pc,
        opts,
        now,
        section(customers(pc)),
        section(audit_records(pc, opts.audit_since)),
    )
    .await
}

/// [`collect`] with the customer list and the activity log read by the caller's futures (warm
/// runs read them partly from the ledger, `crate::warm`); the other bulk reads as in `collect`.
pub async fn collect_with(
    pc: &PartnerCenter,
    opts: &CollectOptions,
    now: Timestamp,
    customers: impl std::future::Future<Output = Section<Vec<Customer>>>,
    audit: impl std::future::Future<Output = Section<Vec<AuditRecord>>>,
) -> Snapshot {
    // The bulk reads are independent: run them concurrently (the client's rate limiter and
    // concurrency bound still apply), each paged list one page at a time.
    let (customers, usage, audit_records, fraud_events, invoice_summary, invoices) = tokio::join!(
        customers,
        section(usage_records(pc)),
        audit,
        fraud_v1(pc, &opts.fraud_v1),
        section(pc.invoice_summary()),
        section(pc.invoices().collect_all()),
    );

    let ids: Vec<String> = match &opts.details {
        DetailScope::None => Vec::new(),
        DetailScope::Some(ids) => ids.iter().cloned().collect(),
        DetailScope::All => customers
            .data()
            .map(|cs| cs.iter().map(|c| c.id.clone()).collect())
            .unwrap_or_default(),
    };
    let requests = ids.into_iter().map(DetailRequest::all).collect();
    let details = fetch_details(pc, requests, opts.max_concurrency, None).await;

    Snapshot {
        collected_at: now,
        customers,
        usage,
        audit_records,
        fraud_events,
        security_alerts: Section::NotChecked {
            reason: "not read by this collection (Graph alerts are a separate step)".to_owned(),
        },
        invoice_summary,
        invoices,
        details,
        calls: pc.stats(),
        index: Default::default(),
    }
}

/// The v1 fraud events, unless `[fraud] sources` leaves them out.
async fn fraud_v1(pc: &PartnerCenter, use_: &SourceUse) -> Section<Vec<FraudEvent>> {
    match use_ {
        SourceUse::Read => section(pc.fraud_events(None).collect_all()).await,
        SourceUse::Skip(reason) => Section::NotChecked {
            reason: reason.clone(),
        },
    }
}

/// Month-to-date usage of every customer, compacted (`crate::compact`).
async fn usage_records(pc: &PartnerCenter) -> Result<Vec<CustomerMonthlyUsageRecord>, PcError> {
    let mut all = pc.customers_usage_records().await?;
    crate::compact::usage_page(&mut all);
    Ok(all)
}

/// The whole customer list, each page compacted as it arrives (`crate::compact`).
pub async fn customers(pc: &PartnerCenter) -> Result<Vec<Customer>, PcError> {
    pc.customers()
        .collect_compacted(crate::compact::customer_page)
        .await
}

/// The activity log from `since`, each page compacted as it arrives (`crate::compact`), so the
/// raw JSON carried in its strings never accumulates.
pub async fn audit_records(pc: &PartnerCenter, since: Date) -> Result<Vec<AuditRecord>, PcError> {
    pc.audit_records(since, None)
        .collect_compacted(crate::compact::audit_page)
        .await
}

/// What to fetch for one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailRequest {
    pub customer: String,
    pub profile: bool,
    pub subscriptions: bool,
    pub budget: bool,
}

impl DetailRequest {
    /// Everything (billing profile, subscriptions, budget).
    pub fn all(customer: String) -> Self {
        Self {
            customer,
            profile: true,
            subscriptions: true,
            budget: true,
        }
    }
}

/// A cache of billing profiles (the ledger's, with a time-to-live), consulted before fetching.
pub trait ProfileCache {
    /// A fresh cached profile, if any.
    fn get(&self, customer: &str) -> Option<CustomerBillingProfile>;
    /// Remember a freshly fetched profile.
    fn put(&self, customer: &str, profile: &CustomerBillingProfile);
}

/// Fetch the requested detail, at most `limit` customers at once. Billing profiles found in
/// `cache` are not fetched; fetched ones are stored in it.
pub async fn fetch_details(
    pc: &PartnerCenter,
    requests: Vec<DetailRequest>,
    limit: usize,
    cache: Option<&dyn ProfileCache>,
) -> BTreeMap<String, CustomerDetail> {
    let mut out = BTreeMap::new();
    let mut set = JoinSet::new();
    let mut queue = requests.into_iter();
    loop {
        while set.len() < limit.max(1) {
            let Some(req) = queue.next() else { break };
            let cached = if req.profile {
                cache.and_then(|c| c.get(&req.customer))
            } else {
                None
            };
            let pc = pc.clone();
            set.spawn(tracing::Instrument::in_current_span(async move {
                let from_cache = cached.is_some();
                let billing_profile = match cached {
                    Some(p) => Section::Ok { data: p },
                    None if req.profile => section(pc.billing_profile(&req.customer)).await,
                    None => not_needed(),
                };
                let subscriptions = if req.subscriptions {
                    section(pc.subscriptions(&req.customer)).await
                } else {
                    not_needed()
                };
                let budget = if req.budget {
                    section(pc.usage_budget(&req.customer)).await
                } else {
                    not_needed()
                };
                (
                    req.customer,
                    from_cache,
                    CustomerDetail {
                        billing_profile,
                        subscriptions,
                        budget,
                    },
                )
            }));
        }
        match set.join_next().await {
            Some(Ok((id, from_cache, detail))) => {
                if let (false, Some(cache), Section::Ok { data }) =
                    (from_cache, cache, &detail.billing_profile)
                {
                    cache.put(&id, data);
                }
                out.insert(id, detail);
            }
            Some(Err(join_error)) => {
                // A panicking task is a bug; record it instead of losing the whole snapshot.
                tracing::error!("customer detail task failed: {join_error}");
            }
            None => break,
        }
    }
    out
}

fn not_needed<T>() -> Section<T> {
    Section::NotChecked {
        reason: "not needed this run".to_owned(),
    }
}

/// One read as a snapshot section: data, "not checked" without App+User credentials, or failed.
pub async fn section<T>(fut: impl std::future::Future<Output = Result<T, PcError>>) -> Section<T> {
    match fut.await {
        Ok(data) => Section::Ok { data },
        Err(PcError::AppUserNotConfigured { .. }) => Section::NotChecked {
            reason: "App+User credentials not configured".to_owned(),
        },
        Err(e) => {
            tracing::warn!("collection step failed: {e}");
            Section::Failed {
                error: e.to_string(),
            }
        }
    }
}
