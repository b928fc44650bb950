//! `cspguard status`: shows the last runs, pending approvals, uncertain and failed actions, and
//! active holds (`cspguard::ledger::admin`).

use cspguard::ledger::admin::StatusRequest;

use crate::cli::OutputFormat;

/// Arguments of `cspguard status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// How many recent runs to show.
    #[arg(long, default_value_t = 5)]
    pub runs: u32,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

impl From<StatusArgs> for StatusRequest {
    fn from(a: StatusArgs) -> Self {
        StatusRequest {
            runs: a.runs,
            format: a.format,
        }
    }
}
