//! Unit tests of the `[mail]` config, message building and the file transport (no server).

use super::*;

fn email(key: &str) -> OutgoingEmail {
    OutgoingEmail {
        key: key.to_owned(),
        to: vec!["ap@customer.example".to_owned()],
        cc: vec![],
        subject: "Payment reminder".to_owned(),
        text: "Please pay.".to_owned(),
        html: "<p>Please pay.</p>".to_owned(),
        date: "2026-03-04T05:06:07Z".parse().unwrap(),
    }
}

fn file_mailer(dir: &Path) -> Mailer {
    let mut cfg = MailConfig::file("Contoso Billing <billing@contoso.example>", dir);
    cfg.reply_to = Some("ar@contoso.example".to_owned());
    Mailer::new(&cfg, None).unwrap()
}

fn smtp_cfg(host: &str) -> MailConfig {
    let mut cfg = MailConfig::file("billing@contoso.example", "unused");
    cfg.transport = TransportKind::Smtp;
    cfg.outbox_dir = None;
    cfg.host = Some(host.to_owned());
    cfg
}

fn raw(m: &Message) -> String {
    String::from_utf8(m.formatted()).unwrap()
}

/// The header block, unfolded, as (name, value) pairs.
fn headers(raw: &str) -> Vec<(String, String)> {
    let head = raw.split("\r\n\r\n").next().unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            out.last_mut().unwrap().1.push_str(line);
        } else {
            let (k, v) = line.split_once(':').unwrap();
            out.push((k.to_owned(), v.trim().to_owned()));
        }
    }
    out
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    h.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn message_has_from_reply_to_date_message_id_and_alternative_parts() {
    let dir = tempfile::tempdir().unwrap();
    let m = file_mailer(dir.path());
    let mut e = email("dunning:c1:inv-7:stage2");
    e.cc = vec!["Account Manager <am@contoso.example>".to_owned()];
    let text = raw(&m.build_message(&e).unwrap());
    let h = headers(&text);
    assert_eq!(
        header(&h, "From"),
        ["\"Contoso Billing\" <billing@contoso.example>"]
    );
    assert_eq!(header(&h, "Reply-To"), ["ar@contoso.example"]);
    assert_eq!(header(&h, "To"), ["ap@customer.example"]);
    assert_eq!(
        header(&h, "Cc"),
        ["\"Account Manager\" <am@contoso.example>"]
    );
    assert_eq!(header(&h, "Date"), ["Wed, 04 Mar 2026 05:06:07 +0000"]);
    assert_eq!(header(&h, "Subject"), ["Payment reminder"]);
    assert_eq!(
        header(&h, "Message-ID"),
        [crate::ledger::message_id_for(
            "dunning:c1:inv-7:stage2",
            "contoso.example"
        )]
    );
    assert_eq!(header(&h, "MIME-Version"), ["1.0"]);
    let ct = header(&h, "Content-Type");
    assert_eq!(ct.len(), 1);
    assert!(ct[0].starts_with("multipart/alternative;"), "{ct:?}");
    assert!(text.contains("Content-Type: text/plain; charset=utf-8"));
    assert!(text.contains("Content-Type: text/html; charset=utf-8"));
    let plain_at = text.find("text/plain").unwrap();
    let html_at = text.find("text/html").unwrap();
    assert!(plain_at < html_at, "text part first, HTML preferred last");
}

#[test]
fn message_id_is_stable_and_uses_the_from_domain_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let m = file_mailer(dir.path());
    assert_eq!(m.message_id("k"), m.message_id("k"));
    assert_ne!(m.message_id("k"), m.message_id("k2"));
    assert!(m.message_id("k").ends_with("@contoso.example>"));
    let mut cfg = MailConfig::file("billing@contoso.example", dir.path());
    cfg.message_id_domain = Some("mail.contoso.example".to_owned());
    let m = Mailer::new(&cfg, None).unwrap();
    assert!(m.message_id("k").ends_with("@mail.contoso.example>"));
}

#[test]
fn crlf_in_subject_cannot_add_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let m = file_mailer(dir.path());
    let mut e = email("k");
    e.subject = "Invoice for Evil Corp\r\nBcc: victim@evil.example\r\n\r\n<b>x</b>".to_owned();
    let text = raw(&m.build_message(&e).unwrap());
    let h = headers(&text);
    assert!(header(&h, "Bcc").is_empty(), "{text}");
    assert_eq!(
        header(&h, "Subject"),
        ["Invoice for Evil Corp Bcc: victim@evil.example <b>x</b>"]
    );
    assert!(!text.contains("\r\nBcc:"));
    // Bare CR, bare LF, NEL and U+2028 too.
    assert_eq!(
        sanitize_header_text("a\rb\nc\u{85}d\u{2028}e\tf"),
        "a b c d e f"
    );
}

#[test]
fn no_known_secret_leaves_in_an_email() {
    let dir = tempfile::tempdir().unwrap();
    let m = file_mailer(dir.path());
    crate::redact::register("mail-test-s3cret/value");
    let mut e = email("k");
    e.subject = "Alert: server said mail-test-s3cret/value".to_owned();
    e.text = "The token endpoint echoed mail-test-s3cret/value.".to_owned();
    e.html = "<p>It echoed mail-test-s3cret&#x2f;value.</p>".to_owned();
    let msg = m.build_message(&e).unwrap();
    let parsed = String::from_utf8(msg.formatted()).unwrap();
    let h = headers(&parsed);
    assert_eq!(header(&h, "Subject"), ["Alert: server said [redacted]"]);
    assert!(!parsed.contains("s3cret"), "{parsed}");
}

#[test]
fn crlf_or_garbage_in_an_address_is_bad_address_never_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let m = file_mailer(dir.path());
    for (to, cc) in [
        ("ap@customer.example\r\nBcc: x@evil.example", ""),
        ("Evil\r\nBcc: x@evil.example <ap@customer.example>", ""),
        ("ap@customer.example", "am@contoso.example\nX-Injected: 1"),
        ("not an address", ""),
        ("", ""),
        ("ap@", ""),
    ] {
        let mut e = email("k");
        e.to = vec![to.to_owned()];
        if !cc.is_empty() {
            e.cc = vec![cc.to_owned()];
        }
        let err = m.build_message(&e).unwrap_err();
        assert!(
            matches!(err, MailError::BadAddress { .. }),
            "{to:?}/{cc:?}: {err}"
        );
        assert!(!err.is_transient());
        let msg = err.to_string();
        assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg}");
    }
    let mut e = email("k");
    e.to.clear();
    assert!(matches!(
        m.build_message(&e),
        Err(MailError::NoRecipients { .. })
    ));
}

#[test]
fn non_ascii_display_names_are_encoded_and_duplicates_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let m = file_mailer(dir.path());
    let mut e = email("k");
    e.to = vec![
        "Åsa Öberg <asa@kund.example>".to_owned(),
        "ASA@kund.example".to_owned(),
    ];
    e.cc = vec!["asa@kund.example".to_owned()];
    let text = raw(&m.build_message(&e).unwrap());
    assert!(text.is_ascii(), "headers and bodies are 7-bit");
    let h = headers(&text);
    let to = header(&h, "To");
    assert_eq!(to.len(), 1);
    assert!(to[0].starts_with("=?utf-8?b?"), "{to:?}");
    assert!(!to[0].contains(','), "duplicate dropped: {to:?}");
    assert!(header(&h, "Cc").is_empty());
}

#[test]
fn config_parses_with_defaults_and_rejects_unknown_keys() {
    let cfg: MailConfig = toml::from_str(
        r#"
        transport = "smtp"
        from = "Contoso Billing <billing@contoso.example>"
        ops_to = ["ops@contoso.example"]
        host = "smtp.contoso.example"
        username = "cspguard"
        smtp_password_file = "/etc/cspguard/smtp_password"
        "#,
    )
    .unwrap();
    cfg.validate().unwrap();
    assert_eq!(cfg.tls_mode(), SmtpTls::Starttls);
    assert_eq!(cfg.smtp_port(), 587);
    assert_eq!(cfg.timeout(), Duration::from_secs(30));
    assert_eq!(cfg.pool_size(), 4);
    assert_eq!(
        cfg.effective_message_id_domain().unwrap(),
        "contoso.example"
    );
    let r = cfg.smtp_password_ref();
    assert_eq!(r.name, "smtp_password");
    assert!(!r.inline);

    let err = toml::from_str::<MailConfig>(
        "transport = \"file\"\nfrom = \"a@b.example\"\noutbox = \"x\"\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
    let err = toml::from_str::<MailConfig>("from = \"a@b.example\"\n").unwrap_err();
    assert!(err.to_string().contains("transport"), "{err}");
}

#[test]
fn port_defaults_follow_the_tls_mode() {
    let mut cfg = smtp_cfg("smtp.example");
    cfg.tls = Some(SmtpTls::Implicit);
    assert_eq!(cfg.smtp_port(), 465);
    cfg.tls = Some(SmtpTls::None);
    cfg.host = Some("127.0.0.1".to_owned());
    assert_eq!(cfg.smtp_port(), 25);
    cfg.port = Some(2525);
    assert_eq!(cfg.smtp_port(), 2525);
}

#[tokio::test]
async fn plain_smtp_is_only_allowed_to_loopback() {
    for host in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"] {
        let mut cfg = smtp_cfg(host);
        cfg.tls = Some(SmtpTls::None);
        cfg.validate().unwrap();
    }
    for host in [
        "smtp.example",
        "10.0.0.5",
        "0.0.0.0",
        "localhost.evil.example",
    ] {
        let mut cfg = smtp_cfg(host);
        cfg.tls = Some(SmtpTls::None);
        let err = cfg.validate().unwrap_err();
        assert_eq!(err.key, "tls", "{host}");
        assert!(err.to_string().contains("loopback"), "{err}");
        // Mailer::new checks too.
        assert!(matches!(
            Mailer::new(&cfg, None),
            Err(MailError::Config(MailConfigError { key: "tls", .. }))
        ));
    }
}

#[test]
fn validation_names_the_key_and_what_to_do() {
    let cases: Vec<(MailConfig, &str)> = vec![
        (
            {
                let mut c = smtp_cfg("x");
                c.host = None;
                c
            },
            "host",
        ),
        (
            {
                let mut c = smtp_cfg("x");
                c.outbox_dir = Some("/tmp".into());
                c
            },
            "outbox_dir",
        ),
        (
            {
                let mut c = MailConfig::file("a@b.example", "o");
                c.host = Some("smtp.example".into());
                c
            },
            "host",
        ),
        (
            {
                let mut c = MailConfig::file("a@b.example", "o");
                c.outbox_dir = None;
                c
            },
            "outbox_dir",
        ),
        (MailConfig::file("not-an-address", "o"), "from"),
        (
            MailConfig::file("a@b.example\r\nBcc: x@y.example", "o"),
            "from",
        ),
        (
            {
                let mut c = MailConfig::file("a@b.example", "o");
                c.ops_to = vec!["ops@".into()];
                c
            },
            "ops_to",
        ),
        (
            {
                let mut c = MailConfig::file("a@b.example", "o");
                c.message_id_domain = Some("bad domain".into());
                c
            },
            "message_id_domain",
        ),
        (
            {
                let mut c = smtp_cfg("x");
                c.smtp_password_env = Some("SMTP_PW".into());
                c
            },
            "username",
        ),
        (
            {
                let mut c = smtp_cfg("x");
                c.timeout_secs = Some(0);
                c
            },
            "timeout_secs",
        ),
        (
            {
                let mut c = smtp_cfg("x");
                c.pool_max_size = Some(0);
                c
            },
            "pool_max_size",
        ),
        (
            {
                let mut c = smtp_cfg("x");
                c.port = Some(0);
                c
            },
            "port",
        ),
    ];
    for (cfg, key) in cases {
        let err = cfg.validate().unwrap_err();
        assert_eq!(err.key, key, "{err}");
        assert!(err.to_string().starts_with(&format!("[mail] {key}: ")));
    }
}

#[tokio::test]
async fn password_never_appears_in_debug_or_errors() {
    let pw = "hunter2-very-secret";
    let cfg: MailConfig = toml::from_str(&format!(
        "transport = \"smtp\"\nfrom = \"a@b.example\"\nhost = \"smtp.example\"\n\
         username = \"u\"\nsmtp_password = \"{pw}\"\n"
    ))
    .unwrap();
    cfg.validate().unwrap();
    assert!(!format!("{cfg:?}").contains(pw));
    let password = cfg.resolve_password().unwrap().unwrap();
    let mailer = Mailer::new(&cfg, Some(password)).unwrap();
    let dbg = format!("{mailer:?}");
    assert!(!dbg.contains(pw) && dbg.contains("[REDACTED]"), "{dbg}");
    assert_eq!(
        mailer.scrub(format!("server said {pw}")),
        "server said [REDACTED]"
    );

    let err = Mailer::new(&cfg, None).unwrap_err();
    assert!(matches!(err, MailError::Credentials(_)), "{err}");
    assert!(!err.to_string().contains(pw));
}

#[tokio::test]
async fn unreadable_ca_file_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = smtp_cfg("smtp.example");
    cfg.ca_file = Some(dir.path().join("missing.pem"));
    let err = Mailer::new(&cfg, None).unwrap_err();
    assert!(
        matches!(err, MailError::CaFile { .. }) && err.to_string().contains("missing.pem"),
        "{err}"
    );
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    cfg.ca_file = Some(garbage);
    assert!(matches!(
        Mailer::new(&cfg, None),
        Err(MailError::CaFile { .. })
    ));
}

#[test]
fn outbox_stems_are_safe_and_distinct() {
    assert_eq!(outbox_stem("dunning-c1_x"), "dunning-c1_x");
    assert_eq!(outbox_stem("a/b"), "a%2Fb");
    assert_eq!(outbox_stem("a%2Fb"), "a%252Fb");
    assert_eq!(outbox_stem(".."), "%2E%2E");
    assert_eq!(outbox_stem(""), "%");
    let long_a = "a".repeat(500);
    let long_b = format!("{}b", "a".repeat(499));
    let (sa, sb) = (outbox_stem(&long_a), outbox_stem(&long_b));
    assert!(sa.len() <= MAX_OUTBOX_STEM && sb.len() <= MAX_OUTBOX_STEM);
    assert_ne!(sa, sb);
    let unicode = outbox_stem("kund:Åsa/日本");
    assert!(unicode.is_ascii() && !unicode.contains('/'));
}

#[tokio::test]
async fn file_transport_writes_one_complete_file_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let m = file_mailer(&outbox);
    let e = email("dunning:c1/inv-7:stage2");
    let first = m.send(&e).await.unwrap();
    assert_eq!(first.message_id, m.message_id(&e.key));
    assert!(first.transport_response.starts_with("written to"));
    let path = m.outbox_path(&e.key).unwrap();
    assert_eq!(path, outbox.join("dunning%3Ac1%2Finv-7%3Astage2.eml"));
    let content = std::fs::read(&path).unwrap();
    let text = String::from_utf8(content.clone()).unwrap();
    let h = headers(&text);
    assert_eq!(header(&h, "Message-ID"), [first.message_id.as_str()]);
    assert_eq!(header(&h, "Subject"), ["Payment reminder"]);
    assert!(text.ends_with("--\r\n"), "complete multipart: {text}");

    // The same key again: no second file, the first is untouched.
    let mut again = e.clone();
    again.subject = "changed".to_owned();
    let second = m.send(&again).await.unwrap();
    assert!(second.transport_response.starts_with("already in"));
    let names: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|d| d.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temp files or duplicates: {names:?}");
    assert_eq!(std::fs::read(&path).unwrap(), content);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&outbox).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[tokio::test]
async fn file_transport_reports_unwritable_outbox_as_transient() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let m = file_mailer(&outbox);
    std::fs::remove_dir(&outbox).unwrap();
    let err = m.send(&email("k")).await.unwrap_err();
    assert!(matches!(err, MailError::Outbox { .. }), "{err}");
    assert!(err.is_transient());
}

#[test]
fn classification_of_errors() {
    let s = || "smtp.example:587".to_owned();
    let transient = [
        MailError::Unavailable {
            key: "k".into(),
            server: s(),
            reason: "connection refused".into(),
        },
        MailError::Deferred {
            key: "k".into(),
            server: s(),
            recipients: "a@example.com".into(),
            code: 451,
            reply: "try later".into(),
        },
        MailError::Auth {
            server: s(),
            code: 535,
            reply: "bad".into(),
        },
    ];
    for e in transient {
        assert!(e.is_transient(), "{e}");
    }
    let permanent = MailError::Rejected {
        key: "k".into(),
        server: s(),
        recipients: "gone@example.com".into(),
        code: 550,
        reply: "no such user".into(),
    };
    assert!(!permanent.is_transient() && !permanent.needs_operator());
}

#[test]
fn smtp_mailer_outside_a_runtime_is_an_error_not_a_panic() {
    let cfg = smtp_cfg("smtp.example");
    let err = Mailer::new(&cfg, None).unwrap_err();
    assert!(matches!(err, MailError::NoRuntime), "{err}");
}
