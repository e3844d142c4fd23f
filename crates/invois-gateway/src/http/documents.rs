//! `/v1/documents`: submit, correct, read, list, cancel.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use invois_client::Error as ClientError;
use invois_model::Format;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::{ApiError, ApiState, MAX_DOCUMENTS_PER_REQUEST};
use crate::document_errors::DocumentError;
use crate::intake::MAX_KEY_FIELD_CHARS;
use crate::next_steps::{NextStep, next_steps};
use crate::store::{
    DocumentEvent, DocumentFilter, DocumentId, DocumentKey, DocumentRecord, DocumentState,
    Inserted, ValidationOutcome, ValidationUpdate,
};
use invois_model::simple::JsonTop;

/// The longest cancellation reason MyInvois accepts.
const MAX_REASON_CHARS: usize = invois_api::documents::MAX_CANCEL_REASON_CHARS;

/// The most documents one list page holds.
const MAX_LIMIT: u32 = 1000;

/// `POST /v1/documents`: one document (the body is the document) or many
/// (`{"documents":[{"format":"json|xml","document":<string or object>}, ...]}`).
#[utoipa::path(
    post,
    path = "/v1/documents",
    operation_id = "submitDocuments",
    tag = "documents",
    request_body(
        description = "One document (UBL JSON, UBL XML or invois document JSON) as the body, or \
                       many wrapped in `documents`.",
        content(
            (SubmitJson = "application/json"),
            (String = "application/xml"),
        ),
    ),
    responses(
        (status = 202, description = "One document stored (or already stored: `created` false), \
                        or every document of many stored.", body = AcceptedDocument),
        (status = "2XX", description = "Many documents: 202 when all were stored, 207 when some \
                        were not; one result per entry, in order.", body = BatchResponse),
        (status = 400, description = "The document is malformed or invalid.", body = ErrorBody),
        (status = 409, description = "The same key with different content.", body = ErrorBody),
        (status = 413, description = "The body is over the limit.", body = ErrorBody),
        (status = 415, description = "Not JSON or XML.", body = ErrorBody),
    ),
)]
pub(super) async fn submit(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let format = content_format(&headers)?;
    let body = read_body(body, state.max_body_bytes)?;
    if format == Format::Json
        && let Some(entries) = batch_entries(&body)?
    {
        return submit_many(&state, entries).await;
    }
    let inserted = state.intake.submit(&body, Some(format)).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(AcceptedDocument::of(&inserted)),
    )
        .into_response())
}

/// The entries of a many-document body, or `None` when the body is one document.
fn batch_entries(body: &[u8]) -> Result<Option<Vec<Value>>, ApiError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    // Anything that is not a JSON object with a `documents` member (and not UBL) is one
    // document; intake explains what is wrong with it, if anything. Only the top level is
    // read here, so a single document is parsed once, by intake.
    let is_batch =
        JsonTop::scan(body).is_ok_and(|top| top.is_object && !top.is_ubl() && top.has("documents"));
    if !is_batch {
        return Ok(None);
    }
    let Ok(Value::Object(mut top)) = serde_json::from_slice::<Value>(body) else {
        return Ok(None);
    };
    if let Some(other) = top.keys().find(|k| *k != "documents") {
        return Err(ApiError::bad_request(
            other,
            format!(
                "unexpected member `{other}`: a many-document body has only `documents`, an \
                 array of {{\"format\": \"json\" | \"xml\", \"document\": ...}}"
            ),
        ));
    }
    let Some(Value::Array(entries)) = top.remove("documents") else {
        return Err(ApiError::bad_request(
            "documents",
            "`documents` must be an array of {\"format\": \"json\" | \"xml\", \"document\": ...}",
        ));
    };
    if entries.is_empty() {
        return Err(ApiError::bad_request(
            "documents",
            "`documents` is empty: send at least one document",
        ));
    }
    if entries.len() > MAX_DOCUMENTS_PER_REQUEST {
        return Err(ApiError::bad_request(
            "documents",
            format!(
                "{} documents in one request; at most {MAX_DOCUMENTS_PER_REQUEST} are accepted \
                 (send the rest in further requests)",
                entries.len()
            ),
        ));
    }
    Ok(Some(entries))
}

async fn submit_many(state: &ApiState, entries: Vec<Value>) -> Result<Response, ApiError> {
    let mut results = Vec::with_capacity(entries.len());
    let mut failed = 0usize;
    for (index, entry) in entries.into_iter().enumerate() {
        let outcome = match read_entry(index, entry).and_then(|e| e.into_bytes(index)) {
            Ok((bytes, declared)) => state
                .intake
                .submit(&bytes, declared)
                .await
                .map_err(ApiError::from)
                .map_err(|e| prefix_field(e, index)),
            Err(e) => Err(e),
        };
        results.push(match outcome {
            Ok(inserted) => BatchResult {
                index,
                status: StatusCode::ACCEPTED.as_u16(),
                outcome: BatchOutcome::Accepted(AcceptedDocument::of(&inserted)),
            },
            Err(e) => {
                failed += 1;
                BatchResult {
                    index,
                    status: e.status.as_u16(),
                    outcome: BatchOutcome::Failed(e.body()),
                }
            }
        });
    }
    let status = if failed == 0 {
        StatusCode::ACCEPTED
    } else {
        StatusCode::MULTI_STATUS
    };
    let response = BatchResponse {
        accepted: results.len() - failed,
        failed,
        documents: results,
    };
    Ok((status, axum::Json(response)).into_response())
}

/// Names the entry in an error's field: `documents[3]` or `documents[3].document: <path>`.
fn prefix_field(mut e: ApiError, index: usize) -> ApiError {
    e.field = Some(match e.field.take() {
        Some(f) => format!("documents[{index}].document: {f}"),
        None => format!("documents[{index}]"),
    });
    e
}

/// One many-document entry, checked by hand rather than by [`BatchEntry`]'s `Deserialize`
/// so that the error names the member (`documents[3].format`) and says what is expected.
fn read_entry(index: usize, entry: Value) -> Result<BatchEntry, ApiError> {
    let at = |member: &str| format!("documents[{index}].{member}");
    let Value::Object(mut entry) = entry else {
        return Err(ApiError::bad_request(
            &format!("documents[{index}]"),
            "each entry must be an object {\"format\": \"json\" | \"xml\", \"document\": ...}",
        ));
    };
    if let Some(other) = entry.keys().find(|k| *k != "format" && *k != "document") {
        return Err(ApiError::bad_request(
            &at(other),
            format!("unexpected member `{other}`: an entry has only `format` and `document`"),
        ));
    }
    let format = match entry.get("format") {
        None | Some(Value::Null) => None,
        // Any case, as before: `Format`'s `FromStr`.
        Some(Value::String(f)) if f.parse::<Format>().is_ok() => f.parse::<Format>().ok(),
        Some(other) => {
            return Err(ApiError::bad_request(
                &at("format"),
                format!("`format` must be \"json\" or \"xml\", not {other}"),
            ));
        }
    };
    let document = match entry.remove("document") {
        Some(Value::String(text)) => EntryDocument::Text(text),
        Some(Value::Object(object)) => EntryDocument::Object(object),
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                &at("document"),
                "`document` is required: the document as a string (JSON or XML) or a JSON object",
            ));
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                &at("document"),
                "`document` must be a string (JSON or XML text) or a JSON object",
            ));
        }
    };
    Ok(BatchEntry { format, document })
}

impl BatchEntry {
    /// The entry's document bytes and the format it declares.
    fn into_bytes(self, index: usize) -> Result<(Vec<u8>, Option<Format>), ApiError> {
        let at = format!("documents[{index}].document");
        let declared = self.format;
        let bytes = match self.document {
            EntryDocument::Text(text) => text.into_bytes(),
            EntryDocument::Object(_) if declared == Some(Format::Xml) => {
                return Err(ApiError::bad_request(
                    &at,
                    "an XML document must be sent as a string",
                ));
            }
            EntryDocument::Object(object) => serde_json::to_vec(&object)
                .map_err(|e| ApiError::bad_request(&at, format!("cannot re-encode: {e}")))?,
        };
        Ok((bytes, declared))
    }
}

/// `POST /v1/documents/{issuer_tin}/{type}/{internal_id}/versions`: a corrected version.
#[utoipa::path(
    post,
    path = "/v1/documents/{issuer_tin}/{type}/{internal_id}/versions",
    operation_id = "newVersion",
    tag = "documents",
    params(
        ("issuer_tin" = String, Path, description = "The supplier's TIN."),
        ("type" = String, Path, description = "The e-invoice type code, e.g. 01."),
        ("internal_id" = String, Path, description = "The ERP's internal id, percent-encoded."),
    ),
    request_body(
        description = "The corrected document, with the same supplier TIN, type and internal id.",
        content((Object = "application/json"), (String = "application/xml")),
    ),
    responses(
        (status = 202, description = "The new version is stored.", body = AcceptedDocument),
        (status = 400, description = "Malformed, invalid, or a different key.", body = ErrorBody),
        (status = 404, description = "No such document.", body = ErrorBody),
        (status = 409, description = "The latest version is not invalid or rejected_locally \
                        (`not_correctable`).", body = ErrorBody),
    ),
)]
pub(super) async fn new_version(
    State(state): State<ApiState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let key = key_from_path(path)?;
    let format = content_format(&headers)?;
    let body = read_body(body, state.max_body_bytes)?;
    let inserted = state.intake.correct(&key, &body, Some(format)).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(AcceptedDocument::of(&inserted)),
    )
        .into_response())
}

/// `GET /v1/documents/{id}`.
#[utoipa::path(
    get,
    path = "/v1/documents/{id}",
    operation_id = "getDocument",
    tag = "documents",
    params(("id" = i64, Path, description = "The document version's id.", minimum = 1)),
    responses(
        (status = 200, description = "The document version, with its events.", body = DocumentDetail),
        (status = 404, description = "No such document.", body = ErrorBody),
    ),
)]
pub(super) async fn get_by_id(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<axum::Json<DocumentDetail>, ApiError> {
    let id = id_from_path(path)?;
    let doc = match state.store.documents().get(id).await {
        Ok(doc) => doc,
        Err(crate::store::StoreError::NotFound(_)) => {
            return Err(ApiError::not_found(format!("no document with id {id}")));
        }
        Err(e) => return Err(e.into()),
    };
    with_events(&state, &doc).await
}

/// `GET /v1/documents/{issuer_tin}/{type}/{internal_id}`: the latest version.
#[utoipa::path(
    get,
    path = "/v1/documents/{issuer_tin}/{type}/{internal_id}",
    operation_id = "getDocumentByKey",
    tag = "documents",
    params(
        ("issuer_tin" = String, Path, description = "The supplier's TIN."),
        ("type" = String, Path, description = "The e-invoice type code, e.g. 01."),
        ("internal_id" = String, Path, description = "The ERP's internal id, percent-encoded."),
    ),
    responses(
        (status = 200, description = "The latest version, with its events.", body = DocumentDetail),
        (status = 404, description = "No such document.", body = ErrorBody),
    ),
)]
pub(super) async fn get_by_key(
    State(state): State<ApiState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<axum::Json<DocumentDetail>, ApiError> {
    let key = key_from_path(path)?;
    let Some(doc) = state.store.documents().find(&key).await? else {
        return Err(no_document(&key));
    };
    with_events(&state, &doc).await
}

pub(super) async fn with_events(
    state: &ApiState,
    doc: &DocumentRecord,
) -> Result<axum::Json<DocumentDetail>, ApiError> {
    let events = state.store.documents().events(doc.id).await?;
    Ok(axum::Json(DocumentDetail {
        document: DocumentView::of(doc, state.clock.now()),
        events: events.iter().map(EventView::of).collect(),
    }))
}

/// The query of `GET /v1/documents`. Every value arrives as text and is checked here, so a
/// bad one is named in the error.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only documents in this state.
    #[param(value_type = Option<DocumentStateName>)]
    state: Option<String>,
    /// Only documents of this supplier TIN.
    issuer_tin: Option<String>,
    /// Only documents received at or after this time (RFC 3339).
    #[param(value_type = Option<chrono::DateTime<Utc>>)]
    received_from: Option<String>,
    /// Only documents received before this time (RFC 3339).
    #[param(value_type = Option<chrono::DateTime<Utc>>)]
    received_before: Option<String>,
    /// The previous page's `next`.
    #[param(value_type = Option<i64>, minimum = 1)]
    after: Option<String>,
    /// Page size, 1 to 1000.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// `GET /v1/documents?state=&issuer_tin=&received_from=&received_before=&after=&limit=`.
#[utoipa::path(
    get,
    path = "/v1/documents",
    operation_id = "listDocuments",
    tag = "documents",
    params(ListQuery),
    responses(
        (status = 200, description = "One page, oldest first; `next` is null on the last page.",
         body = DocumentPage),
        (status = 400, description = "A bad query parameter.", body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<axum::Json<DocumentPage>, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    let filter = DocumentFilter {
        state: q
            .state
            .as_deref()
            .map(|s| {
                DocumentState::parse(s.trim()).ok_or_else(|| {
                    ApiError::bad_request(
                        "state",
                        format!(
                            "unknown state `{s}`; one of {}",
                            DocumentState::ALL
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })
            })
            .transpose()?,
        issuer_tin: q
            .issuer_tin
            .as_deref()
            .map(|t| key_field("issuer_tin", t))
            .transpose()?,
        received_from: q
            .received_from
            .as_deref()
            .map(|t| instant("received_from", t))
            .transpose()?,
        received_before: q
            .received_before
            .as_deref()
            .map(|t| instant("received_before", t))
            .transpose()?,
        after: q
            .after
            .as_deref()
            .map(|t| positive("after", t).map(DocumentId))
            .transpose()?,
        limit: q
            .limit
            .as_deref()
            .map(|t| limit("limit", t))
            .transpose()?
            .unwrap_or(0),
        ..DocumentFilter::default()
    };
    let page = state.store.documents().list(&filter).await?;
    Ok(axum::Json(DocumentPage {
        documents: page
            .items
            .iter()
            .map(|d| DocumentView::of(d, state.clock.now()))
            .collect(),
        next: page.next.map(|n| n.0),
    }))
}

/// `POST /v1/documents/{id}/cancel` with `{"reason": "..."}`.
#[utoipa::path(
    post,
    path = "/v1/documents/{id}/cancel",
    operation_id = "cancelDocument",
    tag = "documents",
    params(("id" = i64, Path, description = "The document version's id.", minimum = 1)),
    request_body = CancelRequest,
    responses(
        (status = 200, description = "Cancelled (or already cancelled).", body = DocumentDetail),
        (status = 400, description = "A missing, empty or too long reason.", body = ErrorBody),
        (status = 404, description = "No such document.", body = ErrorBody),
        (status = 409, description = "Not valid, or MyInvois refused: cancel_period_over, \
                        incorrect_state, active_referencing_documents.", body = ErrorBody),
        (status = 502, description = "MyInvois could not be reached or refused.", body = ErrorBody),
    ),
)]
pub(super) async fn cancel(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<DocumentDetail>, ApiError> {
    let id = id_from_path(path)?;
    if content_format(&headers)? != Format::Json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "a cancellation is JSON: send Content-Type: application/json and {\"reason\": \"...\"}",
        ));
    }
    let body = read_body(body, state.max_body_bytes)?;
    let CancelRequest { reason } = cancel_reason(&body)?;
    let doc = cancel_document(&state, id, &reason).await?;
    with_events(&state, &doc).await
}

/// Cancels the valid document `id` at MyInvois and records it (the API's and the dashboard's
/// cancellation). A document already cancelled is returned as it is.
pub(crate) async fn cancel_document(
    state: &ApiState,
    id: DocumentId,
    reason: &str,
) -> Result<DocumentRecord, ApiError> {
    let reason = reason.trim();
    check_reason(reason)?;
    let doc = match state.store.documents().get(id).await {
        Ok(doc) => doc,
        Err(crate::store::StoreError::NotFound(_)) => {
            return Err(ApiError::not_found(format!("no document with id {id}")));
        }
        Err(e) => return Err(e.into()),
    };
    if doc.state == DocumentState::Cancelled {
        // A repeated request (the first answer was lost): it is done.
        return Ok(doc);
    }
    if let Some(deadline) =
        crate::next_steps::cancellation_deadline(&doc).filter(|d| state.clock.now() >= *d)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cancel_period_over",
            format!(
                "document {id} was validated more than 72 hours ago (the window closed at \
                 {deadline}); adjust it with a credit note, debit note or refund note instead: \
                 POST /v1/documents/{id}/notes"
            ),
        ));
    }
    let uuid = match (&doc.state, &doc.uuid) {
        (DocumentState::Valid, Some(uuid)) => uuid.clone(),
        _ => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_cancellable",
                format!(
                    "document {id} is {}; only a valid document (one MyInvois validated, with a \
                     uuid) can be cancelled",
                    doc.state
                ),
            ));
        }
    };
    let client = state
        .clients
        .client(doc.on_behalf_of.as_deref())
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "myinvois_login",
                format!("cannot log in to MyInvois for this document: {e}"),
            )
        })?;
    if let Err(e) = client.documents().cancel(&uuid, reason).await {
        tracing::warn!(document.id = id.0, document.uuid = %uuid, error = %e, "cancel refused");
        return Err(cancel_error(&e));
    }
    tracing::info!(document.id = id.0, document.uuid = %uuid, "document {id} cancelled at MyInvois");
    let update = ValidationUpdate {
        uuid: uuid.clone(),
        outcome: ValidationOutcome::Cancelled,
    };
    if let Err(e) = state
        .store
        .submissions()
        .record_validation_results(&[update])
        .await
    {
        tracing::error!(document.id = id.0, error = %e, "cancelled at MyInvois but not recorded");
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cancelled_not_recorded",
            format!(
                "MyInvois cancelled document {uuid}, but the gateway could not record it; it will \
                 show as valid until recorded (repeating the request is safe)"
            ),
        ));
    }
    Ok(state.store.documents().get(id).await?)
}

/// The cancellation body, checked by hand rather than by [`CancelRequest`]'s `Deserialize`
/// so that an error names the member at fault.
fn cancel_reason(body: &[u8]) -> Result<CancelRequest, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let Value::Object(object) = value else {
        return Err(ApiError::bad_request(
            "$",
            "the body must be a JSON object {\"reason\": \"...\"}",
        ));
    };
    if let Some(other) = object.keys().find(|k| *k != "reason") {
        return Err(ApiError::bad_request(
            other,
            format!("unexpected member `{other}`: a cancellation has only `reason`"),
        ));
    }
    let reason = match object.get("reason") {
        Some(Value::String(r)) => r.trim().to_owned(),
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "reason",
                "`reason` is required: why the document is cancelled (1 to 300 characters)",
            ));
        }
        Some(_) => {
            return Err(ApiError::bad_request("reason", "`reason` must be a string"));
        }
    };
    check_reason(&reason)?;
    Ok(CancelRequest { reason })
}

/// MyInvois takes a cancellation reason of 1 to 300 characters.
fn check_reason(reason: &str) -> Result<(), ApiError> {
    let chars = reason.chars().count();
    if chars == 0 {
        return Err(ApiError::bad_request(
            "reason",
            "`reason` is empty: MyInvois requires a reason (1 to 300 characters)",
        ));
    }
    if chars > MAX_REASON_CHARS {
        return Err(ApiError::bad_request(
            "reason",
            format!("`reason` is {chars} characters; MyInvois accepts at most {MAX_REASON_CHARS}"),
        ));
    }
    Ok(())
}

/// A MyInvois refusal of a cancellation, as the ERP should see it.
fn cancel_error(e: &ClientError) -> ApiError {
    if let ClientError::Http(f) = e {
        let theirs = f.message().unwrap_or("").to_owned();
        let (status, code, message) = match f.code() {
            Some("OperationPeriodOver") => (
                StatusCode::CONFLICT,
                "cancel_period_over",
                format!(
                    "MyInvois refused: the 72-hour cancellation period after validation is over \
                     ({theirs}); issue a credit note instead"
                ),
            ),
            Some("IncorrectState") => (
                StatusCode::CONFLICT,
                "incorrect_state",
                format!(
                    "MyInvois refused: the document is not in a state that can be cancelled \
                     ({theirs})"
                ),
            ),
            Some("ActiveReferencingDocuments") => (
                StatusCode::CONFLICT,
                "active_referencing_documents",
                format!(
                    "MyInvois refused: valid documents reference this one; cancel those first \
                     ({theirs})"
                ),
            ),
            _ if f.status == 429 => (
                StatusCode::SERVICE_UNAVAILABLE,
                "rate_limited",
                "MyInvois' rate limit for cancellations is exhausted; retry later".to_owned(),
            ),
            _ => (
                StatusCode::BAD_GATEWAY,
                "myinvois_error",
                format!("MyInvois refused the cancellation: {f}"),
            ),
        };
        return ApiError::new(status, code, message);
    }
    match e {
        ClientError::InvalidRequest(m) => ApiError::bad_request("reason", m.clone()),
        ClientError::Transport { .. } | ClientError::Decode { .. } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "myinvois_unavailable",
            format!(
                "the cancellation may or may not have reached MyInvois ({e}); repeat the request \
                 to find out"
            ),
        ),
        ClientError::Budget(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "rate_limited",
            format!("the rate budget could not be read ({e}); retry later"),
        ),
        _ => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "myinvois_error",
            format!("the cancellation failed: {e}"),
        ),
    }
}

/// The document format a Content-Type names.
pub(super) fn content_format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let unsupported = |what: String| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("{what}: send Content-Type: application/json or application/xml"),
        )
    };
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported("the Content-Type header is missing".to_owned()));
    };
    let text = value
        .to_str()
        .map_err(|_| unsupported("the Content-Type header is not ASCII".to_owned()))?;
    let media = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/json" || media.ends_with("+json") {
        Ok(Format::Json)
    } else if media == "application/xml" || media == "text/xml" || media.ends_with("+xml") {
        Ok(Format::Xml)
    } else {
        Err(unsupported(format!(
            "Content-Type `{media}` is not accepted"
        )))
    }
}

pub(super) fn read_body(
    body: Result<Bytes, BytesRejection>,
    max: usize,
) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the request body is over the gateway's limit of {max} bytes; send fewer \
                     documents per request"
                ),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                format!(
                    "the request body could not be read: {}",
                    rejection.body_text()
                ),
            )
        }
    })
}

pub(super) fn query_error(rejection: QueryRejection) -> ApiError {
    // serde_urlencoded names the offending parameter in its message.
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "bad_query",
        format!("{}; see /openapi.json", rejection.body_text()),
    )
}

pub(super) fn id_from_path(
    path: Result<Path<String>, PathRejection>,
) -> Result<DocumentId, ApiError> {
    let Path(text) = path.map_err(|e| ApiError::bad_request("id", e.body_text()))?;
    positive("id", &text).map(DocumentId)
}

/// The 404 for a key nothing is stored under.
fn no_document(key: &DocumentKey) -> ApiError {
    ApiError::not_found(format!(
        "no document {}/{}/{}",
        key.issuer_tin, key.type_code, key.internal_id
    ))
}

fn key_from_path(
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<DocumentKey, ApiError> {
    let Path((issuer_tin, type_code, internal_id)) =
        path.map_err(|e| ApiError::bad_request("path", e.body_text()))?;
    Ok(DocumentKey {
        issuer_tin: key_field("issuer_tin", &issuer_tin)?,
        type_code: key_field("type", &type_code)?,
        internal_id: key_field("internal_id", &internal_id)?,
    })
}

fn key_field(name: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::bad_request(name, format!("`{name}` is empty")));
    }
    let chars = value.chars().count();
    if chars > MAX_KEY_FIELD_CHARS {
        return Err(ApiError::bad_request(
            name,
            format!("`{name}` is {chars} characters; at most {MAX_KEY_FIELD_CHARS}"),
        ));
    }
    Ok(value.to_owned())
}

pub(super) fn positive(name: &str, text: &str) -> Result<i64, ApiError> {
    match text.trim().parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ApiError::bad_request(
            name,
            format!("`{name}` must be a positive integer, not `{}`", clip(text)),
        )),
    }
}

pub(super) fn limit(name: &str, text: &str) -> Result<u32, ApiError> {
    match text.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(
            name,
            format!(
                "`{name}` must be an integer from 1 to {MAX_LIMIT}, not `{}`",
                clip(text)
            ),
        )),
    }
}

fn instant(name: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::bad_request(
                name,
                format!(
                    "`{name}` must be an RFC 3339 time such as 2026-03-01T08:00:00Z, not `{}` ({e})",
                    clip(text)
                ),
            )
        })
}

/// At most 60 characters of a value echoed in an error.
fn clip(text: &str) -> String {
    let mut s: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        s.push('…');
    }
    s
}

/// Where a document version's neighbours are, in every answer about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(super) struct Links {
    /// This version, by id.
    #[serde(rename = "self")]
    this: String,
    /// The latest version, by key.
    latest: String,
    /// Every version (`GET`), or a corrected one (`POST`).
    versions: String,
    /// Cancellation at MyInvois (a valid version only).
    cancel: String,
}

fn links(doc: &DocumentRecord) -> Links {
    let key = super::key_path(&DocumentKey {
        issuer_tin: doc.issuer_tin.clone(),
        type_code: doc.type_code.clone(),
        internal_id: doc.internal_id.clone(),
    });
    Links {
        this: format!("/v1/documents/{}", doc.id),
        versions: format!("{key}/versions"),
        latest: key,
        cancel: format!("/v1/documents/{}/cancel", doc.id),
    }
}

/// The states a document goes through, as the API names them (schema only: handlers use
/// [`DocumentState`], and a test checks the two agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "never built: it describes DocumentState::as_str")
)]
pub(super) enum DocumentStateName {
    Received,
    Prepared,
    RejectedLocally,
    Batched,
    Submitted,
    Valid,
    Invalid,
    Cancelled,
    Failed,
}

/// `GET /v1/documents/{issuer_tin}/{type}/{internal_id}/versions`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct VersionList {
    issuer_tin: String,
    type_code: String,
    internal_id: String,
    /// Oldest first; the last is the latest.
    versions: Vec<VersionView>,
}

/// One version in a [`VersionList`]: enough to tell why a correction followed it (its
/// state) and where its details are (`links.self`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct VersionView {
    id: i64,
    version: i64,
    #[schema(value_type = DocumentStateName)]
    state: &'static str,
    /// Whether the state is final (nothing more will happen to this version).
    #[serde(rename = "final")]
    is_final: bool,
    uuid: Option<String>,
    #[schema(format = DateTime)]
    received_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    links: Links,
}

impl VersionView {
    fn of(d: &DocumentRecord) -> VersionView {
        VersionView {
            id: d.id.0,
            version: d.version,
            state: d.state.as_str(),
            is_final: d.state.is_final(),
            uuid: d.uuid.clone(),
            received_at: d.created_at.to_rfc3339(),
            updated_at: d.updated_at.to_rfc3339(),
            links: links(d),
        }
    }
}

/// `GET /v1/documents/{issuer_tin}/{type}/{internal_id}/versions`: every version, oldest
/// first (the `links.versions` of every answer points here).
#[utoipa::path(
    get,
    path = "/v1/documents/{issuer_tin}/{type}/{internal_id}/versions",
    operation_id = "listVersions",
    tag = "documents",
    params(
        ("issuer_tin" = String, Path, description = "The supplier's TIN."),
        ("type" = String, Path, description = "The e-invoice type code, e.g. 01."),
        ("internal_id" = String, Path, description = "The ERP's internal id, percent-encoded."),
    ),
    responses(
        (status = 200, description = "Every version, oldest first.", body = VersionList),
        (status = 404, description = "No such document.", body = ErrorBody),
    ),
)]
pub(super) async fn versions(
    State(state): State<ApiState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<axum::Json<VersionList>, ApiError> {
    let key = key_from_path(path)?;
    let versions = state.store.documents().versions(&key).await?;
    if versions.is_empty() {
        return Err(no_document(&key));
    }
    Ok(axum::Json(VersionList {
        versions: versions.iter().map(VersionView::of).collect(),
        issuer_tin: key.issuer_tin,
        type_code: key.type_code,
        internal_id: key.internal_id,
    }))
}

/// What `POST` answers for each stored document.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct AcceptedDocument {
    id: i64,
    issuer_tin: String,
    type_code: String,
    internal_id: String,
    version: i64,
    #[schema(value_type = DocumentStateName)]
    state: &'static str,
    /// False when the same document was already stored (an idempotent repeat).
    created: bool,
    links: Links,
}

impl AcceptedDocument {
    pub(super) fn of(inserted: &Inserted) -> AcceptedDocument {
        let d = &inserted.document;
        AcceptedDocument {
            id: d.id.0,
            issuer_tin: d.issuer_tin.clone(),
            type_code: d.type_code.clone(),
            internal_id: d.internal_id.clone(),
            version: d.version,
            state: d.state.as_str(),
            created: inserted.created,
            links: links(d),
        }
    }
}

/// A document version as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct DocumentView {
    id: i64,
    issuer_tin: String,
    type_code: String,
    internal_id: String,
    version: i64,
    /// `json` or `xml`, as received.
    format: &'static str,
    #[schema(value_type = DocumentStateName)]
    state: &'static str,
    /// Whether the state is final.
    #[serde(rename = "final")]
    is_final: bool,
    uuid: Option<String>,
    long_id: Option<String>,
    validation_link: Option<String>,
    /// Why it failed, one entry per error, whichever stage found it (empty otherwise).
    errors: Vec<DocumentError>,
    /// What can be done with it now, each with the request that does it.
    next_steps: Vec<NextStep>,
    last_error: Option<String>,
    submission_id: Option<i64>,
    client_id: String,
    on_behalf_of: Option<String>,
    received_sha256: String,
    document_hash: Option<String>,
    #[schema(format = DateTime)]
    received_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    links: Links,
}

impl DocumentView {
    pub(super) fn of(d: &DocumentRecord, now: DateTime<Utc>) -> DocumentView {
        DocumentView {
            id: d.id.0,
            issuer_tin: d.issuer_tin.clone(),
            type_code: d.type_code.clone(),
            internal_id: d.internal_id.clone(),
            version: d.version,
            format: d.format.as_lowercase(),
            state: d.state.as_str(),
            is_final: d.state.is_final(),
            uuid: d.uuid.clone(),
            long_id: d.long_id.clone(),
            validation_link: d.validation_link.clone(),
            errors: DocumentError::of(d),
            next_steps: next_steps(d, now),
            last_error: d.last_error.clone(),
            submission_id: d.submission_id.map(|s| s.0),
            client_id: d.client_id.clone(),
            on_behalf_of: d.on_behalf_of.clone(),
            received_sha256: d.received_sha256.clone(),
            document_hash: d.document_hash.clone(),
            received_at: d.created_at.to_rfc3339(),
            updated_at: d.updated_at.to_rfc3339(),
            links: links(d),
        }
    }
}

/// One document version with every status change it went through.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct DocumentDetail {
    #[serde(flatten)]
    document: DocumentView,
    /// Every status change, oldest first.
    events: Vec<EventView>,
}

/// One status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(super) struct EventView {
    id: i64,
    #[schema(value_type = DocumentStateName)]
    state: &'static str,
    #[schema(format = DateTime)]
    at: String,
}

impl EventView {
    fn of(e: &DocumentEvent) -> EventView {
        EventView {
            id: e.id,
            state: e.state.as_str(),
            at: e.created_at.to_rfc3339(),
        }
    }
}

/// One page of `GET /v1/documents`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct DocumentPage {
    documents: Vec<DocumentView>,
    /// Pass as `after` for the next page; null on the last page.
    next: Option<i64>,
}

/// A JSON `POST /v1/documents` body: many documents, or one (schema only: the handler tells
/// them apart by the `documents` member, [`batch_entries`]).
#[derive(Debug, Clone, PartialEq, ToSchema)]
#[serde(untagged)]
#[expect(dead_code, reason = "never built: it describes what submit reads")]
pub(super) enum SubmitJson {
    /// Many documents.
    Many(BatchRequest),
    /// One document: UBL JSON (with `_D`) or invois document JSON.
    #[schema(value_type = Object)]
    One(serde_json::Map<String, Value>),
}

/// A many-document `POST /v1/documents` body. The handler reads the entries one by one
/// ([`read_entry`]) so that one bad entry fails alone, with an error naming
/// `documents[i].<member>`, while the rest are stored.
#[derive(Debug, Clone, PartialEq, ToSchema)]
pub(super) struct BatchRequest {
    /// 1 to 1,000 entries.
    #[schema(min_items = 1, max_items = 1000)]
    documents: Vec<BatchEntry>,
}

/// One entry of a [`BatchRequest`].
#[derive(Debug, Clone, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchEntry {
    /// Checked against the content when given; detected when not.
    #[schema(schema_with = entry_format_schema)]
    pub(super) format: Option<Format>,
    /// The document as text (JSON or XML), or a JSON document inline.
    pub(super) document: EntryDocument,
}

/// A [`BatchEntry`]'s `format`: the one [`Format`] enum in this API's lowercase spelling,
/// described by hand because `ToSchema` cannot be derived for another crate's type.
fn entry_format_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(
            "Checked against the content when given; detected when not.",
        ))
        .enum_values(Some([
            Some(Format::Json.as_lowercase()),
            Some(Format::Xml.as_lowercase()),
            None,
        ]))
        .into()
}

/// A [`BatchEntry`]'s document: text, or a JSON object.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(untagged)]
pub(super) enum EntryDocument {
    /// JSON or XML text.
    Text(String),
    /// A JSON document inline.
    #[schema(value_type = Object)]
    Object(serde_json::Map<String, Value>),
}

/// The answer to a many-document `POST /v1/documents`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct BatchResponse {
    /// Entries stored.
    accepted: usize,
    /// Entries not stored.
    failed: usize,
    /// One result per entry, in order.
    documents: Vec<BatchResult>,
}

/// One entry's result: its stored document or its error, with its own status.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct BatchResult {
    /// The entry's position in `documents`.
    index: usize,
    /// 202 when stored; otherwise the status the error would have had alone.
    status: u16,
    #[serde(flatten)]
    outcome: BatchOutcome,
}

/// What became of one entry.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub(super) enum BatchOutcome {
    /// Stored.
    Accepted(AcceptedDocument),
    /// Not stored.
    Failed(ErrorBody),
}

/// The body of `POST /v1/documents/{id}/cancel`. Read by [`cancel_reason`], which names the
/// offending member in its errors.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CancelRequest {
    /// Why the document is cancelled: 1 to 300 characters.
    #[schema(min_length = 1, max_length = 300)]
    pub(super) reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_names_every_document_state() {
        use DocumentStateName::*;
        let named = [
            Received,
            Prepared,
            RejectedLocally,
            Batched,
            Submitted,
            Valid,
            Invalid,
            Cancelled,
            Failed,
        ]
        .map(|n| serde_json::to_value(n).unwrap());
        let states: Vec<Value> = DocumentState::ALL
            .iter()
            .map(|s| Value::from(s.as_str()))
            .collect();
        assert_eq!(named.to_vec(), states);
    }
}
