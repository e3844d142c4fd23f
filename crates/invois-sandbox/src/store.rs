//! The sandbox's memory: submissions, documents, recent payload hashes and notifications.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use invois_api::DocumentStatus;
use invois_api::documents::{ListedDocument, ValidationStep};
use invois_api::submission::{DocumentFormat, DocumentSummary};
use rand::Rng;

use crate::facts::DocumentFacts;
use crate::identity::Caller;

/// A stored document.
#[derive(Debug, Clone)]
pub struct DocumentRecord {
    /// MyInvois uuid.
    pub uuid: String,
    /// Its submission.
    pub submission_uid: String,
    /// Set when it becomes valid.
    pub long_id: Option<String>,
    /// JSON or XML.
    pub format: DocumentFormat,
    /// The document as submitted (decoded from Base64).
    pub raw: String,
    /// The `codeNumber` the submitter gave.
    pub code_number: String,
    /// What the document says.
    pub facts: DocumentFacts,
    /// Status.
    pub status: DocumentStatus,
    /// When it arrived.
    pub received: DateTime<Utc>,
    /// When validation finished.
    pub validated: Option<DateTime<Utc>>,
    /// When the issuer cancelled it.
    pub cancelled: Option<DateTime<Utc>>,
    /// When the receiver asked to reject it.
    pub reject_requested: Option<DateTime<Utc>>,
    /// Cancellation or rejection reason.
    pub status_reason: Option<String>,
    /// Who submitted it.
    pub submitter: Caller,
    /// Validation steps run so far.
    pub steps: Vec<ValidationStep>,
}

impl DocumentRecord {
    /// The issuer's TIN.
    pub fn issuer_tin(&self) -> &str {
        self.facts.issuer().tin.as_deref().unwrap_or_default()
    }

    /// The receiver's TIN, if the document names one.
    pub fn receiver_tin(&self) -> Option<&str> {
        self.facts.receiver().tin.as_deref()
    }

    /// Issue date-time (received time when the document has none).
    pub fn issued_at(&self) -> DateTime<Utc> {
        self.facts.issued_at().unwrap_or(self.received)
    }

    /// The type's name, e.g. `Invoice`.
    pub fn type_name(&self) -> &'static str {
        crate::platform::type_name(&self.facts.type_code)
    }

    /// Get Submission / Get Document metadata.
    pub fn summary(&self) -> DocumentSummary {
        let t = &self.facts.totals;
        DocumentSummary {
            uuid: self.uuid.clone(),
            submission_uid: self.submission_uid.clone(),
            long_id: self.long_id.clone(),
            internal_id: self.facts.internal_id.clone(),
            type_name: self.type_name().to_owned(),
            type_version_name: self.facts.version.clone(),
            issuer_tin: self.issuer_tin().to_owned(),
            issuer_name: self.facts.issuer().name.clone(),
            receiver_id: self.receiver_tin().map(str::to_owned),
            receiver_name: self.facts.receiver().name.clone(),
            date_time_issued: self.issued_at(),
            date_time_received: self.received,
            date_time_validated: self.validated,
            total_excluding_tax: t.tax_exclusive,
            total_discount: t.allowance_total,
            total_net_amount: t.line_extension,
            total_payable_amount: t.payable,
            status: self.status,
            cancel_date_time: self.cancelled,
            reject_request_date_time: self.reject_requested,
            document_status_reason: self.status_reason.clone(),
            created_by_user_id: Some(self.submitter.user_id()),
        }
    }

    /// Recent / Search Documents item. `intermediary_name` and `intermediary_rob` come from the
    /// fixture.
    pub fn listed(
        &self,
        intermediary_name: Option<String>,
        intermediary_rob: Option<String>,
    ) -> ListedDocument {
        let t = &self.facts.totals;
        ListedDocument {
            uuid: self.uuid.clone(),
            submission_uid: self.submission_uid.clone(),
            long_id: self.long_id.clone(),
            internal_id: self.facts.internal_id.clone(),
            type_name: self.type_name().to_owned(),
            type_version_name: self.facts.version.clone(),
            issuer_tin: self.issuer_tin().to_owned(),
            issuer_name: None,
            receiver_id: self.receiver_tin().map(str::to_owned),
            receiver_name: self.facts.receiver().name.clone(),
            date_time_issued: self.issued_at(),
            date_time_received: self.received,
            date_time_validated: self.validated,
            total_sales: t.line_extension,
            total_discount: t.allowance_total,
            net_amount: t.tax_exclusive,
            total: t.payable,
            status: self.status,
            cancel_date_time: self.cancelled,
            reject_request_date_time: self.reject_requested,
            document_status_reason: self.status_reason.clone(),
            created_by_user_id: Some(self.submitter.user_id()),
            supplier_tin: self.facts.supplier.tin.clone(),
            supplier_name: self.facts.supplier.name.clone(),
            submission_channel: Some("ERP".to_owned()),
            intermediary_name,
            intermediary_tin: self.submitter.intermediary_tin.clone(),
            intermediary_rob,
            buyer_name: self.facts.buyer.name.clone(),
            buyer_tin: self.facts.buyer.tin.clone(),
        }
    }
}

/// A stored submission.
#[derive(Debug, Clone)]
pub struct SubmissionRecord {
    /// Submission uid.
    pub uid: String,
    /// When it arrived.
    pub received: DateTime<Utc>,
    /// Who submitted it.
    pub submitter: Caller,
    /// Accepted documents, in submission order.
    pub documents: Vec<String>,
}

/// A stored notification.
#[derive(Debug, Clone)]
pub struct NotificationRecord {
    /// Id.
    pub id: String,
    /// The taxpayer it is for.
    pub tin: String,
    /// Type id (6, 7, 8, 15, ...).
    pub type_id: u32,
    /// Subject.
    pub subject: String,
    /// Message.
    pub message: String,
    /// When.
    pub created: DateTime<Utc>,
}

/// Everything the sandbox remembers.
#[derive(Debug, Default)]
pub struct Store {
    pub(crate) submissions: HashMap<String, SubmissionRecord>,
    pub(crate) documents: HashMap<String, DocumentRecord>,
    /// Document uuids in arrival order.
    pub(crate) order: Vec<String>,
    /// (taxpayer TIN, payload SHA-256) -> when it was accepted.
    pub(crate) recent_payloads: HashMap<(String, String), DateTime<Utc>>,
    pub(crate) notifications: Vec<NotificationRecord>,
    /// (issuer TIN, internal ID) -> document uuids, for duplicate checks without a scan.
    pub(crate) by_internal_id: HashMap<(String, String), Vec<String>>,
}

impl Store {
    /// A document by uuid.
    pub fn document(&self, uuid: &str) -> Option<&DocumentRecord> {
        self.documents.get(uuid)
    }

    /// Every document, in arrival order.
    pub fn documents(&self) -> impl DoubleEndedIterator<Item = &DocumentRecord> {
        self.order.iter().filter_map(|u| self.documents.get(u))
    }

    /// Documents of one issuer with one internal ID, in arrival order.
    pub fn documents_with_internal_id<'a>(
        &'a self,
        issuer_tin: &str,
        internal_id: &str,
    ) -> impl Iterator<Item = &'a DocumentRecord> + 'a {
        self.by_internal_id
            .get(&(issuer_tin.to_ascii_uppercase(), internal_id.to_owned()))
            .into_iter()
            .flatten()
            .filter_map(|u| self.documents.get(u))
    }

    pub(crate) fn insert_document(&mut self, doc: DocumentRecord) {
        let key = (
            doc.issuer_tin().to_ascii_uppercase(),
            doc.facts.internal_id.clone(),
        );
        self.by_internal_id
            .entry(key)
            .or_default()
            .push(doc.uuid.clone());
        self.order.push(doc.uuid.clone());
        self.documents.insert(doc.uuid.clone(), doc);
    }

    /// A submission by uid.
    pub fn submission(&self, uid: &str) -> Option<&SubmissionRecord> {
        self.submissions.get(uid)
    }

    pub(crate) fn notify(
        &mut self,
        tin: &str,
        type_id: u32,
        subject: String,
        message: String,
        now: DateTime<Utc>,
    ) {
        self.notifications.push(NotificationRecord {
            id: random_id(26),
            tin: tin.to_owned(),
            type_id,
            subject,
            message,
            created: now,
        });
    }
}

/// `n` random uppercase Latin alphanumerics (the form of uuids, submission uids, longIds).
pub fn random_id(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}
