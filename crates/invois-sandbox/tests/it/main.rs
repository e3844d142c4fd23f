//! The sandbox's integration tests: every endpoint over HTTP on port 0.
//!
//! One test binary for the crate (each file a module) so that a test run links once, not
//! once per file.

mod common;

mod admin;
mod consolidation;
mod documents;
mod hostile;
mod identity;
mod issue;
mod lhdn_rules;
mod platform;
mod portal;
mod postman;
mod rate_limits;
mod report;
mod state;
mod submission;
mod validators;
