//! The buyer's copy of a stored document: which documents have one, and what the renderer
//! ([`invois_render`]) is given. The ERP API (`GET /v1/documents/{id}/pdf`, `/html`) and
//! `invois render ID` both go through here, so they refuse the same documents for the same
//! reasons.
//!
//! Only a document MyInvois validated has a copy (valid, or cancelled after, which the copy
//! marks): its QR code must lead to a record at MyInvois. The copy is made from the bytes
//! MyInvois validated (the prepared ones: signed and minified).

use chrono::{DateTime, Utc};
use invois_model::{Document, ParseError};
use invois_render::{Status, ValidatedDocument};

use crate::store::{DocumentId, DocumentRecord, DocumentState};

/// Why a stored document has no copy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotPrintable {
    /// MyInvois has not validated it (yet, or ever).
    #[error(
        "document {id} is {state}: only a document MyInvois validated (valid, or cancelled \
         after) has a buyer's copy with a QR code; {}",
        way_forward(*state)
    )]
    NotValidated {
        /// The document.
        id: DocumentId,
        /// Its state.
        state: DocumentState,
    },
    /// Valid, but MyInvois has not given its longId yet, so the validation link is unknown.
    #[error(
        "document {id} is {state} but MyInvois has not given its longId yet, so its validation \
         link (what the copy's QR code holds) is not known; the gateway keeps asking, try again \
         in a minute"
    )]
    LinkPending {
        /// The document.
        id: DocumentId,
        /// Its state.
        state: DocumentState,
    },
    /// The gateway has not recorded when MyInvois validated it (a document made valid before
    /// the gateway kept that time). The API asks MyInvois then; offline, nothing can.
    #[error(
        "the gateway has not recorded when MyInvois validated document {id}; fetch its copy \
         once through the gateway's API (GET /v1/documents/{id}/pdf asks MyInvois and keeps the \
         answer), or render the document's file with --validated-at"
    )]
    ValidationTimeUnknown {
        /// The document.
        id: DocumentId,
    },
    /// The stored bytes do not parse (they did when the document was received).
    #[error("document {id} as stored could not be read: {source}")]
    Unreadable {
        /// The document.
        id: DocumentId,
        /// Why.
        source: ParseError,
    },
}

fn way_forward(state: DocumentState) -> &'static str {
    match state {
        DocumentState::Invalid | DocumentState::RejectedLocally => {
            "correct it with a new version; the corrected one has a copy once valid"
        }
        DocumentState::Failed => "MyInvois never took it; send it again or correct it",
        _ => "it is on its way to MyInvois; ask again after its document.valid webhook",
    }
}

/// What MyInvois gave a validated document: its standing, uuid, longId and validation link.
/// Anything else is [`NotPrintable`], before any further work.
pub fn validation_of(doc: &DocumentRecord) -> Result<(Status, &str, &str, &str), NotPrintable> {
    let status = match doc.state {
        DocumentState::Valid => Status::Valid,
        DocumentState::Cancelled => Status::Cancelled,
        state => return Err(NotPrintable::NotValidated { id: doc.id, state }),
    };
    match (&doc.uuid, &doc.long_id, &doc.validation_link) {
        (Some(uuid), Some(long_id), Some(link)) => Ok((status, uuid, long_id, link)),
        _ => Err(NotPrintable::LinkPending {
            id: doc.id,
            state: doc.state,
        }),
    }
}

/// The renderer's input for a stored document validated at `validated_at`.
pub fn copy_of(
    doc: &DocumentRecord,
    validated_at: DateTime<Utc>,
) -> Result<ValidatedDocument, NotPrintable> {
    let (status, uuid, long_id, link) = validation_of(doc)?;
    let bytes = doc.prepared.as_deref().unwrap_or(&doc.received);
    let document =
        Document::parse(bytes).map_err(|source| NotPrintable::Unreadable { id: doc.id, source })?;
    Ok(ValidatedDocument {
        document,
        uuid: uuid.to_owned(),
        long_id: long_id.to_owned(),
        validated_at,
        validation_link: link.to_owned(),
        status,
    })
}

/// The copy from what the store holds alone, without asking MyInvois (`invois render ID`).
pub fn stored_copy(doc: &DocumentRecord) -> Result<ValidatedDocument, NotPrintable> {
    validation_of(doc)?;
    let validated_at = doc
        .validated_at
        .ok_or(NotPrintable::ValidationTimeUnknown { id: doc.id })?;
    copy_of(doc, validated_at)
}

/// A file name for the copy, without extension: the internal id with letters, digits, `.`,
/// `-` and `_` kept and anything else (`/`, quotes, non-ASCII) an underscore, so it is safe in
/// a header and on any disk; `-v2` and on for later versions.
pub fn file_stem(doc: &DocumentRecord) -> String {
    let safe: String = doc
        .internal_id
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Never `..` or a hidden file.
    let safe = if safe.is_empty() || safe.starts_with('.') {
        format!("copy{safe}")
    } else {
        safe
    };
    if doc.version > 1 {
        format!("{safe}-v{}", doc.version)
    } else {
        safe
    }
}
