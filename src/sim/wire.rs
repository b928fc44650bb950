//! Wire-level helpers of the simulator: the internal response type, Partner Center / Entra error
//! bodies, `application/x-www-form-urlencoded` and query-string parsing, and the opaque
//! continuation tokens used by seek paging.
//!
//! Invariants: nothing here panics on client input; parsing returns `None`/`Err` and callers turn
//! that into a 400 with an error body.

use serde_json::{Value, json};

/// A fully built response (status, extra headers, body text). Converted to an axum response at
/// the edge so faults (truncation) and recording can inspect it.
#[derive(Debug, Clone)]
pub struct SimResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl SimResponse {
    /// A JSON response.
    pub fn json(status: u16, body: &Value) -> Self {
        SimResponse {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.to_string(),
        }
    }

    /// The normal Partner Center error body `{code, description, data, source}`.
    pub fn pc_error(status: u16, code: u32, description: impl Into<String>) -> Self {
        SimResponse::json(
            status,
            &json!({
                "code": code,
                "description": description.into(),
                "data": [],
                "source": "PartnerFD",
            }),
        )
    }

    /// A 400 for malformed input.
    pub fn bad_request(description: impl Into<String>) -> Self {
        SimResponse::pc_error(400, 400, description)
    }

    /// A 404 for an unknown id.
    pub fn not_found(what: &str, id: &str) -> Self {
        SimResponse::pc_error(404, 3000, format!("{what} with id '{id}' was not found."))
    }

    /// An Entra-style token error (`{"error":..,"error_description":..}`).
    pub fn entra_error(status: u16, error: &str, aadsts: u32, description: &str) -> Self {
        SimResponse::json(
            status,
            &json!({
                "error": error,
                "error_description": format!("AADSTS{aadsts}: {description}"),
                "error_codes": [aadsts],
                "timestamp": jiff::Timestamp::now().to_string(),
                "trace_id": uuid::Uuid::new_v4().to_string(),
                "correlation_id": uuid::Uuid::new_v4().to_string(),
            }),
        )
    }

    /// Adds a header (builder style).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one `x-www-form-urlencoded` component (`+` is a space). Invalid escapes are kept
/// verbatim; invalid UTF-8 is replaced (lossy), never a panic.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i).copied() {
            Some(b'+') => {
                out.push(b' ');
                i += 1;
            }
            Some(b'%') => {
                let hi = bytes.get(i + 1).copied().and_then(hex_val);
                let lo = bytes.get(i + 2).copied().and_then(hex_val);
                if let (Some(h), Some(l)) = (hi, lo) {
                    out.push(h * 16 + l);
                    i += 3;
                } else {
                    out.push(b'%');
                    i += 1;
                }
            }
            Some(b) => {
                out.push(b);
                i += 1;
            }
            None => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `a=1&b=2` into ordered pairs (decoded).
pub fn parse_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// Case-insensitive lookup of a parameter.
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Case-insensitive lookup of a JSON object member.
pub fn member<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn fnv(data: &str, key: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ key;
    for b in data.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn to_hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 2);
    for pair in bytes.chunks(2) {
        let h = hex_val(*pair.first()?)?;
        let l = hex_val(*pair.get(1)?)?;
        out.push(h * 16 + l);
    }
    String::from_utf8(out).ok()
}

/// Encodes a seek-paging state (`kind`, fields) into an opaque, integrity-checked token.
pub fn encode_token(kind: &str, fields: &[String], key: u64) -> String {
    let payload = format!("{kind}|{}", fields.join("|"));
    format!("{}.{:016x}", to_hex(&payload), fnv(&payload, key))
}

/// Decodes a token produced by [`encode_token`] for `kind`; `None` if forged, corrupted or of
/// another kind.
pub fn decode_token(token: &str, kind: &str, key: u64) -> Option<Vec<String>> {
    let (hex, mac) = token.trim().split_once('.')?;
    let payload = from_hex(hex)?;
    if format!("{:016x}", fnv(&payload, key)) != mac {
        return None;
    }
    let mut parts = payload.split('|');
    if parts.next()? != kind {
        return None;
    }
    Some(parts.map(str::to_string).collect())
}

/// Formats a timestamp the way fraud events do: no timezone suffix.
pub fn naive_time(t: jiff::Timestamp) -> String {
    let s = t.to_string();
    s.strip_suffix('Z').map(str::to_string).unwrap_or(s)
}

/// A money value as a JSON number (Partner Center emits numbers, not strings).
pub fn money(d: rust_decimal::Decimal) -> Value {
    use rust_decimal::prelude::ToPrimitive;
    let normalized = d.normalize();
    if normalized.scale() == 0
        && let Some(i) = normalized.to_i64()
    {
        return json!(i);
    }
    normalized.to_f64().map(|f| json!(f)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms() {
        let p = parse_pairs(
            "grant_type=client_credentials&resource=https%3A%2F%2Fapi.partnercenter.microsoft.com&x=a+b&bad=%zz&e",
        );
        assert_eq!(param(&p, "GRANT_TYPE"), Some("client_credentials"));
        assert_eq!(
            param(&p, "resource"),
            Some("https://api.partnercenter.microsoft.com")
        );
        assert_eq!(param(&p, "x"), Some("a b"));
        assert_eq!(param(&p, "bad"), Some("%zz"));
        assert_eq!(param(&p, "e"), Some(""));
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let t = encode_token("customers", &["40".into()], 9);
        assert_eq!(
            decode_token(&t, "customers", 9),
            Some(vec!["40".to_string()])
        );
        assert_eq!(decode_token(&t, "audit", 9), None);
        assert_eq!(decode_token(&t, "customers", 10), None);
        assert_eq!(decode_token("garbage", "customers", 9), None);
        assert_eq!(decode_token("zz.00", "customers", 9), None);
        let forged = encode_token("customers", &["0".into()], 1);
        assert_eq!(decode_token(&forged, "customers", 9), None);
    }

    #[test]
    fn money_is_numeric() {
        assert_eq!(
            money(rust_decimal::Decimal::new(2460635, 2)),
            json!(24606.35)
        );
        assert_eq!(money(rust_decimal::Decimal::new(10000, 2)), json!(100));
        assert_eq!(
            naive_time(jiff::Timestamp::UNIX_EPOCH),
            "1970-01-01T00:00:00"
        );
    }
}
