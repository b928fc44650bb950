//! The daily digest: due once per local day, on the first run at or after `[digest] hour`, under
//! the idempotency key `digest/<local date>` so it is never sent twice. Written as an HTML file
//! beside the state (or in `[digest] dir`) and emailed to `[mail] ops_to`.

use std::path::PathBuf;

use anyhow::Context as _;
use jiff::Timestamp;

use cspguard::config::Config;
use cspguard::digest::{self, DigestInput, RunSummary};
use cspguard::execute::{ExecutionReport, Executor, RUN_ACTOR};
use cspguard::ledger::{ActionStatus, NewAction, NewNotice};
use cspguard::notices::mail::OutgoingEmail;
use cspguard::planning::Planned;

/// What happened to today's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestOutcome {
    NotDue,
    AlreadySent,
    Sent { file: PathBuf, emailed: bool },
}

impl std::fmt::Display for DigestOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DigestOutcome::NotDue => f.write_str("not due"),
            DigestOutcome::AlreadySent => f.write_str("already sent today"),
            DigestOutcome::Sent { file, emailed } => write!(
                f,
                "written to {}{}",
                file.display(),
                if *emailed {
                    " and emailed"
                } else {
                    " (no [mail]: not emailed)"
                }
            ),
        }
    }
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
pub async fn send_if_due(
    exec: &Executor<'_>,
    planned: &Planned,
    report: &ExecutionReport,
    run_id: i64,
    now: Timestamp,
) -> anyhow::Result<DigestOutcome> {
    let cfg = exec.config;
    if !cfg.digest.enabled {
        return Ok(DigestOutcome::NotDue);
    }
    let tz = cfg.time_zone();
    let local = now.to_zoned(tz.clone());
    if local.hour() < i8::try_from(cfg.digest.hour).unwrap_or(0) {
        return Ok(DigestOutcome::NotDue);
    }
    let date = local.date();
    let key = format!("digest/{date}");
    let ledger = exec.ledger;
    let row = ledger.insert_action(
        &NewAction {
            key: key.clone(),
            kind: "digest".to_owned(),
            customer: None,
            payload: serde_json::json!({ "date": date.to_string() }),
            requires_approval: false,
            reason: format!("daily digest for {date}"),
        },
        now,
    )?;
    if row.status == ActionStatus::Done {
        return Ok(DigestOutcome::AlreadySent);
    }
    let Some(claimed) = ledger.claim(row.id, now)? else {
        // Executing, uncertain or failed-and-waiting: not this run.
        return Ok(DigestOutcome::AlreadySent);
    };
    let summary = RunSummary {
        started: now,
        mode: exec.mode,
        calls: planned.snapshot.calls.clone(),
        detail_fetched: planned.detail_fetched,
        sent: report.sent,
        failed: report.failed.len(),
        would_send: report.would.len(),
        errors: report
            .failed
            .iter()
            .map(|(k, e)| format!("{k}: {e}"))
            .collect(),
    };
    let ctx = digest::build(&DigestInput {
        plan: &planned.plan,
        snapshot: &planned.snapshot,
        receivables: &planned.receivables,
        ledger,
        run: &summary,
        partner_name: &cfg.partner.name,
        app_user_configured: cfg.partner_center.app_user.is_some(),
        now,
        tz: &tz,
    });
    let result = async {
        let rendered = exec
            .renderer
            .render_digest(&ctx)
            .context("cannot render the digest")?;
        let dir = digest_dir(cfg);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the digest directory {}", dir.display()))?;
        let file = dir.join(format!("digest-{date}.html"));
        let tmp = dir.join(format!(".digest-{date}.html.tmp"));
        std::fs::write(&tmp, &rendered.html)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &file).with_context(|| format!("cannot write {}", file.display()))?;
        let ops = cfg
            .mail
            .as_ref()
            .map(|m| m.ops_to.clone())
            .unwrap_or_default();
        let emailed = match exec.mailer {
            Some(mailer) if !ops.is_empty() => {
                let receipt = mailer
                    .send(&OutgoingEmail {
                        key: key.clone(),
                        to: ops.clone(),
                        cc: Vec::new(),
                        subject: rendered.subject,
                        text: rendered.text,
                        html: rendered.html,
                        date: now,
                    })
                    .await
                    .context("cannot send the digest")?;
                for recipient in ops {
                    ledger.record_notice(
                        &NewNotice {
                            customer: None,
                            recipient,
                            template: "digest".to_owned(),
                            locale: "en".to_owned(),
                            message_id: receipt.message_id.clone(),
                            action_key: Some(key.clone()),
                        },
                        now,
                    )?;
                }
                true
            }
            _ => false,
        };
        anyhow::Ok(DigestOutcome::Sent { file, emailed })
    }
    .await;
    match result {
        Ok(outcome) => {
            ledger.mark_done(
                claimed.id,
                &serde_json::json!({ "run": run_id, "outcome": outcome.to_string(), "by": RUN_ACTOR }),
                now,
            )?;
            Ok(outcome)
        }
        Err(e) => {
            ledger.mark_failed(claimed.id, &format!("{e:#}"), now)?;
            Err(e)
        }
    }
}
