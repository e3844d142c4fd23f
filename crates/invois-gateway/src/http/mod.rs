//! The ERP-facing API: JSON over HTTP, bearer API keys (stored hashed), one error envelope,
//! and an OpenAPI 3.1 document served at `/openapi.json`.
//!
//! | Route | What |
//! | --- | --- |
//! | `POST /v1/documents` | submit one document (UBL JSON/XML or own JSON) or many |
//! | `POST /v1/documents/{issuer_tin}/{type}/{internal_id}/versions` | a corrected version |
//! | `GET /v1/documents/{issuer_tin}/{type}/{internal_id}/versions` | every version, oldest first |
//! | `GET /v1/documents/{id}` | one document version, with its status events |
//! | `GET /v1/documents/{issuer_tin}/{type}/{internal_id}` | the latest version by key |
//! | `GET /v1/documents` | list and filter, keyset paging |
//! | `POST /v1/documents/{id}/cancel` | cancel a valid document at MyInvois |
//! | `GET /v1/documents/{id}/pdf`, `.../html` | the buyer's copy of a validated document, with its QR code |
//! | `POST /v1/documents/{id}/retry` | send a failed or locally rejected document again |
//! | `POST /v1/documents/{id}/notes` | a credit, debit or refund note built from a valid one |
//! | `GET /v1/submissions` | submission attempts (never their payloads) |
//! | `GET /v1/received`, `GET /v1/received/{uuid}` | documents issued to the taxpayer, with deadlines |
//! | `POST /v1/received/{uuid}/reject`, `.../accept` | reject (at MyInvois, within 72 h) or accept |
//! | `POST /v1/clients/{client_id}/resume` | send a login MyInvois refused for good again |
//! | `GET /health`, `GET /ready` | liveness; readiness (the store answers, logins not halted) |
//! | `GET /openapi.json` | this API, described |
//!
//! Every error is `{"error":{"code","message","field"?,"correlation_id"}}` ([`ApiError`]), on
//! these routes and on the webhook log's ([`crate::webhooks::routes`]). Bad input of any kind
//! (malformed JSON, a wrong content type, a huge body, a bad id or query parameter, and a
//! request head hyper would refuse before any route: see [`refused`]) gets a 4xx in that
//! envelope, never a panic. Every response carries a `correlationId` header ([`correlate`]),
//! and every error envelope the same id.
//!
//! Every request and response body is a Rust type deriving `utoipa::ToSchema`, and
//! `/openapi.json` is generated from them and the handlers' `#[utoipa::path]` annotations
//! ([`openapi`]). Field names are snake_case everywhere, webhook payloads included.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use invois_clock::Clock;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use utoipa::ToSchema;

use crate::clients::ClientPool;
use crate::consolidation::{ConsolidationConfig, Consolidator};
use crate::intake::Intake;
use crate::store::{ApiKeyRecord, DocumentKey, Store};

pub(crate) mod actions;
mod clients;
pub(crate) mod documents;
mod error;
mod openapi;
pub(crate) mod printable;
mod receipts;
pub(crate) mod received;
mod submissions;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use openapi::{openapi, openapi_json, served_routes};

/// The default cap on one request body: room for a batch of about twenty 300 KB documents.
/// A bigger body is refused with 413 before it is read whole.
pub const DEFAULT_MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// The most documents one `POST /v1/documents` may carry.
pub const MAX_DOCUMENTS_PER_REQUEST: usize = 1000;

/// Every route [`router`] serves, as (method, path template, handler). The router is built
/// from this list, and [`routes`] hands the same list to the test that checks the OpenAPI
/// document describes exactly these, so a route cannot be served undescribed.
fn route_table() -> Vec<(&'static str, &'static str, MethodRouter<ApiState>)> {
    const KEY: &str = "/v1/documents/{issuer_tin}/{type}/{internal_id}";
    const VERSIONS: &str = "/v1/documents/{issuer_tin}/{type}/{internal_id}/versions";
    vec![
        ("POST", "/v1/documents", post(documents::submit)),
        ("GET", "/v1/documents", get(documents::list)),
        ("GET", "/v1/documents/{id}", get(documents::get_by_id)),
        ("GET", KEY, get(documents::get_by_key)),
        ("POST", VERSIONS, post(documents::new_version)),
        ("GET", VERSIONS, get(documents::versions)),
        ("POST", "/v1/documents/{id}/cancel", post(documents::cancel)),
        ("GET", "/v1/documents/{id}/pdf", get(printable::pdf)),
        ("GET", "/v1/documents/{id}/html", get(printable::html)),
        ("POST", "/v1/documents/{id}/retry", post(actions::retry)),
        (
            "POST",
            "/v1/documents/{id}/notes",
            post(actions::create_note),
        ),
        ("GET", "/v1/submissions", get(submissions::list)),
        ("GET", "/v1/received", get(received::list)),
        ("GET", "/v1/received/{uuid}", get(received::get)),
        ("POST", "/v1/received/{uuid}/reject", post(received::reject)),
        ("POST", "/v1/received/{uuid}/accept", post(received::accept)),
        (
            "POST",
            "/v1/clients/{client_id}/resume",
            post(clients::resume),
        ),
        ("POST", "/v1/receipts", post(receipts::post_receipts)),
        ("GET", "/v1/receipts", get(receipts::list_receipts)),
        (
            "POST",
            "/v1/receipts/{number}/individual",
            post(receipts::individual),
        ),
        ("PUT", "/v1/issuers/{issuer_tin}", put(receipts::put_issuer)),
        ("GET", "/v1/issuers/{issuer_tin}", get(receipts::get_issuer)),
        ("POST", "/v1/consolidations", post(receipts::consolidate)),
        (
            "GET",
            "/v1/consolidations",
            get(receipts::list_consolidations),
        ),
        (
            "GET",
            "/v1/consolidations/{id}",
            get(receipts::get_consolidation),
        ),
        ("GET", "/health", get(health)),
        ("GET", "/ready", get(ready)),
        ("GET", "/openapi.json", get(serve_openapi)),
    ]
}

/// Every route [`router`] serves, as (method, path template).
pub fn routes() -> Vec<(&'static str, &'static str)> {
    route_table().into_iter().map(|(m, p, _)| (m, p)).collect()
}

/// What the API's handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The gateway's store.
    pub store: Arc<Store>,
    /// Turns request bodies into stored documents.
    pub intake: Intake,
    /// The MyInvois logins (for cancellation).
    pub clients: ClientPool,
    /// The gateway's clock.
    pub clock: Clock,
    /// The largest request body accepted ([`DEFAULT_MAX_BODY_BYTES`] unless configured).
    pub max_body_bytes: usize,
    /// Builds consolidations and individual e-invoices from receipts.
    pub consolidator: Consolidator,
}

impl ApiState {
    /// State over `store` and `clients`, with an [`Intake`] into the same store and the
    /// default body cap.
    pub fn new(store: Arc<Store>, clients: ClientPool, clock: Clock) -> ApiState {
        let intake = Intake::new(store.clone(), &clients);
        let consolidator =
            Consolidator::new(store.clone(), &clients, ConsolidationConfig::default());
        ApiState {
            consolidator,
            store,
            intake,
            clients,
            clock,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Consolidates with this configuration.
    pub fn with_consolidation(mut self, config: ConsolidationConfig) -> ApiState {
        self.consolidator = Consolidator::new(self.store.clone(), &self.clients, config);
        self
    }

    /// Sets the request body cap.
    pub fn with_max_body_bytes(mut self, bytes: usize) -> ApiState {
        self.max_body_bytes = bytes;
        self
    }
}

/// The API router: `/v1/...` behind [`require_api_key`], and `/health`, `/ready`,
/// `/openapi.json` open. Unknown paths and methods answer in the error envelope.
///
/// Other routers merged into this one must not set their own fallback.
pub fn router(state: ApiState) -> Router {
    let auth = middleware::from_fn_with_state(state.store.clone(), require_api_key);
    // Routes on one path with different methods merge into one method router.
    let (v1, open) = route_table().into_iter().fold(
        (Router::new(), Router::new()),
        |(v1, open), (_, path, handler)| {
            if path.starts_with("/v1/") {
                (v1.route(path, handler), open)
            } else {
                (v1, open.route(path, handler))
            }
        },
    );
    let v1 = v1.route_layer(auth);
    let max = state.max_body_bytes;
    Router::new()
        .merge(v1)
        .merge(open)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max))
        .with_state(state)
}

/// Middleware: lets the request through only with `Authorization: Bearer <key>` naming a
/// known, unrevoked API key ([`Store::verify_api_key`]; keys are stored hashed). Otherwise
/// 401 with `WWW-Authenticate: Bearer`. A read-only key is let through only to read
/// ([`refuse_write`]). The key's record is put in the request's extensions. The key itself
/// is never logged.
///
/// Use on any router: `axum::middleware::from_fn_with_state(store, require_api_key)`.
pub async fn require_api_key(
    State(store): State<Arc<Store>>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = match bearer(&request) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    match store.api_keys().verify(&presented).await {
        Ok(Some(record)) => {
            tracing::debug!(api_key.id = record.id.0, api_key.name = %record.name, "API key accepted");
            if let Some(refusal) = refuse_write(&record, request.method(), request.uri().path()) {
                return refusal.into_response();
            }
            request.extensions_mut().insert::<ApiKeyRecord>(record);
            next.run(request).await
        }
        Ok(None) => ApiError::unauthorized(
            "the API key is not valid: it is unknown or was revoked (send Authorization: Bearer \
             <API key>)",
        )
        .into_response(),
        Err(e) => ApiError::store(&e).into_response(),
    }
}

/// 403 `read_only_key` when `key` may only read and the request would write: anything but
/// `GET` and `HEAD`. Every route that changes something is a `POST` or `PUT` and every
/// `GET` only reads (the route tables keep to this), so the method decides, and a write
/// route added later is refused to a read-only key without being listed anywhere.
pub(crate) fn refuse_write(
    key: &ApiKeyRecord,
    method: &axum::http::Method,
    path: &str,
) -> Option<ApiError> {
    let reads = matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD);
    (!reads && !key.scope.may_write()).then(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "read_only_key",
            format!(
                "the API key `{}` is read-only: it may read (GET) but not {method} {path}; use a \
                 key with full access (invois gateway --create-api-key NAME)",
                key.name
            ),
        )
    })
}

/// Middleware for the whole HTTP surface: gives each request a correlation id, puts it in
/// the response's `correlationId` header and, when the response is an [`ApiError`], in its
/// envelope.
pub async fn correlate(request: Request, next: Next) -> Response {
    let id = invois_serve::correlation_id();
    with_correlation(next.run(request).await, &id)
}

/// The answer to a request refused before routing ([`invois_serve::Rejection`]: a request
/// line over 8 KB, header fields over 32 KB or more than 100, bytes HTTP does not allow):
/// `414 uri_too_long`, `431 headers_too_large` or `400 malformed_request`, in the envelope
/// with a correlation id. Nothing of the request is in it.
pub fn refused(rejection: invois_serve::Rejection) -> Response {
    let id = invois_serve::correlation_id();
    with_correlation(ApiError::from(rejection).into_response(), &id)
}

/// A last resort (with `tower_http`'s `CatchPanicLayer`): a handler's panic becomes a `500
/// internal` envelope instead of a dropped connection. The panic itself is logged by the
/// panic hook; its message is not answered.
pub fn panicked(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the gateway failed on this request; see its log",
    )
    .into_response()
}

fn with_correlation(mut response: Response, id: &str) -> Response {
    // An ApiError's response carries the error (see its IntoResponse): write its envelope
    // again, with the id. The response's other parts (status, headers) stay as they are.
    if let Some(error) = response.extensions_mut().remove::<ApiError>() {
        let mut body = error.body();
        body.error.correlation_id = Some(id.to_owned());
        if let Ok(bytes) = serde_json::to_vec(&body) {
            let (mut parts, _) = response.into_parts();
            parts.headers.remove(header::CONTENT_LENGTH);
            response = Response::from_parts(parts, Body::from(bytes));
        }
    }
    if let Ok(value) = HeaderValue::from_str(id) {
        response
            .headers_mut()
            .insert(invois_api::CORRELATION_ID_HEADER, value);
    }
    response
}

/// The longest Authorization value looked up (keys are 68 characters).
const MAX_PRESENTED_KEY: usize = 512;

fn bearer(request: &Request) -> Result<String, ApiError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "an API key is required: send Authorization: Bearer <API key>",
        ));
    };
    let text = value.to_str().map_err(|_| {
        ApiError::unauthorized("the Authorization header is not ASCII: send Bearer <API key>")
    })?;
    let (scheme, key) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::unauthorized(
            "the Authorization scheme must be Bearer: send Authorization: Bearer <API key>",
        ));
    }
    let key = key.trim();
    if key.is_empty() {
        return Err(ApiError::unauthorized(
            "the bearer token is empty: send Authorization: Bearer <API key>",
        ));
    }
    if key.len() > MAX_PRESENTED_KEY {
        return Err(ApiError::unauthorized(
            "the API key is not valid: it is unknown or was revoked",
        ));
    }
    Ok(key.to_owned())
}

/// A document's path by key, `/v1/documents/{issuer_tin}/{type}/{internal_id}`, each part
/// percent-encoded (internal ids often hold `/`). Its `/versions` lists and corrects it.
pub(crate) fn key_path(key: &DocumentKey) -> String {
    format!(
        "/v1/documents/{}/{}/{}",
        segment(&key.issuer_tin),
        segment(&key.type_code),
        segment(&key.internal_id)
    )
}

/// What a path segment keeps as it is: RFC 3986's unreserved characters. Everything else,
/// `/` and every non-ASCII byte included, is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment, percent-encoded.
fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// `GET /health`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`: the process answers.
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
}

/// `GET /ready`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct Ready {
    /// Always `ready`; a store that does not answer is 503 `not_ready` instead, and logins
    /// MyInvois refused for good 503 `login_halted`.
    #[schema(value_type = String, example = "ready")]
    status: &'static str,
    /// The gateway's clock, RFC 3339.
    #[schema(format = DateTime)]
    time: String,
    /// How many document versions are in each state (states with none are left out).
    documents: std::collections::BTreeMap<String, u64>,
}

/// `GET /health`: the process is up.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "operations",
    responses((status = 200, description = "The process is up.", body = Health)),
)]
pub(crate) async fn health() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// `GET /ready`: the store answers, and MyInvois accepts the gateway's login.
#[utoipa::path(
    get,
    path = "/ready",
    operation_id = "ready",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers; document counts by state.",
         body = Ready),
        (status = 503, description = "The database does not answer (`not_ready`), or \
         MyInvois refused the gateway's login for good and sending is halted \
         (`login_halted`: the message has LHDN's answer, the fix and how to resume).",
         body = ErrorBody),
    ),
)]
pub(crate) async fn ready(State(state): State<ApiState>) -> Result<axum::Json<Ready>, ApiError> {
    let client_id = state.clients.client_id();
    // Not ready while nothing can be sent: an orchestrator's alert, not a restart, is the
    // remedy (a restart with the same credentials stays halted).
    if let Ok(Some(halt)) = state.store.login_halts().get(client_id).await {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "login_halted",
            crate::login::halt_message(&halt),
        ));
    }
    match state.store.documents().count_by_state().await {
        Ok(counts) => Ok(axum::Json(Ready {
            status: "ready",
            time: state.clock.now().to_rfc3339(),
            documents: counts
                .into_iter()
                .map(|(s, n)| (s.as_str().to_owned(), n))
                .collect(),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: the store did not answer");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the gateway's database is not reachable",
            ))
        }
    }
}

/// `GET /openapi.json`: this API, described.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 description of this API.",
               content_type = "application/json", body = Object)),
)]
pub(crate) async fn serve_openapi() -> Response {
    let mut response = openapi_json().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        format!(
            "no route {} {}; see /openapi.json",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}; see /openapi.json",
            request.method(),
            request.uri().path()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_encode_all_but_unreserved_characters() {
        let key = DocumentKey {
            issuer_tin: "C1".to_owned(),
            type_code: "01".to_owned(),
            internal_id: "INV/1 é-._~?#%".to_owned(),
        };
        assert_eq!(
            key_path(&key),
            "/v1/documents/C1/01/INV%2F1%20%C3%A9-._~%3F%23%25"
        );
    }
}
