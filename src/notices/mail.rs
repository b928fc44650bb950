//! Mail delivery: the `[mail]` config, building RFC 5322 messages, and sending them over SMTP,
//! sendmail, or into an outbox directory of `.eml` files.
//!
//! What this module owns:
//! - [`MailConfig`]: the `[mail]` section (`deny_unknown_fields`; `transport` is required because
//!   there is no safe default mail server) and its [`MailConfig::validate`].
//! - [`Mailer`]: turns an [`OutgoingEmail`] into a `multipart/alternative` message (text + HTML)
//!   and delivers it.
//! - [`MailError`]: typed failures, classified by [`MailError::is_transient`].
//! - The SMTP transaction (MAIL, RCPT per recipient, DATA, the message) and how a failed step
//!   maps to a [`MailError`]; the bounded steps themselves and the kept connections are in
//!   `smtp`.
//!
//! Invariants:
//! - Every message carries From, optional Reply-To, Date and a Message-ID derived from the
//!   partner tenant and the action's idempotency key ([`crate::ledger::message_id_for_tenant`]):
//!   a resent notice has the same Message-ID, so mail systems and people can recognise the
//!   duplicate, and two partner tenants sharing a From domain never share one.
//! - No customer-controlled value can add a header: addresses (and display names) containing
//!   control characters are rejected with [`MailError::BadAddress`], never sent; control
//!   characters (CR, LF, ...) in the subject are replaced by spaces. Non-ASCII subjects and display
//!   names are RFC 2047-encoded by lettre. HTML escaping is the templates' job, not this module's.
//! - Over SMTP, silence (or a closed connection) before the relay answered DATA is
//!   [`MailError::Unavailable`] (nothing was sent); silence or a closed connection after the
//!   message data is [`MailError::Uncertain`]. Subject and body pass [`crate::redact`] before
//!   they leave.
//! - Plain (unencrypted) SMTP is only allowed to a loopback relay; this is checked by
//!   [`MailConfig::validate`] and again by [`Mailer::new`].
//! - The SMTP password only lives in a [`SecretString`] (and, unavoidably, inside lettre's
//!   credentials); it never appears in `Debug` output, logs or errors.
//! - The file transport writes `<outbox_dir>/<escaped key>.eml` atomically (temp file, fsync, then
//!   a hard link that fails if the name exists): a crash never leaves a half-written `.eml`, and
//!   writing the same key twice never creates a second file.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, Tls, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt as RcptCommand};
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use lettre::{AsyncSendmailTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use crate::net::is_loopback_host;
use crate::secrets::{SecretError, SecretRef};

mod smtp;

use smtp::{Failure, Relay, Step, step};

/// Default SMTP timeout (connect and each command), seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Default size of the SMTP connection pool.
pub const DEFAULT_POOL_MAX_SIZE: u32 = 4;
/// Default sendmail binary.
pub const DEFAULT_SENDMAIL_COMMAND: &str = "/usr/sbin/sendmail";

const CERT_PEM_MARKER: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// Longest file name stem written to the outbox before it is shortened with a hash.
const MAX_OUTBOX_STEM: usize = 180;

/// How mail leaves the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// An SMTP relay (`host`, `port`, `tls`, `username`, `smtp_password*`, ...).
    Smtp,
    /// The local sendmail binary (`sendmail_command`).
    Sendmail,
    /// A directory of `.eml` files (`outbox_dir`): nothing leaves the machine.
    File,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Smtp => "smtp",
            TransportKind::Sendmail => "sendmail",
            TransportKind::File => "file",
        })
    }
}

/// How the SMTP connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS; fails if the server does not offer it.
    #[default]
    Starttls,
    /// TLS from the first byte ("SMTPS", port 465).
    Implicit,
    /// No encryption: only allowed to a loopback relay.
    None,
}

impl SmtpTls {
    /// The conventional port: 587, 465 or 25.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::None => 25,
        }
    }
}

/// `[mail]`: where notices and ops mail go. The section is optional in the config file; inside it
/// `transport` is required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// `"smtp"`, `"sendmail"` or `"file"`.
    pub transport: TransportKind,
    /// Sender, `"billing@example.com"` or `"Contoso Billing <billing@example.com>"`.
    pub from: String,
    /// Optional Reply-To mailbox.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// The partner's ops team (alerts and the daily digest).
    #[serde(default)]
    pub ops_to: Vec<String>,
    /// Domain of generated Message-IDs; default: the domain of `from`.
    #[serde(default)]
    pub message_id_domain: Option<String>,

    /// smtp: relay host name or IP address.
    #[serde(default)]
    pub host: Option<String>,
    /// smtp: port; default by `tls`: 587 starttls, 465 implicit, 25 none.
    #[serde(default)]
    pub port: Option<u16>,
    /// smtp: `"starttls"` (default), `"implicit"` or `"none"` (loopback hosts only).
    #[serde(default)]
    pub tls: Option<SmtpTls>,
    /// smtp: AUTH user name; when set, a password is required.
    #[serde(default)]
    pub username: Option<String>,
    /// smtp: path of a file holding the SMTP password.
    #[serde(default)]
    pub smtp_password_file: Option<PathBuf>,
    /// smtp: environment variable holding the SMTP password.
    #[serde(default)]
    pub smtp_password_env: Option<String>,
    /// smtp: inline SMTP password. Accepted, but prefer a file or a systemd credential.
    #[serde(default, skip_serializing)]
    pub smtp_password: Option<SecretString>,
    /// smtp: connect and per-command timeout in seconds (default 30).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// smtp: connections kept open in the pool (default 4).
    #[serde(default)]
    pub pool_max_size: Option<u32>,
    /// smtp: an extra root CA (PEM) trusted besides the system roots, for private relays.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,

    /// sendmail: the binary (default `/usr/sbin/sendmail`).
    #[serde(default)]
    pub sendmail_command: Option<PathBuf>,

    /// file: the outbox directory.
    #[serde(default)]
    pub outbox_dir: Option<PathBuf>,
}

/// An invalid `[mail]` setting: which key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[mail] {key}: {message}")]
pub struct MailConfigError {
    /// The offending key, e.g. `"tls"`.
    pub key: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

fn cfg_err(key: &'static str, message: impl Into<String>) -> MailConfigError {
    MailConfigError {
        key,
        message: message.into(),
    }
}

impl MailConfig {
    /// A config for the file transport (used by `demo` and tests).
    pub fn file(from: &str, outbox_dir: impl Into<PathBuf>) -> MailConfig {
        MailConfig {
            transport: TransportKind::File,
            from: from.to_owned(),
            reply_to: None,
            ops_to: Vec::new(),
            message_id_domain: None,
            host: None,
            port: None,
            tls: None,
            username: None,
            smtp_password_file: None,
            smtp_password_env: None,
            smtp_password: None,
            timeout_secs: None,
            pool_max_size: None,
            ca_file: None,
            sendmail_command: None,
            outbox_dir: Some(outbox_dir.into()),
        }
    }

    /// The reference to the SMTP password (`smtp_password_file`, `smtp_password_env`, inline, or
    /// the systemd credential `smtp_password`).
    pub fn smtp_password_ref(&self) -> SecretRef {
        SecretRef {
            name: "smtp_password",
            file: self.smtp_password_file.clone(),
            env: self.smtp_password_env.clone(),
            inline: self.smtp_password.is_some(),
        }
    }

    /// Resolve the SMTP password from the process environment: `None` unless the transport is
    /// smtp and `username` is set.
    pub fn resolve_password(&self) -> Result<Option<SecretString>, SecretError> {
        if self.transport != TransportKind::Smtp || self.username.is_none() {
            return Ok(None);
        }
        crate::secrets::resolve_from_env(&self.smtp_password_ref(), self.smtp_password.as_ref())
            .map(Some)
    }

    /// The effective TLS mode.
    pub fn tls_mode(&self) -> SmtpTls {
        self.tls.unwrap_or_default()
    }

    /// The effective SMTP port.
    pub fn smtp_port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.tls_mode().default_port())
    }

    /// The effective timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS))
    }

    /// The effective pool size.
    pub fn pool_size(&self) -> u32 {
        self.pool_max_size.unwrap_or(DEFAULT_POOL_MAX_SIZE)
    }

    /// The effective sendmail binary.
    pub fn sendmail_path(&self) -> PathBuf {
        self.sendmail_command
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SENDMAIL_COMMAND))
    }

    /// The effective Message-ID domain: `message_id_domain`, else the domain of `from`.
    pub fn effective_message_id_domain(&self) -> Result<String, MailConfigError> {
        if let Some(d) = &self.message_id_domain {
            return Ok(d.clone());
        }
        let from = parse_config_mailbox("from", &self.from)?;
        Ok(from.email.domain().to_owned())
    }

    /// Check every setting without touching the network or the file system.
    pub fn validate(&self) -> Result<(), MailConfigError> {
        parse_config_mailbox("from", &self.from)?;
        if let Some(r) = &self.reply_to {
            parse_config_mailbox("reply_to", r)?;
        }
        for a in &self.ops_to {
            parse_config_mailbox("ops_to", a)?;
        }
        if let Some(d) = &self.message_id_domain {
            let ok = !d.is_empty()
                && d.split('.').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if !ok {
                return Err(cfg_err(
                    "message_id_domain",
                    format!("{d:?} is not a domain name; use e.g. \"mail.example.com\""),
                ));
            }
        }

        let smtp_keys: [(&'static str, bool); 10] = [
            ("host", self.host.is_some()),
            ("port", self.port.is_some()),
            ("tls", self.tls.is_some()),
            ("username", self.username.is_some()),
            ("smtp_password_file", self.smtp_password_file.is_some()),
            ("smtp_password_env", self.smtp_password_env.is_some()),
            ("smtp_password", self.smtp_password.is_some()),
            ("timeout_secs", self.timeout_secs.is_some()),
            ("pool_max_size", self.pool_max_size.is_some()),
            ("ca_file", self.ca_file.is_some()),
        ];
        let others: [(&'static str, bool, TransportKind); 2] = [
            (
                "sendmail_command",
                self.sendmail_command.is_some(),
                TransportKind::Sendmail,
            ),
            ("outbox_dir", self.outbox_dir.is_some(), TransportKind::File),
        ];
        let misplaced = smtp_keys
            .iter()
            .filter(|(_, set)| *set)
            .map(|(k, _)| (*k, TransportKind::Smtp))
            .chain(
                others
                    .iter()
                    .filter(|(_, set, _)| *set)
                    .map(|(k, _, t)| (*k, *t)),
            )
            .find(|(_, t)| *t != self.transport);
        if let Some((key, owner)) = misplaced {
            return Err(cfg_err(
                key,
                format!(
                    "only applies to transport = \"{owner}\", but transport = \"{}\"; remove it or \
                     change transport",
                    self.transport
                ),
            ));
        }

        match self.transport {
            TransportKind::Smtp => self.validate_smtp(),
            TransportKind::Sendmail => {
                if self.sendmail_path().as_os_str().is_empty() {
                    return Err(cfg_err(
                        "sendmail_command",
                        "is empty; give the path of the sendmail binary",
                    ));
                }
                Ok(())
            }
            TransportKind::File => match &self.outbox_dir {
                Some(d) if !d.as_os_str().is_empty() => Ok(()),
                _ => Err(cfg_err(
                    "outbox_dir",
                    "is required for transport = \"file\"; give a directory for the .eml files",
                )),
            },
        }
    }

    fn validate_smtp(&self) -> Result<(), MailConfigError> {
        let host = match self.host.as_deref() {
            Some(h) if !h.trim().is_empty() => h,
            _ => {
                return Err(cfg_err(
                    "host",
                    "is required for transport = \"smtp\"; give the relay's host name",
                ));
            }
        };
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(cfg_err(
                "host",
                format!("{host:?} contains whitespace; give a bare host name or IP address"),
            ));
        }
        if self.port == Some(0) {
            return Err(cfg_err("port", "must be 1..=65535"));
        }
        if self.tls_mode() == SmtpTls::None && !is_loopback_host(host) {
            return Err(cfg_err(
                "tls",
                format!(
                    "\"none\" would send the SMTP password and customers' mail unencrypted to \
                     {host:?}; plain SMTP is only allowed to a loopback relay (localhost, \
                     127.0.0.1, ::1). Use tls = \"starttls\" or \"implicit\""
                ),
            ));
        }
        if let Some(t) = self.timeout_secs
            && !(1..=600).contains(&t)
        {
            return Err(cfg_err("timeout_secs", format!("{t} is not in 1..=600")));
        }
        if let Some(n) = self.pool_max_size
            && !(1..=64).contains(&n)
        {
            return Err(cfg_err("pool_max_size", format!("{n} is not in 1..=64")));
        }
        if let Some(u) = &self.username
            && (u.is_empty() || u.chars().any(char::is_control))
        {
            return Err(cfg_err(
                "username",
                "is empty or contains control characters",
            ));
        }
        let password_sources = [
            self.smtp_password_file.is_some(),
            self.smtp_password_env.is_some(),
            self.smtp_password.is_some(),
        ]
        .into_iter()
        .filter(|s| *s)
        .count();
        if password_sources > 1 {
            return Err(cfg_err(
                "smtp_password",
                "give only one of smtp_password_file, smtp_password_env and smtp_password",
            ));
        }
        if password_sources == 1 && self.username.is_none() {
            return Err(cfg_err(
                "username",
                "a password is configured but no username; set username (AUTH needs both)",
            ));
        }
        Ok(())
    }
}

/// One email to send: a notice to a customer, or an ops alert/digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// The action's idempotency key; the Message-ID and the outbox file name derive from it.
    pub key: String,
    /// Recipients (at least one): the billing profile's email or a per-customer override.
    pub to: Vec<String>,
    /// Copies, e.g. the account manager.
    pub cc: Vec<String>,
    /// Subject; control characters are replaced by spaces.
    pub subject: String,
    /// The text/plain alternative.
    pub text: String,
    /// The text/html alternative (already escaped by the templates).
    pub html: String,
    /// The Date header.
    pub date: jiff::Timestamp,
}

/// What the transport said about a delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentReceipt {
    /// The Message-ID header, angle brackets included.
    pub message_id: String,
    /// The server's final reply (`250 ...`), sendmail's outcome, or the outbox file.
    pub transport_response: String,
    /// Every address (to and cc) the message was delivered to, in header order.
    pub accepted: Vec<String>,
    /// Addresses the SMTP server refused while it accepted the message for a `to` address.
    pub refused: Vec<Refusal>,
}

/// One recipient the SMTP server refused, while the message went to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `to` or `cc`.
    pub field: &'static str,
    pub address: String,
    /// The error, naming the server's reply.
    pub reason: String,
    /// True for a 4xx reply (the address may work later), false for 5xx.
    pub transient: bool,
}

/// One recipient of a message: its header field and mailbox.
struct Rcpt {
    field: &'static str,
    mailbox: Mailbox,
}

impl Rcpt {
    fn address(&self) -> String {
        self.mailbox.email.to_string()
    }
}

/// Why a message could not be built or sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The `[mail]` section is invalid.
    #[error(transparent)]
    Config(#[from] MailConfigError),
    /// `username` is set but no password was resolved, or the reverse.
    #[error(
        "[mail] smtp password: {0}; set smtp_password_file, smtp_password_env or the systemd \
         credential smtp_password together with username"
    )]
    Credentials(&'static str),
    /// The extra CA file cannot be used.
    #[error("[mail] ca_file {path}: {reason}; give a readable PEM file with the relay's root CA")]
    CaFile { path: PathBuf, reason: String },
    /// An SMTP mailer was created outside a Tokio runtime (its connection pool needs one).
    #[error("the SMTP mailer must be created inside the Tokio runtime that sends the mail")]
    NoRuntime,
    /// The outbox directory cannot be created.
    #[error("[mail] outbox_dir {path}: {source}; check the path and cspguard's permissions")]
    OutboxDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An address is unusable; nothing was sent.
    #[error(
        "notice {key}: unusable {field} address {value:?}: {reason}; fix the customer's billing \
         profile email or its per-customer override"
    )]
    BadAddress {
        key: String,
        field: &'static str,
        value: String,
        reason: String,
    },
    /// No `to` recipient; nothing was sent.
    #[error(
        "notice {key} has no recipient; the billing profile has no email and no override is set"
    )]
    NoRecipients { key: String },
    /// lettre refused to build the message.
    #[error("notice {key}: cannot build the message: {reason}")]
    Build { key: String, reason: String },
    /// The SMTP server could not be reached or the connection broke (connect, timeout, I/O).
    #[error(
        "notice {key}: SMTP server {server} unavailable: {reason}; the notice stays pending and is \
         retried next run"
    )]
    Unavailable {
        key: String,
        server: String,
        reason: String,
    },
    /// The message transaction did not finish within `[mail] timeout_secs`: the server may or
    /// may not have taken the message.
    #[error(
        "notice {key}: SMTP server {server} did not finish the message transaction within {secs} \
         s ([mail] timeout_secs); it may or may not have been delivered, so it is not repeated \
         automatically: check the relay's log for the Message-ID, then `cspguard retry` or \
         `cspguard resolve` it"
    )]
    Uncertain {
        key: String,
        server: String,
        secs: u64,
    },
    /// A 4xx reply: the server asks to try again later.
    #[error(
        "notice {key}: SMTP server {server} deferred it for {recipients} ({code} {reply}); retried \
         next run"
    )]
    Deferred {
        key: String,
        server: String,
        /// The refused address(es), comma-separated.
        recipients: String,
        code: u16,
        reply: String,
    },
    /// A 5xx reply (other than authentication): the server will not take this message.
    #[error(
        "notice {key}: SMTP server {server} rejected it for {recipients} ({code} {reply}); not \
         retried: check the recipient addresses and the relay's policy"
    )]
    Rejected {
        key: String,
        server: String,
        /// The refused address(es), comma-separated.
        recipients: String,
        code: u16,
        reply: String,
    },
    /// The server refused the login (or requires one that is not configured).
    #[error(
        "SMTP server {server} refused authentication ({code} {reply}); check [mail] username and \
         smtp_password"
    )]
    Auth {
        server: String,
        code: u16,
        reply: String,
    },
    /// TLS could not be set up (certificate not trusted, handshake failure).
    #[error(
        "TLS with SMTP server {server} failed: {reason}; check [mail] host, tls and ca_file, and the \
         relay's certificate"
    )]
    Tls { server: String, reason: String },
    /// The SMTP dialogue went wrong on the client side (e.g. STARTTLS or AUTH not offered).
    #[error(
        "SMTP server {server}: {reason}; check [mail] tls and that the relay offers STARTTLS and \
         AUTH"
    )]
    Protocol { server: String, reason: String },
    /// The sendmail binary failed.
    #[error(
        "notice {key}: {command} failed: {reason}; check [mail] sendmail_command and the local MTA"
    )]
    Sendmail {
        key: String,
        command: PathBuf,
        reason: String,
    },
    /// The outbox file could not be written.
    #[error("notice {key}: cannot write {path}: {source}; check free space and permissions")]
    Outbox {
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl MailError {
    /// True when the *message* is fine and the same send may succeed later: connect/timeout/I/O
    /// failures, 4xx replies, and problems of the relay or of our credentials (auth, TLS,
    /// protocol, sendmail, outbox I/O). The caller keeps the action pending and retries next run.
    ///
    /// False for permanent failures of this message: a bad or missing address, a 5xx reply, an
    /// unbuildable message; and for configuration errors raised by [`Mailer::new`].
    pub fn is_transient(&self) -> bool {
        match self {
            MailError::Unavailable { .. }
            | MailError::Deferred { .. }
            | MailError::Auth { .. }
            | MailError::Tls { .. }
            | MailError::Protocol { .. }
            | MailError::Sendmail { .. }
            | MailError::Outbox { .. } => true,
            MailError::Config(_)
            | MailError::Credentials(_)
            | MailError::CaFile { .. }
            | MailError::NoRuntime
            | MailError::OutboxDir { .. }
            | MailError::BadAddress { .. }
            | MailError::NoRecipients { .. }
            | MailError::Build { .. }
            | MailError::Uncertain { .. }
            | MailError::Rejected { .. } => false,
        }
    }

    /// True when a person must fix the setup (config, credentials, TLS, relay) before any mail
    /// can go out: worth an ops alert rather than a per-notice failure.
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            MailError::Config(_)
                | MailError::Credentials(_)
                | MailError::CaFile { .. }
                | MailError::NoRuntime
                | MailError::OutboxDir { .. }
                | MailError::Auth { .. }
                | MailError::Tls { .. }
                | MailError::Protocol { .. }
                | MailError::Sendmail { .. }
        )
    }
}

enum Transport {
    Smtp(Relay),
    Sendmail {
        transport: AsyncSendmailTransport<Tokio1Executor>,
        command: PathBuf,
    },
    File {
        dir: PathBuf,
    },
}

/// Builds and sends notices. Cheap to share (`&self` everywhere); SMTP connections are pooled.
pub struct Mailer {
    from: Mailbox,
    reply_to: Option<Mailbox>,
    message_id_domain: String,
    /// The partner tenant the Message-IDs are scoped to ("" until [`Mailer::for_tenant`]).
    tenant: String,
    transport: Transport,
    password: Option<SecretString>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let transport = match &self.transport {
            Transport::Smtp(relay) => format!("smtp {}", relay.server),
            Transport::Sendmail { command, .. } => format!("sendmail {}", command.display()),
            Transport::File { dir } => format!("file {}", dir.display()),
        };
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("message_id_domain", &self.message_id_domain)
            .field("transport", &transport)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

impl Mailer {
    /// Validate `cfg` and set up its transport. `password` is the resolved SMTP password (see
    /// [`MailConfig::resolve_password`]); it is required exactly when `username` is set.
    /// Creates the outbox directory (mode 0700) for the file transport. No network I/O.
    ///
    /// The SMTP transport's connection pool runs on the current Tokio runtime: create the
    /// mailer inside the runtime that sends (else [`MailError::NoRuntime`]), and drop it there.
    pub fn new(cfg: &MailConfig, password: Option<SecretString>) -> Result<Mailer, MailError> {
        cfg.validate()?;
        if let Some(p) = &password {
            crate::redact::register(p.expose_secret());
        }
        let from = parse_config_mailbox("from", &cfg.from)?;
        let reply_to = cfg
            .reply_to
            .as_deref()
            .map(|r| parse_config_mailbox("reply_to", r))
            .transpose()?;
        let message_id_domain = cfg.effective_message_id_domain()?;
        let transport = match cfg.transport {
            TransportKind::Smtp => build_smtp(cfg, password.as_ref())?,
            TransportKind::Sendmail => {
                let command = cfg.sendmail_path();
                Transport::Sendmail {
                    transport: AsyncSendmailTransport::<Tokio1Executor>::new_with_command(
                        command.as_os_str(),
                    ),
                    command,
                }
            }
            TransportKind::File => {
                let dir = cfg.outbox_dir.clone().unwrap_or_default();
                create_private_dir(&dir).map_err(|source| MailError::OutboxDir {
                    path: dir.clone(),
                    source,
                })?;
                Transport::File { dir }
            }
        };
        let password = if cfg.transport == TransportKind::Smtp {
            password
        } else {
            None
        };
        Ok(Mailer {
            from,
            reply_to,
            message_id_domain,
            tenant: String::new(),
            transport,
            password,
        })
    }

    /// Check that the transport can deliver, without sending anything (`cspguard doctor`): SMTP
    /// connects, negotiates TLS and authenticates (lettre `test_connection`); sendmail's command
    /// exists; the file outbox exists. Returns what was checked.
    pub async fn test_connection(&self) -> Result<String, MailError> {
        match &self.transport {
            Transport::Smtp(relay) => {
                let mut conn = relay
                    .open()
                    .await
                    .map_err(|f| self.failure(relay, "doctor", "no recipient", f))?;
                let deadline = std::time::Instant::now() + relay.timeout;
                step(
                    deadline,
                    Step::Noop,
                    conn.command(lettre::transport::smtp::commands::Noop),
                )
                .await
                .map_err(|f| self.failure(relay, "doctor", "no recipient", f))?;
                relay.keep(conn);
                Ok(format!("connected to {}", relay.server))
            }
            Transport::Sendmail { command, .. } => {
                if command.is_file() {
                    Ok(format!("{} exists", command.display()))
                } else {
                    Err(MailError::Sendmail {
                        key: "doctor".to_owned(),
                        command: command.clone(),
                        reason: "no such file".to_owned(),
                    })
                }
            }
            Transport::File { dir } => Ok(format!("outbox {}", dir.display())),
        }
    }

    /// Scope this mailer's Message-IDs to the partner tenant (`[partner_center] tenant_id`), so
    /// two cspguard instances of different partners never send the same Message-ID.
    pub fn for_tenant(mut self, tenant: &str) -> Mailer {
        self.tenant = tenant.to_owned();
        self
    }

    /// The Message-ID for an idempotency key, e.g. `<cspguard.0123…@example.com>`, derived from
    /// the partner tenant and the key.
    pub fn message_id(&self, key: &str) -> String {
        crate::ledger::message_id_for_tenant(&self.tenant, key, &self.message_id_domain)
    }

    /// The `.eml` path the file transport uses for `key` (`None` for other transports).
    pub fn outbox_path(&self, key: &str) -> Option<PathBuf> {
        match &self.transport {
            Transport::File { dir } => Some(dir.join(format!("{}.eml", outbox_stem(key)))),
            _ => None,
        }
    }

    /// Build the message without sending it: validates addresses, sanitises the subject, sets
    /// From, Reply-To, To, Cc, Subject, Date, Message-ID and a `multipart/alternative` body.
    /// Subject and body pass [`crate::redact`]: no known secret leaves in an email.
    pub fn build_message(&self, email: &OutgoingEmail) -> Result<Message, MailError> {
        let key = &email.key;
        if email.to.is_empty() {
            return Err(MailError::NoRecipients { key: key.clone() });
        }
        // The last pass before the email leaves the process: no known secret in it.
        let redact = crate::redact::redact;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(redact(&sanitize_header_text(&email.subject)))
            .date(std::time::SystemTime::from(email.date))
            .message_id(Some(self.message_id(key)));
        if let Some(r) = &self.reply_to {
            builder = builder.reply_to(r.clone());
        }
        for r in recipients(email)? {
            builder = if r.field == "to" {
                builder.to(r.mailbox)
            } else {
                builder.cc(r.mailbox)
            };
        }
        let body = MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(redact(&email.text)),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(redact(&email.html)),
            );
        builder.multipart(body).map_err(|e| MailError::Build {
            key: key.clone(),
            reason: e.to_string(),
        })
    }

    /// Build and deliver `email`. On error nothing is known to be delivered, except that SMTP
    /// cannot rule out delivery when the connection breaks after the final `.`; the fixed
    /// Message-ID makes such a duplicate recognisable.
    ///
    /// Over SMTP each recipient's refusal is handled on its own (RCPT by RCPT: `to` first; `cc`
    /// only once a `to` address was accepted), so a refused cc never blocks the primary. The
    /// receipt lists who got it and who refused; the error, when no `to` address took it, names
    /// them.
    pub async fn send(&self, email: &OutgoingEmail) -> Result<SentReceipt, MailError> {
        let message = self.build_message(email)?;
        let rcpts = recipients(email)?;
        let message_id = self.message_id(&email.key);
        let key = &email.key;
        let mut accepted: Vec<String> = rcpts.iter().map(Rcpt::address).collect();
        let mut refused = Vec::new();
        let transport_response = match &self.transport {
            Transport::Smtp(relay) => {
                let each = self
                    .smtp_deliver(relay, key, &rcpts, &message.formatted())
                    .await?;
                (accepted, refused) = (each.accepted, each.refused);
                each.response
            }
            Transport::Sendmail { transport, command } => {
                transport
                    .send(message)
                    .await
                    .map_err(|e| MailError::Sendmail {
                        key: key.clone(),
                        command: command.clone(),
                        reason: self.scrub(e.to_string()),
                    })?;
                format!("handed to {}", command.display())
            }
            Transport::File { dir } => {
                let path = dir.join(format!("{}.eml", outbox_stem(key)));
                let bytes = message.formatted();
                let written = {
                    let path = path.clone();
                    let dir = dir.clone();
                    tokio::task::spawn_blocking(move || write_once(&dir, &path, &bytes))
                        .await
                        .map_err(|e| std::io::Error::other(e.to_string()))
                        .and_then(|r| r)
                };
                match written {
                    Ok(true) => format!("written to {}", path.display()),
                    Ok(false) => format!("already in {}", path.display()),
                    Err(source) => {
                        return Err(MailError::Outbox {
                            key: key.clone(),
                            path,
                            source,
                        });
                    }
                }
            }
        };
        Ok(SentReceipt {
            message_id,
            transport_response,
            accepted,
            refused,
        })
    }

    /// One SMTP delivery with every step bounded (see [`smtp`]): a connection ready for MAIL
    /// (kept or new; the connection phase within `timeout`), then the transaction within
    /// `timeout`. Each recipient's refusal is handled on its own: `to` addresses first, `cc`
    /// only once a `to` address was accepted, so a refused cc never blocks the primary. Fails,
    /// naming every refused address, when no `to` address was accepted. Silence before the
    /// server answered DATA means nothing was sent ([`MailError::Unavailable`]); silence after
    /// it is [`MailError::Uncertain`].
    async fn smtp_deliver(
        &self,
        relay: &Relay,
        key: &str,
        rcpts: &[Rcpt],
        bytes: &[u8],
    ) -> Result<Each, MailError> {
        let mut conn = relay
            .open()
            .await
            .map_err(|f| self.failure(relay, key, "no recipient yet", f))?;
        let result = self.transaction(relay, &mut conn, key, rcpts, bytes).await;
        if result.is_ok() {
            relay.keep(conn);
        }
        result
    }

    /// MAIL, RCPT for each recipient, DATA and the message, all within `relay.timeout`.
    async fn transaction(
        &self,
        relay: &Relay,
        conn: &mut AsyncSmtpConnection,
        key: &str,
        rcpts: &[Rcpt],
        bytes: &[u8],
    ) -> Result<Each, MailError> {
        let deadline = std::time::Instant::now() + relay.timeout;
        let everyone = rcpts
            .iter()
            .map(Rcpt::address)
            .collect::<Vec<_>>()
            .join(", ");
        let params = mail_parameters(conn, &self.from, rcpts, bytes).map_err(|reason| {
            MailError::Protocol {
                server: relay.server.clone(),
                reason,
            }
        })?;
        let mail = Mail::new(Some(self.from.email.clone()), params);
        step(deadline, Step::Mail, conn.command(mail))
            .await
            .map_err(|f| self.failure(relay, key, &everyone, f))?;
        let mut each = Each::default();
        let mut first_error = None;
        for r in rcpts {
            if r.field == "cc" && each.accepted.is_empty() {
                break;
            }
            let address = r.address();
            let rcpt = RcptCommand::new(r.mailbox.email.clone(), vec![]);
            let err = match step(deadline, Step::Rcpt, conn.command(rcpt)).await {
                Ok(_) => {
                    each.accepted.push(address);
                    continue;
                }
                Err(f) => self.failure(relay, key, &address, f),
            };
            if !matches!(err, MailError::Deferred { .. } | MailError::Rejected { .. }) {
                return Err(err);
            }
            tracing::warn!(%key, %address, field = r.field, %err, "recipient refused");
            each.refused.push(Refusal {
                field: r.field,
                address,
                reason: err.to_string(),
                transient: err.is_transient(),
            });
            first_error.get_or_insert(err);
        }
        if let Some(err) = first_error
            && each.accepted.is_empty()
        {
            return Err(every_recipient_refused(err, &each));
        }
        let accepted = each.accepted.join(", ");
        step(deadline, Step::Data, conn.command(Data))
            .await
            .map_err(|f| self.failure(relay, key, &accepted, f))?;
        let response = step(deadline, Step::Message, conn.message(bytes))
            .await
            .map_err(|f| match f {
                // Not a reply but a broken connection once the message was on its way: the
                // relay may have queued it, so it must not be sent again blindly.
                Failure::Failed(e) if e.status().is_none() => {
                    self.uncertain(key, &relay.server, relay.timeout)
                }
                f => self.failure(relay, key, &accepted, f),
            })?;
        each.response = describe_response(&response);
        Ok(each)
    }

    /// The error for a failed SMTP step: silence before DATA was answered means nothing was
    /// sent; silence after it is uncertain; a reply or a broken connection is classified by
    /// [`Mailer::smtp_error`].
    fn failure(&self, relay: &Relay, key: &str, recipients: &str, failure: Failure) -> MailError {
        match failure {
            Failure::Silent(step) if step.may_have_delivered() => {
                self.uncertain(key, &relay.server, relay.timeout)
            }
            Failure::Silent(step) => MailError::Unavailable {
                key: key.to_owned(),
                server: relay.server.clone(),
                reason: format!(
                    "no answer {step} within {} s ([mail] timeout_secs), before the message was \
                     sent",
                    relay.timeout.as_secs()
                ),
            },
            Failure::Failed(e) => self.smtp_error(key, &relay.server, recipients, &e),
        }
    }

    /// A transaction that did not finish within `timeout`: the server may have accepted DATA.
    fn uncertain(&self, key: &str, server: &str, timeout: Duration) -> MailError {
        MailError::Uncertain {
            key: key.to_owned(),
            server: server.to_owned(),
            secs: timeout.as_secs(),
        }
    }

    fn smtp_error(
        &self,
        key: &str,
        server: &str,
        recipients: &str,
        e: &lettre::transport::smtp::Error,
    ) -> MailError {
        let text = self.scrub(e.to_string());
        let server = server.to_owned();
        if let Some(code) = e.status() {
            let code = u16::from(code);
            let reply = reply_text(&text);
            if matches!(code, 454 | 530 | 534 | 535 | 538) {
                return MailError::Auth {
                    server,
                    code,
                    reply,
                };
            }
            let key = key.to_owned();
            let recipients = recipients.to_owned();
            let refused = if e.is_transient() {
                Refused::ForNow
            } else {
                Refused::ForGood
            };
            return SmtpRefusal {
                key,
                server,
                recipients,
                code,
                reply,
            }
            .error(refused);
        }
        let reason = full_chain(e, &text);
        let reason = self.scrub(reason);
        if e.is_tls() || is_tls_failure(e) {
            MailError::Tls { server, reason }
        } else if e.is_client() {
            MailError::Protocol { server, reason }
        } else {
            MailError::Unavailable {
                key: key.to_owned(),
                server,
                reason,
            }
        }
    }

    /// Remove the SMTP password and every other known secret ([`crate::redact`]) from text that
    /// came from the outside, e.g. a relay's reply echoing what it was sent.
    fn scrub(&self, text: String) -> String {
        let text = match &self.password {
            Some(p) if crate::secrets::secret_appears_in(p, &text) => {
                text.replace(p.expose_secret(), "[REDACTED]")
            }
            _ => text,
        };
        crate::redact::redact(&text)
    }
}

/// How long a server's refusal holds: for now (a 4xx reply) or for good (a 5xx).
#[derive(Debug, Clone, Copy)]
enum Refused {
    ForNow,
    ForGood,
}

/// The particulars of one SMTP refusal, as [`MailError::Deferred`] and
/// [`MailError::Rejected`] carry them.
struct SmtpRefusal {
    key: String,
    server: String,
    recipients: String,
    code: u16,
    reply: String,
}

impl SmtpRefusal {
    fn error(self, refused: Refused) -> MailError {
        let SmtpRefusal {
            key,
            server,
            recipients,
            code,
            reply,
        } = self;
        match refused {
            Refused::ForNow => MailError::Deferred {
                key,
                server,
                recipients,
                code,
                reply,
            },
            Refused::ForGood => MailError::Rejected {
                key,
                server,
                recipients,
                code,
                reply,
            },
        }
    }
}

/// What offering a message to each recipient on its own did.
#[derive(Default)]
struct Each {
    accepted: Vec<String>,
    refused: Vec<Refusal>,
    /// The last accepting server reply.
    response: String,
}

/// The error when no `to` address took the message: the first refusal's reply, naming every
/// refused address; deferred when any refusal was a 4xx (a later run may get through).
fn every_recipient_refused(first: MailError, each: &Each) -> MailError {
    let recipients = each
        .refused
        .iter()
        .map(|r| r.address.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let any_transient = each.refused.iter().any(|r| r.transient);
    match first {
        MailError::Deferred {
            key,
            server,
            code,
            reply,
            ..
        }
        | MailError::Rejected {
            key,
            server,
            code,
            reply,
            ..
        } => {
            let refused = if any_transient {
                Refused::ForNow
            } else {
                Refused::ForGood
            };
            SmtpRefusal {
                key,
                server,
                recipients,
                code,
                reply,
            }
            .error(refused)
        }
        other => other,
    }
}

/// The message's recipients in header order (`to`, then `cc`), validated, each address once.
fn recipients(email: &OutgoingEmail) -> Result<Vec<Rcpt>, MailError> {
    let mut out: Vec<Rcpt> = Vec::new();
    for (field, list) in [("to", &email.to), ("cc", &email.cc)] {
        for raw in list {
            let mailbox = parse_recipient(&email.key, field, raw)?;
            let addr = mailbox.email.to_string().to_ascii_lowercase();
            if out.iter().any(|r| r.address().to_ascii_lowercase() == addr) {
                continue;
            }
            out.push(Rcpt { field, mailbox });
        }
    }
    Ok(out)
}

/// The MAIL FROM parameters the message needs (8BITMIME for a non-ASCII message, SMTPUTF8 for
/// non-ASCII addresses), or why the server cannot take it.
fn mail_parameters(
    conn: &AsyncSmtpConnection,
    from: &Mailbox,
    rcpts: &[Rcpt],
    bytes: &[u8],
) -> Result<Vec<MailParameter>, String> {
    let info = conn.server_info();
    let mut params = Vec::new();
    let addresses_ascii =
        from.email.to_string().is_ascii() && rcpts.iter().all(|r| r.address().is_ascii());
    if !addresses_ascii {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            return Err(
                "an address is not ASCII but the server does not offer SMTPUTF8".to_owned(),
            );
        }
        params.push(MailParameter::SmtpUtfEight);
    }
    if !bytes.is_ascii() {
        if !info.supports_feature(Extension::EightBitMime) {
            return Err(
                "the message is not ASCII but the server does not offer 8BITMIME".to_owned(),
            );
        }
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(params)
}

fn build_smtp(cfg: &MailConfig, password: Option<&SecretString>) -> Result<Transport, MailError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(MailError::NoRuntime);
    }
    let host = cfg.host.clone().unwrap_or_default();
    let port = cfg.smtp_port();
    let server = format!("{host}:{port}");
    let tls = match cfg.tls_mode() {
        SmtpTls::None => Tls::None,
        mode => {
            let mut params = TlsParameters::builder(host.clone());
            if let Some(path) = &cfg.ca_file {
                let pem = std::fs::read(path).map_err(|e| MailError::CaFile {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                if !pem
                    .windows(CERT_PEM_MARKER.len())
                    .any(|w| w == CERT_PEM_MARKER)
                {
                    return Err(MailError::CaFile {
                        path: path.clone(),
                        reason: "holds no \"-----BEGIN CERTIFICATE-----\" block".to_owned(),
                    });
                }
                let cert = Certificate::from_pem(&pem).map_err(|e| MailError::CaFile {
                    path: path.clone(),
                    reason: format!("not a PEM certificate ({e})"),
                })?;
                params = params.add_root_certificate(cert);
            }
            let params = params.build_rustls().map_err(|e| MailError::Tls {
                server: server.clone(),
                reason: full_chain(&e, &e.to_string()),
            })?;
            if mode == SmtpTls::Implicit {
                Tls::Wrapper(params)
            } else {
                Tls::Required(params)
            }
        }
    };
    let credentials = match (&cfg.username, password) {
        (Some(user), Some(pw)) => Some(Credentials::new(
            user.clone(),
            pw.expose_secret().to_owned(),
        )),
        (Some(_), None) => return Err(MailError::Credentials("username is set but no password")),
        (None, Some(_)) => return Err(MailError::Credentials("a password but no username")),
        (None, None) => None,
    };
    let keep = usize::try_from(cfg.pool_size()).unwrap_or(1);
    Ok(Transport::Smtp(Relay::new(
        (host, port),
        tls,
        credentials,
        cfg.timeout(),
        keep,
    )))
}

/// Parse a mailbox from the config (`from`, `reply_to`, `ops_to`).
fn parse_config_mailbox(key: &'static str, raw: &str) -> Result<Mailbox, MailConfigError> {
    parse_mailbox(raw).map_err(|reason| {
        cfg_err(
            key,
            format!("{raw:?} is not a usable address: {reason}; use \"name@example.com\" or \"Name <name@example.com>\""),
        )
    })
}

fn parse_recipient(key: &str, field: &'static str, raw: &str) -> Result<Mailbox, MailError> {
    parse_mailbox(raw).map_err(|reason| MailError::BadAddress {
        key: key.to_owned(),
        field,
        value: raw.to_owned(),
        reason,
    })
}

/// Why `raw` is not a usable recipient address, if it is not (config validation of
/// per-customer `email` and `cc`).
pub fn address_problem(raw: &str) -> Option<String> {
    parse_mailbox(raw).err()
}

/// `addr@domain` or `Name <addr@domain>`, validated by lettre (RFC 5322 syntax). Control
/// characters anywhere (the raw material of header injection) and empty input are refused.
fn parse_mailbox(raw: &str) -> Result<Mailbox, String> {
    if raw
        .chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
    {
        return Err("contains a line break or control character".to_owned());
    }
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("is empty".to_owned());
    }
    let mailbox = Mailbox::from_str(trimmed).map_err(|e| e.to_string())?;
    if mailbox.email.domain().is_empty() || mailbox.email.user().is_empty() {
        return Err("has no user or domain part".to_owned());
    }
    Ok(mailbox)
}

/// Header text safe to hand to lettre: every control character (CR, LF, TAB, NEL, ...) and the
/// Unicode line/paragraph separators become a space; runs of spaces collapse; ends are trimmed.
pub fn sanitize_header_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last_space = true;
    for c in s.chars() {
        let c = if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            ' '
        } else {
            c
        };
        if c == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out.trim_end().to_owned()
}

/// File name stem for an idempotency key: ASCII letters, digits, `-` and `_` are kept, every
/// other byte becomes `%XX` (so the mapping is injective: two keys never share a file), and a
/// stem longer than [`MAX_OUTBOX_STEM`] is cut and suffixed with the key's hash.
pub fn outbox_stem(key: &str) -> String {
    let mut stem = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            stem.push(char::from(b));
        } else {
            stem.push_str(&format!("%{b:02X}"));
        }
    }
    if stem.is_empty() {
        return "%".to_owned();
    }
    if stem.len() > MAX_OUTBOX_STEM {
        // The Message-ID's 32 hex digits are a stable hash of the key.
        let id = crate::ledger::message_id_for(key, "x");
        let hash = id
            .trim_start_matches("<cspguard.")
            .split('@')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut cut = MAX_OUTBOX_STEM - hash.len() - 1;
        while !stem.is_char_boundary(cut) {
            cut -= 1;
        }
        stem.truncate(cut);
        stem.push('~');
        stem.push_str(&hash);
    }
    stem
}

/// Write `bytes` to `path` unless it exists. Returns `Ok(false)` if it already existed.
fn write_once(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    let mut tmp = tempfile_in(dir)?;
    let result = (|| {
        tmp.1.write_all(bytes)?;
        tmp.1.sync_all()?;
        match std::fs::hard_link(&tmp.0, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            // File systems without hard links (FAT, some network mounts): rename instead. Only
            // a concurrent writer of the same key could then replace the file, with the same
            // notice.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Unsupported | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                if path.exists() {
                    Ok(false)
                } else {
                    std::fs::rename(&tmp.0, path).map(|()| true)
                }
            }
            Err(e) => Err(e),
        }
    })();
    let _ = std::fs::remove_file(&tmp.0);
    if result.is_ok() {
        sync_dir(dir);
    }
    result
}

/// A fresh hidden temp file in `dir`, created exclusively (mode 0600 on Unix).
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    loop {
        let p = dir.join(format!(
            ".tmp-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        match opts.open(&p) {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(dir)
}

fn describe_response(r: &Response) -> String {
    let lines: Vec<&str> = r.message().collect();
    format!("{} {}", r.code(), lines.join(" "))
}

/// The reply part of lettre's "permanent error (550): text" message.
fn reply_text(text: &str) -> String {
    let reply = text.split_once("): ").map_or(text, |(_, r)| r).trim();
    truncate(reply, 300)
}

/// A TLS handshake or certificate failure inside a connection error. tokio-rustls reports them as
/// `io::ErrorKind::InvalidData` wrapping the rustls error; plain network failures (refused,
/// reset, timed out) have other kinds, and unparsable SMTP replies are lettre response errors.
fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::InvalidData
            && io.get_ref().is_some()
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// The error and its sources, skipping sources whose text the outer message already shows.
fn full_chain(e: &dyn std::error::Error, top: &str) -> String {
    let mut out = top.to_owned();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    truncate(&out, 500)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

#[cfg(test)]
mod tests;
