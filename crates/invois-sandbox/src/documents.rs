//! Document APIs: cancel/reject, Get Recent Documents, Get Document, Get Document Details and
//! Search Documents, with the visibility rules of README §4.3.

use axum::extract::State;
use chrono::{DateTime, Utc};
use invois_api::DocumentStatus;
use invois_api::documents::{
    DocumentDetailsResponse, DocumentPage, InvoiceDirection, ListMetadata, MAX_CANCEL_REASON_CHARS,
    MAX_RESULT_SET, MAX_SEARCH_PAGE_SIZE, MAX_SEARCH_RANGE_DAYS, RECENT_DOCUMENTS_DAYS,
    RawDocumentResponse, RecentDocumentsQuery, SearchDocumentsQuery, SearchedDocument, StateChange,
    StateChangeRequest, StateChangeResponse, ValidationResults,
};
use invois_api::platform::notification_type;
use invois_api::windows::{CANCELLATION_WINDOW, REJECTION_WINDOW};

use crate::error::AppError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::store::{DocumentRecord, Store};
use crate::{Caller, Sandbox};

/// The caller's relation to a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The issuer (or the intermediary that submitted for it).
    Issuer,
    /// The receiver.
    Receiver,
}

/// How `caller` relates to `doc`, before status-based visibility.
pub(crate) fn role(doc: &DocumentRecord, caller: &Caller) -> Option<Role> {
    if let Some(intermediary) = &caller.intermediary_tin {
        // Intermediaries see only what they submitted on behalf of this taxpayer.
        let mine = doc.submitter.intermediary_tin.as_ref() == Some(intermediary)
            && doc.issuer_tin().eq_ignore_ascii_case(&caller.tin);
        return mine.then_some(Role::Issuer);
    }
    if doc.issuer_tin().eq_ignore_ascii_case(&caller.tin) {
        Some(Role::Issuer)
    } else if doc
        .receiver_tin()
        .is_some_and(|r| r.eq_ignore_ascii_case(&caller.tin))
    {
        Some(Role::Receiver)
    } else {
        None
    }
}

/// `role`, restricted to what the caller may see: receivers see only Valid and Cancelled.
pub(crate) fn visible_role(doc: &DocumentRecord, caller: &Caller) -> Option<Role> {
    match role(doc, caller)? {
        Role::Issuer => Some(Role::Issuer),
        Role::Receiver => matches!(
            doc.status,
            DocumentStatus::Valid | DocumentStatus::Cancelled
        )
        .then_some(Role::Receiver),
    }
}

fn not_found(uuid: &str) -> AppError {
    AppError::NotFound(format!("Document {uuid} was not found"))
}

fn visible<'a>(
    store: &'a Store,
    uuid: &str,
    caller: &Caller,
) -> Result<(&'a DocumentRecord, Role), AppError> {
    let doc = store.document(uuid).ok_or_else(|| not_found(uuid))?;
    let role = visible_role(doc, caller).ok_or_else(|| not_found(uuid))?;
    Ok((doc, role))
}

/// `GET /api/v1.0/documents/{uuid}/raw`.
pub(crate) async fn raw(
    State(sandbox): State<Sandbox>,
    Auth(caller): Auth,
    ApiPath(uuid): ApiPath<String>,
) -> Result<axum::Json<RawDocumentResponse>, AppError> {
    let store = sandbox.inner.store.lock();
    let (doc, _) = visible(&store, &uuid, &caller)?;
    Ok(axum::Json(RawDocumentResponse {
        summary: doc.summary(),
        document: doc.raw.clone(),
    }))
}

/// `GET /api/v1.0/documents/{uuid}/details`.
pub(crate) async fn details(
    State(sandbox): State<Sandbox>,
    Auth(caller): Auth,
    ApiPath(uuid): ApiPath<String>,
) -> Result<axum::Json<DocumentDetailsResponse>, AppError> {
    let store = sandbox.inner.store.lock();
    let (doc, _) = visible(&store, &uuid, &caller)?;
    let status = match doc.status {
        DocumentStatus::Cancelled => DocumentStatus::Valid,
        s => s,
    };
    Ok(axum::Json(DocumentDetailsResponse {
        summary: doc.summary(),
        validation_results: ValidationResults {
            status,
            validation_steps: doc.steps.clone(),
        },
    }))
}

/// `PUT /api/v1.0/documents/state/{uuid}/state`: cancel (issuer) or reject (receiver).
pub(crate) async fn change_state(
    State(sandbox): State<Sandbox>,
    Auth(caller): Auth,
    ApiPath(uuid): ApiPath<String>,
    ApiJson(body): ApiJson<StateChangeRequest>,
) -> Result<axum::Json<StateChangeResponse>, AppError> {
    let reason = body.reason.trim().to_owned();
    if reason.is_empty() {
        return Err(AppError::bad_argument("reason", "reason is mandatory"));
    }
    if body.status == StateChange::Cancelled && reason.chars().count() > MAX_CANCEL_REASON_CHARS {
        return Err(AppError::bad_argument(
            "reason",
            format!("reason must be at most {MAX_CANCEL_REASON_CHARS} characters"),
        ));
    }
    let now = sandbox.clock().now();
    let mut store = sandbox.inner.store.lock();
    let (doc, role) = visible(&store, &uuid, &caller)?;
    let wanted = match body.status {
        StateChange::Cancelled => Role::Issuer,
        StateChange::Rejected => Role::Receiver,
    };
    if role != wanted {
        return Err(AppError::Forbidden(match body.status {
            StateChange::Cancelled => "Only the issuer can cancel a document".to_owned(),
            StateChange::Rejected => "Only the receiver can reject a document".to_owned(),
        }));
    }
    if doc.status != DocumentStatus::Valid {
        return Err(AppError::IncorrectState(format!(
            "Document {uuid} is {}; only Valid documents can change state",
            doc.status
        )));
    }
    if body.status == StateChange::Rejected && doc.reject_requested.is_some() {
        return Err(AppError::IncorrectState(format!(
            "Rejection of document {uuid} was already requested; a document can be rejected only once"
        )));
    }
    let validated = doc.validated.unwrap_or(doc.received);
    let window = match body.status {
        StateChange::Cancelled => CANCELLATION_WINDOW,
        StateChange::Rejected => REJECTION_WINDOW,
    };
    if now - validated > window {
        return Err(AppError::OperationPeriodOver(format!(
            "The {}-hour period after validation ({}) is over",
            window.num_hours(),
            invois_api::datetime::format(&validated)
        )));
    }
    let referencing: Vec<String> = store
        .documents()
        .filter(|d| {
            d.status == DocumentStatus::Valid
                && d.facts.is_note()
                && d.facts
                    .billing_references
                    .iter()
                    .any(|r| r.uuid.as_deref() == Some(uuid.as_str()))
        })
        .map(|d| d.uuid.clone())
        .collect();
    if !referencing.is_empty() {
        return Err(AppError::ActiveReferencingDocuments(format!(
            "Document {uuid} is referenced by valid document(s) {}; cancel those first",
            referencing.join(", ")
        )));
    }
    let issuer = doc.issuer_tin().to_owned();
    let receiver = doc.receiver_tin().map(str::to_owned);
    let internal = doc.facts.internal_id.clone();
    let Some(doc) = store.documents.get_mut(&uuid) else {
        return Err(not_found(&uuid));
    };
    doc.status_reason = Some(reason.clone());
    let status = match body.status {
        StateChange::Cancelled => {
            doc.status = DocumentStatus::Cancelled;
            doc.cancelled = Some(now);
            for tin in std::iter::once(issuer.clone()).chain(receiver) {
                store.notify(
                    &tin,
                    notification_type::DOCUMENT_CANCELLED,
                    format!("Document {internal} cancelled"),
                    format!("Document {internal} ({uuid}) was cancelled by {issuer}: {reason}"),
                    now,
                );
            }
            "Cancelled"
        }
        StateChange::Rejected => {
            doc.reject_requested = Some(now);
            store.notify(
                &issuer,
                notification_type::DOCUMENT_REJECTION_INITIATED,
                format!("Rejection of document {internal} requested"),
                format!(
                    "{} asked to reject document {internal} ({uuid}): {reason}",
                    caller.tin
                ),
                now,
            );
            "Requested for Rejection"
        }
    };
    Ok(axum::Json(StateChangeResponse {
        uuid,
        status: status.to_owned(),
        error: None,
    }))
}

/// A date range, both ends given.
type Range = (DateTime<Utc>, DateTime<Utc>);

fn pair(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    from_name: &str,
    to_name: &str,
) -> Result<Option<Range>, AppError> {
    match (from, to) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(AppError::bad_argument(
            to_name,
            format!("{to_name} is mandatory when {from_name} is given"),
        )),
        (None, Some(_)) => Err(AppError::bad_argument(
            from_name,
            format!("{from_name} is mandatory when {to_name} is given"),
        )),
        (Some(f), Some(t)) => {
            if f >= t {
                return Err(AppError::bad_argument(
                    from_name,
                    format!("{from_name} must be earlier than {to_name}"),
                ));
            }
            Ok(Some((f, t)))
        }
    }
}

fn type_code_matches(filter: &str, code: &str) -> bool {
    match (filter.trim().parse::<u32>(), code.parse::<u32>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn check_document_type(filter: Option<&str>) -> Result<(), AppError> {
    if let Some(t) = filter {
        let ok = t
            .trim()
            .parse::<u32>()
            .is_ok_and(|n| matches!(n, 1..=4 | 11..=14));
        if !ok {
            return Err(AppError::bad_argument(
                "documentType",
                "documentType must be one of 01, 02, 03, 04, 11, 12, 13, 14",
            ));
        }
    }
    Ok(())
}

fn intermediary_details(
    sandbox: &Sandbox,
    doc: &DocumentRecord,
) -> (Option<String>, Option<String>) {
    let Some(tin) = &doc.submitter.intermediary_tin else {
        return (None, None);
    };
    sandbox
        .fixtures()
        .intermediaries
        .iter()
        .find(|i| &i.tin == tin)
        .map_or((None, None), |i| (Some(i.name.clone()), i.rob.clone()))
}

fn page_of<T>(items: Vec<T>, page_no: u32, page_size: u32) -> DocumentPage<T> {
    let total = items.len().min(MAX_RESULT_SET as usize);
    let start = ((page_no - 1) as usize).saturating_mul(page_size as usize);
    let result: Vec<T> = items
        .into_iter()
        .take(total)
        .skip(start)
        .take(page_size as usize)
        .collect();
    DocumentPage {
        result,
        metadata: ListMetadata {
            total_pages: (total as u32).div_ceil(page_size),
            total_count: total as u32,
        },
    }
}

fn paging(page_no: Option<u32>, page_size: Option<u32>) -> Result<(u32, u32), AppError> {
    let page_size = page_size.unwrap_or(MAX_SEARCH_PAGE_SIZE);
    if page_size == 0 || page_size > MAX_SEARCH_PAGE_SIZE {
        return Err(AppError::bad_argument(
            "pageSize",
            format!("pageSize must be between 1 and {MAX_SEARCH_PAGE_SIZE}"),
        ));
    }
    let page_no = page_no.unwrap_or(1);
    if page_no == 0 {
        return Err(AppError::bad_argument("pageNo", "pageNo starts at 1"));
    }
    Ok((page_no, page_size))
}

/// `GET /api/v1.0/documents/recent`.
pub(crate) async fn recent(
    State(sandbox): State<Sandbox>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<RecentDocumentsQuery>,
) -> Result<axum::Json<DocumentPage<invois_api::documents::ListedDocument>>, AppError> {
    // Recent Documents caps pageSize at a system maximum it does not publish (README §4.2),
    // where Search Documents refuses one above 100: a larger page here is served as 100.
    let page_size = q.page_size.map(|n| n.min(MAX_SEARCH_PAGE_SIZE));
    let (page_no, page_size) = paging(q.page_no, page_size)?;
    let submitted = pair(
        q.submission_date_from,
        q.submission_date_to,
        "submissionDateFrom",
        "submissionDateTo",
    )?;
    let issued = pair(
        q.issue_date_from,
        q.issue_date_to,
        "issueDateFrom",
        "issueDateTo",
    )?;
    check_document_type(q.document_type.as_deref())?;
    let direction = q.invoice_direction;
    for (given, name) in [
        (q.receiver_id.is_some(), "receiverId"),
        (q.receiver_id_type.is_some(), "receiverIdType"),
        (q.receiver_tin.is_some(), "receiverTin"),
    ] {
        if given && direction != Some(InvoiceDirection::Sent) {
            return Err(AppError::bad_argument(
                name,
                format!("{name} can only be used with InvoiceDirection=Sent"),
            ));
        }
    }
    for (given, name) in [
        (q.issuer_id.is_some(), "issuerId"),
        (q.issuer_id_type.is_some(), "issuerIdType"),
        (q.issuer_tin.is_some(), "issuerTin"),
    ] {
        if given && direction != Some(InvoiceDirection::Received) {
            return Err(AppError::bad_argument(
                name,
                format!("{name} can only be used with InvoiceDirection=Received"),
            ));
        }
    }
    if q.receiver_id.is_some() != q.receiver_id_type.is_some() {
        return Err(AppError::bad_argument(
            "receiverIdType",
            "receiverIdType and receiverId go together",
        ));
    }
    if q.issuer_id.is_some() != q.issuer_id_type.is_some() {
        return Err(AppError::bad_argument(
            "issuerIdType",
            "issuerIdType and issuerId go together",
        ));
    }
    let now = sandbox.clock().now();
    let oldest = now - chrono::Duration::days(RECENT_DOCUMENTS_DAYS);
    let store = sandbox.inner.store.lock();
    let id_matches = |id: &Option<(String, String)>,
                      ty: Option<invois_api::taxpayer::IdType>,
                      value: &Option<String>| {
        match (ty, value) {
            (Some(ty), Some(v)) => id
                .as_ref()
                .is_some_and(|(s, iv)| s == ty.as_str() && iv.eq_ignore_ascii_case(v.trim())),
            _ => true,
        }
    };
    let items: Vec<_> = store
        .documents()
        .rev()
        .filter(|d| d.issued_at() >= oldest)
        .filter_map(|d| visible_role(d, &caller).map(|r| (d, r)))
        .filter(|(_, r)| match direction {
            Some(InvoiceDirection::Sent) => *r == Role::Issuer,
            Some(InvoiceDirection::Received) => *r == Role::Receiver,
            None => true,
        })
        .filter(|(d, _)| submitted.is_none_or(|(f, t)| d.received >= f && d.received <= t))
        .filter(|(d, _)| issued.is_none_or(|(f, t)| d.issued_at() >= f && d.issued_at() <= t))
        .filter(|(d, _)| q.status.is_none_or(|s| d.status == s))
        .filter(|(d, _)| {
            q.document_type
                .as_deref()
                .is_none_or(|t| type_code_matches(t, &d.facts.type_code))
        })
        .filter(|(d, _)| {
            q.receiver_tin.as_deref().is_none_or(|t| {
                d.receiver_tin()
                    .is_some_and(|r| r.eq_ignore_ascii_case(t.trim()))
            })
        })
        .filter(|(d, _)| {
            q.issuer_tin
                .as_deref()
                .is_none_or(|t| d.issuer_tin().eq_ignore_ascii_case(t.trim()))
        })
        .filter(|(d, _)| id_matches(&d.facts.receiver().id, q.receiver_id_type, &q.receiver_id))
        .filter(|(d, _)| id_matches(&d.facts.issuer().id, q.issuer_id_type, &q.issuer_id))
        .map(|(d, _)| {
            let (name, rob) = intermediary_details(&sandbox, d);
            d.listed(name, rob)
        })
        .collect();
    Ok(axum::Json(page_of(items, page_no, page_size)))
}

/// `GET /api/v1.0/documents/search`.
pub(crate) async fn search(
    State(sandbox): State<Sandbox>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<SearchDocumentsQuery>,
) -> Result<axum::Json<DocumentPage<SearchedDocument>>, AppError> {
    let (page_no, page_size) = paging(q.page_no, q.page_size)?;
    let submitted = pair(
        q.submission_date_from,
        q.submission_date_to,
        "submissionDateFrom",
        "submissionDateTo",
    )?;
    let issued = pair(
        q.issue_date_from,
        q.issue_date_to,
        "issueDateFrom",
        "issueDateTo",
    )?;
    if submitted.is_none() && issued.is_none() {
        return Err(AppError::bad_argument(
            "submissionDateFrom",
            "Give submissionDateFrom and submissionDateTo, or issueDateFrom and issueDateTo",
        ));
    }
    for (range, name) in [(submitted, "submissionDateTo"), (issued, "issueDateTo")] {
        if let Some((f, t)) = range
            && t - f > chrono::Duration::days(MAX_SEARCH_RANGE_DAYS)
        {
            return Err(AppError::bad_argument(
                name,
                format!("The date range must not exceed {MAX_SEARCH_RANGE_DAYS} days"),
            ));
        }
    }
    check_document_type(q.document_type.as_deref())?;
    let needle = q
        .search_query
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(n) = needle
        && !n
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_'))
    {
        return Err(AppError::bad_argument(
            "searchQuery",
            "searchQuery must not contain special characters",
        ));
    }
    let needle = needle.map(str::to_lowercase);
    let store = sandbox.inner.store.lock();
    let contains = |hay: Option<&str>, n: &str| hay.is_some_and(|h| h.to_lowercase().contains(n));
    let items: Vec<_> = store
        .documents()
        .rev()
        .filter_map(|d| visible_role(d, &caller).map(|r| (d, r)))
        .filter(|(d, _)| q.uuid.as_deref().is_none_or(|u| d.uuid == u.trim()))
        .filter(|(_, r)| match q.invoice_direction {
            Some(InvoiceDirection::Sent) => *r == Role::Issuer,
            Some(InvoiceDirection::Received) => *r == Role::Receiver,
            None => true,
        })
        .filter(|(d, _)| submitted.is_none_or(|(f, t)| d.received >= f && d.received <= t))
        .filter(|(d, _)| issued.is_none_or(|(f, t)| d.issued_at() >= f && d.issued_at() <= t))
        .filter(|(d, _)| q.status.is_none_or(|s| d.status == s))
        .filter(|(d, _)| {
            q.document_type
                .as_deref()
                .is_none_or(|t| type_code_matches(t, &d.facts.type_code))
        })
        .filter(|(d, _)| {
            needle.as_deref().is_none_or(|n| {
                let total = d.facts.totals.payable.map(|p| p.to_string());
                contains(Some(&d.uuid), n)
                    || contains(d.facts.buyer.tin.as_deref(), n)
                    || contains(d.facts.supplier.tin.as_deref(), n)
                    || contains(d.facts.buyer.name.as_deref(), n)
                    || contains(d.facts.supplier.name.as_deref(), n)
                    || contains(Some(&d.facts.internal_id), n)
                    || contains(total.as_deref(), n)
            })
        })
        .map(|(d, _)| {
            let (name, rob) = intermediary_details(&sandbox, d);
            let mut listed = d.listed(name, rob);
            listed.issuer_name = d.facts.issuer().name.clone();
            SearchedDocument(listed)
        })
        .collect();
    Ok(axum::Json(page_of(items, page_no, page_size)))
}
