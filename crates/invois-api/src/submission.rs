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

/// One document as it goes on the wire: its exact bytes, with their lowercase hex SHA-256
/// (`documentHash`, README §6.4) and base64 (`document`) each made once from those bytes. The
/// model's preparation, the client's submission and the gateway's pipeline hand this along
/// instead of encoding and hashing again. The base64 is made when first asked for, because a
/// gateway stores the bytes and hash at preparation and sends them later.
#[derive(Clone, PartialEq, Eq)]
pub struct WireDocument {
    format: DocumentFormat,
    bytes: Vec<u8>,
    sha256_hex: String,
    base64: std::sync::OnceLock<String>,
}

impl WireDocument {
    /// Hashes `bytes` (already minified and signed as they will be sent).
    pub fn new(format: DocumentFormat, bytes: Vec<u8>) -> WireDocument {
        use sha2::Digest as _;
        let sha256_hex = hex::encode(sha2::Sha256::digest(&bytes));
        WireDocument::with_sha256(format, bytes, sha256_hex)
    }

    /// Bytes whose hash was made earlier by [`WireDocument::new`] and stored beside them (a
    /// gateway prepares, stores, and sends later). The caller vouches for the hash.
    pub fn with_sha256(format: DocumentFormat, bytes: Vec<u8>, sha256_hex: String) -> WireDocument {
        WireDocument {
            format,
            bytes,
            sha256_hex,
            base64: std::sync::OnceLock::new(),
        }
    }

    /// JSON or XML.
    pub fn format(&self) -> DocumentFormat {
        self.format
    }

    /// The exact bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The exact bytes, taken.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// `document`: base64 of the bytes.
    pub fn base64(&self) -> &str {
        use base64::Engine as _;
        self.base64
            .get_or_init(|| base64::engine::general_purpose::STANDARD.encode(&self.bytes))
    }

    /// `documentHash`: lowercase hex SHA-256 of the bytes.
    pub fn sha256_hex(&self) -> &str {
        &self.sha256_hex
    }

    /// The request entry for this document under `code_number`.
    pub fn submission(&self, code_number: impl Into<String>) -> DocumentSubmission {
        DocumentSubmission {
            format: self.format,
            document: self.base64().to_owned(),
            document_hash: self.sha256_hex.clone(),
            code_number: code_number.into(),
        }
    }
}

impl std::fmt::Debug for WireDocument {
    /// The size and hash, not the bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireDocument")
            .field("format", &self.format)
            .field("bytes", &self.bytes.len())
            .field("sha256_hex", &self.sha256_hex)
            .finish_non_exhaustive()
    }
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
    fn a_wire_document_encodes_and_hashes_its_exact_bytes() {
        let wire = WireDocument::new(DocumentFormat::Json, b"{\"a\":1}".to_vec());
        assert_eq!(wire.base64(), "eyJhIjoxfQ==");
        // sha256 of {"a":1}
        assert_eq!(
            wire.sha256_hex(),
            "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
        );
        let entry = wire.submission("INV-1");
        assert_eq!(entry.document, wire.base64());
        assert_eq!(entry.document_hash, wire.sha256_hex());
        assert_eq!(entry.code_number, "INV-1");
        assert!(!format!("{wire:?}").contains("eyJ"));
    }

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
