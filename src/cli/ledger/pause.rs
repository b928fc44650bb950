//! `cspguard pause`: pauses dunning and enforcement for a customer (or one invoice) until a
//! date (`cspguard::ledger::admin`).

use cspguard::ledger::admin::PauseRequest;
use jiff::civil::Date;

use crate::cli::OutputFormat;

/// Arguments of `cspguard pause`.
#[derive(Debug, clap::Args)]
pub struct PauseArgs {
    /// The customer: tenant id, company name (or a unique part of it) or primary domain, as the
    /// last run saw them. Unknown or ambiguous names are refused with the candidates (exit 2).
    pub customer: String,
    /// Pause only this invoice (one of the customer's in the last receivables import).
    #[arg(long)]
    pub invoice: Option<String>,
    /// Last day of the pause (YYYY-MM-DD, UTC, inclusive).
    #[arg(long)]
    pub until: Date,
    /// Why (promise to pay, dispute, …).
    #[arg(long)]
    pub reason: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

impl From<PauseArgs> for PauseRequest {
    fn from(a: PauseArgs) -> Self {
        PauseRequest {
            customer: a.customer,
            invoice: a.invoice,
            until: a.until,
            reason: a.reason,
            format: a.format,
        }
    }
}
