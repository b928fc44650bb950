//! One open fraud signal, whatever its source: a Partner Center v1 fraud event
//! ([`Signal::from_event`]) or a Graph partner security alert ([`Signal::from_alert`]), with
//! everything the rules derive from it (fingerprint, customer, kind, Azure subscription, facts,
//! summary); and [`merge`], which folds a Graph alert into the v1 event that reports the same
//! signal (same Azure subscription and alert type) so that one signal makes one finding.

use super::config::FraudSource;
use crate::facts::Facts;
use crate::graph::alerts::{AlertStatus, PartnerSecurityAlert};
use crate::pc::models::{FraudEvent, FraudEventStatus};
use crate::plan::short_time;
use crate::snapshot::Snapshot;

/// An open fraud signal.
pub(super) struct Signal<'e> {
    pub source: FraudSource,
    /// Event id or alert id.
    pub id: &'e str,
    /// The customer's tenant id, if the signal names one.
    pub customer: Option<&'e str>,
    /// `fraud.event` (v1) or `fraud.alert` (Graph).
    pub rule: &'static str,
    /// The finding's fingerprint.
    pub fp: String,
    /// The customer as people know it.
    pub name: String,
    /// What happened, e.g. "Crypto mining".
    pub kind: String,
    /// Lower-case event/alert type, for matching the two sources.
    pub type_key: Option<String>,
    pub azure_sub: Option<&'e str>,
    /// Flagged `isTest`: information only, no response.
    pub is_test: bool,
    /// Not yet looked at (v1 `Active` or no status; Graph `active`).
    pub is_new: bool,
    pub facts: Facts,
    pub summary: String,
}

fn nonblank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn put(facts: &mut Facts, k: &'static str, v: Option<String>) {
    if let Some(v) = v {
        facts.insert(k, v);
    }
}

impl<'e> Signal<'e> {
    /// A v1 fraud event (facts and summary exactly as before Graph alerts existed).
    pub fn from_event(e: &'e FraudEvent) -> Signal<'e> {
        let customer = nonblank(e.customer_tenant_id.as_deref());
        let cust_key = customer.unwrap_or("partner");
        let mut s = Signal {
            source: FraudSource::V1,
            id: &e.event_id,
            customer,
            rule: "fraud.event",
            fp: format!("fraud.event:{cust_key}:{}", e.event_id),
            name: e
                .customer_friendly_name
                .clone()
                .or_else(|| customer.map(str::to_owned))
                .unwrap_or_else(|| "an unknown customer".to_owned()),
            kind: e
                .display_name
                .clone()
                .or_else(|| e.event_type.clone())
                .or_else(|| e.service_name.clone().map(|s| format!("{s} event")))
                .unwrap_or_else(|| "fraud event".to_owned()),
            type_key: e.event_type.as_deref().map(str::to_ascii_lowercase),
            azure_sub: nonblank(e.subscription_id.as_deref()),
            is_test: e.is_test == Some(true),
            is_new: matches!(e.event_status, None | Some(FraudEventStatus::Active)),
            facts: Facts::new(),
            summary: String::new(),
        };
        s.facts = event_facts(e, &s);
        s.summary = event_summary(e, &s);
        s
    }

    /// A Graph partner security alert; the customer is named from the snapshot.
    pub fn from_alert(a: &'e PartnerSecurityAlert, snapshot: &Snapshot) -> Signal<'e> {
        let customer = nonblank(a.customer_tenant_id.as_deref());
        let cust_key = customer.unwrap_or("partner");
        let mut s = Signal {
            source: FraudSource::Graph,
            id: &a.id,
            customer,
            rule: "fraud.alert",
            fp: format!("fraud.alert:{cust_key}:{}", a.id),
            name: customer
                .map(|c| snapshot.company_name(c).unwrap_or(c).to_owned())
                .unwrap_or_else(|| "an unknown customer".to_owned()),
            kind: a
                .display_name
                .clone()
                .or_else(|| a.alert_type.clone())
                .unwrap_or_else(|| "security alert".to_owned()),
            type_key: a.alert_type.as_deref().map(str::to_ascii_lowercase),
            azure_sub: nonblank(a.subscription_id.as_deref()),
            is_test: a.is_test(),
            is_new: matches!(a.status, None | Some(AlertStatus::Active)),
            facts: Facts::new(),
            summary: String::new(),
        };
        s.facts = alert_facts(a, &s);
        s.summary = alert_summary(a, &s);
        s
    }
}

impl Signal<'_> {
    /// How skips and reasons name the signal: `fraud event {id}` or `Graph security alert {id}`.
    pub fn what(&self) -> String {
        match self.source {
            FraudSource::V1 => format!("fraud event {}", self.id),
            FraudSource::Graph => format!("Graph security alert {}", self.id),
        }
    }
}

fn event_status_text(e: &FraudEvent) -> &str {
    e.event_status
        .as_ref()
        .map(|s| s.as_str())
        .unwrap_or("unknown")
}

fn event_facts(e: &FraudEvent, s: &Signal<'_>) -> Facts {
    let mut facts = Facts::new();
    facts.insert("event_id", e.event_id.clone());
    facts.insert("status", event_status_text(e).to_owned());
    put(&mut facts, "event_type", e.event_type.clone());
    put(
        &mut facts,
        "severity",
        e.severity.as_ref().map(|s| s.as_str().to_owned()),
    );
    put(
        &mut facts,
        "azure_subscription",
        s.azure_sub.map(str::to_owned),
    );
    put(&mut facts, "service", e.service_name.clone());
    put(
        &mut facts,
        "resource",
        e.resource_name.clone().or(e.entity_name.clone()),
    );
    put(&mut facts, "hit_count", e.hit_count.map(|h| h.to_string()));
    put(
        &mut facts,
        "first_occurrence",
        e.first_occurrence.map(|t| t.to_string()),
    );
    put(
        &mut facts,
        "last_occurrence",
        e.last_occurrence.map(|t| t.to_string()),
    );
    put(&mut facts, "description", e.description.clone());
    put(&mut facts, "country", e.country.clone());
    if s.is_test {
        facts.insert("is_test", "true");
    }
    facts
}

fn event_summary(e: &FraudEvent, s: &Signal<'_>) -> String {
    let mut summary = format!(
        "{}Azure fraud event on {}: {}",
        if s.is_test { "TEST " } else { "" },
        s.name,
        s.kind
    );
    if let Some(sev) = &e.severity {
        summary.push_str(&format!(" (severity {sev})"));
    }
    if let Some(sub) = s.azure_sub {
        summary.push_str(&format!(" on Azure subscription {sub}"));
    }
    summary.push_str(&format!(", status {}", event_status_text(e)));
    if let Some(h) = e.hit_count {
        summary.push_str(&format!(", {h} hits"));
    }
    if let Some(t) = e.first_occurrence {
        summary.push_str(&format!(" since {}", short_time(t)));
    }
    summary
}

fn alert_facts(a: &PartnerSecurityAlert, s: &Signal<'_>) -> Facts {
    let mut facts = Facts::new();
    facts.insert("source", "graph");
    facts.insert("alert_id", a.id.clone());
    put(
        &mut facts,
        "status",
        a.status.as_ref().map(|x| x.to_string()),
    );
    put(&mut facts, "alert_type", a.alert_type.clone());
    put(
        &mut facts,
        "severity",
        a.severity.as_ref().map(|x| x.to_string()),
    );
    put(
        &mut facts,
        "confidence",
        a.confidence_level.as_ref().map(|x| x.to_string()),
    );
    put(
        &mut facts,
        "azure_subscription",
        s.azure_sub.map(str::to_owned),
    );
    let resources: Vec<&str> = a
        .affected_resources
        .iter()
        .filter_map(|r| r.resource_id.as_deref())
        .collect();
    if !resources.is_empty() {
        facts.insert("affected_resources", resources.join(", "));
    }
    put(
        &mut facts,
        "first_observed",
        a.first_observed_date_time.map(|t| t.to_string()),
    );
    put(
        &mut facts,
        "last_observed",
        a.last_observed_date_time.map(|t| t.to_string()),
    );
    put(&mut facts, "description", a.description.clone());
    if s.is_test {
        facts.insert("is_test", "true");
    }
    facts
}

fn alert_summary(a: &PartnerSecurityAlert, s: &Signal<'_>) -> String {
    let mut summary = format!(
        "{}Graph security alert on {}: {}",
        if s.is_test { "TEST " } else { "" },
        s.name,
        s.kind
    );
    let grade: Vec<String> = [
        a.severity.as_ref().map(|x| format!("severity {x}")),
        a.confidence_level
            .as_ref()
            .map(|x| format!("confidence {x}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !grade.is_empty() {
        summary.push_str(&format!(" ({})", grade.join(", ")));
    }
    if let Some(sub) = s.azure_sub {
        summary.push_str(&format!(" on Azure subscription {sub}"));
    }
    let status = a.status.as_ref().map_or("unknown", |x| x.as_str());
    summary.push_str(&format!(", status {status}"));
    if let Some(t) = a.first_observed_date_time.or(a.detected_date_time) {
        summary.push_str(&format!(" since {}", short_time(t)));
    }
    if let Some(r) = a
        .affected_resources
        .first()
        .and_then(|r| r.resource_id.as_deref())
    {
        summary.push_str(&format!("; resource {r}"));
    }
    summary
}

/// Whether a v1 event and a Graph alert report the same signal: the same Azure subscription,
/// and the same type when both name one.
fn same_signal(v1: &Signal<'_>, graph: &Signal<'_>) -> bool {
    let same_sub = match (v1.azure_sub, graph.azure_sub) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    };
    let same_type = match (&v1.type_key, &graph.type_key) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    same_sub && same_type && v1.is_test == graph.is_test
}

/// Fold each Graph alert into the v1 event reporting the same signal (the v1 finding keeps its
/// fingerprint and gains `graph_alert_id`); the alerts without a match stay on their own.
pub(super) fn merge<'e>(mut v1: Vec<Signal<'e>>, graph: Vec<Signal<'e>>) -> Vec<Signal<'e>> {
    let mut own = Vec::new();
    for alert in graph {
        match v1.iter_mut().find(|e| same_signal(e, &alert)) {
            Some(event) => {
                let ids = match event.facts.get("graph_alert_id") {
                    Some(earlier) if !earlier.is_empty() => format!("{earlier}, {}", alert.id),
                    _ => alert.id.to_owned(),
                };
                event.facts.insert("graph_alert_id", ids);
                event
                    .summary
                    .push_str(&format!(" (also Graph security alert {})", alert.id));
                for key in ["confidence", "affected_resources"] {
                    if let Some(v) = alert.facts.get(key)
                        && !event.facts.contains_key(key)
                    {
                        event.facts.insert(key, v);
                    }
                }
            }
            None => own.push(alert),
        }
    }
    v1.extend(own);
    v1
}
