//! The anomaly policy (placeholder until its work item lands: plans nothing).

use serde::Deserialize;

use crate::plan::PlanBuilder;
use crate::policy::PolicyInput;

/// Settings of the anomaly policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyConfig {}

/// Add this policy's findings and actions.
pub fn evaluate(_input: &PolicyInput<'_>, _out: &mut PlanBuilder) {}
