//! A stop during a run strands nothing: `cspguard run` gets a real SIGTERM while the embedded
//! SMTP server holds the reply to a message's DATA. The message in flight finishes and is marked
//! done, no further action is claimed, the digest waits, the run row is closed `degraded` with
//! the reason, and the process exits 3 with "stopped by SIGTERM" in its summary.

mod support;

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use jiff::tz::TimeZone;

use cspguard::ledger::ActionStatus;
use cspguard::sim::scenario;
use support::config::TZ;
use support::noon_today as now;
use support::smtp::Hold;
use support::world::{World, smtp_options};

/// A bound on each wait, so a broken build fails instead of hanging (never a timing assertion).
const BOUND: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_send_finishes_the_message_in_flight_and_claims_nothing_more() {
    let now = now();
    let tz = TimeZone::get(TZ).expect("tz");
    let s = scenario::demo_tenant(now, &tz, 3);
    let hold = Hold::default();
    let mut options = smtp_options();
    options.hold = Some(hold.clone());
    let w = World::builder()
        .dataset(s.dataset)
        .clock(now)
        .receivables(&s.receivables_csv)
        .smtp_with(options)
        .start()
        .await;

    let mut child = w
        .command(now, &["run"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cspguard run");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    // The first message's DATA is in; its reply is held: the run is mid-send.
    tokio::time::timeout(BOUND, hold.data_seen())
        .await
        .expect("the run never sent a message");
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) with a pid this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "send SIGTERM");
    // The process took the stop request (it logs after setting it) before the reply goes out.
    let mut err_text = String::new();
    loop {
        let line = lines
            .recv_timeout(BOUND)
            .unwrap_or_else(|e| panic!("no stop acknowledged ({e}); stderr so far:\n{err_text}"));
        err_text.push_str(&line);
        err_text.push('\n');
        if line.contains("SIGTERM received") {
            break;
        }
    }
    hold.release();

    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait for cspguard");
    err_text.extend(lines.try_iter().map(|l| l + "\n"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{err_text}");
    assert!(stdout.contains("stopped by SIGTERM"), "{stdout}");
    assert!(stdout.contains("outcome degraded"), "{stdout}");

    // Exactly the message in flight went out; nothing else (no further action, no digest).
    assert_eq!(w.smtp().received().len(), 1, "{stdout}\n{err_text}");
    let ledger = w.ledger();
    let actions = ledger.actions(None, None).expect("actions");
    let status_of = |st: ActionStatus| actions.iter().filter(|a| a.status == st).count();
    assert_eq!(status_of(ActionStatus::Done), 1, "{actions:#?}");
    assert_eq!(status_of(ActionStatus::Executing), 0, "{actions:#?}");
    assert_eq!(status_of(ActionStatus::Uncertain), 0, "{actions:#?}");
    assert!(
        status_of(ActionStatus::Planned) > 0,
        "the rest wait for the next run: {actions:#?}"
    );

    let run = ledger.recent_runs(1).expect("runs").remove(0);
    assert_eq!(run.outcome.as_deref(), Some("degraded"), "{run:?}");
    // The run ends on the run's clock (the injected `now` plus the real time it took), not on
    // the machine's: a run never ends days after it began.
    let took = run
        .finished_at
        .map(|f| f.duration_since(run.started_at))
        .expect("finished");
    assert!(
        took >= jiff::SignedDuration::ZERO && took < jiff::SignedDuration::from_mins(10),
        "{run:?}"
    );
    assert_eq!(run.started_at, now, "{run:?}");
    assert!(
        run.errors.iter().any(|e| e.contains("stopped by SIGTERM")),
        "{run:?}"
    );
    assert_eq!(run.counts["stopped"], "stopped by SIGTERM", "{run:?}");

    // The next run takes the rest and sends the digest; nothing is stranded.
    w.run(now, &[], 0).await;
    let after = w.ledger().actions(None, None).expect("actions");
    assert!(
        after.iter().all(|a| a.status != ActionStatus::Uncertain),
        "{after:#?}"
    );
    w.shutdown().await;
}
