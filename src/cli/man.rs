//! `cspguard man`: the man pages, generated from the clap definitions (`cspguard::docs`).
//! Changes nothing but the directory it is given.

use std::path::PathBuf;

use clap::CommandFactory as _;
use cspguard::exit::Exit;

use super::{Cli, OrExit as _, print_out};

/// Arguments of `cspguard man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write every page as DIR/cspguard[-SUBCOMMAND].1 instead of printing cspguard(1).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Write every page into `--out DIR` (listing the files), or print cspguard(1) to stdout.
pub fn run(args: ManArgs) -> anyhow::Result<Exit> {
    match args.out {
        Some(dir) => {
            for page in cspguard::docs::write_man_pages(Cli::command(), &dir).or_exit()? {
                print_out(&page.display().to_string())?;
            }
        }
        None => {
            cspguard::docs::render_page(&Cli::command(), &mut std::io::stdout().lock()).or_exit()?
        }
    }
    Ok(Exit::Ok)
}
