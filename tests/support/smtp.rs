//! A small embedded SMTP server for delivery tests (test support, not shipped).
//!
//! Speaks enough RFC 5321 for lettre: EHLO/HELO, STARTTLS (RFC 3207), AUTH PLAIN and LOGIN
//! (RFC 4954), MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP, QUIT; or implicit TLS
//! from the first byte. It listens on 127.0.0.1 only, with the certificate in
//! `tests/fixtures/tls/` (signed by `ca.pem`, valid for `localhost` and `127.0.0.1`).
//!
//! Invariants: a message is recorded *before* its `250` reply is written, so once the client's
//! send has returned the message is visible in [`SmtpServer::received`]; in STARTTLS mode, MAIL
//! is refused until the session is encrypted; when a user is configured, MAIL is refused until
//! AUTH succeeded. Stopping the server aborts every session and frees the port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use base64::Engine as _;

use super::mail::Mail;

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}

/// How the server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plain greeting; STARTTLS offered and required before MAIL.
    StartTls,
    /// TLS from the first byte.
    Implicit,
    /// No TLS at all (for loopback-only plain SMTP).
    Plain,
}

/// Server behaviour.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    /// `Some((user, password))`: AUTH is offered and required before MAIL.
    pub credentials: Option<(String, String)>,
    /// Advertised AUTH mechanisms (`PLAIN`, `LOGIN`).
    pub mechanisms: Vec<&'static str>,
    /// Answer every AUTH with 535, whatever the credentials.
    pub refuse_auth: bool,
    /// RCPT TO this address is answered `550 5.1.1`.
    pub reject_recipient: Option<String>,
    /// The text of that refusal (default "No such user here"), e.g. one echoing a secret.
    pub reject_text: Option<String>,
    /// Hold the reply to the end of DATA (before the message is recorded) until released.
    pub hold: Option<Hold>,
    /// Go silent at this step of every transaction (on a session that got through greeting,
    /// EHLO, STARTTLS and AUTH): never answer, keep the connection open.
    pub stall: Option<StallAt>,
}

/// Where a stalling server goes silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallAt {
    /// MAIL FROM is read and never answered.
    Mail,
    /// MAIL FROM is accepted; RCPT TO is read and never answered.
    Rcpt,
    /// DATA is answered 354 and the message read; the final reply never comes.
    AfterData,
    /// DATA is answered 354 and the message read; then the connection is closed without a
    /// final reply.
    CloseAfterData,
}

/// Holds every end-of-DATA reply until [`Hold::release`]: for tests that act while a message is
/// in flight, synchronised on the server having seen the message (no sleeps).
#[derive(Debug, Clone)]
pub struct Hold {
    seen: Arc<tokio::sync::watch::Sender<usize>>,
    released: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Hold {
    fn default() -> Self {
        Hold {
            seen: Arc::new(tokio::sync::watch::channel(0).0),
            released: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }
}

impl Hold {
    /// Wait until the server has read the whole DATA of a message (its reply held).
    pub async fn data_seen(&self) {
        let mut rx = self.seen.subscribe();
        rx.wait_for(|n| *n > 0).await.expect("hold sender lives");
    }

    /// Answer the held messages, and every later one at once.
    pub fn release(&self) {
        self.released.send_replace(true);
    }

    async fn wait(&self) {
        self.seen.send_modify(|n| *n += 1);
        let mut rx = self.released.subscribe();
        rx.wait_for(|r| *r).await.expect("hold sender lives");
    }
}

impl Options {
    pub fn new(mode: Mode) -> Options {
        Options {
            mode,
            credentials: None,
            mechanisms: vec!["PLAIN", "LOGIN"],
            refuse_auth: false,
            reject_recipient: None,
            reject_text: None,
            hold: None,
            stall: None,
        }
    }

    pub fn with_credentials(mut self, user: &str, password: &str) -> Options {
        self.credentials = Some((user.to_owned(), password.to_owned()));
        self
    }
}

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The DATA content, dot-unstuffed, without the terminating `.` line.
    pub data: Vec<u8>,
    /// Whether the session was encrypted when DATA was accepted.
    pub tls: bool,
    /// The authenticated user, if any.
    pub auth_user: Option<String>,
}

impl Received {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The message parsed by `mail-parser`.
    pub fn mail(&self) -> Mail {
        Mail::parse(&self.data)
    }

    /// The decoded subject.
    pub fn subject(&self) -> String {
        self.mail().subject()
    }

    /// The envelope recipients, comma-separated.
    pub fn to(&self) -> String {
        self.rcpt_to.join(",")
    }
}

/// A running server; see the module doc.
pub struct SmtpServer {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stalled: Arc<std::sync::atomic::AtomicUsize>,
    accept_task: JoinHandle<()>,
}

impl SmtpServer {
    /// Start on an ephemeral port of 127.0.0.1.
    pub async fn start(options: Options) -> SmtpServer {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), options)
            .await
            .expect("bind 127.0.0.1:0")
    }

    /// Start on a given loopback address (e.g. the port a stopped server used).
    pub async fn start_on(addr: SocketAddr, options: Options) -> std::io::Result<SmtpServer> {
        assert!(addr.ip().is_loopback(), "test servers bind loopback only");
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let stalled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let shared = Arc::new(Shared {
            options,
            acceptor: tls_acceptor(),
            received: Arc::clone(&received),
            stalled: Arc::clone(&stalled),
        });
        let accept_task = tokio::spawn(async move {
            let mut sessions = JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                sessions.spawn(session(tcp, Arc::clone(&shared)));
                // Reap finished sessions so the set does not grow without bound.
                while sessions.try_join_next().is_some() {}
            }
        });
        Ok(SmtpServer {
            addr,
            received,
            stalled,
            accept_task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every message accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The messages accepted so far whose `To` contains `part` (an address or a domain).
    pub fn received_to(&self, part: &str) -> Vec<Received> {
        let mut all = self.received();
        all.retain(|m| m.to().contains(part));
        all
    }

    /// How many times the server went silent at its [`Options::stall`] step.
    pub fn stalled(&self) -> usize {
        self.stalled.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stop listening and abort all sessions; the port is free when this returns.
    pub async fn stop(self) {
        self.accept_task.abort();
        let _ = self.accept_task.await;
    }
}

struct Shared {
    options: Options,
    acceptor: TlsAcceptor,
    received: Arc<Mutex<Vec<Received>>>,
    stalled: Arc<std::sync::atomic::AtomicUsize>,
}

impl Shared {
    /// Never answer when the server stalls at `at` (the client gives up and hangs up; the
    /// session is aborted when the server stops).
    async fn stall_if(&self, at: StallAt) {
        if self.options.stall == Some(at) {
            self.stalled
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
    }
}

fn tls_acceptor() -> TlsAcceptor {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(format!("{dir}/server.pem"))
            .expect("server.pem")
            .collect::<Result<_, _>>()
            .expect("server.pem certificates");
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/server.key")).expect("server.key");
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate");
    TlsAcceptor::from(Arc::new(config))
}

enum Outcome<S> {
    Closed,
    StartTls(S),
}

async fn session(tcp: TcpStream, shared: Arc<Shared>) {
    match shared.options.mode {
        Mode::Implicit => {
            if let Ok(tls) = shared.acceptor.accept(tcp).await {
                let _ = dialogue(tls, true, &shared, true).await;
            }
        }
        Mode::StartTls | Mode::Plain => {
            if let Ok(Outcome::StartTls(tcp)) = dialogue(tcp, false, &shared, true).await
                && let Ok(tls) = shared.acceptor.accept(tcp).await
            {
                // RFC 3207: no new greeting after the handshake; the client sends EHLO again.
                let _ = dialogue(tls, true, &shared, false).await;
            }
        }
    }
}

#[derive(Default)]
struct Txn {
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    tls: bool,
    shared: &Shared,
    greet: bool,
) -> std::io::Result<Outcome<S>> {
    let opts = &shared.options;
    let mut io = BufReader::new(stream);
    if greet {
        reply(&mut io, "220 localhost ESMTP cspguard-test\r\n").await?;
    }
    let mut txn = Txn::default();
    let mut user: Option<String> = None;
    loop {
        let Some(line) = read_line(&mut io).await? else {
            return Ok(Outcome::Closed);
        };
        let upper = line.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or("");
        match verb {
            "EHLO" | "HELO" => {
                txn = Txn::default();
                let mut r = String::from("250-localhost\r\n");
                if opts.mode == Mode::StartTls && !tls {
                    r.push_str("250-STARTTLS\r\n");
                }
                if opts.credentials.is_some() && (tls || opts.mode == Mode::Plain) {
                    r.push_str(&format!("250-AUTH {}\r\n", opts.mechanisms.join(" ")));
                }
                r.push_str("250 8BITMIME\r\n");
                reply(&mut io, &r).await?;
            }
            "STARTTLS" if opts.mode == Mode::StartTls && !tls => {
                reply(&mut io, "220 2.0.0 Ready to start TLS\r\n").await?;
                return Ok(Outcome::StartTls(io.into_inner()));
            }
            "AUTH" => {
                let r = auth(&mut io, &line, shared, tls).await?;
                if let Ok(u) = r {
                    user = Some(u);
                    reply(&mut io, "235 2.7.0 Authentication successful\r\n").await?;
                } else {
                    reply(&mut io, "535 5.7.8 Authentication credentials invalid\r\n").await?;
                }
            }
            "MAIL" => {
                if opts.mode == Mode::StartTls && !tls {
                    reply(&mut io, "530 5.7.0 Must issue a STARTTLS command first\r\n").await?;
                } else if opts.credentials.is_some() && user.is_none() {
                    reply(&mut io, "530 5.7.0 Authentication required\r\n").await?;
                } else {
                    shared.stall_if(StallAt::Mail).await;
                    txn = Txn {
                        mail_from: Some(path_arg(&line)),
                        rcpt_to: Vec::new(),
                    };
                    reply(&mut io, "250 2.1.0 Ok\r\n").await?;
                }
            }
            "RCPT" => {
                let to = path_arg(&line);
                if txn.mail_from.is_none() {
                    reply(&mut io, "503 5.5.1 MAIL first\r\n").await?;
                } else if opts.reject_recipient.as_deref() == Some(to.as_str()) {
                    let text = opts.reject_text.as_deref().unwrap_or("No such user here");
                    reply(&mut io, &format!("550 5.1.1 {text}\r\n")).await?;
                } else {
                    shared.stall_if(StallAt::Rcpt).await;
                    txn.rcpt_to.push(to);
                    reply(&mut io, "250 2.1.5 Ok\r\n").await?;
                }
            }
            "DATA" => {
                if txn.rcpt_to.is_empty() {
                    reply(&mut io, "503 5.5.1 RCPT first\r\n").await?;
                    continue;
                }
                reply(&mut io, "354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut data = Vec::new();
                loop {
                    let mut raw = Vec::new();
                    if io.read_until(b'\n', &mut raw).await? == 0 {
                        return Ok(Outcome::Closed);
                    }
                    if raw == b".\r\n" || raw == b".\n" {
                        break;
                    }
                    let unstuffed = if raw.starts_with(b"..") {
                        &raw[1..]
                    } else {
                        &raw[..]
                    };
                    data.extend_from_slice(unstuffed);
                }
                if let Some(hold) = &opts.hold {
                    hold.wait().await;
                }
                shared.stall_if(StallAt::AfterData).await;
                if opts.stall == Some(StallAt::CloseAfterData) {
                    shared
                        .stalled
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    return Ok(Outcome::Closed);
                }
                let n = {
                    let mut all = shared.received.lock().unwrap();
                    all.push(Received {
                        mail_from: txn.mail_from.take().unwrap_or_default(),
                        rcpt_to: std::mem::take(&mut txn.rcpt_to),
                        data,
                        tls,
                        auth_user: user.clone(),
                    });
                    all.len()
                };
                reply(&mut io, &format!("250 2.0.0 Ok: queued as {n}\r\n")).await?;
            }
            "RSET" => {
                txn = Txn::default();
                reply(&mut io, "250 2.0.0 Ok\r\n").await?;
            }
            "NOOP" => reply(&mut io, "250 2.0.0 Ok\r\n").await?,
            "QUIT" => {
                reply(&mut io, "221 2.0.0 Bye\r\n").await?;
                return Ok(Outcome::Closed);
            }
            _ => reply(&mut io, "502 5.5.2 Command not recognized\r\n").await?,
        }
    }
}

/// Run an AUTH exchange; `Ok(Ok(user))` on success, `Ok(Err(()))` on refusal.
async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    line: &str,
    shared: &Shared,
    tls: bool,
) -> std::io::Result<Result<String, ()>> {
    let opts = &shared.options;
    let mut words = line.split(' ').skip(1);
    let mech = words.next().unwrap_or("").to_ascii_uppercase();
    let initial = words.next().map(str::to_owned);
    let allowed = opts.credentials.is_some()
        && (tls || opts.mode == Mode::Plain)
        && opts.mechanisms.contains(&mech.as_str());
    if !allowed {
        return Ok(Err(()));
    }
    let (user, password) = match mech.as_str() {
        "PLAIN" => {
            let encoded = match initial {
                Some(i) => i,
                None => {
                    reply(io, "334 \r\n").await?;
                    read_line(io).await?.unwrap_or_default()
                }
            };
            let decoded = base64_decode(&encoded).unwrap_or_default();
            let mut parts = decoded.split(|b| *b == 0).skip(1);
            let user = parts.next().unwrap_or_default().to_vec();
            let password = parts.next().unwrap_or_default().to_vec();
            (user, password)
        }
        _ => {
            // LOGIN: "Username:" and "Password:" challenges, base64-encoded.
            reply(io, "334 VXNlcm5hbWU6\r\n").await?;
            let user = base64_decode(&read_line(io).await?.unwrap_or_default()).unwrap_or_default();
            reply(io, "334 UGFzc3dvcmQ6\r\n").await?;
            let password =
                base64_decode(&read_line(io).await?.unwrap_or_default()).unwrap_or_default();
            (user, password)
        }
    };
    let (want_user, want_password) = opts.credentials.clone().unwrap_or_default();
    if !opts.refuse_auth && user == want_user.as_bytes() && password == want_password.as_bytes() {
        Ok(Ok(want_user))
    } else {
        Ok(Err(()))
    }
}

/// The `<path>` argument of MAIL FROM / RCPT TO.
fn path_arg(line: &str) -> String {
    let start = line.find('<').map_or(line.len(), |i| i + 1);
    let end = line[start..].find('>').map_or(line.len(), |i| start + i);
    line[start..end].to_owned()
}

async fn read_line<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
) -> std::io::Result<Option<String>> {
    let mut raw = Vec::new();
    if io.read_until(b'\n', &mut raw).await? == 0 {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&raw);
    Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
}

async fn reply<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    text: &str,
) -> std::io::Result<()> {
    io.get_mut().write_all(text.as_bytes()).await?;
    io.get_mut().flush().await
}
