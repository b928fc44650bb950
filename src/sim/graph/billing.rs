//! Simulated billing reconciliation exports (`/v1.0/reports/partners/billing/...`): billed and
//! unbilled export requests (202 + `Location`), operations, manifests and blobs.
//! (Not implemented yet: every call answers 501 with a Graph error body.)

use super::{GraphCtx, graph_error};
use crate::sim::wire::SimResponse;

/// The endpoint template of a billing path (`rest` is lower-cased, after `.../billing/`).
pub fn template(_method: &str, _rest: &[&str]) -> &'static str {
    "GRAPH /v1.0/reports/partners/billing/..."
}

/// Serve a billing reconciliation request.
pub fn handle(_ctx: &GraphCtx<'_>) -> SimResponse {
    graph_error(
        501,
        "NotImplemented",
        "The simulator does not serve billing reconciliation exports yet.",
    )
}
