//! CSV export reader: finds the configured columns in the header, and yields one [`RawRow`] per
//! record with the physical line and 1-based character column of every field.
//!
//! Invariants: the first non-blank record is the header; a file without one is a problem, a file
//! with only a header is valid and empty. Records whose fields are all blank (trailing `;;;;` lines
//! from spreadsheets) are skipped. Every record must have as many fields as the header. A UTF-8
//! BOM is ignored; any other non-UTF-8 content is a problem at its position.

use std::path::Path;

use super::config::{Field, ReceivablesConfig};
use super::error::{Problem, Problems};
use super::row::{RawField, RawRow};

/// Strips a UTF-8 BOM and checks UTF-8, or records a problem at the first invalid byte.
pub(crate) fn decode<'a>(bytes: &'a [u8], file: &Path, problems: &mut Problems) -> Option<&'a str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Some(s),
        Err(e) => {
            let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
            // The prefix is valid UTF-8 by construction.
            let prefix = std::str::from_utf8(valid).unwrap_or_default();
            let (line, column) = line_col(prefix, prefix.len());
            problems.push(Problem {
                file: file.to_path_buf(),
                line,
                column,
                message:
                    "the file is not UTF-8 text: export it as \"CSV UTF-8\" (or JSON in UTF-8)"
                        .to_owned(),
            });
            None
        }
    }
}

/// Line starts of a text, to turn byte offsets into 1-based line and character column quickly.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { text, starts }
    }

    /// 1-based line and character column of byte `offset`.
    pub(crate) fn pos(&self, offset: usize) -> (u64, u64) {
        let offset = offset.min(self.text.len());
        let line_idx = self
            .starts
            .partition_point(|s| *s <= offset)
            .saturating_sub(1);
        let start = self.starts.get(line_idx).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count()) as u64
            + 1;
        (line_idx as u64 + 1, column)
    }
}

/// 1-based line and character column of byte `offset` in `text` (one-off; use [`LineIndex`] in loops).
pub(crate) fn line_col(text: &str, offset: usize) -> (u64, u64) {
    LineIndex::new(text).pos(offset)
}

/// Byte offset of the first field of `record`. The reader's position can point at the `\n` that
/// ends the previous CRLF line, so line-end bytes there are skipped (a record never starts with
/// one: blank lines are not records).
fn record_start(text: &str, record: &csv::StringRecord) -> usize {
    let at = record
        .position()
        .and_then(|p| usize::try_from(p.byte()).ok())
        .unwrap_or(0);
    let skipped = text
        .as_bytes()
        .get(at..)
        .unwrap_or_default()
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    at + skipped
}

/// Byte offsets of the starts of the fields of `record`, which the `csv` reader parsed from the
/// text starting at `start`. Derived from the reader's own output, so there is one parser: an
/// unquoted field is as long in the text as in the record; a quoted one (its first byte is `"`)
/// adds its two quotes and one more byte per `"` inside (written `""`); one delimiter byte follows
/// each field. Quoted fields may span lines; the offsets still point into the right line.
fn field_starts(text: &str, start: usize, record: &csv::StringRecord) -> Vec<usize> {
    let raw = text.as_bytes();
    let mut starts = Vec::with_capacity(record.len());
    let mut at = start;
    for field in record {
        starts.push(at);
        let raw_len = if raw.get(at) == Some(&b'"') {
            field.len() + 2 + field.matches('"').count()
        } else {
            field.len()
        };
        at += raw_len + 1;
    }
    starts
}

/// Reads the records of one CSV export; problems go to `problems` (then the rows are ignored).
pub(crate) fn read_rows(
    text: &str,
    file: &Path,
    config: &ReceivablesConfig,
    problems: &mut Problems,
) -> Vec<RawRow> {
    let Ok(delimiter) = config.delimiter_byte() else {
        return Vec::new(); // validated by the caller
    };
    let problem = |line: u64, column: u64, message: String| Problem {
        file: file.to_path_buf(),
        line,
        column,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());

    let mut header: Option<(Vec<String>, u64)> = None;
    let mut columns: [Option<usize>; 9] = [None; 9];
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let index = LineIndex::new(text);
    let line_col = |_: &str, offset: usize| index.pos(offset);
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let (line, column) = e.position().map_or((1, 1), |p| {
                    line_col(text, usize::try_from(p.byte()).unwrap_or(0))
                });
                problems.push(problem(line, column, format!("unreadable CSV: {e}")));
                break;
            }
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let offset = record_start(text, &record);
        let (line, _) = line_col(text, offset);
        let starts = field_starts(text, offset, &record);
        let pos_of =
            |i: usize| -> (u64, u64) { starts.get(i).map_or((line, 1), |s| line_col(text, *s)) };

        let Some((names, _)) = &header else {
            let names: Vec<String> = record.iter().map(|h| h.trim().to_owned()).collect();
            let Some(found) = locate_columns(&names, line, file, config, problems, &pos_of) else {
                // Without the columns every row would fail the same way: report the header only.
                return Vec::new();
            };
            columns = found;
            header = Some((names, line));
            continue;
        };
        if record.len() != names.len() {
            if !problems.push(problem(
                line,
                1,
                format!(
                    "this row has {} fields but the header has {}: check the delimiter (receivables.delimiter = {:?}) \
                     and that values containing it are quoted",
                    record.len(),
                    names.len(),
                    config.delimiter
                ),
            )) {
                break;
            }
            continue;
        }
        let mut fields: [Option<RawField>; 9] = Default::default();
        for (slot, col) in fields.iter_mut().zip(columns.iter()) {
            if let Some(i) = *col {
                let (fl, fc) = pos_of(i);
                *slot = record.get(i).map(|t| RawField {
                    text: t.to_owned(),
                    numeric: false,
                    line: fl,
                    column: fc,
                });
            }
        }
        rows.push(RawRow {
            line,
            column: 1,
            fields,
        });
    }
    if header.is_none() {
        problems.push(problem(
            1,
            1,
            format!(
                "no header line: the file is empty; expected a header naming the columns {}",
                Field::ALL
                    .iter()
                    .filter(|f| f.is_required())
                    .map(|f| config.columns.header(*f).trim())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    rows
}

/// Maps each logical field to its header index; records missing required and ambiguous columns
/// (then returns `None`).
fn locate_columns(
    names: &[String],
    line: u64,
    file: &Path,
    config: &ReceivablesConfig,
    problems: &mut Problems,
    pos_of: &dyn Fn(usize) -> (u64, u64),
) -> Option<[Option<usize>; 9]> {
    let mut columns = [None; 9];
    let mut ok = true;
    for (slot, field) in columns.iter_mut().zip(Field::ALL) {
        let wanted = config.columns.header(field).trim();
        let hits: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.eq_ignore_ascii_case(wanted))
            .map(|(i, _)| i)
            .collect();
        match hits.as_slice() {
            [] if field.is_required() => {
                let other = if config.delimiter == ";" { ',' } else { ';' };
                let hint = if names.len() == 1 && names.iter().any(|n| n.contains(other)) {
                    format!(
                        "; the header looks {other:?}-separated: set receivables.delimiter = \"{other}\""
                    )
                } else {
                    String::new()
                };
                ok = false;
                problems.push(Problem {
                    file: file.to_path_buf(),
                    line,
                    column: 1,
                    message: format!(
                        "missing column for {} (looked for header {:?}, set receivables.columns.{} to rename it); headers found: {}{}",
                        field.key(),
                        wanted,
                        field.key(),
                        names
                            .iter()
                            .map(|n| format!("{n:?}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        hint
                    ),
                });
            }
            [] => {}
            [one] => *slot = Some(*one),
            [first, second, ..] => {
                let (l, c) = pos_of(*second);
                ok = false;
                problems.push(Problem {
                    file: file.to_path_buf(),
                    line: l,
                    column: c,
                    message: format!(
                        "header {:?} appears twice (columns {} and {}): cannot tell which holds the {}",
                        wanted,
                        first + 1,
                        second + 1,
                        field.key()
                    ),
                });
            }
        }
    }
    ok.then_some(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let t = "a,b\nÄö,x";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 4), (2, 1));
        // 'x' is after "Äö," = 5 bytes, 3 chars.
        assert_eq!(line_col(t, 9), (2, 4));
    }

    /// The starts of the fields of every record the `csv` reader finds in `t`.
    fn starts_of(t: &str, delimiter: u8) -> Vec<Vec<usize>> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(t.as_bytes());
        reader
            .records()
            .map(|r| {
                let r = r.unwrap_or_default();
                field_starts(t, record_start(t, &r), &r)
            })
            .collect()
    }

    #[test]
    fn field_starts_follow_quotes_across_lines() {
        let t = "a,\"b,\n\"\"c\",d\ne";
        assert_eq!(starts_of(t, b','), vec![vec![0, 2, 11], vec![13]]);
    }

    #[test]
    fn field_starts_after_empty_quoted_and_crlf_records() {
        // "" is an empty quoted field (two bytes); """" is one quote (four bytes).
        let t = "\"\",\"\"\"\",x\r\n;\"a;b\";\"\"\r\n";
        assert_eq!(starts_of(t, b','), vec![vec![0, 3, 8], vec![11]]);
        assert_eq!(starts_of(t, b';')[1], vec![11, 12, 18]);
    }
}
