//! Operator tables tell the truth in a terminal (issue 13), through the real binary after real
//! runs against the simulator's scripted tenant: `status`, `history` and `approve` fit 100
//! columns (measured on the printed lines), name customers by company, show times in the
//! configured zone, and `history` puts notices and actions in separate sections; `--wide` shows
//! every column.

mod support;
mod truth;

use support::cli::Output as Out;
use truth::{at, cli, noon, run, world};

fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

fn ok(out: &Out) -> &str {
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    &out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_history_and_approve_fit_100_columns_with_names_and_local_times() {
    let now = noon();
    let w = world(now, "notify", "").await;
    for days in [0, 6, 13] {
        // The simulator's clock stays at day 0, so later runs cannot read the activity log
        // (degraded, exit 3); everything else is collected and acted on.
        let (code, out) = run(&w, at(now, days * 24)).await;
        assert!(matches!(code, Some(0 | 3)), "{out}");
    }
    let later = at(now, 13 * 24);

    let status = cli(&w, later, &["status"]).await;
    let status = ok(&status);
    assert!(
        widest(status) <= 100,
        "status is {} wide:\n{status}",
        widest(status)
    );
    assert!(status.contains("Pending approvals"), "{status}");
    assert!(
        status.contains("Woodgrove Korea"),
        "customers by name:\n{status}"
    );
    assert!(
        !status.contains("| 00000000-0000-4000-8000-000000000003"),
        "no tenant id in the customer column:\n{status}"
    );
    // Europe/Stockholm: the runs' times are shown in CET, not UTC.
    let runs = status.split("Pending approvals").next().unwrap_or_default();
    assert!(runs.contains(" CET") && !runs.contains("UTC"), "{runs}");

    let wide = cli(&w, later, &["status", "--wide"]).await;
    let wide = ok(&wide);
    assert!(widest(wide) > 100, "--wide shows every column:\n{wide}");
    assert!(
        wide.contains("Woodgrove Korea (00000000-0000-4000-8000-000000000003)"),
        "{wide}"
    );
    assert!(
        wide.contains("suspend/00000000-0000-4000-8000-000000000003/"),
        "keys: {wide}"
    );

    let history = cli(&w, later, &["history"]).await;
    let history = ok(&history);
    assert!(
        widest(history) <= 100,
        "history is {} wide:\n{history}",
        widest(history)
    );
    let (notices, actions) = history
        .split_once("\nActions\n")
        .unwrap_or_else(|| panic!("two sections:\n{history}"));
    assert!(notices.starts_with("Notices (emails sent)"), "{history}");
    assert!(notices.contains("final-notice (ko)") && notices.contains("Woodgrove Korea"));
    assert!(!notices.contains("| suspend "), "no actions among notices");
    assert!(actions.contains("| suspend "), "{actions}");
    assert!(
        !actions.contains("sent to billing@"),
        "no notices among actions"
    );

    let json = cli(&w, later, &["status", "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(ok(&json)).expect("json");
    let id = v["pending_approvals"][0]["id"]
        .as_i64()
        .expect("a pending approval");
    let approve = cli(&w, later, &["approve", &id.to_string()]).await;
    let approve = ok(&approve);
    assert!(
        widest(approve) <= 100,
        "approve is {} wide:\n{approve}",
        widest(approve)
    );
    assert!(approve.contains("approved"), "{approve}");
}
