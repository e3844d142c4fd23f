//! The 7-day deadline of a month's consolidated e-invoices, announced as it nears and once it
//! passes: a webhook per month and status (`consolidation.deadline_near`,
//! `consolidation.deadline_passed`), queued durably in the webhook outbox, and the gauges of
//! [`crate::metrics`] (months pending by deadline state, seconds to each deadline).
//!
//! A month is *pending* from its close until every consolidated e-invoice of it has reached
//! MyInvois (submitted, valid or cancelled): while it waits for the month-end loop, while it
//! cannot be built (no supplier details), and while its documents are on their way, or
//! invalid and waiting for a correction.

use chrono::{DateTime, NaiveDate, Utc};
use invois_model::consolidation::Month;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::DeadlineState;
use crate::store::NewWebhook;

/// The event announcing that a month's deadline is near (within
/// [`super::ConsolidationConfig::warn_before`]) and its consolidated e-invoices have not all
/// reached MyInvois.
pub const EVENT_DEADLINE_NEAR: &str = "consolidation.deadline_near";
/// The event announcing that a month's deadline passed before its consolidated e-invoices all
/// reached MyInvois.
pub const EVENT_DEADLINE_PASSED: &str = "consolidation.deadline_passed";

/// The attempts a deadline event's delivery is given (it is queued where the loop sees the
/// deadline, which may be before any webhook is configured, like login events).
const DEADLINE_EVENT_ATTEMPTS: i64 = 12;

/// The event a deadline state announces, if any.
pub fn deadline_event(state: DeadlineState) -> Option<&'static str> {
    match state {
        DeadlineState::DueSoon => Some(EVENT_DEADLINE_NEAR),
        DeadlineState::Overdue => Some(EVENT_DEADLINE_PASSED),
        DeadlineState::Submitted | DeadlineState::OnTime => None,
    }
}

/// A consolidated e-invoice that has not reached MyInvois yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PendingDocument {
    /// The document's id in the ERP API (`GET /v1/documents/{id}`).
    pub document_id: i64,
    /// Its number (`CONS-YYYYMM-001`, ...).
    pub internal_id: String,
    /// Where it is (`received`, `prepared`, `batched`, `invalid`, `failed`, ...).
    pub state: String,
}

/// A closed month whose consolidated e-invoices have not all reached MyInvois.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMonth {
    /// The supplier.
    pub issuer_tin: String,
    /// The month.
    pub month: Month,
    /// Its consolidation, once built.
    pub consolidation_id: Option<i64>,
    /// How it stands: `on_time`, `due_soon` or `overdue`.
    pub state: DeadlineState,
    /// Its documents not yet at MyInvois (empty while it is not built).
    pub documents: Vec<PendingDocument>,
    /// What holds it back, for a person.
    pub reason: String,
    /// When the log last warned about it (built months only).
    pub warned_at: Option<DateTime<Utc>>,
}

impl PendingMonth {
    /// Seconds until the deadline passes (negative once it has).
    pub fn seconds_left(&self, now: DateTime<Utc>) -> i64 {
        (self.month.deadline_passes_at() - now).num_seconds()
    }
}

/// The JSON body of [`EVENT_DEADLINE_NEAR`] and [`EVENT_DEADLINE_PASSED`]. Deduplicate by
/// `event`, `issuer_tin` and `month` (each is sent once), or by `X-Invois-Delivery`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeadlinePayload {
    /// `consolidation.deadline_near` or `consolidation.deadline_passed`, as in
    /// `X-Invois-Event`.
    pub event: String,
    /// The supplier's TIN.
    pub issuer_tin: String,
    /// The month, `YYYY-MM` (a Malaysian calendar month).
    pub month: String,
    /// The last day to submit on (the 7th day after the month).
    #[schema(value_type = String, format = Date)]
    pub deadline: NaiveDate,
    /// When the deadline passes (midnight in Malaysia after it).
    #[schema(format = DateTime)]
    pub deadline_passes_at: String,
    /// `due_soon` or `overdue`.
    pub deadline_state: DeadlineState,
    /// The consolidation (`GET /v1/consolidations/{id}`), null while the month is not built.
    pub consolidation_id: Option<i64>,
    /// Its consolidated e-invoices not yet at MyInvois.
    pub pending_documents: Vec<PendingDocument>,
    /// What holds the month back.
    pub reason: String,
    /// When the gateway saw it (RFC 3339, microseconds, UTC).
    #[schema(format = DateTime)]
    pub occurred_at: String,
}

/// The delivery announcing `event` of `pending`, seen at `at`.
pub fn deadline_announcement(event: &str, pending: &PendingMonth, at: DateTime<Utc>) -> NewWebhook {
    let payload = DeadlinePayload {
        event: event.to_owned(),
        issuer_tin: pending.issuer_tin.clone(),
        month: pending.month.to_string(),
        deadline: pending.month.deadline(),
        deadline_passes_at: pending.month.deadline_passes_at().to_rfc3339(),
        deadline_state: pending.state,
        consolidation_id: pending.consolidation_id,
        pending_documents: pending.documents.clone(),
        reason: pending.reason.clone(),
        occurred_at: at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    };
    NewWebhook {
        document_id: None,
        event: event.to_owned(),
        // Strings, numbers, dates and options only: serializing cannot fail.
        payload: serde_json::to_value(&payload).unwrap_or(Value::Null),
        max_attempts: DEADLINE_EVENT_ATTEMPTS,
    }
}
