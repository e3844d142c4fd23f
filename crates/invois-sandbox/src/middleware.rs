//! The request path every API call takes:
//!
//! 1. [`outer`] (every request, matched or not): assigns the `correlationId`, applies injected
//!    faults (latency, a share of 5xx, the maintenance page, dropped responses), and writes the
//!    `correlationId` header on whatever comes back.
//! 2. [`api_call`] (matched routes): names the endpoint, authenticates the bearer token (401
//!    otherwise), spends the (client id, class) rate budget (429 otherwise), writes the
//!    `X-Rate-Limit-*` headers, and reports the call to the [`crate::CallObserver`].

use std::any::Any;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use invois_api::{CORRELATION_ID_HEADER, Endpoint};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::extract::{BodyRead, read_body};
use crate::ratelimit::RateDecision;
use crate::{CallContext, CallRecord, Sandbox};

/// Faults to inject into API responses (the admin API sets them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share of requests (0.0-1.0) answered with a 5xx before being processed.
    pub error_rate: f64,
    /// The status of those errors: 500, 502, 503 (default) or 504.
    pub error_status: Option<u16>,
    /// Real milliseconds added before each request is processed.
    pub latency_ms: u64,
    /// Share of requests (0.0-1.0) that are processed but whose response is cut off (the
    /// connection fails mid-response), so the client cannot know the outcome.
    pub drop_rate: f64,
    /// Answer every API request with the `403` HTML maintenance page.
    pub maintenance: bool,
    /// A tighter documents-per-submission limit than the published 100, as if MyInvois
    /// lowered it: larger submissions get `400 MaximumSizeExceeded`. This is how a client's
    /// batch splitting is tested, since a client that keeps to the published limits never
    /// meets the real ones.
    pub max_submission_documents: Option<usize>,
    /// A tighter request-body limit than the published 5 MB, alike.
    pub max_submission_bytes: Option<usize>,
}

/// The id of this request, for handlers that quote it.
#[derive(Debug, Clone)]
pub(crate) struct CorrelationId(pub(crate) String);

const MAINTENANCE_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>403 - Forbidden</title></head>\n<body><h1>MyInvois is under maintenance</h1>\n<p>The system is currently undergoing scheduled maintenance. Please try again later.</p></body></html>\n";

fn chance(p: f64) -> bool {
    p > 0.0 && rand::rng().random::<f64>() < p
}

/// Correlation id and faults, for every request.
pub(crate) async fn outer(
    State(sandbox): State<Sandbox>,
    mut req: Request,
    next: Next,
) -> Response {
    let correlation = sandbox.next_correlation_id();
    req.extensions_mut()
        .insert(CorrelationId(correlation.clone()));
    let faults = sandbox.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let mut resp = if faults.maintenance {
        (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            MAINTENANCE_PAGE,
        )
            .into_response()
    } else if chance(faults.error_rate) {
        let status = faults
            .error_status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .filter(StatusCode::is_server_error)
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let code = match status {
            StatusCode::INTERNAL_SERVER_ERROR => "InternalServerError",
            StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
            _ => "ServerError",
        };
        let body = invois_api::ApiError::new(code, "Injected fault").into_body();
        (status, axum::Json(body)).into_response()
    } else {
        let resp = next.run(req).await;
        if chance(faults.drop_rate) {
            cut_off(resp)
        } else {
            resp
        }
    };
    if let Ok(v) = HeaderValue::from_str(&correlation) {
        resp.headers_mut().insert(CORRELATION_ID_HEADER, v);
    }
    resp
}

/// Keeps the status line but replaces the body with one that fails, so the connection breaks
/// before the client has a complete response.
fn cut_off(resp: Response) -> Response {
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let failing = futures::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection drop",
        ))
    });
    Response::from_parts(parts, Body::from_stream(failing))
}

fn endpoint_for(path: &str, method: &Method) -> Option<Endpoint> {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    Endpoint::ALL
        .into_iter()
        .find(|e| e.path() == path && e.method().as_str() == method.as_str())
}

/// Authentication, rate limits and the call record, for matched routes.
pub(crate) async fn api_call(State(sandbox): State<Sandbox>, req: Request, next: Next) -> Response {
    let correlation = req
        .extensions()
        .get::<CorrelationId>()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let mut endpoint = endpoint_for(&matched, req.method());
    let mut record = CallRecord {
        at: sandbox.clock().now(),
        endpoint,
        client_id: None,
        on_behalf_of: None,
        status: 0,
        correlation_id: correlation,
        payload_sha256: None,
        resource: None,
        document_status: None,
        submissions_in_progress: Vec::new(),
        filters: Vec::new(),
        retry_after_secs: None,
        blocked_credential: None,
    };
    let listing = crate::report::describe_request(&mut record, req.uri());

    let resp = if matches!(
        endpoint,
        Some(Endpoint::LoginTaxpayer | Endpoint::LoginIntermediary)
    ) {
        // The token handler authenticates and rate-limits by the form's client id itself.
        next.run(req).await
    } else {
        authenticated(&sandbox, req, next, &mut endpoint, &mut record).await
    };
    if let Some(ctx) = resp.extensions().get::<CallContext>() {
        record.endpoint = ctx.endpoint.or(record.endpoint);
        record.client_id = ctx.client_id.clone().or(record.client_id);
        record.on_behalf_of = ctx.on_behalf_of.clone().or(record.on_behalf_of);
        record.payload_sha256 = ctx.payload_sha256.clone();
        record.blocked_credential = ctx.blocked_credential.clone();
    }
    record.endpoint = record.endpoint.or(endpoint);
    record.status = resp.status().as_u16();
    crate::report::describe_response(&sandbox, &mut record, listing, resp.headers());
    sandbox.inner.config.observer.on_call(&record);
    if let Some(recorder) = &sandbox.inner.recorder {
        recorder.record(&record);
    }
    resp
}

async fn authenticated(
    sandbox: &Sandbox,
    req: Request,
    next: Next,
    endpoint: &mut Option<Endpoint>,
    record: &mut CallRecord,
) -> Response {
    let caller = match sandbox.authenticate(req.headers()) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    record.client_id = Some(caller.client_id.clone());
    record.on_behalf_of = caller.on_behalf_of.clone();

    // Cancel and reject share a path; the body says which budget is spent.
    let (parts, body) = req.into_parts();
    let mut req = if *endpoint == Some(Endpoint::CancelDocument) {
        let bytes = match read_body(body, crate::extract::ApiJson::<()>::LIMIT).await {
            BodyRead::Complete(b) => b,
            BodyRead::TooLarge { .. } => {
                return AppError::MaximumSizeExceeded {
                    target: "body".to_owned(),
                    message: "The request body is too large".to_owned(),
                }
                .into_response();
            }
            BodyRead::Failed => {
                return AppError::BadRequest("Unreadable body".to_owned()).into_response();
            }
        };
        let status = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_owned));
        if status.is_some_and(|s| s.eq_ignore_ascii_case("rejected")) {
            *endpoint = Some(Endpoint::RejectDocument);
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        Request::from_parts(parts, body)
    };
    record.endpoint = *endpoint;

    let mut rate_headers = None;
    if let Some(ep) = *endpoint {
        match sandbox.rate_check(&caller.client_id, ep.rate_class()) {
            RateDecision::Limited {
                limit,
                retry_after_secs,
                reset,
            } => {
                return AppError::TooManyRequests {
                    retry_after_secs,
                    limit,
                    reset,
                }
                .into_response();
            }
            RateDecision::Allowed { limit, remaining } => rate_headers = Some((limit, remaining)),
            RateDecision::Unlimited => {}
        }
    }
    // Unknown query parameters are ignored on every endpoint, as MyInvois (ASP.NET) ignores
    // them (`extract::ApiQuery`); endpoints without parameters never read the query.
    req.extensions_mut().insert(caller);
    let mut resp = next.run(req).await;
    if let Some((limit, remaining)) = rate_headers {
        let h = resp.headers_mut();
        h.insert("X-Rate-Limit-Limit", HeaderValue::from(limit));
        h.insert("X-Rate-Limit-Remaining", HeaderValue::from(remaining));
    }
    resp
}

/// Unknown routes.
pub(crate) async fn not_found() -> AppError {
    AppError::NotFound("The requested resource does not exist".to_owned())
}

/// Known paths, wrong method.
pub(crate) async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

/// A request refused before routing (a head over the limits, or not HTTP): the envelope and a
/// correlationId, as for every other answer. Nothing of the request is in it.
pub(crate) fn refused(rejection: invois_serve::Rejection) -> Response {
    let mut resp = AppError::from(rejection).into_response();
    if let Ok(v) = HeaderValue::from_str(&invois_serve::correlation_id()) {
        resp.headers_mut().insert(CORRELATION_ID_HEADER, v);
    }
    resp
}

/// A last resort: a panic becomes a `500` envelope instead of a dropped connection.
pub(crate) fn panic_response(_err: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    AppError::Internal.into_response()
}
