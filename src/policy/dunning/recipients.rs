//! Who a dunning notice goes to: the per-customer override, else the receivables' contact email,
//! else the billing profile's email, each checked; and what the plan says when none is usable
//! (fetch the detail first, a skip, or a `dunning.no_contact` finding).

use crate::facts::Facts;
use crate::pc::models::CustomerBillingProfile;
use crate::plan::{DetailNeed, Finding, PlanBuilder, Severity};
use crate::receivables::check_email;
use crate::snapshot::Section;

use super::{POLICY, Run, plural};

/// Where a notice goes.
pub(super) struct Recipient {
    pub to: String,
    pub cc: Vec<String>,
    pub locale: Option<String>,
}

pub(super) enum RecipientError {
    /// Detail must be fetched first.
    NeedDetail,
    /// Detail could not be read.
    Failed(String),
    /// No usable address.
    NoContact(String),
}

/// The notice a recipient was looked up for.
pub(super) struct Addressee<'x> {
    pub customer: &'x str,
    pub name: &'x str,
    /// Overdue invoices the notice is about (0: the reactivation confirmation).
    pub overdue: usize,
    /// What to fetch when the customer's detail is missing (the subscriptions too before a
    /// suspension).
    pub detail: DetailNeed,
}

impl Run<'_, '_> {
    /// Recipient: override email > receivables contact email > billing profile email.
    pub(super) fn recipient<'r>(
        &self,
        c: &str,
        contacts: impl Iterator<Item = &'r str>,
    ) -> Result<Recipient, RecipientError> {
        let ov = self.input.config.customer(c);
        let ov_email = ov.and_then(|o| o.email.as_deref()).map(str::trim);
        let ov_locale = ov.and_then(|o| o.locale.clone());
        let cc = ov.map(|o| o.cc.clone()).unwrap_or_default();
        let profile = if ov_email.is_some() && ov_locale.is_some() {
            None
        } else {
            Some(self.billing_profile(c)?)
        };
        let locale = ov_locale.or_else(|| {
            profile
                .and_then(|p| p.culture().or(p.language()))
                .map(str::to_owned)
        });
        let to = match ov_email {
            Some(e) => {
                check_email(e).map_err(|why| {
                    RecipientError::NoContact(format!("the configured email {e:?}: {why}"))
                })?;
                e.to_owned()
            }
            None => {
                let mut candidates: Vec<&str> = contacts.map(str::trim).collect();
                candidates.extend(profile.and_then(CustomerBillingProfile::email));
                first_usable(candidates)?
            }
        };
        Ok(Recipient { to, cc, locale })
    }

    /// The customer's billing profile from the snapshot's detail.
    fn billing_profile(&self, c: &str) -> Result<&CustomerBillingProfile, RecipientError> {
        match self
            .input
            .snapshot
            .details
            .get(c)
            .map(|d| &d.billing_profile)
        {
            None | Some(Section::NotChecked { .. }) => Err(RecipientError::NeedDetail),
            Some(Section::Failed { error }) => Err(RecipientError::Failed(error.clone())),
            Some(Section::Ok { data }) => Ok(data),
        }
    }

    /// Record why a notice for `to` cannot be addressed this run.
    pub(super) fn recipient_problem(
        &self,
        to: &Addressee<'_>,
        e: RecipientError,
        out: &mut PlanBuilder,
    ) {
        let (c, name, overdue) = (to.customer, to.name, to.overdue);
        match e {
            RecipientError::NeedDetail => {
                out.need_detail(c, to.detail);
                out.skip(
                    Some(c),
                    POLICY,
                    format!("{name}: detail not fetched yet; no notice in this pass"),
                );
            }
            RecipientError::Failed(err) => out.skip(
                Some(c),
                POLICY,
                format!("{name}: the billing profile could not be read ({err}); no notice"),
            ),
            RecipientError::NoContact(why) => {
                let mut facts = Facts::new();
                facts.insert("overdue_invoices", overdue.to_string());
                facts.insert("problem", why.clone());
                out.finding(Finding {
                    fingerprint: format!("dunning.no_contact:{c}"),
                    rule: "dunning.no_contact".into(),
                    severity: Severity::Warning,
                    customer: Some(c.to_owned()),
                    summary: no_contact_summary(to, &why),
                    facts,
                });
                out.skip(
                    Some(c),
                    POLICY,
                    format!("{name}: no usable email address; no notice"),
                );
            }
        }
    }
}

/// The first address that passes the check, or why none does.
fn first_usable(candidates: Vec<&str>) -> Result<String, RecipientError> {
    let mut tried = Vec::new();
    for e in candidates {
        if check_email(e).is_ok() {
            return Ok(e.to_owned());
        }
        tried.push(format!("{e:?}"));
    }
    if tried.is_empty() {
        Err(RecipientError::NoContact(
            "no contact email in the receivables and none in the billing profile".to_owned(),
        ))
    } else {
        Err(RecipientError::NoContact(format!(
            "unusable: {}",
            tried.join(", ")
        )))
    }
}

fn no_contact_summary(to: &Addressee<'_>, why: &str) -> String {
    let (c, name, overdue) = (to.customer, to.name, to.overdue);
    if overdue == 0 {
        format!(
            "{name}: no usable email address for the reactivation confirmation \
             ({why}); set [customers.\"{c}\"] email or fix the billing profile"
        )
    } else {
        format!(
            "{name} has {overdue} overdue {} but no usable email address ({why}); \
             set [customers.\"{c}\"] email or fix the billing profile",
            plural(overdue as i64, "invoice", "invoices")
        )
    }
}
