//! `cspguard fraud …` glue: load the config, take the run lock (the call writes the ledger and may
//! rotate the App+User refresh token), build the Partner Center client and call the handler.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use cspguard::commands::fraud::{self, FraudCommand};
use cspguard::commands::ledger_cmds::current_os_user;
use cspguard::config::Config;
use cspguard::context;
use cspguard::exit::Exit;
use cspguard::ledger::{Ledger, RunLock};

/// Run a `fraud` subcommand.
pub async fn run(config_path: &Path, cmd: FraudCommand) -> anyhow::Result<Exit> {
    let loaded = Config::load(config_path)?;
    context::warn_about_secret_permissions(&loaded);
    let cfg = &loaded.config;
    match cmd {
        FraudCommand::Resolve(args) => {
            args.status_and_reason()?;
            super::ledger::ensure_parent(&cfg.state.path)?;
            let _lock = RunLock::acquire(&cfg.state.path)?;
            let ledger = Ledger::open(&cfg.state.path)?;
            let pc = context::client(
                cfg,
                super::ledger::refresh_store(cfg)?,
                cspguard::observe::correlation_id(),
            )?;
            let now = super::run::now()?;
            let mut stdout = std::io::stdout().lock();
            fraud::resolve(&pc, &ledger, &args, &current_os_user(), now, &mut stdout).await?;
            stdout.flush().context("cannot write to standard output")?;
            Ok(Exit::Ok)
        }
    }
}
