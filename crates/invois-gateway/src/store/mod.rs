//! Durable storage for the gateway, on SQLite or PostgreSQL (chosen once, by URL, when the
//! [`Db`] is opened; each backend has its own migrations).
//!
//! One repository per aggregate, one file each: [`Documents`] (and their status events),
//! [`Submissions`] (and their polls), the webhook [`Outbox`], [`ApiKeys`] and the
//! [`Archive`] of documents issued elsewhere; the shared rate budget lives in [`budget`].
//! Each is plain code over the small abstraction in `dialect.rs`, and reads rows with
//! `#[derive(sqlx::FromRow)]` structs. [`SqlStore`] holds the open [`Db`] and the clock and
//! hands out the repositories; the older [`Store`] trait forwards to them.
//!
//! Every state change is one atomic operation guarded by the state it leaves (and, for work a
//! worker holds, by `locked_by`), so a stale or duplicated worker cannot move anything
//! backwards: the guarded update matches no row and the operation returns
//! [`StoreError::StaleTransition`] or [`StoreError::LeaseLost`].
//!
//! Time comes from the [`Clock`] the store was opened with, never from the system clock, so
//! tests move leases and retries forward without sleeping.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use invois_clock::Clock;

mod api_keys;
mod archive;
pub mod budget;
mod convert;
mod db;
mod dialect;
mod documents;
mod external;
mod facade;
mod leases;
mod outbox;
mod submissions;
mod types;
mod webhook_types;

pub use api_keys::ApiKeys;
pub use archive::Archive;
pub use db::Db;
pub use documents::Documents;
pub use external::*;
pub use outbox::{Announce, Announcement, Outbox};
pub use submissions::Submissions;
pub use types::*;
pub use webhook_types::*;

/// The database used when none is configured.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://invois.db";

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such row.
    #[error("not found: {0}")]
    NotFound(String),
    /// The key exists with different content, or the request contradicts stored state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row is not in a state this transition may leave (someone else moved it first).
    #[error("{what} {id} is {actual}, so it cannot {action}")]
    StaleTransition {
        /// "document", "submission", ...
        what: &'static str,
        /// The row id.
        id: i64,
        /// The state it is in.
        actual: String,
        /// What was attempted.
        action: &'static str,
    },
    /// The worker no longer holds the lease on the row.
    #[error("{what} {id} is not held by worker {worker}")]
    LeaseLost {
        /// "document", "webhook", ...
        what: &'static str,
        /// The row id.
        id: i64,
        /// The worker that asked.
        worker: String,
    },
    /// A stored value could not be read back (a bug or a hand-edited database).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The database URL is not one this build understands.
    #[error("unsupported database URL {0} (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The gateway's durable state, as one object-safe trait (`Arc<dyn Store>`, see [`open`]).
/// Implemented by [`SqlStore`], each method forwarding to the repository that owns it.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    // ---- documents ----

    /// Stores a document version. Idempotent by (issuer TIN, type, internal id, version):
    /// a repeat with identical bytes returns the stored record with `created: false`; the
    /// same key with different bytes is a [`StoreError::Conflict`].
    async fn insert_document(&self, new: NewDocument) -> Result<Inserted, StoreError>;

    /// Stores a corrected version (latest version + 1) of an existing document. Only allowed
    /// when the latest version is `invalid` or `rejected_locally`; repeating the same
    /// correction returns the version it created.
    async fn new_version(
        &self,
        key: &DocumentKey,
        format: DocumentFormat,
        received: Vec<u8>,
    ) -> Result<DocumentRecord, StoreError>;

    /// One document version by id.
    async fn get_document(&self, id: DocumentId) -> Result<DocumentRecord, StoreError>;

    /// The latest version of a document, if any.
    async fn find_document(&self, key: &DocumentKey) -> Result<Option<DocumentRecord>, StoreError>;

    /// Every version of a document, oldest first; empty when the key is unknown. (The ERP
    /// API's `GET .../versions`: one indexed read, never a scan of the issuer's documents.)
    async fn document_versions(&self, key: &DocumentKey)
    -> Result<Vec<DocumentRecord>, StoreError>;

    /// How many document versions are in each state (states with none are left out).
    async fn count_documents_by_state(
        &self,
    ) -> Result<std::collections::BTreeMap<DocumentState, u64>, StoreError>;

    /// Documents matching a filter, in id order.
    async fn list_documents(
        &self,
        filter: &DocumentFilter,
    ) -> Result<Page<DocumentRecord>, StoreError>;

    /// Claims up to `limit` received documents for preparation (or whose previous preparer's
    /// lease expired).
    async fn claim_received(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<DocumentRecord>, StoreError>;

    /// received → prepared, by the worker holding it.
    async fn mark_prepared(
        &self,
        id: DocumentId,
        worker: &str,
        prepared: Prepared,
    ) -> Result<DocumentRecord, StoreError>;

    /// received → rejected_locally, by the worker holding it.
    async fn mark_rejected_locally(
        &self,
        id: DocumentId,
        worker: &str,
        errors: serde_json::Value,
    ) -> Result<DocumentRecord, StoreError>;

    /// Claims prepared documents sharing one (client id, onbehalfof): at most `limit`, and
    /// at most `max_bytes` of prepared bytes (but always at least one document). Returns
    /// `None` when nothing is prepared.
    async fn claim_documents_for_batch(
        &self,
        worker: &str,
        limit: u32,
        max_bytes: u64,
        lease: Duration,
    ) -> Result<Option<Batch>, StoreError>;

    // ---- submissions ----

    /// Records the intent (payload and its SHA-256) before the POST. Every document must be
    /// batched, held by `intent.worker`, and in no other submission.
    async fn record_submission_intent(
        &self,
        intent: SubmissionIntent,
    ) -> Result<SubmissionRecord, StoreError>;

    /// Confirms, immediately before the POST, that `worker` still holds the intent, and
    /// extends its lease by `lease`. If the lease already expired the intent may have been
    /// handed to reconciliation, so this fails ([`StoreError::LeaseLost`] or
    /// [`StoreError::StaleTransition`]) and the payload must not be POSTed.
    async fn hold_submission(
        &self,
        id: SubmissionId,
        worker: &str,
        lease: Duration,
    ) -> Result<SubmissionRecord, StoreError>;

    /// intent | outcome_unknown | duplicate → accepted. Accepted documents become
    /// `submitted` with their UUID, rejected ones `invalid`. Repeating it with the same
    /// submissionUid is a no-op.
    async fn record_submission_accepted(
        &self,
        id: SubmissionId,
        accepted: &SubmissionAccepted,
    ) -> Result<SubmissionRecord, StoreError>;

    /// intent → outcome_unknown (timeout, 5xx, reset).
    async fn record_submission_unknown(
        &self,
        id: SubmissionId,
        error: &str,
    ) -> Result<SubmissionRecord, StoreError>;

    /// intent → duplicate (422 DuplicateSubmission).
    async fn record_submission_duplicate(
        &self,
        id: SubmissionId,
    ) -> Result<SubmissionRecord, StoreError>;

    /// intent | outcome_unknown | duplicate → refused; its documents become `failed`.
    async fn record_submission_refused(
        &self,
        id: SubmissionId,
        error: &str,
    ) -> Result<SubmissionRecord, StoreError>;

    /// intent → split (MaximumSizeExceeded); its documents return to `prepared`.
    async fn record_submission_split(
        &self,
        id: SubmissionId,
    ) -> Result<SubmissionRecord, StoreError>;

    /// outcome_unknown | duplicate → not_received, when reconciliation proved MyInvois never
    /// got it; its documents return to `prepared`.
    async fn record_submission_not_received(
        &self,
        id: SubmissionId,
    ) -> Result<SubmissionRecord, StoreError>;

    /// One submission by id.
    async fn get_submission(&self, id: SubmissionId) -> Result<SubmissionRecord, StoreError>;

    /// The exact bytes recorded as a submission's payload.
    async fn submission_payload(&self, id: SubmissionId) -> Result<Vec<u8>, StoreError>;

    /// Submissions whose outcome must be reconciled before anything else is sent.
    async fn submissions_needing_reconcile(
        &self,
        limit: u32,
    ) -> Result<Vec<SubmissionRecord>, StoreError>;

    /// Accepted submissions that still have documents awaiting validation.
    async fn submissions_to_poll(&self, limit: u32) -> Result<Vec<SubmissionRecord>, StoreError>;

    /// The documents recorded in a submission.
    async fn documents_in_submission(
        &self,
        id: SubmissionId,
    ) -> Result<Vec<DocumentRecord>, StoreError>;

    /// After a poll of `id` finished: its next poll is `next_in` from now. The pace between
    /// polls then counts from the answer, not from the claim, so a slow answer (or a wait for
    /// rate budget) never brings the next poll closer than the interval.
    async fn poll_finished(&self, id: SubmissionId, next_in: Duration) -> Result<(), StoreError>;

    /// Claims accepted submissions whose next poll is due (and that still have documents
    /// awaiting validation), pushing their next poll `next_in` ahead, so that neither this
    /// worker nor another instance asks Get Submission for them again before then.
    async fn claim_due_polls(
        &self,
        limit: u32,
        next_in: Duration,
    ) -> Result<Vec<SubmissionRecord>, StoreError>;

    /// Submissions, newest first.
    async fn list_submissions(
        &self,
        filter: &SubmissionFilter,
    ) -> Result<Vec<SubmissionRecord>, StoreError>;

    /// Status events with ids greater than `after`, oldest first (the webhook relay's feed).
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<DocumentEvent>, StoreError>;

    /// One document's status events, oldest first.
    async fn document_events(&self, id: DocumentId) -> Result<Vec<DocumentEvent>, StoreError>;

    /// Applies validation results by UUID: submitted → valid | invalid, valid → cancelled.
    /// Results that no longer apply are ignored. Returns how many documents changed.
    async fn record_validation_results(
        &self,
        results: &[ValidationUpdate],
    ) -> Result<u64, StoreError>;

    /// Recovers work whose worker vanished (lease expired): received and batched documents
    /// become claimable, intents become `outcome_unknown` (never resent blindly), webhook
    /// deliveries become pending.
    async fn release_expired_leases(&self) -> Result<LeaseRecovery, StoreError>;

    // ---- webhooks ----

    /// Adds a delivery to the outbox, due now.
    async fn enqueue_webhook(&self, new: NewWebhook) -> Result<WebhookDelivery, StoreError>;

    /// Claims due deliveries (and ones whose deliverer's lease expired).
    async fn claim_webhooks(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<WebhookDelivery>, StoreError>;

    /// delivering → delivered, by the worker holding it.
    async fn ack_webhook(&self, id: WebhookId, worker: &str)
    -> Result<WebhookDelivery, StoreError>;

    /// delivering → pending after [`webhook_backoff`], or → dead after `max_attempts`.
    async fn retry_webhook(
        &self,
        id: WebhookId,
        worker: &str,
        error: &str,
    ) -> Result<WebhookDelivery, StoreError>;

    // ---- API keys ----

    /// Creates a key; only its SHA-256 is stored. The secret is returned once.
    async fn create_api_key(&self, name: &str) -> Result<(ApiKeyRecord, ApiKeySecret), StoreError>;

    /// The key's record if `presented` is a known, unrevoked key.
    async fn verify_api_key(&self, presented: &str) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Revokes a key (idempotent).
    async fn revoke_api_key(&self, id: ApiKeyId) -> Result<ApiKeyRecord, StoreError>;

    /// Every key's record (never the key), oldest first.
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;

    // ---- webhooks relay ----

    /// Turns up to `limit` status events not yet relayed into pending deliveries, each as
    /// `announce` describes it (see [`Outbox::relay`]). Returns how many were relayed.
    async fn relay_events(
        &self,
        limit: u32,
        max_attempts: i64,
        announce: &Announce,
    ) -> Result<u64, StoreError>;

    /// The delivery log, newest first.
    async fn list_webhook_deliveries(
        &self,
        filter: &WebhookFilter,
    ) -> Result<Vec<WebhookLogEntry>, StoreError>;

    /// One delivery by id.
    async fn get_webhook_delivery(&self, id: WebhookId) -> Result<WebhookLogEntry, StoreError>;

    /// Replays a `delivered` or `dead` delivery: a NEW pending delivery, due now, with the
    /// same document, event, payload and attempt limit, and `replay_of` naming the original
    /// (which keeps its own history). A pending or in-flight delivery is a
    /// [`StoreError::Conflict`]: it will be delivered anyway.
    async fn replay_webhook(&self, id: WebhookId) -> Result<WebhookLogEntry, StoreError>;

    /// How many deliveries are in each state (states with none are left out).
    async fn count_webhooks_by_state(
        &self,
    ) -> Result<std::collections::BTreeMap<WebhookState, u64>, StoreError>;

    /// The newest document versions, newest first (at most `limit`, capped at 1,000).
    async fn recent_documents(&self, limit: u32) -> Result<Vec<DocumentRecord>, StoreError>;
    // ---- archive ----

    /// Records a document issued outside the gateway, by UUID: inserts it, updates it when
    /// its listing changed (a status change, say), or leaves it. A document whose UUID the
    /// gateway itself recorded in `documents` is not stored ([`ExternalUpsert::Own`]).
    async fn upsert_external_document(
        &self,
        doc: &ExternalDocument,
    ) -> Result<ExternalUpsert, StoreError>;

    /// External documents with ids greater than `after`, in id order (`limit` 0 means 100;
    /// capped at 1,000).
    async fn list_external_documents(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ExternalDocumentRecord>, StoreError>;
}

/// Opens the store a URL names: `sqlite://PATH` (or `sqlite:PATH`) or `postgres://...`
/// (`postgresql://`), running its migrations.
pub async fn open(url: &str, clock: Clock) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SqlStore::open(url, clock).await?))
}

/// The store: the open [`Db`] and the clock every timestamp is read from, handing out one
/// repository per aggregate. Cheap to clone.
#[derive(Clone)]
pub struct SqlStore {
    db: Db,
    clock: Clock,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `SqliteStore { path }` or `PgStore { target }`: never a password.
        self.db.fmt(f)
    }
}

impl SqlStore {
    /// Opens the database a URL names (see [`Db::open`]), running its migrations.
    pub async fn open(url: &str, clock: Clock) -> Result<SqlStore, StoreError> {
        Ok(SqlStore::new(Db::open(url).await?, clock))
    }

    /// A store over an open database.
    pub fn new(db: Db, clock: Clock) -> SqlStore {
        SqlStore { db, clock }
    }

    /// The open database (for the shared rate budget, and for tests that read the tables).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Documents and their status events.
    pub fn documents(&self) -> Documents<'_> {
        Documents {
            db: &self.db,
            clock: &self.clock,
        }
    }

    /// Submissions and their polls.
    pub fn submissions(&self) -> Submissions<'_> {
        Submissions {
            db: &self.db,
            clock: &self.clock,
        }
    }

    /// The webhook outbox.
    pub fn outbox(&self) -> Outbox<'_> {
        Outbox {
            db: &self.db,
            clock: &self.clock,
        }
    }

    /// API keys.
    pub fn api_keys(&self) -> ApiKeys<'_> {
        ApiKeys {
            db: &self.db,
            clock: &self.clock,
        }
    }

    /// Documents issued outside the gateway.
    pub fn archive(&self) -> Archive<'_> {
        Archive {
            db: &self.db,
            clock: &self.clock,
        }
    }

    /// Recovers work whose worker vanished (lease expired), in every leased table.
    pub async fn release_expired_leases(&self) -> Result<LeaseRecovery, StoreError> {
        leases::release_expired(&self.db, &self.clock).await
    }

    /// Closes the database's connections.
    pub async fn close(&self) {
        self.db.close().await;
    }
}

/// Which implementation a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// The backend a URL selects, by scheme.
    pub fn of(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// A database URL with any password replaced by `***`, for logs, errors and `Debug`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() && parsed.set_password(Some("***")).is_err() {
                return "<unprintable url>".to_owned();
            }
            // `password=` in the query string is also accepted by libpq-style URLs.
            if parsed.query_pairs().any(|(k, _)| k == "password") {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k == "password" {
                            "***".to_owned()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        // Not a URL we can parse: print nothing of it that might be a secret.
        Err(_) => "<unparsable url>".to_owned(),
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        let r = redact_url("postgres://app:s3cr3t@db.example:5432/invois");
        assert!(!r.contains("s3cr3t"), "{r}");
        assert!(r.contains("app:***@db.example"), "{r}");
        let r = redact_url("postgres://db/invois?user=a&password=s3cr3t&sslmode=require");
        assert!(!r.contains("s3cr3t"), "{r}");
        assert!(r.contains("sslmode=require"), "{r}");
        assert_eq!(redact_url("not a url s3cr3t"), "<unparsable url>");
    }

    #[test]
    fn backend_from_scheme() {
        assert_eq!(Backend::of(DEFAULT_DATABASE_URL), Some(Backend::Sqlite));
        assert_eq!(Backend::of("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(Backend::of("postgres://x/y"), Some(Backend::Postgres));
        assert_eq!(Backend::of("postgresql://x/y"), Some(Backend::Postgres));
        assert_eq!(Backend::of("mysql://x/y"), None);
    }
}
