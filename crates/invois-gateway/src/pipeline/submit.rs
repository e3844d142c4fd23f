//! Submission: batch, persist the intent, POST once, record what came back.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};

use invois_client::{PreparedSubmission, SubmitError, Submitted};
use invois_model::WireDocument;
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

/// When partial batches wait and go.
///
/// Submit's budget is spent per request, not per document, and its window slides: a slot
/// spent on a batch of five comes back only a window later. Documents that arrive steadily
/// (an ERP posting as it invoices) would otherwise leave in a burst of small batches that
/// spends the whole window's budget in its first seconds, and everything after waits for the
/// window to turn. So a partial batch leaves only when no batch, full or partial, finished
/// sending within the last share of the budget (window ÷ requests): a steady flow at the
/// ceiling then fills each batch, and a slower one still leaves within a share of a second.
/// Counting only the last partial batch, or from a send's start, was not enough: at the
/// ceiling a partial batch followed each full one at once, the first minute's budget was
/// spent in 49 s, and the window's slide repeated that gap every minute after (87% of the
/// ceiling). Nor is a partial batch sent while another batch is being sent: the submit
/// workers send side by side, and a partial batch decided while a full one was still on its
/// way left 20 ms after it (one 20,000-document run in three, 97.7% of the ceiling). Full
/// batches are never held back.
#[derive(Debug, Default)]
pub(super) struct Batching {
    /// When the current partial batch started waiting for more documents.
    linger_since: Option<chrono::DateTime<chrono::Utc>>,
    /// When the last batch, full or partial, finished sending.
    last_sent: Option<chrono::DateTime<chrono::Utc>>,
}

/// Counts one batch as being sent for as long as it lives, so a send that is cancelled (the
/// pipeline shut down mid-request) stops counting too.
struct Sending<'a>(&'a AtomicUsize);

impl<'a> Sending<'a> {
    fn start(count: &'a AtomicUsize) -> Sending<'a> {
        count.fetch_add(1, Ordering::AcqRel);
        Sending(count)
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
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
        if self.logins_halted().await? {
            return Ok(None);
        }
        // Invariant 4: an unknown outcome is settled before anything else is sent.
        if self.reconcile_once().await? > 0 {
            return Ok(Some(SubmitOutcome::WaitingForReconciliation));
        }
        let inner = &self.inner;
        let limit = inner.batch_documents.load(Ordering::Relaxed).max(1);
        let bytes = inner.batch_bytes.load(Ordering::Relaxed).max(1);
        // Deciding and claiming are one step for this process's submit workers: two workers
        // that both saw 102 prepared documents each decided on a full batch, and the second
        // claimed the 2 the first left, spending a slot of the budget on them.
        let mut batching = inner.batching.lock().await;
        if !self.batch_is_worth_sending(&mut batching, limit).await? {
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
        let sending = Sending::start(&inner.batches_sending);
        drop(batching);
        let outcome = self.submit_batch(batch).await;
        // From the send's end, not its start: sending a hundred documents can itself take
        // most of a share, and a partial batch would otherwise follow each full one at once.
        // The end is recorded before the send stops counting, under the lock the decision
        // takes, so no decision sees neither.
        let mut batching = inner.batching.lock().await;
        batching.last_sent = Some(inner.clock.now());
        drop(sending);
        drop(batching);
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

    /// Whether MyInvois refused this client id's login for good (see
    /// [`invois_client::LoginHalt`]): then nothing is claimed, since every call would need the
    /// refused login. Once the halt's retry time has come, the refused login is sent once
    /// more, here, and decides: accepted, sending resumes; refused, the halt is renewed for
    /// another hour and its error returned.
    pub(super) async fn logins_halted(&self) -> Result<bool, PipelineError> {
        let Some(halt) = self.inner.clients.base().login_halt() else {
            return Ok(false);
        };
        if self.inner.clock.now() < halt.retry_at {
            return Ok(true);
        }
        let client = self.inner.clients.client(halt.on_behalf_of.as_deref())?;
        client.login().await?;
        Ok(false)
    }

    /// Records the intent for `batch`, POSTs it once, and records what came back.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn submit_batch(&self, batch: Batch) -> Result<SubmitOutcome, PipelineError> {
        let inner = &self.inner;
        let worker = inner.config.worker.as_str();
        let prepared = self.wire_payload(&batch)?;
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
        match result {
            Ok(submitted) => self.record_accepted(intent.id, &batch, &submitted).await,
            Err(e) => self.record_failure(intent.id, &batch, e).await,
        }
    }

    /// The request body for `batch`, from each document's prepared bytes and the hash made
    /// when they were prepared.
    fn wire_payload(&self, batch: &Batch) -> Result<PreparedSubmission, PipelineError> {
        let mut wire = Vec::with_capacity(batch.documents.len());
        for d in &batch.documents {
            let (Some(bytes), Some(hash)) = (&d.prepared, &d.document_hash) else {
                return Err(StoreError::Corrupt(format!(
                    "document {} was batched without prepared bytes and their hash",
                    d.id
                ))
                .into());
            };
            let document = WireDocument::with_sha256(d.format, bytes.clone(), hash.clone());
            wire.push((document, d.internal_id.clone()));
        }
        PreparedSubmission::from_wire(wire.iter().map(|(w, code)| (w, code.clone()))).map_err(|e| {
            // The byte budget leaves room for the envelope, so this means a limit moved.
            // Shrink and let the claim's lease return the documents.
            self.shrink_batches(batch.documents.len());
            tracing::error!(error = %e, "a batch broke a submission limit; batching smaller");
            StoreError::Conflict(e.to_string()).into()
        })
    }

    /// 202: maps MyInvois' accepted and rejected lists back to the batch's documents.
    async fn record_accepted(
        &self,
        intent: SubmissionId,
        batch: &Batch,
        submitted: &Submitted,
    ) -> Result<SubmitOutcome, PipelineError> {
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
        for id in by_code.into_values().flatten() {
            accepted.rejected.push((
                id,
                vec![DocumentError::new(
                    ErrorStage::Submission,
                    codes::NOT_LISTED,
                    "MyInvois accepted the submission but did not list this document",
                )],
            ));
        }
        self.inner
            .store
            .submissions()
            .record_accepted(intent, &accepted)
            .await?;
        self.grow_batches();
        tracing::info!(
            submission = %intent,
            uid = %accepted.submission_uid,
            accepted = accepted.accepted.len(),
            rejected = accepted.rejected.len(),
            "submission accepted"
        );
        Ok(SubmitOutcome::Accepted(intent))
    }

    /// Anything but a 202: reconcile what may have arrived, resend what provably did not,
    /// split what was too large, and fail what MyInvois refused for good.
    async fn record_failure(
        &self,
        intent: SubmissionId,
        batch: &Batch,
        error: SubmitError,
    ) -> Result<SubmitOutcome, PipelineError> {
        let submissions = self.inner.store.submissions();
        match error {
            SubmitError::OutcomeUnknown { reason, .. } => {
                tracing::warn!(submission = %intent, %reason, "submission outcome unknown; reconciling");
                submissions
                    .record_unknown(intent, &reason.to_string())
                    .await?;
                Ok(SubmitOutcome::Unknown(intent))
            }
            SubmitError::Duplicate { .. } => {
                tracing::warn!(submission = %intent, "422 DuplicateSubmission; reconciling");
                submissions.record_duplicate(intent).await?;
                Ok(SubmitOutcome::Duplicate(intent))
            }
            // Throttled: MyInvois did not process it, so the documents may go again (after
            // the pause the client now observes for the whole class).
            SubmitError::Rejected { failure, .. } if failure.status == 429 => {
                submissions
                    .record_not_sent(intent, "429 Too Many Requests")
                    .await?;
                Ok(SubmitOutcome::NotSent(intent))
            }
            SubmitError::Rejected { failure, .. }
                if failure.status == 413 || failure.code() == Some("MaximumSizeExceeded") =>
            {
                submissions.record_split(intent).await?;
                self.shrink_batches(batch.documents.len());
                tracing::warn!(submission = %intent, documents = batch.documents.len(), "MaximumSizeExceeded; splitting the batch");
                Ok(SubmitOutcome::Split(intent))
            }
            SubmitError::Rejected { failure, .. } => {
                let message = format!(
                    "MyInvois refused the submission: HTTP {} {}{}",
                    failure.status,
                    failure.code().unwrap_or_default(),
                    failure
                        .message()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                );
                tracing::warn!(submission = %intent, %message, "submission refused");
                let refusal = DocumentError::refused(failure.code(), message);
                submissions.record_refused(intent, &refusal).await?;
                Ok(SubmitOutcome::Refused(intent))
            }
            // Nothing left this process (login or budget failed): the documents may go again
            // once the cause is fixed.
            SubmitError::NotSent(e) => {
                submissions
                    .record_not_sent(intent, &format!("not sent: {e}"))
                    .await?;
                Err(PipelineError::Api(e))
            }
            // Cannot happen for a payload `PreparedSubmission` accepted; handled anyway.
            SubmitError::Limit(e) => {
                submissions
                    .record_not_sent(intent, &format!("not sent: {e}"))
                    .await?;
                self.shrink_batches(batch.documents.len());
                Ok(SubmitOutcome::NotSent(intent))
            }
            // A kind this version does not know: the request may have left, so treat it like
            // any unknown outcome.
            other => {
                submissions
                    .record_unknown(intent, &other.to_string())
                    .await?;
                Ok(SubmitOutcome::Unknown(intent))
            }
        }
    }

    /// Whether to send now: a full batch is ready; or a partial one, when nothing more is
    /// being prepared or the oldest waiting document has lingered long enough, and no
    /// batch finished sending within the last share of Submit's budget (see [`Batching`]).
    #[tracing::instrument(level = "debug", skip_all)]
    async fn batch_is_worth_sending(
        &self,
        batching: &mut Batching,
        limit: usize,
    ) -> Result<bool, PipelineError> {
        use crate::store::DocumentState;
        let counts = self.inner.store.documents().count_by_state().await?;
        let prepared = counts.get(&DocumentState::Prepared).copied().unwrap_or(0);
        let received = counts.get(&DocumentState::Received).copied().unwrap_or(0);
        if prepared == 0 {
            batching.linger_since = None;
            return Ok(false);
        }
        let now = self.inner.clock.now();
        if prepared as usize >= limit {
            batching.linger_since = None;
            return Ok(true);
        }
        let started = *batching.linger_since.get_or_insert(now);
        let lingered = (now - started).to_std().unwrap_or_default();
        if received > 0 && lingered < self.inner.config.batch_linger {
            return Ok(false);
        }
        if self.inner.batches_sending.load(Ordering::Acquire) > 0 {
            return Ok(false);
        }
        let spacing = self.partial_batch_spacing();
        let since_last = batching
            .last_sent
            .map_or(spacing, |t| (now - t).to_std().unwrap_or_default());
        if since_last < spacing {
            return Ok(false);
        }
        batching.linger_since = None;
        Ok(true)
    }

    /// One share of Submit Documents' budget: its window over its requests (600 ms at
    /// LHDN's 100 RPM); zero when the client sets no limit.
    fn partial_batch_spacing(&self) -> std::time::Duration {
        let quota = self
            .inner
            .clients
            .base()
            .rate_limits()
            .quota(invois_api::RateClass::SubmitDocuments);
        quota.map_or(std::time::Duration::ZERO, |q| q.window / q.requests.max(1))
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
