//! Redaction of known secret values from text that came from outside the process.
//!
//! Owns: the process-wide registry of secret values in use (client secret, refresh and access
//! tokens, SMTP password) and [`redact`], which replaces every occurrence of one of them with
//! `[redacted]`. Server-supplied text (error descriptions, echoed bodies, SMTP replies) passes
//! through [`redact`] before it reaches logs, errors, reports, metrics or emails.
//!
//! Values shorter than [`MIN_SECRET_LEN`] characters are not registered (redacting them would
//! mangle ordinary words); the registry holds at most [`MAX_SECRETS`] values (oldest dropped).

use std::sync::Mutex;

/// Shortest value that is registered as a secret.
pub const MIN_SECRET_LEN: usize = 6;
/// Most values the registry holds; access tokens rotate, so old ones are dropped first.
pub const MAX_SECRETS: usize = 64;
/// What a redacted secret becomes.
pub const REDACTED: &str = "[redacted]";

static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remember `secret` so that [`redact`] removes it from any text.
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.chars().count() < MIN_SECRET_LEN {
        return;
    }
    let mut known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    if known.iter().any(|k| k == secret) {
        return;
    }
    if known.len() >= MAX_SECRETS {
        known.remove(0);
    }
    known.push(secret.to_owned());
}

/// `text` with every registered secret value (and its URL-encoded form) replaced by
/// `[redacted]`.
pub fn redact(text: &str) -> String {
    let known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = text.to_owned();
    for secret in known.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
        let encoded = form_encode(secret);
        if encoded != *secret && out.contains(encoded.as_str()) {
            out = out.replace(encoded.as_str(), REDACTED);
        }
    }
    out
}

/// `application/x-www-form-urlencoded` form of a value (how a secret appears in an echoed form).
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_and_their_form_encoding_are_redacted() {
        register("redact-test-s3cret/+=value");
        let t = redact(
            "echo client_secret=redact-test-s3cret%2F%2B%3Dvalue and redact-test-s3cret/+=value",
        );
        assert!(!t.contains("s3cret"), "{t}");
        assert_eq!(t.matches(REDACTED).count(), 2, "{t}");
        register("abc");
        assert_eq!(redact("abc"), "abc", "short values are not secrets");
    }
}
