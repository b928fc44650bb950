//! Smoke test of `cspguard bench` (issue 8): the real command at a small size with no latency,
//! through the simulator and the measured child processes. It asserts only call counts (the
//! demand-driven bound and the naive scan's exact count), never a time or a memory figure.

use std::process::Command;

use cspguard::bench::{Measurement, Report};

fn find<'a>(r: &'a Report, customers: usize, mode: &str) -> &'a Measurement {
    r.sizes
        .iter()
        .find(|s| s.tenant.customers == customers)
        .and_then(|s| s.measurements.iter().find(|m| m.mode == mode))
        .unwrap_or_else(|| panic!("no {mode} measurement at {customers} customers"))
}

#[test]
fn bench_runs_and_call_counts_follow_the_customers_needing_attention() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let status = Command::new(env!("CARGO_BIN_EXE_cspguard"))
        .args(["-q", "bench", "--sizes", "100,200", "--latency-ms", "0"])
        .args(["--naive-max", "100", "--out"])
        .arg(&out)
        .status()
        .expect("run cspguard bench");
    assert!(status.success(), "cspguard bench failed: {status}");
    let text = std::fs::read_to_string(out.join("results.json")).expect("results.json");
    let report: Report = serde_json::from_str(&text).expect("results.json parses");
    let md = std::fs::read_to_string(out.join("results.md")).expect("results.md");
    assert!(md.contains("| plan |"), "{md}");
    assert!(md.contains("Emails per run (plan): first run"), "{md}");

    for size in &report.sizes {
        let t = size.tenant;
        let n = t.customers;
        let plan = find(&report, n, "plan");
        let run = find(&report, n, "run --dry-run");
        assert!(plan.measured && run.measured);
        // The `plan` rows' memory is the real command's (it ran, exit 0, in its own child).
        for m in [plan, find(&report, n, "plan, warm")] {
            assert!(m.peak_rss_mib.is_some_and(|r| r > 0.0), "{m:?}");
            assert!(
                m.note
                    .as_deref()
                    .is_some_and(|t| t.contains("real `cspguard plan`")),
                "{m:?}"
            );
        }
        // Alert hygiene (issue 14): ops emails per run stay within the groups; the second run
        // sends nothing new.
        let emails = plan.emails.expect("emails per run");
        assert!(emails.ops[0] <= 10, "{emails:?}");
        assert_eq!(emails.ops[1], 0, "{emails:?}");
        assert_eq!(emails.customer[1], 0, "{emails:?}");
        assert_eq!(plan.throttled, Some(0), "{plan:?}");
        assert_eq!(run.throttled, Some(0), "{run:?}");

        // Bulk: the customer list in pages of up to 500, plus usage, audit, fraud, invoice
        // summary and invoices (one page each at this size).
        let bulk = plan.bulk_calls.expect("bulk calls");
        assert!(
            bulk <= n.div_ceil(500) as u64 + 5,
            "{bulk} bulk calls for {n}"
        );
        // Per customer: at most billing profile and subscriptions for the customers a policy
        // asked about, and those are the late payers, budget breaches, fraud cases and new
        // customers the activity rules look at (about 3% in the generated tenants; 5% allowed).
        let detail = plan.detail_fetched.expect("detail") as u64;
        let per = plan.per_customer_calls.expect("per-customer calls");
        assert!(
            per <= 2 * detail,
            "{per} per-customer calls for {detail} customers"
        );
        let attention = (t.late_payers + t.budget_breaches + t.fraud_events + n / 20) as u64;
        assert!(
            detail <= attention,
            "{detail} detailed, {attention} needing attention"
        );
        assert!(
            detail >= t.late_payers as u64,
            "every late payer is looked at"
        );
        // `run` collects the same way.
        assert_eq!(run.calls, plan.calls, "{run:?} vs {plan:?}");
        assert_eq!(run.findings, plan.findings);

        // Warm runs (issue 18): the same plan from a handful of calls, with no billing profile
        // read again (the cold run cached them) and one page of the customer list.
        for warm in [
            find(&report, n, "plan, warm"),
            find(&report, n, "run --dry-run, warm"),
        ] {
            assert!(warm.measured);
            assert_eq!(warm.findings, plan.findings, "{warm:?}");
            assert_eq!(warm.actions, plan.actions, "{warm:?}");
            assert!(warm.calls <= 20, "{warm:?}");
        }
        let warm = find(&report, n, "plan, warm");
        assert_eq!(warm.per_customer_calls, Some(0), "{warm:?}");
        assert_eq!(
            warm.calls_by_endpoint.get("GET /v1/customers"),
            Some(&1),
            "{warm:?}"
        );

        // The naive scan: three calls per customer, run or computed.
        let naive = find(&report, n, "naive full scan");
        assert_eq!(naive.measured, n <= 100);
        let profiles: u64 = plan
            .calls_by_endpoint
            .iter()
            .filter(|(ep, _)| ep.ends_with("/profiles/billing"))
            .map(|(_, c)| c)
            .sum();
        assert_eq!(naive.calls, bulk + 3 * n as u64 + profiles, "{naive:?}");
        if naive.measured {
            assert_eq!(naive.throttled, Some(0));
            assert_eq!(naive.findings, plan.findings, "same tenant, same findings");
            assert_eq!(naive.actions, plan.actions);
        } else {
            assert!(naive.note.as_deref().is_some_and(|n| n.contains("not run")));
        }
        assert!(
            naive.calls > 10 * plan.calls,
            "{} vs {}",
            naive.calls,
            plan.calls
        );
    }
}
