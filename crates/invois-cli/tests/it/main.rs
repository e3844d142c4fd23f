//! The `invois` binary's tests: every command run as a user runs it (the built binary, real processes), the README's quick start as written, and the gateway killed mid-flow.
//!
//! One test binary for the crate (each file a module) so that a test run links once, not
//! once per file.

mod broken_pipe;
mod documents_cli;
mod erp_cli;
#[path = "../support/gateway_binary.rs"]
mod gateway_binary;
mod gateway_crash;
mod log_colours;
mod readme_quickstart;
mod render_cli;
mod sandbox_report_cli;
mod sign_cli;
mod submit_cli;
