//! Where the App+User refresh token lives between runs: the [`RefreshTokenStore`] trait, its
//! failure type [`StoreError`], an atomic file store and an in-memory store.
//!
//! A leaf of `pc/`: it imports nothing else from the Partner Center module, so the error type and
//! the authenticator can both depend on it.
//!
//! Invariants:
//! * `save` is durable before it returns (the previous refresh token may already be invalid).
//! * No `Debug` output or error ever contains a token; errors name the file, never the value.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

/// Failure of a [`RefreshTokenStore`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "could not {op} refresh-token file {path}: {source}; check the path and its permissions"
    )]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// Where the App+User refresh token lives between runs. Implementations must make `save` durable
/// before returning: the previous token may already be invalid.
pub trait RefreshTokenStore: Send + Sync {
    fn load(&self) -> Result<Option<SecretString>, StoreError>;
    fn save(&self, token: &SecretString) -> Result<(), StoreError>;
}

/// A refresh token kept in one file, replaced atomically (temp file in the same directory with
/// mode 0600, fsync, rename, fsync of the directory).
#[derive(Debug, Clone)]
pub struct FileRefreshTokenStore {
    path: PathBuf,
}

impl FileRefreshTokenStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, op: &'static str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            op,
            path: self.path.clone(),
            source,
        }
    }
}

impl RefreshTokenStore for FileRefreshTokenStore {
    fn load(&self) -> Result<Option<SecretString>, StoreError> {
        match fs::read_to_string(&self.path) {
            Ok(s) => {
                let t = s.trim();
                if t.is_empty() {
                    Ok(None)
                } else {
                    Ok(Some(SecretString::from(t.to_owned())))
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err((self.io("read"))(e)),
        }
    }

    fn save(&self, token: &SecretString) -> Result<(), StoreError> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "refresh-token".to_owned());
        let tmp = dir.join(format!(
            ".{file_name}.tmp-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let write = || -> std::io::Result<()> {
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp)?;
            f.write_all(token.expose_secret().as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &self.path)?;
            #[cfg(unix)]
            fs::File::open(&dir)?.sync_all()?;
            Ok(())
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            (self.io("write"))(e)
        })
    }
}

/// An in-memory store (tests, or callers that persist elsewhere).
#[derive(Default)]
pub struct MemoryRefreshTokenStore {
    token: std::sync::Mutex<Option<SecretString>>,
}

impl MemoryRefreshTokenStore {
    pub fn new(token: Option<SecretString>) -> Self {
        Self {
            token: std::sync::Mutex::new(token),
        }
    }
}

impl std::fmt::Debug for MemoryRefreshTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryRefreshTokenStore([redacted])")
    }
}

impl RefreshTokenStore for MemoryRefreshTokenStore {
    fn load(&self) -> Result<Option<SecretString>, StoreError> {
        self.token
            .lock()
            .map(|g| g.clone())
            .map_err(|_| StoreError::Other("in-memory token store lock poisoned".into()))
    }
    fn save(&self, token: &SecretString) -> Result<(), StoreError> {
        let mut g = self
            .token
            .lock()
            .map_err(|_| StoreError::Other("in-memory token store lock poisoned".into()))?;
        *g = Some(token.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_round_trips_atomically_with_private_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rt");
        let store = FileRefreshTokenStore::new(&path);
        assert!(store.load().expect("load").is_none());
        store
            .save(&SecretString::from("first".to_owned()))
            .expect("save");
        store
            .save(&SecretString::from("second".to_owned()))
            .expect("save");
        let got = store.load().expect("load").expect("present");
        assert_eq!(got.expose_secret(), "second");
        // Only the final file remains: no temp files left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("readdir")
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn file_store_save_error_names_path_not_token() {
        let store = FileRefreshTokenStore::new("/nonexistent-dir-cspguard/rt");
        let err = store
            .save(&SecretString::from("TOPSECRET-RT".to_owned()))
            .expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent-dir-cspguard/rt"), "{msg}");
        assert!(!msg.contains("TOPSECRET-RT"), "{msg}");
    }
}
