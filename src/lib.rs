//! cspguard: a scheduled guard against non-payment, fraud and misuse for Microsoft CSP partners.
//!
//! The library owns every boundary named in `ARCHITECTURE.md`; the binary (`main.rs`) is only the
//! edge that turns errors into exit codes. See `ARCHITECTURE.md` for the code map and invariants.

pub mod alert_digest;
pub mod bench;
pub mod collect;
pub mod compact;
pub mod config;
pub mod context;
pub mod credentials;
pub mod demo;
pub mod digest;
pub mod docs;
pub mod doctor;
pub mod enforce;
pub mod execute;
pub mod exit;
pub mod facts;
pub mod fraud_alerts;
pub mod fraud_list;
pub mod fraud_status;
pub mod fsio;
pub mod graph;
pub mod hygiene;
pub mod ledger;
pub mod logging;
pub mod mode;
pub mod money;
pub mod net;
pub mod notice_facts;
pub mod notices;
pub mod observe;
pub mod output;
pub mod pc;
pub mod plan;
pub mod planning;
pub mod policy;
pub mod receivables;
pub mod recon;
pub mod redact;
pub mod run;
pub mod schedule;
pub mod secrets;
pub mod silence;
pub mod sim;
pub mod snapshot;
pub mod stop;
pub mod summary;
pub mod warm;
