//! End-to-end tests of the `cspguard` binary: each runs the real executable as a child process
//! (against the built-in Partner Center simulator where a tenant is needed) and asserts its exit
//! code and the key output. Secrets are passed to the child through its environment only.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use cspguard::sim::SimHandle;
use serde_json::Value;
use support::cli::{self, args};
use support::config::{ConfigBuilder, Secret, quote};
use support::world::{UNREACHABLE, World};

const SECRET_ENV: &str = "SIM_SECRET";
const REFRESH_ENV: &str = "SIM_REFRESH";
const SIM_SECRET: &str = "sim-client-secret";
const SIM_REFRESH: &str = "sim-refresh-token-0";
/// The child never inherits the test's own secret variables.
const CLEARED: &[&str] = &[SECRET_ENV, REFRESH_ENV];

/// The finished child: exit code and captured text.
type Run = cli::Output;

/// Run the binary synchronously with a clean environment plus `envs`.
fn run_bin(args: &[String], envs: &[(String, String)]) -> Run {
    cli::run(args, envs, CLEARED)
}

/// Run the binary off the async runtime (a simulator is serving on it).
async fn run_async(args: Vec<String>, envs: Vec<(String, String)>) -> Run {
    cli::run_async(args, envs, CLEARED).await
}

fn with_config(config: &Path, rest: &[&str]) -> Vec<String> {
    let mut v = vec!["--config".to_owned(), config.display().to_string()];
    v.extend(rest.iter().map(|s| (*s).to_owned()));
    v
}

fn sim_env(secret: &str, app_user: bool) -> Vec<(String, String)> {
    let mut v = vec![(SECRET_ENV.to_owned(), secret.to_owned())];
    if app_user {
        v.push((REFRESH_ENV.to_owned(), SIM_REFRESH.to_owned()));
    }
    v
}

/// The CLI tests' config: secrets from the environment, App+User only when `app_user`, and no
/// time zone (the default).
fn cli_config(c: &mut ConfigBuilder, app_user: bool) {
    c.remove("", "timezone")
        .client_secret(&Secret::env(SECRET_ENV));
    if app_user {
        c.app_user(&Secret::env(REFRESH_ENV));
    } else {
        c.remove_section("partner_center.app_user");
    }
}

/// A simulator with a generated tenant of `customers`, and the CLI tests' config for it.
async fn world(customers: usize, app_user: bool) -> World {
    let w = World::builder()
        .customers(customers)
        .minimal()
        .configure(move |c, _| cli_config(c, app_user))
        .start()
        .await;
    if app_user {
        first_run_state(&w);
    }
    w
}

/// The CLI tests' config for a Partner Center at `url` (none by default), without a simulator.
fn offline(url: &str, app_user: bool) -> World {
    let mut w = World::offline(url, &Secret::env(SECRET_ENV), None);
    w.configure(|c| cli_config(c, app_user));
    if app_user {
        first_run_state(&w);
    }
    w
}

/// The empty state database and run lock file a first `cspguard run` leaves: `snapshot` and
/// `plan` use App+User only when there is a state database to keep the rotated token in.
fn first_run_state(w: &World) {
    let state = w.state_path();
    cspguard::ledger::ensure_state_dir(&state).expect("state dir");
    drop(cspguard::ledger::RunLock::acquire(&state).expect("lock file"));
    drop(cspguard::ledger::Ledger::open(&state).expect("state database"));
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not valid JSON ({e}):\n{}", run.show()))
}

fn endpoints(h: &SimHandle) -> Vec<String> {
    h.requests().into_iter().map(|r| r.endpoint).collect()
}

// ---------------------------------------------------------------------------------------------
// snapshot
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_json_collects_everything_in_bulk_only() {
    let w = world(120, true).await;
    let h = w.sim();
    let expected = h.with_dataset(|d| d.customers.len());
    assert_eq!(expected, 120);
    let config = w.config_path();
    let run = run_async(
        with_config(&config, &["snapshot", "--format", "json"]),
        sim_env(SIM_SECRET, true),
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.show());
    let v = json_of(&run);
    assert_eq!(v["customers"]["status"], "ok", "{}", run.show());
    assert_eq!(
        v["customers"]["data"].as_array().map(Vec::len),
        Some(expected),
        "customer count"
    );
    for section in [
        "usage",
        "audit_records",
        "fraud_events",
        "invoice_summary",
        "invoices",
    ] {
        assert_eq!(
            v[section]["status"], "ok",
            "section {section}: {}",
            v[section]
        );
    }
    assert!(
        v["calls"]["totals"]["calls"].as_u64().unwrap_or(0) > 0,
        "calls: {}",
        v["calls"]
    );
    assert!(
        v["details"].as_object().is_some_and(|d| d.is_empty()),
        "no detail without --customer: {}",
        v["details"]
    );

    let eps = endpoints(h);
    assert!(eps.iter().any(|e| e == "GET /v1/customers"), "{eps:?}");
    assert!(
        eps.iter().any(|e| e == "GET /v1/customers/usagerecords"),
        "{eps:?}"
    );
    // No per-customer call, judged by route template and by raw path (an unrouted
    // `/v1/customers/{id}/...` would be recorded as UNKNOWN).
    let per_customer: Vec<String> = h
        .requests()
        .into_iter()
        .filter(|r| {
            r.endpoint.contains("/customers/{id}")
                || (r.path.starts_with("/v1/customers/") && r.path != "/v1/customers/usagerecords")
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        per_customer.is_empty(),
        "bulk snapshot made per-customer calls: {per_customer:?}"
    );
    assert!(
        h.requests().iter().all(|r| r.status == 200),
        "every simulator answer was 200"
    );
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_without_app_user_reports_not_checked_and_never_calls_those_endpoints() {
    let w = world(30, false).await;
    let h = w.sim();
    let (config, state) = (w.config_path(), w.state_path());
    let run = run_async(
        with_config(&config, &["snapshot", "--format", "json"]),
        sim_env(SIM_SECRET, false),
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.show());
    let v = json_of(&run);
    for section in ["usage", "fraud_events"] {
        assert_eq!(
            v[section]["status"], "not_checked",
            "{section}: {}",
            v[section]
        );
        assert_eq!(
            v[section]["reason"], "App+User credentials not configured",
            "{section}"
        );
    }
    for section in ["customers", "audit_records", "invoice_summary", "invoices"] {
        assert_eq!(v[section]["status"], "ok", "{section}: {}", v[section]);
    }
    let reqs = h.requests();
    assert!(!reqs.is_empty());
    let app_user_calls: Vec<&str> = reqs
        .iter()
        .map(|r| r.endpoint.as_str())
        .filter(|e| {
            *e == "GET /v1/customers/usagerecords"
                || *e == "GET /v1/fraudEvents"
                || e.ends_with("/usagesummary")
        })
        .collect();
    assert!(
        app_user_calls.is_empty(),
        "App+User endpoints called without App+User: {app_user_calls:?}"
    );
    // App-only runs do not need (or create) the state database.
    assert!(
        !state.exists(),
        "snapshot without App+User created {state:?}"
    );
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_for_one_customer_fetches_exactly_its_detail_and_shows_its_billing_contact() {
    let w = world(40, true).await;
    let h = w.sim();
    let (id, email) = h.with_dataset(|d| {
        d.customers
            .iter()
            .find_map(|c| c.email.clone().map(|e| (c.id.clone(), e)))
            .expect("a customer with a billing email")
    });
    let config = w.config_path();
    let run = run_async(
        with_config(&config, &["snapshot", "--customer", &id]),
        sim_env(SIM_SECRET, true),
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.show());
    assert!(
        run.stdout.contains(&format!("Customer {id}")),
        "{}",
        run.show()
    );
    let contact_line = run
        .stdout
        .lines()
        .find(|l| l.contains("billing contact:"))
        .unwrap_or_else(|| panic!("no billing contact line:\n{}", run.show()));
    assert!(contact_line.contains(&email), "{contact_line}");

    let per_customer: Vec<(String, String)> = h
        .requests()
        .into_iter()
        .filter(|r| r.endpoint.contains("/customers/{id}"))
        .map(|r| (r.endpoint, r.path))
        .collect();
    let got: BTreeSet<&str> = per_customer.iter().map(|(e, _)| e.as_str()).collect();
    let want: BTreeSet<&str> = [
        "GET /v1/customers/{id}/profiles/billing",
        "GET /v1/customers/{id}/subscriptions",
        "GET /v1/customers/{id}/usagebudget",
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "{per_customer:?}");
    assert_eq!(
        per_customer.len(),
        3,
        "one call per detail: {per_customer:?}"
    );
    for (_, path) in &per_customer {
        assert!(
            path.starts_with(&format!("/v1/customers/{id}/")),
            "detail call for another customer: {path}"
        );
    }
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_500_on_invoice_summary_degrades_only_that_section() {
    let mut w = world(20, true).await;
    w.configure(|c| {
        c.retry_attempts(2)
            .set("partner_center.retry", "max_total_secs", "30");
    });
    let config = w.config_path();
    let h = w.sim();
    h.override_response(
        "GET",
        "/v1/invoices/summary",
        500,
        vec![("content-type".into(), "application/json".into())],
        r#"{"code":500,"description":"Internal server error","errorName":"ServerError"}"#.into(),
        None,
    );
    let run = run_async(
        with_config(&config, &["snapshot", "--format", "json"]),
        sim_env(SIM_SECRET, true),
    )
    .await;
    assert_eq!(run.code, Some(3), "{}", run.show());
    let v = json_of(&run);
    assert_eq!(
        v["invoice_summary"]["status"], "failed",
        "{}",
        v["invoice_summary"]
    );
    let err = v["invoice_summary"]["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("/v1/invoices/summary"),
        "error names no endpoint: {err}"
    );
    for section in [
        "customers",
        "usage",
        "audit_records",
        "fraud_events",
        "invoices",
    ] {
        assert_eq!(v[section]["status"], "ok", "{section}: {}", v[section]);
    }
    let attempts = h
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/invoices/summary")
        .count();
    assert_eq!(attempts, 2, "max_attempts = 2 is honoured");
    w.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// configuration errors and secrets
// ---------------------------------------------------------------------------------------------

/// Asserts exit 2 and `path:line:column` (line as given, column any number) on stderr.
fn assert_config_error_at(run: &Run, config: &Path, line: usize) {
    assert_eq!(run.code, Some(2), "{}", run.show());
    let prefix = format!("{}:{line}:", config.display());
    let pos = run
        .stderr
        .find(&prefix)
        .unwrap_or_else(|| panic!("no {prefix}<column> on stderr:\n{}", run.show()));
    let column: String = run.stderr[pos + prefix.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(
        column.parse::<u32>().is_ok_and(|c| c > 0),
        "no column after {prefix}:\n{}",
        run.show()
    );
}

/// 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in config:\n{text}"))
}

#[test]
fn config_errors_exit_2_with_file_line_column() {
    let w = offline(UNREACHABLE, false);
    let dir = w.dir();
    let state = w.state_path();
    let variant = |f: &dyn Fn(&mut ConfigBuilder)| {
        let mut c = ConfigBuilder::partner_center(UNREACHABLE, &Secret::env(SECRET_ENV), None);
        cli_config(&mut c, false);
        c.state(&state);
        f(&mut c);
        c.text()
    };

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown-key.toml",
            variant(&|c| {
                c.set("partner_center", "rate_limit_per_minut", "100");
            }),
            "rate_limit_per_minut",
        ),
        (
            "bad-timezone.toml",
            variant(&|c| {
                c.set("", "timezone", &quote("Mars/Olympus"));
            }),
            "Mars/Olympus",
        ),
        (
            "plain-http.toml",
            variant(&|c| {
                c.set(
                    "partner_center",
                    "base_url",
                    &quote("http://pc.example.com"),
                );
            }),
            "base_url = \"http://pc.example.com\"",
        ),
    ];
    for (name, text, needle) in cases {
        let config = dir.join(name);
        std::fs::write(&config, &text).expect("config");
        let run = run_bin(
            &with_config(&config, &["snapshot"]),
            &sim_env(SIM_SECRET, false),
        );
        assert_config_error_at(&run, &config, line_of(&text, needle));
        // Nothing was attempted: the state file was not created.
        assert!(!state.exists(), "{name}: state created");
    }
    // The error mentions what is wrong, not just where.
    let config = dir.join("bad-timezone.toml");
    let run = run_bin(
        &with_config(&config, &["status"]),
        &sim_env(SIM_SECRET, false),
    );
    assert_config_error_at(&run, &config, 1);
    assert!(run.stderr.contains("Mars/Olympus"), "{}", run.show());

    let missing = dir.join("does-not-exist.toml");
    let run = run_bin(
        &with_config(&missing, &["snapshot"]),
        &sim_env(SIM_SECRET, false),
    );
    assert_eq!(run.code, Some(2), "{}", run.show());
    assert!(
        run.stderr.contains("--config") && run.stderr.contains("does-not-exist.toml"),
        "{}",
        run.show()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_output_even_at_trace_level() {
    let w = world(15, true).await;
    let h = w.sim();
    let config = w.config_path();
    let mut env = sim_env(SIM_SECRET, true);
    env.push(("RUST_LOG".into(), "trace".into()));
    let run = run_async(with_config(&config, &["-vv", "snapshot"]), env.clone()).await;
    let rotated = h.current_refresh_token();
    assert_ne!(
        rotated, SIM_REFRESH,
        "the refresh token was rotated by the run"
    );
    // Trace logging really was on (otherwise the test proves nothing).
    assert!(
        run.stderr.lines().count() > 20 && run.stderr.contains("TRACE"),
        "expected trace output on stderr ({} lines)",
        run.stderr.lines().count()
    );
    let all = run.both();
    for (what, secret) in [
        ("client secret", SIM_SECRET),
        ("initial refresh token", SIM_REFRESH),
        ("rotated refresh token", rotated.as_str()),
    ] {
        assert!(!all.contains(secret), "the {what} appears in the output");
    }
    assert_eq!(run.code, Some(0), "exit {:?} (output withheld)", run.code);

    // A wrong client secret: authentication fails, and the wrong value is not echoed either.
    let wrong = "wrong-client-secret-5f1c9e";
    let w2 = offline(&h.base_url(), true);
    let config2 = w2.config_path();
    let mut env = sim_env(wrong, true);
    env.push(("RUST_LOG".into(), "trace".into()));
    let run = run_async(with_config(&config2, &["-vv", "snapshot"]), env).await;
    assert!(
        matches!(run.code, Some(c) if c != 0),
        "auth failure exits non-zero, got {:?}",
        run.code
    );
    let all = run.both();
    for (what, secret) in [
        ("wrong client secret", wrong),
        ("real client secret", SIM_SECRET),
        ("initial refresh token", SIM_REFRESH),
    ] {
        assert!(!all.contains(secret), "the {what} appears in the output");
    }
    assert!(
        all.contains("invalid_client") && all.contains("client_secret in [partner_center]"),
        "the auth failure points at the client secret (exit {:?}, {} bytes of output)",
        run.code,
        all.len()
    );
    // A bad client secret is not a bad refresh token: no advice to redo the MFA consent.
    assert!(
        !all.contains("redo the App+User consent"),
        "a wrong client secret is blamed on the refresh token"
    );

    // A wrong refresh token: app-only data is fine, App+User sections fail with advice to redo
    // the consent, and the wrong token is not echoed.
    let wrong_refresh = "wrong-refresh-token-a83d2c";
    let w3 = offline(&h.base_url(), true);
    let config3 = w3.config_path();
    let env = vec![
        (SECRET_ENV.to_owned(), SIM_SECRET.to_owned()),
        (REFRESH_ENV.to_owned(), wrong_refresh.to_owned()),
        ("RUST_LOG".to_owned(), "trace".to_owned()),
    ];
    let run = run_async(
        with_config(&config3, &["-vv", "snapshot", "--format", "json"]),
        env,
    )
    .await;
    let all = run.both();
    for (what, secret) in [
        ("wrong refresh token", wrong_refresh),
        ("client secret", SIM_SECRET),
    ] {
        assert!(!all.contains(secret), "the {what} appears in the output");
    }
    assert_eq!(run.code, Some(3), "exit {:?}", run.code);
    let v: Value = serde_json::from_str(&run.stdout).expect("snapshot JSON");
    assert_eq!(v["customers"]["status"], "ok");
    for section in ["usage", "fraud_events"] {
        assert_eq!(v[section]["status"], "failed", "{section}");
        let err = v[section]["error"].as_str().unwrap_or_default();
        assert!(
            err.contains("invalid_grant") && err.contains("redo the App+User consent"),
            "{section}: {err}"
        );
    }
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_secret_in_a_group_readable_config_warns_with_chmod_600() {
    use std::os::unix::fs::PermissionsExt;
    let secret = "inline-0640-secret-Q7xv";
    let w = World::builder()
        .customers(5)
        .sim(|c| c.client_secret = secret.into())
        .minimal()
        .configure(move |c, _| {
            cli_config(c, false);
            c.client_secret(&Secret::inline(secret));
        })
        .start()
        .await;
    let config = w.config_path();
    assert!(w.config_text().contains("client_secret = "));
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).expect("chmod");

    let run = run_async(with_config(&config, &["snapshot"]), Vec::new()).await;
    assert!(
        !run.both().contains(secret),
        "the inline secret appears in the output"
    );
    assert_eq!(run.code, Some(0), "exit {:?}", run.code);
    let warning = run
        .stderr
        .lines()
        .find(|l| l.contains("chmod 600"))
        .unwrap_or_else(|| panic!("no chmod 600 warning on stderr:\n{}", run.stderr));
    assert!(
        warning.contains(&config.display().to_string()),
        "the warning names the file: {warning}"
    );

    // Owner-only: no warning.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let run = run_async(with_config(&config, &["snapshot"]), Vec::new()).await;
    assert_eq!(run.code, Some(0), "exit {:?}", run.code);
    assert!(
        !run.stderr.contains("chmod 600"),
        "warned about a 0600 file"
    );
    w.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// state: lock, corruption, ledger commands
// ---------------------------------------------------------------------------------------------

#[test]
fn snapshot_exits_75_naming_the_pid_while_another_run_holds_the_lock() {
    // Nothing listens on 127.0.0.1:9; the lock must stop the run before any network access.
    let w = offline(UNREACHABLE, true);
    let (config, state) = (w.config_path(), w.state_path());
    std::fs::create_dir_all(state.parent().expect("state dir")).expect("mkdir");
    let lock = cspguard::ledger::RunLock::acquire(&state).expect("lock");
    let run = run_bin(
        &with_config(&config, &["snapshot"]),
        &sim_env(SIM_SECRET, true),
    );
    assert_eq!(run.code, Some(75), "{}", run.show());
    assert!(
        run.stderr.contains(&format!("PID {}", std::process::id())),
        "stderr does not name this process:\n{}",
        run.show()
    );
    drop(lock);
}

#[test]
fn corrupt_state_fails_status_and_history_with_the_path_and_leaves_the_file_alone() {
    let w = offline(UNREACHABLE, false);
    let (config, state) = (w.config_path(), w.state_path());
    std::fs::create_dir_all(state.parent().expect("state dir")).expect("mkdir");
    let mut rng = fastrand::Rng::with_seed(7);
    let garbage: Vec<u8> = (0..8192).map(|_| rng.u8(..)).collect();
    std::fs::write(&state, &garbage).expect("write garbage");

    for cmd in ["status", "history"] {
        let run = run_bin(&with_config(&config, &[cmd]), &sim_env(SIM_SECRET, false));
        assert_eq!(run.code, Some(1), "{cmd}: {}", run.show());
        assert!(
            run.stderr.contains(&state.display().to_string()),
            "{cmd}: stderr does not name the state file:\n{}",
            run.show()
        );
        let now = std::fs::read(&state).expect("state still readable");
        assert!(now == garbage, "{cmd} changed the corrupt state file");
    }
}

#[test]
fn pause_status_approve_resume_through_the_binary() {
    let w = offline(UNREACHABLE, false);
    let (config, state) = (w.config_path(), w.state_path());
    std::fs::create_dir_all(state.parent().expect("state dir")).expect("mkdir");
    // What an earlier run saw: `pause` only accepts customers cspguard knows.
    cspguard::ledger::Ledger::open(&state)
        .expect("ledger")
        .record_known_customers(
            &[cspguard::ledger::KnownCustomer {
                id: "cust-e2e-0001".into(),
                company_name: "E2E Customer".into(),
                domain: None,
            }],
            jiff::Timestamp::now(),
        )
        .expect("known customers");
    let env = sim_env(SIM_SECRET, false);
    let until = jiff::Zoned::now()
        .date()
        .checked_add(jiff::Span::new().days(30))
        .expect("date")
        .to_string();
    let customer = "cust-e2e-0001";

    let run = run_bin(
        &with_config(
            &config,
            &[
                "pause",
                customer,
                "--until",
                &until,
                "--reason",
                "promise to pay",
            ],
        ),
        &env,
    );
    assert_eq!(run.code, Some(0), "{}", run.show());
    assert!(run.stdout.contains(customer), "{}", run.show());

    let run = run_bin(&with_config(&config, &["status", "--format", "json"]), &env);
    assert_eq!(run.code, Some(0), "{}", run.show());
    let v = json_of(&run);
    let holds = v["holds"].as_array().expect("holds array");
    assert_eq!(holds.len(), 1, "{v}");
    let who = cspguard::ledger::admin::current_os_user();
    assert_eq!(holds[0]["customer"], customer);
    assert_eq!(holds[0]["reason"], "promise to pay");
    assert_eq!(holds[0]["placed_by"], who.as_str());
    assert_eq!(holds[0]["until"], until.as_str());

    let run = run_bin(&with_config(&config, &["approve", "999"]), &env);
    assert_eq!(run.code, Some(2), "{}", run.show());
    assert!(
        run.stderr.contains("no action 999") && run.stderr.contains("cspguard status"),
        "{}",
        run.show()
    );

    let run = run_bin(
        &with_config(&config, &["resume", customer, "--format", "json"]),
        &env,
    );
    assert_eq!(run.code, Some(0), "{}", run.show());
    let v = json_of(&run);
    assert_eq!(v[0]["released_by"], who.as_str(), "{v}");

    let run = run_bin(&with_config(&config, &["status", "--format", "json"]), &env);
    assert_eq!(run.code, Some(0), "{}", run.show());
    let v = json_of(&run);
    assert_eq!(v["holds"].as_array().map(Vec::len), Some(0), "{v}");
}

// ---------------------------------------------------------------------------------------------
// receivables, demo
// ---------------------------------------------------------------------------------------------

#[test]
fn receivables_check_accepts_a_good_export_and_pinpoints_a_bad_date() {
    let w = offline(UNREACHABLE, false);
    let config = w.config_path();
    let env = sim_env(SIM_SECRET, false);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/receivables");

    let good = fixtures.join("ar-default.csv");
    let run = run_bin(
        &with_config(
            &config,
            &["receivables", "check", &good.display().to_string()],
        ),
        &env,
    );
    assert_eq!(run.code, Some(0), "{}", run.show());
    assert!(
        run.stdout.contains("INV-1001") && run.stdout.to_lowercase().contains("outstanding"),
        "no summary:\n{}",
        run.show()
    );

    let bad = fixtures.join("bad-date.csv");
    let run = run_bin(
        &with_config(
            &config,
            &["receivables", "check", &bad.display().to_string()],
        ),
        &env,
    );
    assert_eq!(run.code, Some(2), "{}", run.show());
    let all = run.both();
    let prefix = "bad-date.csv:3:";
    let pos = all
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix}<column> in:\n{}", run.show()));
    let column: String = all[pos + prefix.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(
        !column.is_empty(),
        "no column after {prefix}:\n{}",
        run.show()
    );
    assert!(
        all.contains("2025-02-30"),
        "the bad value is quoted:\n{}",
        run.show()
    );
}

#[test]
fn demo_runs_twice_in_the_same_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo_dir = dir.path().join("demo");
    for round in 1..=2 {
        let run = run_bin(
            &args(&[
                "demo",
                "--dir",
                &demo_dir.display().to_string(),
                "--customers",
                "40",
            ]),
            &[],
        );
        assert_eq!(run.code, Some(0), "round {round}: {}", run.show());
        assert!(
            run.stdout.contains("a simulated tenant of 57 customers"),
            "round {round}: 40 quiet customers plus the 17-customer cast:\n{}",
            run.show()
        );
        for day in ["Day +0", "Day +6", "Day +13", "Day +14", "Day +21"] {
            assert!(
                run.stdout.contains(day),
                "round {round}: {day} missing:\n{}",
                run.show()
            );
        }
        assert!(
            run.stdout.contains("final-notice") && run.stdout.contains("suspend for approval"),
            "round {round}: the ladder escalates to a final notice and a suspension awaiting \
             approval:\n{}",
            run.show()
        );
        // The whole lifecycle: an approval typed as a person would, the suspension carried
        // out, the payment and the reactivation the next day.
        for step in [
            "approve ",
            "run --only-approved",
            "done   suspend:",
            "has paid INV-1002",
            "done   reactivate:",
            "status",
        ] {
            assert!(
                run.stdout.contains(step),
                "round {round}: {step:?} missing:\n{}",
                run.show()
            );
        }
        assert!(
            !run.stdout.contains("systemctl") && !run.stdout.contains("\n  open "),
            "round {round}: next steps are platform-neutral:\n{}",
            run.show()
        );
        let outbox = std::fs::read_dir(demo_dir.join("outbox"))
            .expect("outbox")
            .filter_map(Result::ok)
            .count();
        assert!(outbox >= 20, "round {round}: {outbox} emails");
        // Every outbox file is a whole message with a subject and a Message-ID.
        let mails = support::mail::outbox(&demo_dir.join("outbox"));
        assert!(mails.len() >= 20, "round {round}: {} messages", mails.len());
        assert!(
            mails
                .iter()
                .all(|m| !m.subject().is_empty() && m.message_id().starts_with('<')),
            "round {round}: a message without subject or Message-ID"
        );
        // The outbox names each file after its action key.
        let names: Vec<String> = std::fs::read_dir(demo_dir.join("outbox"))
            .expect("outbox")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().replace("%2F", "/"))
            .collect();
        for kind in ["suspension", "reactivation"] {
            let prefix = format!(
                "notice/{}/{kind}/",
                cspguard::sim::scenario::ids::REMINDER_2
            );
            assert!(
                names.iter().any(|n| n.starts_with(&prefix)),
                "round {round}: no {kind} notice to Tailspin Toys in the outbox: {names:?}"
            );
        }
        let digests = std::fs::read_dir(demo_dir.join("state/reports"))
            .expect("digests")
            .count();
        assert_eq!(digests, 5, "round {round}: one digest per simulated day");
    }
}

/// `cspguard snapshot | head`: a reader that goes away must end the output quietly (exit 0),
/// never with a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_output_pipe_ends_quietly() {
    let w = world(300, true).await;
    let config = w.config_path();
    let args = with_config(&config, &["snapshot"]);
    let envs = sim_env(SIM_SECRET, true);
    let (code, stderr) = tokio::task::spawn_blocking(move || {
        let mut child = cli::command(&envs, CLEARED)
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // Close our end of stdout at once, like `head` after its lines.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("join");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    w.shutdown().await;
}
