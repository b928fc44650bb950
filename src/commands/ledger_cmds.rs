//! Ledger CLI commands (owned by the ledger work item): placeholder until it lands.

/// Subcommands that read or change the ledger.
#[derive(Debug, clap::Subcommand)]
pub enum LedgerCommand {}
