//! The Graph client: app-only authentication for the Graph audience, requests on the shared
//! transport (`pc/transport.rs`), `@odata.nextLink` paging ([`GraphPages`]) and asynchronous
//! operations ([`GraphClient::start_operation`], [`GraphClient::poll`]).
//!
//! Errors are [`PcError`]s, the one error type of the transport; Graph's error body
//! (`{"error": {"code", "message"}}`) fills their code and message.
//!
//! Invariants: every request goes to the configured Graph origin (next links and `Location`s on
//! another origin are refused); every collection has a page bound and loop detection; every
//! response body is capped by [`Limits`].

use std::collections::HashSet;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::pc::client::ClientOptions;
use crate::pc::error::PcError;
use crate::pc::lenient;
use crate::pc::limits::Limits;
use crate::pc::ratelimit::RateLimiter;
use crate::pc::retry::parse_retry_after;
use crate::pc::token::TokenKind;
use crate::pc::transport::{ApiRequest, CallStats, Service, Transport, build_http};
use crate::pc::url::{api_url, parse_base_url};

/// Default Graph base URL.
pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.microsoft.com";
/// The Graph token audience (`resource=` in the v1 token form, `{resource}/.default` in v2).
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// What a [`GraphClient`] needs beyond the Partner Center client's options (tenant, app,
/// secret, authority, token form, timeouts, retry policy and correlation id are shared).
#[derive(Debug, Clone)]
pub struct GraphOptions {
    pub base_url: String,
    /// Token audience; tests keep the default while pointing `base_url` at loopback.
    pub resource: String,
    pub rate_limit_per_minute: u32,
    pub max_concurrency: usize,
    pub limits: Limits,
}

impl Default for GraphOptions {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_GRAPH_BASE_URL.to_owned(),
            resource: GRAPH_RESOURCE.to_owned(),
            rate_limit_per_minute: 600,
            max_concurrency: 4,
            limits: Limits::default(),
        }
    }
}

/// The answer to an asynchronous request: 202 with the operation's `Location`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub location: Url,
    /// `Retry-After` of the 202, if given: wait this long before the first poll.
    pub retry_after: Option<Duration>,
}

/// A decoded answer and the `Retry-After` the server sent with it (operations in progress).
#[derive(Debug, Clone)]
pub struct Polled<T> {
    pub value: T,
    pub retry_after: Option<Duration>,
}

/// An app-only Microsoft Graph client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct GraphClient {
    transport: Arc<Transport>,
}

impl GraphClient {
    /// Build a Graph client for the Entra app of `pc` (no network access happens here).
    pub fn new(pc: &ClientOptions, graph: &GraphOptions) -> Result<Self, PcError> {
        let base = parse_base_url(&graph.base_url)?;
        let http = build_http(pc.request_timeout, pc.connect_timeout)?;
        let auth = pc.authenticator(http.clone(), &graph.resource, None)?;
        let limiter = RateLimiter::new(graph.rate_limit_per_minute, graph.max_concurrency);
        let transport = Transport::new(
            http,
            Arc::new(auth),
            limiter,
            pc.retry.clone(),
            pc.correlation_id,
            base,
        )
        .with_limits(graph.limits)
        .with_service(Service::Graph);
        Ok(Self {
            transport: Arc::new(transport),
        })
    }

    /// Acquire a Graph token once, without retries (what `doctor` checks).
    pub async fn acquire_token(&self) -> Result<(), PcError> {
        self.transport.token_once(TokenKind::AppOnly).await
    }

    /// Call statistics of this client so far (keyed by endpoint label).
    pub fn stats(&self) -> CallStats {
        self.transport.stats()
    }

    /// The configured Graph base URL.
    pub fn base(&self) -> &Url {
        self.transport.base()
    }

    /// `{base}/{segments...}?{query}`, each segment percent-encoded.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Url, PcError> {
        api_url(self.transport.base(), segments, query)
    }

    /// GET one resource.
    pub async fn get<T: DeserializeOwned>(&self, label: &str, url: Url) -> Result<T, PcError> {
        Ok(self.get_polled(label, url).await?.value)
    }

    /// GET one resource and the `Retry-After` sent with it.
    async fn get_polled<T: DeserializeOwned>(
        &self,
        label: &str,
        url: Url,
    ) -> Result<Polled<T>, PcError> {
        self.same_origin(label, &url)?;
        let req = ApiRequest::new(Method::GET, label, url, TokenKind::AppOnly);
        let decoded = self
            .transport
            .execute(&req, lenient::from_slice::<T>)
            .await?;
        Ok(Polled {
            value: decoded.value,
            retry_after: retry_after(&decoded.headers),
        })
    }

    /// A collection read page by page, following `@odata.nextLink`.
    pub fn pages<T: DeserializeOwned>(&self, label: &str, url: Url) -> GraphPages<T> {
        GraphPages {
            client: self.clone(),
            label: label.to_owned(),
            next: Some(url),
            seen: HashSet::new(),
            fetched: 0,
            bound: self.transport.limits().max_pages.max(1),
            _item: PhantomData,
        }
    }

    /// PATCH a resource with a JSON body (200 with a body or 204; the body is not needed).
    pub async fn patch(
        &self,
        label: &str,
        url: Url,
        body: serde_json::Value,
    ) -> Result<(), PcError> {
        self.same_origin(label, &url)?;
        let req = ApiRequest::new(Method::PATCH, label, url, TokenKind::AppOnly).json(body);
        self.transport
            .execute(&req, |_| Ok::<(), serde_json::Error>(()))
            .await?;
        Ok(())
    }

    /// POST a request that starts an asynchronous operation: 202 with a `Location` on the Graph
    /// origin. Any other success status, or a missing or foreign `Location`, is an error.
    pub async fn start_operation(
        &self,
        label: &str,
        url: Url,
        body: serde_json::Value,
    ) -> Result<Accepted, PcError> {
        self.same_origin(label, &url)?;
        let req = ApiRequest::new(Method::POST, label, url, TokenKind::AppOnly).json(body);
        let decoded = self
            .transport
            .execute(&req, |_| Ok::<(), serde_json::Error>(()))
            .await?;
        if decoded.status != StatusCode::ACCEPTED {
            return Err(PcError::Decode {
                endpoint: label.to_owned(),
                message: format!(
                    "expected 202 Accepted with a Location, got {}",
                    decoded.status.as_u16()
                ),
            });
        }
        let raw = decoded
            .headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| PcError::Decode {
                endpoint: label.to_owned(),
                message: "202 Accepted without a Location header".to_owned(),
            })?;
        let location = self
            .transport
            .base()
            .join(raw.trim())
            .map_err(|e| PcError::InvalidUrl {
                url: crate::pc::error::quote(raw),
                reason: format!("operation Location of {label}: {e}"),
            })?;
        self.same_origin(label, &location)?;
        Ok(Accepted {
            location,
            retry_after: retry_after(&decoded.headers),
        })
    }

    /// GET an operation (or any resource at an absolute URL on the Graph origin), with the
    /// `Retry-After` the server asks for before the next poll.
    pub async fn poll<T: DeserializeOwned>(
        &self,
        label: &str,
        url: &Url,
    ) -> Result<Polled<T>, PcError> {
        self.get_polled(label, url.clone()).await
    }

    /// Refuse a URL on another origin than the configured base (the bearer token must never
    /// leave it).
    fn same_origin(&self, label: &str, url: &Url) -> Result<(), PcError> {
        if url.origin() == self.transport.base().origin() {
            Ok(())
        } else {
            Err(PcError::InvalidUrl {
                url: crate::pc::error::quote(url.as_str()),
                reason: format!(
                    "{label}: refusing a URL outside the configured Graph origin {} (the token is only sent there)",
                    self.transport.base().origin().ascii_serialization()
                ),
            })
        }
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()))
}

/// One page of a Graph collection.
#[derive(Debug, Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(default, rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(default, rename = "@odata.count")]
    count: Option<u64>,
}

/// A Graph collection read one page at a time (memory bounded by one page). Stops with
/// [`PcError::PagingLoop`] on a repeated next link and [`PcError::TooManyPages`] past the page
/// bound (`@odata.count` plus slack when the server counts, else the absolute cap).
#[derive(Debug)]
pub struct GraphPages<T> {
    client: GraphClient,
    label: String,
    next: Option<Url>,
    seen: HashSet<String>,
    fetched: u64,
    bound: u64,
    _item: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> GraphPages<T> {
    /// Pages read so far.
    pub fn pages_fetched(&self) -> u64 {
        self.fetched
    }

    /// The next page, or `None` when the collection is done.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, PcError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        if self.fetched >= self.bound {
            return Err(PcError::TooManyPages {
                endpoint: self.label.clone(),
                pages: self.fetched,
                why: format!("the bound for this collection is {} pages", self.bound),
            });
        }
        let page: Page<T> = self.client.get(&self.label, url).await?;
        self.fetched += 1;
        if self.fetched == 1 {
            let limits = self.client.transport.limits();
            self.bound = limits.page_bound(page.count, page.value.len());
        }
        if let Some(raw) = page.next_link.filter(|l| !l.trim().is_empty()) {
            let url = self
                .client
                .base()
                .join(raw.trim())
                .map_err(|e| PcError::InvalidUrl {
                    url: crate::pc::error::quote(&raw),
                    reason: format!("@odata.nextLink of {}: {e}", self.label),
                })?;
            self.client.same_origin(&self.label, &url)?;
            if !self.seen.insert(url.as_str().to_owned()) {
                return Err(PcError::PagingLoop {
                    endpoint: self.label.clone(),
                    detail: format!("next link {} again", crate::pc::error::quote(url.as_str())),
                });
            }
            self.next = Some(url);
        }
        Ok(Some(page.value))
    }

    /// Every remaining item (use only for collections known to be small).
    pub async fn collect_all(mut self) -> Result<Vec<T>, PcError> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await? {
            all.extend(page);
        }
        Ok(all)
    }
}
