//! Run context: turns a loaded configuration into live parts (secrets resolved, the Partner
//! Center client built, the refresh-token store chosen). This is the one place where config
//! values become client options, so the mapping is reviewed in one spot.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, Loaded, TokenStyle};
use crate::pc::{
    ClientOptions, PartnerCenter, PcError, RefreshTokenStore, RetryPolicy,
    TokenStyle as PcTokenStyle,
};
use crate::secrets::{self, SecretError};

/// Errors while building the run context.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("cannot set up the Partner Center client: {0}")]
    Client(#[from] PcError),
}

impl crate::exit::ExitStatus for ContextError {
    fn exit(&self) -> crate::exit::Exit {
        match self {
            ContextError::Secret(e) => crate::exit::ExitStatus::exit(e),
            ContextError::Client(_) => crate::exit::Exit::Failed,
        }
    }
}

/// A secret that cannot be resolved is a configuration problem (exit code 2). Implemented here,
/// where config values become live parts, so `secrets` stays free of exit codes.
impl crate::exit::ExitStatus for SecretError {
    fn exit(&self) -> crate::exit::Exit {
        crate::exit::Exit::Config
    }
}

/// Log warnings about secrets that other users can read: the client secret, the App+User
/// refresh token and the SMTP password, inline in the config or in their files.
pub fn warn_about_secret_permissions(loaded: &Loaded) {
    let pc = &loaded.config.partner_center;
    let client = pc.client_secret_ref();
    let refresh = pc.app_user.as_ref().map(|a| a.refresh_token_ref());
    let smtp = loaded.config.mail.as_ref().map(|m| m.smtp_password_ref());
    let mut refs = vec![&client];
    refs.extend(refresh.iter());
    refs.extend(smtp.iter());
    for w in secrets::permission_warnings(&loaded.path, loaded.mode_bits, &refs) {
        tracing::warn!("{w}");
    }
}

/// Build client options from the config, resolving the client secret.
pub fn client_options(
    config: &Config,
    refresh_store: Option<Arc<dyn RefreshTokenStore>>,
    correlation_id: uuid::Uuid,
) -> Result<ClientOptions, ContextError> {
    let pc = &config.partner_center;
    let secret = secrets::resolve_from_env(&pc.client_secret_ref(), pc.client_secret.as_ref())?;
    let mut opts = ClientOptions::new(
        pc.tenant_id.get_ref().trim().to_owned(),
        pc.client_id.get_ref().trim().to_owned(),
        secret,
    );
    opts.token_style = match pc.token_style {
        TokenStyle::V1 => PcTokenStyle::V1Resource,
        TokenStyle::V2 => PcTokenStyle::V2Scope,
    };
    opts.authority = pc.authority.get_ref().trim_end_matches('/').to_owned();
    opts.base_url = pc.base_url.get_ref().trim_end_matches('/').to_owned();
    opts.resource = pc.resource.clone();
    opts.app_user = refresh_store;
    opts.rate_limit_per_minute = *pc.rate_limit_per_minute.get_ref();
    opts.max_concurrency = *pc.max_concurrency.get_ref();
    opts.request_timeout = Duration::from_secs(*pc.request_timeout_secs.get_ref());
    opts.retry = RetryPolicy {
        max_attempts: pc.retry.max_attempts,
        max_total: Duration::from_secs(pc.retry.max_total_secs),
        ..RetryPolicy::default()
    };
    opts.page_size = *pc.page_size.get_ref();
    opts.fraud_events_new_model = pc.fraud_events_new_model;
    opts.correlation_id = correlation_id;
    opts.limits = crate::pc::Limits {
        max_pages: pc.max_pages,
        page_slack: pc.page_slack,
        max_response_bytes: usize::try_from(pc.max_response_mb.saturating_mul(1024 * 1024))
            .unwrap_or(usize::MAX),
    };
    Ok(opts)
}

/// Build the Partner Center client.
pub fn client(
    config: &Config,
    refresh_store: Option<Arc<dyn RefreshTokenStore>>,
    correlation_id: uuid::Uuid,
) -> Result<PartnerCenter, ContextError> {
    let opts = client_options(config, refresh_store, correlation_id)?;
    Ok(PartnerCenter::new(opts)?)
}

/// Build the Microsoft Graph client when `[graph]` is configured (`None` without it). It signs
/// in with the `[partner_center]` app, app-only, for the Graph audience.
pub fn graph_client(
    config: &Config,
    correlation_id: uuid::Uuid,
) -> Result<Option<crate::graph::GraphClient>, ContextError> {
    let Some(g) = &config.graph else {
        return Ok(None);
    };
    let pc = client_options(config, None, correlation_id)?;
    let options = crate::graph::GraphOptions {
        base_url: g.base_url.get_ref().trim_end_matches('/').to_owned(),
        resource: g.resource.clone(),
        rate_limit_per_minute: *g.rate_limit_per_minute.get_ref(),
        max_concurrency: *g.max_concurrency.get_ref(),
        limits: crate::pc::Limits {
            max_pages: g.max_pages,
            ..pc.limits
        },
    };
    Ok(Some(crate::graph::GraphClient::new(&pc, &options)?))
}
