#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

use chrono::{DateTime, Utc};
use invois_model::Document;

mod content;
mod format;
mod html;
mod pdf;
pub mod qr;

pub use qr::QrGrid;

/// Whether the document still stands at MyInvois.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Validated and not cancelled.
    Valid,
    /// Cancelled by the supplier after validation: the copy says so on every page.
    Cancelled,
}

/// A document MyInvois validated, with what it gave the document. Only such a document has
/// a copy: the QR code must lead to a record at MyInvois.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedDocument {
    /// The document as submitted.
    pub document: Document,
    /// The IRBM unique identifier number (`uuid`).
    pub uuid: String,
    /// The `longId` MyInvois gives a valid document.
    pub long_id: String,
    /// When MyInvois validated it (`dateTimeValidated`).
    pub validated_at: DateTime<Utc>,
    /// `{portal}/{uuid}/share/{longId}`: what the QR code holds.
    pub validation_link: String,
    /// Valid or cancelled.
    pub status: Status,
}

/// Why a copy could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The document lacks a part the copy shows (or holds it in an unreadable form).
    #[error("the document cannot be shown: {0}")]
    Document(#[from] invois_model::model::ReadError),
    /// The validation link does not name this document's uuid and longId, so its QR code
    /// would lead elsewhere.
    #[error(
        "the validation link {link} does not end in /{uuid}/share/{long_id}; a copy's QR code \
         must lead to this document"
    )]
    LinkMismatch {
        /// The link given.
        link: String,
        /// The document's uuid.
        uuid: String,
        /// The document's longId.
        long_id: String,
    },
    /// The text does not fit in a QR code.
    #[error("a QR code cannot hold these {chars} characters: {reason}")]
    Qr {
        /// Characters in the text.
        chars: usize,
        /// The encoder's reason.
        reason: String,
    },
    /// The PDF writer failed.
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
}

/// The copy as one HTML page (A4 when printed), the QR code inline as SVG.
pub fn html(doc: &ValidatedDocument) -> Result<String, RenderError> {
    check_link(doc)?;
    let content = content::Content::of(doc)?;
    let qr = QrGrid::encode(&doc.validation_link)?;
    Ok(html::page(&content, &qr))
}

/// The copy as an A4 PDF, as many pages as the lines need; the QR code is an image in it.
pub fn pdf(doc: &ValidatedDocument) -> Result<Vec<u8>, RenderError> {
    check_link(doc)?;
    let content = content::Content::of(doc)?;
    let qr = QrGrid::encode(&doc.validation_link)?;
    pdf::document(&content, &qr)
}

fn check_link(doc: &ValidatedDocument) -> Result<(), RenderError> {
    let tail = format!("/{}/share/{}", doc.uuid, doc.long_id);
    if doc.uuid.is_empty() || doc.long_id.is_empty() || !doc.validation_link.ends_with(&tail) {
        return Err(RenderError::LinkMismatch {
            link: doc.validation_link.clone(),
            uuid: doc.uuid.clone(),
            long_id: doc.long_id.clone(),
        });
    }
    Ok(())
}
