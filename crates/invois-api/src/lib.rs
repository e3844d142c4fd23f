#![doc = include_str!("../README.md")]
// Functions a reader can hold (clippy.toml sets 120 lines); tests and benches may run longer.
#![warn(clippy::too_many_lines)]

pub mod datetime;
pub mod decimal;
pub mod documents;
pub mod endpoint;
pub mod error;
pub mod format;
pub mod identity;
pub mod ids;
pub mod platform;
pub mod property_path;
pub mod status;
pub mod submission;
pub mod taxpayer;
pub mod validator_errors;
pub mod windows;

pub use endpoint::{Endpoint, RateClass, RateProfile};
pub use error::{ApiError, ApiErrorBody, ErrorEnvelope, StepError};
pub use format::Format;
pub use status::{DocumentStatus, OverallStatus};

/// The path prefix of every e-invoice and platform API.
pub const API_PREFIX: &str = "/api/v1.0";

/// The response header that carries the per-request trace id.
pub const CORRELATION_ID_HEADER: &str = "correlationId";
