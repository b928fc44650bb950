//! The daily digest tells operators the truth (issue 13), end to end: the real binary against the
//! simulator's scripted tenant and the embedded SMTP server (STARTTLS + AUTH), with a temporary
//! ledger. Top debtors are ranked within each currency, never across currencies; a digest from a
//! run with missing data says what is missing, and the complete digest follows that same day
//! once the data is back (each exactly once).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use cspguard::sim::scenario;
use cspguard::sim::{SimConfig, SimHandle, Simulator};
use support::smtp::{Mode, Options, Received, SmtpServer};
use support::{boundary_of, decode_rfc2047, header_values, multipart_parts, split_message};

const SMTP_USER: &str = "cspguard";
const SMTP_PASSWORD: &str = "smtp-test-password-7d1e";
const TZ: &str = "Europe/Stockholm";

struct World {
    _sim: SimHandle,
    dir: tempfile::TempDir,
    config: PathBuf,
    receivables: PathBuf,
    receivables_csv: String,
}

async fn world(now: Timestamp, smtp_port: u16) -> World {
    let tz = TimeZone::get(TZ).expect("tz");
    let s = scenario::demo_tenant(now, &tz, 3);
    let sim = Simulator::start(SimConfig {
        dataset: Some(s.dataset),
        clock: Some(now),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let receivables = dir.path().join("receivables.csv");
    std::fs::write(&receivables, &s.receivables_csv).expect("receivables");
    let config = dir.path().join("cspguard.toml");
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem");
    let text = format!(
        "mode = \"notify\"\n\
         timezone = \"{TZ}\"\n\
         [partner]\n\
         name = \"Contoso Cloud Services\"\n\
         contact_email = \"ar@contoso-cloud.example\"\n\
         [partner_center]\n\
         tenant_id = \"sim-partner-tenant\"\n\
         client_id = \"sim-client-id\"\n\
         client_secret = \"sim-client-secret\"\n\
         authority = \"{base}\"\n\
         base_url = \"{base}\"\n\
         [partner_center.app_user]\n\
         refresh_token = \"sim-refresh-token-0\"\n\
         [state]\n\
         path = {state:?}\n\
         [receivables]\n\
         path = {receivables:?}\n\
         [digest]\n\
         hour = 0\n\
         [mail]\n\
         transport = \"smtp\"\n\
         from = \"Contoso Billing <billing@contoso-cloud.example>\"\n\
         ops_to = [\"ops@contoso-cloud.example\"]\n\
         host = \"localhost\"\n\
         port = {smtp_port}\n\
         tls = \"starttls\"\n\
         username = \"{SMTP_USER}\"\n\
         smtp_password = \"{SMTP_PASSWORD}\"\n\
         ca_file = {ca:?}\n\
         timeout_secs = 5\n",
        base = sim.base_url(),
        state = dir.path().join("state").join("state.db"),
    );
    std::fs::write(&config, text).expect("config");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    World {
        _sim: sim,
        dir,
        config,
        receivables,
        receivables_csv: s.receivables_csv,
    }
}

/// `cspguard run` at `now`; its exit code and output.
async fn run(w: &World, now: Timestamp) -> (Option<i32>, String) {
    let args = vec![
        "--config".to_owned(),
        w.config.display().to_string(),
        "run".to_owned(),
    ];
    let now = now.to_string();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_cspguard"))
            .args(&args)
            .env("CSPGUARD_TEST_NOW", now)
            .env_remove("RUST_LOG")
            .output()
            .expect("run the binary");
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    })
    .await
    .expect("join")
}

fn options() -> Options {
    Options::new(Mode::StartTls).with_credentials(SMTP_USER, SMTP_PASSWORD)
}

fn subject(m: &Received) -> String {
    let (headers, _) = split_message(&m.text());
    header_values(&headers, "Subject")
        .first()
        .map(|s| decode_rfc2047(s))
        .unwrap_or_default()
}

/// The decoded text/plain part of a message.
fn text_part(m: &Received) -> String {
    let (headers, body) = split_message(&m.text());
    let ct = header_values(&headers, "Content-Type");
    multipart_parts(&body, &boundary_of(ct[0]))
        .into_iter()
        .find(|p| {
            header_values(&p.headers, "Content-Type")
                .first()
                .is_some_and(|v| v.starts_with("text/plain"))
        })
        .map(|p| p.body.replace("\r\n", "\n"))
        .expect("a text/plain part")
}

fn digests(smtp: &SmtpServer) -> Vec<Received> {
    smtp.received()
        .into_iter()
        .filter(|m| subject(m).starts_with("cspguard digest"))
        .collect()
}

/// Midday in Stockholm today, so the digest hour and the local date are unambiguous.
fn noon() -> Timestamp {
    let tz = TimeZone::get(TZ).expect("tz");
    let today = Timestamp::now().to_zoned(tz.clone()).date();
    today
        .at(12, 0, 0, 0)
        .to_zoned(tz)
        .expect("noon")
        .timestamp()
}

fn at(now: Timestamp, hours: i64) -> Timestamp {
    now.checked_add(jiff::SignedDuration::from_hours(hours))
        .expect("time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_debtors_are_ranked_within_each_currency_never_across() {
    let smtp = SmtpServer::start(options()).await;
    let now = noon();
    let w = world(now, smtp.port()).await;
    let (code, out) = run(&w, now).await;
    assert_eq!(code, Some(0), "{out}");
    let digests = digests(&smtp);
    assert_eq!(digests.len(), 1, "one digest");
    let text = text_part(&digests[0]);
    let section = text
        .split("TOP DEBTORS")
        .nth(1)
        .and_then(|s| s.split("\n\n").next())
        .unwrap_or_else(|| panic!("a top-debtors section: {text}"));
    // Every ranked line sits under the heading of its own currency, and each currency's ranking
    // starts at 1: KRW millions never outrank CNY or SEK thousands.
    let mut currency = String::new();
    let mut headings = Vec::new();
    for line in section.lines().skip(1) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if !trimmed.contains(". ") {
            currency = trimmed.to_owned();
            headings.push(currency.clone());
            continue;
        }
        assert!(
            !currency.is_empty(),
            "a ranked line before any currency heading: {section}"
        );
    }
    for expected in ["CNY", "JPY", "KRW", "SEK"] {
        assert!(
            headings.iter().any(|h| h == expected),
            "{expected} has its own ranking: {section}"
        );
    }
    let mut sorted = headings.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(headings, sorted, "one heading per currency: {section}");
    for heading in &headings {
        let after = section
            .split(&format!("  {heading}\n"))
            .nth(1)
            .expect("heading");
        assert!(
            after.trim_start().starts_with("1. "),
            "{heading}'s ranking starts at 1: {section}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incomplete_digest_says_what_is_missing_and_the_complete_one_follows_once() {
    let smtp = SmtpServer::start(options()).await;
    let now = noon();
    let w = world(now, smtp.port()).await;

    // The day's first run cannot import the receivables (a malformed export).
    std::fs::write(
        &w.receivables,
        format!(
            "{}\nnot-a-customer,INV-X,oops\n",
            w.receivables_csv.trim_end()
        ),
    )
    .expect("break the export");
    let (code, out) = run(&w, now).await;
    assert_eq!(
        code,
        Some(3),
        "a failed import makes the run degraded: {out}"
    );
    let first = digests(&smtp);
    assert_eq!(first.len(), 1, "the incomplete digest goes out: {out}");
    assert!(
        subject(&first[0]).contains("(incomplete data)"),
        "{}",
        subject(&first[0])
    );
    let text = text_part(&first[0]);
    assert!(
        text.contains("INCOMPLETE DATA: this digest comes from a run that could not read the receivables import"),
        "{text}"
    );
    assert!(text.contains("A complete digest follows today"), "{text}");

    // Still broken an hour later: no second incomplete digest.
    let (code, out) = run(&w, at(now, 1)).await;
    assert_eq!(code, Some(3), "{out}");
    assert_eq!(
        digests(&smtp).len(),
        1,
        "the incomplete digest is sent once"
    );

    // The export is fixed: the complete digest follows, once.
    std::fs::write(&w.receivables, &w.receivables_csv).expect("fix the export");
    let (code, out) = run(&w, at(now, 2)).await;
    assert_eq!(code, Some(0), "{out}");
    let (code, out2) = run(&w, at(now, 3)).await;
    assert_eq!(code, Some(0), "{out2}");
    let all = digests(&smtp);
    assert_eq!(all.len(), 2, "exactly one complete digest follows: {out}");
    let complete = text_part(&all[1]);
    assert!(
        !subject(&all[1]).contains("incomplete"),
        "{}",
        subject(&all[1])
    );
    assert!(!complete.contains("INCOMPLETE DATA"), "{complete}");
    assert!(complete.contains("TOP DEBTORS"), "{complete}");
    assert!(
        w.dir.path().join("reports").is_dir() || w.dir.path().join("state/reports").is_dir(),
        "the digest file is written beside the state"
    );
}
