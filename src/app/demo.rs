//! `cspguard demo`: shows cspguard working end to end with no credentials. It starts the
//! Partner Center simulator in-process on 127.0.0.1 with a scripted tenant, writes a demo config,
//! a receivables export and a state database under `--dir`, and drives the same code paths a real
//! run uses (config loading, secrets, the client, collection, the receivables import, the ledger
//! and the policies).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use jiff::Timestamp;

use cspguard::cli::DemoArgs;
use cspguard::config::Config;
use cspguard::context;
use cspguard::exit::Exit;
use cspguard::ledger::Ledger;
use cspguard::plan::render;
use cspguard::planning::{self, Planned};
use cspguard::sim::{SimConfig, Simulator, scenario};

/// Files the demo owns inside its directory; removed at the start so every demo is fresh.
const DEMO_FILES: &[&str] = &[
    "cspguard.toml",
    "state.db",
    "state.db-wal",
    "state.db-shm",
    "state.db.lock",
    "snapshot.json",
    "snapshot.txt",
    "plan.json",
    "plan.txt",
    "receivables.csv",
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

    let tz = jiff::tz::TimeZone::get("Europe/Stockholm").context("time zone database")?;
    let now = Timestamp::now();
    let scenario = scenario::demo_tenant(now, &tz, args.customers);
    println!(
        "cspguard demo: starting the Partner Center simulator with {} customers (a scripted cast \
         of late payers, a budget breach, a fraud event, an admin grant and a sign-up burst, plus \
         quiet customers)",
        scenario.dataset.customers.len()
    );
    let sim = Simulator::start(SimConfig {
        dataset: Some(scenario.dataset),
        ..SimConfig::default()
    })
    .await
    .context("cannot start the simulator")?;

    let receivables_path = dir.join("receivables.csv");
    write(&receivables_path, &scenario.receivables_csv)?;
    let config_path = dir.join("cspguard.toml");
    write_demo_config(
        &config_path,
        &sim.base_url(),
        &dir.join("state.db"),
        &receivables_path,
    )?;
    let loaded = Config::load(&config_path)?;
    let cfg = &loaded.config;

    let state = super::ledger::StateAccess::for_app_user(cfg)?;
    let ledger = Ledger::open(&cfg.state.path)?;
    let pc = context::client(cfg, state.refresh_store(), uuid::Uuid::new_v4())?;

    let planned = planning::plan(&pc, cfg, &ledger, now).await;
    let snap = &planned.snapshot;
    write(
        &dir.join("snapshot.json"),
        &snap.to_json().context("cannot render the snapshot")?,
    )?;
    write(&dir.join("snapshot.txt"), &snap.to_table())?;
    write(
        &dir.join("plan.json"),
        &serde_json::to_string_pretty(&planned.plan).context("cannot render the plan")?,
    )?;
    write(
        &dir.join("plan.txt"),
        &render::to_table(&planned.plan, &customer_names(snap)),
    )?;

    println!("{}", summary(&planned, dir));
    sim.shutdown().await;
    Ok(planned.exit())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn customer_names(snap: &cspguard::snapshot::Snapshot) -> BTreeMap<String, String> {
    snap.customers
        .data()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.company_name().map(|n| (c.id.clone(), n.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn write_demo_config(
    path: &Path,
    base_url: &str,
    state: &Path,
    receivables: &Path,
) -> anyhow::Result<()> {
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
         path = {state:?}\n\n\
         [receivables]\n\
         path = {receivables:?}\n"
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

fn summary(planned: &Planned, dir: &Path) -> String {
    let mut out = String::new();
    let snap = &planned.snapshot;
    let plan = &planned.plan;
    let customers = snap.customers.data().map_or(0, Vec::len);
    let _ = writeln!(
        out,
        "\nWhat cspguard found in the simulated tenant ({customers} customers):"
    );
    for f in &plan.findings {
        let _ = writeln!(out, "  [{}] {}", f.severity, f.summary);
    }
    if plan.findings.is_empty() {
        let _ = writeln!(out, "  nothing");
    }
    let _ = writeln!(
        out,
        "\nWhat it would do (mode dry-run: nothing is sent or changed):"
    );
    for a in &plan.actions {
        let approval = if a.requires_approval {
            " [needs approval]"
        } else {
            ""
        };
        let _ = writeln!(out, "  {}{approval}: {}", a.kind.name(), a.reason);
    }
    if plan.actions.is_empty() {
        let _ = writeln!(out, "  nothing");
    }
    let _ = writeln!(
        out,
        "\nPartner Center calls: {} for {customers} customers (detail fetched for {}); \
         {} retries, {} throttled",
        snap.calls.totals.calls,
        planned.detail_fetched,
        snap.calls.totals.retries,
        snap.calls.totals.throttled
    );
    let _ = writeln!(out, "\nWritten:");
    for f in [
        "plan.txt",
        "plan.json",
        "snapshot.txt",
        "snapshot.json",
        "receivables.csv",
        "state.db",
    ] {
        let _ = writeln!(out, "  {}", dir.join(f).display());
    }
    let _ = writeln!(
        out,
        "\nNot in this build yet (see README, Status and limitations): sending notices, \
         enforcement and the daily digest; the demo therefore stops at the plan."
    );
    out
}
