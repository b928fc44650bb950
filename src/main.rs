//! The binary edge: parses the command line, sets up logging, dispatches to the library, and maps
//! every outcome to a documented exit code (`cspguard::exit`). `anyhow` is used only here.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser};
use cspguard::cli::{Cli, Command};
use cspguard::exit::Exit;

mod app;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cspguard::logging::init_with(cli.verbose, cli.quiet, cli.log_format);
    match dispatch(cli) {
        Ok(exit) => exit.into(),
        Err(e) if app::is_broken_pipe(e.as_ref()) => Exit::Ok.into(),
        Err(e) => {
            let exit = app::classify(&e);
            eprintln!("error: {}", app::describe(&e));
            exit.into()
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Snapshot(args) => runtime()?.block_on(app::snapshot::run(&cli.config, args)),
        Command::Run(args) => {
            runtime()?.block_on(cspguard::observe::in_run(app::run::run(&cli.config, args)))
        }
        Command::Daemon(args) => runtime()?.block_on(app::daemon::run(&cli.config, args)),
        Command::Doctor => runtime()?.block_on(app::doctor::run(&cli.config)),
        Command::Templates { cmd } => app::templates::run(&cli.config, cmd),
        Command::Plan(args) => runtime()?.block_on(app::plan::run(&cli.config, args)),
        Command::Simulate(args) => {
            runtime()?.block_on(cspguard::commands::simulate::run(args))?;
            Ok(Exit::Ok)
        }
        Command::Demo(args) => runtime()?.block_on(app::demo::run(args)),
        Command::Receivables { cmd } => app::receivables::run(&cli.config, cmd),
        Command::Ledger(cmd) => app::ledger::run(&cli.config, cmd),
        Command::Bench(args) => app::bench::run(&cli.config, args),
        Command::Fraud { cmd } => runtime()?.block_on(app::fraud::run(&cli.config, cmd)),
        Command::Man(args) => man(args),
        Command::Completions(args) => {
            cspguard::docs::completions(args.shell, Cli::command(), &mut std::io::stdout().lock());
            Ok(Exit::Ok)
        }
    }
}

/// `cspguard man`: every page into `--out DIR`, or cspguard(1) to stdout.
fn man(args: cspguard::cli::ManArgs) -> anyhow::Result<Exit> {
    match args.out {
        Some(dir) => {
            for page in cspguard::docs::write_man_pages(Cli::command(), &dir)? {
                println!("{}", page.display());
            }
        }
        None => cspguard::docs::render_page(&Cli::command(), &mut std::io::stdout().lock())?,
    }
    Ok(Exit::Ok)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
