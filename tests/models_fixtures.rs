//! Fixture tests for the Partner Center models: the project's own example responses in
//! `tests/fixtures/` (one per documented shape and quirk) and a conformance pass over the official
//! examples in `../shared/pc-fixtures/`. Everything is decoded through
//! `cspguard::pc::lenient::from_slice`, as the client does.

mod support;

use std::path::{Path, PathBuf};

use cspguard::pc::auth::PcTokenResponse;
use cspguard::pc::lenient;
use cspguard::pc::models::*;
use jiff::Timestamp;
use oauth2::TokenResponse as _;
use rust_decimal_macros::dec;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn project_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

fn parse<T: DeserializeOwned>(path: &Path) -> T {
    lenient::from_slice(&read(path))
        .unwrap_or_else(|e| panic!("fixture {} does not parse: {e}", path.display()))
}

/// Decode each element of a collection's `items` (the client owns the envelope itself).
fn parse_items<T: DeserializeOwned>(path: &Path) -> Vec<T> {
    let envelope: Value = parse(path);
    let items = envelope
        .get("items")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("fixture {} has no items array", path.display()));
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            lenient::from_value(item.clone()).unwrap_or_else(|e| {
                panic!("item {i} of fixture {} does not parse: {e}", path.display())
            })
        })
        .collect()
}

fn load<T: DeserializeOwned>(name: &str) -> T {
    parse(&project_fixture(name))
}

fn load_items<T: DeserializeOwned>(name: &str) -> Vec<T> {
    parse_items(&project_fixture(name))
}

fn ts(text: &str) -> Timestamp {
    text.parse()
        .unwrap_or_else(|e| panic!("bad timestamp literal {text}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Project fixtures
// ---------------------------------------------------------------------------------------------

#[test]
fn subscription_pascalcase_parses_and_builds_patch_body() {
    let s: Subscription = load("subscription-pascalcase.json");
    assert_eq!(s.id, "5D1C7A0E-2B3F-4C19-9A44-0E7B1D2C3F40");
    assert_eq!(s.offer_id.as_deref(), Some("CFQ7TTC0LH18:0001"));
    assert_eq!(s.friendly_name.as_deref(), Some("Contoso M365 Basic"));
    assert_eq!(s.quantity, Some(12));
    assert_eq!(s.status, SubscriptionStatus::Suspended);
    assert_eq!(s.suspension_reasons, vec!["CustomerRequested".to_owned()]);
    assert_eq!(s.billing_type, Some(BillingType::License));
    assert_eq!(s.term_duration.as_deref(), Some("P1Y"));
    assert_eq!(s.auto_renew_enabled, Some(true));
    assert_eq!(s.is_trial, Some(false));
    assert_eq!(s.parent_subscription_id, None);
    assert_eq!(s.creation_date, Some(ts("2024-02-01T09:15:22.1234567Z")));
    assert_eq!(s.commitment_end_date, Some(ts("2026-11-21T00:00:00Z")));
    assert_eq!(s.etag.as_deref(), Some("W/\"cspguard-etag-42\""));
    assert!(!s.is_azure_plan());

    let body = s.with_status(&SubscriptionStatus::Active);
    assert_eq!(body["status"], "active");
    assert_eq!(body["id"], s.id.as_str());
    assert_eq!(
        body["quantity"], "12",
        "other fields are sent back exactly as received"
    );
    assert_eq!(body["attributes"]["etag"], "W/\"cspguard-etag-42\"");
    assert_eq!(body["links"]["self"]["method"], "GET");
    assert!(
        body.get("Status").is_none(),
        "keys are camelCase in the PATCH body"
    );
}

#[test]
fn subscription_camelcase_azure_plan_with_sentinel_commitment_end() {
    let s: Subscription = load("subscription-camelcase-azure-plan.json");
    assert_eq!(s.status, SubscriptionStatus::Active);
    assert!(s.suspension_reasons.is_empty());
    assert_eq!(s.billing_type, Some(BillingType::Usage));
    assert_eq!(
        s.commitment_end_date, None,
        "9999-12-10 is the no-end sentinel"
    );
    assert_eq!(s.creation_date, Some(ts("2023-05-04T10:20:30.45Z")));
    assert_eq!(s.is_trial, Some(false));
    assert_eq!(
        s.entitlement_id.as_deref(),
        Some("0f9e8d7c-6b5a-4938-2716-05f4e3d2c1b0")
    );
    assert_eq!(s.etag.as_deref(), Some("eyJ2ZXJzaW9uIjo3fQ=="));
    assert!(s.is_azure_plan());
    let body = s.with_status(&SubscriptionStatus::Suspended);
    assert_eq!(body["status"], "suspended");
    assert_eq!(
        body["refundableQuantity"],
        json!({"totalQuantity": 1, "details": []})
    );
    assert_eq!(body["commitmentEndDate"], "9999-12-10T00:00:00Z");
}

#[test]
fn subscription_unknown_enum_values_are_kept() {
    let s: Subscription = load("subscription-unknown-status.json");
    assert_eq!(
        s.status,
        SubscriptionStatus::Other("PendingCancellation".to_owned())
    );
    assert_eq!(
        s.billing_type,
        Some(BillingType::Other("Consumption".to_owned()))
    );
    assert_eq!(s.etag, None);
    assert_eq!(s.quantity, Some(1));
    assert_eq!(s.creation_date, Some(ts("2015-11-25T06:41:12Z")));
    assert_eq!(
        s.with_status(&SubscriptionStatus::Suspended)["status"],
        "suspended"
    );
}

#[test]
fn azure_entitlements_list() {
    let items: Vec<AzureEntitlement> = load_items("azure-entitlements-list.json");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].id, "3f2e1d0c-9b8a-4766-5544-332211009988");
    assert_eq!(items[0].status, Some(SubscriptionStatus::Active));
    assert_eq!(
        items[0].subscription_id.as_deref(),
        Some("c7e1a2b3-4d5e-46f7-8a9b-0c1d2e3f4a5b")
    );
    assert_eq!(items[0].entitlement_type.as_deref(), Some("Azure"));
    assert_eq!(items[1].status, Some(SubscriptionStatus::Disabled));
    assert_eq!(items[1].partner_id, None);
}

#[test]
fn customer_by_id_carries_billing_profile() {
    let c: Customer = load("customer-get-with-billing-profile.json");
    assert_eq!(c.id, "9a3e1f20-4c5b-4d6e-8f70-1a2b3c4d5e6f");
    assert_eq!(c.company_name(), Some("Fabrikam Toys GmbH"));
    let cp = c
        .company_profile
        .as_ref()
        .map(|p| (p.tenant_id.as_deref(), p.domain.as_deref()));
    assert_eq!(
        cp,
        Some((
            Some("9a3e1f20-4c5b-4d6e-8f70-1a2b3c4d5e6f"),
            Some("fabrikamtoys.onmicrosoft.com")
        ))
    );
    assert_eq!(c.relationship_to_partner.as_deref(), Some("reseller"));
    assert_eq!(c.allow_delegated_access, Some(true));
    let bp = c.billing_profile.unwrap_or_default();
    assert_eq!(
        bp.email(),
        Some("buchhaltung@fabrikamtoys.example"),
        "email is trimmed"
    );
    assert_eq!(bp.culture(), Some("de-DE"));
    assert_eq!(bp.language(), Some("de"));
    assert_eq!(bp.country(), Some("DE"));
    assert_eq!(bp.etag.as_deref(), Some("-1122334455667788"));
}

#[test]
fn customers_list_mixed_case_items() {
    let items: Vec<Customer> = load_items("customers-list-page.json");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].company_name(), Some("Northwind Traders"));
    assert_eq!(
        items[0].billing_profile, None,
        "list items carry no billing profile"
    );
    assert_eq!(items[0].allow_delegated_access, None);
    assert_eq!(items[1].id, "66666666-7777-4888-9999-000000000000");
    assert_eq!(items[1].company_name(), Some("Adatum"));
    assert_eq!(items[1].relationship_to_partner.as_deref(), Some("advisor"));
}

#[test]
fn billing_profile_with_null_culture_and_blank_fields() {
    let bp: CustomerBillingProfile = load("billing-profile-null-culture.json");
    assert_eq!(bp.email(), Some("billing@woodgrove.example"));
    assert_eq!(bp.culture(), None);
    assert_eq!(bp.language(), None, "blank language is None");
    assert_eq!(bp.country(), None, "blank country is None");
    assert_eq!(bp.first_name, None);
    assert_eq!(bp.etag, None);
    assert_eq!(
        bp.default_address.and_then(|a| a.city).as_deref(),
        Some("Lyon")
    );
}

#[test]
fn audit_records_page() {
    let items: Vec<AuditRecord> = load_items("auditrecords-page.json");
    assert_eq!(items.len(), 4);

    let order = &items[0];
    assert_eq!(
        order.id.as_deref(),
        Some("a0000001-0000-4000-8000-000000000001")
    );
    assert_eq!(order.operation_type, OperationType::CreateOrder);
    assert_eq!(order.resource_type, Some(AuditResourceType::Order));
    assert_eq!(order.operation_status, Some(OperationStatus::Succeeded));
    assert_eq!(order.operation_date, ts("2025-03-01T13:00:01.1234567Z"));
    assert_eq!(order.customized("OrderId"), Some("o-1"));
    assert_eq!(
        order.customized("quantity-0"),
        Some("300"),
        "keys match case-insensitively"
    );
    assert_eq!(order.customized("PartnerOnRecord-0"), None, "null value");
    assert_eq!(order.customized("Missing"), None);
    let new_value = order.resource_new_value.as_ref().and_then(|v| v.parsed());
    assert_eq!(
        new_value
            .as_ref()
            .and_then(|v| v.pointer("/LineItems/0/Quantity")),
        Some(&json!(300))
    );
    let normalized = order
        .resource_new_value
        .as_ref()
        .and_then(|v| v.parsed_normalized());
    assert_eq!(
        normalized
            .as_ref()
            .and_then(|v| v.pointer("/lineItems/0/offerId")),
        Some(&json!("CFQ7TTC0LF8Q:0001"))
    );

    let budget = &items[1];
    assert_eq!(
        budget.operation_type,
        OperationType::UpdateCustomerSpendingBudget
    );
    assert_eq!(budget.resource_type, Some(AuditResourceType::SpendingLimit));
    assert_eq!(budget.operation_status, Some(OperationStatus::Succeeded));
    assert_eq!(
        budget.operation_date,
        ts("2025-03-01T14:02:03Z"),
        "no suffix means UTC"
    );
    assert!(
        budget.customized_data.is_empty(),
        "null customizedData is empty"
    );
    assert_eq!(
        budget.resource_old_value.as_ref().and_then(|v| v.parsed()),
        Some(json!({"Amount": 100}))
    );
    let malformed = budget.resource_new_value.as_ref();
    assert_eq!(malformed.map(|v| v.raw()), Some("{\"Amount\":5000"));
    assert_eq!(
        malformed.and_then(|v| v.parsed()),
        None,
        "malformed inner JSON is None, not an error"
    );

    let gdap = &items[2];
    assert_eq!(
        gdap.operation_type,
        OperationType::GranularAdminRelationshipApproved
    );
    assert_eq!(gdap.user_principal_name, "");
    assert_eq!(gdap.operation_status, Some(OperationStatus::Progress));
    assert_eq!(gdap.operation_date, ts("2025-03-01T23:00:00Z"));

    let unknown = &items[3];
    assert_eq!(
        unknown.operation_type,
        OperationType::Other("brand_new_operation".to_owned())
    );
    assert_eq!(
        unknown.resource_type,
        Some(AuditResourceType::Other("brand_new_resource".to_owned()))
    );
    assert_eq!(
        unknown.operation_status,
        Some(OperationStatus::Other("queued".to_owned()))
    );
    assert_eq!(unknown.customer_id, None);
}

#[test]
fn usage_budgets_from_strings_and_null() {
    let b: SpendingBudget = load("usagebudget-strings.json");
    assert_eq!(b.amount, Some(dec!(2500.75)));
    assert_eq!(b.usage_spending_budget, Some(dec!(2500.75)));
    let none: SpendingBudget = load("usagebudget-none.json");
    assert_eq!(
        none,
        SpendingBudget {
            amount: None,
            usage_spending_budget: None
        }
    );
}

#[test]
fn usage_summary_145p_with_ammount_typo() {
    let u: CustomerUsageSummary = load("usagesummary-145p-ammount.json");
    assert_eq!(u.budget_amount(), Some(dec!(250)));
    assert_eq!(
        u.customer_id(),
        Some("0f0e0d0c-0b0a-4909-8807-060504030201")
    );
    assert_eq!(u.customer_name(), Some("Legacy Azure Customer FR"));
    assert_eq!(u.total_cost, Some(dec!(312.4)));
    assert_eq!(u.currency_locale.as_deref(), Some("fr-FR"));
    assert_eq!(u.currency_code, None);
    assert_eq!(u.usd_total_cost, None);
    assert_eq!(u.billing_start_date, Some(ts("2025-02-01T00:00:00Z")));
    assert_eq!(u.billing_end_date, Some(ts("2025-03-01T00:00:00Z")));
}

#[test]
fn usage_summary_azure_plan() {
    let u: CustomerUsageSummary = load("usagesummary-azure-plan.json");
    assert_eq!(u.budget_amount(), Some(dec!(1000)));
    assert_eq!(
        u.customer_id(),
        Some("11111111-2222-4333-8444-555555555555")
    );
    assert_eq!(u.customer_name(), Some("Northwind Traders"));
    assert_eq!(u.currency_code.as_deref(), Some("EUR"));
    assert_eq!(u.usd_total_cost, Some(dec!(1310.02)));
    // A long JSON number arrives as f64; it keeps the f64's shortest round-trip digits.
    assert_eq!(u.total_cost, Some(dec!(1204.5678901234567)));
    assert_eq!(u.last_modified_date, Some(ts("2025-03-18T17:09:26.16Z")));
}

#[test]
fn customers_usage_records_page() {
    let items: Vec<CustomerMonthlyUsageRecord> = load_items("customers-usagerecords-page.json");
    assert_eq!(items.len(), 3);
    let over = &items[0];
    assert_eq!(
        over.customer_id(),
        Some("11111111-2222-4333-8444-555555555555")
    );
    assert_eq!(over.budget_amount(), Some(dec!(1000)));
    assert_eq!(over.percent_used, Some(dec!(120.45)));
    assert_eq!(over.is_upgraded, Some(true));
    assert_eq!(over.total_cost, Some(dec!(1204.5)));
    assert_eq!(
        over.last_modified_date,
        Some(ts("2025-03-18T17:08:11.1433333Z"))
    );

    let legacy = &items[1];
    assert_eq!(
        legacy.customer_id(),
        Some("0f0e0d0c-0b0a-4909-8807-060504030201"),
        "falls back to id"
    );
    assert_eq!(legacy.customer_name(), Some("Legacy Azure Customer FR"));
    assert_eq!(
        legacy.budget_amount(),
        None,
        "budget object without amount = no budget"
    );
    assert_eq!(legacy.percent_used, Some(dec!(0)));
    assert_eq!(legacy.is_upgraded, Some(false));
    assert_eq!(legacy.currency_locale.as_deref(), Some("fr-FR"));

    let big = &items[2];
    assert_eq!(big.budget, None);
    assert_eq!(big.percent_used, None);
    assert_eq!(
        big.total_cost,
        Some(dec!(751094.39)),
        "exact, no float drift"
    );
    assert_eq!(big.last_modified_date, None, "0001 sentinel");
}

#[test]
fn invoices_page() {
    let items: Vec<Invoice> = load_items("invoices-page.json");
    assert_eq!(items.len(), 3);
    let paid = &items[0];
    assert_eq!(paid.id, "G012345678");
    assert_eq!(paid.total_charges, Some(dec!(48211.07)));
    assert_eq!(paid.paid_amount, Some(dec!(-48211.07)));
    assert_eq!(paid.currency_symbol.as_deref(), Some("€"));
    assert_eq!(
        paid.billing_period_start_date,
        Some(ts("2025-01-01T00:00:00Z"))
    );
    assert_eq!(
        paid.status.as_deref(),
        Some("Paid"),
        "PascalCase Status is read"
    );
    assert_eq!(paid.invoice_date, Some(ts("2025-02-08T01:22:47.603895Z")));
    let open = &items[1];
    assert_eq!(open.total_charges, Some(dec!(1200)));
    assert_eq!(open.paid_amount, Some(dec!(0)));
    assert_eq!(open.invoice_type.as_deref(), Some("Recurring"));
    assert_eq!(open.billing_period_end_date, None);
    assert_eq!(items[2].document_type.as_deref(), Some("void_note"));
}

#[test]
fn invoice_summary_with_sentinels() {
    let s: InvoiceSummary = load("invoice-summary-sentinel.json");
    assert_eq!(s.balance_amount, Some(dec!(751094.39)));
    assert_eq!(s.last_payment_date, None, "0001 sentinel");
    assert_eq!(s.last_payment_amount, Some(dec!(0)));
    assert_eq!(s.accounting_date, Some(ts("2025-03-16T00:00:00Z")));
    assert_eq!(s.details.len(), 2);
    assert_eq!(s.details[0].invoice_type.as_deref(), Some("Recurring"));
    let recurring = s.details[0].summary.clone().unwrap_or_default();
    assert_eq!(recurring.balance_amount, Some(dec!(202955.87)));
    assert_eq!(recurring.latest_invoice_date, None);
    assert_eq!(
        recurring.last_payment_date,
        Some(ts("2025-02-01T12:00:00Z"))
    );
    let one_time = s.details[1].summary.clone().unwrap_or_default();
    assert_eq!(one_time.balance_amount, Some(dec!(548138.52)));
}

#[test]
fn fraud_events_classic() {
    let events: Vec<FraudEvent> = load("fraudevents-classic.json");
    assert_eq!(events.len(), 2);
    let active = &events[0];
    assert_eq!(
        active.event_id,
        "c7e1a2b3-4d5e-46f7-8a9b-0c1d2e3f4a5b_aa11bb22-cc33-4d44-ee55-ff6677889900"
    );
    assert_eq!(
        active.event_status,
        Some(FraudEventStatus::Active),
        "lower-case status"
    );
    assert!(active.is_open());
    assert_eq!(active.hit_count, Some(42));
    assert_eq!(
        active.subscription_id.as_deref(),
        Some("aa11bb22-cc33-4d44-ee55-ff6677889900")
    );
    assert_eq!(
        active.customer_tenant_id.as_deref(),
        Some("11111111-2222-4333-8444-555555555555")
    );
    assert_eq!(active.event_time, Some(ts("2025-03-03T04:05:06.78Z")));
    assert_eq!(
        active.last_occurrence,
        Some(ts("2025-03-03T09:10:11.1234567Z"))
    );
    assert_eq!(active.resolved_reason, None);
    assert_eq!(active.resolved_on, None);
    assert_eq!(active.resolved_by, None);
    assert_eq!(active.first_observed, None);
    assert_eq!(
        active.severity, None,
        "classic events have no new-model fields"
    );
    assert!(active.affected_resources.is_empty());
    let resolved = &events[1];
    assert_eq!(resolved.event_status, Some(FraudEventStatus::Resolved));
    assert!(!resolved.is_open());
    assert_eq!(resolved.hit_count, Some(3));
    assert_eq!(resolved.resolved_reason.as_deref(), Some("Fraud"));
    assert_eq!(resolved.resolved_on, Some(ts("2025-02-02T10:00:00Z")));
    assert_eq!(resolved.resolved_by.as_deref(), Some("ops@partner.example"));
}

#[test]
fn fraud_events_new_model() {
    let events: Vec<FraudEvent> = load("fraudevents-newmodel.json");
    assert_eq!(events.len(), 2);
    let e = &events[0];
    assert_eq!(
        e.event_type.as_deref(),
        Some("NetworkConnectionsToCryptoMiningPools")
    );
    assert_eq!(e.severity, Some(FraudSeverity::High));
    assert_eq!(e.event_status, Some(FraudEventStatus::Investigating));
    assert_eq!(e.hit_count, Some(7));
    assert_eq!(e.is_test, Some(false));
    assert_eq!(e.country.as_deref(), Some("NL"));
    assert_eq!(e.subscription_name.as_deref(), Some("Crypto lab"));
    assert_eq!(e.first_observed, Some(ts("2025-03-04T01:00:00Z")));
    assert_eq!(e.affected_resources.len(), 1);
    assert_eq!(
        e.affected_resources[0].resource_type.as_deref(),
        Some("Microsoft.Compute/virtualMachines")
    );
    assert_eq!(
        e.additional_details
            .as_ref()
            .and_then(|d| d.get("miningPool")),
        Some(&json!("pool.example:3333")),
        "keys of additionalDetails are normalised too"
    );
    let logs = e.activity_logs.as_ref().and_then(|l| l.parsed());
    assert_eq!(
        logs.as_ref().and_then(|l| l.pointer("/0/caller")),
        Some(&json!("intruder@northwind.example"))
    );

    let odd = &events[1];
    assert_eq!(
        odd.severity,
        Some(FraudSeverity::Other("Critical".to_owned()))
    );
    assert_eq!(
        odd.event_status,
        Some(FraudEventStatus::Other("Escalated".to_owned()))
    );
    assert!(odd.is_open());
    assert_eq!(odd.is_test, Some(true));
    assert!(odd.affected_resources.is_empty());
    assert!(
        odd.activity_logs
            .as_ref()
            .is_some_and(|l| l.parsed().is_none() && !l.raw().is_empty())
    );
}

#[test]
fn error_bodies_in_both_shapes() {
    let numeric: ApiErrorBody = load("error-classic-numeric-code.json");
    assert_eq!(numeric.code(), Some("800091".to_owned()));
    assert_eq!(
        numeric.message(),
        "Can't update a subscription with suspended status."
    );
    assert_eq!(
        numeric.source.as_deref(),
        Some("PartnerApiServiceControllers")
    );
    let text: ApiErrorBody = load("error-classic-string-code.json");
    assert_eq!(text.code(), Some("900115".to_owned()));
    assert!(text.message().starts_with("Azure plan can't be moved"));
    let throttled: ApiErrorBody = load("error-throttled-429.json");
    assert_eq!(throttled.code(), None);
    assert_eq!(throttled.status_code, Some(429));
    assert_eq!(
        throttled.message(),
        "Rate limit is exceeded. Try again in 12 seconds."
    );
}

/// Decode a token endpoint answer with the client's own token type, as the auth module does.
fn parse_token(path: &Path) -> PcTokenResponse {
    serde_json::from_slice(&read(path))
        .unwrap_or_else(|e| panic!("token fixture {} does not parse: {e}", path.display()))
}

/// `expires_in` in seconds, and the access token text must not leak through Debug.
fn check_token(path: &Path, expires_in: u64) {
    let raw: Value = parse(path);
    let access = raw["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: access_token missing", path.display()));
    let t = parse_token(path);
    assert_eq!(
        t.expires_in(),
        Some(std::time::Duration::from_secs(expires_in)),
        "{}",
        path.display()
    );
    assert_eq!(t.access_token().secret(), access, "{}", path.display());
    let debug = format!("{t:?}");
    assert!(
        !debug.contains(access),
        "{}: Debug of the token response shows the access token",
        path.display()
    );
    if let Some(refresh) = raw["refresh_token"].as_str() {
        assert!(
            !debug.contains(refresh),
            "{}: Debug of the token response shows the refresh token",
            path.display()
        );
    }
}

#[test]
fn token_fixtures_have_the_documented_expires_in_types() {
    let v1: Value = load("token-v1-string-expires-in.json");
    assert!(v1["expires_in"].is_string());
    check_token(&project_fixture("token-v1-string-expires-in.json"), 3599);
    let v2: Value = load("token-v2-numeric-expires-in.json");
    assert!(v2["expires_in"].is_number());
    check_token(&project_fixture("token-v2-numeric-expires-in.json"), 3599);
}

#[test]
fn every_project_fixture_is_valid_json() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut count = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            let _: Value = parse(&path);
            count += 1;
        }
    }
    assert!(
        count >= 20,
        "expected the project fixtures in {}, found {count}",
        dir.display()
    );
}

// ---------------------------------------------------------------------------------------------
// Conformance with the official examples
// ---------------------------------------------------------------------------------------------

fn check_official(name: &str, path: &Path) {
    match name {
        "auditrecords.json" => {
            let items: Vec<AuditRecord> = parse_items(path);
            assert_eq!(items.len(), 2);
            assert_eq!(items[0].operation_type, OperationType::CreateOrder);
            assert_eq!(items[0].operation_status, Some(OperationStatus::Succeeded));
            assert_eq!(items[0].operation_date, ts("2017-06-15T22:56:05.0589308Z"));
            assert_eq!(
                items[0].customized("OrderId"),
                Some("d51a052e-043c-4a2a-aa37-2bb938cef6c1")
            );
            assert_eq!(items[0].customized("PartnerOnRecord-0"), None);
            let new_value = items[0]
                .resource_new_value
                .as_ref()
                .and_then(|v| v.parsed_normalized());
            assert_eq!(
                new_value
                    .as_ref()
                    .and_then(|v| v.pointer("/lineItems/0/quantity")),
                Some(&json!(25))
            );
            assert_eq!(
                items[1].operation_type,
                OperationType::UpdateCustomerUserLicenses
            );
            assert_eq!(
                items[1].application_id.as_deref(),
                Some("Partner Center Native App")
            );
        }
        "customer-billing-profile.json" => {
            let bp: CustomerBillingProfile = parse(path);
            assert_eq!(bp.email(), Some("email@sample.com"));
            assert_eq!(bp.culture(), Some("en-US"));
            assert_eq!(bp.language(), Some("en"));
            assert_eq!(bp.country(), Some("US"));
            assert_eq!(bp.etag.as_deref(), Some("<etag>"));
        }
        "customer-get.json" => {
            let c: Customer = parse(path);
            assert_eq!(c.id, "eebd1b55-5360-4438-a11d-5c06918c3014");
            assert_eq!(c.allow_delegated_access, Some(true));
            assert_eq!(
                c.company_profile.as_ref().and_then(|p| p.email.as_deref()),
                Some("a@a.com")
            );
            let bp = c.billing_profile.unwrap_or_default();
            assert_eq!(bp.etag.as_deref(), Some("-4242348048554929329"));
            assert_eq!(bp.culture(), Some("en-US"));
        }
        "customers-list.json" => {
            let items: Vec<Customer> = parse_items(path);
            assert_eq!(items.len(), 2);
            assert_eq!(items[0].id, "b44bb1fb-c595-45b0-9e09-d657365580bf");
            assert_eq!(
                items[1].relationship_to_partner.as_deref(),
                Some("reseller")
            );
        }
        "customers-usagerecords.json" => {
            let items: Vec<CustomerMonthlyUsageRecord> = parse_items(path);
            assert_eq!(items.len(), 4);
            assert_eq!(items[0].budget_amount(), None);
            assert_eq!(items[0].is_upgraded, Some(false));
            assert_eq!(items[1].budget_amount(), Some(dec!(20)));
            assert_eq!(items[1].percent_used, Some(dec!(602.84)));
            assert_eq!(
                items[1].customer_id(),
                Some("11111111-6fb9-4b05-8f15-b3d72e0596e6")
            );
            assert_eq!(items[3].budget_amount(), Some(dec!(97)));
            assert_eq!(
                items[0].last_modified_date,
                Some(ts("2019-08-01T23:00:16.57Z"))
            );
        }
        "error-429-throttled.json" => {
            let e: ApiErrorBody = parse(path);
            assert_eq!(e.status_code, Some(429));
            assert_eq!(
                e.message(),
                "Rate limit is exceeded. Try again in 57 seconds."
            );
        }
        "error.json" => {
            let e: ApiErrorBody = parse(path);
            assert_eq!(e.code(), Some("3000".to_owned()));
            assert!(e.message().contains("could not be found"));
        }
        "fraudevents.json" => {
            let events: Vec<FraudEvent> = parse(path);
            assert_eq!(events.len(), 1);
            let e = &events[0];
            assert_eq!(e.event_status, Some(FraudEventStatus::Active));
            assert_eq!(e.hit_count, Some(10));
            assert_eq!(e.event_time, Some(ts("2021-12-08T00:25:45.69Z")));
            assert_eq!(e.resolved_reason, None);
            assert_eq!(e.resolved_on, None);
            assert_eq!(e.resolved_by, None);
            assert_eq!(e.last_observed, None);
            assert_eq!(
                e.subscription_id.as_deref(),
                Some("2a7064fb-1e33-4007-974e-352cb3f2c805")
            );
        }
        "invoice-summary.json" => {
            let s: InvoiceSummary = parse(path);
            assert_eq!(s.balance_amount, Some(dec!(751094.39)));
            assert_eq!(s.details.len(), 2);
            let recurring = s.details[0].summary.clone().unwrap_or_default();
            assert_eq!(recurring.latest_invoice_date, None);
            let one_time = s.details[1].summary.clone().unwrap_or_default();
            assert_eq!(one_time.last_payment_date, None);
            assert_eq!(one_time.balance_amount, Some(dec!(548138.52)));
        }
        "invoices-list.json" => {
            let items: Vec<Invoice> = parse_items(path);
            assert_eq!(items.len(), 2);
            assert_eq!(items[0].id, "D02005YFHI");
            assert_eq!(items[0].total_charges, Some(dec!(24606.35)));
            assert_eq!(items[1].total_charges, Some(dec!(586366)));
            assert_eq!(items[1].document_type.as_deref(), Some("void_note"));
        }
        "subscription-get.json" => {
            let s: Subscription = parse(path);
            assert_eq!(s.id, "A356AC8C-E310-44F4-BF85-C7F29044AF99");
            assert_eq!(s.status, SubscriptionStatus::Active);
            assert_eq!(s.billing_type, Some(BillingType::Usage));
            assert_eq!(s.commitment_end_date, None);
            assert_eq!(
                s.etag.as_deref(),
                Some(
                    "eyJpZCI6ImEzNTZhYzhjLWUzMTAtNDRmNC1iZjg1LWM3ZjI5MDQ0YWY5OSIsInZlcnNpb24iOjJ9"
                )
            );
            assert!(!s.is_azure_plan());
        }
        "subscription-suspend-response.json" => {
            let s: Subscription = parse(path);
            assert_eq!(s.id, "83ef9d05-4169-4ef9-9657-0e86b1eab1de");
            assert_eq!(s.status, SubscriptionStatus::Suspended);
            assert_eq!(s.etag.as_deref(), Some("<etag>"));
            assert_eq!(s.quantity, Some(2));
            assert_eq!(
                s.with_status(&SubscriptionStatus::Active)["status"],
                "active"
            );
        }
        "subscriptions-list.json" => {
            let items: Vec<Subscription> = parse_items(path);
            assert_eq!(items.len(), 1);
            assert_eq!(items[0].status, SubscriptionStatus::Active);
            assert_eq!(items[0].creation_date, Some(ts("2015-11-25T06:41:12Z")));
            assert_eq!(items[0].etag.as_deref(), Some("<etag>"));
        }
        "token-response-app-only-v1.json" => {
            // v1: expires_in is the string "3600".
            let v: Value = parse(path);
            assert_eq!(v["expires_in"], "3600", "{name}");
            check_token(path, 3600);
        }
        "token-response-v2-client-credentials.json" => {
            // v2: expires_in is the number 3599.
            let v: Value = parse(path);
            assert_eq!(v["expires_in"], 3599, "{name}");
            check_token(path, 3599);
        }
        "usagebudget.json" => {
            let b: SpendingBudget = parse(path);
            assert_eq!(b.amount, Some(dec!(100)));
            assert_eq!(b.usage_spending_budget, Some(dec!(100)));
        }
        "usagesummary.json" => {
            let u: CustomerUsageSummary = parse(path);
            assert_eq!(u.budget_amount(), Some(dec!(97)));
            assert_eq!(
                u.customer_id(),
                Some("44908a11-641b-4c53-b7fc-0f2bfca8a581")
            );
            assert_eq!(u.currency_code.as_deref(), Some("GBP"));
            assert_eq!(u.billing_start_date, Some(ts("2019-09-01T00:00:00Z")));
        }
        // A new example: checked by its shape with the matching model (no name-specific
        // values known yet); tests/official_examples.rs reports every file it cannot place.
        other => {
            let bytes = read(path);
            let value: Value = parse(path);
            let shape = support::shapes::classify(&value);
            if let Err(e) = support::shapes::check(shape, &bytes) {
                panic!("official fixture {other} ({shape:?}): {e}");
            }
        }
    }
}

#[test]
fn official_fixtures_conform() {
    // The kept copies of ../shared/pc-fixtures (tests/official_examples.rs checks they match).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/official/pc-fixtures");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut names: Vec<(String, PathBuf)> = entries
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(_, p)| p.is_file())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "{} is empty", dir.display());
    for (name, path) in &names {
        check_official(name, path);
    }
}
