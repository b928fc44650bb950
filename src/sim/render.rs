//! Renders dataset records as Partner Center JSON, shaped like the official examples in
//! `pc-fixtures/` (camelCase, except the PATCH subscription response which is PascalCase like
//! `subscription-suspend-response.json`).
//!
//! Invariant: rendering is pure (no clock, no RNG) so responses are reproducible.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::dataset::{
    SimAuditRecord, SimCustomer, SimEntitlement, SimFraudEvent, SimInvoice, SimInvoiceSummary,
    SimSubscription,
};
use super::wire::{money, naive_time};

/// Sentinel used by fraud events for "not yet".
const FAR_FUTURE: &str = "9999-12-31T23:59:59.9970000";

/// A `Link` object.
pub fn link(uri: &str) -> Value {
    json!({"uri": uri, "method": "GET", "headers": []})
}

/// The collection envelope.
pub fn collection(items: Vec<Value>, self_uri: &str, next: Option<Value>) -> Value {
    let mut links = json!({"self": link(self_uri)});
    if let (Some(next), Some(obj)) = (next, links.as_object_mut()) {
        obj.insert("next".into(), next);
    }
    json!({
        "totalCount": items.len(),
        "items": items,
        "links": links,
        "attributes": {"objectType": "Collection"},
    })
}

/// Customer as a list item (no billing profile, like `customers-list.json`).
pub fn customer_list_item(c: &SimCustomer) -> Value {
    json!({
        "id": c.id,
        "companyProfile": {
            "tenantId": c.id,
            "domain": c.domain,
            "companyName": c.company_name,
            "attributes": {"objectType": "CustomerCompanyProfile"},
        },
        "relationshipToPartner": c.relationship_to_partner,
        "attributes": {"objectType": "Customer"},
    })
}

/// The billing profile (`customer-billing-profile.json`).
pub fn billing_profile(c: &SimCustomer) -> Value {
    json!({
        "id": c.billing_profile_id,
        "firstName": c.first_name,
        "lastName": c.last_name,
        "email": c.email,
        "culture": c.culture,
        "language": c.language,
        "companyName": c.company_name,
        "defaultAddress": {
            "country": c.country,
            "city": c.city,
            "state": c.region,
            "addressLine1": c.address_line1,
            "postalCode": c.postal_code,
            "firstName": c.first_name,
            "lastName": c.last_name,
            "phoneNumber": c.phone_number,
        },
        "links": {"self": link(&format!("/customers/{}/profiles/billing", c.id))},
        "attributes": {
            "etag": format!("{}", c.billing_profile_id.len() as u64 * 7919 + c.created.as_second().unsigned_abs()),
            "objectType": "CustomerBillingProfile",
        },
    })
}

/// The full customer (`customer-get.json`), billing profile embedded.
pub fn customer_full(c: &SimCustomer) -> Value {
    json!({
        "id": c.id,
        "commerceId": c.commerce_id,
        "companyProfile": {
            "tenantId": c.id,
            "domain": c.domain,
            "companyName": c.company_name,
            "address": {
                "country": c.country,
                "region": c.region,
                "city": c.city,
                "addressLine1": c.address_line1,
                "postalCode": c.postal_code,
                "phoneNumber": c.phone_number,
            },
            "email": c.email,
            "links": {"self": link(&format!("/customers/{}/profiles/company", c.id))},
            "attributes": {"objectType": "CustomerCompanyProfile"},
        },
        "billingProfile": billing_profile(c),
        "relationshipToPartner": c.relationship_to_partner,
        "allowDelegatedAccess": true,
        "customDomains": [c.domain],
        "links": {"self": link(&format!("/customers/{}", c.id))},
        "attributes": {"objectType": "Customer"},
    })
}

/// A subscription in camelCase (`subscription-get.json`).
pub fn subscription(customer_id: &str, s: &SimSubscription) -> Value {
    let mut v = json!({
        "id": s.id,
        "offerId": s.offer_id,
        "offerName": s.offer_name,
        "friendlyName": s.friendly_name,
        "quantity": s.quantity,
        "unitType": s.unit_type,
        "creationDate": s.creation_date.to_string(),
        "effectiveStartDate": s.effective_start_date.to_string(),
        "commitmentEndDate": s.commitment_end_date.to_string(),
        "status": s.status,
        "autoRenewEnabled": s.auto_renew_enabled,
        "billingType": s.billing_type,
        "billingCycle": s.billing_cycle,
        "contractType": "subscription",
        "links": {
            "offer": link(&format!("/offers/{}?country=US", s.offer_id)),
            "self": link(&format!("/customers/{customer_id}/subscriptions/{}", s.id)),
        },
        "orderId": s.order_id,
        "attributes": {"etag": s.etag(), "objectType": "Subscription"},
    });
    if let Some(obj) = v.as_object_mut() {
        if !s.term_duration.is_empty() {
            obj.insert("termDuration".into(), json!(s.term_duration));
        }
        if !s.suspension_reasons.is_empty() {
            obj.insert("suspensionReasons".into(), json!(s.suspension_reasons));
        }
        if let Some(e) = s.entitlements.first() {
            obj.insert("entitlementId".into(), json!(e.id));
        }
    }
    v
}

/// A subscription in PascalCase (`subscription-suspend-response.json`).
pub fn subscription_pascal(customer_id: &str, s: &SimSubscription) -> Value {
    let mut v = json!({
        "Id": s.id,
        "OfferId": s.offer_id,
        "OfferName": s.offer_name,
        "FriendlyName": s.friendly_name,
        "Quantity": s.quantity,
        "UnitType": s.unit_type,
        "ParentSubscriptionId": null,
        "CreationDate": s.creation_date.to_string(),
        "EffectiveStartDate": s.effective_start_date.to_string(),
        "CommitmentEndDate": s.commitment_end_date.to_string(),
        "Status": s.status,
        "AutoRenewEnabled": s.auto_renew_enabled,
        "BillingType": s.billing_type,
        "BillingCycle": s.billing_cycle,
        "PartnerId": null,
        "ContractType": "subscription",
        "Links": {
            "Offer": {"Uri": format!("/v1/offers/{}", s.offer_id), "Method": "GET", "Headers": []},
            "Self": {
                "Uri": format!("/customers/{customer_id}/subscriptions/{}", s.id),
                "Method": "GET",
                "Headers": [],
            },
        },
        "OrderId": s.order_id,
        "Attributes": {"Etag": s.etag(), "ObjectType": "Subscription"},
    });
    if let Some(obj) = v.as_object_mut() {
        if !s.term_duration.is_empty() {
            obj.insert("TermDuration".into(), json!(s.term_duration));
        }
        obj.insert("SuspensionReasons".into(), json!(s.suspension_reasons));
    }
    v
}

/// An Azure entitlement (`azure-entitlements-list.json` items).
pub fn entitlement(customer_id: &str, sub_id: &str, e: &SimEntitlement) -> Value {
    json!({
        "id": e.id,
        "friendlyName": e.friendly_name,
        "status": e.status,
        "subscriptionId": sub_id,
        "links": {"self": link(&format!("/customers/{customer_id}/subscriptions/{sub_id}/azureEntitlements/{}", e.id))},
        "attributes": {"objectType": "AzureEntitlement"},
    })
}

/// An audit record (`auditrecords.json` items).
pub fn audit_record(a: &SimAuditRecord, partner_id: &str) -> Value {
    let data: Vec<Value> = a
        .customized_data
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    let mut v = json!({
        "id": a.id,
        "partnerId": partner_id,
        "customerId": a.customer_id,
        "customerName": a.customer_name,
        "userPrincipalName": a.user_principal_name,
        "resourceType": a.resource_type,
        "operationType": a.operation_type,
        "operationDate": a.operation_date.to_string(),
        "operationStatus": a.operation_status,
        "customizedData": data,
        "attributes": {"objectType": "AuditRecord"},
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(app) = &a.application_id {
            obj.insert("applicationId".into(), json!(app));
        }
        if let Some(old) = &a.resource_old_value {
            obj.insert("resourceOldValue".into(), json!(old));
        }
        if let Some(new) = &a.resource_new_value {
            obj.insert("resourceNewValue".into(), json!(new));
        }
    }
    v
}

/// A fraud event; `new_model` adds the X-NewEventsModel fields.
pub fn fraud_event(
    e: &SimFraudEvent,
    partner_id: &str,
    partner_name: &str,
    new_model: bool,
) -> Value {
    let resolved_on = e
        .resolved_on
        .map(naive_time)
        .unwrap_or_else(|| FAR_FUTURE.to_string());
    let mut v = json!({
        "eventTime": naive_time(e.event_time),
        "eventId": format!("{}_{}", e.subscription_id, e.entity_id),
        "partnerTenantId": partner_id,
        "partnerFriendlyName": partner_name,
        "customerTenantId": e.customer_id,
        "customerFriendlyName": e.customer_name,
        "subscriptionId": e.subscription_id,
        "subscriptionType": "modern",
        "entityId": e.entity_id,
        "entityName": e.entity_name,
        "entityUrl": format!("\\subscriptions\\{}\\{}", e.subscription_id, e.entity_name),
        "hitCount": e.hit_count.to_string(),
        "catalogOfferId": e.catalog_offer_id,
        "eventStatus": e.event_status,
        "serviceName": e.service_name,
        "resourceName": e.resource_name,
        "resourceGroupName": e.resource_group_name,
        "firstOccurrence": naive_time(e.first_occurrence),
        "lastOccurrence": naive_time(e.last_occurrence),
        "resolvedReason": e.resolved_reason,
        "resolvedOn": resolved_on,
        "resolvedBy": e.resolved_by,
        "firstObserved": naive_time(e.first_occurrence),
        "lastObserved": naive_time(e.last_occurrence),
    });
    if new_model && let Some(obj) = v.as_object_mut() {
        let affected: Vec<Value> = e
            .affected_resources
            .iter()
            .map(|(id, ty)| json!({"azureResourceId": id, "type": ty}))
            .collect();
        let extra = json!({
            "eventType": e.event_type,
            "severity": e.severity,
            "confidenceLevel": e.confidence_level,
            "displayName": e.display_name,
            "description": e.description,
            "country": e.country,
            "valueAddedResellerTenantId": "",
            "valueAddedResellerFriendlyName": "",
            "subscriptionName": e.subscription_name,
            "affectedResources": affected,
            "additionalDetails": {"hitCount": e.hit_count.to_string()},
            "isTest": if e.is_test { "true" } else { "false" },
            "activityLogs": "[]",
        });
        if let Some(extra) = extra.as_object() {
            for (k, val) in extra {
                obj.insert(k.clone(), val.clone());
            }
        }
    }
    v
}

/// An invoice (`invoices-list.json` items); `with_pdf` adds the by-id only fields.
pub fn invoice(i: &SimInvoice, with_pdf: bool) -> Value {
    let mut v = json!({
        "id": i.id,
        "invoiceDate": i.invoice_date.to_string(),
        "billingPeriodStartDate": i.billing_period_start.to_string(),
        "billingPeriodEndDate": i.billing_period_end.to_string(),
        "totalCharges": money(i.total_charges),
        "paidAmount": money(i.paid_amount),
        "currencyCode": i.currency_code,
        "currencySymbol": i.currency_symbol,
        "invoiceDetails": [{
            "invoiceLineItemType": "billing_line_items",
            "billingProvider": "one_time",
            "links": {"self": link(&format!("/invoices/{}/lineitems/OneTime/BillingLineItems", i.id))},
            "attributes": {"objectType": "InvoiceDetail"},
        }],
        "documentType": i.document_type,
        "invoiceType": i.invoice_type,
        "links": {"self": link(&format!("/invoices/{}", i.id))},
        "attributes": {"objectType": "Invoice"},
    });
    if with_pdf && let Some(obj) = v.as_object_mut() {
        obj.insert(
            "pdfDownloadLink".into(),
            json!(format!("/invoices/{}/documents/statement", i.id)),
        );
    }
    v
}

fn summary_body(s: &SimInvoiceSummary) -> Value {
    json!({
        "balanceAmount": money(s.balance_amount),
        "currencyCode": s.currency_code,
        "currencySymbol": s.currency_symbol,
        "accountingDate": s.accounting_date.to_string(),
        "firstInvoiceCreationDate": s.first_invoice_creation_date.to_string(),
        "lastPaymentDate": s.last_payment_date.to_string(),
        "lastPaymentAmount": money(s.last_payment_amount),
        "latestInvoiceDate": s.latest_invoice_date.to_string(),
    })
}

/// The invoice summary (`invoice-summary.json`).
pub fn invoice_summary(s: &SimInvoiceSummary) -> Value {
    let mut v = summary_body(s);
    let mut detail = summary_body(s);
    if let Some(obj) = detail.as_object_mut() {
        obj.insert("attributes".into(), json!({"objectType": "InvoiceSummary"}));
    }
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "details".into(),
            json!([{"invoiceType": "Recurring", "summary": detail}]),
        );
        obj.insert("links".into(), json!({"self": link("/invoices/summary")}));
        obj.insert("attributes".into(), json!({"objectType": "InvoiceSummary"}));
    }
    v
}

fn budget_obj(b: Option<Decimal>) -> Value {
    match b {
        Some(a) => json!({"amount": money(a), "attributes": {"objectType": "SpendingBudget"}}),
        None => json!({"attributes": {"objectType": "SpendingBudget"}}),
    }
}

/// The spending budget (`usagebudget.json`).
pub fn usage_budget(c: &SimCustomer) -> Value {
    let mut v = budget_obj(c.budget);
    if let Some(obj) = v.as_object_mut() {
        if let Some(a) = c.budget {
            obj.insert("usageSpendingBudget".into(), money(a));
        }
        obj.insert(
            "links".into(),
            json!({"self": link(&format!("/v1/customers/{}/usagebudget", c.id))}),
        );
    }
    v
}

/// USD per unit of `currency` (approximate, fixed) for `usdTotalCost`.
fn usd_rate(currency: &str) -> Decimal {
    match currency {
        "GBP" => Decimal::new(127, 2),
        "EUR" => Decimal::new(108, 2),
        "SEK" => Decimal::new(95, 3),
        "JPY" => Decimal::new(67, 4),
        "KRW" => Decimal::new(73, 5),
        "CNY" => Decimal::new(14, 2),
        _ => Decimal::ONE,
    }
}

/// The customer usage summary (`usagesummary.json`), for the current calendar month.
pub fn usage_summary(
    c: &SimCustomer,
    month_start: &str,
    month_end: &str,
    last_modified: &str,
) -> Value {
    json!({
        "budget": budget_obj(c.budget),
        "resourceId": c.id,
        "resourceName": c.company_name,
        "billingStartDate": month_start,
        "billingEndDate": month_end,
        "totalCost": money(c.usage_mtd),
        "currencyCode": c.currency,
        "usdTotalCost": money((c.usage_mtd * usd_rate(&c.currency)).round_dp(2)),
        "lastModifiedDate": last_modified,
        "links": {"self": link(&format!("/customers/{}/usagesummary", c.id))},
        "attributes": {"objectType": "CustomerUsageSummary"},
    })
}

/// One item of `GET /v1/customers/usagerecords` (`customers-usagerecords.json`).
pub fn usage_record(c: &SimCustomer, last_modified: &str) -> Value {
    let percent = match c.budget {
        Some(b) if !b.is_zero() => (c.usage_mtd * Decimal::ONE_HUNDRED / b).round_dp(2),
        _ => Decimal::ZERO,
    };
    json!({
        "budget": budget_obj(c.budget),
        "percentUsed": money(percent),
        "isUpgraded": c.has_azure_plan(),
        "resourceId": c.id,
        "id": c.id,
        "resourceName": c.company_name,
        "name": c.company_name,
        "totalCost": money(c.usage_mtd),
        "currencyCode": c.currency,
        "usdTotalCost": money((c.usage_mtd * usd_rate(&c.currency)).round_dp(2)),
        "lastModifiedDate": last_modified,
        "attributes": {"objectType": "CustomerMonthlyUsageRecord"},
    })
}
