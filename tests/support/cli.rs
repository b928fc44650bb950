//! Running the real `cspguard` binary as a child process (test support, not shipped).
//!
//! Invariant: the child never inherits the test's logging, config or credential environment
//! (`RUST_LOG`, `CSPGUARD_CONFIG`, `CSPGUARD_LOG_FORMAT`, `CSPGUARD_TEST_NOW`, `JOURNAL_STREAM`,
//! `CREDENTIALS_DIRECTORY`); a test passes what it means explicitly.

use std::process::Command;

/// The environment a child does not inherit.
const CLEARED: &[&str] = &[
    "RUST_LOG",
    "CSPGUARD_CONFIG",
    "CSPGUARD_LOG_FORMAT",
    "CSPGUARD_TEST_NOW",
    "JOURNAL_STREAM",
    "CREDENTIALS_DIRECTORY",
];

/// The finished child: exit code and captured text.
#[derive(Debug, Clone)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Both streams, for searching.
    pub fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Output for assertion messages; only used where no secret can be in it.
    pub fn show(&self) -> String {
        format!(
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The binary with a clean environment plus `envs`; `cleared` names more variables to drop.
pub fn command(envs: &[(String, String)], cleared: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cspguard"));
    for name in CLEARED.iter().chain(cleared) {
        cmd.env_remove(name);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// Runs the binary to completion.
pub fn run(args: &[String], envs: &[(String, String)], cleared: &[&str]) -> Output {
    let out = command(envs, cleared)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run cspguard {args:?}: {e}"));
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the binary off the async runtime (a simulator or SMTP server is serving on it).
pub async fn run_async(
    args: Vec<String>,
    envs: Vec<(String, String)>,
    cleared: &'static [&'static str],
) -> Output {
    tokio::task::spawn_blocking(move || run(&args, &envs, cleared))
        .await
        .expect("the child-process task does not panic")
}

/// Owned arguments.
pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}
