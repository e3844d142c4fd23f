//! The model's integration tests: parsing, round trips, validation and code tables, on the project's fixtures (and LHDN's samples when `INVOIS_LHDN_SAMPLES` is set).
//!
//! One test binary for the crate (each file a module) so that a test run links once, not
//! once per file.

mod common;

mod codes;
mod duplicate_keys;
mod lhdn_codes;
mod rules;
mod samples;
mod simple;
mod validate;
