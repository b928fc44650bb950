//! The run mode (`mode = ...` in the config): how much cspguard is allowed to do. A leaf, so the
//! run summary, the digest and the reports can name the mode without depending on the config.

use std::fmt;

use serde::Deserialize;

/// How much cspguard is allowed to do. A fresh install starts in `dry-run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Nothing leaves the machine but the ops digest; everything shows as "would".
    #[default]
    DryRun,
    /// Customer emails go out; destructive actions wait for approval.
    Notify,
    /// Destructive actions run automatically within the caps.
    Enforce,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::DryRun => "dry-run",
            Mode::Notify => "notify",
            Mode::Enforce => "enforce",
        })
    }
}
