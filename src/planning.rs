//! Demand-driven planning: collect in bulk, evaluate once to learn which customers need detail,
//! fetch only that detail, and evaluate again into the final plan (design "One run", steps 2-5).
//!
//! Architecture invariant: per-customer Partner Center calls are made only for customers a policy
//! asked about (`Plan::needs_detail`), so a run's call count grows with the customers that need
//! attention plus the pages of the bulk lists, not with the size of the tenant.
//!
//! Architecture invariant: the receivables import is all or nothing. If it fails, or if the
//! customer list needed to match it could not be read, the policies receive
//! `ReceivablesInput::Failed` and plan no dunning at all.

use std::sync::Mutex;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::collect::{self, CollectOptions, DetailRequest, DetailScope, ProfileCache};
use crate::config::Config;
use crate::fraud_alerts;
use crate::graph::GraphClient;
use crate::ledger::{Ledger, LedgerView};
use crate::pc::models::CustomerBillingProfile;
use crate::pc::{PartnerCenter, lenient};
use crate::plan::Plan;
use crate::policy::fraud::FraudSource;
use crate::policy::{self, PolicyConfig, PolicyInput, ReceivablesInput};
use crate::receivables::matching::{CustomerDirectory, MatchRule, match_customers};
use crate::receivables::{FileSource, ReceivablesSource};
use crate::recon::model::ReconInput;
use crate::snapshot::Snapshot;

/// Name of the ledger watermark holding the last processed audit-record date (`YYYY-MM-DD`).
pub const AUDIT_WATERMARK: &str = "audit_records";

/// How long a cached billing profile is trusted.
pub const PROFILE_TTL_HOURS: i64 = 24;

/// Everything one planning pass produced.
#[derive(Debug)]
pub struct Planned {
    pub snapshot: Snapshot,
    pub receivables: ReceivablesInput,
    /// The billing reconciliation's exports (`NotConfigured` unless enabled).
    pub recon: ReconInput,
    pub plan: Plan,
    /// Customers whose detail was fetched between the two evaluations.
    pub detail_fetched: usize,
}

impl Planned {
    /// The exit code: failed when the customer list could not be read, degraded when some
    /// input was missing or failed (including the receivables import), ok otherwise.
    pub fn exit(&self) -> crate::exit::Exit {
        match self.snapshot.exit() {
            crate::exit::Exit::Ok
                if matches!(self.receivables, ReceivablesInput::Failed { .. }) =>
            {
                crate::exit::Exit::Degraded
            }
            other => other,
        }
    }
}

/// Load and match the receivables, all or nothing.
pub fn load_receivables(config: &Config, snapshot: &Snapshot, now: Timestamp) -> ReceivablesInput {
    let Some(rcfg) = &config.receivables else {
        return ReceivablesInput::NotConfigured;
    };
    let Some(customers) = snapshot.customers.data() else {
        return ReceivablesInput::Failed {
            error: "the Partner Center customer list could not be read, so receivables cannot be \
                    matched to customers"
                .to_owned(),
        };
    };
    let source = match FileSource::new(rcfg.clone()) {
        Ok(s) => s,
        Err(e) => {
            return ReceivablesInput::Failed {
                error: e.to_string(),
            };
        }
    };
    let rows = match source.load(now) {
        Ok(rows) => rows,
        Err(e) => {
            return ReceivablesInput::Failed {
                error: e.to_string(),
            };
        }
    };
    let rule = match MatchRule::from_config(rcfg) {
        Ok(r) => r,
        Err(e) => {
            return ReceivablesInput::Failed {
                error: e.to_string(),
            };
        }
    };
    let directory = CustomerDirectory::from_triples(customers.iter().map(|c| {
        let profile = c.company_profile.as_ref();
        (
            c.id.as_str(),
            profile
                .and_then(|p| p.domain.as_deref())
                .unwrap_or_default(),
            c.company_name().unwrap_or_default(),
        )
    }));
    ReceivablesInput::Loaded(match_customers(rows, &directory, &rule))
}

/// The first day of audit records to read: the watermark's date (records are deduplicated by
/// fingerprint, so the overlap is harmless), else `audit_days` back.
pub fn audit_since(ledger: &dyn LedgerView, config: &Config, now: Timestamp) -> jiff::civil::Date {
    let fallback = CollectOptions::last_days(
        now,
        *config.snapshot.audit_days.get_ref(),
        DetailScope::None,
    )
    .audit_since;
    let Ok(Some(mark)) = ledger.watermark(AUDIT_WATERMARK) else {
        return fallback;
    };
    match mark.parse::<jiff::civil::Date>() {
        // Partner Center refuses start dates older than 90 days: catch up as far as allowed.
        Ok(d) if d >= min_audit_date(now) => d,
        Ok(_) => min_audit_date(now),
        _ => fallback,
    }
}

fn min_audit_date(now: Timestamp) -> jiff::civil::Date {
    let today = now.to_zoned(TimeZone::UTC).date();
    today
        .checked_sub(jiff::Span::new().days(89))
        .unwrap_or(today)
}

/// Collect, evaluate, fetch the detail the policies asked for, evaluate again (without Graph:
/// the security alerts are "not checked").
pub async fn plan(pc: &PartnerCenter, config: &Config, ledger: &Ledger, now: Timestamp) -> Planned {
    plan_with(pc, None, config, ledger, now).await
}

/// [`plan`] with the Graph client, when `[graph]` is configured: the security alerts are read
/// as a fraud source beside Partner Center's fraud events (`[fraud] sources`), and the billing
/// reconciliation runs when `[reconciliation]` is enabled (without a Graph client it is
/// reported as failed).
pub async fn plan_with(
    pc: &PartnerCenter,
    graph: Option<&GraphClient>,
    config: &Config,
    ledger: &Ledger,
    now: Timestamp,
) -> Planned {
    let (mut pass, snapshot, receivables) = Pass::collect(pc, graph, config, ledger, now).await;
    pass.recon = reconcile(graph, config, ledger, &snapshot, None, now).await;
    let first = pass.evaluate(&snapshot, &receivables);
    let requests: Vec<DetailRequest> = first
        .needs_detail
        .iter()
        .map(|(customer, need)| DetailRequest {
            customer: customer.clone(),
            profile: need.profile,
            subscriptions: need.subscriptions,
            budget: false,
        })
        .collect();
    pass.again(snapshot, receivables, first, requests, Merge::Whole)
        .await
}

/// The billing reconciliation's input: the exports of the periods under review (only `period`
/// when given), or `NotConfigured` unless `[reconciliation] enabled`.
pub async fn reconcile(
    graph: Option<&GraphClient>,
    config: &Config,
    ledger: &Ledger,
    snapshot: &Snapshot,
    period: Option<&str>,
    now: Timestamp,
) -> ReconInput {
    let rc = config.reconciliation.get_ref();
    if !rc.enabled {
        return ReconInput::NotConfigured;
    }
    let Some(graph) = graph else {
        return ReconInput::Failed {
            error: "no Microsoft Graph client ([graph] is not configured)".to_owned(),
        };
    };
    let invoices = match &snapshot.invoices {
        crate::snapshot::Section::Ok { data } => data,
        crate::snapshot::Section::NotChecked { reason } => {
            return ReconInput::Failed {
                error: format!("Microsoft's invoice list was not read: {reason}"),
            };
        }
        crate::snapshot::Section::Failed { error } => {
            return ReconInput::Failed {
                error: format!("Microsoft's invoice list could not be read: {error}"),
            };
        }
    };
    let request = crate::recon::Request {
        config: rc,
        invoices,
        period,
        now,
        connect_timeout: std::time::Duration::from_secs(10),
        read_timeout: std::time::Duration::from_secs(
            *config.partner_center.request_timeout_secs.get_ref(),
        ),
    };
    crate::recon::reconcile(graph, ledger, request).await
}

/// What `cspguard reconcile` reports: the reconciliation alone (bulk collection, the
/// receivables, the exports and one pure evaluation; no detail fetch, nothing recorded but the
/// exports remembered, nothing sent).
#[derive(Debug)]
pub struct Reconciled {
    pub snapshot: Snapshot,
    pub receivables: ReceivablesInput,
    pub plan: Plan,
}

impl Reconciled {
    /// The reconciliation findings (`recon.*`).
    pub fn findings(&self) -> Vec<&crate::plan::Finding> {
        self.plan
            .findings
            .iter()
            .filter(|f| f.rule.starts_with("recon."))
            .collect()
    }

    /// Failed when the customer list could not be read, degraded when something could not be
    /// reconciled for a reason a later run may clear (failed exports, unreadable receivables or
    /// invoices), ok otherwise (findings and legacy invoices included).
    pub fn exit(&self) -> crate::exit::Exit {
        match self.snapshot.exit() {
            crate::exit::Exit::Failed => crate::exit::Exit::Failed,
            _ if self.plan.recon.as_ref().is_none_or(|r| r.incomplete()) => {
                crate::exit::Exit::Degraded
            }
            _ => crate::exit::Exit::Ok,
        }
    }
}

/// Reconcile `period` (or the periods under review) on its own, for `cspguard reconcile`.
pub async fn reconcile_only(
    pc: &PartnerCenter,
    graph: &GraphClient,
    config: &Config,
    ledger: &Ledger,
    period: Option<&str>,
    now: Timestamp,
) -> Reconciled {
    let (mut pass, snapshot, receivables) = Pass::collect(pc, None, config, ledger, now).await;
    pass.recon = reconcile(Some(graph), config, ledger, &snapshot, period, now).await;
    let plan = pass.evaluate(&snapshot, &receivables);
    Reconciled {
        snapshot,
        receivables,
        plan,
    }
}

/// What both plans share between their two evaluations: the policy inputs beside the snapshot.
struct Pass<'a> {
    pc: &'a PartnerCenter,
    ledger: &'a Ledger,
    recon: ReconInput,
    policy: PolicyConfig,
    now: Timestamp,
    tz: TimeZone,
    max_concurrency: usize,
}

/// How fetched detail joins the snapshot's.
#[derive(Debug, Clone, Copy)]
enum Merge {
    /// The fetched detail is all there is (it counts as what was fetched).
    Whole,
    /// Only billing profiles were fetched, beside the detail the snapshot holds (which counts).
    ProfilesOnly,
}

impl<'a> Pass<'a> {
    /// Bulk collection (audit records from the watermark) and the receivables import.
    async fn collect(
        pc: &'a PartnerCenter,
        graph: Option<&GraphClient>,
        config: &Config,
        ledger: &'a Ledger,
        now: Timestamp,
    ) -> (Pass<'a>, Snapshot, ReceivablesInput) {
        let mut opts = CollectOptions::last_days(
            now,
            *config.snapshot.audit_days.get_ref(),
            DetailScope::None,
        );
        opts.audit_since = audit_since(ledger, config, now);
        opts.max_concurrency = *config.partner_center.max_concurrency.get_ref();
        opts.fraud_v1 = config.fraud_source_use(FraudSource::V1);
        let alert_query = fraud_alerts::query(ledger, config);
        let every = crate::warm::RefreshEvery {
            hours: *config.snapshot.full_refresh_hours.get_ref(),
        };
        let (mut snapshot, alerts) = tokio::join!(
            crate::warm::collect(pc, &opts, ledger, every, now),
            fraud_alerts::collect(graph, config, &alert_query),
        );
        snapshot.security_alerts = alerts;
        let receivables = load_receivables(config, &snapshot, now);
        let pass = Pass {
            pc,
            ledger,
            recon: ReconInput::NotConfigured,
            policy: config.policy(),
            now,
            tz: config.time_zone(),
            max_concurrency: opts.max_concurrency,
        };
        (pass, snapshot, receivables)
    }

    fn evaluate(&self, snapshot: &Snapshot, receivables: &ReceivablesInput) -> Plan {
        policy::evaluate(&PolicyInput {
            snapshot,
            receivables,
            recon: &self.recon,
            ledger: self.ledger,
            config: &self.policy,
            now: self.now,
            tz: &self.tz,
        })
    }

    /// Fetch `requests` (billing profiles through the ledger's cache), join them to the
    /// snapshot by `merge` and evaluate again; with nothing to fetch, `first` stands.
    async fn again(
        &self,
        mut snapshot: Snapshot,
        receivables: ReceivablesInput,
        first: Plan,
        requests: Vec<DetailRequest>,
        merge: Merge,
    ) -> Planned {
        let detail_fetched = match merge {
            Merge::Whole => requests.len(),
            Merge::ProfilesOnly => snapshot.details.len(),
        };
        if requests.is_empty() {
            return Planned {
                snapshot,
                receivables,
                recon: self.recon.clone(),
                plan: first,
                detail_fetched,
            };
        }
        // The final evaluation replaces the first plan: do not hold both at once.
        drop(first);
        let cache = LedgerProfileCache {
            ledger: Mutex::new(self.ledger),
            now: self.now,
        };
        let fetched =
            collect::fetch_details(self.pc, requests, self.max_concurrency, Some(&cache)).await;
        match merge {
            Merge::Whole => snapshot.details.extend(fetched),
            Merge::ProfilesOnly => {
                for (id, detail) in fetched {
                    if let Some(existing) = snapshot.details.get_mut(&id) {
                        existing.billing_profile = detail.billing_profile;
                    } else {
                        snapshot.details.insert(id, detail);
                    }
                }
            }
        }
        snapshot.calls = self.pc.stats();
        let plan = self.evaluate(&snapshot, &receivables);
        Planned {
            snapshot,
            receivables,
            recon: self.recon.clone(),
            plan,
            detail_fetched,
        }
    }
}

/// The ledger's billing-profile cache with a 24-hour time-to-live.
struct LedgerProfileCache<'a> {
    ledger: Mutex<&'a Ledger>,
    now: Timestamp,
}

impl ProfileCache for LedgerProfileCache<'_> {
    fn get(&self, customer: &str) -> Option<CustomerBillingProfile> {
        let ledger = self.ledger.lock().ok()?;
        let ttl = SignedDuration::from_hours(PROFILE_TTL_HOURS);
        let value = ledger.get_cached_profile(customer, self.now, ttl).ok()??;
        lenient::from_value(value).ok()
    }

    fn put(&self, customer: &str, profile: &CustomerBillingProfile) {
        let Ok(ledger) = self.ledger.lock() else {
            return;
        };
        match serde_json::to_value(profile) {
            Ok(v) => {
                if let Err(e) = ledger.put_cached_profile(customer, &v, self.now) {
                    tracing::warn!("cannot cache the billing profile of {customer}: {e}");
                }
            }
            Err(e) => tracing::warn!("cannot encode the billing profile of {customer}: {e}"),
        }
    }
}

/// The naive full scan the benchmark compares against (not used by any command but `bench`):
/// bulk collection, then subscriptions, spending budget and usage summary for EVERY customer
/// (three per-customer calls each, whether or not a policy cares), then the same evaluation. The
/// billing profiles that dunning still asks for are fetched afterwards, as in [`plan`], so that
/// both modes produce the same plan from the same tenant.
///
/// This is the "3 calls per customer" design that the demand-driven [`plan`] replaces; it exists
/// only so that the difference can be measured.
pub async fn plan_naive_full_scan(
    pc: &PartnerCenter,
    config: &Config,
    ledger: &Ledger,
    now: Timestamp,
) -> Planned {
    let (pass, mut snapshot, receivables) = Pass::collect(pc, None, config, ledger, now).await;
    let ids: Vec<String> = snapshot
        .customers
        .data()
        .map(|cs| cs.iter().map(|c| c.id.clone()).collect())
        .unwrap_or_default();
    let mut queue = ids.into_iter();
    let mut set = tokio::task::JoinSet::new();
    let limit = pass.max_concurrency.max(1);
    loop {
        while set.len() < limit {
            let Some(id) = queue.next() else { break };
            let pc = pc.clone();
            set.spawn(async move {
                let subscriptions = section(pc.subscriptions(&id)).await;
                let budget = section(pc.usage_budget(&id)).await;
                // The naive scan reads the usage summary too; the policies take spend from the
                // bulk usage records, so the answer is only paid for, not kept.
                let _summary = pc.customer_usage_summary(&id).await;
                (id, subscriptions, budget)
            });
        }
        match set.join_next().await {
            Some(Ok((id, subscriptions, budget))) => {
                snapshot.details.insert(
                    id,
                    crate::snapshot::CustomerDetail {
                        billing_profile: crate::snapshot::Section::NotChecked {
                            reason: "not needed this run".to_owned(),
                        },
                        subscriptions,
                        budget,
                    },
                );
            }
            Some(Err(join_error)) => {
                tracing::error!("naive scan task failed: {join_error}");
            }
            None => break,
        }
    }
    snapshot.calls = pc.stats();

    let first = pass.evaluate(&snapshot, &receivables);
    let profiles: Vec<DetailRequest> = first
        .needs_detail
        .iter()
        .filter(|(_, need)| need.profile)
        .map(|(customer, _)| DetailRequest {
            customer: customer.clone(),
            profile: true,
            subscriptions: false,
            budget: false,
        })
        .collect();
    pass.again(snapshot, receivables, first, profiles, Merge::ProfilesOnly)
        .await
}

/// One naive-scan read as a snapshot section (same mapping as collection's).
async fn section<T>(
    fut: impl std::future::Future<Output = Result<T, crate::pc::PcError>>,
) -> crate::snapshot::Section<T> {
    use crate::snapshot::Section;
    match fut.await {
        Ok(data) => Section::Ok { data },
        Err(crate::pc::PcError::AppUserNotConfigured { .. }) => Section::NotChecked {
            reason: "App+User credentials not configured".to_owned(),
        },
        Err(e) => Section::Failed {
            error: e.to_string(),
        },
    }
}
