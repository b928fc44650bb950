//! Notices: templates, formatting and mail delivery.

pub mod mail;
