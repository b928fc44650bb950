//! `cspguard receivables check FILE`: validate an export with the configured column mapping.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use jiff::Timestamp;

use cspguard::commands::receivables::{self, ReceivablesCommand};
use cspguard::config::Config;
use cspguard::exit::Exit;

/// Run a receivables command. Without a config file, the default column names are used.
pub fn run(config_path: &Path, cmd: ReceivablesCommand) -> anyhow::Result<Exit> {
    let loaded = if config_path.exists() {
        Some(Config::load(config_path)?)
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
    let mut stdout = std::io::stdout().lock();
    let outcome = receivables::run(cmd, rcfg, today, &mut stdout)?;
    stdout.flush().context("cannot write to standard output")?;
    Ok(outcome.exit())
}
