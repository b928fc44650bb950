//! Command handlers: one module per group of CLI subcommands. Each handler takes parsed arguments
//! and writes to a caller-supplied writer; exit codes are decided in `main.rs` via `crate::exit`.

pub mod fraud;
pub mod ledger_cmds;
pub mod receivables;
pub mod simulate;
pub mod templates;
