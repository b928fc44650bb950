//! Errors of the ledger: every message says what went wrong, where (the state file or lock
//! file), and what to do. None of them can carry the refresh token.

use std::path::PathBuf;

use super::types::ActionStatus;

/// Everything that can go wrong in the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Another process holds the run lock.
    #[error(
        "another cspguard run is in progress ({}, lock file {path}); wait for it to finish. \
         A lock left by a killed process is released automatically by the OS",
        holder(.pid)
    )]
    Locked { pid: Option<u32>, path: PathBuf },
    /// The lock file could not be created or locked.
    #[error(
        "cannot use the run lock file {path}: {source}; check that the state directory exists \
         and is writable by this user"
    )]
    LockIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The state file was written by a newer cspguard.
    #[error(
        "state database {path} has schema version {found}, but this cspguard supports only up to \
         version {supported}: it was written by a newer cspguard. Upgrade cspguard; do not edit \
         or downgrade the state file"
    )]
    SchemaTooNew {
        found: i64,
        supported: i64,
        path: PathBuf,
    },
    /// The file is not a SQLite database, or SQLite found it damaged.
    #[error(
        "state database {path} is corrupt or is not a cspguard database ({detail}); nothing was \
         executed. Restore it from a backup, or move it aside to start with an empty ledger \
         (cspguard then forgets which notices and actions were already done)"
    )]
    Corrupt { path: PathBuf, detail: String },
    /// SQLite could not open the file.
    #[error(
        "cannot open state database {path}: {source}; check that its directory exists and that \
         this user can read and write both the file and the directory"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A read-only command was pointed at a state file that does not exist.
    #[error(
        "no state database at {path} yet: it is created by the first `cspguard run` (or check \
         `state.path` in the config)"
    )]
    Missing { path: PathBuf },
    /// A read-only command found a state file that the next run will migrate.
    #[error(
        "state database {path} has schema version {found}; this cspguard uses version {current}. \
         The next `cspguard run` migrates it; read-only commands do not change it"
    )]
    SchemaOld {
        found: i64,
        current: i64,
        path: PathBuf,
    },
    /// Any other SQLite failure.
    #[error(
        "state database {path}: {source}; check free disk space and permissions, and that no \
         other tool holds the file"
    )]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A stored value could not be decoded.
    #[error(
        "state database {path}: stored {what} is unreadable ({detail}); the row is damaged or was \
         written by something other than cspguard"
    )]
    Data {
        path: PathBuf,
        what: String,
        detail: String,
    },
    /// No such row.
    #[error("no {what} {id} in the ledger; `cspguard status` lists the current ones")]
    NotFound { what: &'static str, id: String },
    /// The action is in a state that does not allow the requested change.
    #[error("action {id} ({key}) is {status}; cannot {verb} it (only {allowed} actions can be)")]
    InvalidState {
        id: i64,
        key: String,
        status: ActionStatus,
        verb: &'static str,
        allowed: String,
    },
    /// A caller passed an unusable value (e.g. a hold ending in the past).
    #[error("{detail}")]
    InvalidInput { detail: String },
    /// The state file's directory could not be created.
    #[error("cannot create the state directory {path}")]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn holder(pid: &Option<u32>) -> String {
    match pid {
        Some(pid) => format!("held by PID {pid}"),
        None => "holder PID unknown".to_string(),
    }
}

impl LedgerError {
    /// `NotFound`: no `what` named `id`.
    pub(crate) fn not_found(what: &'static str, id: impl std::fmt::Display) -> Self {
        LedgerError::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// The documented exit code for this error (see `crate::exit`): 75 for a held lock, 2 for
    /// bad user input (unknown id, wrong state, bad date), 1 for everything else, including an
    /// unreadable, corrupt or too-new state database.
    pub fn exit(&self) -> crate::exit::Exit {
        use crate::exit::Exit;
        match self {
            LedgerError::Locked { .. } => Exit::Locked,
            LedgerError::NotFound { .. }
            | LedgerError::InvalidState { .. }
            | LedgerError::InvalidInput { .. } => Exit::Config,
            LedgerError::SchemaTooNew { .. }
            | LedgerError::SchemaOld { .. }
            | LedgerError::Corrupt { .. }
            | LedgerError::Data { .. }
            | LedgerError::Missing { .. }
            | LedgerError::LockIo { .. }
            | LedgerError::StateDir { .. }
            | LedgerError::Open { .. }
            | LedgerError::Sqlite { .. } => Exit::Failed,
        }
    }

    /// Map a SQLite error at `path`, recognising corruption.
    pub(crate) fn sqlite(path: &std::path::Path, source: rusqlite::Error) -> LedgerError {
        use rusqlite::ErrorCode;
        match source.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
                LedgerError::Corrupt {
                    path: path.to_path_buf(),
                    detail: source.to_string(),
                }
            }
            _ => LedgerError::Sqlite {
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

/// `.at(path)?` turns a rusqlite result into a ledger result naming the file.
pub(crate) trait At<T> {
    fn at(self, path: &std::path::Path) -> Result<T, LedgerError>;
}

impl<T> At<T> for rusqlite::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T, LedgerError> {
        self.map_err(|e| LedgerError::sqlite(path, e))
    }
}

impl crate::exit::ExitStatus for LedgerError {
    fn exit(&self) -> crate::exit::Exit {
        LedgerError::exit(self)
    }
}
