//! The command line, owned by the binary: `Cli` with the global options, `Command`, dispatch, and
//! the edge helpers every subcommand shares (the clock, loading the config, printing, mapping
//! errors to exit codes). One file per subcommand holds its clap arguments and its `run`; the
//! work itself is in the library (`cspguard::run`, `cspguard::ledger::admin`, ...).

pub mod bench;
pub mod bench_recon;
pub mod completions;
pub mod daemon;
pub mod demo;
pub mod doctor;
pub mod fraud;
pub mod ledger;
pub mod man;
pub mod plan;
pub mod receivables;
pub mod reconcile;
pub mod run;
pub mod signals;
pub mod silence;
pub mod simulate;
pub mod snapshot;
pub mod templates;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use jiff::Timestamp;

use cspguard::config::{Config, Loaded};
use cspguard::exit::{Coded, Exit, ExitStatus};
use cspguard::logging::stderr_text;
use tracing::Level;

pub use cspguard::output::OutputFormat;

/// Default location of the configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/cspguard/cspguard.toml";

/// cspguard: guards a Microsoft CSP partner against non-payment, fraud and misuse.
#[derive(Debug, Parser)]
#[command(name = "cspguard", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "CSPGUARD_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// More output (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output (only warnings and errors).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log format: auto (journald under systemd, else text), text, json or journald.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "CSPGUARD_LOG_FORMAT",
        default_value = "auto"
    )]
    pub log_format: cspguard::logging::LogFormat,
    /// Print tables with every column (keys, tenant ids, seconds), not fitted to 100 columns.
    #[arg(long, global = true)]
    pub wide: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Collect what cspguard sees in Partner Center and print it (changes nothing).
    Snapshot(snapshot::SnapshotArgs),
    /// Collect, evaluate every policy and print the findings and actions with their reasons
    /// (changes nothing in Partner Center and sends nothing).
    Plan(plan::PlanArgs),
    /// Reconcile what Microsoft billed the partner (Graph billed and unbilled reconciliation
    /// exports) against the partner's receivables, per customer, period and currency, and print
    /// it (table or JSON); no dunning, no mail, no Partner Center change.
    Reconcile(reconcile::ReconcileArgs),
    /// Run one full cycle: collect, evaluate, send due notices and alerts, the digest when due,
    /// and record the run (what the systemd timer calls). Changes: sends email, writes the state
    /// file and reports, and (enforce mode or approved actions) suspends, reactivates and sets
    /// budgets in Partner Center; `--dry-run` sends nothing and changes nothing in
    /// Partner Center.
    Run(run::RunArgs),
    /// Run the built-in Partner Center simulator on loopback (its tenant lives in memory; writes
    /// only the `--receivables-out` file when asked).
    Simulate(simulate::SimulateArgs),
    /// Show cspguard working end to end against the built-in simulator (no credentials needed).
    /// Writes only under `--dir`: clears and rewrites its state, outbox and receivables.
    Demo(demo::DemoArgs),
    /// Check and preview the email templates (changes nothing).
    Templates {
        #[command(subcommand)]
        cmd: templates::TemplatesCommand,
    },
    /// Work with the partner's receivables export (changes nothing).
    Receivables {
        #[command(subcommand)]
        cmd: receivables::ReceivablesCommand,
    },
    /// Run cycles on the `[daemon] schedule` (for hosts without systemd timers); each cycle
    /// changes what `run` changes.
    Daemon(daemon::DaemonArgs),
    /// Check the installation as the user it runs as: config, secrets, state, receivables,
    /// metrics directory, Partner Center, mail, templates (creates no file, changes nothing).
    Doctor,
    /// Fraud events: list them with what cspguard did (changes nothing), or record
    /// Investigating / Resolved in Partner Center (changes their status and writes the ledger).
    Fraud {
        #[command(subcommand)]
        cmd: fraud::FraudCommand,
    },
    /// Silence ops alerts (with a reason and an end), list and expire silences (in the state
    /// file).
    Silence {
        #[command(subcommand)]
        cmd: silence::SilenceCommand,
    },
    #[command(flatten)]
    Ledger(ledger::LedgerCommand),
    /// Measure calls, wall time, memory and evaluation CPU against the simulator at scale, next
    /// to a naive full scan (writes JSON and Markdown; see bench/README.md).
    Bench(bench::BenchArgs),
    /// Write the man pages (one per command) into a directory, or print cspguard(1) to stdout
    /// (writes nothing else).
    Man(man::ManArgs),
    /// Print the shell completion script for SHELL to stdout (changes nothing).
    Completions(completions::CompletionsArgs),
}

/// The table width `--wide` asks for.
pub fn width(wide: bool) -> cspguard::ledger::admin::Width {
    if wide {
        cspguard::ledger::admin::Width::Wide
    } else {
        cspguard::ledger::admin::Width::Narrow
    }
}

/// Run the command; `Ok` carries the exit code of a command that finished.
pub fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    let config = cli.config.as_path();
    match cli.command {
        Command::Snapshot(args) => runtime()?.block_on(snapshot::run(config, args)),
        Command::Run(args) => {
            runtime()?.block_on(cspguard::observe::in_run(run::run(config, args)))
        }
        Command::Daemon(args) => runtime()?.block_on(daemon::run(config, args)),
        Command::Doctor => runtime()?.block_on(doctor::run(config)),
        Command::Templates { cmd } => templates::run(config, cmd),
        Command::Plan(args) => runtime()?.block_on(plan::run(config, args)),
        Command::Reconcile(args) => runtime()?.block_on(reconcile::run(config, args)),
        Command::Simulate(args) => runtime()?.block_on(simulate::run(args)),
        Command::Demo(args) => runtime()?.block_on(demo::run(args)),
        Command::Receivables { cmd } => receivables::run(config, cmd),
        Command::Ledger(cmd) => ledger::run(config, cmd, width(cli.wide)),
        Command::Silence { cmd } => silence::run(config, cmd),
        Command::Bench(args) => bench::run(config, args),
        Command::Fraud { cmd } => runtime()?.block_on(fraud::run(config, cmd)),
        Command::Man(args) => man::run(args),
        Command::Completions(args) => completions::run(args),
    }
}

/// The exit code of a command's result; an error is printed on standard error first. A reader
/// that went away (`cspguard plan | head`) is not an error.
pub fn exit_code(result: anyhow::Result<Exit>) -> Exit {
    match result {
        Ok(exit) => exit,
        Err(e) if is_broken_pipe(e.as_ref()) => Exit::Ok,
        Err(e) => {
            let text = format!("error: {}", describe(&e));
            eprintln!("{}", stderr_text(Level::ERROR, &text));
            classify(&e)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A library result whose error knows its exit code, turned into the binary's error so that
/// [`classify`] finds the code. Every library error that is not exit code 1 goes through here.
pub trait OrExit<T> {
    fn or_exit(self) -> anyhow::Result<T>;
}

impl<T, E> OrExit<T> for Result<T, E>
where
    E: ExitStatus + std::error::Error + Send + Sync + 'static,
{
    fn or_exit(self) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::Error::new(Coded::from(e)))
    }
}

/// The documented exit code of an error: the one its library error carries (see [`OrExit`]),
/// else 1.
pub fn classify(e: &anyhow::Error) -> Exit {
    e.chain()
        .find_map(|cause| cause.downcast_ref::<Coded>())
        .map_or(Exit::Failed, Coded::exit)
}

/// The error and its causes on one line, skipping causes whose text the message already quotes
/// (many errors include their source in their own message).
pub fn describe(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
    msg
}

/// Write command output to stdout. A reader that went away (`cspguard plan | head`) ends the
/// output quietly instead of failing; any other write error is reported.
pub fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Write `value` to stdout as pretty JSON, streamed (never held whole as a string), then a
/// newline. A reader that went away ends the output quietly, as in [`print_out`].
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
        .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// True when an error chain ends in a closed output pipe.
pub fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Load the config (exit code 2 when it is unreadable or invalid).
pub fn load_config(path: &Path) -> anyhow::Result<Loaded> {
    Config::load(path).or_exit()
}

/// Load the config and warn about secrets other users can read.
pub fn load_config_checked(path: &Path) -> anyhow::Result<Loaded> {
    let loaded = load_config(path)?;
    loaded.config.check_paths(&loaded.path).or_exit()?;
    cspguard::context::warn_about_secret_permissions(&loaded);
    Ok(loaded)
}

/// The current time, or `CSPGUARD_TEST_NOW` (RFC 3339) when set: an injected clock for
/// end-to-end tests of multi-day behaviour. Using it is logged as a warning. The only place the
/// injected clock is read.
pub fn now() -> anyhow::Result<Timestamp> {
    match std::env::var("CSPGUARD_TEST_NOW") {
        Ok(v) => {
            let t: Timestamp = v
                .parse()
                .with_context(|| format!("CSPGUARD_TEST_NOW = {v:?} is not an RFC 3339 time"))?;
            tracing::warn!(now = %t, "using the injected clock CSPGUARD_TEST_NOW");
            Ok(t)
        }
        Err(_) => Ok(Timestamp::now()),
    }
}

/// Flush standard output after a library wrote to it.
/// The existing state database, read-only use; without one, an empty in-memory ledger and a
/// note on stderr saying `missing` (what that means for this command). Never creates the file.
pub fn existing_ledger_or_empty(
    cfg: &cspguard::config::Config,
    missing: &str,
) -> anyhow::Result<cspguard::ledger::Ledger> {
    use cspguard::ledger::Ledger;
    if cfg.state.path.exists() {
        return Ledger::open(&cfg.state.path).or_exit();
    }
    eprintln!(
        "note: no state database at {} yet: {missing}",
        cfg.state.path.display()
    );
    Ledger::open_in_memory().or_exit()
}

pub fn flush(mut out: impl std::io::Write) -> anyhow::Result<()> {
    out.flush().context("cannot write to standard output")
}
