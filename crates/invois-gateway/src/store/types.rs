//! The records the store keeps, and the states they move through.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::document_errors::DocumentError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A document row (one version of one ERP document).
    DocumentId
);
id_type!(
    /// A submission attempt: one payload, POSTed at most once.
    SubmissionId
);
id_type!(
    /// A webhook delivery in the outbox.
    WebhookId
);
id_type!(
    /// An API key.
    ApiKeyId
);

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the stored text.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Where a document is on its way to MyInvois.
    ///
    /// ```text
    /// received -> prepared -> batched -> submitted -> valid -> cancelled
    ///          \-> rejected_locally  |             \-> invalid
    ///                                \-> failed (a permanent refusal of the whole submission)
    /// ```
    ///
    /// `batched` covers both "claimed by a batcher" and "in a submission whose outcome is not
    /// yet known"; `submission_id` tells the two apart.
    DocumentState {
        /// Accepted from the ERP and stored; nothing else done yet.
        Received = "received",
        /// Validated locally, signed, minified; the prepared bytes and their hash are stored.
        Prepared = "prepared",
        /// Failed local validation; never sent. A new version may correct it.
        RejectedLocally = "rejected_locally",
        /// Claimed into a batch (and possibly into a submission intent).
        Batched = "batched",
        /// MyInvois accepted it into a submission and gave it a UUID; validation pending.
        Submitted = "submitted",
        /// MyInvois validated it.
        Valid = "valid",
        /// MyInvois found it invalid (or rejected it at submission). A new version may correct it.
        Invalid = "invalid",
        /// Cancelled after it was valid.
        Cancelled = "cancelled",
        /// The submission carrying it was refused permanently (a 4xx that is not about the
        /// document's content, such as a wrong submitter); `last_error` says why.
        Failed = "failed",
    }
);

impl DocumentState {
    /// Whether no further automatic step applies.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DocumentState::RejectedLocally
                | DocumentState::Valid
                | DocumentState::Invalid
                | DocumentState::Cancelled
                | DocumentState::Failed
        )
    }

    /// Whether a corrected new version may follow a document in this state: one MyInvois
    /// found invalid, or one it never took (rejected locally, or failed at submission).
    pub fn allows_new_version(self) -> bool {
        matches!(
            self,
            DocumentState::Invalid | DocumentState::RejectedLocally | DocumentState::Failed
        )
    }
}

string_enum!(
    /// The state of one submission attempt.
    ///
    /// `intent` is written before the POST. After that the payload is never POSTed again:
    /// an unknown outcome or a duplicate is reconciled, and only documents the reconciliation
    /// proves absent (`not_received`), a request that provably never reached MyInvois
    /// (`intent -> not_received`: refused by the client before sending, or a 429) or a split
    /// return to `prepared` for a new submission.
    SubmissionState {
        /// Recorded before the POST; the outcome is not known yet.
        Intent = "intent",
        /// MyInvois answered 202 (or reconciliation found the documents).
        Accepted = "accepted",
        /// Timeout, 5xx, reset, or a worker that died after the intent: reconcile first.
        OutcomeUnknown = "outcome_unknown",
        /// 422 DuplicateSubmission: it arrived earlier; reconcile.
        Duplicate = "duplicate",
        /// A permanent 4xx; the documents are `failed`.
        Refused = "refused",
        /// MaximumSizeExceeded: nothing was accepted; the documents went back to `prepared`.
        Split = "split",
        /// MyInvois never received it (proved by reconciliation, or known at once: not sent,
        /// or a 429); the documents went back to `prepared`.
        NotReceived = "not_received",
    }
);

string_enum!(
    /// The state of a webhook delivery.
    WebhookState {
        /// Waiting for `next_attempt_at`.
        Pending = "pending",
        /// Claimed by a deliverer until `lease_until`.
        Delivering = "delivering",
        /// The ERP acknowledged it.
        Delivered = "delivered",
        /// `max_attempts` exhausted.
        Dead = "dead",
    }
);

/// How the ERP sent the document: the one format enum, stored as `json` or `xml`.
pub use invois_api::Format as DocumentFormat;

/// A document as the ERP hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    /// The issuer (supplier) TIN.
    pub issuer_tin: String,
    /// The e-invoice type code (`01` invoice, `02` credit note, ...).
    pub type_code: String,
    /// The ERP's internal id (the document's `ID`, MyInvois' `invoiceCodeNumber`).
    pub internal_id: String,
    /// 1 for the first version; corrections go through [`super::Documents::new_version`].
    pub version: i64,
    /// XML or JSON.
    pub format: DocumentFormat,
    /// The intermediary or taxpayer client id whose token and rate budget submit it.
    pub client_id: String,
    /// The taxpayer an intermediary acts for (`onbehalfof`), if any.
    pub on_behalf_of: Option<String>,
    /// The bytes exactly as received.
    pub received: Vec<u8>,
}

/// The idempotency key of a document version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentKey {
    /// The issuer TIN.
    pub issuer_tin: String,
    /// The e-invoice type code.
    pub type_code: String,
    /// The ERP's internal id.
    pub internal_id: String,
}

/// One stored document version. `Debug` shows the sizes of the bytes, not the bytes.
#[derive(Clone, PartialEq)]
pub struct DocumentRecord {
    /// Row id.
    pub id: DocumentId,
    /// The issuer TIN.
    pub issuer_tin: String,
    /// The e-invoice type code.
    pub type_code: String,
    /// The ERP's internal id.
    pub internal_id: String,
    /// The version (1, then one more per correction).
    pub version: i64,
    /// XML or JSON.
    pub format: DocumentFormat,
    /// The client id that submits it.
    pub client_id: String,
    /// `onbehalfof`, if any.
    pub on_behalf_of: Option<String>,
    /// The bytes as received.
    pub received: Vec<u8>,
    /// Hex SHA-256 of `received` (the idempotency comparison).
    pub received_sha256: String,
    /// The prepared (signed, minified) bytes, once prepared.
    pub prepared: Option<Vec<u8>>,
    /// The document hash sent with the submission (hex SHA-256 of `prepared`).
    pub document_hash: Option<String>,
    /// Where it is.
    pub state: DocumentState,
    /// The submission attempt carrying it, once the intent is recorded.
    pub submission_id: Option<SubmissionId>,
    /// The MyInvois UUID, once accepted.
    pub uuid: Option<String>,
    /// The MyInvois long id, once valid.
    pub long_id: Option<String>,
    /// The validation link, once valid.
    pub validation_link: Option<String>,
    /// When MyInvois validated it (`dateTimeValidated`), once the poller learnt it.
    pub validated_at: Option<DateTime<Utc>>,
    /// Why it failed, from whichever stage found it (empty while nothing went wrong).
    pub errors: Vec<DocumentError>,
    /// The last operational error (not a validation result).
    pub last_error: Option<String>,
    /// How many times a worker claimed it for preparation.
    pub attempts: i64,
    /// The worker holding it, if any.
    pub locked_by: Option<String>,
    /// Until when that worker holds it.
    pub lease_until: Option<DateTime<Utc>>,
    /// When it was received.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for DocumentRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentRecord")
            .field("id", &self.id)
            .field("issuer_tin", &self.issuer_tin)
            .field("type_code", &self.type_code)
            .field("internal_id", &self.internal_id)
            .field("version", &self.version)
            .field("format", &self.format)
            .field("state", &self.state)
            .field("received", &format_args!("<{} bytes>", self.received.len()))
            .field(
                "prepared",
                &format_args!("<{} bytes>", self.prepared.as_ref().map_or(0, Vec::len)),
            )
            .field("submission_id", &self.submission_id)
            .field("uuid", &self.uuid)
            .field("errors", &self.errors)
            .field("last_error", &self.last_error)
            .field("locked_by", &self.locked_by)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SubmissionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmissionRecord")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("on_behalf_of", &self.on_behalf_of)
            .field("payload_bytes", &self.payload_bytes)
            .field("payload_sha256", &self.payload_sha256)
            .field("document_count", &self.document_count)
            .field("state", &self.state)
            .field("submission_uid", &self.submission_uid)
            .field("worker", &self.worker)
            .field("last_error", &self.last_error)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("polls", &self.polls)
            .finish_non_exhaustive()
    }
}

impl DocumentRecord {
    /// The idempotency key (without the version).
    pub fn key(&self) -> DocumentKey {
        DocumentKey {
            issuer_tin: self.issuer_tin.clone(),
            type_code: self.type_code.clone(),
            internal_id: self.internal_id.clone(),
        }
    }
}

/// The outcome of [`super::Documents::insert`].
#[derive(Debug, Clone, PartialEq)]
pub struct Inserted {
    /// The stored record (new, or the one stored earlier with identical bytes).
    pub document: DocumentRecord,
    /// False when the same key and bytes were already stored (an idempotent repeat).
    pub created: bool,
}

/// Documents claimed together for one submission: all share a client id and `onbehalfof`.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The client id whose token and budget submit it.
    pub client_id: String,
    /// `onbehalfof`, if any.
    pub on_behalf_of: Option<String>,
    /// The documents, in id order.
    pub documents: Vec<DocumentRecord>,
}

/// What is written before the POST.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionIntent {
    /// The worker that claimed the batch (and must still hold it).
    pub worker: String,
    /// The client id.
    pub client_id: String,
    /// `onbehalfof`, if any.
    pub on_behalf_of: Option<String>,
    /// The documents in the payload (all claimed by `worker`).
    pub document_ids: Vec<DocumentId>,
    /// The exact request body that will be POSTed.
    pub payload: Vec<u8>,
    /// How long the worker may take to record the outcome before the attempt is treated as
    /// an unknown outcome.
    pub lease: std::time::Duration,
}

/// One submission attempt. `Debug` shows the payload's size and hash, not the payload.
#[derive(Clone, PartialEq)]
pub struct SubmissionRecord {
    /// Row id.
    pub id: SubmissionId,
    /// The client id.
    pub client_id: String,
    /// `onbehalfof`, if any.
    pub on_behalf_of: Option<String>,
    /// Size of the exact payload, in bytes. The payload itself (up to 5 MB) is read only on
    /// request ([`Submissions::payload`](super::Submissions::payload)): polling,
    /// listing and every state change return this record, and none of them needs it.
    pub payload_bytes: i64,
    /// Hex SHA-256 of the payload.
    pub payload_sha256: String,
    /// Documents in it.
    pub document_count: i64,
    /// Where it is.
    pub state: SubmissionState,
    /// MyInvois' submissionUid, once known.
    pub submission_uid: Option<String>,
    /// The worker that recorded the intent.
    pub worker: String,
    /// Until when that worker may record the outcome.
    pub lease_until: Option<DateTime<Utc>>,
    /// The last error (unknown outcome, refusal).
    pub last_error: Option<String>,
    /// When the intent was recorded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When Get Submission may be asked next (set once accepted).
    pub next_poll_at: Option<DateTime<Utc>>,
    /// How many polls were claimed for it.
    pub polls: i64,
}

/// A filter for listing submissions, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubmissionFilter {
    /// Only this state.
    pub state: Option<SubmissionState>,
    /// Only ids lower than this (the next page: pass the last id seen).
    pub before: Option<SubmissionId>,
    /// At most this many (0 means 100; capped at 1,000).
    pub limit: u32,
}

/// A document's status change, recorded in the same transaction as the change.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentEvent {
    /// Event id (increasing).
    pub id: i64,
    /// The document.
    pub document_id: DocumentId,
    /// The state it entered.
    pub state: DocumentState,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// What MyInvois answered to a submission (202), or what reconciliation found.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionAccepted {
    /// The submissionUid.
    pub submission_uid: String,
    /// Accepted documents and the UUIDs MyInvois gave them.
    pub accepted: Vec<(DocumentId, String)>,
    /// Rejected documents and the errors MyInvois gave (they become `invalid`).
    pub rejected: Vec<(DocumentId, Vec<DocumentError>)>,
}

/// A validation outcome from Get Submission (or Get Document Details).
#[derive(Debug, Clone, PartialEq)]
pub enum ValidationOutcome {
    /// Valid, with its long id and validation link. MyInvois may list a valid document
    /// before its longId exists; the poller waits a few rounds for it, then reports the
    /// document valid without one rather than invent a link.
    Valid {
        /// longId.
        long_id: Option<String>,
        /// The public validation link (only with a longId).
        validation_link: Option<String>,
    },
    /// Invalid, with the validation errors.
    Invalid {
        /// The errors (from Get Document Details).
        errors: Vec<DocumentError>,
    },
    /// Cancelled after it was valid.
    Cancelled,
}

/// One result to record, by MyInvois UUID.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationUpdate {
    /// The document UUID.
    pub uuid: String,
    /// What happened.
    pub outcome: ValidationOutcome,
}

/// What [`super::Store::release_expired_leases`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseRecovery {
    /// Received documents whose preparer vanished; claimable again.
    pub received_released: u64,
    /// Batched documents without an intent; back to `prepared`.
    pub batched_released: u64,
    /// Intents whose worker vanished before recording an outcome; now `outcome_unknown`.
    pub submissions_unknown: u64,
    /// Webhook deliveries whose deliverer vanished; pending again.
    pub webhooks_released: u64,
}

/// A filter for listing documents. Paging is by id (keyset): pass the last id seen as
/// `after`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocumentFilter {
    /// Only this state.
    pub state: Option<DocumentState>,
    /// Only this issuer.
    pub issuer_tin: Option<String>,
    /// Received at or after.
    pub received_from: Option<DateTime<Utc>>,
    /// Received before.
    pub received_before: Option<DateTime<Utc>>,
    /// Only this internal id.
    pub internal_id: Option<String>,
    /// Only this MyInvois uuid.
    pub uuid: Option<String>,
    /// Only ids greater than this.
    pub after: Option<DocumentId>,
    /// At most this many (0 means the default, 100; capped at 1,000).
    pub limit: u32,
}

/// One page of documents.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass this as `after` for the next page; `None` when this page was the last.
    pub next: Option<DocumentId>,
}

/// A webhook to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWebhook {
    /// The document it is about, if any.
    pub document_id: Option<DocumentId>,
    /// The event name (`document.valid`, ...).
    pub event: String,
    /// The JSON body.
    pub payload: Value,
    /// Give up after this many attempts.
    pub max_attempts: i64,
}

/// A webhook delivery row.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDelivery {
    /// Row id.
    pub id: WebhookId,
    /// The document it is about, if any.
    pub document_id: Option<DocumentId>,
    /// The event name.
    pub event: String,
    /// The JSON body.
    pub payload: Value,
    /// Where it is.
    pub state: WebhookState,
    /// Attempts made (claims).
    pub attempts: i64,
    /// Give up after this many.
    pub max_attempts: i64,
    /// Not before this time.
    pub next_attempt_at: DateTime<Utc>,
    /// The deliverer holding it.
    pub locked_by: Option<String>,
    /// Until when.
    pub lease_until: Option<DateTime<Utc>>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// When enqueued.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The delay before retry number `attempts + 1` of a webhook: 5 s doubling per attempt,
/// at most one hour.
pub fn webhook_backoff(attempts: i64) -> std::time::Duration {
    let exponent = attempts.saturating_sub(1).clamp(0, 20) as u32;
    let secs = 5u64.saturating_mul(1u64 << exponent);
    std::time::Duration::from_secs(secs.min(3600))
}

/// An API key row. The key itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRecord {
    /// Row id.
    pub id: ApiKeyId,
    /// A label.
    pub name: String,
    /// The first characters of the key, to tell keys apart in listings.
    pub prefix: String,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// What the key may do.
    pub scope: ApiKeyScope,
}

/// What an API key may do. Stored as its text in `api_keys.scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiKeyScope {
    /// Everything: read, submit, cancel, decide, consolidate.
    #[default]
    Full,
    /// Reading only (lists, documents, PDFs, dashboard pages): for an accountant or an
    /// auditor. Every write is refused with 403 `read_only_key`.
    ReadOnly,
}

impl ApiKeyScope {
    /// The stored text: `full` or `read_only`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyScope::Full => "full",
            ApiKeyScope::ReadOnly => "read_only",
        }
    }

    /// The scope named by its stored text.
    pub fn parse(s: &str) -> Option<ApiKeyScope> {
        match s {
            "full" => Some(ApiKeyScope::Full),
            "read_only" => Some(ApiKeyScope::ReadOnly),
            _ => None,
        }
    }

    /// Whether a key of this scope may change anything.
    pub fn may_write(self) -> bool {
        self == ApiKeyScope::Full
    }
}

/// A freshly created API key, shown once. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    pub(crate) fn new(secret: String) -> ApiKeySecret {
        ApiKeySecret(secret)
    }

    /// The key, to hand to the ERP once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_text() {
        for s in DocumentState::ALL {
            assert_eq!(DocumentState::parse(s.as_str()), Some(*s));
        }
        for s in SubmissionState::ALL {
            assert_eq!(SubmissionState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(DocumentState::parse("Valid"), None);
    }

    #[test]
    fn webhook_backoff_doubles_and_caps() {
        assert_eq!(webhook_backoff(1).as_secs(), 5);
        assert_eq!(webhook_backoff(2).as_secs(), 10);
        assert_eq!(webhook_backoff(3).as_secs(), 20);
        assert_eq!(webhook_backoff(30).as_secs(), 3600);
        assert_eq!(webhook_backoff(0).as_secs(), 5);
    }

    #[test]
    fn api_key_debug_is_redacted() {
        let k = ApiKeySecret::new("ivk_secretvalue".to_owned());
        assert!(!format!("{k:?}").contains("secretvalue"));
    }
}
