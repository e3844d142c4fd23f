#![doc = include_str!("../README.md")]
// Functions a reader can hold (clippy.toml sets 120 lines); tests and benches may run longer.
#![warn(clippy::too_many_lines)]

pub mod archive;
pub mod budget;
pub mod buyers_copy;
pub mod clients;
pub mod consolidation;
pub mod dashboard;
pub mod document_errors;
pub mod http;
pub mod intake;
pub mod login;
pub mod metrics;
pub mod next_steps;
pub mod notes;
pub mod pipeline;
pub mod received_webhooks;
pub mod service;
pub mod store;
pub mod webhooks;
