//! The Partner Center simulator: a faithful fake of the Partner Center REST API and the Entra ID
//! token endpoint, used by tests, benchmarks and `cspguard demo`.
//!
//! It owns: the simulated partner tenant ([`Dataset`]), the HTTP server (axum, bound to
//! 127.0.0.1 only), token issuance and validation (app-only and App+User, refresh-token
//! rotation), seek/offset/page-number paging, ETag/If-Match on PATCH, the Azure-plan suspension
//! refusal (403/900115), MFA enforcement of App+User calls (`Dataset::mfa`: 401 with code
//! 900421), the 500 requests/minute rate limit with `Retry-After`, configurable
//! latency and deterministic faults, scripted response overrides and request recording.
//!
//! Invariants:
//! * Never binds anything but 127.0.0.1.
//! * Never depends on `crate::pc`: bodies are built with `serde_json::json!` in the shapes of the
//!   official examples (`pc-fixtures/`).
//! * Malformed requests never panic; they get a 4xx with a Partner Center error body.
//! * Fault selection is deterministic for a given seed and request order.
//!
//! Documented choices where the real service is unconfirmed: suspension sets
//! `suspensionReasons` to the request's `suspensionReasons` if present, else `["nonpayment"]`;
//! reactivation clears it; a cancelled Azure entitlement becomes `disabled` immediately; an
//! `If-Match` header is required on PATCH (missing or stale -> 412); invalid client credentials
//! are a 400 `invalid_client`; the token endpoint only serves the configured tenant id.

mod auth;
pub mod dataset;
pub mod graph;
mod render;
pub mod scenario;
pub(crate) mod server;
pub(crate) mod state;
pub(crate) mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use dataset::{
    AZURE_PLAN_OFFER_ID, Dataset, SimAuditRecord, SimCustomer, SimEntitlement, SimFraudEvent,
    SimInvoice, SimInvoiceSummary, SimMfa, SimSecurityAlert, SimSubscription, make_etag,
};

/// Errors of the simulator (starting it, loading datasets, serving).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("simulator: cannot bind {addr}: {source}; choose a free port on 127.0.0.1")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "simulator: refusing to bind {addr}: the simulator only listens on 127.0.0.1; pass a 127.0.0.1 address"
    )]
    NotLoopback { addr: SocketAddr },
    #[error("simulator: cannot read dataset file {path}: {source}; check the path and permissions")]
    ReadDataset {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "simulator: dataset file {path} is not a valid dataset: {source}; produce it with Dataset::to_json"
    )]
    ParseDataset {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("simulator: server failed: {0}")]
    Serve(std::io::Error),
    #[error("simulator: cannot listen for Ctrl-C: {0}")]
    Signal(std::io::Error),
}

/// Fault injection shares (each 0.0..=1.0 of API requests; token calls are never faulted).
/// Selection is deterministic from the simulator seed and the order of requests.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// 500 or 503 with a Partner Center error body (no side effects).
    pub server_error_share: f64,
    /// The request is processed, then the response is held 30 s (or until shutdown) and a 504
    /// is sent: long enough to trip any sane client timeout.
    pub timeout_share: f64,
    /// The request is processed and a 200 is sent with the body cut in half.
    pub truncate_share: f64,
    /// 401 as if the token expired; the presented token is expired for good.
    pub expire_token_share: f64,
}

/// Simulator configuration. `Default`: seed 1, 50 customers, no latency, 500 rpm, no faults.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub customers: usize,
    /// Added to every API response (not to token calls).
    pub latency: Duration,
    /// Customer and subscription resources; 0 disables the limit.
    pub rate_limit_per_minute: u32,
    pub faults: Faults,
    pub client_id: String,
    pub client_secret: String,
    /// The initial valid App+User refresh token.
    pub refresh_token: String,
    pub token_lifetime: Duration,
    /// Partner tenant id (path segment of the token endpoints).
    pub tenant_id: String,
    /// Cap for `size=` on seek-paged lists.
    pub page_size_max: usize,
    /// `None` = generate from `seed`/`customers` relative to the current time.
    /// Fixed business time for deterministic tests (audit windows, usage month, records created
    /// by write calls); `None` uses the real time.
    pub clock: Option<jiff::Timestamp>,
    pub dataset: Option<Dataset>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            customers: 50,
            latency: Duration::ZERO,
            rate_limit_per_minute: 500,
            faults: Faults::default(),
            client_id: "sim-client-id".into(),
            client_secret: "sim-client-secret".into(),
            refresh_token: "sim-refresh-token-0".into(),
            token_lifetime: Duration::from_secs(3600),
            tenant_id: "sim-partner-tenant".into(),
            page_size_max: 500,
            clock: None,
            dataset: None,
        }
    }
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Names lower-case; the `authorization` value is replaced by `<redacted>`.
    pub headers: Vec<(String, String)>,
    /// Status sent; 0 if no response was sent (client went away or server shut down).
    pub status: u16,
    /// Route template, e.g. `GET /v1/customers/{id}/subscriptions`; `UNKNOWN` if none matched.
    pub endpoint: String,
}

impl RecordedRequest {
    /// Case-insensitive header lookup.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Locks a mutex, recovering from poisoning (a panicking test closure must not wedge the server).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Entry point.
pub struct Simulator;

impl Simulator {
    /// Starts a simulator on 127.0.0.1 with an ephemeral port.
    pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        Self::start_on(cfg, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts a simulator on `addr`, which must be a 127.0.0.1 address.
    pub async fn start_on(cfg: SimConfig, addr: SocketAddr) -> Result<SimHandle, SimError> {
        if addr.ip() != std::net::IpAddr::V4(Ipv4Addr::LOCALHOST) {
            return Err(SimError::NotLoopback { addr });
        }
        server::start(cfg, addr).await
    }
}

/// A running simulator. Cheap to clone; all clones control the same server.
#[derive(Clone)]
pub struct SimHandle {
    pub(crate) shared: Arc<state::Shared>,
    pub(crate) addr: SocketAddr,
    pub(crate) join: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SimHandle {
    /// Partner Center API base, e.g. `http://127.0.0.1:PORT` (paths start with `/v1/`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Entra authority base (same server): token endpoints are `{authority}/{tenant}/oauth2/token`
    /// and `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn authority_url(&self) -> String {
        self.base_url()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `{authority}/{tenant}/oauth2/token`.
    pub fn token_url_v1(&self) -> String {
        format!(
            "{}/{}/oauth2/token",
            self.authority_url(),
            self.shared.cfg.tenant_id
        )
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url_v2(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority_url(),
            self.shared.cfg.tenant_id
        )
    }

    /// Configured client id.
    pub fn client_id(&self) -> String {
        self.shared.cfg.client_id.clone()
    }

    /// Configured client secret.
    pub fn client_secret(&self) -> String {
        self.shared.cfg.client_secret.clone()
    }

    /// Configured partner tenant id.
    pub fn tenant_id(&self) -> String {
        self.shared.cfg.tenant_id.clone()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.recorded()
    }

    /// Forgets recorded requests.
    pub fn clear_requests(&self) {
        self.shared.clear_recorded();
    }

    /// Replaces the fault shares (the fault RNG keeps its position).
    pub fn set_faults(&self, f: Faults) {
        lock(&self.shared.faults).0 = f;
    }

    /// Replaces the per-response latency.
    pub fn set_latency(&self, d: Duration) {
        *lock(&self.shared.latency) = d;
    }

    /// Runs `f` on the dataset (tests script or inspect the tenant). Indexes are rebuilt after.
    pub fn with_dataset<R>(&self, f: impl FnOnce(&mut Dataset) -> R) -> R {
        let mut data = lock(&self.shared.data);
        let r = f(&mut data.ds);
        data.reindex();
        r
    }

    /// Serves `body` verbatim with `status` and `headers` for `method` + exact `path` (no query),
    /// before authentication. `times`: `Some(n)` = the next n matching requests, `None` = always.
    /// Latest override for a path wins.
    pub fn override_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
        times: Option<usize>,
    ) {
        lock(&self.shared.overrides).push(state::Override {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            status,
            headers,
            body,
            remaining: times,
        });
    }

    /// Makes every access token issued so far invalid (401 on next use).
    pub fn expire_all_tokens(&self) {
        lock(&self.shared.tokens).expire_all();
    }

    /// The currently valid (rotated) App+User refresh token.
    pub fn current_refresh_token(&self) -> String {
        lock(&self.shared.tokens).refresh.clone()
    }

    /// Stops the server: in-flight held (timeout-fault) responses are released, then the
    /// listener closes.
    pub async fn shutdown(self) {
        self.shared.shutdown.send_replace(true);
        let join = lock(&self.join).take();
        if let Some(mut join) = join
            && tokio::time::timeout(Duration::from_secs(5), &mut join)
                .await
                .is_err()
        {
            join.abort();
        }
    }
}
