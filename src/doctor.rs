//! The installation checks of `cspguard doctor`: one [`CheckLine`] per check, `PASS`, `FAIL` or
//! `SKIP` (not applicable, or impossible after an earlier failure), handed to the caller as it is
//! made (the command line prints it), then the totals.
//!
//! Checks: the config; permissions of the config and secret files and that every secret
//! resolves; the state directory, the state file and the run lock; the token endpoint and an
//! app-only Partner Center call; an App+User call (when configured); mail (SMTP connect, TLS and
//! AUTH via lettre `test_connection`; sendmail binary; file outbox); the templates.
//!
//! Doctor holds the run lock while it talks to Partner Center: an App+User check refreshes (and
//! so rotates) the refresh token, which must not race a run doing the same. The rotated token is
//! saved in the state file exactly as a run saves it. Nothing is sent and no action is recorded.

use std::fmt;
use std::path::Path;

use crate::config::{Config, Loaded, SecretRef};
use crate::context;
use crate::exit::chain_text;
use crate::ledger::{Ledger, LedgerError, RunLock};
use crate::notices::mail::{Mailer, TransportKind};
use crate::notices::templates::Renderer;
use crate::pc::PcError;
use crate::secrets;

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        })
    }
}

/// One check and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub status: Status,
    pub check: String,
    pub detail: String,
}

impl fmt::Display for CheckLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}  {:<28} {}", self.status, self.check, self.detail)
    }
}

/// How many checks passed and failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub failed: usize,
    pub passed: usize,
}

/// Counts check lines and hands each to the caller.
struct Report<'a> {
    totals: Totals,
    sink: &'a mut dyn FnMut(&CheckLine),
}

impl Report<'_> {
    fn line(&mut self, status: Status, check: &str, detail: impl fmt::Display) {
        match status {
            Status::Pass => self.totals.passed += 1,
            Status::Fail => self.totals.failed += 1,
            Status::Skip => {}
        }
        (self.sink)(&CheckLine {
            status,
            check: check.to_owned(),
            detail: detail.to_string(),
        });
    }

    fn result<T, E: fmt::Display>(
        &mut self,
        check: &str,
        r: Result<T, E>,
        ok: impl FnOnce(&T) -> String,
    ) -> Option<T> {
        match r {
            Ok(v) => {
                self.line(Status::Pass, check, ok(&v));
                Some(v)
            }
            Err(e) => {
                self.line(Status::Fail, check, e);
                None
            }
        }
    }
}

/// Run every check of the installation configured at `config_path`, handing each line to
/// `sink` as it is made.
pub async fn run(config_path: &Path, sink: &mut dyn FnMut(&CheckLine)) -> Totals {
    let mut r = Report {
        totals: Totals::default(),
        sink,
    };
    let Some(loaded) = r.result("config", Config::load(config_path), |l| {
        format!("{} is valid", l.path.display())
    }) else {
        r.line(Status::Skip, "everything else", "needs a valid config");
        return r.totals;
    };
    let cfg = &loaded.config;
    secrets_checks(&mut r, &loaded);
    let lock = state_checks(&mut r, cfg);
    partner_center_checks(&mut r, cfg, lock.as_ref()).await;
    drop(lock);
    mail_checks(&mut r, cfg).await;
    templates_check(&mut r, cfg);
    r.totals
}

/// Secrets: permissions, then that each one resolves (the value is never shown).
fn secrets_checks(r: &mut Report<'_>, loaded: &Loaded) {
    let cfg = &loaded.config;
    let pc = &cfg.partner_center;
    let mut refs: Vec<(SecretRef, Option<&secrecy::SecretString>)> =
        vec![(pc.client_secret_ref(), pc.client_secret.as_ref())];
    if let Some(au) = &pc.app_user {
        refs.push((au.refresh_token_ref(), au.refresh_token.as_ref()));
    }
    if let Some(m) = &cfg.mail
        && m.transport == TransportKind::Smtp
        && m.username.is_some()
    {
        refs.push((m.smtp_password_ref(), m.smtp_password.as_ref()));
    }
    let plain: Vec<&SecretRef> = refs.iter().map(|(s, _)| s).collect();
    let warnings = secrets::permission_warnings(&loaded.path, loaded.mode_bits, &plain);
    if warnings.is_empty() {
        r.line(
            Status::Pass,
            "secret permissions",
            "the config and secret files are readable by their owner only",
        );
    } else {
        for w in warnings {
            r.line(Status::Fail, "secret permissions", w);
        }
    }
    for (sref, inline) in &refs {
        let check = format!("secret {}", sref.name);
        let source = describe_source(sref);
        r.result(&check, secrets::resolve_from_env(sref, *inline), |_| {
            format!("resolved from {source}")
        });
    }
}

/// State directory, state file and lock; the lock, when it was free.
fn state_checks(r: &mut Report<'_>, cfg: &Config) -> Option<RunLock> {
    let state = &cfg.state.path;
    match crate::ledger::ensure_state_dir(state) {
        Err(e) => {
            r.line(Status::Fail, "state directory", chain_text(&e));
            None
        }
        Ok(()) => {
            let dir = state
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let writable = probe_writable(dir);
            r.result("state directory", writable, |()| {
                format!("{} is writable", dir.display())
            });
            r.result("state file", Ledger::open(state), |l| {
                format!(
                    "{} opens (schema {})",
                    state.display(),
                    l.schema_version().unwrap_or_default()
                )
            });
            match RunLock::acquire(state) {
                Ok(l) => {
                    r.line(
                        Status::Pass,
                        "run lock",
                        format!("{} is free", l.path().display()),
                    );
                    Some(l)
                }
                Err(e @ LedgerError::Locked { .. }) => {
                    r.line(
                        Status::Fail,
                        "run lock",
                        format!("{e} (a run is in progress; run doctor again after it)"),
                    );
                    None
                }
                Err(e) => {
                    r.line(Status::Fail, "run lock", e);
                    None
                }
            }
        }
    }
}

/// Partner Center: the token endpoint and an app-only call, then App+User (only with the run
/// lock held: the refresh token rotates).
async fn partner_center_checks(r: &mut Report<'_>, cfg: &Config, lock: Option<&RunLock>) {
    let pc = &cfg.partner_center;
    let correlation = uuid::Uuid::new_v4();
    match context::client(cfg, None, correlation) {
        Err(e) => {
            r.line(Status::Fail, "token endpoint", e);
            r.line(Status::Skip, "Partner Center app-only", "no client");
        }
        Ok(client) => match client.invoice_summary().await {
            Ok(_) => {
                r.line(
                    Status::Pass,
                    "token endpoint",
                    format!("app-only token from {}", pc.authority.get_ref()),
                );
                r.line(
                    Status::Pass,
                    "Partner Center app-only",
                    format!("GET /v1/invoices/summary at {}", pc.base_url.get_ref()),
                );
            }
            Err(e @ PcError::Auth { .. }) => {
                r.line(Status::Fail, "token endpoint", e);
                r.line(Status::Skip, "Partner Center app-only", "no token");
            }
            Err(e) => {
                r.line(
                    Status::Pass,
                    "token endpoint",
                    format!("app-only token from {}", pc.authority.get_ref()),
                );
                r.line(Status::Fail, "Partner Center app-only", e);
            }
        },
    }
    if pc.app_user.is_none() {
        r.line(
            Status::Skip,
            "Partner Center App+User",
            "not configured (usage and fraud events are reported as not checked)",
        );
    } else if lock.is_none() {
        r.line(
            Status::Skip,
            "Partner Center App+User",
            "needs the run lock (the refresh token rotates)",
        );
    } else {
        let client = crate::credentials::refresh_store(cfg)
            .map_err(|e| chain_text(&e))
            .and_then(|store| context::client(cfg, store, correlation).map_err(|e| chain_text(&e)));
        match client {
            Err(e) => r.line(Status::Fail, "Partner Center App+User", e),
            Ok(client) => {
                let page = client.fraud_events(None).next_page().await;
                r.result("Partner Center App+User", page, |_| {
                    "GET /v1/fraudEvents with the App+User token".to_owned()
                });
            }
        }
    }
}

/// Mail: the configured transport answers.
async fn mail_checks(r: &mut Report<'_>, cfg: &Config) {
    match &cfg.mail {
        None => r.line(Status::Skip, "mail", "no [mail] section: nothing is sent"),
        Some(m) => {
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
    }
}

/// Templates: the shipped set and the overrides load.
fn templates_check(r: &mut Report<'_>, cfg: &Config) {
    r.result(
        "templates",
        Renderer::new(cfg.templates.dir.clone()),
        |_| match &cfg.templates.dir {
            Some(d) => format!("shipped set and {} load", d.display()),
            None => "shipped set loads".to_owned(),
        },
    );
}

/// Where a secret comes from, in words (never its value).
fn describe_source(r: &SecretRef) -> String {
    if let Some(p) = &r.file {
        format!("file {}", p.display())
    } else if let Some(v) = &r.env {
        format!("environment variable {v}")
    } else if r.inline {
        "the config file (inline)".to_owned()
    } else {
        format!("systemd credential {}", r.name)
    }
}

/// Create and remove a file in `dir`.
fn probe_writable(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!(".cspguard-doctor-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| format!("{} is not writable: {e}", dir.display()))
}
