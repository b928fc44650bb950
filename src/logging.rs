//! Logging setup (tracing): human-readable lines on stderr, filtered by `-v`/`-q` or `RUST_LOG`.
//! Architecture invariant: nothing logs secret values; secrets live in `secrecy` types whose
//! Debug output is redacted, and errors name secret *sources*, never values.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Install the global subscriber. `verbose` counts `-v`; `quiet` keeps warnings and errors only.
pub fn init(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "cspguard=debug,info",
        (false, _) => "cspguard=trace,debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
