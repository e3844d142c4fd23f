//! Platform APIs: document types, versions, workflow parameters and notifications
//! (README §4.1).

use axum::extract::State;
use chrono::{DateTime, TimeZone, Utc};
use invois_api::platform::{
    DeliveryAttempt, DocumentType, DocumentTypeVersion, DocumentTypesResponse, Notification,
    NotificationsMetadata, NotificationsQuery, NotificationsResponse, WorkflowParameter,
    notification_type,
};
use invois_api::windows::{CANCELLATION_WINDOW, REJECTION_WINDOW};
use rust_decimal::Decimal;

use crate::Sandbox;
use crate::error::AppError;
use crate::extract::{ApiPath, ApiQuery, Auth};

/// The eight types: (id, invoiceTypeCode, name).
const TYPES: [(u32, u32, &str); 8] = [
    (45, 1, "Invoice"),
    (46, 2, "Credit Note"),
    (47, 3, "Debit Note"),
    (48, 4, "Refund Note"),
    (49, 11, "Self-billed Invoice"),
    (50, 12, "Self-billed Credit Note"),
    (51, 13, "Self-billed Debit Note"),
    (52, 14, "Self-billed Refund Note"),
];

/// A version row: (id suffix, name, description, number x10, active from (y, m, d)).
type VersionRow = (u32, &'static str, &'static str, i64, (i32, u32, u32));

/// The versions.
const VERSIONS: [VersionRow; 4] = [
    (
        1,
        "1.0",
        "Version 1.0 (no signature validation)",
        10,
        (2024, 1, 1),
    ),
    (
        2,
        "1.1",
        "Version 1.1 (digital signature validated)",
        11,
        (2024, 1, 1),
    ),
    (
        3,
        "1.2",
        "Version 1.2 (SVDP, no signature validation)",
        12,
        (2026, 7, 8),
    ),
    (
        4,
        "1.3",
        "Version 1.3 (SVDP, digital signature validated)",
        13,
        (2026, 7, 8),
    ),
];

/// The type's name for a two-digit code such as `01`.
pub(crate) fn type_name(code: &str) -> &'static str {
    let n: u32 = code.parse().unwrap_or(0);
    TYPES
        .iter()
        .find(|(_, c, _)| *c == n)
        .map_or("Unknown", |(_, _, name)| name)
}

fn date(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn version(type_id: u32, code: u32, v: &VersionRow, with_code: bool) -> DocumentTypeVersion {
    let (suffix, name, description, number, (y, m, d)) = *v;
    DocumentTypeVersion {
        id: type_id * 10 + suffix,
        invoice_type_code: with_code.then_some(code),
        name: name.to_owned(),
        description: description.to_owned(),
        active_from: date(y, m, d),
        active_to: (suffix >= 3).then(|| date(2027, 12, 31)),
        version_number: Decimal::new(number, 1),
        status: "published".to_owned(),
    }
}

fn type_entry(entry: &(u32, u32, &str), with_workflow: bool) -> DocumentType {
    let (id, code, name) = *entry;
    DocumentType {
        id,
        invoice_type_code: code,
        name: name.to_owned(),
        description: name.to_owned(),
        active_from: date(2024, 1, 1),
        active_to: None,
        document_type_versions: VERSIONS
            .iter()
            .map(|v| version(id, code, v, false))
            .collect(),
        workflow_parameters: with_workflow.then(|| {
            [
                ("submissionDuration", invois_model::codes::ISSUE_WINDOW),
                ("cancellationDuration", CANCELLATION_WINDOW),
                ("rejectionDuration", REJECTION_WINDOW),
            ]
            .iter()
            .enumerate()
            .map(|(i, (p, window))| WorkflowParameter {
                id: id * 100 + i as u32 + 1,
                parameter: (*p).to_owned(),
                value: window.num_hours() as u32,
                active_from: date(2024, 1, 1),
                active_to: None,
            })
            .collect()
        }),
    }
}

fn parse_id(raw: &str, target: &str) -> Result<u32, AppError> {
    raw.trim()
        .parse()
        .map_err(|_| AppError::bad_argument(target, format!("{target} must be a number")))
}

/// `GET /api/v1.0/documenttypes`.
pub(crate) async fn document_types(_auth: Auth) -> axum::Json<DocumentTypesResponse> {
    axum::Json(DocumentTypesResponse {
        result: TYPES.iter().map(|t| type_entry(t, false)).collect(),
    })
}

/// `GET /api/v1.0/documenttypes/{id}`.
pub(crate) async fn document_type_one(
    _auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<DocumentType>, AppError> {
    let id = parse_id(&id, "id")?;
    TYPES
        .iter()
        .find(|t| t.0 == id)
        .map(|t| axum::Json(type_entry(t, true)))
        .ok_or_else(|| AppError::NotFound(format!("Document type {id} was not found")))
}

/// `GET /api/v1.0/documenttypes/{id}/versions/{vid}`.
pub(crate) async fn document_type_version(
    _auth: Auth,
    ApiPath((id, vid)): ApiPath<(String, String)>,
) -> Result<axum::Json<DocumentTypeVersion>, AppError> {
    let id = parse_id(&id, "id")?;
    let vid = parse_id(&vid, "vid")?;
    let t = TYPES
        .iter()
        .find(|t| t.0 == id)
        .ok_or_else(|| AppError::NotFound(format!("Document type {id} was not found")))?;
    VERSIONS
        .iter()
        .map(|v| version(t.0, t.1, v, true))
        .find(|v| v.id == vid)
        .map(axum::Json)
        .ok_or_else(|| {
            AppError::NotFound(format!("Version {vid} of document type {id} was not found"))
        })
}

/// `GET /api/v1.0/notifications/taxpayer`.
pub(crate) async fn notifications(
    State(sandbox): State<Sandbox>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<NotificationsQuery>,
) -> Result<axum::Json<NotificationsResponse>, AppError> {
    let page_size = q.page_size.unwrap_or(100);
    if page_size == 0 || page_size > 100 {
        return Err(AppError::bad_argument(
            "pageSize",
            "pageSize must be between 1 and 100",
        ));
    }
    let page_no = q.page_no.unwrap_or(1);
    if page_no == 0 {
        return Err(AppError::bad_argument("pageNo", "pageNo starts at 1"));
    }
    if let Some(lang) = q.language.as_deref()
        && lang != "en"
        && lang != "ms"
    {
        return Err(AppError::bad_argument(
            "language",
            "language must be `ms` or `en`",
        ));
    }
    if let Some(t) = q.type_id
        && notification_type::name(t).is_none()
    {
        return Err(AppError::bad_argument(
            "type",
            format!("Unknown notification type {t}"),
        ));
    }
    if let Some(s) = q.status
        && !(1..=5).contains(&s)
    {
        return Err(AppError::bad_argument("status", "status must be 1 to 5"));
    }
    if let (Some(from), Some(to)) = (q.date_from, q.date_to)
        && from > to
    {
        return Err(AppError::bad_argument(
            "dateFrom",
            "dateFrom must be before dateTo",
        ));
    }
    let language = q.language.clone().unwrap_or_else(|| "en".to_owned());
    let store = sandbox.inner.store.lock();
    let receiver_name = sandbox
        .fixtures()
        .taxpayer(&caller.tin)
        .map(|t| t.name.clone())
        .unwrap_or_else(|| caller.tin.clone());
    let email = sandbox
        .fixtures()
        .taxpayer(&caller.tin)
        .and_then(|t| t.email.clone())
        .unwrap_or_default();
    // Stored notifications are delivered at once: status 4 (Delivered).
    let status_matches = q.status.is_none_or(|s| s == 4);
    let mut matching: Vec<_> = store
        .notifications
        .iter()
        .filter(|n| n.tin == caller.tin && status_matches)
        .filter(|n| q.type_id.is_none_or(|t| t == n.type_id))
        .filter(|n| q.date_from.is_none_or(|f| n.created >= f))
        .filter(|n| q.date_to.is_none_or(|t| n.created <= t))
        .collect();
    matching.reverse();
    let start = ((page_no - 1) as usize).saturating_mul(page_size as usize);
    let has_next = matching.len() > start.saturating_add(page_size as usize);
    let result = matching
        .into_iter()
        .skip(start)
        .take(page_size as usize)
        .map(|n| Notification {
            notification_id: n.id.clone(),
            receiver_name: receiver_name.clone(),
            notification_delivery_id: format!("{}-1", n.id),
            creation_date_time: n.created,
            received_date_time: n.created,
            notification_subject: n.subject.clone(),
            delivered_date_time: Some(n.created),
            type_id: n.type_id,
            type_name: notification_type::name(n.type_id)
                .unwrap_or_default()
                .to_owned(),
            final_message: n.message.clone(),
            address: email.clone(),
            language: language.clone(),
            status: "Delivered".to_owned(),
            delivery_attempts: vec![DeliveryAttempt {
                attempt_date_time: n.created,
                status: "delivered".to_owned(),
                status_details: None,
            }],
        })
        .collect();
    Ok(axum::Json(NotificationsResponse {
        result,
        metadata: NotificationsMetadata { has_next },
    }))
}
