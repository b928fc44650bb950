//! `cspguard templates check|preview`: compile and render the email templates, with the
//! partner's `[templates] dir` when a config file exists.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use cspguard::commands::templates::{self, TemplatesCommand};
use cspguard::config::Config;
use cspguard::exit::Exit;

/// Run a templates command. Without a config file, only the shipped templates are used.
pub fn run(config_path: &Path, cmd: TemplatesCommand) -> anyhow::Result<Exit> {
    let dir = if config_path.exists() {
        Config::load(config_path)?.config.templates.dir
    } else {
        None
    };
    let mut stdout = std::io::stdout().lock();
    let outcome = match templates::run(cmd, dir.as_deref(), &mut stdout) {
        Ok(o) => o,
        Err(e) => {
            stdout.flush().ok();
            eprintln!("error: {e}");
            return Ok(e.exit());
        }
    };
    stdout.flush().context("cannot write to standard output")?;
    Ok(outcome.exit())
}
