//! Sending the daily digest: due once per local day, on the first run at or after `[digest] hour`
//! that has complete data, under the idempotency key `digest/<local date>` so it is never sent
//! twice. When the day's first due run is missing data (a Partner Center read or the receivables
//! import failed), it sends an incomplete digest that says what is missing, once, under
//! `digest/<local date>/incomplete`, and the complete digest still follows the first later run
//! that day with complete data. Written as an HTML file beside the state (or in `[digest] dir`)
//! and emailed to `[mail] ops_to`. The content is built by `crate::digest` from the run's
//! [`RunSummary`].

use std::path::PathBuf;

use crate::config::Config;
use crate::digest::{self, DigestInput};
use crate::execute::{Executor, RUN_ACTOR};
use crate::ledger::{ActionRow, ActionStatus, LedgerError, NewAction, NewNotice};
use crate::notices::mail::{MailError, OutgoingEmail};
use crate::notices::templates::TemplateError;
use crate::planning::Planned;
use crate::summary::RunSummary;

/// What happened to today's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestOutcome {
    NotDue,
    AlreadySent,
    /// The incomplete digest went out earlier today and this run is missing data too: the
    /// complete one waits for a run with complete data.
    WaitingForCompleteData,
    /// The run was stopped (SIGTERM) before the digest; the next run sends it.
    Stopped,
    Sent {
        file: PathBuf,
        emailed: Emailed,
    },
}

/// Whether a written digest was also emailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emailed {
    Yes,
    /// No `[mail]` (or no `ops_to`): written only.
    NoMail,
}

impl DigestOutcome {
    /// True when the digest went out by email this run.
    pub fn emailed(&self) -> bool {
        matches!(
            self,
            DigestOutcome::Sent {
                emailed: Emailed::Yes,
                ..
            }
        )
    }
}

impl std::fmt::Display for DigestOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DigestOutcome::NotDue => f.write_str("not due"),
            DigestOutcome::AlreadySent => f.write_str("already sent today"),
            DigestOutcome::WaitingForCompleteData => f.write_str(
                "incomplete digest already sent today; the complete one follows a run with \
                 complete data",
            ),
            DigestOutcome::Stopped => {
                f.write_str("not sent: the run was stopped; the next run sends it")
            }
            DigestOutcome::Sent { file, emailed } => write!(
                f,
                "written to {}{}",
                file.display(),
                match emailed {
                    Emailed::Yes => " and emailed",
                    Emailed::NoMail => " (no [mail]: not emailed)",
                }
            ),
        }
    }
}

/// Why today's digest could not be sent (the run goes on, degraded).
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot render the digest")]
    Render(#[source] TemplateError),
    #[error("cannot keep the digest's HTML copy")]
    Fs(#[from] crate::fsio::FsError),
    #[error("cannot send the digest")]
    Send(#[source] MailError),
}

/// Where digests are written.
pub fn digest_dir(cfg: &Config) -> PathBuf {
    cfg.digest.dir.clone().unwrap_or_else(|| {
        cfg.state
            .path
            .parent()
            .map_or_else(|| PathBuf::from("reports"), |p| p.join("reports"))
    })
}

/// Send today's digest if it is due and not sent yet.
pub(super) async fn send_if_due(
    exec: &Executor<'_>,
    planned: &Planned,
    run: &RunSummary,
    run_id: i64,
) -> Result<DigestOutcome, DigestError> {
    let (cfg, now) = (exec.config, exec.now);
    if !cfg.digest.enabled {
        return Ok(DigestOutcome::NotDue);
    }
    let local = now.to_zoned(cfg.time_zone());
    if local.hour() < i8::try_from(cfg.digest.hour).unwrap_or(0) {
        return Ok(DigestOutcome::NotDue);
    }
    let date = local.date();
    let complete_key = format!("digest/{date}");
    if is_done(exec, &complete_key)? {
        return Ok(DigestOutcome::AlreadySent);
    }
    let missing = digest::missing_data(&planned.snapshot, &planned.receivables);
    let key = if missing.is_empty() {
        complete_key
    } else {
        format!("{complete_key}/incomplete")
    };
    let Some(claimed) = claim(exec, key, date, &missing)? else {
        return Ok(if missing.is_empty() {
            DigestOutcome::AlreadySent
        } else {
            DigestOutcome::WaitingForCompleteData
        });
    };
    let ledger = exec.ledger;
    match write_and_send(exec, planned, run, &claimed.key, date).await {
        Ok(outcome) => {
            ledger.mark_done(
                claimed.id,
                &serde_json::json!({ "run": run_id, "outcome": outcome.to_string(), "by": RUN_ACTOR }),
                now,
            )?;
            crate::alert_digest::mark_baseline_reported(ledger, now)?;
            Ok(outcome)
        }
        Err(e) => {
            ledger.mark_failed(claimed.id, &crate::exit::chain_text(&e), now)?;
            Err(e)
        }
    }
}

/// True when the digest action under `key` is done.
fn is_done(exec: &Executor<'_>, key: &str) -> Result<bool, LedgerError> {
    Ok(exec
        .ledger
        .action_by_key(key)?
        .is_some_and(|row| row.status == ActionStatus::Done))
}

/// Record today's digest action under `key` and claim it; `None` when it is done already, or
/// executing, uncertain or failed-and-waiting (not this run).
fn claim(
    exec: &Executor<'_>,
    key: String,
    date: jiff::civil::Date,
    missing: &[String],
) -> Result<Option<ActionRow>, LedgerError> {
    let reason = if missing.is_empty() {
        format!("daily digest for {date}")
    } else {
        format!(
            "incomplete daily digest for {date} (missing: {})",
            missing.join("; ")
        )
    };
    let row = exec.ledger.insert_action(
        &NewAction {
            key,
            kind: "digest".to_owned(),
            customer: None,
            payload: serde_json::json!({ "date": date.to_string(), "missing": missing }),
            requires_approval: false,
            reason,
        },
        exec.now,
    )?;
    if row.status == ActionStatus::Done {
        return Ok(None);
    }
    exec.ledger.claim(row.id, exec.now)
}

/// Build, write and (with `[mail]`) email the digest.
async fn write_and_send(
    exec: &Executor<'_>,
    planned: &Planned,
    run: &RunSummary,
    key: &str,
    date: jiff::civil::Date,
) -> Result<DigestOutcome, DigestError> {
    let (cfg, now) = (exec.config, exec.now);
    let ctx = digest::build(&DigestInput {
        plan: &planned.plan,
        snapshot: &planned.snapshot,
        receivables: &planned.receivables,
        ledger: exec.ledger,
        run,
        partner_name: &cfg.partner.name,
        app_user_configured: cfg.partner_center.app_user.is_some(),
        now,
        tz: &cfg.time_zone(),
    });
    let rendered = exec
        .renderer
        .render_digest(&ctx)
        .map_err(DigestError::Render)?;
    let dir = digest_dir(cfg);
    crate::fsio::create_dir_all(&dir)?;
    let file = dir.join(format!("digest-{date}.html"));
    let tmp = dir.join(format!(".digest-{date}.html.tmp"));
    crate::fsio::write_atomic(&file, &tmp, rendered.html.as_bytes())?;
    let ops = cfg
        .mail
        .as_ref()
        .map(|m| m.ops_to.clone())
        .unwrap_or_default();
    let Some(mailer) = exec.mailer.filter(|_| !ops.is_empty()) else {
        return Ok(DigestOutcome::Sent {
            file,
            emailed: Emailed::NoMail,
        });
    };
    let email = OutgoingEmail {
        key: key.to_owned(),
        to: ops.clone(),
        cc: Vec::new(),
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        date: now,
    };
    let receipt = mailer.send(&email).await.map_err(DigestError::Send)?;
    for recipient in ops {
        exec.ledger.record_notice(
            &NewNotice {
                customer: None,
                recipient,
                template: "digest".to_owned(),
                locale: "en".to_owned(),
                message_id: receipt.message_id.clone(),
                action_key: Some(key.to_owned()),
            },
            now,
        )?;
    }
    Ok(DigestOutcome::Sent {
        file,
        emailed: Emailed::Yes,
    })
}
