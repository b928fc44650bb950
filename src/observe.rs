//! Observability of runs: the run's correlation span, the Prometheus textfile-collector file
//! (`[metrics] textfile`), the JSON run report (`<state dir>/runs/run-<id>.json`, pruned after
//! `[reports] keep_days`) and the progress spinner shown on a terminal. Both files are written
//! from the one [`RunSummary`]; this module knows nothing of the config, the plan or the executor.
//!
//! Architecture invariant: files are written atomically (a temporary file in the same directory,
//! synced, then renamed over the target), so a collector or a reader never sees half a file.
//! Nothing here holds or writes a secret: reports carry counts, endpoint templates and errors
//! that are already secret-free (errors name secret sources, never values); as a last pass,
//! every string of the report and every metrics label goes through [`crate::redact`].

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use tracing::Instrument as _;

use crate::summary::{Outcome, RunSummary};

/// `[metrics]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Prometheus textfile-collector file, e.g.
    /// `/var/lib/prometheus/node-exporter/cspguard.prom`; none: no metrics file.
    pub textfile: Option<PathBuf>,
}

/// `[reports]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Days a run report is kept (by file age); 0 keeps them forever.
    pub keep_days: u32,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self { keep_days: 30 }
    }
}

/// Errors while writing metrics or reports.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode the run report: {0}")]
    Encode(#[from] serde_json::Error),
}

tokio::task_local! {
    static RUN: RunScope;
}

#[derive(Debug, Clone, Copy)]
struct RunScope {
    correlation_id: uuid::Uuid,
    started: Instant,
}

/// Run `fut` as one run: inside a `run` span carrying a fresh correlation id (so every log line
/// of the run carries it), with the id and the start instant available to
/// [`correlation_id`] and [`elapsed`].
pub async fn in_run<F: std::future::Future>(fut: F) -> F::Output {
    let scope = RunScope {
        correlation_id: uuid::Uuid::new_v4(),
        started: Instant::now(),
    };
    let span = tracing::info_span!("run", correlation_id = %scope.correlation_id);
    // Kept after the run ends: lines that background tasks (a mail connection pool closing)
    // write after the run belong to it; the next run of a daemon sets its own id.
    crate::logging::set_run_correlation(Some(scope.correlation_id.to_string()));
    RUN.scope(scope, fut.instrument(span)).await
}

/// The current run's correlation id (the one sent as `MS-CorrelationId`); a fresh one outside
/// [`in_run`].
pub fn correlation_id() -> uuid::Uuid {
    RUN.try_with(|r| r.correlation_id)
        .unwrap_or_else(|_| uuid::Uuid::new_v4())
}

/// Time since the current run began (zero outside [`in_run`]).
pub fn elapsed() -> Duration {
    RUN.try_with(|r| r.started.elapsed())
        .unwrap_or(Duration::ZERO)
}

/// Await `fut` with a spinner on stderr when stderr is a terminal; plainly otherwise.
pub async fn with_spinner<F: std::future::Future>(message: &str, fut: F) -> F::Output {
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        return fut.await;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    let out = fut.await;
    bar.finish_and_clear();
    out
}

/// The current run's correlation id as text; empty outside [`in_run`].
pub fn current_correlation_id() -> String {
    RUN.try_with(|r| r.correlation_id.to_string())
        .unwrap_or_default()
}

/// A Prometheus label value: known secrets redacted ([`crate::redact`]), then escaped.
fn label(v: &str) -> String {
    crate::redact::redact(v)
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Render the textfile-collector content. `last_success` is the start of the last successful
/// (ok or degraded) run, carried over from the previous file when this run failed.
pub fn render_metrics(r: &RunSummary, last_success: Option<f64>) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let start = r.started_at.as_millisecond() as f64 / 1000.0;
    metric(
        "cspguard_last_run_timestamp_seconds",
        "Start of the last run, Unix time.",
        &[(String::new(), start)],
    );
    metric(
        "cspguard_last_run_duration_seconds",
        "Duration of the last run.",
        &[(String::new(), r.duration_seconds)],
    );
    let outcomes: Vec<(String, f64)> = ["ok", "degraded", "failed"]
        .iter()
        .map(|o| {
            (
                format!("{{outcome=\"{o}\"}}"),
                if r.outcome.as_str() == *o { 1.0 } else { 0.0 },
            )
        })
        .collect();
    metric(
        "cspguard_last_run_outcome",
        "Outcome of the last run (1 for the outcome it had).",
        &outcomes,
    );
    metric(
        "cspguard_last_run_exit_code",
        "Exit code of the last run.",
        &[(String::new(), f64::from(r.exit.code()))],
    );
    let success = if r.outcome == Outcome::Failed {
        last_success
    } else {
        Some(start)
    };
    if let Some(s) = success {
        metric(
            "cspguard_last_success_timestamp_seconds",
            "Start of the last run that did not fail, Unix time.",
            &[(String::new(), s)],
        );
    }
    let per_endpoint = |f: fn(&crate::pc::EndpointStats) -> u64| -> Vec<(String, f64)> {
        r.partner_center
            .endpoints
            .iter()
            .map(|(ep, s)| (format!("{{endpoint=\"{}\"}}", label(ep)), f(s) as f64))
            .collect()
    };
    metric(
        "cspguard_partner_center_requests",
        "Partner Center HTTP requests in the last run, by endpoint (retries included).",
        &per_endpoint(|s| s.calls),
    );
    metric(
        "cspguard_partner_center_throttled",
        "Partner Center 429 answers in the last run, by endpoint.",
        &per_endpoint(|s| s.throttled),
    );
    metric(
        "cspguard_partner_center_errors",
        "Partner Center calls that ended in an error in the last run, by endpoint.",
        &per_endpoint(|s| s.errors),
    );
    metric(
        "cspguard_emails_sent",
        "Emails sent in the last run.",
        &[(String::new(), r.emails_sent as f64)],
    );
    let actions: Vec<(String, f64)> = r
        .actions
        .iter()
        .flat_map(|(kind, by_status)| {
            by_status.iter().map(move |(status, n)| {
                (
                    format!("{{kind=\"{}\",status=\"{}\"}}", label(kind), label(status)),
                    *n as f64,
                )
            })
        })
        .collect();
    metric(
        "cspguard_actions",
        "Actions planned in the last run, by kind and status.",
        &actions,
    );
    let findings: Vec<(String, f64)> = r
        .findings
        .iter()
        .map(|(sev, n)| (format!("{{severity=\"{}\"}}", label(sev)), *n as f64))
        .collect();
    metric(
        "cspguard_findings",
        "Findings of the last run, by severity.",
        &findings,
    );
    metric(
        "cspguard_ops_emails",
        "Ops alert emails sent in the last run (at most one per alert group).",
        &[(String::new(), r.ops_emails as f64)],
    );
    let alerts: Vec<(String, f64)> = r
        .alerts
        .iter()
        .flat_map(|(family, c)| {
            c.by_outcome().into_iter().map(move |(outcome, n)| {
                (
                    format!("{{family=\"{}\",outcome=\"{outcome}\"}}", label(family)),
                    n as f64,
                )
            })
        })
        .collect();
    metric(
        "cspguard_alerts",
        "Findings at the alert severity in the last run, by rule family and what alert hygiene \
         did (sent, grouped, inhibited, silenced, baseline, deferred).",
        &alerts,
    );
    out
}

/// The `cspguard_last_success_timestamp_seconds` value of an existing metrics file.
pub fn previous_last_success(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix("cspguard_last_success_timestamp_seconds "))
        .and_then(|v| v.trim().parse().ok())
}

/// Write `bytes` to `path` atomically: temporary file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ObserveError> {
    let err = |source| ObserveError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// Where run reports go: `runs/` beside the state file.
pub fn reports_dir(state_path: &Path) -> PathBuf {
    state_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("runs")
}

/// Delete `run-*.json` files in `dir` last modified more than `keep_days` days before `now`.
/// Returns the deleted paths. `keep_days = 0` keeps everything.
pub fn prune_reports(
    dir: &Path,
    keep_days: u32,
    now: SystemTime,
) -> Result<Vec<PathBuf>, ObserveError> {
    let mut deleted = Vec::new();
    if keep_days == 0 {
        return Ok(deleted);
    }
    let limit = Duration::from_secs(u64::from(keep_days) * 86_400);
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(deleted),
        Err(source) => {
            return Err(ObserveError::Write {
                path: dir.to_owned(),
                source,
            });
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("run-") && name.ends_with(".json")) {
            continue;
        }
        let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
            continue;
        };
        if now.duration_since(modified).is_ok_and(|age| age > limit) {
            let path = entry.path();
            if std::fs::remove_file(&path).is_ok() {
                deleted.push(path);
            }
        }
    }
    deleted.sort();
    Ok(deleted)
}

/// The JSON run report, every string passed through [`crate::redact`] a last time.
pub fn report_json(summary: &RunSummary) -> Result<Vec<u8>, serde_json::Error> {
    let mut value = serde_json::to_value(summary)?;
    crate::redact::redact_json(&mut value);
    serde_json::to_vec_pretty(&value)
}

/// Write the run report and (when configured) the metrics file, and prune old reports.
/// Failures are logged as warnings: reporting never changes a run's outcome.
pub fn publish(
    state_path: &Path,
    metrics: &MetricsConfig,
    reports: &ReportsConfig,
    summary: &RunSummary,
) {
    let dir = reports_dir(state_path);
    let path = dir.join(format!("run-{}.json", summary.run_id));
    match report_json(summary) {
        Ok(bytes) => {
            if let Err(e) = write_atomic(&path, &bytes, 0o600) {
                tracing::warn!(error = %e, "cannot write the run report");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot encode the run report"),
    }
    match prune_reports(&dir, reports.keep_days, SystemTime::now()) {
        Ok(deleted) if !deleted.is_empty() => {
            tracing::info!(deleted = deleted.len(), "deleted old run reports");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot prune old run reports"),
    }
    if let Some(file) = &metrics.textfile {
        let previous = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| previous_last_success(&t));
        let text = render_metrics(summary, previous);
        if let Err(e) = write_atomic(file, text.as_bytes(), 0o644) {
            tracing::warn!(error = %e, "cannot write the metrics file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_carry_no_known_secret() {
        crate::redact::register("observe-label-s3cret");
        let l = label("GET /v1/customers?token=observe-label-s3cret");
        assert!(!l.contains("observe-label-s3cret"), "{l}");
        assert!(l.contains(crate::redact::REDACTED), "{l}");
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn previous_success_is_read_back() {
        let t = "# HELP x\ncspguard_last_success_timestamp_seconds 1790000000.5\n";
        assert_eq!(previous_last_success(t), Some(1_790_000_000.5));
        assert_eq!(previous_last_success("nothing"), None);
    }
}
