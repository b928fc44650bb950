//! Reading the emails cspguard sent (from the embedded SMTP server or a file outbox) through the
//! `mail-parser` crate (test support, not shipped).
//!
//! A [`Mail`] keeps the raw, unfolded header values (to assert what is on the wire, e.g. the
//! exact `To` or that there is no `Bcc`), the decoded subject, and the decoded leaf parts.

use mail_parser::{MessageParser, MimeHeaders as _, PartType};

/// One body part: its raw `Content-Type` and its decoded text.
#[derive(Debug, Clone)]
pub struct Part {
    pub content_type: String,
    pub body: String,
}

/// A parsed message; see the module doc.
#[derive(Debug, Clone)]
pub struct Mail {
    headers: Vec<(String, String)>,
    /// The subject with RFC 2047 encoded words decoded.
    pub subject: Option<String>,
    /// The leaf parts in order (text, then HTML for a multipart/alternative).
    pub parts: Vec<Part>,
}

impl Mail {
    /// Parses a whole message (CRLF or LF line ends).
    pub fn parse(raw: &[u8]) -> Mail {
        let message = MessageParser::default()
            .parse(raw)
            .expect("a MIME message with headers");
        let bytes = message.raw_message();
        let raw_value = |start: usize, end: usize| -> String {
            let value = String::from_utf8_lossy(bytes.get(start..end).unwrap_or_default());
            // Unfold: a line break followed by white space continues the header.
            value
                .replace("\r\n", "")
                .replace('\n', "")
                .trim()
                .to_owned()
        };
        let headers = message
            .headers()
            .iter()
            .map(|h| {
                let value = raw_value(h.offset_start as usize, h.offset_end as usize);
                (h.name.as_str().to_owned(), value)
            })
            .collect();
        let parts = message
            .parts
            .iter()
            .filter_map(|p| {
                let body = match &p.body {
                    PartType::Text(t) | PartType::Html(t) => t.to_string(),
                    _ => return None,
                };
                let content_type = p
                    .headers
                    .iter()
                    .find(|h| h.name.as_str().eq_ignore_ascii_case("Content-Type"))
                    .map(|h| raw_value(h.offset_start as usize, h.offset_end as usize))
                    .or_else(|| p.content_type().map(|ct| ct.c_type.to_string()))
                    .unwrap_or_default();
                Some(Part { content_type, body })
            })
            .collect();
        Mail {
            headers,
            subject: message.subject().map(str::to_owned),
            parts,
        }
    }

    /// Every raw value of header `name`, in order.
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The decoded subject, or "" without one.
    pub fn subject(&self) -> String {
        self.subject.clone().unwrap_or_default()
    }

    /// The raw `Message-ID`, angle brackets included, or "" without one.
    pub fn message_id(&self) -> String {
        self.header("Message-ID")
            .first()
            .map(|s| (*s).to_owned())
            .unwrap_or_default()
    }
}

/// Every `.eml` message in a file outbox, parsed, in file-name order.
pub fn outbox(dir: &std::path::Path) -> Vec<Mail> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("outbox {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| Mail::parse(&std::fs::read(p).expect("read an outbox message")))
        .collect()
}
