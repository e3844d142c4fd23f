//! `/v1/received`: documents other taxpayers issued to the gateway's taxpayer, each with its
//! rejection deadline; the ERP accepts or rejects them.
//!
//! A rejection is asked of MyInvois (Reject Document) and recorded here; it is possible only
//! while the document is `Valid` and within 72 hours of its validation, once. An acceptance
//! is recorded here only: MyInvois has no acceptance call, and a document nobody rejects
//! within the window simply stands.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use invois_api::DocumentStatus;
use invois_api::ids::validation_link;
use invois_client::Error as ClientError;
use invois_model::Format;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::documents::{content_format, limit, positive, query_error, read_body};
use super::error::ErrorBody;
use super::{ApiError, ApiState};
use crate::store::{
    Decision, DecisionFilter, ReceivedEvent, ReceivedFilter, ReceivedRecord, StoreError,
};

/// The longest rejection reason the gateway passes on. MyInvois states no limit for a
/// rejection reason; the cancellation's is the one it publishes for the same field, so a
/// reason within it is never cut.
const MAX_REASON_CHARS: usize = invois_api::documents::MAX_CANCEL_REASON_CHARS;

/// The longest uuid looked up (MyInvois' are 26 characters).
const MAX_UUID_CHARS: usize = 64;

/// A received document as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct ReceivedView {
    /// The gateway's row id (page with it; the routes address documents by uuid).
    id: i64,
    /// MyInvois' uuid.
    uuid: String,
    /// The supplier's submission.
    submission_uid: String,
    /// The long id, once valid.
    long_id: Option<String>,
    /// The portal page showing the document, once valid.
    validation_link: Option<String>,
    /// The supplier's number for it.
    internal_id: String,
    /// `Invoice`, `Credit Note`, ...
    type_name: String,
    /// `1.0`, `1.1`, ...
    type_version: String,
    /// The supplier's TIN.
    issuer_tin: String,
    /// The supplier's name, if listed.
    issuer_name: Option<String>,
    /// The buyer's TIN (the gateway's taxpayer), if listed.
    receiver_tin: Option<String>,
    /// The buyer's name, if listed.
    receiver_name: Option<String>,
    /// MyInvois' status, lower case: `valid` or `cancelled` (a buyer sees no other).
    #[schema(example = "valid")]
    status: String,
    /// When the supplier issued it.
    issued_at: DateTime<Utc>,
    /// When MyInvois received it.
    submitted_at: DateTime<Utc>,
    /// When MyInvois validated it: the rejection window starts here.
    validated_at: Option<DateTime<Utc>>,
    /// When its supplier cancelled it.
    cancelled_at: Option<DateTime<Utc>>,
    /// When a rejection was requested (through the gateway or the portal).
    reject_requested_at: Option<DateTime<Utc>>,
    /// The reason MyInvois lists for a cancellation or rejection.
    status_reason: Option<String>,
    /// Total sales (MYR, decimal text).
    total_sales: Option<String>,
    /// Total discount.
    total_discount: Option<String>,
    /// Net amount.
    net_amount: Option<String>,
    /// Total payable.
    total: Option<String>,
    /// The last moment a rejection is accepted: validation plus 72 hours.
    reject_deadline: Option<DateTime<Utc>>,
    /// Whether `POST .../reject` can still succeed now: valid, undecided, before the
    /// deadline.
    rejectable: bool,
    /// The ERP's decision: `accepted`, `rejected`, or null while undecided.
    #[schema(example = "rejected")]
    decision: Option<&'static str>,
    /// Why it was rejected.
    decision_reason: Option<String>,
    /// When the decision was recorded.
    decided_at: Option<DateTime<Utc>>,
    /// When the gateway found it.
    first_seen_at: DateTime<Utc>,
    /// When the gateway last changed it.
    updated_at: DateTime<Utc>,
    /// Where to read, reject and accept it.
    links: ReceivedLinks,
}

/// Where a received document's routes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(super) struct ReceivedLinks {
    /// This document.
    #[serde(rename = "self")]
    this: String,
    /// Its rejection (while `rejectable`).
    reject: String,
    /// Its acceptance.
    accept: String,
}

impl ReceivedView {
    fn of(r: &ReceivedRecord, now: DateTime<Utc>, portal: &str) -> ReceivedView {
        let d = &r.document;
        let this = format!("/v1/received/{}", d.uuid);
        ReceivedView {
            id: r.id,
            uuid: d.uuid.clone(),
            submission_uid: d.submission_uid.clone(),
            long_id: d.long_id.clone(),
            validation_link: match (d.status, &d.long_id) {
                (DocumentStatus::Valid, Some(long_id)) => {
                    Some(validation_link(portal, &d.uuid, long_id))
                }
                _ => None,
            },
            internal_id: d.internal_id.clone(),
            type_name: d.type_name.clone(),
            type_version: d.type_version.clone(),
            issuer_tin: d.issuer_tin.clone(),
            issuer_name: d.issuer_name.clone(),
            receiver_tin: d.receiver_tin.clone(),
            receiver_name: d.receiver_name.clone(),
            status: d.status.as_str().to_ascii_lowercase(),
            issued_at: d.issued_at,
            submitted_at: d.submitted_at,
            validated_at: d.validated_at,
            cancelled_at: d.cancelled_at,
            reject_requested_at: d.reject_requested_at,
            status_reason: d.status_reason.clone(),
            total_sales: d.total_sales.clone(),
            total_discount: d.total_discount.clone(),
            net_amount: d.net_amount.clone(),
            total: d.total.clone(),
            reject_deadline: r.reject_deadline,
            rejectable: rejection_refused(r, now).is_none(),
            decision: r.decision.map(Decision::as_str),
            decision_reason: r.decision_reason.clone(),
            decided_at: r.decided_at,
            first_seen_at: r.first_seen_at,
            updated_at: r.updated_at,
            links: ReceivedLinks {
                reject: format!("{this}/reject"),
                accept: format!("{this}/accept"),
                this,
            },
        }
    }
}

/// One thing that happened to a received document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(super) struct ReceivedEventView {
    /// The event's id (`received_event_id` in its webhook).
    id: i64,
    /// `received`, `rejected` or `cancelled`.
    #[schema(example = "received")]
    kind: &'static str,
    /// When the gateway recorded it.
    at: DateTime<Utc>,
}

impl ReceivedEventView {
    fn of(e: &ReceivedEvent) -> ReceivedEventView {
        ReceivedEventView {
            id: e.id,
            kind: e.kind.as_str(),
            at: e.created_at,
        }
    }
}

/// A received document with its history.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct ReceivedDetail {
    #[serde(flatten)]
    document: ReceivedView,
    /// What happened to it, oldest first.
    events: Vec<ReceivedEventView>,
}

/// One page of `GET /v1/received`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct ReceivedList {
    /// Oldest first.
    documents: Vec<ReceivedView>,
    /// Pass as `after` for the next page; null on the last page.
    next: Option<i64>,
}

/// The body of `POST /v1/received/{uuid}/reject`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RejectRequest {
    /// Why the document is rejected (for example a wrong SST number or quantity): 1 to 300
    /// characters. The supplier sees it.
    #[schema(min_length = 1, max_length = 300)]
    reason: String,
}

/// The query of `GET /v1/received`, every value checked by hand so a bad one is named.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ReceivedQuery {
    /// Only from this supplier TIN.
    issuer_tin: Option<String>,
    /// Only in this MyInvois status: `valid` or `cancelled`.
    status: Option<String>,
    /// Only with this decision: `pending` (none yet), `accepted` or `rejected`.
    decision: Option<String>,
    /// `true`: only those still awaiting a decision that can still be rejected (valid,
    /// undecided, deadline not passed).
    #[param(value_type = Option<bool>)]
    open: Option<String>,
    /// The previous page's `next`.
    #[param(value_type = Option<i64>, minimum = 1)]
    after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

impl ReceivedQuery {
    fn filter(self) -> Result<ReceivedFilter, ApiError> {
        let status = self
            .status
            .as_deref()
            .map(|s| match DocumentStatus::parse(s) {
                Some(s @ (DocumentStatus::Valid | DocumentStatus::Cancelled)) => Ok(s),
                _ => Err(ApiError::bad_request(
                    "status",
                    format!("`status` must be valid or cancelled, not `{s}`"),
                )),
            })
            .transpose()?;
        let decision = self
            .decision
            .as_deref()
            .map(|d| match d.trim() {
                "pending" => Ok(DecisionFilter::Pending),
                other => Decision::parse(other)
                    .map(DecisionFilter::Is)
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "decision",
                            format!("`decision` must be pending, accepted or rejected, not `{d}`"),
                        )
                    }),
            })
            .transpose()?;
        let open = match self.open.as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ApiError::bad_request(
                    "open",
                    format!("`open` must be true or false, not `{other}`"),
                ));
            }
        };
        Ok(ReceivedFilter {
            issuer_tin: self.issuer_tin.map(|t| t.trim().to_owned()),
            status,
            decision,
            open,
            after: self
                .after
                .as_deref()
                .map(|t| positive("after", t))
                .transpose()?,
            limit: self
                .limit
                .as_deref()
                .map(|t| limit("limit", t))
                .transpose()?
                .unwrap_or(0),
        })
    }
}

/// The portal the validation links point at (the one of the API in use).
fn portal(state: &ApiState) -> String {
    state.clients.base().environment().portal().to_owned()
}

/// `GET /v1/received?issuer_tin=&status=&decision=&open=&after=&limit=`.
#[utoipa::path(
    get,
    path = "/v1/received",
    operation_id = "listReceivedDocuments",
    tag = "received",
    params(ReceivedQuery),
    responses(
        (status = 200, description = "One page, oldest first, each with its rejection deadline; \
         `next` is null on the last page.", body = ReceivedList),
        (status = 400, description = "A bad query parameter.", body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<ApiState>,
    query: Result<Query<ReceivedQuery>, QueryRejection>,
) -> Result<axum::Json<ReceivedList>, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    let page = state.store.received().list(&q.filter()?).await?;
    let (now, portal) = (state.clock.now(), portal(&state));
    Ok(axum::Json(ReceivedList {
        documents: page
            .items
            .iter()
            .map(|r| ReceivedView::of(r, now, &portal))
            .collect(),
        next: page.next,
    }))
}

/// `GET /v1/received/{uuid}`.
#[utoipa::path(
    get,
    path = "/v1/received/{uuid}",
    operation_id = "getReceivedDocument",
    tag = "received",
    params(("uuid" = String, Path, description = "MyInvois' uuid of the document.")),
    responses(
        (status = 200, description = "The received document, with its deadline and history.",
         body = ReceivedDetail),
        (status = 400, description = "Not a uuid.", body = ErrorBody),
        (status = 404, description = "No such received document.", body = ErrorBody),
    ),
)]
pub(super) async fn get(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<axum::Json<ReceivedDetail>, ApiError> {
    let uuid = uuid_from_path(path)?;
    let record = find(&state, &uuid).await?;
    detail(&state, &record).await
}

/// `POST /v1/received/{uuid}/reject` with `{"reason": "..."}`.
#[utoipa::path(
    post,
    path = "/v1/received/{uuid}/reject",
    operation_id = "rejectReceivedDocument",
    tag = "received",
    params(("uuid" = String, Path, description = "MyInvois' uuid of the document.")),
    request_body = RejectRequest,
    responses(
        (status = 200, description = "MyInvois recorded the rejection request (or had already): \
         the document stays valid until its supplier cancels it.", body = ReceivedDetail),
        (status = 400, description = "A missing, empty or too long reason.", body = ErrorBody),
        (status = 404, description = "No such received document.", body = ErrorBody),
        (status = 409, description = "Too late or not possible: rejection_period_over (the \
         message names the deadline), already_accepted, incorrect_state, \
         active_referencing_documents.", body = ErrorBody),
        (status = 502, description = "MyInvois could not be reached or refused.", body = ErrorBody),
    ),
)]
pub(super) async fn reject(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<ReceivedDetail>, ApiError> {
    let uuid = uuid_from_path(path)?;
    if content_format(&headers)? != Format::Json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "a rejection is JSON: send Content-Type: application/json and {\"reason\": \"...\"}",
        ));
    }
    let body = read_body(body, state.max_body_bytes)?;
    let RejectRequest { reason } = reject_reason(&body)?;
    let record = reject_document(&state, &uuid, &reason).await?;
    detail(&state, &record).await
}

/// Rejects received document `uuid` at MyInvois for `reason` (already checked by
/// [`check_reason`]) and records it: what `POST /v1/received/{uuid}/reject` and the
/// dashboard do. A document already rejected is returned as it is.
pub(crate) async fn reject_document(
    state: &ApiState,
    uuid: &str,
    reason: &str,
) -> Result<ReceivedRecord, ApiError> {
    let record = find(state, uuid).await?;
    if record.decision == Some(Decision::Rejected) {
        // A repeated request (the first answer was lost), or one made in the portal: done.
        return Ok(record);
    }
    if let Some(refusal) = rejection_refused(&record, state.clock.now()) {
        return Err(refusal);
    }
    let client = state.clients.client(None).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "myinvois_login",
            format!("cannot log in to MyInvois to reject: {e}"),
        )
    })?;
    if let Err(e) = client.documents().reject(uuid, reason).await {
        tracing::warn!(document.uuid = %uuid, error = %e, "rejection refused");
        return Err(reject_error(&e, &record));
    }
    tracing::info!(document.uuid = %uuid, "received document {uuid} rejected at MyInvois");
    match state.store.received().record_rejection(uuid, reason).await {
        Ok(record) => Ok(record),
        Err(e) => {
            tracing::error!(document.uuid = %uuid, error = %e, "rejected at MyInvois but not recorded");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "rejected_not_recorded",
                format!(
                    "MyInvois recorded the rejection of {uuid}, but the gateway could not; the \
                     next search of received documents records it from MyInvois"
                ),
            ))
        }
    }
}

/// `POST /v1/received/{uuid}/accept`.
#[utoipa::path(
    post,
    path = "/v1/received/{uuid}/accept",
    operation_id = "acceptReceivedDocument",
    tag = "received",
    params(("uuid" = String, Path, description = "MyInvois' uuid of the document.")),
    responses(
        (status = 200, description = "Accepted (or already accepted). Recorded in the gateway \
         only: MyInvois has no acceptance call; a document not rejected within 72 hours of \
         validation stands.", body = ReceivedDetail),
        (status = 404, description = "No such received document.", body = ErrorBody),
        (status = 409, description = "Already rejected (already_rejected), or cancelled by its \
         supplier (incorrect_state).", body = ErrorBody),
    ),
)]
pub(super) async fn accept(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<axum::Json<ReceivedDetail>, ApiError> {
    let uuid = uuid_from_path(path)?;
    let record = accept_document(&state, &uuid).await?;
    detail(&state, &record).await
}

/// Records the acceptance of received document `uuid`: what `POST /v1/received/{uuid}/accept`
/// and the dashboard do. A document already accepted is returned as it is.
pub(crate) async fn accept_document(
    state: &ApiState,
    uuid: &str,
) -> Result<ReceivedRecord, ApiError> {
    let record = find(state, uuid).await?;
    if record.decision == Some(Decision::Accepted) {
        // A repeated request: done.
        return Ok(record);
    }
    if let Some(refusal) = acceptance_refused(&record) {
        return Err(refusal);
    }
    match state.store.received().record_acceptance(uuid).await {
        Ok(record) => Ok(record),
        // Rejected meanwhile (a sweep saw a portal rejection).
        Err(StoreError::StaleTransition { .. }) => {
            let record = find(state, uuid).await?;
            Err(already_rejected(&record))
        }
        Err(e) => Err(e.into()),
    }
}

/// Why `r` cannot be accepted, if it cannot; `None` when it can (an accepted one again, as
/// a repeat). Only a valid document the ERP has not rejected can be.
pub(crate) fn acceptance_refused(r: &ReceivedRecord) -> Option<ApiError> {
    if r.decision == Some(Decision::Rejected) {
        return Some(already_rejected(r));
    }
    (r.document.status != DocumentStatus::Valid).then(|| not_valid(r, "accepted"))
}

async fn find(state: &ApiState, uuid: &str) -> Result<ReceivedRecord, ApiError> {
    match state.store.received().get(uuid).await {
        Ok(r) => Ok(r),
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found(format!(
            "no received document {uuid} (the gateway searches for received documents every \
             few minutes, and at once on a MyInvois notification)"
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn detail(
    state: &ApiState,
    record: &ReceivedRecord,
) -> Result<axum::Json<ReceivedDetail>, ApiError> {
    let events = state.store.received().events(record.id).await?;
    Ok(axum::Json(ReceivedDetail {
        document: ReceivedView::of(record, state.clock.now(), &portal(state)),
        events: events.iter().map(ReceivedEventView::of).collect(),
    }))
}

fn uuid_from_path(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(text) = path.map_err(|e| ApiError::bad_request("uuid", e.body_text()))?;
    check_uuid(&text)
}

/// `text`, trimmed, if it can be a MyInvois document uuid.
pub(crate) fn check_uuid(text: &str) -> Result<String, ApiError> {
    let uuid = text.trim();
    if uuid.is_empty()
        || uuid.len() > MAX_UUID_CHARS
        || !uuid.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ApiError::bad_request(
            "uuid",
            "`uuid` must be MyInvois' document uuid: letters and digits only",
        ));
    }
    Ok(uuid.to_owned())
}

/// Why `r` cannot be rejected at `now`, if it cannot; `None` when a rejection may go to
/// MyInvois. A document already rejected is not rejectable (again).
pub(crate) fn rejection_refused(r: &ReceivedRecord, now: DateTime<Utc>) -> Option<ApiError> {
    match r.decision {
        Some(Decision::Rejected) => return Some(already_rejected(r)),
        Some(Decision::Accepted) => {
            return Some(ApiError::new(
                StatusCode::CONFLICT,
                "already_accepted",
                format!(
                    "received document {} was accepted{}; the gateway does not reject what the \
                     ERP accepted",
                    r.document.uuid,
                    at(r.decided_at)
                ),
            ));
        }
        None => {}
    }
    if r.document.status != DocumentStatus::Valid {
        return Some(not_valid(r, "rejected"));
    }
    match r.reject_deadline {
        Some(deadline) if now > deadline => Some(period_over(r, deadline)),
        _ => None,
    }
}

fn at(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| format!(" at {}", rfc3339(t))).unwrap_or_default()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn already_rejected(r: &ReceivedRecord) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "already_rejected",
        format!(
            "received document {} was already rejected{}",
            r.document.uuid,
            at(r.decided_at)
        ),
    )
}

fn not_valid(r: &ReceivedRecord, action: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "incorrect_state",
        format!(
            "received document {} is {}{}; only a valid document can be {action}",
            r.document.uuid,
            r.document.status.as_str().to_ascii_lowercase(),
            r.document
                .cancelled_at
                .map(|t| format!(" (cancelled by its supplier at {})", rfc3339(t)))
                .unwrap_or_default()
        ),
    )
}

fn period_over(r: &ReceivedRecord, deadline: DateTime<Utc>) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "rejection_period_over",
        format!(
            "received document {} can no longer be rejected: the 72-hour rejection period \
             ended at {} ({} hours after its validation{}); ask the supplier for a credit note \
             instead",
            r.document.uuid,
            rfc3339(deadline),
            invois_api::windows::REJECTION_WINDOW.num_hours(),
            at(r.document.validated_at)
        ),
    )
}

/// The rejection body, checked by hand so that an error names the member at fault.
fn reject_reason(body: &[u8]) -> Result<RejectRequest, ApiError> {
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
            format!("unexpected member `{other}`: a rejection has only `reason`"),
        ));
    }
    let reason = match object.get("reason") {
        Some(Value::String(r)) => r.clone(),
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "reason",
                "`reason` is required: why the document is rejected (1 to 300 characters)",
            ));
        }
        Some(_) => return Err(ApiError::bad_request("reason", "`reason` must be a string")),
    };
    Ok(RejectRequest {
        reason: check_reason(&reason)?,
    })
}

/// A rejection reason, trimmed, if MyInvois would take it: 1 to 300 characters.
pub(crate) fn check_reason(reason: &str) -> Result<String, ApiError> {
    let reason = reason.trim();
    let chars = reason.chars().count();
    if chars == 0 {
        return Err(ApiError::bad_request(
            "reason",
            "`reason` is empty: MyInvois requires a reason for a rejection",
        ));
    }
    if chars > MAX_REASON_CHARS {
        return Err(ApiError::bad_request(
            "reason",
            format!("`reason` is {chars} characters; at most {MAX_REASON_CHARS}"),
        ));
    }
    Ok(reason.to_owned())
}

/// A MyInvois refusal of a rejection, as the ERP should see it.
fn reject_error(e: &ClientError, r: &ReceivedRecord) -> ApiError {
    if let ClientError::Http(f) = e {
        let theirs = f.message().unwrap_or("").to_owned();
        return match f.code() {
            Some("OperationPeriodOver") => {
                let mut out = match r.reject_deadline {
                    Some(deadline) => period_over(r, deadline),
                    None => ApiError::new(
                        StatusCode::CONFLICT,
                        "rejection_period_over",
                        "the 72-hour rejection period is over",
                    ),
                };
                out.message = format!("MyInvois refused: {} ({theirs})", out.message);
                out
            }
            Some("IncorrectState") => ApiError::new(
                StatusCode::CONFLICT,
                "incorrect_state",
                format!(
                    "MyInvois refused: the document cannot be rejected in its state (already \
                     rejected, or cancelled) ({theirs})"
                ),
            ),
            Some("ActiveReferencingDocuments") => ApiError::new(
                StatusCode::CONFLICT,
                "active_referencing_documents",
                format!(
                    "MyInvois refused: valid documents reference this one; they must be \
                     cancelled first ({theirs})"
                ),
            ),
            _ if f.status == 429 => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "rate_limited",
                "MyInvois' rate limit for rejections is exhausted; retry later",
            ),
            _ => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "myinvois_error",
                format!("MyInvois refused the rejection: {f}"),
            ),
        };
    }
    match e {
        ClientError::InvalidRequest(m) => ApiError::bad_request("reason", m.clone()),
        ClientError::Transport { .. } | ClientError::Decode { .. } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "myinvois_unavailable",
            format!(
                "the rejection may or may not have reached MyInvois ({e}); repeat the request \
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
            format!("the rejection failed: {e}"),
        ),
    }
}
