//! The typed summary of one run: the single source for everything that reports a run. The ledger's
//! run record is its [`RunCounts`]; the JSON run report is the summary serialized; the Prometheus
//! metrics are rendered from it (`observe`); the digest's health section reads it (`digest`); and
//! the line `cspguard run` prints is its `Display`.
//!
//! A leaf: it names the mode, the exit code and the call statistics, and nothing that does I/O.
//! `run` builds it; nobody else assembles run counts.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::Serialize;

use crate::exit::Exit;
use crate::mode::Mode;
use crate::pc::CallStats;

/// `ok`, `degraded` or `failed`: how a run ended, in the words of the ledger and the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Degraded,
    Failed,
}

impl Outcome {
    /// The outcome of a run that ends with `exit`.
    pub fn of(exit: Exit) -> Outcome {
        match exit {
            Exit::Ok => Outcome::Ok,
            Exit::Degraded => Outcome::Degraded,
            Exit::Failed | Exit::Config | Exit::Locked => Outcome::Failed,
        }
    }

    /// The outcome as the ledger and the metrics spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Degraded => "degraded",
            Outcome::Failed => "failed",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which kind of run: a full cycle, or `run --only-approved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunScope {
    /// Collect, plan, record, execute, digest.
    #[default]
    Cycle,
    /// Execute only approved actions (and the notices waiting for them).
    OnlyApproved,
}

/// What the plan of a full cycle contributed to the counts (absent for `--only-approved`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    pub customers: usize,
    pub findings: usize,
    pub planned_actions: usize,
    /// Actions recorded or performed only as "would" (dry-run).
    pub would: usize,
    pub partner_center_calls: u64,
    pub throttled: u64,
    /// Customers whose detail (billing profile, subscriptions) was fetched.
    pub detail_fetched: usize,
    /// What happened to today's digest; `None` when sending it failed.
    pub digest: Option<String>,
}

/// The counters recorded with the run in the ledger (and as `counts` in the run report).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    /// `Some(true)` for `--only-approved` runs; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_approved: Option<bool>,
    #[serde(flatten)]
    pub plan: Option<PlanCounts>,
    pub recorded: usize,
    pub sent: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub waiting: usize,
    pub performed: usize,
    pub skipped: usize,
    /// Why the circuit breaker stopped every suspension, if it did.
    pub breaker: Option<String>,
    /// Why the run stopped claiming actions early (e.g. "stopped by SIGTERM"); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    pub uncertain_recovered: usize,
    pub approvals_expired: usize,
}

/// What alert hygiene did with one rule family's findings in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AlertCounts {
    /// Findings in ops emails that went out.
    pub sent: usize,
    /// Findings put into a group email (sent, or waiting to be sent).
    pub grouped: usize,
    pub inhibited: usize,
    pub silenced: usize,
    /// Activity before the first run, summarised in the digest instead.
    pub baseline: usize,
    /// Waiting for their group's next email (`group_interval`).
    pub deferred: usize,
}

impl AlertCounts {
    /// The counts by outcome name, as the metrics label them.
    pub fn by_outcome(&self) -> [(&'static str, usize); 6] {
        [
            ("sent", self.sent),
            ("grouped", self.grouped),
            ("inhibited", self.inhibited),
            ("silenced", self.silenced),
            ("baseline", self.baseline),
            ("deferred", self.deferred),
        ]
    }
}

/// One action and a note about it (the result, or why it waits, was skipped or failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionNote {
    pub key: String,
    pub note: String,
}

/// Per-action notes of a run, printed after its summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionNotes {
    pub performed: Vec<ActionNote>,
    pub skipped: Vec<ActionNote>,
    pub waiting: Vec<ActionNote>,
    pub failed: Vec<ActionNote>,
}

/// One run, as every report of it sees it. Serializes as the JSON run report
/// (`<state dir>/runs/run-<id>.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub run_id: i64,
    /// The run's correlation id (empty outside a run span).
    pub correlation_id: String,
    pub version: String,
    pub mode: Mode,
    #[serde(skip)]
    pub scope: RunScope,
    /// The run's `now`.
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub duration_seconds: f64,
    pub outcome: Outcome,
    #[serde(rename = "exit_code", serialize_with = "exit_code")]
    pub exit: Exit,
    /// Partner Center calls by endpoint template, with retries, 429s and errors.
    pub partner_center: CallStats,
    /// Emails sent, the digest included.
    pub emails_sent: usize,
    /// Planned actions: kind -> status -> count.
    pub actions: BTreeMap<String, BTreeMap<String, u64>>,
    /// Findings by severity (`info`, `warning`, `critical`).
    pub findings: BTreeMap<String, u64>,
    /// Ops alert emails sent (at most one per alert group, at most `[alerts] max_groups`).
    pub ops_emails: usize,
    /// Alert hygiene per rule family.
    pub alerts: BTreeMap<String, AlertCounts>,
    /// The counters recorded with the run in the ledger.
    pub counts: RunCounts,
    /// Errors of the run, in words.
    pub errors: Vec<String>,
    #[serde(skip)]
    pub notes: ActionNotes,
}

fn exit_code<S: serde::Serializer>(exit: &Exit, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(exit.code())
}

impl RunSummary {
    /// A summary of run `run_id` started at `started_at`, with nothing counted yet and exit ok.
    pub fn new(run_id: i64, mode: Mode, scope: RunScope, started_at: Timestamp) -> RunSummary {
        RunSummary {
            run_id,
            correlation_id: String::new(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            mode,
            scope,
            started_at,
            finished_at: started_at,
            duration_seconds: 0.0,
            outcome: Outcome::Ok,
            exit: Exit::Ok,
            partner_center: CallStats::default(),
            emails_sent: 0,
            actions: BTreeMap::new(),
            findings: BTreeMap::new(),
            ops_emails: 0,
            alerts: BTreeMap::new(),
            counts: RunCounts::default(),
            errors: Vec::new(),
            notes: ActionNotes::default(),
        }
    }

    /// Set how the run ends (the exit code and the outcome that goes with it).
    pub fn set_exit(&mut self, exit: Exit) {
        self.exit = exit;
        self.outcome = Outcome::of(exit);
    }

    /// Customers whose detail was fetched (0 for `--only-approved`).
    pub fn detail_fetched(&self) -> usize {
        self.counts.plan.as_ref().map_or(0, |p| p.detail_fetched)
    }

    /// Actions that would have been recorded or performed outside dry-run.
    pub fn would(&self) -> usize {
        self.counts.plan.as_ref().map_or(0, |p| p.would)
    }

    /// The ledger's run record: the counts as JSON.
    pub fn counts_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.counts).unwrap_or_default()
    }

    /// The lines for standard error: the circuit breaker and every failure.
    pub fn alerts(&self) -> Alerts<'_> {
        Alerts(self)
    }
}

/// The summary line, then what enforcement did (what `cspguard run` prints on standard output).
impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (c, id, mode) = (&self.counts, self.run_id, self.mode);
        let stopped = c
            .stopped
            .as_ref()
            .map(|why| format!(" ({why})"))
            .unwrap_or_default();
        match (self.scope, &c.plan) {
            (RunScope::Cycle, plan) => {
                let plan = plan.clone().unwrap_or_default();
                let would = if mode == Mode::DryRun {
                    format!(", {} would be recorded (dry-run)", plan.would)
                } else {
                    String::new()
                };
                write!(
                    f,
                    "run {id} ({mode}): {} findings, {} actions planned, {} recorded, {} sent, {} \
                     failed, {} waiting{would}; {} Partner Center calls; outcome {}{stopped}",
                    plan.findings,
                    plan.planned_actions,
                    c.recorded,
                    c.sent,
                    c.failed,
                    c.waiting,
                    plan.partner_center_calls,
                    self.outcome,
                )?;
            }
            (RunScope::OnlyApproved, _) => {
                write!(
                    f,
                    "run {id} ({mode}, only approved): {} performed, {} not performed, {} sent, {} \
                     failed, {} waiting; outcome {}{stopped}",
                    c.performed, c.skipped, c.sent, c.failed, c.waiting, self.outcome,
                )?;
                for n in &self.notes.waiting {
                    write!(f, "\nwaiting: {}: {}", n.key, n.note)?;
                }
            }
        }
        for n in &self.notes.performed {
            write!(f, "\nperformed: {}: {}", n.key, n.note)?;
        }
        for n in &self.notes.skipped {
            write!(f, "\nnot performed: {}: {}", n.key, n.note)?;
        }
        Ok(())
    }
}

/// The circuit breaker and every failure of a run, one per line (see [`RunSummary::alerts`]).
pub struct Alerts<'a>(&'a RunSummary);

impl Alerts<'_> {
    /// True when there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.0.counts.breaker.is_none() && self.0.notes.failed.is_empty() && self.0.exit == Exit::Ok
    }
}

impl fmt::Display for Alerts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines: Vec<String> = Vec::new();
        if let Some(why) = &self.0.counts.breaker {
            lines.push(format!("CIRCUIT BREAKER: {why}"));
        }
        for n in &self.0.notes.failed {
            lines.push(format!("failed: {}: {}", n.key, n.note));
        }
        // The errors after the failed actions' lines: failed collection parts, the receivables
        // import, the digest. Shown for any run that did not end ok.
        if self.0.exit != Exit::Ok {
            let extra = self.0.errors.iter().skip(self.0.notes.failed.len());
            lines.extend(extra.map(|e| format!("{}: {e}", self.0.outcome)));
            if lines.is_empty() {
                lines.push(format!("run {} ended {}", self.0.run_id, self.0.outcome));
            }
        }
        f.write_str(&lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_serialize_as_the_ledger_record() {
        let mut counts = RunCounts {
            plan: Some(PlanCounts::default()),
            ..RunCounts::default()
        };
        let v = serde_json::to_value(&counts).unwrap();
        assert_eq!(v["digest"], serde_json::Value::Null);
        assert!(v.get("only_approved").is_none(), "{v}");
        assert_eq!(v.as_object().map(|o| o.len()), Some(18), "{v}");
        counts.plan = None;
        counts.only_approved = Some(true);
        let v = serde_json::to_value(&counts).unwrap();
        assert_eq!(v["only_approved"], true);
        assert_eq!(v.as_object().map(|o| o.len()), Some(11), "{v}");
    }

    #[test]
    fn the_report_names_outcome_and_exit_code() {
        let mut s = RunSummary::new(7, Mode::Notify, RunScope::Cycle, Timestamp::UNIX_EPOCH);
        s.set_exit(Exit::Degraded);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["outcome"], "degraded");
        assert_eq!(v["exit_code"], 3);
        assert_eq!(v["mode"], "notify");
        assert!(v.get("notes").is_none() && v.get("scope").is_none(), "{v}");
    }
}
