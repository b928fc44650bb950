//! Small filesystem writes shared by the demo and the digest, with one error type ([`FsError`])
//! that names the path and the operation.
//!
//! Owns: creating a directory tree, writing a file (atomically through a temporary file and a
//! rename, or private to the owner), and what their failures say.

use std::path::{Path, PathBuf};

/// A filesystem write that failed, with the path it was about.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("cannot create the directory {path}; check its parent's permissions and free space")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}; check the directory's permissions and free space")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> FsError {
    let path = path.to_owned();
    move |source| FsError::Write { path, source }
}

/// `mkdir -p dir`.
pub fn create_dir_all(dir: &Path) -> Result<(), FsError> {
    std::fs::create_dir_all(dir).map_err(|source| FsError::CreateDir {
        path: dir.to_owned(),
        source,
    })
}

/// Write `bytes` to `path` (replacing it).
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    std::fs::write(path, bytes).map_err(write_error(path))
}

/// Write `bytes` to `tmp`, then rename it over `path`, so a reader never sees half a file.
pub fn write_atomic(path: &Path, tmp: &Path, bytes: &[u8]) -> Result<(), FsError> {
    write(tmp, bytes)?;
    std::fs::rename(tmp, path).map_err(write_error(path))
}

/// Write `bytes` to `path`, readable and writable by the owner only (0600 on Unix).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(write_error(path))?;
    f.write_all(bytes).map_err(write_error(path))
}
