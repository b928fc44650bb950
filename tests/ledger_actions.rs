//! Behaviour of the ledger's action outbox and the smaller tables, through the public API.

use cspguard::ledger::{
    ActionError, ActionStatus, Ledger, LedgerError, LedgerView, NewAction, NewNotice, RetryPolicy,
    message_id_for,
};
use jiff::{SignedDuration, Timestamp};
use rust_decimal_macros::dec;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

fn t(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn email(key: &str) -> NewAction {
    NewAction {
        key: key.to_string(),
        kind: "email".to_string(),
        customer: Some("C-1".to_string()),
        payload: json!({"template": "reminder-1"}),
        requires_approval: false,
        reason: "invoice 42 overdue 7 days".to_string(),
    }
}

fn suspend(key: &str) -> NewAction {
    NewAction {
        kind: "suspend".to_string(),
        requires_approval: true,
        ..email(key)
    }
}

#[test]
fn message_id_is_stable_and_rfc5322_shaped() {
    let id = message_id_for("dunning:C-1001:INV-42:stage-2", "mail.example.com");
    // Pinned: changing this breaks deduplication of resent notices across versions.
    assert_eq!(
        id,
        "<cspguard.6083706b01ac8e0f5ff5f97af6c76640@mail.example.com>"
    );
    assert_eq!(
        id,
        message_id_for("dunning:C-1001:INV-42:stage-2", "mail.example.com")
    );
    assert_ne!(
        id,
        message_id_for("dunning:C-1001:INV-42:stage-3", "mail.example.com")
    );
    let weird = message_id_for("k", "bad domain@");
    assert_eq!(weird.matches('@').count(), 1);
    assert!(!weird.contains(' '));
}

#[test]
fn insert_is_idempotent_and_returns_the_existing_row() {
    let l = Ledger::open_in_memory().unwrap();
    let first = l
        .insert_action(&email("k1"), t("2025-01-01T00:00:00Z"))
        .unwrap();
    assert_eq!(first.status, ActionStatus::Planned);
    let mut changed = email("k1");
    changed.reason = "something else".into();
    let again = l
        .insert_action(&changed, t("2025-01-02T00:00:00Z"))
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(l.actions(None, None).unwrap().len(), 1);
    let s = l
        .insert_action(&suspend("k2"), t("2025-01-01T00:00:00Z"))
        .unwrap();
    assert_eq!(s.status, ActionStatus::AwaitingApproval);
}

#[test]
fn claim_then_mark_done_happens_once() {
    let l = Ledger::open_in_memory().unwrap();
    let now = t("2025-01-01T08:00:00Z");
    let a = l.insert_action(&email("k1"), now).unwrap();
    assert_eq!(l.executable(now).unwrap().len(), 1);
    let claimed = l.claim(a.id, now).unwrap().expect("claimable");
    assert_eq!(claimed.status, ActionStatus::Executing);
    assert_eq!(claimed.attempts, 1);
    assert!(
        l.claim(a.id, now).unwrap().is_none(),
        "second claim must lose"
    );
    assert!(l.executable(now).unwrap().is_empty());
    l.mark_done(a.id, &json!({"message_id": "<x@y>"}), now)
        .unwrap();
    let row = l.action(a.id).unwrap().unwrap();
    assert_eq!(row.status, ActionStatus::Done);
    assert_eq!(row.result, Some(json!({"message_id": "<x@y>"})));
    assert!(l.claim(a.id, now).unwrap().is_none());
    assert!(matches!(
        l.mark_done(a.id, &json!(null), now),
        Err(LedgerError::InvalidState {
            status: ActionStatus::Done,
            ..
        })
    ));
    assert!(matches!(
        l.claim(999, now),
        Err(LedgerError::NotFound { .. })
    ));
}

#[test]
fn approval_is_required_before_a_destructive_action_runs() {
    let l = Ledger::open_in_memory().unwrap();
    let now = t("2025-01-01T08:00:00Z");
    let a = l.insert_action(&suspend("s1"), now).unwrap();
    assert!(l.executable(now).unwrap().is_empty());
    assert!(l.claim(a.id, now).unwrap().is_none());
    let approved = l.approve(a.id, "alice", now).unwrap();
    assert_eq!(approved.status, ActionStatus::Approved);
    assert_eq!(approved.approved_by.as_deref(), Some("alice"));
    assert_eq!(approved.approved_at, Some(now));
    assert!(matches!(
        l.approve(a.id, "bob", now),
        Err(LedgerError::InvalidState {
            status: ActionStatus::Approved,
            ..
        })
    ));
    assert_eq!(l.executable(now).unwrap()[0].id, a.id);
}

#[test]
fn reject_cancels_and_records_who_and_why() {
    let l = Ledger::open_in_memory().unwrap();
    let now = t("2025-01-01T08:00:00Z");
    let a = l.insert_action(&suspend("s1"), now).unwrap();
    let r = l
        .reject(a.id, "bob", "customer paid by phone", now)
        .unwrap();
    assert_eq!(r.status, ActionStatus::Cancelled);
    assert_eq!(r.rejected_by.as_deref(), Some("bob"));
    assert_eq!(
        r.rejection_reason.as_deref(),
        Some("customer paid by phone")
    );
    assert!(l.claim(a.id, now).unwrap().is_none());
    let msg = l.approve(a.id, "alice", now).unwrap_err().to_string();
    assert!(
        msg.contains("cancelled") && msg.contains("awaiting_approval"),
        "{msg}"
    );
}

#[test]
fn failures_back_off_exponentially_then_stay_failed() {
    let mut l = Ledger::open_in_memory().unwrap();
    l.set_retry_policy(RetryPolicy {
        max_attempts: 3,
        base_backoff: SignedDuration::from_mins(10),
        max_backoff: SignedDuration::from_hours(1),
    });
    let mut now = t("2025-01-01T08:00:00Z");
    let a = l.insert_action(&email("k1"), now).unwrap();

    l.claim(a.id, now).unwrap().unwrap();
    l.mark_failed(a.id, "smtp 451", now).unwrap();
    let row = l.action(a.id).unwrap().unwrap();
    assert_eq!(row.status, ActionStatus::Planned);
    assert_eq!(row.last_error.as_deref(), Some("smtp 451"));
    assert_eq!(row.next_attempt_at, Some(t("2025-01-01T08:10:00Z")));
    assert!(l.executable(now).unwrap().is_empty(), "not due yet");
    assert!(l.claim(a.id, now).unwrap().is_none(), "not due yet");

    now = t("2025-01-01T08:10:00Z");
    l.claim(a.id, now).unwrap().unwrap();
    l.mark_failed(a.id, "smtp 451", now).unwrap();
    let row = l.action(a.id).unwrap().unwrap();
    assert_eq!(
        row.next_attempt_at,
        Some(t("2025-01-01T08:30:00Z")),
        "doubled"
    );

    now = t("2025-01-01T08:30:00Z");
    l.claim(a.id, now).unwrap().unwrap();
    l.mark_failed(a.id, "smtp 550", now).unwrap();
    let row = l.action(a.id).unwrap().unwrap();
    assert_eq!(row.status, ActionStatus::Failed);
    assert_eq!(row.attempts, 3);
    assert!(l.executable(t("2030-01-01T00:00:00Z")).unwrap().is_empty());

    // A person looks and retries: eligible again, recorded.
    let r = l.retry(a.id, "carol", now).unwrap();
    assert_eq!(r.status, ActionStatus::Approved);
    assert_eq!(r.retried_by.as_deref(), Some("carol"));
    assert_eq!(l.executable(now).unwrap().len(), 1);
}

#[test]
fn backoff_is_capped() {
    let p = RetryPolicy {
        max_attempts: 50,
        base_backoff: SignedDuration::from_mins(15),
        max_backoff: SignedDuration::from_hours(24),
    };
    assert_eq!(p.backoff(1), SignedDuration::from_mins(15));
    assert_eq!(p.backoff(3), SignedDuration::from_hours(1));
    assert_eq!(p.backoff(40), SignedDuration::from_hours(24));
}

#[test]
fn a_failure_is_recorded_by_its_kind() {
    let l = Ledger::open_in_memory().unwrap();
    let now = t("2025-01-01T08:00:00Z");
    let cases = [
        (ActionError::transient("smtp 451"), ActionStatus::Planned),
        (ActionError::permanent("403 900115"), ActionStatus::Failed),
        (
            ActionError::uncertain("who suspended it?"),
            ActionStatus::Uncertain,
        ),
    ];
    for (i, (error, status)) in cases.into_iter().enumerate() {
        let a = l.insert_action(&email(&format!("k{i}")), now).unwrap();
        l.claim(a.id, now).unwrap().unwrap();
        l.mark_failure(a.id, &error, now).unwrap();
        let row = l.action(a.id).unwrap().unwrap();
        assert_eq!(row.status, status, "{error}");
        assert_eq!(row.last_error.as_deref(), Some(error.message.as_str()));
        assert_eq!(
            row.next_attempt_at.is_some(),
            status == ActionStatus::Planned
        );
        // Only an executing action can be marked.
        assert!(l.mark_failure(a.id, &error, now).is_err());
    }
    let later = t("2030-01-01T00:00:00Z");
    assert_eq!(
        l.executable(later).unwrap().len(),
        1,
        "only the transient one"
    );
}

#[test]
fn interrupted_actions_become_uncertain_and_are_never_repeated_automatically() {
    let l = Ledger::open_in_memory().unwrap();
    let now = t("2025-01-01T08:00:00Z");
    let a = l.insert_action(&email("k1"), now).unwrap();
    let b = l.insert_action(&email("k2"), now).unwrap();
    l.claim(a.id, now).unwrap().unwrap();
    let later = t("2025-01-02T08:00:00Z");
    let recovered = l.recover_interrupted(later).unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].id, a.id);
    assert_eq!(recovered[0].status, ActionStatus::Uncertain);
    assert!(
        recovered[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("interrupted")
    );
    let exec: Vec<i64> = l.executable(later).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(exec, vec![b.id]);
    assert!(l.claim(a.id, later).unwrap().is_none());
    // Re-planning the same key does not resurrect it.
    assert_eq!(
        l.insert_action(&email("k1"), later).unwrap().status,
        ActionStatus::Uncertain
    );
    assert!(l.recover_interrupted(later).unwrap().is_empty());
    // A late mark from the dead run is refused.
    assert!(l.mark_done(a.id, &json!({}), later).is_err());
}

#[test]
fn approvals_expire() {
    let l = Ledger::open_in_memory().unwrap();
    let old = t("2025-01-01T00:00:00Z");
    let a = l.insert_action(&suspend("old-wait"), old).unwrap();
    let b = l.insert_action(&suspend("old-approved"), old).unwrap();
    l.approve(b.id, "alice", t("2025-01-05T00:00:00Z")).unwrap();
    let c = l
        .insert_action(&suspend("fresh"), t("2025-01-06T00:00:00Z"))
        .unwrap();
    let e = l.insert_action(&email("mail"), old).unwrap();
    let expired = l.expire_approvals(t("2025-01-08T00:00:00Z"), 5).unwrap();
    let ids: Vec<i64> = expired.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        vec![a.id],
        "b was approved 3 days ago, c is 2 days old, e needs none"
    );
    assert_eq!(
        l.action(a.id).unwrap().unwrap().status,
        ActionStatus::Expired
    );
    let expired = l.expire_approvals(t("2025-01-11T00:00:00Z"), 5).unwrap();
    let ids: Vec<i64> = expired.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![b.id]);
    assert_eq!(
        l.action(c.id).unwrap().unwrap().status,
        ActionStatus::AwaitingApproval
    );
    assert_eq!(
        l.action(e.id).unwrap().unwrap().status,
        ActionStatus::Planned
    );
}

#[test]
fn cancel_only_from_open_states() {
    let l = Ledger::open_in_memory().unwrap();
    let now = t("2025-01-01T00:00:00Z");
    let a = l.insert_action(&email("k1"), now).unwrap();
    l.claim(a.id, now).unwrap();
    assert!(matches!(
        l.cancel(a.id, "x", "why", now),
        Err(LedgerError::InvalidState {
            status: ActionStatus::Executing,
            ..
        })
    ));
    let b = l.insert_action(&email("k2"), now).unwrap();
    assert_eq!(
        l.cancel(b.id, "x", "dup", now).unwrap().status,
        ActionStatus::Cancelled
    );
}

#[test]
fn runs_are_recorded() {
    let l = Ledger::open_in_memory().unwrap();
    let id = l.begin_run("notify", t("2025-01-01T06:00:00Z")).unwrap();
    l.finish_run(
        id,
        "ok",
        &json!({"emails": 3}),
        &["customer C-9: receivables missing".to_string()],
        t("2025-01-01T06:01:00Z"),
    )
    .unwrap();
    let runs = l.recent_runs(5).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].mode, "notify");
    assert_eq!(runs[0].outcome.as_deref(), Some("ok"));
    assert_eq!(runs[0].counts, json!({"emails": 3}));
    assert_eq!(runs[0].errors.len(), 1);
    assert_eq!(runs[0].finished_at, Some(t("2025-01-01T06:01:00Z")));
    assert!(
        l.finish_run(99, "ok", &json!({}), &[], t("2025-01-01T06:01:00Z"))
            .is_err()
    );
}

#[test]
fn notices_are_recorded_once_per_message_id() {
    let l = Ledger::open_in_memory().unwrap();
    let n = NewNotice {
        customer: Some("C-1".into()),
        recipient: "ap@example.com".into(),
        template: "reminder-1".into(),
        locale: "de-DE".into(),
        message_id: message_id_for("k1", "example.com"),
        action_key: Some("k1".into()),
    };
    let first = l.record_notice(&n, t("2025-01-01T08:00:00Z")).unwrap();
    let again = l.record_notice(&n, t("2025-01-02T08:00:00Z")).unwrap();
    assert_eq!(first, again);
    assert_eq!(l.notices_for_customer("C-1").unwrap().len(), 1);
    assert_eq!(l.notice_for_action("k1").unwrap().unwrap().locale, "de-DE");
    assert!(l.notices_for_customer("C-2").unwrap().is_empty());
}

#[test]
fn findings_track_first_last_notified_and_resolved() {
    let l = Ledger::open_in_memory().unwrap();
    let f = l
        .upsert_finding(
            "fp1",
            "burst",
            Some("C-1"),
            "high",
            "5 new customers",
            t("2025-01-01T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(f.first_seen, f.last_seen);
    l.mark_finding_notified("fp1", t("2025-01-01T00:05:00Z"))
        .unwrap();
    let f = l
        .upsert_finding(
            "fp1",
            "burst",
            Some("C-1"),
            "high",
            "6 new customers",
            t("2025-01-02T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(f.first_seen, t("2025-01-01T00:00:00Z"));
    assert_eq!(f.last_seen, t("2025-01-02T00:00:00Z"));
    assert_eq!(f.last_notified, Some(t("2025-01-01T00:05:00Z")));
    l.resolve_finding("fp1", t("2025-01-03T00:00:00Z")).unwrap();
    assert!(l.open_findings().unwrap().is_empty());
    assert!(l.finding("fp1").unwrap().unwrap().resolved_at.is_some());
    assert!(
        l.resolve_finding("nope", t("2025-01-03T00:00:00Z"))
            .is_err()
    );
}

#[test]
fn watermarks_spend_and_profile_cache() {
    let l = Ledger::open_in_memory().unwrap();
    let now = t("2025-03-01T00:00:00Z");
    assert_eq!(l.watermark("audit").unwrap(), None);
    l.set_watermark("audit", "2025-02-28T23:59:00Z", now)
        .unwrap();
    l.set_watermark("audit", "2025-03-01T00:00:00Z", now)
        .unwrap();
    assert_eq!(
        l.watermark("audit").unwrap().as_deref(),
        Some("2025-03-01T00:00:00Z")
    );

    let d = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
    l.record_spend("C-1", d("2025-02-27"), dec!(10.50), "EUR", now)
        .unwrap();
    l.record_spend("C-1", d("2025-02-28"), dec!(12.25), "EUR", now)
        .unwrap();
    l.record_spend("C-1", d("2025-02-28"), dec!(13.00), "EUR", now)
        .unwrap();
    let h = l.spend_history("C-1", d("2025-02-28")).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].amount, dec!(13.00));
    assert_eq!(l.spend_history("C-1", d("2025-01-01")).unwrap().len(), 2);

    let ttl = SignedDuration::from_hours(24);
    assert_eq!(l.get_cached_profile("C-1", now, ttl).unwrap(), None);
    l.put_cached_profile("C-1", &json!({"email": "ap@c1.example"}), now)
        .unwrap();
    assert_eq!(
        l.get_cached_profile("C-1", t("2025-03-01T23:00:00Z"), ttl)
            .unwrap(),
        Some(json!({"email": "ap@c1.example"}))
    );
    assert_eq!(
        l.get_cached_profile("C-1", t("2025-03-02T01:00:00Z"), ttl)
            .unwrap(),
        None
    );
}

#[test]
fn refresh_token_round_trips_and_never_shows_in_debug() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let secret = "rt-very-secret-0123456789";
    {
        let l = Ledger::open(&path).unwrap();
        assert!(l.load_refresh_token().unwrap().is_none());
        l.save_refresh_token(&SecretString::from("old"), t("2025-01-01T00:00:00Z"))
            .unwrap();
        l.save_refresh_token(&SecretString::from(secret), t("2025-01-02T00:00:00Z"))
            .unwrap();
        assert!(!format!("{l:?}").contains(secret));
    }
    let l = Ledger::open(&path).unwrap();
    let tok = l.load_refresh_token().unwrap().unwrap();
    assert_eq!(tok.expose_secret(), secret);
    assert!(!format!("{tok:?}").contains(secret));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "state file must be owner-only, got {mode:o}"
        );
    }
}

#[test]
fn holds_cover_customer_or_invoice_until_the_end_date() {
    let l = Ledger::open_in_memory().unwrap();
    let now = t("2025-01-10T12:00:00Z");
    let d = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
    let h = l
        .place_hold(
            "C-1",
            Some("INV-7"),
            "dispute",
            d("2025-01-15"),
            "alice",
            now,
        )
        .unwrap();
    assert_eq!(h.placed_by, "alice");
    assert!(l.hold_for("C-1", Some("INV-7"), now).unwrap().is_some());
    assert!(l.hold_for("C-1", Some("INV-8"), now).unwrap().is_none());
    assert!(l.hold_for("C-1", None, now).unwrap().is_none());
    // Inclusive end date, then over.
    assert!(
        l.hold_for("C-1", Some("INV-7"), t("2025-01-15T23:59:59Z"))
            .unwrap()
            .is_some()
    );
    assert!(
        l.hold_for("C-1", Some("INV-7"), t("2025-01-16T00:00:00Z"))
            .unwrap()
            .is_none()
    );

    l.place_hold("C-2", None, "promise to pay", d("2025-01-20"), "bob", now)
        .unwrap();
    assert!(l.hold_for("C-2", Some("ANY"), now).unwrap().is_some());
    assert_eq!(l.active_holds(now).unwrap().len(), 2);

    let err = l
        .place_hold("C-3", None, "late", d("2025-01-09"), "bob", now)
        .unwrap_err()
        .to_string();
    assert!(err.contains("in the past"), "{err}");

    let released = l.release_holds("C-2", None, "carol", now).unwrap();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].released_by.as_deref(), Some("carol"));
    assert!(l.hold_for("C-2", None, now).unwrap().is_none());
    assert!(matches!(
        l.release_holds("C-2", None, "carol", now),
        Err(LedgerError::NotFound { .. })
    ));
}

#[test]
fn only_suspensions_made_by_cspguard_can_be_reactivated() {
    let l = Ledger::open_in_memory().unwrap();
    let now = t("2025-01-10T12:00:00Z");
    let s = l
        .record_suspension("C-1", "SUB-1", "suspend:C-1:SUB-1:1", "unpaid 60 days", now)
        .unwrap();
    let again = l
        .record_suspension("C-1", "SUB-1", "suspend:C-1:SUB-1:1", "unpaid 60 days", now)
        .unwrap();
    assert_eq!(s, again);
    assert_eq!(l.active_suspensions(None).unwrap().len(), 1);
    assert!(l.suspended_by_us("C-1", "SUB-2").unwrap().is_none());
    assert!(matches!(
        l.record_reactivation("C-1", "SUB-2", "react:C-1:SUB-2", now),
        Err(LedgerError::NotFound { .. })
    ));
    let r = l
        .record_reactivation("C-1", "SUB-1", "react:C-1:SUB-1:1", now)
        .unwrap();
    assert_eq!(r.reactivation_key.as_deref(), Some("react:C-1:SUB-1:1"));
    assert!(l.active_suspensions(Some("C-1")).unwrap().is_empty());
}

#[test]
fn many_spends_are_recorded_in_one_transaction_and_update_in_place() {
    use cspguard::ledger::LedgerView;
    let l = Ledger::open_in_memory().expect("ledger");
    let now: jiff::Timestamp = "2026-11-21T08:00:00Z".parse().expect("now");
    let day: jiff::civil::Date = "2026-11-21".parse().expect("day");
    let rows: Vec<(String, rust_decimal::Decimal, String)> = (0..500)
        .map(|i| {
            (
                format!("c{i:03}"),
                rust_decimal::Decimal::from(i),
                "EUR".to_owned(),
            )
        })
        .collect();
    l.record_spends(day, &rows, now).expect("record");
    // The same day again replaces, never duplicates.
    l.record_spends(day, &rows[..1], now).expect("record again");
    let all = l.spend_history_all(day).expect("read");
    assert_eq!(all.len(), 500);
    assert_eq!(all[499].customer, "c499");
    assert_eq!(all[499].amount, rust_decimal::Decimal::from(499));
}
