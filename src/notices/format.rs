//! Locale-aware formatting of money and dates for notices, and the choice of a notice's locale.
//!
//! Owns: symbol placement and separators per locale, the written form of dates and months, and
//! [`choose_locale`]. The digits of an amount (minor units, rounding, grouping) come from
//! [`crate::money`]; in English the result is exactly [`crate::money::format`].
//!
//! Invariants:
//! - money is `rust_decimal::Decimal`, never a float; amounts are rounded as
//!   [`crate::money::round`] does (JPY and KRW have no minor units, so `1234.50 JPY` is `¥1,235`);
//! - a currency symbol is used only when it is unambiguous for readers of that locale; otherwise
//!   the ISO 4217 code is written (`SEK 12,400.00` in English, `US$1,234.50` in Japanese);
//! - Swedish groups digits with a NO-BREAK SPACE (U+00A0) and puts a NO-BREAK SPACE before the
//!   currency (`1 234,50 kr`), so an amount never wraps across lines; negative Swedish amounts
//!   use the MINUS SIGN (U+2212), as Swedish typography does;
//! - every function is pure and total: an unknown locale formats as the default (`en`), an
//!   unknown currency is written with its (upper-cased) code.

use jiff::civil::Date;
use rust_decimal::Decimal;

use crate::money::{self, Figures, Fraction};

/// The locales cspguard ships templates for. `en` is the default.
pub const SHIPPED_LOCALES: &[&str] = &["en", "ja", "ko", "zh-Hans", "sv"];

/// The default locale.
pub const DEFAULT_LOCALE: &str = "en";

/// NO-BREAK SPACE, used by Swedish for digit grouping and before the currency.
pub const NBSP: char = '\u{a0}';

/// The formatting family of a locale tag (`ja-JP` formats as `ja`, unknown as `en`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    En,
    Sv,
    Ja,
    Ko,
    ZhHans,
}

fn family(locale: &str) -> Family {
    match resolve_one(locale, SHIPPED_LOCALES) {
        Some(l) if l == "sv" => Family::Sv,
        Some(l) if l == "ja" => Family::Ja,
        Some(l) if l == "ko" => Family::Ko,
        Some(l) if l == "zh-Hans" => Family::ZhHans,
        _ => Family::En,
    }
}

/// Where the currency goes and how it is written.
enum Mark {
    /// Written before the number with no space: `$1,234.50`.
    Prefix(&'static str),
    /// Written after the number with a no-break space: `1 234,50 kr`.
    Suffix(&'static str),
    /// The ISO code; placed by the locale's convention.
    Code,
}

fn mark(currency: &str, fam: Family) -> Mark {
    use Family::*;
    match (fam, currency) {
        (En, _) => money::english_symbol(currency).map_or(Mark::Code, Mark::Prefix),
        (Sv, "SEK") => Mark::Suffix("kr"),
        (Sv, "EUR") => Mark::Suffix("€"),
        (Sv, "USD") => Mark::Suffix("US$"),
        (Sv, "GBP") => Mark::Suffix("GBP"),
        (Ja, "JPY") => Mark::Prefix("¥"),
        (Ja, "USD") => Mark::Prefix("US$"),
        (Ja, "EUR") => Mark::Prefix("€"),
        (Ja, "GBP") => Mark::Prefix("£"),
        (Ja, "KRW") => Mark::Prefix("₩"),
        (Ko, "KRW") => Mark::Prefix("₩"),
        (Ko, "USD") => Mark::Prefix("US$"),
        (Ko, "EUR") => Mark::Prefix("€"),
        (Ko, "GBP") => Mark::Prefix("£"),
        (Ko, "JPY") => Mark::Prefix("JP¥"),
        (Ko, "CNY") => Mark::Prefix("CN¥"),
        (ZhHans, "CNY") => Mark::Prefix("¥"),
        (ZhHans, "USD") => Mark::Prefix("US$"),
        (ZhHans, "EUR") => Mark::Prefix("€"),
        (ZhHans, "GBP") => Mark::Prefix("£"),
        (ZhHans, "JPY") => Mark::Prefix("JP¥"),
        (ZhHans, "KRW") => Mark::Prefix("₩"),
        _ => Mark::Code,
    }
}

/// Formats `amount` in `currency` for readers of `locale`.
///
/// Examples: `format_money(dec!(1234.5), "USD", "en")` is `$1,234.50`;
/// `(12400, "SEK", "en")` is `SEK 12,400.00`; `(1234.5, "SEK", "sv")` is `1 234,50 kr` (with
/// U+00A0); `(1234.5, "JPY", "ja")` is `¥1,235`; `(2450000, "KRW", "ko")` is `₩2,450,000`;
/// `(8800, "CNY", "zh-Hans")` is `¥8,800.00`.
pub fn format_money(amount: Decimal, currency: &str, locale: &str) -> String {
    let currency = currency.trim().to_ascii_uppercase();
    let fam = family(locale);
    let figures = Figures::new(amount, &currency, Fraction::Always);
    let number = match fam {
        Family::Sv => figures.number(NBSP, ','),
        _ => figures.number(',', '.'),
    };
    let minus = if !figures.negative {
        ""
    } else if fam == Family::Sv {
        "\u{2212}"
    } else {
        "-"
    };
    match (mark(&currency, fam), fam) {
        (Mark::Prefix(sym), _) => format!("{minus}{sym}{number}"),
        (Mark::Suffix(sym), _) => format!("{minus}{number}{NBSP}{sym}"),
        (Mark::Code, Family::Sv) => format!("{minus}{number}{NBSP}{currency}"),
        (Mark::Code, _) => format!("{minus}{currency} {number}"),
    }
}

const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const SV_MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];

/// Formats a date the way a letter in `locale` writes it: en `November 21, 2026`,
/// sv `21 november 2026`, ja and zh-Hans `2026年11月21日`, ko `2026년 11월 21일`.
pub fn format_date(date: Date, locale: &str) -> String {
    let (y, m, d) = (date.year(), date.month() as usize, date.day());
    match family(locale) {
        Family::En => format!("{} {d}, {y}", EN_MONTHS[m - 1]),
        Family::Sv => format!("{d} {} {y}", SV_MONTHS[m - 1]),
        Family::Ja | Family::ZhHans => format!("{y}年{m}月{d}日"),
        Family::Ko => format!("{y}년 {m}월 {d}일"),
    }
}

/// Formats the month of `date`: en `November 2026`, sv `november 2026`, ja and zh-Hans
/// `2026年11月`, ko `2026년 11월`.
pub fn format_month(date: Date, locale: &str) -> String {
    let (y, m) = (date.year(), date.month() as usize);
    match family(locale) {
        Family::En => format!("{} {y}", EN_MONTHS[m - 1]),
        Family::Sv => format!("{} {y}", SV_MONTHS[m - 1]),
        Family::Ja | Family::ZhHans => format!("{y}年{m}月"),
        Family::Ko => format!("{y}년 {m}월"),
    }
}

/// Resolves one locale tag against the available locales, or `None`.
///
/// Case-insensitive, `_` is read as `-`. An exact match wins; Chinese tags that mean Simplified
/// script (`zh`, `zh-CN`, `zh-SG`, `zh-Hans`, `zh-Hans-*`, `zh-MY`) map to `zh-Hans`, and
/// Traditional ones (`zh-TW`, `zh-HK`, `zh-MO`, `zh-Hant-*`) to `zh-Hant` only; any other tag
/// falls back to its language (`ja-JP` -> `ja`, `sv-FI` -> `sv`).
/// Whether `tag` names a shipped locale (or a regional form of one, e.g. `sv-SE`).
pub fn is_shipped_locale(tag: &str) -> bool {
    resolve_one(tag, SHIPPED_LOCALES).is_some()
}

fn resolve_one(tag: &str, available: &[&str]) -> Option<String> {
    let tag = tag.trim().replace('_', "-");
    if tag.is_empty() {
        return None;
    }
    let find = |want: &str| {
        available
            .iter()
            .find(|a| a.eq_ignore_ascii_case(want))
            .map(|a| a.to_string())
    };
    if let Some(hit) = find(&tag) {
        return Some(hit);
    }
    let lower = tag.to_ascii_lowercase();
    let mut parts = lower.split('-');
    let lang = parts.next().unwrap_or_default();
    if lang == "zh" {
        let rest: Vec<&str> = parts.collect();
        let traditional = rest
            .iter()
            .any(|p| matches!(*p, "hant" | "tw" | "hk" | "mo"))
            && !rest.contains(&"hans");
        return if traditional {
            find("zh-Hant")
        } else {
            find("zh-Hans")
        };
    }
    find(lang)
}

/// Chooses the locale of a customer notice: 1. the per-customer override; 2. the billing
/// profile's `culture` (e.g. `ja-JP`); 3. its `language`; 4. `default`. Each candidate is
/// resolved against `available` (see the rules above: `zh-CN` -> `zh-Hans`); a candidate that
/// does not resolve is skipped, and when none does the result is `default`.
pub fn choose_locale(
    override_: Option<&str>,
    culture: Option<&str>,
    language: Option<&str>,
    available: &[&str],
    default: &str,
) -> String {
    [override_, culture, language]
        .into_iter()
        .flatten()
        .find_map(|tag| resolve_one(tag, available))
        .unwrap_or_else(|| default.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn english_is_the_operator_form_of_the_money_module() {
        for (amount, currency) in [
            (dec!(1234.5), "USD"),
            (dec!(-5), "EUR"),
            (dec!(12400), "sek"),
            (dec!(1234.5), "JPY"),
            (dec!(2450000), "KRW"),
            (dec!(1.2345), "KWD"),
        ] {
            assert_eq!(
                format_money(amount, currency, "en"),
                money::format(amount, currency)
            );
        }
    }

    #[test]
    fn minor_units_come_from_the_money_module() {
        assert_eq!(format_money(dec!(1.2345), "KWD", "ja"), "KWD 1.235");
        assert_eq!(format_money(dec!(1234.5), "KRW", "ko"), "₩1,235");
        assert_eq!(
            format_money(dec!(1234.5), "KWD", "sv"),
            "1\u{a0}234,500\u{a0}KWD"
        );
    }

    #[test]
    fn zero_and_negative_zero_have_no_sign() {
        assert_eq!(format_money(dec!(-0.001), "USD", "en"), "$0.00");
        assert_eq!(format_money(dec!(-0.4), "JPY", "ja"), "¥0");
    }

    #[test]
    fn unknown_locale_formats_as_english() {
        assert_eq!(format_money(dec!(5), "USD", "de-DE"), "$5.00");
        assert_eq!(
            format_date(jiff::civil::date(2026, 1, 2), "xx"),
            "January 2, 2026"
        );
    }
}
