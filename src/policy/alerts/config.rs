//! `[alerts]`: the settings of alert hygiene (grouping, intervals, inhibition, the first-run
//! baseline and the bound on ops emails per run), with their defaults and validation.

use serde::Deserialize;

use crate::plan::Severity;

/// `[alerts]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    /// Send immediate ops alerts at all.
    pub enabled: bool,
    /// Findings at or above this severity alert immediately; others wait for the digest.
    pub min_severity: Severity,
    /// The repeat interval, in hours: a group that still fires with nothing new is emailed again
    /// after this long.
    #[serde(alias = "repeat_interval_hours")]
    pub repeat_hours: u32,
    /// The group interval, in minutes: new findings in a group that was emailed less than this long
    /// ago wait for the group's next email (they are listed in the digest meanwhile).
    pub group_interval_minutes: u32,
    /// What a group is made of; each group sends at most one email per run.
    pub group_by: Vec<GroupLabel>,
    /// Also list findings that stopped firing in the group's next email.
    pub send_resolved: bool,
    /// At most this many ops emails per run: groups beyond it are folded into the last email,
    /// never dropped.
    pub max_groups: usize,
    /// Activity older than cspguard's first run is summarised once in the digest instead of
    /// alerted finding by finding.
    pub baseline: bool,
    /// Inhibition rules: while a source finding fires, matching target findings are not emailed
    /// (the digest lists them).
    pub inhibit: Vec<InhibitRule>,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_severity: Severity::Critical,
            repeat_hours: 24,
            group_interval_minutes: 30,
            group_by: vec![GroupLabel::Family, GroupLabel::Severity],
            send_resolved: false,
            max_groups: 10,
            baseline: true,
            inhibit: InhibitRule::defaults(),
        }
    }
}

impl AlertConfig {
    /// Checks what serde cannot: non-empty grouping, a usable bound and valid patterns.
    pub fn validate(&self) -> Result<(), String> {
        if self.group_by.is_empty() {
            return Err(
                "alerts.group_by is empty: name at least one of \"family\", \"rule\", \
                 \"severity\", \"customer\""
                    .into(),
            );
        }
        if self.max_groups == 0 {
            return Err("alerts.max_groups must be at least 1".into());
        }
        if self.repeat_hours == 0 {
            return Err("alerts.repeat_hours must be at least 1".into());
        }
        for (i, r) in self.inhibit.iter().enumerate() {
            r.validate()
                .map_err(|e| format!("alerts.inhibit[{i}]: {e}"))?;
        }
        Ok(())
    }
}

/// A label alert groups are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupLabel {
    /// The rule family: the part of the rule before the first `.` (`budget`, `activity`, ...).
    Family,
    /// The whole rule (`budget.threshold`).
    Rule,
    Severity,
    /// The customer tenant id (`partner` for partner-wide findings).
    Customer,
}

impl GroupLabel {
    /// The label's name in group keys and emails.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupLabel::Family => "family",
            GroupLabel::Rule => "rule",
            GroupLabel::Severity => "severity",
            GroupLabel::Customer => "customer",
        }
    }
}

/// `[[alerts.inhibit]]`: while a finding whose rule matches `source` fires, findings whose rule
/// matches `target` (and that agree on every label in `equal`) are inhibited.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRule {
    /// Rule patterns (`*` matches anything) of the inhibiting findings.
    pub source: Vec<String>,
    /// Rule patterns of the inhibited findings.
    pub target: Vec<String>,
    /// Labels source and target must share (e.g. `["customer"]`); empty: any.
    #[serde(default)]
    pub equal: Vec<GroupLabel>,
}

impl InhibitRule {
    /// The two default rules: an active fraud alert on a customer inhibits that customer's budget
    /// and anomaly alerts; a tripped circuit breaker inhibits the per-suspension alerts it caused.
    pub fn defaults() -> Vec<InhibitRule> {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        vec![
            InhibitRule {
                source: strings(&["fraud.event", "fraud.alert", "activity.fraud_detected"]),
                target: strings(&["budget.*", "anomaly.*"]),
                equal: vec![GroupLabel::Customer],
            },
            InhibitRule {
                source: strings(&["enforce.breaker"]),
                target: strings(&["enforce.suspension_unclear", "enforce.azure_plan_refused"]),
                equal: vec![],
            },
        ]
    }

    fn validate(&self) -> Result<(), String> {
        if self.source.is_empty() || self.target.is_empty() {
            return Err("source and target must each name at least one rule pattern".into());
        }
        for p in self.source.iter().chain(&self.target) {
            glob::Pattern::new(p).map_err(|e| format!("rule pattern {p:?} is invalid: {e}"))?;
        }
        Ok(())
    }
}
