//! The Microsoft Graph boundary: the app-only Graph client ([`GraphClient`]) on the same
//! transport as Partner Center (one place for retries, `Retry-After`, rate limiting, body caps
//! and call statistics), `@odata.nextLink` paging, asynchronous operations (202 + `Location`),
//! and the typed endpoints cspguard uses: partner security alerts ([`alerts`]) and billing
//! reconciliation exports ([`billing`]).
//!
//! Invariants:
//! * Graph tokens are app-only, for the Graph audience, from the same Entra application as
//!   Partner Center; a Partner Center token is never sent to Graph.
//! * The bearer token is only ever sent to the configured Graph origin: next links and operation
//!   locations on any other origin are refused, not followed.
//! * Nothing outside this module speaks HTTP to Graph (blob downloads of billing exports carry
//!   no bearer token and live with the reconciliation).

pub mod alerts;
pub mod billing;
pub mod client;

pub use client::{
    Accepted, DEFAULT_GRAPH_BASE_URL, GRAPH_RESOURCE, GraphClient, GraphOptions, GraphPages, Polled,
};
