//! Builders for policy unit tests: snapshots, customers, receivables and inputs, so each policy's
//! tests state only what matters to them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use rust_decimal::Decimal;
use serde_json::json;

use crate::ledger::Ledger;
use crate::pc::CallStats;
use crate::pc::lenient;
use crate::pc::models::{
    AuditRecord, Customer, CustomerBillingProfile, CustomerMonthlyUsageRecord, FraudEvent,
    Subscription,
};
use crate::plan::Plan;
use crate::policy::{PolicyConfig, PolicyInput, ReceivablesInput, evaluate};
use crate::receivables::matching::MatchOutcome;
use crate::receivables::{InvoiceStatus, Receivable, SourcePos};
use crate::snapshot::{CustomerDetail, Section, Snapshot};

/// A timestamp from RFC 3339 text (panics on bad test input).
pub fn ts(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

/// A date from `YYYY-MM-DD` (panics on bad test input).
pub fn date(s: &str) -> Date {
    s.parse().expect("test date")
}

/// A decimal from text (panics on bad test input).
pub fn dec(s: &str) -> Decimal {
    s.parse().expect("test decimal")
}

/// A customer as the customer list returns it.
pub fn customer(id: &str, name: &str) -> Customer {
    lenient::from_value(json!({
        "id": id,
        "companyProfile": {"tenantId": id, "domain": format!("{name}.onmicrosoft.com"), "companyName": name},
        "relationshipToPartner": "reseller"
    }))
    .expect("test customer")
}

/// A billing profile with the given email and culture.
pub fn profile(
    email: Option<&str>,
    culture: Option<&str>,
    country: &str,
) -> CustomerBillingProfile {
    lenient::from_value(json!({
        "id": "bp", "email": email, "culture": culture,
        "language": culture.map(|c| c.split('-').next().unwrap_or(c).to_owned()),
        "defaultAddress": {"country": country}
    }))
    .expect("test profile")
}

/// A subscription; `offer` "azure" makes an Azure plan.
pub fn subscription(id: &str, status: &str, offer: &str) -> Subscription {
    let (offer_id, billing) = if offer == "azure" {
        ("DZH318Z0BPS6:0001", "usage")
    } else {
        (offer, "license")
    };
    lenient::from_value(json!({
        "id": id, "offerId": offer_id, "offerName": offer, "friendlyName": offer,
        "quantity": 10, "status": status, "billingType": billing,
        "attributes": {"etag": format!("etag-{id}"), "objectType": "Subscription"}
    }))
    .expect("test subscription")
}

/// A usage record for one customer.
pub fn usage(
    customer: &str,
    budget: Option<&str>,
    spend: &str,
    currency: &str,
) -> CustomerMonthlyUsageRecord {
    let spend_d = dec(spend);
    let pct = budget
        .map(dec)
        .filter(|b| !b.is_zero())
        .map(|b| (spend_d / b * Decimal::from(100)).round_dp(2));
    lenient::from_value(json!({
        "budget": budget.map(|b| json!({"amount": b})).unwrap_or(json!({})),
        "percentUsed": pct.map(|p| p.to_string()),
        "isUpgraded": true,
        "resourceId": customer, "id": customer, "resourceName": customer, "name": customer,
        "totalCost": spend, "currencyCode": currency, "usdTotalCost": spend,
        "lastModifiedDate": "2026-11-20T23:00:00Z"
    }))
    .expect("test usage record")
}

/// An audit record.
pub fn audit(
    id: &str,
    op: &str,
    customer: Option<&str>,
    at: &str,
    status: &str,
    new_value: Option<serde_json::Value>,
    old_value: Option<serde_json::Value>,
) -> AuditRecord {
    lenient::from_value(json!({
        "id": id, "partnerId": "partner", "customerId": customer, "customerName": customer,
        "userPrincipalName": "admin@partner.example", "resourceType": "customer",
        "resourceNewValue": new_value.map(|v| v.to_string()),
        "resourceOldValue": old_value.map(|v| v.to_string()),
        "operationType": op, "operationDate": at, "operationStatus": status,
        "customizedData": []
    }))
    .expect("test audit record")
}

/// An active fraud event.
pub fn fraud_event(event_id: &str, customer: &str, azure_sub: &str, status: &str) -> FraudEvent {
    lenient::from_value(json!({
        "eventTime": "2026-11-20T10:00:00", "eventId": event_id,
        "partnerTenantId": "partner", "customerTenantId": customer,
        "customerFriendlyName": customer, "subscriptionId": azure_sub,
        "subscriptionType": "modern", "entityId": "e", "hitCount": "3",
        "eventStatus": status, "serviceName": "Compute",
        "eventType": "NetworkConnectionsToCryptoMiningPools", "severity": "High",
        "firstOccurrence": "2026-11-20T09:00:00", "lastOccurrence": "2026-11-20T10:00:00",
        "resolvedReason": "None", "resolvedOn": "9999-12-31T23:59:59.9970000", "resolvedBy": ""
    }))
    .expect("test fraud event")
}

/// A Graph partner security alert (crypto mining, high severity, medium confidence).
pub fn security_alert(
    id: &str,
    customer: &str,
    azure_sub: &str,
    status: &str,
) -> crate::graph::alerts::PartnerSecurityAlert {
    lenient::from_value(json!({
        "id": id, "displayName": "Crypto mining pool connections",
        "alertType": "networkConnectionsToCryptoMiningPools", "status": status,
        "severity": "high", "confidenceLevel": "medium", "customerTenantId": customer,
        "subscriptionId": azure_sub, "isTest": false,
        "firstObservedDateTime": "2026-11-20T09:00:00Z",
        "lastObservedDateTime": "2026-11-20T10:00:00Z",
        "affectedResources": [{"resourceId": "/subscriptions/x/vm-1", "resourceType": "AzureResource"}]
    }))
    .expect("test security alert")
}

/// A receivable row.
pub fn receivable(
    customer: &str,
    invoice: &str,
    due: &str,
    amount: &str,
    paid: &str,
) -> Receivable {
    let due = date(due);
    Receivable {
        customer_ref: customer.to_owned(),
        invoice: invoice.to_owned(),
        issue_date: due.checked_sub(jiff::Span::new().days(30)).expect("date"),
        due_date: due,
        amount: dec(amount),
        amount_paid: dec(paid),
        currency: "EUR".to_owned(),
        status: if dec(paid) >= dec(amount) {
            InvoiceStatus::Paid
        } else {
            InvoiceStatus::Open
        },
        contact_email: None,
        source: SourcePos {
            file: PathBuf::from("ar.csv"),
            line: 2,
        },
    }
}

/// A snapshot with every bulk section collected and empty.
pub fn snapshot(now: Timestamp) -> Snapshot {
    Snapshot {
        collected_at: now,
        customers: Section::Ok { data: vec![] },
        usage: Section::Ok { data: vec![] },
        audit_records: Section::Ok { data: vec![] },
        fraud_events: Section::Ok { data: vec![] },
        security_alerts: Section::NotChecked {
            reason: "[graph] is not configured".into(),
        },
        invoice_summary: Section::NotChecked {
            reason: "not needed in policy tests".into(),
        },
        invoices: Section::Ok { data: vec![] },
        details: BTreeMap::new(),
        calls: CallStats::default(),
        index: Default::default(),
    }
}

/// Detail for a customer with a profile and subscriptions.
pub fn detail(profile: Option<CustomerBillingProfile>, subs: Vec<Subscription>) -> CustomerDetail {
    CustomerDetail {
        billing_profile: match profile {
            Some(p) => Section::Ok { data: p },
            None => Section::NotChecked {
                reason: "not fetched".into(),
            },
        },
        subscriptions: Section::Ok { data: subs },
        budget: Section::NotChecked {
            reason: "not fetched".into(),
        },
    }
}

/// Receivables matched by tenant id (rows' `customer_ref` is the tenant id).
pub fn matched(rows: Vec<Receivable>) -> ReceivablesInput {
    let mut m: BTreeMap<String, Vec<Receivable>> = BTreeMap::new();
    for r in rows {
        m.entry(r.customer_ref.clone()).or_default().push(r);
    }
    ReceivablesInput::Loaded(MatchOutcome {
        matched: m,
        unmatched: vec![],
    })
}

/// Evaluate with the given parts (time zone Europe/Stockholm unless given).
pub fn run(
    snapshot: &Snapshot,
    receivables: &ReceivablesInput,
    ledger: &Ledger,
    config: &PolicyConfig,
    now: Timestamp,
    tz: Option<&str>,
) -> Plan {
    let tz = TimeZone::get(tz.unwrap_or("Europe/Stockholm")).expect("test tz");
    evaluate(&PolicyInput {
        snapshot,
        receivables,
        recon: &crate::recon::model::ReconInput::NotConfigured,
        ledger,
        config,
        now,
        tz: &tz,
    })
}

/// A fresh in-memory ledger.
pub fn ledger() -> Ledger {
    Ledger::open_in_memory().expect("in-memory ledger")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_make_valid_models_and_an_empty_world_plans_nothing() {
        let now = ts("2026-11-21T08:00:00Z");
        let mut snap = snapshot(now);
        snap.customers = Section::Ok {
            data: vec![customer("c1", "contoso")],
        };
        snap.usage = Section::Ok {
            data: vec![usage("c1", Some("100"), "50", "EUR")],
        };
        snap.audit_records = Section::Ok {
            data: vec![audit(
                "a1",
                "create_order",
                Some("c1"),
                "2026-11-20T10:00:00Z",
                "succeeded",
                None,
                None,
            )],
        };
        snap.fraud_events = Section::Ok {
            data: vec![fraud_event("ev1", "c1", "az1", "Resolved")],
        };
        snap.details.insert(
            "c1".into(),
            detail(
                Some(profile(Some("ap@contoso.example"), Some("sv-SE"), "SE")),
                vec![subscription("s1", "active", "azure")],
            ),
        );
        assert_eq!(
            usage("c1", Some("200"), "50", "EUR").percent_used,
            Some(dec("25"))
        );
        assert!(subscription("s1", "active", "azure").is_azure_plan());
        assert_eq!(
            receivable("c1", "INV-1", "2026-11-01", "100", "40").outstanding(),
            dec("60")
        );
        assert_eq!(date("2026-11-21").day(), 21);
        let rec = matched(vec![]);
        let plan = run(&snap, &rec, &ledger(), &PolicyConfig::default(), now, None);
        assert!(plan.actions.is_empty(), "{plan:?}");
    }
}
