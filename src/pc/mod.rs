//! The Partner Center boundary: typed models, lenient parsing, authentication, the one transport
//! that owns retries and rate limiting, paging, and the typed client used by collection and
//! enforcement. Nothing outside this module speaks HTTP to Partner Center.

pub mod lenient;
pub mod models;
