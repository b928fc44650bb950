//! Risk ranking: one score per customer from the findings of this run, with the reasons, for
//! the digest's "riskiest customers" section.
//!
//! Scoring: critical findings weigh 40, warnings 15, information 5; the reasons are the findings'
//! summaries, most severe first. Ties are broken by customer id so the ranking is stable.

use std::collections::BTreeMap;

use crate::plan::{PlanBuilder, RiskScore, Severity};
use crate::policy::PolicyInput;

/// How many customers the ranking keeps.
pub const TOP: usize = 20;

fn weight(s: Severity) -> u32 {
    match s {
        Severity::Critical => 40,
        Severity::Warning => 15,
        Severity::Info => 5,
    }
}

/// One customer's score, on borrowed findings: `(severity, summary)`.
struct Scored<'f> {
    score: u32,
    customer: &'f str,
    findings: Vec<(Severity, &'f str)>,
}

/// Rank customers by the findings gathered so far.
pub fn evaluate(input: &PolicyInput<'_>, out: &mut PlanBuilder) {
    let mut by_customer: BTreeMap<&str, Vec<(Severity, &str)>> = BTreeMap::new();
    for f in out.findings() {
        if let Some(c) = f.customer.as_deref() {
            by_customer
                .entry(c)
                .or_default()
                .push((f.severity, &f.summary));
        }
    }
    // Only the kept customers are copied into the plan (issue 18: at 50,000 customers, ten
    // thousand customers have findings).
    let mut scored: Vec<Scored<'_>> = by_customer
        .into_iter()
        .map(|(customer, findings)| Scored {
            score: findings.iter().map(|(s, _)| weight(*s)).sum(),
            customer,
            findings,
        })
        .collect();
    scored.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| a.customer.cmp(b.customer))
    });
    scored.truncate(TOP);
    let scores: Vec<RiskScore> = scored
        .into_iter()
        .map(|mut s| {
            s.findings
                .sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
            RiskScore {
                customer: s.customer.to_owned(),
                company: input.snapshot.company_name(s.customer).map(str::to_owned),
                score: s.score,
                reasons: s.findings.iter().map(|(_, r)| (*r).to_owned()).collect(),
            }
        })
        .collect();
    out.risk(scores);
}
