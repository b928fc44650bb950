//! Lenient decoding of Partner Center JSON, in the ways the API contract documents: PascalCase and
//! camelCase keys, numbers sent as strings, timestamps without `Z`, sentinel dates meaning "none",
//! JSON carried inside string fields, and open-ended enums.
//!
//! Every helper here is total over JSON input: bad input is a typed [`LenientError`] surfaced as a
//! serde error with the offending text, never a panic; money is [`Decimal`] (never floats), time is
//! [`Timestamp`] in UTC.
//!
//! Architecture invariant: every Partner Center response body is decoded through [`from_slice`],
//! so key-case normalisation happens in exactly one place.

use std::str::FromStr;

use jiff::{Timestamp, civil, tz::TimeZone};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Decode a Partner Center response body into `T`, normalising object keys first so that models
/// only need to declare camelCase names. `PascalCase` keys (`"Status"`, `"Attributes"`,
/// `"Etag"`) become camelCase (`"status"`, `"attributes"`, `"etag"`).
///
/// Memory: the keys are normalised in a copy of the text and decoded straight into `T`, so a
/// large body (50,000 usage records in one response) never exists as a `serde_json::Value` tree.
/// When that fast path cannot be taken (an escaped or non-ASCII first character of a key) or
/// fails (e.g. the same key in two cases, which the tree form resolves last-wins), the body is
/// decoded through the tree as before, so results and error messages are unchanged.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    let text = match first_key_to_fix(bytes) {
        Some(Fix::None) => Some(std::borrow::Cow::Borrowed(bytes)),
        Some(Fix::At(_)) => camel_keys(bytes).map(std::borrow::Cow::Owned),
        None => None,
    };
    if let Some(text) = text
        && let Ok(v) = serde_json::from_slice::<T>(&text)
    {
        return Ok(v);
    }
    let value: Value = serde_json::from_slice(bytes)?;
    from_value(value)
}

/// A copy of `bytes` with the first character of every object key lower-cased (what
/// [`normalize_keys`] does on the tree), or `None` when a key starts with an escape or a
/// non-ASCII character (left to the tree path). A string is a key when the next non-blank byte
/// after it is `:`; string values (JSON inside strings included) are never touched. Invalid JSON
/// is copied as is, for the decoder to reject.
fn camel_keys(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = bytes.to_vec();
    let mut from = 0;
    while let Fix::At(i) = next_key_to_fix(&out, from)? {
        out[i] = out[i].to_ascii_lowercase();
        // Rescan from the key's opening quote; the key no longer needs a change.
        from = i - 1;
    }
    Some(out)
}

/// Whether a body needs its keys changed: most bodies are camelCase already and are then decoded
/// without a copy.
enum Fix {
    None,
    /// The first character of a key at this offset is an ASCII capital.
    At(usize),
}

fn first_key_to_fix(bytes: &[u8]) -> Option<Fix> {
    next_key_to_fix(bytes, 0)
}

/// The next key from offset `from` (at or before a string's opening quote) whose first character
/// is an ASCII capital; `None` when a key starts with an escape or a non-ASCII character.
fn next_key_to_fix(bytes: &[u8], from: usize) -> Option<Fix> {
    let mut i = from;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut j = start;
        while j < bytes.len() && bytes[j] != b'"' {
            j += if bytes[j] == b'\\' { 2 } else { 1 };
        }
        let mut k = j + 1;
        while k < bytes.len() && bytes[k].is_ascii_whitespace() {
            k += 1;
        }
        if bytes.get(k) == Some(&b':') && start < j.min(bytes.len()) {
            match bytes[start] {
                b'\\' => return None,
                c if !c.is_ascii() => return None,
                c if c.is_ascii_uppercase() => return Some(Fix::At(start)),
                _ => {}
            }
        }
        i = j + 1;
    }
    Some(Fix::None)
}

/// Same as [`from_slice`] for an already parsed value.
pub fn from_value<T: DeserializeOwned>(mut value: Value) -> Result<T, serde_json::Error> {
    normalize_keys(&mut value);
    serde_json::from_value(value)
}

/// Lower-case the first character of every object key, recursively. String values (including
/// JSON carried inside strings) are left untouched.
pub fn normalize_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let needs_rename = map
                .keys()
                .any(|k| k.chars().next().is_some_and(char::is_uppercase));
            if needs_rename {
                let old = std::mem::take(map);
                for (k, mut v) in old {
                    normalize_keys(&mut v);
                    map.insert(camel(&k), v);
                }
            } else {
                map.values_mut().for_each(normalize_keys);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_keys),
        _ => {}
    }
}

fn camel(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) if first.is_uppercase() => first.to_lowercase().chain(chars).collect(),
        _ => key.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Scalar conversions shared by the serde helpers below.
// ---------------------------------------------------------------------------------------------

/// Why a lenient scalar conversion failed. The message names the offending text and the expected
/// form so the caller (through serde's error path) can point at the field and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LenientError {
    /// A value that should be a decimal amount is neither a JSON number nor a decimal string.
    #[error(
        "expected a decimal number or a decimal string, got {found}; the Partner Center response does not match the documented shape"
    )]
    Decimal { found: String },
    /// A value that should be a whole non-negative number is not one.
    #[error("expected a whole non-negative number (or such a number in a string), got {found}")]
    Integer { found: String },
    /// A value that should be a boolean is not `true`/`false` (as JSON or text).
    #[error("expected true or false (as a JSON boolean or a string), got {found}")]
    Bool { found: String },
    /// A value that should be a date or timestamp could not be read.
    #[error(
        "expected an RFC 3339 timestamp (offset optional, UTC assumed) or a yyyy-mm-dd date, got {found:?}: {reason}"
    )]
    Timestamp { found: String, reason: String },
    /// A required timestamp carried a sentinel (year 0001 or 9999) meaning "no date".
    #[error(
        "a date is required here but the response carried the sentinel {found:?} meaning \"none\""
    )]
    SentinelWhereRequired { found: String },
    /// A value that should be text is an array or object.
    #[error("expected a string, got {found}")]
    Text { found: String },
}

/// Short description of a JSON value for error messages (type plus a bounded excerpt).
fn describe(value: &Value) -> String {
    let text = value.to_string();
    let excerpt: String = text.chars().take(60).collect();
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    if excerpt.len() < text.len() {
        format!("{kind} {excerpt}...")
    } else {
        format!("{kind} {excerpt}")
    }
}

/// Convert a JSON value to a decimal. `null` and blank strings are `None`. JSON numbers that are
/// not integers are converted through their shortest round-trip text, so `751094.39` stays exactly
/// `751094.39`; no float arithmetic is involved.
pub fn decimal_from_value(value: &Value) -> Result<Option<Decimal>, LenientError> {
    let err = || LenientError::Decimal {
        found: describe(value),
    };
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(Decimal::from(i)));
            }
            if let Some(u) = n.as_u64() {
                return Ok(Some(Decimal::from(u)));
            }
            let f = n.as_f64().ok_or_else(err)?;
            if !f.is_finite() {
                return Err(err());
            }
            // Shortest round-trip text, never an exponent form for f64's Display.
            let text = f.to_string();
            Decimal::from_str(&text)
                .ok()
                .or_else(|| Decimal::from_scientific(&text).ok())
                .or_else(|| Decimal::from_f64(f))
                .map(Some)
                .ok_or_else(err)
        }
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return Ok(None);
            }
            Decimal::from_str(t)
                .or_else(|_| Decimal::from_scientific(t))
                .map(Some)
                .map_err(|_| err())
        }
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => Err(err()),
    }
}

/// Convert a JSON value to a whole non-negative number: a JSON integer, a float with no fraction
/// (`10.0`), or a string holding one (`"10"`). `null` and blank strings are `None`.
pub fn u64_from_value(value: &Value) -> Result<Option<u64>, LenientError> {
    let err = || LenientError::Integer {
        found: describe(value),
    };
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                return Ok(Some(u));
            }
            match decimal_from_value(value) {
                Ok(Some(d)) if d.fract().is_zero() => d.to_u64().map(Some).ok_or_else(err),
                _ => Err(err()),
            }
        }
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return Ok(None);
            }
            if let Ok(u) = t.parse::<u64>() {
                return Ok(Some(u));
            }
            match Decimal::from_str(t) {
                Ok(d) if d.fract().is_zero() => d.to_u64().map(Some).ok_or_else(err),
                _ => Err(err()),
            }
        }
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => Err(err()),
    }
}

/// Convert a JSON value to a boolean: a JSON boolean or the text `true`/`false` in any case
/// (surrounding blanks ignored). `null` and blank strings are `None`.
pub fn bool_from_value(value: &Value) -> Result<Option<bool>, LenientError> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                Ok(None)
            } else if t.eq_ignore_ascii_case("true") {
                Ok(Some(true))
            } else if t.eq_ignore_ascii_case("false") {
                Ok(Some(false))
            } else {
                Err(LenientError::Bool {
                    found: describe(value),
                })
            }
        }
        Value::Number(_) | Value::Array(_) | Value::Object(_) => Err(LenientError::Bool {
            found: describe(value),
        }),
    }
}

/// Convert a JSON scalar to text: strings as they are, numbers and booleans in their JSON form.
/// `null` is `None`; arrays and objects are an error.
pub fn text_from_value(value: &Value) -> Result<Option<String>, LenientError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Array(_) | Value::Object(_) => Err(LenientError::Text {
            found: describe(value),
        }),
    }
}

/// Whether a timestamp text is one of the API's "no date" sentinels: year 0001 (`0001-01-01T...`)
/// or year 9999 (`9999-12-31T23:59:59.997`, `9999-12-10T00:00:00Z`).
pub fn is_sentinel_date(text: &str) -> bool {
    let t = text.trim();
    t.starts_with("0001-") || t.starts_with("9999-")
}

/// Parse a Partner Center timestamp. Accepts RFC 3339 with `Z` or a numeric offset, the same
/// without any suffix (read as UTC), up to 9 fractional digits, and a bare `yyyy-mm-dd` date
/// (midnight UTC). Blanks inside the text (`"2015-11-25T06: 41: 12Z"`, a documented sample
/// quirk) are ignored. Sentinel years 0001 and 9999 and blank text are `Ok(None)`.
pub fn parse_timestamp(text: &str) -> Result<Option<Timestamp>, LenientError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() || is_sentinel_date(&compact) {
        return Ok(None);
    }
    let fail = |reason: String| LenientError::Timestamp {
        found: text.to_owned(),
        reason,
    };
    if let Ok(ts) = compact.parse::<Timestamp>() {
        return Ok(Some(ts));
    }
    // No offset: a civil date-time (or a bare date) read as UTC.
    let civil = match compact.parse::<civil::DateTime>() {
        Ok(dt) => dt,
        Err(e) => match compact.parse::<civil::Date>() {
            Ok(d) => d.to_datetime(civil::Time::midnight()),
            Err(_) => return Err(fail(e.to_string())),
        },
    };
    civil
        .to_zoned(TimeZone::UTC)
        .map(|z| Some(z.timestamp()))
        .map_err(|e| fail(e.to_string()))
}

/// Parse a Partner Center date: `yyyy-mm-dd`, or any timestamp [`parse_timestamp`] accepts (the
/// UTC calendar date is taken). Sentinels and blank text are `Ok(None)`.
pub fn parse_date(text: &str) -> Result<Option<civil::Date>, LenientError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() || is_sentinel_date(&compact) {
        return Ok(None);
    }
    let has_time = compact.contains(['T', 't']);
    if !has_time {
        return compact
            .parse::<civil::Date>()
            .map(Some)
            .map_err(|e| LenientError::Timestamp {
                found: text.to_owned(),
                reason: e.to_string(),
            });
    }
    Ok(parse_timestamp(&compact)?.map(|ts| ts.to_zoned(TimeZone::UTC).date()))
}

fn timestamp_from_value(value: &Value) -> Result<Option<Timestamp>, LenientError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => parse_timestamp(s),
        other => Err(LenientError::Timestamp {
            found: describe(other),
            reason: "not a string".to_owned(),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// serde `deserialize_with` helpers. Optional variants need `#[serde(default)]` on the field so
// an absent key is `None`.
// ---------------------------------------------------------------------------------------------

fn with_value<'de, D, T>(
    deserializer: D,
    convert: fn(&Value) -> Result<T, LenientError>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Value::deserialize(deserializer)?;
    convert(&value).map_err(D::Error::custom)
}

/// Optional decimal from a JSON number or string; `null`/blank is `None`.
pub fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    with_value(d, decimal_from_value)
}

/// Required decimal from a JSON number or string; `null`/blank is an error.
pub fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    opt_decimal(d)?
        .ok_or_else(|| D::Error::custom("a decimal amount is required here but was null or blank"))
}

/// Optional whole number from a JSON number or string (`"hitCount": "10"`).
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    with_value(d, u64_from_value)
}

/// Required whole number from a JSON number or string.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    opt_u64(d)?
        .ok_or_else(|| D::Error::custom("a whole number is required here but was null or blank"))
}

/// Optional boolean from a JSON boolean or `"true"`/`"false"` in any case.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    with_value(d, bool_from_value)
}

/// Boolean from a JSON boolean or `"true"`/`"false"`; `null`/blank is `false` (use with
/// `#[serde(default)]` so an absent key is `false` too).
pub fn bool_or_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(opt_bool(d)?.unwrap_or(false))
}

/// Optional timestamp (see [`parse_timestamp`]); sentinels, `null` and blank are `None`.
pub fn opt_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    with_value(d, timestamp_from_value)
}

/// Required timestamp (see [`parse_timestamp`]); a sentinel, `null` or blank is an error.
pub fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    let value = Value::deserialize(d)?;
    match timestamp_from_value(&value).map_err(D::Error::custom)? {
        Some(ts) => Ok(ts),
        None => Err(D::Error::custom(LenientError::SentinelWhereRequired {
            found: value.as_str().unwrap_or("null").to_owned(),
        })),
    }
}

/// Optional calendar date (see [`parse_date`]); sentinels, `null` and blank are `None`.
pub fn opt_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<civil::Date>, D::Error> {
    with_value(d, |v| match v {
        Value::Null => Ok(None),
        Value::String(s) => parse_date(s),
        other => Err(LenientError::Timestamp {
            found: describe(other),
            reason: "not a string".to_owned(),
        }),
    })
}

/// Optional text; numbers and booleans become their JSON text. `null` is `None`, blank stays
/// blank (use [`opt_nonblank`] to drop it).
pub fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    with_value(d, text_from_value)
}

/// Optional customer-supplied name (a company or contact name): cleaned of bidi overrides, zero-width and
/// control characters and capped in length ([`crate::hygiene::clean_display_text`]).
pub fn opt_display_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(opt_text(d)?
        .map(|s| crate::hygiene::clean_display_text(&s, crate::hygiene::MAX_DISPLAY_CHARS)))
}

/// Optional text where blank (`""`, spaces) means `None`.
pub fn opt_nonblank<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(opt_text(d)?.filter(|s| !s.trim().is_empty()))
}

/// Optional text where blank or the word `None` (any case) means `None`
/// (`"resolvedReason": "None"` on unresolved fraud events).
pub fn opt_text_none_word<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(opt_nonblank(d)?.filter(|s| !s.trim().eq_ignore_ascii_case("none")))
}

/// Text where `null` means empty (use with `#[serde(default)]` so an absent key is empty too).
pub fn text_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(opt_text(d)?.unwrap_or_default())
}

/// A list where `null` means empty (use with `#[serde(default)]`).
pub fn vec_or_null<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// `attributes.etag` of a resource, read from and written back to the `attributes` object.
/// Use as `#[serde(rename = "attributes", default, with = "lenient::attributes_etag")]`.
pub mod attributes_etag {
    use super::{Value, text_from_value};
    use serde::de::Error as _;
    use serde::ser::SerializeMap as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Read `etag` from the `attributes` object; a missing object or key is `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::Object(map) => match map.get("etag") {
                Some(v) => text_from_value(v)
                    .map(|t| t.filter(|s| !s.trim().is_empty()))
                    .map_err(D::Error::custom),
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    /// Write `{"etag": ...}` (an empty object when there is no etag).
    pub fn serialize<S: Serializer>(etag: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(e) = etag {
            map.serialize_entry("etag", e)?;
        }
        map.end()
    }
}

/// JSON carried inside a string field (`resourceNewValue`, `resourceOldValue`, `activityLogs`).
/// The raw text is kept verbatim; [`JsonString::parsed`] decodes it on demand and gives `None`
/// for malformed inner JSON, so one bad field never fails the whole record. If the API sends the
/// value as real JSON instead of a string, its compact text is kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JsonString(String);

impl JsonString {
    /// Wrap raw text.
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The text exactly as received.
    pub fn raw(&self) -> &str {
        &self.0
    }

    /// The inner JSON, or `None` if the text is blank or not valid JSON.
    pub fn parsed(&self) -> Option<Value> {
        serde_json::from_str(&self.0).ok()
    }

    /// The inner JSON with its keys normalised like a response body (`"Status"` -> `"status"`).
    pub fn parsed_normalized(&self) -> Option<Value> {
        let mut v = self.parsed()?;
        normalize_keys(&mut v);
        Some(v)
    }
}

impl Serialize for JsonString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for JsonString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Self(s),
            Value::Null => Self(String::new()),
            other => Self(other.to_string()),
        })
    }
}

/// Define an open-ended enum: known variants with their canonical text plus `Other(String)` for
/// values this version does not know. Parsing is case-insensitive and ignores surrounding
/// blanks; serialising writes the canonical text (or the `Other` text verbatim).
///
/// ```
/// cspguard::open_enum! {
///     /// Colour of a thing.
///     pub enum Colour { Red => "red", DarkBlue => "darkBlue" }
/// }
/// assert_eq!(Colour::parse("RED"), Colour::Red);
/// assert_eq!(Colour::parse("green").as_str(), "green");
/// ```
#[macro_export]
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value not known to this version, kept verbatim (trimmed).
            Other(String),
        }

        impl $name {
            /// Parse case-insensitively; unknown text becomes `Other`.
            pub fn parse(text: &str) -> Self {
                let t = text.trim();
                $( if t.eq_ignore_ascii_case($text) { return Self::$variant; } )+
                Self::Other(t.to_owned())
            }

            /// Canonical text (or the unknown text for `Other`).
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Other(s) => s.as_str(),
                }
            }

            /// Whether this is one of the known variants.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::parse(s))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::parse(s)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <::std::string::String as ::serde::Deserialize>::deserialize(d)?;
                Ok(Self::parse(&text))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    use rust_decimal_macros::dec;
    use serde_json::json;

    fn ts(text: &str) -> Timestamp {
        text.parse()
            .unwrap_or_else(|e| panic!("test literal {text}: {e}"))
    }

    #[test]
    fn decimal_from_numbers_and_strings_is_exact() {
        assert_eq!(decimal_from_value(&json!(10)), Ok(Some(dec!(10))));
        assert_eq!(decimal_from_value(&json!("10")), Ok(Some(dec!(10))));
        assert_eq!(
            decimal_from_value(&json!(" 602.84 ")),
            Ok(Some(dec!(602.84)))
        );
        assert_eq!(decimal_from_value(&json!(602.84)), Ok(Some(dec!(602.84))));
        assert_eq!(
            decimal_from_value(&json!(751094.39)),
            Ok(Some(dec!(751094.39)))
        );
        assert_eq!(decimal_from_value(&json!(-1000)), Ok(Some(dec!(-1000))));
        assert_eq!(
            decimal_from_value(&json!(u64::MAX)),
            Ok(Some(Decimal::from(u64::MAX)))
        );
        // Long fractions keep every digit in string form ...
        assert_eq!(
            decimal_from_value(&json!("120.5682999999995904716")),
            Ok(Some(dec!(120.5682999999995904716)))
        );
        assert_eq!(decimal_from_value(&json!("1.5E+3")), Ok(Some(dec!(1500))));
        // ... and as a JSON number they are the shortest round-trip of the f64 received.
        let v: Value = serde_json::from_str("120.5682999999995904716").unwrap_or(Value::Null);
        assert_eq!(decimal_from_value(&v), Ok(Some(dec!(120.5682999999996))));
        let tiny: Value = serde_json::from_str("1e-7").unwrap_or(Value::Null);
        assert_eq!(decimal_from_value(&tiny), Ok(Some(dec!(0.0000001))));
    }

    #[test]
    fn decimal_null_blank_and_garbage() {
        assert_eq!(decimal_from_value(&Value::Null), Ok(None));
        assert_eq!(decimal_from_value(&json!("  ")), Ok(None));
        assert!(matches!(
            decimal_from_value(&json!("ten")),
            Err(LenientError::Decimal { .. })
        ));
        assert!(matches!(
            decimal_from_value(&json!(true)),
            Err(LenientError::Decimal { .. })
        ));
        assert!(matches!(
            decimal_from_value(&json!({"a": 1})),
            Err(LenientError::Decimal { .. })
        ));
        let huge: Value = serde_json::from_str("1e300").unwrap_or(Value::Null);
        assert!(decimal_from_value(&huge).is_err());
    }

    #[test]
    fn integers_from_numbers_and_strings() {
        assert_eq!(u64_from_value(&json!(10)), Ok(Some(10)));
        assert_eq!(u64_from_value(&json!("10")), Ok(Some(10)));
        assert_eq!(u64_from_value(&json!(" 7 ")), Ok(Some(7)));
        assert_eq!(u64_from_value(&json!(3.0)), Ok(Some(3)));
        assert_eq!(u64_from_value(&json!("3.00")), Ok(Some(3)));
        assert_eq!(u64_from_value(&json!("")), Ok(None));
        assert_eq!(u64_from_value(&Value::Null), Ok(None));
        assert!(u64_from_value(&json!(-1)).is_err());
        assert!(u64_from_value(&json!("-1")).is_err());
        assert!(u64_from_value(&json!(2.5)).is_err());
        assert!(u64_from_value(&json!("ten")).is_err());
        assert!(u64_from_value(&json!(false)).is_err());
    }

    #[test]
    fn bools_from_bool_or_text_any_case() {
        assert_eq!(bool_from_value(&json!(true)), Ok(Some(true)));
        assert_eq!(bool_from_value(&json!("true")), Ok(Some(true)));
        assert_eq!(bool_from_value(&json!("TRUE")), Ok(Some(true)));
        assert_eq!(bool_from_value(&json!(" False ")), Ok(Some(false)));
        assert_eq!(bool_from_value(&json!("")), Ok(None));
        assert_eq!(bool_from_value(&Value::Null), Ok(None));
        assert!(bool_from_value(&json!("yes")).is_err());
        assert!(bool_from_value(&json!(1)).is_err());
    }

    #[test]
    fn timestamps_in_every_documented_form() {
        let cases = [
            ("2021-12-08T00:25:45.69", "2021-12-08T00:25:45.69Z"),
            (
                "2017-06-15T22:56:05.0589308Z",
                "2017-06-15T22:56:05.0589308Z",
            ),
            ("2019-08-01T23:00:16.57+00:00", "2019-08-01T23:00:16.57Z"),
            ("2017-06-15T15:56:04.077-07:00", "2017-06-15T22:56:04.077Z"),
            ("2018-03-16T00:00:00", "2018-03-16T00:00:00Z"),
            ("2026-11-21", "2026-11-21T00:00:00Z"),
            ("2015-11-25T06: 41: 12Z", "2015-11-25T06:41:12Z"),
            (
                "2019-09-17T17:08:11.1433333+00:00",
                "2019-09-17T17:08:11.1433333Z",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_timestamp(input),
                Ok(Some(ts(expected))),
                "input {input}"
            );
        }
    }

    #[test]
    fn timestamp_sentinels_blank_and_garbage() {
        for sentinel in [
            "0001-01-01T00:00:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.9970000",
            "9999-12-10T00:00:00Z",
            "9999-12-31",
        ] {
            assert_eq!(parse_timestamp(sentinel), Ok(None), "sentinel {sentinel}");
        }
        assert_eq!(parse_timestamp(""), Ok(None));
        assert!(matches!(
            parse_timestamp("yesterday"),
            Err(LenientError::Timestamp { .. })
        ));
        assert!(parse_timestamp("2021-13-40T00:00:00").is_err());
        assert!(parse_timestamp("2021-12-08T25:00:00Z").is_err());
    }

    #[test]
    fn dates_from_date_or_timestamp() {
        assert_eq!(
            parse_date("2026-11-21"),
            Ok(Some(civil::date(2026, 11, 21)))
        );
        assert_eq!(
            parse_date("2026-11-21T23:30:00-02:00"),
            Ok(Some(civil::date(2026, 11, 22)))
        );
        assert_eq!(parse_date("0001-01-01"), Ok(None));
        assert!(parse_date("21/11/2026").is_err());
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(default, deserialize_with = "opt_decimal")]
        amount: Option<Decimal>,
        #[serde(default, deserialize_with = "opt_u64")]
        hit_count: Option<u64>,
        #[serde(default, deserialize_with = "opt_bool")]
        is_test: Option<bool>,
        #[serde(default, deserialize_with = "opt_timestamp")]
        resolved_on: Option<Timestamp>,
        #[serde(default, deserialize_with = "opt_text_none_word")]
        resolved_reason: Option<String>,
        #[serde(default, deserialize_with = "opt_nonblank")]
        resolved_by: Option<String>,
        #[serde(default, deserialize_with = "vec_or_null")]
        items: Vec<String>,
        #[serde(default)]
        logs: Option<JsonString>,
        #[serde(rename = "attributes", default, with = "attributes_etag")]
        etag: Option<String>,
    }

    #[test]
    fn helpers_inside_a_struct_handle_absent_null_and_quirky_values() {
        let absent: Probe = from_slice(b"{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            absent,
            Probe {
                amount: None,
                hit_count: None,
                is_test: None,
                resolved_on: None,
                resolved_reason: None,
                resolved_by: None,
                items: vec![],
                logs: None,
                etag: None
            }
        );
        let body = br#"{"Amount":"12.50","HitCount":"10","IsTest":"false",
            "ResolvedOn":"9999-12-31T23:59:59.9970000","ResolvedReason":"None","ResolvedBy":"",
            "Items":null,"Logs":"{\"a\":1}","Attributes":{"Etag":"W/1","ObjectType":"X"}}"#;
        let p: Probe = from_slice(body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.amount, Some(dec!(12.50)));
        assert_eq!(p.hit_count, Some(10));
        assert_eq!(p.is_test, Some(false));
        assert_eq!(p.resolved_on, None);
        assert_eq!(p.resolved_reason, None);
        assert_eq!(p.resolved_by, None);
        assert!(p.items.is_empty());
        assert_eq!(p.logs.and_then(|l| l.parsed()), Some(json!({"a": 1})));
        assert_eq!(p.etag.as_deref(), Some("W/1"));

        let real = br#"{"ResolvedReason":"Fraud","ResolvedBy":"ops@example.com"}"#;
        let p: Probe = from_slice(real).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.resolved_reason.as_deref(), Some("Fraud"));
        assert_eq!(p.resolved_by.as_deref(), Some("ops@example.com"));
    }

    #[test]
    fn helper_errors_fail_the_record_with_the_offending_text() {
        let err = from_slice::<Probe>(br#"{"amount":"12,50 EUR"}"#)
            .err()
            .map(|e| e.to_string());
        let msg = err.unwrap_or_default();
        assert!(msg.contains("12,50 EUR"), "{msg}");
        assert!(msg.contains("decimal"), "{msg}");
    }

    #[derive(Debug, Deserialize)]
    struct Required {
        #[serde(deserialize_with = "timestamp")]
        at: Timestamp,
        #[serde(deserialize_with = "decimal")]
        amount: Decimal,
    }

    #[test]
    fn required_helpers_reject_sentinel_and_null() {
        let ok: Required = from_slice(br#"{"at":"2021-12-08T00:25:45.69","amount":1}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.at, ts("2021-12-08T00:25:45.69Z"));
        assert_eq!(ok.amount, dec!(1));
        let msg = from_slice::<Required>(br#"{"at":"0001-01-01T00:00:00","amount":1}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("sentinel"), "{msg}");
        assert!(from_slice::<Required>(br#"{"at":"2021-12-08","amount":null}"#).is_err());
    }

    #[test]
    fn json_string_keeps_raw_and_parses_lazily() {
        let good = JsonString::new(r#"{"Id":"x","Status":"active"}"#);
        assert_eq!(good.parsed(), Some(json!({"Id":"x","Status":"active"})));
        assert_eq!(
            good.parsed_normalized(),
            Some(json!({"id":"x","status":"active"}))
        );
        let bad = JsonString::new(r#"{"Id":"x""#);
        assert_eq!(bad.parsed(), None);
        assert_eq!(bad.raw(), r#"{"Id":"x""#);
        // Real JSON instead of a string is kept as its text.
        let obj: JsonString = serde_json::from_value(json!({"k": [1]})).unwrap_or_default();
        assert_eq!(obj.raw(), r#"{"k":[1]}"#);
        assert_eq!(serde_json::to_value(&good).ok(), Some(json!(good.raw())));
    }

    crate::open_enum! {
        /// Test enum.
        enum Colour { Red => "red", DarkBlue => "DarkBlue" }
    }

    #[test]
    fn open_enum_is_case_insensitive_and_keeps_unknowns() {
        assert_eq!(Colour::parse("RED"), Colour::Red);
        assert_eq!(Colour::parse(" darkblue "), Colour::DarkBlue);
        assert_eq!(Colour::parse("Green"), Colour::Other("Green".to_owned()));
        assert!(!Colour::parse("Green").is_known());
        assert_eq!(Colour::DarkBlue.to_string(), "DarkBlue");
        let c: Colour = serde_json::from_value(json!("dArKbLuE")).unwrap_or(Colour::Red);
        assert_eq!(c, Colour::DarkBlue);
        assert_eq!(
            serde_json::to_value(Colour::DarkBlue).ok(),
            Some(json!("DarkBlue"))
        );
        assert_eq!(
            serde_json::to_value(Colour::parse("teal")).ok(),
            Some(json!("teal"))
        );
        assert!(serde_json::from_value::<Colour>(json!(3)).is_err());
    }

    #[test]
    fn attributes_etag_round_trips() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct R {
            #[serde(rename = "attributes", default, with = "attributes_etag")]
            etag: Option<String>,
        }
        let r = R {
            etag: Some("e1".into()),
        };
        let v = serde_json::to_value(&r).unwrap_or(Value::Null);
        assert_eq!(v, json!({"attributes": {"etag": "e1"}}));
        assert_eq!(serde_json::from_value::<R>(v).ok(), Some(r));
        assert_eq!(
            serde_json::from_value::<R>(json!({"attributes": {"objectType": "X"}})).ok(),
            Some(R { etag: None })
        );
    }

    #[test]
    fn pascal_keys_become_camel_recursively_but_strings_do_not() {
        let mut v = serde_json::json!({
            "Status": "suspended",
            "Attributes": {"Etag": "x", "ObjectType": "Subscription"},
            "Links": [{"Uri": "/a"}],
            "resourceNewValue": "{\"Id\":1}"
        });
        normalize_keys(&mut v);
        assert_eq!(v["status"], "suspended");
        assert_eq!(v["attributes"]["etag"], "x");
        assert_eq!(v["links"][0]["uri"], "/a");
        assert_eq!(v["resourceNewValue"], "{\"Id\":1}");
    }

    #[test]
    fn the_text_fast_path_normalises_keys_exactly_like_the_tree() {
        let bodies: [&[u8]; 5] = [
            br#"{"Status" : "suspended", "Attributes": {"Etag": "x"}, "Links": [{"Uri": "/a:b"}],
                "ResourceNewValue": "{\"Id\":1, \"Q\": \"x\" }", "K\"ey": "Value:"}"#,
            br#"[{"Id":"a"},{"iD":"b"},{"_x":1,"9":2,"":3}]"#,
            br#"{"Name":"\"Quoted\": yes","List":["A","B"],"Nested":{"Deep":{"Er":[1,{"X":null}]}}}"#,
            br#"{"\u0041bc": 1}"#,
            r#"{"\u00c9t\u00e9": 1, "Été": 2}"#.as_bytes(),
        ];
        for body in bodies {
            let tree: Value =
                from_value(serde_json::from_slice(body).expect("valid")).expect("tree");
            let fast: Option<Value> =
                camel_keys(body).and_then(|t| serde_json::from_slice(&t).ok());
            if let Some(fast) = fast {
                assert_eq!(fast, tree, "{}", String::from_utf8_lossy(body));
            }
            assert_eq!(from_slice::<Value>(body).expect("decodes"), tree);
        }
        // Escaped and non-ASCII first characters of keys are left to the tree.
        assert!(camel_keys(br#"{"\u0041bc": 1}"#).is_none());
        assert!(camel_keys("{\"Été\": 1}".as_bytes()).is_none());
        // The same key in two cases: the tree's last-wins answer, not a duplicate-field error.
        #[derive(Deserialize, Debug, PartialEq)]
        struct One {
            id: String,
        }
        let both: One = from_slice(br#"{"Id":"first","id":"second"}"#).expect("decodes");
        assert_eq!(both.id, "second");
    }
}
