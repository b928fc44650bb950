//! Mail against SMTP peers that stop answering (issue 15, lettre issue #1027): every step is
//! bounded by `[mail] timeout_secs`. A peer that never answers before the message is
//! transferred means "not sent"; one that goes silent after taking the message means
//! "uncertain". The peers are plain-text loopback servers written here that simply stop talking.

use cspguard::notices::mail::{
    MailConfig, MailError, Mailer, OutgoingEmail, SmtpTls, TransportKind,
};
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
