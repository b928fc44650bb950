//! The binary edge: parses the command line (`cli`), sets up logging, runs the command and maps
//! every outcome to a documented exit code (`cspguard::exit`). `anyhow` is used only in the
//! binary.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    cspguard::logging::init_with(cli.verbose, cli.quiet, cli.log_format);
    cli::exit_code(cli::dispatch(cli)).into()
}
