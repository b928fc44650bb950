//! JSON export reader: an array of invoice objects, or `{"invoices": [...]}`, with the same
//! logical field names as CSV (mapped through `[receivables.columns]`, case-insensitively).
//!
//! A small position-keeping JSON parser is used instead of `serde_json::Value` so that every
//! problem points at the exact line and column of the offending value, and so that numbers keep
//! their source text (amounts are never routed through floating point).
//!
//! Invariants: syntax errors are problems at their position; keys not mapped to a field are
//! ignored; a key given twice in one object is a problem; `null` counts as an empty value;
//! nesting deeper than 64 levels is rejected.

use std::path::Path;

use super::config::{Field, ReceivablesConfig};
use super::csv::LineIndex;
use super::error::{Problem, Problems};
use super::row::{RawField, RawRow};

const MAX_DEPTH: usize = 64;

#[derive(Debug)]
enum Kind {
    Null,
    Bool,
    Number(String),
    Str(String),
    Array(Vec<Value>),
    Object(Vec<(String, usize, Value)>),
}

#[derive(Debug)]
struct Value {
    kind: Kind,
    /// Byte offset where the value starts.
    at: usize,
}

struct Parser<'a> {
    b: &'a [u8],
    text: &'a str,
    i: usize,
}

type PResult<T> = Result<T, (usize, String)>;

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while let Some(c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn err<T>(&self, what: &str) -> PResult<T> {
        let found = match self.text.get(self.i..).and_then(|s| s.chars().next()) {
            Some(c) => format!("{c:?}"),
            None => "end of file".to_owned(),
        };
        Err((
            self.i,
            format!("invalid JSON: expected {what}, found {found}"),
        ))
    }

    fn value(&mut self, depth: usize) -> PResult<Value> {
        self.ws();
        let at = self.i;
        if depth > MAX_DEPTH {
            return Err((
                at,
                format!("invalid JSON: nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        let kind = match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        let key_at = self.i;
                        if self.b.get(self.i) != Some(&b'"') {
                            return self.err("a quoted object key");
                        }
                        let key = self.string()?;
                        self.ws();
                        if self.b.get(self.i) != Some(&b':') {
                            return self.err("':'");
                        }
                        self.i += 1;
                        let v = self.value(depth + 1)?;
                        members.push((key, key_at, v));
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                break;
                            }
                            _ => return self.err("',' or '}'"),
                        }
                    }
                }
                Kind::Object(members)
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                } else {
                    loop {
                        items.push(self.value(depth + 1)?);
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => return self.err("',' or ']'"),
                        }
                    }
                }
                Kind::Array(items)
            }
            Some(b'"') => Kind::Str(self.string()?),
            Some(b'-' | b'0'..=b'9') => Kind::Number(self.number()?),
            Some(b't') => self.literal("true", Kind::Bool)?,
            Some(b'f') => self.literal("false", Kind::Bool)?,
            Some(b'n') => self.literal("null", Kind::Null)?,
            _ => return self.err("a value"),
        };
        Ok(Value { kind, at })
    }

    fn literal(&mut self, word: &str, kind: Kind) -> PResult<Kind> {
        if self.b.get(self.i..self.i + word.len()) == Some(word.as_bytes()) {
            self.i += word.len();
            Ok(kind)
        } else {
            self.err(&format!("{word:?}"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> PResult<String> {
        let start = self.i;
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let int_at = self.i;
        let n = self.digits();
        if n == 0 || (n > 1 && self.b.get(int_at) == Some(&b'0')) {
            self.i = int_at;
            return self.err("a number");
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return self.err("digits after '.'");
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.err("exponent digits");
            }
        }
        Ok(self.text.get(start..self.i).unwrap_or_default().to_owned())
    }

    fn hex4(&mut self) -> PResult<u32> {
        let s = self.text.get(self.i..self.i + 4).unwrap_or_default();
        match u32::from_str_radix(s, 16) {
            Ok(v) if s.len() == 4 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                self.i += 4;
                Ok(v)
            }
            _ => self.err("four hex digits after \\u"),
        }
    }

    fn string(&mut self) -> PResult<String> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let run_start = self.i;
            while let Some(&c) = self.b.get(self.i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(self.text.get(run_start..self.i).unwrap_or_default());
            match self.b.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let esc = self.b.get(self.i).copied();
                    self.i += 1;
                    match esc {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return self.err("a low surrogate \\uDC00-\\uDFFF");
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return self.err("a low surrogate \\uDC00-\\uDFFF");
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            match char::from_u32(code) {
                                Some(c) => out.push(c),
                                None => return self.err("a valid \\u escape"),
                            }
                        }
                        _ => {
                            self.i -= 1;
                            return self
                                .err("a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)");
                        }
                    }
                }
                Some(_) => return self.err("'\"' (control characters must be escaped in strings)"),
                None => return self.err("the closing '\"' of the string"),
            }
        }
    }
}

/// Reads the invoice objects of one JSON export; problems go to `problems`.
pub(crate) fn read_rows(
    text: &str,
    file: &Path,
    config: &ReceivablesConfig,
    problems: &mut Problems,
) -> Vec<RawRow> {
    let index = LineIndex::new(text);
    let problem = |offset: usize, message: String| {
        let (line, column) = index.pos(offset);
        Problem {
            file: file.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let mut parser = Parser {
        b: text.as_bytes(),
        text,
        i: 0,
    };
    let root = match parser.value(0).and_then(|v| {
        parser.ws();
        if parser.i < parser.b.len() {
            parser.err("end of file after the top-level value")
        } else {
            Ok(v)
        }
    }) {
        Ok(v) => v,
        Err((at, message)) => {
            problems.push(problem(at, message));
            return Vec::new();
        }
    };
    const SHAPE: &str = "expected an array of invoice objects or an object {\"invoices\": [...]}";
    let items = match root.kind {
        Kind::Array(items) => items,
        Kind::Object(members) => {
            let mut found = None;
            for (k, _, v) in members {
                if k == "invoices" {
                    found = Some(v);
                }
            }
            match found {
                Some(Value {
                    kind: Kind::Array(items),
                    ..
                }) => items,
                Some(v) => {
                    problems.push(problem(
                        v.at,
                        format!("\"invoices\" is not an array: {SHAPE}"),
                    ));
                    return Vec::new();
                }
                None => {
                    problems.push(problem(root.at, format!("no \"invoices\" key: {SHAPE}")));
                    return Vec::new();
                }
            }
        }
        _ => {
            problems.push(problem(root.at, SHAPE.to_owned()));
            return Vec::new();
        }
    };

    let mut rows = Vec::new();
    for item in items {
        let Kind::Object(members) = item.kind else {
            if !problems.push(problem(
                item.at,
                "expected an invoice object {...} in the array".to_owned(),
            )) {
                break;
            }
            continue;
        };
        let (line, column) = index.pos(item.at);
        let mut fields: [Option<RawField>; 9] = Default::default();
        let mut first_key: [Option<usize>; 9] = [None; 9];
        for (key, key_at, v) in members {
            let Some(fi) = Field::ALL.iter().position(|f| {
                config
                    .columns
                    .header(*f)
                    .trim()
                    .eq_ignore_ascii_case(key.trim())
            }) else {
                continue;
            };
            let (vl, vc) = index.pos(v.at);
            if let Some(prev) = first_key.get(fi).copied().flatten() {
                let (pl, pc) = index.pos(prev);
                problems.push(problem(
                    key_at,
                    format!(
                        "key {key:?} appears twice in this invoice (first at {pl}:{pc}): keep one"
                    ),
                ));
                continue;
            }
            if let Some(slot) = first_key.get_mut(fi) {
                *slot = Some(key_at);
            }
            let (text, numeric) = match v.kind {
                Kind::Str(s) => (s, false),
                Kind::Number(n) => (n, true),
                Kind::Null => (String::new(), false),
                Kind::Bool | Kind::Array(_) | Kind::Object(_) => {
                    problems.push(problem(
                        v.at,
                        format!("{key:?} must be a string or a number"),
                    ));
                    continue;
                }
            };
            if let Some(slot) = fields.get_mut(fi) {
                *slot = Some(RawField {
                    text,
                    numeric,
                    line: vl,
                    column: vc,
                });
            }
        }
        rows.push(RawRow {
            line,
            column,
            fields,
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> PResult<Value> {
        let mut p = Parser {
            b: s.as_bytes(),
            text: s,
            i: 0,
        };
        p.value(0)
    }

    #[test]
    fn numbers_keep_their_text() {
        let v = parse("[1234.50, 0.1, -2, 1e3]").map(|v| v.kind);
        let Ok(Kind::Array(items)) = v else {
            panic!("not an array: {v:?}");
        };
        let texts: Vec<String> = items
            .into_iter()
            .filter_map(|v| match v.kind {
                Kind::Number(n) => Some(n),
                _ => None,
            })
            .collect();
        assert_eq!(texts, ["1234.50", "0.1", "-2", "1e3"]);
    }

    #[test]
    fn strings_unescape() {
        let v = parse(r#""a\"b\\c\u00e9\ud83d\ude00""#).map(|v| v.kind);
        assert!(
            matches!(v, Ok(Kind::Str(ref s)) if s == "a\"b\\cé😀"),
            "{v:?}"
        );
    }

    #[test]
    fn syntax_errors_have_offsets() {
        assert_eq!(parse("[1, 2").err().map(|e| e.0), Some(5));
        assert_eq!(parse("{\"a\" 1}").err().map(|e| e.0), Some(5));
        assert_eq!(parse("[01]").err().map(|e| e.0), Some(1));
        assert!(parse(&"[".repeat(100)).is_err());
    }
}
