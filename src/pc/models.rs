//! Typed Partner Center resource models: the fields cspguard reads from responses, and the
//! request bodies it sends.
//!
//! Invariants:
//! - Response models are decoded through [`crate::pc::lenient::from_slice`], which normalises keys
//!   to camelCase first; models declare camelCase names only and ignore unknown fields (no
//!   `deny_unknown_fields`), so new API fields never break a run.
//! - Money is [`Decimal`], time is [`Timestamp`] (UTC); the API's sentinel dates (years 0001 and
//!   9999) are `None`. Enum-like fields are open enums that keep unknown values verbatim.
//! - A [`Subscription`] keeps the full resource it was decoded from, because the suspend and
//!   reactivate PATCH must send the whole resource back with only `status` changed.
//! - The paging envelope (`Collection<T>`) and token responses belong to the client, not here.

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::open_enum;
use crate::pc::lenient::{self, JsonString};

/// Trimmed, non-empty view of an optional string.
fn nonblank(value: Option<&String>) -> Option<&str> {
    value.map(|s| s.trim()).filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------------------------------------
// Customers
// ---------------------------------------------------------------------------------------------

/// A customer of the partner (`GET /v1/customers`, `GET /v1/customers/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// Customer tenant id.
    pub id: String,
    #[serde(default)]
    pub company_profile: Option<CompanyProfile>,
    /// `reseller`, `advisor`, ... (free text in the API).
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub relationship_to_partner: Option<String>,
    /// Present only on `GET /v1/customers/{id}`, never in list items. Boxed, because a list of
    /// 50,000 customers would otherwise carry 50,000 empty profiles inline (issue 18).
    #[serde(default)]
    pub billing_profile: Option<Box<CustomerBillingProfile>>,
    /// Present only on `GET /v1/customers/{id}`.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub allow_delegated_access: Option<bool>,
}

impl Customer {
    /// The company name, trimmed, if any.
    pub fn company_name(&self) -> Option<&str> {
        self.company_profile
            .as_ref()
            .and_then(|p| nonblank(p.company_name.as_ref()))
    }
}

/// `companyProfile` of a customer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct CompanyProfile {
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub tenant_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub domain: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_display_name")]
    pub company_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub email: Option<String>,
}

/// Postal address (`defaultAddress` of a billing profile).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub country: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub region: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub city: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub address_line1: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub address_line2: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub address_line3: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub postal_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_display_name")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_display_name")]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub phone_number: Option<String>,
}

/// A customer's billing profile (`GET /v1/customers/{id}/profiles/billing`, or `billingProfile`
/// of a customer fetched by id): the billing contact cspguard writes to, in their language.
/// Any of the contact fields may be null; use the accessor methods, which trim and drop blanks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct CustomerBillingProfile {
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_display_name")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_display_name")]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub culture: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub language: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_display_name")]
    pub company_name: Option<String>,
    #[serde(default)]
    pub default_address: Option<Address>,
    /// `attributes.etag`.
    #[serde(rename = "attributes", default, with = "lenient::attributes_etag")]
    pub etag: Option<String>,
}

impl CustomerBillingProfile {
    /// Billing contact email, trimmed; `None` when null or blank.
    pub fn email(&self) -> Option<&str> {
        nonblank(self.email.as_ref())
    }

    /// Preferred culture (`en-US`; compare case-insensitively), trimmed; `None` when null or blank.
    pub fn culture(&self) -> Option<&str> {
        nonblank(self.culture.as_ref())
    }

    /// Preferred language (`en`), trimmed; `None` when null or blank.
    pub fn language(&self) -> Option<&str> {
        nonblank(self.language.as_ref())
    }

    /// Country of the default address (ISO-2), trimmed; `None` when absent or blank.
    pub fn country(&self) -> Option<&str> {
        self.default_address
            .as_ref()
            .and_then(|a| nonblank(a.country.as_ref()))
    }
}

// ---------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------

open_enum! {
    /// `status` of a subscription (also used for Azure entitlements).
    pub enum SubscriptionStatus {
        None => "none",
        Active => "active",
        Pending => "pending",
        Suspended => "suspended",
        Expired => "expired",
        Disabled => "disabled",
        Deleted => "deleted",
    }
}

open_enum! {
    /// `billingType` of a subscription.
    pub enum BillingType {
        None => "none",
        License => "license",
        Usage => "usage",
    }
}

/// Offer id prefix of the Azure plan (new commerce Azure).
pub const AZURE_PLAN_OFFER_PREFIX: &str = "DZH318Z0BPS6";

/// A customer's subscription (`GET /v1/customers/{id}/subscriptions[/{sid}]`).
///
/// Decoding keeps the whole JSON object in [`Subscription::raw`]; [`Subscription::with_status`]
/// builds the suspend/reactivate PATCH body from it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(remote = "Self", rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub offer_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub offer_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub friendly_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub quantity: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub unit_type: Option<String>,
    pub status: SubscriptionStatus,
    /// Why a suspended subscription is suspended (value set undocumented); empty if none.
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub suspension_reasons: Vec<String>,
    #[serde(default)]
    pub billing_type: Option<BillingType>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub billing_cycle: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub term_duration: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub contract_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub creation_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub effective_start_date: Option<Timestamp>,
    /// `None` for the sentinel `9999-...` (no commitment end).
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub commitment_end_date: Option<Timestamp>,
    /// For Azure: the Azure subscription id.
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub entitlement_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_trial: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub auto_renew_enabled: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub order_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub parent_subscription_id: Option<String>,
    /// `attributes.etag`, sent as `If-Match` on PATCH.
    #[serde(rename = "attributes", default, with = "lenient::attributes_etag")]
    pub etag: Option<String>,
    /// The whole resource as received (keys camelCase when decoded through `lenient`).
    #[serde(skip)]
    pub raw: Value,
}

impl<'de> Deserialize<'de> for Subscription {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        if !raw.is_object() {
            return Err(D::Error::custom(
                "a subscription must be a JSON object; the response does not match the documented shape",
            ));
        }
        let mut sub = Subscription::deserialize(raw.clone()).map_err(D::Error::custom)?;
        sub.raw = raw;
        Ok(sub)
    }
}

impl Serialize for Subscription {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Subscription::serialize(self, s)
    }
}

impl Subscription {
    /// The suspend/reactivate PATCH body: the full resource as received (camelCase keys) with
    /// only `status` replaced. If no raw resource is held (a value built in code), the typed
    /// fields are serialised instead.
    pub fn with_status(&self, status: &SubscriptionStatus) -> Value {
        let mut body = if self.raw.is_object() {
            self.raw.clone()
        } else {
            serde_json::to_value(self).unwrap_or(Value::Null)
        };
        lenient::normalize_keys(&mut body);
        if let Value::Object(map) = &mut body {
            map.insert(
                "status".to_owned(),
                Value::String(status.as_str().to_owned()),
            );
        }
        body
    }

    /// Whether this is an Azure plan: offer id starting with `DZH318Z0BPS6`, or usage billing
    /// with "Azure plan" in the offer name.
    pub fn is_azure_plan(&self) -> bool {
        let by_offer = self.offer_id.as_deref().is_some_and(|o| {
            o.trim()
                .get(..AZURE_PLAN_OFFER_PREFIX.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(AZURE_PLAN_OFFER_PREFIX))
        });
        let by_name = self.billing_type == Some(BillingType::Usage)
            && self
                .offer_name
                .as_deref()
                .is_some_and(|n| n.to_ascii_lowercase().contains("azure plan"));
        by_offer || by_name
    }
}

/// An Azure subscription (entitlement) under an Azure plan
/// (`GET .../subscriptions/{plan-id}/azureEntitlements`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AzureEntitlement {
    /// The Azure subscription id (used in the cancel call).
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub status: Option<SubscriptionStatus>,
    /// The Azure plan subscription this entitlement belongs to.
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub subscription_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub partner_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub entitlement_type: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Audit records
// ---------------------------------------------------------------------------------------------

open_enum! {
    /// `operationStatus` of an audit record.
    pub enum OperationStatus {
        Succeeded => "succeeded",
        Failed => "failed",
        Progress => "progress",
    }
}

open_enum! {
    /// `resourceType` of an audit record (the values cspguard's rules look at; the rest are `Other`).
    pub enum AuditResourceType {
        Customer => "customer",
        CustomerUser => "customer_user",
        Order => "order",
        Subscription => "subscription",
        License => "license",
        SpendingLimit => "spending_limit",
        PartnerCustomerDap => "partner_customer_dap",
        GranularAdminRelationship => "granular_admin_relationship",
        GranularAdminAccessAssignment => "granular_admin_access_assignment",
        Invoice => "invoice",
        Credit => "credit",
    }
}

open_enum! {
    /// `operationType` of an audit record (the values cspguard's rules look at; the rest are `Other`).
    pub enum OperationType {
        AzureFraudEventDetected => "azure_fraud_event_detected",
        AddCustomer => "add_customer",
        DeleteCustomer => "delete_customer",
        CreateOrder => "create_order",
        UpdateOrder => "update_order",
        UpdateSubscription => "update_subscription",
        UpgradeSubscription => "upgrade_subscription",
        ConvertTrialSubscription => "convert_trial_subscription",
        UpdateCustomerSpendingBudget => "update_customer_spending_budget",
        UpdateCustomerBillingProfile => "update_customer_billing_profile",
        IncreaseSpendingLimit => "increase_spending_limit",
        DapAdminRelationshipApproved => "dap_admin_relationship_approved",
        DapAdminRelationshipTerminated => "dap_admin_relationship_terminated",
        GranularAdminRelationshipApproved => "granular_admin_relationship_approved",
        GranularAdminRelationshipActivated => "granular_admin_relationship_activated",
        GranularAdminAccessAssignmentCreated => "granular_admin_access_assignment_created",
        GranularAdminAccessAssignmentUpdated => "granular_admin_access_assignment_updated",
        CreateCustomerUser => "create_customer_user",
        UpdateCustomerUserLicenses => "update_customer_user_licenses",
        ResetCustomerUserPassword => "reset_customer_user_password",
    }
}

/// One `{key, value}` entry of an audit record's `customizedData`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CustomizedData {
    #[serde(default, deserialize_with = "lenient::text_or_empty")]
    pub key: String,
    /// May be null.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub value: Option<String>,
}

impl CustomizedData {
    /// Whether this entry is an order line's quantity (`Quantity-0`, `quantity-1`, ...).
    pub fn is_quantity(&self) -> bool {
        self.key
            .trim()
            .get(..9)
            .is_some_and(|p| p.eq_ignore_ascii_case("quantity-"))
    }
}

/// One Partner Center activity-log entry (`GET /v1/auditrecords`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text_or_empty")]
    pub partner_id: String,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub customer_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub customer_name: Option<String>,
    /// Who acted; empty when the API sends null (e.g. some system operations).
    #[serde(default, deserialize_with = "lenient::text_or_empty")]
    pub user_principal_name: String,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub application_id: Option<String>,
    #[serde(default)]
    pub resource_type: Option<AuditResourceType>,
    /// The resource before the change, JSON carried in a string.
    #[serde(default)]
    pub resource_old_value: Option<JsonString>,
    /// The resource after the change, JSON carried in a string.
    #[serde(default)]
    pub resource_new_value: Option<JsonString>,
    pub operation_type: OperationType,
    /// When the operation happened (UTC); required.
    #[serde(deserialize_with = "lenient::timestamp")]
    pub operation_date: Timestamp,
    #[serde(default)]
    pub operation_status: Option<OperationStatus>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub customized_data: Vec<CustomizedData>,
}

impl AuditRecord {
    /// Value of the first `customizedData` entry whose key equals `key` (case-insensitive);
    /// `None` if absent or its value is null.
    pub fn customized(&self, key: &str) -> Option<&str> {
        self.customized_data
            .iter()
            .find(|d| d.key.trim().eq_ignore_ascii_case(key))
            .and_then(|d| d.value.as_deref())
    }
}

// ---------------------------------------------------------------------------------------------
// Budgets and usage
// ---------------------------------------------------------------------------------------------

/// A customer's usage spending budget (`GET|PATCH /v1/customers/{id}/usagebudget`).
/// `amount: None` means no budget is set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SpendingBudget {
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub amount: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub usage_spending_budget: Option<Decimal>,
}

/// The `budget` object inside usage summaries and usage records. The MS-AZR-0145P example spells
/// the amount `ammount` (documented typo); [`UsageBudget::amount`] reads either.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct UsageBudget {
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub amount: Option<Decimal>,
    /// Documented typo of `amount`.
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub ammount: Option<Decimal>,
}

impl UsageBudget {
    /// The budget amount, from `amount` or its misspelling `ammount`; `None` = no budget.
    pub fn amount(&self) -> Option<Decimal> {
        self.amount.or(self.ammount)
    }
}

/// The accessors shared by the two usage shapes, which both carry the customer as
/// `resourceId`/`id` and `resourceName`/`name` and the budget as `budget.amount` (or `ammount`).
macro_rules! usage_identity {
    ($t:ty) => {
        impl $t {
            /// The customer id (`resourceId`, else `id`).
            pub fn customer_id(&self) -> Option<&str> {
                self.resource_id.as_deref().or(self.id.as_deref())
            }

            /// The customer name (`resourceName`, else `name`).
            pub fn customer_name(&self) -> Option<&str> {
                nonblank(self.resource_name.as_ref()).or(nonblank(self.name.as_ref()))
            }

            /// The budget amount (either spelling); `None` = no budget.
            pub fn budget_amount(&self) -> Option<Decimal> {
                self.budget.as_ref().and_then(UsageBudget::amount)
            }
        }
    };
}

/// Month-to-date Azure usage of one customer (`GET /v1/customers/{id}/usagesummary`).
/// Azure plan responses carry `resourceId`/`resourceName`/`currencyCode`/`usdTotalCost`; MS-AZR-0145P
/// ones `id`/`name`/`currencyLocale`. Use the accessor methods.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct CustomerUsageSummary {
    #[serde(default)]
    pub budget: Option<UsageBudget>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub resource_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub resource_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub billing_start_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub billing_end_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub total_cost: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub currency_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub currency_locale: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub usd_total_cost: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub last_modified_date: Option<Timestamp>,
}

usage_identity!(CustomerUsageSummary);

/// One item of `GET /v1/customers/usagerecords`: a customer's month-to-date usage against budget.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct CustomerMonthlyUsageRecord {
    #[serde(default)]
    pub budget: Option<UsageBudget>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub percent_used: Option<Decimal>,
    /// `true` = Azure plan (modern), `false` = legacy MS-AZR-0145P.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_upgraded: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub resource_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub resource_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub total_cost: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub currency_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub currency_locale: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub usd_total_cost: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub last_modified_date: Option<Timestamp>,
}

usage_identity!(CustomerMonthlyUsageRecord);

// ---------------------------------------------------------------------------------------------
// Invoices (Microsoft -> partner)
// ---------------------------------------------------------------------------------------------

/// An invoice from Microsoft to the partner (`GET /v1/invoices`, `GET /v1/invoices/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub invoice_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub billing_period_start_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub billing_period_end_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub total_charges: Option<Decimal>,
    /// Negative if a payment was received.
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub paid_amount: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub currency_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub currency_symbol: Option<String>,
    /// `invoice`, `void_note`, `adjustment_note`, ...
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub document_type: Option<String>,
    /// `Recurring` or `OneTime`.
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub invoice_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub status: Option<String>,
}

/// The partner's account balance with Microsoft (`GET /v1/invoices/summary`), or one entry of
/// its `details`. Sentinel dates (`0001-01-01T00:00:00`) are `None`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceSummary {
    /// Total amount of unpaid bills.
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub balance_amount: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub currency_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub currency_symbol: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub accounting_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub first_invoice_creation_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub last_payment_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    pub last_payment_amount: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub latest_invoice_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub details: Vec<InvoiceSummaryDetail>,
}

/// One `details[]` entry of an invoice summary: the summary for one invoice type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceSummaryDetail {
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub invoice_type: Option<String>,
    #[serde(default)]
    pub summary: Option<InvoiceSummary>,
}

// ---------------------------------------------------------------------------------------------
// Fraud events
// ---------------------------------------------------------------------------------------------

open_enum! {
    /// `eventStatus` of a fraud event.
    pub enum FraudEventStatus {
        Active => "Active",
        Resolved => "Resolved",
        Investigating => "Investigating",
    }
}

open_enum! {
    /// `severity` of a new-model fraud event.
    pub enum FraudSeverity {
        Low => "Low",
        Medium => "Medium",
        High => "High",
    }
}

open_enum! {
    /// `resolvedReason` when updating a fraud event's status.
    pub enum FraudResolvedReason {
        Fraud => "Fraud",
        Ignore => "Ignore",
    }
}

/// An Azure resource named by a new-model fraud event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AffectedResource {
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub azure_resource_id: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_nonblank")]
    pub resource_type: Option<String>,
}

/// An Azure fraud event (`GET /v1/fraudEvents`, a bare JSON array). Classic and new-model
/// (`X-NewEventsModel: true`) events share this struct; new-model fields are `None`/empty on
/// classic events. Unresolved events carry sentinels that decode to `None`
/// (`resolvedOn`/`firstObserved`/`lastObserved` `9999-...`, `resolvedReason` `"None"`,
/// `resolvedBy` `""`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FraudEvent {
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub event_time: Option<Timestamp>,
    /// `{subscriptionId}_{entityId}`.
    #[serde(default, deserialize_with = "lenient::text_or_empty")]
    pub event_id: String,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub partner_tenant_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub customer_tenant_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub customer_friendly_name: Option<String>,
    /// The Azure subscription id.
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub subscription_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub subscription_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub entity_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub entity_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub entity_url: Option<String>,
    /// Sent as a string (`"10"`).
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub hit_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub catalog_offer_id: Option<String>,
    #[serde(default)]
    pub event_status: Option<FraudEventStatus>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub service_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub resource_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub resource_group_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub first_occurrence: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub last_occurrence: Option<Timestamp>,
    /// `None` when the API sends `"None"` (unresolved).
    #[serde(default, deserialize_with = "lenient::opt_text_none_word")]
    pub resolved_reason: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub resolved_on: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub resolved_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub first_observed: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::opt_timestamp")]
    pub last_observed: Option<Timestamp>,
    // --- new events model ---
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub event_type: Option<String>,
    #[serde(default)]
    pub severity: Option<FraudSeverity>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub confidence_level: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub country: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub subscription_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub affected_resources: Vec<AffectedResource>,
    /// `IsTest`/`isTest`, sent as `"true"`/`"false"`.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_test: Option<bool>,
    /// Activity logs, JSON carried in a string.
    #[serde(default)]
    pub activity_logs: Option<JsonString>,
    #[serde(default)]
    pub additional_details: Option<Value>,
}

impl FraudEvent {
    /// Whether the event still needs attention (status Active or Investigating, or absent).
    pub fn is_open(&self) -> bool {
        !matches!(self.event_status, Some(FraudEventStatus::Resolved))
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// An API error body, in any documented shape: Partner Center's normal
/// `{code, description, data, source}` (code a number or a string), its throttling
/// `{statusCode, message}`, or Microsoft Graph's `{"error": {"code", "message", "innerError"}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody {
    #[serde(default, deserialize_with = "lenient::opt_nonblank")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub description: Option<String>,
    #[serde(default)]
    pub data: Option<Value>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub status_code: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub message: Option<String>,
    /// Graph's error object (`{"code", "message", "innerError"}`); any other shape is ignored.
    #[serde(default)]
    pub error: Option<Value>,
}

impl ApiErrorBody {
    /// The error code as text (`"3000"`, `"800091"`, Graph's `"TooManyRequests"`); `None` for the
    /// throttling shape, which has only an HTTP status code (see [`ApiErrorBody::status_code`]).
    pub fn code(&self) -> Option<String> {
        self.code.clone().or_else(|| self.graph_field("code"))
    }

    /// The human-readable message (`description`, else `message`, else Graph's
    /// `error.message`), or `""`.
    pub fn message(&self) -> String {
        nonblank(self.description.as_ref())
            .or(nonblank(self.message.as_ref()))
            .map(str::to_owned)
            .or_else(|| self.graph_field("message"))
            .unwrap_or_default()
    }

    fn graph_field(&self, name: &str) -> Option<String> {
        let v = self.error.as_ref()?.get(name)?;
        let text = match v {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        (!text.is_empty()).then_some(text)
    }
}

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

/// Why a request body could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestBodyError {
    /// The amount cannot be written as a JSON number without losing digits.
    #[error(
        "budget amount {amount} cannot be sent as an exact JSON number; round it to at most 2 decimal places"
    )]
    InexactAmount { amount: Decimal },
}

/// `PATCH /v1/customers/{id}/usagebudget` body:
/// `{"Amount": 100, "Attributes": {"ObjectType": "SpendingBudget"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetPatch {
    pub amount: Decimal,
}

impl BudgetPatch {
    /// The request body. The amount is a JSON number: whole amounts as integers, others through
    /// their shortest decimal text (checked to read back exactly).
    pub fn to_body(&self) -> Result<Value, RequestBodyError> {
        let amount = decimal_to_json_number(self.amount)?;
        Ok(serde_json::json!({
            "Amount": amount,
            "Attributes": {"ObjectType": "SpendingBudget"}
        }))
    }
}

impl Serialize for BudgetPatch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_body()
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

/// Write a decimal as a JSON number exactly, or fail.
fn decimal_to_json_number(amount: Decimal) -> Result<Value, RequestBodyError> {
    use rust_decimal::prelude::ToPrimitive;
    let inexact = || RequestBodyError::InexactAmount { amount };
    let normalized = amount.normalize();
    if normalized.fract().is_zero()
        && let Some(i) = normalized.to_i64()
    {
        return Ok(Value::from(i));
    }
    let f = normalized.to_f64().ok_or_else(inexact)?;
    let back = lenient::decimal_from_value(&Value::from(f))
        .ok()
        .flatten()
        .ok_or_else(inexact)?;
    if back != normalized {
        return Err(inexact());
    }
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(inexact)
}

/// `POST /v1/fraudEvents/subscription/{subscriptionId}/status` body:
/// `{"EventIds": [...], "EventStatus": "Resolved", "ResolvedReason": "Fraud"}`.
/// Empty `event_ids` means every event of the subscription.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct FraudStatusUpdate {
    pub event_ids: Vec<String>,
    pub event_status: FraudEventStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_reason: Option<FraudResolvedReason>,
}

/// `POST .../azureEntitlements/{entitlement-id}/cancel` body: `{"cancellationReason": "compromise"}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CancelEntitlementRequest {
    pub cancellation_reason: String,
}

impl CancelEntitlementRequest {
    /// The only documented reason: the Azure subscription is compromised.
    pub fn compromise() -> Self {
        Self {
            cancellation_reason: "compromise".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn sub(v: Value) -> Subscription {
        lenient::from_value(v).unwrap_or_else(|e| panic!("subscription should parse: {e}"))
    }

    #[test]
    fn with_status_sends_the_full_resource_with_only_status_changed() {
        let s = sub(json!({
            "Id": "s1", "OfferId": "O1", "Status": "active", "Quantity": 3,
            "Links": {"Self": {"Uri": "/x"}}, "Attributes": {"Etag": "e1", "ObjectType": "Subscription"},
            "SomeFutureField": {"Nested": 1}
        }));
        assert_eq!(s.etag.as_deref(), Some("e1"));
        let body = s.with_status(&SubscriptionStatus::Suspended);
        assert_eq!(
            body,
            json!({
                "id": "s1", "offerId": "O1", "status": "suspended", "quantity": 3,
                "links": {"self": {"uri": "/x"}}, "attributes": {"etag": "e1", "objectType": "Subscription"},
                "someFutureField": {"nested": 1}
            })
        );
    }

    #[test]
    fn with_status_without_raw_uses_typed_fields() {
        let mut s = sub(json!({"id": "s1", "status": "suspended"}));
        s.raw = Value::Null;
        let body = s.with_status(&SubscriptionStatus::Active);
        assert_eq!(body["id"], "s1");
        assert_eq!(body["status"], "active");
    }

    #[test]
    fn subscription_rejects_non_objects_and_missing_status() {
        assert!(lenient::from_value::<Subscription>(json!(["s1"])).is_err());
        assert!(lenient::from_value::<Subscription>(json!({"id": "s1"})).is_err());
    }

    #[test]
    fn azure_plan_detection() {
        let plan = sub(json!({"id": "a", "status": "active", "offerId": "DZH318Z0BPS6:0001"}));
        assert!(plan.is_azure_plan());
        let lower = sub(json!({"id": "a", "status": "active", "offerId": "dzh318z0bps6"}));
        assert!(lower.is_azure_plan());
        let by_name = sub(
            json!({"id": "a", "status": "active", "billingType": "Usage", "offerName": "Microsoft Azure Plan"}),
        );
        assert!(by_name.is_azure_plan());
        let name_not_usage = sub(
            json!({"id": "a", "status": "active", "billingType": "license", "offerName": "Azure plan"}),
        );
        assert!(!name_not_usage.is_azure_plan());
        let legacy = sub(
            json!({"id": "a", "status": "active", "billingType": "usage", "offerId": "MS-AZR-0145P", "offerName": "Microsoft Azure"}),
        );
        assert!(!legacy.is_azure_plan());
        let short = sub(json!({"id": "a", "status": "active", "offerId": "DZH"}));
        assert!(!short.is_azure_plan());
    }

    #[test]
    fn budget_patch_body_matches_the_documented_shape() {
        let body = BudgetPatch { amount: dec!(100) }.to_body();
        assert_eq!(
            body,
            Ok(json!({"Amount": 100, "Attributes": {"ObjectType": "SpendingBudget"}}))
        );
        let cents = serde_json::to_string(&BudgetPatch {
            amount: dec!(250.50),
        })
        .unwrap_or_default();
        assert_eq!(
            cents,
            r#"{"Amount":250.5,"Attributes":{"ObjectType":"SpendingBudget"}}"#
        );
        let whole_with_scale = BudgetPatch {
            amount: dec!(100.00),
        }
        .to_body();
        assert_eq!(
            whole_with_scale.ok().map(|b| b["Amount"].clone()),
            Some(json!(100))
        );
        let too_precise = BudgetPatch {
            amount: dec!(1234567890.12345678901234),
        }
        .to_body();
        assert!(matches!(
            too_precise,
            Err(RequestBodyError::InexactAmount { .. })
        ));
    }

    #[test]
    fn fraud_status_update_and_cancel_bodies() {
        let update = FraudStatusUpdate {
            event_ids: vec!["e1".into()],
            event_status: FraudEventStatus::Resolved,
            resolved_reason: Some(FraudResolvedReason::Fraud),
        };
        assert_eq!(
            serde_json::to_value(&update).ok(),
            Some(json!({"EventIds": ["e1"], "EventStatus": "Resolved", "ResolvedReason": "Fraud"}))
        );
        let investigate = FraudStatusUpdate {
            event_ids: vec![],
            event_status: FraudEventStatus::Investigating,
            resolved_reason: None,
        };
        assert_eq!(
            serde_json::to_value(&investigate).ok(),
            Some(json!({"EventIds": [], "EventStatus": "Investigating"}))
        );
        assert_eq!(
            serde_json::to_value(CancelEntitlementRequest::compromise()).ok(),
            Some(json!({"cancellationReason": "compromise"}))
        );
    }

    #[test]
    fn error_body_code_and_message_in_both_shapes() {
        let classic: ApiErrorBody = lenient::from_value(
            json!({"Code": 800091, "Description": "Can't update", "Source": "PartnerFD"}),
        )
        .unwrap_or_default();
        assert_eq!(classic.code(), Some("800091".to_owned()));
        assert_eq!(classic.message(), "Can't update");
        let text_code: ApiErrorBody =
            lenient::from_value(json!({"code": "900115", "description": "Azure plan"}))
                .unwrap_or_default();
        assert_eq!(text_code.code(), Some("900115".to_owned()));
        let throttled: ApiErrorBody =
            lenient::from_value(json!({"statusCode": 429, "message": "Rate limit"}))
                .unwrap_or_default();
        assert_eq!(throttled.code(), None);
        assert_eq!(throttled.status_code, Some(429));
        assert_eq!(throttled.message(), "Rate limit");
        assert_eq!(ApiErrorBody::default().message(), "");
        let graph: ApiErrorBody = lenient::from_value(json!({"error": {
            "code": "TooManyRequests", "message": "Retry later",
            "innerError": {"request-id": "r"}}}))
        .unwrap_or_default();
        assert_eq!(graph.code(), Some("TooManyRequests".to_owned()));
        assert_eq!(graph.message(), "Retry later");
        let entra: ApiErrorBody =
            lenient::from_value(json!({"error": "invalid_client"})).unwrap_or_default();
        assert_eq!((entra.code(), entra.message()), (None, String::new()));
    }

    #[test]
    fn subscription_round_trips_through_serialize() {
        let s = sub(
            json!({"id": "s1", "status": "Suspended", "commitmentEndDate": "2026-11-21", "quantity": "4"}),
        );
        assert_eq!(s.status, SubscriptionStatus::Suspended);
        assert_eq!(s.quantity, Some(4));
        let v = serde_json::to_value(&s).unwrap_or(Value::Null);
        assert_eq!(v["status"], "suspended");
        let back = sub(v);
        assert_eq!(back.commitment_end_date, s.commitment_end_date);
        assert_eq!(back.quantity, Some(4));
    }
}
