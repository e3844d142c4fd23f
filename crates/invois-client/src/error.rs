//! Typed errors. Every remote failure keeps the HTTP status, the `correlationId` and the raw
//! body; none carries a secret or a token.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use invois_api::identity::PlaceholderReason;
use invois_api::{Endpoint, ErrorEnvelope};

use crate::config::CredentialField;
use crate::rate::BudgetError;

/// A configuration problem found locally, before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A client id or secret is missing, empty, `0` or a template value.
    #[error(
        "the {field} is {reason}; set the real value from the MyInvois portal (View and Register \
         ERP). /connect/token was not called, because LHDN blocks and flags logins with \
         placeholder credentials"
    )]
    PlaceholderCredential {
        /// Which field.
        field: CredentialField,
        /// Why it was refused.
        reason: PlaceholderReason,
    },
    /// No credentials were given.
    #[error("no client id and secret were configured")]
    MissingCredentials,
    /// A base URL does not parse or is not http(s).
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidUrl {
        /// Which setting.
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// An environment name other than `sandbox` or `production`.
    #[error("unknown environment `{0}`: expected `sandbox` or `production` (or give base URLs)")]
    UnknownEnvironment(String),
    /// The HTTP stack could not be built.
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
}

/// A response with an error status, kept whole.
#[derive(Clone)]
pub struct HttpFailure {
    /// The endpoint called.
    pub endpoint: Endpoint,
    /// HTTP status.
    pub status: u16,
    /// The `correlationId` response header, to quote to LHDN support.
    pub correlation_id: Option<String>,
    /// The body parsed as one of the error envelopes (§3.3, §3.4, RFC 6749), if it is one.
    pub envelope: Option<ErrorEnvelope>,
    /// The raw body, always kept (it may be an HTML maintenance page).
    pub body: Bytes,
    /// `Retry-After`, where the server sent one.
    pub retry_after: Option<Duration>,
}

impl HttpFailure {
    /// The error code from the envelope (`BadStructure`, `DuplicateSubmission`,
    /// `invalid_client`, ...).
    pub fn code(&self) -> Option<&str> {
        self.envelope.as_ref().and_then(ErrorEnvelope::code)
    }

    /// The English message from the envelope.
    pub fn message(&self) -> Option<&str> {
        self.envelope.as_ref().and_then(ErrorEnvelope::message)
    }

    /// The raw body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn body_excerpt(body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(MAX).collect();
    if text.chars().count() > MAX {
        s.push('…');
    }
    s
}

impl fmt::Debug for HttpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFailure")
            .field("endpoint", &self.endpoint)
            .field("status", &self.status)
            .field("correlation_id", &self.correlation_id)
            .field("envelope", &self.envelope)
            .field("body", &body_excerpt(&self.body))
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} returned HTTP {}", self.endpoint, self.status)?;
        match (self.code(), self.message()) {
            (Some(c), Some(m)) => write!(f, ": {c}: {m}")?,
            (Some(c), None) => write!(f, ": {c}")?,
            (None, Some(m)) => write!(f, ": {m}")?,
            (None, None) if !self.body.is_empty() => {
                write!(f, ": {}", body_excerpt(&self.body))?;
            }
            (None, None) => {}
        }
        if let Some(id) = &self.correlation_id {
            write!(f, " (correlationId {id})")?;
        }
        Ok(())
    }
}

/// What went wrong below HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// No connection was made: nothing was sent.
    Connect,
    /// The request or response timed out.
    Timeout,
    /// The connection broke (reset, closed, bad response framing).
    Other,
}

/// The client's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Local configuration problem; nothing was sent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The request failed a local check (date range, page size, ...); nothing was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// An API answered with an error status.
    #[error("{0}")]
    Http(Box<HttpFailure>),
    /// The identity service refused the login (wrong credentials, blocked user, ...).
    #[error("login failed: {0}")]
    Login(Box<HttpFailure>),
    /// No login was sent: an earlier one was refused for good, and logins of this client id
    /// stay halted until the configuration changes, an operator retries, or the halt's
    /// `retry_at` passes (see [`LoginHalt`]). Nothing was sent.
    #[error(
        "login not sent: logins are halted until {until} or an operator's retry, after this \
         refusal: {halt}",
        halt = .0,
        until = .0.retry_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )]
    LoginHalted(Arc<LoginHalt>),
    /// The request did not complete.
    #[error("{endpoint}: {kind:?} transport error: {message}")]
    Transport {
        /// The endpoint called.
        endpoint: Endpoint,
        /// What kind.
        kind: TransportKind,
        /// The underlying error's text.
        message: String,
    },
    /// A success response did not decode.
    #[error("{endpoint}: HTTP {status} response did not decode at `{path}`: {message}")]
    Decode {
        /// The endpoint called.
        endpoint: Endpoint,
        /// HTTP status.
        status: u16,
        /// The JSON path of the offending value.
        path: String,
        /// What was wrong there.
        message: String,
        /// The `correlationId`.
        correlation_id: Option<String>,
        /// The raw body.
        body: Bytes,
    },
    /// The shared rate budget could not be read.
    #[error("rate budget unavailable: {0}")]
    Budget(#[from] BudgetError),
    /// A submission still had documents in `Submitted` when the poller's deadline passed.
    #[error("submission {submission_uid} was still in progress after {waited:?}")]
    PollTimeout {
        /// The submission.
        submission_uid: String,
        /// How long the poller waited (clock time).
        waited: Duration,
    },
}

impl Error {
    /// The HTTP status, for errors that have one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Http(f) | Error::Login(f) => Some(f.status),
            Error::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The `correlationId`, for errors that have one.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            Error::Http(f) | Error::Login(f) => f.correlation_id.as_deref(),
            Error::Decode { correlation_id, .. } => correlation_id.as_deref(),
            _ => None,
        }
    }

    /// The HTTP failure, for errors that are one.
    pub fn http_failure(&self) -> Option<&HttpFailure> {
        match self {
            Error::Http(f) | Error::Login(f) => Some(f),
            _ => None,
        }
    }

    /// The halt that kept a login from being sent, for [`Error::LoginHalted`].
    pub fn login_halt(&self) -> Option<&LoginHalt> {
        match self {
            Error::LoginHalted(h) => Some(h),
            _ => None,
        }
    }
}

/// Logins of one client id halted after the identity service refused one for good
/// ([`invois_api::identity::login_refused_for_good`]: wrong or expired credentials, a blocked
/// ERP user, the other environment's credentials, a malformed request).
///
/// LHDN's Integration Practices ask that a failed login be investigated and resolved, not
/// repeated, so the client sends no further login for this client id (whichever
/// `onbehalfof`) until [`LoginHalt::retry_at`] (an hour later by default), or until
/// [`crate::Client::retry_login`] is called for an operator. Calls that need a new token
/// meanwhile fail with [`Error::LoginHalted`] without sending anything. Holds no secret.
#[derive(Debug, Clone)]
pub struct LoginHalt {
    /// The client id whose logins are halted.
    pub client_id: String,
    /// The `onbehalfof` the refused login sent (intermediaries); a retry sends it again.
    pub on_behalf_of: Option<String>,
    /// Where the refused login went: the identity service's token URL.
    pub token_url: String,
    /// The identity service's answer: status, RFC 6749 code and description, correlationId.
    pub failure: HttpFailure,
    /// The first refusal of this run of refusals (client clock).
    pub halted_at: DateTime<Utc>,
    /// The latest refusal.
    pub refused_at: DateTime<Utc>,
    /// The soonest the client sends a login again by itself.
    pub retry_at: DateTime<Utc>,
    /// Refused logins in a row.
    pub refusals: u32,
}

impl LoginHalt {
    /// The RFC 6749 code (`invalid_client`, ...), if the answer carried one.
    pub fn code(&self) -> Option<&str> {
        self.failure.code()
    }

    /// What to do about it, in English.
    pub fn fix(&self) -> &'static str {
        login_fix(self.failure.status, self.code())
    }
}

impl fmt::Display for LoginHalt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MyInvois refused the login of client id {}",
            self.client_id
        )?;
        if let Some(tin) = &self.on_behalf_of {
            write!(f, " on behalf of {tin}")?;
        }
        write!(
            f,
            " at {}: {}. Fix: {}",
            self.token_url,
            self.failure,
            self.fix()
        )?;
        if self.refusals > 1 {
            write!(f, " ({} refusals in a row)", self.refusals)?;
        }
        Ok(())
    }
}

/// What to do about a login refused for good, by its status and RFC 6749 code.
fn login_fix(status: u16, code: Option<&str>) -> &'static str {
    use invois_api::identity::TokenErrorCode as Code;
    let code = code.and_then(|c| serde_json::from_value(serde_json::Value::from(c)).ok());
    match (status, code) {
        (_, Some(Code::InvalidClient)) | (401, _) => {
            "check the client id and client secret: they must be the pair the MyInvois portal \
             shows under View and Register ERP for the environment this login goes to \
             (pre-production and production have their own). An expired secret, or an ERP \
             system user that was blocked or expired, is refused the same way: renew it in the \
             portal"
        }
        (_, Some(Code::InvalidGrant)) => {
            "the ERP registration's grant was refused: check in the MyInvois portal (View and \
             Register ERP) that the registration and its secret are active, and renew them"
        }
        (_, Some(Code::UnauthorisedClient)) => {
            "this client may not log in this way: an intermediary needs the taxpayer's \
             authorisation (given in the MyInvois portal) for the TIN it sends as onbehalfof, \
             and a taxpayer's own ERP client must not send onbehalfof (turn the intermediary \
             setting off)"
        }
        (403, None) => {
            "this environment refuses these credentials: production credentials are refused \
             by pre-production and the reverse; use the client id and secret issued for the \
             environment this login goes to, or point the identity URL at the one they belong to"
        }
        _ => {
            "the identity service refused the token request itself: check the identity base URL \
             (the environment's host, without /connect/token), and for an intermediary's \
             credentials that the intermediary setting is on (onbehalfof is required); if both \
             are right, report it to LHDN with the correlationId"
        }
    }
}

/// A submission that broke a documented limit (README §5); found locally, nothing sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// No documents.
    #[error("a submission needs at least one document")]
    NoDocuments,
    /// More than 100 documents.
    #[error("{count} documents in one submission; the limit is {max}")]
    TooManyDocuments {
        /// Documents given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The request body is over 5 MB.
    #[error("the submission is {bytes} bytes; the limit is {max}")]
    SubmissionTooLarge {
        /// Size of the request body.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A document is over 300 KB.
    #[error("document `{code_number}` is {bytes} bytes; the limit is {max}")]
    DocumentTooLarge {
        /// The document's number.
        code_number: String,
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A document's `document` is not base64.
    #[error("document `{code_number}`: `document` is not valid base64")]
    NotBase64 {
        /// The document's number.
        code_number: String,
    },
    /// A document's hash is not 64 hex digits.
    #[error("document `{code_number}`: `documentHash` must be the 64-digit hex SHA-256")]
    BadHash {
        /// The document's number.
        code_number: String,
    },
    /// A document has an empty `codeNumber`.
    #[error("document #{index} has an empty codeNumber")]
    EmptyCodeNumber {
        /// Its position.
        index: usize,
    },
}

/// Why a submission's outcome is unknown.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum UnknownReason {
    /// No response in time.
    Timeout(String),
    /// The connection broke after the request started.
    ConnectionLost(String),
    /// A 5xx arrived after the body was sent.
    ServerError(Box<HttpFailure>),
    /// A 2xx arrived but its body could not be read: accepted, uid unknown.
    UnreadableAcceptance {
        /// HTTP status.
        status: u16,
        /// What failed.
        message: String,
        /// The raw body.
        body: Bytes,
    },
}

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnknownReason::Timeout(m) => write!(f, "timed out: {m}"),
            UnknownReason::ConnectionLost(m) => write!(f, "connection lost: {m}"),
            UnknownReason::ServerError(h) => write!(f, "{h}"),
            UnknownReason::UnreadableAcceptance {
                status, message, ..
            } => write!(
                f,
                "HTTP {status} (accepted) with an unreadable body: {message}"
            ),
        }
    }
}

/// Submit Documents' error. The client never resends a submission by itself; every variant
/// says whether MyInvois may have it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// A documented limit was broken; nothing was sent.
    #[error("submission not sent: {0}")]
    Limit(#[from] LimitError),
    /// Failed before the request left (credentials, login, rate budget); nothing was sent.
    #[error("submission not sent: {0}")]
    NotSent(#[source] Error),
    /// The request may or may not have reached MyInvois. Do not resend blindly: reconcile
    /// first (Get Submission, or Search Documents by the documents' internal ids).
    #[error(
        "submission outcome unknown ({reason}); payload hash {payload_hash}: reconcile before \
         resending"
    )]
    OutcomeUnknown {
        /// Lowercase hex SHA-256 of the exact request body that was sent.
        payload_hash: String,
        /// Why.
        reason: UnknownReason,
    },
    /// `422 DuplicateSubmission`: the same payload arrived within the last 10 minutes, so an
    /// earlier attempt did get through.
    #[error("duplicate submission (payload hash {payload_hash}): {failure}")]
    Duplicate {
        /// The payload hash.
        payload_hash: String,
        /// `Retry-After`, if sent.
        retry_after: Option<Duration>,
        /// The response.
        failure: Box<HttpFailure>,
    },
    /// MyInvois refused the submission (400 `BadStructure`/`MaximumSizeExceeded`, 403
    /// `IncorrectSubmitter`, or 429 after the retry budget ran out). Not accepted.
    #[error("submission refused: {failure}")]
    Rejected {
        /// The payload hash.
        payload_hash: String,
        /// The response.
        failure: Box<HttpFailure>,
    },
}

impl SubmitError {
    /// The hash of the payload that was (or may have been) sent.
    pub fn payload_hash(&self) -> Option<&str> {
        match self {
            SubmitError::OutcomeUnknown { payload_hash, .. }
            | SubmitError::Duplicate { payload_hash, .. }
            | SubmitError::Rejected { payload_hash, .. } => Some(payload_hash),
            SubmitError::Limit(_) | SubmitError::NotSent(_) => None,
        }
    }

    /// Whether MyInvois may hold this submission (so resending could duplicate it).
    pub fn may_have_arrived(&self) -> bool {
        matches!(
            self,
            SubmitError::OutcomeUnknown { .. } | SubmitError::Duplicate { .. }
        )
    }
}
