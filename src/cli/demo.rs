//! `cspguard demo`: shows cspguard working end to end with no credentials: the scenario of
//! `cspguard::demo`, run day by day through `cspguard::run::cycle`, printed as it goes; on the
//! approval day the demo approves a suspension and carries it out with
//! `cspguard::run::only_approved`, as a person would with `approve` and `run --only-approved`.

use std::path::PathBuf;

use cspguard::config::Mode;
use cspguard::demo::{APPROVAL_DAY, DAYS, Demo, day_summary};
use cspguard::exit::Exit;
use cspguard::run::{self, RunOptions, Session};

use super::OrExit as _;

/// Arguments of `cspguard demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Directory for the demo's state, outbox and reports.
    #[arg(long, default_value = "cspguard-demo")]
    pub dir: PathBuf,
    /// Quiet customers added to the scripted cast.
    #[arg(long, default_value_t = 200)]
    pub customers: usize,
}

/// Run the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<Exit> {
    let mut demo = Demo::prepare(&args.dir, args.customers).or_exit()?;
    println!("{}", demo.introduction());
    let mut worst = Exit::Ok;
    for i in 0..DAYS.len() {
        let day = demo.day(i).await.or_exit()?;
        println!("{}", day.heading);
        let exit = one_day(&day.config, day.now).await?;
        if exit != Exit::Ok {
            worst = exit;
        }
        print!("{}", day_summary(&day.config, day.now).or_exit()?);
        if i == APPROVAL_DAY {
            let exit = approve_and_enforce(&demo, &day.config, day.now).await?;
            if exit != Exit::Ok {
                worst = exit;
            }
        }
        demo.end_day(day).await;
    }
    println!("{}", demo.closing().or_exit()?);
    Ok(worst)
}

/// Approve the demo customer's planned suspension and carry it out, printing the commands a
/// person would type.
async fn approve_and_enforce(
    demo: &Demo,
    cfg: &cspguard::config::Config,
    now: jiff::Timestamp,
) -> anyhow::Result<Exit> {
    let later = now
        .checked_add(jiff::SignedDuration::from_mins(30))
        .map_err(anyhow::Error::from)?;
    let Some(approval) = demo.approve(cfg, later).or_exit()? else {
        println!("   (no suspension waits for approval today)");
        return Ok(Exit::Ok);
    };
    println!("{approval}");
    println!(
        "   Carry out what was approved, now rather than at the next scheduled run:\n   $ {}run \
         --only-approved",
        demo.command_prefix()
    );
    let session = Session::open(cfg, cspguard::observe::correlation_id()).or_exit()?;
    let options = RunOptions {
        mode: Mode::Notify,
        now: later,
    };
    let summary = run::only_approved(&session, options).await.or_exit()?;
    super::run::print(&summary);
    print!("{}", day_summary(cfg, later).or_exit()?);
    Ok(summary.exit)
}

/// One simulated day's cycle in `notify` mode, printed like `cspguard run`.
async fn one_day(cfg: &cspguard::config::Config, now: jiff::Timestamp) -> anyhow::Result<Exit> {
    let session = Session::open(cfg, cspguard::observe::correlation_id()).or_exit()?;
    let options = RunOptions {
        mode: Mode::Notify,
        now,
    };
    let summary = run::cycle(&session, options).await.or_exit()?;
    super::run::print(&summary);
    Ok(summary.exit)
}
