//! The grouping decision, pure: findings + the ledger's view of them (open findings, group
//! states, silences) + `[alerts]` + `now` -> at most `budget` group emails and what was held back.
//!
//! Invariants:
//! - Every finding at or above `min_severity` ends in exactly one place: a group email of this
//!   decision, or [`AlertHygiene::held`] (silenced, inhibited, baseline, deferred). Nothing is
//!   dropped: groups beyond the budget are folded into the last email.
//! - At most `budget` emails, and at most one per group.
//! - A group email's key is `alert-group/{group}/{slot}`, the slot being the group's last email
//!   (or `first`): the same ledger state gives the same key, so a rerun before the email went out
//!   plans nothing new, and the key changes only after the email is marked sent.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};

use super::config::{AlertConfig, GroupLabel, InhibitRule};
use crate::facts::Facts;
use crate::ledger::{FindingRow, MatchLabel, Silence};
use crate::plan::{
    ActionKind, AlertEntry, AlertGroupEmail, AlertHygiene, EntryStatus, Finding, GroupSend,
    HeldAlert, HeldReason, PlannedAction, Severity, rule_family,
};

/// Everything one grouping decision reads.
pub struct DecideInput<'a> {
    /// Findings firing now (each at most once).
    pub findings: &'a [Finding],
    /// More findings to alert, after `findings` (execution findings of earlier runs not yet
    /// alerted); usually empty.
    pub also: &'a [Finding],
    /// The ledger's open findings, by fingerprint, as they were before this run recorded
    /// anything.
    pub open: &'a BTreeMap<&'a str, &'a FindingRow>,
    /// Rows of findings that stopped firing this run (listed when `send_resolved`).
    pub resolved: &'a [FindingRow],
    /// Findings that inhibit (rule, customer, fingerprint): what fires now or is open.
    pub sources: &'a [Source<'a>],
    /// Each group's last email.
    pub groups: &'a BTreeMap<String, Timestamp>,
    pub silences: &'a [Silence],
    pub config: &'a AlertConfig,
    pub now: Timestamp,
    /// Activity before this instant is baseline (`None`: no baseline).
    pub baseline_at: Option<Timestamp>,
    /// At most this many emails.
    pub budget: usize,
    /// Groups already emailed this run: their findings wait for the next run.
    pub emailed: &'a BTreeSet<String>,
}

/// A finding that may inhibit others (borrowed from the finding or the ledger row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    pub fingerprint: &'a str,
    pub rule: &'a str,
    pub customer: Option<&'a str>,
}

/// The emails to plan and what was held back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub emails: Vec<PlannedAction>,
    pub hygiene: AlertHygiene,
}

/// One group's findings before it is decided.
struct Pending {
    entries: Vec<AlertEntry>,
    label: String,
}

/// One group that sends this run.
struct Due {
    key: String,
    label: String,
    send: GroupSend,
    slot: String,
    entries: Vec<AlertEntry>,
}

/// Decide the group emails of one run (see the module invariants).
pub fn decide(input: &DecideInput<'_>) -> Decision {
    let cfg = input.config;
    let mut hygiene = AlertHygiene::default();
    let mut pending: BTreeMap<String, Pending> = BTreeMap::new();
    let inhibitors = Inhibitors::new(input);
    for f in input
        .findings
        .iter()
        .chain(input.also)
        .filter(|f| f.severity >= cfg.min_severity)
    {
        if let Some(why) = held(input, &inhibitors, f) {
            count(&mut hygiene, &f.rule, &why);
            hygiene.held.push(held_alert(f, why));
            continue;
        }
        let status = match input.open.get(f.fingerprint.as_str()) {
            Some(r) if r.last_notified.is_some() => {
                if r.severity != f.severity.as_str() || r.summary != f.summary {
                    EntryStatus::Changed
                } else {
                    EntryStatus::Firing
                }
            }
            _ => EntryStatus::New,
        };
        push(&mut pending, cfg, entry(f, status));
    }
    if cfg.send_resolved {
        for r in input.resolved.iter().filter(|r| r.last_notified.is_some()) {
            let f = finding_of_row(r);
            if f.severity >= cfg.min_severity {
                push(&mut pending, cfg, entry(&f, EntryStatus::Resolved));
            }
        }
    }
    let mut due = Vec::new();
    for (key, p) in pending {
        if let Some(d) = due_group(input, key, p, &mut hygiene) {
            due.push(d);
        }
    }
    due.sort_by(|a, b| {
        top_severity(&b.entries)
            .cmp(&top_severity(&a.entries))
            .then_with(|| a.key.cmp(&b.key))
    });
    let mut emails = Vec::new();
    let budget = input.budget.max(1);
    let folded = if due.len() > budget {
        due.split_off(budget - 1)
    } else {
        Vec::new()
    };
    for d in due {
        let groups = vec![d.key.clone()];
        let key = format!("alert-group/{}/{}", d.key, d.slot);
        emails.push(email(key, d.label, groups, d.send, d.entries, &mut hygiene));
    }
    if !folded.is_empty() {
        emails.push(fold(folded, &mut hygiene));
    }
    Decision { emails, hygiene }
}

/// Why a finding is held back before grouping, if it is.
fn held(input: &DecideInput<'_>, inhibitors: &Inhibitors<'_>, f: &Finding) -> Option<HeldReason> {
    if let Some(at) = input.baseline_at
        && input.config.baseline
        && f.rule.starts_with("activity.")
        && activity_time(f).is_some_and(|d| d < at)
    {
        return Some(HeldReason::Baseline);
    }
    if let Some(s) = input
        .silences
        .iter()
        .find(|s| s.active(input.now) && silences(s, f))
    {
        return Some(HeldReason::Silenced {
            silence: s.id,
            until: s.until,
            reason: s.reason.clone(),
        });
    }
    inhibitors
        .inhibitor(f)
        .map(|by| HeldReason::Inhibited { by })
}

/// When the activity behind an activity finding happened: the audit record's operation date, or
/// the end of a burst.
fn activity_time(f: &Finding) -> Option<Timestamp> {
    ["operation_date", "last"]
        .iter()
        .find_map(|k| f.facts.get(k)?.parse::<Timestamp>().ok())
}

/// Whether every matcher of a silence matches the finding.
pub fn silences(s: &Silence, f: &Finding) -> bool {
    s.matchers.iter().all(|m| {
        let value = match m.label {
            MatchLabel::Rule => &f.rule,
            MatchLabel::Family => rule_family(&f.rule),
            MatchLabel::Severity => f.severity.as_str(),
            MatchLabel::Customer => f.customer.as_deref().unwrap_or("partner"),
            MatchLabel::Fingerprint => f.fingerprint.as_str(),
        };
        m.matches(value)
    })
}

/// The inhibit rules with their patterns compiled once and, for each, the sources its source
/// patterns match (in `sources` order), so holding back n findings costs n times the matching
/// sources, not n times every source with a pattern compiled each time (issue 18: 13,000 findings
/// at 50,000 customers took seconds).
struct Inhibitors<'a> {
    rules: Vec<(&'a InhibitRule, Vec<glob::Pattern>, Vec<&'a Source<'a>>)>,
}

impl<'a> Inhibitors<'a> {
    fn new(input: &DecideInput<'a>) -> Self {
        let compile = |patterns: &[String]| -> Vec<glob::Pattern> {
            patterns
                .iter()
                .filter_map(|p| glob::Pattern::new(p).ok())
                .collect()
        };
        let rules = input
            .config
            .inhibit
            .iter()
            .map(|rule| {
                let source = compile(&rule.source);
                let sources = input
                    .sources
                    .iter()
                    .filter(|s| source.iter().any(|p| p.matches(s.rule)))
                    .collect();
                (rule, compile(&rule.target), sources)
            })
            .collect();
        Inhibitors { rules }
    }

    /// The fingerprint of a firing finding that inhibits `f` under some rule.
    fn inhibitor(&self, f: &Finding) -> Option<String> {
        for (rule, target, sources) in &self.rules {
            if !target.iter().any(|p| p.matches(&f.rule)) {
                continue;
            }
            let by = sources.iter().find(|s| {
                s.fingerprint != f.fingerprint
                    && rule.equal.iter().all(|l| match l {
                        GroupLabel::Customer => {
                            s.customer.is_some() && s.customer == f.customer.as_deref()
                        }
                        GroupLabel::Family => rule_family(s.rule) == rule_family(&f.rule),
                        GroupLabel::Rule => s.rule == f.rule,
                        GroupLabel::Severity => true,
                    })
            });
            if let Some(s) = by {
                return Some(s.fingerprint.to_owned());
            }
        }
        None
    }
}

/// Decide one group: due now (with why), or its news deferred, or quiet.
fn due_group(
    input: &DecideInput<'_>,
    key: String,
    p: Pending,
    hygiene: &mut AlertHygiene,
) -> Option<Due> {
    let cfg = input.config;
    let state = input.groups.get(&key).copied();
    let notified_rows = p
        .entries
        .iter()
        .filter_map(|e| input.open.get(e.fingerprint.as_str())?.last_notified)
        .max();
    let last = state.or(notified_rows);
    let news = p.entries.iter().any(|e| e.status != EntryStatus::Firing);
    let since = last.map(|t| input.now.duration_since(t));
    let group_interval = SignedDuration::from_mins(i64::from(cfg.group_interval_minutes));
    let repeat = SignedDuration::from_hours(i64::from(cfg.repeat_hours));
    let send = match (since, news) {
        (None, _) => GroupSend::First,
        (Some(d), true) if d >= group_interval => GroupSend::Update,
        (Some(d), false) if d >= repeat => GroupSend::Repeat,
        (Some(_), true) => {
            let not_before = last
                .and_then(|t| t.checked_add(group_interval).ok())
                .unwrap_or(input.now);
            defer(&key, p.entries, not_before, hygiene);
            return None;
        }
        (Some(_), false) => return None,
    };
    if input.emailed.contains(&key) {
        defer(&key, p.entries, input.now, hygiene);
        return None;
    }
    let slot = state.map_or_else(|| "first".to_owned(), |t| t.as_second().to_string());
    Some(Due {
        key,
        label: p.label,
        send,
        slot,
        entries: p.entries,
    })
}

/// Hold a group's new and changed findings until its next email.
fn defer(group: &str, entries: Vec<AlertEntry>, not_before: Timestamp, h: &mut AlertHygiene) {
    for e in entries
        .into_iter()
        .filter(|e| matches!(e.status, EntryStatus::New | EntryStatus::Changed))
    {
        let why = HeldReason::Deferred {
            group: group.to_owned(),
            not_before,
        };
        count(h, &e.rule, &why);
        h.held.push(HeldAlert {
            fingerprint: e.fingerprint,
            rule: e.rule,
            severity: e.severity,
            customer: e.customer,
            summary: e.summary,
            why,
        });
    }
}

/// Groups beyond the budget, folded into one email (never dropped).
fn fold(folded: Vec<Due>, hygiene: &mut AlertHygiene) -> PlannedAction {
    let groups: Vec<String> = folded.iter().map(|d| d.key.clone()).collect();
    let slots: Vec<String> = folded
        .iter()
        .map(|d| format!("{}@{}", d.key, d.slot))
        .collect();
    let key = format!(
        "alert-group/folded-{}/{:016x}",
        folded.len(),
        fnv1a64(slots.join("|").as_bytes())
    );
    let label = format!("{} more groups: {}", folded.len(), groups.join(", "));
    let send = if folded.iter().all(|d| d.send == GroupSend::Repeat) {
        GroupSend::Repeat
    } else if folded.iter().all(|d| d.send == GroupSend::First) {
        GroupSend::First
    } else {
        GroupSend::Update
    };
    let entries = folded.into_iter().flat_map(|d| d.entries).collect();
    email(key, label, groups, send, entries, hygiene)
}

/// The planned action of one group email; counts its findings as grouped.
fn email(
    key: String,
    label: String,
    groups: Vec<String>,
    send: GroupSend,
    mut entries: Vec<AlertEntry>,
    hygiene: &mut AlertHygiene,
) -> PlannedAction {
    entries.sort_by(|a, b| {
        (a.status, std::cmp::Reverse(a.severity), &a.fingerprint).cmp(&(
            b.status,
            std::cmp::Reverse(b.severity),
            &b.fingerprint,
        ))
    });
    for e in entries.iter().filter(|e| e.status != EntryStatus::Resolved) {
        hygiene
            .families
            .entry(rule_family(&e.rule).to_owned())
            .or_default()
            .grouped += 1;
    }
    let severity = top_severity(&entries);
    let new = entries
        .iter()
        .filter(|e| matches!(e.status, EntryStatus::New | EntryStatus::Changed))
        .count();
    let reason = format!(
        "{severity} alert group {label}: {} finding(s), {new} new or changed",
        entries.len()
    );
    // Ops mail: never recorded as a customer's notice, even when the group is one customer.
    PlannedAction {
        key,
        customer: None,
        requires_approval: false,
        reason,
        findings: entries.iter().map(|e| e.fingerprint.clone()).collect(),
        after: vec![],
        kind: ActionKind::OpsAlertGroup(AlertGroupEmail {
            label,
            groups,
            severity,
            send,
            entries,
        }),
    }
}

fn top_severity(entries: &[AlertEntry]) -> Severity {
    entries
        .iter()
        .filter(|e| e.status != EntryStatus::Resolved)
        .map(|e| e.severity)
        .max()
        .unwrap_or(Severity::Info)
}

/// Add a finding to its group (the group's label is written once, with the group).
fn push(pending: &mut BTreeMap<String, Pending>, cfg: &AlertConfig, e: AlertEntry) {
    let values: Vec<(GroupLabel, &str)> = cfg
        .group_by
        .iter()
        .map(|l| (*l, label_value(*l, &e)))
        .collect();
    let key = values.iter().map(|(_, v)| *v).collect::<Vec<_>>().join("/");
    if let Some(p) = pending.get_mut(&key) {
        p.entries.push(e);
        return;
    }
    let label = values
        .iter()
        .map(|(l, v)| format!("{}={v}", l.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    pending.insert(
        key,
        Pending {
            entries: vec![e],
            label,
        },
    );
}

fn label_value(l: GroupLabel, e: &AlertEntry) -> &str {
    match l {
        GroupLabel::Family => rule_family(&e.rule),
        GroupLabel::Rule => &e.rule,
        GroupLabel::Severity => e.severity.as_str(),
        GroupLabel::Customer => e.customer.as_deref().unwrap_or("partner"),
    }
}

fn count(h: &mut AlertHygiene, rule: &str, why: &HeldReason) {
    let c = h.families.entry(rule_family(rule).to_owned()).or_default();
    match why {
        HeldReason::Silenced { .. } => c.silenced += 1,
        HeldReason::Inhibited { .. } => c.inhibited += 1,
        HeldReason::Baseline => c.baseline += 1,
        HeldReason::Deferred { .. } => c.deferred += 1,
    }
}

fn entry(f: &Finding, status: EntryStatus) -> AlertEntry {
    AlertEntry {
        fingerprint: f.fingerprint.clone(),
        rule: f.rule.clone(),
        severity: f.severity,
        customer: f.customer.clone(),
        summary: f.summary.clone(),
        status,
        facts: f.facts.clone(),
    }
}

fn held_alert(f: &Finding, why: HeldReason) -> HeldAlert {
    HeldAlert {
        fingerprint: f.fingerprint.clone(),
        rule: f.rule.clone(),
        severity: f.severity,
        customer: f.customer.clone(),
        summary: f.summary.clone(),
        why,
    }
}

/// A ledger row as a finding (without facts): for findings the policies did not produce this run
/// (execution-time findings, resolutions).
pub fn finding_of_row(r: &FindingRow) -> Finding {
    let severity = match r.severity.as_str() {
        "critical" => Severity::Critical,
        "warning" => Severity::Warning,
        _ => Severity::Info,
    };
    Finding {
        fingerprint: r.fingerprint.clone(),
        rule: r.rule.clone().into(),
        severity,
        customer: r.customer.clone(),
        summary: r.summary.clone(),
        facts: Facts::new(),
    }
}

/// FNV-1a 64: a stable hash (std's hashers are not stable across versions), for folded keys.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
