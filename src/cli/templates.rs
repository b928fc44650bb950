//! `cspguard templates check|preview`: compile and render the email templates, with the
//! partner's `[templates] dir` when a config file exists (`cspguard::notices::preview`).

use std::path::{Path, PathBuf};

use cspguard::exit::{Exit, ExitStatus as _};
use cspguard::notices::preview::{self, PreviewRequest, TemplatesRequest};

/// Subcommands of `cspguard templates`.
#[derive(Debug, clap::Subcommand)]
pub enum TemplatesCommand {
    /// Compile every template in every locale and render each email with sample data; exits 2
    /// naming the file and line of every problem (changes nothing).
    Check(CheckArgs),
    /// Render one email: subject and plain text to stdout, HTML to a file; sample data, with the
    /// config's `[partner]` and a real `--customer` when given (changes nothing).
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
    /// Locale to render in (en, ja, ko, zh-Hans, sv, or one added in the templates directory);
    /// regional tags map to their language (`ja-JP` -> ja, `zh-CN` -> zh-Hans).
    #[arg(long, default_value = "en")]
    pub locale: String,
    /// Customer tenant id: the preview is addressed to this customer, named as the last run saw
    /// it (from the ledger); exits 2 when the ledger does not know the customer.
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

/// Run a templates command. Without a config file, only the shipped templates and sample data
/// are used.
pub fn run(config_path: &Path, cmd: TemplatesCommand) -> anyhow::Result<Exit> {
    let config = if config_path.exists() {
        Some(super::load_config(config_path)?.config)
    } else {
        None
    };
    let data = preview_data(config.as_ref(), &cmd)?;
    let dir = config.and_then(|c| c.templates.dir);
    let mut stdout = std::io::stdout().lock();
    let outcome = match preview::run_with(cmd.into(), dir.as_deref(), &data, &mut stdout) {
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

/// The partner from the config, and the `--customer` as the ledger knows it.
fn preview_data(
    config: Option<&cspguard::config::Config>,
    cmd: &TemplatesCommand,
) -> anyhow::Result<preview::PreviewData> {
    let customer = match (cmd, config) {
        (TemplatesCommand::Preview(a), _) if a.customer.is_none() => None,
        (TemplatesCommand::Check(_), _) => None,
        (TemplatesCommand::Preview(a), Some(c)) => {
            let id = a.customer.clone().unwrap_or_default();
            Some(customer_from_ledger(&c.state.path, &id)?)
        }
        (TemplatesCommand::Preview(_), None) => {
            return Err(anyhow::Error::new(cspguard::exit::Coded::from(
                cspguard::ledger::LedgerError::InvalidInput {
                    detail: "--customer needs a config (--config) whose ledger knows the \
                             customer"
                        .to_owned(),
                },
            )));
        }
    };
    Ok(preview::PreviewData {
        partner: config.map(|c| c.partner.clone()),
        customer,
    })
}

/// The customer's company name as the last run recorded it; exit 2 when the ledger has none.
fn customer_from_ledger(
    state: &Path,
    id: &str,
) -> anyhow::Result<cspguard::notices::templates::CustomerInfo> {
    use super::OrExit as _;
    let ledger = cspguard::ledger::Ledger::open_existing(state).or_exit()?;
    let names = ledger.customer_names().or_exit()?;
    let Some(company) = names.get(&id.trim().to_ascii_lowercase()) else {
        return Err(anyhow::Error::new(cspguard::exit::Coded::from(
            cspguard::ledger::LedgerError::InvalidInput {
                detail: format!(
                    "customer {id} is not in the customer list of the last run (ledger {}); \
                     check the tenant id, or run `cspguard run` first",
                    state.display()
                ),
            },
        )));
    };
    Ok(cspguard::notices::templates::CustomerInfo {
        id: id.trim().to_owned(),
        company_name: company.clone(),
        contact_name: None,
    })
}
