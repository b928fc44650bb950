//! Alert hygiene's state: silences (`cspguard silence add|list|expire`, with who and when) and
//! the last email of each alert group (the slot its next idempotency key is made from).
//!
//! Invariants: a silence is never deleted; expiring one records who and when. A silence always
//! ends (`until`) and always has a reason. A group's state moves only forward, and it moves in the
//! same transaction that marks every finding of the group's email notified.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use rusqlite::{OptionalExtension as _, params};
use serde::Serialize;

use super::error::{At, LedgerError};
use super::store::{Ledger, ts};

/// The longest a silence may last: silences must end, so a forgotten one cannot hide alerts for
/// ever.
pub const MAX_SILENCE_DAYS: i64 = 366;

/// What a silence matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchLabel {
    Rule,
    Family,
    Severity,
    Customer,
    Fingerprint,
}

impl MatchLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchLabel::Rule => "rule",
            MatchLabel::Family => "family",
            MatchLabel::Severity => "severity",
            MatchLabel::Customer => "customer",
            MatchLabel::Fingerprint => "fingerprint",
        }
    }
}

/// `label=pattern`, where `*` in the pattern matches anything (`rule=budget.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matcher {
    pub label: MatchLabel,
    pub pattern: String,
}

impl Matcher {
    /// Whether `value` (compared case-insensitively) matches the pattern.
    pub fn matches(&self, value: &str) -> bool {
        glob::Pattern::new(&self.pattern.to_ascii_lowercase())
            .is_ok_and(|p| p.matches(&value.to_ascii_lowercase()))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.label.as_str(), self.pattern)
    }
}

impl FromStr for Matcher {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((label, pattern)) = s.split_once('=') else {
            return Err(format!(
                "matcher {s:?} is not LABEL=PATTERN (e.g. rule=budget.*, customer=<tenant id>)"
            ));
        };
        let label = match label.trim() {
            "rule" => MatchLabel::Rule,
            "family" => MatchLabel::Family,
            "severity" => MatchLabel::Severity,
            "customer" => MatchLabel::Customer,
            "fingerprint" => MatchLabel::Fingerprint,
            other => {
                return Err(format!(
                    "matcher label {other:?} is unknown: use rule, family, severity, customer or \
                     fingerprint"
                ));
            }
        };
        let pattern = pattern.trim();
        if pattern.is_empty() || pattern.contains(',') {
            return Err(format!(
                "matcher {s:?} needs one non-empty pattern without commas"
            ));
        }
        glob::Pattern::new(pattern).map_err(|e| format!("pattern {pattern:?} is invalid: {e}"))?;
        Ok(Matcher {
            label,
            pattern: pattern.to_owned(),
        })
    }
}

/// A silence: findings matching every matcher are not emailed until `until`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Silence {
    pub id: i64,
    pub matchers: Vec<Matcher>,
    pub until: Timestamp,
    pub reason: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub expired_by: Option<String>,
    pub expired_at: Option<Timestamp>,
}

impl Silence {
    /// In force at `now`: not expired by a person and not past its end.
    pub fn active(&self, now: Timestamp) -> bool {
        self.expired_at.is_none() && self.until > now
    }

    /// The matchers as typed (`rule=budget.*,customer=...`).
    pub fn matchers_text(&self) -> String {
        self.matchers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A new silence.
#[derive(Debug, Clone)]
pub struct NewSilence {
    pub matchers: Vec<Matcher>,
    pub until: Timestamp,
    pub reason: String,
}

/// The last email of an alert group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupState {
    pub group: String,
    pub last_notified: Timestamp,
    /// The idempotency key of that email.
    pub last_key: String,
}

type RawSilence = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

const SILENCE_COLS: &str =
    "id, matchers, until, reason, created_by, created_at, expired_by, expired_at";

impl Ledger {
    /// Record a silence made by `who` at `now`. It must end in the future, within
    /// [`MAX_SILENCE_DAYS`], have a reason and at least one matcher.
    pub fn add_silence(
        &self,
        s: &NewSilence,
        who: &str,
        now: Timestamp,
    ) -> Result<Silence, LedgerError> {
        let invalid = |detail: String| LedgerError::InvalidInput { detail };
        if s.matchers.is_empty() {
            return Err(invalid(
                "a silence needs at least one --match LABEL=PATTERN (or --customer)".into(),
            ));
        }
        if s.reason.trim().is_empty() {
            return Err(invalid("a silence needs a --reason".into()));
        }
        if s.until <= now {
            return Err(invalid(format!(
                "the silence end {} is not in the future (now is {now}); give a later --until",
                s.until
            )));
        }
        let max = jiff::SignedDuration::from_hours(24 * MAX_SILENCE_DAYS);
        if s.until.duration_since(now) > max {
            return Err(invalid(format!(
                "the silence end {} is more than {MAX_SILENCE_DAYS} days away; silences must end \
                 (add a new one when it expires)",
                s.until
            )));
        }
        let text = s
            .matchers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        self.conn
            .execute(
                "INSERT INTO silences (matchers, until, reason, created_by, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![text, ts(s.until), s.reason.trim(), who, ts(now)],
            )
            .at(&self.path)?;
        let id = self.conn.last_insert_rowid();
        self.silence(id)?
            .ok_or_else(|| LedgerError::not_found("silence", id))
    }

    /// End a silence now, recording who. Expiring one that already ended is an error that says so.
    pub fn expire_silence(
        &self,
        id: i64,
        who: &str,
        now: Timestamp,
    ) -> Result<Silence, LedgerError> {
        let s = self
            .silence(id)?
            .ok_or_else(|| LedgerError::not_found("silence", id))?;
        if !s.active(now) {
            return Err(LedgerError::InvalidInput {
                detail: format!(
                    "silence {id} is not active (it ended {}); nothing to expire",
                    s.expired_at.unwrap_or(s.until)
                ),
            });
        }
        self.conn
            .execute(
                "UPDATE silences SET expired_by = ?2, expired_at = ?3 WHERE id = ?1",
                params![id, who, ts(now)],
            )
            .at(&self.path)?;
        self.silence(id)?
            .ok_or_else(|| LedgerError::not_found("silence", id))
    }

    /// One silence by id.
    pub fn silence(&self, id: i64) -> Result<Option<Silence>, LedgerError> {
        Ok(self.silences_where("id = ?1", params![id])?.pop())
    }

    /// Every silence, newest first (`all`), or only those in force at `now`.
    pub fn silences(&self, now: Timestamp, all: bool) -> Result<Vec<Silence>, LedgerError> {
        let mut v = if all {
            self.silences_where("1", [])?
        } else {
            self.silences_where("expired_at IS NULL AND until > ?1", params![ts(now)])?
        };
        v.reverse();
        Ok(v)
    }

    fn silences_where(
        &self,
        cond: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<Silence>, LedgerError> {
        let sql = format!("SELECT {SILENCE_COLS} FROM silences WHERE {cond} ORDER BY id");
        let raw: Vec<RawSilence> = self.select(&sql, p)?;
        raw.into_iter()
            .map(|(id, m, until, reason, by, at, exp_by, exp_at)| {
                let matchers = m
                    .split(',')
                    .map(|t| t.parse::<Matcher>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| self.data("silence matchers", e))?;
                Ok(Silence {
                    id,
                    matchers,
                    until: self.parse_ts("silence until", &until)?,
                    reason,
                    created_by: by,
                    created_at: self.parse_ts("silence created_at", &at)?,
                    expired_by: exp_by,
                    expired_at: self.parse_opt_ts("silence expired_at", exp_at)?,
                })
            })
            .collect()
    }

    /// Every alert group's last email.
    pub fn group_states(&self) -> Result<Vec<GroupState>, LedgerError> {
        let raw: Vec<(String, String, String)> = self.select(
            "SELECT group_key, last_notified, last_key FROM alert_groups ORDER BY 1",
            [],
        )?;
        raw.into_iter()
            .map(|(group, at, last_key)| {
                Ok(GroupState {
                    group,
                    last_notified: self.parse_ts("alert group last_notified", &at)?,
                    last_key,
                })
            })
            .collect()
    }

    /// Record that the group email `key` covering `groups` went out at `now`: every group's state
    /// moves to `now` and every finding in it is marked notified, in one transaction. Findings the
    /// ledger does not know are ignored (an email planned by an older run may name them).
    pub fn mark_group_notified(
        &self,
        key: &str,
        groups: &[String],
        fingerprints: &[String],
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        let tx = self.conn.unchecked_transaction().at(&self.path)?;
        for g in groups {
            tx.execute(
                "INSERT INTO alert_groups (group_key, last_notified, last_key) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (group_key) DO UPDATE SET last_notified = excluded.last_notified, \
                 last_key = excluded.last_key WHERE excluded.last_notified >= last_notified",
                params![g, ts(now), key],
            )
            .at(&self.path)?;
        }
        for fp in fingerprints {
            tx.execute(
                "UPDATE findings SET last_notified = ?1 WHERE fingerprint = ?2",
                params![ts(now), fp],
            )
            .at(&self.path)?;
        }
        tx.commit().at(&self.path)?;
        Ok(())
    }

    /// The state of one group.
    pub fn group_state(&self, group: &str) -> Result<Option<GroupState>, LedgerError> {
        let raw: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT last_notified, last_key FROM alert_groups WHERE group_key = ?1",
                params![group],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .at(&self.path)?;
        raw.map(|(at, last_key)| {
            Ok(GroupState {
                group: group.to_owned(),
                last_notified: self.parse_ts("alert group last_notified", &at)?,
                last_key,
            })
        })
        .transpose()
    }
}

/// The table `silence list` and `status` print.
pub fn silence_table(silences: &[Silence], now: Timestamp) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.set_header(["Id", "Matches", "Until", "Reason", "By", "At", "State"]);
    for s in silences {
        let state = match (&s.expired_by, s.expired_at) {
            (Some(by), Some(at)) => format!("expired by {by} at {at}"),
            _ if s.active(now) => "active".to_owned(),
            _ => "ended".to_owned(),
        };
        t.add_row([
            s.id.to_string(),
            s.matchers_text(),
            s.until.to_string(),
            s.reason.clone(),
            s.created_by.clone(),
            s.created_at.to_string(),
            state,
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-21T08:00:00Z".parse().unwrap()
    }

    #[test]
    fn silences_are_recorded_listed_and_expired_with_who_and_when() {
        let l = Ledger::open_in_memory().unwrap();
        let until: Timestamp = "2026-11-28T00:00:00Z".parse().unwrap();
        let s = l
            .add_silence(
                &NewSilence {
                    matchers: vec!["rule=budget.*".parse().unwrap()],
                    until,
                    reason: "budget review week".into(),
                },
                "alice",
                now(),
            )
            .unwrap();
        assert_eq!(s.created_by, "alice");
        assert_eq!(s.matchers_text(), "rule=budget.*");
        assert_eq!(l.silences(now(), false).unwrap().len(), 1);
        let e = l.expire_silence(s.id, "bob", now()).unwrap();
        assert_eq!(e.expired_by.as_deref(), Some("bob"));
        assert!(l.silences(now(), false).unwrap().is_empty());
        assert_eq!(l.silences(now(), true).unwrap().len(), 1);
        assert!(l.expire_silence(s.id, "bob", now()).is_err());
    }

    #[test]
    fn silences_must_end_have_a_reason_and_valid_matchers() {
        let l = Ledger::open_in_memory().unwrap();
        let add = |until: &str, reason: &str| {
            l.add_silence(
                &NewSilence {
                    matchers: vec!["customer=c1".parse().unwrap()],
                    until: until.parse().unwrap(),
                    reason: reason.into(),
                },
                "alice",
                now(),
            )
        };
        assert!(add("2026-11-20T00:00:00Z", "past").is_err());
        assert!(add("2028-11-20T00:00:00Z", "too far").is_err());
        assert!(add("2026-11-22T00:00:00Z", " ").is_err());
        assert!("nolabel".parse::<Matcher>().is_err());
        assert!("colour=red".parse::<Matcher>().is_err());
        assert!("rule=".parse::<Matcher>().is_err());
    }

    #[test]
    fn group_state_moves_forward_with_its_findings() {
        let l = Ledger::open_in_memory().unwrap();
        l.upsert_finding(
            "budget.threshold:c1:x",
            "budget.threshold",
            Some("c1"),
            "critical",
            "s",
            now(),
        )
        .unwrap();
        l.mark_group_notified(
            "alert-group/budget/critical/first",
            &["budget/critical".into()],
            &["budget.threshold:c1:x".into(), "gone".into()],
            now(),
        )
        .unwrap();
        let g = l.group_state("budget/critical").unwrap().unwrap();
        assert_eq!(g.last_notified, now());
        let f = crate::ledger::LedgerView::finding(&l, "budget.threshold:c1:x")
            .unwrap()
            .unwrap();
        assert_eq!(f.last_notified, Some(now()));
        let earlier = now()
            .checked_sub(jiff::SignedDuration::from_hours(1))
            .unwrap();
        l.mark_group_notified("k0", &["budget/critical".into()], &[], earlier)
            .unwrap();
        assert_eq!(l.group_states().unwrap()[0].last_notified, now());
    }
}
