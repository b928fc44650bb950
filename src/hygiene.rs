//! Text hygiene for values that reach email headers and names.
//!
//! Owns: what makes a value unsafe in a header ([`header_problem`]: CR, LF and every other
//! control character, the Unicode line and paragraph separators) and the cleaning of
//! customer-supplied text ([`clean_display_text`]: bidi overrides and isolates, zero-width and
//! other invisible format characters removed, control characters turned into spaces, length
//! capped at [`MAX_DISPLAY_CHARS`]). No I/O; used by config validation, by the Partner Center
//! decoding of company and contact names, and by the receivables import (customer references and
//! invoice numbers).

/// Longest customer-supplied name kept (characters); longer names are cut and end in `…`.
pub const MAX_DISPLAY_CHARS: usize = 200;

/// Why `s` cannot go into a header, if it cannot.
pub fn header_problem(s: &str) -> Option<&'static str> {
    if s.contains(['\r', '\n']) {
        Some("contains a line break (CR or LF), which could add an email header")
    } else if s
        .chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
    {
        Some("contains a control character or line separator")
    } else if s.chars().any(is_invisible_format) {
        Some("contains a bidi override or zero-width character")
    } else {
        None
    }
}

/// Bidi embeddings, overrides and isolates, marks, zero-width and other invisible format
/// characters that can disguise text.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{206A}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// Customer-supplied text made safe for names and subjects: invisible format characters
/// dropped, control characters and line separators turned into single spaces, trimmed, and cut
/// to `max_chars` characters (ending in `…`).
pub fn clean_display_text(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars.saturating_mul(4)));
    let mut count = 0;
    let mut last_space = true;
    for c in s.chars() {
        if is_invisible_format(c) {
            continue;
        }
        let c = if c.is_control() || c == '\u{2028}' || c == '\u{2029}' || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        if count + 1 >= max_chars.max(1) {
            out.push('…');
            return out.trim_end().to_owned();
        }
        last_space = c == ' ';
        out.push(c);
        count += 1;
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_zero_width_are_removed_and_length_capped() {
        let evil = "Contoso\u{202E}gpj.exe\u{200B} Ltd\r\nBcc: x@y";
        let clean = clean_display_text(evil, 200);
        assert_eq!(clean, "Contosogpj.exe Ltd Bcc: x@y");
        let long = "a".repeat(1_000_000);
        let clean = clean_display_text(&long, 200);
        assert_eq!(clean.chars().count(), 200);
        assert!(clean.ends_with('…'));
        assert_eq!(clean_display_text("  Fabrikam  AB ", 200), "Fabrikam AB");
    }

    #[test]
    fn header_problems_are_named() {
        assert!(header_problem("Contoso").is_none());
        assert!(header_problem("Contoso\r\nBcc: x").is_some());
        assert!(header_problem("Contoso\u{202E}").is_some());
        assert!(header_problem("Contoso\u{0}").is_some());
    }
}
