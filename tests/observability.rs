//! Observability of a real `cspguard run` (the binary against the simulator and an embedded SMTP
//! server with STARTTLS and AUTH): JSON logs at trace level never contain a configured secret and
//! every line carries the run's correlation id (the `MS-CorrelationId` sent to Partner Center);
//! the Prometheus textfile and the JSON run report are written with the run's numbers; old run
//! reports are pruned. Also `cspguard doctor` against the same simulator and SMTP server.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;

use cspguard::sim::scenario;
use support::cli::Output;
use support::config::{SMTP_PASSWORD, Secret, TZ, set_mode};
use support::noon_today;
use support::world::World;

const CLIENT_SECRET: &str = "obs-client-secret-7d1e";
const REFRESH_TOKEN: &str = "obs-refresh-token-0-c4a9";

/// Simulator with the demo tenant, a config whose secrets come from the environment (the SMTP
/// password from the file `secrets/smtp_password`), metrics and reports on; mail through a new
/// embedded server, or through the one at `smtp` when given.
async fn world(now: Timestamp, smtp: Option<SocketAddr>, smtp_password: &str) -> World {
    let tz = TimeZone::get(TZ).expect("tz");
    let s = scenario::demo_tenant(now, &tz, 3);
    let password = smtp_password.to_owned();
    let b = World::builder()
        .dataset(s.dataset)
        .clock(now)
        .sim(|c| {
            c.client_secret = CLIENT_SECRET.into();
            c.refresh_token = REFRESH_TOKEN.into();
        })
        .receivables(&s.receivables_csv)
        .env("OBS_CLIENT_SECRET", CLIENT_SECRET)
        .env("OBS_REFRESH_TOKEN", REFRESH_TOKEN);
    match smtp {
        None => b.smtp(),
        Some(addr) => b.smtp_at(addr),
    }
    .configure(move |c, dir| {
        let secrets = dir.join("secrets");
        std::fs::create_dir(&secrets).expect("secrets dir");
        let smtp_file = secrets.join("smtp_password");
        std::fs::write(&smtp_file, password).expect("smtp password");
        set_mode(&smtp_file, 0o600);
        c.client_secret(&Secret::env("OBS_CLIENT_SECRET"))
            .app_user(&Secret::env("OBS_REFRESH_TOKEN"))
            .smtp_password(&Secret::File(smtp_file))
            .metrics_textfile(&metrics_path(dir))
            .reports_keep_days(30);
    })
    .start()
    .await
}

fn metrics_path(dir: &Path) -> PathBuf {
    dir.join("textfile").join("cspguard.prom")
}

async fn cspguard(w: &World, now: Timestamp, args: &[&str]) -> Output {
    w.cli(now, args).await
}

/// Write an old-looking run report.
fn aged_report(dir: &Path, name: &str, age_days: u64) -> PathBuf {
    std::fs::create_dir_all(dir).expect("runs dir");
    let path = dir.join(name);
    std::fs::write(&path, "{}").expect("report");
    let when = SystemTime::now() - Duration::from_secs(age_days * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(when))
        .expect("set mtime");
    path
}

/// The value of a metric line `name{labels} value` (labels exactly as written, or empty).
fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name_and_labels} ")))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traced_json_run_leaks_no_secret_and_writes_metrics_and_its_report() {
    let now = noon_today();
    let w = world(now, None, SMTP_PASSWORD).await;
    let runs = w.dir().join("state").join("runs");
    let old = aged_report(&runs, "run-old.json", 40);
    let recent = aged_report(&runs, "run-recent.json", 5);

    let out = cspguard(&w, now, &["-vv", "--log-format", "json", "run"]).await;

    // No secret anywhere in the output (checked before anything prints the output).
    let rotated = w.sim().current_refresh_token();
    assert_ne!(rotated, REFRESH_TOKEN, "the refresh token was rotated");
    let all = format!("{}\n{}", out.stdout, out.stderr);
    for (what, secret) in [
        ("client secret", CLIENT_SECRET),
        ("initial refresh token", REFRESH_TOKEN),
        ("rotated refresh token", rotated.as_str()),
        ("SMTP password", SMTP_PASSWORD),
    ] {
        assert!(!all.contains(secret), "the {what} appears in the output");
    }
    assert_eq!(out.code, Some(0), "exit {:?}\n{}", out.code, out.stdout);
    assert!(
        !w.smtp().received().is_empty(),
        "the run sent mail through the authenticated relay"
    );

    // Every stderr line is JSON and carries the run's correlation id, which is also the
    // MS-CorrelationId of every Partner Center call.
    let lines: Vec<Value> = out
        .stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect();
    assert!(
        lines.len() > 20,
        "trace logging was on: {} lines",
        lines.len()
    );
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "DEBUG" || l["level"] == "TRACE"),
        "debug logging reached"
    );
    let ids: std::collections::BTreeSet<&str> = lines
        .iter()
        .map(|l| l["correlation_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids.len(), 1, "one correlation id on every line: {ids:?}");
    let id = ids.into_iter().next().unwrap_or_default().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    assert!(
        lines
            .iter()
            .filter(|l| l.get("span").is_some())
            .all(|l| l["spans"][0]["correlation_id"] == id.as_str()),
        "the run span carries the same id"
    );
    let reqs = w.sim().requests();
    assert!(!reqs.is_empty());
    for r in &reqs {
        if r.path.contains("oauth2") {
            continue;
        }
        assert_eq!(
            r.header("ms-correlationid"),
            Some(id.as_str()),
            "{} {}",
            r.method,
            r.path
        );
    }

    // The run report.
    let report_files: Vec<PathBuf> = std::fs::read_dir(&runs)
        .expect("runs dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n != "run-recent.json"))
        .collect();
    assert_eq!(report_files.len(), 1, "{report_files:?}");
    assert!(
        !old.exists(),
        "a 40-day-old report is pruned (keep_days = 30)"
    );
    assert!(recent.exists(), "a 5-day-old report is kept");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_files[0]).expect("read report"))
            .expect("report JSON");
    let run_id = report["run_id"].as_i64().expect("run id");
    assert_eq!(
        report_files[0].file_name().and_then(|n| n.to_str()),
        Some(format!("run-{run_id}.json").as_str())
    );
    assert_eq!(report["correlation_id"], id.as_str());
    assert_eq!(report["outcome"], "ok");
    assert_eq!(report["mode"], "notify");
    assert_eq!(report["started_at"], now.to_string().as_str());
    let sent = report["emails_sent"].as_u64().expect("emails_sent");
    assert_eq!(sent as usize, w.smtp().received().len());
    let calls = report["partner_center"]["totals"]["calls"]
        .as_u64()
        .expect("calls");
    assert!(calls > 0);
    assert!(
        report["findings"]["critical"].is_u64(),
        "{}",
        report["findings"]
    );
    let report_text = report.to_string();
    assert!(!report_text.contains(CLIENT_SECRET) && !report_text.contains(SMTP_PASSWORD));

    // The metrics file.
    let metrics = metrics_path(w.dir());
    let text = std::fs::read_to_string(&metrics).expect("metrics file");
    let metrics_dir = metrics.parent().expect("dir");
    let leftovers: Vec<_> = std::fs::read_dir(metrics_dir)
        .expect("textfile dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
    assert_eq!(
        metric(&text, "cspguard_last_run_timestamp_seconds"),
        Some(now.as_second() as f64)
    );
    assert_eq!(
        metric(&text, "cspguard_last_run_outcome{outcome=\"ok\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "cspguard_last_run_outcome{outcome=\"failed\"}"),
        Some(0.0)
    );
    assert!(metric(&text, "cspguard_last_run_duration_seconds").is_some_and(|d| d >= 0.0));
    assert_eq!(metric(&text, "cspguard_emails_sent"), Some(sent as f64));
    assert_eq!(
        metric(
            &text,
            "cspguard_partner_center_requests{endpoint=\"GET /v1/customers\"}"
        ),
        report["partner_center"]["endpoints"]["GET /v1/customers"]["calls"]
            .as_u64()
            .map(|n| n as f64)
    );
    assert!(
        text.contains("cspguard_partner_center_throttled{endpoint=\"GET /v1/customers\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("cspguard_actions{kind=\"customer_notice\",status=\"done\"}"),
        "{text}"
    );
    for sev in ["info", "warning", "critical"] {
        assert!(
            metric(&text, &format!("cspguard_findings{{severity=\"{sev}\"}}")).is_some(),
            "{sev}: {text}"
        );
    }
    assert!(metric(&text, "cspguard_last_success_timestamp_seconds").is_some());
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_against_the_simulator_and_fails_on_a_wrong_smtp_password() {
    let now = noon_today();
    let w = world(now, None, SMTP_PASSWORD).await;

    // App+User is checked once a state database exists to keep the rotated refresh token in.
    let first = cspguard(&w, now, &["run", "--dry-run"]).await;
    assert_eq!(first.code, Some(0), "{}\n{}", first.stdout, first.stderr);
    let mail_before = w.smtp().received().len();
    let out = cspguard(&w, now, &["doctor"]).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    for check in [
        "PASS  config",
        "PASS  secret permissions",
        "PASS  secret client_secret",
        "PASS  secret refresh_token",
        "PASS  secret smtp_password",
        "PASS  state directory",
        "PASS  state file",
        "PASS  run lock",
        "PASS  receivables",
        "PASS  metrics directory",
        "PASS  token endpoint",
        "PASS  Partner Center app-only",
        "PASS  Partner Center App+User",
        "PASS  SMTP connect and auth",
        "PASS  templates",
    ] {
        assert!(
            out.stdout.contains(check),
            "{check} missing:\n{}",
            out.stdout
        );
    }
    assert!(!out.stdout.contains("FAIL"), "{}", out.stdout);
    assert_eq!(
        w.smtp().received().len(),
        mail_before,
        "doctor sends no mail"
    );
    assert!(
        w.sim()
            .requests()
            .iter()
            .any(|r| r.endpoint == "GET /v1/fraudEvents"),
        "an App+User call was made"
    );
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(!all.contains(CLIENT_SECRET) && !all.contains(SMTP_PASSWORD));

    // Doctor rotated the refresh token like a run: a run afterwards still signs in.
    let run = cspguard(&w, now, &["run", "--dry-run"]).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);

    // A wrong SMTP password, a group-readable secret file and a held lock: each its own FAIL.
    let wrong = "wrong-smtp-password-0a7e";
    let w2 = world(now, Some(w.smtp_addr()), wrong).await;
    set_mode(&w2.dir().join("secrets").join("smtp_password"), 0o640);
    let state = w2.state_path();
    std::fs::create_dir_all(state.parent().expect("dir")).expect("state dir");
    let lock = cspguard::ledger::RunLock::acquire(&state).expect("lock");
    let out = cspguard(&w2, now, &["doctor"]).await;
    drop(lock);
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    let line = |prefix: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line:\n{}", out.stdout))
            .to_owned()
    };
    assert!(
        line("FAIL  SMTP connect and auth").contains("535"),
        "{}",
        out.stdout
    );
    assert!(
        line("FAIL  secret permissions").contains("chmod 600"),
        "{}",
        out.stdout
    );
    assert!(
        line("FAIL  run lock").contains(&format!("PID {}", std::process::id())),
        "{}",
        out.stdout
    );
    assert!(line("PASS  config").contains("cspguard.toml"));
    assert!(out.stdout.contains("check(s) failed"), "{}", out.stdout);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(!all.contains(wrong), "the wrong SMTP password is echoed");

    // A broken config: one FAIL and the rest skipped.
    std::fs::write(w2.config_path(), "mode = \"sometimes\"\n").expect("config");
    let out = cspguard(&w2, now, &["doctor"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(out.stdout.starts_with("FAIL  config"), "{}", out.stdout);
    assert!(out.stdout.contains("SKIP"), "{}", out.stdout);

    w2.shutdown().await;
    w.shutdown().await;
}
