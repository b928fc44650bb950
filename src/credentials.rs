//! The App+User refresh token's home: the ledger. Adapts the ledger's credential table to the
//! client's [`RefreshTokenStore`] trait, seeded once from the configured initial token; a
//! different configured token later is a new consent and replaces the stored one.
//!
//! Architecture invariant: a rotated refresh token is written to the ledger (a durable SQLite
//! transaction) before the client uses the access token that came with it, so a crash never
//! leaves cspguard holding only a token that Entra has already replaced.

use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use secrecy::SecretString;

use crate::config::Config;
use crate::exit::{Exit, ExitStatus};
use crate::ledger::{Ledger, LedgerError, RunLock};
use crate::pc::{RefreshTokenStore, StoreError};
use crate::secrets::{self, SecretError};

/// Errors while opening the ledger-backed token store.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl ExitStatus for CredentialsError {
    fn exit(&self) -> Exit {
        match self {
            CredentialsError::Ledger(e) => e.exit(),
            CredentialsError::Secret(_) => Exit::Config,
        }
    }
}

/// The ledger-backed App+User refresh-token store, or `None` without App+User credentials. The
/// caller must hold the run lock (a refresh rotates the token, which must be stored once).
pub fn refresh_store(cfg: &Config) -> Result<Option<Arc<dyn RefreshTokenStore>>, CredentialsError> {
    let Some(app_user) = &cfg.partner_center.app_user else {
        return Ok(None);
    };
    let ledger = Ledger::open(&cfg.state.path)?;
    let configured = || {
        secrets::resolve_from_env(
            &app_user.refresh_token_ref(),
            app_user.refresh_token.as_ref(),
        )
    };
    let seed = if ledger.load_refresh_token()?.is_some() {
        // A stored token exists: a different configured token is a new consent (for example
        // after MFA enforcement refused the old one) and replaces it. A configured token that
        // cannot be read leaves the stored one in use.
        if let Ok(configured) = configured() {
            reseed_if_new(&ledger, &configured)?;
        }
        None
    } else {
        let seed = configured()?;
        ledger.save_refresh_seed(&seed, Timestamp::now())?;
        Some(seed)
    };
    Ok(Some(Arc::new(LedgerRefreshStore::new(ledger, seed))))
}

/// Replace the stored refresh token with `configured` when it differs from the configured token
/// the stored one descends from (first recorded by this version: then nothing is replaced).
fn reseed_if_new(ledger: &Ledger, configured: &SecretString) -> Result<(), LedgerError> {
    use secrecy::ExposeSecret;
    let now = Timestamp::now();
    match ledger.load_refresh_seed()? {
        Some(known) if known.expose_secret() == configured.expose_secret() => Ok(()),
        Some(_) => {
            tracing::info!(
                "a new App+User refresh token is configured (a new consent): it replaces the \
                 token stored in the state database"
            );
            ledger.save_refresh_token(configured, now)?;
            ledger.save_refresh_seed(configured, now)
        }
        None => ledger.save_refresh_seed(configured, now),
    }
}

/// The state opened for a command outside a run that may refresh App+User tokens (`plan`,
/// `snapshot`): with the run lock held when App+User credentials are configured; nothing
/// otherwise. Such a command creates no file: without a state database (and its lock file) to
/// keep the rotated refresh token in, App+User is not used and [`AppUserState::not_used`] says
/// why.
pub struct AppUserState {
    _lock: Option<RunLock>,
    store: Option<Arc<dyn RefreshTokenStore>>,
    not_used: Option<String>,
}

impl AppUserState {
    /// Open the state for App+User use, or nothing when App+User is not configured or the state
    /// database does not exist yet. Takes the run lock, because refreshing rotates the token and
    /// it must be stored exactly once.
    pub fn open(cfg: &Config) -> Result<Self, CredentialsError> {
        let none = |not_used| Self {
            _lock: None,
            store: None,
            not_used,
        };
        if cfg.partner_center.app_user.is_none() {
            return Ok(none(None));
        }
        let state = &cfg.state.path;
        let lock_path = RunLock::lock_path(state);
        if !state.exists() {
            return Ok(none(Some(format!(
                "App+User credentials are configured but not used: {} does not exist yet, and a \
                 refresh rotates the refresh token, which must be kept there. Usage and fraud \
                 events are not checked; the first `cspguard run` (or `cspguard run --dry-run`) \
                 creates the state database",
                state.display()
            ))));
        }
        if !lock_path.exists() {
            // A state database restored or copied without its lock file: this read-only
            // command creates no file, so it cannot take the run lock the refresh needs.
            return Ok(none(Some(format!(
                "App+User credentials are configured but not used: the run lock {} does not \
                 exist (the state database was copied or restored without it), and a refresh \
                 rotates the refresh token, which must be stored under that lock. Usage and \
                 fraud events are not checked; the next `cspguard run` (or `cspguard run \
                 --dry-run`) creates the lock file",
                lock_path.display()
            ))));
        }
        let lock = RunLock::acquire_existing(state)?;
        Ok(Self {
            _lock: Some(lock),
            store: refresh_store(cfg)?,
            not_used: None,
        })
    }

    /// The refresh-token store to give the client, if App+User is configured.
    pub fn refresh_store(&self) -> Option<Arc<dyn RefreshTokenStore>> {
        self.store.clone()
    }

    /// Why configured App+User credentials are not used (no state database yet), if so.
    pub fn not_used(&self) -> Option<&str> {
        self.not_used.as_deref()
    }
}

/// A [`RefreshTokenStore`] backed by the ledger.
pub struct LedgerRefreshStore {
    ledger: Mutex<Ledger>,
    seed: Option<SecretString>,
}

impl LedgerRefreshStore {
    /// `seed` is the initial refresh token from the config; it is used only while the ledger has
    /// none (the first run after the consent).
    pub fn new(ledger: Ledger, seed: Option<SecretString>) -> Self {
        Self {
            ledger: Mutex::new(ledger),
            seed,
        }
    }
}

impl std::fmt::Debug for LedgerRefreshStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerRefreshStore")
            .field("seed", &self.seed.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl RefreshTokenStore for LedgerRefreshStore {
    fn load(&self) -> Result<Option<SecretString>, StoreError> {
        let ledger = self
            .ledger
            .lock()
            .map_err(|_| StoreError::Other("the ledger lock was poisoned by a panic".into()))?;
        match ledger.load_refresh_token() {
            Ok(Some(token)) => Ok(Some(token)),
            Ok(None) => Ok(self.seed.clone()),
            Err(e) => Err(StoreError::Other(format!(
                "cannot read the App+User refresh token from the state database: {e}"
            ))),
        }
    }

    fn save(&self, token: &SecretString) -> Result<(), StoreError> {
        let ledger = self
            .ledger
            .lock()
            .map_err(|_| StoreError::Other("the ledger lock was poisoned by a panic".into()))?;
        ledger
            .save_refresh_token(token, Timestamp::now())
            .map_err(|e| {
                StoreError::Other(format!(
                    "cannot store the rotated App+User refresh token in the state database: {e}"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn seed_is_used_until_a_rotated_token_is_saved() {
        let store = LedgerRefreshStore::new(
            Ledger::open_in_memory().unwrap(),
            Some(SecretString::from("seed-token")),
        );
        assert_eq!(store.load().unwrap().unwrap().expose_secret(), "seed-token");
        store.save(&SecretString::from("rotated-1")).unwrap();
        assert_eq!(store.load().unwrap().unwrap().expose_secret(), "rotated-1");
        assert!(!format!("{store:?}").contains("seed-token"));
    }

    /// A config with App+User whose state database is `state`.
    fn app_user_config(state: &std::path::Path) -> Config {
        let text = format!(
            "[partner_center]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"s\"\n\
             [partner_center.app_user]\nrefresh_token = \"r\"\n[state]\npath = {state:?}\n"
        );
        Config::parse(&text, std::path::Path::new("/etc/cspguard/cspguard.toml")).unwrap()
    }

    #[test]
    fn app_user_is_used_only_with_the_state_database_and_its_lock_and_says_which_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.sqlite");
        let cfg = app_user_config(&state);
        let why = |s: &AppUserState| s.not_used().unwrap_or_default().to_owned();

        let no_db = AppUserState::open(&cfg).unwrap();
        assert!(no_db.refresh_store().is_none());
        assert!(
            why(&no_db).contains("does not exist yet"),
            "{}",
            why(&no_db)
        );

        // Restored from a backup without its lock file: the lock is named, not "first run".
        drop(Ledger::open(&state).unwrap());
        let no_lock = AppUserState::open(&cfg).unwrap();
        assert!(no_lock.refresh_store().is_none());
        assert!(why(&no_lock).contains("run lock"), "{}", why(&no_lock));
        assert!(
            !why(&no_lock).contains("does not exist yet"),
            "{}",
            why(&no_lock)
        );
        assert!(
            !RunLock::lock_path(&state).exists(),
            "a read-only command creates no file"
        );

        std::fs::File::create(RunLock::lock_path(&state)).unwrap();
        let used = AppUserState::open(&cfg).unwrap();
        assert!(used.refresh_store().is_some());
        assert_eq!(used.not_used(), None);
    }

    #[test]
    fn no_seed_and_no_saved_token_is_none() {
        let store = LedgerRefreshStore::new(Ledger::open_in_memory().unwrap(), None);
        assert!(store.load().unwrap().is_none());
    }

    #[test]
    fn a_changed_configured_token_is_a_new_consent_and_replaces_the_stored_one() {
        let ledger = Ledger::open_in_memory().unwrap();
        let now = Timestamp::now();
        ledger
            .save_refresh_token(&SecretString::from("rotated-1"), now)
            .unwrap();
        let stored = || ledger.load_refresh_token().unwrap().unwrap();
        // First seen by this version: recorded, nothing replaced.
        reseed_if_new(&ledger, &SecretString::from("consent-a")).unwrap();
        assert_eq!(stored().expose_secret(), "rotated-1");
        reseed_if_new(&ledger, &SecretString::from("consent-a")).unwrap();
        assert_eq!(stored().expose_secret(), "rotated-1");
        // A new consent (e.g. after an MFA refusal) replaces the stored token.
        reseed_if_new(&ledger, &SecretString::from("consent-b")).unwrap();
        assert_eq!(stored().expose_secret(), "consent-b");
        assert_eq!(
            ledger.load_refresh_seed().unwrap().unwrap().expose_secret(),
            "consent-b"
        );
    }
}
