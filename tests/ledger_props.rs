//! Property tests of the execution protocol: for any interleaving of plan, approve, execute,
//! failing execution and crashes at any step (drop the Ledger, reopen the file, recover), no key
//! is ever executed twice and no planned action is lost.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cspguard::ledger::{ActionStatus, Ledger, NewAction};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
enum Op {
    Plan { k: u8, approval: bool },
    Approve(u8),
    Execute(u8),
    ExecuteFails(u8),
    CrashAfterClaim(u8),
    CrashAfterPerform(u8),
    ExecuteAll,
    Crash,
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0u8..5;
    prop_oneof![
        3 => (k.clone(), any::<bool>()).prop_map(|(k, approval)| Op::Plan { k, approval }),
        1 => k.clone().prop_map(Op::Approve),
        2 => k.clone().prop_map(Op::Execute),
        1 => k.clone().prop_map(Op::ExecuteFails),
        1 => k.clone().prop_map(Op::CrashAfterClaim),
        1 => k.prop_map(Op::CrashAfterPerform),
        1 => Just(Op::ExecuteAll),
        1 => Just(Op::Crash),
        1 => (0u16..240).prop_map(Op::Advance),
    ]
}

fn key(k: u8) -> String {
    format!("action-{k}")
}

struct World {
    ledger: Option<Ledger>,
    now: Timestamp,
    /// Side effects performed per key (the thing that must happen at most once).
    effects: BTreeMap<String, u32>,
    planned: BTreeSet<String>,
}

impl World {
    fn l(&self) -> &Ledger {
        self.ledger.as_ref().expect("ledger open")
    }

    fn crash_and_recover(&mut self, path: &Path) {
        self.ledger = None; // drop: whatever was in flight is lost
        let l = Ledger::open(path).expect("reopen");
        l.recover_interrupted(self.now).expect("recover");
        self.ledger = Some(l);
    }

    fn id_of(&self, k: u8) -> Option<i64> {
        self.l()
            .action_by_key(&key(k))
            .expect("lookup")
            .map(|a| a.id)
    }

    fn perform(&mut self, k: &str) {
        *self.effects.entry(k.to_string()).or_default() += 1;
    }
}

fn check(w: &World) -> Result<(), TestCaseError> {
    let all = w.l().actions(None, None).expect("list");
    prop_assert_eq!(
        all.len(),
        w.planned.len(),
        "an action was lost or duplicated"
    );
    for k in &w.planned {
        let row = w.l().action_by_key(k).expect("lookup");
        prop_assert!(row.is_some(), "planned action {} lost", k);
        let row = row.unwrap_or_else(|| unreachable!());
        let n = w.effects.get(k).copied().unwrap_or(0);
        prop_assert!(n <= 1, "{} executed {} times", k, n);
        if row.status == ActionStatus::Done {
            prop_assert_eq!(n, 1, "done without effect: {}", k);
        }
        if n == 1 {
            prop_assert!(
                matches!(row.status, ActionStatus::Done | ActionStatus::Uncertain),
                "{} performed but {}",
                k,
                row.status
            );
        }
    }
    for a in w.l().executable(w.now).expect("executable") {
        prop_assert_eq!(w.effects.get(&a.key).copied().unwrap_or(0), 0);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_key_executes_twice_and_no_plan_is_lost(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.db");
        let mut w = World {
            ledger: Some(Ledger::open(&path).expect("open")),
            now: "2025-01-01T00:00:00Z".parse().expect("ts"),
            effects: BTreeMap::new(),
            planned: BTreeSet::new(),
        };
        for op in ops {
            match op {
                Op::Plan { k, approval } => {
                    let a = NewAction {
                        key: key(k),
                        kind: "append_line".into(),
                        customer: Some(format!("C-{k}")),
                        payload: json!({"k": k}),
                        requires_approval: approval,
                        reason: "prop".into(),
                    };
                    w.l().insert_action(&a, w.now).expect("insert");
                    w.planned.insert(key(k));
                }
                Op::Approve(k) => {
                    if let Some(id) = w.id_of(k) {
                        // Wrong states are refused with an error, never panic.
                        let _ = w.l().approve(id, "prop", w.now);
                    }
                }
                Op::Execute(k) | Op::ExecuteFails(k) | Op::CrashAfterClaim(k)
                | Op::CrashAfterPerform(k) => {
                    let Some(id) = w.id_of(k) else { continue };
                    let Some(claimed) = w.l().claim(id, w.now).expect("claim") else { continue };
                    prop_assert_eq!(claimed.status, ActionStatus::Executing);
                    match op {
                        Op::Execute(_) => {
                            w.perform(&claimed.key);
                            w.l().mark_done(id, &json!({"ok": true}), w.now).expect("done");
                        }
                        Op::ExecuteFails(_) => {
                            w.l().mark_failed(id, "boom", w.now).expect("failed");
                        }
                        Op::CrashAfterClaim(_) => w.crash_and_recover(&path),
                        _ => {
                            w.perform(&claimed.key);
                            w.crash_and_recover(&path);
                        }
                    }
                }
                Op::ExecuteAll => {
                    for a in w.l().executable(w.now).expect("executable") {
                        if let Some(c) = w.l().claim(a.id, w.now).expect("claim") {
                            w.perform(&c.key);
                            w.l().mark_done(c.id, &json!({}), w.now).expect("done");
                        }
                    }
                }
                Op::Crash => w.crash_and_recover(&path),
                Op::Advance(mins) => {
                    w.now = w
                        .now
                        .checked_add(SignedDuration::from_mins(i64::from(mins)))
                        .expect("advance");
                }
            }
            check(&w)?;
        }
        // Final crash + recovery: still nothing lost, nothing doubled.
        w.crash_and_recover(&path);
        check(&w)?;
    }
}
