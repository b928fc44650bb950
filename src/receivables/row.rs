//! Turns one raw row (text per logical field, each with its position) into a validated
//! [`Receivable`], shared by the CSV and JSON readers so both formats obey the same rules.
//!
//! Invariants of every `Receivable` built here: customer and invoice are non-empty, trimmed,
//! cleaned of bidi overrides, zero-width and control characters and at most
//! [`MAX_DISPLAY_CHARS`] characters long;
//! `issue_date <= due_date`; `0 <= amount_paid <= amount`; currency is three upper-case ASCII
//! letters; contact email, when present, is one plausible address. Amounts are parsed from text
//! and only when the grouping is unambiguous.

use std::path::Path;
use std::str::FromStr;

use jiff::civil::Date;
use rust_decimal::Decimal;

use super::config::{DecimalSeparator, Field, ReceivablesConfig};
use super::error::Problem;
use super::{InvoiceStatus, Receivable, SourcePos};
use crate::hygiene::{MAX_DISPLAY_CHARS, clean_display_text, is_invisible_format};

/// Longest email address (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;

/// One field's raw text and where its value starts in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawField {
    pub text: String,
    /// A JSON number: amounts are then always written with a `.` decimal point.
    pub numeric: bool,
    pub line: u64,
    pub column: u64,
}

/// One raw row: the position of the record and the raw fields, indexed like [`Field::ALL`];
/// `None` means the column (or JSON key) is absent.
#[derive(Debug, Clone)]
pub(crate) struct RawRow {
    pub line: u64,
    pub column: u64,
    pub fields: [Option<RawField>; 9],
}

impl RawRow {
    /// The raw field of `f`, if the column or key is present.
    pub(crate) fn field(&self, f: Field) -> Option<&RawField> {
        self.fields.get(idx(f)).and_then(|x| x.as_ref())
    }
}

fn idx(f: Field) -> usize {
    Field::ALL.iter().position(|x| *x == f).unwrap_or(0)
}

/// Validates `row`; on failure returns every problem found in it.
pub(crate) fn build(
    row: &RawRow,
    file: &Path,
    config: &ReceivablesConfig,
) -> Result<Receivable, Vec<Problem>> {
    let mut problems = Vec::new();
    let header = |f: Field| config.columns.header(f).trim().to_owned();
    let at = |f: &RawField, message: String| Problem {
        file: file.to_path_buf(),
        line: f.line,
        column: f.column,
        message,
    };

    // Required text: present and non-empty.
    let required = |f: Field, problems: &mut Vec<Problem>| -> Option<(&RawField, String)> {
        match row.fields.get(idx(f)).and_then(|x| x.as_ref()) {
            Some(raw) if !raw.text.trim().is_empty() => Some((raw, raw.text.trim().to_owned())),
            Some(raw) => {
                problems.push(at(
                    raw,
                    format!("{} is empty: every row needs {}", header(f), describe(f)),
                ));
                None
            }
            None => {
                problems.push(Problem {
                    file: file.to_path_buf(),
                    line: row.line,
                    column: row.column,
                    message: format!("{} is missing: every row needs {}", header(f), describe(f)),
                });
                None
            }
        }
    };
    let optional = |f: Field| -> Option<(&RawField, String)> {
        row.fields
            .get(idx(f))
            .and_then(|x| x.as_ref())
            .filter(|raw| !raw.text.trim().is_empty())
            .map(|raw| (raw, raw.text.trim().to_owned()))
    };

    // Customer-supplied text that reaches subjects, names and reports: cleaned of bidi
    // overrides, zero-width and control characters and capped (`crate::hygiene`).
    let display = |f: Field, problems: &mut Vec<Problem>| -> Option<String> {
        let (raw, v) = required(f, problems)?;
        let clean = clean_display_text(&v, MAX_DISPLAY_CHARS);
        if clean.is_empty() {
            problems.push(at(
                raw,
                format!(
                    "{} holds only invisible characters: every row needs {}",
                    header(f),
                    describe(f)
                ),
            ));
            return None;
        }
        Some(clean)
    };
    let customer = display(Field::Customer, &mut problems);
    let invoice = display(Field::Invoice, &mut problems);

    let date = |f: Field, problems: &mut Vec<Problem>| -> Option<(Date, &RawField)> {
        let (raw, v) = required(f, problems)?;
        match Date::strptime(&config.date_format, &v) {
            Ok(d) => Some((d, raw)),
            Err(e) => {
                problems.push(at(
                    raw,
                    format!(
                        "{} {:?} is not a date in the format {:?} ({e}); set receivables.date_format if the export uses another format",
                        header(f),
                        v,
                        config.date_format
                    ),
                ));
                None
            }
        }
    };
    let issue = date(Field::IssueDate, &mut problems);
    let due = date(Field::DueDate, &mut problems);
    if let (Some((issue, _)), Some((due, due_raw))) = (issue, due)
        && due < issue
    {
        problems.push(at(
            due_raw,
            format!(
                "{} {} is before {} {}: an invoice cannot fall due before it is issued",
                header(Field::DueDate),
                due,
                header(Field::IssueDate),
                issue
            ),
        ));
    }

    let money = |f: Field, problems: &mut Vec<Problem>| -> Option<(Decimal, &RawField)> {
        let (raw, v) = required(f, problems)?;
        let sep = if raw.numeric {
            DecimalSeparator::Dot
        } else {
            config.decimal_separator
        };
        match parse_amount(&v, sep) {
            Ok(d) => Some((d, raw)),
            Err(why) => {
                problems.push(at(raw, format!("{} {:?}: {why}", header(f), v)));
                None
            }
        }
    };
    let amount = money(Field::Amount, &mut problems);
    let paid = money(Field::AmountPaid, &mut problems);
    if let (Some((amount, _)), Some((paid, paid_raw))) = (amount, paid)
        && paid > amount
    {
        problems.push(at(
                paid_raw,
                format!(
                    "{} {} is more than {} {}: overpayments are not supported; record the \
                     excess as a separate credit in the billing system and export amount_paid <= amount",
                    header(Field::AmountPaid),
                    paid,
                    header(Field::Amount),
                    amount
                ),
            ));
    }

    let currency = required(Field::Currency, &mut problems).and_then(|(raw, v)| {
        if v.len() == 3 && v.bytes().all(|b| b.is_ascii_alphabetic()) {
            Some(v.to_ascii_uppercase())
        } else {
            problems.push(at(
                raw,
                format!(
                    "{} {:?} is not a currency code: expected three letters (ISO 4217), e.g. EUR or USD",
                    header(Field::Currency),
                    v
                ),
            ));
            None
        }
    });

    // More decimals than the currency has minor units would be rounded away silently.
    if let Some(cur) = &currency {
        let units = crate::money::minor_units(cur);
        for (f, value) in [(Field::Amount, amount), (Field::AmountPaid, paid)] {
            if let Some((d, raw)) = value
                && d.normalize().scale() > units
            {
                problems.push(at(
                    raw,
                    format!(
                        "{} {d} has more decimals than {cur} has minor units ({units}); export \
                         the exact amount billed, rounded to {units} decimals",
                        header(f)
                    ),
                ));
            }
        }
    }

    let status = match optional(Field::Status) {
        None => None,
        Some((raw, v)) => match InvoiceStatus::parse(&v) {
            Some(s) => Some(s),
            None => {
                problems.push(at(
                    raw,
                    format!(
                        "{} {:?} is not a known status: expected open, paid, void or disputed (any case)",
                        header(Field::Status),
                        v
                    ),
                ));
                None
            }
        },
    };

    let contact_email = match optional(Field::ContactEmail) {
        None => None,
        Some((raw, v)) => {
            if let Err(why) = check_email(&v) {
                problems.push(at(
                    raw,
                    format!(
                        "{} {:?} is not an email address: {why}",
                        header(Field::ContactEmail),
                        v
                    ),
                ));
            }
            Some(v)
        }
    };

    if !problems.is_empty() {
        return Err(problems);
    }
    match (customer, invoice, issue, due, amount, paid, currency) {
        (
            Some(customer_ref),
            Some(invoice),
            Some((issue_date, _)),
            Some((due_date, _)),
            Some((amount, _)),
            Some((amount_paid, _)),
            Some(currency),
        ) => {
            let status = status.unwrap_or(if amount_paid >= amount {
                InvoiceStatus::Paid
            } else {
                InvoiceStatus::Open
            });
            Ok(Receivable {
                customer_ref,
                invoice,
                issue_date,
                due_date,
                amount,
                amount_paid,
                currency,
                status,
                contact_email,
                source: SourcePos {
                    file: file.to_path_buf(),
                    line: row.line,
                },
            })
        }
        // Unreachable in practice: every `None` above pushed a problem.
        _ => Err(vec![Problem {
            file: file.to_path_buf(),
            line: row.line,
            column: row.column,
            message: "row is incomplete".to_owned(),
        }]),
    }
}

fn describe(f: Field) -> &'static str {
    match f {
        Field::Customer => "a customer reference",
        Field::Invoice => "an invoice number",
        Field::IssueDate => "an issue date",
        Field::DueDate => "a due date",
        Field::Amount => "an invoice amount",
        Field::AmountPaid => "the amount paid (0 when nothing was paid)",
        Field::Currency => "a currency code",
        Field::Status => "a status",
        Field::ContactEmail => "a contact email",
    }
}

/// Parses a non-negative amount written with `sep` as decimal separator.
///
/// Accepted: plain digits with an optional fraction (`1234`, `1234.5`); digit groups of three
/// separated by `,` (with `.` decimals) or by `.`, space, no-break space or narrow no-break space
/// (with `,` decimals), but only together with a fractional part, because `1,234` alone could be
/// either 1234 or 1.234. Rejected with a reason: negatives (credit notes), currency symbols,
/// exponents, mixed group separators.
pub fn parse_amount(text: &str, sep: DecimalSeparator) -> Result<Decimal, String> {
    let t = text.trim();
    if t.starts_with('-') || t.ends_with('-') || (t.starts_with('(') && t.ends_with(')')) {
        return Err(
            "negative amounts are not supported: credit notes are out of scope, \
                    leave them out of the export or net them into the invoice"
                .to_owned(),
        );
    }
    if t.is_empty() {
        return Err("expected an amount".to_owned());
    }
    let dec = sep.as_char();
    let group_seps: &[char] = match sep {
        DecimalSeparator::Dot => &[','],
        DecimalSeparator::Comma => &['.', ' ', '\u{a0}', '\u{202f}'],
    };
    if let Some(bad) = t
        .chars()
        .find(|c| !c.is_ascii_digit() && *c != dec && !group_seps.contains(c))
    {
        return Err(format!(
            "unexpected character {bad:?}: expected a number like {} without currency symbols",
            example(sep)
        ));
    }
    let (int, frac) = match t.split_once(dec) {
        Some((i, f)) => (i, Some(f)),
        None => (t, None),
    };
    if let Some(f) = frac
        && (f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "expected digits after the decimal separator {dec:?}, like {}{}",
            example(sep),
            if sep == DecimalSeparator::Dot && f.contains(',') {
                "; if the export uses decimal commas set receivables.decimal_separator = \",\""
            } else {
                ""
            }
        ));
    }
    let digits: String = if int.bytes().all(|b| b.is_ascii_digit()) {
        if int.is_empty() {
            return Err(format!(
                "expected digits before the decimal separator, like {}",
                example(sep)
            ));
        }
        int.to_owned()
    } else {
        // Grouped integer part: one separator kind, first group 1-3 digits, then groups of 3.
        let gsep = int.chars().find(|c| !c.is_ascii_digit()).unwrap_or(',');
        let groups: Vec<&str> = int.split(gsep).collect();
        let well_formed = groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()))
            && groups.first().is_some_and(|g| (1..=3).contains(&g.len()))
            && groups.iter().skip(1).all(|g| g.len() == 3);
        if !well_formed {
            return Err(format!(
                "digit grouping is not in groups of three: expected a number like {}{}",
                example(sep),
                if sep == DecimalSeparator::Dot
                    && groups.len() == 2
                    && groups.get(1).is_some_and(|g| g.len() != 3)
                    && gsep == ','
                {
                    "; if the export uses decimal commas set receivables.decimal_separator = \",\""
                } else {
                    ""
                }
            ));
        }
        if frac.is_none() {
            return Err(format!(
                "ambiguous: {gsep:?} could be a thousands or a decimal separator; write the amount with \
                 decimals (like {}) or without grouping",
                example(sep)
            ));
        }
        groups.concat()
    };
    let normalized = match frac {
        Some(f) => format!("{digits}.{f}"),
        None => digits,
    };
    Decimal::from_str(&normalized).map_err(|e| format!("not a representable amount ({e})"))
}

fn example(sep: DecimalSeparator) -> &'static str {
    match sep {
        DecimalSeparator::Dot => "1234.50 or 1,234.50",
        DecimalSeparator::Comma => "1234,50, 1.234,50 or 1 234,50",
    }
}

/// A syntactic plausibility check, not RFC 5322: one address, `local@domain.tld`, no spaces.
pub fn check_email(v: &str) -> Result<(), &'static str> {
    if v.len() > MAX_EMAIL_LEN {
        return Err("is longer than an address can be (254 characters)");
    }
    if v.chars().any(is_invisible_format) {
        return Err("contains a bidi override or zero-width character");
    }
    if v.contains([',', ';']) {
        return Err("expected a single address; put one contact email per invoice");
    }
    if v.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == '"')
    {
        return Err(
            "expected a bare address like billing@contoso.com, without spaces, names or quotes",
        );
    }
    let Some((local, domain)) = v.split_once('@') else {
        return Err("expected an address like billing@contoso.com (no @)");
    };
    if local.is_empty() || domain.contains('@') {
        return Err("expected exactly one @ with a name before it, like billing@contoso.com");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
    {
        return Err("expected a domain with a dot after the @, like billing@contoso.com");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn amounts_with_dot_decimals() {
        let d = DecimalSeparator::Dot;
        assert_eq!(parse_amount("1234.50", d), Ok(dec!(1234.50)));
        assert_eq!(parse_amount(" 1234 ", d), Ok(dec!(1234)));
        assert_eq!(parse_amount("1,234.50", d), Ok(dec!(1234.50)));
        assert_eq!(parse_amount("1,234,567.01", d), Ok(dec!(1234567.01)));
        assert_eq!(parse_amount("0.5", d), Ok(dec!(0.5)));
        assert!(parse_amount("1,234", d).unwrap_err().contains("ambiguous"));
        assert!(
            parse_amount("12,50", d)
                .unwrap_err()
                .contains("decimal_separator")
        );
        assert!(parse_amount("1,2345.00", d).is_err());
        assert!(
            parse_amount("-5.00", d)
                .unwrap_err()
                .contains("credit notes")
        );
        assert!(
            parse_amount("(5.00)", d)
                .unwrap_err()
                .contains("credit notes")
        );
        assert!(
            parse_amount("€5.00", d)
                .unwrap_err()
                .contains("currency symbols")
        );
        assert!(parse_amount("5.", d).is_err());
        assert!(parse_amount(".5", d).is_err());
        assert!(parse_amount("1e3", d).is_err());
        assert!(parse_amount("1.2.3", d).is_err());
    }

    #[test]
    fn amounts_with_comma_decimals() {
        let c = DecimalSeparator::Comma;
        assert_eq!(parse_amount("1234,50", c), Ok(dec!(1234.50)));
        assert_eq!(parse_amount("1.234,50", c), Ok(dec!(1234.50)));
        assert_eq!(parse_amount("1 234,50", c), Ok(dec!(1234.50)));
        assert_eq!(parse_amount("1\u{a0}234,50", c), Ok(dec!(1234.50)));
        assert_eq!(parse_amount("99", c), Ok(dec!(99)));
        assert!(parse_amount("1.234", c).unwrap_err().contains("ambiguous"));
        assert!(parse_amount("1.234 567,00", c).is_err());
        assert!(parse_amount("1234.50", c).is_err());
    }

    #[test]
    fn emails() {
        assert!(check_email("billing@contoso.com").is_ok());
        assert!(check_email("a.b+c@sub.contoso.co.uk").is_ok());
        assert!(check_email("billing").is_err());
        assert!(check_email("billing@contoso").is_err());
        assert!(check_email("a@b.com, c@d.com").is_err());
        assert!(check_email("Bob <bob@contoso.com>").is_err());
        assert!(check_email("@contoso.com").is_err());
        assert!(check_email("a@@contoso.com").is_err());
    }
}
