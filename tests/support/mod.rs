//! Shared test support: the test world (simulator, SMTP server, temporary ledger and the config
//! builder), running the binary, the embedded SMTP server, and reading sent mail with
//! `mail-parser`.

#![allow(dead_code)]

pub mod cli;
pub mod config;
pub mod mail;
pub mod shapes;
pub mod smtp;
pub mod world;

use std::path::PathBuf;

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// The CA that signed the embedded SMTP server's certificate.
pub fn ca_pem() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tls/ca.pem"
    ))
}

/// Midday in Stockholm today, so the digest hour and the local date are unambiguous.
pub fn noon_today() -> Timestamp {
    let tz = TimeZone::get(config::TZ).expect("tz");
    let today = Timestamp::now().to_zoned(tz.clone()).date();
    today
        .at(12, 0, 0, 0)
        .to_zoned(tz)
        .expect("noon")
        .timestamp()
}
