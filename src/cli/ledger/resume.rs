//! `cspguard resume`: ends a pause early (`cspguard::ledger::admin`).

use cspguard::ledger::admin::ResumeRequest;

use crate::cli::OutputFormat;

/// Arguments of `cspguard resume`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The customer: the id its holds were placed for, or its company name (or a unique part of
    /// it) or primary domain as the last run saw them.
    pub customer: String,
    /// Resume only this invoice (default: every hold of the customer).
    #[arg(long)]
    pub invoice: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

impl From<ResumeArgs> for ResumeRequest {
    fn from(a: ResumeArgs) -> Self {
        ResumeRequest {
            customer: a.customer,
            invoice: a.invoice,
            format: a.format,
        }
    }
}
