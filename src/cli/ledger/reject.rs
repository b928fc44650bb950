//! `cspguard reject`: rejects actions that wait for approval (`cspguard::ledger::admin`).

use cspguard::ledger::admin::RejectRequest;

use crate::cli::OutputFormat;

/// Arguments of `cspguard reject`.
#[derive(Debug, clap::Args)]
pub struct RejectArgs {
    /// Action ids (or idempotency keys).
    #[arg(required = true, num_args = 1..)]
    pub ids: Vec<String>,
    /// Why (recorded with the rejection).
    #[arg(long)]
    pub reason: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

impl From<RejectArgs> for RejectRequest {
    fn from(a: RejectArgs) -> Self {
        RejectRequest {
            ids: a.ids,
            reason: a.reason,
            format: a.format,
        }
    }
}
