//! Crash tests that really kill the process (SIGKILL) between claim and perform, and between
//! perform and mark, then rerun: the side effect (a line appended to a file) happens at most
//! once and the action shows as uncertain. Also: a killed run's lock does not block the next.
//!
//! The test binary re-executes itself to run `crash_child`, which is a no-op without its env vars.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cspguard::ledger::{ActionStatus, Ledger, NewAction, RunLock};
use jiff::Timestamp;
use serde_json::json;

const ENV_DB: &str = "CSPGUARD_CRASH_DB";
const ENV_STOP: &str = "CSPGUARD_CRASH_STOP";
const ENV_EFFECT: &str = "CSPGUARD_CRASH_EFFECT";
const ENV_READY: &str = "CSPGUARD_CRASH_READY";
const KEY: &str = "email:C-1:INV-42:stage-1";

fn t(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn action() -> NewAction {
    NewAction {
        key: KEY.to_string(),
        kind: "append_line".to_string(),
        customer: Some("C-1".to_string()),
        payload: json!({"line": "reminder sent"}),
        requires_approval: false,
        reason: "test".to_string(),
    }
}

/// The side effect a test can count.
fn perform(effect: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(effect)
        .expect("open effect file");
    writeln!(f, "{line}").expect("append effect");
    f.sync_all().expect("sync effect");
}

/// One executor run: lock, recover, plan, execute what is executable. `stop` pauses (forever)
/// at a step, after signalling readiness.
fn executor_run(db: &Path, effect: &Path, now: Timestamp, stop: Option<(&str, &Path)>) {
    let _lock = RunLock::acquire(db).expect("run lock");
    let ledger = Ledger::open(db).expect("open ledger");
    ledger.recover_interrupted(now).expect("recover");
    ledger.insert_action(&action(), now).expect("plan");
    for a in ledger.executable(now).expect("executable") {
        let Some(claimed) = ledger.claim(a.id, now).expect("claim") else {
            continue;
        };
        pause_if(stop, "after_claim");
        perform(effect, claimed.payload["line"].as_str().unwrap_or("?"));
        pause_if(stop, "after_perform");
        ledger
            .mark_done(claimed.id, &json!({"ok": true}), now)
            .expect("mark");
    }
}

fn pause_if(stop: Option<(&str, &Path)>, step: &str) {
    if let Some((at, ready)) = stop
        && at == step
    {
        std::fs::write(ready, std::process::id().to_string()).expect("ready file");
        // Block until killed: stdin is a pipe the parent never writes to or closes.
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(3);
    }
}

/// Child entry point; does nothing unless the parent set the env vars.
#[test]
fn crash_child() {
    let (Ok(db), Ok(stop), Ok(effect), Ok(ready)) = (
        std::env::var(ENV_DB),
        std::env::var(ENV_STOP),
        std::env::var(ENV_EFFECT),
        std::env::var(ENV_READY),
    ) else {
        return;
    };
    executor_run(
        Path::new(&db),
        Path::new(&effect),
        t("2025-01-01T08:00:00Z"),
        Some((stop.as_str(), Path::new(&ready))),
    );
}

struct Spawned {
    child: Child,
    _stdin: std::process::ChildStdin,
}

fn spawn_child(db: &Path, stop: &str, effect: &Path, ready: &Path) -> Spawned {
    let exe = std::env::current_exe().expect("current exe");
    let mut child = Command::new(exe)
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ENV_DB, db)
        .env(ENV_STOP, stop)
        .env(ENV_EFFECT, effect)
        .env(ENV_READY, ready)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdin = child.stdin.take().expect("child stdin");
    Spawned {
        child,
        _stdin: stdin,
    }
}

/// Readiness handshake: poll for the ready file (bounded), failing if the child exits first.
fn wait_ready(s: &mut Spawned, ready: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready.exists() {
        if let Some(status) = s.child.try_wait().expect("try_wait") {
            panic!("child exited before becoming ready: {status}");
        }
        assert!(Instant::now() < deadline, "child never became ready");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(mut s: Spawned) {
    s.child.kill().expect("SIGKILL child");
    let status = s.child.wait().expect("reap child");
    assert!(!status.success());
}

fn lines(effect: &Path) -> usize {
    std::fs::read_to_string(effect)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn crash_at(stop: &str) -> (PathBuf, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("state.db");
    let effect = dir.path().join("effect.txt");
    let ready = dir.path().join("ready");
    let mut child = spawn_child(&db, stop, &effect, &ready);
    wait_ready(&mut child, &ready);
    kill(child);
    (db, effect, dir)
}

fn rerun_and_check(db: &Path, effect: &Path, expected_lines: usize) {
    // The rerun takes the lock the killed child held, recovers, replans, executes.
    executor_run(db, effect, t("2025-01-02T08:00:00Z"), None);
    executor_run(db, effect, t("2025-01-03T08:00:00Z"), None);
    assert_eq!(lines(effect), expected_lines, "side effect must not repeat");
    let ledger = Ledger::open(db).expect("reopen");
    let row = ledger
        .action_by_key(KEY)
        .expect("read")
        .expect("row exists");
    assert_eq!(row.status, ActionStatus::Uncertain);
    assert_eq!(row.attempts, 1);
    assert_eq!(ledger.actions(None, None).expect("all").len(), 1);
}

#[test]
fn sigkill_between_claim_and_perform_leaves_uncertain_and_no_effect() {
    let (db, effect, _dir) = crash_at("after_claim");
    assert_eq!(lines(&effect), 0);
    rerun_and_check(&db, &effect, 0);
}

#[test]
fn sigkill_between_perform_and_mark_leaves_uncertain_and_one_effect() {
    let (db, effect, _dir) = crash_at("after_perform");
    assert_eq!(lines(&effect), 1);
    rerun_and_check(&db, &effect, 1);
}

#[test]
fn a_run_without_crash_performs_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("state.db");
    let effect = dir.path().join("effect.txt");
    executor_run(&db, &effect, t("2025-01-01T08:00:00Z"), None);
    executor_run(&db, &effect, t("2025-01-02T08:00:00Z"), None);
    assert_eq!(lines(&effect), 1);
    let ledger = Ledger::open(&db).expect("reopen");
    let row = ledger.action_by_key(KEY).expect("read").expect("row");
    assert_eq!(row.status, ActionStatus::Done);
}
