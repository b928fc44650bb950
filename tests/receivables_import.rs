//! Receivables import: exact positions and messages of every rejection, all-or-nothing imports,
//! customer matching, file sources and the `receivables check` command.

use std::path::{Path, PathBuf};

use cspguard::output::OutputFormat;
use cspguard::receivables::check::{CheckOutcome, CheckRequest, check as run_check};
use cspguard::receivables::{
    CustomerDirectory, DecimalSeparator, FileSource, ImportError, InvoiceStatus, MatchBy,
    MatchRule, ReceivablesConfig, ReceivablesSource, UnmatchedReason, import_file, import_files,
    match_customers,
};
use jiff::civil::date;
use rust_decimal_macros::dec;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/receivables")
        .join(name)
}

fn defaults() -> ReceivablesConfig {
    ReceivablesConfig::default()
}

/// The rendered problems of a rejected import, one `file:line:column: message` per entry.
fn problems_of(result: Result<Vec<cspguard::receivables::Receivable>, ImportError>) -> Vec<String> {
    match result {
        Ok(rows) => panic!("expected a rejected import, got {} receivables", rows.len()),
        Err(e) => {
            assert!(!e.problems().is_empty(), "expected row problems, got: {e}");
            e.problems().iter().map(ToString::to_string).collect()
        }
    }
}

fn european_config() -> Result<ReceivablesConfig, toml::de::Error> {
    toml::from_str(&format!(
        r#"
        path = "{}"
        delimiter = ";"
        decimal_separator = ","
        date_format = "%d.%m.%Y"
        match_by = "mapping"
        mapping_file = "{}"
        [columns]
        customer = "Kundennummer"
        invoice = "Rechnungsnummer"
        issue_date = "Rechnungsdatum"
        due_date = "Fälligkeit"
        amount = "Betrag"
        amount_paid = "Bezahlt"
        currency = "Währung"
        contact_email = "E-Mail"
        "#,
        fixture("ar-european.csv").display(),
        fixture("mapping-european.csv").display()
    ))
}

fn directory() -> CustomerDirectory<'static> {
    CustomerDirectory::from_triples([
        (
            "8A4F1E2C-1B2D-4C3E-9F00-123456789ABC",
            "contoso.onmicrosoft.com",
            "Contoso Ltd",
        ),
        (
            "3b1c9d70-5e6f-4a8b-9c0d-aabbccddeeff",
            "fabrikam.com",
            "Fabrikam Inc",
        ),
        (
            "22222222-3333-4444-8555-666666666666",
            "contoso.com",
            "Contoso Ltd", // same name as the first: names are never used for matching
        ),
    ])
}

#[test]
fn default_csv_parses_every_field() -> TestResult {
    let path = fixture("ar-default.csv");
    let rows = import_file(&path, &defaults())?;
    assert_eq!(rows.len(), 6);
    let r = &rows[1];
    assert_eq!(r.customer_ref, "8A4F1E2C-1B2D-4C3E-9F00-123456789ABC");
    assert_eq!(r.invoice, "INV-1002");
    assert_eq!(r.issue_date, date(2025, 2, 5));
    assert_eq!(r.due_date, date(2025, 3, 7));
    assert_eq!(r.amount, dec!(1234.50));
    assert_eq!(r.amount_paid, dec!(234.50));
    assert_eq!(r.currency, "EUR", "currency is upper-cased");
    assert_eq!(r.status, InvoiceStatus::Open, "status is case-insensitive");
    assert_eq!(r.contact_email.as_deref(), Some("billing@contoso.com"));
    assert_eq!(r.source.file, path);
    assert_eq!(r.source.line, 3);
    assert_eq!(rows[0].contact_email, None, "an empty email is no override");
    let statuses: Vec<InvoiceStatus> = rows.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            InvoiceStatus::Open,
            InvoiceStatus::Open,
            InvoiceStatus::Paid,
            InvoiceStatus::Disputed,
            InvoiceStatus::Void,
            InvoiceStatus::Open, // empty status, partially paid: derived as open
        ]
    );
    Ok(())
}

#[test]
fn outstanding_on_partial_payments() -> TestResult {
    let rows = import_file(&fixture("ar-default.csv"), &defaults())?;
    let outstanding: Vec<_> = rows.iter().map(|r| r.outstanding()).collect();
    assert_eq!(
        outstanding,
        [
            dec!(1200.00),
            dec!(1000.00), // 1,234.50 - 234.50
            dec!(0),       // paid
            dec!(99.90),   // disputed still owes
            dec!(0),       // void
            dec!(200.00),  // 300 - 100
        ]
    );
    let mut paid_with_balance = rows[0].clone();
    paid_with_balance.status = InvoiceStatus::Paid;
    assert_eq!(paid_with_balance.outstanding(), dec!(0));
    Ok(())
}

#[test]
fn european_csv_with_custom_columns() -> TestResult {
    let config = european_config()?;
    assert_eq!(config.decimal_separator, DecimalSeparator::Comma);
    let rows = import_file(&fixture("ar-european.csv"), &config)?;
    assert_eq!(rows.len(), 5, "the trailing ;;;; line is skipped");
    assert_eq!(rows[0].amount, dec!(1234.50));
    assert_eq!(rows[0].issue_date, date(2025, 1, 5));
    assert_eq!(rows[0].due_date, date(2025, 2, 4));
    assert_eq!(
        rows[0].contact_email.as_deref(),
        Some("buchhaltung@contoso.de")
    );
    assert_eq!(rows[1].amount, dec!(1234.50), "space-grouped thousands");
    assert_eq!(rows[1].outstanding(), dec!(1000.00));
    assert_eq!(
        rows[2].status,
        InvoiceStatus::Paid,
        "fully paid, no status column"
    );
    assert_eq!(rows[2].currency, "CHF");
    assert_eq!(rows[3].amount, dec!(99.90));
    Ok(())
}

#[test]
fn json_export_with_invoices_wrapper() -> TestResult {
    let path = fixture("ar-export.json");
    let rows = import_file(&path, &defaults())?;
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0].amount,
        dec!(1200.50),
        "JSON numbers keep their text"
    );
    assert_eq!(rows[0].amount_paid, dec!(200.50));
    assert_eq!(rows[0].contact_email, None, "null is no override");
    assert_eq!(rows[0].source.line, 4, "line of the object");
    assert_eq!(rows[1].invoice, "2002", "numeric invoice numbers are text");
    assert_eq!(rows[1].currency, "USD");
    assert_eq!(rows[1].status, InvoiceStatus::Open);
    assert_eq!(rows[2].source.line, 26);
    Ok(())
}

#[test]
fn bom_is_ignored_and_header_only_is_empty_but_no_header_is_invalid() -> TestResult {
    let rows = import_file(&fixture("bom.csv"), &defaults())?;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].customer_ref, "contoso.com");
    assert!(import_file(&fixture("header-only.csv"), &defaults())?.is_empty());
    let p = fixture("empty.csv");
    assert_eq!(
        problems_of(import_file(&p, &defaults())),
        [format!(
            "{}:1:1: no header line: the file is empty; expected a header naming the columns customer, invoice, issue_date, due_date, amount, amount_paid, currency",
            p.display()
        )]
    );
    Ok(())
}

#[test]
fn bad_date_is_reported_at_its_field() {
    let p = fixture("bad-date.csv");
    let problems = problems_of(import_file(&p, &defaults()));
    assert_eq!(problems.len(), 1);
    let prefix = format!(
        "{}:3:30: due_date \"2025-02-30\" is not a date in the format \"%Y-%m-%d\" (",
        p.display()
    );
    assert!(problems[0].starts_with(&prefix), "{}", problems[0]);
    assert!(problems[0].ends_with("set receivables.date_format if the export uses another format"));
}

#[test]
fn bad_amount_points_at_the_quoted_field_and_suggests_the_separator() {
    let p = fixture("bad-amount.csv");
    assert_eq!(
        problems_of(import_file(&p, &defaults())),
        [format!(
            "{}:3:41: amount \"100,00\": digit grouping is not in groups of three: expected a number like 1234.50 or 1,234.50; if the export uses decimal commas set receivables.decimal_separator = \",\"",
            p.display()
        )]
    );
}

#[test]
fn missing_column_names_field_header_and_headers_found() {
    let p = fixture("missing-column.csv");
    assert_eq!(
        problems_of(import_file(&p, &defaults())),
        [format!(
            "{}:1:1: missing column for amount_paid (looked for header \"amount_paid\", set receivables.columns.amount_paid to rename it); headers found: \"customer\", \"invoice\", \"issue_date\", \"due_date\", \"amount\", \"paid\", \"currency\"",
            p.display()
        )]
    );
}

#[test]
fn wrong_delimiter_is_diagnosed() -> TestResult {
    let mut config = european_config()?;
    config.delimiter = ",".to_owned();
    config.decimal_separator = DecimalSeparator::Dot;
    let problems = problems_of(import_file(&fixture("ar-european.csv"), &config));
    assert!(
        problems[0].contains("the header looks ';'-separated: set receivables.delimiter = \";\""),
        "{problems:?}"
    );
    Ok(())
}

#[test]
fn duplicate_invoice_names_both_positions() {
    let p = fixture("duplicate-invoice.csv");
    assert_eq!(
        problems_of(import_file(&p, &defaults())),
        [format!(
            "{}:4:14: invoice \"INV-1\" appears twice: first at {}:2:13; each invoice must appear once in the whole import",
            p.display(),
            p.display()
        )]
    );
}

#[test]
fn duplicate_invoice_across_files_of_a_glob() -> TestResult {
    let config = ReceivablesConfig {
        path: format!("{}/*.csv", fixture("multi").display()),
        ..defaults()
    };
    let err = match FileSource::new(config)?.load(jiff::Timestamp::now()) {
        Ok(rows) => panic!("expected a rejection, got {} rows", rows.len()),
        Err(e) => e,
    };
    let a = fixture("multi").join("a.csv");
    let b = fixture("multi").join("b.csv");
    assert_eq!(
        err.problems()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [format!(
            "{}:3:14: invoice \"INV-1\" appears twice: first at {}:2:13; each invoice must appear once in the whole import",
            b.display(),
            a.display()
        )]
    );
    assert!(err.to_string().starts_with(
        "receivables import rejected (1 problem); no receivables were imported, fix the export and rerun:\n"
    ));
    Ok(())
}

#[test]
fn overpayment_is_an_error_that_says_so() {
    let p = fixture("overpayment.csv");
    assert_eq!(
        problems_of(import_file(&p, &defaults())),
        [format!(
            "{}:2:48: amount_paid 120.00 is more than amount 100.00: overpayments are not supported; record the excess as a separate credit in the billing system and export amount_paid <= amount",
            p.display()
        )]
    );
}

#[test]
fn negative_amount_says_credit_notes_are_out_of_scope() {
    let p = fixture("negative-amount.csv");
    assert_eq!(
        problems_of(import_file(&p, &defaults())),
        [format!(
            "{}:3:40: amount \"-40.00\": negative amounts are not supported: credit notes are out of scope, leave them out of the export or net them into the invoice",
            p.display()
        )]
    );
}

#[test]
fn unknown_status_lists_the_known_ones() {
    let p = fixture("unknown-status.csv");
    assert_eq!(
        problems_of(import_file(&p, &defaults())),
        [format!(
            "{}:2:57: status \"overdue\" is not a known status: expected open, paid, void or disputed (any case)",
            p.display()
        )]
    );
}

#[test]
fn json_problems_point_at_the_value() {
    let p = fixture("bad-json-amount.json");
    assert_eq!(
        problems_of(import_file(&p, &defaults())),
        [format!(
            "{}:5:14: amount \"-25.00\": negative amounts are not supported: credit notes are out of scope, leave them out of the export or net them into the invoice",
            p.display()
        )]
    );
    let p = fixture("bad-json-syntax.json");
    assert_eq!(
        problems_of(import_file(&p, &defaults())),
        [format!(
            "{}:3:36: invalid JSON: expected ',' or '}}', found '\"'",
            p.display()
        )]
    );
}

#[test]
fn every_problem_is_collected_up_to_the_limit() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("many.csv");
    let mut text =
        String::from("customer,invoice,issue_date,due_date,amount,amount_paid,currency\n");
    text.push_str("c,OK-1,2025-01-01,2025-01-31,10.00,0,EUR\n");
    text.push_str("c,X-1,2025-01-01,2025-01-31,ten,0,EUR\n");
    text.push_str("c,X-2,2025-01-01,2024-12-31,10.00,0,EURO\n");
    for i in 0..30 {
        text.push_str(&format!("c,Y-{i},2025-01-01,2025-01-31,10.00,0,E\n"));
    }
    std::fs::write(&path, text)?;
    let err = match import_file(&path, &defaults()) {
        Ok(rows) => panic!("expected a rejection, got {} rows", rows.len()),
        Err(e) => e,
    };
    let ImportError::Invalid {
        problems,
        truncated,
    } = &err
    else {
        panic!("unexpected error: {err}");
    };
    assert_eq!(problems.len(), 20);
    assert!(*truncated);
    let lines: Vec<(u64, u64)> = problems
        .iter()
        .take(4)
        .map(|p| (p.line, p.column))
        .collect();
    assert_eq!(lines, [(3, 29), (4, 18), (4, 37), (5, 37)]);
    assert!(
        err.to_string()
            .ends_with("(stopped after 20 problems; more may follow)")
    );
    Ok(())
}

/// Positions come from the `csv` reader alone: quoted fields with delimiters, doubled quotes and
/// line breaks before a bad field, and CRLF line ends, still point at the bad field.
#[test]
fn positions_after_quoted_fields_with_commas_quotes_and_newlines() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("quoted.csv");
    let text = concat!(
        "customer,invoice,issue_date,due_date,amount,amount_paid,currency\n",
        "\"Contoso, \"\"the\"\" one\",INV-1,2025-01-01,2025-02-30,10.00,0,EUR\n",
        "\"Fabrikam\nAB, \"\"Nord\"\"\",INV-2,2025-01-01,2025-02-31,10.00,0,EUR\r\n",
        "c,INV-3,2025-01-01,2025-01-31,ten,0,EUR\r\n",
    );
    std::fs::write(&path, text)?;
    let err = match import_file(&path, &defaults()) {
        Ok(rows) => panic!("expected a rejection, got {} rows", rows.len()),
        Err(e) => e,
    };
    let at: Vec<(u64, u64)> = err.problems().iter().map(|p| (p.line, p.column)).collect();
    assert_eq!(at, [(2, 41), (4, 32), (5, 31)], "{err}");
    let messages: Vec<&str> = err.problems().iter().map(|p| p.message.as_str()).collect();
    assert!(messages[0].starts_with("due_date \"2025-02-30\""), "{err}");
    assert!(messages[1].starts_with("due_date \"2025-02-31\""), "{err}");
    assert!(messages[2].starts_with("amount \"ten\""), "{err}");
    Ok(())
}

#[test]
fn one_bad_row_rejects_the_whole_multi_file_import() -> TestResult {
    let files = [fixture("ar-default.csv"), fixture("bad-date.csv")];
    let result = import_files(&files, &defaults());
    assert!(matches!(result, Err(ImportError::Invalid { .. })));
    Ok(())
}

#[test]
fn glob_with_zero_matches_is_an_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let pattern = format!("{}/*.csv", dir.path().display());
    let source = FileSource::new(ReceivablesConfig {
        path: pattern.clone(),
        ..defaults()
    })?;
    match source.load(jiff::Timestamp::now()) {
        Err(ImportError::NoFilesMatched { pattern: p }) => assert_eq!(p, pattern),
        other => panic!("expected NoFilesMatched, got {other:?}"),
    }
    let missing = FileSource::new(ReceivablesConfig {
        path: dir.path().join("ar.csv").display().to_string(),
        ..defaults()
    })?;
    let err = missing
        .load(jiff::Timestamp::now())
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.starts_with("no receivables export matched ")));
    Ok(())
}

#[test]
fn file_source_reads_all_matches_in_order_and_rejects_stale_exports() -> TestResult {
    let dir = tempfile::tempdir()?;
    let header = "customer,invoice,issue_date,due_date,amount,amount_paid,currency\n";
    std::fs::write(
        dir.path().join("b.csv"),
        format!("{header}c,B-1,2025-01-01,2025-01-31,1,0,EUR\n"),
    )?;
    std::fs::write(
        dir.path().join("a.csv"),
        format!("{header}c,A-1,2025-01-01,2025-01-31,1,0,EUR\n"),
    )?;
    std::fs::write(dir.path().join("notes.txt"), "not an export")?;
    let config = ReceivablesConfig {
        path: format!("{}/*.csv", dir.path().display()),
        max_age_days: Some(2),
        ..defaults()
    };
    let source = FileSource::new(config)?;
    assert!(source.name().contains("*.csv"));
    let now = jiff::Timestamp::now();
    let rows = source.load(now)?;
    let invoices: Vec<&str> = rows.iter().map(|r| r.invoice.as_str()).collect();
    assert_eq!(invoices, ["A-1", "B-1"]);
    let later = now.checked_add(jiff::SignedDuration::from_hours(24 * 3))?;
    match source.load(later) {
        Err(ImportError::Stale {
            age_days,
            max_age_days: 2,
            ..
        }) => assert!(age_days >= 2),
        other => panic!("expected a stale export error, got {other:?}"),
    }
    Ok(())
}

#[test]
fn config_defaults_and_unknown_keys() -> TestResult {
    let config: ReceivablesConfig = toml::from_str(r#"path = "/var/lib/cspguard/import/*.csv""#)?;
    assert_eq!(config.delimiter, ",");
    assert_eq!(config.date_format, "%Y-%m-%d");
    assert_eq!(config.match_by, MatchBy::TenantId);
    assert_eq!(config.columns.amount_paid, "amount_paid");
    config.validate()?;
    assert!(toml::from_str::<ReceivablesConfig>("path = \"x\"\ndelimeter = \";\"").is_err());
    let mapping: ReceivablesConfig = toml::from_str("path = \"x\"\nmatch_by = \"mapping\"")?;
    assert!(
        FileSource::new(mapping).is_err(),
        "mapping needs mapping_file"
    );
    let clash: ReceivablesConfig =
        toml::from_str("path = \"x\"\ndelimiter = \",\"\ndecimal_separator = \",\"")?;
    assert!(clash.validate().is_err());
    Ok(())
}

#[test]
fn match_by_tenant_id() -> TestResult {
    let rows = import_file(&fixture("ar-default.csv"), &defaults())?;
    let outcome = match_customers(rows, &directory(), &MatchRule::TenantId);
    let contoso = outcome
        .matched
        .get("8A4F1E2C-1B2D-4C3E-9F00-123456789ABC")
        .map(|v| v.iter().map(|r| r.invoice.as_str()).collect::<Vec<_>>());
    assert_eq!(contoso, Some(vec!["INV-1001", "INV-1002", "INV-1006"]));
    assert_eq!(
        outcome
            .matched
            .get("3b1c9d70-5e6f-4a8b-9c0d-aabbccddeeff")
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(outcome.unmatched.len(), 1);
    assert_eq!(outcome.unmatched[0].receivable.invoice, "INV-1005");
    assert_eq!(outcome.unmatched[0].reason, UnmatchedReason::NotInDirectory);
    Ok(())
}

#[test]
fn match_by_domain_never_guesses() -> TestResult {
    let rows = import_file(&fixture("ar-export.json"), &defaults())?;
    let mut dir = directory();
    let outcome = match_customers(rows.clone(), &dir, &MatchRule::Domain);
    assert_eq!(
        outcome.matched.keys().collect::<Vec<_>>(),
        [
            "3b1c9d70-5e6f-4a8b-9c0d-aabbccddeeff",
            "8A4F1E2C-1B2D-4C3E-9F00-123456789ABC"
        ]
    );
    assert_eq!(outcome.unmatched.len(), 1);
    assert_eq!(outcome.unmatched[0].receivable.invoice, "J-3");

    // Two customers with the same domain: reported as ambiguous, not picked.
    dir.customers[2].primary_domain = "FABRIKAM.com";
    let outcome = match_customers(rows, &dir, &MatchRule::Domain);
    let ambiguous: Vec<&UnmatchedReason> = outcome
        .unmatched
        .iter()
        .filter(|u| u.receivable.invoice == "2002")
        .map(|u| &u.reason)
        .collect();
    assert_eq!(
        ambiguous,
        [&UnmatchedReason::Ambiguous {
            tenant_ids: vec![
                "3b1c9d70-5e6f-4a8b-9c0d-aabbccddeeff".to_owned(),
                "22222222-3333-4444-8555-666666666666".to_owned()
            ]
        }]
    );
    Ok(())
}

#[test]
fn match_by_mapping_file() -> TestResult {
    let config = european_config()?;
    let rows = import_file(&fixture("ar-european.csv"), &config)?;
    let rule = MatchRule::from_config(&config)?;
    let outcome = match_customers(rows, &directory(), &rule);
    let matched: Vec<(&str, usize)> = outcome
        .matched
        .iter()
        .map(|(k, v)| (k.as_str(), v.len()))
        .collect();
    assert_eq!(
        matched,
        [
            ("3b1c9d70-5e6f-4a8b-9c0d-aabbccddeeff", 1),
            ("8A4F1E2C-1B2D-4C3E-9F00-123456789ABC", 2)
        ]
    );
    let unmatched: Vec<(&str, &UnmatchedReason)> = outcome
        .unmatched
        .iter()
        .map(|u| (u.receivable.customer_ref.as_str(), &u.reason))
        .collect();
    assert_eq!(
        unmatched,
        [
            ("K-9999", &UnmatchedReason::NotInMapping),
            (
                "K-3003",
                &UnmatchedReason::MappedTenantUnknown {
                    tenant_id: "99999999-9999-4999-8999-999999999999".to_owned()
                }
            ),
        ]
    );
    Ok(())
}

#[test]
fn mapping_file_problems_have_positions() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("map.csv");
    std::fs::write(
        &path,
        "number,tenant\nC1,not-a-guid\nC2,22222222-3333-4444-8555-666666666666\nc2,22222222-3333-4444-8555-666666666666\n",
    )?;
    let config = ReceivablesConfig {
        path: "x".to_owned(),
        match_by: MatchBy::Mapping,
        mapping_file: Some(path.clone()),
        ..defaults()
    };
    let err = match MatchRule::from_config(&config) {
        Ok(rule) => panic!("expected a rejected mapping, got {rule:?}"),
        Err(e) => e,
    };
    let got: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            format!(
                "{}:2:4: tenant id \"not-a-guid\" is not a GUID like 8a4f1e2c-1b2d-4c3e-9f00-123456789abc",
                path.display()
            ),
            format!(
                "{}:4:1: customer number \"c2\" is mapped twice (first on line 3): keep one",
                path.display()
            ),
        ]
    );
    Ok(())
}

fn check(
    file: PathBuf,
    format: OutputFormat,
    config: Option<&ReceivablesConfig>,
) -> Result<(CheckOutcome, String), Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    let outcome = run_check(
        &CheckRequest { file, format },
        config,
        date(2025, 4, 15),
        &mut out,
    )?;
    Ok((outcome, String::from_utf8(out)?))
}

#[test]
fn check_command_summarises_a_valid_export() -> TestResult {
    let (outcome, text) = check(fixture("ar-default.csv"), OutputFormat::Table, None)?;
    assert_eq!(outcome, CheckOutcome::Valid { receivables: 6 });
    assert_eq!(outcome.exit(), cspguard::exit::Exit::Ok);
    assert!(
        text.starts_with("VALID: 6 receivable(s) in 1 file(s)\n"),
        "{text}"
    );
    assert!(
        text.contains("Invoices by status: disputed 1, open 3, paid 1, void 1"),
        "{text}"
    );
    assert!(text.contains("First 6 of 6 rows:"), "{text}");

    let (_, json) = check(fixture("ar-default.csv"), OutputFormat::Json, None)?;
    let v: serde_json::Value = serde_json::from_str(&json)?;
    assert_eq!(v["valid"], true);
    assert_eq!(v["outstanding_by_currency"]["EUR"], "2400.00");
    assert_eq!(v["outstanding_by_currency"]["USD"], "99.90");
    // As of 2025-04-15: INV-1001 due 02-04 (70 days: 61-90), INV-1002 due 03-07 (39: 31-60),
    // INV-1006 due 04-14 (1: 1-30); INV-1004 USD due 03-31 (15: 1-30).
    assert_eq!(v["aging"]["by_currency"]["EUR"]["61-90"], "1200.00");
    assert_eq!(v["aging"]["by_currency"]["EUR"]["31-60"], "1000.00");
    assert_eq!(v["aging"]["by_currency"]["EUR"]["1-30"], "200.00");
    assert_eq!(v["aging"]["by_currency"]["USD"]["1-30"], "99.90");
    assert_eq!(v["receivables"].as_array().map(Vec::len), Some(6));
    Ok(())
}

#[test]
fn check_command_reports_problems_with_exit_code_2() -> TestResult {
    let p = fixture("overpayment.csv");
    let (outcome, text) = check(p.clone(), OutputFormat::Table, None)?;
    assert_eq!(outcome, CheckOutcome::Invalid);
    assert_eq!(outcome.exit(), cspguard::exit::Exit::Config);
    assert!(
        text.starts_with("INVALID: receivables import rejected (1 problem)"),
        "{text}"
    );
    assert!(text.contains(&format!(
        "{}:2:48: amount_paid 120.00 is more than",
        p.display()
    )));

    let (_, json) = check(p, OutputFormat::Json, None)?;
    let v: serde_json::Value = serde_json::from_str(&json)?;
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"][0]["line"], 2);
    assert_eq!(v["problems"][0]["column"], 48);

    let config = european_config()?;
    let (outcome, _) = check(
        fixture("ar-european.csv"),
        OutputFormat::Table,
        Some(&config),
    )?;
    assert_eq!(outcome, CheckOutcome::Valid { receivables: 5 });
    Ok(())
}

#[test]
fn an_export_over_max_file_mb_is_refused_whole_and_says_how_to_fix_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("huge.csv");
    let header = std::fs::read_to_string(fixture("ar-default.csv"))?;
    let mut text = header.clone();
    while text.len() <= 1024 * 1024 {
        text.push_str(&header[header.find('\n').map_or(0, |i| i + 1)..]);
    }
    std::fs::write(&path, &text)?;
    let mut config = defaults();
    config.max_file_mb = 1;
    let err = import_files(std::slice::from_ref(&path), &config).expect_err("too large");
    assert!(
        matches!(err, ImportError::TooLarge { limit_mb: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("receivables.max_file_mb"), "{err}");
    // Within the limit the same rows import (the duplicates are then what is reported).
    config.max_file_mb = 2;
    let again = import_files(std::slice::from_ref(&path), &config);
    assert!(!matches!(again, Err(ImportError::TooLarge { .. })));
    config.max_file_mb = 0;
    assert!(
        config.validate_format().is_err(),
        "0 MiB is refused at load"
    );
    Ok(())
}
