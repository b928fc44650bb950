//! The `[dunning]` config: the ladder's stages ([`StageConfig`], [`StageKind`]), the gaps between
//! notices, what may be suspended ([`DunningConfig`]), and the checks a ladder must pass.

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::pc::models::{Subscription, SubscriptionStatus};

use super::{REACTIVATION, SUSPENSION_SEGMENT};

/// Largest day offset accepted in the config (ten years).
const MAX_DAYS: i64 = 3650;

/// What a ladder stage does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// A reminder email.
    #[default]
    Notice,
    /// The final notice: names the suspension date.
    FinalNotice,
    /// Suspend the in-scope subscriptions and send the stage's template as the suspension notice.
    Suspend,
}

/// One rung of the ladder (`[[dunning.stages]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Stage name, used in idempotency keys and shown to people (e.g. `reminder-1`).
    pub name: String,
    /// Days past due at which the stage is reached (negative: before the due date).
    pub days: i64,
    /// Email template name.
    pub template: String,
    #[serde(default)]
    pub kind: StageKind,
    /// The stage is reached only if the customer's outstanding overdue amount in the invoice's
    /// currency is at least this much.
    #[serde(default)]
    pub min_overdue_amount: Option<Decimal>,
    /// Actions of this stage wait for a person's approval (for `suspend`: the suspensions).
    #[serde(default)]
    pub requires_approval: bool,
}

impl StageConfig {
    /// A stage without a minimum amount whose actions need no approval.
    pub(super) fn new(name: &str, days: i64, kind: StageKind, template: &str) -> StageConfig {
        StageConfig {
            name: name.to_owned(),
            days,
            template: template.to_owned(),
            kind,
            min_overdue_amount: None,
            requires_approval: false,
        }
    }
}

/// Settings of the dunning policy (`[dunning]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DunningConfig {
    /// Plan dunning at all.
    pub enabled: bool,
    /// Minimum number of local days between two notices to the same customer.
    pub min_gap_days: i64,
    /// A suspension needs the final notice sent at least this many local days earlier.
    pub final_notice_lead_days: i64,
    /// Suspend Azure plans too (off: Azure plans are never suspended by dunning).
    pub suspend_azure_plans: bool,
    /// Billing types (`license`, `usage`) of subscriptions that may be suspended.
    pub suspend_billing_types: Vec<String>,
    /// The ladder, strictly increasing by `days`.
    pub stages: Vec<StageConfig>,
}

impl DunningConfig {
    /// True when a dunning suspension would suspend `s`: active, of a billing type in
    /// `suspend_billing_types`, and not an Azure plan unless `suspend_azure_plans`. The one
    /// definition the policy and the notices (which name what will be suspended) share.
    pub fn suspends(&self, s: &Subscription) -> bool {
        if s.status != SubscriptionStatus::Active {
            return false;
        }
        if s.is_azure_plan() && !self.suspend_azure_plans {
            return false;
        }
        let Some(bt) = &s.billing_type else {
            return false;
        };
        self.suspend_billing_types
            .iter()
            .any(|t| t.trim().eq_ignore_ascii_case(bt.as_str()))
    }
}

impl Default for DunningConfig {
    fn default() -> Self {
        DunningConfig {
            enabled: true,
            min_gap_days: 3,
            final_notice_lead_days: 7,
            suspend_azure_plans: false,
            suspend_billing_types: vec!["license".to_owned()],
            stages: vec![
                StageConfig::new("reminder-1", 1, StageKind::Notice, "reminder-1"),
                StageConfig::new("reminder-2", 7, StageKind::Notice, "reminder-2"),
                StageConfig::new("final-notice", 14, StageKind::FinalNotice, "final-notice"),
                StageConfig {
                    requires_approval: true,
                    ..StageConfig::new("suspension", 21, StageKind::Suspend, "suspension-notice")
                },
            ],
        }
    }
}

impl DunningConfig {
    /// Check the ladder; the message lists every problem, `; `-separated, without a section
    /// prefix (the config loader adds `[dunning]: `).
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if !(0..=MAX_DAYS).contains(&self.min_gap_days) {
            problems.push(format!(
                "min_gap_days is {}; use 0 to {MAX_DAYS}",
                self.min_gap_days
            ));
        }
        if !(0..=MAX_DAYS).contains(&self.final_notice_lead_days) {
            problems.push(format!(
                "final_notice_lead_days is {}; use 0 to {MAX_DAYS}",
                self.final_notice_lead_days
            ));
        }
        for t in &self.suspend_billing_types {
            if t.trim().is_empty() {
                problems.push("suspend_billing_types has an empty entry".to_owned());
            }
        }
        let mut names = BTreeSet::new();
        for i in 0..self.stages.len() {
            problems.extend(self.stage_problems(i, &mut names));
        }
        let count = |kind| self.stages.iter().filter(|s| s.kind == kind).count();
        let finals = count(StageKind::FinalNotice);
        if finals > 1 {
            problems.push(format!(
                "{finals} final_notice stages; at most one is allowed"
            ));
        }
        let suspends = count(StageKind::Suspend);
        if suspends > 1 {
            problems.push(format!("{suspends} suspend stages; at most one is allowed"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// The problems of stage `i` on its own and against the stages before it; `names` holds the
    /// lower-cased names seen so far.
    fn stage_problems(&self, i: usize, names: &mut BTreeSet<String>) -> Vec<String> {
        let mut problems = Vec::new();
        let s = &self.stages[i];
        let label = format!("stage {} ({:?})", i + 1, s.name);
        if s.name.trim().is_empty() || s.name.contains(['/', '~']) || s.name != s.name.trim() {
            problems.push(format!(
                "{label}: the name must be non-empty, without '/', '~' or surrounding spaces"
            ));
        }
        if !names.insert(s.name.to_ascii_lowercase()) {
            problems.push(format!("{label}: the name is used twice"));
        }
        let reserved = s.name.eq_ignore_ascii_case(REACTIVATION)
            || (s.kind != StageKind::Suspend && s.name.eq_ignore_ascii_case(SUSPENSION_SEGMENT));
        if reserved {
            problems.push(format!("{label}: the name is reserved; choose another"));
        }
        if s.template.trim().is_empty() {
            problems.push(format!("{label}: the template is empty"));
        }
        if !(-MAX_DAYS..=MAX_DAYS).contains(&s.days) {
            problems.push(format!(
                "{label}: days is {}; use -{MAX_DAYS} to {MAX_DAYS}",
                s.days
            ));
        }
        if s.min_overdue_amount.is_some_and(|m| m < Decimal::ZERO) {
            problems.push(format!("{label}: min_overdue_amount is negative"));
        }
        if let Some(prev) = i.checked_sub(1).and_then(|p| self.stages.get(p))
            && prev.days >= s.days
        {
            problems.push(format!(
                "{label}: days must be greater than the previous stage's ({} >= {})",
                prev.days, s.days
            ));
        }
        if s.kind == StageKind::Suspend {
            if i + 1 != self.stages.len() {
                problems.push(format!("{label}: the suspend stage must be the last stage"));
            }
            if self.stages[..i]
                .iter()
                .all(|p| p.kind != StageKind::FinalNotice)
            {
                problems.push(format!(
                    "{label}: a suspend stage needs a final_notice stage before it"
                ));
            }
        }
        problems
    }

    /// Index of the final-notice stage.
    pub fn final_notice_index(&self) -> Option<usize> {
        self.stages
            .iter()
            .position(|s| s.kind == StageKind::FinalNotice)
    }

    /// Index of the suspend stage.
    pub fn suspend_index(&self) -> Option<usize> {
        self.stages
            .iter()
            .position(|s| s.kind == StageKind::Suspend)
    }
}
