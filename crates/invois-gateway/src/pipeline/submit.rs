//! Submission: batch, persist the intent, POST once, record what came back.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;

use invois_client::{PreparedSubmission, SubmitError, document_submission};
use tracing::Instrument as _;

use super::{Pipeline, PipelineConfig, PipelineError};
use crate::document_errors::{DocumentError, ErrorStage, codes};
use crate::store::{
    Batch, DocumentId, StoreError, SubmissionAccepted, SubmissionId, SubmissionIntent,
};

/// Per-document overhead of the request body around the base64 text: the member names, the
/// 64-digit hash and a generously escaped code number.
const ENTRY_OVERHEAD: usize = 500;

/// How many prepared (raw) bytes fit one request body of `max_submission_bytes`, given that
/// base64 grows them by a third.
pub(super) fn raw_bytes_budget(config: &PipelineConfig) -> usize {
    let envelope = 100 + config.max_documents.max(1) * ENTRY_OVERHEAD;
    config.max_submission_bytes.saturating_sub(envelope) / 4 * 3
}

/// What one submit attempt ended in, for the caller and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// 202: accepted (and possibly some documents rejected).
    Accepted(SubmissionId),
    /// The outcome is unknown; it will be reconciled.
    Unknown(SubmissionId),
    /// 422 DuplicateSubmission; it will be reconciled.
    Duplicate(SubmissionId),
    /// Too large for MyInvois; the documents went back to be batched smaller.
    Split(SubmissionId),
    /// Not processed (429 or never sent); the documents went back to be batched again.
    NotSent(SubmissionId),
    /// Refused for good; the documents are `failed`.
    Refused(SubmissionId),
    /// Earlier submissions are still being reconciled, so nothing new was sent.
    WaitingForReconciliation,
}

impl Pipeline {
    /// Reconciles what needs it, then (if nothing is left unreconciled) claims one batch and
    /// submits it. `None` when there was nothing to send.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn submit_once(&self) -> Result<Option<SubmitOutcome>, PipelineError> {
        // Invariant 4: an unknown outcome is settled before anything else is sent.
        if self.reconcile_once().await? > 0 {
            return Ok(Some(SubmitOutcome::WaitingForReconciliation));
        }
        let inner = &self.inner;
        let limit = inner.batch_documents.load(Ordering::Relaxed).max(1);
        let bytes = inner.batch_bytes.load(Ordering::Relaxed).max(1);
        if !self.batch_is_worth_sending(limit).await? {
            return Ok(None);
        }
        let Some(batch) = inner
            .store
            .documents()
            .claim_for_batch(
                &inner.config.worker,
                u32::try_from(limit).unwrap_or(u32::MAX),
                bytes as u64,
                inner.config.claim_lease,
            )
            .await?
        else {
            return Ok(None);
        };
        let outcome = self.submit_batch(batch).await;
        let label = match &outcome {
            Ok(SubmitOutcome::Accepted(_)) => "accepted",
            Ok(SubmitOutcome::Unknown(_)) => "unknown",
            Ok(SubmitOutcome::Duplicate(_)) => "duplicate",
            Ok(SubmitOutcome::Split(_)) => "split",
            Ok(SubmitOutcome::NotSent(_)) => "not_sent",
            Ok(SubmitOutcome::Refused(_)) => "refused",
            Ok(SubmitOutcome::WaitingForReconciliation) => "waiting",
            Err(_) => "error",
        };
        inner.config.metrics.submission(label);
        outcome.map(Some)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn submit_batch(&self, batch: Batch) -> Result<SubmitOutcome, PipelineError> {
        let inner = &self.inner;
        let worker = inner.config.worker.as_str();
        let mut wire = Vec::with_capacity(batch.documents.len());
        for d in &batch.documents {
            let Some(prepared) = &d.prepared else {
                return Err(StoreError::Corrupt(format!(
                    "document {} was batched without prepared bytes",
                    d.id
                ))
                .into());
            };
            wire.push(document_submission(
                d.format,
                prepared,
                d.internal_id.clone(),
            ));
        }
        let prepared = match PreparedSubmission::new(wire) {
            Ok(p) => p,
            Err(e) => {
                // The byte budget leaves room for the envelope, so this means a limit moved.
                // Shrink and let the claim's lease return the documents.
                self.shrink_batches(batch.documents.len());
                tracing::error!(error = %e, "a batch broke a submission limit; batching smaller");
                return Err(StoreError::Conflict(e.to_string()).into());
            }
        };
        let intent = inner
            .store
            .submissions()
            .record_intent(SubmissionIntent {
                worker: worker.to_owned(),
                client_id: batch.client_id.clone(),
                on_behalf_of: batch.on_behalf_of.clone(),
                document_ids: batch.documents.iter().map(|d| d.id).collect(),
                payload: prepared.body().to_vec(),
                lease: inner.config.submit_lease,
            })
            .await?;
        // Last check that this worker still owns the intent; after this the POST may leave.
        inner
            .store
            .submissions()
            .hold(intent.id, worker, inner.config.submit_lease)
            .await?;
        let client = inner.clients.client(batch.on_behalf_of.as_deref())?;
        // The client may wait for rate budget (a 429 pauses the class for its Retry-After,
        // then it retries) after the hold above. Past the lease, the intent is swept to
        // `outcome_unknown`, reconciled as "not received" and its documents sent again: a
        // POST leaving after that would put every document at MyInvois twice. So the
        // attempt is abandoned (dropping the request) well before the lease runs out, and
        // recorded as an unknown outcome by this worker itself.
        let give_up = inner.config.submit_lease.mul_f64(0.8);
        let submissions = client.submissions();
        let result = tokio::select! {
            r = submissions
                .submit_prepared(&prepared)
                .instrument(tracing::debug_span!("submit_documents")) => r,
            () = inner.clock.sleep(give_up) => {
                let reason = format!(
                    "no outcome within {} s of the {} s submit lease (waiting for rate budget \
                     or a slow response); abandoned before the lease ran out",
                    give_up.as_secs(),
                    inner.config.submit_lease.as_secs()
                );
                tracing::warn!(submission = %intent.id, %reason, "submission abandoned; reconciling");
                inner
                    .store
                    .submissions().record_unknown(intent.id, &reason)
                    .await?;
                return Ok(SubmitOutcome::Unknown(intent.id));
            }
        };
        let store = &inner.store;
        match result {
            Ok(submitted) => {
                // Map codeNumbers back to documents; a repeated number maps in order.
                let mut by_code: HashMap<&str, VecDeque<DocumentId>> = HashMap::new();
                for d in &batch.documents {
                    by_code
                        .entry(d.internal_id.as_str())
                        .or_default()
                        .push_back(d.id);
                }
                let mut take = |code: &str| by_code.get_mut(code).and_then(VecDeque::pop_front);
                let mut accepted = SubmissionAccepted {
                    submission_uid: submitted.submission_uid.clone().unwrap_or_default(),
                    accepted: Vec::new(),
                    rejected: Vec::new(),
                };
                for a in &submitted.accepted_documents {
                    if let Some(id) = take(&a.invoice_code_number) {
                        accepted.accepted.push((id, a.uuid.clone()));
                    }
                }
                for r in &submitted.rejected_documents {
                    if let Some(id) = take(&r.invoice_code_number) {
                        accepted
                            .rejected
                            .push((id, DocumentError::from_rejection(&r.error)));
                    }
                }
                // A document MyInvois listed in neither list: say so rather than guess.
                for queue in by_code.into_values() {
                    for id in queue {
                        accepted.rejected.push((
                            id,
                            vec![DocumentError::new(
                                ErrorStage::Submission,
                                codes::NOT_LISTED,
                                "MyInvois accepted the submission but did not list this document",
                            )],
                        ));
                    }
                }
                store
                    .submissions()
                    .record_accepted(intent.id, &accepted)
                    .await?;
                self.grow_batches();
                tracing::info!(
                    submission = %intent.id,
                    uid = %accepted.submission_uid,
                    accepted = accepted.accepted.len(),
                    rejected = accepted.rejected.len(),
                    "submission accepted"
                );
                Ok(SubmitOutcome::Accepted(intent.id))
            }
            Err(SubmitError::OutcomeUnknown { reason, .. }) => {
                tracing::warn!(submission = %intent.id, %reason, "submission outcome unknown; reconciling");
                store
                    .submissions()
                    .record_unknown(intent.id, &reason.to_string())
                    .await?;
                Ok(SubmitOutcome::Unknown(intent.id))
            }
            Err(SubmitError::Duplicate { .. }) => {
                tracing::warn!(submission = %intent.id, "422 DuplicateSubmission; reconciling");
                store.submissions().record_duplicate(intent.id).await?;
                Ok(SubmitOutcome::Duplicate(intent.id))
            }
            Err(SubmitError::Rejected { failure, .. }) => {
                let code = failure.code().unwrap_or_default().to_owned();
                if failure.status == 429 {
                    // Throttled: MyInvois did not process it, so the documents may go again
                    // (after the pause the client now observes for the whole class).
                    store
                        .submissions()
                        .record_unknown(intent.id, "429 Too Many Requests")
                        .await?;
                    store.submissions().record_not_received(intent.id).await?;
                    Ok(SubmitOutcome::NotSent(intent.id))
                } else if code == "MaximumSizeExceeded" || failure.status == 413 {
                    store.submissions().record_split(intent.id).await?;
                    self.shrink_batches(batch.documents.len());
                    tracing::warn!(submission = %intent.id, documents = batch.documents.len(), "MaximumSizeExceeded; splitting the batch");
                    Ok(SubmitOutcome::Split(intent.id))
                } else {
                    let message = format!(
                        "MyInvois refused the submission: HTTP {} {}{}",
                        failure.status,
                        code,
                        failure
                            .message()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    );
                    tracing::warn!(submission = %intent.id, %message, "submission refused");
                    let refusal = DocumentError::refused(failure.code(), message);
                    store
                        .submissions()
                        .record_refused(intent.id, &refusal)
                        .await?;
                    Ok(SubmitOutcome::Refused(intent.id))
                }
            }
            Err(SubmitError::NotSent(e)) => {
                // Nothing left this process (login or budget failed): the documents may go
                // again once the cause is fixed.
                store
                    .submissions()
                    .record_unknown(intent.id, &format!("not sent: {e}"))
                    .await?;
                store.submissions().record_not_received(intent.id).await?;
                Err(PipelineError::Api(e))
            }
            Err(SubmitError::Limit(e)) => {
                // Cannot happen for a payload `PreparedSubmission` accepted; handled anyway.
                store
                    .submissions()
                    .record_unknown(intent.id, &format!("not sent: {e}"))
                    .await?;
                store.submissions().record_not_received(intent.id).await?;
                self.shrink_batches(batch.documents.len());
                Ok(SubmitOutcome::NotSent(intent.id))
            }
            Err(other) => {
                // A kind this version does not know: the request may have left, so treat it
                // like any unknown outcome.
                store
                    .submissions()
                    .record_unknown(intent.id, &other.to_string())
                    .await?;
                Ok(SubmitOutcome::Unknown(intent.id))
            }
        }
    }

    /// Whether to send now: a full batch is ready, or nothing more is being prepared, or the
    /// oldest waiting document has lingered long enough. Submit's budget (100 RPM) is spent
    /// per request, not per document, so a half-empty batch wastes throughput.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn batch_is_worth_sending(&self, limit: usize) -> Result<bool, PipelineError> {
        use crate::store::DocumentState;
        let counts = self.inner.store.documents().count_by_state().await?;
        let prepared = counts.get(&DocumentState::Prepared).copied().unwrap_or(0);
        let received = counts.get(&DocumentState::Received).copied().unwrap_or(0);
        let mut since = self.inner.linger_since.lock().await;
        if prepared == 0 {
            *since = None;
            return Ok(false);
        }
        if prepared as usize >= limit || received == 0 {
            *since = None;
            return Ok(true);
        }
        let now = self.inner.clock.now();
        let started = *since.get_or_insert(now);
        let waited = (now - started).to_std().unwrap_or_default();
        if waited >= self.inner.config.batch_linger {
            *since = None;
            return Ok(true);
        }
        Ok(false)
    }

    /// After `MaximumSizeExceeded`: the next batches carry half as many documents and bytes.
    fn shrink_batches(&self, documents: usize) {
        let half = (documents / 2).max(1);
        self.inner
            .batch_documents
            .fetch_min(half, Ordering::Relaxed);
        let bytes = self.inner.batch_bytes.load(Ordering::Relaxed);
        self.inner
            .batch_bytes
            .store((bytes / 2).max(1), Ordering::Relaxed);
    }

    /// After an accepted submission: creep back towards the configured limits.
    fn grow_batches(&self) {
        let max_docs = self.inner.config.max_documents.max(1);
        let max_bytes = raw_bytes_budget(&self.inner.config);
        let docs = self.inner.batch_documents.load(Ordering::Relaxed);
        if docs < max_docs {
            self.inner
                .batch_documents
                .store((docs + docs / 4 + 1).min(max_docs), Ordering::Relaxed);
        }
        let bytes = self.inner.batch_bytes.load(Ordering::Relaxed);
        if bytes < max_bytes {
            self.inner
                .batch_bytes
                .store((bytes + bytes / 4 + 1).min(max_bytes), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_budget_leaves_room_for_base64_and_envelope() {
        let config = PipelineConfig::default();
        let raw = raw_bytes_budget(&config);
        let encoded = raw.div_ceil(3) * 4 + 100 + 100 * ENTRY_OVERHEAD;
        assert!(encoded <= config.max_submission_bytes, "{encoded}");
        assert!(raw > 3_800_000, "{raw}");
    }
}
