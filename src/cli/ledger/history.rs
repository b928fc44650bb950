//! `cspguard history`: shows every notice and action with its outcome (`cspguard::ledger::admin`).

use cspguard::ledger::admin::HistoryRequest;
use jiff::civil::Date;

use crate::cli::OutputFormat;

/// Arguments of `cspguard history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Only this customer.
    #[arg(long)]
    pub customer: Option<String>,
    /// Only entries changed on or after this date (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub since: Option<Date>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

impl From<HistoryArgs> for HistoryRequest {
    fn from(a: HistoryArgs) -> Self {
        HistoryRequest {
            customer: a.customer,
            since: a.since,
            format: a.format,
        }
    }
}
