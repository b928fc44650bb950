//! The compact snapshot: what collection keeps of each bulk record, so that a snapshot of 50,000
//! customers stays small (issue 18).
//!
//! Owns the list of what the policies read out of JSON carried inside strings (an audit record's
//! `resourceOldValue` and `resourceNewValue`): an order's line-item quantities, a subscription's
//! `quantity`, a budget's `amount`, and the billing country of a new customer. Collection calls
//! [`audit_page`] on each page as it arrives, so the raw text of the activity log never
//! accumulates: each value is replaced by the smallest JSON holding exactly those fields (keys
//! already normalised to camelCase), and a value that is not JSON at all is dropped, which the
//! policies already read as "nothing readable". Of an audit record's `customizedData` only the
//! `Quantity-N` entries are kept (the order size when the new value is unreadable), and its
//! `partnerId` (always the partner itself) is not kept.
//!
//! Also owns what a customer of the list keeps ([`customer_page`]): the company profile's
//! `tenantId` is dropped when it repeats the customer's `id` (it always does in Partner Center's
//! list; nothing reads it), and so is `email`, which the list never carries. And what a usage
//! record keeps ([`usage_page`]): `id`, `name` and `currencyLocale` only when the field read
//! first (`resourceId`, `resourceName`, `currencyCode`) is missing, since the accessors fall back
//! to them only then.
//!
//! Invariant: every field a policy reads from these values survives compaction unchanged, so a
//! plan over a compacted snapshot equals the plan over the raw one (tested below on the
//! simulator's record shapes and in `tests/warm_runs.rs`).

use serde_json::{Map, Value};

use crate::pc::lenient::JsonString;
use crate::pc::models::{AuditRecord, Customer, CustomerMonthlyUsageRecord, CustomizedData};

/// Paths (camelCase) the policies read from an audit record's old and new values.
const KEPT_PATHS: [&[&str]; 5] = [
    &["quantity"],
    &["amount"],
    &["billingProfile", "defaultAddress", "country"],
    &["defaultAddress", "country"],
    &["companyProfile", "address", "country"],
];

/// Compact one page of audit records in place (see the module documentation).
pub fn audit_page(page: &mut [AuditRecord]) {
    for r in page {
        r.resource_old_value = r.resource_old_value.take().and_then(compact_value);
        r.resource_new_value = r.resource_new_value.take().and_then(compact_value);
        r.customized_data.retain(CustomizedData::is_quantity);
        r.customized_data.shrink_to_fit();
        r.partner_id = String::new();
    }
}

/// Compact one page of customers in place (see the module documentation).
pub fn customer_page(page: &mut [Customer]) {
    for c in page {
        if let Some(p) = c.company_profile.as_mut() {
            if p.tenant_id
                .as_deref()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(c.id.trim()))
            {
                p.tenant_id = None;
            }
            p.email = None;
        }
    }
}

/// Compact a list of usage records in place (see the module documentation).
pub fn usage_page(page: &mut [CustomerMonthlyUsageRecord]) {
    for u in page {
        if u.resource_id.is_some() {
            u.id = None;
        }
        if u.resource_name
            .as_deref()
            .is_some_and(|n| !n.trim().is_empty())
        {
            u.name = None;
        }
        if u.currency_code.is_some() {
            u.currency_locale = None;
        }
    }
}

/// The smallest JSON text that answers every read of [`KEPT_PATHS`] and `lineItems[].quantity`
/// as the original does; `None` when the original is not JSON (the policies' reads give `None`
/// for it either way).
fn compact_value(raw: JsonString) -> Option<JsonString> {
    let full = raw.parsed_normalized()?;
    let mut kept = Map::new();
    for path in KEPT_PATHS {
        copy_path(&full, &mut kept, path);
    }
    if let Some(items) = full.get("lineItems").and_then(Value::as_array) {
        let items: Vec<Value> = items
            .iter()
            .map(|i| {
                let mut m = Map::new();
                if let Some(q) = i.get("quantity") {
                    m.insert("quantity".to_owned(), q.clone());
                }
                Value::Object(m)
            })
            .collect();
        kept.insert("lineItems".to_owned(), Value::Array(items));
    }
    Some(JsonString::new(Value::Object(kept).to_string()))
}

/// Copy the value at `path` of `from` (if any) to the same path of `to`.
fn copy_path(from: &Value, to: &mut Map<String, Value>, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Some(inner) = from.get(*first) else {
        return;
    };
    if rest.is_empty() {
        to.insert((*first).to_owned(), inner.clone());
        return;
    }
    if !inner.is_object() {
        return;
    }
    let slot = to
        .entry((*first).to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(m) = slot {
        copy_path(inner, m, rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(raw: &str) -> Option<Value> {
        compact_value(JsonString::new(raw)).and_then(|j| j.parsed())
    }

    #[test]
    fn keeps_exactly_what_the_policies_read() {
        let order = r#"{"Id":"o1","ReferenceCustomerId":"c","BillingCycle":"monthly",
            "LineItems":[{"LineItemNumber":0,"OfferId":"x","Quantity":40,"Links":{}},
                         {"LineItemNumber":1,"OfferId":"y","Quantity":"2"}]}"#;
        assert_eq!(
            compact(order),
            Some(serde_json::json!({"lineItems": [{"quantity": 40}, {"quantity": "2"}]}))
        );
        let customer = r#"{"Id":"c","CompanyProfile":{"CompanyName":"Contoso",
            "Address":{"Country":"US","City":"Redmond"}},
            "BillingProfile":{"Email":"a@b","DefaultAddress":{"Country":"NG","City":"Lagos"}}}"#;
        assert_eq!(
            compact(customer),
            Some(serde_json::json!({
                "companyProfile": {"address": {"country": "US"}},
                "billingProfile": {"defaultAddress": {"country": "NG"}}
            }))
        );
        assert_eq!(
            compact(r#"{"Amount":null,"Etag":"x"}"#),
            Some(serde_json::json!({"amount": null}))
        );
        assert_eq!(
            compact(r#"{"Id":"s","Quantity":5,"Status":"active"}"#),
            Some(serde_json::json!({"quantity": 5}))
        );
        assert_eq!(compact("not json"), None);
        assert_eq!(compact(r#"{"Id":"s"}"#), Some(serde_json::json!({})));
    }

    #[test]
    fn an_audit_record_keeps_only_quantities_of_its_customized_data() {
        let mut r: AuditRecord = crate::pc::lenient::from_slice(
            br#"{"partnerId":"p-1","userPrincipalName":"u","operationType":"create_order",
                "operationDate":"2026-11-20T10:00:00Z",
                "customizedData":[{"key":"OrderId","value":"o"},{"key":"Quantity-0","value":"4"},
                    {"key":"OfferId-0","value":"x"},{"key":" quantity-1 ","value":"2"}]}"#,
        )
        .expect("decodes");
        audit_page(std::slice::from_mut(&mut r));
        let kept: Vec<(&str, Option<&str>)> = r
            .customized_data
            .iter()
            .map(|d| (d.key.as_str(), d.value.as_deref()))
            .collect();
        assert_eq!(
            kept,
            [("Quantity-0", Some("4")), (" quantity-1 ", Some("2"))]
        );
        assert_eq!(r.partner_id, "");
    }

    #[test]
    fn a_customer_drops_the_tenant_id_that_repeats_its_id() {
        let decode = |raw: &str| -> Customer {
            crate::pc::lenient::from_slice(raw.as_bytes()).expect("decodes")
        };
        let mut page = vec![
            decode(
                r#"{"id":"AbC","companyProfile":{"tenantId":"abc","domain":"d.example",
                    "companyName":"Contoso","email":"x@d.example"},"relationshipToPartner":"reseller"}"#,
            ),
            decode(r#"{"id":"abc","companyProfile":{"tenantId":"other","companyName":"F"}}"#),
        ];
        customer_page(&mut page);
        let p = page[0].company_profile.as_ref().expect("profile");
        assert_eq!(p.tenant_id, None);
        assert_eq!(p.email, None);
        assert_eq!(p.domain.as_deref(), Some("d.example"));
        assert_eq!(page[0].company_name(), Some("Contoso"));
        assert_eq!(page[0].relationship_to_partner.as_deref(), Some("reseller"));
        // A different tenant id is information: kept.
        let p = page[1].company_profile.as_ref().expect("profile");
        assert_eq!(p.tenant_id.as_deref(), Some("other"));
    }

    #[test]
    fn a_usage_record_keeps_what_its_accessors_return() {
        let decode = |raw: &str| -> CustomerMonthlyUsageRecord {
            crate::pc::lenient::from_slice(raw.as_bytes()).expect("decodes")
        };
        let raws = [
            r#"{"resourceId":"r","id":"i","resourceName":"RN","name":"N","currencyCode":"USD",
                "currencyLocale":"en-US","totalCost":5,"budget":{"amount":10}}"#,
            r#"{"id":"i","resourceName":" ","name":"N","currencyLocale":"sv-SE"}"#,
            r#"{"resourceId":"r","name":"N"}"#,
        ];
        for raw in raws {
            let before = decode(raw);
            let mut after = before.clone();
            usage_page(std::slice::from_mut(&mut after));
            assert_eq!(after.customer_id(), before.customer_id(), "{raw}");
            assert_eq!(after.customer_name(), before.customer_name(), "{raw}");
            assert_eq!(
                after
                    .currency_code
                    .as_deref()
                    .or(after.currency_locale.as_deref()),
                before
                    .currency_code
                    .as_deref()
                    .or(before.currency_locale.as_deref()),
                "{raw}"
            );
            assert_eq!(after.budget_amount(), before.budget_amount(), "{raw}");
            assert_eq!(after.total_cost, before.total_cost, "{raw}");
        }
        let mut first = decode(raws[0]);
        usage_page(std::slice::from_mut(&mut first));
        assert_eq!(
            (first.id, first.name, first.currency_locale),
            (None, None, None)
        );
    }

    #[test]
    fn compacting_twice_changes_nothing_more() {
        // Cached records are compacted again on load (a cache may predate a rule).
        let mut r: AuditRecord = crate::pc::lenient::from_slice(
            br#"{"partnerId":"p","userPrincipalName":"u","operationType":"create_order",
                "operationDate":"2026-11-20T10:00:00Z",
                "resourceNewValue":"{\"Id\":\"o\",\"LineItems\":[{\"Quantity\":3,\"OfferId\":\"x\"}]}",
                "customizedData":[{"key":"Quantity-0","value":"3"},{"key":"OrderId","value":"o"}]}"#,
        )
        .expect("decodes");
        audit_page(std::slice::from_mut(&mut r));
        let once = r.clone();
        audit_page(std::slice::from_mut(&mut r));
        assert_eq!(r, once);
    }

    #[test]
    fn an_audit_page_loses_its_raw_text() {
        let mut r: AuditRecord = crate::pc::lenient::from_slice(
            br#"{"partnerId":"p","userPrincipalName":"u","operationType":"update_subscription",
                "operationDate":"2026-11-20T10:00:00Z",
                "resourceOldValue":"{\"Id\":\"s\",\"Quantity\":1,\"FriendlyName\":\"long text\"}",
                "resourceNewValue":"{\"Id\":\"s\",\"Quantity\":9,\"FriendlyName\":\"long text\"}"}"#,
        )
        .expect("decodes");
        audit_page(std::slice::from_mut(&mut r));
        assert_eq!(
            r.resource_old_value.map(|v| v.raw().to_owned()),
            Some(r#"{"quantity":1}"#.to_owned())
        );
        assert_eq!(
            r.resource_new_value.map(|v| v.raw().to_owned()),
            Some(r#"{"quantity":9}"#.to_owned())
        );
    }
}
