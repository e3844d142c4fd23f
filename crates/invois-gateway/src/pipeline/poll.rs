//! Polling: Get Submission only, paced per submission by the store (`claim_due_polls`), every
//! page; Get Document Details only for documents Get Submission calls Invalid.

use std::collections::HashSet;

use invois_api::status::DocumentStatus;
use invois_api::submission::DocumentSummary;
use rand::Rng as _;

use super::{Pipeline, PipelineError};
use crate::document_errors::{DocumentError, ErrorStage, codes};
use crate::store::{DocumentState, SubmissionRecord, ValidationOutcome, ValidationUpdate};

/// Get Submission pages hold at most this many documents.
const PAGE_SIZE: u32 = 100;

impl Pipeline {
    /// Polls the submissions whose next poll is due. Returns how many were polled.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn poll_once(&self) -> Result<usize, PipelineError> {
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

    async fn poll_submission(&self, sub: &SubmissionRecord) -> Result<(), PipelineError> {
        let inner = &self.inner;
        let Some(uid) = sub.submission_uid.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(());
        };
        let client = inner.clients.client(sub.on_behalf_of.as_deref())?;
        let mut summaries: Vec<DocumentSummary> = Vec::new();
        for page in 1..=1_000u32 {
            self.inner.config.metrics.poll();
            let response = client
                .submissions()
                .get(uid)
                .page_no(page)
                .page_size(PAGE_SIZE)
                .send()
                .await?;
            let listed = response.document_summary.len();
            summaries.extend(response.document_summary);
            if listed == 0 || summaries.len() >= response.document_count as usize {
                break;
            }
        }
        // Only documents still waiting here need anything; this keeps Get Document Details
        // to documents that are Invalid *and* not yet recorded.
        let waiting: HashSet<String> = inner
            .store
            .submissions()
            .documents_in(sub.id)
            .await?
            .into_iter()
            .filter(|d| matches!(d.state, DocumentState::Submitted | DocumentState::Valid))
            .filter_map(|d| d.uuid)
            .collect();
        let portal = client.environment().portal().to_owned();
        let mut updates = Vec::new();
        for s in summaries.iter().filter(|s| waiting.contains(&s.uuid)) {
            match s.status {
                DocumentStatus::Submitted => {}
                DocumentStatus::Valid | DocumentStatus::Cancelled => {
                    let long_id = s.long_id.clone().unwrap_or_default();
                    let validation_link =
                        invois_api::ids::validation_link(&portal, &s.uuid, &long_id);
                    updates.push(ValidationUpdate {
                        uuid: s.uuid.clone(),
                        outcome: ValidationOutcome::Valid {
                            long_id,
                            validation_link,
                        },
                    });
                    if s.status == DocumentStatus::Cancelled {
                        updates.push(ValidationUpdate {
                            uuid: s.uuid.clone(),
                            outcome: ValidationOutcome::Cancelled,
                        });
                    }
                }
                DocumentStatus::Invalid => {
                    let errors = match client.documents().details(&s.uuid).await {
                        Ok(details) => {
                            let steps: Vec<_> = details
                                .validation_results
                                .validation_steps
                                .into_iter()
                                .filter(|step| step.status == DocumentStatus::Invalid)
                                .collect();
                            let mut errors = DocumentError::from_steps(&steps);
                            if errors.is_empty() {
                                errors.push(DocumentError::new(
                                    ErrorStage::Validation,
                                    codes::UNKNOWN,
                                    "MyInvois found the document invalid and named no step",
                                ));
                            }
                            errors
                        }
                        // Record the status now; the reason is worth less than the budget
                        // another attempt would spend.
                        Err(e) => vec![DocumentError::new(
                            ErrorStage::Validation,
                            codes::DETAILS_UNAVAILABLE,
                            format!(
                                "MyInvois found the document invalid; its details could not be \
                                 fetched: {e}"
                            ),
                        )],
                    };
                    updates.push(ValidationUpdate {
                        uuid: s.uuid.clone(),
                        outcome: ValidationOutcome::Invalid { errors },
                    });
                }
            }
        }
        if !updates.is_empty() {
            let changed = inner
                .store
                .submissions()
                .record_validation_results(&updates)
                .await?;
            tracing::debug!(submission = %sub.id, changed, "validation results recorded");
        }
        Ok(())
    }
}
