//! Enforcement: the Partner Center side of destructive and state-changing actions (suspend,
//! reactivate, set a spending budget, cancel a compromised Azure subscription, set the status of
//! fraud events), and the safety rules around them (`[enforcement]`).
//!
//! It owns [`EnforcementConfig`], the pure decisions ([`BusinessWindow::check`], [`breaker`],
//! [`suspend_step`], [`reactivate_step`], [`is_azure_plan_refusal`]) and [`Enforcer`], which
//! performs one claimed action against Partner Center and says what happened: [`Performed`], or
//! an [`EnforceError`] whose [`ActionError`] kind says how the ledger records the failure. The
//! executor (`crate::execute`) decides *whether* an action may run (approval, caps, the circuit
//! breaker, business hours, holds and exempt lists, prerequisites) and records the outcome.
//!
//! Invariants:
//! - Re-read before write: a subscription is read again right before it is patched, and the
//!   decision is taken on what Partner Center says now, never on the plan's copy. The PATCH carries
//!   the ETag just read; on 412 the subscription is read again and the decision taken again, once.
//! - cspguard records as "suspended by cspguard" exactly the subscriptions whose suspension PATCH
//!   it saw succeed; something already suspended is left alone and never recorded.
//! - cspguard reactivates only subscriptions that the ledger says it suspended *and* that are still
//!   suspended in Partner Center.
//! - A refusal that retrying cannot fix (403 / 900115: an Azure plan with active Azure
//!   subscriptions) is a permanent [`ActionError`] with a [`RefusalFinding`]: failed at once,
//!   with what ops must do, never retried blindly.
//! - Nothing here panics on API data; every failure is a value with what/where/what to do.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;

use crate::ledger::{ActionError, Ledger, LedgerError, Suspension};
use crate::pc::PartnerCenter;
use crate::pc::error::PcError;
use crate::pc::models::{FraudEventStatus, FraudResolvedReason, Subscription, SubscriptionStatus};
use crate::plan::SuspendReason;

/// Partner Center's error code for "Azure plan can't be suspended: it has active Azure
/// subscriptions".
pub const AZURE_PLAN_ACTIVE_CODE: &str = "900115";

/// `[enforcement]`: caps, the circuit breaker and business hours for destructive actions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnforcementConfig {
    /// At most this many suspensions are performed in one run; the rest wait for the next run
    /// (0: no suspension runs at all).
    pub max_suspensions_per_run: u32,
    /// Circuit breaker: if more than this share of all customers (0 < share <= 1) would be
    /// suspended in one run, no suspension runs and ops are alerted.
    pub breaker_share: Decimal,
    /// Circuit breaker: if more than this many customers would be suspended in one run, no
    /// suspension runs and ops are alerted.
    pub breaker_count: u32,
    /// The share rule applies only when at least this many customers would be suspended (so one
    /// suspension at a partner with ten customers is not "10 % of all customers").
    pub breaker_share_min_customers: u32,
    /// Local hours (partner time zone) in which destructive actions may run, `HH:MM-HH:MM`
    /// (end exclusive; `00:00-24:00` for all day).
    pub business_hours: String,
    /// Days on which destructive actions may run: `mon` … `sun`.
    pub business_days: Vec<String>,
}

impl Default for EnforcementConfig {
    fn default() -> Self {
        Self {
            max_suspensions_per_run: 10,
            breaker_share: Decimal::new(5, 2),
            breaker_count: 20,
            breaker_share_min_customers: 3,
            business_hours: "08:00-17:00".to_owned(),
            business_days: ["mon", "tue", "wed", "thu", "fri"]
                .map(str::to_owned)
                .to_vec(),
        }
    }
}

impl EnforcementConfig {
    /// Check the settings (called at config load); the message lists every problem.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.breaker_share <= Decimal::ZERO || self.breaker_share > Decimal::ONE {
            problems.push(format!(
                "breaker_share = {} must be more than 0 and at most 1 (e.g. 0.05 for 5 %)",
                self.breaker_share
            ));
        }
        if self.breaker_count == 0 {
            problems.push(
                "breaker_count = 0 would stop every suspension; use max_suspensions_per_run = 0 \
                 for that"
                    .to_owned(),
            );
        }
        if let Err(e) = self.window() {
            problems.push(e);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// The business window as configured.
    pub fn window(&self) -> Result<BusinessWindow, String> {
        BusinessWindow::parse(&self.business_hours, &self.business_days)
    }
}

/// When destructive actions may run: local hours on local days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessWindow {
    start: Time,
    /// Exclusive; `None` means midnight at the end of the day (`24:00`).
    end: Option<Time>,
    days: BTreeSet<u8>,
    text: String,
}

const DAY_NAMES: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.trim().split_once(':')?;
    let h: i8 = h.parse().ok()?;
    let m: i8 = m.parse().ok()?;
    Time::new(h, m, 0, 0).ok()
}

impl BusinessWindow {
    /// Parse `HH:MM-HH:MM` and day names (`mon` … `sun`, case-insensitive).
    pub fn parse(hours: &str, days: &[String]) -> Result<BusinessWindow, String> {
        let bad = || {
            format!(
                "business_hours = {hours:?} must be \"HH:MM-HH:MM\" with the start before the \
                 end, e.g. \"08:00-17:00\" (\"00:00-24:00\" for all day)"
            )
        };
        let (a, b) = hours.split_once('-').ok_or_else(bad)?;
        let start = parse_hhmm(a).ok_or_else(bad)?;
        let end = if b.trim() == "24:00" {
            None
        } else {
            Some(parse_hhmm(b).ok_or_else(bad)?)
        };
        if end.is_some_and(|e| e <= start) {
            return Err(bad());
        }
        let mut set = BTreeSet::new();
        for d in days {
            let key = d.trim().to_ascii_lowercase();
            let Some((_, wd)) = DAY_NAMES.iter().find(|(n, _)| key.starts_with(n)) else {
                return Err(format!(
                    "business_days: {d:?} is not a day; use mon, tue, wed, thu, fri, sat, sun"
                ));
            };
            set.insert(wd.to_monday_one_offset() as u8);
        }
        if set.is_empty() {
            return Err(
                "business_days is empty, so no destructive action could ever run; list at least \
                 one day (mon … sun)"
                    .to_owned(),
            );
        }
        let names: Vec<&str> = DAY_NAMES
            .iter()
            .filter(|(_, wd)| set.contains(&(wd.to_monday_one_offset() as u8)))
            .map(|(n, _)| *n)
            .collect();
        Ok(BusinessWindow {
            start,
            end,
            days: set,
            text: format!("{} on {}", hours.trim(), names.join("/")),
        })
    }

    /// `Ok` when `now` is inside the window in `tz`; otherwise why destructive actions wait.
    pub fn check(&self, now: Timestamp, tz: &TimeZone) -> Result<(), String> {
        let local = now.to_zoned(tz.clone());
        let day_ok = self
            .days
            .contains(&(local.weekday().to_monday_one_offset() as u8));
        let t = local.time();
        let hour_ok = t >= self.start && self.end.is_none_or(|e| t < e);
        if day_ok && hour_ok {
            Ok(())
        } else {
            Err(format!(
                "outside business hours ({} in {}; it is {} there): destructive actions wait \
                 and run in the next run inside them",
                self.text,
                tz.iana_name().unwrap_or("the configured time zone"),
                local.strftime("%a %Y-%m-%d %H:%M"),
            ))
        }
    }
}

/// The circuit breaker: `Some(explanation)` when `to_suspend` customers in one run is
/// implausible (more than `breaker_count`, or more than `breaker_share` of `total_customers`
/// once at least `breaker_share_min_customers` are involved). `total_customers` is `None` when
/// the customer list was not read (then only the count rule applies).
pub fn breaker(
    cfg: &EnforcementConfig,
    to_suspend: usize,
    total_customers: Option<usize>,
) -> Option<String> {
    let n = to_suspend as u64;
    let count_trip = n > u64::from(cfg.breaker_count);
    let share_trip = match total_customers {
        Some(total) if total > 0 && n >= u64::from(cfg.breaker_share_min_customers) => {
            Decimal::from(n) > cfg.breaker_share * Decimal::from(total as u64)
        }
        _ => false,
    };
    if !count_trip && !share_trip {
        return None;
    }
    let share_text = match total_customers {
        Some(total) if total > 0 => {
            let pct =
                (Decimal::from(n) * Decimal::from(100) / Decimal::from(total as u64)).round_dp(1);
            format!("{n} of {total} customers ({pct} %)")
        }
        _ => format!("{n} customers (the customer total is unknown in this run)"),
    };
    let limit_pct = (cfg.breaker_share * Decimal::from(100)).normalize();
    Some(format!(
        "Circuit breaker: {share_text} would be suspended in one run, more than the limit \
         (breaker_count = {}, breaker_share = {limit_pct} %). NO suspension was performed. Check \
         first: is the receivables export complete and current (are payments missing)? Did the \
         customer matching change? If the export is wrong, fix it; the pending suspensions are \
         cancelled by the next run that sees the payments. If the suspensions are real, reject \
         the ones that must not happen (`cspguard reject`) or raise [enforcement] breaker_count \
         / breaker_share.",
        cfg.breaker_count
    ))
}

/// What to do about a suspension, given the subscription as Partner Center shows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuspendStep {
    /// Active: PATCH it to suspended.
    Patch,
    /// Nothing to do, and why (it is not recorded as suspended by cspguard).
    Skip(String),
    /// Suspended now, but an earlier PATCH of cspguard for this action may have been applied
    /// without cspguard seeing the answer (a timeout, a 5xx, or a 412 after the transport's
    /// retry): cspguard cannot tell who suspended it. A person must check; nothing is recorded.
    Unclear(String),
}

/// Whether an earlier suspension PATCH of this action may have been applied without cspguard
/// seeing the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnseenPatch {
    /// This is the first PATCH of the action: nothing can have been applied unseen.
    RuledOut,
    /// An earlier attempt (a timeout, a 5xx, or a 412 after the transport's retry) may have
    /// sent a PATCH that was applied.
    Possible,
}

/// Decide a suspension from the current subscription, cspguard's own record of it, and whether
/// a PATCH of this action may already have been applied unseen.
pub fn suspend_step(
    current: &Subscription,
    by_us: Option<&Suspension>,
    unseen: UnseenPatch,
) -> SuspendStep {
    match &current.status {
        SubscriptionStatus::Active => SuspendStep::Patch,
        SubscriptionStatus::Suspended if by_us.is_none() && unseen == UnseenPatch::Possible => {
            SuspendStep::Unclear(format!(
                "subscription {} is suspended now, but an earlier suspension PATCH of this action \
                 may have been applied without cspguard seeing the answer, so cspguard cannot \
                 tell whether it or someone else suspended it. It is NOT recorded as suspended \
                 by cspguard, so cspguard will not reactivate it: check the Partner Center \
                 activity log (an update_subscription by cspguard's app id means it was \
                 cspguard) and reactivate it by hand once the customer has paid",
                current.id
            ))
        }
        SubscriptionStatus::Suspended => match by_us {
            Some(s) => SuspendStep::Skip(format!(
                "subscription {} is already suspended by cspguard ({} on {}); not suspended again",
                current.id, s.action_key, s.suspended_at
            )),
            None => SuspendStep::Skip(format!(
                "subscription {} is already suspended in Partner Center, not by cspguard{}; left \
                 alone, not recorded as suspended by cspguard (so cspguard will never reactivate \
                 it)",
                current.id,
                if current.suspension_reasons.is_empty() {
                    String::new()
                } else {
                    format!(" (reasons: {})", current.suspension_reasons.join(", "))
                }
            )),
        },
        other => SuspendStep::Skip(format!(
            "subscription {} is {} in Partner Center; there is nothing to suspend",
            current.id,
            other.as_str()
        )),
    }
}

/// What to do about a reactivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReactivateStep {
    /// cspguard suspended it and it is still suspended: PATCH it to active.
    Patch,
    /// cspguard suspended it but it is active again already (someone reactivated it): close
    /// cspguard's suspension record without a call.
    AlreadyActive,
    /// Not reactivated, and why.
    Skip(String),
}

/// Decide a reactivation from the current subscription and cspguard's own record of it.
pub fn reactivate_step(current: &Subscription, by_us: Option<&Suspension>) -> ReactivateStep {
    if by_us.is_none() {
        return ReactivateStep::Skip(format!(
            "cspguard has no active suspension of subscription {} in its ledger; it never \
             reactivates what it did not suspend (Microsoft or a person suspended it)",
            current.id
        ));
    }
    match &current.status {
        SubscriptionStatus::Suspended => ReactivateStep::Patch,
        SubscriptionStatus::Active => ReactivateStep::AlreadyActive,
        other => ReactivateStep::Skip(format!(
            "subscription {} is {} in Partner Center and cannot be reactivated; cspguard's \
             suspension record stays open for a person to check",
            current.id,
            other.as_str()
        )),
    }
}

/// True for Partner Center's 403 / 900115: an Azure plan with active Azure subscriptions cannot
/// be suspended.
pub fn is_azure_plan_refusal(e: &PcError) -> bool {
    matches!(
        e,
        PcError::Api { status: 403, code: Some(c), .. } if c.trim() == AZURE_PLAN_ACTIVE_CODE
    )
}

/// A finding the executor records (and alerts ops about) when an action is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalFinding {
    pub fingerprint: String,
    pub rule: &'static str,
    pub customer: String,
    pub summary: String,
}

/// What performing one action achieved.
#[derive(Debug, Clone, PartialEq)]
pub enum Performed {
    /// Performed (or its purpose is already achieved); the result to record.
    Done(serde_json::Value),
    /// Not performed because a check at execution time made it unnecessary or not allowed.
    Skipped(String),
}

/// Why performing one action did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum EnforceError {
    /// The ledger failed: execution stops; nothing is recorded on the action.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The action failed. `error.kind` says how the ledger records it (transient: retried with
    /// backoff; permanent: failed at once). `alert` is set for a refusal a person must resolve:
    /// the finding ops are alerted with at once.
    #[error("{error}")]
    Action {
        error: ActionError,
        alert: Option<RefusalFinding>,
    },
}

impl EnforceError {
    /// A failure worth retrying later with the ledger's backoff.
    fn transient(message: String) -> Self {
        EnforceError::Action {
            error: ActionError::transient(message),
            alert: None,
        }
    }

    /// A refusal retrying cannot fix: failed at once, ops alerted with `finding`.
    fn refused(message: String, finding: RefusalFinding) -> Self {
        EnforceError::Action {
            error: ActionError::permanent(message),
            alert: Some(finding),
        }
    }
}

/// Performs claimed actions against Partner Center and records suspensions and reactivations.
pub struct Enforcer<'a> {
    pub pc: &'a PartnerCenter,
    pub ledger: &'a Ledger,
    pub now: Timestamp,
}

impl Enforcer<'_> {
    /// Suspend `sid` of `customer` (see the module invariants). `key` is the action's
    /// idempotency key, recorded with the suspension. `unseen`: whether an earlier attempt of
    /// this action may have sent a PATCH that was applied unseen.
    pub async fn suspend(
        &self,
        key: &str,
        customer: &str,
        sid: &str,
        reason: SuspendReason,
        unseen: UnseenPatch,
    ) -> Result<Performed, EnforceError> {
        let reason_text = match reason {
            SuspendReason::Nonpayment => "nonpayment",
            SuspendReason::Fraud => "fraud",
        };
        let mut conflicts = 0;
        loop {
            let current = self.pc.subscription(customer, sid).await.map_err(|e| {
                EnforceError::transient(format!(
                    "cannot re-read subscription {sid} before suspending it: {e}"
                ))
            })?;
            let by_us = self.ledger.suspended_by_us(customer, sid)?;
            let unseen = if conflicts > 0 {
                UnseenPatch::Possible
            } else {
                unseen
            };
            match suspend_step(&current, by_us.as_ref(), unseen) {
                SuspendStep::Patch => {}
                SuspendStep::Skip(why) => return Ok(Performed::Skipped(why)),
                SuspendStep::Unclear(why) => {
                    let finding = RefusalFinding {
                        fingerprint: format!("enforce.suspension_unclear:{customer}:{sid}"),
                        rule: "enforce.suspension_unclear",
                        customer: customer.to_owned(),
                        summary: why.clone(),
                    };
                    return Err(EnforceError::refused(why, finding));
                }
            }
            let change = StatusChange::Suspend(reason);
            if let Patched::Applied = self
                .patch_status(customer, sid, &current, change, conflicts)
                .await?
            {
                self.ledger
                    .record_suspension(customer, sid, key, reason_text, self.now)?;
                return Ok(Performed::Done(json!({
                    "outcome": "suspended",
                    "subscription": sid,
                    "reason": reason_text,
                    "previous_status": current.status.as_str(),
                    "etag_conflicts": conflicts,
                })));
            }
            conflicts += 1;
        }
    }

    /// Reactivate `sid` of `customer` if cspguard suspended it and it is still suspended.
    pub async fn reactivate(
        &self,
        key: &str,
        customer: &str,
        sid: &str,
    ) -> Result<Performed, EnforceError> {
        let mut conflicts = 0;
        loop {
            let current = self.pc.subscription(customer, sid).await.map_err(|e| {
                EnforceError::transient(format!(
                    "cannot re-read subscription {sid} before reactivating it: {e}"
                ))
            })?;
            let by_us = self.ledger.suspended_by_us(customer, sid)?;
            match reactivate_step(&current, by_us.as_ref()) {
                ReactivateStep::Skip(why) => return Ok(Performed::Skipped(why)),
                ReactivateStep::AlreadyActive => {
                    self.ledger
                        .record_reactivation(customer, sid, key, self.now)?;
                    return Ok(Performed::Done(json!({
                        "outcome": "already_active",
                        "subscription": sid,
                        "note": "active again already (reactivated outside cspguard); \
                                 cspguard's suspension record is closed, no call made",
                    })));
                }
                ReactivateStep::Patch => {}
            }
            let change = StatusChange::Reactivate;
            if let Patched::Applied = self
                .patch_status(customer, sid, &current, change, conflicts)
                .await?
            {
                self.ledger
                    .record_reactivation(customer, sid, key, self.now)?;
                return Ok(Performed::Done(json!({
                    "outcome": "reactivated",
                    "subscription": sid,
                    "etag_conflicts": conflicts,
                })));
            }
            conflicts += 1;
        }
    }

    /// PATCH `current` to the status `change` asks for and check that Partner Center reports
    /// it so. A first 412 (`conflicts == 0`) comes back as [`Patched::Conflict`]: the caller
    /// re-reads the subscription and tries once more.
    async fn patch_status(
        &self,
        customer: &str,
        sid: &str,
        current: &Subscription,
        change: StatusChange,
        conflicts: u32,
    ) -> Result<Patched, EnforceError> {
        let target = change.target();
        match self
            .pc
            .set_subscription_status(customer, current, &target)
            .await
        {
            Ok(after) if after.status == target => Ok(Patched::Applied),
            Ok(after) => Err(EnforceError::transient(format!(
                "Partner Center accepted the {} of {sid} but reports it as {}; check it in \
                 Partner Center",
                change.noun(),
                after.status.as_str()
            ))),
            Err(PcError::PreconditionFailed { .. }) if conflicts == 0 => {
                tracing::info!(
                    customer,
                    sid,
                    "412 on {}: re-reading and retrying once",
                    change.verb()
                );
                Ok(Patched::Conflict)
            }
            Err(e) => Err(match change {
                StatusChange::Suspend(reason) if is_azure_plan_refusal(&e) => {
                    azure_plan_refusal(customer, sid, reason, &e)
                }
                _ => EnforceError::transient(format!(
                    "{} subscription {sid} failed: {e}",
                    change.gerund()
                )),
            }),
        }
    }

    /// Set the customer's Azure spending budget, unless one was set since planning.
    pub async fn set_budget(
        &self,
        customer: &str,
        amount: Decimal,
    ) -> Result<Performed, EnforceError> {
        let current = self.pc.usage_budget(customer).await.map_err(|e| {
            EnforceError::transient(format!(
                "cannot re-read the spending budget of {customer} before setting it: {e}"
            ))
        })?;
        if let Some(existing) = current.amount.filter(|a| *a > Decimal::ZERO) {
            return Ok(Performed::Skipped(format!(
                "customer {customer} has a spending budget of {existing} now (set since \
                 planning); not changed"
            )));
        }
        let b = self
            .pc
            .set_usage_budget(customer, amount)
            .await
            .map_err(|e| {
                EnforceError::transient(format!(
                    "setting the spending budget of {customer} to {amount} failed: {e}"
                ))
            })?;
        Ok(Performed::Done(json!({
            "outcome": "budget_set",
            "amount": amount.to_string(),
            "reported_amount": b.amount.map(|a| a.to_string()),
        })))
    }

    /// Set the status of fraud events of one Azure subscription (empty `event_ids`: all).
    pub async fn set_fraud_status(
        &self,
        azure_sub: &str,
        event_ids: &[String],
        status: &str,
        reason: Option<&str>,
    ) -> Result<Performed, EnforceError> {
        let st = FraudEventStatus::parse(status);
        let rr = reason.map(FraudResolvedReason::parse);
        let events = self
            .pc
            .update_fraud_event_status(azure_sub, event_ids, st, rr)
            .await
            .map_err(|e| {
                EnforceError::transient(format!(
                    "setting fraud events of Azure subscription {azure_sub} to {status} failed: \
                     {e}"
                ))
            })?;
        Ok(Performed::Done(json!({
            "outcome": "fraud_status_set",
            "azure_subscription": azure_sub,
            "status": status,
            "resolved_reason": reason,
            "events_updated": events.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>(),
        })))
    }

    /// Cancel a compromised Azure subscription (irreversible): find the Azure plan that holds it,
    /// check it is still active, cancel it with reason `compromise`.
    pub async fn cancel_azure(
        &self,
        customer: &str,
        azure_sub: &str,
    ) -> Result<Performed, EnforceError> {
        let subs = self.pc.subscriptions(customer).await.map_err(|e| {
            EnforceError::transient(format!(
                "cannot read the subscriptions of {customer} to find Azure subscription \
                 {azure_sub}: {e}"
            ))
        })?;
        for plan in subs.iter().filter(|s| s.is_azure_plan()) {
            let ents = self
                .pc
                .azure_entitlements(customer, &plan.id)
                .await
                .map_err(|e| {
                    EnforceError::transient(format!(
                        "cannot read the Azure subscriptions of plan {}: {e}",
                        plan.id
                    ))
                })?;
            let Some(ent) = ents.iter().find(|e| e.id.eq_ignore_ascii_case(azure_sub)) else {
                continue;
            };
            if let Some(st) = ent
                .status
                .as_ref()
                .filter(|s| **s != SubscriptionStatus::Active)
            {
                return Ok(Performed::Skipped(format!(
                    "Azure subscription {azure_sub} is {} already; not cancelled again",
                    st.as_str()
                )));
            }
            let after = self
                .pc
                .cancel_azure_entitlement(customer, &plan.id, &ent.id)
                .await
                .map_err(|e| {
                    EnforceError::transient(format!(
                        "cancelling Azure subscription {azure_sub} failed: {e}"
                    ))
                })?;
            return Ok(Performed::Done(json!({
                "outcome": "cancelled",
                "azure_subscription": azure_sub,
                "azure_plan": plan.id,
                "reported_status": after.status.as_ref().map(|s| s.as_str().to_owned()),
                "note": "irreversible; Microsoft needs about 10 minutes to show the status",
            })));
        }
        Ok(Performed::Skipped(format!(
            "Azure subscription {azure_sub} is not under any Azure plan of customer {customer} \
             (moved or already gone); nothing cancelled"
        )))
    }
}

/// The two status changes cspguard makes to a subscription.
#[derive(Debug, Clone, Copy)]
enum StatusChange {
    Suspend(SuspendReason),
    Reactivate,
}

impl StatusChange {
    fn target(self) -> SubscriptionStatus {
        match self {
            StatusChange::Suspend(_) => SubscriptionStatus::Suspended,
            StatusChange::Reactivate => SubscriptionStatus::Active,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            StatusChange::Suspend(_) => "suspend",
            StatusChange::Reactivate => "reactivate",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            StatusChange::Suspend(_) => "suspension",
            StatusChange::Reactivate => "reactivation",
        }
    }

    fn gerund(self) -> &'static str {
        match self {
            StatusChange::Suspend(_) => "suspending",
            StatusChange::Reactivate => "reactivating",
        }
    }
}

/// What one status PATCH came to, short of an error.
enum Patched {
    /// Partner Center applied it and reports the new status.
    Applied,
    /// A first 412: re-read the subscription and try once more.
    Conflict,
}

/// The refusal for Partner Center's 403 / 900115 on suspending an Azure plan: what ops must do,
/// and the finding they are alerted with.
fn azure_plan_refusal(
    customer: &str,
    sid: &str,
    reason: SuspendReason,
    e: &PcError,
) -> EnforceError {
    let alternative = match reason {
        SuspendReason::Nonpayment => {
            "exclude Azure plans from suspension ([dunning] suspend_azure_plans = false)"
        }
        SuspendReason::Fraud => {
            "respond to fraud by cancelling the compromised Azure subscription ([fraud] response \
             = \"cancel\")"
        }
    };
    let summary = format!(
        "Partner Center refused to suspend Azure plan {sid} of customer {customer} (403, code \
         {AZURE_PLAN_ACTIVE_CODE}): it still has active Azure subscriptions. To do: cancel or \
         move the customer's Azure subscriptions under this plan, then `cspguard retry` the \
         action; or {alternative} and reject the action"
    );
    let finding = RefusalFinding {
        fingerprint: format!("enforce.azure_plan_refused:{customer}:{sid}"),
        rule: "enforce.azure_plan_refused",
        customer: customer.to_owned(),
        summary: summary.clone(),
    };
    EnforceError::refused(format!("{summary}. Partner Center said: {e}"), finding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(status: &str) -> Subscription {
        serde_json::from_value(json!({
            "id": "s1",
            "status": status,
            "suspensionReasons": if status == "suspended" { json!(["other"]) } else { json!([]) },
            "billingType": "license",
        }))
        .expect("subscription")
    }

    fn ours() -> Suspension {
        Suspension {
            id: 1,
            customer: "c1".into(),
            subscription: "s1".into(),
            action_key: "suspend/c1/s1/INV-1".into(),
            suspended_at: "2026-11-02T09:00:00Z".parse().expect("ts"),
            reason: "nonpayment".into(),
            reactivated_at: None,
            reactivation_key: None,
        }
    }

    #[test]
    fn suspend_only_active_subscriptions_and_never_claim_someone_elses_suspension() {
        assert_eq!(
            suspend_step(&sub("active"), None, UnseenPatch::RuledOut),
            SuspendStep::Patch
        );
        assert_eq!(
            suspend_step(&sub("active"), None, UnseenPatch::Possible),
            SuspendStep::Patch
        );
        let SuspendStep::Skip(why) = suspend_step(&sub("suspended"), None, UnseenPatch::RuledOut)
        else {
            panic!("suspended by someone else must be skipped");
        };
        assert!(
            why.contains("not by cspguard") && why.contains("other"),
            "{why}"
        );
        assert!(matches!(
            suspend_step(&sub("suspended"), None, UnseenPatch::Possible),
            SuspendStep::Unclear(w) if w.contains("activity log")
        ));
        let SuspendStep::Skip(why) =
            suspend_step(&sub("suspended"), Some(&ours()), UnseenPatch::Possible)
        else {
            panic!("already ours");
        };
        assert!(why.contains("already suspended by cspguard"), "{why}");
        assert!(matches!(
            suspend_step(&sub("deleted"), None, UnseenPatch::RuledOut),
            SuspendStep::Skip(w) if w.contains("deleted")
        ));
    }

    #[test]
    fn reactivate_only_what_cspguard_suspended_and_is_still_suspended() {
        assert!(matches!(
            reactivate_step(&sub("suspended"), None),
            ReactivateStep::Skip(w) if w.contains("never reactivates")
        ));
        assert_eq!(
            reactivate_step(&sub("suspended"), Some(&ours())),
            ReactivateStep::Patch
        );
        assert_eq!(
            reactivate_step(&sub("active"), Some(&ours())),
            ReactivateStep::AlreadyActive
        );
        assert!(matches!(
            reactivate_step(&sub("expired"), Some(&ours())),
            ReactivateStep::Skip(_)
        ));
    }

    fn cfg() -> EnforcementConfig {
        EnforcementConfig::default()
    }

    #[test]
    fn breaker_trips_on_count_or_share_and_explains_what_to_check() {
        let c = cfg();
        assert_eq!(
            breaker(&c, 20, Some(10_000)),
            None,
            "20 is the limit, not over it"
        );
        let why = breaker(&c, 21, Some(10_000)).expect("count trips");
        assert!(why.contains("21 of 10000 customers"), "{why}");
        assert!(why.contains("receivables export complete"), "{why}");
        assert!(why.contains("NO suspension"), "{why}");
        // 5 % of 100 is 5: six customers trip the share rule.
        assert_eq!(breaker(&c, 5, Some(100)), None);
        assert!(breaker(&c, 6, Some(100)).is_some());
        // Below the minimum the share rule does not apply (2 of 10 is 20 %).
        assert_eq!(breaker(&c, 2, Some(10)), None);
        assert!(breaker(&c, 3, Some(10)).is_some());
        // Unknown total: only the count rule.
        assert_eq!(breaker(&c, 6, None), None);
        assert!(breaker(&c, 21, None).expect("trips").contains("unknown"));
    }

    #[test]
    fn business_window_in_the_partner_time_zone() {
        let w = cfg().window().expect("default window");
        let tz = TimeZone::get("Europe/Stockholm").expect("tz");
        // Friday 2026-11-20 07:30 UTC is 08:30 in Stockholm: inside.
        let fri: Timestamp = "2026-11-20T07:30:00Z".parse().expect("ts");
        assert_eq!(w.check(fri, &tz), Ok(()));
        // 16:30 UTC is 17:30 local: outside (the end is exclusive).
        let late: Timestamp = "2026-11-20T16:30:00Z".parse().expect("ts");
        let why = w.check(late, &tz).expect_err("after hours");
        assert!(why.contains("08:00-17:00 on mon/tue/wed/thu/fri"), "{why}");
        assert!(why.contains("Fri 2026-11-20 17:30"), "{why}");
        // Saturday noon: outside.
        let sat: Timestamp = "2026-11-21T11:00:00Z".parse().expect("ts");
        assert!(w.check(sat, &tz).is_err());
        let all = BusinessWindow::parse("00:00-24:00", &["sat".into()]).expect("all day");
        assert_eq!(all.check(sat, &tz), Ok(()));
    }

    #[test]
    fn config_parses_and_rejects_nonsense() {
        let c: EnforcementConfig = toml::from_str(
            "max_suspensions_per_run = 3\nbreaker_share = 0.1\nbreaker_count = 5\n\
             business_hours = \"07:30-18:00\"\nbusiness_days = [\"Mon\", \"sat\"]\n",
        )
        .expect("parse");
        assert_eq!(c.max_suspensions_per_run, 3);
        assert_eq!(c.breaker_share, Decimal::new(1, 1));
        assert!(c.validate().is_ok());
        for bad in [
            "business_hours = \"17:00-08:00\"",
            "business_hours = \"8-17\"",
            "business_days = [\"someday\"]",
            "business_days = []",
            "breaker_share = 0",
            "breaker_share = 1.5",
            "breaker_count = 0",
        ] {
            let c: EnforcementConfig = toml::from_str(bad).expect("parse");
            assert!(c.validate().is_err(), "{bad} must be refused");
        }
        assert!(toml::from_str::<EnforcementConfig>("max_suspend = 1").is_err());
    }

    #[test]
    fn a_suspend_action_survives_the_ledger_payload_round_trip() {
        let a = crate::plan::PlannedAction {
            key: "suspend/c1/s1/INV-1".into(),
            customer: Some("c1".into()),
            kind: crate::plan::ActionKind::Suspend {
                subscription_id: "s1".into(),
                reason: SuspendReason::Fraud,
            },
            requires_approval: true,
            reason: "why, in words".into(),
            findings: vec![],
            after: vec![],
        };
        let payload = serde_json::to_value(&a).expect("encode");
        let back: crate::plan::PlannedAction =
            serde_json::from_value(payload.clone()).expect("decode");
        assert_eq!(back, a);
        let kind: crate::plan::ActionKind = serde_json::from_value(payload).expect("kind");
        assert_eq!(kind, a.kind);
    }

    #[test]
    fn only_403_900115_is_the_azure_plan_refusal() {
        let api = |status, code: Option<&str>| PcError::Api {
            endpoint: "PATCH".into(),
            status,
            code: code.map(str::to_owned),
            message: "m".into(),
            hint: "h",
        };
        assert!(is_azure_plan_refusal(&api(403, Some("900115"))));
        assert!(!is_azure_plan_refusal(&api(403, Some("900116"))));
        assert!(!is_azure_plan_refusal(&api(400, Some("900115"))));
        assert!(!is_azure_plan_refusal(&api(403, None)));
    }
}
