//! `cspguard simulate`: runs the built-in Partner Center simulator on 127.0.0.1 until Ctrl-C,
//! printing the base URL and the credentials a client should use.
//!
//! Invariant: binds only 127.0.0.1 (the simulator refuses anything else).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use cspguard::exit::Exit;
use cspguard::sim::{Dataset, SimConfig, SimError, Simulator};

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
}

/// Builds the simulator configuration from the arguments (loads `--dataset` if given).
pub fn config_from_args(args: &SimulateArgs) -> Result<SimConfig, SimError> {
    let dataset = match &args.dataset {
        Some(path) => Some(Dataset::load(path)?),
        None => None,
    };
    Ok(SimConfig {
        seed: args.seed,
        customers: args.customers,
        latency: Duration::from_millis(args.latency_ms),
        rate_limit_per_minute: args.rate_limit,
        dataset,
        ..SimConfig::default()
    })
}

/// Runs the simulator until Ctrl-C.
pub async fn run(args: SimulateArgs) -> anyhow::Result<Exit> {
    serve(args).await?;
    Ok(Exit::Ok)
}

async fn serve(args: SimulateArgs) -> Result<(), SimError> {
    let cfg = config_from_args(&args)?;
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
    signal.map_err(SimError::Signal)
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
        };
        let cfg = config_from_args(&args).expect("config");
        assert_eq!(cfg.seed, 9);
        assert_eq!(cfg.customers, 3);
        assert_eq!(cfg.latency, Duration::from_millis(15));
        assert_eq!(cfg.rate_limit_per_minute, 0);
        let missing = SimulateArgs {
            dataset: Some("/nonexistent/ds.json".into()),
            ..args
        };
        assert!(matches!(
            config_from_args(&missing),
            Err(SimError::ReadDataset { .. })
        ));
    }
}
