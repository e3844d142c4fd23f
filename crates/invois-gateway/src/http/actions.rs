//! The ways forward a document's `next_steps` offer besides a new version and cancellation:
//! sending a failed or locally rejected document again, and a note built from a valid one.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::documents::{AcceptedDocument, DocumentDetail, id_from_path, read_body, with_events};
use super::error::ErrorBody;
use super::{ApiError, ApiState};
use crate::next_steps::{Action, allows, next_steps};
use crate::notes::{NoteRequest, build_note};
use crate::store::{DocumentRecord, Inserted, StoreError};

/// `POST /v1/documents/{id}/retry`.
#[utoipa::path(
    post,
    path = "/v1/documents/{id}/retry",
    operation_id = "retryDocument",
    tag = "documents",
    params(("id" = i64, Path, description = "The document version's id.", minimum = 1)),
    responses(
        (status = 202, description = "Back in the queue as received.", body = DocumentDetail),
        (status = 404, description = "No such document.", body = ErrorBody),
        (status = 409, description = "Not failed or rejected_locally: `not_retryable`, naming \
                        what the document allows.", body = ErrorBody),
    ),
)]
pub(super) async fn retry(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id_from_path(path)?;
    let doc = retry_document(&state, id).await?;
    let detail = with_events(&state, &doc).await?;
    Ok((StatusCode::ACCEPTED, detail).into_response())
}

/// Sends a failed or locally rejected document through preparation and submission again
/// (the API's and the dashboard's retry).
pub(crate) async fn retry_document(
    state: &ApiState,
    id: crate::store::DocumentId,
) -> Result<DocumentRecord, ApiError> {
    let doc = find(state, id).await?;
    refuse_unless(state, &doc, Action::Retry, "not_retryable")?;
    let doc = state.store.documents().retry(id).await?;
    tracing::info!(
        document.id = id.0,
        "document {id} sent back to be prepared again"
    );
    Ok(doc)
}

/// `POST /v1/documents/{id}/notes` with `{"kind": "credit_note", "internal_id": "...",
/// "lines": [...]}`.
#[utoipa::path(
    post,
    path = "/v1/documents/{id}/notes",
    operation_id = "createNote",
    tag = "documents",
    params(("id" = i64, Path, description = "The valid original's id.", minimum = 1)),
    request_body = NoteRequest,
    responses(
        (status = 202, description = "The note, built from the original and stored to be sent \
                        (or the same note again: `created` is false).", body = AcceptedDocument),
        (status = 400, description = "A malformed request, or a line the original does not \
                        have.", body = ErrorBody),
        (status = 404, description = "No such document.", body = ErrorBody),
        (status = 409, description = "The original is not valid, or takes no notes: \
                        `not_adjustable`.", body = ErrorBody),
    ),
)]
pub(super) async fn create_note(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    _headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = id_from_path(path)?;
    let body = read_body(body, state.max_body_bytes)?;
    let request: NoteRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "$",
            format!(
                "a note request is {{\"kind\": \"credit_note\" | \"debit_note\" | \
                 \"refund_note\", \"internal_id\": \"...\", \"lines\"?: [{{\"index\": 0, \
                 \"quantity\"?: \"1\", \"unit_price\"?: \"10.00\"}}]}}: {e}"
            ),
        )
    })?;
    if request.internal_id.trim().is_empty() {
        return Err(ApiError::bad_request(
            "internal_id",
            "`internal_id` is required: the note's own number",
        ));
    }
    let inserted = create_note_for(&state, id, &request).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(AcceptedDocument::of(&inserted)),
    )
        .into_response())
}

/// Builds and stores the note `request` asks for from the valid document `id` (the API's and
/// the dashboard's notes).
pub(crate) async fn create_note_for(
    state: &ApiState,
    id: crate::store::DocumentId,
    request: &NoteRequest,
) -> Result<Inserted, ApiError> {
    let original = find(state, id).await?;
    refuse_unless(state, &original, request.kind.action(), "not_adjustable")?;
    // A repeated request (its answer was lost) is the same undated note: intake finds it.
    let (bytes, format) = build_note(&original, request)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "note_not_built", e.to_string()))?;
    let inserted = state.intake.submit(&bytes, Some(format)).await?;
    tracing::info!(
        original = id.0,
        note = inserted.document.id.0,
        "note {} built from document {id}",
        inserted.document.internal_id
    );
    Ok(inserted)
}

async fn find(state: &ApiState, id: crate::store::DocumentId) -> Result<DocumentRecord, ApiError> {
    match state.store.documents().get(id).await {
        Ok(doc) => Ok(doc),
        Err(StoreError::NotFound(_)) => {
            Err(ApiError::not_found(format!("no document with id {id}")))
        }
        Err(e) => Err(e.into()),
    }
}

/// A 409 naming the state and the steps it does allow, unless `action` is one of them.
fn refuse_unless(
    state: &ApiState,
    doc: &DocumentRecord,
    action: Action,
    code: &'static str,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    if allows(doc, action, now) {
        return Ok(());
    }
    let offered: Vec<String> = next_steps(doc, now)
        .iter()
        .map(|s| s.action.name().to_owned())
        .collect();
    Err(ApiError::new(
        StatusCode::CONFLICT,
        code,
        format!(
            "document {} is {}; it allows: {} (see its next_steps)",
            doc.id,
            doc.state,
            offered.join(", ")
        ),
    ))
}
