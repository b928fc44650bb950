//! The ledger commands (`status`, `history`, `pause`, `resume`, `approve`, `reject`, `retry`,
//! `resolve`):
//! one file each for its arguments; the work is `cspguard::ledger::admin`.

pub mod approve;
pub mod history;
pub mod pause;
pub mod reject;
pub mod resolve;
pub mod resume;
pub mod retry;
pub mod status;

use std::path::Path;

use jiff::Timestamp;

use cspguard::exit::Exit;
use cspguard::ledger::admin::{self, AdminRequest};

use super::OrExit as _;

/// Subcommands that read or change the ledger.
#[derive(Debug, clap::Subcommand)]
pub enum LedgerCommand {
    /// Show the last runs, pending approvals, uncertain and failed actions, and active holds
    /// (changes nothing).
    Status(status::StatusArgs),
    /// Show every notice and action with its outcome (changes nothing).
    History(history::HistoryArgs),
    /// Pause dunning and enforcement for a customer (or one invoice) until a date. Records a
    /// hold in the state file; the customer must be one the last run saw (exit 2 if not).
    Pause(pause::PauseArgs),
    /// End a pause early (all of a customer's holds, or one invoice's); records it in the state
    /// file.
    Resume(resume::ResumeArgs),
    /// Approve actions that wait for approval (ids or idempotency keys); records who approved in
    /// the state file. The next run (or `run --only-approved`) carries them out.
    Approve(approve::ApproveArgs),
    /// Reject actions that wait for approval; they will never run. Records who and why in the
    /// state file.
    Reject(reject::RejectArgs),
    /// Make an uncertain or failed action eligible again, after a person has checked it; records
    /// it in the state file, and the next run carries the action out.
    Retry(retry::RetryArgs),
    /// Settle an uncertain action after checking whether it happened: `--sent` marks it done,
    /// `--not-sent` makes it eligible again; records who and why in the state file.
    Resolve(resolve::ResolveArgs),
}

impl From<LedgerCommand> for AdminRequest {
    fn from(cmd: LedgerCommand) -> Self {
        match cmd {
            LedgerCommand::Status(a) => AdminRequest::Status(a.into()),
            LedgerCommand::History(a) => AdminRequest::History(a.into()),
            LedgerCommand::Pause(a) => AdminRequest::Pause(a.into()),
            LedgerCommand::Resume(a) => AdminRequest::Resume(a.into()),
            LedgerCommand::Approve(a) => AdminRequest::Approve(a.into()),
            LedgerCommand::Reject(a) => AdminRequest::Reject(a.into()),
            LedgerCommand::Retry(a) => AdminRequest::Retry(a.into()),
            LedgerCommand::Resolve(a) => AdminRequest::Resolve(a.into()),
        }
    }
}

impl LedgerCommand {
    /// `status` and `history` only read: they create no directory or file.
    fn is_read_only(&self) -> bool {
        matches!(self, LedgerCommand::Status(_) | LedgerCommand::History(_))
    }
}

/// Run a ledger command against the configured state file, as the OS user, now.
/// Tables show times in the configured time zone and fit 100 columns unless `width` is wide.
pub fn run(config_path: &Path, cmd: LedgerCommand, width: admin::Width) -> anyhow::Result<Exit> {
    let loaded = super::load_config(config_path)?;
    let state = &loaded.config.state.path;
    if !cmd.is_read_only() {
        cspguard::ledger::ensure_state_dir(state).or_exit()?;
    }
    let mut stdout = std::io::stdout().lock();
    let who = admin::current_os_user();
    let view = admin::View {
        tz: loaded.config.time_zone(),
        width,
    };
    admin::run(
        cmd.into(),
        state,
        (Timestamp::now(), &who),
        &view,
        &mut stdout,
    )
    .or_exit()?;
    super::flush(stdout)?;
    Ok(Exit::Ok)
}
