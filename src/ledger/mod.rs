//! The ledger (owned by the ledger work item).
