//! Async MyInvois client that follows LHDN's *Integration Practices* by construction.
//!
//! - **Every endpoint** of the identity service and the e-invoice/platform APIs, typed
//!   (`invois-api` types), through resource handlers: [`Client::documents`],
//!   [`Client::submissions`], [`Client::platform`], [`Client::taxpayers`].
//! - **Credential guard**: an empty, `0` or placeholder client id or secret is a
//!   [`ConfigError`]; `/connect/token` is never called with it.
//! - **Token cache**: one token per (client id, `onbehalfof`), reused for its lifetime and
//!   replaced a minute before it runs out; concurrent callers share one login; a `401` drops
//!   the token once and retries once.
//! - **Rate budgets** per client id and endpoint class ([`RateLimits`]: the official table,
//!   the sandbox profile, or overrides) kept in a [`RateBudget`] store (in-process here; the
//!   gateway can share one across processes). Calls wait for budget; a `429` pauses the class
//!   for `Retry-After`.
//! - **Safe retries** ([`RetryPolicy`]): reads retry transport errors and 5xx with jittered
//!   backoff. A submission is never resent: an unknown outcome is
//!   [`SubmitError::OutcomeUnknown`] carrying the payload hash.
//! - **Poller** ([`PollBuilder`]): Get Submission only, every page, 3-5 s jittered, details
//!   only for invalid documents, validation links for valid ones.
//! - **Search stream** over any range in 31-day windows.
//! - **Signing on the way out**: with a certificate configured, [`Client::document_submission`]
//!   signs 1.1/1.3 documents before encoding them.
//! - Every wait reads one injectable [`Clock`], so tests run hours in seconds.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use invois_client::{Client, DocumentSubmissionExt};
//! use invois_api::submission::{DocumentFormat, DocumentSubmission};
//!
//! let client = Client::builder()
//!     .environment(invois_client::Environment::preprod())
//!     .credentials("my-client-id", "my-client-secret")
//!     .build()?;
//! let bytes = std::fs::read("invoice.json")?;
//! let doc = DocumentSubmission::from_bytes(DocumentFormat::Json, &bytes, "INV-0001");
//! let submitted = client.submissions().submit(vec![doc]).send().await?;
//! if let Some(uid) = submitted.submission_uid {
//!     let outcome = client.submissions().poll(uid).expected_documents(1).send().await?;
//!     for d in outcome.documents {
//!         println!("{} {} {:?}", d.internal_id, d.status, d.validation_link);
//!     }
//! }
//! # Ok(()) }
//! ```

mod client;
mod config;
mod documents;
mod error;
mod observer;
mod page;
mod platform;
mod poller;
mod rate;
mod retry;
mod secret;
mod signing;
mod submissions;
mod taxpayers;

pub use client::{Client, ClientBuilder};
pub use config::{
    CredentialField, Credentials, Environment, EnvironmentName, PREPROD_API, PRODUCTION_API,
    check_credential,
};
pub use documents::{DateField, Documents, RecentBuilder, SearchBuilder, split_windows};
pub use error::{
    ConfigError, Error, HttpFailure, LimitError, SubmitError, TransportKind, UnknownReason,
};
pub use invois_clock::Clock;
pub use observer::{CallEvent, CallOutcome, ClientObserver, NoopObserver};
pub use page::Page;
pub use platform::{NotificationsBuilder, Platform};
pub use poller::{DocumentResult, PollBuilder, PollConfig, SubmissionOutcome};
pub use rate::{Admission, BudgetError, BudgetKey, InProcessBudget, Quota, RateBudget, RateLimits};
pub use retry::RetryPolicy;
pub use secret::{AccessToken, ClientSecret};
pub use signing::{PrepareError, version_needs_signature};
pub use submissions::{
    DocumentSubmissionExt, GetSubmissionBuilder, PreparedSubmission, Submissions, SubmitBuilder,
    Submitted, document_submission, sha256_hex,
};
pub use taxpayers::{SearchTinBuilder, Taxpayers};

/// The wire types, re-exported so callers need one dependency.
pub use invois_api as api;
