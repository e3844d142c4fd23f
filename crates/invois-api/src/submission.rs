//! Submit Documents and Get Submission (README §4.2).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::status::{DocumentStatus, OverallStatus};

/// Documents per submission (README §5).
pub const MAX_DOCUMENTS_PER_SUBMISSION: usize = 100;
/// Bytes per submission: 5 MB.
pub const MAX_SUBMISSION_BYTES: usize = 5 * 1024 * 1024;
/// Bytes per document: 300 KB.
pub const MAX_DOCUMENT_BYTES: usize = 300 * 1024;
/// Get Submission's largest page.
pub const MAX_SUBMISSION_PAGE_SIZE: u32 = 100;

/// The format of a submitted document: [`crate::Format`] under the name this module's types
/// have always used.
pub use crate::format::Format as DocumentFormat;

/// `POST /api/v1.0/documentsubmissions` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitDocumentsRequest {
    /// At least one document.
    pub documents: Vec<DocumentSubmission>,
}

/// One document in a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DocumentSubmission {
    /// `JSON` or `XML`.
    pub format: DocumentFormat,
    /// Base64 of the exact document bytes.
    pub document: String,
    /// Lowercase hex SHA-256 of the same bytes (README §6.4).
    pub document_hash: String,
    /// The document's own number (`cbc:ID`), e.g. `INV12345`.
    pub code_number: String,
}

/// `202 Accepted` body of Submit Documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitDocumentsResponse {
    /// The submission's uid; `null` when every document was rejected. Documented as
    /// `submissionUID`, sent as `submissionUid`.
    #[serde(alias = "submissionUID")]
    pub submission_uid: Option<String>,
    /// Documents accepted for validation.
    #[serde(default)]
    pub accepted_documents: Vec<AcceptedDocument>,
    /// Documents that failed the synchronous checks.
    #[serde(default)]
    pub rejected_documents: Vec<RejectedDocument>,
}

/// An accepted document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcceptedDocument {
    /// The uuid MyInvois assigned.
    pub uuid: String,
    /// The submitted `codeNumber`.
    pub invoice_code_number: String,
}

/// A rejected document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedDocument {
    /// The submitted `codeNumber`.
    pub invoice_code_number: String,
    /// Why, in the OData-like shape.
    pub error: ApiError,
}

/// `GET /api/v1.0/documentsubmissions/{submissionUid}` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetSubmissionQuery {
    /// 1-based page number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_no: Option<u32>,
    /// Page size, at most 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
}

/// Get Submission's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetSubmissionResponse {
    /// The submission's uid.
    #[serde(alias = "submissionUID")]
    pub submission_uid: String,
    /// Documents accepted for processing.
    pub document_count: u32,
    /// When the submission arrived.
    #[serde(with = "crate::datetime::utc")]
    pub date_time_received: DateTime<Utc>,
    /// The submission's status.
    pub overall_status: OverallStatus,
    /// This page of documents.
    #[serde(default)]
    pub document_summary: Vec<DocumentSummary>,
}

/// One document's metadata, as Get Submission lists it (and as Get Document and Get Document
/// Details return it, with extra members).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentSummary {
    /// The document's uuid.
    pub uuid: String,
    /// Its submission.
    #[serde(alias = "submissionUID")]
    pub submission_uid: String,
    /// Present only for valid documents.
    #[serde(default)]
    pub long_id: Option<String>,
    /// The document's own number.
    pub internal_id: String,
    /// e.g. `Invoice`.
    pub type_name: String,
    /// e.g. `1.1`.
    pub type_version_name: String,
    /// The issuer's TIN.
    #[serde(alias = "issuerTIN")]
    pub issuer_tin: String,
    /// The issuer's name.
    #[serde(default)]
    pub issuer_name: Option<String>,
    /// The receiver's TIN or ID.
    #[serde(default)]
    pub receiver_id: Option<String>,
    /// The receiver's name.
    #[serde(default)]
    pub receiver_name: Option<String>,
    /// Issue date-time from the document.
    #[serde(with = "crate::datetime::utc")]
    pub date_time_issued: DateTime<Utc>,
    /// When MyInvois received it.
    #[serde(with = "crate::datetime::utc")]
    pub date_time_received: DateTime<Utc>,
    /// When validation finished.
    #[serde(default, with = "crate::datetime::utc_opt")]
    pub date_time_validated: Option<DateTime<Utc>>,
    /// Total excluding tax.
    #[serde(default, with = "crate::decimal")]
    pub total_excluding_tax: Option<Decimal>,
    /// Total discount.
    #[serde(default, with = "crate::decimal")]
    pub total_discount: Option<Decimal>,
    /// Net amount.
    #[serde(default, with = "crate::decimal")]
    pub total_net_amount: Option<Decimal>,
    /// Payable amount.
    #[serde(default, with = "crate::decimal")]
    pub total_payable_amount: Option<Decimal>,
    /// Status.
    pub status: DocumentStatus,
    /// When it was cancelled.
    #[serde(default, with = "crate::datetime::utc_opt")]
    pub cancel_date_time: Option<DateTime<Utc>>,
    /// When the buyer asked to reject it.
    #[serde(default, with = "crate::datetime::utc_opt")]
    pub reject_request_date_time: Option<DateTime<Utc>>,
    /// Reason given for cancellation or rejection.
    #[serde(default)]
    pub document_status_reason: Option<String>,
    /// `<TIN>:<client_id>` of the submitting system user.
    #[serde(default)]
    pub created_by_user_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submit_response_accepts_both_uid_spellings() {
        for key in ["submissionUid", "submissionUID"] {
            let body = format!(
                r#"{{"{key}":"XYE60M8ENDWA7V9TKBXBTGQG10","acceptedDocuments":[{{"uuid":"42S512YACQBRSRHYKBXBTGQG22","invoiceCodeNumber":"INV1"}}],"rejectedDocuments":[]}}"#
            );
            let r: SubmitDocumentsResponse = serde_json::from_str(&body).unwrap();
            assert_eq!(
                r.submission_uid.as_deref(),
                Some("XYE60M8ENDWA7V9TKBXBTGQG10")
            );
        }
        let out = serde_json::to_string(&SubmitDocumentsResponse {
            submission_uid: None,
            accepted_documents: vec![],
            rejected_documents: vec![],
        })
        .unwrap();
        assert_eq!(
            out,
            r#"{"submissionUid":null,"acceptedDocuments":[],"rejectedDocuments":[]}"#
        );
    }

    #[test]
    fn request_rejects_extra_members() {
        let bad = r#"{"documents":[],"extra":1}"#;
        assert!(serde_json::from_str::<SubmitDocumentsRequest>(bad).is_err());
        let ok = r#"{"documents":[{"format":"XML","document":"PA==","documentHash":"ab","codeNumber":"INV12345"}]}"#;
        let r: SubmitDocumentsRequest = serde_json::from_str(ok).unwrap();
        assert_eq!(r.documents[0].format, DocumentFormat::Xml);
    }

    #[test]
    fn summary_amounts_are_exact_numbers() {
        let body = r#"{"uuid":"U","submissionUid":"S","longId":null,"internalId":"INV1","typeName":"Invoice","typeVersionName":"1.1","issuerTin":"C1","issuerName":"A","receiverId":"C2","receiverName":"B","dateTimeIssued":"2024-01-01T00:00:00Z","dateTimeReceived":"2024-01-01T00:01:00.1234567Z","dateTimeValidated":null,"totalExcludingTax":1436.50,"totalDiscount":0.1,"totalNetAmount":1436.5,"totalPayableAmount":1666.34,"status":"Submitted","cancelDateTime":null,"rejectRequestDateTime":null,"documentStatusReason":null,"createdByUserId":"C1:id"}"#;
        let s: DocumentSummary = serde_json::from_str(body).unwrap();
        assert_eq!(s.total_excluding_tax, Some(Decimal::new(143650, 2)));
        let out = serde_json::to_string(&s).unwrap();
        assert!(out.contains(r#""totalPayableAmount":1666.34"#), "{out}");
        assert!(
            out.contains(r#""dateTimeReceived":"2024-01-01T00:01:00Z""#),
            "{out}"
        );
    }
}
