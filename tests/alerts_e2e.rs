//! Alert hygiene end to end (issue 14): the real binary against the simulator and the embedded
//! SMTP server (STARTTLS + AUTH), a temporary ledger and the injected clock.
//!
//! - A first `notify` run on a 1,000-customer tenant sends at most 10 ops emails (one per alert
//!   group), every finding in them once; a rerun sends none; after `repeat_interval` (two hours
//!   here, so every run stays on the simulator's day) each group that still fires repeats once.
//! - `cspguard silence add|list|expire` records who and when, `status` shows the silence, a run
//!   keeps matching findings out of the ops emails and the digest lists them.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use cspguard::ledger::{ActionStatus, LedgerView};
use cspguard::sim::scenario;
use support::config::{OPS, TZ};
use support::noon_today as now;
use support::smtp::Received;
use support::world::World;

/// The ops alert group emails among `mails` (not the digest, not customer notices).
fn group_emails(mails: &[Received]) -> Vec<&Received> {
    mails
        .iter()
        .filter(|m| m.to() == OPS && !m.subject().starts_with("cspguard digest"))
        .collect()
}

/// The fingerprints an ops email lists.
fn fingerprints(m: &Received) -> Vec<String> {
    let mail = m.mail();
    let text = &mail.parts[0].body;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Fingerprint: "))
        .map(|s| s.trim().to_owned())
        .collect()
}

fn hours(t: Timestamp, h: i64) -> Timestamp {
    t.checked_add(SignedDuration::from_hours(h)).expect("time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_customers_first_run_is_at_most_ten_emails_rerun_none_repeat_once_per_group() {
    let now = now();
    let tz = TimeZone::get(TZ).expect("tz");
    let tenant = cspguard::bench::tenant(7, 1_000, now, &tz);
    let w = World::builder()
        .dataset(tenant.dataset)
        .clock(now)
        .receivables(&tenant.receivables_csv)
        .smtp()
        // Without the baseline every old finding is a candidate: the bound is what is tested.
        // A two-hour repeat interval keeps every run on the simulator's day.
        .configure(|c, _| {
            c.set("alerts", "baseline", "false")
                .set("alerts", "repeat_hours", "2");
        })
        .start()
        .await;

    // First run: at most ten ops emails, each finding in exactly one of them.
    w.run(now, &[], 0).await;
    let mails = w.smtp().received();
    let first = group_emails(&mails);
    assert!(
        (1..=10).contains(&first.len()),
        "{} ops emails: {:?}",
        first.len(),
        first.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );
    let mut emailed: BTreeMap<String, usize> = BTreeMap::new();
    for m in &first {
        for fp in fingerprints(m) {
            *emailed.entry(fp).or_default() += 1;
        }
    }
    assert!(emailed.values().all(|n| *n == 1), "a finding in two emails");
    let ledger = w.ledger();
    let critical: Vec<_> = ledger
        .open_findings()
        .expect("findings")
        .into_iter()
        .filter(|f| f.severity == "critical")
        .collect();
    assert!(
        critical.len() > first.len(),
        "{} critical findings fold into {} emails",
        critical.len(),
        first.len()
    );
    eprintln!(
        "first run: {} ops emails for {} critical findings ({} emailed)",
        first.len(),
        critical.len(),
        emailed.len()
    );
    for f in &critical {
        let inhibited_family = f.rule.starts_with("budget.") || f.rule.starts_with("anomaly.");
        assert!(
            emailed.contains_key(&f.fingerprint) || inhibited_family,
            "{} neither emailed nor inhibited",
            f.fingerprint
        );
        assert_eq!(
            f.last_notified.is_some(),
            emailed.contains_key(&f.fingerprint),
            "{} notified iff emailed",
            f.fingerprint
        );
    }
    let first_groups: BTreeSet<String> = ledger
        .actions_in_status(&[ActionStatus::Done])
        .expect("actions")
        .into_iter()
        .filter(|a| a.kind == "ops_alert_group")
        .map(|a| group_of(&a.key))
        .collect();
    assert_eq!(first_groups.len(), first.len());

    // A rerun an hour later: nothing new, nothing sent.
    w.run(hours(now, 1), &[], 0).await;
    let after_rerun = w.smtp().received();
    assert_eq!(
        group_emails(&after_rerun).len(),
        first.len(),
        "rerun sent ops mail"
    );

    // After the repeat interval: each group that still fires repeats exactly once.
    let later = hours(now, 2);
    w.run(later, &[], 0).await;
    let all = w.smtp().received();
    let repeats = &group_emails(&all)[first.len()..];
    assert!(!repeats.is_empty(), "still-firing groups repeat");
    let ledger = w.ledger();
    let repeated: Vec<String> = ledger
        .actions_changed_since(later)
        .expect("actions")
        .into_iter()
        .filter(|a| a.kind == "ops_alert_group" && a.status == ActionStatus::Done)
        .map(|a| group_of(&a.key))
        .collect();
    assert_eq!(repeated.len(), repeats.len());
    let distinct: BTreeSet<&String> = repeated.iter().collect();
    assert_eq!(
        distinct.len(),
        repeated.len(),
        "a group emailed twice in one run"
    );
    assert!(repeated.len() <= 10);
    eprintln!("repeat run: {} ops emails", repeats.len());
    assert!(
        repeats
            .iter()
            .filter(|m| m.subject().contains("still firing"))
            .count()
            >= 1
    );
    // And an hour later: nothing.
    w.run(hours(now, 3), &[], 0).await;
    assert_eq!(
        group_emails(&w.smtp().received()).len(),
        first.len() + repeats.len()
    );
    w.shutdown().await;
}

/// The group of a group email's key `alert-group/{group}/{slot}`.
fn group_of(key: &str) -> String {
    let rest = key.strip_prefix("alert-group/").expect("group key");
    rest.rsplit_once('/').map_or(rest, |(g, _)| g).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_are_recorded_shown_in_status_and_the_digest_and_keep_findings_out_of_ops_mail() {
    let now = now();
    let tz = TimeZone::get(TZ).expect("tz");
    let s = scenario::demo_tenant(now, &tz, 3);
    let w = World::builder()
        .dataset(s.dataset)
        .clock(now)
        .receivables(&s.receivables_csv)
        .smtp()
        .env("USER", "alice")
        .start()
        .await;

    let until = hours(now, 72).to_zoned(tz.clone()).date().to_string();
    let add = w
        .cli(
            now,
            &[
                "silence",
                "add",
                "--match",
                "rule=budget.*",
                "--until",
                &until,
                "--reason",
                "quarterly budget review",
            ],
        )
        .await;
    assert_eq!(add.code, Some(0), "{}", add.show());
    assert!(add.stdout.contains("rule=budget.*"), "{}", add.stdout);
    assert!(add.stdout.contains("alice"), "{}", add.stdout);
    let bad = w
        .cli(
            now,
            &[
                "silence",
                "add",
                "--match",
                "colour=red",
                "--until",
                &until,
                "--reason",
                "x",
            ],
        )
        .await;
    assert_eq!(bad.code, Some(2), "{}", bad.show());
    assert!(bad.stderr.contains("colour"), "{}", bad.stderr);

    let status = w.cli(now, &["status"]).await;
    assert!(
        status.stdout.contains("Active silences"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("quarterly budget review"),
        "{}",
        status.stdout
    );

    w.run(now, &[], 0).await;
    let mails = w.smtp().received();
    let ops = group_emails(&mails);
    assert!(!ops.is_empty());
    assert!(
        ops.iter()
            .flat_map(|m| fingerprints(m))
            .all(|fp| !fp.starts_with("budget.")),
        "a silenced budget finding was emailed"
    );
    let digest = mails
        .iter()
        .find(|m| m.subject().starts_with("cspguard digest"))
        .expect("digest");
    let text = &digest.mail().parts[0].body;
    assert!(text.contains("ALERTS HELD BACK"), "{text}");
    assert!(text.contains("silenced by #1"), "{text}");
    assert!(text.contains("quarterly budget review"), "{text}");

    let expire = w.cli(now, &["silence", "expire", "1"]).await;
    assert_eq!(expire.code, Some(0), "{}", expire.show());
    assert!(
        expire.stdout.contains("expired by alice"),
        "{}",
        expire.stdout
    );
    let list = w.cli(now, &["silence", "list"]).await;
    assert!(list.stdout.contains("(no silences)"), "{}", list.stdout);
    let all = w
        .cli(now, &["silence", "list", "--all", "--format", "json"])
        .await;
    let v: serde_json::Value = serde_json::from_str(&all.stdout).expect("json");
    assert_eq!(v[0]["created_by"], "alice");
    assert_eq!(v[0]["expired_by"], "alice");
    w.shutdown().await;
}
