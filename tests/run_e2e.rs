//! `cspguard run` end to end: the real binary against the simulator and an embedded SMTP server
//! (STARTTLS + AUTH, the test CA in `tests/fixtures/tls/`), with a temporary ledger.

mod support;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use cspguard::sim::scenario;
use support::config::{OPS, SMTP_PASSWORD, SMTP_USER, TZ};
use support::noon_today as now;
use support::world::World;

/// The scripted tenant (three quiet customers) and its receivables at `now`, mail through the
/// embedded server (`smtp`) or to a port where nothing listens yet (`smtp_down`).
async fn world(now: Timestamp, smtp: Smtp) -> World {
    let tz = TimeZone::get(TZ).expect("tz");
    let s = scenario::demo_tenant(now, &tz, 3);
    let b = World::builder()
        .dataset(s.dataset)
        .clock(now)
        .receivables(&s.receivables_csv);
    match smtp {
        Smtp::Up => b.smtp(),
        Smtp::Down => b.smtp_down(),
    }
    .start()
    .await
}

/// Whether the mail server is up when the world starts.
enum Smtp {
    Up,
    Down,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_run_delivers_localized_notices_alerts_and_one_digest_exactly_once() {
    let now = now();
    let w = world(now, Smtp::Up).await;

    w.run(now, &[], 0).await;
    let mails = w.smtp().received();
    assert!(
        mails
            .iter()
            .all(|m| m.tls && m.auth_user.as_deref() == Some(SMTP_USER))
    );

    // One dunning notice per late customer, in the customer's language.
    let notice_to = |domain: &str| {
        mails
            .iter()
            .filter(|m| m.to().contains(domain))
            .collect::<Vec<_>>()
    };
    let fabrikam = notice_to("fabrikamab.example");
    assert_eq!(fabrikam.len(), 1, "Fabrikam gets one reminder");
    let tailspin = notice_to("tailspintoyskk.example");
    assert_eq!(tailspin.len(), 1);
    let ja_subject = tailspin[0].subject();
    assert!(
        ja_subject
            .chars()
            .any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)
                || ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "Japanese subject expected for ja-JP: {ja_subject}"
    );
    let woodgrove = notice_to("woodgrovekorea.example");
    assert_eq!(woodgrove.len(), 1);
    assert!(
        woodgrove[0]
            .subject()
            .chars()
            .any(|c| ('\u{ac00}'..='\u{d7af}').contains(&c)),
        "Korean subject expected: {}",
        woodgrove[0].subject()
    );
    assert!(
        notice_to("litwareinc.example").is_empty(),
        "the payer who paid gets nothing"
    );

    // Ops alerts and exactly one digest to the ops team.
    let ops: Vec<_> = mails.iter().filter(|m| m.to().contains(OPS)).collect();
    let digests: Vec<_> = ops
        .iter()
        .filter(|m| m.subject().contains("digest"))
        .collect();
    assert_eq!(
        digests.len(),
        1,
        "one digest: {:?}",
        ops.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );
    // Critical findings alert the ops team grouped (issue 14): one email per rule family and
    // severity (here fraud and budget; activity before the first run is baseline).
    let alerts: Vec<_> = ops
        .iter()
        .filter(|m| m.subject().starts_with("[cspguard CRITICAL]"))
        .collect();
    assert!(
        alerts.len() >= 2,
        "critical findings alert the ops team: {:?}",
        ops.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );

    // A second run the same day sends nothing new: no duplicate notice, alert or digest.
    let before = w.smtp().received().len();
    w.run(
        now.checked_add(SignedDuration::from_mins(10))
            .expect("time"),
        &[],
        0,
    )
    .await;
    assert_eq!(w.smtp().received().len(), before, "nothing is sent twice");

    // Every message has a distinct Message-ID.
    let mut ids: Vec<String> = w
        .smtp()
        .received()
        .iter()
        .map(|m| m.mail().message_id())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), before);
    assert!(
        w.dir()
            .join("state/reports")
            .read_dir()
            .expect("reports")
            .count()
            == 1
    );
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_for_one_run_then_up_delivers_the_same_emails_exactly_once() {
    // The mail server's port is free, with nothing listening on it.
    let now = now();
    let mut w = world(now, Smtp::Down).await;

    // Through the binary: what the process prints must not leak the SMTP password.
    let down = w.run_binary(now, &[]).await;
    assert_eq!(
        down.code,
        Some(3),
        "a run whose emails failed is degraded:\n{}\n{}",
        down.stdout,
        down.stderr
    );
    assert!(down.stderr.contains("failed:"), "{}", down.stderr);
    assert!(!down.stderr.contains(SMTP_PASSWORD) && !down.stdout.contains(SMTP_PASSWORD));

    w.start_smtp().await;
    let later = now
        .checked_add(SignedDuration::from_hours(1))
        .expect("time");
    w.run(later, &[], 0).await;
    let first_batch = w.smtp().received().len();
    assert!(
        first_batch >= 5,
        "the pending emails went out: {first_batch}"
    );
    let again = w
        .run_in_process(
            later
                .checked_add(SignedDuration::from_hours(1))
                .expect("time"),
            &[],
        )
        .await;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(w.smtp().received().len(), first_batch, "and only once");
    let reminders = w.smtp().received_to("fabrikamab.example").len();
    assert_eq!(reminders, 1);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_sends_only_the_digest_and_records_no_action() {
    let now = now();
    let w = world(now, Smtp::Up).await;
    let out = w.run(now, &["--dry-run"], 0).await;
    let mails = w.smtp().received();
    assert_eq!(mails.len(), 1, "only the digest leaves the machine");
    assert_eq!(mails[0].to(), OPS);
    assert!(
        out.stdout.contains("would be recorded (dry-run)"),
        "{}",
        out.stdout
    );
    // The ledger holds no customer action.
    let history = w.cli(now, &["history", "--format", "json"]).await;
    assert!(
        !history.stdout.contains("customer_notice"),
        "{}",
        history.stdout
    );
    w.shutdown().await;
}

/// A run that died between claiming a notice and marking it (the crash window) never sends it
/// again on its own: the next run marks it uncertain; after `cspguard retry` it goes out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_interrupted_by_a_crash_is_uncertain_then_sent_once_after_retry() {
    use cspguard::ledger::ActionStatus;

    let now = now();
    let mut w = world(now, Smtp::Up).await;
    // A dry run sends today's digest first, so the later runs only deal with the notices. Then a
    // notify run against a mail server that is down records every notice as failed (to be
    // retried), and the test plays a run that claims one of them and dies before marking it.
    let first = w.run_in_process(now, &["--dry-run"]).await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    w.stop_smtp().await;
    let down = w
        .run_in_process(
            now.checked_add(SignedDuration::from_mins(1)).expect("t"),
            &[],
        )
        .await;
    assert_eq!(down.code, Some(3), "{}", down.stderr);
    let key = "notice/00000000-0000-4000-8000-000000000001/reminder-1/INV-1001";
    let id = {
        let ledger = w.ledger();
        let row = ledger
            .action_by_key(key)
            .expect("read")
            .expect("the reminder is recorded");
        // The backoff after the failed attempt has passed by the next run below; claim it as a
        // run would and "crash" before marking it.
        let later = now.checked_add(SignedDuration::from_hours(2)).expect("t");
        let claimed = ledger.claim(row.id, later).expect("claim");
        assert!(claimed.is_some(), "claimable after its backoff");
        row.id
    };

    // The crashed process never ran again; start a server on a new port and point the config
    // at it.
    w.move_smtp().await;
    let after = now.checked_add(SignedDuration::from_hours(3)).expect("t");
    let rerun = w.run_in_process(after, &[]).await;
    assert!(matches!(rerun.code, Some(0) | Some(3)), "{}", rerun.stderr);
    let to_fabrikam = |w: &World| w.smtp().received_to("fabrikamab.example").len();
    assert_eq!(
        to_fabrikam(&w),
        0,
        "an uncertain notice is never resent on its own"
    );
    {
        let row = w.ledger().action(id).expect("read").expect("row");
        assert_eq!(row.status, ActionStatus::Uncertain);
    }

    let retry = w.cli(after, &["retry", &id.to_string()]).await;
    assert_eq!(retry.code, Some(0), "{}", retry.stderr);
    let next = after.checked_add(SignedDuration::from_mins(5)).expect("t");
    let resent = w.run_in_process(next, &[]).await;
    assert!(
        matches!(resent.code, Some(0) | Some(3)),
        "{}",
        resent.stderr
    );
    assert_eq!(
        to_fabrikam(&w),
        1,
        "sent exactly once after a person retried it"
    );
    let again = w
        .run_in_process(
            next.checked_add(SignedDuration::from_mins(5)).expect("t"),
            &[],
        )
        .await;
    assert!(matches!(again.code, Some(0) | Some(3)), "{}", again.stderr);
    assert_eq!(to_fabrikam(&w), 1);
    w.shutdown().await;
}
