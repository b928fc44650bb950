//! `cspguard simulate` through the binary: the scripted scenario with a business clock, its
//! receivables export, the tenant id, and the fault options' bounds.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

/// The lines the simulator prints before "Press Ctrl-C to stop." (then it is killed).
fn banner(args: &[&str]) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cspguard"))
        .arg("simulate")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the simulator");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = Vec::new();
    // Bounded: the banner has about ten lines; the loop ends at its last line or at EOF.
    for line in BufReader::new(stdout).lines().take(50) {
        let line = line.expect("a line");
        let last = line.contains("Press Ctrl-C");
        lines.push(line);
        if last {
            break;
        }
    }
    child.kill().expect("stop the simulator");
    child.wait().expect("reaped");
    lines
}

#[test]
fn simulate_serves_the_scripted_tenant_at_a_business_clock_and_writes_its_receivables() {
    let dir = tempfile::tempdir().expect("temp dir");
    let export = dir.path().join("receivables.csv");
    let export_arg = export.display().to_string();
    let lines = banner(&[
        "--scenario",
        "scripted",
        "--clock",
        "2026-03-02T09:00:00Z",
        "--customers",
        "5",
        "--tenant-id",
        "partner-under-test",
        "--receivables-out",
        &export_arg,
    ]);
    let text = lines.join("\n");
    assert!(text.contains("Press Ctrl-C"), "{text}");
    assert!(text.contains("partner-under-test"), "the tenant id: {text}");
    assert!(text.contains("base URL:       http://127.0.0.1:"), "{text}");
    let csv = std::fs::read_to_string(&export).expect("the receivables export was written");
    assert!(csv.lines().count() > 3, "{csv}");
    assert!(csv.contains("INV-"), "the scripted invoices: {csv}");
    // The dates of the scripted export follow the business clock, not the wall clock.
    assert!(csv.contains("2026-0"), "dates around the clock: {csv}");
}

#[test]
fn simulate_refuses_a_fault_share_outside_zero_to_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_cspguard"))
        .args(["simulate", "--fault-server-error", "1.5"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("0.0-1.0"), "{stderr}");
}
