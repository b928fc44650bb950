//! Mail against SMTP peers that stop answering (issue 15, lettre issue #1027): every step is
//! bounded by `[mail] timeout_secs`. A peer that never answers before the message is
//! transferred means "not sent"; one that goes silent after taking the message means
//! "uncertain". The first peers are plain-text loopback servers written here that simply stop
//! talking; the others are the embedded STARTTLS + AUTH server going silent at MAIL FROM, at
//! RCPT TO or after the message data on a connection that worked, checked down to the ledger.

mod support;

use cspguard::ledger::ActionStatus;
use cspguard::notices::mail::{
    MailConfig, MailError, Mailer, OutgoingEmail, SmtpTls, TransportKind,
};
use cspguard::sim::scenario;
use jiff::{SignedDuration, tz::TimeZone};
use support::config::TZ;
use support::smtp::{SmtpServer, StallAt};
use support::world::{World, smtp_options};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Where the scripted peer goes silent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SilentAt {
    /// Accepts the connection, never greets.
    Greeting,
    /// Answers everything up to the end of the message data, then never sends the final reply.
    FinalReply,
}

async fn peer(silent: SilentAt) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            if silent == SilentAt::Greeting {
                held.push(socket);
                continue;
            }
            tokio::spawn(converse(socket));
        }
    });
    addr
}

/// A plain SMTP dialogue that never answers the end of the data.
async fn converse(socket: tokio::net::TcpStream) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 silent.example ESMTP\r\n").await;
    let mut in_data = false;
    while let Ok(Some(line)) = lines.next_line().await {
        if in_data {
            if line == "." {
                // Took the message; the final reply never comes. Keep the socket open.
                std::future::pending::<()>().await;
            }
            continue;
        }
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-silent.example\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("DATA") {
            in_data = true;
            b"354 go ahead\r\n"
        } else if upper.starts_with("QUIT") {
            b"221 bye\r\n"
        } else {
            b"250 ok\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

fn mailer(addr: std::net::SocketAddr) -> Mailer {
    let mut cfg = MailConfig::file("Contoso Billing <billing@contoso.example>", "/nonexistent");
    cfg.transport = TransportKind::Smtp;
    cfg.outbox_dir = None;
    cfg.host = Some("127.0.0.1".to_owned());
    cfg.port = Some(addr.port());
    cfg.tls = Some(SmtpTls::None);
    cfg.timeout_secs = Some(1);
    Mailer::new(&cfg, None).expect("mailer")
}

fn email() -> OutgoingEmail {
    OutgoingEmail {
        key: "notice/hostile/1".to_owned(),
        to: vec!["ap@customer.example".to_owned()],
        cc: vec![],
        subject: "Payment reminder".to_owned(),
        text: "Please pay.".to_owned(),
        html: "<p>Please pay.</p>".to_owned(),
        date: "2026-03-04T05:06:07Z".parse().expect("date"),
    }
}

#[tokio::test]
async fn a_server_that_never_greets_is_not_sent_and_does_not_hang() {
    let addr = peer(SilentAt::Greeting).await;
    let err = mailer(addr).send(&email()).await.expect_err("no greeting");
    assert!(matches!(err, MailError::Unavailable { .. }), "{err}");
    assert!(
        err.is_transient(),
        "nothing was sent, so it is retried: {err}"
    );
    assert!(
        err.to_string().contains("before the message was sent"),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_silent_after_the_data_makes_the_notice_uncertain() {
    let addr = peer(SilentAt::FinalReply).await;
    let err = mailer(addr)
        .send(&email())
        .await
        .expect_err("no final reply");
    assert!(matches!(err, MailError::Uncertain { secs: 1, .. }), "{err}");
    assert!(!err.is_transient(), "never repeated blindly: {err}");
}

/// A mailer for the embedded STARTTLS + AUTH server at `port`, with `timeout_secs = 1`.
fn starttls_mailer(port: u16) -> Mailer {
    let toml = format!(
        r#"
        transport = "smtp"
        from = "Contoso Billing <billing@contoso.example>"
        host = "127.0.0.1"
        port = {port}
        tls = "starttls"
        username = "{}"
        smtp_password_env = "CSPGUARD_TEST_UNUSED_VAR"
        timeout_secs = 1
        "#,
        support::config::SMTP_USER
    );
    let mut cfg: MailConfig = toml::from_str(&toml).expect("mail config");
    cfg.ca_file = Some(support::ca_pem());
    let password = secrecy::SecretString::from(support::config::SMTP_PASSWORD);
    Mailer::new(&cfg, Some(password)).expect("mailer")
}

async fn stalling_server(at: StallAt) -> SmtpServer {
    let mut options = smtp_options();
    options.stall = Some(at);
    SmtpServer::start(options).await
}

#[tokio::test]
async fn silence_at_mail_or_rcpt_on_a_working_connection_is_not_sent() {
    for at in [StallAt::Mail, StallAt::Rcpt] {
        let server = stalling_server(at).await;
        let err = starttls_mailer(server.port())
            .send(&email())
            .await
            .expect_err("the server never answers");
        // The server went silent at that step, after greeting, EHLO, STARTTLS and AUTH.
        assert_eq!(server.stalled(), 1, "{err}");
        assert!(matches!(err, MailError::Unavailable { .. }), "{err}");
        assert!(err.is_transient(), "nothing was sent: retried: {err}");
        let step = if at == StallAt::Mail {
            "MAIL FROM"
        } else {
            "RCPT TO"
        };
        let text = err.to_string();
        assert!(text.contains(step), "{text}");
        assert!(text.contains("before the message was sent"), "{text}");
        server.stop().await;
    }
}

#[tokio::test]
async fn silence_after_the_data_on_a_working_connection_is_uncertain() {
    let server = stalling_server(StallAt::AfterData).await;
    let err = starttls_mailer(server.port())
        .send(&email())
        .await
        .expect_err("no final reply");
    assert_eq!(server.stalled(), 1, "{err}");
    assert!(matches!(err, MailError::Uncertain { secs: 1, .. }), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn a_connection_closed_after_the_data_is_uncertain_not_retried() {
    // The relay read the whole message and hung up without a final reply: it may have queued
    // the message, so sending again could deliver it twice.
    let server = stalling_server(StallAt::CloseAfterData).await;
    let err = starttls_mailer(server.port())
        .send(&email())
        .await
        .expect_err("no final reply");
    assert_eq!(server.stalled(), 1, "{err}");
    assert!(matches!(err, MailError::Uncertain { .. }), "{err}");
    server.stop().await;
}

/// The action states after a `run` whose relay went silent at `at`, then after a run with the
/// relay answering again: notices not sent are sent once; uncertain ones are never repeated.
async fn run_with_relay_silent_at(at: StallAt) -> (Vec<ActionStatus>, World) {
    let now = support::noon_today();
    let tz = TimeZone::get(TZ).expect("tz");
    let s = scenario::demo_tenant(now, &tz, 3);
    let mut options = smtp_options();
    options.stall = Some(at);
    let w = World::builder()
        .dataset(s.dataset)
        .clock(now)
        .receivables(&s.receivables_csv)
        .smtp_with(options)
        .configure(|c, _| {
            c.set("mail", "timeout_secs", "1");
        })
        .start()
        .await;
    let out = w.run(now, &[], 3).await;
    assert!(w.smtp().stalled() > 0, "{}\n{}", out.stdout, out.stderr);
    assert!(w.smtp().received().is_empty());
    let statuses = w
        .ledger()
        .actions(None, None)
        .expect("actions")
        .into_iter()
        .map(|a| a.status)
        .collect();
    (statuses, w)
}

fn count(statuses: &[ActionStatus], status: ActionStatus) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_silent_at_mail_or_rcpt_leaves_the_notices_pending_and_sends_them_once_later() {
    for at in [StallAt::Mail, StallAt::Rcpt] {
        let (statuses, mut w) = run_with_relay_silent_at(at).await;
        assert_eq!(count(&statuses, ActionStatus::Uncertain), 0, "{statuses:?}");
        assert_eq!(count(&statuses, ActionStatus::Done), 0, "{statuses:?}");
        assert_eq!(count(&statuses, ActionStatus::Executing), 0, "{statuses:?}");

        w.restart_smtp_with(smtp_options()).await;
        let later = support::noon_today()
            .checked_add(SignedDuration::from_hours(1))
            .expect("time");
        w.run(later, &[], 0).await;
        let to = |domain: &str| w.smtp().received_to(domain).len();
        assert_eq!(
            to("fabrikamab.example"),
            1,
            "sent once, once the relay answers"
        );
        let after = w.ledger().actions(None, None).expect("actions");
        assert!(
            after.iter().all(|a| a.status != ActionStatus::Uncertain),
            "{after:#?}"
        );
        w.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_silent_after_the_data_leaves_the_notices_uncertain_and_never_repeats_them() {
    let (statuses, mut w) = run_with_relay_silent_at(StallAt::AfterData).await;
    assert!(
        count(&statuses, ActionStatus::Uncertain) > 0,
        "{statuses:?}"
    );
    assert_eq!(count(&statuses, ActionStatus::Done), 0, "{statuses:?}");

    w.restart_smtp_with(smtp_options()).await;
    let later = support::noon_today()
        .checked_add(SignedDuration::from_hours(1))
        .expect("time");
    w.run_in_process(later, &[]).await;
    let reminders = w.smtp().received_to("fabrikamab.example").len();
    assert_eq!(
        reminders, 0,
        "an uncertain notice is never repeated automatically"
    );
    w.shutdown().await;
}
