//! The binary edge: parses the command line (`cli`), sets up logging, runs the command and maps
//! every outcome to a documented exit code (`cspguard::exit`). `anyhow` is used only in the
//! binary.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    bound_malloc_arenas();
    let cli = cli::Cli::parse();
    cspguard::logging::init_with(cli.verbose, cli.quiet, cli.log_format);
    cli::exit_code(cli::dispatch(cli)).into()
}

/// glibc gives every thread that allocates concurrently its own malloc arena (up to 8 per CPU),
/// and memory freed in one arena is not reused by another: a run decodes pages on one runtime
/// thread and evaluates on another. One arena lets every thread reuse what another freed; the
/// run is bound by Partner Center's latency, not by allocator contention (issue 18). Called
/// before any thread exists.
fn bound_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets an allocator tunable; called once, before other threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
