//! Reconciliation: settling a submission whose outcome is unknown (timeout, 5xx, reset, a
//! worker that died after the intent) or that MyInvois called a duplicate, without ever
//! resending its payload blindly.
//!
//! The submission's uid is not known (the response was lost), so Get Submission cannot be
//! asked; Search Documents by submission date is, and each document is matched by issuer TIN
//! and internal id. Found documents are recorded as accepted with their uuids; if none is
//! found after a grace period, MyInvois never received the payload and the documents go back
//! to be batched again (should that be wrong, the identical payload earns a `422
//! DuplicateSubmission`, which lands back here).

use std::collections::{HashMap, VecDeque};

use futures::TryStreamExt as _;
use invois_api::documents::InvoiceDirection;
use invois_api::windows::DUPLICATE_SUBMISSION_WINDOW;

use super::{Pipeline, PipelineError};
use crate::document_errors::{DocumentError, ErrorStage, codes};
use crate::store::{
    DocumentId, DocumentState, SubmissionAccepted, SubmissionRecord, SubmissionState,
};

/// How soon an unsettled submission is looked at again.
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl Pipeline {
    /// Tries to settle every submission that needs it. Returns how many are still unsettled:
    /// while that is not zero, nothing new is sent.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn reconcile_once(&self) -> Result<usize, PipelineError> {
        let inner = &self.inner;
        let pending = inner.store.submissions().needing_reconcile(50).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        // One reconciler per process; the other submit loops just wait for it.
        let Ok(mut next_look) = inner.reconcile.try_lock() else {
            return Ok(pending.len());
        };
        let mut unsettled = 0;
        for sub in pending {
            let now = inner.clock.now();
            if next_look.get(&sub.id).is_some_and(|at| *at > now) {
                unsettled += 1;
                continue;
            }
            match self.reconcile_submission(&sub).await {
                Ok(true) => {
                    next_look.remove(&sub.id);
                }
                Ok(false) => {
                    next_look.insert(sub.id, later(now, RETRY_EVERY));
                    unsettled += 1;
                }
                Err(e) => {
                    tracing::warn!(submission = %sub.id, error = %e, "reconciliation failed; will retry");
                    next_look.insert(sub.id, later(now, RETRY_EVERY));
                    unsettled += 1;
                }
            }
        }
        next_look.retain(|_, at| *at > inner.clock.now() - chrono::Duration::hours(1));
        Ok(unsettled)
    }

    /// Settles one submission if the evidence allows. Returns whether it was settled.
    async fn reconcile_submission(&self, sub: &SubmissionRecord) -> Result<bool, PipelineError> {
        let inner = &self.inner;
        let docs = inner.store.submissions().documents_in(sub.id).await?;
        let waiting: Vec<_> = docs
            .iter()
            .filter(|d| d.state == DocumentState::Batched)
            .collect();
        if waiting.is_empty() {
            // Nothing of it is still waiting (settled elsewhere); close it.
            inner
                .store
                .submissions()
                .record_not_received(sub.id)
                .await?;
            return Ok(true);
        }
        let client = inner.clients.client(sub.on_behalf_of.as_deref())?;
        let now = inner.clock.now();
        let slack = chrono::Duration::from_std(inner.config.reconcile_slack)
            .unwrap_or(chrono::Duration::minutes(1));
        let grace = chrono::Duration::from_std(inner.config.reconcile_grace)
            .unwrap_or(chrono::Duration::seconds(30));
        let from = sub.created_at - slack;
        // The payload left between the intent and the unknown outcome (`updated_at`: a live
        // worker gives up before its lease ends, so nothing of this attempt leaves later)
        // and is believed searchable within the grace after it. Anything submitted later is
        // another submission's, so the window ends there: searching up to "now" paged
        // through everything sent since, at 12 RPM, twice per unknown outcome, while nothing
        // new may be sent (invariant 4); with a few hundred documents that stalled
        // submission for minutes.
        let to = (sub.updated_at + grace).min(now) + slack;
        let mut wanted: HashMap<(String, String), VecDeque<DocumentId>> = HashMap::new();
        for d in &waiting {
            wanted
                .entry((d.issuer_tin.clone(), d.internal_id.clone()))
                .or_default()
                .push_back(d.id);
        }
        let mut remaining = waiting.len();
        // (document, uuid, submission uid)
        let mut found: Vec<(DocumentId, String, String)> = Vec::new();
        let mut listing = Box::pin(
            client
                .documents()
                .search()
                .submission_dates(from, to)
                .direction(InvoiceDirection::Sent)
                .page_size(100)
                .into_stream(),
        );
        while remaining > 0 {
            let Some(listed) = listing.try_next().await? else {
                break;
            };
            let key = (listed.issuer_tin, listed.internal_id);
            if let Some(id) = wanted.get_mut(&key).and_then(VecDeque::pop_front) {
                found.push((id, listed.uuid, listed.submission_uid));
                remaining -= 1;
            }
        }
        drop(listing);
        if !found.is_empty() {
            // The payload arrived. Its documents share one uid; take the most common one in
            // case an older copy of an internal id matched too.
            let mut votes: HashMap<&str, usize> = HashMap::new();
            for (_, _, uid) in &found {
                *votes.entry(uid.as_str()).or_default() += 1;
            }
            let uid = votes
                .into_iter()
                .max_by_key(|(_, n)| *n)
                .map(|(uid, _)| uid.to_owned())
                .unwrap_or_default();
            let accepted: Vec<(DocumentId, String)> = found
                .iter()
                .filter(|(_, _, u)| *u == uid)
                .map(|(id, uuid, _)| (*id, uuid.clone()))
                .collect();
            let rejected = waiting
                .iter()
                .filter(|d| !accepted.iter().any(|(id, _)| *id == d.id))
                .map(|d| {
                    (
                        d.id,
                        vec![DocumentError::new(
                            ErrorStage::Submission,
                            codes::NOT_LISTED,
                            format!(
                                "MyInvois received submission {uid} but did not accept this \
                                 document; the reason was lost with the response. Send a new \
                                 version to try again."
                            ),
                        )],
                    )
                })
                .collect();
            let settled = SubmissionAccepted {
                submission_uid: uid.clone(),
                accepted,
                rejected,
            };
            inner
                .store
                .submissions()
                .record_accepted(sub.id, &settled)
                .await?;
            tracing::info!(submission = %sub.id, %uid, found = settled.accepted.len(), "reconciled: MyInvois had received it");
            return Ok(true);
        }
        let since = (now - sub.updated_at).to_std().unwrap_or_default();
        let settled = match sub.state {
            // A request still in flight is not searchable yet; wait before believing absence.
            SubmissionState::OutcomeUnknown => since >= inner.config.reconcile_grace,
            // MyInvois said it has this payload, yet none of its documents is listed (all
            // were rejected at submission). Once the duplicate window has passed, sending it
            // again gets a real answer.
            SubmissionState::Duplicate => now - sub.updated_at >= DUPLICATE_SUBMISSION_WINDOW,
            _ => false,
        };
        if settled {
            inner
                .store
                .submissions()
                .record_not_received(sub.id)
                .await?;
            tracing::info!(submission = %sub.id, "reconciled: MyInvois never received it; sending again");
        }
        Ok(settled)
    }
}

fn later(
    t: chrono::DateTime<chrono::Utc>,
    d: std::time::Duration,
) -> chrono::DateTime<chrono::Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::seconds(5))
}
