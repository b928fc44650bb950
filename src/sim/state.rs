//! The simulator's shared state: the dataset and its id index ([`Data`]), tokens, faults,
//! latency, the rate-limit window, request recording and scripted overrides ([`Shared`]).
//! The server (`server.rs`) and the Graph handlers (`graph/`) both work on it, so it lives apart
//! from either.
//!
//! Invariant: locks are std mutexes held only for synchronous work, never across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;
use tokio::time::Instant;

use super::auth::Tokens;
use super::dataset::{Dataset, SimCustomer};
use super::wire::SimResponse;
use super::{Faults, RecordedRequest, SimConfig, lock};

/// Dataset plus its id index.
pub struct Data {
    pub ds: Dataset,
    index: HashMap<String, usize>,
}

impl Data {
    pub(crate) fn new(ds: Dataset) -> Self {
        let mut d = Data {
            ds,
            index: HashMap::new(),
        };
        d.reindex();
        d
    }

    /// Rebuilds the customer id index (after external mutation).
    pub fn reindex(&mut self) {
        self.index.clear();
        self.index.reserve(self.ds.customers.len());
        for (i, c) in self.ds.customers.iter().enumerate() {
            self.index.insert(c.id.to_ascii_lowercase(), i);
        }
    }

    pub(crate) fn customer_idx(&self, id: &str) -> Option<usize> {
        self.index
            .get(&id.to_ascii_lowercase())
            .copied()
            .filter(|&i| {
                self.ds
                    .customers
                    .get(i)
                    .is_some_and(|c| c.id.eq_ignore_ascii_case(id))
            })
    }

    /// The customer `id` (case-insensitive), or Partner Center's 404.
    pub(crate) fn customer(&self, id: &str) -> Result<&SimCustomer, SimResponse> {
        self.customer_idx(id)
            .and_then(|i| self.ds.customers.get(i))
            .ok_or_else(|| SimResponse::not_found("Customer", id))
    }

    /// [`Data::customer`], to change.
    pub(crate) fn customer_mut(&mut self, id: &str) -> Result<&mut SimCustomer, SimResponse> {
        let idx = self.customer_idx(id);
        idx.and_then(|i| self.ds.customers.get_mut(i))
            .ok_or_else(|| SimResponse::not_found("Customer", id))
    }
}

/// A scripted verbatim response.
pub struct Override {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub remaining: Option<usize>,
}

#[derive(Default)]
pub(crate) struct Recorder {
    generation: u64,
    list: Vec<RecordedRequest>,
}

/// State shared by the server and every handle.
pub struct Shared {
    pub cfg: SimConfig,
    pub data: Mutex<Data>,
    pub tokens: Mutex<Tokens>,
    pub faults: Mutex<(Faults, fastrand::Rng)>,
    pub latency: Mutex<Duration>,
    pub(crate) rate: Mutex<VecDeque<Instant>>,
    pub(crate) recorder: Mutex<Recorder>,
    pub overrides: Mutex<Vec<Override>>,
    pub shutdown: watch::Sender<bool>,
    /// Key of continuation-token MACs.
    pub(crate) token_key: u64,
    /// RNG for ids of records created by write calls.
    pub(crate) id_rng: Mutex<fastrand::Rng>,
}

impl Shared {
    /// The simulator's business time: `SimConfig::clock` when fixed (for deterministic tests),
    /// else the real time. Token lifetimes always use the real monotonic clock.
    pub fn now(&self) -> Timestamp {
        self.cfg.clock.unwrap_or_else(Timestamp::now)
    }

    pub fn recorded(&self) -> Vec<RecordedRequest> {
        lock(&self.recorder).list.clone()
    }

    pub fn clear_recorded(&self) {
        let mut r = lock(&self.recorder);
        r.list.clear();
        r.generation += 1;
    }

    pub(crate) fn record_start(&self, rec: RecordedRequest) -> (u64, usize) {
        let mut r = lock(&self.recorder);
        r.list.push(rec);
        (r.generation, r.list.len() - 1)
    }

    pub(crate) fn record_finish(&self, slot: (u64, usize), status: u16) {
        let mut r = lock(&self.recorder);
        if r.generation == slot.0
            && let Some(rec) = r.list.get_mut(slot.1)
        {
            rec.status = status;
        }
    }
}
