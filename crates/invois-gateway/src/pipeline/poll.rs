//! Polling: Get Submission only, paced per submission by the store (`claim_due_polls`), every
//! page; Get Document Details only for documents Get Submission calls Invalid.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use invois_api::status::DocumentStatus;
use invois_client::{DocumentResult, PollProgress};
use rand::Rng as _;

use super::{Pipeline, PipelineError};
use crate::document_errors::{DocumentError, ErrorStage, codes};
use crate::store::{DocumentState, SubmissionRecord, ValidationOutcome, ValidationUpdate};

impl Pipeline {
    /// Polls the submissions whose next poll is due. Returns how many were polled.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn poll_once(&self) -> Result<usize, PipelineError> {
        // A halted login would refuse every poll's token: claim nothing meanwhile (the submit
        // step sends the one login that decides when sending resumes).
        if self.inner.clients.base().login_halt().is_some() {
            return Ok(0);
        }
        let (lo, hi) = self.inner.config.poll_interval;
        let next_in = if hi > lo {
            rand::rng().random_range(lo..=hi)
        } else {
            lo
        };
        let due = self
            .inner
            .store
            .submissions()
            .claim_due_polls(16, next_in)
            .await?;
        let count = due.len();
        let polls = due.into_iter().map(|sub| async move {
            if let Err(e) = self.poll_submission(&sub).await {
                // The next poll is already scheduled; a failed one just waits for it.
                tracing::warn!(submission = %sub.id, error = %e, "poll failed");
            }
            // The claim scheduled the next poll from when it was claimed; the call itself
            // (and any wait for budget) came later. Count the interval from now instead.
            if let Err(e) = self
                .inner
                .store
                .submissions()
                .poll_finished(sub.id, next_in)
                .await
            {
                tracing::warn!(submission = %sub.id, error = %e, "could not reschedule a poll");
            }
        });
        futures::future::join_all(polls).await;
        Ok(count)
    }

    /// One round of the client's poller for `sub`, over the documents still waiting here;
    /// records what became final.
    async fn poll_submission(&self, sub: &SubmissionRecord) -> Result<(), PipelineError> {
        let inner = &self.inner;
        let Some(uid) = sub.submission_uid.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(());
        };
        let client = inner.clients.client(sub.on_behalf_of.as_deref())?;
        // Only documents still waiting here need anything; this keeps Get Document Details
        // to documents that are Invalid *and* not yet recorded. Valid ones stay awaited so
        // a cancellation seen in the same listing is recorded too.
        let waiting: HashSet<String> = inner
            .store
            .submissions()
            .documents_in(sub.id)
            .await?
            .into_iter()
            .filter(|d| matches!(d.state, DocumentState::Submitted | DocumentState::Valid))
            .filter_map(|d| d.uuid)
            .collect();
        let mut progress = self.progress_of(sub);
        let polls_before = progress.polls;
        let round = client
            .submissions()
            .poll(uid)
            .round(|uuid| waiting.contains(uuid), &mut progress)
            .await;
        for _ in polls_before..progress.polls {
            inner.config.metrics.poll();
        }
        let round = round?;
        {
            let mut map = inner
                .poll_progress
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if round.pending {
                map.insert(sub.id, progress);
            } else {
                map.remove(&sub.id);
            }
        }
        // A copy MyInvois refused only as a duplicate of the valid original may be adopted.
        let settled = self.adopt_originals(&client, sub, round.settled).await?;
        let updates: Vec<ValidationUpdate> = settled.iter().flat_map(validation_updates).collect();
        if !updates.is_empty() {
            let changed = inner
                .store
                .submissions()
                .record_validation_results(&updates)
                .await?;
            tracing::debug!(submission = %sub.id, changed, "validation results recorded");
        }
        let times = validation_times(&settled);
        if !times.is_empty() {
            inner.store.documents().record_validated_at(&times).await?;
        }
        Ok(())
    }
}

impl Pipeline {
    fn progress_of(&self, sub: &SubmissionRecord) -> PollProgress {
        let map = self
            .inner
            .poll_progress
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.get(&sub.id).copied().unwrap_or_default()
    }
}

/// What the store records for one document the poller found final.
fn validation_updates(d: &DocumentResult) -> Vec<ValidationUpdate> {
    let update = |outcome| ValidationUpdate {
        uuid: d.uuid.clone(),
        outcome,
    };
    let valid = || {
        update(ValidationOutcome::Valid {
            long_id: d.long_id.clone(),
            validation_link: d.validation_link.clone(),
        })
    };
    match d.status {
        DocumentStatus::Valid => vec![valid()],
        // Recorded as valid first, so a document never seen valid still gets its longId.
        DocumentStatus::Cancelled => vec![valid(), update(ValidationOutcome::Cancelled)],
        DocumentStatus::Invalid => vec![update(ValidationOutcome::Invalid {
            errors: invalid_errors(d),
        })],
        DocumentStatus::Submitted => Vec::new(),
    }
}

/// When MyInvois validated each document found valid (or valid, then cancelled): the buyer's
/// copy prints it.
fn validation_times(settled: &[DocumentResult]) -> Vec<(String, DateTime<Utc>)> {
    settled
        .iter()
        .filter(|d| matches!(d.status, DocumentStatus::Valid | DocumentStatus::Cancelled))
        .filter_map(|d| Some((d.uuid.clone(), d.summary.date_time_validated?)))
        .collect()
}

/// An invalid document's errors: its failed steps, or why they could not be fetched (the
/// status is recorded now; the reason is worth less than the budget another attempt would
/// spend).
fn invalid_errors(d: &DocumentResult) -> Vec<DocumentError> {
    if let Some(e) = &d.details_error {
        return vec![DocumentError::new(
            ErrorStage::Validation,
            codes::DETAILS_UNAVAILABLE,
            format!("MyInvois found the document invalid; its details could not be fetched: {e}"),
        )];
    }
    let errors = DocumentError::from_steps(&d.errors);
    if errors.is_empty() {
        return vec![DocumentError::new(
            ErrorStage::Validation,
            codes::UNKNOWN,
            "MyInvois found the document invalid and named no step",
        )];
    }
    errors
}
