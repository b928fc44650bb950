//! The billing reconciliation benchmark (issue 17): a tenant whose billed export holds N
//! generated line items (`SimBilling::synthetic_lines`), the configuration that reconciles one
//! period against it, and the report of the measured `cspguard reconcile` child processes
//! (peak resident memory from `wait4`, wall time, lines read). The point is that memory stays
//! flat as the export grows: the blob is streamed through the gzip decoder line by line.

use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::sim::Dataset;

/// Customers of the benchmark tenant (the generated lines are spread over them).
pub const CUSTOMERS: usize = 1_000;

/// The tenant: `bench::tenant`'s customers and receivables, with one billed period scripted
/// and `lines` generated line items added to its export.
pub fn tenant(seed: u64, lines: u64, now: Timestamp, tz: &TimeZone) -> (Dataset, String) {
    let mut t = super::tenant(seed, CUSTOMERS, now, tz);
    t.dataset.script_billing(1);
    t.dataset.billing.synthetic_lines = lines;
    (t.dataset, t.receivables_csv)
}

/// The configuration: `bench::config_toml` plus Graph and one reconciled period, no unbilled
/// export, polling without pauses.
pub fn config_toml(
    base_url: &str,
    receivables: &std::path::Path,
    state: &std::path::Path,
) -> String {
    format!(
        "{}[graph]\nbase_url = \"{base_url}\"\n\
         [reconciliation]\nenabled = true\nperiods = 1\nunbilled = false\n\
         max_poll_interval_secs = 0\n",
        super::config_toml(base_url, receivables, state, 450, 8)
    )
}

/// One measured reconciliation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReconMeasurement {
    /// Generated line items in the export (plus the scripted ones).
    pub generated_lines: u64,
    /// Line items the reconciliation read (from its report).
    pub lines_read: u64,
    pub bad_lines: u64,
    pub exit: i32,
    pub wall_secs: f64,
    pub peak_rss_mib: f64,
}

/// The Markdown table of the measurements.
pub fn to_markdown(rows: &[ReconMeasurement]) -> String {
    let mut out = String::from(
        "| export line items | lines read | unreadable | exit | wall (s) | peak RSS (MiB) |\n\
         |---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {:.1} |",
            r.generated_lines, r.lines_read, r.bad_lines, r.exit, r.wall_secs, r.peak_rss_mib
        );
    }
    out
}
