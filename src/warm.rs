//! Warm runs (issue 18): the customer list and the activity log are kept in the ledger between
//! full refreshes, so an hourly run reads only what changed instead of re-listing every customer.
//!
//! A run is **cold** (reads the whole customer list and the activity log from the run's audit
//! start date, as `collect::collect` does, and stores both) when there is no cache, when the last
//! full read is `[snapshot] full_refresh_hours` old (0 = every run), or when the cache cannot
//! serve this run's audit start date. Otherwise it is **warm**: it reads the first page of the
//! customer list and the activity log from the day it was last read, applies the customer
//! operations found there (added and updated customers are read by id, deleted ones dropped), and
//! then runs the consistency checks below. When one fails, the whole list is read at once in the
//! same run, and the log says which check failed and why.
//!
//! Consistency checks: the activity log was read; every customer it names as changed could be
//! read; at most [`MAX_CHANGED`] customers changed; every customer on the first page of the list
//! is cached with the same name and domain; every customer named by a usage record or a fraud
//! event is cached.
//!
//! Invariant: a warm snapshot holds the same customers (in the same order) and the same activity
//! records as a cold one taken at the same moment, so both give the same plan
//! (`tests/warm_runs.rs`).

use std::collections::{BTreeSet, HashSet};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::collect::{self, CollectOptions, section};
use crate::ledger::{AuditStore, CachedAudit, Ledger, LedgerError};
use crate::pc::models::{AuditRecord, Customer};
use crate::pc::{PartnerCenter, PcError};
use crate::snapshot::{Section, Snapshot};

/// State key: when the whole customer list was last read (RFC 3339).
pub const FULL_REFRESH_AT: &str = "customers_full_refresh_at";
/// State key: when the activity log was last read up to (the reading run's `now`).
pub const AUDIT_READ_AT: &str = "audit_read_at";
/// State key: the first day (UTC) the cached activity log covers.
pub const AUDIT_FROM: &str = "audit_from";

/// More changed customers than this in one warm run: reading the whole list is cheaper.
pub const MAX_CHANGED: usize = 200;

/// How often the whole customer list is read.
#[derive(Debug, Clone, Copy)]
pub struct RefreshEvery {
    pub hours: u32,
}

/// What the cache holds at the start of a warm run.
struct Cache {
    customers: Vec<Customer>,
    /// The cached activity records from the audit start on, with their cache keys.
    audit: Vec<(String, AuditRecord)>,
    audit_read_at: Timestamp,
}

/// A failed consistency check: its name and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailed {
    pub check: &'static str,
    pub why: String,
}

/// Collect a snapshot, warm when the ledger's cache allows it (see the module documentation).
pub async fn collect(
    pc: &PartnerCenter,
    opts: &CollectOptions,
    ledger: &Ledger,
    every: RefreshEvery,
    now: Timestamp,
) -> Snapshot {
    match load(ledger, opts.audit_since, every, now) {
        Ok(cache) => warm(pc, opts, ledger, cache, now).await,
        Err(reason) => {
            tracing::info!("snapshot: reading the whole customer list: {reason}");
            let snapshot = collect::collect(pc, opts, now).await;
            store_cold(ledger, &snapshot, opts.audit_since, now);
            snapshot
        }
    }
}

/// The cache, or why this run is cold.
fn load(
    ledger: &Ledger,
    audit_since: Date,
    every: RefreshEvery,
    now: Timestamp,
) -> Result<Cache, String> {
    if every.hours == 0 {
        return Err("[snapshot] full_refresh_hours = 0 (every run)".to_owned());
    }
    let stamp = |name: &str| -> Result<Option<Timestamp>, String> {
        let value = ledger.snapshot_state(name).map_err(|e| e.to_string())?;
        value
            .map(|v| {
                v.parse::<Timestamp>()
                    .map_err(|e| format!("{name} {v:?}: {e}"))
            })
            .transpose()
    };
    let Some(full_at) = stamp(FULL_REFRESH_AT)? else {
        return Err("no cached customer list yet".to_owned());
    };
    let due = full_at
        .checked_add(SignedDuration::from_hours(i64::from(every.hours)))
        .unwrap_or(full_at);
    if now >= due || now < full_at {
        return Err(format!(
            "last full read at {full_at}, [snapshot] full_refresh_hours = {}",
            every.hours
        ));
    }
    let read_at = stamp(AUDIT_READ_AT)?.ok_or("the activity log was never cached")?;
    let from = ledger
        .snapshot_state(AUDIT_FROM)
        .map_err(|e| e.to_string())?
        .and_then(|d| d.parse::<Date>().ok())
        .ok_or("the cached activity log has no start day")?;
    if from > audit_since {
        return Err(format!(
            "the cached activity log starts on {from}, after this run's audit start {audit_since}"
        ));
    }
    let mut customers = Vec::new();
    let mut bad = None;
    ledger
        .each_cached_customer(|id, json| match serde_json::from_str::<Customer>(json) {
            Ok(mut c) => {
                // A cache written before a compaction rule still holds what it drops.
                crate::compact::customer_page(std::slice::from_mut(&mut c));
                customers.push(c);
            }
            Err(e) => {
                bad.get_or_insert_with(|| format!("cached customer {id} is unreadable: {e}"));
            }
        })
        .map_err(|e| e.to_string())?;
    if let Some(bad) = bad {
        return Err(bad);
    }
    customers.shrink_to_fit();
    // Decoded row by row as SQLite yields them: the cached JSON is never all held at once.
    let mut audit = Vec::new();
    ledger
        .each_cached_audit(&day_start(audit_since).to_string(), |key, json| {
            match serde_json::from_str::<AuditRecord>(json) {
                Ok(mut r) => {
                    // A cache written before a compaction rule still holds what it drops.
                    crate::compact::audit_page(std::slice::from_mut(&mut r));
                    audit.push((key.to_owned(), r));
                }
                Err(e) => tracing::warn!("ignoring a cached activity record {key}: {e}"),
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(Cache {
        customers,
        audit,
        audit_read_at: read_at,
    })
}

async fn warm(
    pc: &PartnerCenter,
    opts: &CollectOptions,
    ledger: &Ledger,
    cache: Cache,
    now: Timestamp,
) -> Snapshot {
    let read_from = utc_date(cache.audit_read_at);
    let first_page = section(async {
        let mut pages = pc.customers();
        let mut page = pages.next_page().await?.unwrap_or_default();
        crate::compact::customer_page(&mut page);
        Ok(page)
    });
    let fetched = section(collect::audit_records(pc, read_from));
    let mut snapshot = collect::collect_with(pc, opts, now, first_page, fetched).await;
    let first_page = snapshot.replace_customers(not_read());
    let fetched = std::mem::replace(&mut snapshot.audit_records, not_read());

    let mut customers = cache.customers;
    let outcome = match fetched {
        Section::Ok { data } => {
            let (merged, new) = merge(cache.audit, data, opts.audit_since);
            snapshot.audit_records = Section::Ok {
                data: merged.into_iter().map(|(_, r)| r).collect(),
            };
            let outcome = apply(pc, ledger, &mut customers, &new).await;
            store_audit(ledger, &new, opts.audit_since, AuditStore::Add, now);
            outcome
        }
        other => {
            let failed = CheckFailed {
                check: "activity log read",
                why: format!(
                    "the activity log could not be read ({}), so changes to the customer list \
                     since {} are unknown",
                    status(&other),
                    cache.audit_read_at
                ),
            };
            snapshot.audit_records = other;
            Err(failed)
        }
    };
    // The checks look customers up through the snapshot's own index (built once, then used by
    // the policies), not a second map of the whole list.
    snapshot.replace_customers(Section::Ok { data: customers });
    let outcome = outcome.and_then(|c| {
        check(&first_page, &snapshot)?;
        Ok(c)
    });
    match outcome {
        Ok(changes) => changes.store(ledger),
        Err(failed) => {
            tracing::warn!(
                check = failed.check,
                "snapshot: full refresh of the customer list now: consistency check '{}' \
                 failed: {}",
                failed.check,
                failed.why
            );
            // The stale list goes before the fresh one is read: never both in memory.
            snapshot.replace_customers(not_read());
            let fresh = section(collect::customers(pc)).await;
            snapshot.replace_customers(fresh);
            store_customers(ledger, &snapshot.customers, now);
        }
    }
    snapshot.calls = pc.stats();
    snapshot
}

/// Customer changes to write to the cache.
#[derive(Debug, Default)]
struct Changes {
    upserts: Vec<(String, String)>,
    removals: Vec<String>,
}

impl Changes {
    fn store(&self, ledger: &Ledger) {
        if self.upserts.is_empty() && self.removals.is_empty() {
            return;
        }
        if let Err(e) = ledger.change_cached_customers(&self.upserts, &self.removals) {
            tracing::warn!("cannot update the cached customer list: {e}");
        }
    }
}

/// What an activity record means for the customer list.
enum Op {
    /// Read the customer again (added, renamed, ...).
    Reread,
    /// The customer left.
    Remove,
    /// Only the billing profile changed: forget the cached one.
    Profile,
}

fn op_of(r: &AuditRecord) -> Option<Op> {
    use crate::pc::models::OperationStatus;
    if !matches!(r.operation_status, None | Some(OperationStatus::Succeeded)) {
        return None;
    }
    match r.operation_type.as_str().to_ascii_lowercase().as_str() {
        "add_customer"
        | "update_customer_partner_contract_company_name"
        | "update_company_info"
        | "update_customer_qualification"
        | "update_customer" => Some(Op::Reread),
        "delete_customer" | "remove_partner_customer_relationship" | "delete_tip_customer" => {
            Some(Op::Remove)
        }
        "update_customer_billing_profile" => Some(Op::Profile),
        _ => None,
    }
}

/// Apply the customer operations of the records not seen before to `customers`.
async fn apply(
    pc: &PartnerCenter,
    ledger: &Ledger,
    customers: &mut Vec<Customer>,
    new: &[AuditRecord],
) -> Result<Changes, CheckFailed> {
    let mut reread = BTreeSet::new();
    let mut removed = BTreeSet::new();
    for r in new {
        let (Some(op), Some(id)) = (op_of(r), r.customer_id.as_deref()) else {
            continue;
        };
        let id = id.to_ascii_lowercase();
        match op {
            Op::Reread => {
                removed.remove(&id);
                reread.insert(id);
            }
            Op::Remove => {
                reread.remove(&id);
                removed.insert(id);
            }
            Op::Profile => {
                if let Err(e) = ledger.forget_cached_profile(&id) {
                    tracing::warn!("cannot forget the cached billing profile of {id}: {e}");
                }
            }
        }
    }
    if reread.len() + removed.len() > MAX_CHANGED {
        return Err(CheckFailed {
            check: "changes since the last run",
            why: format!(
                "{} customers changed (more than {MAX_CHANGED}); reading the whole list is cheaper",
                reread.len() + removed.len()
            ),
        });
    }
    let mut changes = Changes::default();
    for id in reread {
        match pc.customer(&id).await {
            Ok(c) => {
                let c = list_form(c);
                let json = serde_json::to_string(&c).unwrap_or_default();
                match customers
                    .iter_mut()
                    .find(|x| x.id.eq_ignore_ascii_case(&c.id))
                {
                    Some(slot) => *slot = c.clone(),
                    None => customers.push(c.clone()),
                }
                changes.upserts.push((c.id, json));
            }
            Err(PcError::Api { status: 404, .. }) => {
                removed.insert(id);
            }
            Err(e) => {
                return Err(CheckFailed {
                    check: "changed customers read",
                    why: format!(
                        "customer {id}, named by the activity log, could not be read: {e}"
                    ),
                });
            }
        }
    }
    for id in removed {
        if let Some(i) = customers
            .iter()
            .position(|c| c.id.eq_ignore_ascii_case(&id))
        {
            let gone = customers.remove(i);
            changes.removals.push(gone.id);
        }
    }
    Ok(changes)
}

/// A customer read by id, reduced to what the list gives (so warm and cold lists are equal).
fn list_form(c: Customer) -> Customer {
    let mut c = Customer {
        billing_profile: None,
        allow_delegated_access: None,
        ..c
    };
    crate::compact::customer_page(std::slice::from_mut(&mut c));
    c
}

/// The cross-checks of the warm list (already in `snapshot`) against what this run read anyway.
fn check(first_page: &Section<Vec<Customer>>, snapshot: &Snapshot) -> Result<(), CheckFailed> {
    let page = first_page.data().ok_or_else(|| CheckFailed {
        check: "first page of the customer list",
        why: format!("it could not be read ({})", status(first_page)),
    })?;
    for c in page {
        let same = snapshot.customer(&c.id).is_some_and(|k| {
            k.company_name() == c.company_name()
                && domain(k) == domain(c)
                && k.relationship_to_partner == c.relationship_to_partner
        });
        if !same {
            return Err(CheckFailed {
                check: "first page of the customer list",
                why: format!(
                    "customer {} ({}) is missing from the cached list or differs from it",
                    c.id,
                    c.company_name().unwrap_or("no name")
                ),
            });
        }
    }
    let known = |id: &str| snapshot.customer(id).is_some();
    for u in snapshot.usage.data().into_iter().flatten() {
        if let Some(id) = u.resource_id.as_deref().or(u.id.as_deref())
            && !known(id)
        {
            return Err(CheckFailed {
                check: "usage records name cached customers",
                why: format!("a usage record names customer {id}, which the cached list lacks"),
            });
        }
    }
    for f in snapshot.fraud_events.data().into_iter().flatten() {
        if let Some(id) = f.customer_tenant_id.as_deref()
            && !known(id)
        {
            return Err(CheckFailed {
                check: "fraud events name cached customers",
                why: format!("a fraud event names customer {id}, which the cached list lacks"),
            });
        }
    }
    Ok(())
}

fn domain(c: &Customer) -> Option<&str> {
    c.company_profile.as_ref().and_then(|p| p.domain.as_deref())
}

/// Cached and fetched records, deduplicated, from `audit_since` on (what a cold run reads), and
/// the fetched records not cached before.
fn merge(
    cached: Vec<(String, AuditRecord)>,
    fetched: Vec<AuditRecord>,
    audit_since: Date,
) -> (Vec<(String, AuditRecord)>, Vec<AuditRecord>) {
    let start = day_start(audit_since);
    let mut seen: HashSet<String> = HashSet::with_capacity(cached.len() + fetched.len());
    let mut merged = Vec::with_capacity(cached.len() + fetched.len());
    for (key, r) in cached {
        if seen.insert(key.clone()) {
            merged.push((key, r));
        }
    }
    let mut new = Vec::new();
    for r in fetched {
        let key = audit_key(&r);
        if seen.insert(key.clone()) {
            new.push(r.clone());
            merged.push((key, r));
        }
    }
    merged.retain(|(_, r)| r.operation_date >= start);
    merged.sort_by_key(|(_, r)| r.operation_date);
    (merged, new)
}

/// A record's identity in the cache: its id, else its whole (compacted) content.
fn audit_key(r: &AuditRecord) -> String {
    match r.id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) => id.to_owned(),
        None => format!("json:{}", serde_json::to_string(r).unwrap_or_default()),
    }
}

/// After a cold read: the whole list, the activity log and the state.
fn store_cold(ledger: &Ledger, snapshot: &Snapshot, audit_since: Date, now: Timestamp) {
    store_customers(ledger, &snapshot.customers, now);
    if let Some(records) = snapshot.audit_records.data() {
        store_audit(ledger, records, audit_since, AuditStore::Replace, now);
    }
}

fn store_customers(ledger: &Ledger, customers: &Section<Vec<Customer>>, now: Timestamp) {
    let Some(list) = customers.data() else {
        return;
    };
    // Serialised one row at a time as the ledger inserts it (50,000 JSON rows never coexist).
    let rows = list
        .iter()
        .map(|c| (c.id.clone(), serde_json::to_string(c).unwrap_or_default()));
    let stored = ledger
        .replace_cached_customers(rows)
        .and_then(|()| ledger.set_snapshot_state(&[(FULL_REFRESH_AT, now.to_string())]));
    warn_if_failed(stored, "the customer list");
}

fn store_audit(
    ledger: &Ledger,
    records: &[AuditRecord],
    audit_since: Date,
    mode: AuditStore,
    now: Timestamp,
) {
    let rows = records.iter().map(|r| CachedAudit {
        key: audit_key(r),
        operation_date: r.operation_date.to_string(),
        record: serde_json::to_string(r).unwrap_or_default(),
    });
    let stored = ledger
        .store_cached_audit(rows, &day_start(audit_since).to_string(), mode)
        .and_then(|()| {
            // Records before `audit_since` were just pruned: the cache starts there now.
            ledger.set_snapshot_state(&[
                (AUDIT_READ_AT, now.to_string()),
                (AUDIT_FROM, audit_since.to_string()),
            ])
        });
    warn_if_failed(stored, "the activity log");
}

fn warn_if_failed(result: Result<(), LedgerError>, what: &str) {
    if let Err(e) = result {
        // The next run is then cold or re-reads more; nothing is decided from the cache alone.
        tracing::warn!("cannot cache {what} for warm runs: {e}");
    }
}

fn not_read<T>() -> Section<T> {
    Section::NotChecked {
        reason: "not read".to_owned(),
    }
}

fn status<T>(s: &Section<T>) -> String {
    match s {
        Section::Ok { .. } => "read".to_owned(),
        Section::NotChecked { reason } => format!("not checked: {reason}"),
        Section::Failed { error } => error.clone(),
    }
}

fn utc_date(t: Timestamp) -> Date {
    t.to_zoned(TimeZone::UTC).date()
}

fn day_start(d: Date) -> Timestamp {
    d.to_zoned(TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}
