//! Checking a receivables export (`cspguard receivables check FILE`): validates it with the
//! configured format and prints what it understood (files, rows, statuses, outstanding per
//! currency, aging, the first rows), or every problem found.
//!
//! Invariants: reads only the given file(s), changes nothing; the outcome, not an error, reports
//! invalid input, so that the command line maps it to an exit code ([`CheckOutcome::exit`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::Serialize;

use super::aging::{Aging, Bucket};
use super::{
    ConfigError, ImportError, InvoiceStatus, Problem, Receivable, ReceivablesConfig, glob,
    import_files,
};
use crate::output::OutputFormat;

/// How many rows `check` prints in its table.
pub const PREVIEW_ROWS: usize = 20;

/// What to check and how to print it.
#[derive(Debug)]
pub struct CheckRequest {
    /// The export to check: a file, or a glob such as "import/*.csv".
    pub file: PathBuf,
    pub format: OutputFormat,
}

/// Result of a check; invalid input is an outcome, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The export is valid; this many receivables were read.
    Valid { receivables: usize },
    /// The export was rejected; the problems were printed.
    Invalid,
}

impl CheckOutcome {
    /// Exit code: 0 when valid, 2 when the export is invalid (bad input data).
    pub fn exit(&self) -> crate::exit::Exit {
        match self {
            CheckOutcome::Valid { .. } => crate::exit::Exit::Ok,
            CheckOutcome::Invalid => crate::exit::Exit::Config,
        }
    }
}

/// Failures of the check itself (not of the export being checked).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The `[receivables]` settings cannot work; suggested exit code 78 (configuration error).
    #[error("invalid [receivables] configuration: {0}")]
    Config(#[from] ConfigError),
    /// Writing the report failed; suggested exit code 74 (I/O error).
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot render the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl crate::exit::ExitStatus for CheckError {
    fn exit(&self) -> crate::exit::Exit {
        match self {
            CheckError::Config(_) => crate::exit::Exit::Config,
            CheckError::Output(_) | CheckError::Json(_) => crate::exit::Exit::Failed,
        }
    }
}

#[derive(Debug, Serialize)]
struct Summary<'a> {
    valid: bool,
    files: Vec<PathBuf>,
    rows: usize,
    invoices_by_status: BTreeMap<&'static str, usize>,
    outstanding_by_currency: BTreeMap<String, Decimal>,
    aging_as_of: Date,
    aging: &'a Aging,
    receivables: &'a [Receivable],
}

#[derive(Debug, Serialize)]
struct Rejection<'a> {
    valid: bool,
    error: String,
    problems: &'a [Problem],
}

/// Check an export and print the result to `out`. `config` is the `[receivables]` section
/// (defaults when absent); `today` is the date aging is computed for.
pub fn check(
    args: &CheckRequest,
    config: Option<&ReceivablesConfig>,
    today: Date,
    out: &mut dyn Write,
) -> Result<CheckOutcome, CheckError> {
    let default = ReceivablesConfig::default();
    let config = config.unwrap_or(&default);
    config.validate_format()?;

    let pattern = args.file.to_string_lossy().into_owned();
    let files = if args.file.exists() || !glob::has_meta(&pattern) {
        Ok(vec![args.file.clone()])
    } else {
        glob::expand(&pattern).and_then(|f| {
            if f.is_empty() {
                Err(ImportError::NoFilesMatched {
                    pattern: pattern.clone(),
                })
            } else {
                Ok(f)
            }
        })
    };
    let result = files.and_then(|files| import_files(&files, config).map(|r| (files, r)));
    match result {
        Ok((files, receivables)) => {
            let aging = Aging::compute(&receivables, today);
            let mut by_status: BTreeMap<&'static str, usize> = BTreeMap::new();
            for s in InvoiceStatus::ALL {
                by_status.insert(s.as_str(), 0);
            }
            let mut outstanding: BTreeMap<String, Decimal> = BTreeMap::new();
            for r in &receivables {
                *by_status.entry(r.status.as_str()).or_default() += 1;
                *outstanding.entry(r.currency.clone()).or_default() += r.outstanding();
            }
            let summary = Summary {
                valid: true,
                files,
                rows: receivables.len(),
                invoices_by_status: by_status,
                outstanding_by_currency: outstanding,
                aging_as_of: today,
                aging: &aging,
                receivables: &receivables,
            };
            match args.format {
                OutputFormat::Json => {
                    serde_json::to_writer_pretty(&mut *out, &summary)?;
                    writeln!(out)?;
                }
                OutputFormat::Table => print_summary(&summary, out)?,
            }
            Ok(CheckOutcome::Valid {
                receivables: receivables.len(),
            })
        }
        Err(err) => {
            match args.format {
                OutputFormat::Json => {
                    let rejection = Rejection {
                        valid: false,
                        error: match &err {
                            ImportError::Invalid { .. } => "invalid export".to_owned(),
                            other => other.to_string(),
                        },
                        problems: err.problems(),
                    };
                    serde_json::to_writer_pretty(&mut *out, &rejection)?;
                    writeln!(out)?;
                }
                OutputFormat::Table => writeln!(out, "INVALID: {err}")?,
            }
            Ok(CheckOutcome::Invalid)
        }
    }
}

fn print_summary(s: &Summary<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "VALID: {} receivable(s) in {} file(s)",
        s.rows,
        s.files.len()
    )?;
    for f in &s.files {
        writeln!(out, "  {}", f.display())?;
    }
    let statuses: Vec<String> = s
        .invoices_by_status
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    writeln!(out, "Invoices by status: {}", statuses.join(", "))?;
    writeln!(out)?;

    writeln!(out, "Outstanding as of {} (days past due):", s.aging_as_of)?;
    let mut aging = Table::new();
    aging.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec![Cell::new("currency")];
    header.extend(Bucket::ALL.iter().map(|b| Cell::new(b.label())));
    header.push(Cell::new("total"));
    aging.set_header(header);
    for (currency, total) in &s.outstanding_by_currency {
        let buckets = s.aging.by_currency.get(currency);
        let mut row = vec![Cell::new(currency)];
        for b in Bucket::ALL {
            let v = buckets
                .and_then(|m| m.get(&b))
                .copied()
                .unwrap_or(Decimal::ZERO);
            row.push(Cell::new(v).set_alignment(CellAlignment::Right));
        }
        row.push(Cell::new(total).set_alignment(CellAlignment::Right));
        aging.add_row(row);
    }
    writeln!(out, "{aging}")?;
    writeln!(out)?;

    if s.receivables.is_empty() {
        return writeln!(out, "No rows (the export has a header only).");
    }
    let shown = s.receivables.len().min(PREVIEW_ROWS);
    writeln!(out, "First {shown} of {} rows:", s.receivables.len())?;
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "source",
        "customer",
        "invoice",
        "issued",
        "due",
        "amount",
        "paid",
        "outstanding",
        "cur",
        "status",
        "contact",
    ]);
    for r in s.receivables.iter().take(PREVIEW_ROWS) {
        t.add_row(vec![
            Cell::new(&r.source),
            Cell::new(&r.customer_ref),
            Cell::new(&r.invoice),
            Cell::new(r.issue_date),
            Cell::new(r.due_date),
            Cell::new(r.amount).set_alignment(CellAlignment::Right),
            Cell::new(r.amount_paid).set_alignment(CellAlignment::Right),
            Cell::new(r.outstanding()).set_alignment(CellAlignment::Right),
            Cell::new(&r.currency),
            Cell::new(r.status),
            Cell::new(r.contact_email.as_deref().unwrap_or("")),
        ]);
    }
    writeln!(out, "{t}")
}
