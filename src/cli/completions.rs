//! `cspguard completions SHELL`: the shell completion script, generated from the clap
//! definitions (`cspguard::docs`), printed to stdout. Changes nothing.

use clap::CommandFactory as _;
use cspguard::exit::Exit;

use super::Cli;

/// Arguments of `cspguard completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: cspguard::docs::Shell,
}

/// Print the completion script for the shell.
pub fn run(args: CompletionsArgs) -> anyhow::Result<Exit> {
    cspguard::docs::completions(args.shell, Cli::command(), &mut std::io::stdout().lock());
    Ok(Exit::Ok)
}
