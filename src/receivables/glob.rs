//! File globbing for `receivables.path` through the `glob` crate: `*`, `?` and `[...]` classes
//! (`[a-z]`, `[!0-9]`, `[^0-9]`) within path components; no `**`, no brace expansion.
//!
//! Invariants: results are regular files only, sorted by path (so multi-file imports are read in a
//! stable order); names starting with `.` match only a pattern component starting with `.`
//! (editor swap files and partial downloads are not imported); `*` never crosses a `/`; a pattern
//! that matches nothing yields an empty list, which the caller must treat as an error.

use std::path::{Path, PathBuf};

use glob::{MatchOptions, Pattern};

use super::error::ImportError;

/// How every receivables pattern is matched: case-sensitive, `*` stays within one component, and
/// hidden names need a literal leading dot.
const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// Whether `s` contains glob metacharacters.
pub fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Checks what the crate would accept but receivables paths do not, and spells the shell's `[^`
/// negation the way the crate reads it (`[!`).
fn prepare(pattern: &str) -> Result<String, ImportError> {
    if pattern.contains("**") {
        return Err(bad(
            pattern,
            "\"**\" (recursive matching) is not supported; use one \"*\" per directory level",
        ));
    }
    Ok(pattern.replace("[^", "[!"))
}

fn bad(pattern: &str, reason: &str) -> ImportError {
    ImportError::BadPattern {
        pattern: pattern.to_owned(),
        reason: reason.to_owned(),
    }
}

fn compile(pattern: &str) -> Result<Pattern, ImportError> {
    let prepared = prepare(pattern)?;
    Pattern::new(&prepared).map_err(|e| {
        let reason = if e.msg.contains("range") {
            format!("unclosed '[' character class at character {}", e.pos + 1)
        } else {
            format!("{} at character {}", e.msg, e.pos + 1)
        };
        bad(pattern, &reason)
    })
}

/// Checks a `receivables.path` pattern without touching the file system (config load time):
/// `**` and malformed classes are refused.
pub fn check_pattern(pattern: &str) -> Result<(), ImportError> {
    if has_meta(pattern) {
        compile(pattern)?;
    }
    Ok(())
}

/// The directory part of a path or pattern before its first component with glob
/// metacharacters (for a plain path, its parent); `.` when there is none.
pub fn fixed_dir(pattern: &str) -> PathBuf {
    let path = Path::new(pattern);
    let mut fixed = PathBuf::new();
    let components: Vec<_> = path.components().collect();
    let last = components.len().saturating_sub(1);
    for (i, c) in components.iter().enumerate() {
        let s = c.as_os_str().to_string_lossy();
        if i == last || has_meta(&s) {
            break;
        }
        fixed.push(c);
    }
    if fixed.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        fixed
    }
}

/// Whether file name `name` matches the single-component glob `pattern`.
pub fn matches_name(pattern: &str, name: &str) -> Result<bool, ImportError> {
    Ok(compile(pattern)?.matches_with(name, OPTIONS))
}

/// Expands `pattern` into the sorted list of regular files it names (empty when none).
pub fn expand(pattern: &str) -> Result<Vec<PathBuf>, ImportError> {
    let path = Path::new(pattern);
    if !has_meta(pattern) {
        return Ok(if path.is_file() {
            vec![path.to_path_buf()]
        } else {
            Vec::new()
        });
    }
    compile(pattern)?;
    let prepared = prepare(pattern)?;
    let entries = glob::glob_with(&prepared, OPTIONS)
        .map_err(|e| bad(pattern, &format!("{} at character {}", e.msg, e.pos + 1)))?;
    // Unreadable directories on the way are skipped: what they hold cannot be imported anyway,
    // and an empty result is reported as "nothing matched" by the caller.
    let mut files: Vec<PathBuf> = entries.flatten().filter(|p| p.is_file()).collect();
    files.sort();
    files.dedup();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_matching() {
        let m = |p: &str, n: &str| matches_name(p, n).unwrap_or(false);
        assert!(m("*.csv", "ar-2024.csv"));
        assert!(!m("*.csv", "ar-2024.csv.part"));
        assert!(!m("*.csv", ".hidden.csv"));
        assert!(m(".*.csv", ".hidden.csv"));
        assert!(m("ar-????.csv", "ar-2024.csv"));
        assert!(!m("ar-????.csv", "ar-24.csv"));
        assert!(m("ar-[0-9]*.json", "ar-1.json"));
        assert!(!m("ar-[!0-9]*.json", "ar-1.json"));
        assert!(!m("ar-[^0-9]*.json", "ar-1.json"));
        assert!(m("ar-[^0-9]*.json", "ar-x.json"));
        assert!(m("ar-[]x].csv", "ar-].csv"));
        assert!(matches_name("ar-[0-9.csv", "x").is_err());
        assert!(matches_name("**.csv", "x").is_err());
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        let err = |p: &str| expand(p).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err("ar-[0-9.csv").contains("unclosed '['"),
            "{}",
            err("ar-[0-9.csv")
        );
        assert!(err("import/**/*.csv").contains("one \"*\" per directory level"));
    }

    #[test]
    fn expand_sorts_and_keeps_files_only() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        for n in ["b.csv", "a.csv", "c.txt", ".a.csv"] {
            std::fs::write(dir.path().join(n), "x")?;
        }
        std::fs::create_dir(dir.path().join("d.csv"))?;
        let pattern = format!("{}/*.csv", dir.path().display());
        let got = expand(&pattern)?;
        assert_eq!(
            got,
            vec![dir.path().join("a.csv"), dir.path().join("b.csv")]
        );
        let none = format!("{}/*.json", dir.path().display());
        assert!(expand(&none)?.is_empty());
        Ok(())
    }

    #[test]
    fn expand_matches_directories_one_level_at_a_time() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        for sub in ["2024", "2025", ".old"] {
            std::fs::create_dir(dir.path().join(sub))?;
            std::fs::write(dir.path().join(sub).join("ar.csv"), "x")?;
        }
        std::fs::create_dir_all(dir.path().join("2026/deeper"))?;
        std::fs::write(dir.path().join("2026/deeper/ar.csv"), "x")?;
        let got = expand(&format!("{}/*/ar.csv", dir.path().display()))?;
        assert_eq!(
            got,
            vec![
                dir.path().join("2024/ar.csv"),
                dir.path().join("2025/ar.csv")
            ]
        );
        Ok(())
    }
}
