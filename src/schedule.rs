//! Scheduling for `cspguard daemon`: when the next cycle is due, and the loop that runs cycles.
//!
//! The schedule is a 5-field crontab expression (`croner`, POSIX weekdays: 0 or 7 = Sunday,
//! 1 = Monday) read in the configured IANA time zone. Matching is done on the local *wall clock*:
//!
//! - a wall-clock time skipped by a daylight-saving change (Europe/Stockholm 2026-03-29 02:30)
//!   fires once, at the instant the clocks jump (03:00 local), as Vixie cron does;
//! - a wall-clock time that happens twice (2026-10-25 02:30) fires once, at its first occurrence.
//!
//! Both rules keep the mapping from wall-clock times to instants non-decreasing, so "the next
//! tick after an instant" is well defined and the job never fires twice for one wall-clock time.
//!
//! [`decide`] is the pure heart: given the last run and now, run once now (catching up after any
//! number of missed ticks, never in a burst) or wait until a given instant. [`run_loop`] drives it
//! with an injected [`Clock`] so tests run instantly; it never starts a cycle while another is
//! running, and a shutdown request lets the current cycle finish before the loop returns.
//!
//! Architecture invariant: no function here reads the system clock; time comes from the caller.

use std::future::Future;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use serde::Deserialize;

/// The default daemon schedule: at the top of every hour.
pub const DEFAULT_SCHEDULE: &str = "0 * * * *";

/// How many wall-clock candidates are examined before giving up (a pattern like `0 0 30 2 *`,
/// February 30th, never matches).
const MAX_CANDIDATES: usize = 10_000;

/// Errors of schedule parsing and evaluation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "schedule {expr:?} is not a valid 5-field crontab expression \
         (minute hour day-of-month month day-of-week, e.g. \"0 * * * *\"): {reason}"
    )]
    Invalid { expr: String, reason: String },
    #[error("time zone {0:?} is not a known IANA time zone")]
    UnknownZone(String),
    #[error("schedule {expr:?} has no occurrence after {after}")]
    NoOccurrence { expr: String, after: Timestamp },
}

/// `[daemon]`: settings of `cspguard daemon`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// 5-field crontab expression in the config's `timezone` (default `"0 * * * *"`).
    pub schedule: String,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            schedule: DEFAULT_SCHEDULE.to_owned(),
        }
    }
}

impl DaemonConfig {
    /// Check the schedule expression.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        Schedule::parse(&self.schedule, TimeZone::UTC).map(|_| ())
    }
}

/// A parsed schedule in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    expr: String,
    cron: croner::Cron,
    tz: TimeZone,
}

impl Schedule {
    /// Parse a 5-field crontab expression (seconds and years are refused) for zone `tz`.
    pub fn parse(expr: &str, tz: TimeZone) -> Result<Schedule, ScheduleError> {
        let invalid = |reason: String| ScheduleError::Invalid {
            expr: expr.to_owned(),
            reason,
        };
        if expr.split_whitespace().count() != 5 {
            return Err(invalid(format!(
                "expected 5 fields, found {}",
                expr.split_whitespace().count()
            )));
        }
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .year(croner::parser::Year::Disallowed)
            .build();
        let cron = parser.parse(expr).map_err(|e| invalid(e.to_string()))?;
        Ok(Schedule {
            expr: expr.to_owned(),
            cron,
            tz,
        })
    }

    /// Parse with a zone given by IANA name.
    pub fn parse_in(expr: &str, zone: &str) -> Result<Schedule, ScheduleError> {
        let tz = TimeZone::get(zone).map_err(|_| ScheduleError::UnknownZone(zone.to_owned()))?;
        Self::parse(expr, tz)
    }

    /// The expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The zone the expression is read in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The first tick strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Result<Timestamp, ScheduleError> {
        let none = || ScheduleError::NoOccurrence {
            expr: self.expr.clone(),
            after,
        };
        let mut civil = self.tz.to_datetime(after);
        for _ in 0..MAX_CANDIDATES {
            let wall = self.next_wall_clock(civil).ok_or_else(none)?;
            let instant = self.resolve(wall).ok_or_else(none)?;
            if instant > after {
                return Ok(instant);
            }
            civil = wall;
        }
        Err(none())
    }

    /// The next wall-clock time strictly after `civil` that the expression matches.
    fn next_wall_clock(&self, civil: DateTime) -> Option<DateTime> {
        let naive = to_chrono(civil)?;
        let next = self
            .cron
            .find_next_occurrence(&naive.and_utc(), false)
            .ok()?;
        from_chrono(next.naive_utc())
    }

    /// The instant of a matching wall-clock time: itself; the first occurrence in a fold; the
    /// moment the clocks jump for a time skipped by a gap.
    fn resolve(&self, wall: DateTime) -> Option<Timestamp> {
        match self.tz.to_ambiguous_zoned(wall).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(wall).ok(),
            AmbiguousOffset::Fold { before, after } => {
                let a = before.to_timestamp(wall).ok()?;
                let b = after.to_timestamp(wall).ok()?;
                Some(a.min(b))
            }
            AmbiguousOffset::Gap { after, .. } => {
                // Read with the offset after the change, the time lies before the transition.
                let probe = after.to_timestamp(wall).ok()?;
                self.tz.following(probe).next().map(|t| t.timestamp())
            }
        }
    }
}

fn to_chrono(dt: DateTime) -> Option<chrono::NaiveDateTime> {
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::from(dt.year()),
        u32::try_from(dt.month()).ok()?,
        u32::try_from(dt.day()).ok()?,
    )?;
    let time = chrono::NaiveTime::from_hms_opt(
        u32::try_from(dt.hour()).ok()?,
        u32::try_from(dt.minute()).ok()?,
        u32::try_from(dt.second()).ok()?,
    )?;
    Some(chrono::NaiveDateTime::new(date, time))
}

fn from_chrono(n: chrono::NaiveDateTime) -> Option<DateTime> {
    use chrono::{Datelike as _, Timelike as _};
    DateTime::new(
        i16::try_from(n.year()).ok()?,
        i8::try_from(n.month()).ok()?,
        i8::try_from(n.day()).ok()?,
        i8::try_from(n.hour()).ok()?,
        i8::try_from(n.minute()).ok()?,
        i8::try_from(n.second()).ok()?,
        0,
    )
    .ok()
}

/// What the daemon should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run one cycle now. `due` is the tick it stands for; `missed` counts the further ticks
    /// between `due` and now that are folded into this one run (0 when on time).
    RunNow { due: Timestamp, missed: u32 },
    /// Nothing is due: sleep until this instant, then decide again.
    WaitUntil(Timestamp),
}

/// Decide, given when the last cycle started (`None`: never) and now.
///
/// Without a previous run the daemon waits for the next tick. After one, the first tick after
/// it is due; if that tick is already past, exactly one cycle runs now, however many ticks were
/// missed.
pub fn decide(
    schedule: &Schedule,
    last_run: Option<Timestamp>,
    now: Timestamp,
) -> Result<Decision, ScheduleError> {
    let Some(last) = last_run else {
        return Ok(Decision::WaitUntil(schedule.next_after(now)?));
    };
    let due = schedule.next_after(last)?;
    if due > now {
        return Ok(Decision::WaitUntil(due));
    }
    let mut missed = 0u32;
    let mut t = due;
    while missed < 1000 {
        match schedule.next_after(t) {
            Ok(n) if n <= now => {
                missed += 1;
                t = n;
            }
            _ => break,
        }
    }
    Ok(Decision::RunNow { due, missed })
}

/// Time, as the daemon loop sees it: the real clock in production, a fake one in tests.
pub trait Clock {
    /// The current instant.
    fn now(&self) -> Timestamp;
    /// Complete at (or after) `until`.
    fn sleep_until(&self, until: Timestamp) -> impl Future<Output = ()>;
}

/// The system clock and Tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    async fn sleep_until(&self, until: Timestamp) {
        // Re-check after each sleep: the host may have been suspended, or the clock stepped.
        loop {
            let left = until.duration_since(Timestamp::now());
            if left.is_zero() || left.is_negative() {
                return;
            }
            let d = std::time::Duration::try_from(left).unwrap_or(std::time::Duration::ZERO);
            // Wake at least once a minute so a stepped wall clock is noticed.
            tokio::time::sleep(d.min(std::time::Duration::from_secs(60))).await;
        }
    }
}

/// Why [`run_loop`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopEnd {
    /// Shutdown was requested (SIGTERM/SIGINT); the running cycle, if any, finished first.
    Shutdown,
    /// The schedule has no further occurrence.
    NoMoreTicks,
}

/// One scheduled cycle, as the loop reports it to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// The tick the cycle stands for.
    pub due: Timestamp,
    /// When the cycle started.
    pub started: Timestamp,
    /// Ticks folded into this one because they were missed.
    pub missed: u32,
}

/// Run `job` on `schedule` until `shutdown` completes.
///
/// `last_run` is when the previous cycle started (from the ledger), so a daemon restarted after
/// a missed tick catches up once. `run_first` runs one cycle at once before following the
/// schedule. Cycles run one after the other, never concurrently. `shutdown` is polled only while
/// waiting: a running cycle is always finished, then the loop returns.
pub async fn run_loop<C, S, J, F>(
    schedule: &Schedule,
    clock: &C,
    mut last_run: Option<Timestamp>,
    run_first: bool,
    shutdown: S,
    mut job: J,
) -> Result<LoopEnd, ScheduleError>
where
    C: Clock,
    S: Future<Output = ()>,
    J: FnMut(Tick) -> F,
    F: Future<Output = ()>,
{
    let mut shutdown = std::pin::pin!(shutdown);
    let stop_requested = |s: &mut std::pin::Pin<&mut S>| {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        s.as_mut().poll(&mut cx).is_ready()
    };
    let mut pending_first = run_first;
    loop {
        if stop_requested(&mut shutdown) {
            return Ok(LoopEnd::Shutdown);
        }
        let now = clock.now();
        let decision = if pending_first {
            pending_first = false;
            Decision::RunNow {
                due: now,
                missed: 0,
            }
        } else {
            match decide(schedule, last_run, now) {
                Ok(d) => d,
                Err(ScheduleError::NoOccurrence { .. }) => return Ok(LoopEnd::NoMoreTicks),
                Err(e) => return Err(e),
            }
        };
        match decision {
            Decision::RunNow { due, missed } => {
                let started = clock.now();
                if missed > 0 {
                    tracing::warn!(
                        due = %due,
                        missed,
                        "catching up once for missed scheduled runs"
                    );
                }
                job(Tick {
                    due,
                    started,
                    missed,
                })
                .await;
                last_run = Some(started);
            }
            Decision::WaitUntil(at) => {
                tracing::info!(next = %at.to_zoned(schedule.time_zone().clone()), "next run");
                tokio::select! {
                    () = clock.sleep_until(at) => {
                        // The tick is due; decide again (the loop also guarantees no burst).
                        if last_run.is_none() {
                            last_run = Some(previous_instant(at));
                        }
                    }
                    () = &mut shutdown => return Ok(LoopEnd::Shutdown),
                }
            }
        }
    }
}

/// The instant just before `t`, so that `t` itself counts as the next tick.
fn previous_instant(t: Timestamp) -> Timestamp {
    t.checked_sub(jiff::SignedDuration::from_nanos(1))
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn hourly_in_utc() {
        let s = Schedule::parse_in("0 * * * *", "UTC").unwrap();
        assert_eq!(
            s.next_after(ts("2026-01-01T10:00:00Z")).unwrap(),
            ts("2026-01-01T11:00:00Z")
        );
        assert_eq!(
            s.next_after(ts("2026-01-01T10:59:59Z")).unwrap(),
            ts("2026-01-01T11:00:00Z")
        );
    }

    #[test]
    fn six_fields_and_garbage_are_refused() {
        for bad in ["0 0 * * * *", "* * *", "61 * * * *", "nonsense here a b c"] {
            assert!(Schedule::parse_in(bad, "UTC").is_err(), "{bad}");
        }
    }

    #[test]
    fn impossible_date_has_no_occurrence() {
        let s = Schedule::parse_in("0 0 30 2 *", "UTC").unwrap();
        assert!(matches!(
            s.next_after(ts("2026-01-01T00:00:00Z")),
            Err(ScheduleError::NoOccurrence { .. })
        ));
    }
}
