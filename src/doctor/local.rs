//! Doctor's checks of this machine, as the user doctor runs as: the config file, the secrets,
//! the state directory, database and run lock, the receivables export, the metrics directory
//! and the templates. Every check tries the real access (open, read, `faccessat`) and names the
//! path, the user and what to change. Nothing here creates or changes a file: a missing state
//! directory or database is reported as what the first run creates.

use std::path::Path;

use super::access::{self, Need, User};
use super::report::{Report, Status};
use crate::config::{Config, ConfigError, Loaded, SecretRef};
use crate::ledger::{Ledger, LedgerError, RunLock};
use crate::notices::mail::TransportKind;
use crate::notices::templates::Renderer;
use crate::secrets::{self, SecretError};

/// Most files of a templates directory doctor reads (a bound on a directory it does not own).
const MAX_TEMPLATE_FILES: usize = 1000;

/// Load the config, or say why this user cannot.
pub(super) fn config(r: &mut Report<'_>, path: &Path, user: &User) -> Option<Loaded> {
    let loaded = Config::load(path).map_err(|e| match e {
        ConfigError::Read { path, source } => format!(
            "cannot read config file {} as {user}: {source}; make the file and every directory \
             above it readable by the user cspguard runs as (the README's systemd section shows \
             the modes the units expect), then run doctor again as that user",
            path.display()
        ),
        other => other.to_string(),
    });
    r.result("config", loaded, |l| {
        format!("{} is valid", l.path.display())
    })
}

/// Secrets: permissions, then that each one resolves as this user (the value is never shown).
pub(super) fn secrets(r: &mut Report<'_>, loaded: &Loaded, user: &User) {
    let cfg = &loaded.config;
    let pc = &cfg.partner_center;
    let mut refs: Vec<(SecretRef, Option<&secrecy::SecretString>)> =
        vec![(pc.client_secret_ref(), pc.client_secret.as_ref())];
    if let Some(au) = &pc.app_user {
        refs.push((au.refresh_token_ref(), au.refresh_token.as_ref()));
    }
    if let Some(m) = &cfg.mail
        && m.transport == TransportKind::Smtp
        && m.username.is_some()
    {
        refs.push((m.smtp_password_ref(), m.smtp_password.as_ref()));
    }
    let plain: Vec<&SecretRef> = refs.iter().map(|(s, _)| s).collect();
    let warnings = secrets::permission_warnings(&loaded.path, loaded.mode_bits, &plain);
    if warnings.is_empty() {
        r.line(
            Status::Pass,
            "secret permissions",
            "the config and secret files are readable by their owner only",
        );
    } else {
        for w in warnings {
            r.line(Status::Fail, "secret permissions", w);
        }
    }
    for (sref, inline) in &refs {
        let check = format!("secret {}", sref.name);
        let source = describe_source(sref);
        let resolved = secrets::resolve_from_env(sref, *inline).map_err(|e| match e {
            SecretError::File { .. } => format!(
                "{e} (doctor runs as {user}); the user cspguard runs as must be able to read it, \
                 or leave `{0}_file` out and pass the systemd credential {0:?} with \
                 LoadCredential=",
                sref.name
            ),
            other => other.to_string(),
        });
        r.result(&check, resolved, |_| format!("resolved from {source}"));
    }
}

/// State directory, database and run lock. Returns the run lock when the database and its lock
/// file exist and the lock was free (the App+User check needs it: the refresh token rotates).
pub(super) fn state(r: &mut Report<'_>, cfg: &Config, user: &User) -> Option<RunLock> {
    let db = &cfg.state.path;
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir_ok = directory(r, "state directory", dir, user, "StateDirectory=cspguard");
    if db.exists() {
        state_file(r, db, user);
    } else {
        let line = format!(
            "no state database at {} yet: the first `cspguard run` creates it (mode 0600, owned \
             by the user the run runs as, which must be the service's user; doctor runs as \
             {user})",
            db.display()
        );
        let status = if dir_ok { Status::Pass } else { Status::Fail };
        r.line(status, "state file", line);
    }
    let lock = run_lock(r, db, user);
    lock.filter(|_| db.exists())
}

/// The existing state database: writable by this user, and it opens (read-only, unchanged).
fn state_file(r: &mut Report<'_>, db: &Path, user: &User) {
    if let Err(e) = access::may(db, Need::ReadWrite) {
        r.line(
            Status::Fail,
            "state file",
            format!(
                "{} is not readable and writable by {user} ({e}); every run writes it: make \
                 the user cspguard runs as its owner",
                db.display()
            ),
        );
        return;
    }
    match Ledger::open_read_only(db) {
        Ok(l) => r.line(
            Status::Pass,
            "state file",
            format!(
                "{} opens (schema {})",
                db.display(),
                l.schema_version().unwrap_or_default()
            ),
        ),
        Err(e @ LedgerError::SchemaOld { .. }) => r.line(Status::Pass, "state file", e),
        Err(e) => r.line(Status::Fail, "state file", e),
    }
}

/// The run lock, when its file exists (doctor does not create it).
fn run_lock(r: &mut Report<'_>, db: &Path, user: &User) -> Option<RunLock> {
    let path = RunLock::lock_path(db);
    if !path.exists() {
        r.line(
            Status::Skip,
            "run lock",
            format!(
                "{} does not exist yet: the next run creates it",
                path.display()
            ),
        );
        return None;
    }
    match RunLock::acquire_existing(db) {
        Ok(l) => {
            r.line(
                Status::Pass,
                "run lock",
                format!("{} is free", l.path().display()),
            );
            Some(l)
        }
        Err(e @ LedgerError::Locked { .. }) => {
            r.line(
                Status::Fail,
                "run lock",
                format!("{e} (a run is in progress; run doctor again after it)"),
            );
            None
        }
        Err(e) => {
            r.line(
                Status::Fail,
                "run lock",
                format!("{e} (doctor runs as {user})"),
            );
            None
        }
    }
}

/// A directory a run creates files in: it exists and this user may create files in it, or the
/// run can create it. True when the run will manage. `systemd` says what gives it to the
/// service under systemd.
fn directory(r: &mut Report<'_>, check: &str, dir: &Path, user: &User, systemd: &str) -> bool {
    let verdict = if dir.is_dir() {
        access::may(dir, Need::CreateIn)
            .map(|()| format!("{} is writable by {user}", dir.display()))
            .map_err(|e| {
                format!(
                    "{} is not writable by {user} ({e}); a run writes there: make the user \
                     cspguard runs as its owner (under systemd: {systemd})",
                    dir.display()
                )
            })
    } else {
        match access::nearest_existing(dir) {
            Some(parent) if access::may(parent, Need::CreateIn).is_ok() => Ok(format!(
                "{} does not exist yet: the first run creates it in {} (as the user it runs as)",
                dir.display(),
                parent.display()
            )),
            parent => Err(format!(
                "{} does not exist and {user} cannot create it in {}; create it, owned by the \
                 user cspguard runs as (under systemd: {systemd})",
                dir.display(),
                parent.map_or_else(|| "/".to_owned(), |p| p.display().to_string())
            )),
        }
    };
    r.result(check, verdict, String::clone).is_some()
}

/// The receivables export: the path (or glob) matches files this user can read.
pub(super) fn receivables(r: &mut Report<'_>, cfg: &Config, user: &User) {
    let Some(rc) = &cfg.receivables else {
        r.line(
            Status::Skip,
            "receivables",
            "no [receivables] section: no dunning",
        );
        return;
    };
    let files = match crate::receivables::glob::expand(&rc.path) {
        Ok(files) => files,
        Err(e) => return r.line(Status::Fail, "receivables", e),
    };
    if files.is_empty() {
        return r.line(
            Status::Fail,
            "receivables",
            format!(
                "receivables.path {:?} matches no file that {user} can see; put the export \
                 there, fix [receivables] path, or make its directory readable by this user \
                 (a run with no export does no dunning)",
                rc.path
            ),
        );
    }
    let mut extra: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    extra.extend(rc.mapping_file.as_deref());
    for file in extra {
        if let Err(e) = access::read_some(file) {
            return r.line(
                Status::Fail,
                "receivables",
                format!(
                    "cannot read {} as {user}: {e}; make it readable by the user cspguard runs \
                     as",
                    file.display()
                ),
            );
        }
    }
    r.line(
        Status::Pass,
        "receivables",
        format!(
            "{} file(s) match {:?} and are readable",
            files.len(),
            rc.path
        ),
    );
}

/// The `[metrics] textfile` directory: a run replaces the file there atomically.
pub(super) fn metrics(r: &mut Report<'_>, cfg: &Config, user: &User) {
    let Some(file) = &cfg.metrics.textfile else {
        r.line(Status::Skip, "metrics directory", "no [metrics] textfile");
        return;
    };
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let systemd = format!("ReadWritePaths={} in a drop-in", dir.display());
    directory(r, "metrics directory", dir, user, &systemd);
}

/// The file transport's outbox directory, when mail goes there.
pub(super) fn outbox(r: &mut Report<'_>, cfg: &Config, user: &User) {
    if let Some(m) = &cfg.mail
        && m.transport == TransportKind::File
        && let Some(dir) = &m.outbox_dir
    {
        let systemd = format!("ReadWritePaths={} in a drop-in", dir.display());
        directory(r, "outbox directory", dir, user, &systemd);
    }
}

/// Templates: the shipped set and the overrides load, and every override file can be read.
pub(super) fn templates(r: &mut Report<'_>, cfg: &Config, user: &User) {
    let verdict = Renderer::new(cfg.templates.dir.clone())
        .map_err(|e| format!("{e} (doctor runs as {user})"))
        .and_then(|_| match &cfg.templates.dir {
            None => Ok("shipped set loads".to_owned()),
            Some(dir) => read_tree(dir)
                .map(|n| format!("shipped set and {} ({n} files) load", dir.display()))
                .map_err(|(path, e)| {
                    format!(
                        "cannot read {} as {user}: {e}; make the templates directory, its \
                         subdirectories and files readable by the user cspguard runs as",
                        path.display()
                    )
                }),
        });
    r.result("templates", verdict, String::clone);
}

/// Read every file under `dir` (two levels: `<locale>/<name>`), up to [`MAX_TEMPLATE_FILES`].
fn read_tree(dir: &Path) -> Result<usize, (std::path::PathBuf, std::io::Error)> {
    let mut count = 0;
    let mut pending = vec![(dir.to_path_buf(), 0u8)];
    while let Some((d, depth)) = pending.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| (d.clone(), e))?;
        for entry in entries {
            let path = entry.map_err(|e| (d.clone(), e))?.path();
            if path.is_dir() {
                if depth < 1 {
                    pending.push((path, depth + 1));
                }
            } else if count < MAX_TEMPLATE_FILES {
                access::read_some(&path).map_err(|e| (path.clone(), e))?;
                count += 1;
            }
        }
    }
    Ok(count)
}

/// Where a secret comes from, in words (never its value).
fn describe_source(r: &SecretRef) -> String {
    if let Some(p) = &r.file {
        format!("file {}", p.display())
    } else if let Some(v) = &r.env {
        format!("environment variable {v}")
    } else if r.inline {
        "the config file (inline)".to_owned()
    } else {
        format!("systemd credential {}", r.name)
    }
}
