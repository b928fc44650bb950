//! Issue 13, previews — `plan --at DATE` and `fraud list` end to end: the real binary against
//! the simulator's scripted tenant and a temporary ledger. Both are read-only.

mod support;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use cspguard::sim::scenario::{self, ids};
use support::config::TZ;
use support::noon_today as now;
use support::world::{World, WorldBuilder};

/// The scripted tenant at `now` with its receivables.
fn scripted(now: Timestamp) -> WorldBuilder {
    let tz = TimeZone::get(TZ).expect("tz");
    let s = scenario::demo_tenant(now, &tz, 3);
    World::builder()
        .dataset(s.dataset)
        .clock(now)
        .receivables(&s.receivables_csv)
}

/// The keys of the notices `plan extra...` shows for `customer`, and the plan's `at`.
async fn notices_planned(
    w: &World,
    now: Timestamp,
    customer: &str,
    extra: &[&str],
) -> (Vec<String>, String) {
    let mut args = vec!["plan", "--format", "json"];
    args.extend_from_slice(extra);
    let out = w.cli(now, &args).await;
    assert!(matches!(out.code, Some(0 | 3)), "{}", out.show());
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).expect("plan JSON");
    let keys = plan["plan"]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["customer"] == customer)
        .filter_map(|a| a["key"].as_str())
        .filter(|k| k.starts_with("notice/"))
        .map(str::to_owned)
        .collect();
    (keys, plan["at"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_at_a_later_date_shows_the_final_notice_due_then_and_changes_nothing() {
    let now = now();
    let w = scripted(now).start().await;
    // Reminder 2's invoice is 9 days overdue: its final notice is due in 7 days.
    let customer = ids::REMINDER_2;
    let final_notice = |keys: &[String]| keys.iter().any(|k| k.contains("/final-notice/"));

    let (today, _) = notices_planned(&w, now, customer, &[]).await;
    assert!(!today.is_empty(), "today plans reminder 2: {today:?}");
    assert!(!final_notice(&today), "no final notice today: {today:?}");

    for at in ["+7 days", "+7d"] {
        let (later, at_text) = notices_planned(&w, now, customer, &["--at", at]).await;
        assert!(final_notice(&later), "--at {at}: {later:?}");
        let at_time: Timestamp = at_text.parse().expect("at is a time");
        let local = at_time.to_zoned(TimeZone::get(TZ).expect("tz"));
        assert_eq!((local.hour(), local.minute()), (9, 0), "{local}");
        assert_eq!(
            local.date(),
            now.to_zoned(TimeZone::get(TZ).expect("tz"))
                .date()
                .checked_add(jiff::Span::new().days(7))
                .expect("date")
        );
    }
    let date = now
        .to_zoned(TimeZone::get(TZ).expect("tz"))
        .date()
        .checked_add(jiff::Span::new().days(7))
        .expect("date")
        .to_string();
    let (by_date, _) = notices_planned(&w, now, customer, &["--at", &date]).await;
    assert!(final_notice(&by_date), "--at {date}: {by_date:?}");
    let rfc = now
        .checked_add(jiff::SignedDuration::from_hours(24 * 7))
        .expect("time")
        .to_string();
    let (by_time, _) = notices_planned(&w, now, customer, &["--at", &rfc]).await;
    assert!(final_notice(&by_time), "--at {rfc}: {by_time:?}");

    // The table says which day it plans for.
    let table = w.cli(now, &["plan", "--at", "+7 days"]).await;
    assert!(
        table.stdout.contains("Plan for a run at") && table.stdout.contains(&date),
        "{}",
        table.show()
    );
    // Nothing was written: not even a state database.
    assert!(!w.state_path().exists(), "plan --at changes nothing");

    let bad = w.cli(now, &["plan", "--at", "next tuesday"]).await;
    assert_eq!(bad.code, Some(2), "{}", bad.show());
    assert!(bad.stderr.contains("RFC 3339"), "{}", bad.show());
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fraud_list_names_the_customer_and_shows_what_cspguard_did() {
    let now = now();
    let w = scripted(now).start().await;
    // The empty state database a first run leaves (App+User needs it to keep the rotated
    // refresh token; fraud events need App+User).
    let state = w.state_path();
    cspguard::ledger::ensure_state_dir(&state).expect("state dir");
    drop(cspguard::ledger::RunLock::acquire(&state).expect("lock file"));
    drop(cspguard::ledger::Ledger::open(&state).expect("state database"));

    let before = w.cli(now, &["fraud", "list", "--format", "json"]).await;
    assert_eq!(before.code, Some(0), "{}", before.show());
    let events: serde_json::Value = serde_json::from_str(&before.stdout).expect("JSON");
    let events = events.as_array().expect("a list");
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["customer_tenant_id"], ids::FRAUD);
    assert_eq!(e["customer_name"], "Fourth Coffee");
    assert_eq!(e["status"], "Active");
    assert!(e["finding"].is_null(), "no run yet: {e}");
    assert_eq!(e["actions"].as_array().map(Vec::len), Some(0), "{e}");

    w.run(now, &[], 0).await;
    let later = now
        .checked_add(jiff::SignedDuration::from_mins(5))
        .expect("time");
    let after = w.cli(later, &["fraud", "list", "--format", "json"]).await;
    assert_eq!(after.code, Some(0), "{}", after.show());
    let events: serde_json::Value = serde_json::from_str(&after.stdout).expect("JSON");
    let e = &events[0];
    assert!(
        e["finding"].as_str().is_some_and(|f| !f.is_empty()),
        "the run recorded a finding: {e}"
    );

    let table = w.cli(later, &["fraud", "list"]).await;
    assert_eq!(table.code, Some(0), "{}", table.show());
    for needle in [
        "Fourth Coffee",
        "7a1b0000-0000-4000-8000-000000000009",
        "Active",
        "finding:",
    ] {
        assert!(table.stdout.contains(needle), "{needle}:\n{}", table.show());
    }
    w.shutdown().await;
}

/// The commands listed in a `--help` text, with their descriptions (continuation lines joined).
fn commands(help: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let section = help
        .split("Commands:")
        .nth(1)
        .and_then(|s| s.split("Options:").next())
        .unwrap_or_default();
    for line in section.lines() {
        if line.starts_with("  ") && !line.starts_with("   ") {
            let (name, text) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
            out.push((name.to_owned(), text.trim().to_owned()));
        } else if let Some(last) = out.last_mut() {
            last.1.push(' ');
            last.1.push_str(line.trim());
        }
    }
    out.retain(|(name, _)| name != "help");
    out
}

#[test]
fn every_command_help_says_what_it_changes() {
    let run = |args: &[&str]| {
        let out = support::cli::run(&support::cli::args(args), &[], &[]);
        assert_eq!(out.code, Some(0), "{}", out.show());
        out.stdout
    };
    let top = commands(&run(&["--help"]));
    assert!(top.len() > 15, "{top:?}");
    let mut all = Vec::new();
    for (name, text) in top {
        let help = run(&[&name, "--help"]);
        let sub = commands(&help);
        if sub.is_empty() {
            all.push((name, text));
        } else {
            all.extend(sub.into_iter().map(|(s, t)| (format!("{name} {s}"), t)));
        }
    }
    let says = |t: &str| {
        let t = t.to_lowercase();
        ["change", "writes", "write ", "records"]
            .iter()
            .any(|w| t.contains(w))
    };
    let silent: Vec<_> = all.iter().filter(|(_, t)| !says(t)).collect();
    assert!(
        silent.is_empty(),
        "these commands' --help does not say what they change: {silent:#?}"
    );
    assert!(all.iter().any(|(n, _)| n == "fraud list"), "{all:?}");
}
