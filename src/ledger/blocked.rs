//! The customers whose dunning an uncertain action blocks, and since when: what `status` and the
//! daily digest both list. Reads only through [`LedgerView`]; the caller supplies the company
//! names (the ledger's directory for `status`, the run's snapshot for the digest).

use jiff::Timestamp;
use serde::Serialize;

use super::{ActionStatus, LedgerError, LedgerView};

/// A customer whose dunning no stage can pass until a person settles an uncertain action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocked {
    pub customer: String,
    /// The company name the last run saw, if it saw the customer.
    pub company_name: Option<String>,
    /// When the action became uncertain (its interrupted attempt began).
    pub since: Timestamp,
    pub action_id: i64,
    pub key: String,
}

impl Blocked {
    /// The commands that settle the blocking action, after a person checked whether it happened.
    pub fn resolve_command(&self) -> String {
        format!(
            "cspguard resolve {id} --sent --reason \"...\" (or --not-sent if it did not go out)",
            id = self.action_id
        )
    }
}

/// Whether an action with this key is a dunning step (a notice or a suspension), whose
/// uncertainty holds back every later stage of the customer's dunning.
pub fn is_dunning_key(key: &str) -> bool {
    key.starts_with("notice/") || key.starts_with("suspend/")
}

/// The customers whose dunning is blocked by an uncertain dunning action, oldest first;
/// `company_name` names a customer id where it can.
pub fn dunning_blocked(
    view: &dyn LedgerView,
    company_name: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Blocked>, LedgerError> {
    let mut out: Vec<Blocked> = view
        .actions_in_status(&[ActionStatus::Uncertain])?
        .into_iter()
        .filter(|a| is_dunning_key(&a.key))
        .filter_map(|a| {
            let customer = a.customer?;
            Some(Blocked {
                company_name: company_name(&customer),
                customer,
                since: a.claimed_at.unwrap_or(a.updated_at),
                action_id: a.id,
                key: a.key,
            })
        })
        .collect();
    out.sort_by_key(|b| (b.since, b.action_id));
    Ok(out)
}
