//! `cspguard bench --recon-lines N,M,...`: the billing reconciliation benchmark (issue 17). For
//! each size it writes a tenant whose billed export holds that many generated line items
//! (`cspguard::bench::recon::tenant`), starts a simulator child (no latency, no rate limit) and
//! measures `cspguard reconcile --json` in another child: peak resident memory (`wait4`), wall
//! time and the lines it read. Results go to `<out>/recon/results.json` and `results.md`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use cspguard::bench::recon::{self, ReconMeasurement};
use cspguard::exit::Exit;

use super::bench::{BenchArgs, Env, stop};

/// Run the reconciliation benchmark for every `--recon-lines` size.
pub fn orchestrate(args: &BenchArgs) -> anyhow::Result<Exit> {
    let env = Env {
        exe: std::env::current_exe().context("cannot find the cspguard executable")?,
        latency: Duration::ZERO,
        server_rate: 0,
        client_rate: 450,
    };
    let out = args.out.join("recon");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let out = std::fs::canonicalize(&out)?;
    let tz = TimeZone::get("Europe/Stockholm").context("time zone")?;
    let mut rows = Vec::new();
    for &lines in &args.recon_lines {
        eprintln!("bench: reconciliation of an export of {lines} generated line items");
        let dir = out.join(lines.to_string());
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let (dataset, csv) = recon::tenant(args.seed, lines, Timestamp::now(), &tz);
        std::fs::write(dir.join("dataset.json"), dataset.to_json())?;
        std::fs::write(dir.join("receivables.csv"), csv)?;
        drop(dataset);
        rows.push(measure(&env, &dir, lines)?);
        std::fs::write(
            out.join("results.json"),
            serde_json::to_string_pretty(&rows)?,
        )?;
        std::fs::write(out.join("results.md"), recon::to_markdown(&rows))?;
    }
    println!("{}", recon::to_markdown(&rows));
    eprintln!(
        "bench: results written to {}",
        out.join("results.md").display()
    );
    Ok(Exit::Ok)
}

fn measure(env: &Env, dir: &Path, lines: u64) -> anyhow::Result<ReconMeasurement> {
    let mut sim = env.start_sim(dir, &dir.join("sim.log"))?;
    let result = (|| {
        let config = dir.join("cspguard.toml");
        std::fs::write(
            &config,
            recon::config_toml(
                &sim.base_url,
                &dir.join("receivables.csv"),
                &dir.join("state.sqlite"),
            ),
        )?;
        std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        let started = Instant::now();
        let child = Command::new(&env.exe)
            .arg("-q")
            .arg("--config")
            .arg(&config)
            .args(["reconcile", "--json"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("stdout.json"))?)
            .stderr(std::fs::File::create(dir.join("stderr.log"))?)
            .spawn()
            .context("cannot start `cspguard reconcile`")?;
        let (code, rss_kib) = cspguard::bench::wait_with_peak_rss(child.id())?;
        let wall = started.elapsed().as_secs_f64();
        let text = std::fs::read_to_string(dir.join("stdout.json"))?;
        let json: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => bail!(
                "`cspguard reconcile` exited with {code} without a JSON report ({e}; see {})",
                dir.join("stderr.log").display()
            ),
        };
        let coverage = &json["reconciliation"]["coverage"];
        Ok::<_, anyhow::Error>(ReconMeasurement {
            generated_lines: lines,
            lines_read: coverage["lines"].as_u64().unwrap_or(0),
            bad_lines: coverage["bad_lines"].as_u64().unwrap_or(0),
            exit: code,
            wall_secs: wall,
            peak_rss_mib: rss_kib as f64 / 1024.0,
        })
    })();
    stop(&mut sim.child)?;
    result
}
