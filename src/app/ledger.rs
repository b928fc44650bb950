//! Ledger glue: the ledger CLI commands, and access to the state database for commands that must
//! persist a rotated App+User refresh token.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use jiff::Timestamp;

use cspguard::commands::ledger_cmds::{self, LedgerCommand};
use cspguard::config::Config;
use cspguard::credentials::LedgerRefreshStore;
use cspguard::exit::Exit;
use cspguard::ledger::{Ledger, RunLock};
use cspguard::pc::RefreshTokenStore;
use cspguard::secrets;

/// Run a ledger command (`status`, `history`, `pause`, `resume`, `approve`, `reject`, `retry`).
pub fn run(config_path: &Path, cmd: LedgerCommand) -> anyhow::Result<Exit> {
    let loaded = Config::load(config_path)?;
    ensure_parent(&loaded.config.state.path)?;
    let mut stdout = std::io::stdout().lock();
    ledger_cmds::run(
        cmd,
        &loaded.config.state.path,
        Timestamp::now(),
        &ledger_cmds::current_os_user(),
        &mut stdout,
    )?;
    stdout.flush().context("cannot write to standard output")?;
    Ok(Exit::Ok)
}

/// The state database opened for a command, with the run lock held, when App+User credentials
/// are configured (a refresh rotates the token, which must be stored exactly once).
pub struct StateAccess {
    _lock: Option<RunLock>,
    store: Option<Arc<dyn RefreshTokenStore>>,
}

impl StateAccess {
    /// Open the state for App+User use, or nothing when App+User is not configured. Takes the
    /// run lock, because refreshing rotates the token and it must be stored exactly once.
    pub fn for_app_user(cfg: &Config) -> anyhow::Result<Self> {
        if cfg.partner_center.app_user.is_none() {
            return Ok(Self {
                _lock: None,
                store: None,
            });
        }
        ensure_parent(&cfg.state.path)?;
        let lock = RunLock::acquire(&cfg.state.path)?;
        Ok(Self {
            _lock: Some(lock),
            store: refresh_store(cfg)?,
        })
    }

    /// The refresh-token store to give the client, if App+User is configured.
    pub fn refresh_store(&self) -> Option<Arc<dyn RefreshTokenStore>> {
        self.store.clone()
    }
}

/// Create the state directory if needed (owner-only).
pub fn ensure_parent(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    Ok(())
}

/// The ledger-backed App+User refresh-token store, or `None` without App+User credentials. The
/// caller must hold the run lock.
pub fn refresh_store(cfg: &Config) -> anyhow::Result<Option<Arc<dyn RefreshTokenStore>>> {
    let Some(app_user) = &cfg.partner_center.app_user else {
        return Ok(None);
    };
    let ledger = Ledger::open(&cfg.state.path)?;
    let seed = if ledger.load_refresh_token()?.is_some() {
        None
    } else {
        Some(secrets::resolve_from_env(
            &app_user.refresh_token_ref(),
            app_user.refresh_token.as_ref(),
        )?)
    };
    Ok(Some(Arc::new(LedgerRefreshStore::new(ledger, seed))))
}
