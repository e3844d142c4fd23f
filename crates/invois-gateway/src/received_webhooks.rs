//! What a webhook says about a received document (one another taxpayer issued to the
//! gateway's taxpayer): `received.new` when the gateway finds it, `received.rejected` when a
//! rejection is requested (through the gateway or in the portal), `received.cancelled` when
//! its supplier cancels it.
//!
//! These deliveries go through the same outbox, signing, retries and log as document events
//! ([`crate::webhooks`]); only their body differs. Received events are numbered in a
//! sequence of their own, so the body names its id `received_event_id`, never `event_id`: a
//! receiver deduplicating document events by `event_id` cannot mistake one for the other.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{
    Announcement, ReceivedEvent, ReceivedEventKind, ReceivedRecord, Store, StoreError,
};

/// The event name of a received document's event (`X-Invois-Event`).
pub fn received_event_name(kind: ReceivedEventKind) -> &'static str {
    match kind {
        ReceivedEventKind::Received => "received.new",
        ReceivedEventKind::Rejected => "received.rejected",
        ReceivedEventKind::Cancelled => "received.cancelled",
    }
}

/// The JSON body announcing a received document's event: a snapshot of the document when
/// the event was relayed. snake_case, like the rest of the API.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReceivedPayload {
    /// The received event's id: deduplicate and order `received.*` deliveries by it (a
    /// replay repeats it). A sequence apart from document events' `event_id`.
    pub received_event_id: i64,
    /// `received.new`, `received.rejected` or `received.cancelled`, as in `X-Invois-Event`.
    pub event: String,
    /// The received document's id in the gateway (its row; the API addresses it by uuid).
    pub received_id: i64,
    /// MyInvois' uuid: `GET /v1/received/{uuid}` reads it, `POST .../reject` rejects it.
    pub uuid: String,
    /// The long id, for the validation link.
    pub long_id: Option<String>,
    /// The supplier's number for it.
    pub internal_id: String,
    /// `Invoice`, `Credit Note`, ...
    pub type_name: String,
    /// The supplier's TIN.
    pub issuer_tin: String,
    /// The supplier's name, if MyInvois listed it.
    pub issuer_name: Option<String>,
    /// The buyer's TIN (the gateway's taxpayer), if listed.
    pub receiver_tin: Option<String>,
    /// MyInvois' status when relayed: `valid` or `cancelled`.
    pub status: String,
    /// Total payable (MYR, decimal text), if listed.
    pub total: Option<String>,
    /// When MyInvois validated it.
    pub validated_at: Option<DateTime<Utc>>,
    /// The last moment a rejection is accepted: validation plus 72 hours.
    pub reject_deadline: Option<DateTime<Utc>>,
    /// The ERP's decision so far: `accepted`, `rejected`, or null.
    pub decision: Option<String>,
    /// Why it was rejected (with `received.rejected`), or why its supplier cancelled it
    /// (with `received.cancelled`).
    pub reason: Option<String>,
    /// When the event was recorded (RFC 3339, microseconds, UTC).
    #[schema(format = DateTime)]
    pub occurred_at: String,
}

/// The body announcing `event` of `doc`.
pub fn received_payload(event: &ReceivedEvent, doc: &ReceivedRecord) -> ReceivedPayload {
    let d = &doc.document;
    let reason = match event.kind {
        ReceivedEventKind::Received => None,
        ReceivedEventKind::Rejected => doc
            .decision_reason
            .clone()
            .or_else(|| d.status_reason.clone()),
        ReceivedEventKind::Cancelled => d.status_reason.clone(),
    };
    ReceivedPayload {
        received_event_id: event.id,
        event: received_event_name(event.kind).to_owned(),
        received_id: doc.id,
        uuid: d.uuid.clone(),
        long_id: d.long_id.clone(),
        internal_id: d.internal_id.clone(),
        type_name: d.type_name.clone(),
        issuer_tin: d.issuer_tin.clone(),
        issuer_name: d.issuer_name.clone(),
        receiver_tin: d.receiver_tin.clone(),
        status: d.status.as_str().to_ascii_lowercase(),
        total: d.total.clone(),
        validated_at: d.validated_at,
        reject_deadline: doc.reject_deadline,
        decision: doc.decision.map(|x| x.as_str().to_owned()),
        reason,
        occurred_at: event
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    }
}

/// The delivery announcing `event` of `doc`; the store's relay calls it in its transaction.
pub fn announce_received(event: &ReceivedEvent, doc: &ReceivedRecord) -> Announcement {
    Announcement {
        event: received_event_name(event.kind).to_owned(),
        // Strings, numbers, dates and options only: serializing cannot fail.
        payload: serde_json::to_value(received_payload(event, doc))
            .unwrap_or(serde_json::Value::Null),
    }
}

/// One relay pass over received events: up to `limit` become pending deliveries, each giving
/// up after `max_attempts`, exactly once per event. Returns how many were relayed.
pub async fn relay_received_events(
    store: &Store,
    limit: u32,
    max_attempts: i64,
) -> Result<u64, StoreError> {
    store
        .received()
        .relay(limit, max_attempts, &announce_received)
        .await
}
