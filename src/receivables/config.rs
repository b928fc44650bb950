//! The `[receivables]` configuration section: where the partner's receivables export lives, how it
//! is formatted, and how its rows are matched to Partner Center customers.
//!
//! Invariants: unknown keys are rejected (`deny_unknown_fields`); every key has a default except
//! `path`; [`ReceivablesConfig::validate`] rejects settings that would make an import ambiguous
//! (a multi-byte delimiter, a delimiter equal to the decimal separator, `match_by = "mapping"`
//! without a `mapping_file`, two logical fields mapped to the same header).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `[receivables]` section of the main configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceivablesConfig {
    /// A file path or a glob (`*`, `?`, `[abc]` in any path component), e.g.
    /// `/var/lib/cspguard/import/*.csv`.
    pub path: String,
    /// File format: `auto` (by extension), `csv` or `json`.
    pub format: FileFormat,
    /// CSV field delimiter: a single character, `,` by default (`;` for many European exports,
    /// `\t` for tab-separated files).
    pub delimiter: String,
    /// Decimal separator in amounts: `.` (default) or `,`.
    pub decimal_separator: DecimalSeparator,
    /// Date format in jiff strptime syntax: `%Y-%m-%d` by default, e.g. `%d.%m.%Y`.
    pub date_format: String,
    /// Header names (CSV) or keys (JSON) of the logical fields.
    pub columns: Columns,
    /// How rows are matched to Partner Center customers.
    pub match_by: MatchBy,
    /// CSV mapping partner customer numbers to tenant ids; required when `match_by = "mapping"`.
    pub mapping_file: Option<PathBuf>,
    /// Reject export files whose modification time is older than this many days.
    pub max_age_days: Option<u32>,
    /// Largest export (or mapping) file read, in MiB (default 256, at most 4096); a larger file
    /// is refused whole, not read.
    pub max_file_mb: u64,
}

impl Default for ReceivablesConfig {
    fn default() -> Self {
        ReceivablesConfig {
            path: String::new(),
            format: FileFormat::Auto,
            delimiter: ",".to_owned(),
            decimal_separator: DecimalSeparator::Dot,
            date_format: "%Y-%m-%d".to_owned(),
            columns: Columns::default(),
            match_by: MatchBy::TenantId,
            mapping_file: None,
            max_age_days: None,
            max_file_mb: DEFAULT_MAX_FILE_MB,
        }
    }
}

/// Default of `receivables.max_file_mb`.
pub const DEFAULT_MAX_FILE_MB: u64 = 256;

impl ReceivablesConfig {
    /// `max_file_mb` in bytes.
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_mb.saturating_mul(1024 * 1024)
    }
}

/// Format of an export file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// `.json` files are JSON, everything else is CSV.
    Auto,
    Csv,
    Json,
}

impl FileFormat {
    /// The concrete format of `path`: `Auto` resolves by extension (`.json`, case-insensitive, is
    /// JSON; anything else is CSV).
    pub fn resolve(self, path: &Path) -> FileFormat {
        match self {
            FileFormat::Auto => {
                let is_json = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| e.eq_ignore_ascii_case("json"));
                if is_json {
                    FileFormat::Json
                } else {
                    FileFormat::Csv
                }
            }
            other => other,
        }
    }
}

/// Decimal separator used by amounts in the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum DecimalSeparator {
    /// `1234.50`, `1,234.50`.
    #[serde(rename = ".")]
    Dot,
    /// `1234,50`, `1.234,50`, `1 234,50`.
    #[serde(rename = ",")]
    Comma,
}

impl DecimalSeparator {
    /// The separator character.
    pub fn as_char(self) -> char {
        match self {
            DecimalSeparator::Dot => '.',
            DecimalSeparator::Comma => ',',
        }
    }
}

/// How receivable rows are matched to Partner Center customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchBy {
    /// The customer column holds the Partner Center tenant id (a GUID).
    TenantId,
    /// The customer column holds the customer's primary domain (`contoso.onmicrosoft.com`).
    Domain,
    /// The customer column holds the partner's own customer number, mapped via `mapping_file`.
    Mapping,
}

/// Header names of the logical fields (matched case-insensitively, surrounding spaces ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Columns {
    pub customer: String,
    pub invoice: String,
    pub issue_date: String,
    pub due_date: String,
    pub amount: String,
    pub amount_paid: String,
    pub currency: String,
    /// Optional column: when the export has no such header, the status is derived from the amounts.
    pub status: String,
    /// Optional column: overrides the billing contact email from Partner Center.
    pub contact_email: String,
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            customer: "customer".to_owned(),
            invoice: "invoice".to_owned(),
            issue_date: "issue_date".to_owned(),
            due_date: "due_date".to_owned(),
            amount: "amount".to_owned(),
            amount_paid: "amount_paid".to_owned(),
            currency: "currency".to_owned(),
            status: "status".to_owned(),
            contact_email: "contact_email".to_owned(),
        }
    }
}

/// A logical field of a receivable row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Customer,
    Invoice,
    IssueDate,
    DueDate,
    Amount,
    AmountPaid,
    Currency,
    Status,
    ContactEmail,
}

impl Field {
    /// All fields, in documented column order.
    pub const ALL: [Field; 9] = [
        Field::Customer,
        Field::Invoice,
        Field::IssueDate,
        Field::DueDate,
        Field::Amount,
        Field::AmountPaid,
        Field::Currency,
        Field::Status,
        Field::ContactEmail,
    ];

    /// The key of this field in `[receivables.columns]`.
    pub fn key(self) -> &'static str {
        match self {
            Field::Customer => "customer",
            Field::Invoice => "invoice",
            Field::IssueDate => "issue_date",
            Field::DueDate => "due_date",
            Field::Amount => "amount",
            Field::AmountPaid => "amount_paid",
            Field::Currency => "currency",
            Field::Status => "status",
            Field::ContactEmail => "contact_email",
        }
    }

    /// Whether the export must contain this column.
    pub fn is_required(self) -> bool {
        !matches!(self, Field::Status | Field::ContactEmail)
    }
}

impl Columns {
    /// The configured header name of `field`.
    pub fn header(&self, field: Field) -> &str {
        match field {
            Field::Customer => &self.customer,
            Field::Invoice => &self.invoice,
            Field::IssueDate => &self.issue_date,
            Field::DueDate => &self.due_date,
            Field::Amount => &self.amount,
            Field::AmountPaid => &self.amount_paid,
            Field::Currency => &self.currency,
            Field::Status => &self.status,
            Field::ContactEmail => &self.contact_email,
        }
    }
}

/// A `[receivables]` setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "receivables.delimiter = {0:?} must be a single ASCII character such as \",\", \";\" or \"\\t\""
    )]
    BadDelimiter(String),
    #[error(
        "receivables.delimiter and receivables.decimal_separator are both {0:?}: amounts would be \
         split across columns; use delimiter = \";\" with decimal_separator = \",\""
    )]
    DelimiterIsDecimalSeparator(char),
    #[error(
        "receivables.match_by = \"mapping\" needs receivables.mapping_file (a CSV: customer number, tenant id)"
    )]
    MissingMappingFile,
    #[error("receivables.columns.{0} is empty: give the header name of that column")]
    EmptyColumn(&'static str),
    #[error(
        "receivables.columns.{first} and receivables.columns.{second} both name the header {header:?}: \
         each logical field needs its own column"
    )]
    SharedColumn {
        first: &'static str,
        second: &'static str,
        header: String,
    },
    #[error("receivables.date_format is empty: use e.g. \"%Y-%m-%d\" or \"%d.%m.%Y\"")]
    EmptyDateFormat,
    #[error("receivables.max_file_mb = {0}: must be between 1 and 4096")]
    MaxFileSize(u64),
    #[error(
        "receivables.path is empty: give the export file or a glob such as \"/var/lib/cspguard/import/*.csv\""
    )]
    EmptyPath,
}

impl ReceivablesConfig {
    /// The delimiter as a byte, after validation.
    pub fn delimiter_byte(&self) -> Result<u8, ConfigError> {
        let d = if self.delimiter == "\\t" {
            "\t"
        } else {
            self.delimiter.as_str()
        };
        match d.as_bytes() {
            [b] if b.is_ascii()
                && !b.is_ascii_alphanumeric()
                && *b != b'"'
                && *b != b'\n'
                && *b != b'\r' =>
            {
                Ok(*b)
            }
            _ => Err(ConfigError::BadDelimiter(self.delimiter.clone())),
        }
    }

    /// Checks the settings used to parse files (everything except `path` and matching).
    pub fn validate_format(&self) -> Result<(), ConfigError> {
        let delim = self.delimiter_byte()?;
        if char::from(delim) == self.decimal_separator.as_char() {
            return Err(ConfigError::DelimiterIsDecimalSeparator(char::from(delim)));
        }
        if self.date_format.trim().is_empty() {
            return Err(ConfigError::EmptyDateFormat);
        }
        if !(1..=4096).contains(&self.max_file_mb) {
            return Err(ConfigError::MaxFileSize(self.max_file_mb));
        }
        for (i, a) in Field::ALL.iter().enumerate() {
            let ha = self.columns.header(*a).trim();
            if ha.is_empty() {
                return Err(ConfigError::EmptyColumn(a.key()));
            }
            for b in Field::ALL.iter().skip(i + 1) {
                if self.columns.header(*b).trim().eq_ignore_ascii_case(ha) {
                    return Err(ConfigError::SharedColumn {
                        first: a.key(),
                        second: b.key(),
                        header: ha.to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Checks the whole section, including that `path` is set.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.path.trim().is_empty() {
            return Err(ConfigError::EmptyPath);
        }
        if self.match_by == MatchBy::Mapping && self.mapping_file.is_none() {
            return Err(ConfigError::MissingMappingFile);
        }
        self.validate_format()
    }
}
