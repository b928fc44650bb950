//! Receivables aging: outstanding amounts per currency in the buckets current, 1-30, 31-60,
//! 61-90 and 90+ days past due, as of a given date. Pure; used by `receivables check` and the
//! digest.
//!
//! Invariants: only invoices with a positive outstanding amount count; amounts in different
//! currencies are never added together.

use std::collections::BTreeMap;

use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::Serialize;

use super::Receivable;

/// An aging bucket by days past due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Bucket {
    /// Not yet due (due today or later).
    #[serde(rename = "current")]
    Current,
    #[serde(rename = "1-30")]
    Days1To30,
    #[serde(rename = "31-60")]
    Days31To60,
    #[serde(rename = "61-90")]
    Days61To90,
    #[serde(rename = "90+")]
    Over90,
}

impl Bucket {
    pub const ALL: [Bucket; 5] = [
        Bucket::Current,
        Bucket::Days1To30,
        Bucket::Days31To60,
        Bucket::Days61To90,
        Bucket::Over90,
    ];

    /// The bucket of an invoice `days_past_due` days past due.
    pub fn of(days_past_due: i64) -> Bucket {
        match days_past_due {
            i64::MIN..=0 => Bucket::Current,
            1..=30 => Bucket::Days1To30,
            31..=60 => Bucket::Days31To60,
            61..=90 => Bucket::Days61To90,
            _ => Bucket::Over90,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Bucket::Current => "current",
            Bucket::Days1To30 => "1-30",
            Bucket::Days31To60 => "31-60",
            Bucket::Days61To90 => "61-90",
            Bucket::Over90 => "90+",
        }
    }
}

/// Outstanding totals per currency and bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Aging {
    /// Currency -> bucket -> outstanding amount (buckets with nothing outstanding are absent).
    pub by_currency: BTreeMap<String, BTreeMap<Bucket, Decimal>>,
}

impl Aging {
    /// Ages `receivables` as of `today`.
    pub fn compute(receivables: &[Receivable], today: Date) -> Aging {
        let mut aging = Aging::default();
        for r in receivables {
            let o = r.outstanding();
            if o > Decimal::ZERO {
                *aging
                    .by_currency
                    .entry(r.currency.clone())
                    .or_default()
                    .entry(Bucket::of(r.days_past_due(today)))
                    .or_default() += o;
            }
        }
        aging
    }

    /// Total outstanding in `currency`.
    pub fn total(&self, currency: &str) -> Decimal {
        self.by_currency
            .get(currency)
            .map_or(Decimal::ZERO, |b| b.values().copied().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_edges() {
        assert_eq!(Bucket::of(-5), Bucket::Current);
        assert_eq!(Bucket::of(0), Bucket::Current);
        assert_eq!(Bucket::of(1), Bucket::Days1To30);
        assert_eq!(Bucket::of(30), Bucket::Days1To30);
        assert_eq!(Bucket::of(31), Bucket::Days31To60);
        assert_eq!(Bucket::of(60), Bucket::Days31To60);
        assert_eq!(Bucket::of(61), Bucket::Days61To90);
        assert_eq!(Bucket::of(90), Bucket::Days61To90);
        assert_eq!(Bucket::of(91), Bucket::Over90);
    }
}
