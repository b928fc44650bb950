//! Who doctor runs as ([`User`]) and what that user may really do with a path: the kernel's own
//! answer (`faccessat` with the effective ids, so ACLs, capabilities and read-only mounts count)
//! or an actual open and read, never a guess from mode bits. Nothing here creates a file.

use std::ffi::CString;
use std::fmt;
use std::io::Read as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

/// The user doctor runs as: its effective uid and, when the system knows it, its name (dynamic
/// users of systemd included, through NSS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub name: Option<String>,
}

impl User {
    /// The effective user of this process.
    pub fn current() -> User {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        User {
            uid,
            name: user_name(uid),
        }
    }
}

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "user {name} (uid {})", self.uid),
            None => write!(f, "uid {}", self.uid),
        }
    }
}

/// The name of `uid` from the user database, if it has one.
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value of this plain C struct; getpwuid_r only
    // writes into it and into `buf`, whose length we pass.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf.len()` is the buffer's size.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points at a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// What a check needs to do with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read and write a file.
    ReadWrite,
    /// Create and remove files in a directory (write and search).
    CreateIn,
}

/// Whether this process may do `need` with `path`, by the kernel's rules for its effective ids.
pub fn may(path: &Path, need: Need) -> std::io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    let mode = match need {
        Need::ReadWrite => libc::R_OK | libc::W_OK,
        Need::CreateIn => libc::W_OK | libc::X_OK,
    };
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let rc = unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), mode, libc::AT_EACCESS) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Open `path` and read from it (at most one small buffer): the real test that a file can be
/// read, whatever its mode bits say.
pub fn read_some(path: &Path) -> std::io::Result<()> {
    let mut buf = [0u8; 64];
    std::fs::File::open(path)?.read(&mut buf).map(|_| ())
}

/// The closest ancestor of `path` that exists (the directory a run would create `path` in).
pub fn nearest_existing(path: &Path) -> Option<&Path> {
    path.ancestors()
        .skip(1)
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .find(|p| p.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_user_has_a_uid_and_reads_what_it_owns() {
        let me = User::current();
        assert!(me.to_string().contains(&me.uid.to_string()));
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").expect("write");
        assert!(may(&file, Need::ReadWrite).is_ok());
        assert!(may(dir.path(), Need::CreateIn).is_ok());
        assert!(read_some(&file).is_ok());
        assert!(read_some(&dir.path().join("missing")).is_err());
        assert!(may(&dir.path().join("missing"), Need::ReadWrite).is_err());
    }

    #[test]
    fn nearest_existing_walks_up() {
        let dir = tempfile::tempdir().expect("dir");
        let deep = dir.path().join("a").join("b").join("c.db");
        assert_eq!(nearest_existing(&deep), Some(dir.path()));
        assert_eq!(nearest_existing(Path::new("x.db")), Some(Path::new(".")));
    }
}
