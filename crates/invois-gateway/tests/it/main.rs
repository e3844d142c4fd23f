//! The gateway's integration tests: the store on SQLite and PostgreSQL (when
//! `TEST_DATABASE_URL` is set), the pipeline and the ERP API against the sandbox over HTTP,
//! webhooks, metrics, the dashboard, the archive and several instances.
//!
//! One test binary for the crate (each file a module) so that a test run links once, not
//! once per file.

mod common;
#[macro_use]
mod hooks_common;

mod archive;
mod buyers_copy;
mod consolidation;
mod dashboard_browser;
mod dated_rules;
mod db_faults;
mod http_api;
mod login_halt;
mod metrics_dashboard;
mod multi_instance;
mod open;
mod pg_budget;
mod pipeline;
mod practices_report;
mod read_only;
mod received;
mod refusals;
mod store_conformance;
mod webhooks;
