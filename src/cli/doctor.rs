//! `cspguard doctor`: checks an installation (`cspguard::doctor`) and prints one line per check,
//! then a summary. Exit 0 when nothing failed, 1 otherwise.

use std::path::Path;

use cspguard::exit::Exit;

/// Run every check and print the lines as they come.
pub async fn run(config_path: &Path) -> anyhow::Result<Exit> {
    let totals = cspguard::doctor::run(config_path, &mut |line| println!("{line}")).await;
    if totals.failed == 0 {
        println!("doctor: all {} checks passed", totals.passed);
        Ok(Exit::Ok)
    } else {
        println!(
            "doctor: {} check(s) failed, {} passed",
            totals.failed, totals.passed
        );
        Ok(Exit::Failed)
    }
}
