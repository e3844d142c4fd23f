//! What can be done with a document now, written once: the ERP API, the webhooks and the
//! dashboard all show [`next_steps`], and the handlers allow exactly these.
//!
//! Every state has a way forward:
//! - on its way (`received` .. `submitted`): wait for the final status;
//! - `failed` (MyInvois never took it) and `rejected_locally` (it never left): send it again
//!   as it is once the cause is fixed (`retry`), or send a corrected new version;
//! - `invalid`: a corrected new version;
//! - `valid`: cancel it within 72 hours of validation; a credit, debit or refund note built
//!   from it at any time (after the 72 hours, the only way to adjust it);
//! - `cancelled`: the replacement goes under a new internal id.

use chrono::{DateTime, Utc};
use invois_api::windows::CANCELLATION_WINDOW;
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{DocumentRecord, DocumentState};

/// One kind of step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do but wait for the final status.
    Wait,
    /// Send the same document again, once the cause of the failure is fixed.
    Retry,
    /// Send a corrected document as the next version of the same key.
    NewVersion,
    /// Cancel it at MyInvois (within 72 hours of validation).
    Cancel,
    /// Issue a credit note built from it.
    CreditNote,
    /// Issue a debit note built from it.
    DebitNote,
    /// Issue a refund note built from it.
    RefundNote,
    /// Issue the replacement as a new document with a new internal id.
    NewDocument,
}

impl Action {
    /// The name the API uses.
    pub fn name(self) -> &'static str {
        match self {
            Action::Wait => "wait",
            Action::Retry => "retry",
            Action::NewVersion => "new_version",
            Action::Cancel => "cancel",
            Action::CreditNote => "credit_note",
            Action::DebitNote => "debit_note",
            Action::RefundNote => "refund_note",
            Action::NewDocument => "new_document",
        }
    }
}

/// A step the document allows now, with the request that takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct NextStep {
    /// What the step does.
    pub action: Action,
    /// The HTTP method of the request that takes it (`None` for `wait` and `new_document`).
    pub method: Option<&'static str>,
    /// The path of that request.
    pub href: Option<String>,
    /// The last moment the step is allowed (the cancellation deadline).
    #[schema(format = DateTime)]
    pub until: Option<String>,
}

impl NextStep {
    fn on(action: Action) -> NextStep {
        NextStep {
            action,
            method: None,
            href: None,
            until: None,
        }
    }

    fn post(action: Action, href: String) -> NextStep {
        NextStep {
            method: Some("POST"),
            href: Some(href),
            ..NextStep::on(action)
        }
    }
}

/// When a valid document may no longer be cancelled. The gateway records validation when it
/// polls, a few seconds after MyInvois does, so MyInvois' own deadline may pass slightly
/// earlier; a refusal then is reported as MyInvois gives it.
pub fn cancellation_deadline(doc: &DocumentRecord) -> Option<DateTime<Utc>> {
    (doc.state == DocumentState::Valid).then(|| doc.updated_at + CANCELLATION_WINDOW)
}

/// The steps `doc` allows at `now`.
pub fn next_steps(doc: &DocumentRecord, now: DateTime<Utc>) -> Vec<NextStep> {
    let id = doc.id;
    let versions = format!("{}/versions", crate::http::key_path(&doc.key()));
    let notes = format!("/v1/documents/{id}/notes");
    match doc.state {
        DocumentState::Received
        | DocumentState::Prepared
        | DocumentState::Batched
        | DocumentState::Submitted => vec![NextStep::on(Action::Wait)],
        DocumentState::Failed | DocumentState::RejectedLocally => vec![
            NextStep::post(Action::Retry, format!("/v1/documents/{id}/retry")),
            NextStep::post(Action::NewVersion, versions),
        ],
        DocumentState::Invalid => vec![NextStep::post(Action::NewVersion, versions)],
        DocumentState::Valid => {
            let mut steps = Vec::new();
            if let Some(deadline) = cancellation_deadline(doc).filter(|d| now < *d) {
                steps.push(NextStep {
                    until: Some(deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    ..NextStep::post(Action::Cancel, format!("/v1/documents/{id}/cancel"))
                });
            }
            if crate::notes::note_types(&doc.type_code).is_some() {
                for action in [Action::CreditNote, Action::DebitNote, Action::RefundNote] {
                    steps.push(NextStep::post(action, notes.clone()));
                }
            }
            steps
        }
        DocumentState::Cancelled => vec![NextStep::on(Action::NewDocument)],
    }
}

/// Whether `doc` allows `action` at `now` (what the handlers check).
pub fn allows(doc: &DocumentRecord, action: Action, now: DateTime<Utc>) -> bool {
    next_steps(doc, now).iter().any(|s| s.action == action)
}
