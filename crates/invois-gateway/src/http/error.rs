//! The API's one error type and its one JSON envelope:
//! `{"error":{"code":"...","message":"...","field":"..."}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::intake::IntakeError;
use crate::store::StoreError;

/// `Retry-After` on a `503` from the database: long enough for a connection pool to
/// reconnect or an operator to be paged, short enough not to hold an ERP's queue up.
const STORE_RETRY_AFTER_SECS: &str = "30";

/// An error answered to the ERP.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code (`invalid_document`, `conflict`, ...).
    pub code: &'static str,
    /// What went wrong and what to do, in English.
    pub message: String,
    /// The field (JSON path, XPath, query or body parameter) the error is about.
    pub field: Option<String>,
}

impl ApiError {
    /// An error with no field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// Names the field the error is about.
    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    /// 400 `bad_request`, about `field`.
    pub fn bad_request(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message).with_field(field)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// A store failure: logged here, answered with a generic message (the database's text may
    /// name hosts or tables the ERP has no business seeing).
    pub fn store(e: &StoreError) -> ApiError {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} was not found")),
            StoreError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message.clone())
            }
            // A full disk is the operator's to fix and passes once they do; the ERP need
            // only send the same request again, so it is told that, not "internal error".
            full if full.is_out_of_space() => {
                tracing::error!(error = %full, "the database has no space left; answering 503");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_full",
                    "the gateway's database has no space left, so nothing was stored; send \
                     the same request again later (the gateway resumes by itself once space \
                     is freed)",
                )
            }
            other => {
                tracing::error!(error = %other, "store error while answering an API request");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the gateway's database failed; retry later",
                )
            }
        }
    }

    /// The JSON body of the envelope.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                field: self.field.clone(),
                correlation_id: None,
            },
        }
    }
}

/// The one error envelope: `{"error": {"code", "message", "field"?, "correlation_id"}}`, on
/// every route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of the [`ErrorBody`] envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code: unauthorized, bad_request, bad_query, malformed_request, uri_too_long,
    /// headers_too_large, malformed_document,
    /// invalid_document, key_mismatch, conflict, not_correctable, not_found, not_cancellable,
    /// cancel_period_over, incorrect_state, active_referencing_documents,
    /// unsupported_media_type, payload_too_large, unreadable_body, malformed_json,
    /// route_not_found, method_not_allowed, internal, myinvois_error, myinvois_unavailable,
    /// myinvois_login, rate_limited, store_unavailable, store_full, not_ready,
    /// cancelled_not_recorded, login_halted, login_refused,
    /// not_validated, validation_link_pending, validation_time_unavailable, render_failed.
    #[schema(value_type = String)]
    pub code: &'static str,
    /// What went wrong and what to do, in English.
    pub message: String,
    /// The field the error is about: a JSON path or XPath in the document, a parameter, or
    /// `documents[i]` in a many-document request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The id of this response, also in its `correlationId` header: quote it when asking
    /// about a failed call. Set on every error the gateway answers with; absent only from
    /// the errors of single entries inside a many-document answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> ApiError {
        let field = e.field();
        let (status, code) = match &e {
            IntakeError::Store(inner) => return ApiError::store(inner),
            IntakeError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            IntakeError::NotCorrectable { .. } => (StatusCode::CONFLICT, "not_correctable"),
            IntakeError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            IntakeError::KeyMismatch { .. } => (StatusCode::BAD_REQUEST, "key_mismatch"),
            IntakeError::Json { .. } | IntakeError::Xml { .. } | IntakeError::Utf8(_) => {
                (StatusCode::BAD_REQUEST, "malformed_document")
            }
            _ => (StatusCode::BAD_REQUEST, "invalid_document"),
        };
        let mut out = ApiError::new(status, code, e.to_string());
        out.field = field;
        out
    }
}

impl From<invois_serve::Rejection> for ApiError {
    /// A request refused before routing (its head over the limits, or not HTTP).
    fn from(rejection: invois_serve::Rejection) -> ApiError {
        let status = rejection.status();
        let code = match status {
            StatusCode::URI_TOO_LONG => "uri_too_long",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
            _ => "malformed_request",
        };
        // The gateway's messages start in lower case; invois-serve's are sentences.
        let mut message = rejection.to_string();
        if let Some(first) = message.get_mut(..1) {
            first.make_ascii_lowercase();
        }
        ApiError::new(status, code, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::store(&e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // A database that failed or filled up: nothing was stored, and the same request may
        // be sent again; say when.
        if matches!(self.code, "store_full" | "store_unavailable") {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(STORE_RETRY_AFTER_SECS),
            );
        }
        // The correlation middleware ([`super::correlate`]) writes the envelope again with
        // the request's id; handlers need not know it.
        response.extensions_mut().insert(self);
        response
    }
}
