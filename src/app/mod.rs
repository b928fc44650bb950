//! Command glue for the binary: loads config, opens state, calls the library, and maps outcomes
//! to exit codes. This is the only code (besides `main.rs`) allowed to use `anyhow`.

pub mod bench;
pub mod daemon;
pub mod demo;
pub mod digest;
pub mod doctor;
pub mod fraud;
pub mod ledger;
pub mod plan;
pub mod receivables;
pub mod run;
pub mod snapshot;
pub mod templates;

use cspguard::commands::ledger_cmds::LedgerCmdError;
use cspguard::commands::receivables::ReceivablesCmdError;
use cspguard::config::ConfigError;
use cspguard::context::ContextError;
use cspguard::exit::Exit;
use cspguard::ledger::LedgerError;
use cspguard::secrets::SecretError;

/// Map an error to its documented exit code by looking through the error chain.
pub fn classify(e: &anyhow::Error) -> Exit {
    for cause in e.chain() {
        if cause.is::<ConfigError>()
            || cause.is::<SecretError>()
            || cause.is::<run::RunConfigError>()
            || matches!(
                cause.downcast_ref::<cspguard::commands::fraud::FraudCmdError>(),
                Some(cspguard::commands::fraud::FraudCmdError::Usage(_))
            )
        {
            return Exit::Config;
        }
        if let Some(ContextError::Secret(_)) = cause.downcast_ref::<ContextError>() {
            return Exit::Config;
        }
        if let Some(e) = cause.downcast_ref::<LedgerError>() {
            return e.exit();
        }
        if let Some(e) = cause.downcast_ref::<LedgerCmdError>() {
            return e.exit();
        }
        if let Some(ReceivablesCmdError::Config(_)) = cause.downcast_ref::<ReceivablesCmdError>() {
            return Exit::Config;
        }
    }
    Exit::Failed
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
