//! `cspguard run` end to end: the real binary against the simulator and an embedded SMTP server
//! (STARTTLS + AUTH, the test CA in `tests/fixtures/tls/`), with a temporary ledger.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use cspguard::sim::scenario;
use cspguard::sim::{SimConfig, SimHandle, Simulator};
use support::smtp::{Mode, Options, Received, SmtpServer};
use support::{decode_rfc2047, header_values, split_message};

const SMTP_USER: &str = "cspguard";
const SMTP_PASSWORD: &str = "smtp-test-password-9f2c";

struct World {
    sim: SimHandle,
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn ca_pem() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem")
}

async fn world(now: Timestamp, smtp_port: u16, mode: &str) -> World {
    let tz = TimeZone::get("Europe/Stockholm").expect("tz");
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
    let text = format!(
        "mode = \"{mode}\"\n\
         timezone = \"Europe/Stockholm\"\n\
         [partner]\n\
         name = \"Contoso Cloud Services\"\n\
         contact_email = \"ar@contoso-cloud.example\"\n\
         payment_instructions = \"IBAN SE00 0000 0000 0000 0000 0000\"\n\
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
        ca = ca_pem(),
    );
    std::fs::write(&config, text).expect("config");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    World { sim, dir, config }
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn run(w: &World, now: Timestamp, extra: &[&str]) -> Output {
    let mut args = vec![
        "--config".to_owned(),
        w.config.display().to_string(),
        "run".to_owned(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let now = now.to_string();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_cspguard"))
            .args(&args)
            .env("CSPGUARD_TEST_NOW", now)
            .env_remove("RUST_LOG")
            .output()
            .expect("run the binary");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("join")
}

fn smtp_options() -> Options {
    Options::new(Mode::StartTls).with_credentials(SMTP_USER, SMTP_PASSWORD)
}

fn subject(m: &Received) -> String {
    let (headers, _) = split_message(&m.text());
    header_values(&headers, "Subject")
        .first()
        .map(|s| decode_rfc2047(s))
        .unwrap_or_default()
}

fn message_id(m: &Received) -> String {
    let (headers, _) = split_message(&m.text());
    header_values(&headers, "Message-ID")
        .first()
        .map(|s| (*s).to_owned())
        .unwrap_or_default()
}

fn to(m: &Received) -> String {
    m.rcpt_to.join(",")
}

fn now() -> Timestamp {
    // Midday in Stockholm today, so the digest hour and the local date are unambiguous.
    let tz = TimeZone::get("Europe/Stockholm").expect("tz");
    let today = Timestamp::now().to_zoned(tz.clone()).date();
    today
        .at(12, 0, 0, 0)
        .to_zoned(tz)
        .expect("noon")
        .timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_run_delivers_localized_notices_alerts_and_one_digest_exactly_once() {
    let smtp = SmtpServer::start(smtp_options()).await;
    let now = now();
    let w = world(now, smtp.port(), "notify").await;

    let first = run(&w, now, &[]).await;
    assert_eq!(first.code, Some(0), "{}\n{}", first.stdout, first.stderr);
    let mails = smtp.received();
    assert!(
        mails
            .iter()
            .all(|m| m.tls && m.auth_user.as_deref() == Some(SMTP_USER))
    );

    // One dunning notice per late customer, in the customer's language.
    let notice_to = |domain: &str| {
        mails
            .iter()
            .filter(|m| to(m).contains(domain))
            .collect::<Vec<_>>()
    };
    let fabrikam = notice_to("fabrikamab.example");
    assert_eq!(fabrikam.len(), 1, "Fabrikam gets one reminder");
    let tailspin = notice_to("tailspintoyskk.example");
    assert_eq!(tailspin.len(), 1);
    let ja_subject = subject(tailspin[0]);
    assert!(
        ja_subject
            .chars()
            .any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)
                || ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "Japanese subject expected for ja-JP: {ja_subject}"
    );
    let woodgrove = notice_to("woodgrovekorea.example");
    assert_eq!(woodgrove.len(), 1);
    assert!(
        subject(woodgrove[0])
            .chars()
            .any(|c| ('\u{ac00}'..='\u{d7af}').contains(&c)),
        "Korean subject expected: {}",
        subject(woodgrove[0])
    );
    assert!(
        notice_to("litwareinc.example").is_empty(),
        "the payer who paid gets nothing"
    );

    // Ops alerts and exactly one digest to the ops team.
    let ops: Vec<_> = mails
        .iter()
        .filter(|m| to(m).contains("ops@contoso-cloud.example"))
        .collect();
    let digests: Vec<_> = ops
        .iter()
        .filter(|m| subject(m).contains("digest"))
        .collect();
    assert_eq!(
        digests.len(),
        1,
        "one digest: {:?}",
        ops.iter().map(|m| subject(m)).collect::<Vec<_>>()
    );
    assert!(ops.len() >= 4, "critical findings alert the ops team");

    // A second run the same day sends nothing new: no duplicate notice, alert or digest.
    let before = smtp.received().len();
    let second = run(
        &w,
        now.checked_add(SignedDuration::from_mins(10))
            .expect("time"),
        &[],
    )
    .await;
    assert_eq!(second.code, Some(0), "{}\n{}", second.stdout, second.stderr);
    assert_eq!(smtp.received().len(), before, "nothing is sent twice");

    // Every message has a distinct Message-ID.
    let mut ids: Vec<String> = smtp.received().iter().map(message_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), before);
    assert!(
        w.dir
            .path()
            .join("state/reports")
            .read_dir()
            .expect("reports")
            .count()
            == 1
    );
    w.sim.shutdown().await;
    smtp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_for_one_run_then_up_delivers_the_same_emails_exactly_once() {
    // Find a free port, then leave nothing listening on it.
    let probe = SmtpServer::start(smtp_options()).await;
    let addr = probe.addr();
    probe.stop().await;
    let now = now();
    let w = world(now, addr.port(), "notify").await;

    let down = run(&w, now, &[]).await;
    assert_eq!(
        down.code,
        Some(3),
        "a run whose emails failed is degraded:\n{}\n{}",
        down.stdout,
        down.stderr
    );
    assert!(down.stderr.contains("failed:"), "{}", down.stderr);
    assert!(!down.stderr.contains(SMTP_PASSWORD) && !down.stdout.contains(SMTP_PASSWORD));

    let smtp = SmtpServer::start_on(addr, smtp_options())
        .await
        .expect("rebind the port");
    let later = now
        .checked_add(SignedDuration::from_hours(1))
        .expect("time");
    let up = run(&w, later, &[]).await;
    assert_eq!(up.code, Some(0), "{}\n{}", up.stdout, up.stderr);
    let first_batch = smtp.received().len();
    assert!(
        first_batch >= 5,
        "the pending emails went out: {first_batch}"
    );
    let again = run(
        &w,
        later
            .checked_add(SignedDuration::from_hours(1))
            .expect("time"),
        &[],
    )
    .await;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(smtp.received().len(), first_batch, "and only once");
    let reminders = smtp
        .received()
        .iter()
        .filter(|m| to(m).contains("fabrikamab.example"))
        .count();
    assert_eq!(reminders, 1);
    w.sim.shutdown().await;
    smtp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_sends_only_the_digest_and_records_no_action() {
    let smtp = SmtpServer::start(smtp_options()).await;
    let now = now();
    let w = world(now, smtp.port(), "notify").await;
    let out = run(&w, now, &["--dry-run"]).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let mails = smtp.received();
    assert_eq!(mails.len(), 1, "only the digest leaves the machine");
    assert_eq!(to(&mails[0]), "ops@contoso-cloud.example");
    assert!(
        out.stdout.contains("would be recorded (dry-run)"),
        "{}",
        out.stdout
    );
    // The ledger holds no customer action.
    let status = Command::new(env!("CARGO_BIN_EXE_cspguard"))
        .args([
            "--config",
            &w.config.display().to_string(),
            "history",
            "--format",
            "json",
        ])
        .output()
        .expect("history");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(!text.contains("customer_notice"), "{text}");
    w.sim.shutdown().await;
    smtp.stop().await;
}

/// A run that died between claiming a notice and marking it (the crash window) never sends it
/// again on its own: the next run marks it uncertain; after `cspguard retry` it goes out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_interrupted_by_a_crash_is_uncertain_then_sent_once_after_retry() {
    use cspguard::ledger::{ActionStatus, Ledger};

    let smtp = SmtpServer::start(smtp_options()).await;
    let now = now();
    let w = world(now, smtp.port(), "notify").await;
    // A dry run sends today's digest first, so the later runs only deal with the notices. Then a
    // notify run against a mail server that is down records every notice as failed (to be
    // retried), and the test plays a run that claims one of them and dies before marking it.
    let state = w.dir.path().join("state").join("state.db");
    let first = run(&w, now, &["--dry-run"]).await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    smtp.stop().await;
    let down = run(
        &w,
        now.checked_add(SignedDuration::from_mins(1)).expect("t"),
        &[],
    )
    .await;
    assert_eq!(down.code, Some(3), "{}", down.stderr);
    let key = "notice/00000000-0000-4000-8000-000000000001/reminder-1/INV-1001";
    let id = {
        let ledger = Ledger::open(&state).expect("ledger");
        let row = ledger
            .action_by_key(key)
            .expect("read")
            .expect("the reminder is recorded");
        // The backoff after the failed attempt has passed by the next run below; claim it as a
        // run would and "crash" before marking it.
        let later = now.checked_add(SignedDuration::from_hours(2)).expect("t");
        let claimed = ledger.claim(row.id, later).expect("claim");
        assert!(claimed.is_some(), "claimable after its backoff");
        row.id
    };

    let smtp = SmtpServer::start(smtp_options()).await;
    // The crashed process never ran again; start a server on a new port and point the config
    // at it.
    let text = std::fs::read_to_string(&w.config).expect("config");
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("port = ") {
                format!("port = {}", smtp.port())
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&w.config, text).expect("config");
    let after = now.checked_add(SignedDuration::from_hours(3)).expect("t");
    let rerun = run(&w, after, &[]).await;
    assert!(matches!(rerun.code, Some(0) | Some(3)), "{}", rerun.stderr);
    let to_fabrikam = |s: &SmtpServer| {
        s.received()
            .iter()
            .filter(|m| to(m).contains("fabrikamab.example"))
            .count()
    };
    assert_eq!(
        to_fabrikam(&smtp),
        0,
        "an uncertain notice is never resent on its own"
    );
    {
        let ledger = Ledger::open(&state).expect("ledger");
        let row = ledger.action(id).expect("read").expect("row");
        assert_eq!(row.status, ActionStatus::Uncertain);
    }

    let retry = Command::new(env!("CARGO_BIN_EXE_cspguard"))
        .args([
            "--config",
            &w.config.display().to_string(),
            "retry",
            &id.to_string(),
        ])
        .output()
        .expect("retry");
    assert!(
        retry.status.success(),
        "{}",
        String::from_utf8_lossy(&retry.stderr)
    );
    let next = after.checked_add(SignedDuration::from_mins(5)).expect("t");
    let resent = run(&w, next, &[]).await;
    assert!(
        matches!(resent.code, Some(0) | Some(3)),
        "{}",
        resent.stderr
    );
    assert_eq!(
        to_fabrikam(&smtp),
        1,
        "sent exactly once after a person retried it"
    );
    let again = run(
        &w,
        next.checked_add(SignedDuration::from_mins(5)).expect("t"),
        &[],
    )
    .await;
    assert!(matches!(again.code, Some(0) | Some(3)), "{}", again.stderr);
    assert_eq!(to_fabrikam(&smtp), 1);
    w.sim.shutdown().await;
    smtp.stop().await;
}
