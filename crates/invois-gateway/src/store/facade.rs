//! The [`Store`] trait over [`SqlStore`]'s repositories: each method forwards to the
//! repository that owns it. New code calls the repositories directly
//! (`store.documents().get(id)`); this keeps existing callers compiling while they move.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Store for SqlStore {
    async fn insert_document(&self, new: NewDocument) -> Result<Inserted, StoreError> {
        self.documents().insert(new).await
    }

    async fn new_version(
        &self,
        key: &DocumentKey,
        format: DocumentFormat,
        received: Vec<u8>,
    ) -> Result<DocumentRecord, StoreError> {
        self.documents().new_version(key, format, received).await
    }

    async fn get_document(&self, id: DocumentId) -> Result<DocumentRecord, StoreError> {
        self.documents().get(id).await
    }

    async fn find_document(&self, key: &DocumentKey) -> Result<Option<DocumentRecord>, StoreError> {
        self.documents().find(key).await
    }

    async fn document_versions(
        &self,
        key: &DocumentKey,
    ) -> Result<Vec<DocumentRecord>, StoreError> {
        self.documents().versions(key).await
    }

    async fn count_documents_by_state(&self) -> Result<BTreeMap<DocumentState, u64>, StoreError> {
        self.documents().count_by_state().await
    }

    async fn list_documents(
        &self,
        filter: &DocumentFilter,
    ) -> Result<Page<DocumentRecord>, StoreError> {
        self.documents().list(filter).await
    }

    async fn claim_received(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<DocumentRecord>, StoreError> {
        self.documents().claim_received(worker, limit, lease).await
    }

    async fn mark_prepared(
        &self,
        id: DocumentId,
        worker: &str,
        prepared: Prepared,
    ) -> Result<DocumentRecord, StoreError> {
        self.documents().mark_prepared(id, worker, prepared).await
    }

    async fn mark_rejected_locally(
        &self,
        id: DocumentId,
        worker: &str,
        errors: serde_json::Value,
    ) -> Result<DocumentRecord, StoreError> {
        self.documents()
            .mark_rejected_locally(id, worker, errors)
            .await
    }

    async fn claim_documents_for_batch(
        &self,
        worker: &str,
        limit: u32,
        max_bytes: u64,
        lease: Duration,
    ) -> Result<Option<Batch>, StoreError> {
        self.documents()
            .claim_for_batch(worker, limit, max_bytes, lease)
            .await
    }

    async fn record_submission_intent(
        &self,
        intent: SubmissionIntent,
    ) -> Result<SubmissionRecord, StoreError> {
        self.submissions().record_intent(intent).await
    }

    async fn hold_submission(
        &self,
        id: SubmissionId,
        worker: &str,
        lease: Duration,
    ) -> Result<SubmissionRecord, StoreError> {
        self.submissions().hold(id, worker, lease).await
    }

    async fn record_submission_accepted(
        &self,
        id: SubmissionId,
        accepted: &SubmissionAccepted,
    ) -> Result<SubmissionRecord, StoreError> {
        self.submissions().record_accepted(id, accepted).await
    }

    async fn record_submission_unknown(
        &self,
        id: SubmissionId,
        error: &str,
    ) -> Result<SubmissionRecord, StoreError> {
        self.submissions().record_unknown(id, error).await
    }

    async fn record_submission_duplicate(
        &self,
        id: SubmissionId,
    ) -> Result<SubmissionRecord, StoreError> {
        self.submissions().record_duplicate(id).await
    }

    async fn record_submission_refused(
        &self,
        id: SubmissionId,
        error: &str,
    ) -> Result<SubmissionRecord, StoreError> {
        self.submissions().record_refused(id, error).await
    }

    async fn record_submission_split(
        &self,
        id: SubmissionId,
    ) -> Result<SubmissionRecord, StoreError> {
        self.submissions().record_split(id).await
    }

    async fn record_submission_not_received(
        &self,
        id: SubmissionId,
    ) -> Result<SubmissionRecord, StoreError> {
        self.submissions().record_not_received(id).await
    }

    async fn get_submission(&self, id: SubmissionId) -> Result<SubmissionRecord, StoreError> {
        self.submissions().get(id).await
    }

    async fn submission_payload(&self, id: SubmissionId) -> Result<Vec<u8>, StoreError> {
        self.submissions().payload(id).await
    }

    async fn submissions_needing_reconcile(
        &self,
        limit: u32,
    ) -> Result<Vec<SubmissionRecord>, StoreError> {
        self.submissions().needing_reconcile(limit).await
    }

    async fn submissions_to_poll(&self, limit: u32) -> Result<Vec<SubmissionRecord>, StoreError> {
        self.submissions().to_poll(limit).await
    }

    async fn documents_in_submission(
        &self,
        id: SubmissionId,
    ) -> Result<Vec<DocumentRecord>, StoreError> {
        self.submissions().documents_in(id).await
    }

    async fn poll_finished(&self, id: SubmissionId, next_in: Duration) -> Result<(), StoreError> {
        self.submissions().poll_finished(id, next_in).await
    }

    async fn claim_due_polls(
        &self,
        limit: u32,
        next_in: Duration,
    ) -> Result<Vec<SubmissionRecord>, StoreError> {
        self.submissions().claim_due_polls(limit, next_in).await
    }

    async fn list_submissions(
        &self,
        filter: &SubmissionFilter,
    ) -> Result<Vec<SubmissionRecord>, StoreError> {
        self.submissions().list(filter).await
    }

    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<DocumentEvent>, StoreError> {
        self.documents().events_after(after, limit).await
    }

    async fn document_events(&self, id: DocumentId) -> Result<Vec<DocumentEvent>, StoreError> {
        self.documents().events(id).await
    }

    async fn record_validation_results(
        &self,
        results: &[ValidationUpdate],
    ) -> Result<u64, StoreError> {
        self.submissions().record_validation_results(results).await
    }

    async fn release_expired_leases(&self) -> Result<LeaseRecovery, StoreError> {
        SqlStore::release_expired_leases(self).await
    }

    async fn enqueue_webhook(&self, new: NewWebhook) -> Result<WebhookDelivery, StoreError> {
        self.outbox().enqueue(new).await
    }

    async fn claim_webhooks(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        self.outbox().claim(worker, limit, lease).await
    }

    async fn ack_webhook(
        &self,
        id: WebhookId,
        worker: &str,
    ) -> Result<WebhookDelivery, StoreError> {
        self.outbox().ack(id, worker).await
    }

    async fn retry_webhook(
        &self,
        id: WebhookId,
        worker: &str,
        error: &str,
    ) -> Result<WebhookDelivery, StoreError> {
        self.outbox().retry(id, worker, error).await
    }

    async fn create_api_key(&self, name: &str) -> Result<(ApiKeyRecord, ApiKeySecret), StoreError> {
        self.api_keys().create(name).await
    }

    async fn verify_api_key(&self, presented: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.api_keys().verify(presented).await
    }

    async fn revoke_api_key(&self, id: ApiKeyId) -> Result<ApiKeyRecord, StoreError> {
        self.api_keys().revoke(id).await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.api_keys().list().await
    }

    async fn relay_events(
        &self,
        limit: u32,
        max_attempts: i64,
        announce: &Announce,
    ) -> Result<u64, StoreError> {
        self.outbox().relay(limit, max_attempts, announce).await
    }

    async fn list_webhook_deliveries(
        &self,
        filter: &WebhookFilter,
    ) -> Result<Vec<WebhookLogEntry>, StoreError> {
        self.outbox().list(filter).await
    }

    async fn get_webhook_delivery(&self, id: WebhookId) -> Result<WebhookLogEntry, StoreError> {
        self.outbox().get(id).await
    }

    async fn replay_webhook(&self, id: WebhookId) -> Result<WebhookLogEntry, StoreError> {
        self.outbox().replay(id).await
    }

    async fn count_webhooks_by_state(&self) -> Result<BTreeMap<WebhookState, u64>, StoreError> {
        self.outbox().count_by_state().await
    }

    async fn recent_documents(&self, limit: u32) -> Result<Vec<DocumentRecord>, StoreError> {
        self.documents().recent(limit).await
    }

    async fn upsert_external_document(
        &self,
        doc: &ExternalDocument,
    ) -> Result<ExternalUpsert, StoreError> {
        self.archive().upsert(doc).await
    }

    async fn list_external_documents(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ExternalDocumentRecord>, StoreError> {
        self.archive().list(after, limit).await
    }
}
