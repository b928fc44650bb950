//! Scripted tenants: a small, deterministic cast of customers that exercises every policy, plus the
//! partner's receivables export that goes with it. Used by `cspguard demo`, the plan snapshot tests
//! and the end-to-end tests.
//!
//! Invariant: a scenario is a pure function of `now`, the time zone and the filler count. Dates in
//! the receivables are relative to the local `today`, so "16 days past due" stays true whenever
//! the scenario is built.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;

use super::dataset::{Dataset, SimAuditRecord, SimCustomer, SimFraudEvent, SimSubscription};

/// A scripted tenant and its receivables.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub dataset: Dataset,
    /// The partner's receivables export (default column names, tenant ids as customer refs).
    pub receivables_csv: String,
}

/// Tenant ids of the scripted cast, for tests.
pub mod ids {
    pub const REMINDER_1: &str = "00000000-0000-4000-8000-000000000001";
    pub const REMINDER_2: &str = "00000000-0000-4000-8000-000000000002";
    pub const FINAL_NOTICE: &str = "00000000-0000-4000-8000-000000000003";
    pub const CATCH_UP: &str = "00000000-0000-4000-8000-000000000004";
    pub const PAID: &str = "00000000-0000-4000-8000-000000000005";
    pub const PARTIAL: &str = "00000000-0000-4000-8000-000000000006";
    pub const BUDGET_BREACH: &str = "00000000-0000-4000-8000-000000000007";
    pub const FORECAST_BREACH: &str = "00000000-0000-4000-8000-000000000008";
    pub const FRAUD: &str = "00000000-0000-4000-8000-000000000009";
    pub const ADMIN_GRANT: &str = "00000000-0000-4000-8000-000000000010";
    pub const NO_BUDGET: &str = "00000000-0000-4000-8000-000000000011";
    pub const BURST_PREFIX: &str = "00000000-0000-4000-8000-0000000001";
    pub const FILLER_PREFIX: &str = "00000000-0000-4000-9000-";
}

fn customer(id: &str, name: &str, culture: &str, currency: &str, country: &str) -> SimCustomer {
    let mut c = SimCustomer::new(id, name).with_subscription(SimSubscription::license(
        format!("{id}-m365"),
        "Microsoft 365 Business Premium",
        25,
    ));
    c.culture = Some(culture.to_owned());
    c.language = culture.split('-').next().map(str::to_owned);
    c.currency = currency.to_owned();
    c.country = country.to_owned();
    c
}

fn dec(n: i64) -> Decimal {
    Decimal::from(n)
}

fn days(d: Date, n: i64) -> Date {
    d.checked_add(jiff::Span::new().days(n)).unwrap_or(d)
}

fn audit(
    id: &str,
    customer: &SimCustomer,
    op: &str,
    resource_type: &str,
    at: Timestamp,
    new_value: Option<String>,
) -> SimAuditRecord {
    SimAuditRecord {
        id: id.to_owned(),
        user_principal_name: "admin@partner.example".to_owned(),
        resource_new_value: new_value,
        ..SimAuditRecord::succeeded(customer, (resource_type, op), at)
    }
}

/// The demo tenant: one customer per situation cspguard handles, plus `filler` quiet customers.
pub fn demo_tenant(now: Timestamp, tz: &TimeZone, filler: usize) -> Scenario {
    let today = now.to_zoned(tz.clone()).date();
    let hours_ago = |h: i64| {
        now.checked_sub(SignedDuration::from_hours(h))
            .unwrap_or(now)
    };
    let mut d = Dataset::empty();
    d.generated_at = now;

    let cast = [
        customer(ids::REMINDER_1, "Fabrikam AB", "sv-SE", "SEK", "SE"),
        customer(ids::REMINDER_2, "Tailspin Toys KK", "ja-JP", "JPY", "JP"),
        customer(ids::FINAL_NOTICE, "Woodgrove Korea", "ko-KR", "KRW", "KR"),
        customer(
            ids::CATCH_UP,
            "Northwind Traders Shanghai",
            "zh-CN",
            "CNY",
            "CN",
        ),
        customer(ids::PAID, "Litware Inc", "en-US", "USD", "US"),
        customer(
            ids::PARTIAL,
            "Contoso Pharmaceuticals",
            "en-US",
            "USD",
            "US",
        ),
        customer(
            ids::BUDGET_BREACH,
            "Adatum Corporation",
            "en-US",
            "USD",
            "US",
        )
        .with_subscription(
            SimSubscription::azure_plan(format!("{}-azure", ids::BUDGET_BREACH))
                .with_entitlement("7a1b0000-0000-4000-8000-000000000007"),
        )
        .with_budget_usage(Some(dec(1000)), dec(1250)),
        customer(ids::FORECAST_BREACH, "Proseware Ltd", "en-GB", "GBP", "GB")
            .with_subscription(
                SimSubscription::azure_plan(format!("{}-azure", ids::FORECAST_BREACH))
                    .with_entitlement("7a1b0000-0000-4000-8000-000000000008"),
            )
            .with_budget_usage(Some(dec(2000)), forecast_spend(today, dec(2000))),
        customer(ids::FRAUD, "Fourth Coffee", "en-US", "USD", "US").with_subscription(
            SimSubscription::azure_plan(format!("{}-azure", ids::FRAUD))
                .with_entitlement("7a1b0000-0000-4000-8000-000000000009"),
        ),
        customer(
            ids::ADMIN_GRANT,
            "Humongous Insurance",
            "en-US",
            "USD",
            "US",
        ),
        customer(ids::NO_BUDGET, "Blue Yonder Airlines", "en-US", "USD", "US")
            .with_subscription(
                SimSubscription::azure_plan(format!("{}-azure", ids::NO_BUDGET))
                    .with_entitlement("7a1b0000-0000-4000-8000-000000000011"),
            )
            .with_budget_usage(None, dec(640)),
    ];
    d.customers.extend(cast);

    // A sign-up burst: six new customers within half an hour, yesterday evening.
    for i in 0..6_i64 {
        let id = format!("{}{:02}", ids::BURST_PREFIX, i);
        let mut c = customer(
            &id,
            &format!("Quick Signup {}", i + 1),
            "en-US",
            "USD",
            "US",
        );
        c.created = hours_ago(20 - i / 3);
        let rec = audit(
            &format!("audit-burst-{i}"),
            &c,
            "add_customer",
            "customer",
            hours_ago(20)
                .checked_add(SignedDuration::from_mins(5 * i))
                .unwrap_or(now),
            None,
        );
        d.audit_records.push(rec);
        d.customers.push(c);
    }
    for i in 0..filler {
        let id = format!("{}{:012}", ids::FILLER_PREFIX, i);
        d.customers.push(customer(
            &id,
            &format!("Quiet Customer {}", i + 1),
            "en-US",
            "USD",
            "US",
        ));
    }

    // An admin-access grant a few hours ago.
    if let Some(c) = d.customer(ids::ADMIN_GRANT).cloned() {
        d.audit_records.push(audit(
            "audit-gdap-1",
            &c,
            "granular_admin_relationship_approved",
            "granular_admin_relationship",
            hours_ago(3),
            None,
        ));
    }
    // An Azure fraud event on Fourth Coffee's subscription, and its activity-log record.
    if let Some(c) = d.customer(ids::FRAUD).cloned() {
        d.audit_records.push(audit(
            "audit-fraud-1",
            &c,
            "azure_fraud_event_detected",
            "subscription",
            hours_ago(6),
            None,
        ));
        let event = fraud_event(&c, hours_ago(6));
        // Graph reports the same signal as a partner security alert (read when [graph] is set).
        d.security_alerts
            .push(crate::sim::dataset::SimSecurityAlert::for_event(&event));
        d.fraud_events.push(event);
    }
    d.audit_records.sort_by_key(|r| r.operation_date);

    let receivables_csv = receivables(today);
    Scenario {
        dataset: d,
        receivables_csv,
    }
}

/// Month-to-date spend that is under budget today but forecast to exceed it by month end.
fn forecast_spend(today: Date, budget: Decimal) -> Decimal {
    let elapsed = i64::from(today.day()).saturating_sub(1).max(1);
    let in_month = i64::from(today.days_in_month());
    // Spend at 1.3x the budget's daily pace, capped below 95% of the budget.
    let pace = budget * Decimal::new(13, 1) / Decimal::from(in_month) * Decimal::from(elapsed);
    pace.min(budget * Decimal::new(95, 2)).round_dp(2)
}

fn fraud_event(c: &SimCustomer, at: Timestamp) -> SimFraudEvent {
    SimFraudEvent {
        event_time: at,
        subscription_id: "7a1b0000-0000-4000-8000-000000000009".to_owned(),
        customer_id: c.id.clone(),
        customer_name: c.company_name.clone(),
        entity_id: "vmss-miner-01".to_owned(),
        entity_name: "vmss-miner-01".to_owned(),
        hit_count: 42,
        catalog_offer_id: "ms-azr-17g".to_owned(),
        event_status: "Active".to_owned(),
        service_name: "Compute".to_owned(),
        resource_name: "vmss-miner-01".to_owned(),
        resource_group_name: "rg-prod".to_owned(),
        first_occurrence: at,
        last_occurrence: at,
        resolved_reason: "None".to_owned(),
        resolved_on: None,
        resolved_by: String::new(),
        event_type: "NetworkConnectionsToCryptoMiningPools".to_owned(),
        severity: "High".to_owned(),
        confidence_level: "High".to_owned(),
        display_name: "Network connections to crypto mining pools".to_owned(),
        description: "Virtual machines connected to known crypto-mining pools".to_owned(),
        country: "US".to_owned(),
        subscription_name: "Azure subscription 1".to_owned(),
        affected_resources: vec![(
            "/subscriptions/7a1b0000-0000-4000-8000-000000000009/resourceGroups/rg-prod".to_owned(),
            "Microsoft.Compute/virtualMachineScaleSets".to_owned(),
        )],
        is_test: false,
    }
}

fn receivables(today: Date) -> String {
    let mut rows =
        vec!["customer,invoice,issue_date,due_date,amount,amount_paid,currency,status".to_owned()];
    let mut row = |customer: &str,
                   invoice: &str,
                   due_in: i64,
                   amount: &str,
                   paid: &str,
                   cur: &str,
                   status: &str| {
        let due = days(today, due_in);
        let issue = days(due, -30);
        rows.push(format!(
            "{customer},{invoice},{issue},{due},{amount},{paid},{cur},{status}"
        ));
    };
    row(
        ids::REMINDER_1,
        "INV-1001",
        -2,
        "12400.00",
        "0",
        "SEK",
        "open",
    );
    row(
        ids::REMINDER_2,
        "INV-1002",
        -9,
        "185000",
        "0",
        "JPY",
        "open",
    );
    row(
        ids::FINAL_NOTICE,
        "INV-1003",
        -16,
        "2450000",
        "0",
        "KRW",
        "open",
    );
    row(
        ids::CATCH_UP,
        "INV-1004",
        -30,
        "8800.00",
        "0",
        "CNY",
        "open",
    );
    row(ids::CATCH_UP, "INV-1014", -3, "1200.00", "0", "CNY", "open");
    row(
        ids::PAID,
        "INV-1005",
        -20,
        "990.00",
        "990.00",
        "USD",
        "paid",
    );
    row(
        ids::PARTIAL,
        "INV-1006",
        -8,
        "1240.00",
        "1000.00",
        "USD",
        "open",
    );
    row(
        ids::BUDGET_BREACH,
        "INV-1007",
        10,
        "1250.00",
        "0",
        "USD",
        "open",
    );
    rows.push(String::new());
    rows.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_is_deterministic_and_relative_to_today() {
        let tz = TimeZone::get("Europe/Stockholm").unwrap();
        let now: Timestamp = "2026-11-21T08:00:00Z".parse().unwrap();
        let a = demo_tenant(now, &tz, 3);
        let b = demo_tenant(now, &tz, 3);
        assert_eq!(a.dataset, b.dataset);
        assert_eq!(a.receivables_csv, b.receivables_csv);
        assert_eq!(a.dataset.customers.len(), 11 + 6 + 3);
        assert!(
            a.receivables_csv
                .contains(",INV-1003,2026-10-06,2026-11-05,"),
            "{}",
            a.receivables_csv
        );
        let proseware = a.dataset.customer(ids::FORECAST_BREACH).unwrap();
        assert!(proseware.usage_mtd < Decimal::from(2000));
        assert_eq!(a.dataset.fraud_events.len(), 1);
    }
}
