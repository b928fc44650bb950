//! `cspguard approve`: approves actions that wait for approval (`cspguard::ledger::admin`).

use cspguard::ledger::admin::ApproveRequest;

use crate::cli::OutputFormat;

/// Arguments of `cspguard approve`.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// Action ids (or idempotency keys).
    #[arg(required = true, num_args = 1..)]
    pub ids: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

impl From<ApproveArgs> for ApproveRequest {
    fn from(a: ApproveArgs) -> Self {
        ApproveRequest {
            ids: a.ids,
            format: a.format,
        }
    }
}
