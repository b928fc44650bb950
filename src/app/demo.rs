//! `cspguard demo`: shows cspguard working end to end with no credentials. It scripts a tenant
//! (late payers at every ladder stage, a partial payer, a budget and a forecast breach, a fraud
//! event, an admin grant, a sign-up burst, plus quiet customers), writes a receivables export, and
//! runs the real `run` cycle in `notify` mode over several simulated days against the in-process
//! Partner Center simulator on 127.0.0.1, with file mail in `<dir>/outbox`. Each day gets a fresh
//! simulator whose clock is that day; the ledger carries over, so the dunning ladder escalates.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use jiff::{SignedDuration, Timestamp};

use cspguard::cli::DemoArgs;
use cspguard::config::{Config, Mode};
use cspguard::exit::Exit;
use cspguard::ledger::{ActionStatus, Ledger, LedgerView};
use cspguard::sim::{SimConfig, Simulator, scenario};

/// Simulated days, relative to today.
const DAYS: &[i64] = &[0, 6, 13, 21];

/// Run the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<Exit> {
    let dir = &args.dir;
    fresh_dir(dir)?;
    let tz = jiff::tz::TimeZone::get("Europe/Stockholm").context("time zone database")?;
    let today = Timestamp::now().to_zoned(tz.clone()).date();
    let start = today
        .at(9, 0, 0, 0)
        .to_zoned(tz.clone())
        .context("local morning")?
        .timestamp();
    let s = scenario::demo_tenant(start, &tz, args.customers);
    println!(
        "cspguard demo: a simulated tenant of {} customers, the partner's receivables, and \
         `cspguard run` in notify mode on {} simulated days. Mail goes to files in {}.\n",
        s.dataset.customers.len(),
        DAYS.len(),
        dir.join("outbox").display()
    );

    let receivables_path = dir.join("receivables.csv");
    let mut worst = Exit::Ok;
    for (i, day) in DAYS.iter().enumerate() {
        let now = start
            .checked_add(SignedDuration::from_hours(24 * day))
            .context("simulated day")?;
        let date = now.to_zoned(tz.clone()).date();
        // Contoso Pharmaceuticals pays its remaining balance before the third day.
        let csv = if i >= 2 {
            s.receivables_csv
                .replace(",1240.00,1000.00,USD,open", ",1240.00,1240.00,USD,paid")
        } else {
            s.receivables_csv.clone()
        };
        write(&receivables_path, &csv)?;
        let sim = Simulator::start(SimConfig {
            dataset: Some(s.dataset.clone()),
            clock: Some(now),
            refresh_token: current_refresh_token(dir)?,
            ..SimConfig::default()
        })
        .await
        .context("cannot start the simulator")?;
        let config_path = dir.join("cspguard.toml");
        write_private(
            &config_path,
            &demo_config(dir, &sim.base_url(), &receivables_path),
        )?;
        let cfg = Config::load(&config_path)?.config;

        println!("── Day {day:+} ({date}) ─────────────────────────────────────────");
        if i == 2 {
            println!("   (Contoso Pharmaceuticals has paid INV-1006 in full)");
        }
        let exit = super::run::cycle(&cfg, Mode::Notify, now).await?;
        if exit != Exit::Ok {
            worst = exit;
        }
        sim.shutdown().await;
        print!("{}", day_summary(&cfg, now)?);
    }

    let cfg = Config::load(&dir.join("cspguard.toml"))?.config;
    println!("{}", closing(&cfg, dir)?);
    Ok(worst)
}

/// Each simulated day starts a fresh simulator; it must accept the refresh token the ledger holds
/// after the previous day's rotation (a real tenant would simply keep the rotated one valid).
fn current_refresh_token(dir: &Path) -> anyhow::Result<String> {
    use secrecy::ExposeSecret as _;
    let path = dir.join("state").join("state.db");
    if !path.exists() {
        return Ok(SimConfig::default().refresh_token);
    }
    let ledger = Ledger::open(&path)?;
    Ok(ledger.load_refresh_token()?.map_or_else(
        || SimConfig::default().refresh_token,
        |t| t.expose_secret().to_owned(),
    ))
}

fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    for sub in ["state", "outbox"] {
        let p = dir.join(sub);
        if p.exists() {
            std::fs::remove_dir_all(&p).with_context(|| format!("cannot clear {}", p.display()))?;
        }
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the demo directory {}", dir.display()))
}

fn demo_config(dir: &Path, base_url: &str, receivables: &Path) -> String {
    // The simulator's credentials are not secrets; they are written inline to a 0600 file.
    format!(
        "# Written by `cspguard demo`: points at the in-process simulator.\n\
         mode = \"notify\"\n\
         timezone = \"Europe/Stockholm\"\n\n\
         [partner]\n\
         name = \"Contoso Cloud Services\"\n\
         contact_email = \"ar@contoso-cloud.example\"\n\
         contact_phone = \"+46 8 555 0100\"\n\
         payment_instructions = \"Bankgiro 555-0100, reference: your invoice number\"\n\n\
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
         path = {receivables:?}\n\n\
         [digest]\n\
         hour = 0\n\n\
         [mail]\n\
         transport = \"file\"\n\
         from = \"Contoso Cloud Services <billing@contoso-cloud.example>\"\n\
         ops_to = [\"ops@contoso-cloud.example\"]\n\
         outbox_dir = {outbox:?}\n",
        state = dir.join("state").join("state.db"),
        outbox = dir.join("outbox"),
    )
}

fn day_summary(cfg: &Config, now: Timestamp) -> anyhow::Result<String> {
    let ledger = Ledger::open(&cfg.state.path)?;
    let mut out = String::new();
    let notices = ledger.notices(None, Some(now))?;
    let customer_mail: Vec<_> = notices
        .iter()
        .filter(|n| n.customer.is_some() && n.template != "ops-alert")
        .collect();
    let ops_mail = notices.len() - customer_mail.len();
    for n in &customer_mail {
        let _ = writeln!(
            out,
            "   email  {:<18} ({:<7}) to {}",
            n.template, n.locale, n.recipient
        );
    }
    let _ = writeln!(out, "   email  {ops_mail} to the ops team (alerts, digest)");
    for a in ledger.actions_in_status(&[ActionStatus::AwaitingApproval])? {
        if a.updated_at >= now {
            let _ = writeln!(out, "   waits  {} for approval: {}", a.kind, a.reason);
        }
    }
    for a in ledger.actions_changed_since(now)? {
        if a.status == ActionStatus::Cancelled {
            let _ = writeln!(
                out,
                "   cancel {}: {}",
                a.key,
                a.rejection_reason.as_deref().unwrap_or("no longer needed")
            );
        }
    }
    Ok(out)
}

fn closing(cfg: &Config, dir: &Path) -> anyhow::Result<String> {
    let ledger = Ledger::open(&cfg.state.path)?;
    let mut out = String::new();
    let emails = std::fs::read_dir(dir.join("outbox"))
        .map(|d| d.filter_map(Result::ok).count())
        .unwrap_or(0);
    let digests = super::digest::digest_dir(cfg);
    let _ = writeln!(
        out,
        "\nEmails written: {emails} files in {}",
        dir.join("outbox").display()
    );
    let _ = writeln!(out, "Daily digests:  {}", digests.display());
    let waiting = ledger.actions_in_status(&[ActionStatus::AwaitingApproval])?;
    if !waiting.is_empty() {
        let _ = writeln!(
            out,
            "\nWaiting for a person (in notify mode suspensions need `cspguard approve ID`):"
        );
        for a in &waiting {
            let _ = writeln!(out, "  #{} {}: {}", a.id, a.kind, a.reason);
        }
    }
    let config = dir.join("cspguard.toml");
    let _ = writeln!(
        out,
        "\nLook around:\n  {exe} --config {c} status\n  {exe} --config {c} history --customer {id}\n  \
         open {d}",
        exe = this_binary(),
        c = config.display(),
        id = scenario::ids::REMINDER_1,
        d = digests.display(),
    );
    Ok(out)
}

/// How to call this binary from the current directory (`./target/release/cspguard` after
/// `cargo run --release -- demo`), falling back to `cspguard`.
fn this_binary() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "cspguard".to_owned();
    };
    match std::env::current_dir()
        .ok()
        .and_then(|d| exe.strip_prefix(d).ok().map(Path::to_path_buf))
    {
        Some(rel) => format!("./{}", rel.display()),
        None => exe.display().to_string(),
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn write_private(path: &PathBuf, text: &str) -> anyhow::Result<()> {
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
