//! Load-time hygiene (issue 15): values that would reach headers, addresses, locales and the
//! receivables import are checked when the config loads, and amounts with more decimals than
//! their currency has are refused with `file:line:column`.

mod support;

use std::path::Path;

use cspguard::config::{Config, ConfigError};
use cspguard::receivables::{ReceivablesConfig, import_file};
use support::config::Secret;
use support::world::{UNREACHABLE, World};

const MINIMAL: &str =
    "[partner_center]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"X\"\n";

fn parse(extra: &str) -> Result<Config, ConfigError> {
    Config::parse(
        &format!("{MINIMAL}{extra}"),
        Path::new("/etc/cspguard/cspguard.toml"),
    )
}

fn refused(extra: &str, needle: &str) {
    let e = parse(extra).expect_err(extra).to_string();
    assert!(e.contains(needle), "{extra}: {e}");
}

#[test]
fn unknown_locales_are_refused() {
    refused(
        "[partner]\ndefault_locale = \"xx-Bogus\"\n",
        "not a shipped locale",
    );
    refused(
        "[customers.\"c1\"]\nlocale = \"tlh\"\n",
        "customers.\"c1\".locale",
    );
    parse("[partner]\ndefault_locale = \"sv-SE\"\n").expect("a regional form of a shipped locale");
}

#[test]
fn line_breaks_in_header_bound_values_are_refused() {
    refused(
        "[partner]\nname = \"Contoso\\r\\nBcc: victim@example.com\"\n",
        "partner.name contains a line break",
    );
    refused(
        "[partner]\ncontact_email = \"a@b.example\\n\"\n",
        "partner.contact_email",
    );
    refused("[partner]\nname = \"Contoso\\u202E\"\n", "bidi override");
}

#[test]
fn customer_addresses_are_validated() {
    refused(
        "[customers.\"c1\"]\nemail = \"not an address\"\n",
        "customers.\"c1\".email",
    );
    refused(
        "[customers.\"c1\"]\ncc = [\"ok@example.com\", \"x@\"]\n",
        "customers.\"c1\".cc",
    );
    parse("[customers.\"c1\"]\nemail = \"ap@fabrikam.example\"\n").expect("a good address");
}

#[test]
fn a_recursive_receivables_glob_is_refused_at_load() {
    refused("[receivables]\npath = \"/srv/ar/**/*.csv\"\n", "\"**\"");
}

#[test]
fn missing_templates_and_receivables_directories_are_refused_before_a_run() {
    let c = parse("[templates]\ndir = \"/nonexistent/templates\"\n").expect("parses");
    let e = c
        .check_paths(Path::new("x.toml"))
        .expect_err("no dir")
        .to_string();
    assert!(e.contains("[templates] dir"), "{e}");
    let c = parse("[receivables]\npath = \"/nonexistent/ar/*.csv\"\n").expect("parses");
    let e = c
        .check_paths(Path::new("x.toml"))
        .expect_err("no dir")
        .to_string();
    assert!(e.contains("/nonexistent/ar"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_stops_with_exit_2_before_any_call_on_a_missing_templates_dir() {
    let mut w = World::offline(UNREACHABLE, &Secret::inline("hygiene-client-secret"), None);
    w.configure(|c| {
        c.set("templates", "dir", "\"/nonexistent/templates\"");
    });
    let out = w.run(jiff::Timestamp::now(), &[], 2).await;
    assert!(out.stderr.contains("[templates] dir"), "{}", out.show());
}

#[test]
fn amounts_finer_than_the_currency_are_refused_with_their_position() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ar.csv");
    std::fs::write(
        &path,
        "customer,invoice,issue_date,due_date,amount,amount_paid,currency\n\
         c1,INV-1,2025-01-05,2025-02-04,1240.00,0,USD\n\
         c1,INV-2,2025-01-05,2025-02-04,1240.001,0,USD\n\
         c1,INV-3,2025-01-05,2025-02-04,1240.5,0,JPY\n\
         c1,INV-4,2025-01-05,2025-02-04,1240.100,0.125,KWD\n",
    )
    .expect("write");
    let err = import_file(&path, &ReceivablesConfig::default()).expect_err("refused");
    let problems: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    let file = path.display().to_string();
    assert!(
        problems[0].starts_with(&format!("{file}:3:")) && problems[0].contains("1240.001"),
        "{problems:?}"
    );
    assert!(
        problems[0].contains("USD has minor units (2)"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with(&format!("{file}:4:")) && problems[1].contains("JPY"),
        "{problems:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_warns_about_a_readable_smtp_password_inline_and_in_its_file() {
    let mut w = World::offline(UNREACHABLE, &Secret::env("HYGIENE_UNUSED"), None);
    w.configure(|c| {
        c.set("partner_center", "client_secret_env", "\"PATH\"");
        c.set("partner_center.retry", "max_attempts", "1");
        c.raw(
            "[mail]\ntransport = \"smtp\"\nfrom = \"billing@contoso.example\"\nhost = \"127.0.0.1\"\n\
             port = 9\ntls = \"none\"\nusername = \"u\"\nsmtp_password = \"inline-smtp-password\"\n",
        );
    });
    support::config::set_mode(&w.config_path(), 0o644);
    let out = w.cli(jiff::Timestamp::now(), &["run"]).await;
    assert!(
        out.stderr
            .contains("smtp_password inline and is readable by"),
        "{}",
        out.show()
    );
    assert!(
        !out.both().contains("inline-smtp-password"),
        "{}",
        out.show()
    );

    let mut w = World::offline(UNREACHABLE, &Secret::env("HYGIENE_UNUSED"), None);
    let file = w.dir().join("smtp.pw");
    std::fs::write(&file, "file-smtp-password\n").expect("write");
    support::config::set_mode(&file, 0o644);
    w.configure(|c| {
        c.set("partner_center", "client_secret_env", "\"PATH\"");
        c.set("partner_center.retry", "max_attempts", "1");
        c.raw(&format!(
            "[mail]\ntransport = \"smtp\"\nfrom = \"billing@contoso.example\"\nhost = \"127.0.0.1\"\n\
             port = 9\ntls = \"none\"\nusername = \"u\"\nsmtp_password_file = {:?}\n",
            file.display().to_string()
        ));
    });
    let out = w.cli(jiff::Timestamp::now(), &["run"]).await;
    assert!(
        out.stderr
            .contains(&format!("secret file {} (smtp_password)", file.display())),
        "{}",
        out.show()
    );
}
