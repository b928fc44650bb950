//! The run lock: one run at a time per state file, the refusal names the holder's PID, and a
//! lock held by a SIGKILLed process does not block the next run.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cspguard::ledger::{LedgerError, RunLock};

const ENV_DB: &str = "CSPGUARD_LOCK_DB";
const ENV_READY: &str = "CSPGUARD_LOCK_READY";

/// Child entry point: hold the lock until killed. No-op without the env vars.
#[test]
fn lock_child() {
    let (Ok(db), Ok(ready)) = (std::env::var(ENV_DB), std::env::var(ENV_READY)) else {
        return;
    };
    let _lock = RunLock::acquire(Path::new(&db)).expect("child takes the lock");
    std::fs::write(&ready, "ready").expect("ready file");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    std::process::exit(3);
}

#[test]
fn two_runs_in_one_process_exactly_one_proceeds() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let first = RunLock::acquire(&db).expect("first run");
    match RunLock::acquire(&db) {
        Err(LedgerError::Locked { pid, path }) => {
            assert_eq!(pid, Some(std::process::id()));
            assert_eq!(path, RunLock::lock_path(&db));
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(first);
    RunLock::acquire(&db).expect("free again after drop");
}

#[test]
fn lock_path_is_beside_the_state_file() {
    assert_eq!(
        RunLock::lock_path(Path::new("/var/lib/cspguard/state.db")),
        Path::new("/var/lib/cspguard/state.db.lock")
    );
}

#[test]
fn second_process_is_refused_with_holder_pid_and_sigkill_frees_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let ready = dir.path().join("ready");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["lock_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ENV_DB, &db)
        .env(ENV_READY, &ready)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _stdin = child.stdin.take();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("child exited early: {status}");
        }
        assert!(Instant::now() < deadline, "child never became ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = RunLock::acquire(&db).expect_err("child holds the lock");
    match &err {
        LedgerError::Locked { pid, .. } => assert_eq!(*pid, Some(child.id())),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(err.to_string().contains(&child.id().to_string()), "{err}");
    assert_eq!(err.exit(), cspguard::exit::Exit::Locked);

    child.kill().unwrap();
    child.wait().unwrap();
    let lock = RunLock::acquire(&db).expect("stale lock of a killed process must not block");
    let text = std::fs::read_to_string(lock.path()).unwrap();
    assert_eq!(text.trim(), std::process::id().to_string());
}
