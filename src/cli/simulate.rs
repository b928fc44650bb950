//! `cspguard simulate`: runs the built-in Partner Center simulator on 127.0.0.1 until Ctrl-C,
//! printing the base URL and the credentials a client should use. Exposes what the library's
//! simulator has: the tenant (size, seed, partner tenant id, or a saved dataset), the scripted
//! scenario with its receivables export, a fixed business clock and fault injection. Changes
//! nothing outside the files it is asked to write (`--receivables-out`).
//!
//! Invariant: binds only 127.0.0.1 (the simulator refuses anything else).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use cspguard::exit::Exit;
use cspguard::sim::{Dataset, Faults, SimConfig, SimError, Simulator};

/// Arguments of `cspguard simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Port on 127.0.0.1 (0 = pick a free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Seed of the generated dataset and of fault selection.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of generated customers (ignored with --dataset).
    #[arg(long, default_value_t = 50)]
    pub customers: usize,
    /// Latency added to every API response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Serve this dataset (JSON, as written by `Dataset::to_json`) instead of generating one.
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Requests per minute for customer/subscription resources (0 = unlimited).
    #[arg(long, default_value_t = 500)]
    pub rate_limit: u32,
    /// Partner tenant id (the path segment of the token endpoints).
    #[arg(long, default_value = "sim-partner-tenant")]
    pub tenant_id: String,
    /// Fixed business time (RFC 3339, e.g. 2026-12-11T09:00:00Z): activity-log windows, the usage
    /// month and records created by writes follow it. Default: the real time.
    #[arg(long)]
    pub clock: Option<jiff::Timestamp>,
    /// Serve the scripted scenario (one customer per situation: late payers at each dunning
    /// stage, budget breaches, a fraud event, an admin grant, a sign-up burst) plus --customers
    /// quiet ones, relative to --clock, instead of a generated tenant.
    #[arg(long, value_enum, conflicts_with = "dataset")]
    pub scenario: Option<Scenario>,
    /// With --scenario: write the matching receivables export (CSV) to this file.
    #[arg(long, requires = "scenario")]
    pub receivables_out: Option<PathBuf>,
    /// Share of API requests answered 500/503 (0.0-1.0; token calls are never faulted).
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    pub fault_server_error: f64,
    /// Share of API requests whose response is held 30 s and then answered 504.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    pub fault_timeout: f64,
    /// Share of API requests answered 200 with the body cut in half.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    pub fault_truncate: f64,
    /// Share of API requests answered 401 as if the access token had expired.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    pub fault_expire_token: f64,
}

/// A scripted tenant `--scenario` can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// The tenant of `cspguard demo` (see `cspguard::sim::scenario`).
    Scripted,
}

/// A fault share: a number from 0.0 to 1.0.
fn share(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number; give a share from 0.0 to 1.0"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside 0.0-1.0 (a share of requests)"))
    }
}

/// Builds the simulator configuration from the arguments (loads `--dataset` if given).
/// With `--scenario`, the scripted tenant replaces the generated one and its receivables export
/// is returned (to be written to `--receivables-out`).
pub fn config_from_args(args: &SimulateArgs) -> Result<(SimConfig, Option<String>), SimError> {
    let mut receivables = None;
    let dataset = match (&args.dataset, args.scenario) {
        (Some(path), _) => Some(Dataset::load(path)?),
        (None, Some(Scenario::Scripted)) => {
            let now = args.clock.unwrap_or_else(jiff::Timestamp::now);
            let s =
                cspguard::sim::scenario::demo_tenant(now, &jiff::tz::TimeZone::UTC, args.customers);
            receivables = Some(s.receivables_csv);
            Some(s.dataset)
        }
        (None, None) => None,
    };
    let cfg = SimConfig {
        seed: args.seed,
        customers: args.customers,
        latency: Duration::from_millis(args.latency_ms),
        rate_limit_per_minute: args.rate_limit,
        tenant_id: args.tenant_id.clone(),
        clock: args.clock,
        faults: Faults {
            server_error_share: args.fault_server_error,
            timeout_share: args.fault_timeout,
            truncate_share: args.fault_truncate,
            expire_token_share: args.fault_expire_token,
        },
        dataset,
        ..SimConfig::default()
    };
    Ok((cfg, receivables))
}

/// Runs the simulator until Ctrl-C.
pub async fn run(args: SimulateArgs) -> anyhow::Result<Exit> {
    serve(args).await?;
    Ok(Exit::Ok)
}

async fn serve(args: SimulateArgs) -> anyhow::Result<()> {
    let (cfg, receivables) = config_from_args(&args)?;
    if let (Some(csv), Some(path)) = (&receivables, &args.receivables_out) {
        use anyhow::Context as _;
        std::fs::write(path, csv).with_context(|| {
            format!("cannot write the receivables export to {}", path.display())
        })?;
    }
    let refresh = cfg.refresh_token.clone();
    let handle =
        Simulator::start_on(cfg, SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))).await?;
    let customers = handle.with_dataset(|d| d.customers.len());
    let mut out = std::io::stdout().lock();
    // Printing is best effort: a closed stdout must not stop the simulator.
    let _ = writeln!(
        out,
        "Partner Center simulator listening ({customers} customers)"
    );
    let _ = writeln!(out, "  base URL:       {}", handle.base_url());
    let _ = writeln!(out, "  authority URL:  {}", handle.authority_url());
    let _ = writeln!(out, "  token URL (v1): {}", handle.token_url_v1());
    let _ = writeln!(out, "  token URL (v2): {}", handle.token_url_v2());
    let _ = writeln!(out, "  tenant id:      {}", handle.tenant_id());
    let _ = writeln!(out, "  client id:      {}", handle.client_id());
    let _ = writeln!(out, "  client secret:  {}", handle.client_secret());
    let _ = writeln!(out, "  refresh token:  {refresh}");
    let _ = writeln!(out, "Press Ctrl-C to stop.");
    let _ = out.flush();
    drop(out);
    let signal = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    Ok(signal.map_err(SimError::Signal)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_map_to_config() {
        let args = SimulateArgs {
            port: 0,
            seed: 9,
            customers: 3,
            latency_ms: 15,
            dataset: None,
            rate_limit: 0,
            tenant_id: "t-1".into(),
            clock: Some("2026-12-11T09:00:00Z".parse().expect("time")),
            scenario: None,
            receivables_out: None,
            fault_server_error: 0.25,
            fault_timeout: 0.0,
            fault_truncate: 0.1,
            fault_expire_token: 0.0,
        };
        let (cfg, receivables) = config_from_args(&args).expect("config");
        assert!(receivables.is_none());
        assert_eq!(cfg.tenant_id, "t-1");
        assert_eq!(cfg.clock, args.clock);
        assert_eq!(cfg.faults.server_error_share, 0.25);
        assert_eq!(cfg.faults.truncate_share, 0.1);
        assert_eq!(cfg.seed, 9);
        assert_eq!(cfg.customers, 3);
        assert_eq!(cfg.latency, Duration::from_millis(15));
        assert_eq!(cfg.rate_limit_per_minute, 0);
        let scripted = SimulateArgs {
            scenario: Some(Scenario::Scripted),
            ..args.clone()
        };
        let (cfg, receivables) = config_from_args(&scripted).expect("scenario");
        let csv = receivables.expect("the scenario's receivables export");
        assert!(csv.starts_with("customer,invoice,"), "{csv}");
        let names: Vec<String> = cfg
            .dataset
            .expect("the scripted tenant")
            .customers
            .iter()
            .map(|c| c.company_name.clone())
            .collect();
        assert!(names.iter().any(|n| n == "Woodgrove Korea"), "{names:?}");
        let missing = SimulateArgs {
            dataset: Some("/nonexistent/ds.json".into()),
            ..args
        };
        assert!(matches!(
            config_from_args(&missing),
            Err(SimError::ReadDataset { .. })
        ));
    }

    #[test]
    fn fault_shares_outside_0_to_1_are_refused() {
        assert_eq!(share("0.5"), Ok(0.5));
        assert!(share("1.5").is_err());
        assert!(share("-0.1").is_err());
        assert!(share("half").is_err());
    }
}
