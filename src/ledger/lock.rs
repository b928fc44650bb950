//! The run lock: only one run at a time per state file.
//!
//! An OS advisory lock (`File::try_lock`, flock on Unix) on `<state path>.lock`. The holder writes
//! its PID into the file so a refused second invocation can name it. The OS drops the lock when
//! the holding process ends, however it ends, so a killed run never blocks the next one; the PID
//! text left behind is only informational and is overwritten by the next holder.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::error::LedgerError;

/// Whether taking the lock may create the lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LockFile {
    Create,
    MustExist,
}

/// Held for the duration of a run; released on drop.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// The lock file used for a state file: `<state path>.lock`.
    pub fn lock_path(state_path: &Path) -> PathBuf {
        let mut s = state_path.as_os_str().to_owned();
        s.push(".lock");
        PathBuf::from(s)
    }

    /// Take the run lock for `state_path`, or `LedgerError::Locked` naming the holder's PID.
    pub fn acquire(state_path: &Path) -> Result<RunLock, LedgerError> {
        Self::take(state_path, LockFile::Create)
    }

    /// Take the run lock only when its file exists already (commands that create no file);
    /// `LedgerError::LockIo` with `NotFound` when it does not.
    pub fn acquire_existing(state_path: &Path) -> Result<RunLock, LedgerError> {
        Self::take(state_path, LockFile::MustExist)
    }

    fn take(state_path: &Path, file: LockFile) -> Result<RunLock, LedgerError> {
        let path = Self::lock_path(state_path);
        let io = |source| LedgerError::LockIo {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(file == LockFile::Create)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0).map_err(io)?;
                file.seek(SeekFrom::Start(0)).map_err(io)?;
                writeln!(file, "{}", std::process::id()).map_err(io)?;
                file.flush().map_err(io)?;
                Ok(RunLock { file, path })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                // The holder may not have written its PID yet: then it is unknown.
                let pid = match file.read_to_string(&mut text) {
                    Ok(_) => text.trim().parse::<u32>().ok(),
                    Err(_) => None,
                };
                Err(LedgerError::Locked { pid, path })
            }
            Err(std::fs::TryLockError::Error(source)) => Err(io(source)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Still holding the lock: clearing the PID cannot race with a new holder.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Create the directory of the state file at `path` if needed (owner-only), so the lock and the
/// database can be created in it.
pub fn ensure_state_dir(path: &std::path::Path) -> Result<(), LedgerError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).map_err(|source| LedgerError::StateDir {
            path: dir.to_owned(),
            source,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    Ok(())
}
