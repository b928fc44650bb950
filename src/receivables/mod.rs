//! Receivables sources: the partner's own customer invoices, due dates and payments, which Partner
//! Center does not know. Owns the [`Receivable`] model, the [`ReceivablesSource`] interface that
//! API connectors will implement later, the file source (CSV/JSON exports), customer matching and
//! aging.
//!
//! Invariants: an import is all or nothing: a source returns every receivable of the export or an
//! [`ImportError`], never a subset (acting on half a ledger is worse than waiting a day); a missing
//! export is an error, never "zero receivables"; invoice numbers are unique across the import;
//! rows are matched to customers only by exact identifiers, never guessed.

pub mod aging;
pub mod check;
pub mod config;
mod csv;
pub mod error;
pub mod glob;
mod json;
pub mod matching;
mod row;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::Serialize;

pub use config::{
    Columns, ConfigError, DecimalSeparator, Field, FileFormat, MatchBy, ReceivablesConfig,
};
pub use error::{ImportError, MAX_PROBLEMS, Problem};
pub use matching::{
    CustomerDirectory, DirectoryCustomer, MatchOutcome, MatchRule, Unmatched, UnmatchedReason,
    match_customers,
};
pub use row::{check_email, parse_amount};

use error::Problems;

/// Status of a customer invoice in the partner's billing system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Open,
    Paid,
    Void,
    Disputed,
}

impl InvoiceStatus {
    /// All statuses, in display order.
    pub const ALL: [InvoiceStatus; 4] = [
        InvoiceStatus::Open,
        InvoiceStatus::Paid,
        InvoiceStatus::Void,
        InvoiceStatus::Disputed,
    ];

    /// Parses `open`, `paid`, `void` or `disputed`, case-insensitively.
    pub fn parse(s: &str) -> Option<InvoiceStatus> {
        let s = s.trim();
        InvoiceStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
            InvoiceStatus::Disputed => "disputed",
        }
    }
}

impl std::fmt::Display for InvoiceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a receivable came from: the file and the 1-based line where its record starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SourcePos {
    pub file: PathBuf,
    pub line: u64,
}

impl std::fmt::Display for SourcePos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One customer invoice of the partner, validated (see `row.rs` for the invariants).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receivable {
    /// Tenant id, primary domain or partner customer number, per `match_by`.
    pub customer_ref: String,
    pub invoice: String,
    pub issue_date: Date,
    pub due_date: Date,
    pub amount: Decimal,
    pub amount_paid: Decimal,
    /// ISO 4217, upper-case, three letters.
    pub currency: String,
    pub status: InvoiceStatus,
    /// Overrides the billing contact from Partner Center for this invoice's notices.
    pub contact_email: Option<String>,
    pub source: SourcePos,
}

impl Receivable {
    /// What the customer still owes on this invoice: `amount - amount_paid`, never negative, and
    /// zero for paid or void invoices. Disputed invoices keep their outstanding amount (policies
    /// decide not to dun them).
    pub fn outstanding(&self) -> Decimal {
        match self.status {
            InvoiceStatus::Paid | InvoiceStatus::Void => Decimal::ZERO,
            InvoiceStatus::Open | InvoiceStatus::Disputed => {
                (self.amount - self.amount_paid).max(Decimal::ZERO)
            }
        }
    }

    /// Days past due as of `today` (negative or zero: not yet overdue).
    pub fn days_past_due(&self, today: Date) -> i64 {
        i64::from(
            self.due_date
                .until(today)
                .map(|s| s.get_days())
                .unwrap_or(0),
        )
    }
}

/// A place receivables come from: today the partner's file exports; later billing-system APIs.
/// Policies depend only on this interface.
pub trait ReceivablesSource {
    /// A short human name for the digest, e.g. `file export /var/lib/cspguard/import/*.csv`.
    fn name(&self) -> String;
    /// Every receivable, or why none can be trusted this run. Never a partial list.
    fn load(&self, now: jiff::Timestamp) -> Result<Vec<Receivable>, ImportError>;
}

/// The CSV/JSON export source configured by `[receivables]`.
#[derive(Debug, Clone)]
pub struct FileSource {
    config: ReceivablesConfig,
}

impl FileSource {
    /// Checks the configuration; files are only read by [`ReceivablesSource::load`].
    pub fn new(config: ReceivablesConfig) -> Result<FileSource, ConfigError> {
        config.validate()?;
        Ok(FileSource { config })
    }

    /// The configuration this source reads with.
    pub fn config(&self) -> &ReceivablesConfig {
        &self.config
    }
}

impl ReceivablesSource for FileSource {
    fn name(&self) -> String {
        format!("file export {}", self.config.path)
    }

    fn load(&self, now: jiff::Timestamp) -> Result<Vec<Receivable>, ImportError> {
        let files = glob::expand(&self.config.path)?;
        if files.is_empty() {
            return Err(ImportError::NoFilesMatched {
                pattern: self.config.path.clone(),
            });
        }
        if let Some(max) = self.config.max_age_days {
            for f in &files {
                check_age(f, now, max)?;
            }
        }
        import_files(&files, &self.config)
    }
}

fn check_age(path: &Path, now: jiff::Timestamp, max_age_days: u32) -> Result<(), ImportError> {
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(io)?;
    let modified = jiff::Timestamp::try_from(modified).map_err(|e| {
        io(std::io::Error::other(format!(
            "modification time out of range: {e}"
        )))
    })?;
    let age_seconds = now.as_second() - modified.as_second();
    let age_days = age_seconds.div_euclid(86_400);
    if age_seconds > i64::from(max_age_days) * 86_400 {
        return Err(ImportError::Stale {
            path: path.to_path_buf(),
            age_days,
            max_age_days,
        });
    }
    Ok(())
}

/// Reads and validates `files` (in the given order) with `config`'s format settings. All or
/// nothing: any problem in any file, including an invoice number that appears twice anywhere,
/// rejects the whole import. Up to [`MAX_PROBLEMS`] problems are collected and reported together.
pub fn import_files(
    files: &[PathBuf],
    config: &ReceivablesConfig,
) -> Result<Vec<Receivable>, ImportError> {
    config.validate_format()?;
    let mut problems = Problems::default();
    let mut out: Vec<Receivable> = Vec::new();
    // Invoice number -> position of its first occurrence.
    let mut seen: HashMap<String, (PathBuf, u64, u64)> = HashMap::new();
    for file in files {
        if problems.is_full() {
            break;
        }
        let bytes = read_bounded(file, config.max_file_mb)?;
        let Some(text) = csv::decode(&bytes, file, &mut problems) else {
            continue;
        };
        let rows = match config.format.resolve(file) {
            FileFormat::Json => json::read_rows(text, file, config, &mut problems),
            _ => csv::read_rows(text, file, config, &mut problems),
        };
        for raw in rows {
            if problems.is_full() {
                break;
            }
            let mut duplicate = false;
            if let Some(inv) = raw.field(Field::Invoice) {
                let key = inv.text.trim().to_owned();
                if !key.is_empty() {
                    if let Some((pf, pl, pc)) = seen.get(&key) {
                        duplicate = true;
                        problems.push(Problem {
                            file: file.clone(),
                            line: inv.line,
                            column: inv.column,
                            message: format!(
                                "{} {:?} appears twice: first at {}:{}:{}; each invoice must appear once in the whole import",
                                config.columns.invoice.trim(),
                                key,
                                pf.display(),
                                pl,
                                pc
                            ),
                        });
                    } else {
                        seen.insert(key, (file.clone(), inv.line, inv.column));
                    }
                }
            }
            match row::build(&raw, file, config) {
                Ok(r) if !duplicate => out.push(r),
                Ok(_) => {}
                Err(ps) => {
                    for p in ps {
                        if !problems.push(p) {
                            break;
                        }
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        problems.into_result().map(|()| Vec::new())
    }
}

/// Reads one export file (format resolved from `config.format` and the extension).
pub fn import_file(
    path: &Path,
    config: &ReceivablesConfig,
) -> Result<Vec<Receivable>, ImportError> {
    import_files(&[path.to_path_buf()], config)
}

/// Read a whole file of at most `limit_mb` MiB; a larger one is refused without being read
/// whole (its declared size is checked first, then at most one byte past the limit is read).
pub fn read_bounded(path: &Path, limit_mb: u64) -> Result<Vec<u8>, ImportError> {
    use std::io::Read as _;
    let limit = limit_mb.saturating_mul(1024 * 1024);
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let too_large = || ImportError::TooLarge {
        path: path.to_path_buf(),
        limit_mb,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}
