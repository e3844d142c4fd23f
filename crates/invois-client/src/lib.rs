#![doc = include_str!("../README.md")]
// Functions a reader can hold (clippy.toml sets 120 lines); tests and benches may run longer.
#![warn(clippy::too_many_lines)]

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
    ConfigError, Error, HttpFailure, LimitError, LoginHalt, SubmitError, TransportKind,
    UnknownReason,
};
pub use invois_clock::Clock;
pub use observer::{CallEvent, CallOutcome, ClientObserver, NoopObserver};
pub use page::Page;
pub use platform::{NotificationsBuilder, Platform};
pub use poller::{
    DocumentResult, PollBuilder, PollConfig, PollProgress, PollRound, SubmissionOutcome,
};
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
