//! Helpers of the issue-13 "operator truth" tests (digest, notices, tables) on top of the shared
//! world builder (`support::world`): the simulator's scripted tenant and its receivables export,
//! the embedded SMTP server with STARTTLS + AUTH, a temporary ledger and the pipeline config.

#![allow(dead_code)]

use jiff::Timestamp;
use jiff::tz::TimeZone;

use cspguard::sim::scenario;

use crate::support::cli::Output;
use crate::support::config::TZ;
use crate::support::smtp::{Received, SmtpServer};
use crate::support::world::World;

/// A world and the receivables export it started with.
pub struct TruthWorld {
    pub world: World,
    pub receivables_csv: String,
}

impl std::ops::Deref for TruthWorld {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

/// The scripted tenant at `now` in `mode`, with SMTP, and `extra` appended to the config.
pub async fn world(now: Timestamp, mode: &'static str, extra: &str) -> TruthWorld {
    let tz = TimeZone::get(TZ).expect("tz");
    let s = scenario::demo_tenant(now, &tz, 3);
    let extra = extra.to_owned();
    let world = World::builder()
        .dataset(s.dataset)
        .clock(now)
        .receivables(&s.receivables_csv)
        .smtp()
        .mode(mode)
        .configure(move |c, _| {
            c.raw(&extra);
        })
        .start()
        .await;
    TruthWorld {
        world,
        receivables_csv: s.receivables_csv,
    }
}

/// `cspguard run` at `now` (through the library); its exit code and output (stdout, stderr).
pub async fn run(w: &World, now: Timestamp) -> (Option<i32>, String) {
    let out = w.run_in_process(now, &[]).await;
    (out.code, out.both())
}

/// `cspguard --config <world> ARGS` at `now`, through the binary.
pub async fn cli(w: &World, now: Timestamp, extra: &[&str]) -> Output {
    w.cli(now, extra).await
}

pub fn subject(m: &Received) -> String {
    m.mail().subject.unwrap_or_default()
}

/// The decoded text/plain part of a message.
pub fn text_part(m: &Received) -> String {
    m.mail()
        .parts
        .into_iter()
        .find(|p| p.content_type.starts_with("text/plain"))
        .map(|p| p.body.replace("\r\n", "\n"))
        .expect("a text/plain part")
}

pub fn digests(smtp: &SmtpServer) -> Vec<Received> {
    smtp.received()
        .into_iter()
        .filter(|m| subject(m).starts_with("cspguard digest"))
        .collect()
}

/// Midday in Stockholm today, so the digest hour and the local date are unambiguous.
pub fn noon() -> Timestamp {
    crate::support::noon_today()
}

pub fn at(now: Timestamp, hours: i64) -> Timestamp {
    now.checked_add(jiff::SignedDuration::from_hours(hours))
        .expect("time")
}
