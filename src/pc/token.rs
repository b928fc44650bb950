//! What the transport knows about tokens: which kind a call needs ([`TokenKind`]), the bearer
//! token it sends ([`Bearer`]) and the small [`TokenSource`] trait it gets them from.
//!
//! The transport depends only on this trait; the authenticator (`pc/auth.rs`) implements it, so
//! token acquisition and the HTTP transport do not import each other.
//!
//! Invariant: a [`Bearer`] never shows its token in `Debug` output.

use std::future::Future;
use std::pin::Pin;

use secrecy::SecretString;

use crate::pc::error::PcError;

/// Which credentials a call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Client credentials (app-only).
    AppOnly,
    /// Refresh-token grant on behalf of the consenting user (App+User).
    AppUser,
}

/// A bearer token handed to the transport, with the cache generation it came from (so a 401
/// drops exactly the token that was rejected).
pub struct Bearer {
    pub(crate) token: SecretString,
    pub(crate) generation: u64,
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bearer([redacted], generation {})", self.generation)
    }
}

/// A boxed, sendable future (what [`TokenSource`] methods return, so the trait stays object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the transport gets bearer tokens from.
pub trait TokenSource: Send + Sync + std::fmt::Debug {
    /// A valid bearer token of `kind`, cached or freshly acquired. A failure that retrying may fix
    /// is a [`PcError::Auth`] with `transient: true`.
    fn bearer(&self, kind: TokenKind) -> BoxFuture<'_, Result<Bearer, PcError>>;

    /// Drop the cached token of `kind` if it is still the one of `generation` (after a 401).
    fn invalidate(&self, kind: TokenKind, generation: u64) -> BoxFuture<'_, ()>;
}
