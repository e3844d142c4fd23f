//! Submit Documents and Get Submission (README §4.2, §5).

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use invois_api::submission::{
    AcceptedDocument, GetSubmissionResponse, MAX_DOCUMENT_BYTES, MAX_DOCUMENTS_PER_SUBMISSION,
    MAX_SUBMISSION_BYTES, MAX_SUBMISSION_PAGE_SIZE, RejectedDocument, SubmitDocumentsRequest,
    SubmitDocumentsResponse,
};
use invois_api::windows::DUPLICATE_SUBMISSION_WINDOW;
use invois_api::{ApiError, DocumentStatus, OverallStatus};
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::extract::{ApiPath, ApiQuery, Auth, BodyRead, read_body};
use crate::facts::{DocumentFacts, extract};
use crate::store::{DocumentRecord, SubmissionRecord, random_id};
use crate::validate::STRUCTURE_STEP;
use crate::{CallContext, Sandbox};

fn rejected(
    code_number: &str,
    detail_code: Option<&str>,
    path: Option<&str>,
    message: String,
) -> RejectedDocument {
    let mut detail = ApiError {
        code: detail_code.map(str::to_owned),
        message: Some(message),
        target: Some(code_number.to_owned()),
        property_path: path.map(str::to_owned),
        details: None,
    };
    if detail.property_path.is_none() {
        detail.property_path = None;
    }
    RejectedDocument {
        invoice_code_number: code_number.to_owned(),
        error: ApiError {
            code: Some("3".to_owned()),
            message: Some("Validation Error".to_owned()),
            target: Some(code_number.to_owned()),
            property_path: None,
            details: Some(vec![detail]),
        },
    }
}

/// `POST /api/v1.0/documentsubmissions`.
pub(crate) async fn submit(
    State(sandbox): State<Sandbox>,
    Auth(caller): Auth,
    body: Body,
) -> Result<Response, AppError> {
    let body = match read_body(body, MAX_SUBMISSION_BYTES).await {
        BodyRead::Complete(b) => b,
        BodyRead::TooLarge { seen } => {
            return Err(AppError::MaximumSizeExceeded {
                target: "submission".to_owned(),
                message: format!(
                    "The submission is {seen} bytes or more; the limit is {MAX_SUBMISSION_BYTES} bytes (5 MB). Split it."
                ),
            });
        }
        BodyRead::Failed => return Err(AppError::BadRequest("Unreadable body".to_owned())),
    };
    let faults = sandbox.faults();
    if let Some(limit) = faults.max_submission_bytes
        && body.len() > limit
    {
        // Read whole first, so the client gets this answer rather than a reset connection.
        return Err(AppError::MaximumSizeExceeded {
            target: "submission".to_owned(),
            message: format!(
                "The submission is {} bytes; the limit is {limit} bytes. Split it.",
                body.len()
            ),
        });
    }
    let max_documents = faults
        .max_submission_documents
        .map_or(MAX_DOCUMENTS_PER_SUBMISSION, |n| {
            n.min(MAX_DOCUMENTS_PER_SUBMISSION)
        });
    // Decoding and reading up to 100 documents is CPU work: off the async workers, so that
    // one large submission does not hold up every other caller's requests.
    let payload_sha256 = hex::encode(Sha256::digest(&body));
    let sha = payload_sha256.clone();
    let mut resp = tokio::task::spawn_blocking(move || {
        accept(&sandbox, &caller, &body, &sha, max_documents)
            .map(IntoResponse::into_response)
            .unwrap_or_else(IntoResponse::into_response)
    })
    .await
    .unwrap_or_else(|_| AppError::Internal.into_response());
    resp.extensions_mut().insert(CallContext {
        payload_sha256: Some(payload_sha256),
        ..CallContext::default()
    });
    Ok(resp)
}

fn bad_structure(detail: impl std::fmt::Display) -> AppError {
    AppError::BadStructure(format!("Invalid structured submission: {detail}"))
}

fn accept(
    sandbox: &Sandbox,
    caller: &crate::Caller,
    body: &[u8],
    payload_sha256: &str,
    max_documents: usize,
) -> Result<(StatusCode, axum::Json<SubmitDocumentsResponse>), AppError> {
    let request = parse_request(body, max_documents)?;
    let decoded = decode_documents(&request)?;
    let now = sandbox.clock().now();
    refuse_duplicate(sandbox, caller, payload_sha256, now)?;

    let context = sandbox.inner.config.validation_context(now);
    let mut accepted = Vec::new();
    let mut rejected_docs = Vec::new();
    for (doc, bytes) in request.documents.iter().zip(decoded) {
        match screen(doc, bytes, caller, &context)? {
            Ok(a) => accepted.push(a),
            Err(r) => rejected_docs.push(r),
        }
    }

    if accepted.is_empty() {
        return Ok((
            StatusCode::ACCEPTED,
            axum::Json(SubmitDocumentsResponse {
                submission_uid: None,
                accepted_documents: vec![],
                rejected_documents: rejected_docs,
            }),
        ));
    }

    let generation = sandbox.generation();
    let (uid, accepted_out) = store_submission(sandbox, caller, payload_sha256, now, accepted);
    tokio::spawn(crate::validate::run(
        sandbox.clone(),
        uid.clone(),
        generation,
    ));
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(SubmitDocumentsResponse {
            submission_uid: Some(uid),
            accepted_documents: accepted_out,
            rejected_documents: rejected_docs,
        }),
    ))
}

/// The request body, with between one and `max_documents` documents.
fn parse_request(body: &[u8], max_documents: usize) -> Result<SubmitDocumentsRequest, AppError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let request: SubmitDocumentsRequest = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| bad_structure(format!("{} at {}", e.inner(), e.path())))?;
    if request.documents.is_empty() {
        return Err(bad_structure("documents must hold at least one document"));
    }
    if request.documents.len() > max_documents {
        return Err(AppError::MaximumSizeExceeded {
            target: "documents".to_owned(),
            message: format!(
                "The submission holds {} documents; the limit is {max_documents}. Split it.",
                request.documents.len()
            ),
        });
    }
    Ok(request)
}

/// Every document's bytes (`None` where the Base64 is bad, rejected later per document).
/// Decoded all first: one document over the size limit refuses the whole submission.
fn decode_documents(request: &SubmitDocumentsRequest) -> Result<Vec<Option<Vec<u8>>>, AppError> {
    let mut decoded = Vec::with_capacity(request.documents.len());
    for doc in &request.documents {
        let bytes = STANDARD.decode(doc.document.trim()).ok();
        if let Some(b) = &bytes
            && b.len() > MAX_DOCUMENT_BYTES
        {
            return Err(AppError::MaximumSizeExceeded {
                target: doc.code_number.clone(),
                message: format!(
                    "Document {} is {} bytes; the limit is {MAX_DOCUMENT_BYTES} bytes (300 KB)",
                    doc.code_number,
                    b.len()
                ),
            });
        }
        decoded.push(bytes);
    }
    Ok(decoded)
}

/// Refuse the same payload from the same taxpayer inside the duplicate window, saying when
/// it may be sent again.
fn refuse_duplicate(
    sandbox: &Sandbox,
    caller: &crate::Caller,
    payload_sha256: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AppError> {
    let store = sandbox.inner.store.lock();
    let key = (caller.tin.clone(), payload_sha256.to_owned());
    if let Some(at) = store.recent_payloads.get(&key) {
        let window = DUPLICATE_SUBMISSION_WINDOW;
        if now < *at + window {
            let left = (*at + window - now).num_milliseconds().max(0) as u64;
            return Err(AppError::DuplicateSubmission {
                retry_after_secs: left.div_ceil(1000).max(1),
            });
        }
    }
    Ok(())
}

/// A document that passed the submission-time checks, to be stored and validated.
struct Screened {
    code_number: String,
    raw: String,
    facts: DocumentFacts,
    format: invois_api::submission::DocumentFormat,
}

/// The checks a document passes before it gets a UUID: Base64, hash, structure. A document
/// failing one is rejected on its own (the inner `Err`); a document issued by another
/// taxpayer than the caller refuses the whole submission (the outer `Err`).
fn screen(
    doc: &invois_api::submission::DocumentSubmission,
    bytes: Option<Vec<u8>>,
    caller: &crate::Caller,
    context: &invois_model::ValidationContext,
) -> Result<Result<Screened, RejectedDocument>, AppError> {
    let Some(bytes) = bytes else {
        return Ok(Err(rejected(
            &doc.code_number,
            Some("InvalidBase64"),
            Some("document"),
            "document is not valid Base64".to_owned(),
        )));
    };
    let actual = hex::encode(Sha256::digest(&bytes));
    if !actual.eq_ignore_ascii_case(doc.document_hash.trim()) {
        return Ok(Err(rejected(
            &doc.code_number,
            Some("DocumentHashMismatch"),
            Some("documentHash"),
            format!(
                "documentHash does not match the document: expected the lowercase hex SHA-256 of the decoded document ({actual})"
            ),
        )));
    }
    let facts = match extract(doc.format, &bytes, context) {
        Ok(f) => f,
        Err(e) => {
            let (code, message) = e.code_and_message();
            return Ok(Err(rejected(&doc.code_number, code, e.path(), message)));
        }
    };
    let issuer = facts.issuer().tin.clone().unwrap_or_default();
    if !issuer.eq_ignore_ascii_case(&caller.tin) {
        return Err(AppError::IncorrectSubmitter(format!(
            "The authenticated TIN and documents TIN is not matching: document {} is issued by {issuer}, the caller is {}",
            doc.code_number, caller.tin
        )));
    }
    let raw = String::from_utf8_lossy(&bytes).into_owned();
    Ok(Ok(Screened {
        code_number: doc.code_number.clone(),
        raw,
        facts,
        format: doc.format,
    }))
}

/// Store the submission and its documents (status Submitted, the structure step passed) in
/// one lock, and remember the payload for the duplicate window. Returns the submission UID
/// and the accepted documents with their UUIDs.
fn store_submission(
    sandbox: &Sandbox,
    caller: &crate::Caller,
    payload_sha256: &str,
    now: chrono::DateTime<chrono::Utc>,
    accepted: Vec<Screened>,
) -> (String, Vec<AcceptedDocument>) {
    let uid = random_id(26);
    let mut accepted_out = Vec::new();
    let mut store = sandbox.inner.store.lock();
    let mut uuids = Vec::new();
    for Screened {
        code_number,
        raw,
        facts,
        format,
    } in accepted
    {
        let uuid = random_id(26);
        accepted_out.push(AcceptedDocument {
            uuid: uuid.clone(),
            invoice_code_number: code_number.clone(),
        });
        store.insert_document(DocumentRecord {
            uuid: uuid.clone(),
            submission_uid: uid.clone(),
            long_id: None,
            format,
            raw,
            code_number,
            facts,
            status: DocumentStatus::Submitted,
            received: now,
            validated: None,
            cancelled: None,
            reject_requested: None,
            status_reason: None,
            submitter: caller.clone(),
            steps: vec![invois_api::documents::ValidationStep {
                name: STRUCTURE_STEP.to_owned(),
                status: DocumentStatus::Valid,
                error: None,
            }],
        });
        uuids.push(uuid);
    }
    store.submissions.insert(
        uid.clone(),
        SubmissionRecord {
            uid: uid.clone(),
            received: now,
            submitter: caller.clone(),
            documents: uuids,
        },
    );
    store
        .recent_payloads
        .insert((caller.tin.clone(), payload_sha256.to_owned()), now);
    // Forget payloads whose window has closed, so the map does not grow forever.
    let window = DUPLICATE_SUBMISSION_WINDOW;
    store.recent_payloads.retain(|_, at| now < *at + window);
    (uid, accepted_out)
}

/// Get Submission's query. `invois_api`'s `GetSubmissionQuery` is lenient for clients; the
/// server refuses unknown parameters like every other endpoint.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct GetSubmissionQuery {
    #[serde(default)]
    page_no: Option<u32>,
    #[serde(default)]
    page_size: Option<u32>,
}

/// `GET /api/v1.0/documentsubmissions/{submissionUid}`.
pub(crate) async fn get_submission(
    State(sandbox): State<Sandbox>,
    Auth(caller): Auth,
    ApiPath(uid): ApiPath<String>,
    ApiQuery(query): ApiQuery<GetSubmissionQuery>,
) -> Result<axum::Json<GetSubmissionResponse>, AppError> {
    let page_size = query.page_size.unwrap_or(MAX_SUBMISSION_PAGE_SIZE);
    if page_size == 0 || page_size > MAX_SUBMISSION_PAGE_SIZE {
        return Err(AppError::bad_argument(
            "pageSize",
            format!("pageSize must be between 1 and {MAX_SUBMISSION_PAGE_SIZE}"),
        ));
    }
    let page_no = query.page_no.unwrap_or(1);
    if page_no == 0 {
        return Err(AppError::bad_argument("pageNo", "pageNo starts at 1"));
    }
    let store = sandbox.inner.store.lock();
    let submission = store
        .submission(&uid)
        .filter(|s| {
            s.submitter.tin == caller.tin
                && (caller.intermediary_tin.is_none()
                    || s.submitter.intermediary_tin == caller.intermediary_tin)
        })
        .ok_or_else(|| AppError::NotFound(format!("Submission {uid} was not found")))?;
    let docs: Vec<&DocumentRecord> = submission
        .documents
        .iter()
        .filter_map(|u| store.document(u))
        .collect();
    let overall = OverallStatus::from_documents(docs.iter().map(|d| d.status));
    let start = ((page_no - 1) as usize).saturating_mul(page_size as usize);
    let summary = docs
        .iter()
        .skip(start)
        .take(page_size as usize)
        .map(|d| d.summary())
        .collect();
    Ok(axum::Json(GetSubmissionResponse {
        submission_uid: submission.uid.clone(),
        document_count: docs.len() as u32,
        date_time_received: submission.received,
        overall_status: overall,
        document_summary: summary,
    }))
}
