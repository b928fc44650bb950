//! Shared test support: the embedded SMTP server and small MIME decoding helpers used to check
//! what it received (base64, quoted-printable, RFC 2047 encoded words, header unfolding).

#![allow(dead_code)]

pub mod smtp;

/// Decode standard base64 (padding optional, whitespace ignored); `None` on invalid input.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\r' | b'\n' | b' ' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Decode quoted-printable (RFC 2045), including soft line breaks.
pub fn qp_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') {
                i += 3;
                continue;
            }
            if let Some(hex) = s.get(i + 1..i + 3)
                && let Ok(v) = u8::from_str_radix(hex, 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Split a raw message into (unfolded headers, body).
pub fn split_message(raw: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push_str(line);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.to_owned(), v.trim().to_owned()));
        }
    }
    (headers, body.to_owned())
}

/// All values of header `name`.
pub fn header_values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Decode a header value made of RFC 2047 encoded words (`=?charset?B|Q?...?=`) and plain text;
/// whitespace between adjacent encoded words is dropped, as RFC 2047 requires.
pub fn decode_rfc2047(value: &str) -> String {
    let mut out: Vec<u8> = Vec::new();
    let mut prev_was_word: Option<bool> = None;
    for token in value.split_whitespace() {
        let decoded = decode_encoded_word(token);
        let is_word = decoded.is_some();
        if let Some(prev) = prev_was_word
            && !(prev && is_word)
        {
            out.push(b' ');
        }
        out.extend(decoded.unwrap_or_else(|| token.as_bytes().to_vec()));
        prev_was_word = Some(is_word);
    }
    String::from_utf8(out).expect("utf-8 header")
}

fn decode_encoded_word(token: &str) -> Option<Vec<u8>> {
    let inner = token.strip_prefix("=?")?.strip_suffix("?=")?;
    let [charset, enc, text] = inner.splitn(3, '?').collect::<Vec<_>>()[..] else {
        return None;
    };
    assert!(charset.eq_ignore_ascii_case("utf-8"), "charset {charset}");
    if enc.eq_ignore_ascii_case("b") {
        base64_decode(text)
    } else {
        Some(qp_decode(&text.replace('_', " ")))
    }
}

/// A MIME part: its headers and decoded body.
#[derive(Debug)]
pub struct Part {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// The parts of a multipart body with the given boundary, bodies decoded per
/// Content-Transfer-Encoding.
pub fn multipart_parts(body: &str, boundary: &str) -> Vec<Part> {
    let delimiter = format!("--{boundary}");
    let closing = format!("--{boundary}--");
    assert!(body.contains(&closing), "closing boundary present");
    let inner = body.split(&closing).next().unwrap_or_default();
    inner
        .split(&delimiter)
        .skip(1)
        .map(|chunk| {
            let chunk = chunk.strip_prefix("\r\n").unwrap_or(chunk);
            let (headers, raw_body) = split_message(chunk);
            let raw_body = raw_body
                .strip_suffix("\r\n")
                .unwrap_or(&raw_body)
                .to_owned();
            let cte = header_values(&headers, "Content-Transfer-Encoding")
                .first()
                .map(|s| s.to_ascii_lowercase())
                .unwrap_or_default();
            let bytes = match cte.as_str() {
                "base64" => base64_decode(&raw_body).expect("base64 body"),
                "quoted-printable" => qp_decode(&raw_body),
                _ => raw_body.into_bytes(),
            };
            Part {
                headers,
                body: String::from_utf8(bytes).expect("utf-8 body"),
            }
        })
        .collect()
}

/// The `boundary` parameter of a Content-Type value.
pub fn boundary_of(content_type: &str) -> String {
    let at = content_type.find("boundary=").expect("boundary parameter") + "boundary=".len();
    content_type[at..]
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .trim_matches('"')
        .to_owned()
}
