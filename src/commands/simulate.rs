//! `cspguard simulate` (owned by the simulator work item): placeholder until it lands.

/// Arguments of `cspguard simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {}
