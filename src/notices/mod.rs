//! Notices: everything cspguard says to people. Customer dunning emails (reminders, final
//! notice, suspension, reactivation, budget threshold) in the customer's own language, the ops
//! team's alerts and daily digest, and their delivery.
//!
//! Invariants: templates render completely or not at all (an error never yields a half-rendered
//! email); undefined template variables are errors; HTML bodies are autoescaped; subjects are a
//! single line; money is `rust_decimal` and dates are `jiff`, formatted per locale by
//! [`format`]. Every message carries a Message-ID derived from its action's idempotency key, and
//! no customer-controlled value can add a header ([`mail`]).

pub mod format;
pub mod mail;
pub mod preview;
pub mod templates;
