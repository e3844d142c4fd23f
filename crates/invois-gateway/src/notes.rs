//! Credit, debit and refund notes built from a valid original.
//!
//! After the 72-hour cancellation window, a valid e-invoice can only be adjusted by a note
//! that references it (business rules §4). The gateway builds the note from the original it
//! holds: the same parties, currency and version, the original's uuid and internal id as the
//! billing reference, and the original's lines (all of them, or the ones the ERP names, with
//! their quantity or unit price changed). Totals and taxes are computed again by the model's
//! builder, so the note is consistent by construction. A self-billed original gets a
//! self-billed note.

use invois_model::simple::{SimpleOriginal, to_invoice, to_simple};
use invois_model::{DocumentType, Format};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::next_steps::Action;
use crate::store::DocumentRecord;

/// Which note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// Reduces what the buyer owes.
    CreditNote,
    /// Adds to what the buyer owes.
    DebitNote,
    /// Records money returned to the buyer.
    RefundNote,
}

impl NoteKind {
    /// The next step this note takes.
    pub fn action(self) -> Action {
        match self {
            NoteKind::CreditNote => Action::CreditNote,
            NoteKind::DebitNote => Action::DebitNote,
            NoteKind::RefundNote => Action::RefundNote,
        }
    }
}

/// `POST /v1/documents/{id}/notes`.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// `credit_note`, `debit_note` or `refund_note`.
    pub kind: NoteKind,
    /// The note's own internal id (its idempotency key with the issuer and type).
    pub internal_id: String,
    /// The original's lines the note covers, by 0-based position; all of them when empty.
    #[serde(default)]
    pub lines: Vec<NoteLine>,
}

/// One line of the original in the note.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteLine {
    /// The line's 0-based position in the original.
    pub index: usize,
    /// The quantity the note covers (the original's when absent).
    #[schema(value_type = Option<String>)]
    pub quantity: Option<Decimal>,
    /// The unit price the note covers (the original's when absent).
    #[schema(value_type = Option<String>)]
    pub unit_price: Option<Decimal>,
}

/// Why a note could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoteError {
    /// The original is not an invoice (notes reference invoices).
    #[error(
        "document type {0} takes no notes: only invoices (01) and self-billed invoices (11) do"
    )]
    NotAnInvoice(String),
    /// The original has no uuid (it was never validated).
    #[error("the original has no MyInvois uuid")]
    NoUuid,
    /// The stored original could not be read into the model.
    #[error("the original could not be read: {0}")]
    Unreadable(String),
    /// A line index beyond the original's lines.
    #[error("lines[{position}].index {index} is not a line of the original, which has {count}")]
    NoSuchLine {
        /// Where in the request.
        position: usize,
        /// The index asked for.
        index: usize,
        /// How many lines the original has.
        count: usize,
    },
    /// The note broke a rule of the document model.
    #[error("{path}: {message}")]
    Invalid {
        /// The field.
        path: String,
        /// The rule.
        message: String,
    },
}

/// The note types an original of `type_code` takes, as (credit, debit, refund).
pub fn note_types(type_code: &str) -> Option<[DocumentType; 3]> {
    match type_code {
        "01" => Some([
            DocumentType::CreditNote,
            DocumentType::DebitNote,
            DocumentType::RefundNote,
        ]),
        "11" => Some([
            DocumentType::SelfBilledCreditNote,
            DocumentType::SelfBilledDebitNote,
            DocumentType::SelfBilledRefundNote,
        ]),
        _ => None,
    }
}

/// Builds the note `request` asks for from `original`: UBL bytes in the original's format,
/// without an issue date and time, which intake fills when it stores the note (so a repeated
/// request is recognised as the same note, and the note is dated by the gateway's clock).
pub fn build_note(
    original: &DocumentRecord,
    request: &NoteRequest,
) -> Result<(Vec<u8>, Format), NoteError> {
    let [credit, debit, refund] = note_types(&original.type_code)
        .ok_or_else(|| NoteError::NotAnInvoice(original.type_code.clone()))?;
    let uuid = original.uuid.clone().ok_or(NoteError::NoUuid)?;
    let doc = invois_model::Document::parse_as(&original.received, original.format)
        .map_err(|e| NoteError::Unreadable(e.to_string()))?;
    let mut simple = to_simple(&doc).map_err(|e| NoteError::Unreadable(e.to_string()))?;
    simple.document_type = match request.kind {
        NoteKind::CreditNote => credit,
        NoteKind::DebitNote => debit,
        NoteKind::RefundNote => refund,
    };
    simple.id = request.internal_id.trim().to_owned();
    simple.originals = vec![SimpleOriginal {
        uuid,
        id: original.internal_id.clone(),
    }];
    // What was prepaid or rounded on the original is not part of an adjustment.
    simple.prepayment = None;
    simple.rounding = None;
    if !request.lines.is_empty() {
        let count = simple.lines.len();
        let mut lines = Vec::with_capacity(request.lines.len());
        for (position, wanted) in request.lines.iter().enumerate() {
            let mut line =
                simple
                    .lines
                    .get(wanted.index)
                    .cloned()
                    .ok_or(NoteError::NoSuchLine {
                        position,
                        index: wanted.index,
                        count,
                    })?;
            if let Some(q) = wanted.quantity {
                line.quantity = q;
            }
            if let Some(p) = wanted.unit_price {
                line.unit_price = p;
            }
            lines.push(line);
        }
        simple.lines = lines;
    }
    let note = to_invoice(&simple).map_err(|e| NoteError::Invalid {
        path: e.path,
        message: e.message,
    })?;
    let mut document = note.to_document();
    document
        .root_mut()
        .children
        .retain(|c| c.name != "IssueDate" && c.name != "IssueTime");
    Ok((
        document.to_string_as(original.format).into_bytes(),
        original.format,
    ))
}
