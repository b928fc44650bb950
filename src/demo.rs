//! The demo's scenario (what `cspguard demo` shows): a scripted tenant (late payers at every
//! ladder stage, a partial payer, a budget and a forecast breach, a fraud event, an admin grant, a
//! sign-up burst, plus quiet customers), its receivables export, and the real run cycle in
//! `notify` mode over several simulated days against the in-process Partner Center simulator on
//! 127.0.0.1, with file mail in `<dir>/outbox`. Each day gets a fresh simulator whose clock is
//! that day and whose tenant is the previous day's (suspensions carry over); the ledger carries
//! over, so the dunning ladder escalates. The whole lifecycle is shown: on [`APPROVAL_DAY`] the
//! demo approves Tailspin Toys' planned suspension as a person would (`cspguard approve`), carries
//! it out (`cspguard run --only-approved`), the customer then pays (the demo edits its receivables
//! export) and the next day's run reactivates it. The command line drives the days and prints;
//! this module sets each day up and describes what happened.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::config::{Config, ConfigError};
use crate::exit::{Exit, ExitStatus};
use crate::ledger::{ActionStatus, Ledger, LedgerError, LedgerView};
use crate::sim::scenario::{self, Scenario};
use crate::sim::{SimConfig, SimError, SimHandle, Simulator};

/// Simulated days, relative to today.
pub const DAYS: &[i64] = &[0, 6, 13, 14, 21];

/// The index (in [`DAYS`]) of the day whose planned suspension the demo approves and carries
/// out; the customer pays after it, and the next day's run reactivates it.
pub const APPROVAL_DAY: usize = 2;

/// The customer whose suspension the demo approves, and the invoice it then pays.
const APPROVED_CUSTOMER: &str = scenario::ids::REMINDER_2;
const APPROVED_INVOICE: &str = "INV-1002";

/// Errors while setting up the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("time zone database")]
    TimeZone(#[source] jiff::Error),
    #[error("cannot clear {path}")]
    Clear {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Fs(#[from] crate::fsio::FsError),
    #[error("simulated day")]
    Day(#[source] jiff::Error),
    #[error("cannot start the simulator")]
    Simulator(#[source] SimError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl ExitStatus for DemoError {
    fn exit(&self) -> Exit {
        match self {
            DemoError::Config(e) => e.exit(),
            DemoError::Ledger(e) => e.exit(),
            _ => Exit::Failed,
        }
    }
}

/// The demo in `dir`: the scripted tenant and the first simulated morning.
pub struct Demo {
    dir: PathBuf,
    tz: TimeZone,
    start: Timestamp,
    scenario: Scenario,
    /// The simulated tenant as the last day left it (suspensions carry over).
    tenant: crate::sim::dataset::Dataset,
}

/// One simulated day: its simulator (shut it down after the run), config and `now`.
pub struct Day {
    pub sim: SimHandle,
    pub config: Config,
    pub now: Timestamp,
    /// What to print before the day's run.
    pub heading: String,
}

impl Demo {
    /// Clear `dir`'s state and outbox and script a tenant with `customers` quiet customers.
    pub fn prepare(dir: &Path, customers: usize) -> Result<Demo, DemoError> {
        fresh_dir(dir)?;
        let tz = TimeZone::get("Europe/Stockholm").map_err(DemoError::TimeZone)?;
        let today = Timestamp::now().to_zoned(tz.clone()).date();
        let start = today
            .at(9, 0, 0, 0)
            .to_zoned(tz.clone())
            .map_err(DemoError::Day)?
            .timestamp();
        let scenario = scenario::demo_tenant(start, &tz, customers);
        Ok(Demo {
            dir: dir.to_owned(),
            tz,
            start,
            tenant: scenario.dataset.clone(),
            scenario,
        })
    }

    /// What the demo is about to show.
    pub fn introduction(&self) -> String {
        format!(
            "cspguard demo: a simulated tenant of {} customers, the partner's receivables, and \
             `cspguard run` in notify mode on {} simulated days. Mail goes to files in {}.\n",
            self.scenario.dataset.customers.len(),
            DAYS.len(),
            self.dir.join("outbox").display()
        )
    }

    /// Set up simulated day `i` (of [`DAYS`]): the receivables export, a simulator whose clock is
    /// that day, and a config pointing at it.
    pub async fn day(&self, i: usize) -> Result<Day, DemoError> {
        let day = DAYS[i];
        let now = self
            .start
            .checked_add(SignedDuration::from_hours(24 * day))
            .map_err(DemoError::Day)?;
        let date = now.to_zoned(self.tz.clone()).date();
        let receivables_path = self.dir.join("receivables.csv");
        write(
            &receivables_path,
            &receivables_on(&self.scenario.receivables_csv, i),
        )?;
        let sim = Simulator::start(SimConfig {
            dataset: Some(self.tenant.clone()),
            clock: Some(now),
            refresh_token: current_refresh_token(&self.dir)?,
            ..SimConfig::default()
        })
        .await
        .map_err(DemoError::Simulator)?;
        let config_path = self.dir.join("cspguard.toml");
        write_private(
            &config_path,
            &demo_config(&self.dir, &sim.base_url(), &receivables_path),
        )?;
        let config = Config::load(&config_path)?.config;
        let mut heading =
            format!("── Day {day:+} ({date}) ─────────────────────────────────────────");
        if i == 2 {
            heading.push_str("\n   (Contoso Pharmaceuticals has paid INV-1006 in full)");
        }
        if i == APPROVAL_DAY + 1 {
            heading.push_str(&format!(
                "\n   (Tailspin Toys has paid {APPROVED_INVOICE} in full: the demo marked it paid \
                 in {})",
                receivables_path.display()
            ));
        }
        Ok(Day {
            sim,
            config,
            now,
            heading,
        })
    }

    /// End a day: keep its simulated tenant for the next day and stop its simulator.
    pub async fn end_day(&mut self, day: Day) {
        self.tenant = day.sim.with_dataset(|d| d.clone());
        day.sim.shutdown().await;
    }

    /// Approve the planned suspension of the demo's customer as a person would; returns the
    /// command that person would type, or `None` when nothing waits.
    pub fn approve(&self, cfg: &Config, now: Timestamp) -> Result<Option<String>, DemoError> {
        let ledger = Ledger::open(&cfg.state.path)?;
        let waiting = ledger.actions_in_status(&[ActionStatus::AwaitingApproval])?;
        let Some(action) = waiting
            .iter()
            .find(|a| a.kind == "suspend" && a.customer.as_deref() == Some(APPROVED_CUSTOMER))
        else {
            return Ok(None);
        };
        let who = crate::ledger::admin::current_os_user();
        ledger.approve(action.id, &who, now)?;
        Ok(Some(format!(
            "   A person approves the suspension of Tailspin Toys ({APPROVED_INVOICE}):\n   \
             $ {}approve {}",
            self.command_prefix(),
            action.id
        )))
    }

    /// `cspguard --config <the demo's config> ` as a person would type it.
    pub fn command_prefix(&self) -> String {
        format!(
            "{} --config {} ",
            this_binary(),
            relative(&self.dir.join("cspguard.toml"))
        )
    }

    /// Where to look afterwards.
    pub fn closing(&self) -> Result<String, DemoError> {
        let cfg = Config::load(&self.dir.join("cspguard.toml"))?.config;
        closing(&cfg, &self.dir, &self.command_prefix())
    }
}

/// The receivables export on day `i` (of [`DAYS`]): Contoso Pharmaceuticals pays its remaining
/// balance before the third day; Tailspin Toys pays after its approved suspension.
fn receivables_on(csv: &str, i: usize) -> String {
    let mut csv = csv.to_owned();
    if i >= 2 {
        csv = csv.replace(",1240.00,1000.00,USD,open", ",1240.00,1240.00,USD,paid");
    }
    if i > APPROVAL_DAY {
        let row = format!("{APPROVED_CUSTOMER},{APPROVED_INVOICE},");
        csv = csv
            .lines()
            .map(|l| {
                if l.starts_with(&row) {
                    l.replace(",185000,0,JPY,open", ",185000,185000,JPY,paid")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        csv.push('\n');
    }
    csv
}

/// Each simulated day starts a fresh simulator; it must accept the refresh token the ledger holds
/// after the previous day's rotation (a real tenant would simply keep the rotated one valid).
fn current_refresh_token(dir: &Path) -> Result<String, DemoError> {
    use secrecy::ExposeSecret as _;
    let path = dir.join("state").join("state.db");
    if !path.exists() {
        return Ok(SimConfig::default().refresh_token);
    }
    let ledger = Ledger::open(&path)?;
    Ok(ledger.load_refresh_token()?.map_or_else(
        || SimConfig::default().refresh_token,
        |t| t.expose_secret().to_owned(),
    ))
}

fn fresh_dir(dir: &Path) -> Result<(), DemoError> {
    for sub in ["state", "outbox"] {
        let p = dir.join(sub);
        if p.exists() {
            std::fs::remove_dir_all(&p).map_err(|source| DemoError::Clear { path: p, source })?;
        }
    }
    Ok(crate::fsio::create_dir_all(dir)?)
}

fn demo_config(dir: &Path, base_url: &str, receivables: &Path) -> String {
    // The simulator's credentials are not secrets; they are written inline to a 0600 file.
    format!(
        "# Written by `cspguard demo`: points at the in-process simulator.\n\
         mode = \"notify\"\n\
         timezone = \"Europe/Stockholm\"\n\n\
         [partner]\n\
         name = \"Contoso Cloud Services\"\n\
         contact_email = \"ar@contoso-cloud.example\"\n\
         contact_phone = \"+46 8 555 0100\"\n\
         payment_instructions = \"Bankgiro 555-0100, reference: your invoice number\"\n\n\
         [partner_center]\n\
         tenant_id = \"sim-partner-tenant\"\n\
         client_id = \"sim-client-id\"\n\
         client_secret = \"sim-client-secret\"\n\
         authority = \"{base_url}\"\n\
         base_url = \"{base_url}\"\n\n\
         [partner_center.app_user]\n\
         refresh_token = \"sim-refresh-token-0\"\n\n\
         [state]\n\
         path = {state:?}\n\n\
         [receivables]\n\
         path = {receivables:?}\n\n\
         [digest]\n\
         hour = 0\n\n\
         [mail]\n\
         transport = \"file\"\n\
         from = \"Contoso Cloud Services <billing@contoso-cloud.example>\"\n\
         ops_to = [\"ops@contoso-cloud.example\"]\n\
         outbox_dir = {outbox:?}\n",
        state = dir.join("state").join("state.db"),
        outbox = dir.join("outbox"),
    )
}

/// What day `now`'s run did: the emails, what waits for approval, what was cancelled.
pub fn day_summary(cfg: &Config, now: Timestamp) -> Result<String, DemoError> {
    let ledger = Ledger::open(&cfg.state.path)?;
    let mut out = String::new();
    let notices = ledger.notices(None, Some(now))?;
    let customer_mail: Vec<_> = notices
        .iter()
        .filter(|n| n.customer.is_some() && n.template != "ops-alert")
        .collect();
    let ops_mail = notices.len() - customer_mail.len();
    for n in &customer_mail {
        let _ = writeln!(
            out,
            "   email  {:<18} ({:<7}) to {}",
            n.template, n.locale, n.recipient
        );
    }
    if ops_mail > 0 {
        let _ = writeln!(out, "   email  {ops_mail} to the ops team (alerts, digest)");
    }
    for a in ledger.actions_in_status(&[ActionStatus::AwaitingApproval])? {
        if a.updated_at >= now {
            let _ = writeln!(out, "   waits  {} for approval: {}", a.kind, a.reason);
        }
    }
    for a in ledger.actions_changed_since(now)? {
        if a.status == ActionStatus::Done && (a.kind == "suspend" || a.kind == "reactivate") {
            let _ = writeln!(out, "   done   {}: {}", a.kind, a.reason);
        }
        if a.status == ActionStatus::Cancelled {
            let _ = writeln!(
                out,
                "   cancel {}: {}",
                a.key,
                a.rejection_reason.as_deref().unwrap_or("no longer needed")
            );
        }
    }
    Ok(out)
}

fn closing(cfg: &Config, dir: &Path, cmd: &str) -> Result<String, DemoError> {
    let ledger = Ledger::open(&cfg.state.path)?;
    let mut out = String::new();
    let emails = std::fs::read_dir(dir.join("outbox"))
        .map(|d| d.filter_map(Result::ok).count())
        .unwrap_or(0);
    let digests = crate::run::digest::digest_dir(cfg);
    let _ = writeln!(
        out,
        "\nEmails written: {emails} files in {}",
        relative(&dir.join("outbox"))
    );
    let _ = writeln!(out, "Daily digests:  {}", relative(&digests));
    let waiting = ledger.actions_in_status(&[ActionStatus::AwaitingApproval])?;
    if !waiting.is_empty() {
        let _ = writeln!(
            out,
            "\nWaiting for a person (in notify mode suspensions need approval):"
        );
        for a in &waiting {
            let _ = writeln!(out, "  #{} {}: {}", a.id, a.kind, a.reason);
        }
        let _ = writeln!(
            out,
            "  approve with `{cmd}approve ID`, or refuse with `{cmd}reject ID --reason TEXT`"
        );
    }
    let _ = writeln!(
        out,
        "\nNext steps (the demo's simulator has stopped; these read the demo's ledger):\n  \
         {cmd}status\n  \
         {cmd}history --customer {lifecycle}   (reminders, approval, suspension, payment, \
         reactivation)\n  \
         {cmd}history --customer {first}\n  \
         The emails are .eml files in {outbox}; the digests are in {d}.\n  \
         To set up your own tenant, start from the example configuration in the README.",
        lifecycle = APPROVED_CUSTOMER,
        first = scenario::ids::REMINDER_1,
        outbox = relative(&dir.join("outbox")),
        d = relative(&digests),
    );
    Ok(out)
}

/// `path` relative to the current directory when it is below it (`./cspguard-demo/...`), else
/// as given.
fn relative(path: &Path) -> String {
    let below = std::env::current_dir()
        .ok()
        .and_then(|d| path.strip_prefix(d).ok().map(Path::to_path_buf));
    match below {
        Some(rel) => format!(".{}{}", std::path::MAIN_SEPARATOR, rel.display()),
        None if path.is_relative() && !path.starts_with(".") => {
            format!(".{}{}", std::path::MAIN_SEPARATOR, path.display())
        }
        None => path.display().to_string(),
    }
}

/// How to call this binary from the current directory (`./target/release/cspguard` after
/// `cargo run --release -- demo`), falling back to `cspguard`.
fn this_binary() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "cspguard".to_owned();
    };
    match std::env::current_dir()
        .ok()
        .and_then(|d| exe.strip_prefix(d).ok().map(Path::to_path_buf))
    {
        Some(rel) => format!("./{}", rel.display()),
        None => exe.display().to_string(),
    }
}

fn write(path: &Path, text: &str) -> Result<(), DemoError> {
    Ok(crate::fsio::write(path, text.as_bytes())?)
}

fn write_private(path: &Path, text: &str) -> Result<(), DemoError> {
    Ok(crate::fsio::write_private(path, text.as_bytes())?)
}
