//! Records of the webhook relay and the delivery log (issue 6 item 8).

use super::types::{DocumentId, WebhookDelivery, WebhookId, WebhookState};

/// A filter for the delivery log, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookFilter {
    /// Only this state.
    pub state: Option<WebhookState>,
    /// Only deliveries about this document.
    pub document_id: Option<DocumentId>,
    /// Only ids lower than this (the next page: pass the last id seen).
    pub before: Option<WebhookId>,
    /// At most this many (0 means 100; capped at 1,000).
    pub limit: u32,
}

/// One delivery in the log, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookLogEntry {
    /// The delivery itself.
    pub delivery: WebhookDelivery,
    /// The status event it announces (`None` for deliveries enqueued by hand).
    pub event_id: Option<i64>,
    /// The delivery this one replays, if it is a replay.
    pub replay_of: Option<WebhookId>,
}
