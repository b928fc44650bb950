//! Secret resolution: turns a [`SecretRef`] (built by the config) into a [`SecretString`].
//! A leaf of the config: it owns [`SecretRef`] and imports nothing from `crate::config`.
//!
//! Sources, in order: `<name>_file = PATH`, `<name>_env = VAR`, the inline value, and finally the
//! systemd credential `$CREDENTIALS_DIRECTORY/<name>` (from `LoadCredential=`).
//!
//! Architecture invariant: secret values only ever live inside `secrecy` types. Errors and
//! warnings name the *source* of a secret (path, variable), never its value.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

/// A reference to a secret: never the secret itself, unless given inline (discouraged). The
/// config builds these from its `<name>_file`, `<name>_env` and `<name>` keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretRef {
    /// Logical name, also the systemd credential name looked up in `$CREDENTIALS_DIRECTORY`.
    pub name: &'static str,
    /// `<name>_file = PATH`
    pub file: Option<PathBuf>,
    /// `<name>_env = VAR`
    pub env: Option<String>,
    /// `<name> = "..."` inline in the config file (warned about when the file is readable by others).
    pub inline: bool,
}

/// Errors while resolving a secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "cannot read {name} from {path}: {source}; check the path and that cspguard's user may read it"
    )]
    File {
        name: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} file {path} is empty; put the secret in it")]
    EmptyFile { name: &'static str, path: PathBuf },
    #[error(
        "environment variable {var} (for {name}) is not set or empty; export it or use {name}_file"
    )]
    Env { name: &'static str, var: String },
    #[error(
        "no {name} configured: set {name}_file or {name}_env in the config, or provide the systemd \
         credential {name:?} with LoadCredential="
    )]
    Missing { name: &'static str },
}

/// A warning about how a secret is stored (shown, not fatal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretWarning(pub String);

impl std::fmt::Display for SecretWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Resolve a secret. `inline` is the inline value from the config, if any; `credentials_dir` is
/// `$CREDENTIALS_DIRECTORY` (passed in so tests need not touch the process environment).
pub fn resolve(
    r: &SecretRef,
    inline: Option<&SecretString>,
    env: &dyn Fn(&str) -> Option<String>,
    credentials_dir: Option<&Path>,
) -> Result<SecretString, SecretError> {
    if let Some(path) = &r.file {
        return read_secret_file(r.name, path);
    }
    if let Some(var) = &r.env {
        return match env(var) {
            Some(v) if !v.trim().is_empty() => Ok(SecretString::from(v.trim().to_owned())),
            _ => Err(SecretError::Env {
                name: r.name,
                var: var.clone(),
            }),
        };
    }
    if let Some(value) = inline {
        return Ok(value.clone());
    }
    if let Some(dir) = credentials_dir {
        let path = dir.join(r.name);
        if path.exists() {
            return read_secret_file(r.name, &path);
        }
    }
    Err(SecretError::Missing { name: r.name })
}

/// Resolve with the real process environment.
pub fn resolve_from_env(
    r: &SecretRef,
    inline: Option<&SecretString>,
) -> Result<SecretString, SecretError> {
    let creds = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    resolve(r, inline, &|k| std::env::var(k).ok(), creds.as_deref())
}

/// True when some source is configured for the secret (without reading it).
pub fn is_configured(r: &SecretRef, credentials_dir: Option<&Path>) -> bool {
    r.file.is_some()
        || r.env.is_some()
        || r.inline
        || credentials_dir.is_some_and(|d| d.join(r.name).exists())
}

fn read_secret_file(name: &'static str, path: &Path) -> Result<SecretString, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::File {
        name,
        path: path.to_owned(),
        source,
    })?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(SecretError::EmptyFile {
            name,
            path: path.to_owned(),
        });
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

/// Warnings about secrets readable by others: an inline secret in a group/world-readable config
/// file, or a secret file with group/world permissions.
pub fn permission_warnings(
    config_path: &Path,
    config_mode: Option<u32>,
    refs: &[&SecretRef],
) -> Vec<SecretWarning> {
    let mut out = Vec::new();
    for r in refs {
        if r.inline
            && let Some(mode) = config_mode
            && mode & 0o077 != 0
        {
            out.push(SecretWarning(format!(
                "{} holds the {} inline and is readable by {} (mode {:o}); move the secret to \
                 {}_file or a systemd credential, or run: chmod 600 {}",
                config_path.display(),
                r.name,
                who(mode),
                mode,
                r.name,
                config_path.display()
            )));
        }
        if let Some(path) = &r.file
            && let Some(mode) = mode_of(path)
            && mode & 0o077 != 0
        {
            out.push(SecretWarning(format!(
                "secret file {} ({}) is readable by {} (mode {:o}); run: chmod 600 {}",
                path.display(),
                r.name,
                who(mode),
                mode,
                path.display()
            )));
        }
    }
    out
}

fn who(mode: u32) -> &'static str {
    if mode & 0o007 != 0 {
        "everyone"
    } else {
        "its group"
    }
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Option<u32> {
    None
}

/// Compare a secret with a candidate string without exposing it in a format string (used by the
/// secret-leak tests that grep output for configured secrets).
pub fn secret_appears_in(secret: &SecretString, haystack: &str) -> bool {
    let s = secret.expose_secret();
    !s.is_empty() && haystack.contains(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(file: Option<PathBuf>, env: Option<&str>, inline: bool) -> SecretRef {
        SecretRef {
            name: "client_secret",
            file,
            env: env.map(str::to_owned),
            inline,
        }
    }

    #[test]
    fn file_wins_and_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "  s3cret-value\n").unwrap();
        let got = resolve(&r(Some(p), None, false), None, &|_| None, None).unwrap();
        assert_eq!(got.expose_secret(), "s3cret-value");
    }

    #[test]
    fn env_source_and_missing_env_error_names_variable_not_value() {
        let env = |k: &str| (k == "PC_SECRET").then(|| "from-env".to_owned());
        let got = resolve(&r(None, Some("PC_SECRET"), false), None, &env, None).unwrap();
        assert_eq!(got.expose_secret(), "from-env");
        let e = resolve(&r(None, Some("NOPE"), false), None, &env, None).unwrap_err();
        assert!(e.to_string().contains("NOPE"));
    }

    #[test]
    fn systemd_credential_is_the_fallback() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("client_secret"), "cred-value").unwrap();
        let got = resolve(&r(None, None, false), None, &|_| None, Some(dir.path())).unwrap();
        assert_eq!(got.expose_secret(), "cred-value");
        assert!(is_configured(&r(None, None, false), Some(dir.path())));
    }

    #[test]
    fn missing_secret_says_how_to_configure_it() {
        let e = resolve(&r(None, None, false), None, &|_| None, None).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("client_secret_file") && msg.contains("LoadCredential"));
    }

    #[test]
    fn empty_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "\n").unwrap();
        assert!(matches!(
            resolve(&r(Some(p), None, false), None, &|_| None, None),
            Err(SecretError::EmptyFile { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn warns_about_readable_config_with_inline_secret_and_readable_secret_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "x").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let inline = r(None, None, true);
        let file = r(Some(p.clone()), None, false);
        let w = permission_warnings(Path::new("/etc/c.toml"), Some(0o640), &[&inline, &file]);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].0.contains("its group") && w[0].0.contains("chmod 600 /etc/c.toml"));
        assert!(w[1].0.contains("everyone"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let w = permission_warnings(Path::new("/etc/c.toml"), Some(0o600), &[&inline, &file]);
        assert!(w.is_empty(), "{w:?}");
    }
}
