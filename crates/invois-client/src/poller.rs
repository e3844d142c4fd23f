//! The submission poller, the way LHDN's Integration Practices page asks: a first wait sized
//! to the batch, then Get Submission every 3-5 s with jitter, every page, until no document
//! is `Submitted`; Get Document Details only for `Invalid` documents.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use invois_api::documents::ValidationStep;
use invois_api::ids::validation_link;
use invois_api::submission::{DocumentSummary, MAX_SUBMISSION_PAGE_SIZE};
use invois_api::{DocumentStatus, OverallStatus};
use rand::Rng;

use crate::client::Client;
use crate::error::Error;

/// The poller's pacing (clock time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollConfig {
    /// First wait for any batch.
    pub first_wait_base: Duration,
    /// Added to the first wait per document.
    pub first_wait_per_document: Duration,
    /// Longest first wait.
    pub first_wait_max: Duration,
    /// Shortest wait between polls.
    pub interval_min: Duration,
    /// Longest wait between polls.
    pub interval_max: Duration,
    /// Give up after this long (returns [`Error::PollTimeout`]).
    pub timeout: Duration,
    /// Extra polls allowed for a `Valid` document's `longId` to appear (it can lag
    /// validation by seconds).
    pub long_id_polls: u32,
    /// 404s tolerated right after submitting, while the submission becomes visible.
    pub not_found_polls: u32,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            first_wait_base: Duration::from_secs(2),
            first_wait_per_document: Duration::from_millis(100),
            first_wait_max: Duration::from_secs(30),
            interval_min: Duration::from_secs(3),
            interval_max: Duration::from_secs(5),
            timeout: Duration::from_secs(15 * 60),
            long_id_polls: 3,
            not_found_polls: 3,
        }
    }
}

impl PollConfig {
    /// The first wait for a batch of `documents`.
    pub fn first_wait(&self, documents: usize) -> Duration {
        let per = self
            .first_wait_per_document
            .saturating_mul(u32::try_from(documents).unwrap_or(u32::MAX));
        (self.first_wait_base + per).min(self.first_wait_max)
    }

    /// One jittered interval in `[interval_min, interval_max]`.
    pub fn interval(&self) -> Duration {
        if self.interval_max <= self.interval_min {
            return self.interval_min;
        }
        let span = self.interval_max - self.interval_min;
        self.interval_min + span.mul_f64(rand::rng().random::<f64>())
    }
}

/// One document's final result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DocumentResult {
    /// The document's uuid.
    pub uuid: String,
    /// Its own number (`codeNumber`).
    pub internal_id: String,
    /// `Valid`, `Invalid` or `Cancelled` (`Submitted` only if the poller gave up waiting).
    pub status: DocumentStatus,
    /// Present for valid documents.
    pub long_id: Option<String>,
    /// `{portal}/{uuid}/share/{longId}` for valid documents (README §10).
    pub validation_link: Option<String>,
    /// For invalid documents: the failed validation steps from Get Document Details.
    pub errors: Vec<ValidationStep>,
    /// Set when Get Document Details failed for an invalid document.
    pub details_error: Option<String>,
    /// The document's summary as Get Submission last listed it.
    pub summary: DocumentSummary,
}

/// A submission's final state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubmissionOutcome {
    /// The submission.
    pub submission_uid: String,
    /// Its overall status.
    pub overall_status: OverallStatus,
    /// One result per document, in the order they became final (within one round, the
    /// order Get Submission listed them).
    pub documents: Vec<DocumentResult>,
    /// Get Submission calls made (each page counts).
    pub polls: u32,
}

/// How far one submission's polling has got. [`PollBuilder::send`] keeps it for itself; a
/// caller that paces rounds itself (a gateway, driven by its store) keeps it between
/// [`PollBuilder::round`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollProgress {
    /// Get Submission calls made (each page counts).
    pub polls: u32,
    /// 404s tolerated so far (the submission is not visible yet).
    pub not_found: u32,
    /// Extra rounds spent waiting for a `Valid` document's `longId`.
    pub long_id_polls: u32,
}

/// What one round (Get Submission, every page) learnt about the documents still awaited.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollRound {
    /// The submission's overall status; `None` when it was not visible yet (a tolerated 404).
    pub overall_status: Option<OverallStatus>,
    /// Awaited documents that are final now, with Get Document Details for the invalid
    /// ones, in the order Get Submission listed them.
    pub settled: Vec<DocumentResult>,
    /// Whether anything is still to come: an awaited document still `Submitted`, a `Valid`
    /// one still waiting for its `longId`, or the submission itself in progress.
    pub pending: bool,
}

/// Builder of a poll (`client.submissions().poll(uid)`).
#[derive(Debug)]
#[must_use]
pub struct PollBuilder {
    client: Client,
    submission_uid: String,
    expected_documents: Option<usize>,
    config: PollConfig,
}

impl PollBuilder {
    pub(crate) fn new(client: Client, submission_uid: String) -> PollBuilder {
        let config = client.inner.poll;
        PollBuilder {
            client,
            submission_uid,
            expected_documents: None,
            config,
        }
    }

    /// How many documents were accepted: sizes the first wait.
    pub fn expected_documents(mut self, n: usize) -> Self {
        self.expected_documents = Some(n);
        self
    }

    /// Skips the first wait (for a submission sent long ago).
    pub fn no_first_wait(mut self) -> Self {
        self.config.first_wait_base = Duration::ZERO;
        self.config.first_wait_per_document = Duration::ZERO;
        self.config.first_wait_max = Duration::ZERO;
        self
    }

    /// Replaces the pacing.
    pub fn config(mut self, config: PollConfig) -> Self {
        self.config = config;
        self
    }

    /// Polls until every document is final, then returns each one's result (with Get
    /// Document Details for the invalid ones): rounds paced by [`PollConfig`].
    pub async fn send(self) -> Result<SubmissionOutcome, Error> {
        let clock = self.client.clock().clone();
        let start = clock.now();
        clock
            .sleep(self.config.first_wait(self.expected_documents.unwrap_or(1)))
            .await;
        let mut progress = PollProgress::default();
        let mut documents: Vec<DocumentResult> = Vec::new();
        loop {
            let round = self
                .round(
                    |uuid| !documents.iter().any(|d| d.uuid == uuid),
                    &mut progress,
                )
                .await?;
            documents.extend(round.settled);
            if let (false, Some(overall_status)) = (round.pending, round.overall_status) {
                return Ok(SubmissionOutcome {
                    submission_uid: self.submission_uid,
                    overall_status,
                    documents,
                    polls: progress.polls,
                });
            }
            let next = self.config.interval();
            let waited = elapsed(start, clock.now());
            if waited + next > self.config.timeout {
                return Err(Error::PollTimeout {
                    submission_uid: self.submission_uid,
                    waited,
                });
            }
            clock.sleep(next).await;
        }
    }

    /// One round: every page of Get Submission, then Get Document Details for each awaited
    /// document found `Invalid`. Only documents for which `awaiting(uuid)` holds are
    /// reported. The caller paces the rounds (3-5 s apart, see [`PollConfig::interval`]) and
    /// keeps `progress` between them. This is the whole polling rule, written once: a 404
    /// right after submitting is tolerated [`PollConfig::not_found_polls`] times, and a
    /// `Valid` document is held back until its `longId` appears, for at most
    /// [`PollConfig::long_id_polls`] rounds in which nothing else is pending; after that it
    /// is reported without one (and without a validation link).
    pub async fn round(
        &self,
        awaiting: impl Fn(&str) -> bool,
        progress: &mut PollProgress,
    ) -> Result<PollRound, Error> {
        let (overall, docs) =
            match read_all_pages(&self.client, &self.submission_uid, &mut progress.polls).await {
                Ok(listed) => listed,
                Err(e)
                    if e.status() == Some(404)
                        && progress.not_found < self.config.not_found_polls =>
                {
                    progress.not_found += 1;
                    return Ok(PollRound {
                        overall_status: None,
                        settled: Vec::new(),
                        pending: true,
                    });
                }
                Err(e) => return Err(e),
            };
        let docs: Vec<DocumentSummary> = docs.into_iter().filter(|d| awaiting(&d.uuid)).collect();
        let submitted = overall == OverallStatus::InProgress
            || docs.iter().any(|d| d.status == DocumentStatus::Submitted);
        let give_up_on_long_id = progress.long_id_polls >= self.config.long_id_polls;
        let (ready, held): (Vec<_>, Vec<_>) = docs.into_iter().partition(|d| match d.status {
            DocumentStatus::Submitted => false,
            DocumentStatus::Valid => d.long_id.is_some() || give_up_on_long_id,
            _ => true,
        });
        let waiting_for_long_id = held.iter().any(|d| d.status == DocumentStatus::Valid);
        if waiting_for_long_id && !submitted {
            progress.long_id_polls += 1;
        }
        Ok(PollRound {
            overall_status: Some(overall),
            settled: finish(&self.client, ready).await,
            pending: submitted || waiting_for_long_id,
        })
    }
}

fn elapsed(start: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - start).to_std().unwrap_or_default()
}

/// Reads every page of Get Submission. The documents are keyed by uuid so a document that
/// moves between pages while they are read is not counted twice.
async fn read_all_pages(
    client: &Client,
    submission_uid: &str,
    polls: &mut u32,
) -> Result<(OverallStatus, Vec<DocumentSummary>), Error> {
    let mut order: Vec<String> = Vec::new();
    let mut docs: BTreeMap<String, DocumentSummary> = BTreeMap::new();
    let mut page = 1u32;
    let mut overall;
    loop {
        let r = client
            .submissions()
            .get(submission_uid)
            .page_no(page)
            .page_size(MAX_SUBMISSION_PAGE_SIZE)
            .send()
            .await?;
        *polls += 1;
        overall = r.overall_status;
        let got = r.document_summary.len();
        for d in r.document_summary {
            if !docs.contains_key(&d.uuid) {
                order.push(d.uuid.clone());
            }
            docs.insert(d.uuid.clone(), d);
        }
        let total_pages = r.document_count.div_ceil(MAX_SUBMISSION_PAGE_SIZE);
        if got == 0 || page >= total_pages {
            break;
        }
        page += 1;
    }
    let list = order.into_iter().filter_map(|u| docs.remove(&u)).collect();
    Ok((overall, list))
}

async fn finish(client: &Client, docs: Vec<DocumentSummary>) -> Vec<DocumentResult> {
    let portal = client.environment().portal().to_owned();
    let mut out = Vec::with_capacity(docs.len());
    for d in docs {
        let mut errors = Vec::new();
        let mut details_error = None;
        if d.status == DocumentStatus::Invalid {
            match client.documents().details(&d.uuid).await {
                Ok(details) => {
                    errors = details
                        .validation_results
                        .validation_steps
                        .into_iter()
                        .filter(|s| s.status == DocumentStatus::Invalid || s.error.is_some())
                        .collect();
                }
                Err(e) => details_error = Some(e.to_string()),
            }
        }
        let validation_link = match (&d.status, &d.long_id) {
            (DocumentStatus::Valid, Some(long_id)) => {
                Some(validation_link(&portal, &d.uuid, long_id))
            }
            _ => None,
        };
        out.push(DocumentResult {
            uuid: d.uuid.clone(),
            internal_id: d.internal_id.clone(),
            status: d.status,
            long_id: d.long_id.clone(),
            validation_link,
            errors,
            details_error,
            summary: d,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_wait_grows_with_the_batch_and_is_capped() {
        let c = PollConfig::default();
        assert_eq!(c.first_wait(1), Duration::from_millis(2100));
        assert_eq!(c.first_wait(100), Duration::from_secs(12));
        assert_eq!(c.first_wait(10_000), Duration::from_secs(30));
    }

    #[test]
    fn intervals_stay_in_three_to_five_seconds() {
        let c = PollConfig::default();
        let mut distinct = std::collections::HashSet::new();
        for _ in 0..200 {
            let d = c.interval();
            assert!(
                d >= Duration::from_secs(3) && d <= Duration::from_secs(5),
                "{d:?}"
            );
            distinct.insert(d);
        }
        assert!(distinct.len() > 10, "jitter should spread the polls");
    }
}
