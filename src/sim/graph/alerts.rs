//! Simulated partner security alerts (`/beta/security/partner/securityAlerts`): list with
//! `$filter` and `@odata.nextLink` paging, get by id, and PATCH of `status`/`resolvedReason`.
//! (Not implemented yet: every call answers 501 with a Graph error body.)

use super::{GraphCtx, graph_error};
use crate::sim::wire::SimResponse;

/// Serve a security-alerts request.
pub fn handle(_ctx: &GraphCtx<'_>) -> SimResponse {
    graph_error(
        501,
        "NotImplemented",
        "The simulator does not serve partner security alerts yet.",
    )
}
