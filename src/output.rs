//! How read-only commands print: the output formats shared by the library's renderers (ledger
//! administration, receivables checks) and the command line that chooses between them.

/// Output formats shared by read-only commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human-readable tables.
    Table,
    /// Machine-readable JSON.
    Json,
}
