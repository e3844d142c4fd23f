//! `GET /v1/documents/{id}/pdf` and `/html`: the buyer's copy of a validated document
//! ([`invois_render`]), with the QR code of its validation link.
//!
//! Which documents have a copy is [`crate::buyers_copy`]'s to say; every other state is a 409
//! that says why and what to do. The validation time is the one MyInvois gave, as the poller
//! kept it; a document validated before the gateway kept it has it asked of MyInvois once.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use invois_render::{RenderError, ValidatedDocument};

use super::documents::id_from_path;
use super::error::ErrorBody;
use super::{ApiError, ApiState};
use crate::buyers_copy::{self, NotPrintable};
use crate::store::{DocumentId, DocumentRecord, StoreError};

/// `GET /v1/documents/{id}/pdf`.
#[utoipa::path(
    get,
    path = "/v1/documents/{id}/pdf",
    operation_id = "getDocumentPdf",
    tag = "documents",
    params(("id" = i64, Path, description = "The document version's id.", minimum = 1)),
    responses(
        (status = 200, description = "The buyer's copy as an A4 PDF: parties, lines, taxes, \
                        totals, UUID, validation time, and the QR code of the validation link. \
                        A cancelled document's copy is marked cancelled.",
         content_type = "application/pdf", body = Vec<u8>),
        (status = 404, description = "No such document.", body = ErrorBody),
        (status = 409, description = "Not validated (`not_validated`), or valid but MyInvois has \
                        not given its longId yet (`validation_link_pending`).", body = ErrorBody),
        (status = 502, description = "The validation time had to be asked of MyInvois, which \
                        did not answer.", body = ErrorBody),
    ),
)]
pub(crate) async fn pdf(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let (name, copy) = validated(&state, id_from_path(path)?).await?;
    let bytes = render(copy, |c| invois_render::pdf(&c)).await?;
    Ok(answer("application/pdf", &format!("{name}.pdf"), bytes))
}

/// `GET /v1/documents/{id}/html`.
#[utoipa::path(
    get,
    path = "/v1/documents/{id}/html",
    operation_id = "getDocumentHtml",
    tag = "documents",
    params(("id" = i64, Path, description = "The document version's id.", minimum = 1)),
    responses(
        (status = 200, description = "The buyer's copy as one self-contained HTML page (A4 when \
                        printed), the QR code inline as SVG.",
         content_type = "text/html", body = String),
        (status = 404, description = "No such document.", body = ErrorBody),
        (status = 409, description = "Not validated (`not_validated`), or valid but MyInvois has \
                        not given its longId yet (`validation_link_pending`).", body = ErrorBody),
        (status = 502, description = "The validation time had to be asked of MyInvois, which \
                        did not answer.", body = ErrorBody),
    ),
)]
pub(super) async fn html(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let (name, copy) = validated(&state, id_from_path(path)?).await?;
    let page = render(copy, |c| invois_render::html(&c)).await?;
    let mut response = answer("text/html; charset=utf-8", &format!("{name}.html"), page);
    // The page holds no script and loads nothing: say so, so that a value that slipped
    // through could not run even if it were not escaped.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    Ok(response)
}

/// Renders on the blocking pool: a long document takes a few milliseconds of CPU, which an
/// async worker should not spend.
async fn render<T: Send + 'static>(
    copy: ValidatedDocument,
    f: impl FnOnce(ValidatedDocument) -> Result<T, RenderError> + Send + 'static,
) -> Result<T, ApiError> {
    let uuid = copy.uuid.clone();
    match tokio::task::spawn_blocking(move || f(copy)).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => {
            tracing::error!(document.uuid = %uuid, error = %e, "buyer's copy failed");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "render_failed",
                format!("the copy of document {uuid} could not be made: {e}"),
            ))
        }
        Err(e) => {
            tracing::error!(document.uuid = %uuid, error = %e, "buyer's copy task failed");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the gateway failed on this request; see its log",
            ))
        }
    }
}

fn answer(
    content_type: &'static str,
    file_name: &str,
    body: impl Into<axum::body::Body>,
) -> Response {
    let disposition = format!("inline; filename=\"{file_name}\"");
    let mut response = (StatusCode::OK, body.into()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    // A valid document may be cancelled later; a cached copy would not say so.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    response
}

/// The stored document as MyInvois validated it, or why it has no copy.
async fn validated(
    state: &ApiState,
    id: DocumentId,
) -> Result<(String, ValidatedDocument), ApiError> {
    let doc = match state.store.documents().get(id).await {
        Ok(doc) => doc,
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::not_found(format!("no document with id {id}")));
        }
        Err(e) => return Err(e.into()),
    };
    let (_, uuid, _, _) = buyers_copy::validation_of(&doc).map_err(not_printable)?;
    let validated_at = validation_time(state, &doc, uuid).await?;
    let copy = buyers_copy::copy_of(&doc, validated_at).map_err(not_printable)?;
    Ok((buyers_copy::file_stem(&doc), copy))
}

/// A document without a copy, in the envelope: 409 for what the ERP can wait for or fix.
fn not_printable(e: NotPrintable) -> ApiError {
    let (status, code) = match &e {
        NotPrintable::NotValidated { .. } => (StatusCode::CONFLICT, "not_validated"),
        NotPrintable::LinkPending { .. } => (StatusCode::CONFLICT, "validation_link_pending"),
        NotPrintable::ValidationTimeUnknown { .. } => {
            (StatusCode::BAD_GATEWAY, "validation_time_unavailable")
        }
        _ => {
            tracing::error!(error = %e, "a stored valid document has no copy");
            (StatusCode::INTERNAL_SERVER_ERROR, "render_failed")
        }
    };
    ApiError::new(status, code, e.to_string())
}

/// When MyInvois validated the document: as the poller recorded it, or (for a document made
/// valid before the gateway kept it) asked of MyInvois once and then kept.
async fn validation_time(
    state: &ApiState,
    doc: &DocumentRecord,
    uuid: &str,
) -> Result<DateTime<Utc>, ApiError> {
    if let Some(at) = doc.validated_at {
        return Ok(at);
    }
    let id = doc.id;
    let unavailable = |why: String| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "validation_time_unavailable",
            format!(
                "the gateway does not know when MyInvois validated document {id} and could not \
                 ask: {why}; try again later"
            ),
        )
    };
    let client = state
        .clients
        .client(doc.on_behalf_of.as_deref())
        .map_err(|e| unavailable(e.to_string()))?;
    let details = client.documents().details(uuid).await.map_err(|e| {
        tracing::warn!(document.id = id.0, document.uuid = %uuid, error = %e, "Get Document Details failed");
        unavailable(e.to_string())
    })?;
    let at = details
        .summary
        .date_time_validated
        .ok_or_else(|| unavailable("MyInvois gave no dateTimeValidated".to_owned()))?;
    state
        .store
        .documents()
        .record_validated_at(&[(uuid.to_owned(), at)])
        .await?;
    Ok(at)
}
