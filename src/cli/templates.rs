//! `cspguard templates check|preview`: compile and render the email templates, with the
//! partner's `[templates] dir` when a config file exists (`cspguard::notices::preview`).

use std::path::{Path, PathBuf};

use cspguard::exit::{Exit, ExitStatus as _};
use cspguard::notices::preview::{self, PreviewRequest, TemplatesRequest};

/// Subcommands of `cspguard templates`.
#[derive(Debug, clap::Subcommand)]
pub enum TemplatesCommand {
    /// Compile every template in every locale and render each email with sample data; exits 2
    /// naming the file and line of every problem.
    Check(CheckArgs),
    /// Render one email with sample data: subject and plain text to stdout, HTML to a file.
    Preview(PreviewArgs),
}

/// Arguments of `cspguard templates check`.
#[derive(Debug, Default, clap::Args)]
pub struct CheckArgs {}

/// Arguments of `cspguard templates preview`.
#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    /// Template name: reminder-pre-due, reminder-1, reminder-2, final-notice,
    /// suspension-notice, reactivation, budget-threshold, ops-alert, digest.
    pub name: String,
    /// Locale to render in (en, ja, ko, zh-Hans, sv, or one added in the templates directory).
    #[arg(long, default_value = "en")]
    pub locale: String,
    /// Customer tenant id. Not yet wired to customer data: the preview always uses sample data.
    #[arg(long)]
    pub customer: Option<String>,
    /// Write the HTML body to this file.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// For `digest`: render the "all clear" variant.
    #[arg(long)]
    pub all_clear: bool,
}

impl From<TemplatesCommand> for TemplatesRequest {
    fn from(cmd: TemplatesCommand) -> Self {
        match cmd {
            TemplatesCommand::Check(CheckArgs {}) => TemplatesRequest::Check,
            TemplatesCommand::Preview(a) => TemplatesRequest::Preview(PreviewRequest {
                name: a.name,
                locale: a.locale,
                customer: a.customer,
                html: a.html,
                all_clear: a.all_clear,
            }),
        }
    }
}

/// Run a templates command. Without a config file, only the shipped templates are used.
pub fn run(config_path: &Path, cmd: TemplatesCommand) -> anyhow::Result<Exit> {
    let dir = if config_path.exists() {
        super::load_config(config_path)?.config.templates.dir
    } else {
        None
    };
    let mut stdout = std::io::stdout().lock();
    let outcome = match preview::run(cmd.into(), dir.as_deref(), &mut stdout) {
        Ok(o) => o,
        Err(e) => {
            use std::io::Write as _;
            stdout.flush().ok();
            eprintln!("error: {e}");
            return Ok(e.exit());
        }
    };
    super::flush(stdout)?;
    Ok(outcome.exit())
}
