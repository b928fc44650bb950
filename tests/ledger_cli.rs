//! The ledger commands, called through `ledger::admin::run` with requests read from command-line
//! words (as `cspguard status ...` would get them) and an in-memory writer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cspguard::exit::ExitStatus as _;
use cspguard::ledger::admin::{
    self as ledger_cmds, AdminError as LedgerCmdError, AdminRequest, ApproveRequest,
    HistoryRequest, PauseRequest, RejectRequest, ResumeRequest, RetryRequest, StatusRequest,
};
use cspguard::ledger::{ActionStatus, Ledger, LedgerError, NewAction, NewNotice, message_id_for};
use cspguard::output::OutputFormat;
use jiff::Timestamp;
use serde_json::{Value, json};

/// The request the command words `args` ask for: the subcommand, its positional words, and
/// `--name value` options.
fn request(args: &[&str]) -> AdminRequest {
    let (cmd, rest) = args.split_first().expect("a subcommand");
    let mut words: Vec<String> = Vec::new();
    let mut opts: BTreeMap<&str, String> = BTreeMap::new();
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        match w.strip_prefix("--") {
            Some(name) => {
                let value = it
                    .next()
                    .unwrap_or_else(|| panic!("--{name} needs a value"));
                opts.insert(name, (*value).to_owned());
            }
            None => words.push((*w).to_owned()),
        }
    }
    let format = match opts.get("format").map(String::as_str) {
        Some("json") => OutputFormat::Json,
        _ => OutputFormat::Table,
    };
    let opt = |name: &str| opts.get(name).cloned();
    let first = || words.first().cloned().expect("a positional argument");
    match *cmd {
        "status" => AdminRequest::Status(StatusRequest {
            runs: opt("runs").map_or(5, |r| r.parse().unwrap()),
            format,
        }),
        "history" => AdminRequest::History(HistoryRequest {
            customer: opt("customer"),
            since: opt("since").map(|d| d.parse().unwrap()),
            format,
        }),
        "pause" => AdminRequest::Pause(PauseRequest {
            customer: first(),
            invoice: opt("invoice"),
            until: opt("until").expect("--until").parse().unwrap(),
            reason: opt("reason").expect("--reason"),
            format,
        }),
        "resume" => AdminRequest::Resume(ResumeRequest {
            customer: first(),
            invoice: opt("invoice"),
            format,
        }),
        "approve" => AdminRequest::Approve(ApproveRequest {
            ids: words.clone(),
            format,
        }),
        "reject" => AdminRequest::Reject(RejectRequest {
            ids: words.clone(),
            reason: opt("reason").expect("--reason"),
            format,
        }),
        "retry" => AdminRequest::Retry(RetryRequest {
            id: first(),
            format,
        }),
        other => panic!("unknown ledger command {other}"),
    }
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const NOW: &str = "2025-02-01T09:00:00Z";

fn cli(path: &Path, args: &[&str]) -> Result<String, LedgerCmdError> {
    let mut out = Vec::new();
    let view = ledger_cmds::View {
        width: if args.contains(&"--wide") {
            ledger_cmds::Width::Wide
        } else {
            ledger_cmds::Width::Narrow
        },
        ..ledger_cmds::View::default()
    };
    let args: Vec<&str> = args.iter().copied().filter(|a| *a != "--wide").collect();
    ledger_cmds::run(request(&args), path, (t(NOW), "alice"), &view, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

fn json_of(path: &Path, args: &[&str]) -> Value {
    let mut v: Vec<&str> = args.to_vec();
    v.extend(["--format", "json"]);
    serde_json::from_str(&cli(path, &v).unwrap()).unwrap()
}

fn action(key: &str, customer: &str, approval: bool) -> NewAction {
    NewAction {
        key: key.into(),
        kind: if approval { "suspend" } else { "email" }.into(),
        customer: Some(customer.into()),
        payload: json!({}),
        requires_approval: approval,
        reason: format!("reason for {key}"),
    }
}

/// A state file with: #1 awaiting approval, #2 uncertain, #3 failed, #4 done (with a notice).
fn seeded() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut l = Ledger::open(&path).unwrap();
    l.set_retry_policy(cspguard::ledger::RetryPolicy {
        max_attempts: 1,
        ..Default::default()
    });
    let day1 = t("2025-01-10T06:00:00Z");
    // What a run saw: the customers and the imported invoices `pause` checks against.
    let known: Vec<cspguard::ledger::KnownCustomer> = (1..=9)
        .map(|i| cspguard::ledger::KnownCustomer {
            id: format!("C-{i}"),
            company_name: format!("Customer {i}"),
            domain: None,
        })
        .collect();
    l.record_known_customers(&known, day1).unwrap();
    l.record_known_invoices(&[("C-1".into(), "INV-7".into())], day1)
        .unwrap();
    let run = l.begin_run("notify", day1).unwrap();
    l.insert_action(&action("suspend:C-1", "C-1", true), day1)
        .unwrap();
    let b = l
        .insert_action(&action("email:C-2", "C-2", false), day1)
        .unwrap();
    l.claim(b.id, day1).unwrap();
    l.recover_interrupted(day1).unwrap();
    let c = l
        .insert_action(&action("email:C-3", "C-3", false), day1)
        .unwrap();
    l.claim(c.id, day1).unwrap();
    l.mark_failed(c.id, "smtp 550 mailbox unavailable", day1)
        .unwrap();
    let day2 = t("2025-01-20T06:00:00Z");
    let d = l
        .insert_action(&action("email:C-1:r1", "C-1", false), day2)
        .unwrap();
    l.claim(d.id, day2).unwrap();
    l.mark_done(d.id, &json!({"sent": true}), day2).unwrap();
    l.record_notice(
        &NewNotice {
            customer: Some("C-1".into()),
            recipient: "ap@c1.example".into(),
            template: "reminder-1".into(),
            locale: "en-GB".into(),
            message_id: message_id_for("email:C-1:r1", "example.com"),
            action_key: Some("email:C-1:r1".into()),
        },
        day2,
    )
    .unwrap();
    l.finish_run(run, "ok", &json!({"actions": 4}), &[], day2)
        .unwrap();
    (dir, path)
}

#[test]
fn status_lists_runs_approvals_uncertain_failed_and_holds() {
    let (_d, path) = seeded();
    cli(
        &path,
        &[
            "pause",
            "C-9",
            "--until",
            "2025-03-01",
            "--reason",
            "dispute",
        ],
    )
    .unwrap();
    let v = json_of(&path, &["status"]);
    assert_eq!(v["runs"][0]["mode"], "notify");
    assert_eq!(v["runs"][0]["outcome"], "ok");
    assert_eq!(v["pending_approvals"][0]["key"], "suspend:C-1");
    assert_eq!(v["uncertain"][0]["key"], "email:C-2");
    assert_eq!(v["failed"][0]["key"], "email:C-3");
    assert_eq!(v["holds"][0]["customer"], "C-9");
    let table = cli(&path, &["status"]).unwrap();
    for needle in ["Last runs", "Pending approvals", "smtp 550", "C-9"] {
        assert!(table.contains(needle), "missing {needle:?} in:\n{table}");
    }
    // Idempotency keys are long: only `--wide` shows them.
    let wide = cli(&path, &["status", "--wide"]).unwrap();
    for needle in ["suspend:C-1", "email:C-2", "smtp 550", "C-9"] {
        assert!(wide.contains(needle), "missing {needle:?} in:\n{wide}");
    }
}

#[test]
fn status_on_a_missing_state_file_is_a_clear_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let err = cli(&path, &["status"]).unwrap_err();
    assert!(
        matches!(err, LedgerCmdError::Ledger(LedgerError::Missing { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("state.db"));
    assert!(!path.exists());
}

#[test]
fn approve_records_who_and_when() {
    let (_d, path) = seeded();
    let v = json_of(&path, &["approve", "1"]);
    assert_eq!(v[0]["status"], "approved");
    assert_eq!(v[0]["approved_by"], "alice");
    assert_eq!(v[0]["approved_at"], NOW);
    let l = Ledger::open(&path).unwrap();
    assert_eq!(l.action(1).unwrap().unwrap().status, ActionStatus::Approved);
}

#[test]
fn approve_by_key_works_and_wrong_states_and_unknown_ids_are_clear() {
    let (_d, path) = seeded();
    let err = cli(&path, &["approve", "4"]).unwrap_err().to_string();
    assert!(
        err.contains("action 4") && err.contains("is done") && err.contains("approve"),
        "{err}"
    );
    let err = cli(&path, &["approve", "999"]).unwrap_err();
    assert!(err.to_string().contains("no action 999"), "{err}");
    assert_eq!(err.exit(), cspguard::exit::Exit::Config);
    // One bad id in a list changes nothing.
    assert!(cli(&path, &["approve", "suspend:C-1", "nope"]).is_err());
    let l = Ledger::open(&path).unwrap();
    assert_eq!(
        l.action(1).unwrap().unwrap().status,
        ActionStatus::AwaitingApproval
    );
    let out = cli(&path, &["approve", "suspend:C-1"]).unwrap();
    assert!(out.contains("Approved") && out.contains("alice"), "{out}");
}

#[test]
fn reject_needs_a_reason_and_records_it() {
    let (_d, path) = seeded();
    // The command line refuses `reject` without `--reason` (a usage error) before any state is read.
    let parsed = std::process::Command::new(env!("CARGO_BIN_EXE_cspguard"))
        .args(["--config", "/nonexistent/cspguard.toml", "reject", "1"])
        .output()
        .unwrap();
    assert_eq!(parsed.status.code(), Some(2), "a usage error exits 2");
    let stderr = String::from_utf8_lossy(&parsed.stderr);
    assert!(
        stderr.contains("--reason"),
        "names the missing option: {stderr}"
    );
    let v = json_of(&path, &["reject", "1", "--reason", "customer paid"]);
    assert_eq!(v[0]["status"], "cancelled");
    assert_eq!(v[0]["rejected_by"], "alice");
    assert_eq!(v[0]["rejection_reason"], "customer paid");
    assert!(cli(&path, &["reject", "1", "--reason", "again"]).is_err());
}

#[test]
fn retry_makes_uncertain_and_failed_eligible_again_but_not_others() {
    let (_d, path) = seeded();
    let v = json_of(&path, &["retry", "2"]);
    assert_eq!(v[0]["status"], "approved");
    assert_eq!(v[0]["retried_by"], "alice");
    let v = json_of(&path, &["retry", "email:C-3"]);
    assert_eq!(v[0]["status"], "approved");
    let err = cli(&path, &["retry", "4"]).unwrap_err().to_string();
    assert!(
        err.contains("is done") && err.contains("uncertain/failed"),
        "{err}"
    );
    let l = Ledger::open(&path).unwrap();
    let due: Vec<i64> = l.executable(t(NOW)).unwrap().iter().map(|a| a.id).collect();
    assert_eq!(due, vec![2, 3]);
}

#[test]
fn pause_and_resume_record_who_and_refuse_past_dates() {
    let (_d, path) = seeded();
    let err = cli(
        &path,
        &["pause", "C-1", "--until", "2025-01-31", "--reason", "x"],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("in the past") && err.contains("2025-01-31"),
        "{err}"
    );
    let v = json_of(
        &path,
        &[
            "pause",
            "C-1",
            "--invoice",
            "INV-7",
            "--until",
            "2025-02-15",
            "--reason",
            "dispute",
        ],
    );
    assert_eq!(v[0]["invoice"], "INV-7");
    assert_eq!(v[0]["placed_by"], "alice");
    assert_eq!(v[0]["until"], "2025-02-15");
    let v = json_of(&path, &["resume", "C-1", "--invoice", "INV-7"]);
    assert_eq!(v[0]["released_by"], "alice");
    let err = cli(&path, &["resume", "C-1"]).unwrap_err().to_string();
    assert!(err.contains("no active hold for customer C-1"), "{err}");
}

#[test]
fn history_shows_notices_and_actions_filtered_by_customer_and_date() {
    let (_d, path) = seeded();
    let v = json_of(&path, &["history", "--customer", "C-1"]);
    let entries = v.as_array().unwrap();
    let kinds: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["key"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("action", "suspend:C-1"),
            ("action", "email:C-1:r1"),
            ("notice", "email:C-1:r1"),
        ]
    );
    assert!(entries.iter().all(|e| e["customer"] == "C-1"));
    let v = json_of(&path, &["history", "--since", "2025-01-15"]);
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    let table = cli(&path, &["history"]).unwrap();
    assert!(
        table.contains("sent to ap@c1.example") && table.contains("uncertain"),
        "{table}"
    );
}

#[test]
fn current_os_user_is_never_empty() {
    assert!(!ledger_cmds::current_os_user().trim().is_empty());
}
