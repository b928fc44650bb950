//! Listing fraud signals (`cspguard fraud list`): the Azure fraud events Partner Center reports
//! now and the Graph partner security alerts that are open or were observed in the last 30 days,
//! from the sources the config reads ([`Sources`]), with their status and customer names, next
//! to what cspguard did about each (the ledger's fraud actions for the subscription, event or
//! alert, and its finding). Read-only: it changes nothing in Partner Center, Graph or the ledger.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;

use crate::graph::GraphClient;
use crate::graph::alerts::{self, AlertQuery, PartnerSecurityAlert};
use crate::ledger::{Ledger, LedgerError};
use crate::pc::models::FraudEvent;
use crate::pc::{PartnerCenter, PcError};

/// Errors of listing fraud events.
#[derive(Debug, thiserror::Error)]
pub enum FraudListError {
    /// Microsoft Graph could not be read.
    #[error(
        "cannot read the security alerts from Microsoft Graph: {0}; check `cspguard doctor` \
         and try again"
    )]
    Graph(PcError),
    /// No fraud source is configured.
    #[error(
        "no fraud source is read with this config: {0}; configure [graph] (Graph security \
         alerts, app-only) or App+User credentials (v1 fraud events)"
    )]
    NoSource(String),
    /// Partner Center could not be read.
    #[error(
        "cannot read the fraud events from Partner Center: {0}; check `cspguard doctor` and try \
         again"
    )]
    Partner(#[from] PcError),
    /// The ledger could not be read.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl crate::exit::ExitStatus for FraudListError {
    fn exit(&self) -> crate::exit::Exit {
        match self {
            FraudListError::Partner(_) | FraudListError::Graph(_) => crate::exit::Exit::Failed,
            FraudListError::NoSource(_) => crate::exit::Exit::Config,
            FraudListError::Ledger(e) => e.exit(),
        }
    }
}

/// One fraud event and what cspguard did about it.
#[derive(Debug, Clone, Serialize)]
pub struct FraudEntry {
    /// `v1` (Partner Center fraud event) or `graph` (Graph security alert).
    pub source: &'static str,
    /// The event id, or the alert id for Graph.
    pub event_id: String,
    /// `Active`, `Investigating` or `Resolved` (as Partner Center reports it).
    pub status: String,
    pub customer_tenant_id: Option<String>,
    /// The customer's name (from the event, else from the ledger's name cache).
    pub customer_name: Option<String>,
    pub azure_subscription_id: Option<String>,
    /// What was detected (the event's display name, else its entity or service).
    pub event_name: Option<String>,
    /// The Azure resource concerned.
    pub resource: Option<String>,
    pub event_time: Option<Timestamp>,
    pub resolved_reason: Option<String>,
    /// cspguard's actions for this event or its subscription, oldest first.
    pub actions: Vec<TakenAction>,
    /// cspguard's open finding for this event, if any.
    pub finding: Option<String>,
}

/// A ledger action taken about a fraud event.
#[derive(Debug, Clone, Serialize)]
pub struct TakenAction {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub updated_at: Timestamp,
    pub reason: String,
}

/// The sources to list; `None` = not read (with the reason in `why_none`).
pub struct Sources<'a> {
    pub v1: Option<&'a PartnerCenter>,
    pub graph: Option<&'a GraphClient>,
    /// Why neither is read, for the error when both are `None`.
    pub why_none: String,
}

/// Read the fraud events and security alerts and join them with the ledger.
pub async fn list(
    sources: &Sources<'_>,
    ledger: &Ledger,
    now: Timestamp,
) -> Result<Vec<FraudEntry>, FraudListError> {
    if sources.v1.is_none() && sources.graph.is_none() {
        return Err(FraudListError::NoSource(sources.why_none.clone()));
    }
    let events = match sources.v1 {
        Some(pc) => pc.fraud_events(None).collect_all().await?,
        None => Vec::new(),
    };
    let alerts = match sources.graph {
        Some(g) => {
            let since = now
                .checked_sub(jiff::SignedDuration::from_hours(24 * 30))
                .ok();
            let query = AlertQuery::OpenOrObservedSince(since);
            let pages = alerts::list(g, &query).map_err(FraudListError::Graph)?;
            pages.collect_all().await.map_err(FraudListError::Graph)?
        }
        None => Vec::new(),
    };
    let names = ledger.customer_names()?;
    let actions: Vec<_> = ledger
        .actions(None, None)?
        .into_iter()
        .filter(|a| a.key.starts_with("fraud-"))
        .collect();
    let findings: BTreeMap<String, String> = ledger
        .open_findings()?
        .into_iter()
        .filter(|f| {
            f.fingerprint.starts_with("fraud.event:") || f.fingerprint.starts_with("fraud.alert:")
        })
        .map(|f| (f.fingerprint, f.summary))
        .collect();
    let mut entries: Vec<FraudEntry> = events
        .iter()
        .map(|e| entry(e, &names, &actions, &findings))
        .collect();
    entries.extend(
        alerts
            .iter()
            .map(|a| alert_entry(a, &names, &actions, &findings)),
    );
    Ok(entries)
}

fn taken_about(
    actions: &[crate::ledger::ActionRow],
    about: impl Fn(&str) -> bool,
) -> Vec<TakenAction> {
    actions
        .iter()
        .filter(|a| about(&a.key))
        .map(|a| TakenAction {
            id: a.id,
            kind: a.kind.clone(),
            status: a.status.as_str().to_owned(),
            updated_at: a.updated_at,
            reason: a.reason.clone(),
        })
        .collect()
}

fn alert_entry(
    a: &PartnerSecurityAlert,
    names: &BTreeMap<String, String>,
    actions: &[crate::ledger::ActionRow],
    findings: &BTreeMap<String, String>,
) -> FraudEntry {
    let sub = a.subscription_id.clone();
    let taken = taken_about(actions, |key| {
        // fraud-alert-status/{alert}/..., fraud-cancel/{customer}/{sub},
        // fraud-suspend/{customer}/{sub}/{alert}
        let parts: Vec<&str> = key.split('/').collect();
        (!a.id.is_empty() && parts.contains(&a.id.as_str()))
            || (!key.starts_with("fraud-status/")
                && sub.as_deref().is_some_and(|s| parts.contains(&s)))
    });
    let suffix = format!(":{}", a.id);
    let finding = findings
        .iter()
        .find(|(fp, _)| fp.starts_with("fraud.alert:") && fp.ends_with(&suffix))
        .map(|(_, summary)| summary.clone());
    FraudEntry {
        source: "graph",
        event_id: a.id.clone(),
        status: a
            .status
            .as_ref()
            .map_or_else(|| "active".to_owned(), ToString::to_string),
        customer_tenant_id: a.customer_tenant_id.clone(),
        customer_name: a
            .customer_tenant_id
            .as_ref()
            .and_then(|t| names.get(t).cloned()),
        azure_subscription_id: sub,
        event_name: Some(format!(
            "{}{}",
            if a.is_test() { "TEST " } else { "" },
            a.display_name
                .clone()
                .or_else(|| a.alert_type.clone())
                .unwrap_or_else(|| "security alert".to_owned())
        )),
        resource: a
            .affected_resources
            .first()
            .and_then(|r| r.resource_id.clone()),
        event_time: a.last_observed_date_time.or(a.detected_date_time),
        resolved_reason: a.resolved_reason.as_ref().map(ToString::to_string),
        actions: taken,
        finding,
    }
}

fn entry(
    e: &FraudEvent,
    names: &BTreeMap<String, String>,
    actions: &[crate::ledger::ActionRow],
    findings: &BTreeMap<String, String>,
) -> FraudEntry {
    let sub = e.subscription_id.clone();
    let about = |key: &str| {
        // fraud-status/{sub}/{event}/..., fraud-cancel/{customer}/{sub},
        // fraud-suspend/{customer}/{sub}/{event}
        let parts: Vec<&str> = key.split('/').collect();
        sub.as_deref().is_some_and(|s| parts.contains(&s))
            || (!e.event_id.is_empty() && parts.contains(&e.event_id.as_str()))
    };
    let taken = taken_about(actions, about);
    let suffix = format!(":{}", e.event_id);
    let finding = findings
        .iter()
        .find(|(fp, _)| !e.event_id.is_empty() && fp.ends_with(&suffix))
        .map(|(_, summary)| summary.clone());
    let customer_name = e.customer_friendly_name.clone().or_else(|| {
        e.customer_tenant_id
            .as_ref()
            .and_then(|t| names.get(t).cloned())
    });
    FraudEntry {
        source: "v1",
        event_id: e.event_id.clone(),
        status: e
            .event_status
            .as_ref()
            .map_or_else(|| "Active".to_owned(), |s| s.as_str().to_owned()),
        customer_tenant_id: e.customer_tenant_id.clone(),
        customer_name,
        azure_subscription_id: sub,
        event_name: e
            .display_name
            .clone()
            .or_else(|| e.entity_name.clone())
            .or_else(|| e.service_name.clone()),
        resource: e.entity_name.clone().or_else(|| e.resource_name.clone()),
        event_time: e.event_time.or(e.first_occurrence),
        resolved_reason: e.resolved_reason.clone(),
        actions: taken,
        finding,
    }
}

/// The entries as text for an operator, times in `tz`.
pub fn render(entries: &[FraudEntry], tz: &jiff::tz::TimeZone) -> String {
    let mut out = String::new();
    if entries.is_empty() {
        out.push_str("No Azure fraud events or Graph security alerts reported.\n");
        return out;
    }
    let _ = writeln!(out, "{} fraud signal(s):", entries.len());
    for e in entries {
        let when = e.event_time.map_or_else(
            || "time unknown".to_owned(),
            |t| {
                t.to_zoned(tz.clone())
                    .strftime("%Y-%m-%d %H:%M %Z")
                    .to_string()
            },
        );
        let _ = writeln!(
            out,
            "\n{} [{}{}]  {}\n  customer {} ({})\n  Azure subscription {}  resource {}\n  \
             {} {}",
            e.event_name.as_deref().unwrap_or("fraud event"),
            e.status,
            e.resolved_reason
                .as_deref()
                .map(|r| format!(", {r}"))
                .unwrap_or_default(),
            when,
            e.customer_name.as_deref().unwrap_or("(name unknown)"),
            e.customer_tenant_id.as_deref().unwrap_or("-"),
            e.azure_subscription_id.as_deref().unwrap_or("-"),
            e.resource.as_deref().unwrap_or("-"),
            if e.source == "graph" {
                "Graph alert"
            } else {
                "event"
            },
            e.event_id,
        );
        if let Some(f) = &e.finding {
            let _ = writeln!(out, "  finding: {f}");
        }
        if e.actions.is_empty() {
            let _ = writeln!(out, "  cspguard: no action recorded yet");
        }
        for a in &e.actions {
            let _ = writeln!(
                out,
                "  cspguard: #{} {} {} ({}): {}",
                a.id,
                a.kind,
                a.status,
                a.updated_at
                    .to_zoned(tz.clone())
                    .strftime("%Y-%m-%d %H:%M %Z"),
                a.reason
            );
        }
    }
    out
}
