//! Configuration: the TOML schema, loading with precise `file:line:column` errors, and validation.
//!
//! Architecture invariant: a configuration that loads is valid. Every check that can be made
//! without the network happens here, so that a bad value stops the run before any call is made.
//! Unknown keys are rejected (`deny_unknown_fields`) so that a typo never silently becomes a
//! default. Secrets are *references* here (`*_file`, `*_env`, or a systemd credential name);
//! `crate::secrets` resolves them.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::notices::templates::PartnerConfig;
use serde_spanned::Spanned;

use crate::net::check_url;
pub use crate::secrets::SecretRef;

/// Default whole-run deadline: 30 minutes.
pub const DEFAULT_RUN_DEADLINE_SECS: u64 = 1800;

/// Where the state database lives when the config does not say.
pub const DEFAULT_STATE_PATH: &str = "/var/lib/cspguard/state.db";

/// Errors while reading or validating the configuration. All of them map to exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}; pass --config PATH or set CSPGUARD_CONFIG")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    InvalidNoPosition { path: PathBuf, message: String },
}

pub use crate::mode::Mode;

impl crate::exit::ExitStatus for ConfigError {
    fn exit(&self) -> crate::exit::Exit {
        crate::exit::Exit::Config
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `dry-run` (default), `notify` or `enforce`.
    #[serde(default)]
    pub mode: Mode,
    /// IANA time zone used for day boundaries (dunning days, the digest hour).
    #[serde(default = "default_timezone")]
    pub timezone: Spanned<String>,
    pub partner_center: PartnerCenterConfig,
    /// `[graph]`: Microsoft Graph (app-only, same Entra app); without it no Graph call is made.
    pub graph: Option<GraphConfig>,
    #[serde(default)]
    pub state: StateConfig,
    /// `[run]`: the whole-run deadline.
    #[serde(default)]
    pub run: RunConfig,
    #[serde(default)]
    pub snapshot: SnapshotConfig,
    /// The partner's receivables export (`[receivables]`); without it there is no dunning.
    pub receivables: Option<crate::receivables::ReceivablesConfig>,
    /// `[dunning]`: the ladder of reminders, final notice and suspension.
    #[serde(default)]
    pub dunning: crate::policy::dunning::DunningConfig,
    /// `[budgets]`: spending-budget thresholds and forecasts.
    #[serde(default)]
    pub budgets: crate::policy::budgets::BudgetConfig,
    /// `[activity]`: activity-log rules.
    #[serde(default)]
    pub activity: crate::policy::activity::ActivityConfig,
    /// `[fraud]`: the response to Azure fraud events.
    #[serde(default)]
    pub fraud: crate::policy::fraud::FraudConfig,
    /// `[anomaly]`: day-over-day spend anomalies.
    #[serde(default)]
    pub anomaly: crate::policy::anomaly::AnomalyConfig,
    /// `[alerts]`: grouped ops alerts, intervals, inhibition and the first-run baseline.
    #[serde(default)]
    pub alerts: crate::policy::alerts::AlertConfig,
    /// `[reconciliation]`: billing reconciliation against Microsoft's billed exports (off
    /// unless `enabled`; needs `[graph]` and `PartnerBilling.Read.All`).
    #[serde(default = "default_reconciliation")]
    pub reconciliation: Spanned<crate::recon::model::ReconConfig>,
    /// `[partner]`: who the partner is, as customers see it in notices.
    #[serde(default)]
    pub partner: PartnerConfig,
    /// `[mail]`: how notices and ops mail are delivered; without it nothing is sent.
    pub mail: Option<crate::notices::mail::MailConfig>,
    /// `[templates]`: the partner's own template directory, searched before the shipped set.
    #[serde(default)]
    pub templates: TemplatesConfig,
    /// `[approvals]`: how long an approval request stays open.
    #[serde(default)]
    pub approvals: ApprovalsConfig,
    /// `[enforcement]`: caps, circuit breaker and business hours for destructive actions.
    #[serde(default)]
    pub enforcement: crate::enforce::EnforcementConfig,
    /// `[digest]`: when the daily digest goes out and where its HTML copy is kept.
    #[serde(default)]
    pub digest: DigestConfig,
    /// `[daemon]`: the schedule of `cspguard daemon`.
    #[serde(default)]
    pub daemon: crate::schedule::DaemonConfig,
    /// `[metrics]`: the Prometheus textfile-collector file.
    #[serde(default)]
    pub metrics: crate::observe::MetricsConfig,
    /// `[reports]`: retention of the JSON run reports.
    #[serde(default)]
    pub reports: crate::observe::ReportsConfig,
    /// `[customers."<tenant id>"]`: per-customer overrides (exempt, email, cc, locale).
    #[serde(default)]
    pub customers: std::collections::BTreeMap<String, crate::policy::CustomerOverride>,
}

fn default_reconciliation() -> Spanned<crate::recon::model::ReconConfig> {
    Spanned::new(0..0, crate::recon::model::ReconConfig::default())
}

fn default_timezone() -> Spanned<String> {
    Spanned::new(0..0, "UTC".to_owned())
}

/// Which token endpoint form to use for app-only authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenStyle {
    /// `POST {authority}/{tenant}/oauth2/token` with `resource=` (documented by Partner Center).
    #[default]
    V1,
    /// `POST {authority}/{tenant}/oauth2/v2.0/token` with `scope={resource}/.default`.
    V2,
}

/// `[partner_center]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerCenterConfig {
    /// The partner's Entra tenant id (GUID or domain).
    pub tenant_id: Spanned<String>,
    /// The Entra application (client) id.
    pub client_id: Spanned<String>,
    /// Path of a file holding the client secret.
    pub client_secret_file: Option<PathBuf>,
    /// Name of an environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// Inline client secret. Accepted, but prefer a file or a systemd credential.
    #[serde(default, skip_serializing)]
    pub client_secret: Option<secrecy::SecretString>,
    #[serde(default)]
    pub token_style: TokenStyle,
    #[serde(default = "default_authority")]
    pub authority: Spanned<String>,
    #[serde(default = "default_base_url")]
    pub base_url: Spanned<String>,
    #[serde(default = "default_resource")]
    pub resource: String,
    /// Client-side cap on requests per rolling minute (Partner Center allows 500).
    #[serde(default = "default_rate_limit")]
    pub rate_limit_per_minute: Spanned<u32>,
    /// How many requests may be in flight at once.
    #[serde(default = "default_concurrency")]
    pub max_concurrency: Spanned<usize>,
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: Spanned<u64>,
    #[serde(default = "default_page_size")]
    pub page_size: Spanned<u32>,
    /// Use the fraud events "new events model" (`X-NewEventsModel: true`, page-number paging).
    #[serde(default = "default_true")]
    pub fraud_events_new_model: bool,
    #[serde(default)]
    pub retry: RetryConfig,
    /// Absolute cap on the pages of one collection (default 10000).
    #[serde(default = "default_max_pages")]
    pub max_pages: u64,
    /// Pages allowed beyond what a collection's `totalCount` implies (default 5).
    #[serde(default = "default_page_slack")]
    pub page_slack: u64,
    /// Largest response body read, in MiB (default 32).
    #[serde(default = "default_max_response_mb")]
    pub max_response_mb: u64,
    /// Optional App+User credentials, needed for usage records and fraud events.
    pub app_user: Option<AppUserConfig>,
}

/// `[graph]`: where Microsoft Graph is and how hard to call it. Authentication uses the
/// `[partner_center]` app (tenant, client id, secret, authority, token style), app-only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphConfig {
    /// Graph base URL (default `https://graph.microsoft.com`; tests point it at loopback).
    #[serde(default = "default_graph_base_url")]
    pub base_url: Spanned<String>,
    /// The token audience (default `https://graph.microsoft.com`).
    #[serde(default = "default_graph_resource")]
    pub resource: String,
    /// Client-side cap on Graph requests per rolling minute (default 600).
    #[serde(default = "default_graph_rate_limit")]
    pub rate_limit_per_minute: Spanned<u32>,
    /// How many Graph requests may be in flight at once (default 4).
    #[serde(default = "default_graph_concurrency")]
    pub max_concurrency: Spanned<usize>,
    /// Absolute cap on the pages of one Graph collection (default 10000).
    #[serde(default = "default_max_pages")]
    pub max_pages: u64,
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            base_url: default_graph_base_url(),
            resource: default_graph_resource(),
            rate_limit_per_minute: default_graph_rate_limit(),
            max_concurrency: default_graph_concurrency(),
            max_pages: default_max_pages(),
        }
    }
}

fn default_graph_base_url() -> Spanned<String> {
    Spanned::new(0..0, crate::graph::DEFAULT_GRAPH_BASE_URL.to_owned())
}
fn default_graph_resource() -> String {
    crate::graph::GRAPH_RESOURCE.to_owned()
}
fn default_graph_rate_limit() -> Spanned<u32> {
    Spanned::new(0..0, 600)
}
fn default_graph_concurrency() -> Spanned<usize> {
    Spanned::new(0..0, 4)
}

impl PartnerCenterConfig {
    /// The reference to the client secret.
    pub fn client_secret_ref(&self) -> SecretRef {
        SecretRef {
            name: "client_secret",
            file: self.client_secret_file.clone(),
            env: self.client_secret_env.clone(),
            inline: self.client_secret.is_some(),
        }
    }
}

/// `[partner_center.retry]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_max_total_secs")]
    pub max_total_secs: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            max_total_secs: default_max_total_secs(),
        }
    }
}

/// `[partner_center.app_user]`: the refresh token from the one-time MFA consent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppUserConfig {
    /// File holding the initial refresh token (read once; rotated tokens live in the state).
    pub refresh_token_file: Option<PathBuf>,
    /// Environment variable holding the initial refresh token.
    pub refresh_token_env: Option<String>,
    /// Inline initial refresh token. Accepted, but prefer a file or a systemd credential.
    #[serde(default)]
    pub refresh_token: Option<secrecy::SecretString>,
}

impl AppUserConfig {
    /// The reference to the initial refresh token.
    pub fn refresh_token_ref(&self) -> SecretRef {
        SecretRef {
            name: "refresh_token",
            file: self.refresh_token_file.clone(),
            env: self.refresh_token_env.clone(),
            inline: self.refresh_token.is_some(),
        }
    }
}

/// `[state]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    #[serde(default = "default_state_path")]
    pub path: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            path: default_state_path(),
        }
    }
}

/// `[run]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Seconds after which a run stops, is recorded as failed and releases the run lock.
    #[serde(default = "default_run_deadline_secs")]
    pub deadline_secs: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            deadline_secs: DEFAULT_RUN_DEADLINE_SECS,
        }
    }
}

/// `[templates]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesConfig {
    /// Directory with the partner's own templates (`<dir>/<locale>/<name>.<part>`).
    pub dir: Option<PathBuf>,
    /// minijinja fuel (steps) of one rendered part (default 2000000).
    pub max_fuel: Option<u64>,
    /// Largest rendered part (subject, text or HTML) in KiB (default 512).
    pub max_output_kb: Option<u64>,
}

impl TemplatesConfig {
    /// The rendering bounds this section sets.
    pub fn limits(&self) -> crate::notices::templates::RenderLimits {
        let d = crate::notices::templates::RenderLimits::default();
        crate::notices::templates::RenderLimits {
            fuel: self.max_fuel.unwrap_or(d.fuel),
            max_output_bytes: self.max_output_kb.map_or(d.max_output_bytes, |kb| {
                usize::try_from(kb.saturating_mul(1024)).unwrap_or(usize::MAX)
            }),
        }
    }
}

/// `[approvals]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalsConfig {
    /// Days after which an action still awaiting approval (or approved but not executed) expires.
    pub expire_days: u32,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        Self { expire_days: 7 }
    }
}

/// `[digest]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigestConfig {
    /// Send the daily digest at all.
    pub enabled: bool,
    /// Local hour (0-23) from which the day's digest is due; the first run after it sends it.
    pub hour: u8,
    /// Directory for the HTML copy of each digest (default: `reports/` beside the state file).
    pub dir: Option<PathBuf>,
}

impl Default for DigestConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            hour: 7,
            dir: None,
        }
    }
}

/// `[snapshot]`: what `cspguard snapshot` and collection read in bulk.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotConfig {
    /// How many days of audit records to read when there is no watermark yet (max 90).
    #[serde(default = "default_audit_days")]
    pub audit_days: Spanned<u32>,
    /// Warm runs (issue 18): read the whole customer list at most once per this many hours and
    /// keep it up to date from the activity log in between; 0 reads it in full on every run.
    #[serde(default = "default_full_refresh_hours")]
    pub full_refresh_hours: Spanned<u32>,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        Self {
            audit_days: default_audit_days(),
            full_refresh_hours: default_full_refresh_hours(),
        }
    }
}

/// The longest allowed `[snapshot] full_refresh_hours` (a week).
pub const MAX_FULL_REFRESH_HOURS: u32 = 168;

fn default_authority() -> Spanned<String> {
    Spanned::new(0..0, "https://login.microsoftonline.com".to_owned())
}
fn default_base_url() -> Spanned<String> {
    Spanned::new(0..0, "https://api.partnercenter.microsoft.com".to_owned())
}
fn default_resource() -> String {
    "https://api.partnercenter.microsoft.com".to_owned()
}
fn default_rate_limit() -> Spanned<u32> {
    Spanned::new(0..0, 450)
}
fn default_concurrency() -> Spanned<usize> {
    Spanned::new(0..0, 8)
}
fn default_request_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 60)
}
fn default_page_size() -> Spanned<u32> {
    Spanned::new(0..0, 500)
}
fn default_max_pages() -> u64 {
    crate::pc::limits::DEFAULT_MAX_PAGES
}
fn default_page_slack() -> u64 {
    crate::pc::limits::DEFAULT_PAGE_SLACK
}
fn default_max_response_mb() -> u64 {
    (crate::pc::limits::DEFAULT_MAX_RESPONSE_BYTES / (1024 * 1024)) as u64
}
fn default_run_deadline_secs() -> u64 {
    DEFAULT_RUN_DEADLINE_SECS
}
fn default_true() -> bool {
    true
}
fn default_max_attempts() -> u32 {
    6
}
fn default_max_total_secs() -> u64 {
    300
}
fn default_state_path() -> PathBuf {
    PathBuf::from(DEFAULT_STATE_PATH)
}
fn default_audit_days() -> Spanned<u32> {
    Spanned::new(0..0, 30)
}
fn default_full_refresh_hours() -> Spanned<u32> {
    Spanned::new(0..0, 24)
}

/// A loaded, validated configuration and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub config: Config,
    /// The config file's Unix permission bits, when known (used for secret warnings).
    pub mode_bits: Option<u32>,
}

impl Config {
    /// Read and validate the config file at `path`.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config = Self::parse(&text, path)?;
        Ok(Loaded {
            path: path.to_owned(),
            config,
            mode_bits: file_mode(path),
        })
    }

    /// Parse and validate config text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_owned();
            match e.span() {
                Some(span) => at(path, text, span, message),
                None => ConfigError::InvalidNoPosition {
                    path: path.to_owned(),
                    message,
                },
            }
        })?;
        config.validate(text, path)?;
        Ok(config)
    }

    fn validate_graph(&self, g: &GraphConfig, text: &str, path: &Path) -> Result<(), ConfigError> {
        let err = |span: Range<usize>, message: String| at(path, text, span, message);
        if let Err(why) = check_url(g.base_url.get_ref()) {
            return Err(err(g.base_url.span(), format!("graph.base_url: {why}")));
        }
        let rate = *g.rate_limit_per_minute.get_ref();
        if rate == 0 || rate > 10_000 {
            return Err(err(
                g.rate_limit_per_minute.span(),
                format!("graph.rate_limit_per_minute = {rate}: must be between 1 and 10000"),
            ));
        }
        let conc = *g.max_concurrency.get_ref();
        if conc == 0 || conc > 64 {
            return Err(err(
                g.max_concurrency.span(),
                format!("graph.max_concurrency = {conc}: must be between 1 and 64"),
            ));
        }
        if g.max_pages == 0 || g.max_pages > 1_000_000 {
            return Err(ConfigError::InvalidNoPosition {
                path: path.to_owned(),
                message: format!(
                    "graph.max_pages = {}: must be between 1 and 1000000",
                    g.max_pages
                ),
            });
        }
        Ok(())
    }

    fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let err = |span: Range<usize>, message: String| at(path, text, span, message);
        let pc = &self.partner_center;
        if pc.tenant_id.get_ref().trim().is_empty() {
            return Err(err(
                pc.tenant_id.span(),
                "partner_center.tenant_id is empty: set it to the partner's Entra tenant id".into(),
            ));
        }
        if pc.client_id.get_ref().trim().is_empty() {
            return Err(err(
                pc.client_id.span(),
                "partner_center.client_id is empty: set it to the Entra application (client) id"
                    .into(),
            ));
        }
        if jiff::tz::TimeZone::get(self.timezone.get_ref()).is_err() {
            return Err(err(
                self.timezone.span(),
                format!(
                    "timezone {:?} is not a known IANA time zone (for example \"Europe/Stockholm\")",
                    self.timezone.get_ref()
                ),
            ));
        }
        for (key, url) in [
            ("partner_center.authority", &pc.authority),
            ("partner_center.base_url", &pc.base_url),
        ] {
            if let Err(why) = check_url(url.get_ref()) {
                return Err(err(url.span(), format!("{key}: {why}")));
            }
        }
        if let Some(graph) = &self.graph {
            self.validate_graph(graph, text, path)?;
        }
        let rate = *pc.rate_limit_per_minute.get_ref();
        if rate == 0 || rate > 500 {
            return Err(err(
                pc.rate_limit_per_minute.span(),
                format!(
                    "partner_center.rate_limit_per_minute = {rate}: must be between 1 and 500 \
                     (Partner Center allows 500 requests per minute; the default 450 leaves headroom)"
                ),
            ));
        }
        let conc = *pc.max_concurrency.get_ref();
        if conc == 0 || conc > 64 {
            return Err(err(
                pc.max_concurrency.span(),
                format!("partner_center.max_concurrency = {conc}: must be between 1 and 64"),
            ));
        }
        if *pc.request_timeout_secs.get_ref() == 0 {
            return Err(err(
                pc.request_timeout_secs.span(),
                "partner_center.request_timeout_secs must be at least 1".into(),
            ));
        }
        let page = *pc.page_size.get_ref();
        if page == 0 || page > 2000 {
            return Err(err(
                pc.page_size.span(),
                format!("partner_center.page_size = {page}: must be between 1 and 2000"),
            ));
        }
        for (key, value, max) in [
            ("partner_center.max_pages", pc.max_pages, 1_000_000),
            ("partner_center.max_response_mb", pc.max_response_mb, 1024),
            ("run.deadline_secs", self.run.deadline_secs, 86_400),
        ] {
            if value == 0 || value > max {
                return Err(ConfigError::InvalidNoPosition {
                    path: path.to_owned(),
                    message: format!("{key} = {value}: must be between 1 and {max}"),
                });
            }
        }
        if pc.retry.max_attempts == 0 {
            return Err(ConfigError::InvalidNoPosition {
                path: path.to_owned(),
                message: "partner_center.retry.max_attempts must be at least 1".into(),
            });
        }
        let days = *self.snapshot.audit_days.get_ref();
        if days == 0 || days > 90 {
            return Err(err(
                self.snapshot.audit_days.span(),
                format!(
                    "snapshot.audit_days = {days}: must be between 1 and 90 \
                     (Partner Center keeps activity logs for 90 days)"
                ),
            ));
        }
        let hours = *self.snapshot.full_refresh_hours.get_ref();
        if hours > MAX_FULL_REFRESH_HOURS {
            return Err(err(
                self.snapshot.full_refresh_hours.span(),
                format!(
                    "snapshot.full_refresh_hours = {hours}: must be between 0 (read the whole \
                     customer list on every run) and {MAX_FULL_REFRESH_HOURS} (a week); the \
                     default is 24"
                ),
            ));
        }
        for (section, result) in [
            ("dunning", self.dunning.validate()),
            ("budgets", self.budgets.validate()),
            ("activity", self.activity.validate()),
            ("fraud", self.fraud.validate()),
            ("anomaly", self.anomaly.validate()),
            ("enforcement", self.enforcement.validate()),
            ("alerts", self.alerts.validate()),
        ] {
            if let Err(why) = result {
                return Err(ConfigError::InvalidNoPosition {
                    path: path.to_owned(),
                    message: format!("[{section}]: {why}"),
                });
            }
        }
        if let Err(why) = self.fraud.sources.check(self.fraud_available()) {
            return Err(ConfigError::InvalidNoPosition {
                path: path.to_owned(),
                message: format!("[fraud]: {why}"),
            });
        }
        if self.digest.hour > 23 {
            return Err(ConfigError::InvalidNoPosition {
                path: path.to_owned(),
                message: format!(
                    "[digest]: hour = {} must be between 0 and 23",
                    self.digest.hour
                ),
            });
        }
        if let Err(e) = self.daemon.validate() {
            return Err(ConfigError::InvalidNoPosition {
                path: path.to_owned(),
                message: format!("[daemon]: {e}"),
            });
        }
        if let Some(m) = &self.mail {
            m.validate().map_err(|e| ConfigError::InvalidNoPosition {
                path: path.to_owned(),
                message: format!("[mail]: {e}"),
            })?;
        }
        if let Some(r) = &self.receivables {
            r.validate().map_err(|e| ConfigError::InvalidNoPosition {
                path: path.to_owned(),
                message: format!("[receivables]: {e}"),
            })?;
        }
        self.validate_text(path)?;
        let sources = [
            pc.client_secret_file.is_some(),
            pc.client_secret_env.is_some(),
            pc.client_secret.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() > 1 {
            return Err(ConfigError::InvalidNoPosition {
                path: path.to_owned(),
                message: "[partner_center] sets more than one of client_secret_file, \
                          client_secret_env and client_secret: keep exactly one"
                    .into(),
            });
        }
        Ok(())
    }

    /// Load-time hygiene of values that reach headers, addresses and locales: no control
    /// characters in header-bound values, usable customer addresses, known locales (a locale that
    /// is not shipped needs a templates directory, checked by [`Config::check_paths`]), a valid
    /// receivables pattern, non-zero template bounds.
    fn validate_text(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |message: String| ConfigError::InvalidNoPosition {
            path: path.to_owned(),
            message,
        };
        let p = &self.partner;
        let header_bound = [
            ("partner.name", Some(&p.name)),
            ("partner.contact_email", Some(&p.contact_email)),
            ("partner.contact_phone", p.contact_phone.as_ref()),
        ];
        for (key, value) in header_bound {
            if let Some(why) = value.and_then(|v| crate::hygiene::header_problem(v)) {
                return Err(bad(format!("{key} {why}; write it on one line")));
            }
        }
        let mut locales = vec![("partner.default_locale".to_owned(), &p.default_locale)];
        for (tenant, o) in &self.customers {
            let at = format!("customers.\"{tenant}\"");
            for (field, addr) in o
                .email
                .iter()
                .map(|e| ("email", e))
                .chain(o.cc.iter().map(|c| ("cc", c)))
            {
                if let Some(why) = crate::notices::mail::address_problem(addr) {
                    return Err(bad(format!(
                        "{at}.{field} = {addr:?} is not a usable address: {why}; use \"name@example.com\""
                    )));
                }
            }
            if let Some(l) = &o.locale {
                locales.push((format!("{at}.locale"), l));
            }
        }
        for (key, locale) in locales {
            let shipped = crate::notices::format::is_shipped_locale(locale);
            if !shipped && (self.templates.dir.is_none() || !safe_locale(locale)) {
                return Err(bad(format!(
                    "{key} = {locale:?} is not a shipped locale ({}); use one of them, or add its templates under [templates] dir",
                    crate::notices::format::SHIPPED_LOCALES.join(", ")
                )));
            }
        }
        if let Some(r) = &self.receivables {
            crate::receivables::glob::check_pattern(&r.path)
                .map_err(|e| bad(format!("[receivables] path: {e}")))?;
        }
        if self.templates.max_fuel == Some(0) || self.templates.max_output_kb == Some(0) {
            return Err(bad(
                "[templates] max_fuel and max_output_kb must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The file-system checks of a config about to be used by a run: the templates directory
    /// exists (with a directory for every locale that is not shipped) and the receivables
    /// export's directory exists. Separate from parsing so configs can be checked elsewhere.
    pub fn check_paths(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |message: String| ConfigError::InvalidNoPosition {
            path: path.to_owned(),
            message,
        };
        if let Some(dir) = &self.templates.dir {
            if !dir.is_dir() {
                return Err(bad(format!(
                    "[templates] dir {} is not a directory; create it or remove the setting",
                    dir.display()
                )));
            }
            let mut locales = vec![&self.partner.default_locale];
            locales.extend(self.customers.values().filter_map(|o| o.locale.as_ref()));
            for l in locales {
                if !crate::notices::format::is_shipped_locale(l) && !dir.join(l).is_dir() {
                    return Err(bad(format!(
                        "locale {l:?} is neither shipped nor in [templates] dir {} (no {l}/ directory there)",
                        dir.display()
                    )));
                }
            }
        }
        if let Some(r) = &self.receivables {
            let dir = crate::receivables::glob::fixed_dir(&r.path);
            if !dir.is_dir() {
                return Err(bad(format!(
                    "[receivables] path {:?}: the directory {} does not exist; check the path",
                    r.path,
                    dir.display()
                )));
            }
        }
        Ok(())
    }

    /// The policy settings, as the policies take them.
    pub fn policy(&self) -> crate::policy::PolicyConfig {
        crate::policy::PolicyConfig {
            dunning: self.dunning.clone(),
            budgets: self.budgets.clone(),
            activity: self.activity.clone(),
            fraud: self.fraud.clone(),
            anomaly: self.anomaly.clone(),
            alerts: self.alerts.clone(),
            recon: self.reconciliation.get_ref().clone(),
            customers: self.customers.clone(),
        }
    }

    /// Which fraud sources have credentials (what `[fraud] sources = "auto"` decides from).
    pub fn fraud_available(&self) -> crate::policy::fraud::Available {
        crate::policy::fraud::Available {
            graph: self.graph.is_some(),
            app_user: self.partner_center.app_user.is_some(),
        }
    }

    /// Whether `source` is read by runs with this config, and why not.
    pub fn fraud_source_use(
        &self,
        source: crate::policy::fraud::FraudSource,
    ) -> crate::policy::fraud::SourceUse {
        self.fraud.sources.use_of(source, self.fraud_available())
    }

    /// The configured time zone (validated at load time).
    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(self.timezone.get_ref()).unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

/// A locale tag usable as a templates directory name.
fn safe_locale(tag: &str) -> bool {
    !tag.is_empty() && tag.len() <= 35 && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn at(path: &Path, text: &str, span: Range<usize>, message: String) -> ConfigError {
    if span == (0..0) && !text.is_empty() {
        // A default value: no position in the file.
        return ConfigError::InvalidNoPosition {
            path: path.to_owned(),
            message,
        };
    }
    let (line, column) = line_col(text, span.start);
    ConfigError::Invalid {
        path: path.to_owned(),
        line,
        column,
        message,
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "[partner_center]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"X\"\n";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/cspguard/cspguard.toml"))
    }

    #[test]
    fn minimal_config_gets_safe_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.mode, Mode::DryRun);
        assert_eq!(*c.partner_center.rate_limit_per_minute.get_ref(), 450);
        assert_eq!(c.partner_center.token_style, TokenStyle::V1);
        assert_eq!(c.state.path, PathBuf::from(DEFAULT_STATE_PATH));
        assert!(c.partner_center.app_user.is_none());
    }

    #[test]
    fn fraud_sources_are_checked_against_the_credentials_at_load() {
        let graph_only = format!("{MINIMAL}[fraud]\nsources = [\"graph\"]\n");
        let e = parse(&graph_only).unwrap_err().to_string();
        assert!(e.contains("[fraud]") && e.contains("[graph]"), "{e}");
        let ok = format!("{graph_only}[graph]\n");
        let c = parse(&ok).unwrap();
        assert!(
            c.fraud_source_use(crate::policy::fraud::FraudSource::Graph)
                .is_read()
        );
        assert_eq!(
            c.fraud_source_use(crate::policy::fraud::FraudSource::V1),
            crate::policy::fraud::SourceUse::Skip("not selected in [fraud] sources".into())
        );
        let auto = parse(MINIMAL).unwrap();
        assert_eq!(
            auto.fraud_source_use(crate::policy::fraud::FraudSource::Graph),
            crate::policy::fraud::SourceUse::Skip("[graph] is not configured".into())
        );
        let bad = format!("{MINIMAL}[fraud]\nsources = \"everything\"\n");
        assert!(parse(&bad).is_err());
        let overlap = format!("{MINIMAL}[fraud]\noverlap_hours = 0\n");
        assert!(
            parse(&overlap)
                .unwrap_err()
                .to_string()
                .contains("overlap_hours")
        );
    }

    #[test]
    fn unknown_key_names_file_line_column_and_key() {
        let text = format!("{MINIMAL}rate_limit = 5\n");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.starts_with("/etc/cspguard/cspguard.toml:5:1:"), "{e}");
        assert!(e.contains("rate_limit"), "{e}");
    }

    #[test]
    fn bad_timezone_points_at_its_value() {
        let text = format!("timezone = \"Mars/Olympus\"\n{MINIMAL}");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains(":1:12:"), "{e}");
        assert!(e.contains("Mars/Olympus"), "{e}");
    }

    #[test]
    fn rate_limit_above_partner_center_limit_is_rejected_with_position() {
        let text = format!("{MINIMAL}rate_limit_per_minute = 900\n");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains(":5:25:"), "{e}");
        assert!(e.contains("between 1 and 500"), "{e}");
    }

    #[test]
    fn plain_http_is_refused_except_loopback() {
        let bad = format!("{MINIMAL}base_url = \"http://pc.example.com\"\n");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(e.contains("plain http"), "{e}");
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
        ] {
            let text = format!("{MINIMAL}base_url = \"{ok}\"\n");
            assert!(parse(&text).is_ok(), "{ok}");
        }
    }

    #[test]
    fn two_secret_sources_are_ambiguous() {
        let text = format!("{MINIMAL}client_secret_file = \"/x\"\n");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("more than one"), "{e}");
    }

    #[test]
    fn inline_secret_never_shows_in_debug() {
        let text = "[partner_center]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"hunter2-very-secret\"\n";
        let c = parse(text).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn invalid_policy_section_names_the_section() {
        let text = format!("{MINIMAL}[budgets]\nthresholds = []\nfrobnicate = 1\n");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("frobnicate"), "{e}");
        let text = format!("{MINIMAL}[anomaly]\nmin_days = 0\n");
        let e = parse(&text).unwrap_err().to_string();
        assert!(
            e.contains("[anomaly]: anomaly.min_days must be at least 1"),
            "{e}"
        );
    }

    #[test]
    fn line_col_counts_characters_not_bytes() {
        assert_eq!(line_col("a\nåäö = 1", 8), (2, 4));
        assert_eq!(line_col("", 0), (1, 1));
    }
}
