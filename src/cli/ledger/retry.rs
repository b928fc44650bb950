//! `cspguard retry`: makes an uncertain or failed action eligible again
//! (`cspguard::ledger::admin`).

use cspguard::ledger::admin::RetryRequest;

use crate::cli::OutputFormat;

/// Arguments of `cspguard retry`.
#[derive(Debug, clap::Args)]
pub struct RetryArgs {
    /// Action id (or idempotency key).
    pub id: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

impl From<RetryArgs> for RetryRequest {
    fn from(a: RetryArgs) -> Self {
        RetryRequest {
            id: a.id,
            format: a.format,
        }
    }
}
