//! Property-based fuzzing of the parsers that read outside input (issue 15): the receivables
//! CSV and JSON readers, the lenient Partner Center decoding, config loading and template
//! rendering. Properties: no panic, and every call returns (the template bounds are what make
//! rendering return).

use std::path::Path;

use cspguard::config::Config;
use cspguard::notices::templates::{RenderLimits, Renderer, samples};
use cspguard::pc::Collection;
use cspguard::pc::lenient;
use cspguard::pc::models::{AuditRecord, Customer, FraudEvent, Invoice, Subscription};
use cspguard::receivables::{ReceivablesConfig, import_file};
use proptest::prelude::*;

const HEADER: &str =
    "customer,invoice,issue_date,due_date,amount,amount_paid,currency,status,contact_email\n";

/// Text made of the characters that matter to a CSV reader, plus some that should not.
fn csv_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just(",".to_owned()),
            Just("\"".to_owned()),
            Just("\n".to_owned()),
            Just("\r\n".to_owned()),
            Just("2025-01-05".to_owned()),
            Just("1,234.50".to_owned()),
            Just("1240.001".to_owned()),
            Just("-5".to_owned()),
            Just("USD".to_owned()),
            Just("\u{202E}".to_owned()),
            "[a-z0-9.@ ]{0,8}",
            any::<char>().prop_map(String::from),
        ],
        0..80,
    )
    .prop_map(|parts| parts.concat())
}

/// Arbitrary JSON values, a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[a-zA-Z0-9 :.\\-T]{0,24}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("id".to_owned()),
                    Just("items".to_owned()),
                    Just("totalCount".to_owned()),
                    Just("companyProfile".to_owned()),
                    Just("companyName".to_owned()),
                    Just("status".to_owned()),
                    Just("amount".to_owned()),
                    Just("totalCharges".to_owned()),
                    Just("invoiceDate".to_owned()),
                    Just("eventTime".to_owned()),
                    Just("links".to_owned()),
                    "[a-zA-Z]{1,10}",
                ],
                inner,
                0..8,
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn import(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    let _ = import_file(&path, &ReceivablesConfig::default());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn receivables_csv_never_panics(body in csv_text(), with_header in any::<bool>()) {
        let dir = tempfile::tempdir().expect("dir");
        let text = if with_header { format!("{HEADER}{body}") } else { body };
        import(dir.path(), "ar.csv", &text);
    }

    #[test]
    fn receivables_json_never_panics(value in json_value(), raw in csv_text()) {
        let dir = tempfile::tempdir().expect("dir");
        import(dir.path(), "ar.json", &value.to_string());
        import(dir.path(), "raw.json", &raw);
    }

    #[test]
    fn lenient_decoding_never_panics(value in json_value(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = lenient::from_value::<Customer>(value.clone());
        let _ = lenient::from_value::<Subscription>(value.clone());
        let _ = lenient::from_value::<Invoice>(value.clone());
        let _ = lenient::from_value::<FraudEvent>(value.clone());
        let _ = lenient::from_value::<AuditRecord>(value.clone());
        let _ = lenient::from_value::<Collection<Customer>>(value);
        let _ = lenient::from_slice::<Collection<Invoice>>(&bytes);
    }

    #[test]
    fn config_loading_never_panics(extra in csv_text(), key in "[a-z_]{1,12}", value in csv_text()) {
        let base = "[partner_center]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"X\"\n";
        let path = Path::new("fuzz.toml");
        let _ = Config::parse(&format!("{base}{extra}"), path);
        let _ = Config::parse(&format!("{base}[partner]\n{key} = {value:?}\n"), path);
        let _ = Config::parse(&format!("{base}[customers.\"c\"]\nlocale = {value:?}\nemail = {value:?}\n"), path);
    }
}

/// Template source built from the pieces that make templates loop, grow and fail.
fn template_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("{% for a in range(100000) %}"),
            Just("{% endfor %}"),
            Just("{{ customer.company_name }}"),
            Just("{{ 'x' * 100000 }}"),
            Just("{% if invoices %}"),
            Just("{% endif %}"),
            Just("{{ missing.value }}"),
            Just("{{ invoices|length }}"),
            Just("{% set n = namespace(s='ab') %}{% for i in range(20) %}{% set n.s = n.s ~ n.s %}{% endfor %}"),
            Just("text "),
            Just("{{"),
            Just("%}"),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn template_rendering_is_bounded(text in template_text()) {
        let dir = tempfile::tempdir().expect("dir");
        let en = dir.path().join("en");
        std::fs::create_dir_all(&en).expect("mkdir");
        std::fs::write(en.join("reminder-1.subject.txt"), "Reminder").expect("write");
        std::fs::write(en.join("reminder-1.txt"), &text).expect("write");
        std::fs::write(en.join("reminder-1.html"), "<p>x</p>").expect("write");
        let limits = RenderLimits { fuel: 200_000, max_output_bytes: 256 * 1024 };
        let renderer = Renderer::new(Some(dir.path().to_path_buf()))
            .expect("renderer")
            .with_limits(limits);
        if let Ok(r) = renderer.render("reminder-1", "en", &samples::notice("reminder-1", "en")) {
            prop_assert!(r.text.len() <= limits.max_output_bytes);
        }
    }
}

#[test]
fn company_names_are_cleaned_and_capped_when_decoded() {
    let name = format!("Contoso\u{202E}gpj.exe\u{200B}{}", "A".repeat(1_000_000));
    let v = serde_json::json!({"id": "c1", "companyProfile": {"companyName": name}});
    let c: Customer = lenient::from_value(v).expect("decodes");
    let clean = c.company_name().expect("name");
    assert!(clean.starts_with("Contosogpj.exeAAA"), "{}", &clean[..20]);
    assert_eq!(clean.chars().count(), cspguard::hygiene::MAX_DISPLAY_CHARS);
}
