//! The one test world of the end-to-end tests (test support, not shipped): the Partner Center
//! simulator on loopback (a dataset or a generated tenant, an optional business clock), the
//! embedded SMTP server (STARTTLS + AUTH with the test CA), a temporary directory holding the
//! ledger and the receivables export, and the config file built by [`ConfigBuilder`].
//!
//! Pipeline tests run cycles in this process through the library ([`World::run`]: the same
//! `run::Session` and `run::cycle` the binary calls, with the output it prints); operator
//! commands and tests of the process itself spawn the binary ([`World::cli`],
//! [`World::run_binary`]).
//!
//! Invariants: everything listens on 127.0.0.1 only; the config file is rewritten (mode 0600)
//! whenever the test changes it through [`World::configure`]; [`World::shutdown`] stops the
//! simulator and the SMTP server, freeing their ports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use cspguard::config::{Config, Mode as RunMode};
use cspguard::exit::{Coded, chain_text};
use cspguard::ledger::Ledger;
use cspguard::run::{self, RunOptions, RunSummary, Session};
use cspguard::sim::dataset::Dataset;
use cspguard::sim::{SimConfig, SimHandle, Simulator};

use super::cli::{self, Output};
use super::config::{ConfigBuilder, SMTP_PASSWORD, SMTP_USER, Secret};
use super::smtp::{Mode, Options, SmtpServer};

/// The flags of `cspguard run` a test passes to [`World::run`].
struct RunFlags {
    dry_run: bool,
    only_approved: bool,
}

impl RunFlags {
    fn parse(extra: &[&str]) -> RunFlags {
        let mut flags = RunFlags {
            dry_run: false,
            only_approved: false,
        };
        for arg in extra {
            match *arg {
                "--dry-run" => flags.dry_run = true,
                "--only-approved" => flags.only_approved = true,
                other => panic!("World::run does not know the flag {other:?}; use run_binary"),
            }
        }
        flags
    }
}

/// One `run` (the library calls the binary makes) and the output the binary would print.
async fn one_run(config: &Config, path: PathBuf, flags: RunFlags, now: Timestamp) -> Output {
    let mode = if flags.dry_run {
        RunMode::DryRun
    } else {
        config.mode
    };
    let options = RunOptions { mode, now };
    let result: Result<RunSummary, Coded> = async {
        // As `cspguard run` does before anything else: paths named by the config must exist.
        config.check_paths(&path)?;
        let session = Session::open(config, uuid::Uuid::new_v4())?;
        if flags.only_approved {
            Ok(run::only_approved(&session, options).await?)
        } else {
            Ok(run::cycle(&session, options).await?)
        }
    }
    .await;
    match result {
        Ok(summary) => Output {
            code: Some(i32::from(summary.exit.code())),
            stdout: format!("{summary}\n"),
            stderr: summary.alerts().to_string(),
        },
        Err(e) => Output {
            code: Some(i32::from(e.exit().code())),
            stdout: String::new(),
            stderr: format!("error: {}", chain_text(&e)),
        },
    }
}

/// An address where nothing listens: for tests that never reach Partner Center.
pub const UNREACHABLE: &str = "http://127.0.0.1:9";

/// The options of the embedded server the pipeline tests send through.
pub fn smtp_options() -> Options {
    Options::new(Mode::StartTls).with_credentials(SMTP_USER, SMTP_PASSWORD)
}

/// How the world's mail is set up.
enum Mail {
    /// No `[mail]` section, no server.
    None,
    /// A running server with these options.
    Server(Options),
    /// `[mail]` names a free loopback port where nothing listens (yet).
    ClosedPort(Options),
    /// `[mail]` names a server that something else runs (another world's).
    Elsewhere(SocketAddr),
}

/// Which config the world starts from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Mode, partner and digest on top of the minimal one: what `cspguard run` needs.
    Pipeline,
    /// Time zone, Partner Center, state and receivables only.
    Minimal,
}

type Tweak = Box<dyn FnOnce(&mut ConfigBuilder, &Path)>;

/// Builds a [`World`]; every setting has the pipeline tests' default.
pub struct WorldBuilder {
    sim: SimConfig,
    receivables: Option<String>,
    mail: Mail,
    shape: Shape,
    mode: &'static str,
    env: Vec<(String, String)>,
    tweaks: Vec<Tweak>,
}

impl WorldBuilder {
    /// The simulator serves this dataset.
    pub fn dataset(mut self, dataset: Dataset) -> Self {
        self.sim.dataset = Some(dataset);
        self
    }

    /// The simulator generates a tenant of `n` customers.
    pub fn customers(mut self, n: usize) -> Self {
        self.sim.customers = n;
        self
    }

    /// The simulator's business time.
    pub fn clock(mut self, now: Timestamp) -> Self {
        self.sim.clock = Some(now);
        self
    }

    /// Any other simulator setting (secrets, latency, faults).
    pub fn sim(mut self, f: impl FnOnce(&mut SimConfig)) -> Self {
        f(&mut self.sim);
        self
    }

    /// Writes this receivables export and points `[receivables]` at it.
    pub fn receivables(mut self, csv: &str) -> Self {
        self.receivables = Some(csv.to_owned());
        self
    }

    /// Starts the embedded SMTP server (STARTTLS + AUTH) and configures `[mail]` for it.
    pub fn smtp(self) -> Self {
        self.smtp_with(smtp_options())
    }

    /// As [`WorldBuilder::smtp`] with other server options.
    pub fn smtp_with(mut self, options: Options) -> Self {
        self.mail = Mail::Server(options);
        self
    }

    /// Configures `[mail]` for a free loopback port with no server; start one later with
    /// [`World::start_smtp`].
    pub fn smtp_down(mut self) -> Self {
        self.mail = Mail::ClosedPort(smtp_options());
        self
    }

    /// Configures `[mail]` for a server running at `addr` (another world's); this world has no
    /// server of its own.
    pub fn smtp_at(mut self, addr: SocketAddr) -> Self {
        self.mail = Mail::Elsewhere(addr);
        self
    }

    /// `mode = ...` (default `notify`).
    pub fn mode(mut self, mode: &'static str) -> Self {
        self.mode = mode;
        self
    }

    /// No mode, partner or digest: the config of `plan`, `snapshot` and the ledger commands.
    pub fn minimal(mut self) -> Self {
        self.shape = Shape::Minimal;
        self
    }

    /// An environment variable for every child process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Changes the config before it is first written; gets the world's directory.
    pub fn configure(mut self, f: impl FnOnce(&mut ConfigBuilder, &Path) + 'static) -> Self {
        self.tweaks.push(Box::new(f));
        self
    }

    /// Starts the simulator (and the SMTP server) and writes the config.
    pub async fn start(self) -> World {
        let sim = Simulator::start(self.sim.clone())
            .await
            .expect("the simulator starts on 127.0.0.1");
        let url = sim.base_url();
        let (smtp, smtp_addr, smtp_options) = match self.mail {
            Mail::None => (None, None, None),
            Mail::Server(o) => {
                let s = SmtpServer::start(o.clone()).await;
                let addr = s.addr();
                (Some(s), Some(addr), Some(o))
            }
            Mail::ClosedPort(o) => {
                let probe = SmtpServer::start(o.clone()).await;
                let addr = probe.addr();
                probe.stop().await;
                (None, Some(addr), Some(o))
            }
            Mail::Elsewhere(addr) => (None, Some(addr), None),
        };
        let secret = Secret::inline(&self.sim.client_secret);
        let token = Secret::inline(&self.sim.refresh_token);
        let mut world = World::new(&url, &secret, Some(&token));
        world.sim = Some(sim);
        world.env = self.env;
        if self.shape == Shape::Pipeline {
            world.config.pipeline(self.mode);
        }
        if let Some(csv) = &self.receivables {
            world.set_receivables(csv);
            let path = world.receivables_path();
            world.config.receivables(&path);
        }
        if let Some(addr) = smtp_addr {
            world
                .config
                .smtp(addr.port(), &Secret::inline(SMTP_PASSWORD));
        }
        world.smtp = smtp;
        world.smtp_addr = smtp_addr;
        world.smtp_options = smtp_options;
        for tweak in self.tweaks {
            tweak(&mut world.config, world.dir.path());
        }
        world.write_config();
        world
    }
}

/// A running world; see the module doc.
pub struct World {
    dir: tempfile::TempDir,
    sim: Option<SimHandle>,
    smtp: Option<SmtpServer>,
    smtp_addr: Option<SocketAddr>,
    smtp_options: Option<Options>,
    config: ConfigBuilder,
    env: Vec<(String, String)>,
}

impl World {
    /// A world for the pipeline tests: simulator, config for `cspguard run` in `notify` mode.
    pub fn builder() -> WorldBuilder {
        WorldBuilder {
            sim: SimConfig::default(),
            receivables: None,
            mail: Mail::None,
            shape: Shape::Pipeline,
            mode: "notify",
            env: Vec::new(),
            tweaks: Vec::new(),
        }
    }

    /// A world without a simulator: a temporary directory and a minimal config (written) for
    /// Partner Center at `url`, e.g. [`UNREACHABLE`].
    pub fn offline(url: &str, client_secret: &Secret, refresh_token: Option<&Secret>) -> World {
        let world = World::new(url, client_secret, refresh_token);
        world.write_config();
        world
    }

    fn new(url: &str, client_secret: &Secret, refresh_token: Option<&Secret>) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = ConfigBuilder::partner_center(url, client_secret, refresh_token);
        config.state(&dir.path().join("state").join("state.db"));
        World {
            dir,
            sim: None,
            smtp: None,
            smtp_addr: None,
            smtp_options: None,
            config,
            env: Vec::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The simulator; panics for an offline world.
    pub fn sim(&self) -> &SimHandle {
        self.sim.as_ref().expect("this world has a simulator")
    }

    /// The SMTP server; panics when none is running.
    pub fn smtp(&self) -> &SmtpServer {
        self.smtp
            .as_ref()
            .expect("this world's SMTP server is running")
    }

    /// The address `[mail]` points at.
    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp_addr.expect("this world has mail")
    }

    /// Stops the SMTP server; `[mail]` keeps pointing at its port.
    pub async fn stop_smtp(&mut self) {
        if let Some(s) = self.smtp.take() {
            s.stop().await;
        }
    }

    /// Starts the SMTP server on the port `[mail]` points at.
    pub async fn start_smtp(&mut self) {
        let options = self.smtp_options.clone().unwrap_or_else(smtp_options);
        let server = SmtpServer::start_on(self.smtp_addr(), options)
            .await
            .expect("rebind the SMTP port");
        self.smtp = Some(server);
    }

    /// Restarts the SMTP server on the port `[mail]` points at, with other options (e.g. no
    /// longer stalling).
    pub async fn restart_smtp_with(&mut self, options: Options) {
        self.stop_smtp().await;
        self.smtp_options = Some(options);
        self.start_smtp().await;
    }

    /// Starts the SMTP server on a new port and points `[mail]` at it.
    pub async fn move_smtp(&mut self) {
        self.stop_smtp().await;
        let options = self.smtp_options.clone().unwrap_or_else(smtp_options);
        let server = SmtpServer::start(options).await;
        let addr = server.addr();
        self.smtp = Some(server);
        self.smtp_addr = Some(addr);
        self.configure(|c| {
            c.smtp_port(addr.port());
        });
    }

    /// The config file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("cspguard.toml")
    }

    /// The config as the binary would load it.
    pub fn config(&self) -> Config {
        Config::parse(&self.config.text(), &self.config_path()).expect("a valid config")
    }

    /// The config's text.
    pub fn config_text(&self) -> String {
        self.config.text()
    }

    /// Changes the config and rewrites the file.
    pub fn configure(&mut self, f: impl FnOnce(&mut ConfigBuilder)) {
        f(&mut self.config);
        self.write_config();
    }

    /// Writes the config file (mode 0600).
    pub fn write_config(&self) {
        self.config.write(&self.config_path());
    }

    /// The ledger file.
    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state").join("state.db")
    }

    /// The ledger, which a run must have created.
    pub fn ledger(&self) -> Ledger {
        Ledger::open_existing(&self.state_path()).expect("ledger")
    }

    pub fn receivables_path(&self) -> PathBuf {
        self.dir.path().join("receivables.csv")
    }

    /// Replaces the receivables export.
    pub fn set_receivables(&self, csv: &str) {
        std::fs::write(self.receivables_path(), csv).expect("receivables");
    }

    /// The binary with `--config <this world's file> args` at business time `now`, not started
    /// (for tests that signal the running process).
    pub fn command(&self, now: Timestamp, args: &[&str]) -> std::process::Command {
        let mut env = self.env.clone();
        env.push(("CSPGUARD_TEST_NOW".to_owned(), now.to_string()));
        let mut cmd = cli::command(&env, &[]);
        cmd.arg("--config").arg(self.config_path()).args(args);
        cmd
    }

    /// Runs the binary with `--config <this world's file> args` at business time `now`.
    pub async fn cli(&self, now: Timestamp, args: &[&str]) -> Output {
        let mut all = vec![
            "--config".to_owned(),
            self.config_path().display().to_string(),
        ];
        all.extend(args.iter().map(|s| (*s).to_owned()));
        let mut env = self.env.clone();
        env.push(("CSPGUARD_TEST_NOW".to_owned(), now.to_string()));
        cli::run_async(all, env, &[]).await
    }

    /// `cspguard run extra...` at `now`, asserting the exit code. Runs in this process through
    /// the library (`run::Session` + `run::cycle` / `run::only_approved`), with the output the
    /// binary prints; a world whose config reads a secret from one of its environment variables
    /// runs the binary instead (the test process's environment is shared by all tests).
    pub async fn run(&self, now: Timestamp, extra: &[&str], code: i32) -> Output {
        let text = self.config_text();
        let secret_from_env = self
            .env
            .iter()
            .any(|(key, _)| text.contains(&format!("\"{key}\"")));
        let out = if secret_from_env {
            self.run_binary(now, extra).await
        } else {
            self.run_in_process(now, extra).await
        };
        assert_eq!(out.code, Some(code), "{}\n{}", out.stdout, out.stderr);
        out
    }

    /// `cspguard run extra...` through the binary (for tests of the process itself).
    pub async fn run_binary(&self, now: Timestamp, extra: &[&str]) -> Output {
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        self.cli(now, &args).await
    }

    /// One `run` through the library, whatever its exit code. `extra` takes the flags of
    /// `cspguard run`. Like the binary, the run gets a runtime of its own on a thread with the
    /// main thread's stack size (a debug build's run needs more than a test worker's 2 MiB).
    pub async fn run_in_process(&self, now: Timestamp, extra: &[&str]) -> Output {
        let flags = RunFlags::parse(extra);
        let config = self.config();
        let path = self.config_path();
        let thread = std::thread::Builder::new()
            .name("cspguard-run".to_owned())
            .stack_size(8 << 20)
            .spawn(move || {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a runtime for the run")
                    .block_on(one_run(&config, path, flags, now))
            })
            .expect("a thread for the run");
        tokio::task::spawn_blocking(move || thread.join().expect("the run's thread"))
            .await
            .expect("joined")
    }

    /// Stops the simulator and the SMTP server.
    pub async fn shutdown(mut self) {
        if let Some(sim) = self.sim.take() {
            sim.shutdown().await;
        }
        self.stop_smtp().await;
    }
}

/// A simulator alone, with a generated tenant of `customers`, for tests of the client itself.
pub async fn simulator(customers: usize) -> SimHandle {
    Simulator::start(SimConfig {
        customers,
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts on 127.0.0.1")
}

/// Client options for the simulator `h` (its ids and secret, app-only) with quick retries: up
/// to `max_attempts`, 2 ms first backoff, 20 ms at most, 30 s per call.
pub fn client_options(h: &SimHandle, max_attempts: u32) -> cspguard::pc::ClientOptions {
    let mut o = cspguard::pc::ClientOptions::new(
        h.tenant_id(),
        h.client_id(),
        secrecy::SecretString::from(h.client_secret()),
    );
    o.authority = h.authority_url();
    o.base_url = h.base_url();
    o.retry = cspguard::pc::RetryPolicy {
        max_attempts,
        max_total: std::time::Duration::from_secs(30),
        base_delay: std::time::Duration::from_millis(2),
        max_delay: std::time::Duration::from_millis(20),
    };
    o
}

/// A fresh App+User refresh-token store seeded with the simulator's initial token. Each client
/// needs its own: the simulator rotates the token on use.
pub fn sim_token_store() -> std::sync::Arc<cspguard::pc::MemoryRefreshTokenStore> {
    std::sync::Arc::new(cspguard::pc::MemoryRefreshTokenStore::new(Some(
        secrecy::SecretString::from(cspguard::bench::SIM_REFRESH_TOKEN),
    )))
}

/// A Partner Center client for a world's `config`, with its own App+User token store.
pub fn sim_client(config: &Config) -> cspguard::pc::PartnerCenter {
    let store: std::sync::Arc<dyn cspguard::pc::RefreshTokenStore> = sim_token_store();
    cspguard::context::client(config, Some(store), uuid::Uuid::nil()).expect("client")
}
