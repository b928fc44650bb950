//! The SMTP dialogue one bounded step at a time, on lettre's lower-level connection API
//! (`AsyncSmtpConnection`), so a silent relay is reported with the step it went silent at.
//!
//! Owns: [`Relay`] (where the relay is, how to reach and log in to it, and the connections kept
//! open between messages), the [`Step`]s of a delivery, and [`Failure`] (which step failed and
//! how). The mapping of a failure to a [`super::MailError`] — and with it whether the message
//! may have been delivered — is the parent module's.
//!
//! Invariants:
//! - Every step has a bound: the connection phase (connect, greeting, EHLO, STARTTLS, AUTH) as a
//!   whole within `timeout`, the message transaction (MAIL, RCPT, DATA, the message and its final
//!   reply) as a whole within `timeout`, so each command's reply within `timeout` too. lettre's
//!   own timeout covers only the TCP connect (lettre issue #1027).
//! - Only [`Step::Message`] can leave the outcome open: before the server answered DATA with
//!   354 it has no message to deliver.
//! - A connection is kept for the next message only after a transaction that completed; a kept
//!   connection is checked with a bounded NOOP before reuse and dropped after [`IDLE_SECS`].

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Tls};
use lettre::transport::smtp::commands::Noop;
use lettre::transport::smtp::extension::ClientId;

/// How long an idle connection is kept for the next message, seconds.
pub const IDLE_SECS: u64 = 60;

/// One step of an SMTP delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// TCP (and implicit TLS) connect, the greeting and EHLO.
    Connect,
    /// STARTTLS, the handshake and the second EHLO.
    Starttls,
    /// AUTH.
    Auth,
    /// NOOP on a kept connection before it is reused.
    Noop,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// DATA, up to the server's 354.
    Data,
    /// The message and the server's final reply.
    Message,
}

impl Step {
    /// True when the server may hold the message after this step went wrong.
    pub fn may_have_delivered(self) -> bool {
        self == Step::Message
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Connect => "while connecting (greeting and EHLO)",
            Step::Starttls => "to STARTTLS",
            Step::Auth => "to AUTH",
            Step::Noop => "to NOOP",
            Step::Mail => "to MAIL FROM",
            Step::Rcpt => "to RCPT TO",
            Step::Data => "to DATA",
            Step::Message => "after the message data",
        })
    }
}

/// Why a step did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// No answer before the bound.
    Silent(Step),
    /// A negative reply, a broken connection, a TLS failure, or an unusable reply.
    Failed(SmtpError),
}

/// `future` (one step) within `deadline`.
pub async fn step<T>(
    deadline: Instant,
    step: Step,
    future: impl Future<Output = Result<T, SmtpError>>,
) -> Result<T, Failure> {
    match tokio::time::timeout_at(deadline.into(), future).await {
        Err(_) => Err(Failure::Silent(step)),
        Ok(Err(e)) => Err(Failure::Failed(e)),
        Ok(Ok(v)) => Ok(v),
    }
}

/// A connection kept open between messages.
struct Idle {
    conn: AsyncSmtpConnection,
    since: Instant,
}

/// An SMTP relay and the connections kept open to it.
pub struct Relay {
    host: String,
    port: u16,
    tls: Tls,
    hello: ClientId,
    credentials: Option<Credentials>,
    /// `host:port`, for messages.
    pub server: String,
    /// Bound of the connection phase and, separately, of the message transaction.
    pub timeout: Duration,
    idle: Mutex<Vec<Idle>>,
    keep: usize,
}

impl Relay {
    /// A relay at `host:port`; `keep` is the most connections kept open between messages.
    pub fn new(
        (host, port): (String, u16),
        tls: Tls,
        credentials: Option<Credentials>,
        timeout: Duration,
        keep: usize,
    ) -> Relay {
        Relay {
            server: format!("{host}:{port}"),
            host,
            port,
            tls,
            hello: ClientId::default(),
            credentials,
            timeout,
            idle: Mutex::new(Vec::new()),
            keep: keep.max(1),
        }
    }

    /// A connection ready for MAIL FROM: a kept one that answers NOOP, or a new one (connected,
    /// encrypted and logged in within `timeout`).
    pub async fn open(&self) -> Result<AsyncSmtpConnection, Failure> {
        while let Some(mut idle) = self.take_idle() {
            if idle.since.elapsed() >= Duration::from_secs(IDLE_SECS) {
                continue;
            }
            let deadline = Instant::now() + self.timeout;
            if step(deadline, Step::Noop, idle.conn.command(Noop))
                .await
                .is_ok()
            {
                return Ok(idle.conn);
            }
        }
        self.connect().await
    }

    /// A new connection: connect, greeting and EHLO; STARTTLS when required; AUTH when
    /// configured; all within `timeout`.
    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let deadline = Instant::now() + self.timeout;
        let wrapper = match &self.tls {
            Tls::Wrapper(params) => Some(params.clone()),
            _ => None,
        };
        let mut conn = step(
            deadline,
            Step::Connect,
            AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.timeout),
                &self.hello,
                wrapper,
                None,
            ),
        )
        .await?;
        if let Tls::Required(params) = &self.tls {
            step(
                deadline,
                Step::Starttls,
                conn.starttls(params.clone(), &self.hello),
            )
            .await?;
        }
        if let Some(credentials) = &self.credentials {
            step(
                deadline,
                Step::Auth,
                conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials),
            )
            .await?;
        }
        Ok(conn)
    }

    /// Keep `conn` (after a completed transaction) for the next message, if there is room.
    pub fn keep(&self, conn: AsyncSmtpConnection) {
        if conn.has_broken() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.keep {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    fn take_idle(&self) -> Option<Idle> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }
}
