//! Money as text: the one place that knows how many decimals each currency has and how an amount
//! is rounded, grouped and signed.
//!
//! Owns: the ISO 4217 minor units ([`minor_units`]), rounding to them ([`round`]), the digits of
//! an amount ([`Figures`], which `notices::format` dresses per locale), and the two
//! locale-neutral forms written for operators (plans, findings, the digest):
//! - [`format`]: English conventions with the unambiguous symbols (`$1,234.50`, `€1,240.00`,
//!   `¥1,235`) and the ISO code otherwise (`SEK 12,400.00`, `KRW 2,450,000`);
//! - [`format_code`]: always the code, decimals only when there are any (`USD 1,000`,
//!   `EUR 1,234.50`), as budget findings write it.
//!
//! Invariants:
//! - money is `rust_decimal::Decimal`, never a float; amounts are rounded half away from zero to
//!   the currency's minor units (JPY and KRW have none, so `1234.50 JPY` is `¥1,235`; KWD has
//!   three; CLF four; an unknown code two);
//! - a negative amount that rounds to zero has no sign;
//! - every function is pure and total.

use rust_decimal::{Decimal, RoundingStrategy};

/// Number of minor units (decimals) of an ISO 4217 currency code (case-insensitive). Codes
/// cspguard does not know have two, as most currencies do.
pub fn minor_units(currency: &str) -> u32 {
    match currency.trim().to_ascii_uppercase().as_str() {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    }
}

/// `amount` rounded half away from zero to the minor units of `currency`.
pub fn round(amount: Decimal, currency: &str) -> Decimal {
    amount.round_dp_with_strategy(
        minor_units(currency),
        RoundingStrategy::MidpointAwayFromZero,
    )
}

/// Whether the decimals of an amount are written when they are all zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fraction {
    /// Always write every minor unit: `1,000.00`.
    Always,
    /// Write the decimals only when one of them is not zero: `1,000`, but `1,234.50`.
    WhenNonZero,
}

/// The digits of an amount rounded to its currency's minor units, before any locale dresses
/// them with separators and a currency mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    /// The rounded amount is below zero (a negative amount that rounds to zero is not).
    pub negative: bool,
    /// The integer digits, ungrouped, without a sign.
    pub integer: String,
    /// The decimals (exactly the minor units), or `None` when the currency has none or
    /// [`Fraction::WhenNonZero`] left zeros out.
    pub fraction: Option<String>,
}

impl Figures {
    /// The figures of `amount` in `currency`.
    pub fn new(amount: Decimal, currency: &str, fraction: Fraction) -> Figures {
        let dp = minor_units(currency);
        let rounded = round(amount, currency);
        let negative = rounded.is_sign_negative() && !rounded.is_zero();
        let abs = rounded.abs();
        // `{:.N}` on Decimal pads with zeros to exactly N decimals.
        let plain = format!("{abs:.prec$}", prec = dp as usize);
        let (integer, frac) = match plain.split_once('.') {
            Some((i, f)) => (i.to_owned(), Some(f.to_owned())),
            None => (plain, None),
        };
        let frac = match fraction {
            Fraction::Always => frac,
            Fraction::WhenNonZero => frac.filter(|f| f.bytes().any(|b| b != b'0')),
        };
        Figures {
            negative,
            integer,
            fraction: frac,
        }
    }

    /// The number without a sign: integer digits grouped by three with `group`, then `decimal`
    /// and the fraction, if any (`1,234.50`, or `1 234,50` with a no-break space).
    pub fn number(&self, group: char, decimal: char) -> String {
        let mut out = group_digits(&self.integer, group);
        if let Some(f) = &self.fraction {
            out.push(decimal);
            out.push_str(f);
        }
        out
    }
}

/// Groups ASCII digits (no sign) with `sep` every three digits from the right.
pub fn group_digits(digits: &str, sep: char) -> String {
    let n = digits.len();
    let mut out = String::with_capacity(n + n / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// The symbol English readers take unambiguously for `currency` (upper-case code), if any.
pub fn english_symbol(currency: &str) -> Option<&'static str> {
    match currency {
        "USD" => Some("$"),
        "EUR" => Some("€"),
        "GBP" => Some("£"),
        "JPY" => Some("¥"),
        _ => None,
    }
}

/// The operator form: `$1,234.50`, `€1,240.00`, `¥1,235`, `SEK 12,400.00`, `-$5.00`.
///
/// English conventions, whatever the customer's locale: comma grouping, a point before every
/// minor unit, a symbol only where [`english_symbol`] has one and the upper-cased ISO code
/// otherwise. It is `notices::format::format_money(amount, currency, "en")`.
pub fn format(amount: Decimal, currency: &str) -> String {
    let code = currency.trim().to_ascii_uppercase();
    let figures = Figures::new(amount, &code, Fraction::Always);
    let number = figures.number(',', '.');
    let minus = if figures.negative { "-" } else { "" };
    match english_symbol(&code) {
        Some(sym) => format!("{minus}{sym}{number}"),
        None => format!("{minus}{code} {number}"),
    }
}

/// The code form: `USD 1,000`, `EUR 1,234.50`, `JPY 1,235`, `EUR -1,234,567.05`; just the
/// number when `currency` is empty. The code is written as given; decimals appear only when one
/// of them is not zero.
pub fn format_code(amount: Decimal, currency: &str) -> String {
    let figures = Figures::new(amount, currency, Fraction::WhenNonZero);
    let sign = if figures.negative { "-" } else { "" };
    let number = figures.number(',', '.');
    if currency.is_empty() {
        format!("{sign}{number}")
    } else {
        format!("{currency} {sign}{number}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn minor_units_follow_iso_4217() {
        for (code, dp) in [
            ("JPY", 0),
            ("KRW", 0),
            ("jpy", 0),
            ("USD", 2),
            ("EUR", 2),
            ("SEK", 2),
            ("KWD", 3),
            ("BHD", 3),
            ("OMR", 3),
            ("JOD", 3),
            ("TND", 3),
            ("IQD", 3),
            ("LYD", 3),
            ("CLF", 4),
            ("XYZ", 2),
            ("", 2),
        ] {
            assert_eq!(minor_units(code), dp, "{code}");
        }
    }

    #[test]
    fn amounts_have_their_currencys_decimals() {
        assert_eq!(format(dec!(1234.5), "JPY"), "¥1,235");
        assert_eq!(format(dec!(2450000), "KRW"), "KRW 2,450,000");
        assert_eq!(format(dec!(1234.5), "USD"), "$1,234.50");
        assert_eq!(format(dec!(1234.5), "KWD"), "KWD 1,234.500");
        assert_eq!(format(dec!(1.23456), "CLF"), "CLF 1.2346");
        assert_eq!(format_code(dec!(1234.5), "JPY"), "JPY 1,235");
        assert_eq!(format_code(dec!(2450000.4), "KRW"), "KRW 2,450,000");
        assert_eq!(format_code(dec!(1234.5), "KWD"), "KWD 1,234.500");
        assert_eq!(format_code(dec!(1234.5678), "KWD"), "KWD 1,234.568");
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round(dec!(0.005), "USD"), dec!(0.01));
        assert_eq!(round(dec!(-0.005), "USD"), dec!(-0.01));
        assert_eq!(round(dec!(2.5), "JPY"), dec!(3));
        assert_eq!(round(dec!(0.0005), "KWD"), dec!(0.001));
        assert_eq!(format(dec!(1234567.005), "USD"), "$1,234,567.01");
        assert_eq!(format(dec!(999.999), "GBP"), "£1,000.00");
        assert_eq!(format_code(dec!(999.999), "EUR"), "EUR 1,000");
    }

    #[test]
    fn negative_amounts_and_negative_zero() {
        assert_eq!(format(dec!(-5), "USD"), "-$5.00");
        assert_eq!(format(dec!(-1234.5), "SEK"), "-SEK 1,234.50");
        assert_eq!(format(dec!(-0.001), "USD"), "$0.00");
        assert_eq!(format(dec!(-0.4), "JPY"), "¥0");
        assert_eq!(format_code(dec!(-1234567.05), "EUR"), "EUR -1,234,567.05");
        assert_eq!(format_code(dec!(-0.001), "EUR"), "EUR 0");
    }

    #[test]
    fn thousands_are_grouped_as_today() {
        assert_eq!(group_digits("1", ','), "1");
        assert_eq!(group_digits("123", ','), "123");
        assert_eq!(group_digits("1234", ','), "1,234");
        assert_eq!(group_digits("123456", ','), "123,456");
        assert_eq!(group_digits("1234567", ','), "1,234,567");
        assert_eq!(format(dec!(12400), "sek"), "SEK 12,400.00");
        assert_eq!(format(dec!(1240), "EUR"), "€1,240.00");
        assert_eq!(format_code(dec!(20000), "SEK"), "SEK 20,000");
        assert_eq!(format_code(dec!(12), ""), "12");
        let f = Figures::new(dec!(1234.5), "SEK", Fraction::Always);
        assert_eq!(f.number('\u{a0}', ','), "1\u{a0}234,50");
    }
}
