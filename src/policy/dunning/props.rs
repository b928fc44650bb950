//! Property tests: simulated runs over many days with random payments, disputes and holds.

use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::TimeZone;
use proptest::prelude::*;

use super::history::{is_live, suspend_key_invoice};
use super::tests::apply;
use super::*;
use crate::ledger::{ActionStatus, Ledger};
use crate::plan::{ActionKind, Plan};
use crate::policy::testkit::{
    customer, date, detail, ledger, matched, profile, receivable, run, snapshot, subscription,
};
use crate::policy::{CustomerOverride, PolicyConfig};
use crate::snapshot::Section;

const CUSTOMERS: [&str; 2] = ["c1", "c2"];

#[derive(Debug, Clone)]
struct Scenario {
    invoices: Vec<(usize, i64, u32)>,
    payments: Vec<(i64, usize, u8)>,
    holds: Vec<(i64, usize, Option<usize>, i64)>,
    disputes: Vec<(i64, usize)>,
    exempt_c2: bool,
    hours: Vec<i8>,
    twice: Vec<bool>,
    min_gap: i64,
    lead: i64,
    days: i64,
}

prop_compose! {
    /// The random inputs of one simulated [`Scenario`].
    fn scenario()(
        invoices in prop::collection::vec((0usize..2, -5i64..25, 10u32..3000), 1..6),
        payments in prop::collection::vec((0i64..60, 0usize..6, 1u8..=100), 0..5),
        holds in prop::collection::vec(
            (0i64..60, 0usize..2, prop::option::of(0usize..6), 1i64..10),
            0..3,
        ),
        disputes in prop::collection::vec((0i64..60, 0usize..6), 0..2),
        exempt_c2 in any::<bool>(),
        hours in prop::collection::vec(0i8..24, 60),
        twice in prop::collection::vec(any::<bool>(), 60),
        min_gap in 0i64..5,
        lead in 0i64..9,
        days in 20i64..60,
    ) -> Scenario {
        Scenario { invoices, payments, holds, disputes, exempt_c2, hours, twice, min_gap, lead, days }
    }
}

/// `notice/{c}/{stage}[~n]/{invoice}` -> (stage, invoice).
fn notice_parts(key: &str) -> Option<(String, String)> {
    let mut it = key.splitn(4, '/');
    let (_, _, stage, inv) = (it.next()?, it.next()?, it.next()?, it.next()?);
    let stage = stage.split('~').next().unwrap_or(stage);
    Some((stage.to_owned(), inv.to_owned()))
}

struct Sim {
    ledger: Ledger,
    config: PolicyConfig,
    rows: Vec<Receivable>,
    subs: BTreeMap<(&'static str, &'static str), (&'static str, &'static str)>,
    tz: TimeZone,
}

impl Sim {
    fn snapshot(&self, now: Timestamp) -> crate::snapshot::Snapshot {
        let mut snap = snapshot(now);
        snap.customers = Section::Ok {
            data: vec![customer("c1", "Contoso"), customer("c2", "Fabrikam")],
        };
        for c in CUSTOMERS {
            let subs = self
                .subs
                .iter()
                .filter(|((cc, _), _)| *cc == c)
                .map(|((_, id), (status, offer))| subscription(id, status, offer))
                .collect();
            snap.details.insert(
                c.to_owned(),
                detail(
                    Some(profile(Some("ap@example.com"), Some("en-GB"), "GB")),
                    subs,
                ),
            );
        }
        snap
    }

    fn check(&self, plan: &Plan, now: Timestamp) -> Result<(), TestCaseError> {
        let today = now.to_zoned(self.tz.clone()).date();
        let mut notices_per_customer: BTreeMap<&str, usize> = BTreeMap::new();
        for a in &plan.actions {
            let c = a.customer.as_deref().unwrap_or_default();
            let existing = self.ledger.action_by_key(&a.key).unwrap();
            match &a.kind {
                ActionKind::CustomerNotice { stage, .. } => {
                    *notices_per_customer.entry(c).or_default() += 1;
                    if stage == REACTIVATION {
                        continue;
                    }
                    // No stage twice for the same invoice: nothing live in the ledger took
                    // this driver invoice to this stage already.
                    prop_assert!(existing.is_none(), "{} planned again", a.key);
                    let (st, inv) = notice_parts(&a.key).unwrap();
                    for row in self.ledger.actions(Some(c), None).unwrap() {
                        if is_live(row.status) && row.key.starts_with("notice/") {
                            prop_assert_ne!(
                                notice_parts(&row.key),
                                Some((st.clone(), inv.clone())),
                                "stage {} for {} planned twice ({} and {})",
                                st,
                                inv,
                                row.key,
                                a.key
                            );
                        }
                    }
                }
                ActionKind::Suspend { .. } => {
                    prop_assert!(existing.is_none(), "{} planned again", a.key);
                    let held = self.ledger.hold_for(c, None, now).unwrap();
                    prop_assert!(held.is_none(), "held customer {} suspended: {}", c, a.key);
                    prop_assert!(
                        !self.config.customer(c).is_some_and(|o| o.exempt),
                        "exempt customer {} suspended",
                        c
                    );
                    let inv = suspend_key_invoice(c, &a.key).unwrap();
                    prop_assert!(
                        self.ledger.hold_for(c, Some(&inv), now).unwrap().is_none(),
                        "suspended for held invoice {}",
                        inv
                    );
                    // A final notice was sent at least `lead` local days before.
                    let lead = self.config.dunning.final_notice_lead_days;
                    let ok = self.ledger.notices(Some(c), None).unwrap().iter().any(|n| {
                        n.template == "final-notice"
                            && add_days(n.sent_at.to_zoned(self.tz.clone()).date(), lead) <= today
                    });
                    prop_assert!(ok, "{} without a final notice {} days before", a.key, lead);
                }
                ActionKind::Reactivate {
                    subscription_id,
                    suspension_key,
                } => {
                    let ours = self.ledger.suspended_by_us(c, subscription_id).unwrap();
                    prop_assert_eq!(
                        ours.map(|s| s.action_key),
                        Some(suspension_key.clone()),
                        "reactivating {} that cspguard did not suspend",
                        subscription_id
                    );
                }
                _ => {}
            }
        }
        for (c, n) in notices_per_customer {
            prop_assert!(n <= 1, "{} notices to {} in one run", n, c);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn ladder_invariants_hold_over_simulated_days(s in scenario()) {
        let tz = TimeZone::get("Europe/Stockholm").unwrap();
        let start = date("2026-03-20");
        let mut config = PolicyConfig::default();
        config.dunning.min_gap_days = s.min_gap;
        config.dunning.final_notice_lead_days = s.lead;
        if s.exempt_c2 {
            config.customers.insert("c2".into(), CustomerOverride { exempt: true, ..CustomerOverride::default() });
        }
        let rows = s
            .invoices
            .iter()
            .enumerate()
            .map(|(i, (c, off, amount))| {
                let mut r = receivable(CUSTOMERS[*c % 2], &format!("INV-{i}"), "2026-03-20", &amount.to_string(), "0");
                r.due_date = add_days(start, *off);
                r
            })
            .collect();
        let mut subs = BTreeMap::new();
        subs.insert(("c1", "s1"), ("active", "O365 E3"));
        subs.insert(("c1", "s2"), ("active", "azure"));
        subs.insert(("c1", "s3"), ("suspended", "Visio")); // Microsoft suspended it
        subs.insert(("c2", "s4"), ("active", "O365 E5"));
        subs.insert(("c2", "s5"), ("suspended", "Project"));
        let mut sim = Sim { ledger: ledger(), config, rows, subs, tz: tz.clone() };

        for day in 0..s.days {
            let d = add_days(start, day);
            let hour = s.hours.get(day as usize).copied().unwrap_or(8);
            let now = d.at(hour, 30, 0, 0).to_zoned(TimeZone::UTC).unwrap().timestamp();
            for (pd, inv, pct) in &s.payments {
                if *pd == day && let Some(r) = sim.rows.get_mut(*inv) {
                    r.amount_paid = (r.amount * Decimal::from(*pct) / Decimal::from(100)).round_dp(2);
                    if r.amount_paid >= r.amount {
                        r.status = InvoiceStatus::Paid;
                    }
                }
            }
            for (dd, inv) in &s.disputes {
                if *dd == day && let Some(r) = sim.rows.get_mut(*inv) && r.status == InvoiceStatus::Open {
                    r.status = InvoiceStatus::Disputed;
                }
            }
            for (hd, c, inv, len) in &s.holds {
                if *hd == day {
                    let inv = inv.and_then(|i| sim.rows.get(i)).map(|r| r.invoice.clone());
                    let until = add_days(crate::ledger::utc_date(now), *len);
                    sim.ledger
                        .place_hold(CUSTOMERS[*c % 2], inv.as_deref(), "promise to pay", until, "ops", now)
                        .unwrap();
                }
            }
            let runs = if s.twice.get(day as usize).copied().unwrap_or(false) { 2 } else { 1 };
            for _ in 0..runs {
                let snap = sim.snapshot(now);
                let plan = run(&snap, &matched(sim.rows.clone()), &sim.ledger, &sim.config, now, None);
                sim.check(&plan, now)?;
                apply(&sim.ledger, &plan, now, true);
                for a in &plan.actions {
                    let c = a.customer.as_deref().unwrap_or_default();
                    let (sub, status) = match &a.kind {
                        ActionKind::Suspend { subscription_id, .. } => (subscription_id, "suspended"),
                        ActionKind::Reactivate { subscription_id, .. } => (subscription_id, "active"),
                        _ => continue,
                    };
                    for ((cc, id), v) in sim.subs.iter_mut() {
                        if *cc == c && *id == sub.as_str() {
                            v.0 = status;
                        }
                    }
                }
            }
        }

        // Every sent dunning notice took its driver invoice to a stage exactly once.
        let mut sent = BTreeSet::new();
        for c in CUSTOMERS {
            for row in sim.ledger.actions(Some(c), None).unwrap() {
                if row.status == ActionStatus::Done && row.key.starts_with("notice/") {
                    let parts = notice_parts(&row.key).unwrap();
                    if parts.0 != REACTIVATION {
                        prop_assert!(sent.insert(parts.clone()), "{:?} sent twice", parts);
                    }
                }
            }
        }
    }
}

#[test]
fn catch_up_after_a_long_outage_is_one_notice() {
    let mut sim_rows = Vec::new();
    for (i, due) in ["2026-10-01", "2026-10-20", "2026-11-10", "2026-11-19"]
        .iter()
        .enumerate()
    {
        sim_rows.push(receivable("c1", &format!("INV-{i}"), due, "100", "0"));
    }
    let mut snap = snapshot(jiff::Timestamp::UNIX_EPOCH);
    snap.details.insert(
        "c1".into(),
        detail(Some(profile(Some("ap@example.com"), None, "GB")), vec![]),
    );
    let l = ledger();
    let p = run(
        &snap,
        &matched(sim_rows),
        &l,
        &PolicyConfig::default(),
        crate::policy::testkit::ts("2026-11-21T08:00:00Z"),
        None,
    );
    assert_eq!(p.actions.len(), 1, "{:?}", p.actions);
    assert_eq!(p.actions[0].key, "notice/c1/final-notice/INV-0");
}
