//! Process exit codes: the one table every command's outcome is mapped through.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | ok |
//! | 1 | failed (including an unreadable or corrupt state database) |
//! | 2 | configuration or usage error |
//! | 3 | degraded: finished, but some data was missing or some actions failed |
//! | 75 | another run holds the lock (EX_TEMPFAIL: try again later) |

/// A documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    Failed,
    Config,
    Degraded,
    Locked,
}

impl Exit {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Config => 2,
            Exit::Degraded => 3,
            Exit::Locked => 75,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_documented_table() {
        let all = [
            (Exit::Ok, 0),
            (Exit::Failed, 1),
            (Exit::Config, 2),
            (Exit::Degraded, 3),
            (Exit::Locked, 75),
        ];
        for (e, n) in all {
            assert_eq!(e.code(), n);
        }
    }
}
