//! `cspguard daemon` scheduling: the pure schedule (next tick, catch-up decision) across time
//! zones, daylight-saving changes and weekday fields, the loop driven by a fake clock (no real
//! waiting anywhere), and the binary's clean exit on SIGTERM.

mod support;

use std::cell::RefCell;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::rc::Rc;

use jiff::{SignedDuration, Timestamp};

use cspguard::schedule::{Clock, Decision, LoopEnd, Schedule, Tick, decide, run_loop};
use support::config::Secret;
use support::world::{UNREACHABLE, World};

fn ts(s: &str) -> Timestamp {
    s.parse()
        .unwrap_or_else(|e| panic!("bad timestamp {s}: {e}"))
}

fn sched(expr: &str, zone: &str) -> Schedule {
    Schedule::parse_in(expr, zone).unwrap_or_else(|e| panic!("{expr} in {zone}: {e}"))
}

/// The first `n` ticks after `from`.
fn ticks(s: &Schedule, from: &str, n: usize) -> Vec<Timestamp> {
    let mut t = ts(from);
    (0..n)
        .map(|_| {
            t = s.next_after(t).expect("a next tick");
            t
        })
        .collect()
}

fn all(list: &[&str]) -> Vec<Timestamp> {
    list.iter().map(|s| ts(s)).collect()
}

// ---------------------------------------------------------------------------------------------
// the pure schedule
// ---------------------------------------------------------------------------------------------

#[test]
fn stockholm_spring_forward_skipped_time_fires_once_when_the_clocks_jump() {
    // 2026-03-29 02:30 does not exist in Stockholm (02:00 CET -> 03:00 CEST at 01:00 UTC).
    let s = sched("30 2 * * *", "Europe/Stockholm");
    assert_eq!(
        ticks(&s, "2026-03-27T12:00:00Z", 3),
        all(&[
            "2026-03-28T01:30:00Z", // 02:30 CET
            "2026-03-29T01:00:00Z", // the jump: 03:00 CEST
            "2026-03-30T00:30:00Z", // 02:30 CEST
        ])
    );
}

#[test]
fn stockholm_fall_back_repeated_time_fires_once_at_its_first_occurrence() {
    // 2026-10-25 02:30 happens twice (03:00 CEST -> 02:00 CET at 01:00 UTC).
    let s = sched("30 2 * * *", "Europe/Stockholm");
    assert_eq!(
        ticks(&s, "2026-10-23T12:00:00Z", 3),
        all(&[
            "2026-10-24T00:30:00Z", // 02:30 CEST
            "2026-10-25T00:30:00Z", // 02:30 CEST, the first of the two
            "2026-10-26T01:30:00Z", // 02:30 CET
        ])
    );
    // Asked from inside the repeated hour (02:10 CET, after the first 02:30 passed), the
    // second 02:30 is not a new tick.
    assert_eq!(
        s.next_after(ts("2026-10-25T01:10:00Z")).expect("next"),
        ts("2026-10-26T01:30:00Z")
    );
}

#[test]
fn hourly_job_follows_the_wall_clock_across_both_changes() {
    let s = sched("30 * * * *", "Europe/Stockholm");
    // Fall back: 02:30 local fires once; the next is 03:30 CET.
    assert_eq!(
        ticks(&s, "2026-10-24T23:00:00Z", 4),
        all(&[
            "2026-10-24T23:30:00Z", // 01:30 CEST
            "2026-10-25T00:30:00Z", // 02:30 CEST
            "2026-10-25T02:30:00Z", // 03:30 CET
            "2026-10-25T03:30:00Z", // 04:30 CET
        ])
    );
    // Spring forward: 02:30 is skipped and fires at the jump; then 03:30 CEST.
    assert_eq!(
        ticks(&s, "2026-03-29T00:00:00Z", 3),
        all(&[
            "2026-03-29T00:30:00Z", // 01:30 CET
            "2026-03-29T01:00:00Z", // 03:00 CEST, for the skipped 02:30
            "2026-03-29T01:30:00Z", // 03:30 CEST
        ])
    );
}

#[test]
fn weekday_fields_count_monday_as_one() {
    // 2026-11-18 is a Wednesday.
    let monday = sched("0 9 * * 1", "America/New_York");
    assert_eq!(
        ticks(&monday, "2026-11-18T12:00:00Z", 2),
        all(&["2026-11-23T14:00:00Z", "2026-11-30T14:00:00Z"])
    );
    let workdays = sched("0 9 * * 1-5", "Europe/Stockholm");
    assert_eq!(
        ticks(&workdays, "2026-11-19T12:00:00Z", 3),
        all(&[
            "2026-11-20T08:00:00Z", // Friday
            "2026-11-23T08:00:00Z", // Monday
            "2026-11-24T08:00:00Z", // Tuesday
        ])
    );
    let sunday = sched("0 9 * * 0", "UTC");
    let named = sched("0 9 * * SUN", "UTC");
    assert_eq!(
        ticks(&sunday, "2026-11-18T00:00:00Z", 1),
        all(&["2026-11-22T09:00:00Z"])
    );
    assert_eq!(
        ticks(&named, "2026-11-18T00:00:00Z", 1),
        ticks(&sunday, "2026-11-18T00:00:00Z", 1)
    );
}

#[test]
fn schedules_are_read_in_their_own_time_zone() {
    let cases = [
        ("Asia/Kolkata", "2026-06-01T03:30:00Z"),        // +05:30
        ("America/New_York", "2026-05-31T13:00:00Z"),    // EDT, same day
        ("Pacific/Chatham", "2026-05-31T20:15:00Z"),     // +12:45: the UTC day before
        ("Australia/Lord_Howe", "2026-05-31T22:30:00Z"), // +10:30 standard time
        ("UTC", "2026-06-01T09:00:00Z"),
    ];
    for (zone, want) in cases {
        let s = sched("0 9 * * *", zone);
        assert_eq!(
            s.next_after(ts("2026-05-31T12:00:00Z")).expect("next"),
            ts(want),
            "{zone}"
        );
    }
    // Lord Howe moves its clocks by 30 minutes: 2026-10-04 02:00 -> 02:30 local (15:30 UTC).
    let s = sched("15 2 * * *", "Australia/Lord_Howe");
    assert_eq!(
        ticks(&s, "2026-10-02T12:00:00Z", 3),
        all(&[
            "2026-10-02T15:45:00Z", // 02:15 +10:30
            "2026-10-03T15:30:00Z", // the jump, for the skipped 02:15
            "2026-10-04T15:15:00Z", // 02:15 +11:00
        ])
    );
}

#[test]
fn invalid_schedules_are_refused_with_the_expression() {
    for bad in [
        "",
        "0 * * *",
        "0 0 * * * *",
        "60 * * * *",
        "* 24 * * *",
        "0 0 * * 8x",
    ] {
        let e = Schedule::parse_in(bad, "UTC")
            .err()
            .unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
    }
}

#[test]
fn decide_runs_once_after_missed_ticks_and_waits_otherwise() {
    let s = sched("0 * * * *", "UTC");
    // Never ran: wait for the next tick.
    assert_eq!(
        decide(&s, None, ts("2026-01-01T10:20:00Z")).expect("decide"),
        Decision::WaitUntil(ts("2026-01-01T11:00:00Z"))
    );
    // On time: the tick after the last run is in the future.
    assert_eq!(
        decide(
            &s,
            Some(ts("2026-01-01T10:00:05Z")),
            ts("2026-01-01T10:20:00Z")
        )
        .expect("decide"),
        Decision::WaitUntil(ts("2026-01-01T11:00:00Z"))
    );
    // Down for five hours: one run now stands for all five missed ticks.
    assert_eq!(
        decide(
            &s,
            Some(ts("2026-01-01T10:00:05Z")),
            ts("2026-01-01T15:20:00Z")
        )
        .expect("decide"),
        Decision::RunNow {
            due: ts("2026-01-01T11:00:00Z"),
            missed: 4
        }
    );
}

// ---------------------------------------------------------------------------------------------
// the loop, with a fake clock
// ---------------------------------------------------------------------------------------------

/// A clock that jumps to whatever instant it is asked to sleep until.
#[derive(Clone)]
struct FakeClock {
    now: Rc<RefCell<Timestamp>>,
    sleeps: Rc<RefCell<Vec<Timestamp>>>,
}

impl FakeClock {
    fn at(s: &str) -> FakeClock {
        FakeClock {
            now: Rc::new(RefCell::new(ts(s))),
            sleeps: Rc::new(RefCell::new(Vec::new())),
        }
    }

    fn advance(&self, d: SignedDuration) {
        let mut now = self.now.borrow_mut();
        *now = now.checked_add(d).expect("time moves on");
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    async fn sleep_until(&self, until: Timestamp) {
        self.sleeps.borrow_mut().push(until);
        let mut now = self.now.borrow_mut();
        if until > *now {
            *now = until;
        }
    }
}

/// What the job saw: (tick, the instant it finished).
type Log = Rc<RefCell<Vec<(Tick, Timestamp)>>>;

/// Run the loop until `stop_after` jobs have run; each job takes `job_takes` of fake time.
async fn drive(
    schedule: &Schedule,
    clock: &FakeClock,
    last_run: Option<Timestamp>,
    run_first: bool,
    stop_after: usize,
    job_takes: SignedDuration,
) -> (LoopEnd, Vec<(Tick, Timestamp)>) {
    let log: Log = Rc::new(RefCell::new(Vec::new()));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = Rc::new(RefCell::new(Some(tx)));
    let shutdown = async move {
        let _ = rx.await;
    };
    let end = {
        let log = Rc::clone(&log);
        let clock2 = clock.clone();
        run_loop(
            schedule,
            clock,
            last_run,
            run_first,
            shutdown,
            move |tick| {
                let log = Rc::clone(&log);
                let tx = Rc::clone(&tx);
                let clock = clock2.clone();
                async move {
                    clock.advance(job_takes);
                    log.borrow_mut().push((tick, clock.now()));
                    if log.borrow().len() == stop_after
                        && let Some(tx) = tx.borrow_mut().take()
                    {
                        // A signal arrives while the job is still running; the job goes on.
                        let _ = tx.send(());
                        clock.advance(SignedDuration::from_secs(1));
                    }
                }
            },
        )
        .await
        .expect("the loop ends cleanly")
    };
    let log = log.borrow().clone();
    (end, log)
}

#[tokio::test(flavor = "current_thread")]
async fn loop_waits_for_each_tick_then_stops_after_the_running_job() {
    let s = sched("0 * * * *", "UTC");
    let clock = FakeClock::at("2026-01-01T10:20:00Z");
    let (end, log) = drive(&s, &clock, None, false, 3, SignedDuration::from_secs(30)).await;
    assert_eq!(end, LoopEnd::Shutdown);
    let started: Vec<Timestamp> = log.iter().map(|(t, _)| t.started).collect();
    assert_eq!(
        started,
        all(&[
            "2026-01-01T11:00:00Z",
            "2026-01-01T12:00:00Z",
            "2026-01-01T13:00:00Z"
        ])
    );
    assert!(log.iter().all(|(t, _)| t.missed == 0));
    // The shutdown came during the third job: no fourth job, and no sleep after it.
    assert_eq!(
        clock.sleeps.borrow().last().copied(),
        Some(ts("2026-01-01T13:00:00Z"))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_restart_after_missed_ticks_catches_up_once_not_in_a_burst() {
    let s = sched("0 * * * *", "UTC");
    let clock = FakeClock::at("2026-01-01T15:20:00Z");
    let last = Some(ts("2026-01-01T10:00:02Z"));
    let (_, log) = drive(&s, &clock, last, false, 3, SignedDuration::from_secs(30)).await;
    let got: Vec<(Timestamp, u32)> = log.iter().map(|(t, _)| (t.started, t.missed)).collect();
    assert_eq!(
        got,
        vec![
            (ts("2026-01-01T15:20:00Z"), 4), // one catch-up run for 11:00..15:00
            (ts("2026-01-01T16:00:00Z"), 0),
            (ts("2026-01-01T17:00:00Z"), 0),
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_job_longer_than_the_interval_never_overlaps_and_catches_up_once() {
    let s = sched("0 * * * *", "UTC");
    let clock = FakeClock::at("2026-01-01T09:59:00Z");
    let (_, log) = drive(&s, &clock, None, false, 3, SignedDuration::from_mins(150)).await;
    for pair in log.windows(2) {
        let (_, previous_end) = pair[0];
        let (next, _) = pair[1];
        assert!(
            next.started >= previous_end,
            "a tick started at {} before the previous ended at {previous_end}",
            next.started
        );
    }
    let got: Vec<(Timestamp, u32)> = log.iter().map(|(t, _)| (t.started, t.missed)).collect();
    assert_eq!(
        got,
        vec![
            (ts("2026-01-01T10:00:00Z"), 0),
            (ts("2026-01-01T12:30:00Z"), 1), // 11:00 and 12:00 missed: one run
            (ts("2026-01-01T15:00:00Z"), 2), // 13:00, 14:00 and 15:00: one run
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn run_at_start_runs_at_once_then_follows_the_schedule() {
    let s = sched("30 2 * * *", "Europe/Stockholm");
    let clock = FakeClock::at("2026-10-24T12:00:00Z");
    let (_, log) = drive(&s, &clock, None, true, 3, SignedDuration::from_secs(5)).await;
    let started: Vec<Timestamp> = log.iter().map(|(t, _)| t.started).collect();
    assert_eq!(
        started,
        all(&[
            "2026-10-24T12:00:00Z",
            "2026-10-25T00:30:00Z", // the repeated 02:30 fires once
            "2026-10-26T01:30:00Z",
        ])
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_shutdown_before_any_tick_runs_nothing() {
    let s = sched("0 * * * *", "UTC");
    let clock = FakeClock::at("2026-01-01T10:20:00Z");
    let end = run_loop(&s, &clock, None, true, async {}, |_tick: Tick| async {
        panic!("no job may run after shutdown")
    })
    .await
    .expect("loop");
    assert_eq!(end, LoopEnd::Shutdown);
}

// ---------------------------------------------------------------------------------------------
// the binary
// ---------------------------------------------------------------------------------------------

#[test]
fn daemon_exits_0_on_sigterm_and_sigint_while_waiting() {
    for signal in ["-TERM", "-INT"] {
        let mut w = World::offline(UNREACHABLE, &Secret::env("UNUSED_SECRET"), None);
        w.configure(|c| {
            c.daemon_schedule("0 3 1 1 *");
        });
        let config = w.config_path();
        let mut child = Command::new(env!("CARGO_BIN_EXE_cspguard"))
            .args(["--log-format", "text", "--config"])
            .arg(&config)
            .arg("daemon")
            .env_remove("RUST_LOG")
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the daemon");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        // The "next run" line comes after the signal handlers are installed.
        for line in lines.by_ref() {
            let line = line.expect("stderr line");
            let ready = line.contains("next run");
            seen.push(line);
            if ready {
                break;
            }
        }
        assert!(
            seen.iter().any(|l| l.contains("daemon started")),
            "no start line: {seen:?}"
        );
        let next = seen.last().cloned().unwrap_or_default();
        assert!(next.contains("-01-01T03:00:00+01:00"), "{next}");
        let status = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let exit = child.wait().expect("wait");
        assert_eq!(exit.code(), Some(0), "{signal}: {rest:?}");
        assert!(
            rest.iter().any(|l| l.contains("daemon stopped")),
            "{signal}: {rest:?}"
        );
    }
}

#[test]
fn daemon_refuses_an_invalid_schedule_with_exit_2() {
    let mut w = World::offline(UNREACHABLE, &Secret::env("X"), None);
    w.configure(|c| {
        c.daemon_schedule("0 0 * * * *");
    });
    let config = w.config_path();
    let out = Command::new(env!("CARGO_BIN_EXE_cspguard"))
        .arg("--config")
        .arg(&config)
        .arg("daemon")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("[daemon]") && stderr.contains("0 0 * * * *"),
        "{stderr}"
    );
}
