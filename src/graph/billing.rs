//! Billing reconciliation exports (`/v1.0/reports/partners/billing/...`): typed operation and
//! manifest models and the client calls that start and poll exports. (Not implemented yet.)
