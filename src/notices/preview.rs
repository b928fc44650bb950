//! Template checks and previews (what `cspguard templates check` and `cspguard templates preview`
//! do): compile and render the email templates (partner overrides first, then the shipped set)
//! against sample data.
//!
//! Invariants: both commands only read templates and write to the given writer (and, for
//! `preview --html FILE`, that file); they never send mail. `check` reports every problem it
//! finds, not just the first, and its outcome (not an error) says whether the set is usable, so
//! that the command line maps a broken set to exit code 2.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::exit::Exit;
use crate::notices::format::SHIPPED_LOCALES;
use crate::notices::templates::{
    CUSTOMER_TEMPLATES, OPS_LOCALE, OPS_TEMPLATES, PARTS, RenderedEmail, Renderer, SHIPPED,
    TemplateError, samples,
};

/// What to do with the templates.
#[derive(Debug)]
pub enum TemplatesRequest {
    /// Compile every template in every locale and render each email with sample data.
    Check,
    /// Render one email with sample data: subject and plain text to the writer, HTML to a file.
    Preview(PreviewRequest),
}

/// One email to preview.
#[derive(Debug)]
pub struct PreviewRequest {
    /// Template name.
    pub name: String,
    /// Locale to render in.
    pub locale: String,
    /// Customer tenant id; its data comes in through [`PreviewData::customer`].
    pub customer: Option<String>,
    /// Write the HTML body to this file.
    pub html: Option<PathBuf>,
    /// For `digest`: render the "all clear" variant.
    pub all_clear: bool,
}

/// What a templates command concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every template compiled and rendered (check), or the preview was written.
    Ok { rendered: usize },
    /// `check` found this many problems (each was printed with file and line).
    Failed { problems: usize },
}

impl Outcome {
    /// 0 when ok, 2 when the template set is broken (a configuration error).
    pub fn exit(&self) -> Exit {
        match self {
            Outcome::Ok { .. } => Exit::Ok,
            Outcome::Failed { .. } => Exit::Config,
        }
    }
}

/// Failures of a templates command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A template failed (preview), or the templates directory is unusable.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The preview named a template that does not exist.
    #[error(
        "unknown template {0:?}; the templates are: {list}",
        list = all_names().join(", ")
    )]
    UnknownTemplate(String),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    /// Writing the HTML preview file failed.
    #[error(
        "cannot write the HTML preview to {path}: {source}; check that the directory exists and is writable"
    )]
    HtmlFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The preview asked for a locale no complete template set serves.
    #[error("no templates for locale {tag:?}; the locales are: {available}")]
    UnknownLocale { tag: String, available: String },
}

/// Real data for a preview instead of the samples: the partner's `[partner]` section and the
/// customer named with `--customer` (its company name from the ledger's record of the last
/// customer list).
#[derive(Debug, Default, Clone)]
pub struct PreviewData {
    pub partner: Option<super::templates::PartnerConfig>,
    pub customer: Option<super::templates::CustomerInfo>,
}

impl crate::exit::ExitStatus for Error {
    /// 2 for template and usage problems, 1 for I/O failures.
    fn exit(&self) -> Exit {
        match self {
            Error::Template(_) | Error::UnknownTemplate(_) | Error::UnknownLocale { .. } => {
                Exit::Config
            }
            Error::Output(_) | Error::HtmlFile { .. } => Exit::Failed,
        }
    }
}

fn all_names() -> Vec<&'static str> {
    CUSTOMER_TEMPLATES
        .iter()
        .chain(OPS_TEMPLATES)
        .copied()
        .collect()
}

/// Check or preview the templates with sample data; `templates_dir` is the configured
/// `templates.dir`.
pub fn run(
    cmd: TemplatesRequest,
    templates_dir: Option<&Path>,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    run_with(cmd, templates_dir, &PreviewData::default(), out)
}

/// [`run`], with the partner's and a customer's real data in previews where given.
pub fn run_with(
    cmd: TemplatesRequest,
    templates_dir: Option<&Path>,
    data: &PreviewData,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let renderer = Renderer::new(templates_dir.map(Path::to_path_buf))?;
    match cmd {
        TemplatesRequest::Check => check(&renderer, out),
        TemplatesRequest::Preview(args) => preview(&renderer, &args, data, out),
    }
}

/// The available locale a tag means (`ja-JP` -> `ja`, `zh-CN` -> `zh-Hans`), or the error that
/// lists the locales.
fn resolve_locale(renderer: &Renderer, tag: &str) -> Result<String, Error> {
    let available = renderer.available_locales();
    let refs: Vec<&str> = available.iter().map(String::as_str).collect();
    let locale = super::format::choose_locale(Some(tag), None, None, &refs, "");
    if locale.is_empty() {
        return Err(Error::UnknownLocale {
            tag: tag.to_owned(),
            available: available.join(", "),
        });
    }
    Ok(locale)
}

/// Email `name` in `locale`: sample data, with the partner's and the customer's real details
/// where `data` has them.
fn render_with(
    renderer: &Renderer,
    args: &PreviewRequest,
    locale: &str,
    data: &PreviewData,
) -> Result<RenderedEmail, Error> {
    let name = args.name.as_str();
    if !CUSTOMER_TEMPLATES.contains(&name) {
        if name == "digest" {
            let mut ctx = if args.all_clear {
                samples::digest_all_clear()
            } else {
                samples::digest()
            };
            if let Some(p) = &data.partner {
                ctx.partner_name = super::templates::one_line(&p.name);
            }
            return Ok(renderer.render_digest(&ctx)?);
        }
        return render_sample(renderer, name, locale, args.all_clear);
    }
    let mut ctx = samples::notice(name, locale);
    if let Some(p) = &data.partner {
        let info = super::templates::PartnerInfo::from_config(p, locale);
        ctx.partner = super::templates::PartnerInfo {
            name: super::templates::one_line(&info.name),
            contact_email: super::templates::one_line(&info.contact_email),
            contact_phone: info
                .contact_phone
                .as_deref()
                .map(super::templates::one_line),
            payment_instructions: info.payment_instructions.trim().to_owned(),
        };
    }
    if let Some(c) = &data.customer {
        ctx.customer = super::templates::CustomerInfo {
            id: super::templates::one_line(&c.id),
            company_name: super::templates::one_line(&c.company_name),
            contact_name: c.contact_name.as_deref().map(super::templates::one_line),
        };
    }
    Ok(renderer.render(name, locale, &ctx)?)
}

/// Renders email `name` in `locale` with sample data.
pub fn render_sample(
    renderer: &Renderer,
    name: &str,
    locale: &str,
    all_clear: bool,
) -> Result<RenderedEmail, Error> {
    match name {
        "ops-alert" => Ok(renderer.render_ops_alert(&samples::ops_alert())?),
        "ops-alert-group" => Ok(renderer.render_ops_alert_group(&samples::ops_alert_group())?),
        "digest" if all_clear => Ok(renderer.render_digest(&samples::digest_all_clear())?),
        "digest" => Ok(renderer.render_digest(&samples::digest())?),
        n if CUSTOMER_TEMPLATES.contains(&n) => {
            Ok(renderer.render(n, locale, &samples::notice(n, locale))?)
        }
        other => Err(Error::UnknownTemplate(other.to_string())),
    }
}

/// Every template file to compile: the shipped ones plus every file in the override directory.
fn files_to_compile(renderer: &Renderer) -> Vec<String> {
    let mut files: Vec<String> = SHIPPED.iter().map(|(p, _)| p.to_string()).collect();
    if let Some(dir) = renderer.override_dir() {
        let mut stack = vec![(dir.to_path_buf(), String::new())];
        while let Some((path, prefix)) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&path) else {
                continue;
            };
            for e in entries.flatten() {
                let Some(name) = e.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                let rel = format!("{prefix}{name}");
                let p = e.path();
                if p.is_dir() {
                    stack.push((p, format!("{rel}/")));
                } else if name.ends_with(".txt") || name.ends_with(".html") {
                    files.push(rel);
                }
            }
        }
    }
    files.sort();
    files.dedup();
    files
}

fn check(renderer: &Renderer, out: &mut dyn Write) -> Result<Outcome, Error> {
    let mut problems = 0usize;
    let mut rendered = 0usize;
    if let Some(dir) = renderer.override_dir() {
        writeln!(
            out,
            "templates: {} first, then the shipped set",
            dir.display()
        )?;
    } else {
        writeln!(out, "templates: the shipped set")?;
    }
    for file in files_to_compile(renderer) {
        if let Err(e) = renderer.compile(&file) {
            problems += 1;
            writeln!(out, "error: {e}")?;
        }
    }
    let mut locales: Vec<String> = SHIPPED_LOCALES.iter().map(|s| s.to_string()).collect();
    for l in renderer.override_locales() {
        if locales.contains(&l) {
            continue;
        }
        let missing = renderer.missing_customer_files(&l);
        if missing.is_empty() {
            locales.push(l);
        } else {
            writeln!(
                out,
                "warning: locale {l} is incomplete and will not be chosen for customers (missing {})",
                missing.join(", ")
            )?;
        }
    }
    let mut emails: Vec<(String, String)> = locales
        .iter()
        .flat_map(|l| {
            CUSTOMER_TEMPLATES
                .iter()
                .map(move |t| (t.to_string(), l.clone()))
        })
        .collect();
    emails.extend(
        OPS_TEMPLATES
            .iter()
            .map(|t| (t.to_string(), OPS_LOCALE.to_string())),
    );
    for (name, locale) in &emails {
        let variants: &[bool] = if name == "digest" {
            &[false, true]
        } else {
            &[false]
        };
        for &all_clear in variants {
            let label = if all_clear {
                format!("{locale}/{name} (all clear)")
            } else {
                format!("{locale}/{name}")
            };
            match render_sample(renderer, name, locale, all_clear) {
                Ok(_) => {
                    rendered += 1;
                    writeln!(out, "ok     {label} ({})", PARTS.join(", "))?;
                }
                Err(e) => {
                    problems += 1;
                    writeln!(out, "error: {label}: {e}")?;
                }
            }
        }
    }
    if problems == 0 {
        writeln!(out, "all {rendered} emails rendered")?;
        Ok(Outcome::Ok { rendered })
    } else {
        writeln!(out, "{problems} problem(s) found")?;
        Ok(Outcome::Failed { problems })
    }
}

fn preview(
    renderer: &Renderer,
    args: &PreviewRequest,
    data: &PreviewData,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let locale = resolve_locale(renderer, &args.locale)?;
    let email = render_with(renderer, args, &locale, data)?;
    if locale != args.locale {
        writeln!(out, "# locale {} uses the {locale} templates", args.locale)?;
    }
    match (&data.customer, &args.customer) {
        (Some(c), _) => writeln!(out, "# customer {} ({})", c.company_name, c.id)?,
        (None, Some(c)) => writeln!(
            out,
            "# --customer {c}: no data for this customer was given; showing sample data"
        )?,
        (None, None) => {}
    }
    writeln!(out, "Subject: {}", email.subject)?;
    writeln!(out)?;
    write!(out, "{}", email.text)?;
    if let Some(path) = &args.html {
        std::fs::write(path, &email.html).map_err(|source| Error::HtmlFile {
            path: path.clone(),
            source,
        })?;
        writeln!(out)?;
        writeln!(out, "# HTML written to {}", path.display())?;
    }
    Ok(Outcome::Ok { rendered: 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitStatus as _;

    #[test]
    fn check_passes_on_the_shipped_set() {
        let mut out = Vec::new();
        let outcome = run(TemplatesRequest::Check, None, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(matches!(outcome, Outcome::Ok { .. }), "{text}");
        assert_eq!(outcome.exit(), Exit::Ok);
    }

    #[test]
    fn preview_of_an_unknown_template_is_a_usage_error() {
        let args = PreviewRequest {
            name: "reminder-9".into(),
            locale: "en".into(),
            customer: None,
            html: None,
            all_clear: false,
        };
        let err = run(TemplatesRequest::Preview(args), None, &mut Vec::new()).unwrap_err();
        assert_eq!(err.exit(), Exit::Config);
        assert!(err.to_string().contains("final-notice"), "{err}");
    }
}
