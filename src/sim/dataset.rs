//! The simulator's partner-side truth: customers, subscriptions, Azure entitlements, budgets and
//! usage, audit records, fraud events and Microsoft invoices.
//!
//! Invariants:
//! * `Dataset::generate(seed, n, now)` is a pure function of its arguments (fastrand seeded RNG,
//!   ids built from RNG bytes), so the same inputs always produce the same JSON.
//! * Money is `rust_decimal::Decimal` (2 decimal places), time is `jiff::Timestamp` (UTC).
//! * Records stay small (plain strings and numbers, no per-customer maps) so 50,000 customers fit
//!   comfortably in memory; lookups by id are indexed by the server, not stored here.
//! * `audit_records` are kept sorted by `operation_date` (ascending) by the generator; servers must
//!   not rely on it for correctness and sort the filtered view themselves.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::SimError;

/// Offer id of the (new commerce) Azure plan.
pub const AZURE_PLAN_OFFER_ID: &str = "DZH318Z0BPS6:0001";

/// Fixed reference instant used by builders that need a timestamp but no clock (2024-01-01Z).
fn reference_instant() -> Timestamp {
    Timestamp::from_second(1_704_067_200).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Everything the simulator serves. Public fields so tests can script a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// The instant the data was generated relative to ("now" of the generator).
    pub generated_at: Timestamp,
    /// Partner (reseller) tenant id, used in fraud events and audit records.
    pub partner_id: String,
    /// Partner display name.
    pub partner_name: String,
    pub customers: Vec<SimCustomer>,
    pub audit_records: Vec<SimAuditRecord>,
    pub fraud_events: Vec<SimFraudEvent>,
    /// Microsoft Graph partner security alerts (`/beta/security/partner/securityAlerts`).
    #[serde(default)]
    pub security_alerts: Vec<SimSecurityAlert>,
    /// Partner Center refuses App+User calls for a missing MFA claim (401, code 900421).
    #[serde(default)]
    pub mfa: SimMfa,
    /// Microsoft -> partner invoices, newest first.
    pub invoices: Vec<SimInvoice>,
    pub invoice_summary: SimInvoiceSummary,
    /// Billing reconciliation exports (Graph): line items per invoice and of the unbilled
    /// period, legacy and failing invoices. Empty unless scripted ([`Dataset::script_billing`]).
    #[serde(default)]
    pub billing: SimBilling,
}

/// One customer tenant with its billing profile, budget, usage and subscriptions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimCustomer {
    /// Customer tenant id (GUID, lower case).
    pub id: String,
    pub commerce_id: String,
    pub company_name: String,
    /// Primary domain, e.g. `contoso-0042.onmicrosoft.com`.
    pub domain: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub city: String,
    pub region: String,
    pub address_line1: String,
    pub postal_code: String,
    pub phone_number: String,
    pub billing_profile_id: String,
    pub first_name: String,
    pub last_name: String,
    /// Billing contact email; `None` models an unpopulated profile.
    pub email: Option<String>,
    /// e.g. `en-US`, `ja-JP`; `None` models an unpopulated profile.
    pub culture: Option<String>,
    /// e.g. `en`, `ja`.
    pub language: Option<String>,
    pub created: Timestamp,
    /// `reseller` (direct) or `advisor`.
    pub relationship_to_partner: String,
    /// ISO 4217 currency of budget and usage.
    pub currency: String,
    /// Monthly Azure spending budget; `None` = no budget.
    pub budget: Option<Decimal>,
    /// Month-to-date Azure usage estimate in `currency`.
    pub usage_mtd: Decimal,
    pub subscriptions: Vec<SimSubscription>,
}

/// A subscription (licence-based or the Azure plan).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimSubscription {
    pub id: String,
    pub offer_id: String,
    pub offer_name: String,
    pub friendly_name: String,
    pub quantity: u32,
    /// `Licenses` or `Usage-based`.
    pub unit_type: String,
    /// `license` or `usage`.
    pub billing_type: String,
    /// `monthly`, `annual` or `none`.
    pub billing_cycle: String,
    /// ISO 8601 duration such as `P1M`; empty for the Azure plan.
    pub term_duration: String,
    pub creation_date: Timestamp,
    pub effective_start_date: Timestamp,
    pub commitment_end_date: Timestamp,
    pub auto_renew_enabled: bool,
    /// `active`, `suspended`, `expired`, `deleted`, ...
    pub status: String,
    pub suspension_reasons: Vec<String>,
    pub order_id: String,
    /// Incremented on every change; the etag is derived from (id, version).
    pub etag_version: u32,
    /// Azure subscriptions under an Azure plan (empty for licence-based subscriptions).
    pub entitlements: Vec<SimEntitlement>,
}

/// An Azure subscription (entitlement) under an Azure plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimEntitlement {
    /// The Azure subscription id.
    pub id: String,
    pub friendly_name: String,
    /// `active`, or `disabled` once cancelled.
    pub status: String,
}

/// One activity-log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimAuditRecord {
    pub id: String,
    pub customer_id: String,
    pub customer_name: String,
    pub user_principal_name: String,
    pub application_id: Option<String>,
    pub resource_type: String,
    pub operation_type: String,
    pub operation_date: Timestamp,
    /// `succeeded`, `failed` or `progress`.
    pub operation_status: String,
    /// JSON serialised as a string, as Partner Center does.
    pub resource_old_value: Option<String>,
    pub resource_new_value: Option<String>,
    pub customized_data: Vec<(String, Option<String>)>,
}

impl SimAuditRecord {
    /// A succeeded `operation` (resource type, operation type) on `customer` at `at`, with no
    /// id, user, application, values or customized data: set those with struct update syntax.
    pub fn succeeded(customer: &SimCustomer, operation: (&str, &str), at: Timestamp) -> Self {
        let (resource_type, operation_type) = operation;
        SimAuditRecord {
            id: String::new(),
            customer_id: customer.id.clone(),
            customer_name: customer.company_name.clone(),
            user_principal_name: String::new(),
            application_id: None,
            resource_type: resource_type.to_owned(),
            operation_type: operation_type.to_owned(),
            operation_date: at,
            operation_status: "succeeded".to_owned(),
            resource_old_value: None,
            resource_new_value: None,
            customized_data: Vec::new(),
        }
    }
}

/// An Azure fraud event (classic and new-model fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimFraudEvent {
    pub event_time: Timestamp,
    /// Azure subscription (entitlement) id.
    pub subscription_id: String,
    pub customer_id: String,
    pub customer_name: String,
    pub entity_id: String,
    pub entity_name: String,
    pub hit_count: u32,
    pub catalog_offer_id: String,
    /// `Active`, `Resolved` or `Investigating`.
    pub event_status: String,
    pub service_name: String,
    pub resource_name: String,
    pub resource_group_name: String,
    pub first_occurrence: Timestamp,
    pub last_occurrence: Timestamp,
    /// `None` (unresolved), `Fraud` or `Ignore`.
    pub resolved_reason: String,
    pub resolved_on: Option<Timestamp>,
    pub resolved_by: String,
    pub event_type: String,
    /// `Low`, `Medium` or `High`.
    pub severity: String,
    pub confidence_level: String,
    pub display_name: String,
    pub description: String,
    pub country: String,
    pub subscription_name: String,
    /// (azureResourceId, type)
    pub affected_resources: Vec<(String, String)>,
    pub is_test: bool,
}

/// A Microsoft Graph partner security alert (`partnerSecurityAlert`, beta).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimSecurityAlert {
    pub id: String,
    pub display_name: String,
    pub description: String,
    /// camelCase, e.g. `networkConnectionsToCryptoMiningPools`.
    pub alert_type: String,
    /// `active`, `investigating` or `resolved`.
    pub status: String,
    /// `informational`, `low`, `medium` or `high`.
    pub severity: String,
    /// `low`, `medium` or `high`.
    pub confidence_level: String,
    pub customer_tenant_id: String,
    /// The Azure subscription (entitlement) id.
    pub subscription_id: String,
    pub catalog_offer_id: Option<String>,
    pub detected: Timestamp,
    pub first_observed: Timestamp,
    pub last_observed: Timestamp,
    /// `legitimate`, `ignore` or `fraud` once resolved.
    pub resolved_reason: Option<String>,
    pub resolved_on: Option<Timestamp>,
    pub resolved_by: Option<String>,
    pub is_test: bool,
    /// (resourceId, resourceType)
    pub affected_resources: Vec<(String, String)>,
    /// (statusFrom, statusTo, updatedBy, updatedDateTime)
    pub activity_logs: Vec<(String, String, String, Timestamp)>,
}

impl SimSecurityAlert {
    /// The alert Graph would report for a fraud event (same customer, subscription and kind of
    /// signal; the alert type in Graph's camelCase), with an id derived from the event.
    pub fn for_event(ev: &SimFraudEvent) -> SimSecurityAlert {
        let mut alert_type = ev.event_type.clone();
        if let Some(first) = alert_type.get(..1) {
            alert_type = format!("{}{}", first.to_ascii_lowercase(), &alert_type[1..]);
        }
        SimSecurityAlert {
            id: format!("{}-{}", ev.subscription_id, ev.entity_id),
            display_name: format!("Action Required: {}", ev.display_name),
            description: ev.description.clone(),
            alert_type,
            status: ev.event_status.to_ascii_lowercase(),
            severity: ev.severity.to_ascii_lowercase(),
            confidence_level: ev.confidence_level.to_ascii_lowercase(),
            customer_tenant_id: ev.customer_id.clone(),
            subscription_id: ev.subscription_id.clone(),
            catalog_offer_id: Some(ev.catalog_offer_id.clone()),
            detected: ev.first_occurrence,
            first_observed: ev.first_occurrence,
            last_observed: ev.last_occurrence,
            resolved_reason: None,
            resolved_on: None,
            resolved_by: None,
            is_test: ev.is_test,
            affected_resources: ev
                .affected_resources
                .iter()
                .map(|(id, _)| (id.clone(), "AzureResource".to_owned()))
                .collect(),
            activity_logs: Vec::new(),
        }
    }
}

/// Whether the simulated partner's App+User tokens carry the MFA claim Partner Center demands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimMfa {
    /// App+User calls are served.
    #[default]
    Present,
    /// Every App+User API call is refused: 401 with code 900421 (the consent lacked MFA).
    Missing,
}

/// A Microsoft -> partner invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimInvoice {
    pub id: String,
    pub invoice_date: Timestamp,
    pub billing_period_start: Timestamp,
    pub billing_period_end: Timestamp,
    pub total_charges: Decimal,
    pub paid_amount: Decimal,
    pub currency_code: String,
    pub currency_symbol: String,
    /// `Recurring` or `OneTime`.
    pub invoice_type: String,
    /// `invoice`, `void_note`, `adjustment_note`.
    pub document_type: String,
}

/// What the simulated billing reconciliation exports contain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimBilling {
    /// Billed line items; each names its Microsoft invoice.
    #[serde(default)]
    pub billed: Vec<SimLineItem>,
    /// This period's unbilled line items.
    #[serde(default)]
    pub unbilled: Vec<SimLineItem>,
    /// Invoices whose billed export fails with code 5000 "No data available" (legacy commerce).
    #[serde(default)]
    pub legacy_invoices: Vec<String>,
    /// Invoices whose billed export fails with another code (a service-side failure).
    #[serde(default)]
    pub failing_invoices: Vec<String>,
    /// Polls that answer `running` before an operation finishes.
    #[serde(default = "one")]
    pub running_polls: u32,
    /// Generated line items added to every billed export (for the benchmark), spread over the
    /// customers; they are consistent with the dataset's customers.
    #[serde(default)]
    pub synthetic_lines: u64,
    /// Operations started so far (runtime state, not part of a dataset file).
    #[serde(skip)]
    pub operations: Vec<SimOperation>,
}

fn one() -> u32 {
    1
}

impl Default for SimBilling {
    fn default() -> Self {
        Self {
            billed: Vec::new(),
            unbilled: Vec::new(),
            legacy_invoices: Vec::new(),
            failing_invoices: Vec::new(),
            running_polls: 1,
            synthetic_lines: 0,
            operations: Vec::new(),
        }
    }
}

/// One reconciliation line item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimLineItem {
    /// The Microsoft invoice (billed items only).
    pub invoice: Option<String>,
    pub customer_id: String,
    pub customer_name: String,
    pub product_id: String,
    pub product_name: String,
    pub currency: String,
    pub quantity: u32,
    pub unit_price: Decimal,
    pub charge_start: Timestamp,
    pub charge_end: Timestamp,
}

/// An export operation the simulator started.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOperation {
    pub id: String,
    /// `billed` (subject: invoice id) or `unbilled` (subject: currency).
    pub kind: &'static str,
    pub subject: String,
    pub polls: u32,
}

/// The partner's account balance with Microsoft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimInvoiceSummary {
    pub balance_amount: Decimal,
    pub currency_code: String,
    pub currency_symbol: String,
    pub accounting_date: Timestamp,
    pub first_invoice_creation_date: Timestamp,
    pub last_payment_date: Timestamp,
    pub last_payment_amount: Decimal,
    pub latest_invoice_date: Timestamp,
}

impl Default for SimInvoiceSummary {
    fn default() -> Self {
        let t = reference_instant();
        SimInvoiceSummary {
            balance_amount: Decimal::ZERO,
            currency_code: "USD".into(),
            currency_symbol: "$".into(),
            accounting_date: t,
            first_invoice_creation_date: t,
            last_payment_date: t,
            last_payment_amount: Decimal::ZERO,
            latest_invoice_date: t,
        }
    }
}

/// Builds a subscription etag from its id and version (base64 of `{"id":..,"version":N}`, like
/// the real service's opaque etags).
pub fn make_etag(id: &str, version: u32) -> String {
    base64(
        format!(
            "{{\"id\":\"{}\",\"version\":{}}}",
            id.to_ascii_lowercase(),
            version
        )
        .as_bytes(),
    )
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b0 = u32::from(chunk.first().copied().unwrap_or(0));
        let b1 = u32::from(chunk.get(1).copied().unwrap_or(0));
        let b2 = u32::from(chunk.get(2).copied().unwrap_or(0));
        let n = (b0 << 16) | (b1 << 8) | b2;
        let idx = |shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
        out.push(idx(18));
        out.push(idx(12));
        out.push(if chunk.len() > 1 { idx(6) } else { '=' });
        out.push(if chunk.len() > 2 { idx(0) } else { '=' });
    }
    out
}

impl SimSubscription {
    /// A licence-based (M365) monthly subscription, active, created at the reference instant.
    pub fn license(id: impl Into<String>, offer_name: impl Into<String>, quantity: u32) -> Self {
        let created = reference_instant();
        let name = offer_name.into();
        SimSubscription {
            id: id.into(),
            offer_id: "CFQ7TTC0LF8Q:0001".into(),
            offer_name: name.clone(),
            friendly_name: name,
            quantity,
            unit_type: "Licenses".into(),
            billing_type: "license".into(),
            billing_cycle: "monthly".into(),
            term_duration: "P1M".into(),
            creation_date: created,
            effective_start_date: created,
            commitment_end_date: created
                .checked_add(SignedDuration::from_hours(24 * 30))
                .unwrap_or(created),
            auto_renew_enabled: true,
            status: "active".into(),
            suspension_reasons: Vec::new(),
            order_id: format!("order-{}", created.as_second()),
            etag_version: 1,
            entitlements: Vec::new(),
        }
    }

    /// An active Azure plan with no entitlements.
    pub fn azure_plan(id: impl Into<String>) -> Self {
        let mut s = Self::license(id, "Azure plan", 1);
        s.offer_id = AZURE_PLAN_OFFER_ID.into();
        s.unit_type = "Usage-based".into();
        s.billing_type = "usage".into();
        s.billing_cycle = "none".into();
        s.term_duration = String::new();
        s.auto_renew_enabled = false;
        s.commitment_end_date =
            Timestamp::from_second(253_402_128_000).unwrap_or(s.commitment_end_date);
        s
    }

    /// Adds an active Azure entitlement (builder style).
    pub fn with_entitlement(mut self, id: impl Into<String>) -> Self {
        self.entitlements
            .push(SimEntitlement::new(id, "Azure subscription 1"));
        self
    }

    /// Sets the status (builder style).
    pub fn with_status(mut self, status: impl Into<String>) -> Self {
        self.status = status.into();
        self
    }

    /// True for the Azure plan offer.
    pub fn is_azure_plan(&self) -> bool {
        self.offer_id.eq_ignore_ascii_case(AZURE_PLAN_OFFER_ID)
    }

    /// Current etag.
    pub fn etag(&self) -> String {
        make_etag(&self.id, self.etag_version)
    }
}

impl SimEntitlement {
    /// An active entitlement.
    pub fn new(id: impl Into<String>, friendly_name: impl Into<String>) -> Self {
        SimEntitlement {
            id: id.into(),
            friendly_name: friendly_name.into(),
            status: "active".into(),
        }
    }
}

impl SimCustomer {
    /// A US customer with an en-US billing profile, no subscriptions, no budget, zero usage.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        let id = id.into();
        let name = name.into();
        let slug: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let slug = if slug.is_empty() {
            "customer".to_string()
        } else {
            slug
        };
        SimCustomer {
            commerce_id: id.clone(),
            billing_profile_id: id.clone(),
            id,
            company_name: name,
            domain: format!("{slug}.onmicrosoft.com"),
            country: "US".into(),
            city: "Redmond".into(),
            region: "WA".into(),
            address_line1: "1 Microsoft Way".into(),
            postal_code: "98052".into(),
            phone_number: "4255550100".into(),
            first_name: "Billing".into(),
            last_name: "Contact".into(),
            email: Some(format!("billing@{slug}.example")),
            culture: Some("en-US".into()),
            language: Some("en".into()),
            created: reference_instant(),
            relationship_to_partner: "reseller".into(),
            currency: "USD".into(),
            budget: None,
            usage_mtd: Decimal::ZERO,
            subscriptions: Vec::new(),
        }
    }

    /// Adds a subscription (builder style).
    pub fn with_subscription(mut self, sub: SimSubscription) -> Self {
        self.subscriptions.push(sub);
        self
    }

    /// Sets budget and month-to-date usage (builder style).
    pub fn with_budget_usage(mut self, budget: Option<Decimal>, usage_mtd: Decimal) -> Self {
        self.budget = budget;
        self.usage_mtd = usage_mtd;
        self
    }

    /// True when the customer has an Azure plan subscription.
    pub fn has_azure_plan(&self) -> bool {
        self.subscriptions
            .iter()
            .any(SimSubscription::is_azure_plan)
    }
}

impl Dataset {
    /// An empty tenant (no customers, events or invoices).
    pub fn empty() -> Self {
        Dataset {
            generated_at: reference_instant(),
            partner_id: "3b33e682-00c3-41ee-9dd2-a548adf56438".into(),
            partner_name: "Simulated Partner".into(),
            customers: Vec::new(),
            audit_records: Vec::new(),
            fraud_events: Vec::new(),
            security_alerts: Vec::new(),
            mfa: SimMfa::Present,
            invoices: Vec::new(),
            invoice_summary: SimInvoiceSummary::default(),
            billing: SimBilling::default(),
        }
    }

    /// Loads a dataset previously written with [`Dataset::to_json`] (or hand-written).
    pub fn load(path: &Path) -> Result<Dataset, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::ReadDataset {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| SimError::ParseDataset {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Serialises the dataset as pretty JSON (the format [`Dataset::load`] reads).
    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings/numbers/timestamps cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Finds a customer by id (case-insensitive).
    pub fn customer(&self, id: &str) -> Option<&SimCustomer> {
        self.customers
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(id))
    }

    /// Finds a customer by id (case-insensitive), mutably.
    pub fn customer_mut(&mut self, id: &str) -> Option<&mut SimCustomer> {
        self.customers
            .iter_mut()
            .find(|c| c.id.eq_ignore_ascii_case(id))
    }

    /// Generates a realistic tenant of `customers` customers, deterministically from `seed`,
    /// relative to `now`.
    pub fn generate(seed: u64, customers: usize, now: Timestamp) -> Dataset {
        generate::run(seed, customers, now)
    }
}

mod generate {
    //! The deterministic generator behind [`Dataset::generate`].

    use super::*;

    const DAY: i64 = 24;

    const NAMES: &[&str] = &[
        "Contoso",
        "Fabrikam",
        "Northwind",
        "Adventure Works",
        "Tailspin Toys",
        "Wingtip Toys",
        "Litware",
        "Proseware",
        "Relecloud",
        "Woodgrove",
        "Alpine Ski House",
        "Coho Winery",
        "Fourth Coffee",
        "Lamna Healthcare",
        "Trey Research",
        "Wide World Importers",
        "Blue Yonder Airlines",
        "Margie's Travel",
        "Humongous Insurance",
        "VanArsdel",
        "Munson's Pickles",
        "A. Datum",
        "Bellows College",
        "Graphic Design Institute",
        "School of Fine Art",
        "Southridge Video",
        "City Power & Light",
        "Consolidated Messenger",
    ];
    const FIRST: &[&str] = &[
        "Anna", "Ben", "Chen", "Daniel", "Emma", "Erik", "Hana", "Ji-woo", "Karin", "Liam", "Mei",
        "Noah", "Olivia", "Sven", "Yuki", "Min-jun",
    ];
    const LAST: &[&str] = &[
        "Andersson",
        "Brown",
        "Fischer",
        "Kim",
        "Li",
        "Müller",
        "Nakamura",
        "Park",
        "Smith",
        "Sato",
        "Wang",
        "Wilson",
        "Johansson",
        "Taylor",
    ];

    struct Country {
        code: &'static str,
        weight: u32,
        culture: &'static str,
        language: &'static str,
        currency: &'static str,
        /// USD per unit, in 1/10000.
        usd_rate_e4: i64,
        suffix: &'static str,
        city: &'static str,
        region: &'static str,
    }

    const COUNTRIES: &[Country] = &[
        Country {
            code: "US",
            weight: 30,
            culture: "en-US",
            language: "en",
            currency: "USD",
            usd_rate_e4: 10000,
            suffix: "Inc.",
            city: "Seattle",
            region: "WA",
        },
        Country {
            code: "GB",
            weight: 14,
            culture: "en-US",
            language: "en",
            currency: "GBP",
            usd_rate_e4: 12700,
            suffix: "Ltd",
            city: "London",
            region: "",
        },
        Country {
            code: "DE",
            weight: 14,
            culture: "en-US",
            language: "en",
            currency: "EUR",
            usd_rate_e4: 10800,
            suffix: "GmbH",
            city: "Berlin",
            region: "",
        },
        Country {
            code: "SE",
            weight: 10,
            culture: "sv-SE",
            language: "sv",
            currency: "SEK",
            usd_rate_e4: 950,
            suffix: "AB",
            city: "Stockholm",
            region: "",
        },
        Country {
            code: "JP",
            weight: 10,
            culture: "ja-JP",
            language: "ja",
            currency: "JPY",
            usd_rate_e4: 67,
            suffix: "KK",
            city: "Tokyo",
            region: "",
        },
        Country {
            code: "KR",
            weight: 8,
            culture: "ko-KR",
            language: "ko",
            currency: "KRW",
            usd_rate_e4: 7,
            suffix: "Co., Ltd.",
            city: "Seoul",
            region: "",
        },
        Country {
            code: "CN",
            weight: 8,
            culture: "zh-CN",
            language: "zh",
            currency: "CNY",
            usd_rate_e4: 1400,
            suffix: "Co., Ltd.",
            city: "Shanghai",
            region: "",
        },
        Country {
            code: "NG",
            weight: 2,
            culture: "en-US",
            language: "en",
            currency: "USD",
            usd_rate_e4: 10000,
            suffix: "Ltd",
            city: "Lagos",
            region: "",
        },
        Country {
            code: "VN",
            weight: 2,
            culture: "en-US",
            language: "en",
            currency: "USD",
            usd_rate_e4: 10000,
            suffix: "JSC",
            city: "Hanoi",
            region: "",
        },
        Country {
            code: "PK",
            weight: 2,
            culture: "en-US",
            language: "en",
            currency: "USD",
            usd_rate_e4: 10000,
            suffix: "Pvt Ltd",
            city: "Karachi",
            region: "",
        },
    ];

    const M365: &[(&str, &str)] = &[
        ("CFQ7TTC0LF8Q:0001", "Microsoft 365 Business Premium"),
        ("CFQ7TTC0LH18:0001", "Microsoft 365 Business Basic"),
        ("CFQ7TTC0LDPB:0001", "Microsoft 365 Business Standard"),
        ("CFQ7TTC0LFLZ:0001", "Microsoft 365 E3"),
        ("CFQ7TTC0LH16:0001", "Exchange Online (Plan 1)"),
        ("CFQ7TTC0QW7C:0001", "Microsoft Teams Essentials"),
    ];

    pub(super) fn guid(rng: &mut fastrand::Rng) -> String {
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    fn days(n: i64) -> SignedDuration {
        SignedDuration::from_hours(n * DAY)
    }

    /// One `isTest` Graph alert (Partner Center's test alerts), on the last customer with an
    /// Azure subscription; no randomness, so the rest of the tenant is unchanged.
    fn test_alert(ds: &mut Dataset, now: Timestamp) {
        let Some((cust, ent)) = ds.customers.iter().rev().find_map(|c| {
            c.subscriptions
                .iter()
                .flat_map(|s| s.entitlements.iter())
                .next()
                .map(|e| (c, e))
        }) else {
            return;
        };
        let at = minus(now, SignedDuration::from_hours(2));
        ds.security_alerts.push(SimSecurityAlert {
            id: format!("test-{}", ent.id),
            display_name: "Test alert: Virtual machine connecting to crypto currency mining pool"
                .into(),
            description: "A test alert raised from Partner Center to check alert handling.".into(),
            alert_type: "networkConnectionsToCryptoMiningPools".into(),
            status: "active".into(),
            severity: "high".into(),
            confidence_level: "high".into(),
            customer_tenant_id: cust.id.clone(),
            subscription_id: ent.id.clone(),
            catalog_offer_id: None,
            detected: at,
            first_observed: at,
            last_observed: at,
            resolved_reason: None,
            resolved_on: None,
            resolved_by: None,
            is_test: true,
            affected_resources: Vec::new(),
            activity_logs: Vec::new(),
        });
    }

    fn minus(now: Timestamp, d: SignedDuration) -> Timestamp {
        now.checked_sub(d).unwrap_or(now)
    }

    fn plus(t: Timestamp, d: SignedDuration) -> Timestamp {
        t.checked_add(d).unwrap_or(t)
    }

    /// The application the generated admins act through.
    const NATIVE_APP: &str = "Partner Center Native App";

    /// An audit record id and a time in the 60 days before `now`, drawn in that order.
    fn recent_activity(rng: &mut fastrand::Rng, now: Timestamp) -> (String, Timestamp) {
        let id = guid(rng);
        (
            id,
            minus(now, SignedDuration::from_mins(rng.i64(60..60 * 24 * 60))),
        )
    }

    fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
        // All call sites pass non-empty constant slices.
        &items[rng.usize(..items.len())]
    }

    fn country(rng: &mut fastrand::Rng) -> &'static Country {
        let total: u32 = COUNTRIES.iter().map(|c| c.weight).sum();
        let mut roll = rng.u32(..total);
        for c in COUNTRIES {
            if roll < c.weight {
                return c;
            }
            roll -= c.weight;
        }
        &COUNTRIES[0]
    }

    /// Converts whole USD to the local currency, rounded to 2 dp.
    fn from_usd(usd_cents: i64, c: &Country) -> Decimal {
        (Decimal::new(usd_cents, 2) * Decimal::new(10000, 0) / Decimal::new(c.usd_rate_e4, 0))
            .round_dp(2)
    }

    pub(super) fn run(seed: u64, n: usize, now: Timestamp) -> Dataset {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut ds = Dataset::empty();
        ds.generated_at = now;
        ds.partner_id = guid(&mut rng);
        ds.partner_name = "Simulated Partner Ltd".into();
        let admin = "admin@simpartner.onmicrosoft.com".to_string();
        let mut audits: Vec<SimAuditRecord> = Vec::new();
        ds.customers.reserve(n);

        for i in 0..n {
            let c = country(&mut rng);
            let base = *pick(&mut rng, NAMES);
            let company_name = format!("{base} {} {}", i, c.suffix);
            let slug: String = base
                .chars()
                .filter(|ch| ch.is_ascii_alphanumeric())
                .map(|ch| ch.to_ascii_lowercase())
                .collect();
            let domain = format!("{slug}-{i:04}.onmicrosoft.com");
            let id = guid(&mut rng);
            let age_roll = rng.u32(..100);
            let age_days: i64 = if age_roll < 3 {
                rng.i64(0..7)
            } else if age_roll < 8 {
                rng.i64(7..60)
            } else {
                rng.i64(60..2200)
            };
            let created = minus(
                now,
                days(age_days) + SignedDuration::from_mins(rng.i64(0..1440)),
            );
            let first = *pick(&mut rng, FIRST);
            let last = *pick(&mut rng, LAST);
            let profile_missing = rng.u32(..100) < 2;
            let mut cust = SimCustomer {
                id: id.clone(),
                commerce_id: guid(&mut rng),
                company_name: company_name.clone(),
                domain: domain.clone(),
                country: c.code.into(),
                city: c.city.into(),
                region: c.region.into(),
                address_line1: format!("{} Main Street", rng.u32(1..400)),
                postal_code: format!("{:05}", rng.u32(10000..99999)),
                phone_number: format!("555{:07}", rng.u32(..10_000_000)),
                billing_profile_id: guid(&mut rng),
                first_name: first.into(),
                last_name: last.into(),
                email: (!profile_missing)
                    .then(|| format!("billing@{}", domain.replace(".onmicrosoft.com", ".example"))),
                culture: (!profile_missing).then(|| c.culture.to_string()),
                language: (!profile_missing).then(|| c.language.to_string()),
                created,
                relationship_to_partner: "reseller".into(),
                currency: c.currency.into(),
                budget: None,
                usage_mtd: Decimal::ZERO,
                subscriptions: Vec::new(),
            };
            let young = age_days < 60;
            if young {
                audits.push(SimAuditRecord {
                    id: guid(&mut rng),
                    user_principal_name: admin.clone(),
                    application_id: Some(NATIVE_APP.into()),
                    resource_new_value: Some(format!(
                        "{{\"Id\":\"{id}\",\"CompanyProfile\":{{\"Domain\":\"{domain}\",\"CompanyName\":\"{}\"}}}}",
                        company_name.replace('"', "'")
                    )),
                    customized_data: vec![("CustomerId".into(), Some(id.clone()))],
                    ..SimAuditRecord::succeeded(&cust, ("customer", "add_customer"), created)
                });
                // Drawn in this order: record id, approval time, relationship id.
                let record_id = guid(&mut rng);
                let approved = plus(created, SignedDuration::from_mins(rng.i64(5..600)));
                audits.push(SimAuditRecord {
                    id: record_id,
                    user_principal_name: admin.clone(),
                    customized_data: vec![("RelationshipId".into(), Some(guid(&mut rng)))],
                    ..SimAuditRecord::succeeded(
                        &cust,
                        (
                            "granular_admin_relationship",
                            "granular_admin_relationship_approved",
                        ),
                        approved,
                    )
                });
            }

            let n_subs = rng.usize(1..=4);
            // Exact capacities: push-growth would reserve 4 slots per customer.
            cust.subscriptions.reserve_exact(n_subs);
            let wants_azure = rng.u32(..100) < 40;
            for s in 0..n_subs {
                let sub_created = plus(created, SignedDuration::from_mins(rng.i64(10..2000)));
                let sub_created = if sub_created > now { now } else { sub_created };
                let mut sub = if wants_azure && s == 0 {
                    let mut p = SimSubscription::azure_plan(guid(&mut rng));
                    let n_ent = rng.usize(0..=2);
                    p.entitlements.reserve_exact(n_ent);
                    for e in 0..n_ent {
                        p.entitlements.push(SimEntitlement::new(
                            guid(&mut rng),
                            format!("Azure subscription {}", e + 1),
                        ));
                    }
                    p
                } else {
                    let (offer_id, offer_name) = *pick(&mut rng, M365);
                    let mut l =
                        SimSubscription::license(guid(&mut rng), offer_name, rng.u32(1..60));
                    l.offer_id = offer_id.into();
                    if rng.u32(..100) < 30 {
                        l.billing_cycle = "annual".into();
                        l.term_duration = "P1Y".into();
                    }
                    l
                };
                sub.creation_date = sub_created;
                sub.effective_start_date = sub_created;
                if !sub.is_azure_plan() {
                    let term = if sub.term_duration == "P1Y" { 365 } else { 30 };
                    let elapsed = (now.as_second() - sub_created.as_second()).max(0) / 86_400;
                    let periods = elapsed / term + 1;
                    sub.commitment_end_date = plus(sub_created, days(periods * term));
                }
                sub.order_id = guid(&mut rng);
                sub.etag_version = rng.u32(1..5);
                let roll = rng.u32(..100);
                if roll < 2 {
                    sub.status = "suspended".into();
                    sub.suspension_reasons = vec!["CustomerCancellation".into()];
                } else if roll < 4 && !sub.is_azure_plan() {
                    sub.status = "expired".into();
                }
                if sub_created > minus(now, days(60)) {
                    audits.push(SimAuditRecord {
                        id: guid(&mut rng),
                        user_principal_name: admin.clone(),
                        application_id: Some(NATIVE_APP.into()),
                        resource_new_value: Some(format!(
                            "{{\"Id\":\"{}\",\"ReferenceCustomerId\":\"{id}\",\"LineItems\":[{{\"LineItemNumber\":0,\"OfferId\":\"{}\",\"SubscriptionId\":\"{}\",\"FriendlyName\":\"{}\",\"Quantity\":{}}}]}}",
                            sub.order_id, sub.offer_id, sub.id, sub.friendly_name, sub.quantity
                        )),
                        customized_data: vec![
                            ("OrderId".into(), Some(sub.order_id.clone())),
                            ("OfferId-0".into(), Some(sub.offer_id.clone())),
                            ("SubscriptionId-0".into(), Some(sub.id.clone())),
                            ("Quantity-0".into(), Some(sub.quantity.to_string())),
                            ("PartnerOnRecord-0".into(), None),
                        ],
                        ..SimAuditRecord::succeeded(&cust, ("order", "create_order"), sub_created)
                    });
                }
                cust.subscriptions.push(sub);
            }

            if cust.has_azure_plan() {
                if rng.u32(..100) < 70 {
                    let usd = rng.i64(1..50) * 10_000; // 100..4900 USD in cents
                    cust.budget = Some(from_usd(usd, c).round_dp(0));
                }
                let reference = cust.budget.unwrap_or_else(|| from_usd(100_000, c));
                let roll = rng.u32(..100);
                let pct = if roll < 8 {
                    rng.i64(80..100)
                } else if roll < 13 {
                    rng.i64(100..300)
                } else {
                    rng.i64(0..70)
                };
                cust.usage_mtd = (reference * Decimal::new(pct, 2)
                    + Decimal::new(rng.i64(0..100), 2))
                .round_dp(2);
            }

            // Occasional activity on established customers inside the 60-day window.
            let roll = rng.u32(..100);
            if roll < 10 {
                if let Some(sub) = cust.subscriptions.first() {
                    let (record_id, at) = recent_activity(&mut rng, now);
                    let status = if rng.u32(..10) == 0 {
                        "failed"
                    } else {
                        "succeeded"
                    };
                    audits.push(SimAuditRecord {
                        id: record_id,
                        user_principal_name: admin.clone(),
                        application_id: Some(NATIVE_APP.into()),
                        operation_status: status.into(),
                        resource_old_value: Some(format!(
                            "{{\"Id\":\"{}\",\"Quantity\":{}}}",
                            sub.id, sub.quantity
                        )),
                        resource_new_value: Some(format!(
                            "{{\"Id\":\"{}\",\"Quantity\":{}}}",
                            sub.id,
                            sub.quantity + 1
                        )),
                        customized_data: vec![("SubscriptionId".into(), Some(sub.id.clone()))],
                        ..SimAuditRecord::succeeded(
                            &cust,
                            ("subscription", "update_subscription"),
                            at,
                        )
                    });
                }
            } else if roll < 14 && cust.has_azure_plan() {
                let (record_id, at) = recent_activity(&mut rng, now);
                let budget = cust.budget.map(|b| b.to_string());
                audits.push(SimAuditRecord {
                    id: record_id,
                    user_principal_name: admin.clone(),
                    resource_old_value: Some("{\"Amount\":null}".into()),
                    resource_new_value: Some(format!(
                        "{{\"Amount\":{}}}",
                        budget.as_deref().unwrap_or("null")
                    )),
                    ..SimAuditRecord::succeeded(
                        &cust,
                        ("customer", "update_customer_spending_budget"),
                        at,
                    )
                });
            } else if roll < 16 {
                let (record_id, at) = recent_activity(&mut rng, now);
                audits.push(SimAuditRecord {
                    id: record_id,
                    user_principal_name: admin.clone(),
                    application_id: Some(NATIVE_APP.into()),
                    operation_status: "failed".into(),
                    customized_data: vec![("ErrorCode".into(), Some("900121".into()))],
                    ..SimAuditRecord::succeeded(&cust, ("order", "create_order"), at)
                });
            }
            ds.customers.push(cust);
        }

        // Fraud events: ~0.2% of customers, only on customers with an Azure entitlement.
        let wanted = if n == 0 {
            0
        } else {
            ((n as f64) * 0.002).ceil() as usize
        };
        let candidates: Vec<usize> = ds
            .customers
            .iter()
            .enumerate()
            .filter(|(_, c)| c.subscriptions.iter().any(|s| !s.entitlements.is_empty()))
            .map(|(i, _)| i)
            .collect();
        let mut taken = Vec::new();
        for k in 0..wanted.min(candidates.len()) {
            // Spread picks deterministically over the candidate list.
            let idx = candidates[(k * candidates.len()) / wanted.max(1)];
            taken.push(idx);
        }
        const TYPES: &[(&str, &str, &str)] = &[
            (
                "NetworkConnectionsToCryptoMiningPools",
                "Network connections to crypto mining pools",
                "High",
            ),
            ("UsageAnomalyDetection", "Usage anomaly detected", "Medium"),
            (
                "VirtualMachineDeploymentAnomaly",
                "Virtual machine deployment anomaly",
                "High",
            ),
        ];
        for (k, idx) in taken.into_iter().enumerate() {
            let Some(cust) = ds.customers.get(idx) else {
                continue;
            };
            let Some(ent) = cust
                .subscriptions
                .iter()
                .flat_map(|s| s.entitlements.iter())
                .next()
            else {
                continue;
            };
            let (etype, display, severity) = TYPES[k % TYPES.len()];
            let first = minus(now, SignedDuration::from_mins(rng.i64(60..60 * 24 * 5)));
            let last = plus(first, SignedDuration::from_mins(rng.i64(10..600)));
            let last = if last > now { now } else { last };
            let entity_id = guid(&mut rng);
            let ev = SimFraudEvent {
                event_time: last,
                subscription_id: ent.id.clone(),
                customer_id: cust.id.clone(),
                customer_name: cust.company_name.clone(),
                entity_id: entity_id.clone(),
                entity_name: format!("vm-{}", &entity_id[..8.min(entity_id.len())]),
                hit_count: rng.u32(1..500),
                catalog_offer_id: "ms-azr-17g".into(),
                event_status: "Active".into(),
                service_name: "Microsoft.Compute".into(),
                resource_name: format!("vm-{k}"),
                resource_group_name: "rg-default".into(),
                first_occurrence: first,
                last_occurrence: last,
                resolved_reason: "None".into(),
                resolved_on: None,
                resolved_by: String::new(),
                event_type: etype.into(),
                severity: severity.into(),
                confidence_level: "High".into(),
                display_name: display.into(),
                description: format!("{display} on subscription {}", ent.id),
                country: cust.country.clone(),
                subscription_name: ent.friendly_name.clone(),
                affected_resources: vec![(
                    format!(
                        "/subscriptions/{}/resourceGroups/rg-default/providers/Microsoft.Compute/virtualMachines/vm-{k}",
                        ent.id
                    ),
                    "Microsoft.Compute/virtualMachines".into(),
                )],
                is_test: false,
            };
            audits.push(SimAuditRecord {
                id: guid(&mut rng),
                customized_data: vec![
                    ("SubscriptionId".into(), Some(ent.id.clone())),
                    ("EventType".into(), Some(etype.into())),
                ],
                ..SimAuditRecord::succeeded(
                    cust,
                    ("subscription", "azure_fraud_event_detected"),
                    last,
                )
            });
            ds.security_alerts.push(SimSecurityAlert::for_event(&ev));
            ds.fraud_events.push(ev);
        }
        test_alert(&mut ds, now);

        audits.retain(|a| a.operation_date <= now);
        audits.sort_by_key(|a| a.operation_date);
        ds.audit_records = audits;

        // Twelve monthly Microsoft invoices, newest first; the newest is unpaid.
        let mut balance = Decimal::ZERO;
        let mut last_payment = (now, Decimal::ZERO);
        for m in 0..12i64 {
            let invoice_date = minus(now, days(30 * m + 5));
            let total = Decimal::new(rng.i64(500_000..5_000_000), 2);
            let paid = if m == 0 { Decimal::ZERO } else { total };
            if m == 0 {
                balance += total;
            } else if last_payment.1 == Decimal::ZERO {
                last_payment = (plus(invoice_date, days(20)), total);
            }
            ds.invoices.push(SimInvoice {
                id: format!("G{:09}", 16_900_000 + (seed % 1000) * 100 + (12 - m) as u64),
                invoice_date,
                billing_period_start: minus(invoice_date, days(30)),
                billing_period_end: minus(invoice_date, days(1)),
                total_charges: total,
                paid_amount: paid,
                currency_code: "USD".into(),
                currency_symbol: "$".into(),
                invoice_type: "Recurring".into(),
                document_type: "invoice".into(),
            });
        }
        let latest = ds.invoices.first().map(|i| i.invoice_date).unwrap_or(now);
        let first_inv = ds.invoices.last().map(|i| i.invoice_date).unwrap_or(now);
        ds.invoice_summary = SimInvoiceSummary {
            balance_amount: balance,
            currency_code: "USD".into(),
            currency_symbol: "$".into(),
            accounting_date: latest,
            first_invoice_creation_date: first_inv,
            last_payment_date: last_payment.0,
            last_payment_amount: last_payment.1,
            latest_invoice_date: latest,
        };
        ds
    }
}

/// Tenant id of the billed customer that is not in the customer list (scripted billing).
pub const DEPARTED_TENANT: &str = "00000000-0000-4000-8000-00000000dead";

impl Dataset {
    /// Script the billing reconciliation exports from this dataset: for each of the `periods`
    /// newest Microsoft invoices, one line item per customer licence subscription (quantity
    /// times a list price) and one Azure consumption line per customer with month-to-date
    /// usage, in the customer's currency; the next older invoice is a legacy invoice (code
    /// 5000); this period's unbilled lines are the customers' month-to-date usage; and one
    /// billed customer ([`DEPARTED_TENANT`]) is no longer in the customer list.
    pub fn script_billing(&mut self, periods: usize) {
        let mut billing = SimBilling::default();
        for inv in self.invoices.iter().take(periods) {
            for c in &self.customers {
                for s in c
                    .subscriptions
                    .iter()
                    .filter(|s| s.billing_type == "license")
                {
                    billing.billed.push(SimLineItem {
                        invoice: Some(inv.id.clone()),
                        customer_id: c.id.clone(),
                        customer_name: c.company_name.clone(),
                        product_id: s.offer_id.clone(),
                        product_name: s.offer_name.clone(),
                        currency: c.currency.clone(),
                        quantity: s.quantity,
                        unit_price: list_price(&s.offer_id),
                        charge_start: inv.billing_period_start,
                        charge_end: inv.billing_period_end,
                    });
                }
                if c.usage_mtd > Decimal::ZERO {
                    billing.billed.push(usage_line(c, Some(inv)));
                }
            }
            billing.billed.push(SimLineItem {
                invoice: Some(inv.id.clone()),
                customer_id: DEPARTED_TENANT.to_owned(),
                customer_name: "Departed Customer Ltd".to_owned(),
                product_id: "CFQ7TTC0LH18:0001".to_owned(),
                product_name: "Microsoft 365 Business Basic".to_owned(),
                currency: inv.currency_code.clone(),
                quantity: 3,
                unit_price: Decimal::new(600, 2),
                charge_start: inv.billing_period_start,
                charge_end: inv.billing_period_end,
            });
        }
        if let Some(legacy) = self.invoices.get(periods) {
            billing.legacy_invoices.push(legacy.id.clone());
        }
        for c in self
            .customers
            .iter()
            .filter(|c| c.usage_mtd > Decimal::ZERO)
        {
            billing.unbilled.push(usage_line(c, None));
        }
        self.billing = billing;
    }
}

/// A stable list price per offer (5.00 to 24.00).
fn list_price(offer: &str) -> Decimal {
    let h = offer
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    Decimal::new(500 + i64::try_from(h % 20).unwrap_or(0) * 100, 2)
}

/// A customer's Azure consumption line (month-to-date usage).
fn usage_line(c: &SimCustomer, inv: Option<&SimInvoice>) -> SimLineItem {
    SimLineItem {
        invoice: inv.map(|i| i.id.clone()),
        customer_id: c.id.clone(),
        customer_name: c.company_name.clone(),
        product_id: AZURE_PLAN_OFFER_ID.to_owned(),
        product_name: "Azure plan".to_owned(),
        currency: c.currency.clone(),
        quantity: 1,
        unit_price: c.usage_mtd,
        charge_start: inv.map_or(c.created, |i| i.billing_period_start),
        charge_end: inv.map_or(c.created, |i| i.billing_period_end),
    }
}

/// Deterministic GUID from an RNG (exposed for the server's generated ids).
pub(crate) fn guid_from(rng: &mut fastrand::Rng) -> String {
    generate::guid(rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-15T12:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn same_seed_same_json_and_different_seed_differs() {
        let a = Dataset::generate(7, 300, now()).to_json();
        let b = Dataset::generate(7, 300, now()).to_json();
        let c = Dataset::generate(8, 300, now()).to_json();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn generated_data_is_realistic() {
        let ds = Dataset::generate(1, 2000, now());
        assert_eq!(ds.customers.len(), 2000);
        let ids: std::collections::HashSet<_> = ds.customers.iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids.len(), 2000, "customer ids are unique");
        assert!(
            ds.customers
                .iter()
                .all(|c| (1..=4).contains(&c.subscriptions.len()))
        );
        let azure = ds.customers.iter().filter(|c| c.has_azure_plan()).count();
        assert!(
            (600..1000).contains(&azure),
            "about 40% have an Azure plan, got {azure}"
        );
        assert!(ds.customers.iter().any(|c| {
            c.created
                > now()
                    .checked_sub(SignedDuration::from_hours(24 * 7))
                    .unwrap_or(now())
        }));
        assert!(
            ds.customers
                .iter()
                .any(|c| c.country == "JP" && c.culture.as_deref() == Some("ja-JP"))
        );
        let over = ds
            .customers
            .iter()
            .filter(|c| c.budget.is_some_and(|b| c.usage_mtd > b))
            .count();
        assert!(over > 0, "some customers are over budget");
        assert!(!ds.fraud_events.is_empty());
        let fraud_audits = ds
            .audit_records
            .iter()
            .filter(|a| a.operation_type == "azure_fraud_event_detected")
            .count();
        assert_eq!(fraud_audits, ds.fraud_events.len());
        assert!(
            ds.audit_records
                .windows(2)
                .all(|w| w[0].operation_date <= w[1].operation_date)
        );
        assert!(
            ds.audit_records
                .iter()
                .any(|a| a.operation_status == "failed")
        );
        assert_eq!(ds.invoices.len(), 12);
        assert!(
            ds.customers
                .iter()
                .all(|c| c.domain.ends_with(".onmicrosoft.com"))
        );
    }

    #[test]
    fn dataset_round_trips_through_a_file() {
        let ds = Dataset::generate(3, 20, now());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ds.json");
        std::fs::write(&path, ds.to_json()).expect("write dataset");
        let loaded = Dataset::load(&path);
        assert!(matches!(loaded, Ok(ref l) if *l == ds));
        let missing = Dataset::load(&dir.path().join("nope.json"));
        assert!(matches!(missing, Err(SimError::ReadDataset { .. })));
    }

    #[test]
    fn etag_changes_with_version() {
        let s = SimSubscription::license("abc", "M365", 1);
        let mut t = s.clone();
        t.etag_version += 1;
        assert_ne!(s.etag(), t.etag());
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"Man"), "TWFu");
    }
}
