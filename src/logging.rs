//! Logging setup (tracing), filtered by `-v`/`-q` or `RUST_LOG`, in one of three formats chosen by
//! the global `--log-format`:
//!
//! - `text`: human-readable lines on stderr (colours only on a terminal);
//! - `json`: one JSON object per line on stderr, with the current span and the span list, so every
//!   line of a run carries the run's `correlation_id` (see `crate::observe::in_run`);
//! - `journald`: native journald entries with structured fields (span fields included), except
//!   warnings and errors: those are text lines on stderr with every field in the message and a
//!   `<N>` priority prefix (sd-daemon(3)), so the journal's message text carries their reason;
//!   when the journald socket is unavailable, text lines without timestamps (the journal adds
//!   them);
//! - `auto` (default): `journald` when `JOURNAL_STREAM` is set (started by systemd), else `text`.
//!
//! Architecture invariant: nothing logs secret values; secrets live in `secrecy` types whose
//! Debug output is redacted, and errors name secret *sources*, never values. As a last pass,
//! every line the formatters write to stderr (and [`stderr_text`]) goes through
//! [`crate::redact`], so a known secret that slipped into a message or field is replaced.
//! Native journald entries (info and debug under `journald`) are written by `tracing-journald`
//! itself and do not pass this writer.

use std::io::IsTerminal as _;
use std::sync::Mutex;

use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The log output format (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// journald under systemd (`JOURNAL_STREAM` set), human-readable text otherwise.
    #[default]
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
    /// Native journald fields.
    Journald,
}

impl LogFormat {
    /// Resolve `auto` given the value of `JOURNAL_STREAM`.
    pub fn resolve(self, journal_stream: Option<&str>) -> LogFormat {
        match self {
            LogFormat::Auto if journal_stream.is_some_and(|s| !s.is_empty()) => LogFormat::Journald,
            LogFormat::Auto => LogFormat::Text,
            other => other,
        }
    }
}

fn filter(verbose: u8, quiet: bool) -> EnvFilter {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "cspguard=debug,info",
        (false, _) => "cspguard=trace,debug",
    };
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// Install the global subscriber in the default (`auto`) format. `verbose` counts `-v`; `quiet`
/// keeps warnings and errors only.
pub fn init(verbose: u8, quiet: bool) {
    init_with(verbose, quiet, LogFormat::Auto);
}

/// Install the global subscriber in `format`.
pub fn init_with(verbose: u8, quiet: bool, format: LogFormat) {
    let journal_stream = std::env::var("JOURNAL_STREAM").ok();
    let format = format.resolve(journal_stream.as_deref());
    let filter = filter(verbose, quiet);
    match format {
        LogFormat::Json => {
            let _ = tracing_subscriber::fmt()
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .with_env_filter(filter)
                .with_writer(|| CorrelatedStderr)
                .with_target(false)
                .try_init();
        }
        LogFormat::Journald => match tracing_journald::layer() {
            Ok(layer) => {
                STDERR_PRIORITIES.store(true, std::sync::atomic::Ordering::Relaxed);
                // Warnings and errors go to stderr as text with every field in the message and a
                // sd-daemon priority prefix, so `journalctl -u` alone shows their reason at the
                // right priority; everything else is native journald entries.
                let native = layer
                    .with_syslog_identifier("cspguard".to_owned())
                    .with_filter(filter_fn(|m| m.is_span() || *m.level() > Level::WARN));
                let loud = tracing_subscriber::fmt::layer()
                    .without_time()
                    .with_ansi(false)
                    .with_target(false)
                    .with_writer(PriorityStderr)
                    .with_filter(filter_fn(|m| m.is_span() || *m.level() <= Level::WARN));
                let _ = tracing_subscriber::registry()
                    .with(filter)
                    .with(native)
                    .with(loud)
                    .try_init();
            }
            Err(_) => {
                let _ = tracing_subscriber::fmt()
                    .without_time()
                    .with_env_filter(filter)
                    .with_writer(|| RedactedStderr)
                    .with_ansi(false)
                    .with_target(false)
                    .try_init();
            }
        },
        LogFormat::Text | LogFormat::Auto => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(|| RedactedStderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(false)
                .try_init();
        }
    }
}

/// Set when the journald format is active: lines a command writes to stderr itself (the final
/// error, a run's failures) then carry an sd-daemon priority prefix too.
static STDERR_PRIORITIES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `text` as the command writes it to stderr at `level`: with the sd-daemon priority prefix on
/// every line under journald (so `journalctl -p warning` shows it), unchanged otherwise.
pub fn stderr_text(level: Level, text: &str) -> String {
    let text = crate::redact::redact(text);
    if STDERR_PRIORITIES.load(std::sync::atomic::Ordering::Relaxed) {
        String::from_utf8_lossy(&prefix_lines(syslog_prefix(level), text.as_bytes())).into_owned()
    } else {
        text
    }
}

/// The correlation id of the run this process is executing, if any (a process runs at most one
/// cycle at a time: the run lock, and the daemon runs cycles one after the other).
static RUN_CORRELATION: Mutex<Option<String>> = Mutex::new(None);

/// Set (or clear) the current run's correlation id; JSON log lines then carry it as a top-level
/// `correlation_id`, including lines from tasks that third-party crates spawn outside the span.
pub fn set_run_correlation(id: Option<String>) {
    if let Ok(mut g) = RUN_CORRELATION.lock() {
        *g = id;
    }
}

fn run_correlation() -> Option<String> {
    RUN_CORRELATION.lock().ok().and_then(|g| g.clone())
}

/// Add `"correlation_id":"<id>"` to a JSON log line while a run is active.
pub fn add_correlation(line: &[u8], id: Option<&str>) -> Vec<u8> {
    match (id, line.first()) {
        (Some(id), Some(b'{')) => {
            let mut out = Vec::with_capacity(line.len() + id.len() + 20);
            out.extend_from_slice(b"{\"correlation_id\":");
            out.extend_from_slice(serde_json::Value::from(id).to_string().as_bytes());
            if line.get(1) != Some(&b'}') {
                out.push(b',');
            }
            out.extend_from_slice(line.get(1..).unwrap_or_default());
            out
        }
        _ => line.to_vec(),
    }
}

/// stderr, adding the run's correlation id to each JSON line (the formatter writes one whole
/// line per `write`).
struct CorrelatedStderr;

impl std::io::Write for CorrelatedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = add_correlation(
            &crate::redact::redact_bytes(buf),
            run_correlation().as_deref(),
        );
        std::io::stderr().lock().write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// stderr, each formatted event (one `write`) with the known secrets redacted.
struct RedactedStderr;

impl std::io::Write for RedactedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stderr()
            .lock()
            .write_all(&crate::redact::redact_bytes(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// stderr with an sd-daemon(3) `<N>` syslog priority prefix on every line, chosen by the event's
/// level (systemd's stream logging turns it into the entry's priority).
struct PriorityStderr;

/// One event's writer: stderr, each line prefixed with `prefix`.
struct Prefixed {
    prefix: &'static str,
}

/// The sd-daemon priority prefix of a tracing level.
fn syslog_prefix(level: Level) -> &'static str {
    match level {
        Level::ERROR => "<3>",
        Level::WARN => "<4>",
        Level::INFO => "<6>",
        _ => "<7>",
    }
}

/// `buf` with `prefix` before each of its lines.
fn prefix_lines(prefix: &str, buf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(buf.len() + prefix.len());
    for line in buf.split_inclusive(|b| *b == b'\n') {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(line);
    }
    out
}

impl<'a> MakeWriter<'a> for PriorityStderr {
    type Writer = Prefixed;

    fn make_writer(&'a self) -> Prefixed {
        Prefixed { prefix: "<4>" }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Prefixed {
        Prefixed {
            prefix: syslog_prefix(*meta.level()),
        }
    }
}

impl std::io::Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let buf = crate::redact::redact_bytes(buf);
        std::io::stderr()
            .lock()
            .write_all(&prefix_lines(self.prefix, &buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_get_the_correlation_id_first() {
        let line = br#"{"level":"INFO","fields":{}}"#;
        let out = add_correlation(line, Some("abc"));
        assert_eq!(
            String::from_utf8_lossy(&out),
            r#"{"correlation_id":"abc","level":"INFO","fields":{}}"#
        );
        assert_eq!(add_correlation(line, None), line.to_vec());
        assert_eq!(add_correlation(b"plain", Some("abc")), b"plain".to_vec());
    }

    #[test]
    fn journal_lines_carry_their_priority_on_every_line() {
        assert_eq!(syslog_prefix(Level::ERROR), "<3>");
        assert_eq!(syslog_prefix(Level::WARN), "<4>");
        assert_eq!(
            String::from_utf8_lossy(&prefix_lines("<4>", b"a: why\nmore\n")),
            "<4>a: why\n<4>more\n"
        );
    }

    #[test]
    fn auto_means_journald_only_under_systemd() {
        assert_eq!(LogFormat::Auto.resolve(Some("8:1234")), LogFormat::Journald);
        assert_eq!(LogFormat::Auto.resolve(None), LogFormat::Text);
        assert_eq!(LogFormat::Auto.resolve(Some("")), LogFormat::Text);
        assert_eq!(LogFormat::Json.resolve(Some("8:1234")), LogFormat::Json);
    }
}
