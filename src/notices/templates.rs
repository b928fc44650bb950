//! Email templates: loading (partner overrides first, then the set shipped in the binary),
//! the typed contexts templates are rendered with, and rendering into subject, text and HTML.
//!
//! Layout: `templates/<locale>/<name>.subject.txt`, `<name>.txt` and `<name>.html`, plus
//! per-locale partials (`_invoices.*`, `_signature.*`) and one shared HTML shell
//! (`templates/_layout.html`). A partner overrides any of these by putting a file with the same
//! relative path in its own templates directory (config `templates.dir`), which is searched
//! first. The shipped set is compiled into the binary ([`SHIPPED`]), so the binary works without
//! the source tree.
//!
//! Invariants:
//! - undefined variables are errors (`UndefinedBehavior::Strict`), never empty strings;
//! - `.html` templates are autoescaped; `.txt` ones (subject, plain-text body) are not;
//! - an email is returned only when its subject, text and HTML all rendered: any error yields a
//!   [`TemplateError`] naming the template file and line, never a half-rendered email;
//! - a subject is always one line (CR, LF and other control characters become spaces);
//! - templates never see raw money or raw dates in customer notices: [`NoticeContext`] carries
//!   them preformatted for the notice's locale (the `money` and `date` filters exist for partner
//!   templates and the digest, which carries typed values).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::civil::Date;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, ErrorKind, State, UndefinedBehavior};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::format::{DEFAULT_LOCALE, SHIPPED_LOCALES, format_date, format_money, format_month};
use crate::plan::{ActionKind, Finding, Severity};

/// Customer-facing templates; each is shipped in every locale of [`SHIPPED_LOCALES`].
pub const CUSTOMER_TEMPLATES: &[&str] = &[
    "reminder-pre-due",
    "reminder-1",
    "reminder-2",
    "final-notice",
    "suspension-notice",
    "reactivation",
    "budget-threshold",
];

/// Ops-facing templates; shipped in `en` only ([`OPS_LOCALE`]).
pub const OPS_TEMPLATES: &[&str] = &["ops-alert", "ops-alert-group", "digest"];

/// The locale ops templates are rendered in.
pub const OPS_LOCALE: &str = "en";

/// The three files of one email, by suffix: subject, plain-text body, HTML body.
pub const PARTS: [&str; 3] = ["subject.txt", "txt", "html"];

/// Builds [`SHIPPED`]: for each locale, three files per email and the listed partial files.
macro_rules! shipped_files {
    ($($loc:literal: emails [$($email:literal),* $(,)?] files [$($file:literal),* $(,)?]),* $(,)?) => {
        &[
            ("_layout.html", include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/_layout.html"))),
            $(
                $(
                    (
                        concat!($loc, "/", $email, ".subject.txt"),
                        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $loc, "/", $email, ".subject.txt")),
                    ),
                    (
                        concat!($loc, "/", $email, ".txt"),
                        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $loc, "/", $email, ".txt")),
                    ),
                    (
                        concat!($loc, "/", $email, ".html"),
                        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $loc, "/", $email, ".html")),
                    ),
                )*
                $(
                    (
                        concat!($loc, "/", $file),
                        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $loc, "/", $file)),
                    ),
                )*
            )*
        ]
    };
}

/// Every shipped template file: (path relative to `templates/`, source), compiled into the
/// binary. A test checks that this list and the `templates/` directory agree.
pub const SHIPPED: &[(&str, &str)] = shipped_files! {
    "en": emails [
        "reminder-pre-due", "reminder-1", "reminder-2", "final-notice", "suspension-notice",
        "reactivation", "budget-threshold", "ops-alert", "ops-alert-group", "digest",
    ] files ["_invoices.txt", "_invoices.html", "_signature.txt", "_signature.html"],
    "ja": emails [
        "reminder-pre-due", "reminder-1", "reminder-2", "final-notice", "suspension-notice",
        "reactivation", "budget-threshold",
    ] files ["_invoices.txt", "_invoices.html", "_signature.txt", "_signature.html"],
    "ko": emails [
        "reminder-pre-due", "reminder-1", "reminder-2", "final-notice", "suspension-notice",
        "reactivation", "budget-threshold",
    ] files ["_invoices.txt", "_invoices.html", "_signature.txt", "_signature.html"],
    "zh-Hans": emails [
        "reminder-pre-due", "reminder-1", "reminder-2", "final-notice", "suspension-notice",
        "reactivation", "budget-threshold",
    ] files ["_invoices.txt", "_invoices.html", "_signature.txt", "_signature.html"],
    "sv": emails [
        "reminder-pre-due", "reminder-1", "reminder-2", "final-notice", "suspension-notice",
        "reactivation", "budget-threshold",
    ] files ["_invoices.txt", "_invoices.html", "_signature.txt", "_signature.html"],
};

/// Default fuel of one template rendering (minijinja instructions): far above what the shipped
/// templates need, far below what a runaway loop takes.
pub const DEFAULT_FUEL: u64 = 2_000_000;
/// Default largest output of one rendered part (subject, text or HTML): 512 KiB.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 512 * 1024;

/// Bounds of one rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    /// minijinja fuel per rendered part; running out is an error.
    pub fuel: u64,
    /// Largest output of one rendered part; more is an error, and rendering stops there.
    pub max_output_bytes: usize,
}

impl Default for RenderLimits {
    fn default() -> Self {
        Self {
            fuel: DEFAULT_FUEL,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

/// An `io::Write` that refuses to grow past its limit.
struct CappedWriter {
    out: Vec<u8>,
    limit: usize,
}

impl std::io::Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len().saturating_add(buf.len()) > self.limit {
            return Err(std::io::Error::other("output limit reached"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What went wrong with a template. Every variant says which template and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template failed to compile or render.
    #[error(
        "template {}: {message}{}; fix the template, then run `cspguard templates check`",
        location(.file, *.line),
        near(.source_line)
    )]
    Template {
        /// The file: an override path, or `templates/<path> (shipped)`.
        file: String,
        line: Option<usize>,
        message: String,
        /// The offending source line, when known.
        source_line: Option<String>,
    },
    /// No template with this name exists for the locale, neither overridden nor shipped.
    #[error(
        "no template {file} (looked in {searched}); use one of the shipped names ({}) or add the file to the templates directory",
        CUSTOMER_TEMPLATES.join(", ")
    )]
    NotFound { file: String, searched: String },
    /// A template name or locale that cannot be a file name.
    #[error(
        "invalid template name or locale {0:?}: use letters, digits and '-' (e.g. `reminder-1`, `zh-Hans`)"
    )]
    InvalidName(String),
    /// The configured override directory is unusable.
    #[error(
        "templates directory {path}: {problem}; fix `templates.dir` in the configuration or create the directory"
    )]
    OverrideDir { path: PathBuf, problem: String },
    /// The notice lacks data its template needs (e.g. a final notice without a suspension date).
    #[error(
        "cannot render {template}: {what} is missing; this is a planning bug, please report it"
    )]
    MissingData {
        template: String,
        what: &'static str,
    },
    /// The context's amounts and dates were formatted for another locale than the one asked for.
    #[error(
        "the notice was prepared for locale {context} but rendering was asked in {requested}; build the context with NoticeContext::from_action(.., \"{requested}\", ..)"
    )]
    LocaleMismatch { context: String, requested: String },
    /// A rendered part came out empty.
    #[error(
        "template {file} rendered an empty {part}; every email needs a subject and a body, fix the template"
    )]
    Empty { file: String, part: &'static str },
    /// A rendered part grew past the output limit; rendering stopped there.
    #[error(
        "template {file} produced more than {limit} bytes, the limit of one rendered part; \
         check it for runaway loops, or raise [templates] max_output_kb"
    )]
    TooLarge { file: String, limit: usize },
    /// The action given is not a customer notice.
    #[error("cannot build a notice from a {0} action; only customer_notice actions are emails")]
    NotANotice(&'static str),
}

fn location(file: &str, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{file}, line {l}"),
        None => file.to_string(),
    }
}

fn near(source_line: &Option<String>) -> String {
    match source_line {
        Some(s) => format!(" (near `{}`)", s.trim()),
        None => String::new(),
    }
}

/// Tidies a plain-text body: no trailing whitespace on any line, no leading blank lines, at
/// most one blank line in a row, exactly one final newline.
fn tidy_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0usize;
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if blank_run > 0 && !out.is_empty() {
            out.push('\n');
        }
        blank_run = 0;
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedEmail {
    /// One line, no CR/LF.
    pub subject: String,
    /// The plain-text body, ending with a newline.
    pub text: String,
    /// The HTML body (a whole document).
    pub html: String,
}

/// The partner, as customers see it (from config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartnerInfo {
    /// The partner's trading name, e.g. `Contoso Cloud Services`.
    pub name: String,
    /// Where customers write with questions about their invoices.
    pub contact_email: String,
    pub contact_phone: Option<String>,
    /// How to pay (bank details, payment portal), as plain text; may have several lines.
    pub payment_instructions: String,
}

/// `[partner]`: the partner as customers see it in notices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartnerConfig {
    /// Trading name, e.g. "Contoso Cloud Services".
    pub name: String,
    /// Where customers write with questions about invoices.
    pub contact_email: String,
    pub contact_phone: Option<String>,
    /// How to pay (bank details, payment portal), plain text; may have several lines. Used for
    /// every locale without its own entry in `payment_instructions_by_locale`.
    pub payment_instructions: String,
    /// Payment instructions per locale (`ja = "..."`, `sv = "..."`), used for notices in that
    /// locale: `[partner.payment_instructions_by_locale]`.
    pub payment_instructions_by_locale: std::collections::BTreeMap<String, String>,
    /// Default locale of customer notices when nothing better is known.
    pub default_locale: String,
}

impl PartnerConfig {
    /// The payment instructions for a notice in `locale`: its own entry (case-insensitive), else
    /// the entry of its language (`ja-JP` uses `ja`, `zh-Hans-CN` uses `zh-Hans`, then `zh`),
    /// else `payment_instructions`.
    pub fn payment_instructions_for(&self, locale: &str) -> &str {
        let mut tag = locale.trim();
        loop {
            if let Some((_, v)) = self
                .payment_instructions_by_locale
                .iter()
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(tag))
            {
                return v;
            }
            match tag.rfind(['-', '_']) {
                Some(i) => tag = &tag[..i],
                None => return &self.payment_instructions,
            }
        }
    }
}

impl Default for PartnerConfig {
    fn default() -> Self {
        Self {
            name: "Your CSP partner".to_owned(),
            contact_email: String::new(),
            contact_phone: None,
            payment_instructions: String::new(),
            payment_instructions_by_locale: Default::default(),
            default_locale: "en".to_owned(),
        }
    }
}

impl PartnerInfo {
    /// The partner as `[partner]` describes it, with the payment instructions for `locale`
    /// (see [`PartnerConfig::payment_instructions_for`]).
    pub fn from_config(p: &PartnerConfig, locale: &str) -> PartnerInfo {
        PartnerInfo {
            name: p.name.clone(),
            contact_email: p.contact_email.clone(),
            contact_phone: p.contact_phone.clone(),
            payment_instructions: p.payment_instructions_for(locale).to_owned(),
        }
    }
}

/// The customer a notice is addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerInfo {
    /// The customer's tenant id.
    pub id: String,
    /// The company name (customer-controlled: escaped in HTML, made single-line).
    pub company_name: String,
    /// The billing contact's name, when known.
    pub contact_name: Option<String>,
}

/// One invoice in a notice, preformatted for the notice's locale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceLine {
    pub number: String,
    /// Formatted due date, e.g. `November 21, 2026`.
    pub due_date: String,
    /// Days past due (negative before the due date).
    pub days_past_due: i64,
    /// Days until the due date (0 when due or past due).
    pub days_until_due: i64,
    /// Formatted invoice amount, e.g. `$1,234.50`.
    pub amount: String,
    /// Formatted outstanding amount.
    pub outstanding: String,
    pub currency: String,
}

/// The budget facts a `budget-threshold` notice states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetFacts {
    /// The threshold crossed, in percent of the budget (e.g. 80).
    pub threshold_percent: u32,
    pub spend: Decimal,
    pub budget: Decimal,
    pub currency: String,
    /// Any day of the billing month.
    pub month: Date,
    /// Forecast month-end spend, when known.
    pub forecast: Option<Decimal>,
}

/// [`BudgetFacts`], preformatted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetLine {
    pub threshold_percent: u32,
    pub spend: String,
    pub budget: String,
    /// e.g. `November 2026`.
    pub month: String,
    pub forecast: Option<String>,
}

/// Everything a customer notice template can use. Built by [`NoticeContext::from_action`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeContext {
    /// The locale the notice is rendered in (also used by the `money` and `date` filters).
    pub locale: String,
    /// Template name, e.g. `final-notice`.
    pub template: String,
    /// Ladder stage name.
    pub stage: String,
    pub partner: PartnerInfo,
    pub customer: CustomerInfo,
    pub invoices: Vec<InvoiceLine>,
    /// Outstanding total per currency, formatted, in currency order (e.g. `["€200.00", "$1,234.50"]`).
    pub totals: Vec<String>,
    /// The largest number of days any listed invoice is past due (0 when none is).
    pub max_days_past_due: i64,
    /// Formatted suspension date (final notice, suspension notice).
    pub suspension_date: Option<String>,
    /// Names of the subscriptions that are (or will be) suspended.
    pub affected_subscriptions: Vec<String>,
    /// Budget facts (budget-threshold notices only).
    pub budget: Option<BudgetLine>,
    /// Reminders about these invoices that were really sent before this notice; a final notice
    /// mentions "earlier reminders" only when this is not 0.
    pub earlier_reminders: usize,
}

/// Makes a customer-controlled value safe for a single line: control characters (CR, LF, tab,
/// U+2028/2029, ...) become spaces, runs of whitespace collapse, the ends are trimmed.
pub fn one_line(s: &str) -> String {
    let replaced: String = s
        .chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                ' '
            } else {
                c
            }
        })
        .collect();
    replaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl NoticeContext {
    /// Builds the context of a `CustomerNotice` action: invoices, totals and dates formatted for
    /// `locale`; company and contact names made single-line.
    pub fn from_action(
        action: &ActionKind,
        locale: &str,
        partner: PartnerInfo,
        customer: CustomerInfo,
        affected_subscriptions: Vec<String>,
    ) -> Result<NoticeContext, TemplateError> {
        let ActionKind::CustomerNotice {
            template,
            stage,
            invoices,
            suspension_date,
            budget,
            ..
        } = action
        else {
            return Err(TemplateError::NotANotice(action.name()));
        };
        let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();
        let lines = invoices
            .iter()
            .map(|i| {
                let currency = i.currency.trim().to_ascii_uppercase();
                *totals.entry(currency.clone()).or_default() += i.outstanding;
                InvoiceLine {
                    number: one_line(&i.invoice),
                    due_date: format_date(i.due_date, locale),
                    days_past_due: i.days_past_due,
                    days_until_due: (-i.days_past_due).max(0),
                    amount: format_money(i.amount, &currency, locale),
                    outstanding: format_money(i.outstanding, &currency, locale),
                    currency,
                }
            })
            .collect();
        Ok(NoticeContext {
            locale: locale.to_string(),
            template: template.clone(),
            stage: stage.clone(),
            partner: PartnerInfo {
                name: one_line(&partner.name),
                contact_email: one_line(&partner.contact_email),
                contact_phone: partner.contact_phone.as_deref().map(one_line),
                payment_instructions: partner.payment_instructions.trim().to_string(),
            },
            customer: CustomerInfo {
                id: one_line(&customer.id),
                company_name: one_line(&customer.company_name),
                contact_name: customer
                    .contact_name
                    .as_deref()
                    .map(one_line)
                    .filter(|n| !n.is_empty()),
            },
            invoices: lines,
            totals: totals
                .iter()
                .map(|(c, a)| format_money(*a, c, locale))
                .collect(),
            max_days_past_due: invoices
                .iter()
                .map(|i| i.days_past_due)
                .max()
                .unwrap_or(0)
                .max(0),
            suspension_date: suspension_date.map(|d| format_date(d, locale)),
            affected_subscriptions: affected_subscriptions.iter().map(|s| one_line(s)).collect(),
            budget: None,
            earlier_reminders: 0,
        }
        .with_budget_of(budget.as_ref()))
    }

    /// Adds the budget facts a planned budget-threshold notice carries, if any.
    fn with_budget_of(self, b: Option<&crate::plan::NoticeBudget>) -> NoticeContext {
        match b {
            None => self,
            Some(b) => self.with_budget(&BudgetFacts {
                threshold_percent: b.threshold_percent,
                spend: b.spend,
                budget: b.budget,
                currency: b.currency.trim().to_ascii_uppercase(),
                month: b.month,
                forecast: b.forecast,
            }),
        }
    }

    /// Sets how many reminders about these invoices were sent before this notice.
    pub fn with_earlier_reminders(mut self, count: usize) -> NoticeContext {
        self.earlier_reminders = count;
        self
    }

    /// Adds the budget facts of a `budget-threshold` notice.
    pub fn with_budget(mut self, b: &BudgetFacts) -> NoticeContext {
        let l = &self.locale;
        self.budget = Some(BudgetLine {
            threshold_percent: b.threshold_percent,
            spend: format_money(b.spend, &b.currency, l),
            budget: format_money(b.budget, &b.currency, l),
            month: format_month(b.month, l),
            forecast: b.forecast.map(|f| format_money(f, &b.currency, l)),
        });
        self
    }

    /// Checks that the context has what template `name` needs.
    pub fn validate_for(&self, name: &str) -> Result<(), TemplateError> {
        let missing = |what| {
            Err(TemplateError::MissingData {
                template: name.to_string(),
                what,
            })
        };
        let dunning = matches!(
            name,
            "reminder-pre-due" | "reminder-1" | "reminder-2" | "final-notice" | "suspension-notice"
        );
        if dunning && self.invoices.is_empty() {
            return missing("the list of invoices");
        }
        if name == "final-notice" && self.suspension_date.is_none() {
            return missing("the suspension date");
        }
        if name == "budget-threshold" && self.budget.is_none() {
            return missing("the budget facts");
        }
        Ok(())
    }
}

/// One fact behind a finding, for the ops alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fact {
    pub name: String,
    pub value: String,
}

/// How many findings of a group email are shown with their facts; the rest without them.
pub const GROUP_DETAILED: usize = 50;

/// How many findings a group email lists at most (new and changed first, then by severity); the
/// rest are counted, with the command that lists every one. A first run at 50,000 customers puts
/// ~2,500 findings in one group, which could not render within the template output bound.
/// The ledger's action keeps every entry.
pub const GROUP_LISTED: usize = 200;

/// One finding in the `ops-alert-group` template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupEntryLine {
    /// `new`, `changed`, `firing` or `resolved`.
    pub status: String,
    pub severity: Severity,
    pub rule: String,
    pub fingerprint: String,
    pub summary: String,
    /// `Company (tenant id)`, the tenant id, or `partner-wide`.
    pub customer: String,
    /// Empty beyond the first [`GROUP_DETAILED`] entries.
    pub facts: Vec<Fact>,
}

/// Context of the `ops-alert-group` template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpsAlertGroupContext {
    pub locale: String,
    pub partner_name: String,
    /// The group's labels, e.g. `family=budget, severity=critical`.
    pub group: String,
    pub severity: Severity,
    /// `first`, `update` or `repeat`.
    pub send: String,
    pub new_count: usize,
    pub firing_count: usize,
    pub resolved_count: usize,
    /// At most [`GROUP_LISTED`].
    pub entries: Vec<GroupEntryLine>,
    /// Findings of the group beyond `entries` (counted, not listed).
    pub more: usize,
    /// When the email was composed, e.g. `2026-11-21 06:02 UTC`.
    pub detected_at: String,
    /// The repeat interval in hours, for the footer.
    pub repeat_hours: u32,
}

/// Context of the `ops-alert` template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpsAlertContext {
    pub locale: String,
    pub partner_name: String,
    pub severity: Severity,
    pub rule: String,
    pub fingerprint: String,
    pub summary: String,
    /// Customer tenant id, when the finding is about one customer.
    pub customer: Option<String>,
    /// Customer company name, when known.
    pub customer_name: Option<String>,
    pub facts: Vec<Fact>,
    /// When the finding was made, e.g. `2026-11-21 06:02 UTC`.
    pub detected_at: String,
}

impl OpsAlertContext {
    /// Builds an alert context from a finding.
    pub fn from_finding(
        finding: &Finding,
        partner_name: &str,
        customer_name: Option<&str>,
        detected_at: Timestamp,
    ) -> OpsAlertContext {
        OpsAlertContext {
            locale: OPS_LOCALE.to_string(),
            partner_name: one_line(partner_name),
            severity: finding.severity,
            rule: finding.rule.to_string(),
            fingerprint: finding.fingerprint.clone(),
            summary: finding.summary.clone(),
            customer: finding.customer.clone(),
            customer_name: customer_name.map(one_line),
            facts: finding
                .facts
                .iter()
                .map(|(k, v)| Fact {
                    name: k.to_owned(),
                    value: v.to_owned(),
                })
                .collect(),
            detected_at: detected_at.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

/// An amount of money in a currency (formatted by the template's `money` filter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Money {
    pub amount: Decimal,
    pub currency: String,
}

/// A digest item that needs a person's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionItem {
    /// What would be done, e.g. `Suspend subscription "Microsoft 365 E3" of Fabrikam & Co`.
    pub summary: String,
    /// Why.
    pub reason: String,
    /// The exact command that approves it, e.g. `cspguard approve 7f3c…`.
    pub approve_command: String,
    /// When the approval request expires, when it does.
    pub expires: Option<String>,
}

/// An action in the digest (uncertain/failed, or done in the last 24 hours).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionLine {
    /// e.g. `final notice`, `suspend`.
    pub what: String,
    pub customer: String,
    /// e.g. `done`, `would do (dry-run)`, `failed`, `uncertain`.
    pub status: String,
    pub detail: Option<String>,
}

/// A customer whose dunning an uncertain action blocks, as the digest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockedLine {
    pub customer: String,
    /// When the blocking action became uncertain, in the partner's time zone.
    pub since: String,
    /// Whole days blocked so far.
    pub days: i64,
    /// The blocking action, e.g. `action 12: email "reminder 2"`.
    pub action: String,
    /// The command that settles it once a person checked whether it happened.
    pub resolve_command: String,
}

/// A finding in the digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingLine {
    pub severity: Severity,
    pub customer: Option<String>,
    pub summary: String,
}

/// One aging bucket of one currency, with the bar width the chart draws.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgingBucket {
    /// `current`, `1-30`, `31-60`, `61-90`, `90+`.
    pub label: &'static str,
    pub amount: Decimal,
    /// Bar width in percent of the largest bucket of the row (0..=100; at least 1 when the
    /// amount is positive, so a small bucket is still visible).
    pub bar_percent: u32,
}

/// Receivables aging of one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgingRow {
    pub currency: String,
    pub buckets: Vec<AgingBucket>,
    pub total: Decimal,
}

/// The aging bucket labels, in order.
pub const AGING_LABELS: [&str; 5] = ["current", "1-30", "31-60", "61-90", "90+"];

impl AgingRow {
    /// Builds a row from the five bucket amounts (current, 1-30, 31-60, 61-90, 90+), computing
    /// the bar widths. Negative amounts (credits) draw no bar.
    pub fn new(currency: &str, amounts: [Decimal; 5]) -> AgingRow {
        let max = amounts
            .iter()
            .copied()
            .fold(Decimal::ZERO, |m, a| if a > m { a } else { m });
        let buckets = AGING_LABELS
            .iter()
            .zip(amounts)
            .map(|(label, amount)| {
                let bar_percent = if amount <= Decimal::ZERO || max.is_zero() {
                    0
                } else {
                    let pct = (amount * Decimal::from(100) / max).round_dp_with_strategy(
                        0,
                        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                    );
                    u32::try_from(pct.mantissa()).unwrap_or(100).clamp(1, 100)
                };
                AgingBucket {
                    label,
                    amount,
                    bar_percent,
                }
            })
            .collect();
        AgingRow {
            currency: currency.trim().to_ascii_uppercase(),
            buckets,
            total: amounts.iter().copied().sum(),
        }
    }

    /// True when anything is past due.
    pub fn has_overdue(&self) -> bool {
        self.buckets
            .iter()
            .skip(1)
            .any(|b| b.amount > Decimal::ZERO)
    }
}

/// The top debtors of one currency, largest overdue amount first (amounts in different
/// currencies are never ranked against each other).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DebtorGroup {
    pub currency: String,
    pub debtors: Vec<DebtorLine>,
}

/// A top debtor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DebtorLine {
    pub customer: String,
    pub overdue: Money,
    pub oldest_days_past_due: i64,
}

/// A customer in the risk ranking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskLine {
    pub customer: String,
    pub score: u32,
    pub reasons: Vec<String>,
}

/// A health line (of the run, or of a data source/feature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    Warning,
    /// The feature could not run (e.g. usage without App+User credentials).
    NotChecked,
}

/// A health line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthLine {
    pub status: HealthStatus,
    pub text: String,
}

/// Context of the daily `digest`. Sections are plain lists; an empty section is left out, and
/// when [`DigestContext::all_clear`] the digest says so at the top.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestContext {
    pub partner_name: String,
    /// The day the digest is for.
    pub date: Date,
    /// e.g. `dry-run`, `notify`, `enforce`.
    pub mode: String,
    /// About the run itself (started, finished, calls made, duration).
    pub run_health: Vec<HealthLine>,
    pub needs_decision: Vec<DecisionItem>,
    pub uncertain_or_failed: Vec<ActionLine>,
    /// Customers whose dunning an uncertain action blocks, oldest first, with the command that
    /// settles it.
    pub dunning_blocked: Vec<BlockedLine>,
    pub fraud_findings: Vec<FindingLine>,
    pub budget_findings: Vec<FindingLine>,
    pub aging: Vec<AgingRow>,
    /// Per currency, currencies in alphabetical order.
    pub top_debtors: Vec<DebtorGroup>,
    pub recent_actions: Vec<ActionLine>,
    pub riskiest: Vec<RiskLine>,
    /// Data sources and features (receivables import, audit records, usage, fraud events).
    pub health: Vec<HealthLine>,
    /// What the run could not read; empty when this digest is from a run with complete data.
    /// A digest with something missing says so at the top, and a complete digest follows the
    /// same day when the data is back.
    pub missing: Vec<String>,
    /// Alerts held back from the ops emails (silenced, inhibited, deferred), the silences in
    /// force and the first run's baseline.
    pub alerting: AlertSection,
    /// The billing reconciliation (only when `[reconciliation]` is enabled): totals per
    /// currency, not-invoiced and under-invoiced customers, late payers' exposure, coverage.
    pub reconciliation: Option<crate::recon::model::ReconText>,
    /// How many items each bounded list leaves out (the digest says "and N more" and names the
    /// command that lists them all).
    pub more: DigestMore,
}

/// Items left out of the digest's bounded lists, per list (0 = the list is complete).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DigestMore {
    pub needs_decision: usize,
    pub uncertain_or_failed: usize,
    pub dunning_blocked: usize,
    pub fraud_findings: usize,
    pub budget_findings: usize,
    pub recent_actions: usize,
}

/// A finding held back from the ops emails, as the digest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldLine {
    pub severity: Severity,
    pub customer: Option<String>,
    pub summary: String,
    /// Why, e.g. `silence 3 until 2026-12-01 (budget review)` or `inhibited by fraud.event:…`.
    pub note: String,
}

/// The digest's alert-hygiene section. Lists are bounded; the totals count everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertSection {
    pub held: Vec<HeldLine>,
    /// Every held finding, also those beyond the listed lines.
    pub held_total: usize,
    /// Silences in force, one line each.
    pub silences: Vec<String>,
    /// The first run's baseline, once: e.g. `47 activity.admin_grant, 17 activity.young_order`.
    pub baseline: Option<String>,
}

impl AlertSection {
    /// Nothing to show.
    pub fn is_empty(&self) -> bool {
        self.held_total == 0 && self.silences.is_empty() && self.baseline.is_none()
    }
}

impl DigestContext {
    /// Nothing needs a decision, nothing is uncertain or failed, there are no fraud, misuse or
    /// budget findings, no receivable is past due, and no health line is a warning.
    pub fn all_clear(&self) -> bool {
        self.missing.is_empty()
            && self.needs_decision.is_empty()
            && self.uncertain_or_failed.is_empty()
            && self.dunning_blocked.is_empty()
            && self.fraud_findings.is_empty()
            && self.budget_findings.is_empty()
            && !self.aging.iter().any(AgingRow::has_overdue)
            && self.reconciliation.as_ref().is_none_or(|r| {
                r.not_invoiced.is_empty() && r.under_invoiced.is_empty() && r.exposure.is_empty()
            })
            && !self
                .run_health
                .iter()
                .chain(&self.health)
                .any(|h| h.status != HealthStatus::Ok)
    }
}

#[derive(Serialize)]
struct DigestView<'a> {
    #[serde(flatten)]
    ctx: &'a DigestContext,
    locale: &'static str,
    all_clear: bool,
}

/// Renders templates; see the module documentation.
pub struct Renderer {
    env: Environment<'static>,
    limits: RenderLimits,
    override_dir: Option<PathBuf>,
    /// `available_locales`, discovered once: a renderer lives for one command, and scanning the
    /// override directory for every notice would repeat the same file-system work.
    available: std::sync::OnceLock<Vec<String>>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("override_dir", &self.override_dir)
            .finish_non_exhaustive()
    }
}

/// True for a relative template path made of safe segments (no `..`, no absolute paths).
fn safe_path(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

fn safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

fn shipped_source(name: &str) -> Option<&'static str> {
    SHIPPED.iter().find(|(p, _)| *p == name).map(|(_, s)| *s)
}

fn filter_locale(state: &State) -> String {
    state
        .lookup("locale")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| DEFAULT_LOCALE.to_string())
}

/// Autoescaping of strings in HTML templates: `&`, `<`, `>`, `"` and `'` only (minijinja's
/// default also escapes `/`, which makes URLs in mail bodies unreadable in the source and
/// breaks some clients' link detection). Everything else goes to minijinja's formatter.
fn html_formatter(
    out: &mut minijinja::Output,
    state: &State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(s) if state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            let mut escaped = String::with_capacity(s.len());
            for c in s.chars() {
                match c {
                    '&' => escaped.push_str("&amp;"),
                    '<' => escaped.push_str("&lt;"),
                    '>' => escaped.push_str("&gt;"),
                    '"' => escaped.push_str("&quot;"),
                    '\'' => escaped.push_str("&#39;"),
                    c => escaped.push(c),
                }
            }
            out.write_str(&escaped).map_err(minijinja::Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// `{{ amount | money(currency) }}`: formats a decimal (as text, as rust_decimal serializes) or
/// an integer for the template's `locale`. Floats are refused: money is never a float.
fn money_filter(state: &State, value: Value, currency: String) -> Result<String, minijinja::Error> {
    let amount = if let Some(s) = value.as_str() {
        s.trim().parse::<Decimal>().map_err(|e| {
            minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("money: {s:?} is not a decimal amount ({e})"),
            )
        })?
    } else if let Ok(i) = i64::try_from(value.clone()) {
        Decimal::from(i)
    } else {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "money: expected a decimal amount as text or an integer, got {} {value}",
                value.kind()
            ),
        ));
    };
    Ok(format_money(amount, &currency, &filter_locale(state)))
}

/// `{{ day | date }}`: formats an ISO date (`2026-11-21`) for the template's `locale`.
fn date_filter(state: &State, value: Value) -> Result<String, minijinja::Error> {
    let s = value.as_str().ok_or_else(|| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("date: expected an ISO date such as 2026-11-21, got {value}"),
        )
    })?;
    let d: Date = s.trim().parse().map_err(|e| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("date: {s:?} is not an ISO date ({e})"),
        )
    })?;
    Ok(format_date(d, &filter_locale(state)))
}

/// `{{ text | lines }}`: the non-empty lines of a multi-line text, for `<br>`-joined HTML.
fn lines_filter(value: String) -> Vec<String> {
    value
        .lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.trim().is_empty())
        .collect()
}

impl Renderer {
    /// A renderer that looks in `override_dir` first (when given), then in the shipped set.
    /// Fails when `override_dir` is given but is not a readable directory.
    pub fn new(override_dir: Option<PathBuf>) -> Result<Renderer, TemplateError> {
        if let Some(dir) = &override_dir {
            match std::fs::metadata(dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(TemplateError::OverrideDir {
                        path: dir.clone(),
                        problem: "is not a directory".into(),
                    });
                }
                Err(e) => {
                    return Err(TemplateError::OverrideDir {
                        path: dir.clone(),
                        problem: e.to_string(),
                    });
                }
            }
        }
        let mut env = Environment::new();
        env.set_fuel(Some(DEFAULT_FUEL));
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(html_formatter);
        env.add_filter("money", money_filter);
        env.add_filter("date", date_filter);
        env.add_filter("lines", lines_filter);
        let dir = override_dir.clone();
        env.set_loader(move |name| {
            if !safe_path(name) {
                return Ok(None);
            }
            if let Some(dir) = &dir {
                let path = dir.join(name);
                match std::fs::read_to_string(&path) {
                    Ok(s) => return Ok(Some(s)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(minijinja::Error::new(
                            ErrorKind::InvalidOperation,
                            format!("cannot read {}: {e}", path.display()),
                        ));
                    }
                }
            }
            Ok(shipped_source(name).map(str::to_string))
        });
        Ok(Renderer {
            env,
            limits: RenderLimits::default(),
            override_dir,
            available: std::sync::OnceLock::new(),
        })
    }

    /// The same renderer with these bounds.
    pub fn with_limits(mut self, limits: RenderLimits) -> Renderer {
        self.env.set_fuel(Some(limits.fuel.clamp(1, 1 << 40)));
        self.limits = limits;
        self
    }

    /// The override directory, if any.
    pub fn override_dir(&self) -> Option<&Path> {
        self.override_dir.as_deref()
    }

    /// Where template `name` (e.g. `en/reminder-1.html`) comes from: the override file's path,
    /// or `templates/<name> (shipped)`.
    pub fn describe(&self, name: &str) -> String {
        if let Some(dir) = &self.override_dir {
            let p = dir.join(name);
            if safe_path(name) && p.is_file() {
                return p.display().to_string();
            }
        }
        format!("templates/{name} (shipped)")
    }

    fn exists(&self, name: &str) -> bool {
        shipped_source(name).is_some()
            || self
                .override_dir
                .as_ref()
                .is_some_and(|d| safe_path(name) && d.join(name).is_file())
    }

    /// Locales in which every customer template exists (shipped or overridden): the locales
    /// [`super::format::choose_locale`] may choose from. Shipped locales come first.
    pub fn available_locales(&self) -> Vec<String> {
        self.available
            .get_or_init(|| {
                let mut out: Vec<String> = SHIPPED_LOCALES.iter().map(|s| s.to_string()).collect();
                for loc in self.override_locales() {
                    if !out.contains(&loc) && self.missing_customer_files(&loc).is_empty() {
                        out.push(loc);
                    }
                }
                out
            })
            .clone()
    }

    /// Locale directories present in the override directory (sorted).
    pub fn override_locales(&self) -> Vec<String> {
        let Some(dir) = &self.override_dir else {
            return Vec::new();
        };
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| safe_segment(n))
            .collect();
        v.sort();
        v
    }

    /// Customer template files missing for `locale` (relative paths).
    pub fn missing_customer_files(&self, locale: &str) -> Vec<String> {
        CUSTOMER_TEMPLATES
            .iter()
            .flat_map(|t| PARTS.iter().map(move |p| format!("{locale}/{t}.{p}")))
            .filter(|f| !self.exists(f))
            .collect()
    }

    fn to_error(&self, file: &str, err: minijinja::Error) -> TemplateError {
        if err.kind() == ErrorKind::TemplateNotFound {
            let missing = err.name().unwrap_or(file).to_string();
            let searched = match &self.override_dir {
                Some(d) => format!("{} and the shipped templates", d.display()),
                None => "the shipped templates".to_string(),
            };
            return TemplateError::NotFound {
                file: missing,
                searched,
            };
        }
        let name = err.name().unwrap_or(file).to_string();
        let line = err.line();
        let source_line = match (err.template_source(), line) {
            (Some(src), Some(l)) if l > 0 => src.lines().nth(l - 1).map(str::to_string),
            _ => None,
        };
        let message = match (err.kind(), err.detail()) {
            (ErrorKind::OutOfFuel, _) => format!(
                "{}: the template did more work than the limit of {} steps allows (a runaway \
                 loop?); simplify it, or raise [templates] max_fuel",
                err.kind(),
                self.limits.fuel
            ),
            (kind, Some(d)) => format!("{kind}: {d}"),
            (kind, None) => kind.to_string(),
        };
        TemplateError::Template {
            file: self.describe(&name),
            line,
            message,
            source_line,
        }
    }

    /// Compiles one template file (e.g. `en/reminder-1.html`) without rendering it.
    pub fn compile(&self, file: &str) -> Result<(), TemplateError> {
        if !safe_path(file) {
            return Err(TemplateError::InvalidName(file.to_string()));
        }
        self.env
            .get_template(file)
            .map(|_| ())
            .map_err(|e| self.to_error(file, e))
    }

    fn render_file(&self, file: &str, ctx: &Value) -> Result<String, TemplateError> {
        let tmpl = self
            .env
            .get_template(file)
            .map_err(|e| self.to_error(file, e))?;
        let mut out = CappedWriter {
            out: Vec::new(),
            limit: self.limits.max_output_bytes,
        };
        match tmpl.render_captured_to(ctx, &mut out) {
            Ok(_) => Ok(String::from_utf8_lossy(&out.out).into_owned()),
            Err(e) if e.kind() == ErrorKind::WriteFailure => Err(TemplateError::TooLarge {
                file: self.describe(file),
                limit: self.limits.max_output_bytes,
            }),
            Err(e) => Err(self.to_error(file, e)),
        }
    }

    /// Renders email `name` in `locale` with any serializable context (which should have a
    /// `locale` field for the `money` and `date` filters).
    pub fn render_serialize<S: Serialize>(
        &self,
        name: &str,
        locale: &str,
        ctx: &S,
    ) -> Result<RenderedEmail, TemplateError> {
        for s in [name, locale] {
            if !safe_segment(s) {
                return Err(TemplateError::InvalidName(s.to_string()));
            }
        }
        let value = Value::from_serialize(ctx);
        let [subject_file, text_file, html_file] = PARTS.map(|p| format!("{locale}/{name}.{p}"));
        let subject = one_line(&self.render_file(&subject_file, &value)?);
        let text = self.render_file(&text_file, &value)?;
        let html = self.render_file(&html_file, &value)?;
        for (file, part, body) in [
            (&subject_file, "subject", &subject),
            (&text_file, "text body", &text),
            (&html_file, "HTML body", &html),
        ] {
            if body.trim().is_empty() {
                return Err(TemplateError::Empty {
                    file: self.describe(file),
                    part,
                });
            }
        }
        let text = tidy_text(&text);
        Ok(RenderedEmail {
            subject,
            text,
            html,
        })
    }

    /// Renders customer notice `name` in `locale`, which must be the locale `ctx` was built for
    /// (its amounts and dates are preformatted). Checks first that `ctx` has what the template
    /// needs ([`NoticeContext::validate_for`]).
    pub fn render(
        &self,
        name: &str,
        locale: &str,
        ctx: &NoticeContext,
    ) -> Result<RenderedEmail, TemplateError> {
        for s in [name, locale] {
            if !safe_segment(s) {
                return Err(TemplateError::InvalidName(s.to_string()));
            }
        }
        ctx.validate_for(name)?;
        if ctx.locale != locale {
            return Err(TemplateError::LocaleMismatch {
                context: ctx.locale.clone(),
                requested: locale.to_string(),
            });
        }
        self.render_serialize(name, locale, ctx)
    }

    /// Renders the immediate ops alert.
    pub fn render_ops_alert(&self, ctx: &OpsAlertContext) -> Result<RenderedEmail, TemplateError> {
        self.render_serialize("ops-alert", OPS_LOCALE, ctx)
    }

    /// Renders the email of one alert group.
    pub fn render_ops_alert_group(
        &self,
        ctx: &OpsAlertGroupContext,
    ) -> Result<RenderedEmail, TemplateError> {
        self.render_serialize("ops-alert-group", OPS_LOCALE, ctx)
    }

    /// Renders the daily digest (the "all clear" variant when [`DigestContext::all_clear`]).
    pub fn render_digest(&self, ctx: &DigestContext) -> Result<RenderedEmail, TemplateError> {
        let view = DigestView {
            ctx,
            locale: OPS_LOCALE,
            all_clear: ctx.all_clear(),
        };
        self.render_serialize("digest", OPS_LOCALE, &view)
    }
}

/// Realistic sample data, used by `cspguard templates check` and `preview` and by the snapshot
/// tests. Dates are around 2026-11-21.
pub mod samples {
    use super::*;
    use crate::facts::Facts;
    use crate::plan::NoticeInvoice;
    use jiff::civil::date;
    use rust_decimal::Decimal;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    /// The sample partner, with the payment instructions of `locale`.
    pub fn partner(locale: &str) -> PartnerInfo {
        let payment_instructions = match locale {
            "ja" => {
                "お振込先：みずほ銀行 東京営業部 普通 1234567 口座名義 コントソ・クラウド株式会社\nお振込の際は、請求書番号をご依頼人名の前にご入力ください。"
            }
            "ko" => {
                "입금 계좌: 신한은행 110-123-456789 (예금주: 콘토소클라우드)\n입금 시 입금자명에 청구서 번호를 기재해 주십시오."
            }
            "zh-Hans" => {
                "开户银行：招商银行上海分行\n账号：1219 0987 6543 210\n汇款时请在附言中注明发票号码。"
            }
            "sv" => {
                "Bankgiro 5050-1234. Ange fakturanumret som referens.\nNi kan också betala med kort på https://pay.contoso.example."
            }
            _ => {
                "Pay online at https://pay.contoso.example, or by bank transfer to\nContoso Cloud Services, IBAN GB29 NWBK 6016 1331 9268 19, quoting the invoice number."
            }
        };
        PartnerInfo {
            name: "Contoso Cloud Services".into(),
            contact_email: "billing@contoso.example".into(),
            contact_phone: Some("+44 20 7946 0000".into()),
            payment_instructions: payment_instructions.into(),
        }
    }

    /// The sample customer of `locale`.
    pub fn customer(locale: &str) -> CustomerInfo {
        let (company, contact) = match locale {
            "ja" => ("株式会社ノースウィンド", Some("山田 太郎")),
            "ko" => ("(주)노스윈드트레이더스", Some("김민준")),
            "zh-Hans" => ("上海诺斯温德贸易有限公司", Some("王伟")),
            "sv" => ("Fabrikam AB", Some("Anna Lindqvist")),
            _ => ("Fabrikam & Co", Some("Jordan Smith")),
        };
        CustomerInfo {
            id: "8f2c6a1e-4b7d-4c1a-9e3f-2d5b7a9c0e11".into(),
            company_name: company.into(),
            contact_name: contact.map(str::to_string),
        }
    }

    /// The sample currency of `locale`.
    pub fn currency(locale: &str) -> &'static str {
        match locale {
            "ja" => "JPY",
            "ko" => "KRW",
            "zh-Hans" => "CNY",
            "sv" => "SEK",
            _ => "USD",
        }
    }

    fn amounts(locale: &str) -> [(&'static str, &'static str); 2] {
        match currency(locale) {
            "JPY" => [("184800", "184800"), ("96250.5", "46250.5")],
            "KRW" => [("2450000", "2450000"), ("880000", "380000")],
            "CNY" => [("8800", "8800"), ("4260.75", "2130.40")],
            "SEK" => [("12400", "12400"), ("3250.5", "1234.5")],
            _ => [("1234.5", "1234.5"), ("842.10", "421.05")],
        }
    }

    /// The sample `CustomerNotice` action for template `name`.
    pub fn action(name: &str, locale: &str) -> ActionKind {
        let [(a1, o1), (a2, o2)] = amounts(locale);
        let cur = currency(locale).to_string();
        let inv = |n: &str, due, dpd, a: &str, o: &str| NoticeInvoice {
            invoice: n.into(),
            due_date: due,
            days_past_due: dpd,
            amount: dec(a),
            outstanding: dec(o),
            currency: cur.clone(),
            stage_index: 0,
        };
        let (invoices, suspension_date) = match name {
            "reminder-pre-due" => (
                vec![inv("INV-2026-10482", date(2026, 11, 28), -7, a1, o1)],
                None,
            ),
            "reminder-1" => (
                vec![inv("INV-2026-10217", date(2026, 11, 14), 7, a1, o1)],
                None,
            ),
            "reminder-2" | "final-notice" | "suspension-notice" => (
                vec![
                    inv("INV-2026-09873", date(2026, 10, 15), 37, a1, o1),
                    inv("INV-2026-10217", date(2026, 11, 14), 7, a2, o2),
                ],
                match name {
                    "final-notice" => Some(date(2026, 12, 5)),
                    "suspension-notice" => Some(date(2026, 11, 21)),
                    _ => None,
                },
            ),
            _ => (Vec::new(), None),
        };
        ActionKind::CustomerNotice {
            template: name.into(),
            stage: name.into(),
            to: Some("accounts@fabrikam.example".into()),
            cc: Vec::new(),
            locale_hint: Some(locale.into()),
            invoices,
            suspension_date,
            budget: None,
        }
    }

    /// The sample subscriptions affected by a suspension.
    pub fn subscriptions(locale: &str) -> Vec<String> {
        let azure = match locale {
            "ja" => "Azure プラン（本番環境）",
            "ko" => "Azure 플랜(운영)",
            "zh-Hans" => "Azure 计划（生产环境）",
            "sv" => "Azure-plan (produktion)",
            _ => "Azure plan (production)",
        };
        vec!["Microsoft 365 Business Premium".into(), azure.into()]
    }

    /// The sample budget facts.
    pub fn budget(locale: &str) -> BudgetFacts {
        let (spend, budget, forecast) = match currency(locale) {
            "JPY" => ("402000", "500000", "612000"),
            "KRW" => ("4120000", "5000000", "6350000"),
            "CNY" => ("20400", "25000", "31800"),
            "SEK" => ("40800", "50000", "63200"),
            _ => ("4080.40", "5000", "6320"),
        };
        BudgetFacts {
            threshold_percent: 80,
            spend: dec(spend),
            budget: dec(budget),
            currency: currency(locale).into(),
            month: date(2026, 11, 1),
            forecast: Some(dec(forecast)),
        }
    }

    /// A complete sample context for customer template `name` in `locale`.
    pub fn notice(name: &str, locale: &str) -> NoticeContext {
        let subs = match name {
            "final-notice" | "suspension-notice" | "reactivation" => subscriptions(locale),
            _ => Vec::new(),
        };
        let ctx = NoticeContext::from_action(
            &action(name, locale),
            locale,
            partner(locale),
            customer(locale),
            subs,
        )
        .unwrap_or_else(|_| unreachable_notice())
        // A final notice follows the two reminders of the default ladder.
        .with_earlier_reminders(if name == "final-notice" { 2 } else { 0 });
        if name == "budget-threshold" {
            ctx.with_budget(&budget(locale))
        } else {
            ctx
        }
    }

    // `action` always builds a CustomerNotice; this only satisfies the type checker.
    fn unreachable_notice() -> NoticeContext {
        NoticeContext {
            locale: DEFAULT_LOCALE.into(),
            template: String::new(),
            stage: String::new(),
            partner: partner(DEFAULT_LOCALE),
            customer: customer(DEFAULT_LOCALE),
            invoices: Vec::new(),
            totals: Vec::new(),
            max_days_past_due: 0,
            suspension_date: None,
            affected_subscriptions: Vec::new(),
            budget: None,
            earlier_reminders: 0,
        }
    }

    /// A sample fraud finding.
    pub fn finding() -> Finding {
        let mut facts = Facts::new();
        facts.insert("azure_subscription", "3f9d2b6c-0a1e-4f57-8d2b-9c4e7a1f5e20");
        facts.insert("event", "cryptocurrency mining");
        facts.insert("first_seen", "2026-11-21T05:41:00Z");
        Finding {
            fingerprint: "fraud.azure_event:8f2c6a1e:3f9d2b6c".into(),
            rule: "fraud.azure_event".into(),
            severity: Severity::Critical,
            customer: Some("8f2c6a1e-4b7d-4c1a-9e3f-2d5b7a9c0e11".into()),
            summary: "Microsoft reported cryptocurrency mining on Azure subscription 3f9d2b6c of Fabrikam & Co.".into(),
            facts,
        }
    }

    /// A sample alert group email.
    pub fn ops_alert_group() -> OpsAlertGroupContext {
        let f = finding();
        let line = |status: &str, fp: &str| GroupEntryLine {
            status: status.into(),
            severity: f.severity,
            rule: f.rule.to_string(),
            fingerprint: fp.into(),
            summary: f.summary.clone(),
            customer: "Fabrikam & Co (8f2c6a1e-4b7d-4c1a-9e3f-2d5b7a9c0e11)".into(),
            facts: f
                .facts
                .iter()
                .map(|(k, v)| Fact {
                    name: k.to_owned(),
                    value: v.to_owned(),
                })
                .collect(),
        };
        OpsAlertGroupContext {
            locale: OPS_LOCALE.into(),
            partner_name: "Contoso Cloud Services".into(),
            group: "family=fraud, severity=critical".into(),
            severity: Severity::Critical,
            send: "update".into(),
            new_count: 1,
            firing_count: 1,
            resolved_count: 0,
            entries: vec![
                line("new", &f.fingerprint),
                line("firing", "fraud.azure_event:8f2c6a1e:77aa01"),
            ],
            more: 0,
            detected_at: "2026-11-21 06:02 UTC".into(),
            repeat_hours: 24,
        }
    }

    /// A sample ops alert.
    pub fn ops_alert() -> OpsAlertContext {
        OpsAlertContext::from_finding(
            &finding(),
            "Contoso Cloud Services",
            Some("Fabrikam & Co"),
            "2026-11-21T06:02:00Z"
                .parse()
                .unwrap_or(Timestamp::UNIX_EPOCH),
        )
    }

    fn ok(text: &str) -> HealthLine {
        HealthLine {
            status: HealthStatus::Ok,
            text: text.into(),
        }
    }

    /// A sample digest with every section filled.
    pub fn digest() -> DigestContext {
        let usd = |a: &str| Money {
            amount: dec(a),
            currency: "USD".into(),
        };
        DigestContext {
            partner_name: "Contoso Cloud Services".into(),
            date: date(2026, 11, 21),
            mode: "notify".into(),
            run_health: vec![
                ok("Run 2026-11-21 06:00 UTC finished in 48 s; 1,212 customers, 37 Partner Center calls."),
                HealthLine {
                    status: HealthStatus::Warning,
                    text: "2 receivables rows could not be matched to a customer (see `cspguard receivables check`).".into(),
                },
            ],
            needs_decision: vec![DecisionItem {
                summary: "Suspend \"Microsoft 365 Business Premium\" of Fabrikam & Co".into(),
                reason: "Invoice INV-2026-09873 is 51 days past due; final notice sent November 7, 2026.".into(),
                approve_command: "cspguard approve 7f3c9e2a".into(),
                expires: Some("November 24, 2026".into()),
            }],
            uncertain_or_failed: vec![ActionLine {
                what: "reminder 2".into(),
                customer: "Tailspin Toys Ltd".into(),
                status: "uncertain".into(),
                detail: Some("the run stopped while sending; check the mailbox before retrying".into()),
            }],
            dunning_blocked: vec![BlockedLine {
                customer: "Tailspin Toys Ltd".into(),
                since: "2026-11-18 06:02 CET".into(),
                days: 3,
                action: "action 41: email \"reminder 2\"".into(),
                resolve_command: "cspguard resolve 41 --sent --reason \"...\" (or --not-sent if it did not go out)".into(),
            }],
            fraud_findings: vec![FindingLine {
                severity: Severity::Critical,
                customer: Some("Fabrikam & Co".into()),
                summary: "Microsoft reported cryptocurrency mining on Azure subscription 3f9d2b6c.".into(),
            }],
            budget_findings: vec![FindingLine {
                severity: Severity::Warning,
                customer: Some("Wide World Importers".into()),
                summary: "Azure spend $4,080.40 is 82% of the $5,000.00 budget; forecast $6,320.00 by November 30.".into(),
            }],
            aging: vec![
                AgingRow::new(
                    "USD",
                    [dec("48210.00"), dec("12480.50"), dec("6120.00"), dec("1890.25"), dec("3400.00")],
                ),
                AgingRow::new(
                    "EUR",
                    [dec("9800.00"), dec("0"), dec("2450.00"), dec("0"), dec("0")],
                ),
            ],
            top_debtors: vec![DebtorGroup {
                currency: "USD".into(),
                debtors: vec![
                    DebtorLine {
                        customer: "Fabrikam & Co".into(),
                        overdue: usd("5323.50"),
                        oldest_days_past_due: 51,
                    },
                    DebtorLine {
                        customer: "Tailspin Toys Ltd".into(),
                        overdue: usd("2890.00"),
                        oldest_days_past_due: 34,
                    },
                ],
            }],
            recent_actions: vec![
                ActionLine {
                    what: "final notice".into(),
                    customer: "Tailspin Toys Ltd".into(),
                    status: "done".into(),
                    detail: Some("suspension date December 5, 2026".into()),
                },
                ActionLine {
                    what: "reminder 1".into(),
                    customer: "Adventure Works".into(),
                    status: "done".into(),
                    detail: None,
                },
            ],
            riskiest: vec![RiskLine {
                customer: "Fabrikam & Co".into(),
                score: 87,
                reasons: vec![
                    "fraud event on an Azure subscription".into(),
                    "$5,323.50 overdue, 51 days".into(),
                    "customer created 19 days ago".into(),
                ],
            }],
            health: vec![
                ok("Receivables import: 3,482 rows from billing-export-2026-11-21.csv."),
                ok("Audit records: read up to 2026-11-21 05:58 UTC."),
                HealthLine {
                    status: HealthStatus::NotChecked,
                    text: "Usage and fraud events: not checked, App+User credentials are not configured (run `cspguard auth consent`).".into(),
                },
            ],
            missing: Vec::new(),
            alerting: AlertSection {
                held: vec![HeldLine {
                    severity: Severity::Critical,
                    customer: Some("Fabrikam & Co".into()),
                    summary: "Fabrikam & Co has used 130% of its USD 2,000 Azure budget this month".into(),
                    note: "inhibited while fraud.event:8f2c6a1e:3f9d2b6c fires".into(),
                }],
                held_total: 1,
                silences: vec!["#3 rule=budget.* until 2026-12-01T23:00:00Z by alice: quarterly budget review".into()],
                baseline: Some("47 activity.admin_grant, 17 activity.young_order before the first run on 2026-11-20".into()),
            },
            reconciliation: None,
            more: DigestMore::default(),
        }
    }

    /// A sample digest where everything is fine.
    pub fn digest_all_clear() -> DigestContext {
        DigestContext {
            partner_name: "Contoso Cloud Services".into(),
            date: date(2026, 11, 21),
            mode: "enforce".into(),
            run_health: vec![ok(
                "Run 2026-11-21 06:00 UTC finished in 41 s; 1,212 customers, 29 Partner Center calls.",
            )],
            needs_decision: Vec::new(),
            uncertain_or_failed: Vec::new(),
            dunning_blocked: Vec::new(),
            fraud_findings: Vec::new(),
            budget_findings: Vec::new(),
            aging: vec![AgingRow::new(
                "USD",
                [dec("52480.00"), dec("0"), dec("0"), dec("0"), dec("0")],
            )],
            top_debtors: Vec::new(),
            recent_actions: Vec::new(),
            riskiest: Vec::new(),
            alerting: AlertSection::default(),
            reconciliation: None,
            more: DigestMore::default(),
            health: vec![
                ok("Receivables import: 3,479 rows from billing-export-2026-11-21.csv."),
                ok("Audit records, usage and fraud events: read."),
            ],
            missing: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_removes_every_line_break_and_control_character() {
        assert_eq!(
            one_line("  Fabrikam\r\n& Co\u{2028}Ltd\tBcc:\u{85}x  "),
            "Fabrikam & Co Ltd Bcc: x"
        );
        assert_eq!(one_line("\n\r"), "");
    }

    #[test]
    fn tidy_text_collapses_blank_runs_and_trailing_space() {
        assert_eq!(tidy_text("\n\na  \n\n\n\nb\t\n\n"), "a\n\nb\n");
        assert_eq!(tidy_text("x"), "x\n");
    }

    #[test]
    fn template_paths_cannot_escape_the_templates_directory() {
        assert!(safe_path("en/reminder-1.html"));
        assert!(safe_path("zh-Hans/_invoices.txt"));
        assert!(safe_path("_layout.html"));
        for bad in [
            "../x.html",
            "/etc/passwd",
            "en/../../x",
            "en\\x",
            "",
            "en//x",
            "./x",
        ] {
            assert!(!safe_path(bad), "{bad}");
        }
        assert!(safe_segment("zh-Hans"));
        assert!(!safe_segment("en/x"));
        assert!(!safe_segment(".."));
    }

    #[test]
    fn every_shipped_template_compiles() {
        let r = Renderer::new(None).expect("renderer");
        for (file, _) in SHIPPED {
            r.compile(file).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
