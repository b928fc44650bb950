//! Whole-run bounds end to end (issue 15): a Partner Center that accepts connections and never
//! answers cannot hold the run lock; the run stops at `[run] deadline_secs`, is recorded as
//! failed with why, releases the lock and exits 1 with a clear error.

mod support;

use jiff::Timestamp;
use support::config::Secret;
use support::world::World;
use tokio::net::TcpListener;

/// A loopback server that accepts every connection and never sends a byte.
async fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_its_deadline_is_recorded_failed_and_releases_the_lock() {
    let url = silent_server().await;
    let mut w = World::offline(&url, &Secret::inline("deadline-client-secret"), None);
    w.configure(|c| {
        c.set("run", "deadline_secs", "1");
    });
    let now = Timestamp::now();

    let out = w.run(now, &[], 1).await;
    assert!(out.stderr.contains("deadline of 1 s"), "{}", out.show());

    let runs = w.ledger().recent_runs(5).expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome.as_deref(), Some("failed"));
    assert!(runs[0].finished_at.is_some());
    assert!(
        runs[0].errors[0].contains("deadline"),
        "{:?}",
        runs[0].errors
    );

    // The lock was released: the next run gets as far as its own deadline (not exit 75).
    w.run(now, &[], 1).await;
    let status = w.cli(now, &["status"]).await;
    assert_eq!(status.code, Some(0), "{}", status.show());
    assert!(!status.stdout.contains("(unfinished)"), "{}", status.stdout);
    assert_eq!(
        status.stdout.matches("failed").count(),
        2,
        "{}",
        status.stdout
    );
}

/// Customer-supplied text from the receivables export reaches subjects and names only cleaned
/// and capped: an invoice number carrying a right-to-left override, a zero-width joiner and
/// 1 MB of text arrives, through the real SMTP server, as a short, clean subject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivables_text_with_bidi_zero_width_and_a_megabyte_reaches_the_subject_clean_and_capped()
{
    use cspguard::hygiene::MAX_DISPLAY_CHARS;
    use cspguard::sim::scenario;
    use jiff::tz::TimeZone;

    let now = support::noon_today();
    let tz = TimeZone::get(support::config::TZ).expect("tz");
    let s = scenario::demo_tenant(now, &tz, 3);
    let evil = format!("INV-1001\u{202E}gpj.exe\u{200D}{}", "X".repeat(1 << 20));
    assert_eq!(s.receivables_csv.matches("INV-1001,").count(), 1);
    let csv = s.receivables_csv.replace("INV-1001,", &format!("{evil},"));
    let w = World::builder()
        .dataset(s.dataset)
        .clock(now)
        .receivables(&csv)
        .smtp()
        .start()
        .await;
    w.run(now, &[], 0).await;

    let mails = w.smtp().received();
    let notice = mails
        .iter()
        .find(|m| m.subject().contains("INV-1001"))
        .expect("the reminder for the invoice went out");
    let subject = notice.subject();
    assert!(
        !subject.contains(['\u{202E}', '\u{200D}']),
        "no bidi override or zero-width character: {subject:?}"
    );
    assert!(subject.contains("INV-1001gpj.exe"), "{subject:?}");
    assert!(
        subject.chars().count() < MAX_DISPLAY_CHARS + 200,
        "capped: {} characters",
        subject.chars().count()
    );
    for part in notice.mail().parts {
        assert!(!part.body.contains('\u{202E}'), "the body is clean too");
    }
    assert!(
        notice.data.len() < 200 * 1024,
        "the message is not a megabyte: {} bytes",
        notice.data.len()
    );
    w.shutdown().await;
}

/// A secret a server echoes reaches no output. The SMTP relay refuses a customer's address with
/// a reply quoting the client secret; the failure travels to the log (JSON lines on stderr),
/// the printed summary, the run report, the metrics file and the digest email. Partner Center
/// echoes it as data, which no error carries and only the last pass on the way out stands in
/// the way of: in a company name (reaching the emails) and in the refused billing address
/// (reaching the "recipient refused" log line). The secret is in none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_echoed_by_a_server_is_in_no_log_report_metrics_or_email() {
    use cspguard::sim::{SimConfig, scenario};
    use jiff::tz::TimeZone;
    use support::world::smtp_options;

    let now = support::noon_today();
    let tz = TimeZone::get(support::config::TZ).expect("tz");
    let mut s = scenario::demo_tenant(now, &tz, 3);
    let secret = SimConfig::default().client_secret;
    let tailspin = s
        .dataset
        .customers
        .iter_mut()
        .find(|c| c.company_name == "Tailspin Toys KK")
        .expect("Tailspin is in the scenario");
    tailspin.company_name = format!("Tailspin Toys KK {secret}");
    let refused = format!("{secret}@fabrikamab.example");
    let fabrikam = s
        .dataset
        .customers
        .iter_mut()
        .find(|c| c.company_name == "Fabrikam AB")
        .expect("Fabrikam is in the scenario");
    fabrikam.email = Some(refused.clone());
    let mut options = smtp_options();
    options.reject_recipient = Some(refused);
    options.reject_text = Some(format!("no such user; you sent client_secret={secret}"));
    let w = World::builder()
        .dataset(s.dataset)
        .clock(now)
        .receivables(&s.receivables_csv)
        .smtp_with(options)
        .configure(|c, dir| {
            c.metrics_textfile(&dir.join("cspguard.prom"));
        })
        .start()
        .await;
    let out = w.cli(now, &["--log-format", "json", "run"]).await;
    assert!(out.code.is_some(), "the run ended");
    let echoed = "no such user";

    // The printed output and the JSON log lines.
    assert!(out.stderr.contains(echoed), "the refusal is logged");
    assert!(
        out.stderr.contains("[redacted]@fabrikamab.example"),
        "the refused address is logged, redacted"
    );
    assert!(
        !out.both().contains(&secret),
        "no secret on stdout or stderr"
    );

    // The run report.
    let runs = w.dir().join("state").join("runs");
    let reports: Vec<String> = std::fs::read_dir(&runs)
        .expect("the reports directory")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("report"))
        .collect();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].contains(echoed), "the report names the failure");
    assert!(!reports[0].contains(&secret), "no secret in the report");

    // The metrics file.
    let metrics = std::fs::read_to_string(w.dir().join("cspguard.prom")).expect("metrics");
    assert!(!metrics.contains(&secret));

    // The digest email, sent through the real SMTP server.
    let mails = w.smtp().received();
    let digest = mails
        .iter()
        .find(|m| m.subject().contains("cspguard digest"))
        .expect("the digest went out");
    let parsed = digest.mail();
    let bodies: String = parsed.parts.iter().map(|p| p.body.as_str()).collect();
    assert!(bodies.contains(echoed), "the digest lists the failure");
    let mut redacted = 0;
    for mail in &mails {
        let m = mail.mail();
        assert!(!m.subject().contains(&secret));
        assert!(m.parts.iter().all(|p| !p.body.contains(&secret)));
        redacted += m
            .parts
            .iter()
            .filter(|p| p.body.contains("[redacted]"))
            .count();
    }
    assert!(
        redacted > 0,
        "the company name's echo reached an email, redacted"
    );
    w.shutdown().await;
}
