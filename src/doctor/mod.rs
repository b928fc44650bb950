//! The installation checks of `cspguard doctor`: one [`CheckLine`] per check, `PASS`, `FAIL` or
//! `SKIP` (not applicable, or impossible after an earlier failure), handed to the caller as it is
//! made (the command line prints it), then the totals.
//!
//! Checks, all as the user doctor runs as (named in every failure, with what to change): the
//! config file; permissions of the config and secret files and that every secret resolves; the
//! state directory, state database and run lock; the receivables export; the metrics and outbox
//! directories; the token endpoint and an app-only Partner Center call; an App+User call (when
//! configured; a refusal for a missing MFA claim is its own `Partner Center MFA` failure saying
//! what to redo); a Graph token and one page of security alerts (when `[graph]` is configured);
//! mail; the templates. `local.rs` checks this machine, `remote.rs` the services,
//! `access.rs` knows the user and asks the kernel what it may do, `report.rs` counts the lines.
//!
//! Doctor creates no file or directory: a missing state directory or database is reported as
//! what the first run creates. It holds the run lock (only when the lock file exists) while it
//! talks to Partner Center: an App+User check refreshes (and so rotates) the refresh token, which
//! must not race a run doing the same, and is saved in the existing state database exactly as a
//! run saves it. Without a state database the App+User check is skipped. Nothing is sent and no
//! action is recorded.

mod access;
mod local;
mod remote;
mod report;

use std::path::Path;

pub use access::User;
pub use report::{CheckLine, Status, Totals};

/// Run every check of the installation configured at `config_path`, handing each line to
/// `sink` as it is made.
pub async fn run(config_path: &Path, sink: &mut dyn FnMut(&CheckLine)) -> Totals {
    let mut r = report::Report::new(sink);
    let user = User::current();
    let Some(loaded) = local::config(&mut r, config_path, &user) else {
        r.line(Status::Skip, "everything else", "needs a valid config");
        return r.totals;
    };
    let cfg = &loaded.config;
    local::secrets(&mut r, &loaded, &user);
    let lock = local::state(&mut r, cfg, &user);
    local::receivables(&mut r, cfg, &user);
    local::metrics(&mut r, cfg, &user);
    remote::partner_center(&mut r, cfg, lock.as_ref()).await;
    drop(lock);
    remote::graph(&mut r, cfg).await;
    remote::mail(&mut r, cfg).await;
    local::outbox(&mut r, cfg, &user);
    local::templates(&mut r, cfg, &user);
    r.totals
}
