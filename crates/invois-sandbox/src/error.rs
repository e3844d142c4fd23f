//! The one server error type. Every failure of every API leaves through [`AppError`]'s
//! `IntoResponse`, which writes MyInvois's OData-like envelope (README §3.4 shape 1), so a
//! client never sees a framework's plain-text rejection.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use invois_api::ApiError;

/// Everything an API call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// `400 BadArgument`: one parameter is wrong; its name goes in `target`.
    #[error("{message}")]
    BadArgument {
        /// The parameter.
        target: String,
        /// What is wrong.
        message: String,
    },
    /// `400 BadRequest`: the request as a whole is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// `400 BadStructure`: the submission envelope is malformed.
    #[error("{0}")]
    BadStructure(String),
    /// `400 MaximumSizeExceeded`: too many documents, or too many bytes.
    #[error("{message}")]
    MaximumSizeExceeded {
        /// `submission`, `documents`, or a document's code number.
        target: String,
        /// Which limit.
        message: String,
    },
    /// `400 OperationPeriodOver`: the 72-hour window has closed.
    #[error("{0}")]
    OperationPeriodOver(String),
    /// `400 IncorrectState`: the document is not in a state that allows this.
    #[error("{0}")]
    IncorrectState(String),
    /// `400 ActiveReferencingDocuments`: a valid note references the document.
    #[error("{0}")]
    ActiveReferencingDocuments(String),
    /// `401 Unauthorized`: no, malformed, unknown or expired token.
    #[error("{0}")]
    Unauthorized(String),
    /// `403 Forbidden`: no access to this API or object.
    #[error("{0}")]
    Forbidden(String),
    /// `403 IncorrectSubmitter`: the documents belong to another taxpayer.
    #[error("{0}")]
    IncorrectSubmitter(String),
    /// `404 NotFound`.
    #[error("{0}")]
    NotFound(String),
    /// `405` for a known path with the wrong method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// `414 RequestUriTooLong`: the request line is over the limit (refused before routing).
    #[error("{0}")]
    RequestUriTooLong(String),
    /// `431 RequestHeaderFieldsTooLarge`: too many header bytes or fields (refused before
    /// routing).
    #[error("{0}")]
    RequestHeaderFieldsTooLarge(String),
    /// `422 DuplicateSubmission` with `Retry-After`.
    #[error("identical submission received within the last 10 minutes")]
    DuplicateSubmission {
        /// Seconds (clock seconds) until the window closes.
        retry_after_secs: u64,
    },
    /// `429 TooManyRequests` with `Retry-After` and the rate headers.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds (clock seconds) to wait.
        retry_after_secs: u64,
        /// The budget.
        limit: u32,
        /// When the budget frees up.
        reset: DateTime<Utc>,
    },
    /// `500 InternalServerError`; the real cause is logged, never returned.
    #[error("internal server error")]
    Internal,
    /// `503 ServiceUnavailable` (fault injection).
    #[error("service unavailable")]
    ServiceUnavailable,
}

impl AppError {
    /// A `BadArgument` for `target`.
    pub fn bad_argument(target: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::BadArgument {
            target: target.into(),
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadArgument { .. }
            | AppError::BadRequest(_)
            | AppError::BadStructure(_)
            | AppError::MaximumSizeExceeded { .. }
            | AppError::OperationPeriodOver(_)
            | AppError::IncorrectState(_)
            | AppError::ActiveReferencingDocuments(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) | AppError::IncorrectSubmitter(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::RequestUriTooLong(_) => StatusCode::URI_TOO_LONG,
            AppError::RequestHeaderFieldsTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            AppError::DuplicateSubmission { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `code` MyInvois writes.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadArgument { .. } => "BadArgument",
            AppError::BadRequest(_) => "BadRequest",
            AppError::BadStructure(_) => "BadStructure",
            AppError::MaximumSizeExceeded { .. } => "MaximumSizeExceeded",
            AppError::OperationPeriodOver(_) => "OperationPeriodOver",
            AppError::IncorrectState(_) => "IncorrectState",
            AppError::ActiveReferencingDocuments(_) => "ActiveReferencingDocuments",
            AppError::Unauthorized(_) => "Unauthorized",
            AppError::Forbidden(_) => "Forbidden",
            AppError::IncorrectSubmitter(_) => "IncorrectSubmitter",
            AppError::NotFound(_) => "NotFound",
            AppError::MethodNotAllowed => "NotImplemented",
            // MyInvois runs on .NET, whose other codes here are `HttpStatusCode` names.
            AppError::RequestUriTooLong(_) => "RequestUriTooLong",
            AppError::RequestHeaderFieldsTooLarge(_) => "RequestHeaderFieldsTooLarge",
            AppError::DuplicateSubmission { .. } => "DuplicateSubmission",
            AppError::TooManyRequests { .. } => "TooManyRequests",
            AppError::Internal => "InternalServerError",
            AppError::ServiceUnavailable => "ServiceUnavailable",
        }
    }

    /// The envelope's error object.
    pub fn to_api_error(&self) -> ApiError {
        let mut e = ApiError::new(self.code(), self.to_string());
        match self {
            AppError::BadArgument { target, .. } | AppError::MaximumSizeExceeded { target, .. } => {
                e = e.with_target(target.clone());
            }
            AppError::BadStructure(_) | AppError::DuplicateSubmission { .. } => {
                e = e.with_target("submission");
            }
            _ => {}
        }
        e
    }
}

impl From<invois_serve::Rejection> for AppError {
    fn from(rejection: invois_serve::Rejection) -> AppError {
        let message = rejection.to_string();
        match rejection.status() {
            StatusCode::URI_TOO_LONG => AppError::RequestUriTooLong(message),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
                AppError::RequestHeaderFieldsTooLarge(message)
            }
            _ => AppError::BadRequest(message),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = self.to_api_error().into_body();
        let mut resp = (status, axum::Json(body)).into_response();
        let headers = resp.headers_mut();
        match &self {
            AppError::DuplicateSubmission { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            AppError::TooManyRequests {
                retry_after_secs,
                limit,
                reset,
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
                headers.insert("X-Rate-Limit-Limit", HeaderValue::from(*limit));
                headers.insert("X-Rate-Limit-Remaining", HeaderValue::from(0u32));
                let reset = reset.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
                if let Ok(v) = HeaderValue::from_str(&reset) {
                    headers.insert("X-Rate-Limit-Reset", v);
                }
            }
            AppError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        resp.extensions_mut().insert(self);
        resp
    }
}
