//! invois-serve's integration tests: a small router served on port 0, driven over real
//! sockets by the raw client of the `test-util` feature and by reqwest.
//!
//! One test binary for the crate (each file a module) so that a test run links once.

mod connections;
