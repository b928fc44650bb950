//! Listing Azure fraud events (`cspguard fraud list`): the events Partner Center reports now,
//! with their status and customer names, next to what cspguard did about each (the ledger's
//! fraud actions for the subscription and the event's finding). Read-only: it changes nothing in
//! Partner Center or the ledger.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;

use crate::ledger::{Ledger, LedgerError};
use crate::pc::models::FraudEvent;
use crate::pc::{PartnerCenter, PcError};

/// Errors of listing fraud events.
#[derive(Debug, thiserror::Error)]
pub enum FraudListError {
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
            FraudListError::Partner(_) => crate::exit::Exit::Failed,
            FraudListError::Ledger(e) => e.exit(),
        }
    }
}

/// One fraud event and what cspguard did about it.
#[derive(Debug, Clone, Serialize)]
pub struct FraudEntry {
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

/// Read the fraud events from Partner Center and join them with the ledger.
pub async fn list(pc: &PartnerCenter, ledger: &Ledger) -> Result<Vec<FraudEntry>, FraudListError> {
    let events = pc.fraud_events(None).collect_all().await?;
    let names = ledger.customer_names()?;
    let actions: Vec<_> = ledger
        .actions(None, None)?
        .into_iter()
        .filter(|a| a.key.starts_with("fraud-"))
        .collect();
    let findings: BTreeMap<String, String> = ledger
        .open_findings()?
        .into_iter()
        .filter(|f| f.fingerprint.starts_with("fraud.event:"))
        .map(|f| (f.fingerprint, f.summary))
        .collect();
    Ok(events
        .iter()
        .map(|e| entry(e, &names, &actions, &findings))
        .collect())
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
    let taken = actions
        .iter()
        .filter(|a| about(&a.key))
        .map(|a| TakenAction {
            id: a.id,
            kind: a.kind.clone(),
            status: a.status.as_str().to_owned(),
            updated_at: a.updated_at,
            reason: a.reason.clone(),
        })
        .collect();
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
        out.push_str("No Azure fraud events reported by Partner Center.\n");
        return out;
    }
    let _ = writeln!(out, "{} Azure fraud event(s):", entries.len());
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
             event {}",
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
