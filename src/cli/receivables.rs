//! `cspguard receivables check FILE`: validate an export with the configured column mapping
//! (`cspguard::receivables::check`).

use std::path::{Path, PathBuf};

use jiff::Timestamp;

use cspguard::exit::Exit;
use cspguard::receivables::check::{self, CheckRequest};

use super::{OrExit as _, OutputFormat};

/// Subcommands of `cspguard receivables`.
#[derive(Debug, clap::Subcommand)]
pub enum ReceivablesCommand {
    /// Validate a receivables export and print what cspguard understood from it (changes nothing).
    Check(CheckArgs),
}

/// Arguments of `cspguard receivables check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The export to check: a file, or a glob such as "import/*.csv" (quote it).
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

/// Run a receivables command. Without a config file, the default column names are used.
pub fn run(config_path: &Path, cmd: ReceivablesCommand) -> anyhow::Result<Exit> {
    let ReceivablesCommand::Check(args) = cmd;
    let loaded = if config_path.exists() {
        Some(super::load_config(config_path)?)
    } else {
        eprintln!(
            "note: no config at {}: using the default [receivables] settings",
            config_path.display()
        );
        None
    };
    let rcfg = loaded.as_ref().and_then(|l| l.config.receivables.as_ref());
    let tz = loaded
        .as_ref()
        .map_or(jiff::tz::TimeZone::UTC, |l| l.config.time_zone());
    let today = Timestamp::now().to_zoned(tz).date();
    let request = CheckRequest {
        file: args.file,
        format: args.format,
    };
    let mut stdout = std::io::stdout().lock();
    let outcome = check::check(&request, rcfg, today, &mut stdout).or_exit()?;
    super::flush(stdout)?;
    Ok(outcome.exit())
}
