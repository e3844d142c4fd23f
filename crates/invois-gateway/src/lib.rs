//! The ERP-side gateway: durable outbox, exactly-once submission, polling, webhooks.
//!
//! This crate currently holds the gateway's durable [`store`]; the service is built on it.

pub mod store;
