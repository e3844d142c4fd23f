//! Documents issued outside the gateway (for example in the MyInvois portal), recorded by
//! [`crate::archive::backfill`] from Search Documents.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// A document as Search Documents listed it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalDocument {
    /// The MyInvois UUID (unique).
    pub uuid: String,
    /// The submission it arrived in.
    pub submission_uid: String,
    /// The long id, once valid.
    pub long_id: Option<String>,
    /// The issuer's own number for it.
    pub internal_id: String,
    /// The issuer TIN.
    pub issuer_tin: String,
    /// The issuer name, if listed.
    pub issuer_name: Option<String>,
    /// The receiver's id, if listed.
    pub receiver_id: Option<String>,
    /// The receiver's name, if listed.
    pub receiver_name: Option<String>,
    /// The type as listed (`Invoice`, `Credit Note`, ...).
    pub type_name: String,
    /// The type version as listed (`1.0`, `1.1`).
    pub type_version: String,
    /// The MyInvois status (`Valid`, `Invalid`, `Cancelled`, `Submitted`).
    pub status: String,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When MyInvois received it.
    pub received_at: DateTime<Utc>,
    /// When it was validated, if it was.
    pub validated_at: Option<DateTime<Utc>>,
    /// When it was cancelled, if it was.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Total sales, as listed (decimal text, exact).
    pub total_sales: Option<String>,
    /// Total discount, as listed.
    pub total_discount: Option<String>,
    /// Net amount, as listed.
    pub net_amount: Option<String>,
    /// Total payable, as listed.
    pub total: Option<String>,
    /// `ERP`, `Invoicing Portal`, `InvoicingMobileApp`, if listed.
    pub submission_channel: Option<String>,
    /// The whole listing entry, as JSON.
    pub listing: Value,
}

/// A stored [`ExternalDocument`].
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalDocumentRecord {
    /// Row id (increasing; page with it).
    pub id: i64,
    /// What was listed (the latest listing seen).
    pub document: ExternalDocument,
    /// When a backfill first recorded it (store clock).
    pub first_seen_at: DateTime<Utc>,
    /// When a backfill last changed it.
    pub updated_at: DateTime<Utc>,
}

/// What [`super::Archive::upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalUpsert {
    /// A new row.
    Inserted,
    /// The listing changed (for example its status); the row was updated.
    Updated,
    /// The same listing was already stored.
    Unchanged,
    /// The gateway submitted this document itself (its UUID is in `documents`); nothing was
    /// recorded.
    Own,
}
