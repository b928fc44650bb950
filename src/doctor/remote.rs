//! Doctor's checks of the services cspguard talks to: the token endpoint (one token request,
//! no retries: down, 5xx or refused is a FAIL), an app-only Partner Center call, an App+User
//! call (only with the run lock held and a state database to keep the rotated refresh token
//! in), and mail (SMTP connect, TLS and AUTH without sending; sendmail binary; file outbox).

use super::report::{Report, Status};
use crate::config::Config;
use crate::context;
use crate::exit::chain_text;
use crate::ledger::RunLock;
use crate::notices::mail::{Mailer, TransportKind};

/// Partner Center: the token endpoint and an app-only call, then App+User.
pub(super) async fn partner_center(r: &mut Report<'_>, cfg: &Config, lock: Option<&RunLock>) {
    let pc = &cfg.partner_center;
    let correlation = uuid::Uuid::new_v4();
    match context::client(cfg, None, correlation) {
        Err(e) => {
            r.line(Status::Fail, "token endpoint", e);
            r.line(Status::Skip, "Partner Center app-only", "no client");
        }
        Ok(client) => match client.acquire_app_only_token().await {
            Err(e) => {
                r.line(Status::Fail, "token endpoint", e);
                r.line(Status::Skip, "Partner Center app-only", "no token");
            }
            Ok(()) => {
                r.line(
                    Status::Pass,
                    "token endpoint",
                    format!("app-only token from {}", pc.authority.get_ref()),
                );
                r.result(
                    "Partner Center app-only",
                    client.invoice_summary().await,
                    |_| format!("GET /v1/invoices/summary at {}", pc.base_url.get_ref()),
                );
            }
        },
    }
    app_user(r, cfg, lock, correlation).await;
}

/// App+User: one call with the App+User token, which rotates the refresh token (stored in the
/// state database exactly as a run stores it).
async fn app_user(r: &mut Report<'_>, cfg: &Config, lock: Option<&RunLock>, id: uuid::Uuid) {
    const CHECK: &str = "Partner Center App+User";
    if cfg.partner_center.app_user.is_none() {
        return r.line(
            Status::Skip,
            CHECK,
            "not configured (usage and fraud events are reported as not checked)",
        );
    }
    if !cfg.state.path.exists() {
        let why = format!(
            "not checked: a refresh rotates the refresh token, which is kept in the state \
             database, and there is none at {} yet; the first `cspguard run` (or `cspguard run \
             --dry-run`) creates it, then run doctor again",
            cfg.state.path.display()
        );
        return r.line(Status::Skip, CHECK, why);
    }
    if lock.is_none() {
        let why = "needs the run lock (the refresh token rotates)";
        return r.line(Status::Skip, CHECK, why);
    }
    let client = crate::credentials::refresh_store(cfg)
        .map_err(|e| chain_text(&e))
        .and_then(|store| context::client(cfg, store, id).map_err(|e| chain_text(&e)));
    match client {
        Err(e) => r.line(Status::Fail, CHECK, e),
        Ok(client) => match client.fraud_events(None).next_page().await {
            Err(e) if e.is_mfa_required() => r.line(Status::Fail, "Partner Center MFA", e),
            page => {
                r.result(CHECK, page, |_| {
                    "GET /v1/fraudEvents with the App+User token (its MFA claim was accepted)"
                        .to_owned()
                });
            }
        },
    }
}

/// Microsoft Graph (when `[graph]` is configured): one Graph token request without retries,
/// then one page of partner security alerts (the app needs `PartnerSecurity.Read.All`).
pub(super) async fn graph(r: &mut Report<'_>, cfg: &Config) {
    const TOKEN: &str = "Graph token";
    const ALERTS: &str = "Graph security alerts";
    let Some(g) = &cfg.graph else {
        r.line(
            Status::Skip,
            TOKEN,
            "no [graph] section: Graph security alerts are not read",
        );
        return;
    };
    let client = match context::graph_client(cfg, uuid::Uuid::new_v4()) {
        Ok(Some(c)) => c,
        Ok(None) => return r.line(Status::Skip, TOKEN, "no [graph] section"),
        Err(e) => return r.line(Status::Fail, TOKEN, chain_text(&e)),
    };
    if let Err(e) = client.acquire_token().await {
        r.line(Status::Fail, TOKEN, e);
        return r.line(Status::Skip, ALERTS, "no Graph token");
    }
    r.line(
        Status::Pass,
        TOKEN,
        format!("app-only token for {}", g.resource),
    );
    let query = crate::graph::alerts::AlertQuery::OpenOrObservedSince(None);
    let page = match crate::graph::alerts::list(&client, &query) {
        Ok(mut pages) => pages.next_page().await,
        Err(e) => Err(e),
    };
    r.result(ALERTS, page, |_| {
        format!(
            "GET /beta/security/partner/securityAlerts at {} (PartnerSecurity.Read.All granted)",
            g.base_url.get_ref()
        )
    });
}

/// Mail: the configured transport answers.
pub(super) async fn mail(r: &mut Report<'_>, cfg: &Config) {
    let Some(m) = &cfg.mail else {
        return r.line(Status::Skip, "mail", "no [mail] section: nothing is sent");
    };
    let mailer = m
        .resolve_password()
        .map_err(|e| e.to_string())
        .and_then(|p| Mailer::new(m, p).map_err(|e| e.to_string()));
    match mailer {
        Err(e) => r.line(Status::Fail, "mail", e),
        Ok(mailer) => {
            let what = match m.transport {
                TransportKind::Smtp if m.username.is_some() => "SMTP connect and auth",
                TransportKind::Smtp => "SMTP connect",
                TransportKind::Sendmail => "sendmail",
                TransportKind::File => "file outbox",
            };
            r.result(what, mailer.test_connection().await, |d| d.clone());
        }
    }
}
