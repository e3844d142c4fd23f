//! The testkit's own tests: the sandbox it starts and the fixtures it ships.
//!
//! One test binary for the crate (each file a module) so that a test run links once, not
//! once per file.

mod fixtures;
mod start;
