//! Document APIs: cancel/reject, Get Recent Documents, Get Document, Get Document Details and
//! Search Documents (README §4.2).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};

use crate::error::StepError;
use crate::status::DocumentStatus;
use crate::submission::DocumentSummary;
use crate::taxpayer::IdType;

/// Longest cancellation reason (README §4.2).
pub const MAX_CANCEL_REASON_CHARS: usize = 300;
/// Widest date range for Search Documents, in days.
pub const MAX_SEARCH_RANGE_DAYS: i64 = 31;
/// How far back Get Recent Documents reaches, in days.
pub const RECENT_DOCUMENTS_DAYS: i64 = 31;
/// The most results Search and Recent Documents reach.
pub const MAX_RESULT_SET: u32 = 10_000;
/// Search Documents' page-size bounds; 100 is also the default.
pub const MAX_SEARCH_PAGE_SIZE: u32 = 100;

/// The status a state change asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateChange {
    /// The issuer cancels.
    #[serde(rename = "cancelled", alias = "Cancelled")]
    Cancelled,
    /// The receiver asks to reject.
    #[serde(rename = "rejected", alias = "Rejected")]
    Rejected,
}

/// `PUT /api/v1.0/documents/state/{uuid}/state` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateChangeRequest {
    /// `cancelled` or `rejected`.
    pub status: StateChange,
    /// Why (cancellation: at most 300 characters).
    pub reason: String,
}

/// The body of a successful state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChangeResponse {
    /// The document.
    pub uuid: String,
    /// `Cancelled`, or `Requested for Rejection`.
    pub status: String,
    /// Present on partial failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::error::ApiError>,
}

/// Get Document (`/raw`): the metadata plus the document as submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawDocumentResponse {
    /// The metadata.
    #[serde(flatten)]
    pub summary: DocumentSummary,
    /// The original document, as a string.
    pub document: String,
}

/// Get Document Details: the metadata plus the validation results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentDetailsResponse {
    /// The metadata.
    #[serde(flatten)]
    pub summary: DocumentSummary,
    /// The validation results.
    pub validation_results: ValidationResults,
}

/// Validation results of one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationResults {
    /// `Submitted`, `Valid` or `Invalid`.
    pub status: DocumentStatus,
    /// One entry per validator that ran.
    #[serde(default)]
    pub validation_steps: Vec<ValidationStep>,
}

/// One validator's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationStep {
    /// e.g. `Step08-Document Signature Validator`.
    pub name: String,
    /// `Valid` or `Invalid`.
    pub status: DocumentStatus,
    /// The error, for an invalid step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
}

/// Sent or received, from the caller's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InvoiceDirection {
    /// Documents the caller issued.
    Sent,
    /// Documents the caller received.
    Received,
}

/// `GET /api/v1.0/documents/recent` query. Unknown parameters are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecentDocumentsQuery {
    /// 1-based page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_no: Option<u32>,
    /// Page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// Submission date range start (with `submissionDateTo`).
    #[serde(
        default,
        with = "crate::datetime::utc_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub submission_date_from: Option<DateTime<Utc>>,
    /// Submission date range end.
    #[serde(
        default,
        with = "crate::datetime::utc_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub submission_date_to: Option<DateTime<Utc>>,
    /// Issue date range start (with `issueDateTo`).
    #[serde(
        default,
        with = "crate::datetime::utc_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub issue_date_from: Option<DateTime<Utc>>,
    /// Issue date range end.
    #[serde(
        default,
        with = "crate::datetime::utc_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub issue_date_to: Option<DateTime<Utc>>,
    /// `Sent` or `Received`. Named `InvoiceDirection` since Oct 2024; the Postman collection
    /// still sends `direction`, which is accepted too.
    #[serde(
        default,
        rename = "InvoiceDirection",
        alias = "invoiceDirection",
        alias = "direction",
        skip_serializing_if = "Option::is_none"
    )]
    pub invoice_direction: Option<InvoiceDirection>,
    /// Status filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DocumentStatus>,
    /// Type filter, e.g. `01`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_type: Option<String>,
    /// Receiver ID type (with `receiverId`; direction `Sent` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_id_type: Option<IdType>,
    /// Receiver ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_id: Option<String>,
    /// Receiver TIN (direction `Sent` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_tin: Option<String>,
    /// Issuer ID type (with `issuerId`; direction `Received` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_id_type: Option<IdType>,
    /// Issuer ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_id: Option<String>,
    /// Issuer TIN (direction `Received` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_tin: Option<String>,
}

/// `GET /api/v1.0/documents/search` query. Unknown parameters are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchDocumentsQuery {
    /// A document uuid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Submission date range start (this pair or the issue pair is required).
    #[serde(
        default,
        with = "crate::datetime::utc_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub submission_date_from: Option<DateTime<Utc>>,
    /// Submission date range end.
    #[serde(
        default,
        with = "crate::datetime::utc_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub submission_date_to: Option<DateTime<Utc>>,
    /// 1..=100, default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// 1-based page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_no: Option<u32>,
    /// Issue date range start.
    #[serde(
        default,
        with = "crate::datetime::utc_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub issue_date_from: Option<DateTime<Utc>>,
    /// Issue date range end.
    #[serde(
        default,
        with = "crate::datetime::utc_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub issue_date_to: Option<DateTime<Utc>>,
    /// `Sent`, `Received`, or absent for both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_direction: Option<InvoiceDirection>,
    /// Status filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DocumentStatus>,
    /// Type filter: `01`..`04`, `11`..`14`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_type: Option<String>,
    /// Free text matched against uuid, TINs, names, internal id and total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_query: Option<String>,
}

/// Paging metadata of Recent and Search Documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMetadata {
    /// Pages at the requested size.
    pub total_pages: u32,
    /// Matching documents (at most 10,000).
    pub total_count: u32,
}

/// A page of documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentPage<T> {
    /// This page.
    pub result: Vec<T>,
    /// Paging.
    pub metadata: ListMetadata,
}

/// One document as Get Recent Documents lists it. Search Documents lists the same fields with
/// some spelt differently; see [`SearchedDocument`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedDocument {
    /// uuid.
    pub uuid: String,
    /// Submission uid (Recent spells it `submissionUID`).
    #[serde(rename = "submissionUID", alias = "submissionUid")]
    pub submission_uid: String,
    /// Present for valid documents.
    #[serde(default)]
    pub long_id: Option<String>,
    /// The document's own number.
    pub internal_id: String,
    /// e.g. `Invoice`.
    pub type_name: String,
    /// e.g. `1.1`.
    pub type_version_name: String,
    /// Issuer TIN.
    #[serde(alias = "issuerTIN")]
    pub issuer_tin: String,
    /// Issuer name (Search only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_name: Option<String>,
    /// Receiver ID.
    #[serde(default)]
    pub receiver_id: Option<String>,
    /// Receiver name.
    #[serde(default)]
    pub receiver_name: Option<String>,
    /// Issue date-time.
    #[serde(with = "crate::datetime::utc")]
    pub date_time_issued: DateTime<Utc>,
    /// Received date-time.
    #[serde(with = "crate::datetime::utc")]
    pub date_time_received: DateTime<Utc>,
    /// Validated date-time.
    #[serde(default, with = "crate::datetime::utc_opt")]
    pub date_time_validated: Option<DateTime<Utc>>,
    /// Total sales (MYR).
    #[serde(default, with = "crate::decimal")]
    pub total_sales: Option<Decimal>,
    /// Total discount.
    #[serde(default, with = "crate::decimal")]
    pub total_discount: Option<Decimal>,
    /// Net amount.
    #[serde(default, with = "crate::decimal")]
    pub net_amount: Option<Decimal>,
    /// Total.
    #[serde(default, with = "crate::decimal")]
    pub total: Option<Decimal>,
    /// Status.
    pub status: DocumentStatus,
    /// Cancellation time.
    #[serde(default, with = "crate::datetime::utc_opt")]
    pub cancel_date_time: Option<DateTime<Utc>>,
    /// Rejection request time.
    #[serde(default, with = "crate::datetime::utc_opt")]
    pub reject_request_date_time: Option<DateTime<Utc>>,
    /// Reason for cancellation or rejection.
    #[serde(default)]
    pub document_status_reason: Option<String>,
    /// Submitting user.
    #[serde(default)]
    pub created_by_user_id: Option<String>,
    /// Supplier TIN.
    #[serde(default, alias = "supplierTIN")]
    pub supplier_tin: Option<String>,
    /// Supplier name.
    #[serde(default)]
    pub supplier_name: Option<String>,
    /// `ERP`, `Invoicing Portal` or `InvoicingMobileApp`.
    #[serde(default)]
    pub submission_channel: Option<String>,
    /// Intermediary name.
    #[serde(default)]
    pub intermediary_name: Option<String>,
    /// Intermediary TIN.
    #[serde(default, alias = "intermediaryTIN")]
    pub intermediary_tin: Option<String>,
    /// Intermediary ROB.
    #[serde(default)]
    pub intermediary_rob: Option<String>,
    /// Buyer name.
    #[serde(default)]
    pub buyer_name: Option<String>,
    /// Buyer TIN.
    #[serde(default, alias = "buyerTIN")]
    pub buyer_tin: Option<String>,
}

/// A [`ListedDocument`] written with Search Documents' spellings (`supplierTIN`, `buyerTIN`,
/// `submissionUid`, `issuerName`). Reads like a `ListedDocument`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SearchedDocument(pub ListedDocument);

impl Serialize for SearchedDocument {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let value = serde_json::to_value(&self.0).map_err(serde::ser::Error::custom)?;
        let serde_json::Value::Object(map) = value else {
            return Err(serde::ser::Error::custom(
                "document did not serialise as an object",
            ));
        };
        let renamed: serde_json::Map<String, serde_json::Value> = map
            .into_iter()
            .map(|(k, v)| {
                let k = match k.as_str() {
                    "submissionUID" => "submissionUid".to_owned(),
                    "supplierTin" => "supplierTIN".to_owned(),
                    "buyerTin" => "buyerTIN".to_owned(),
                    _ => k,
                };
                (k, v)
            })
            .collect();
        renamed.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed() -> ListedDocument {
        serde_json::from_str(r#"{"uuid":"U","submissionUID":"S","longId":null,"internalId":"I","typeName":"Invoice","typeVersionName":"1.0","issuerTin":"C1","receiverId":"C2","receiverName":"B","dateTimeIssued":"2024-01-01T00:00:00Z","dateTimeReceived":"2024-01-01T00:00:00Z","dateTimeValidated":null,"totalSales":10.5,"totalDiscount":0,"netAmount":10.5,"total":11.55,"status":"Valid","cancelDateTime":null,"rejectRequestDateTime":null,"documentStatusReason":null,"createdByUserId":null,"supplierTin":"C1","supplierName":"A","submissionChannel":"ERP","intermediaryName":null,"intermediaryTin":null,"intermediaryRob":null,"buyerName":"B","buyerTin":"C2"}"#).unwrap()
    }

    #[test]
    fn recent_and_search_spellings_differ_as_observed() {
        let doc = listed();
        let recent = serde_json::to_string(&doc).unwrap();
        assert!(
            recent.contains(r#""submissionUID":"S""#) && recent.contains(r#""supplierTin":"C1""#)
        );
        let search = serde_json::to_string(&SearchedDocument(doc.clone())).unwrap();
        assert!(search.contains(r#""submissionUid":"S""#), "{search}");
        assert!(search.contains(r#""supplierTIN":"C1""#) && search.contains(r#""buyerTIN":"C2""#));
        let back: SearchedDocument = serde_json::from_str(&search).unwrap();
        assert_eq!(back.0, doc);
    }

    #[test]
    fn queries_refuse_unknown_parameters_and_accept_the_old_direction_name() {
        let q: RecentDocumentsQuery =
            serde_urlencoded_like("pageNo=1&direction=Sent&status=Valid").unwrap();
        assert_eq!(q.invoice_direction, Some(InvoiceDirection::Sent));
        assert!(serde_urlencoded_like::<RecentDocumentsQuery>("bogus=1").is_err());
        assert!(serde_urlencoded_like::<SearchDocumentsQuery>("pageSize=abc").is_err());
    }

    // Query strings are flat string maps; JSON of strings exercises the same serde paths
    // without pulling an URL-encoding crate into this one.
    fn serde_urlencoded_like<T: serde::de::DeserializeOwned>(q: &str) -> Result<T, String> {
        let map: serde_json::Map<String, serde_json::Value> = q
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| {
                let v = v
                    .parse::<u32>()
                    .map(serde_json::Value::from)
                    .unwrap_or_else(|_| serde_json::Value::String(v.to_owned()));
                (k.to_owned(), v)
            })
            .collect();
        serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| e.to_string())
    }

    #[test]
    fn state_change_accepts_documented_casings() {
        let r: StateChangeRequest =
            serde_json::from_str(r#"{"status":"Rejected","reason":"wrong"}"#).unwrap();
        assert_eq!(r.status, StateChange::Rejected);
        assert!(
            serde_json::from_str::<StateChangeRequest>(r#"{"status":"void","reason":""}"#).is_err()
        );
    }

    #[test]
    fn details_flatten_the_summary() {
        let summary = r#""uuid":"U","submissionUid":"S","internalId":"I","typeName":"Invoice","typeVersionName":"1.1","issuerTin":"C1","dateTimeIssued":"2024-01-01T00:00:00Z","dateTimeReceived":"2024-01-01T00:00:00Z","totalPayableAmount":99.95,"status":"Invalid""#;
        let body = format!(
            r#"{{{summary},"validationResults":{{"status":"Invalid","validationSteps":[{{"name":"Step08-Document Signature Validator","status":"Invalid","error":{{"propertyName":null,"propertyPath":null,"errorCode":"Error21","error":"x","errorMs":"y","innerError":null}}}}]}}}}"#
        );
        let d: DocumentDetailsResponse = serde_json::from_str(&body).unwrap();
        assert_eq!(d.summary.total_payable_amount, Some(Decimal::new(9995, 2)));
        assert_eq!(
            d.validation_results.validation_steps[0]
                .error
                .as_ref()
                .unwrap()
                .error_code
                .as_deref(),
            Some("Error21")
        );
        let out = serde_json::to_string(&d).unwrap();
        assert!(out.contains(r#""totalPayableAmount":99.95"#), "{out}");
    }
}
