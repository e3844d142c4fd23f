//! `/v1/receipts`, `/v1/issuers`, `/v1/consolidations`: the receipts of monthly consolidated
//! e-invoices (see [`crate::consolidation`]).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use invois_model::consolidation::Month;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::documents::{AcceptedDocument, read_body};
use super::error::ErrorBody;
use super::{ApiError, ApiState};
use crate::consolidation::{
    ConsolidationError, DeadlineState, IssuerProfile, PartyDetails, ReceiptError, ReceiptInput,
    parse_csv,
};
use crate::store::{
    ConsolidatedDocument, ConsolidationRecord, NewReceipt, ReceiptFilter, ReceiptRecord,
    ReceiptState, StoreError,
};

/// The most receipts one `POST /v1/receipts` may carry.
pub(super) const MAX_RECEIPTS_PER_REQUEST: usize = 10_000;

/// A receipt as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct ReceiptView {
    id: i64,
    issuer_tin: String,
    number: String,
    /// Its Malaysian month, `YYYY-MM`.
    month: String,
    #[schema(format = DateTime)]
    issued_at: String,
    amount: String,
    tax_type: String,
    tax_rate: String,
    tax_amount: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    activity: Option<String>,
    /// open, consolidated, excluded or individual.
    state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    consolidation_id: Option<i64>,
    /// The consolidated e-invoice it is in, or its own e-invoice.
    #[serde(skip_serializing_if = "Option::is_none")]
    document_id: Option<i64>,
    /// The rule that kept it out of the consolidation.
    #[serde(skip_serializing_if = "Option::is_none")]
    exclusion_rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exclusion_reason: Option<String>,
}

impl ReceiptView {
    fn of(r: &ReceiptRecord) -> ReceiptView {
        ReceiptView {
            id: r.id,
            issuer_tin: r.receipt.issuer_tin.clone(),
            number: r.receipt.number.clone(),
            month: r.month.to_string(),
            issued_at: r.receipt.issued_at.to_rfc3339(),
            amount: r.receipt.amount.to_string(),
            tax_type: r.receipt.tax_type.clone(),
            tax_rate: r.receipt.tax_rate.to_string(),
            tax_amount: r.receipt.tax_amount.to_string(),
            branch: r.receipt.branch.clone(),
            activity: r.receipt.activity.map(|a| a.as_str().to_owned()),
            state: r.state.as_str().to_owned(),
            consolidation_id: r.consolidation_id,
            document_id: r.document_id.map(|d| d.0),
            exclusion_rule: r.exclusion_rule.clone(),
            exclusion_reason: r.exclusion_reason.clone(),
        }
    }
}

/// One stored receipt.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct AcceptedReceipt {
    receipt: ReceiptView,
    /// False when the same receipt was stored before (an idempotent repeat).
    created: bool,
}

/// One entry's result in a many-receipt answer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct ReceiptResult {
    /// The entry's index in `receipts` (JSON) or its line (CSV).
    index: usize,
    /// 201, 200 (a repeat), 400 or 409.
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: Option<AcceptedReceipt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody>,
}

/// The answer to many receipts (a `receipts` array or CSV).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct ReceiptBatch {
    accepted: usize,
    failed: usize,
    results: Vec<ReceiptResult>,
}

/// `{"receipts": [...]}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReceiptList {
    receipts: Vec<ReceiptInput>,
}

/// A single receipt or many.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub(super) enum ReceiptBody {
    /// Many.
    Many(ReceiptList),
    /// One.
    One(Box<ReceiptInput>),
}

fn receipt_error(e: &ReceiptError) -> ApiError {
    let f = match e {
        ReceiptError::Field { field, .. } => field.clone(),
        ReceiptError::Csv { line, .. } => format!("line {line}"),
    };
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_receipt", e.to_string()).with_field(f)
}

fn is_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/csv"))
}

/// `POST /v1/receipts`: one receipt, `{"receipts": [...]}`, or CSV (`text/csv`).
#[utoipa::path(
    post,
    path = "/v1/receipts",
    operation_id = "postReceipts",
    tag = "receipts",
    request_body(
        description = "One receipt, `{\"receipts\": [...]}` (at most 10,000), or CSV with a \
                       header row of the same field names (docs/consolidation.md). Idempotent \
                       by issuer TIN and receipt number.",
        content((ReceiptBody = "application/json"), (String = "text/csv")),
    ),
    responses(
        (status = 201, description = "One receipt stored.", body = AcceptedReceipt),
        (status = 200, description = "One receipt stored before (a repeat), or many receipts \
                        all stored: one result each.", body = ReceiptBatch),
        (status = 207, description = "Many receipts, some refused.", body = ReceiptBatch),
        (status = 400, description = "Malformed or invalid (`invalid_receipt`).", body = ErrorBody),
        (status = 409, description = "The number was used with other content, or the month \
                        is already consolidated.", body = ErrorBody),
    ),
)]
pub(super) async fn post_receipts(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(body, state.max_body_bytes)?;
    let entries: Vec<(usize, Result<NewReceipt, ReceiptError>)> = if is_csv(&headers) {
        let text = std::str::from_utf8(&body)
            .map_err(|_| ApiError::bad_request("body", "the CSV is not UTF-8"))?;
        parse_csv(text).map_err(|e| receipt_error(&e))?
    } else {
        match serde_json::from_slice::<ReceiptBody>(&body) {
            Ok(ReceiptBody::One(one)) => {
                let new = one.into_new().map_err(|e| receipt_error(&e))?;
                return one_receipt(&state, new).await;
            }
            Ok(ReceiptBody::Many(list)) => list
                .receipts
                .into_iter()
                .enumerate()
                .map(|(i, r)| (i, r.into_new()))
                .collect(),
            Err(e) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_receipt",
                    format!("not a receipt or {{\"receipts\": [...]}}: {e}"),
                ));
            }
        }
    };
    if entries.len() > MAX_RECEIPTS_PER_REQUEST {
        return Err(ApiError::bad_request(
            "receipts",
            format!(
                "{} receipts in one request; at most {MAX_RECEIPTS_PER_REQUEST}",
                entries.len()
            ),
        ));
    }
    many_receipts(&state, entries).await
}

async fn one_receipt(state: &ApiState, new: NewReceipt) -> Result<Response, ApiError> {
    let mut results = state.store.receipts().insert_many(&[new]).await?;
    let inserted = results.pop().ok_or_else(|| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "no result")
    })??;
    let status = if inserted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = AcceptedReceipt {
        receipt: ReceiptView::of(&inserted.record),
        created: inserted.created,
    };
    Ok((status, axum::Json(body)).into_response())
}

async fn many_receipts(
    state: &ApiState,
    entries: Vec<(usize, Result<NewReceipt, ReceiptError>)>,
) -> Result<Response, ApiError> {
    let valid: Vec<NewReceipt> = entries
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().cloned())
        .collect();
    let mut stored = state
        .store
        .receipts()
        .insert_many(&valid)
        .await?
        .into_iter();
    let mut results = Vec::with_capacity(entries.len());
    for (index, entry) in entries {
        let outcome = match entry {
            Err(e) => Err(receipt_error(&e)),
            Ok(_) => match stored.next() {
                Some(Ok(inserted)) => Ok(inserted),
                Some(Err(e)) => Err(ApiError::store(&e)),
                None => Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "",
                )),
            },
        };
        results.push(match outcome {
            Ok(inserted) => ReceiptResult {
                index,
                status: if inserted.created { 201 } else { 200 },
                receipt: Some(AcceptedReceipt {
                    receipt: ReceiptView::of(&inserted.record),
                    created: inserted.created,
                }),
                error: None,
            },
            Err(e) => ReceiptResult {
                index,
                status: e.status.as_u16(),
                receipt: None,
                error: Some(e.body()),
            },
        });
    }
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    let status = if failed == 0 {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    let body = ReceiptBatch {
        accepted: results.len() - failed,
        failed,
        results,
    };
    Ok((status, axum::Json(body)).into_response())
}

/// Filters of `GET /v1/receipts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ReceiptQuery {
    /// Only this issuer's.
    issuer_tin: Option<String>,
    /// Only this month's, `YYYY-MM`.
    month: Option<String>,
    /// open, consolidated, excluded or individual.
    state: Option<String>,
    /// Only those of this consolidation.
    consolidation_id: Option<i64>,
    /// Ids after this one (the previous page's last id).
    after: Option<i64>,
    /// Page size, at most 1,000 (default 100).
    limit: Option<u32>,
}

/// A page of receipts.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct ReceiptPage {
    items: Vec<ReceiptView>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<i64>,
}

fn month_param(name: &str, text: &str) -> Result<Month, ApiError> {
    Month::parse(text).ok_or_else(|| {
        ApiError::bad_request(name, format!("`{text}` is not a month: write YYYY-MM"))
    })
}

/// `GET /v1/receipts`.
#[utoipa::path(
    get,
    path = "/v1/receipts",
    operation_id = "listReceipts",
    tag = "receipts",
    params(ReceiptQuery),
    responses(
        (status = 200, description = "Receipts in id order.", body = ReceiptPage),
        (status = 400, description = "A bad parameter.", body = ErrorBody),
    ),
)]
pub(super) async fn list_receipts(
    State(state): State<ApiState>,
    query: Result<Query<ReceiptQuery>, QueryRejection>,
) -> Result<axum::Json<ReceiptPage>, ApiError> {
    let Query(q) = query.map_err(super::documents::query_error)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1_000);
    let filter = ReceiptFilter {
        issuer_tin: q.issuer_tin,
        month: q
            .month
            .as_deref()
            .map(|m| month_param("month", m))
            .transpose()?,
        state: match q.state.as_deref() {
            Some(s) => Some(ReceiptState::parse(s).ok_or_else(|| {
                ApiError::bad_request(
                    "state",
                    "state is open, consolidated, excluded or individual",
                )
            })?),
            None => None,
        },
        consolidation_id: q.consolidation_id,
        after: q.after,
        limit,
    };
    let items = state.store.receipts().list(&filter).await?;
    let next = (items.len() == limit as usize)
        .then(|| items.last().map(|r| r.id))
        .flatten();
    Ok(axum::Json(ReceiptPage {
        items: items.iter().map(ReceiptView::of).collect(),
        next,
    }))
}

/// A buyer's request for an individual e-invoice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct IndividualRequest {
    /// The supplier's TIN (receipt numbers are unique per issuer).
    issuer_tin: String,
    /// The buyer, as the e-invoice names them.
    buyer: PartyDetails,
}

/// The individual e-invoice issued for a receipt.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct IndividualAnswer {
    receipt: ReceiptView,
    /// The e-invoice, stored and on its way through the pipeline.
    document: AcceptedDocument,
}

/// `POST /v1/receipts/{number}/individual`.
#[utoipa::path(
    post,
    path = "/v1/receipts/{number}/individual",
    operation_id = "individualInvoice",
    tag = "receipts",
    params(("number" = String, Path, description = "The receipt number, percent-encoded.")),
    request_body(content = IndividualRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "The receipt left its month's consolidation; its own \
                        e-invoice is stored (a repeat returns the same one).",
         body = IndividualAnswer),
        (status = 404, description = "No such receipt.", body = ErrorBody),
        (status = 409, description = "`already_consolidated`: the receipt is in a consolidated \
                        e-invoice, and the rules let the request be refused; or \
                        `no_supplier_details`.", body = ErrorBody),
    ),
)]
pub(super) async fn individual(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    body: Result<axum::Json<IndividualRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Path(number) = path.map_err(|e| ApiError::bad_request("number", e.body_text()))?;
    let axum::Json(req) = body.map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()).with_field("body")
    })?;
    let (receipt, inserted) = state
        .consolidator
        .individual(&req.issuer_tin, &number, &req.buyer)
        .await?;
    let body = IndividualAnswer {
        receipt: ReceiptView::of(&receipt),
        document: AcceptedDocument::of(&inserted),
    };
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

impl From<ConsolidationError> for ApiError {
    fn from(e: ConsolidationError) -> ApiError {
        let (status, code) = match &e {
            ConsolidationError::Store(inner) => return ApiError::store(inner),
            ConsolidationError::NoProfile(_) => (StatusCode::CONFLICT, "no_supplier_details"),
            ConsolidationError::MonthOpen { .. } => (StatusCode::CONFLICT, "month_open"),
            ConsolidationError::NoReceipt { .. } => (StatusCode::NOT_FOUND, "not_found"),
            ConsolidationError::AlreadyConsolidated { .. } => {
                (StatusCode::CONFLICT, "already_consolidated")
            }
            ConsolidationError::Intake { source, .. } if source.is_input_error() => {
                (StatusCode::CONFLICT, "conflict")
            }
            _ => {
                tracing::error!(error = %e, "consolidation failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// `PUT /v1/issuers/{issuer_tin}`: the supplier details the gateway writes into the
/// documents it builds for this issuer.
#[utoipa::path(
    put,
    path = "/v1/issuers/{issuer_tin}",
    operation_id = "putIssuer",
    tag = "receipts",
    params(("issuer_tin" = String, Path, description = "The supplier's TIN.")),
    request_body(content = IssuerProfile, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (replacing any earlier details).", body = IssuerProfile),
        (status = 400, description = "Invalid details.", body = ErrorBody),
    ),
)]
pub(super) async fn put_issuer(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    body: Result<axum::Json<IssuerProfile>, axum::extract::rejection::JsonRejection>,
) -> Result<axum::Json<IssuerProfile>, ApiError> {
    let Path(tin) = path.map_err(|e| ApiError::bad_request("issuer_tin", e.body_text()))?;
    let axum::Json(profile) = body.map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()).with_field("body")
    })?;
    if let Some(problem) = profile.problem(&tin) {
        return Err(ApiError::bad_request("body", problem));
    }
    let text = serde_json::to_string(&profile)
        .map_err(|e| ApiError::bad_request("body", e.to_string()))?;
    state
        .store
        .consolidations()
        .put_issuer_profile(&tin, &text)
        .await?;
    Ok(axum::Json(profile))
}

/// `GET /v1/issuers/{issuer_tin}`.
#[utoipa::path(
    get,
    path = "/v1/issuers/{issuer_tin}",
    operation_id = "getIssuer",
    tag = "receipts",
    params(("issuer_tin" = String, Path, description = "The supplier's TIN.")),
    responses(
        (status = 200, description = "The stored details.", body = IssuerProfile),
        (status = 404, description = "None stored.", body = ErrorBody),
    ),
)]
pub(super) async fn get_issuer(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<axum::Json<IssuerProfile>, ApiError> {
    let Path(tin) = path.map_err(|e| ApiError::bad_request("issuer_tin", e.body_text()))?;
    match state.consolidator.profile(&tin).await {
        Ok(p) => Ok(axum::Json(p)),
        Err(ConsolidationError::NoProfile(_)) => Err(ApiError::not_found(format!(
            "no supplier details for {tin}"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `POST /v1/consolidations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsolidationRequest {
    /// The supplier's TIN.
    issuer_tin: String,
    /// The month, `YYYY-MM` (closed: after midnight in Malaysia on its last day).
    month: String,
}

/// A consolidation, with its deadline and what it excluded.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct ConsolidationView {
    id: i64,
    issuer_tin: String,
    month: String,
    /// building or stored.
    state: String,
    /// month_end or on_demand.
    origin: String,
    /// False when it had been built before this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<bool>,
    /// The documents' issue instant.
    #[schema(format = DateTime)]
    issued_at: String,
    /// The last day to submit on (7 days after the month's end).
    #[schema(value_type = String, format = Date)]
    deadline: NaiveDate,
    /// When the deadline passes (midnight in Malaysia after it).
    #[schema(format = DateTime)]
    deadline_passes_at: String,
    deadline_state: DeadlineState,
    receipts: u64,
    documents: Vec<ConsolidatedDocument>,
    /// Receipts the rules kept out: each needs its own e-invoice.
    excluded: Vec<ReceiptView>,
}

async fn view(
    state: &ApiState,
    record: &ConsolidationRecord,
    created: Option<bool>,
    excluded: &[ReceiptRecord],
    now: DateTime<Utc>,
) -> Result<ConsolidationView, ApiError> {
    let deadline_state = state.consolidator.deadline_state(record, now).await?;
    let summary = record.summary.clone().unwrap_or_default();
    Ok(ConsolidationView {
        id: record.id,
        issuer_tin: record.issuer_tin.clone(),
        month: record.month.to_string(),
        state: record.state.as_str().to_owned(),
        origin: record.origin.clone(),
        created,
        issued_at: record.issued_at.to_rfc3339(),
        deadline: record.deadline,
        deadline_passes_at: record.month.deadline_passes_at().to_rfc3339(),
        deadline_state,
        receipts: summary.receipts,
        documents: summary.documents,
        excluded: excluded.iter().map(ReceiptView::of).collect(),
    })
}

/// `POST /v1/consolidations`: builds a closed month's consolidated e-invoices now.
#[utoipa::path(
    post,
    path = "/v1/consolidations",
    operation_id = "consolidate",
    tag = "receipts",
    request_body(content = ConsolidationRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Built now; the documents are on their way.", body = ConsolidationView),
        (status = 200, description = "Built before (by the month-end loop or a request).", body = ConsolidationView),
        (status = 400, description = "A bad month.", body = ErrorBody),
        (status = 409, description = "`month_open` (not closed yet) or `no_supplier_details`.", body = ErrorBody),
    ),
)]
pub(super) async fn consolidate(
    State(state): State<ApiState>,
    body: Result<axum::Json<ConsolidationRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let axum::Json(req) = body.map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()).with_field("body")
    })?;
    let month = month_param("month", &req.month)?;
    let done = state
        .consolidator
        .consolidate(&req.issuer_tin, month, "on_demand")
        .await?;
    let now = state.consolidator.clock().now();
    let body = view(
        &state,
        &done.record,
        Some(done.created),
        &done.excluded,
        now,
    )
    .await?;
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(body)).into_response())
}

/// Filters of `GET /v1/consolidations`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ConsolidationQuery {
    /// Only this issuer's.
    issuer_tin: Option<String>,
}

/// `GET /v1/consolidations`: newest month first.
#[utoipa::path(
    get,
    path = "/v1/consolidations",
    operation_id = "listConsolidations",
    tag = "receipts",
    params(ConsolidationQuery),
    responses((status = 200, description = "Consolidations, newest month first.",
               body = Vec<ConsolidationView>)),
)]
pub(super) async fn list_consolidations(
    State(state): State<ApiState>,
    query: Result<Query<ConsolidationQuery>, QueryRejection>,
) -> Result<axum::Json<Vec<ConsolidationView>>, ApiError> {
    let Query(q) = query.map_err(super::documents::query_error)?;
    let now = state.consolidator.clock().now();
    let mut out = Vec::new();
    for record in state
        .store
        .consolidations()
        .list(q.issuer_tin.as_deref(), 100)
        .await?
    {
        let excluded = excluded_of(&state, record.id).await?;
        out.push(view(&state, &record, None, &excluded, now).await?);
    }
    Ok(axum::Json(out))
}

/// `GET /v1/consolidations/{id}`.
#[utoipa::path(
    get,
    path = "/v1/consolidations/{id}",
    operation_id = "getConsolidation",
    tag = "receipts",
    params(("id" = i64, Path, description = "The consolidation's id.")),
    responses(
        (status = 200, description = "The consolidation, its deadline and exclusions.", body = ConsolidationView),
        (status = 404, description = "No such consolidation.", body = ErrorBody),
    ),
)]
pub(super) async fn get_consolidation(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<axum::Json<ConsolidationView>, ApiError> {
    let Path(text) = path.map_err(|e| ApiError::bad_request("id", e.body_text()))?;
    let id = super::documents::positive("id", &text)?;
    let record = match state.store.consolidations().get(id).await {
        Ok(r) => r,
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::not_found(format!("no consolidation {id}")));
        }
        Err(e) => return Err(e.into()),
    };
    let excluded = excluded_of(&state, id).await?;
    let now = state.consolidator.clock().now();
    Ok(axum::Json(
        view(&state, &record, None, &excluded, now).await?,
    ))
}

/// The receipts a consolidation's rules kept out.
async fn excluded_of(state: &ApiState, id: i64) -> Result<Vec<ReceiptRecord>, ApiError> {
    Ok(state
        .store
        .receipts()
        .list_all(&ReceiptFilter {
            consolidation_id: Some(id),
            state: Some(ReceiptState::Excluded),
            ..ReceiptFilter::default()
        })
        .await?)
}
