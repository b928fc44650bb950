//! `cspguard demo`: shows cspguard working end to end with no credentials. It starts the
//! Partner Center simulator in-process on 127.0.0.1, writes a demo config and state under
//! `--dir`, and drives the same code paths a real run uses (config loading, secrets, the client,
//! collection, the ledger).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use jiff::Timestamp;

use cspguard::cli::DemoArgs;
use cspguard::collect::{self, CollectOptions, DetailScope};
use cspguard::config::Config;
use cspguard::context;
use cspguard::exit::Exit;
use cspguard::sim::{SimConfig, Simulator};

/// Files the demo owns inside its directory; removed at the start so every demo is fresh.
const DEMO_FILES: &[&str] = &[
    "cspguard.toml",
    "state.db",
    "state.db-wal",
    "state.db-shm",
    "state.db.lock",
    "snapshot.json",
    "snapshot.txt",
];

/// Run the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<Exit> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the demo directory {}", dir.display()))?;
    for f in DEMO_FILES {
        let p = dir.join(f);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
    }

    println!(
        "cspguard demo: starting the Partner Center simulator with {} customers",
        args.customers
    );
    let sim = Simulator::start(SimConfig {
        seed: 42,
        customers: args.customers,
        ..SimConfig::default()
    })
    .await
    .context("cannot start the simulator")?;

    let config_path = dir.join("cspguard.toml");
    write_demo_config(&config_path, &sim.base_url(), &dir.join("state.db"))?;
    let loaded = Config::load(&config_path)?;
    let cfg = &loaded.config;

    let state = super::ledger::StateAccess::for_app_user(cfg)?;
    let pc = context::client(cfg, state.refresh_store(), uuid::Uuid::new_v4())?;
    let now = Timestamp::now();

    // Bulk collection first, then detail for a handful of customers, the way a run asks for
    // detail only where a policy needs it.
    let bulk = collect::collect(
        &pc,
        &CollectOptions::last_days(now, 30, DetailScope::None),
        now,
    )
    .await;
    let watch: BTreeSet<String> = bulk
        .usage
        .data()
        .into_iter()
        .flatten()
        .filter(|u| {
            u.percent_used
                .is_some_and(|p| p >= rust_decimal::Decimal::from(80))
        })
        .filter_map(|u| u.customer_id().map(str::to_owned))
        .take(5)
        .collect();
    let requests = watch
        .iter()
        .cloned()
        .map(collect::DetailRequest::all)
        .collect();
    let details = collect::fetch_details(&pc, requests, 8, None).await;
    let mut snap = bulk;
    snap.details = details;
    snap.calls = pc.stats();

    let json = snap.to_json().context("cannot render the snapshot")?;
    std::fs::write(dir.join("snapshot.json"), json)
        .with_context(|| format!("cannot write {}", dir.join("snapshot.json").display()))?;
    std::fs::write(dir.join("snapshot.txt"), snap.to_table())
        .with_context(|| format!("cannot write {}", dir.join("snapshot.txt").display()))?;

    println!("{}", summary(&snap, dir));
    sim.shutdown().await;
    Ok(if snap.has_failures() {
        Exit::Degraded
    } else {
        Exit::Ok
    })
}

fn write_demo_config(path: &Path, base_url: &str, state: &Path) -> anyhow::Result<()> {
    // The simulator's credentials are not secrets; they are written inline to a 0600 file.
    let text = format!(
        "# Written by `cspguard demo`: points at the in-process simulator.\n\
         mode = \"dry-run\"\n\
         timezone = \"Europe/Stockholm\"\n\n\
         [partner_center]\n\
         tenant_id = \"sim-partner-tenant\"\n\
         client_id = \"sim-client-id\"\n\
         client_secret = \"sim-client-secret\"\n\
         authority = \"{base_url}\"\n\
         base_url = \"{base_url}\"\n\n\
         [partner_center.app_user]\n\
         refresh_token = \"sim-refresh-token-0\"\n\n\
         [state]\n\
         path = {state:?}\n"
    );
    write_private(path, &text)
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn summary(snap: &cspguard::snapshot::Snapshot, dir: &Path) -> String {
    let mut out = String::new();
    let customers = snap.customers.data().map_or(0, Vec::len);
    let usage = snap.usage.data().map(Vec::as_slice).unwrap_or_default();
    let over = |pct: i64| {
        usage
            .iter()
            .filter(|u| {
                u.percent_used
                    .is_some_and(|p| p >= rust_decimal::Decimal::from(pct))
            })
            .count()
    };
    let no_budget = usage
        .iter()
        .filter(|u| u.budget_amount().is_none() && u.total_cost.is_some_and(|c| !c.is_zero()))
        .count();
    let audit = snap.audit_records.data().map_or(0, Vec::len);
    let fraud_active = snap
        .fraud_events
        .data()
        .map_or(0, |f| f.iter().filter(|e| e.is_open()).count());
    let _ = writeln!(out, "\nWhat cspguard saw in the simulated tenant:");
    let _ = writeln!(out, "  customers                      {customers}");
    let _ = writeln!(out, "  at or over 80% of budget       {}", over(80));
    let _ = writeln!(out, "  at or over 100% of budget      {}", over(100));
    let _ = writeln!(out, "  spending with no budget        {no_budget}");
    let _ = writeln!(out, "  activity-log records (30 days) {audit}");
    let _ = writeln!(out, "  open Azure fraud events        {fraud_active}");
    let _ = writeln!(
        out,
        "  detail fetched for             {} customers near or over budget",
        snap.details.len()
    );
    let _ = writeln!(
        out,
        "  Partner Center calls           {} ({} retries, {} throttled)",
        snap.calls.totals.calls, snap.calls.totals.retries, snap.calls.totals.throttled
    );
    let _ = writeln!(out, "\nWritten:");
    let _ = writeln!(out, "  {}", dir.join("snapshot.txt").display());
    let _ = writeln!(out, "  {}", dir.join("snapshot.json").display());
    let _ = writeln!(out, "  {}  (the ledger)", dir.join("state.db").display());
    let _ = writeln!(
        out,
        "\nNot in this build yet (see README, Status and limitations): the dunning ladder and \
         other policies, customer notices, enforcement and the daily digest."
    );
    out
}
