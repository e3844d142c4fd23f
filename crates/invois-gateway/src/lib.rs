//! The ERP-side gateway: durable outbox, exactly-once submission, polling, webhooks.
//!
//! - [`store`]: the durable state (SQLite or PostgreSQL) and its guarded transitions.
//! - [`intake`]: turns what the ERP sends into stored documents (idempotent).
//! - [`pipeline`]: prepare, batch, submit once, reconcile, poll.
//! - [`http`]: the ERP-facing API; [`dashboard`] and [`metrics`] beside it.
//! - [`webhooks`]: status changes to the ERP, signed and retried.
//! - [`budget`]: a rate budget shared by gateway instances on one PostgreSQL.
//! - [`service`]: all of it in one process ([`service::Gateway`]).
//! - [`archive`]: every document sent and every result, exported; backfill by search.

pub mod archive;
pub mod budget;
pub mod clients;
pub mod dashboard;
pub mod http;
pub mod intake;
pub mod metrics;
pub mod pipeline;
pub mod service;
pub mod store;
pub mod webhooks;
