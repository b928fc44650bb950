//! `cspguard resolve`: settles an uncertain action after a person checked whether it happened
//! (`cspguard::ledger::admin`).

use cspguard::ledger::Settlement;
use cspguard::ledger::admin::ResolveRequest;

use crate::cli::OutputFormat;

/// Arguments of `cspguard resolve`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("outcome").required(true).args(["sent", "not_sent"])))]
pub struct ResolveArgs {
    /// Action id (or idempotency key) of an uncertain action.
    pub id: String,
    /// It happened (e.g. the customer received the email): mark it done; the customer's dunning
    /// moves on and it is never sent again.
    #[arg(long)]
    pub sent: bool,
    /// It did not happen: make it eligible again; a later run performs it (with every check).
    #[arg(long)]
    pub not_sent: bool,
    /// Why (what was checked); recorded with your user name.
    #[arg(long)]
    pub reason: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

impl From<ResolveArgs> for ResolveRequest {
    fn from(a: ResolveArgs) -> Self {
        ResolveRequest {
            id: a.id,
            settlement: if a.sent {
                Settlement::Sent
            } else {
                Settlement::NotSent
            },
            reason: a.reason,
            format: a.format,
        }
    }
}
