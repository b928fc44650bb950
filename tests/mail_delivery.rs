//! Delivery tests: real SMTP sessions (STARTTLS + AUTH, implicit TLS, loopback plain) against the
//! embedded server in `tests/support/smtp.rs`, plus sendmail through a stand-in script.

mod support;

use cspguard::notices::mail::{MailConfig, MailError, Mailer, OutgoingEmail, SmtpTls};
use secrecy::SecretString;
use support::ca_pem;
use support::mail::Mail;
use support::smtp::{Mode, Options, SmtpServer};

const USER: &str = "cspguard";
const PASSWORD: &str = "pa55-w0rd-not-for-logs";

fn smtp_config(port: u16, tls: SmtpTls, with_ca: bool) -> MailConfig {
    let toml = format!(
        r#"
        transport = "smtp"
        from = "Contoso Billing <billing@contoso.example>"
        reply_to = "ar@contoso.example"
        ops_to = ["ops@contoso.example"]
        host = "127.0.0.1"
        port = {port}
        tls = "{tls}"
        username = "{USER}"
        smtp_password_env = "CSPGUARD_TEST_UNUSED_VAR"
        timeout_secs = 10
        pool_max_size = 2
        "#,
        tls = match tls {
            SmtpTls::Starttls => "starttls",
            SmtpTls::Implicit => "implicit",
            SmtpTls::None => "none",
        }
    );
    let mut cfg: MailConfig = toml::from_str(&toml).unwrap();
    if with_ca {
        cfg.ca_file = Some(ca_pem());
    }
    cfg.validate().unwrap();
    cfg
}

fn mailer(cfg: &MailConfig) -> Mailer {
    Mailer::new(cfg, Some(SecretString::from(PASSWORD))).unwrap()
}

fn notice(key: &str, subject: &str) -> OutgoingEmail {
    OutgoingEmail {
        key: key.to_owned(),
        to: vec!["Kund AB <ap@kund.example>".to_owned()],
        cc: vec!["am@contoso.example".to_owned()],
        subject: subject.to_owned(),
        text: "Hej! Faktura 1042 är förfallen: 1 250,00 kr.\nBetala senast 2026-03-20.".to_owned(),
        html: "<p>Hej! Faktura 1042 är <b>förfallen</b>: 1&nbsp;250,00&nbsp;kr.</p>".to_owned(),
        date: "2026-03-04T05:06:07Z".parse().unwrap(),
    }
}

fn server_options(mode: Mode) -> Options {
    Options::new(mode).with_credentials(USER, PASSWORD)
}

/// Messages the server holds with this Message-ID.
fn count_with_message_id(server: &SmtpServer, id: &str) -> usize {
    server
        .received()
        .iter()
        .filter(|r| r.mail().header("Message-ID") == [id])
        .count()
}

#[tokio::test]
async fn starttls_with_auth_delivers_headers_and_multipart_alternative() {
    let server = SmtpServer::start(server_options(Mode::StartTls)).await;
    let m = mailer(&smtp_config(server.port(), SmtpTls::Starttls, true));
    let email = notice(
        "dunning:cust-1:inv-1042:stage-2",
        "Påminnelse: faktura 1042",
    );

    let receipt = m.send(&email).await.unwrap();
    assert_eq!(receipt.message_id, m.message_id(&email.key));
    assert!(receipt.transport_response.starts_with("250"), "{receipt:?}");

    let got = server.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert!(r.tls, "DATA only after STARTTLS");
    assert_eq!(r.auth_user.as_deref(), Some(USER));
    assert_eq!(r.mail_from, "billing@contoso.example");
    assert_eq!(r.rcpt_to, ["ap@kund.example", "am@contoso.example"]);

    let raw = r.text();
    assert!(raw.is_ascii(), "7-bit on the wire");
    assert!(
        raw.split("\r\n").all(|l| l.len() <= 998),
        "RFC 5322 line limit"
    );
    let h = r.mail();
    assert_eq!(
        h.header("From"),
        ["\"Contoso Billing\" <billing@contoso.example>"]
    );
    assert_eq!(h.header("Reply-To"), ["ar@contoso.example"]);
    assert_eq!(h.header("To"), ["\"Kund AB\" <ap@kund.example>"]);
    assert_eq!(h.header("Cc"), ["am@contoso.example"]);
    assert_eq!(h.header("Date"), ["Wed, 04 Mar 2026 05:06:07 +0000"]);
    assert_eq!(h.header("Message-ID"), [receipt.message_id.as_str()]);
    assert!(
        receipt.message_id.starts_with("<cspguard.")
            && receipt.message_id.ends_with("@contoso.example>")
    );
    assert!(h.header("Bcc").is_empty(), "no Bcc on the wire");
    assert_eq!(h.header("MIME-Version"), ["1.0"]);
    let subject = h.header("Subject");
    assert_eq!(subject.len(), 1);
    assert_eq!(h.subject(), email.subject);

    let ct = h.header("Content-Type");
    assert_eq!(ct.len(), 1);
    assert!(ct[0].starts_with("multipart/alternative;"), "{ct:?}");
    let parts = &h.parts;
    assert_eq!(parts.len(), 2, "exactly text and HTML");
    assert_eq!(parts[0].content_type, "text/plain; charset=utf-8");
    assert_eq!(parts[1].content_type, "text/html; charset=utf-8");
    assert_eq!(parts[0].body.replace("\r\n", "\n"), email.text);
    assert_eq!(parts[1].body.replace("\r\n", "\n"), email.html);

    server.stop().await;
}

#[tokio::test]
async fn non_ascii_subjects_are_rfc2047_encoded() {
    let server = SmtpServer::start(server_options(Mode::StartTls)).await;
    let m = mailer(&smtp_config(server.port(), SmtpTls::Starttls, true));
    let subjects = [
        (
            "ja",
            "お支払いのお願い：請求書 1042（株式会社サンプル）の支払期限が過ぎています",
        ),
        (
            "ko",
            "결제 안내: 청구서 1042 (주식회사 샘플) 의 지불 기한이 지났습니다",
        ),
        (
            "zh",
            "付款提醒：发票 1042（示例有限公司）已逾期，请尽快付款",
        ),
        ("sv", "Påminnelse: faktura 1042 för Åsa Öberg är förfallen"),
    ];
    // One pooled connection carries all four.
    for (lang, subject) in subjects {
        m.send(&notice(&format!("subject-{lang}"), subject))
            .await
            .unwrap();
    }
    let got = server.received();
    assert_eq!(got.len(), subjects.len());
    for ((lang, subject), r) in subjects.iter().zip(&got) {
        let raw = r.text();
        let head = raw.split("\r\n\r\n").next().unwrap();
        let subject_lines: Vec<&str> = head
            .split("\r\n")
            .skip_while(|l| !l.starts_with("Subject:"))
            .take_while(|l| l.starts_with("Subject:") || l.starts_with([' ', '\t']))
            .collect();
        for line in &subject_lines {
            assert!(line.is_ascii(), "{lang}: raw 8-bit in header: {line}");
            assert!(line.len() <= 78, "{lang}: folded at 78: {line:?}");
        }
        assert!(
            subject_lines[0].contains("=?utf-8?"),
            "{lang}: {subject_lines:?}"
        );
        let h = r.mail();
        assert_eq!(h.header("Subject").len(), 1, "{lang}");
        assert_eq!(h.subject(), *subject, "{lang}");
    }
    server.stop().await;
}

#[tokio::test]
async fn company_name_with_crlf_cannot_add_a_header() {
    let server = SmtpServer::start(server_options(Mode::StartTls)).await;
    let m = mailer(&smtp_config(server.port(), SmtpTls::Starttls, true));
    let company = "Evil Corp\r\nBcc: victim@evil.example\r\nX-Injected: yes\r\n\r\n<h1>pwned</h1>";

    // In the subject: sanitised, still one Subject header, no new header, no extra recipient.
    let email = notice("crlf-subject", &format!("Reminder for {company}"));
    m.send(&email).await.unwrap();
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to, ["ap@kund.example", "am@contoso.example"]);
    let h = got[0].mail();
    assert!(h.header("Bcc").is_empty());
    assert!(h.header("X-Injected").is_empty());
    let subject = h.header("Subject");
    assert_eq!(subject.len(), 1);
    assert_eq!(
        h.subject(),
        "Reminder for Evil Corp Bcc: victim@evil.example X-Injected: yes <h1>pwned</h1>"
    );

    // In a display name or an address: refused before anything is sent.
    for to in [
        format!("{company} <ap@kund.example>"),
        "ap@kund.example\r\nBcc: victim@evil.example".to_owned(),
    ] {
        let mut email = notice("crlf-address", "Reminder");
        email.to = vec![to];
        let err = m.send(&email).await.unwrap_err();
        assert!(
            matches!(err, MailError::BadAddress { field: "to", .. }),
            "{err}"
        );
        assert!(!err.is_transient());
    }
    assert_eq!(server.received().len(), 1, "nothing more was sent");
    server.stop().await;
}

#[tokio::test]
async fn server_down_is_transient_then_the_message_arrives_exactly_once() {
    // Learn a free loopback port, then leave it closed.
    let probe = SmtpServer::start(server_options(Mode::StartTls)).await;
    let addr = probe.addr();
    probe.stop().await;

    let m = mailer(&smtp_config(addr.port(), SmtpTls::Starttls, true));
    let email = notice("dunning:cust-9:inv-77:stage-1", "Payment reminder");
    let err = m.send(&email).await.unwrap_err();
    assert!(matches!(err, MailError::Unavailable { .. }), "{err}");
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("retried next run"), "{err}");

    // The caller kept the action pending; next run the server is up and the send is repeated.
    let server = SmtpServer::start_on(addr, server_options(Mode::StartTls))
        .await
        .unwrap();
    let receipt = m.send(&email).await.unwrap();
    assert_eq!(receipt.message_id, m.message_id(&email.key));
    assert_eq!(server.received().len(), 1);
    assert_eq!(count_with_message_id(&server, &receipt.message_id), 1);
    server.stop().await;
}

#[tokio::test]
async fn implicit_tls_delivers() {
    let server = SmtpServer::start(server_options(Mode::Implicit)).await;
    let m = mailer(&smtp_config(server.port(), SmtpTls::Implicit, true));
    let receipt = m.send(&notice("implicit", "Implicit TLS")).await.unwrap();
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls);
    assert_eq!(got[0].auth_user.as_deref(), Some(USER));
    assert_eq!(count_with_message_id(&server, &receipt.message_id), 1);
    server.stop().await;
}

#[tokio::test]
async fn auth_login_is_used_when_plain_is_not_offered() {
    let mut opts = server_options(Mode::StartTls);
    opts.mechanisms = vec!["LOGIN"];
    let server = SmtpServer::start(opts).await;
    let m = mailer(&smtp_config(server.port(), SmtpTls::Starttls, true));
    m.send(&notice("login", "AUTH LOGIN")).await.unwrap();
    assert_eq!(server.received()[0].auth_user.as_deref(), Some(USER));
    server.stop().await;
}

#[tokio::test]
async fn plain_smtp_to_loopback_works() {
    let server = SmtpServer::start(server_options(Mode::Plain)).await;
    let m = mailer(&smtp_config(server.port(), SmtpTls::None, false));
    m.send(&notice("plain", "Plain to loopback")).await.unwrap();
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert!(!got[0].tls);
    server.stop().await;
}

#[test]
fn plain_smtp_to_a_non_loopback_host_is_refused_at_config_validation() {
    let cfg: MailConfig = toml::from_str(
        r#"
        transport = "smtp"
        from = "billing@contoso.example"
        host = "smtp.contoso.example"
        tls = "none"
        "#,
    )
    .unwrap();
    let err = cfg.validate().unwrap_err();
    assert_eq!(err.key, "tls");
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[tokio::test]
async fn refused_login_is_an_auth_error_that_never_shows_the_password() {
    let mut opts = server_options(Mode::StartTls);
    opts.refuse_auth = true;
    let server = SmtpServer::start(opts).await;
    let m = mailer(&smtp_config(server.port(), SmtpTls::Starttls, true));
    let err = m.send(&notice("auth", "x")).await.unwrap_err();
    assert!(matches!(err, MailError::Auth { code: 535, .. }), "{err}");
    assert!(err.is_transient() && err.needs_operator());
    for shown in [err.to_string(), format!("{err:?}"), format!("{m:?}")] {
        assert!(!shown.contains(PASSWORD), "{shown}");
    }
    assert!(server.received().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn untrusted_certificate_is_a_tls_error() {
    let server = SmtpServer::start(server_options(Mode::StartTls)).await;
    // Without ca_file the test CA is not trusted.
    let m = mailer(&smtp_config(server.port(), SmtpTls::Starttls, false));
    let err = m.send(&notice("tls", "x")).await.unwrap_err();
    assert!(matches!(err, MailError::Tls { .. }), "{err}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    assert!(err.needs_operator());
    assert!(server.received().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn rejected_recipient_is_a_permanent_error() {
    let mut opts = server_options(Mode::StartTls);
    opts.reject_recipient = Some("gone@kund.example".to_owned());
    let server = SmtpServer::start(opts).await;
    let m = mailer(&smtp_config(server.port(), SmtpTls::Starttls, true));
    let mut email = notice("rejected", "x");
    email.to = vec!["gone@kund.example".to_owned()];
    let err = m.send(&email).await.unwrap_err();
    assert!(
        matches!(err, MailError::Rejected { code: 550, .. }),
        "{err}"
    );
    assert!(!err.is_transient());
    assert!(server.received().is_empty());

    // The pooled connection is still usable for the next notice.
    m.send(&notice("after-reject", "y")).await.unwrap();
    assert_eq!(server.received().len(), 1);
    server.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn sendmail_transport_pipes_the_message_to_the_command() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let script = dir.path().join("sendmail");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{0}.args'\ncat > '{0}.eml'\n",
            out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut cfg = MailConfig::file("billing@contoso.example", "unused");
    cfg.transport = cspguard::notices::mail::TransportKind::Sendmail;
    cfg.outbox_dir = None;
    cfg.sendmail_command = Some(script);
    let m = Mailer::new(&cfg, None).unwrap();
    let receipt = m.send(&notice("sendmail", "Via sendmail")).await.unwrap();
    let args = std::fs::read_to_string(format!("{}.args", out.display())).unwrap();
    assert!(
        args.contains("ap@kund.example") && args.contains("am@contoso.example"),
        "{args}"
    );
    let raw = std::fs::read_to_string(format!("{}.eml", out.display())).unwrap();
    let h = Mail::parse(raw.as_bytes());
    assert_eq!(h.header("Message-ID"), [receipt.message_id.as_str()]);

    // A failing command is a (transient) sendmail error, not a panic.
    std::fs::write(
        dir.path().join("sendmail"),
        "#!/bin/sh\necho boom >&2\nexit 75\n",
    )
    .unwrap();
    let err = m.send(&notice("sendmail-2", "x")).await.unwrap_err();
    assert!(
        matches!(err, MailError::Sendmail { .. }) && err.is_transient(),
        "{err}"
    );
}

#[tokio::test]
async fn starttls_required_refuses_a_server_that_does_not_offer_it() {
    // A plain server (or an attacker stripping STARTTLS): no downgrade, nothing sent.
    let server = SmtpServer::start(server_options(Mode::Plain)).await;
    let m = mailer(&smtp_config(server.port(), SmtpTls::Starttls, true));
    let err = m.send(&notice("downgrade", "x")).await.unwrap_err();
    assert!(matches!(err, MailError::Protocol { .. }), "{err}");
    assert!(err.is_transient() && err.needs_operator());
    assert!(server.received().is_empty());
    server.stop().await;
}
