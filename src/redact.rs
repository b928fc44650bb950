//! Redaction of known secret values from text that came from outside the process.
//!
//! Owns: the process-wide registry of secret values in use (client secret, refresh and access
//! tokens, SMTP password) and [`redact`], which replaces every occurrence of one of them with
//! `[redacted]`. Server-supplied text (error descriptions, echoed bodies, SMTP replies) passes
//! through [`redact`] where it enters an error, and everything that leaves the process passes a
//! last time on its way out: log lines (`crate::logging`'s writers), the JSON run report and the
//! metrics labels (`crate::observe`), and every email (`Mailer::build_message`).
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

/// `text` with every registered secret value replaced by `[redacted]`: as it is, URL-encoded (an
/// echoed form), HTML-escaped (a rendered email) and JSON-escaped (a JSON log line or report).
pub fn redact(text: &str) -> String {
    let known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = text.to_owned();
    for secret in known.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
        for form in [
            form_encode(secret),
            html_escape(secret),
            json_escape(secret),
        ] {
            if form != *secret && out.contains(form.as_str()) {
                out = out.replace(form.as_str(), REDACTED);
            }
        }
    }
    out
}

/// [`redact`] over UTF-8 bytes (a log line as the formatter wrote it); bytes that are not UTF-8
/// pass unchanged.
pub fn redact_bytes(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let out = redact(text);
            if out == text {
                std::borrow::Cow::Borrowed(bytes)
            } else {
                std::borrow::Cow::Owned(out.into_bytes())
            }
        }
        Err(_) => std::borrow::Cow::Borrowed(bytes),
    }
}

/// Every string in `value` (keys too) passed through [`redact`]: the last pass over a JSON
/// document (a run report) before it leaves the process.
pub fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            let out = redact(s);
            if out != *s {
                *s = out;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        serde_json::Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut v) in entries {
                redact_json(&mut v);
                map.insert(redact(&key), v);
            }
        }
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {}
    }
}

/// How minijinja's HTML autoescape writes a value.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '/' => out.push_str("&#x2f;"),
            c => out.push(c),
        }
    }
    out
}

/// A value as it appears inside a JSON string.
fn json_escape(s: &str) -> String {
    let quoted = serde_json::Value::from(s).to_string();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_owned()
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

    #[test]
    fn html_and_json_escaped_forms_and_json_documents_are_redacted() {
        register("redact-test-<a&b>/\"q\"");
        let html = redact("secret: redact-test-&lt;a&amp;b&gt;&#x2f;&quot;q&quot;");
        assert_eq!(html, format!("secret: {REDACTED}"));
        let json = redact(r#"{"m":"redact-test-<a&b>/\"q\""}"#);
        assert_eq!(json, format!(r#"{{"m":"{REDACTED}"}}"#));
        let mut doc = serde_json::json!({"errors": ["x redact-test-<a&b>/\"q\" y"], "n": 1});
        redact_json(&mut doc);
        assert_eq!(doc["errors"][0], format!("x {REDACTED} y"));
        assert_eq!(
            redact_bytes(b"line redact-test-<a&b>/\"q\"\n").as_ref(),
            format!("line {REDACTED}\n").as_bytes()
        );
    }
}
