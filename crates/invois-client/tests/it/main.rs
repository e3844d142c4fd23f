//! The client's integration tests: every endpoint against the sandbox over HTTP on port 0, the poller, resilience and signing.
//!
//! One test binary for the crate (each file a module) so that a test run links once, not
//! once per file.

mod common;

mod endpoints;
mod identity;
mod poller;
mod resilience;
mod sandbox_e2e;
mod signing;
