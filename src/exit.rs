//! Process exit codes: the one table every command's outcome is mapped through.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | ok |
//! | 1 | failed (including an unreadable or corrupt state database) |
//! | 2 | configuration or usage error |
//! | 3 | degraded: finished, but some data was missing or some actions failed |
//! | 75 | another run holds the lock (EX_TEMPFAIL: try again later) |
//!
//! Every library error type that can end a command implements [`ExitStatus`], so its code is
//! decided where the error is defined. The binary wraps such an error in [`Coded`] (one generic
//! conversion) and finds the code by looking for that one type in the error chain: no list of
//! error types anywhere. An error without a code ends the process with [`Exit::Failed`].

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

/// An error that knows its documented exit code.
pub trait ExitStatus {
    /// The exit code the process ends with when this error ends a command.
    fn exit(&self) -> Exit;
}

/// Any error with its exit code, decided once when it was wrapped (see [`ExitStatus`]). Shows as
/// the wrapped error and has the same sources, so messages are unchanged by the wrapping.
#[derive(Debug)]
pub struct Coded {
    exit: Exit,
    error: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl Coded {
    /// The exit code of the wrapped error.
    pub fn exit(&self) -> Exit {
        self.exit
    }
}

impl<E> From<E> for Coded
where
    E: ExitStatus + std::error::Error + Send + Sync + 'static,
{
    fn from(e: E) -> Self {
        Coded {
            exit: e.exit(),
            error: Box::new(e),
        }
    }
}

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Coded {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// An error and all its causes on one line, `": "` between them (as `anyhow`'s `{:#}`).
pub fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(cause) = cur {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        cur = cause.source();
    }
    text
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
