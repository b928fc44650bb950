//! Policies: the pure decision core. `evaluate(input) -> Plan`.
//!
//! Each policy module reads the [`PolicyInput`] (the collected snapshot, the matched
//! receivables, a read-only ledger view, the config and `now`) and adds findings, actions,
//! cancellations, skips and detail requests to a [`PlanBuilder`]. This module runs them in a fixed
//! order, then applies alert hygiene (`alerts`) and risk ranking (`risk`) over everything found.
//!
//! Architecture invariant: nothing in `src/policy/` performs I/O, reads a clock, or draws random
//! numbers. `now` and the time zone come from the input; the ledger is read through
//! [`LedgerView`] only. A ledger read that fails becomes a [`crate::plan::Skip`] for that
//! customer (no action on data we could not read), never a guess.
//!
//! Architecture invariant: policies never act on partial data. If the receivables import failed,
//! no dunning action is planned for anyone; if a customer's detail is missing, that customer gets
//! no action that needs it, and the plan says why.

pub mod activity;
pub mod alerts;
pub mod anomaly;
pub mod budgets;
pub mod dunning;
pub mod fraud;
pub mod recon;
pub mod risk;
#[cfg(test)]
pub(crate) mod testkit;

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::ledger::LedgerView;
use crate::plan::{Plan, PlanBuilder};
use crate::receivables::matching::MatchOutcome;
use crate::snapshot::{Section, Snapshot};

/// The receivables as the policies see them.
#[derive(Debug, Clone)]
pub enum ReceivablesInput {
    /// No `[receivables]` configured: no dunning.
    NotConfigured,
    /// The import failed (all or nothing): no dunning this run, and the reason.
    Failed { error: String },
    /// Imported and matched to Partner Center customers.
    Loaded(MatchOutcome),
}

/// Per-customer settings (`[customers."<tenant id>"]`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CustomerOverride {
    /// Never suspend and never dun this customer.
    #[serde(default)]
    pub exempt: bool,
    /// Send notices here instead of the billing profile's email.
    pub email: Option<String>,
    /// Copy notices to these addresses (e.g. the account manager).
    #[serde(default)]
    pub cc: Vec<String>,
    /// Notice locale, e.g. "sv" or "ja".
    pub locale: Option<String>,
}

/// All policy settings (the policy sections of the config file).
#[derive(Debug, Clone, Default)]
pub struct PolicyConfig {
    pub dunning: dunning::DunningConfig,
    pub budgets: budgets::BudgetConfig,
    pub activity: activity::ActivityConfig,
    pub fraud: fraud::FraudConfig,
    pub anomaly: anomaly::AnomalyConfig,
    pub alerts: alerts::AlertConfig,
    /// `[reconciliation]`: the billing reconciliation's match window and minimum margin.
    pub recon: crate::recon::model::ReconConfig,
    /// Per-customer overrides by tenant id.
    pub customers: BTreeMap<String, CustomerOverride>,
}

impl PolicyConfig {
    /// The override for a customer (tenant ids compare case-insensitively).
    pub fn customer(&self, tenant_id: &str) -> Option<&CustomerOverride> {
        self.customers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(tenant_id))
            .map(|(_, v)| v)
    }
}

/// Everything a policy may look at.
pub struct PolicyInput<'a> {
    pub snapshot: &'a Snapshot,
    pub receivables: &'a ReceivablesInput,
    /// The billing reconciliation's exports (`NotConfigured` unless enabled).
    pub recon: &'a crate::recon::model::ReconInput,
    pub ledger: &'a dyn LedgerView,
    pub config: &'a PolicyConfig,
    pub now: Timestamp,
    /// The partner's time zone: day boundaries follow it.
    pub tz: &'a TimeZone,
}

impl PolicyInput<'_> {
    /// Today's date in the partner's time zone.
    pub fn today(&self) -> Date {
        self.now.to_zoned(self.tz.clone()).date()
    }
}

/// A snapshot section as a policy reads it: the data, or `None` after recording in the plan why
/// `policy` cannot use `what` this run ("usage not checked: App+User credentials not configured",
/// "… could not be read: …").
pub trait OrSkip<T> {
    fn or_skip(&self, out: &mut PlanBuilder, policy: &str, what: &str) -> Option<&T>;
}

impl<T> OrSkip<T> for Section<T> {
    fn or_skip(&self, out: &mut PlanBuilder, policy: &str, what: &str) -> Option<&T> {
        match self {
            Section::Ok { data } => Some(data),
            Section::NotChecked { reason } => {
                out.skip(None, policy, format!("{what} not checked: {reason}"));
                None
            }
            Section::Failed { error } => {
                out.skip(None, policy, format!("{what} could not be read: {error}"));
                None
            }
        }
    }
}

/// Evaluate every policy. Pure: the same input gives the same plan.
pub fn evaluate(input: &PolicyInput<'_>) -> Plan {
    let mut b = PlanBuilder::default();
    dunning::evaluate(input, &mut b);
    budgets::evaluate(input, &mut b);
    activity::evaluate(input, &mut b);
    fraud::evaluate(input, &mut b);
    anomaly::evaluate(input, &mut b);
    recon::evaluate(input, &mut b);
    alerts::evaluate(input, &mut b);
    risk::evaluate(input, &mut b);
    b.build()
}
