//! Property: any single corrupted field in an otherwise valid generated export yields an error
//! pointing at the corrupted row, never `Ok` with fewer rows (all or nothing).

use cspguard::receivables::{ReceivablesConfig, import_file};
use proptest::prelude::*;

const HEADER: &str =
    "customer,invoice,issue_date,due_date,amount,amount_paid,currency,status,contact_email";

#[derive(Debug, Clone)]
struct Row {
    customer: String,
    invoice: String,
    issue_day: u8,
    due_after: u8,
    cents: u32,
    paid_cents: u32,
    currency: &'static str,
    status: &'static str,
    email: Option<String>,
}

impl Row {
    fn fields(&self) -> Vec<String> {
        vec![
            self.customer.clone(),
            self.invoice.clone(),
            format!("2025-01-{:02}", self.issue_day),
            format!("2025-02-{:02}", self.due_after),
            format!("{}.{:02}", self.cents / 100, self.cents % 100),
            format!("{}.{:02}", self.paid_cents / 100, self.paid_cents % 100),
            self.currency.to_owned(),
            self.status.to_owned(),
            self.email.clone().unwrap_or_default(),
        ]
    }
}

fn row(i: usize) -> impl Strategy<Value = Row> {
    (
        "[a-z]{3,10}\\.(com|de|example)",
        1u8..=28,
        1u8..=28,
        1u32..10_000_000,
        0u32..=100,
        prop::sample::select(vec!["EUR", "USD", "chf"]),
        prop::sample::select(vec!["open", "Paid", "DISPUTED", "void", ""]),
        prop::option::of("[a-z]{1,8}@[a-z]{2,8}\\.com"),
    )
        .prop_map(
            move |(customer, issue_day, due_after, cents, pct, currency, status, email)| Row {
                customer,
                invoice: format!("INV-{i}"),
                issue_day,
                due_after,
                cents,
                paid_cents: (u64::from(cents) * u64::from(pct) / 100) as u32,
                currency,
                status,
                email,
            },
        )
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    (1usize..6).prop_flat_map(|n| (0..n).map(row).collect::<Vec<_>>())
}

/// Replacement text for field `field` of row `target` that must be rejected.
fn corruption(field: usize, variant: usize, rows: &[Row], target: usize) -> String {
    let r = &rows[target];
    match field {
        0 => "  ".to_owned(),
        1 => match rows.iter().enumerate().find(|(i, _)| *i < target) {
            Some((_, other)) if variant.is_multiple_of(2) => other.invoice.clone(),
            _ => String::new(),
        },
        2 => ["2025-13-01", "05.01.2025", "yesterday"][variant % 3].to_owned(),
        3 => ["2024-12-31", "2025-02-30", ""][variant % 3].to_owned(),
        4 => ["-1.00", "12€", "1 000.00", ""][variant % 4].to_owned(),
        5 => format!("{}.{:02}", (r.cents + 1) / 100, (r.cents + 1) % 100),
        6 => ["EURO", "E1R", "€"][variant % 3].to_owned(),
        7 => ["late", "closed", "0"][variant % 3].to_owned(),
        _ => ["not-an-email", "a@b", "x@y.com y@z.com"][variant % 3].to_owned(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn one_corrupted_field_rejects_the_import(
        rows in rows(),
        target_seed in any::<usize>(),
        field in 0usize..9,
        variant in any::<usize>(),
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let path = dir.path().join("ar.csv");
        let target = target_seed % rows.len();
        let write = |corrupt: bool| -> std::io::Result<()> {
            let mut text = format!("{HEADER}\n");
            for (i, r) in rows.iter().enumerate() {
                let mut f = r.fields();
                if corrupt && i == target {
                    f[field] = corruption(field, variant, &rows, target);
                }
                let f: Vec<String> = f.into_iter().map(|v| if v.contains(',') { format!("\"{v}\"") } else { v }).collect();
                text.push_str(&f.join(","));
                text.push('\n');
            }
            std::fs::write(&path, text)
        };
        let config = ReceivablesConfig::default();

        write(false).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let valid = import_file(&path, &config);
        prop_assert!(valid.is_ok(), "the uncorrupted export must be valid: {:?}", valid.err().map(|e| e.to_string()));
        prop_assert_eq!(valid.map(|v| v.len()).unwrap_or(0), rows.len());

        write(true).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match import_file(&path, &config) {
            Ok(got) => prop_assert!(false, "corrupted field {} of row {} accepted ({} rows)", field, target, got.len()),
            Err(e) => {
                let line = target as u64 + 2;
                prop_assert!(
                    e.problems().iter().any(|p| p.line == line),
                    "no problem on line {}: {}", line, e
                );
            }
        }
    }
}
