//! The typed Partner Center client, [`PartnerCenter`]: one method per endpoint the product uses.
//!
//! Owns: [`ClientOptions`] (with defaults and a redacted `Debug`), the endpoint table (each
//! endpoint's stats label is also its path template, so the two cannot drift apart),
//! percent-encoding of path segments, and the App+User gate.
//!
//! Invariants:
//! * App+User-only endpoints (usage summary/records, fraud events) return
//!   [`PcError::AppUserNotConfigured`] without any HTTP call when no refresh-token store is
//!   configured.
//! * Every call goes through the one [`Transport`](crate::pc::transport) (retries, rate limit,
//!   headers) and every body is decoded with [`crate::pc::lenient::from_slice`].
//! * Suspend/reactivate PATCHes the full resource with `If-Match: <etag>`; a 412 comes back as
//!   [`PcError::PreconditionFailed`] for the caller to re-read.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::de::DeserializeOwned;

use crate::pc::auth::{AuthSettings, Authenticator, TokenStyle};
use crate::pc::error::PcError;
use crate::pc::lenient;
use crate::pc::limits::Limits;
use crate::pc::models::{
    AuditRecord, AzureEntitlement, BudgetPatch, CancelEntitlementRequest, Customer,
    CustomerBillingProfile, CustomerMonthlyUsageRecord, CustomerUsageSummary, FraudEvent,
    FraudEventStatus, FraudResolvedReason, FraudStatusUpdate, Invoice, InvoiceSummary,
    SpendingBudget, Subscription, SubscriptionStatus,
};
use crate::pc::paging::Pages;
use crate::pc::ratelimit::{DEFAULT_CONCURRENCY, DEFAULT_PER_MINUTE, RateLimiter};
use crate::pc::retry::RetryPolicy;
use crate::pc::store::RefreshTokenStore;
use crate::pc::token::TokenKind;
use crate::pc::transport::{ApiRequest, CallStats, Transport, build_http};
use crate::pc::url::{api_url, parse_base_url};

/// Default Entra authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// Default Partner Center base URL and token resource.
pub const DEFAULT_BASE_URL: &str = "https://api.partnercenter.microsoft.com";

/// Everything needed to build a [`PartnerCenter`] client.
#[derive(Clone)]
pub struct ClientOptions {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub token_style: TokenStyle,
    pub authority: String,
    pub base_url: String,
    pub resource: String,
    /// App+User refresh-token store; `None` = App+User endpoints are unavailable.
    pub app_user: Option<Arc<dyn RefreshTokenStore>>,
    pub rate_limit_per_minute: u32,
    pub max_concurrency: usize,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// `size` for seek/offset paging and `PageSize` for fraud events.
    pub page_size: u32,
    /// Use the fraud "new events model" (`X-NewEventsModel: true`, page-number paging).
    pub fraud_events_new_model: bool,
    /// `MS-CorrelationId` sent on every call of this run.
    pub correlation_id: uuid::Uuid,
    /// Pages per collection and response body size.
    pub limits: Limits,
}

impl ClientOptions {
    /// Defaults: v1 token form, public cloud authority and API, 450 requests/min, 8 in flight,
    /// 60 s request timeout, 10 s connect timeout, default retry policy, page size 100, classic
    /// fraud model, a fresh correlation id.
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            client_secret,
            token_style: TokenStyle::V1Resource,
            authority: DEFAULT_AUTHORITY.to_owned(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            resource: DEFAULT_BASE_URL.to_owned(),
            app_user: None,
            rate_limit_per_minute: DEFAULT_PER_MINUTE,
            max_concurrency: DEFAULT_CONCURRENCY,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            page_size: 100,
            fraud_events_new_model: false,
            correlation_id: uuid::Uuid::new_v4(),
            limits: Limits::default(),
        }
    }
}

impl ClientOptions {
    /// The authenticator of this Entra app for the token audience `resource` (Partner Center's,
    /// or Graph's for the Graph client), with App+User only when `app_user` is given.
    pub(crate) fn authenticator(
        &self,
        http: reqwest::Client,
        resource: &str,
        app_user: Option<Arc<dyn RefreshTokenStore>>,
    ) -> Result<Authenticator, PcError> {
        Authenticator::new(
            http,
            AuthSettings {
                authority: &self.authority,
                tenant: self.tenant_id.trim(),
                client_id: self.client_id.trim(),
                client_secret: &self.client_secret,
                style: self.token_style,
                resource,
                app_user,
            },
        )
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("token_style", &self.token_style)
            .field("authority", &self.authority)
            .field("base_url", &self.base_url)
            .field("resource", &self.resource)
            .field(
                "app_user",
                &if self.app_user.is_some() {
                    "configured"
                } else {
                    "not configured"
                },
            )
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("max_concurrency", &self.max_concurrency)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry", &self.retry)
            .field("page_size", &self.page_size)
            .field("fraud_events_new_model", &self.fraud_events_new_model)
            .field("correlation_id", &self.correlation_id)
            .field("limits", &self.limits)
            .finish()
    }
}

struct Inner {
    transport: Arc<Transport>,
    /// Whether App+User credentials (a refresh-token store) are configured.
    app_user: bool,
    page_size: u32,
    fraud_new_model: bool,
}

/// The Partner Center client. Cheap to clone; clones share the token cache, rate limiter and
/// statistics.
#[derive(Clone)]
pub struct PartnerCenter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PartnerCenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerCenter")
            .field("transport", &self.inner.transport)
            .finish_non_exhaustive()
    }
}

/// A Partner Center endpoint: its stats label, which is also its path template
/// (`METHOD /v1/segment/{placeholder}/...`, each `{...}` filled from the call's arguments in
/// order), and the credentials it needs.
struct Endpoint {
    label: &'static str,
    kind: TokenKind,
}

const fn app_only(label: &'static str) -> Endpoint {
    Endpoint {
        label,
        kind: TokenKind::AppOnly,
    }
}

const fn app_user(label: &'static str) -> Endpoint {
    Endpoint {
        label,
        kind: TokenKind::AppUser,
    }
}

const EP_CUSTOMERS: Endpoint = app_only("GET /v1/customers");
const EP_CUSTOMER: Endpoint = app_only("GET /v1/customers/{id}");
const EP_BILLING_PROFILE: Endpoint = app_only("GET /v1/customers/{id}/profiles/billing");
const EP_SUBSCRIPTIONS: Endpoint = app_only("GET /v1/customers/{id}/subscriptions");
const EP_SUBSCRIPTION: Endpoint = app_only("GET /v1/customers/{id}/subscriptions/{sid}");
const EP_PATCH_SUBSCRIPTION: Endpoint = app_only("PATCH /v1/customers/{id}/subscriptions/{sid}");
const EP_ENTITLEMENTS: Endpoint =
    app_only("GET /v1/customers/{id}/subscriptions/{sid}/azureEntitlements");
const EP_CANCEL_ENTITLEMENT: Endpoint =
    app_only("POST /v1/customers/{id}/subscriptions/{sid}/azureEntitlements/{eid}/cancel");
const EP_AUDIT: Endpoint = app_only("GET /v1/auditrecords");
const EP_BUDGET: Endpoint = app_only("GET /v1/customers/{id}/usagebudget");
const EP_SET_BUDGET: Endpoint = app_only("PATCH /v1/customers/{id}/usagebudget");
const EP_USAGE_SUMMARY: Endpoint = app_user("GET /v1/customers/{id}/usagesummary");
const EP_USAGE_RECORDS: Endpoint = app_user("GET /v1/customers/usagerecords");
const EP_INVOICES: Endpoint = app_only("GET /v1/invoices");
const EP_INVOICE_SUMMARY: Endpoint = app_only("GET /v1/invoices/summary");
const EP_FRAUD_EVENTS: Endpoint = app_user("GET /v1/fraudEvents");
const EP_FRAUD_STATUS: Endpoint = app_user("POST /v1/fraudEvents/subscription/{sid}/status");

impl PartnerCenter {
    /// Build a client. Fails on invalid or insecure URLs (no network access happens here).
    pub fn new(opts: ClientOptions) -> Result<Self, PcError> {
        if opts.tenant_id.trim().is_empty() || opts.client_id.trim().is_empty() {
            return Err(PcError::Config(
                "tenant_id and client_id must not be empty; set them in [partner_center]".into(),
            ));
        }
        let base = parse_base_url(&opts.base_url)?;
        let http = build_http(opts.request_timeout, opts.connect_timeout)?;
        let auth = opts.authenticator(http.clone(), &opts.resource, opts.app_user.clone())?;
        let limiter = RateLimiter::new(opts.rate_limit_per_minute, opts.max_concurrency);
        let transport = Transport::new(
            http,
            Arc::new(auth),
            limiter,
            opts.retry.clone(),
            opts.correlation_id,
            base,
        )
        .with_limits(opts.limits);
        Ok(Self {
            inner: Arc::new(Inner {
                transport: Arc::new(transport),
                app_user: opts.app_user.is_some(),
                page_size: opts.page_size.max(1),
                fraud_new_model: opts.fraud_events_new_model,
            }),
        })
    }

    /// Acquire an app-only token once, without retries (what `cspguard doctor` checks): an
    /// identity service that cannot be reached, answers 5xx or refuses the credentials is a
    /// [`PcError::Auth`]. No Partner Center API call is made.
    pub async fn acquire_app_only_token(&self) -> Result<(), PcError> {
        self.transport().token_once(TokenKind::AppOnly).await
    }

    /// Whether App+User credentials are configured.
    pub fn has_app_user(&self) -> bool {
        self.inner.app_user
    }

    /// A snapshot of the call statistics so far.
    pub fn stats(&self) -> CallStats {
        self.inner.transport.stats()
    }

    fn transport(&self) -> &Arc<Transport> {
        &self.inner.transport
    }

    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<reqwest::Url, PcError> {
        api_url(self.transport().base(), segments, query)
    }

    async fn call<T: DeserializeOwned>(&self, req: ApiRequest) -> Result<T, PcError> {
        Ok(self
            .transport()
            .execute(&req, lenient::from_slice::<T>)
            .await?
            .value)
    }

    /// The request for `endpoint`, its `{...}` path segments filled from `args` in order
    /// (percent-encoded). App+User endpoints fail with [`PcError::AppUserNotConfigured`] here,
    /// before any HTTP call, when no App+User credentials are configured.
    fn request(
        &self,
        endpoint: &Endpoint,
        args: &[&str],
        query: &[(&str, &str)],
    ) -> Result<ApiRequest, PcError> {
        let label = endpoint.label;
        if endpoint.kind == TokenKind::AppUser && !self.has_app_user() {
            return Err(PcError::AppUserNotConfigured {
                endpoint: label.to_owned(),
            });
        }
        let (method, path) = label
            .split_once(' ')
            .ok_or_else(|| invalid_request(label)("the label has no method"))?;
        let method = Method::from_bytes(method.as_bytes()).map_err(invalid_request(label))?;
        let mut args = args.iter().copied();
        let mut segments = Vec::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            segments.push(if segment.starts_with('{') {
                args.next()
                    .ok_or_else(|| invalid_request(label)("too few path arguments"))?
            } else {
                segment
            });
        }
        if args.next().is_some() {
            return Err(invalid_request(label)("too many path arguments"));
        }
        let url = self.url(&segments, query)?;
        Ok(ApiRequest::new(method, label, url, endpoint.kind))
    }

    /// GET one resource.
    async fn get_one<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        args: &[&str],
    ) -> Result<T, PcError> {
        self.call(self.request(endpoint, args, &[])?).await
    }

    /// GET a whole (small) collection, following `links.next` if the server pages.
    async fn get_all<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        args: &[&str],
    ) -> Result<Vec<T>, PcError> {
        let req = self.request(endpoint, args, &[])?;
        Pages::envelope(Arc::clone(self.transport()), req)
            .collect_all()
            .await
    }

    /// A listing read page by page; a request that cannot be made fails the first `next_page`.
    fn pages<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        query: &[(&str, &str)],
        paging: impl FnOnce(Arc<Transport>, ApiRequest) -> Pages<T>,
    ) -> Pages<T> {
        let transport = Arc::clone(self.transport());
        match self.request(endpoint, &[], query) {
            Ok(req) => paging(transport, req),
            Err(e) => Pages::failed(transport, e),
        }
    }

    /// All customers, page by page (`GET /v1/customers?size=`; seek paging).
    pub fn customers(&self) -> Pages<Customer> {
        let size = self.inner.page_size.to_string();
        self.pages(&EP_CUSTOMERS, &[("size", &size)], Pages::envelope)
    }

    /// One customer (includes the billing profile).
    pub async fn customer(&self, customer_id: &str) -> Result<Customer, PcError> {
        self.get_one(&EP_CUSTOMER, &[customer_id]).await
    }

    /// A customer's billing profile (contact email, culture, language).
    pub async fn billing_profile(
        &self,
        customer_id: &str,
    ) -> Result<CustomerBillingProfile, PcError> {
        self.get_one(&EP_BILLING_PROFILE, &[customer_id]).await
    }

    /// All subscriptions of a customer (follows `links.next` if the server pages).
    pub async fn subscriptions(&self, customer_id: &str) -> Result<Vec<Subscription>, PcError> {
        self.get_all(&EP_SUBSCRIPTIONS, &[customer_id]).await
    }

    /// One subscription.
    pub async fn subscription(
        &self,
        customer_id: &str,
        subscription_id: &str,
    ) -> Result<Subscription, PcError> {
        self.get_one(&EP_SUBSCRIPTION, &[customer_id, subscription_id])
            .await
    }

    /// Suspend or reactivate: PATCH the full resource with the new status and
    /// `If-Match: <etag>`. A 412 is [`PcError::PreconditionFailed`]: re-read and decide again.
    pub async fn set_subscription_status(
        &self,
        customer_id: &str,
        subscription: &Subscription,
        status: &SubscriptionStatus,
    ) -> Result<Subscription, PcError> {
        let mut req = self
            .request(
                &EP_PATCH_SUBSCRIPTION,
                &[customer_id, &subscription.id],
                &[],
            )?
            .json(subscription.with_status(status));
        if let Some(etag) = subscription
            .etag
            .as_deref()
            .filter(|e| !e.trim().is_empty())
        {
            req = req.header("If-Match", etag);
        }
        self.call(req).await
    }

    /// The Azure subscriptions (entitlements) under an Azure plan.
    pub async fn azure_entitlements(
        &self,
        customer_id: &str,
        subscription_id: &str,
    ) -> Result<Vec<AzureEntitlement>, PcError> {
        self.get_all(&EP_ENTITLEMENTS, &[customer_id, subscription_id])
            .await
    }

    /// Cancel a compromised Azure subscription (`cancellationReason: compromise`). Microsoft
    /// needs about 10 minutes to reflect the new status.
    pub async fn cancel_azure_entitlement(
        &self,
        customer_id: &str,
        subscription_id: &str,
        entitlement_id: &str,
    ) -> Result<AzureEntitlement, PcError> {
        let args = [customer_id, subscription_id, entitlement_id];
        let req = self.request(&EP_CANCEL_ENTITLEMENT, &args, &[])?;
        let body = serde_json::to_value(CancelEntitlementRequest::compromise())
            .map_err(invalid_request(EP_CANCEL_ENTITLEMENT.label))?;
        self.call(req.json(body)).await
    }

    /// Audit records from `start` (inclusive, at most 90 days back) to `end` (default: today).
    pub fn audit_records(
        &self,
        start: jiff::civil::Date,
        end: Option<jiff::civil::Date>,
    ) -> Pages<AuditRecord> {
        let size = self.inner.page_size.to_string();
        let start = start.to_string();
        let end = end.map(|d| d.to_string());
        let mut query: Vec<(&str, &str)> = vec![("startDate", &start)];
        if let Some(end) = end.as_deref() {
            query.push(("endDate", end));
        }
        query.push(("size", &size));
        self.pages(&EP_AUDIT, &query, Pages::envelope)
    }

    /// A customer's spending budget (`amount: None` = no budget).
    pub async fn usage_budget(&self, customer_id: &str) -> Result<SpendingBudget, PcError> {
        self.get_one(&EP_BUDGET, &[customer_id]).await
    }

    /// Set a customer's spending budget.
    pub async fn set_usage_budget(
        &self,
        customer_id: &str,
        amount: Decimal,
    ) -> Result<SpendingBudget, PcError> {
        let req = self.request(&EP_SET_BUDGET, &[customer_id], &[])?;
        let body = BudgetPatch { amount }
            .to_body()
            .map_err(invalid_request(EP_SET_BUDGET.label))?;
        self.call(req.json(body)).await
    }

    /// A customer's current-month usage summary. App+User only.
    pub async fn customer_usage_summary(
        &self,
        customer_id: &str,
    ) -> Result<CustomerUsageSummary, PcError> {
        self.get_one(&EP_USAGE_SUMMARY, &[customer_id]).await
    }

    /// Every customer's monthly usage against budget, in one call (follows `links.next` if
    /// present). App+User only.
    pub async fn customers_usage_records(
        &self,
    ) -> Result<Vec<CustomerMonthlyUsageRecord>, PcError> {
        self.get_all(&EP_USAGE_RECORDS, &[]).await
    }

    /// The partner's Microsoft invoices (offset paging through `links.next`).
    pub fn invoices(&self) -> Pages<Invoice> {
        let size = self.inner.page_size.to_string();
        let query = [("size", size.as_str()), ("offset", "0")];
        self.pages(&EP_INVOICES, &query, Pages::envelope)
    }

    /// The partner's account balance summary.
    pub async fn invoice_summary(&self) -> Result<InvoiceSummary, PcError> {
        self.get_one(&EP_INVOICE_SUMMARY, &[]).await
    }

    /// Azure fraud events, optionally filtered by status. App+User only (the first
    /// `next_page` fails with [`PcError::AppUserNotConfigured`] without an HTTP call otherwise).
    /// Classic model: one bare-array call; new model: `PageSize`/`PageNumber` paging.
    pub fn fraud_events(&self, status: Option<FraudEventStatus>) -> Pages<FraudEvent> {
        let status_text = status.as_ref().map(|s| s.as_str().to_owned());
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(s) = status_text.as_deref() {
            query.push(("EventStatus", s));
        }
        let page_size = self.inner.page_size;
        if self.inner.fraud_new_model {
            self.pages(&EP_FRAUD_EVENTS, &query, |transport, req| {
                Pages::page_number(transport, req.header("X-NewEventsModel", "true"), page_size)
            })
        } else {
            self.pages(&EP_FRAUD_EVENTS, &query, Pages::single)
        }
    }

    /// Set the status of fraud events of one Azure subscription (empty `event_ids` = all of
    /// them). Only the status changes; the fraud activity itself is not resolved. App+User only.
    pub async fn update_fraud_event_status(
        &self,
        subscription_id: &str,
        event_ids: &[String],
        status: FraudEventStatus,
        reason: Option<FraudResolvedReason>,
    ) -> Result<Vec<FraudEvent>, PcError> {
        let mut req = self.request(&EP_FRAUD_STATUS, &[subscription_id], &[])?;
        let body = serde_json::to_value(FraudStatusUpdate {
            event_ids: event_ids.to_vec(),
            event_status: status,
            resolved_reason: reason,
        })
        .map_err(invalid_request(EP_FRAUD_STATUS.label))?;
        req = req.json(body);
        if self.inner.fraud_new_model {
            req = req.header("X-NewEventsModel", "true");
        }
        self.call(req).await
    }
}

/// Maps a request that cannot be built to [`PcError::InvalidRequest`] for `endpoint`.
fn invalid_request<E: std::fmt::Display>(endpoint: &str) -> impl FnOnce(E) -> PcError + '_ {
    move |e| PcError::InvalidRequest {
        endpoint: endpoint.to_owned(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_debug_redacts_secret() {
        let mut o = ClientOptions::new(
            "t",
            "c",
            SecretString::from("SUPER-SECRET-VALUE-123".to_owned()),
        );
        o.app_user = Some(Arc::new(crate::pc::store::MemoryRefreshTokenStore::new(
            Some(SecretString::from("REFRESH-SECRET-456".to_owned())),
        )));
        let dbg = format!("{o:?}");
        assert!(!dbg.contains("SUPER-SECRET-VALUE-123"), "{dbg}");
        assert!(!dbg.contains("REFRESH-SECRET-456"), "{dbg}");
        assert!(dbg.contains("[redacted]"));
        assert!(dbg.contains("configured"));
        let pc = PartnerCenter::new(o).expect("client");
        let dbg = format!("{pc:?}");
        assert!(!dbg.contains("SUPER-SECRET-VALUE-123"), "{dbg}");
    }

    #[test]
    fn endpoint_labels_are_their_paths() {
        let mut o = ClientOptions::new("t", "c", SecretString::from("s".to_owned()));
        o.app_user = Some(Arc::new(crate::pc::store::MemoryRefreshTokenStore::new(
            None,
        )));
        let pc = PartnerCenter::new(o).expect("client");
        let url = |ep: &Endpoint, args: &[&str]| {
            pc.request(ep, args, &[])
                .map(|r| r.url.path().to_owned())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            url(&EP_CANCEL_ENTITLEMENT, &["c 1", "s/1", "e1"]),
            Ok("/v1/customers/c%201/subscriptions/s%2F1/azureEntitlements/e1/cancel".to_owned())
        );
        assert_eq!(
            url(&EP_USAGE_RECORDS, &[]),
            Ok("/v1/customers/usagerecords".to_owned())
        );
        assert!(url(&EP_CUSTOMER, &[]).is_err());
        assert!(url(&EP_CUSTOMER, &["c1", "c2"]).is_err());
        let mut no_app_user = ClientOptions::new("t", "c", SecretString::from("s".to_owned()));
        no_app_user.app_user = None;
        let pc = PartnerCenter::new(no_app_user).expect("client");
        assert!(matches!(
            pc.request(&EP_FRAUD_EVENTS, &[], &[]),
            Err(PcError::AppUserNotConfigured { .. })
        ));
    }

    #[test]
    fn defaults_are_public_cloud() {
        let o = ClientOptions::new("t", "c", SecretString::from("s".to_owned()));
        assert_eq!(o.authority, "https://login.microsoftonline.com");
        assert_eq!(o.base_url, "https://api.partnercenter.microsoft.com");
        assert_eq!(o.resource, "https://api.partnercenter.microsoft.com");
        assert_eq!(o.rate_limit_per_minute, 450);
        assert_eq!(o.max_concurrency, 8);
        assert_eq!(o.token_style, TokenStyle::V1Resource);
    }

    #[test]
    fn insecure_urls_are_refused_at_construction() {
        let mut o = ClientOptions::new("t", "c", SecretString::from("s".to_owned()));
        o.base_url = "http://api.example.com".into();
        assert!(matches!(
            PartnerCenter::new(o.clone()),
            Err(PcError::InsecureUrl { .. })
        ));
        o.base_url = DEFAULT_BASE_URL.into();
        o.authority = "http://login.example.com".into();
        assert!(matches!(
            PartnerCenter::new(o),
            Err(PcError::InsecureUrl { .. })
        ));
    }
}
