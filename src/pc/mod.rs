//! The Partner Center boundary: typed models, lenient parsing, authentication, the one transport
//! that owns retries and rate limiting, paging, and the typed client used by collection and
//! enforcement. Nothing outside this module speaks HTTP to Partner Center.

pub mod auth;
pub mod client;
pub mod error;
pub mod lenient;
pub mod limits;
pub mod models;
pub mod paging;
pub mod ratelimit;
pub mod retry;
pub mod store;
pub mod token;
pub mod transport;
pub mod url;

pub use auth::TokenStyle;
pub use client::{ClientOptions, PartnerCenter};
pub use error::PcError;
pub use limits::Limits;
pub use paging::{Collection, Pages};
pub use ratelimit::{RateLimiter, WindowLimiter};
pub use retry::RetryPolicy;
pub use store::{FileRefreshTokenStore, MemoryRefreshTokenStore, RefreshTokenStore, StoreError};
pub use transport::{CallStats, EndpointStats};
