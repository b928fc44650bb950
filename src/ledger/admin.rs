//! Ledger administration, what `status`, `history`, `pause`, `resume`, `approve`, `reject`,
//! `retry` and `resolve` do (`status` also lists the customers whose dunning an uncertain action
//! blocks, and since when; `pause`/`resume` check their target against what the last run saw): the requests and their output (comfy-table tables or JSON); all state changes go
//! through [`Ledger`], which records who (the OS user) and when. Invariants: the clock and
//! the user are passed in (`now`, `who`) so handlers are testable; read-only commands never
//! create, migrate or change a state file (`Ledger::open_read_only`); multi-id commands check
//! every id before changing any, so a typo changes nothing; nothing here executes an action
//! (that is a later run's job).

use std::io::Write;
use std::path::Path;

use comfy_table::Table;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::{
    ActionRow, ActionStatus, Blocked, Hold, KnownCustomer, Ledger, LedgerError, NoticeRow,
    Resolved, RunRow, Settlement,
};
use crate::output::OutputFormat;

/// The widest a table is printed by default, in columns.
pub const NARROW_COLUMNS: u16 = 100;

/// How wide operator tables are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Width {
    /// The columns an operator needs, wrapped to fit [`NARROW_COLUMNS`] (the default).
    #[default]
    Narrow,
    /// Every column (idempotency keys, attempts, who, tenant ids), never wrapped (`--wide`).
    Wide,
}

/// How operator tables are shown: times in the configured time zone, at a width.
#[derive(Debug, Clone)]
pub struct View {
    pub tz: TimeZone,
    pub width: Width,
}

impl Default for View {
    /// Narrow, in UTC.
    fn default() -> View {
        View {
            tz: TimeZone::UTC,
            width: Width::Narrow,
        }
    }
}

/// What a table needs to show people: the view, and company names by lower-case tenant id
/// (the ledger's record of the last customer list; a customer without one shows its id).
struct Show<'a> {
    view: &'a View,
    names: std::collections::BTreeMap<String, String>,
}

impl Show<'_> {
    fn new<'v>(ledger: &Ledger, view: &'v View) -> Result<Show<'v>, LedgerError> {
        Ok(Show {
            view,
            names: ledger.customer_names()?,
        })
    }

    /// The customer as people know it: the company name (with the tenant id when wide), else the
    /// id.
    fn customer(&self, id: Option<&str>) -> String {
        let Some(id) = id else {
            return String::new();
        };
        match (self.names.get(&id.to_ascii_lowercase()), self.view.width) {
            (Some(name), Width::Narrow) => name.clone(),
            (Some(name), Width::Wide) => format!("{name} ({id})"),
            (None, _) => id.to_owned(),
        }
    }

    /// A time in the configured zone, to the minute (to the second when wide).
    fn time(&self, t: Timestamp) -> String {
        let z = t.to_zoned(self.view.tz.clone());
        let format = match self.view.width {
            Width::Narrow => "%Y-%m-%d %H:%M %Z",
            Width::Wide => "%Y-%m-%d %H:%M:%S %Z",
        };
        z.strftime(format).to_string()
    }

    fn opt_time(&self, t: Option<Timestamp>) -> String {
        t.map(|t| self.time(t)).unwrap_or_default()
    }

    /// A table with `narrow` or `wide` headers, wrapped to [`NARROW_COLUMNS`] when narrow.
    fn table(&self, narrow: &[&str], wide: &[&str]) -> Table {
        let mut t = Table::new();
        match self.view.width {
            Width::Narrow => {
                t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
                    .set_width(NARROW_COLUMNS)
                    .set_header(narrow);
            }
            Width::Wide => {
                t.set_header(wide);
            }
        }
        t
    }

    fn wide(&self) -> bool {
        self.view.width == Width::Wide
    }
}

/// A request that reads or changes the ledger.
#[derive(Debug)]
pub enum AdminRequest {
    /// Show the last runs, pending approvals, uncertain and failed actions, and active holds.
    Status(StatusRequest),
    /// Show every notice and action with its outcome.
    History(HistoryRequest),
    /// Pause dunning and enforcement for a customer (or one invoice) until a date.
    Pause(PauseRequest),
    /// End a pause early (all of a customer's holds, or one invoice's).
    Resume(ResumeRequest),
    /// Approve actions that wait for approval (ids or idempotency keys).
    Approve(ApproveRequest),
    /// Reject actions that wait for approval; they will never run.
    Reject(RejectRequest),
    /// Make an uncertain or failed action eligible again, after a person has checked it.
    Retry(RetryRequest),
    /// Settle an uncertain action: it was sent (done) or it was not (eligible again).
    Resolve(ResolveRequest),
}

/// `cspguard resolve`.
#[derive(Debug)]
pub struct ResolveRequest {
    /// Action id (or idempotency key).
    pub id: String,
    /// What the person found out.
    pub settlement: Settlement,
    /// Why (recorded with the settlement).
    pub reason: String,
    /// Output format.
    pub format: OutputFormat,
}

/// `cspguard status`.
#[derive(Debug)]
pub struct StatusRequest {
    /// How many recent runs to show.
    pub runs: u32,
    /// Output format.
    pub format: OutputFormat,
}

/// `cspguard history`.
#[derive(Debug)]
pub struct HistoryRequest {
    /// Only this customer.
    pub customer: Option<String>,
    /// Only entries changed on or after this date (YYYY-MM-DD, UTC).
    pub since: Option<Date>,
    /// Output format.
    pub format: OutputFormat,
}

/// `cspguard pause`.
#[derive(Debug)]
pub struct PauseRequest {
    /// Customer id.
    pub customer: String,
    /// Pause only this invoice.
    pub invoice: Option<String>,
    /// Last day of the pause (YYYY-MM-DD, UTC, inclusive).
    pub until: Date,
    /// Why (promise to pay, dispute, …).
    pub reason: String,
    /// Output format.
    pub format: OutputFormat,
}

/// `cspguard resume`.
#[derive(Debug)]
pub struct ResumeRequest {
    /// Customer id.
    pub customer: String,
    /// Resume only this invoice (default: every hold of the customer).
    pub invoice: Option<String>,
    /// Output format.
    pub format: OutputFormat,
}

/// `cspguard approve`.
#[derive(Debug)]
pub struct ApproveRequest {
    /// Action ids (or idempotency keys).
    pub ids: Vec<String>,
    /// Output format.
    pub format: OutputFormat,
}

/// `cspguard reject`.
#[derive(Debug)]
pub struct RejectRequest {
    /// Action ids (or idempotency keys).
    pub ids: Vec<String>,
    /// Why (recorded with the rejection).
    pub reason: String,
    /// Output format.
    pub format: OutputFormat,
}

/// `cspguard retry`.
#[derive(Debug)]
pub struct RetryRequest {
    /// Action id (or idempotency key).
    pub id: String,
    /// Output format.
    pub format: OutputFormat,
}

/// Errors of ledger administration.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The ledger refused or failed (unknown id, wrong state, locked, corrupt, …).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// Encoding JSON output failed.
    #[error("cannot encode JSON output: {0}")]
    Json(#[from] serde_json::Error),
}

impl crate::exit::ExitStatus for AdminError {
    /// The documented exit code (see `LedgerError::exit`; 1 for output errors).
    fn exit(&self) -> crate::exit::Exit {
        match self {
            AdminError::Ledger(e) => e.exit(),
            AdminError::Output(_) | AdminError::Json(_) => crate::exit::Exit::Failed,
        }
    }
}

/// Carry out one request against the state file at `state_path`.
///
/// Tables follow `view` (time zone, width); JSON is always complete and in UTC.
pub fn run(
    cmd: AdminRequest,
    state_path: &Path,
    (now, who): (Timestamp, &str),
    view: &View,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    match cmd {
        AdminRequest::Status(a) => {
            let ledger = Ledger::open_read_only(state_path)?;
            status(&ledger, &a, now, &Show::new(&ledger, view)?, out)
        }
        AdminRequest::History(a) => {
            let ledger = Ledger::open_read_only(state_path)?;
            history(&ledger, &a, &Show::new(&ledger, view)?, out)
        }
        AdminRequest::Pause(a) => {
            let ledger = Ledger::open(state_path)?;
            let show = Show::new(&ledger, view)?;
            let target = ledger.resolve_customer(&a.customer)?;
            let invoice = a
                .invoice
                .as_deref()
                .map(|i| ledger.resolve_invoice(&target.customer, i))
                .transpose()?;
            say_resolved(out, a.format, &a.customer, &target)?;
            let hold = ledger.place_hold(
                &target.customer.id,
                invoice.as_deref(),
                &a.reason,
                a.until,
                who,
                now,
            )?;
            write_holds(out, a.format, &[hold], "Placed hold", &show)
        }
        AdminRequest::Resume(a) => {
            let ledger = Ledger::open(state_path)?;
            let show = Show::new(&ledger, view)?;
            let customer = resume_target(&ledger, &a.customer, now, out, a.format)?;
            let released = ledger.release_holds(&customer, a.invoice.as_deref(), who, now)?;
            write_holds(out, a.format, &released, "Released holds", &show)
        }
        AdminRequest::Approve(a) => {
            let ledger = Ledger::open(state_path)?;
            let show = Show::new(&ledger, view)?;
            let rows = resolve_all(
                &ledger,
                &a.ids,
                &[ActionStatus::AwaitingApproval],
                "approve",
            )?;
            let mut done = Vec::new();
            for row in rows {
                done.push(ledger.approve(row.id, who, now)?);
            }
            for row in done.iter().filter(|r| r.kind == IRREVERSIBLE_KIND) {
                let warning = irreversible_warning(row);
                match a.format {
                    OutputFormat::Table => writeln!(out, "{warning}")?,
                    OutputFormat::Json => eprintln!("{warning}"),
                }
            }
            write_actions(out, a.format, &done, "Approved", &show)
        }
        AdminRequest::Reject(a) => {
            let ledger = Ledger::open(state_path)?;
            let show = Show::new(&ledger, view)?;
            let allowed = [ActionStatus::AwaitingApproval, ActionStatus::Approved];
            let rows = resolve_all(&ledger, &a.ids, &allowed, "reject")?;
            let mut done = Vec::new();
            for row in rows {
                done.push(ledger.reject(row.id, who, &a.reason, now)?);
            }
            write_actions(out, a.format, &done, "Rejected", &show)
        }
        AdminRequest::Retry(a) => {
            let ledger = Ledger::open(state_path)?;
            let show = Show::new(&ledger, view)?;
            let row = resolve(&ledger, &a.id)?;
            let row = ledger.retry(row.id, who, now)?;
            write_actions(
                out,
                a.format,
                &[row],
                "Eligible again (a later run executes it)",
                &show,
            )
        }
        AdminRequest::Resolve(a) => {
            let ledger = Ledger::open(state_path)?;
            let show = Show::new(&ledger, view)?;
            let row = resolve(&ledger, &a.id)?;
            let row = ledger.settle_uncertain(row.id, a.settlement, who, &a.reason, now)?;
            let title = match a.settlement {
                Settlement::Sent => "Settled as sent (done; dunning moves on)",
                Settlement::NotSent => {
                    "Settled as not sent (eligible again; a later run performs it)"
                }
            };
            write_actions(out, a.format, &[row], title, &show)
        }
    }
}

/// Say what a typed target resolved to, unless it was the customer id itself (on standard error
/// for JSON output, so standard output stays JSON).
fn say_resolved(
    out: &mut dyn Write,
    format: OutputFormat,
    typed: &str,
    target: &Resolved,
) -> Result<(), AdminError> {
    if target.by == "id" {
        return Ok(());
    }
    let c = &target.customer;
    let line = format!(
        "{typed:?} is the {} of {} ({}): customer {}",
        target.by,
        c.company_name,
        c.domain.as_deref().unwrap_or("no domain"),
        c.id
    );
    match format {
        OutputFormat::Table => writeln!(out, "{line}")?,
        OutputFormat::Json => eprintln!("{line}"),
    }
    Ok(())
}

/// The customer whose holds `resume` releases: the typed id when it has active holds (also for
/// a customer that has since left the tenant), else a known customer it resolves to.
fn resume_target(
    ledger: &Ledger,
    typed: &str,
    now: Timestamp,
    out: &mut dyn Write,
    format: OutputFormat,
) -> Result<String, AdminError> {
    let held = ledger
        .active_holds(now)?
        .into_iter()
        .find(|h| h.customer.eq_ignore_ascii_case(typed.trim()));
    if let Some(h) = held {
        return Ok(h.customer);
    }
    let target = ledger.resolve_customer(typed)?;
    say_resolved(out, format, typed, &target)?;
    Ok(target.customer.id)
}

/// The ledger kind of the one action that cannot be undone.
const IRREVERSIBLE_KIND: &str = "cancel_azure_subscription";

/// The warning printed when a person approves an irreversible action.
fn irreversible_warning(row: &ActionRow) -> String {
    let sub = row
        .payload
        .get("azure_subscription_id")
        .and_then(|v| v.as_str())
        .unwrap_or("(unknown)");
    format!(
        "IRREVERSIBLE: action {} cancels Azure subscription {sub} of customer {} as compromised; \
         once it runs, the subscription and its resources cannot be restored. To stop it, reject \
         it before the next run: cspguard reject {} --reason \"...\"",
        row.id,
        row.customer.as_deref().unwrap_or("(unknown)"),
        row.id
    )
}

/// The OS user: `$USER`, then `$LOGNAME`, else `uid:<n>` from /proc/self/status.
pub fn current_os_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            return v.trim().to_string();
        }
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| uid_from_status(&s))
        .map_or_else(|| "unknown".to_string(), |uid| format!("uid:{uid}"))
}

/// The real UID from the text of /proc/self/status.
fn uid_from_status(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
}

/// An action by numeric id or by idempotency key.
fn resolve(ledger: &Ledger, id: &str) -> Result<ActionRow, LedgerError> {
    let found = match id.trim().parse::<i64>() {
        Ok(n) => ledger.action(n)?,
        Err(_) => ledger.action_by_key(id)?,
    };
    found.ok_or_else(|| LedgerError::not_found("action", id))
}

/// Resolve every id and check its state before changing anything.
fn resolve_all(
    ledger: &Ledger,
    ids: &[String],
    allowed: &[ActionStatus],
    verb: &'static str,
) -> Result<Vec<ActionRow>, LedgerError> {
    let mut rows: Vec<ActionRow> = Vec::new();
    for id in ids {
        let row = super::actions::in_state(resolve(ledger, id)?, allowed, verb)?;
        if !rows.iter().any(|r| r.id == row.id) {
            rows.push(row);
        }
    }
    Ok(rows)
}

#[derive(Serialize)]
struct StatusReport {
    runs: Vec<RunRow>,
    pending_approvals: Vec<ActionRow>,
    uncertain: Vec<ActionRow>,
    /// Customers whose dunning waits on an uncertain action, and since when.
    dunning_blocked: Vec<Blocked>,
    failed: Vec<ActionRow>,
    holds: Vec<Hold>,
    silences: Vec<super::Silence>,
}

/// The customers whose dunning is blocked by an uncertain dunning action (`notice/…`,
/// `suspend/…`), oldest first, named from the customers the last run saw.
pub fn dunning_blocked(ledger: &Ledger) -> Result<Vec<Blocked>, LedgerError> {
    let known: Vec<KnownCustomer> = ledger.known_customers()?;
    super::dunning_blocked(ledger, &|customer| {
        known
            .iter()
            .find(|k| k.id.eq_ignore_ascii_case(customer))
            .map(|k| k.company_name.clone())
    })
}

fn status(
    ledger: &Ledger,
    args: &StatusRequest,
    now: Timestamp,
    show: &Show<'_>,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let report = StatusReport {
        runs: ledger.recent_runs(args.runs)?,
        pending_approvals: ledger.actions_with_status(&[ActionStatus::AwaitingApproval])?,
        uncertain: ledger.actions_with_status(&[ActionStatus::Uncertain])?,
        dunning_blocked: dunning_blocked(ledger)?,
        failed: ledger.actions_with_status(&[ActionStatus::Failed])?,
        holds: ledger.active_holds(now)?,
        silences: ledger.silences(now, false)?,
    };
    if args.format == OutputFormat::Json {
        return write_json(out, &report);
    }
    writeln!(out, "Last runs")?;
    let header = ["Run", "Mode", "Started", "Finished", "Outcome", "Errors"];
    let mut t = show.table(&header, &header);
    for r in &report.runs {
        t.add_row([
            r.id.to_string(),
            r.mode.clone(),
            show.time(r.started_at),
            show.opt_time(r.finished_at),
            r.outcome.clone().unwrap_or_else(|| "(unfinished)".into()),
            r.errors.len().to_string(),
        ]);
    }
    write_table(out, &t, report.runs.is_empty())?;
    for (title, rows) in [
        ("Pending approvals", &report.pending_approvals),
        (
            "Uncertain (check whether it happened, then `cspguard resolve ID --sent` or \
             `--not-sent`)",
            &report.uncertain,
        ),
        ("Failed", &report.failed),
    ] {
        writeln!(out, "\n{title}")?;
        write_table(out, &action_table(rows, show), rows.is_empty())?;
    }
    writeln!(out, "\nDunning blocked by an uncertain action")?;
    write_table(
        out,
        &blocked_table(&report.dunning_blocked),
        report.dunning_blocked.is_empty(),
    )?;
    writeln!(out, "\nActive holds")?;
    write_table(
        out,
        &hold_table(&report.holds, show),
        report.holds.is_empty(),
    )?;
    writeln!(
        out,
        "\nActive silences (`cspguard silence list --all` shows ended ones)"
    )?;
    write_table(
        out,
        &super::silence_table(&report.silences, now),
        report.silences.is_empty(),
    )?;
    Ok(())
}

#[derive(Serialize)]
struct HistoryEntry {
    time: Timestamp,
    #[serde(rename = "type")]
    entry_type: &'static str,
    id: i64,
    key: Option<String>,
    customer: Option<String>,
    what: String,
    outcome: String,
    detail: String,
}

fn history(
    ledger: &Ledger,
    args: &HistoryRequest,
    show: &Show<'_>,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let since = args
        .since
        .map(|d| d.to_zoned(TimeZone::UTC).map(|z| z.timestamp()))
        .transpose()
        .map_err(|e| LedgerError::InvalidInput {
            detail: format!("--since: {e}"),
        })?;
    let customer = args.customer.as_deref();
    let actions = ledger.actions(customer, since)?;
    let notices = ledger.notices(customer, since)?;
    if args.format == OutputFormat::Json {
        let mut entries: Vec<HistoryEntry> = actions.into_iter().map(action_entry).collect();
        entries.extend(notices.into_iter().map(notice_entry));
        entries.sort_by(|a, b| (a.time, a.entry_type, a.id).cmp(&(b.time, b.entry_type, b.id)));
        return write_json(out, &entries);
    }
    writeln!(out, "Notices (emails sent)")?;
    write_table(out, &notice_table(&notices, show), notices.is_empty())?;
    writeln!(out, "\nActions")?;
    let mut t = show.table(
        &["Updated", "ID", "Customer", "Action", "Status", "Note"],
        &[
            "Updated", "ID", "Key", "Customer", "Action", "Outcome", "Detail",
        ],
    );
    let mut actions = actions;
    actions.sort_by_key(|a| (a.updated_at, a.id));
    for a in &actions {
        let customer = show.customer(a.customer.as_deref());
        let outcome = format!("{} (attempts {})", a.status, a.attempts);
        if show.wide() {
            let detail = action_detail(a);
            t.add_row([
                show.time(a.updated_at),
                a.id.to_string(),
                a.key.clone(),
                customer,
                a.kind.clone(),
                outcome,
                detail,
            ]);
        } else {
            t.add_row([
                show.time(a.updated_at),
                a.id.to_string(),
                customer,
                a.kind.clone(),
                a.status.to_string(),
                action_note(a),
            ]);
        }
    }
    write_table(out, &t, actions.is_empty())?;
    Ok(())
}

fn action_detail(a: &ActionRow) -> String {
    match a.status {
        ActionStatus::Done => a.result.as_ref().map(|r| r.to_string()).unwrap_or_default(),
        ActionStatus::Cancelled => format!(
            "by {}: {}",
            a.rejected_by.clone().unwrap_or_default(),
            a.rejection_reason.clone().unwrap_or_default()
        ),
        _ => a.last_error.clone().unwrap_or_else(|| a.reason.clone()),
    }
}

/// The short note of an action for people: who cancelled it and why, its last error, else why
/// it was planned.
fn action_note(a: &ActionRow) -> String {
    match a.status {
        ActionStatus::Cancelled if a.rejected_by.is_some() => action_detail(a),
        _ => a.last_error.clone().unwrap_or_else(|| a.reason.clone()),
    }
}

fn action_entry(a: ActionRow) -> HistoryEntry {
    HistoryEntry {
        time: a.updated_at,
        entry_type: "action",
        id: a.id,
        detail: action_detail(&a),
        outcome: format!("{} (attempts {})", a.status, a.attempts),
        key: Some(a.key),
        customer: a.customer,
        what: a.kind,
    }
}

fn notice_entry(n: NoticeRow) -> HistoryEntry {
    HistoryEntry {
        time: n.sent_at,
        entry_type: "notice",
        id: n.id,
        key: n.action_key,
        customer: n.customer,
        what: format!("{} ({})", n.template, n.locale),
        outcome: format!("sent to {}", n.recipient),
        detail: n.message_id,
    }
}

fn notice_table(rows: &[NoticeRow], show: &Show<'_>) -> Table {
    let mut t = show.table(
        &["Sent", "Customer", "Email", "Outcome"],
        &[
            "Sent",
            "Notice",
            "Customer",
            "Email",
            "Outcome",
            "Action key",
            "Message-ID",
        ],
    );
    for n in rows {
        let customer = match &n.customer {
            Some(c) => show.customer(Some(c)),
            None => "(ops)".to_owned(),
        };
        let email = format!("{} ({})", n.template, n.locale);
        let outcome = format!("sent to {}", n.recipient);
        if show.wide() {
            t.add_row([
                show.time(n.sent_at),
                n.id.to_string(),
                customer,
                email,
                outcome,
                n.action_key.clone().unwrap_or_default(),
                n.message_id.clone(),
            ]);
        } else {
            t.add_row([show.time(n.sent_at), customer, email, outcome]);
        }
    }
    t
}

fn action_table(rows: &[ActionRow], show: &Show<'_>) -> Table {
    let mut t = show.table(
        &[
            "ID", "Customer", "Action", "Status", "Updated", "By", "Note",
        ],
        &[
            "ID", "Key", "Kind", "Customer", "Status", "Attempts", "Updated", "By", "Note",
        ],
    );
    for a in rows {
        let by = a
            .retried_by
            .clone()
            .or_else(|| a.rejected_by.clone())
            .or_else(|| a.approved_by.clone())
            .unwrap_or_default();
        let note = a
            .rejection_reason
            .clone()
            .or_else(|| a.last_error.clone())
            .unwrap_or_else(|| a.reason.clone());
        let customer = show.customer(a.customer.as_deref());
        if show.wide() {
            t.add_row([
                a.id.to_string(),
                a.key.clone(),
                a.kind.clone(),
                customer,
                a.status.to_string(),
                a.attempts.to_string(),
                show.time(a.updated_at),
                by,
                note,
            ]);
        } else {
            t.add_row([
                a.id.to_string(),
                customer,
                a.kind.clone(),
                a.status.to_string(),
                show.time(a.updated_at),
                by,
                note,
            ]);
        }
    }
    t
}

fn blocked_table(rows: &[Blocked]) -> Table {
    let mut t = Table::new();
    t.set_header(["Customer", "Blocked since", "Action", "Settle with"]);
    for b in rows {
        let who = match &b.company_name {
            Some(n) => format!("{n} ({})", b.customer),
            None => b.customer.clone(),
        };
        t.add_row([
            who,
            b.since.to_string(),
            b.key.clone(),
            format!(
                "cspguard resolve {} --sent|--not-sent --reason ...",
                b.action_id
            ),
        ]);
    }
    t
}

fn hold_table(rows: &[Hold], show: &Show<'_>) -> Table {
    let mut t = show.table(
        &[
            "Hold",
            "Customer",
            "Invoice",
            "Until",
            "Reason",
            "Placed by",
        ],
        &[
            "Hold",
            "Customer",
            "Invoice",
            "Until",
            "Reason",
            "Placed by",
            "Placed at",
            "Released",
        ],
    );
    for h in rows {
        let customer = show.customer(Some(&h.customer));
        let invoice = h.invoice.clone().unwrap_or_else(|| "(all)".into());
        if show.wide() {
            t.add_row([
                h.id.to_string(),
                customer,
                invoice,
                h.until.to_string(),
                h.reason.clone(),
                h.placed_by.clone(),
                show.time(h.placed_at),
                match (&h.released_by, h.released_at) {
                    (Some(by), Some(at)) => format!("{by} at {}", show.time(at)),
                    _ => String::new(),
                },
            ]);
        } else {
            t.add_row([
                h.id.to_string(),
                customer,
                invoice,
                h.until.to_string(),
                h.reason.clone(),
                h.placed_by.clone(),
            ]);
        }
    }
    t
}

fn write_actions(
    out: &mut dyn Write,
    format: OutputFormat,
    rows: &[ActionRow],
    title: &str,
    show: &Show<'_>,
) -> Result<(), AdminError> {
    write_rows(out, format, (title, rows), |r| action_table(r, show))
}

fn write_holds(
    out: &mut dyn Write,
    format: OutputFormat,
    rows: &[Hold],
    title: &str,
    show: &Show<'_>,
) -> Result<(), AdminError> {
    write_rows(out, format, (title, rows), |r| hold_table(r, show))
}

/// Rows as JSON, or under `title` as the table `table` makes of them.
fn write_rows<T: serde::Serialize>(
    out: &mut dyn Write,
    format: OutputFormat,
    (title, rows): (&str, &[T]),
    table: impl FnOnce(&[T]) -> Table,
) -> Result<(), AdminError> {
    if format == OutputFormat::Json {
        return write_json(out, &rows);
    }
    writeln!(out, "{title}")?;
    write_table(out, &table(rows), rows.is_empty())
}

fn write_table(out: &mut dyn Write, t: &Table, empty: bool) -> Result<(), AdminError> {
    if empty {
        writeln!(out, "(none)")?;
    } else {
        writeln!(out, "{t}")?;
    }
    Ok(())
}

fn write_json(out: &mut dyn Write, value: &impl Serialize) -> Result<(), AdminError> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_is_read_from_proc_status_text() {
        let text = "Name:\tcspguard\nUmask:\t0022\nUid:\t1001\t1001\t1001\t1001\nGid:\t1\n";
        assert_eq!(uid_from_status(text), Some(1001));
        assert_eq!(uid_from_status("Name:\tx\n"), None);
        assert_eq!(uid_from_status("Uid:\tnotanumber\n"), None);
    }
}
