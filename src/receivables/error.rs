//! Import errors. A [`Problem`] is one thing wrong in an input file, always with the file, the
//! 1-based physical line and the 1-based character column; an [`ImportError`] is why an import
//! produced no receivables at all (the import is all or nothing).
//!
//! Invariant: `ImportError::Invalid` holds at least one problem and at most [`MAX_PROBLEMS`];
//! `truncated` says whether more were found and not kept.

use std::fmt;
use std::path::PathBuf;

use super::config::ConfigError;

/// How many problems an import collects before it stops looking.
pub const MAX_PROBLEMS: usize = 20;

/// One problem in an input file, shown as `file:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based physical line.
    pub line: u64,
    /// 1-based character column in the physical line.
    pub column: u64,
    /// What is wrong, with the header name and value when there is one, and what was expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Why an import produced nothing. Every variant means: no dunning from this data this run.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("invalid receivables configuration: {0}")]
    Config(#[from] ConfigError),
    #[error(
        "no receivables export matched {pattern}: check receivables.path and that the billing \
         export ran (a missing export must not look like \"everyone paid\")"
    )]
    NoFilesMatched { pattern: String },
    #[error("receivables.path {pattern:?} is not a valid glob: {reason}")]
    BadPattern { pattern: String, reason: String },
    #[error(
        "receivables file {} is larger than receivables.max_file_mb = {limit_mb} MiB: nothing was \
         imported; split the export or raise the limit",
        path.display()
    )]
    TooLarge { path: PathBuf, limit_mb: u64 },
    #[error("cannot read receivables export {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "receivables export {} was last modified {age_days} days ago, more than receivables.max_age_days = {max_age_days}: \
         refresh the export (a stale ledger must not drive dunning)",
        path.display()
    )]
    Stale {
        path: PathBuf,
        age_days: i64,
        max_age_days: u32,
    },
    #[error("{}", render_problems(problems, *truncated))]
    Invalid {
        problems: Vec<Problem>,
        truncated: bool,
    },
}

impl ImportError {
    /// The per-position problems, empty for file-level errors.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ImportError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn render_problems(problems: &[Problem], truncated: bool) -> String {
    let mut s = format!(
        "receivables import rejected ({}{} problem{}); no receivables were imported, fix the export and rerun:",
        problems.len(),
        if truncated { "+" } else { "" },
        if problems.len() == 1 && !truncated {
            ""
        } else {
            "s"
        }
    );
    for p in problems {
        s.push('\n');
        s.push_str(&p.to_string());
    }
    if truncated {
        s.push_str(&format!(
            "\n(stopped after {MAX_PROBLEMS} problems; more may follow)"
        ));
    }
    s
}

/// Collects problems up to [`MAX_PROBLEMS`].
#[derive(Debug, Default)]
pub(crate) struct Problems {
    list: Vec<Problem>,
    truncated: bool,
}

impl Problems {
    /// Records a problem; returns false once one beyond the limit was found (the caller should stop).
    pub(crate) fn push(&mut self, p: Problem) -> bool {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(p);
        } else {
            self.truncated = true;
        }
        !self.truncated
    }

    /// True once a problem beyond the limit was found: stop looking.
    pub(crate) fn is_full(&self) -> bool {
        self.truncated
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// `Ok(())` when nothing was recorded, otherwise the `Invalid` error.
    pub(crate) fn into_result(self) -> Result<(), ImportError> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(ImportError::Invalid {
                problems: self.list,
                truncated: self.truncated,
            })
        }
    }
}
