//! Platform APIs: document types, versions, workflow parameters and notifications
//! (README §4.1).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `GET /api/v1.0/documenttypes` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentTypesResponse {
    /// Active and formerly active types.
    pub result: Vec<DocumentType>,
}

/// A document type. Get Document Type returns one (not wrapped) with `workflowParameters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentType {
    /// Numeric id, e.g. 45.
    pub id: u32,
    /// 1, 2, 3, 4, 11, 12, 13 or 14.
    pub invoice_type_code: u32,
    /// e.g. `Invoice`; clients read this to label documents. LHDN's page for this API does
    /// not list `name` (only `description`), so a response without it must still decode.
    #[serde(default)]
    pub name: String,
    /// Description.
    pub description: String,
    /// Active from.
    #[serde(with = "crate::datetime::utc")]
    pub active_from: DateTime<Utc>,
    /// Active until, if deactivated.
    #[serde(default, with = "crate::datetime::utc_opt")]
    pub active_to: Option<DateTime<Utc>>,
    /// Versions.
    #[serde(default)]
    pub document_type_versions: Vec<DocumentTypeVersion>,
    /// Only in Get Document Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_parameters: Option<Vec<WorkflowParameter>>,
}

/// A version of a document type (in lists, and from Get Document Type Version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentTypeVersion {
    /// Numeric id.
    pub id: u32,
    /// Only in Get Document Type Version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_type_code: Option<u32>,
    /// e.g. `1.1`.
    pub name: String,
    /// Description.
    pub description: String,
    /// Active from.
    #[serde(with = "crate::datetime::utc")]
    pub active_from: DateTime<Utc>,
    /// Active until.
    #[serde(default, with = "crate::datetime::utc_opt")]
    pub active_to: Option<DateTime<Utc>>,
    /// e.g. 1.1.
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub version_number: Decimal,
    /// `draft`, `published` or `deactivated`.
    pub status: String,
}

/// A workflow parameter such as the 72-hour cancellation window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowParameter {
    /// Numeric id.
    pub id: u32,
    /// `submissionDuration`, `cancellationDuration` or `rejectionDuration`.
    pub parameter: String,
    /// Hours.
    pub value: u32,
    /// Active from.
    #[serde(with = "crate::datetime::utc")]
    pub active_from: DateTime<Utc>,
    /// Active until.
    #[serde(default, with = "crate::datetime::utc_opt")]
    pub active_to: Option<DateTime<Utc>>,
}

/// `GET /api/v1.0/notifications/taxpayer` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationsQuery {
    /// From.
    #[serde(
        default,
        with = "crate::datetime::utc_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub date_from: Option<DateTime<Utc>>,
    /// To.
    #[serde(
        default,
        with = "crate::datetime::utc_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub date_to: Option<DateTime<Utc>>,
    /// Type id (6 received, 7 validated, 8 cancelled, 15 rejection initiated, ...).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_id: Option<u32>,
    /// `ms` or `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Status id: 1 New, 2 Pending, 3 Batched, 4 Delivered, 5 Error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u32>,
    /// Removed in Oct 2024; still in the Postman collection, so it is accepted and ignored.
    #[serde(default, skip_serializing)]
    pub channel: Option<String>,
    /// 1-based page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_no: Option<u32>,
    /// At most 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
}

/// Notification type ids (README §4.1).
pub mod notification_type {
    /// Profile data validation.
    pub const PROFILE_DATA_VALIDATION: u32 = 3;
    /// Document received.
    pub const DOCUMENT_RECEIVED: u32 = 6;
    /// Document validated.
    pub const DOCUMENT_VALIDATED: u32 = 7;
    /// Document cancelled.
    pub const DOCUMENT_CANCELLED: u32 = 8;
    /// User profile changed.
    pub const USER_PROFILE_CHANGED: u32 = 10;
    /// Taxpayer profile changed.
    pub const TAXPAYER_PROFILE_CHANGED: u32 = 11;
    /// Document rejection initiated.
    pub const DOCUMENT_REJECTION_INITIATED: u32 = 15;
    /// ERP data validation.
    pub const ERP_DATA_VALIDATION: u32 = 26;
    /// Documents processing summary.
    pub const DOCUMENTS_PROCESSING_SUMMARY: u32 = 33;
    /// Document template published.
    pub const DOCUMENT_TEMPLATE_PUBLISHED: u32 = 34;
    /// Document template deletion.
    pub const DOCUMENT_TEMPLATE_DELETION: u32 = 35;

    /// The type's display name.
    pub fn name(id: u32) -> Option<&'static str> {
        Some(match id {
            PROFILE_DATA_VALIDATION => "Profile data validation",
            DOCUMENT_RECEIVED => "Document received",
            DOCUMENT_VALIDATED => "Document validated",
            DOCUMENT_CANCELLED => "Document cancelled",
            USER_PROFILE_CHANGED => "User profile changed",
            TAXPAYER_PROFILE_CHANGED => "Taxpayer profile changed",
            DOCUMENT_REJECTION_INITIATED => "Document rejection initiated",
            ERP_DATA_VALIDATION => "ERP data validation",
            DOCUMENTS_PROCESSING_SUMMARY => "Documents processing summary",
            DOCUMENT_TEMPLATE_PUBLISHED => "Document Template Published",
            DOCUMENT_TEMPLATE_DELETION => "Document Template Deletion",
            _ => return None,
        })
    }
}

/// `GET /api/v1.0/notifications/taxpayer` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationsResponse {
    /// This page, newest first.
    pub result: Vec<Notification>,
    /// Paging.
    pub metadata: NotificationsMetadata,
}

/// Notifications paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationsMetadata {
    /// Whether another page exists.
    pub has_next: bool,
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Id.
    pub notification_id: String,
    /// Receiver.
    pub receiver_name: String,
    /// Delivery id.
    pub notification_delivery_id: String,
    /// Created.
    #[serde(with = "crate::datetime::utc")]
    pub creation_date_time: DateTime<Utc>,
    /// Received.
    #[serde(with = "crate::datetime::utc")]
    pub received_date_time: DateTime<Utc>,
    /// Subject.
    pub notification_subject: String,
    /// Delivered.
    #[serde(default, with = "crate::datetime::utc_opt")]
    pub delivered_date_time: Option<DateTime<Utc>>,
    /// Type id.
    pub type_id: u32,
    /// Type name.
    pub type_name: String,
    /// Message.
    pub final_message: String,
    /// Address.
    pub address: String,
    /// `en` or `ms`.
    pub language: String,
    /// Status name.
    pub status: String,
    /// Attempts.
    #[serde(default)]
    pub delivery_attempts: Vec<DeliveryAttempt>,
}

/// A delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    /// When.
    #[serde(with = "crate::datetime::utc")]
    pub attempt_date_time: DateTime<Utc>,
    /// `delivered` or `error`.
    pub status: String,
    /// Details.
    #[serde(default)]
    pub status_details: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_type_decodes_with_only_the_documented_fields() {
        let body = r#"{"result":[{"id":45,"invoiceTypeCode":4,"description":"Invoice","activeFrom":"2015-02-13T13:15:00Z","activeTo":"2027-03-01T00:00:00Z","documentTypeVersions":[{"id":454,"name":"1.0","description":"Invoice version 1.1","activeFrom":"2015-02-13T13:15:00Z","activeTo":"2027-03-01T00:00:00Z","versionNumber":1.1,"status":"published"}]}]}"#;
        let r: DocumentTypesResponse = serde_json::from_str(body).unwrap();
        assert_eq!(r.result[0].id, 45);
        assert_eq!(r.result[0].name, "");
        assert_eq!(r.result[0].document_type_versions[0].status, "published");
    }
}
