//! Minimal file globbing for `receivables.path`: `*`, `?` and `[...]` classes (`[a-z]`, `[!0-9]`)
//! within path components; no `**`, no brace expansion. Kept in-crate to avoid a dependency.
//!
//! Invariants: results are regular files only, sorted by path (so multi-file imports are read in a
//! stable order); names starting with `.` match only a pattern component starting with `.`
//! (editor swap files and partial downloads are not imported); a pattern that matches nothing
//! yields an empty list, which the caller must treat as an error.

use std::path::{Component, Path, PathBuf};

use super::error::ImportError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Whether `s` contains glob metacharacters.
pub fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn compile(component: &str, pattern: &str) -> Result<Vec<Token>, ImportError> {
    let bad = |reason: &str| ImportError::BadPattern {
        pattern: pattern.to_owned(),
        reason: reason.to_owned(),
    };
    if component.contains("**") {
        return Err(bad(
            "\"**\" (recursive matching) is not supported; use one \"*\" per directory level",
        ));
    }
    let mut tokens = Vec::new();
    let mut chars = component.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::Any),
            '[' => {
                let negated = matches!(chars.peek(), Some('!' | '^'));
                if negated {
                    chars.next();
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let Some(lo) = chars.next() else {
                        return Err(bad("unclosed '[' character class"));
                    };
                    if lo == ']' && !first {
                        break;
                    }
                    first = false;
                    let mut ahead = chars.clone();
                    if ahead.next() == Some('-') && ahead.peek().is_some_and(|c| *c != ']') {
                        chars.next();
                        let hi = chars.next().unwrap_or(lo);
                        ranges.push((lo, hi));
                    } else {
                        ranges.push((lo, lo));
                    }
                }
                tokens.push(Token::Class { negated, ranges });
            }
            c => tokens.push(Token::Char(c)),
        }
    }
    Ok(tokens)
}

fn matches(tokens: &[Token], name: &[char]) -> bool {
    match tokens.split_first() {
        None => name.is_empty(),
        Some((Token::Star, rest)) => {
            (0..=name.len()).any(|k| matches(rest, name.get(k..).unwrap_or_default()))
        }
        Some((t, rest)) => match name.split_first() {
            None => false,
            Some((c, name_rest)) => {
                let ok = match t {
                    Token::Char(x) => x == c,
                    Token::Any => true,
                    Token::Class { negated, ranges } => {
                        ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated
                    }
                    Token::Star => false,
                };
                ok && matches(rest, name_rest)
            }
        },
    }
}

/// Whether file name `name` matches the single-component glob `pattern`.
pub fn matches_name(pattern: &str, name: &str) -> Result<bool, ImportError> {
    let tokens = compile(pattern, pattern)?;
    Ok(component_matches(pattern, &tokens, name))
}

fn component_matches(pattern: &str, tokens: &[Token], name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let chars: Vec<char> = name.chars().collect();
    matches(tokens, &chars)
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
    let mut current: Vec<PathBuf> = vec![PathBuf::new()];
    for comp in path.components() {
        let text = comp.as_os_str().to_string_lossy();
        match comp {
            Component::Normal(_) if has_meta(&text) => {
                let tokens = compile(&text, pattern)?;
                let mut next = Vec::new();
                for dir in &current {
                    let read_from = if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir.as_path()
                    };
                    let Ok(entries) = std::fs::read_dir(read_from) else {
                        continue;
                    };
                    for entry in entries.flatten() {
                        let name = entry.file_name();
                        let Some(name) = name.to_str() else { continue };
                        if component_matches(&text, &tokens, name) {
                            next.push(dir.join(name));
                        }
                    }
                }
                current = next;
            }
            _ => {
                current = current
                    .into_iter()
                    .map(|d| d.join(comp.as_os_str()))
                    .collect();
            }
        }
        if current.is_empty() {
            break;
        }
    }
    let mut files: Vec<PathBuf> = current.into_iter().filter(|p| p.is_file()).collect();
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
        assert!(m("ar-[]x].csv", "ar-].csv"));
        assert!(matches_name("ar-[0-9.csv", "x").is_err());
        assert!(matches_name("**.csv", "x").is_err());
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
}
