//! The MyInvois wire, shared by `invois-client` and `invois-sandbox`.
//!
//! - [`endpoint`]: the one endpoint table (method, path, rate-limit class, official RPM).
//! - [`error`]: both error envelopes MyInvois returns (the OData-like `code/message/target/
//!   details` shape and the documented `errorCode/error/errorMs/innerError` step shape).
//! - [`identity`], [`submission`], [`documents`], [`platform`], [`taxpayer`]: request and
//!   response types for every endpoint, with field names spelled as real responses spell them.
//!
//! Field names differ in casing between endpoints (`submissionUID` vs `submissionUid`,
//! `issuerTin` vs `issuerTIN`). Each type serialises the spelling its endpoint uses and accepts
//! the other spellings when deserialising, so a client is not broken by a variant and the
//! sandbox emits what production emits.

pub mod datetime;
pub mod decimal;
pub mod documents;
pub mod endpoint;
pub mod error;
pub mod identity;
pub mod ids;
pub mod platform;
pub mod status;
pub mod submission;
pub mod taxpayer;

pub use endpoint::{Endpoint, RateClass, RateProfile};
pub use error::{ApiError, ApiErrorBody, ErrorEnvelope, StepError};
pub use status::{DocumentStatus, OverallStatus};

/// The path prefix of every e-invoice and platform API.
pub const API_PREFIX: &str = "/api/v1.0";

/// The response header that carries the per-request trace id.
pub const CORRELATION_ID_HEADER: &str = "correlationId";
