//! What doctor reports: one [`CheckLine`] per check (`PASS`, `FAIL` or `SKIP`), handed to the
//! caller as it is made, and the [`Totals`].

use std::fmt;

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        })
    }
}

/// One check and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub status: Status,
    pub check: String,
    pub detail: String,
}

impl fmt::Display for CheckLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}  {:<28} {}", self.status, self.check, self.detail)
    }
}

/// How many checks passed and failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub failed: usize,
    pub passed: usize,
}

/// Counts check lines and hands each to the caller.
pub(super) struct Report<'a> {
    pub(super) totals: Totals,
    sink: &'a mut dyn FnMut(&CheckLine),
}

impl<'a> Report<'a> {
    pub(super) fn new(sink: &'a mut dyn FnMut(&CheckLine)) -> Self {
        Report {
            totals: Totals::default(),
            sink,
        }
    }

    pub(super) fn line(&mut self, status: Status, check: &str, detail: impl fmt::Display) {
        match status {
            Status::Pass => self.totals.passed += 1,
            Status::Fail => self.totals.failed += 1,
            Status::Skip => {}
        }
        (self.sink)(&CheckLine {
            status,
            check: check.to_owned(),
            detail: detail.to_string(),
        });
    }

    /// PASS with `ok(value)`, or FAIL with the error.
    pub(super) fn result<T, E: fmt::Display>(
        &mut self,
        check: &str,
        r: Result<T, E>,
        ok: impl FnOnce(&T) -> String,
    ) -> Option<T> {
        match r {
            Ok(v) => {
                self.line(Status::Pass, check, ok(&v));
                Some(v)
            }
            Err(e) => {
                self.line(Status::Fail, check, e);
                None
            }
        }
    }
}
