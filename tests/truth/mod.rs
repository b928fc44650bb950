//! A small world for the issue-13 "operator truth" tests (digest, notices, tables): the
//! simulator's scripted tenant, the embedded SMTP server with STARTTLS + AUTH, a temporary ledger
//! and a config; the real binary is spawned where exit codes or printed output are the point.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use cspguard::sim::scenario;
use cspguard::sim::{SimConfig, SimHandle, Simulator};

use crate::support::smtp::{Mode, Options, Received, SmtpServer};

pub const SMTP_USER: &str = "cspguard";
pub const SMTP_PASSWORD: &str = "smtp-test-password-7d1e";
pub const TZ: &str = "Europe/Stockholm";

pub struct World {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub receivables: PathBuf,
    pub receivables_csv: String,
}

/// The world at `now` in `mode`, with `extra` appended to the config (TOML tables).
pub async fn world(now: Timestamp, smtp_port: u16, mode: &str, extra: &str) -> World {
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
        "mode = \"{mode}\"\n\
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
         timeout_secs = 5\n\
         {extra}\n",
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
        sim,
        dir,
        config,
        receivables,
        receivables_csv: s.receivables_csv,
    }
}

/// What a spawned command left: its exit code, standard output and standard error.
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// `cspguard run` at `now`; its exit code and output (stdout, then stderr).
pub async fn run(w: &World, now: Timestamp) -> (Option<i32>, String) {
    let out = cli(w, now, &["run"]).await;
    (out.code, format!("{}\n{}", out.stdout, out.stderr))
}

/// `cspguard --config <world> ARGS` at `now`.
pub async fn cli(w: &World, now: Timestamp, extra: &[&str]) -> Out {
    let mut args = vec!["--config".to_owned(), w.config.display().to_string()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let now = now.to_string();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_cspguard"))
            .args(&args)
            .env("CSPGUARD_TEST_NOW", now)
            .env_remove("RUST_LOG")
            .env_remove("COLUMNS")
            .output()
            .expect("run the binary");
        Out {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("join")
}

pub fn options() -> Options {
    Options::new(Mode::StartTls).with_credentials(SMTP_USER, SMTP_PASSWORD)
}

pub fn subject(m: &Received) -> String {
    m.mail().subject.unwrap_or_default()
}

/// The decoded text/plain part of a message.
pub fn text_part(m: &Received) -> String {
    m.mail()
        .parts
        .into_iter()
        .find(|p| p.content_type.starts_with("text/plain"))
        .map(|p| p.body.replace("\r\n", "\n"))
        .expect("a text/plain part")
}

pub fn digests(smtp: &SmtpServer) -> Vec<Received> {
    smtp.received()
        .into_iter()
        .filter(|m| subject(m).starts_with("cspguard digest"))
        .collect()
}

/// Midday in Stockholm today, so the digest hour and the local date are unambiguous.
pub fn noon() -> Timestamp {
    let tz = TimeZone::get(TZ).expect("tz");
    let today = Timestamp::now().to_zoned(tz.clone()).date();
    today
        .at(12, 0, 0, 0)
        .to_zoned(tz)
        .expect("noon")
        .timestamp()
}

pub fn at(now: Timestamp, hours: i64) -> Timestamp {
    now.checked_add(jiff::SignedDuration::from_hours(hours))
        .expect("time")
}
