//! Retry decisions for Partner Center calls: the one reviewed place that says whether a failed
//! attempt is sent again, after how long, and when to give up.
//!
//! Owns: the [`RetryPolicy`], full-jitter backoff ([`backoff_delay`]), `Retry-After` parsing, the
//! meaning of each HTTP status for retrying ([`classify_status`]), the typed reason of a retry
//! ([`RetryReason`]) and the decision itself ([`RetryPolicy::decide`] -> [`Decision`]).
//!
//! Pure: no I/O, no clock, no randomness. The transport (`pc/transport.rs`) passes the elapsed
//! time and a jitter draw in, performs what the decision says, and counts it in [`Progress`].
//!
//! Rules:
//! * 429: wait the server's `Retry-After` (or back off when it gives none); a `Retry-After`
//!   longer than what is left of the time budget gives up at once.
//! * 5xx, 408, timeouts, connection failures and transient token-endpoint failures: full-jitter
//!   exponential backoff.
//! * A 2xx body that cannot be decoded is retried once.
//! * 401: drop the cached token and send again at once, once; this does not use up an attempt.
//! * Everything else is not retried. Attempts (`max_attempts`) and total time (`max_total`,
//!   waits included) bound every logical call.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;

use crate::pc::error::describe_reqwest;

/// How calls are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Maximum HTTP attempts per logical call (first try included), at least 1.
    pub max_attempts: u32,
    /// Total time budget per logical call, waits included.
    pub max_total: Duration,
    /// First backoff ceiling; doubles per retry.
    pub base_delay: Duration,
    /// Upper bound of any backoff ceiling.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            max_total: Duration::from_secs(180),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// Full-jitter exponential backoff: a delay uniformly drawn (via `unit` in `[0, 1)`) from
/// `[0, min(max_delay, base_delay * 2^(retry-1))]`. `retry` is 1 for the first retry.
pub fn backoff_delay(policy: &RetryPolicy, retry: u32, unit: f64) -> Duration {
    let exp = retry.saturating_sub(1).min(30);
    let ceiling = policy
        .base_delay
        .checked_mul(1u32 << exp)
        .unwrap_or(policy.max_delay)
        .min(policy.max_delay);
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    ceiling.mul_f64(unit)
}

/// Parse a `Retry-After` value: delay seconds (`"57"`) or an HTTP date, relative to `now`.
/// A date in the past means "now" (zero). Unparseable values give `None`.
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(v)
        .ok()?;
    let span = at.duration_since(now);
    Some(Duration::try_from(span).unwrap_or(Duration::ZERO))
}

/// What an HTTP status means for retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// 2xx: decode the body.
    Success,
    /// 401: the token was rejected; re-authenticate once.
    Unauthorized,
    /// 429: throttled; wait and retry.
    Throttled,
    /// 5xx and 408: the service had a problem; back off and retry.
    Transient,
    /// Anything else (redirects are never followed, other 4xx): the answer stands.
    Final,
}

/// Classify an HTTP status for retrying.
pub fn classify_status(status: StatusCode) -> StatusClass {
    if status.is_success() {
        StatusClass::Success
    } else if status == StatusCode::UNAUTHORIZED {
        StatusClass::Unauthorized
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        StatusClass::Throttled
    } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        StatusClass::Transient
    } else {
        StatusClass::Final
    }
}

/// Why an attempt failed in a way that sending it again may fix. `Display` is the text used in
/// logs and in [`crate::pc::PcError::RetriesExhausted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryReason {
    /// 429, with the server's `Retry-After` when it gave a usable one.
    Throttled {
        retry_after: Option<Duration>,
        message: String,
    },
    /// A 5xx or 408 answer.
    ServerError { status: u16, message: String },
    /// The request timed out.
    Timeout(String),
    /// The connection could not be established.
    Connect(String),
    /// The connection broke (reset, closed while reading the body, …).
    Connection(String),
    /// A 2xx body could not be decoded (`bytes` long).
    UndecodableBody { error: String, bytes: usize },
    /// The token endpoint failed in a way that may pass (network error, 5xx).
    TokenUnavailable(String),
    /// 401: the cached token was rejected.
    Unauthorized,
}

impl RetryReason {
    /// The reason to retry a request that got no answer, or `None` when sending it again cannot
    /// help (the request could not even be built).
    pub fn from_transport_error(e: &reqwest::Error) -> Option<RetryReason> {
        if e.is_builder() {
            return None;
        }
        let description = describe_reqwest(e);
        Some(if e.is_timeout() {
            RetryReason::Timeout(description)
        } else if e.is_connect() {
            RetryReason::Connect(description)
        } else {
            RetryReason::Connection(description)
        })
    }
}

impl fmt::Display for RetryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryReason::Throttled { message, .. } => write!(f, "429 throttled: {message}"),
            RetryReason::ServerError { status, message } => write!(f, "{status}: {message}"),
            RetryReason::Timeout(d) | RetryReason::Connect(d) | RetryReason::Connection(d) => {
                f.write_str(d)
            }
            RetryReason::UndecodableBody { error, .. } => write!(f, "undecodable body: {error}"),
            RetryReason::TokenUnavailable(m) => write!(f, "token request failed: {m}"),
            RetryReason::Unauthorized => f.write_str("401: the access token was rejected"),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Drop the cached token and send again at once; not counted against `max_attempts`.
    Reauthenticate,
    /// Wait `delay`, then send again.
    Retry {
        reason: RetryReason,
        delay: Duration,
    },
    /// Stop.
    GiveUp(GiveUp),
}

/// Why a logical call stops without success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GiveUp {
    /// 429 asking for a longer wait than the time budget has left.
    Throttled {
        retry_after: Duration,
        remaining: Duration,
    },
    /// The attempts or the time budget are used up; `last` is the last failure.
    Exhausted {
        last: RetryReason,
        attempts: u32,
        elapsed: Duration,
    },
    /// The body could not be decoded on both tries.
    Undecodable { error: String, bytes: usize },
    /// 401 again after re-authenticating: the server's answer stands.
    Rejected,
}

/// Where a logical call stands. The transport calls [`Progress::begin_attempt`] before each
/// attempt, sets `elapsed` before asking for a decision, and [`Progress::record`]s the decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Time since the logical call started, waits included.
    pub elapsed: Duration,
    attempts: u32,
    retries: u32,
    reauthenticated: bool,
    body_retried: bool,
}

impl Progress {
    /// An attempt is about to be sent.
    pub fn begin_attempt(&mut self) {
        self.attempts += 1;
    }

    /// Attempts that count against `max_attempts` (re-authentication does not count).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Retries sent so far, re-authentication included (the call statistics count them).
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Account for a decision that is about to be carried out.
    pub fn record(&mut self, decision: &Decision) {
        match decision {
            Decision::Reauthenticate => {
                self.reauthenticated = true;
                self.retries += 1;
                self.attempts = self.attempts.saturating_sub(1);
            }
            Decision::Retry { reason, .. } => {
                if matches!(reason, RetryReason::UndecodableBody { .. }) {
                    self.body_retried = true;
                }
                self.retries += 1;
            }
            Decision::GiveUp(_) => {}
        }
    }
}

impl RetryPolicy {
    /// Decide what follows a failed attempt. `jitter` is a uniform draw from `[0, 1)` for the
    /// backoff.
    pub fn decide(&self, progress: &Progress, reason: RetryReason, jitter: f64) -> Decision {
        match &reason {
            RetryReason::Unauthorized if progress.reauthenticated => {
                return Decision::GiveUp(GiveUp::Rejected);
            }
            RetryReason::Unauthorized => return Decision::Reauthenticate,
            RetryReason::UndecodableBody { error, bytes } if progress.body_retried => {
                return Decision::GiveUp(GiveUp::Undecodable {
                    error: error.clone(),
                    bytes: *bytes,
                });
            }
            _ => {}
        }
        let delay = match &reason {
            RetryReason::Throttled {
                retry_after: Some(wait),
                ..
            } => {
                let remaining = self.max_total.saturating_sub(progress.elapsed);
                if *wait > remaining {
                    return Decision::GiveUp(GiveUp::Throttled {
                        retry_after: *wait,
                        remaining,
                    });
                }
                *wait
            }
            _ => backoff_delay(self, progress.retries + 1, jitter),
        };
        if progress.attempts >= self.max_attempts.max(1)
            || progress.elapsed + delay > self.max_total
        {
            return Decision::GiveUp(GiveUp::Exhausted {
                last: reason,
                attempts: progress.attempts,
                elapsed: progress.elapsed,
            });
        }
        Decision::Retry { reason, delay }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_full_jitter() {
        let p = RetryPolicy {
            max_attempts: 5,
            max_total: Duration::from_secs(60),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(backoff_delay(&p, 1, 0.0), Duration::ZERO);
        assert_eq!(backoff_delay(&p, 1, 1.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(&p, 2, 1.0), Duration::from_millis(200));
        assert_eq!(backoff_delay(&p, 3, 0.5), Duration::from_millis(200));
        assert_eq!(backoff_delay(&p, 4, 1.0), Duration::from_millis(800));
        assert_eq!(backoff_delay(&p, 5, 1.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(&p, 60, 1.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(&p, 3, f64::NAN), Duration::ZERO);
        for r in 1..40 {
            assert!(backoff_delay(&p, r, fastrand::f64()) <= p.max_delay);
        }
    }

    #[test]
    fn retry_after_seconds_and_http_date() {
        let now: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().expect("ts");
        assert_eq!(parse_retry_after("57", now), Some(Duration::from_secs(57)));
        assert_eq!(parse_retry_after(" 1 ", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after("Mon, 01 Jan 2024 00:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 31 Dec 2023 23:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            max_total: Duration::from_secs(60),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }
    }

    fn server_error() -> RetryReason {
        RetryReason::ServerError {
            status: 500,
            message: "oops".into(),
        }
    }

    fn throttled(secs: Option<u64>) -> RetryReason {
        RetryReason::Throttled {
            retry_after: secs.map(Duration::from_secs),
            message: "later".into(),
        }
    }

    /// Run attempts that all fail with `reason`; the decisions in order, until one gives up.
    fn run(p: &RetryPolicy, reason: &RetryReason) -> Vec<Decision> {
        let mut progress = Progress::default();
        let mut out = Vec::new();
        loop {
            progress.begin_attempt();
            let d = p.decide(&progress, reason.clone(), 1.0);
            progress.record(&d);
            let stop = matches!(d, Decision::GiveUp(_));
            out.push(d);
            if stop || out.len() > 20 {
                return out;
            }
        }
    }

    #[test]
    fn statuses_are_classified_once() {
        let c = |n: u16| classify_status(StatusCode::from_u16(n).expect("status"));
        assert_eq!(c(200), StatusClass::Success);
        assert_eq!(c(204), StatusClass::Success);
        assert_eq!(c(401), StatusClass::Unauthorized);
        assert_eq!(c(429), StatusClass::Throttled);
        for n in [500, 502, 503, 504, 408] {
            assert_eq!(c(n), StatusClass::Transient, "{n}");
        }
        for n in [302, 400, 403, 404, 409, 412] {
            assert_eq!(c(n), StatusClass::Final, "{n}");
        }
    }

    #[test]
    fn server_errors_back_off_until_the_attempts_are_used_up() {
        let decisions = run(&policy(), &server_error());
        let delays: Vec<Duration> = decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Retry { delay, .. } => Some(*delay),
                _ => None,
            })
            .collect();
        assert_eq!(
            delays,
            [100, 200, 400].map(Duration::from_millis).to_vec(),
            "full-jitter ceilings double per retry"
        );
        assert_eq!(
            decisions.last(),
            Some(&Decision::GiveUp(GiveUp::Exhausted {
                last: server_error(),
                attempts: 4,
                elapsed: Duration::ZERO,
            }))
        );
    }

    #[test]
    fn the_time_budget_bounds_the_wait() {
        let mut progress = Progress::default();
        progress.begin_attempt();
        progress.elapsed = Duration::from_millis(59_950);
        assert!(matches!(
            policy().decide(&progress, server_error(), 1.0),
            Decision::GiveUp(GiveUp::Exhausted { attempts: 1, .. })
        ));
        assert!(matches!(
            policy().decide(&progress, server_error(), 0.0),
            Decision::Retry { delay, .. } if delay == Duration::ZERO
        ));
    }

    #[test]
    fn throttling_waits_retry_after_or_gives_up_when_it_exceeds_the_budget() {
        let mut progress = Progress::default();
        progress.begin_attempt();
        progress.elapsed = Duration::from_secs(10);
        assert_eq!(
            policy().decide(&progress, throttled(Some(30)), 0.5),
            Decision::Retry {
                reason: throttled(Some(30)),
                delay: Duration::from_secs(30),
            }
        );
        assert_eq!(
            policy().decide(&progress, throttled(Some(3600)), 0.5),
            Decision::GiveUp(GiveUp::Throttled {
                retry_after: Duration::from_secs(3600),
                remaining: Duration::from_secs(50),
            })
        );
        assert_eq!(
            policy().decide(&progress, throttled(None), 1.0),
            Decision::Retry {
                reason: throttled(None),
                delay: Duration::from_millis(100),
            },
            "without Retry-After a 429 backs off"
        );
    }

    #[test]
    fn a_401_reauthenticates_once_without_using_an_attempt() {
        let decisions = run(&policy(), &RetryReason::Unauthorized);
        assert_eq!(
            decisions,
            vec![Decision::Reauthenticate, Decision::GiveUp(GiveUp::Rejected)]
        );
        let mut progress = Progress::default();
        progress.begin_attempt();
        progress.record(&Decision::Reauthenticate);
        progress.begin_attempt();
        assert_eq!((progress.attempts(), progress.retries()), (1, 1));
    }

    #[test]
    fn an_undecodable_body_is_retried_once() {
        let reason = RetryReason::UndecodableBody {
            error: "EOF".into(),
            bytes: 12,
        };
        let decisions = run(&policy(), &reason);
        assert!(matches!(decisions[0], Decision::Retry { .. }));
        assert_eq!(
            decisions[1],
            Decision::GiveUp(GiveUp::Undecodable {
                error: "EOF".into(),
                bytes: 12,
            })
        );
        assert_eq!(decisions.len(), 2);
    }

    #[test]
    fn one_attempt_means_no_retry() {
        let p = RetryPolicy {
            max_attempts: 0,
            ..policy()
        };
        let decisions = run(&p, &RetryReason::Timeout("timed out".into()));
        assert!(matches!(
            decisions.as_slice(),
            [Decision::GiveUp(GiveUp::Exhausted { attempts: 1, .. })]
        ));
    }

    #[test]
    fn reasons_read_as_before_in_logs_and_errors() {
        assert_eq!(server_error().to_string(), "500: oops");
        assert_eq!(throttled(Some(1)).to_string(), "429 throttled: later");
        assert_eq!(
            RetryReason::UndecodableBody {
                error: "EOF".into(),
                bytes: 3
            }
            .to_string(),
            "undecodable body: EOF"
        );
        assert_eq!(
            RetryReason::TokenUnavailable("503".into()).to_string(),
            "token request failed: 503"
        );
    }
}
