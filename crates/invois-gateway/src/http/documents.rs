//! `/v1/documents`: submit, correct, read, list, cancel.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use invois_client::Error as ClientError;
use invois_model::Format;
use serde_json::{Value, json};

use super::{ApiError, ApiState, MAX_DOCUMENTS_PER_REQUEST};
use crate::intake::MAX_KEY_FIELD_CHARS;
use crate::store::{
    DocumentEvent, DocumentFilter, DocumentId, DocumentKey, DocumentRecord, DocumentState,
    Inserted, ValidationOutcome, ValidationUpdate,
};

/// The longest cancellation reason MyInvois accepts.
const MAX_REASON_CHARS: usize = invois_api::documents::MAX_CANCEL_REASON_CHARS;

/// The most documents one list page holds.
const MAX_LIMIT: u32 = 1000;

/// `POST /v1/documents`: one document (the body is the document) or many
/// (`{"documents":[{"format":"json|xml","document":<string or object>}, ...]}`).
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
    Ok((StatusCode::ACCEPTED, axum::Json(accepted_view(&inserted))).into_response())
}

/// The entries of a many-document body, or `None` when the body is one document.
fn batch_entries(body: &[u8]) -> Result<Option<Vec<Value>>, ApiError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    // Anything that is not a JSON object with a `documents` member (and no UBL root) is one
    // document; intake explains what is wrong with it, if anything.
    let Ok(Value::Object(mut top)) = serde_json::from_slice::<Value>(body) else {
        return Ok(None);
    };
    if top.contains_key("_D") || top.contains_key("Invoice") || !top.contains_key("documents") {
        return Ok(None);
    }
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
        let outcome = match entry_bytes(index, entry) {
            Ok((bytes, declared)) => state
                .intake
                .submit(&bytes, declared)
                .await
                .map_err(ApiError::from)
                .map_err(|e| prefix_field(e, index)),
            Err(e) => Err(e),
        };
        results.push(match outcome {
            Ok(inserted) => {
                let mut view = accepted_view(&inserted);
                view["index"] = json!(index);
                view["status"] = json!(202);
                view
            }
            Err(e) => {
                failed += 1;
                let mut view = e.body();
                view["index"] = json!(index);
                view["status"] = json!(e.status.as_u16());
                view
            }
        });
    }
    let status = if failed == 0 {
        StatusCode::ACCEPTED
    } else {
        StatusCode::MULTI_STATUS
    };
    let accepted = results.len() - failed;
    Ok((
        status,
        axum::Json(json!({
            "accepted": accepted,
            "failed": failed,
            "documents": results,
        })),
    )
        .into_response())
}

/// Names the entry in an error's field: `documents[3]` or `documents[3].document: <path>`.
fn prefix_field(mut e: ApiError, index: usize) -> ApiError {
    e.field = Some(match e.field.take() {
        Some(f) => format!("documents[{index}].document: {f}"),
        None => format!("documents[{index}]"),
    });
    e
}

/// The bytes of one many-document entry and the format it declares.
fn entry_bytes(index: usize, entry: Value) -> Result<(Vec<u8>, Option<Format>), ApiError> {
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
    let declared = match entry.get("format") {
        None | Some(Value::Null) => None,
        Some(Value::String(f)) if f.eq_ignore_ascii_case("json") => Some(Format::Json),
        Some(Value::String(f)) if f.eq_ignore_ascii_case("xml") => Some(Format::Xml),
        Some(other) => {
            return Err(ApiError::bad_request(
                &at("format"),
                format!("`format` must be \"json\" or \"xml\", not {other}"),
            ));
        }
    };
    let bytes = match entry.remove("document") {
        Some(Value::String(text)) => text.into_bytes(),
        Some(object @ Value::Object(_)) => {
            if declared == Some(Format::Xml) {
                return Err(ApiError::bad_request(
                    &at("document"),
                    "an XML document must be sent as a string",
                ));
            }
            serde_json::to_vec(&object).map_err(|e| {
                ApiError::bad_request(&at("document"), format!("cannot re-encode: {e}"))
            })?
        }
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
    Ok((bytes, declared))
}

/// `POST /v1/documents/{issuer_tin}/{type}/{internal_id}/versions`: a corrected version.
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
    Ok((StatusCode::ACCEPTED, axum::Json(accepted_view(&inserted))).into_response())
}

/// `GET /v1/documents/{id}`.
pub(super) async fn get_by_id(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id_from_path(path)?;
    let doc = match state.store.get_document(id).await {
        Ok(doc) => doc,
        Err(crate::store::StoreError::NotFound(_)) => {
            return Err(ApiError::not_found(format!("no document with id {id}")));
        }
        Err(e) => return Err(e.into()),
    };
    with_events(&state, &doc).await
}

/// `GET /v1/documents/{issuer_tin}/{type}/{internal_id}`: the latest version.
pub(super) async fn get_by_key(
    State(state): State<ApiState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let key = key_from_path(path)?;
    let Some(doc) = state.store.find_document(&key).await? else {
        return Err(ApiError::not_found(format!(
            "no document {}/{}/{}",
            key.issuer_tin, key.type_code, key.internal_id
        )));
    };
    with_events(&state, &doc).await
}

async fn with_events(state: &ApiState, doc: &DocumentRecord) -> Result<Response, ApiError> {
    let events = state.store.document_events(doc.id).await?;
    let mut view = document_view(doc);
    view["events"] = Value::Array(events.iter().map(event_view).collect());
    Ok(axum::Json(view).into_response())
}

/// The query of `GET /v1/documents`. Every value arrives as text and is checked here, so a
/// bad one is named in the error.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    state: Option<String>,
    issuer_tin: Option<String>,
    received_from: Option<String>,
    received_before: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/documents?state=&issuer_tin=&received_from=&received_before=&after=&limit=`.
pub(super) async fn list(
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
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
    };
    let page = state.store.list_documents(&filter).await?;
    Ok(axum::Json(json!({
        "documents": page.items.iter().map(document_view).collect::<Vec<_>>(),
        "next": page.next.map(|n| n.0),
    }))
    .into_response())
}

/// `POST /v1/documents/{id}/cancel` with `{"reason": "..."}`.
pub(super) async fn cancel(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = id_from_path(path)?;
    if content_format(&headers)? != Format::Json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "a cancellation is JSON: send Content-Type: application/json and {\"reason\": \"...\"}",
        ));
    }
    let body = read_body(body, state.max_body_bytes)?;
    let reason = cancel_reason(&body)?;
    let doc = match state.store.get_document(id).await {
        Ok(doc) => doc,
        Err(crate::store::StoreError::NotFound(_)) => {
            return Err(ApiError::not_found(format!("no document with id {id}")));
        }
        Err(e) => return Err(e.into()),
    };
    if doc.state == DocumentState::Cancelled {
        // A repeated request (the first answer was lost): it is done.
        return with_events(&state, &doc).await;
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
    if let Err(e) = client.documents().cancel(&uuid, &reason).await {
        tracing::warn!(document.id = id.0, document.uuid = %uuid, error = %e, "cancel refused");
        return Err(cancel_error(&e));
    }
    tracing::info!(document.id = id.0, document.uuid = %uuid, "document {id} cancelled at MyInvois");
    let update = ValidationUpdate {
        uuid: uuid.clone(),
        outcome: ValidationOutcome::Cancelled,
    };
    if let Err(e) = state.store.record_validation_results(&[update]).await {
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
    let doc = state.store.get_document(id).await?;
    with_events(&state, &doc).await
}

fn cancel_reason(body: &[u8]) -> Result<String, ApiError> {
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
    Ok(reason)
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

fn id_from_path(path: Result<Path<String>, PathRejection>) -> Result<DocumentId, ApiError> {
    let Path(text) = path.map_err(|e| ApiError::bad_request("id", e.body_text()))?;
    positive("id", &text).map(DocumentId)
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

/// `GET /v1/documents/{issuer_tin}/{type}/{internal_id}/versions`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(super) struct VersionList {
    issuer_tin: String,
    type_code: String,
    internal_id: String,
    /// Oldest first; the last is the latest.
    versions: Vec<VersionView>,
}

/// One version in a [`VersionList`]: enough to tell why a correction followed it (its
/// state) and where its details are (`links.self`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(super) struct VersionView {
    id: i64,
    version: i64,
    state: &'static str,
    #[serde(rename = "final")]
    is_final: bool,
    uuid: Option<String>,
    received_at: String,
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
pub(super) async fn versions(
    State(state): State<ApiState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<axum::Json<VersionList>, ApiError> {
    let key = key_from_path(path)?;
    let versions = state.store.document_versions(&key).await?;
    if versions.is_empty() {
        return Err(ApiError::not_found(format!(
            "no document {}/{}/{}",
            key.issuer_tin, key.type_code, key.internal_id
        )));
    }
    Ok(axum::Json(VersionList {
        versions: versions.iter().map(VersionView::of).collect(),
        issuer_tin: key.issuer_tin,
        type_code: key.type_code,
        internal_id: key.internal_id,
    }))
}

/// What `POST` answers for each stored document.
fn accepted_view(inserted: &Inserted) -> Value {
    let d = &inserted.document;
    json!({
        "id": d.id.0,
        "issuer_tin": d.issuer_tin,
        "type_code": d.type_code,
        "internal_id": d.internal_id,
        "version": d.version,
        "state": d.state.as_str(),
        "created": inserted.created,
        "links": links(d),
    })
}

/// A document version as the API shows it.
pub(super) fn document_view(d: &DocumentRecord) -> Value {
    json!({
        "id": d.id.0,
        "issuer_tin": d.issuer_tin,
        "type_code": d.type_code,
        "internal_id": d.internal_id,
        "version": d.version,
        "format": d.format.as_str(),
        "state": d.state.as_str(),
        "final": d.state.is_final(),
        "uuid": d.uuid,
        "long_id": d.long_id,
        "validation_link": d.validation_link,
        "errors": d.errors,
        "last_error": d.last_error,
        "submission_id": d.submission_id.map(|s| s.0),
        "client_id": d.client_id,
        "on_behalf_of": d.on_behalf_of,
        "received_sha256": d.received_sha256,
        "document_hash": d.document_hash,
        "received_at": d.created_at.to_rfc3339(),
        "updated_at": d.updated_at.to_rfc3339(),
        "links": links(d),
    })
}

fn event_view(e: &DocumentEvent) -> Value {
    json!({ "id": e.id, "state": e.state.as_str(), "at": e.created_at.to_rfc3339() })
}
