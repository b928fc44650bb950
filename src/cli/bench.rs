//! `cspguard bench`: the scale benchmark (issue 8). For each tenant size it generates a tenant
//! (`cspguard::bench::tenant`), and for each mode starts a fresh simulator in a CHILD process
//! (`cspguard simulate --dataset ...`, realistic latency and Partner Center's rate limit) and
//! measures cspguard in another child process, so that the peak resident memory read with
//! `wait4` is cspguard's alone:
//! * `plan`: a hidden worker mode of this command (`bench --worker plan`) that runs
//!   `planning::plan`, times it, measures the CPU time of `policy::evaluate` on the collected
//!   snapshot, and writes its call statistics by endpoint;
//! * `run --dry-run`: the real `cspguard run --dry-run` command; its calls and 429s come from
//!   the run record in its ledger;
//! * `plan, warm` and `run --dry-run, warm` (issue 18): the same two, each on a copy of the
//!   ledger the cold `run --dry-run` left (its cached customer list, activity log and billing
//!   profiles), as the next hourly run would find it;
//! * the `plan` rows' peak RSS is the real `cspguard plan` command's, measured in one more child
//!   on a copy of the cold run's ledger (so App+User usage is read): cold with
//!   `[snapshot] full_refresh_hours = 0` (a full read), warm as is. The worker's own peak is not
//!   the command's: it also plans the emails' second run and evaluates three more times;
//! * `naive full scan`: the worker running `planning::plan_naive_full_scan`, up to `--naive-max`
//!   customers; above that its calls and lower bound are computed and labelled "not run".
//!
//! A fresh simulator per measurement keeps one measurement's calls out of the next one's rate
//! window. Results go to `<out>/results.json` and `<out>/results.md` after every size.

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use cspguard::bench::worker::{self, WorkerMode};
use cspguard::bench::{
    self, Machine, Measurement, Report, Settings, SizeReport, TenantFacts, WorkerResult,
};
use cspguard::exit::Exit;
use cspguard::ledger::{Ledger, RunLock};
use cspguard::pc::ratelimit::DEFAULT_PER_MINUTE;

use super::OrExit as _;

/// Arguments of `cspguard bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Tenant sizes (customers), comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000usize, 10_000, 50_000])]
    pub sizes: Vec<usize>,
    /// Latency the simulator adds to every API call, in milliseconds.
    #[arg(long, default_value_t = 80)]
    pub latency_ms: u64,
    /// The simulator's rate limit (requests per minute, as Partner Center's).
    #[arg(long, default_value_t = 500)]
    pub rate_limit: u32,
    /// Run the naive full scan only for tenants up to this many customers; larger ones get its
    /// exact call count and lower bound computed, labelled "not run".
    #[arg(long, default_value_t = 1_000)]
    pub naive_max: usize,
    /// Seed of the generated tenants.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory (results.json, results.md and per-run files).
    #[arg(long, default_value = "bench/out")]
    pub out: PathBuf,
    /// Instead of the tenant sizes, measure `cspguard reconcile` against billed exports of this
    /// many generated line items each (comma separated, e.g. 10000,1000000): peak memory must
    /// stay flat as the export grows.
    #[arg(long, value_delimiter = ',', value_name = "LINES")]
    pub recon_lines: Vec<u64>,
    /// Internal: run one measured planning pass in this process (`plan` or `naive`) with the
    /// global --config and write its figures to --worker-out.
    #[arg(long, hide = true, value_name = "MODE")]
    pub worker: Option<String>,
    /// Internal: where a worker writes its figures (JSON).
    #[arg(long, hide = true, requires = "worker")]
    pub worker_out: Option<PathBuf>,
}

/// Entry point: a worker when `--worker` is given, else the whole benchmark.
pub fn run(config_path: &Path, args: BenchArgs) -> anyhow::Result<Exit> {
    match (&args.worker, &args.worker_out) {
        (Some(mode), Some(out)) if mode == "tenant" => write_tenant(&args, out),
        (Some(mode), Some(out)) => worker(config_path, mode, out),
        (Some(_), None) => bail!("bench --worker needs --worker-out"),
        _ if !args.recon_lines.is_empty() => super::bench_recon::orchestrate(&args),
        _ => orchestrate(&args),
    }
}

const MAX_CONCURRENCY: usize = 8;

fn orchestrate(args: &BenchArgs) -> anyhow::Result<Exit> {
    let exe = std::env::current_exe().context("cannot find the cspguard executable")?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let out = std::fs::canonicalize(&args.out)?;
    let client_rate = if args.rate_limit == 0 {
        DEFAULT_PER_MINUTE
    } else {
        DEFAULT_PER_MINUTE.min(args.rate_limit)
    };
    let mut report = Report {
        started_at: Timestamp::now().to_string(),
        machine: Machine::describe(),
        settings: Settings {
            latency_ms: args.latency_ms,
            server_rate_per_minute: args.rate_limit,
            client_rate_per_minute: client_rate,
            max_concurrency: MAX_CONCURRENCY,
            naive_max: args.naive_max,
            seed: args.seed,
        },
        sizes: Vec::new(),
    };
    let env = Env {
        exe,
        latency: Duration::from_millis(args.latency_ms),
        server_rate: args.rate_limit,
        client_rate,
    };
    for &n in &args.sizes {
        eprintln!("bench: generating a tenant of {n} customers");
        let dir = out.join(n.to_string());
        std::fs::create_dir_all(&dir)?;
        let facts = env.generate_tenant(&dir, n, args.seed)?;
        let mut measurements = Vec::new();
        eprintln!("bench: {n} customers: plan");
        let mut plan = env.measure_worker(&dir, "plan")?;
        eprintln!("bench: {n} customers: run --dry-run");
        let run = env.measure_run(&dir, Warmth::Cold)?;
        // Warm runs start from the ledger the cold `run --dry-run` left (issue 18).
        eprintln!("bench: {n} customers: `cspguard plan`, full refresh (peak RSS)");
        plan.peak_rss_mib = Some(env.measure_plan_command(&dir, Warmth::Cold)?);
        plan.note = Some(PLAN_RSS_NOTE.to_owned());
        eprintln!("bench: {n} customers: plan, warm");
        let mut warm_plan = env.measure_worker(&dir, "warm")?;
        eprintln!("bench: {n} customers: `cspguard plan`, warm (peak RSS)");
        warm_plan.peak_rss_mib = Some(env.measure_plan_command(&dir, Warmth::Warm)?);
        warm_plan.note = Some(PLAN_RSS_NOTE.to_owned());
        eprintln!("bench: {n} customers: run --dry-run, warm");
        let warm_run = env.measure_run(&dir, Warmth::Warm)?;
        let naive = if n <= args.naive_max {
            eprintln!("bench: {n} customers: naive full scan");
            env.measure_worker(&dir, "naive")?
        } else {
            env.estimate_naive(&plan, &facts)
        };
        measurements.push(plan);
        measurements.push(run);
        measurements.push(warm_plan);
        measurements.push(warm_run);
        measurements.push(naive);
        report.sizes.push(SizeReport {
            tenant: facts,
            measurements,
        });
        write_report(&out, &report)?;
    }
    let md = report.to_markdown();
    println!("{md}");
    eprintln!(
        "bench: results written to {} and {}",
        out.join("results.json").display(),
        out.join("results.md").display()
    );
    Ok(Exit::Ok)
}

/// The note on the `plan` rows: where their figures come from.
const PLAN_RSS_NOTE: &str = "peak RSS of the real `cspguard plan` command (its own child process, \
     on a copy of the cold run's ledger; the cold row with `[snapshot] full_refresh_hours = 0`); \
     calls, wall time and evaluation CPU from the bench worker";

fn write_report(out: &Path, report: &Report) -> anyhow::Result<()> {
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    std::fs::write(out.join("results.md"), report.to_markdown())?;
    Ok(())
}

/// Whether a measured run starts from an empty ledger or from the cold run's (issue 18).
#[derive(Debug, Clone, Copy)]
enum Warmth {
    Cold,
    Warm,
}

pub(super) struct Env {
    pub(super) exe: PathBuf,
    pub(super) latency: Duration,
    pub(super) server_rate: u32,
    pub(super) client_rate: u32,
}

/// A simulator child process.
pub(super) struct Sim {
    pub(super) child: Child,
    pub(super) base_url: String,
}

/// The tenant of `--sizes N` written to `dir` (dataset, receivables and facts), by the hidden
/// `bench --worker tenant` child.
fn write_tenant(args: &BenchArgs, dir: &Path) -> anyhow::Result<Exit> {
    let tz = TimeZone::get("Europe/Stockholm").context("time zone")?;
    let n = args
        .sizes
        .first()
        .copied()
        .context("bench --worker tenant needs --sizes N")?;
    let t = bench::tenant(args.seed, n, Timestamp::now(), &tz);
    std::fs::write(dir.join("dataset.json"), t.dataset.to_json())?;
    std::fs::write(dir.join("receivables.csv"), &t.receivables_csv)?;
    std::fs::write(dir.join("facts.json"), serde_json::to_string(&t.facts)?)?;
    Ok(Exit::Ok)
}

impl Env {
    /// Generate a tenant in a child process. A measured child's peak memory (`ru_maxrss`)
    /// includes the high-water mark of the process it was spawned from, so the orchestrator must
    /// never hold a large tenant itself: before this, every row showed the orchestrator's peak
    /// (e.g. 355 MiB at 50,000 customers for every mode).
    fn generate_tenant(&self, dir: &Path, n: usize, seed: u64) -> anyhow::Result<TenantFacts> {
        let status = Command::new(&self.exe)
            .args(["-q", "bench", "--worker", "tenant", "--worker-out"])
            .arg(dir)
            .args(["--sizes", &n.to_string(), "--seed", &seed.to_string()])
            .stdin(Stdio::null())
            .status()
            .context("cannot start the tenant generator")?;
        if !status.success() {
            bail!("generating the tenant of {n} customers failed: {status}");
        }
        let facts = std::fs::read_to_string(dir.join("facts.json"))?;
        Ok(serde_json::from_str(&facts)?)
    }

    fn bound(&self, calls: u64) -> f64 {
        let rate = if self.server_rate == 0 {
            u32::MAX
        } else {
            self.server_rate
        };
        bench::lower_bound(calls, rate, self.latency, MAX_CONCURRENCY).as_secs_f64()
    }

    pub(super) fn start_sim(&self, dir: &Path, log: &Path) -> anyhow::Result<Sim> {
        let mut child = Command::new(&self.exe)
            .arg("-q")
            .arg("simulate")
            .args(["--port", "0", "--dataset"])
            .arg(dir.join("dataset.json"))
            .args(["--latency-ms", &self.latency.as_millis().to_string()])
            .args(["--rate-limit", &self.server_rate.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .context("cannot start the simulator")?;
        let stdout = child.stdout.take().context("simulator stdout")?;
        let mut base_url = None;
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(url) = line.trim().strip_prefix("base URL:") {
                base_url = Some(url.trim().to_owned());
            }
            if line.starts_with("Press Ctrl-C") {
                break;
            }
        }
        let Some(base_url) = base_url else {
            let _ = stop(&mut child);
            bail!(
                "the simulator did not print its base URL (see {})",
                log.display()
            );
        };
        Ok(Sim { child, base_url })
    }

    fn prepare(
        &self,
        dir: &Path,
        mode: &str,
        base_url: &str,
    ) -> anyhow::Result<(PathBuf, PathBuf)> {
        let mdir = dir.join(mode);
        if mdir.exists() {
            std::fs::remove_dir_all(&mdir)?;
        }
        std::fs::create_dir_all(&mdir)?;
        if mode.starts_with("warm") || mode.starts_with("plan-command") {
            // The state the cold `run --dry-run` left: its snapshot cache and profile cache.
            for file in ["state.sqlite", "state.sqlite-wal"] {
                let from = dir.join("run").join(file);
                if from.exists() {
                    std::fs::copy(&from, mdir.join(file)).with_context(|| {
                        format!("cannot copy the cold run's ledger {}", from.display())
                    })?;
                }
            }
            // With its run lock file, as a deployment has it: `plan` creates no file, and
            // without the lock it cannot refresh the App+User token (no usage read).
            std::fs::File::create(RunLock::lock_path(&mdir.join("state.sqlite")))?;
            // This measurement's simulator is a fresh one: it knows only its initial App+User
            // refresh token, not the one the cold run rotated to.
            Ledger::open(&mdir.join("state.sqlite"))?.save_refresh_token(
                &secrecy::SecretString::from(bench::SIM_REFRESH_TOKEN),
                Timestamp::now(),
            )?;
        }
        let config = mdir.join("cspguard.toml");
        std::fs::write(
            &config,
            bench::config_toml(
                base_url,
                &dir.join("receivables.csv"),
                &mdir.join("state.sqlite"),
                self.client_rate,
                MAX_CONCURRENCY,
            ),
        )?;
        // The simulator's fake secrets are inline; keep the file private so the run does not
        // warn about it.
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600))?;
        Ok((mdir, config))
    }

    fn measure_worker(&self, dir: &Path, mode: &str) -> anyhow::Result<Measurement> {
        let mut sim = self.start_sim(dir, &dir.join(format!("sim-{mode}.log")))?;
        let result = (|| {
            let (mdir, config) = self.prepare(dir, mode, &sim.base_url)?;
            let result_path = mdir.join("worker.json");
            let child = Command::new(&self.exe)
                .arg("-q")
                .arg("--config")
                .arg(&config)
                .args(["bench", "--worker", mode, "--worker-out"])
                .arg(&result_path)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(mdir.join("stdout.log"))?)
                .stderr(std::fs::File::create(mdir.join("stderr.log"))?)
                .spawn()
                .context("cannot start the measured worker")?;
            let (code, rss_kib) = bench::wait_with_peak_rss(child.id())?;
            let text = std::fs::read_to_string(&result_path).with_context(|| {
                format!(
                    "the {mode} worker exited with {code} and wrote no result (see {})",
                    mdir.join("stderr.log").display()
                )
            })?;
            let w: WorkerResult = serde_json::from_str(&text)?;
            Ok::<_, anyhow::Error>((w, rss_kib))
        })();
        stop(&mut sim.child)?;
        let (w, rss_kib) = result?;
        let (bulk, per) = bench::split_calls(&w.calls_by_endpoint);
        let bound = self.bound(w.calls);
        Ok(Measurement {
            mode: match mode {
                "naive" => "naive full scan".to_owned(),
                "warm" => "plan, warm".to_owned(),
                other => other.to_owned(),
            },
            measured: true,
            note: None,
            calls: w.calls,
            bulk_calls: Some(bulk),
            per_customer_calls: Some(per),
            calls_by_endpoint: w.calls_by_endpoint,
            throttled: Some(w.throttled),
            wall_secs: Some(w.wall_secs),
            lower_bound_secs: bound,
            ratio: (bound > 0.0).then(|| w.wall_secs / bound),
            peak_rss_mib: Some(rss_kib as f64 / 1024.0),
            eval_cpu_ms: Some(w.eval_cpu_secs * 1000.0),
            detail_fetched: Some(w.detail_fetched),
            findings: Some(w.findings),
            actions: Some(w.actions),
            outcome: Some(w.exit),
            emails: w.emails,
        })
    }

    /// Run `cspguard -q --config <config> <args>` in a child, its output in `mdir`; its exit code
    /// and peak RSS (KiB).
    fn measure_command(
        &self,
        mdir: &Path,
        config: &Path,
        args: &[&str],
    ) -> anyhow::Result<(i32, u64)> {
        let child = Command::new(&self.exe)
            .arg("-q")
            .arg("--config")
            .arg(config)
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(mdir.join("stdout.log"))?)
            .stderr(std::fs::File::create(mdir.join("stderr.log"))?)
            .spawn()
            .with_context(|| format!("cannot start `cspguard {}`", args.join(" ")))?;
        Ok(bench::wait_with_peak_rss(child.id())?)
    }

    /// Peak RSS (MiB) of the real `cspguard plan` command on a copy of the cold run's ledger:
    /// with `Warmth::Cold`, `[snapshot] full_refresh_hours = 0` makes it read everything.
    fn measure_plan_command(&self, dir: &Path, warmth: Warmth) -> anyhow::Result<f64> {
        let name = match warmth {
            Warmth::Cold => "plan-command",
            Warmth::Warm => "warm-plan-command",
        };
        let mut sim = self.start_sim(dir, &dir.join(format!("sim-{name}.log")))?;
        let result = (|| {
            let (mdir, config) = self.prepare(dir, name, &sim.base_url)?;
            if let Warmth::Cold = warmth {
                let mut text = std::fs::read_to_string(&config)?;
                text.push_str("[snapshot]\nfull_refresh_hours = 0\n");
                std::fs::write(&config, text)?;
            }
            let (code, rss_kib) = self.measure_command(&mdir, &config, &["plan"])?;
            // Anything but 0 means part of the plan is missing (3, degraded) or there is none;
            // a plan without App+User would plan less than the run it is compared with.
            let stderr = std::fs::read_to_string(mdir.join("stderr.log")).unwrap_or_default();
            if code != 0 || stderr.contains("configured but not used") {
                bail!(
                    "`cspguard plan` exited with {code} or planned without App+User (see {})",
                    mdir.join("stderr.log").display()
                );
            }
            Ok::<_, anyhow::Error>(rss_kib as f64 / 1024.0)
        })();
        stop(&mut sim.child)?;
        result
    }

    fn measure_run(&self, dir: &Path, warmth: Warmth) -> anyhow::Result<Measurement> {
        let name = match warmth {
            Warmth::Cold => "run",
            Warmth::Warm => "warm-run",
        };
        let mut sim = self.start_sim(dir, &dir.join(format!("sim-{name}.log")))?;
        let result = (|| {
            let (mdir, config) = self.prepare(dir, name, &sim.base_url)?;
            let started = Instant::now();
            let (code, rss_kib) = self.measure_command(&mdir, &config, &["run", "--dry-run"])?;
            let wall = started.elapsed().as_secs_f64();
            let ledger = Ledger::open(&mdir.join("state.sqlite"))?;
            let Some(row) = ledger.recent_runs(1)?.into_iter().next() else {
                bail!(
                    "`cspguard run --dry-run` exited with {code} and recorded no run (see {})",
                    mdir.join("stderr.log").display()
                );
            };
            Ok::<_, anyhow::Error>((row, code, wall, rss_kib))
        })();
        stop(&mut sim.child)?;
        let (row, code, wall, rss_kib) = result?;
        let count = |k: &str| row.counts.get(k).and_then(serde_json::Value::as_u64);
        let calls = count("partner_center_calls").unwrap_or(0);
        let bound = self.bound(calls);
        Ok(Measurement {
            mode: match warmth {
                Warmth::Cold => "run --dry-run".to_owned(),
                Warmth::Warm => "run --dry-run, warm".to_owned(),
            },
            measured: true,
            note: Some(format!(
                "the real `cspguard run --dry-run` in a child process (exit code {code}); calls \
                 and 429s from its ledger run record, which has no per-endpoint split; wall time \
                 includes process start, ledger setup, recording and the digest; evaluation CPU \
                 is the plan worker's"
            )),
            calls,
            bulk_calls: None,
            per_customer_calls: None,
            calls_by_endpoint: Default::default(),
            throttled: count("throttled"),
            wall_secs: Some(wall),
            lower_bound_secs: bound,
            ratio: (bound > 0.0).then(|| wall / bound),
            peak_rss_mib: Some(rss_kib as f64 / 1024.0),
            eval_cpu_ms: None,
            detail_fetched: count("detail_fetched").map(|v| v as usize),
            findings: count("findings").map(|v| v as usize),
            actions: count("planned_actions").map(|v| v as usize),
            outcome: row.outcome,
            emails: None,
        })
    }

    fn estimate_naive(&self, plan: &Measurement, facts: &TenantFacts) -> Measurement {
        let bulk = plan.bulk_calls.unwrap_or(0);
        let profiles: u64 = plan
            .calls_by_endpoint
            .iter()
            .filter(|(ep, _)| ep.ends_with("/profiles/billing"))
            .map(|(_, n)| n)
            .sum();
        let calls = bench::naive_calls(bulk, facts.customers, profiles);
        let bound = self.bound(calls);
        Measurement {
            mode: "naive full scan".to_owned(),
            measured: false,
            note: Some(format!(
                "not run: would take ~{:.0} min at the rate limit ({} requests/minute). Calls \
                 computed exactly as the plan's {bulk} bulk calls + 3 x {} customers \
                 (subscriptions, budget, usage summary) + the plan's {profiles} billing \
                 profiles; the lower bound uses the same formula as the measured rows",
                bound / 60.0,
                self.server_rate,
                facts.customers
            )),
            calls,
            bulk_calls: Some(bulk),
            per_customer_calls: Some(calls - bulk),
            lower_bound_secs: bound,
            ..Measurement::default()
        }
    }
}

/// Stop a simulator child this process started: SIGINT (it shuts down on Ctrl-C), then wait.
pub(super) fn stop(child: &mut Child) -> anyhow::Result<()> {
    let pid = libc::pid_t::try_from(child.id()).context("simulator pid")?;
    // SAFETY: plain syscall on the pid of our own, not yet reaped, child.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    for _ in 0..100 {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}

/// One measured planning pass in this process (`plan` or `naive`).
fn worker(config_path: &Path, mode: &str, out: &Path) -> anyhow::Result<Exit> {
    let loaded = super::load_config(config_path)?;
    let mode: WorkerMode = mode.parse().or_exit()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime
        .block_on(worker::measure(&loaded.config, mode))
        .or_exit()?;
    std::fs::write(out, serde_json::to_string_pretty(&result)?)
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(Exit::Ok)
}
