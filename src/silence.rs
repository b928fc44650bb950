//! `cspguard silence add|list|expire`: the requests and their output (tables or JSON). Silences
//! live in the ledger with who made or ended them and when; the grouping decision
//! (`policy::alerts`) holds matching findings back from the ops emails and the digest lists them.
//!
//! Invariants: the clock, the time zone and the user are passed in; a silence always ends and has a
//! reason (checked by the ledger); `--until DATE` means through the end of that day in the
//! partner's time zone.

use std::io::Write;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::exit::{Exit, ExitStatus};
use crate::ledger::{Ledger, LedgerError, Matcher, NewSilence, Silence, silence_table};
use crate::output::OutputFormat;

/// Errors of the silence commands.
#[derive(Debug, thiserror::Error)]
pub enum SilenceError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("--match {0}")]
    Matcher(String),
    #[error(
        "--until {0:?} is neither a date (YYYY-MM-DD, through the end of that day in the \
         configured time zone) nor an RFC 3339 time (2026-12-01T09:00:00Z)"
    )]
    Until(String),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot encode the output as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl ExitStatus for SilenceError {
    fn exit(&self) -> Exit {
        match self {
            SilenceError::Ledger(e) => e.exit(),
            SilenceError::Matcher(_) | SilenceError::Until(_) => Exit::Config,
            SilenceError::Output(_) | SilenceError::Json(_) => Exit::Failed,
        }
    }
}

/// What a silence command does.
#[derive(Debug)]
pub enum SilenceRequest {
    /// Silence findings matching every matcher until a time.
    Add {
        /// `LABEL=PATTERN` texts (rule, family, severity, customer, fingerprint).
        matchers: Vec<String>,
        /// Shorthand for `customer=ID`.
        customer: Option<String>,
        /// A date or an RFC 3339 time.
        until: String,
        reason: String,
    },
    /// List silences: in force, or all (`all`).
    List { scope: ListScope },
    /// End a silence now.
    Expire { id: i64 },
}

/// Which silences `silence list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListScope {
    Active,
    All,
}

/// Run a silence command as `who` at `now`.
pub fn run(
    ledger: &Ledger,
    req: SilenceRequest,
    tz: &TimeZone,
    who: &str,
    now: Timestamp,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), SilenceError> {
    let shown = match req {
        SilenceRequest::Add {
            matchers,
            customer,
            until,
            reason,
        } => {
            let mut parsed = matchers
                .iter()
                .map(|m| m.parse::<Matcher>().map_err(SilenceError::Matcher))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(c) = customer {
                parsed.push(
                    format!("customer={c}")
                        .parse()
                        .map_err(SilenceError::Matcher)?,
                );
            }
            let until = parse_until(&until, tz)?;
            let s = ledger.add_silence(
                &NewSilence {
                    matchers: parsed,
                    until,
                    reason,
                },
                who,
                now,
            )?;
            vec![s]
        }
        SilenceRequest::List { scope } => ledger.silences(now, scope == ListScope::All)?,
        SilenceRequest::Expire { id } => vec![ledger.expire_silence(id, who, now)?],
    };
    write(out, &shown, now, format)
}

/// A date means through the end of that day in `tz`; otherwise an RFC 3339 time.
pub fn parse_until(text: &str, tz: &TimeZone) -> Result<Timestamp, SilenceError> {
    let text = text.trim();
    if let Ok(d) = text.parse::<Date>() {
        return d
            .tomorrow()
            .and_then(|next| next.to_zoned(tz.clone()))
            .map(|z| z.timestamp())
            .map_err(|_| SilenceError::Until(text.to_owned()));
    }
    text.parse::<Timestamp>()
        .map_err(|_| SilenceError::Until(text.to_owned()))
}

/// Silences as a table (or JSON).
pub fn write(
    out: &mut dyn Write,
    silences: &[Silence],
    now: Timestamp,
    format: OutputFormat,
) -> Result<(), SilenceError> {
    if format == OutputFormat::Json {
        serde_json::to_writer_pretty(&mut *out, silences)?;
        writeln!(out)?;
        return Ok(());
    }
    if silences.is_empty() {
        writeln!(out, "(no silences)")?;
        return Ok(());
    }
    writeln!(out, "{}", silence_table(silences, now))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_is_a_date_through_its_end_in_the_zone_or_a_time() {
        let tz = TimeZone::get("Europe/Stockholm").unwrap();
        assert_eq!(
            parse_until("2026-12-01", &tz).unwrap().to_string(),
            "2026-12-01T23:00:00Z"
        );
        assert_eq!(
            parse_until("2026-12-01T09:00:00Z", &tz)
                .unwrap()
                .to_string(),
            "2026-12-01T09:00:00Z"
        );
        assert!(parse_until("next week", &tz).is_err());
    }

    #[test]
    fn add_list_expire_round_trip_with_who() {
        let l = Ledger::open_in_memory().unwrap();
        let now: Timestamp = "2026-11-21T08:00:00Z".parse().unwrap();
        let tz = TimeZone::UTC;
        let mut out = Vec::new();
        run(
            &l,
            SilenceRequest::Add {
                matchers: vec!["rule=budget.*".into()],
                customer: Some("c1".into()),
                until: "2026-11-30".into(),
                reason: "budget review".into(),
            },
            &tz,
            "alice",
            now,
            OutputFormat::Table,
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("rule=budget.*,customer=c1"), "{text}");
        assert!(text.contains("alice"));
        let bad = run(
            &l,
            SilenceRequest::Add {
                matchers: vec!["colour=red".into()],
                customer: None,
                until: "2026-11-30".into(),
                reason: "x".into(),
            },
            &tz,
            "alice",
            now,
            OutputFormat::Table,
            &mut Vec::new(),
        );
        assert_eq!(bad.unwrap_err().exit(), Exit::Config);
        let mut out = Vec::new();
        run(
            &l,
            SilenceRequest::Expire { id: 1 },
            &tz,
            "bob",
            now,
            OutputFormat::Json,
            &mut out,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v[0]["expired_by"], "bob");
    }
}
