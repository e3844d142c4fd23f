//! The signature tests: round trips, tampering, certificates, and LHDN's signed samples when `INVOIS_LHDN_SAMPLES` is set.
//!
//! One test binary for the crate (each file a module) so that a test run links once, not
//! once per file.

mod common;

mod certificates;
mod official_json;
mod official_xml;
mod props_forms;
mod round_trip;
mod tamper;
