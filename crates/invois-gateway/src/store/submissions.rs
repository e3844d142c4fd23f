//! Submissions: the intent recorded before the POST, each outcome, and the polls that follow
//! until every document is validated.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use invois_clock::Clock;

use super::convert::{
    ROWS_PER_STATEMENT, clamp_limit, errors_to_db, later, now, obo_from_db, obo_to_db, parse_state,
};
use super::dialect::{Conn, Sql, Tx};
use super::documents::{DOC_COLS, DocRow, Documents, emit_events, records};
use super::types::*;
use super::{Db, StoreError, sha256_hex};
use crate::document_errors::DocumentError;

/// The columns of `submissions`, as [`SubRow`] reads them.
const SUB_COLS: &str = "id, client_id, on_behalf_of, payload_bytes, payload_sha256, \
     document_count, state, submission_uid, worker, lease_until, last_error, created_at, \
     updated_at, next_poll_at, polls";

/// A `submissions` row as stored.
#[derive(sqlx::FromRow)]
struct SubRow {
    id: i64,
    client_id: String,
    on_behalf_of: String,
    payload_bytes: i64,
    payload_sha256: String,
    document_count: i64,
    state: String,
    submission_uid: Option<String>,
    worker: String,
    lease_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    next_poll_at: Option<DateTime<Utc>>,
    polls: i64,
}

impl TryFrom<SubRow> for SubmissionRecord {
    type Error = StoreError;

    fn try_from(row: SubRow) -> Result<SubmissionRecord, StoreError> {
        Ok(SubmissionRecord {
            id: SubmissionId(row.id),
            client_id: row.client_id,
            on_behalf_of: obo_from_db(row.on_behalf_of),
            payload_bytes: row.payload_bytes,
            payload_sha256: row.payload_sha256,
            document_count: row.document_count,
            state: parse_state("submission state", &row.state, SubmissionState::parse)?,
            submission_uid: row.submission_uid,
            worker: row.worker,
            lease_until: row.lease_until,
            last_error: row.last_error,
            created_at: row.created_at,
            updated_at: row.updated_at,
            next_poll_at: row.next_poll_at,
            polls: row.polls,
        })
    }
}

/// The submissions repository (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Submissions<'a> {
    pub(crate) db: &'a Db,
    pub(crate) clock: &'a Clock,
}

impl<'a> Submissions<'a> {
    fn documents(&self) -> Documents<'a> {
        Documents {
            db: self.db,
            clock: self.clock,
        }
    }

    /// Records the intent (payload and its SHA-256) before the POST. Every document must be
    /// batched, held by `intent.worker`, and in no other submission.
    #[tracing::instrument(skip_all)]
    pub async fn record_intent(
        &self,
        intent: SubmissionIntent,
    ) -> Result<SubmissionRecord, StoreError> {
        if intent.document_ids.is_empty() {
            return Err(StoreError::Conflict(
                "a submission intent needs at least one document".to_owned(),
            ));
        }
        let now = now(self.clock);
        let lease_until = later(now, intent.lease);
        let sha = sha256_hex(&intent.payload);
        let obo = obo_to_db(&intent.on_behalf_of);
        let count = i64::try_from(intent.document_ids.len()).unwrap_or(i64::MAX);
        let size = i64::try_from(intent.payload.len()).unwrap_or(i64::MAX);
        let mut tx = self.db.begin().await?;
        let row: SubRow = tx
            .conn()
            .fetch_one(
                Sql::new(format!(
                    "INSERT INTO submissions (client_id, on_behalf_of, payload_bytes, \
                     payload_sha256, document_count, state, worker, lease_until, created_at, \
                     updated_at) VALUES ($1, $2, $3, $4, $5, 'intent', $6, $7, $8, $8) \
                     RETURNING {SUB_COLS}"
                ))
                .bind(&intent.client_id)
                .bind(&obo)
                .bind(size)
                .bind(&sha)
                .bind(count)
                .bind(&intent.worker)
                .bind(lease_until)
                .bind(now),
            )
            .await?;
        let sub = SubmissionRecord::try_from(row)?;
        // The bytes never change, so they live apart from the row whose state does (SQLite
        // rewrites a whole row on every UPDATE).
        let payload =
            Sql::new("INSERT INTO submission_payloads (submission_id, payload) VALUES ($1, $2)")
                .bind(sub.id.0)
                .bind(&intent.payload);
        tx.conn().execute(payload).await?;
        let ids: Vec<i64> = intent.document_ids.iter().map(|d| d.0).collect();
        let mut done: u64 = 0;
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let mut sql = Sql::new("UPDATE documents SET submission_id = ");
            sql.push_bind(sub.id.0)
                .push(", lease_until = ")
                .push_bind(lease_until)
                .push(", updated_at = ")
                .push_bind(now)
                .push(" WHERE state = 'batched' AND submission_id IS NULL AND locked_by = ")
                .push_bind(&intent.worker)
                .push(" AND client_id = ")
                .push_bind(&intent.client_id)
                .push(" AND on_behalf_of = ")
                .push_bind(&obo)
                .push(" AND id IN ")
                .push_list(chunk.iter().copied());
            done += tx.conn().execute(sql).await?;
        }
        if done != ids.len() as u64 {
            // Rolled back; name the first document that could not join.
            drop(tx);
            return Err(self.explain_intent(&intent, sub.id).await);
        }
        tx.commit().await?;
        Ok(sub)
    }

    /// Why an intent's documents could not all join it.
    async fn explain_intent(&self, intent: &SubmissionIntent, sub: SubmissionId) -> StoreError {
        for id in &intent.document_ids {
            let fits = match self.documents().get(*id).await {
                Ok(d) => {
                    d.state == DocumentState::Batched
                        && d.submission_id.is_none()
                        && d.locked_by.as_deref() == Some(intent.worker.as_str())
                        && d.client_id == intent.client_id
                        && d.on_behalf_of == intent.on_behalf_of
                }
                Err(_) => false,
            };
            if !fits {
                return self
                    .documents()
                    .explain(
                        *id,
                        DocumentState::Batched,
                        Some(&intent.worker),
                        "enter a submission",
                    )
                    .await;
            }
        }
        StoreError::Conflict(format!(
            "a document appears twice in the intent for submission {sub}"
        ))
    }

    /// Confirms, immediately before the POST, that `worker` still holds the intent, and
    /// extends its lease by `lease`. If the lease already expired the intent may have been
    /// handed to reconciliation, so this fails ([`StoreError::LeaseLost`] or
    /// [`StoreError::StaleTransition`]) and the payload must not be POSTed.
    #[tracing::instrument(skip_all)]
    pub async fn hold(
        &self,
        id: SubmissionId,
        worker: &str,
        lease: Duration,
    ) -> Result<SubmissionRecord, StoreError> {
        let now = now(self.clock);
        let sql = Sql::new(format!(
            "UPDATE submissions SET lease_until = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'intent' AND worker = $4 AND lease_until >= $2 \
             RETURNING {SUB_COLS}"
        ))
        .bind(later(now, lease))
        .bind(now)
        .bind(id.0)
        .bind(worker);
        if let Some(row) = self.db.writer().fetch_optional::<SubRow>(sql).await? {
            return row.try_into();
        }
        let existing = self.get(id).await?;
        if existing.state != SubmissionState::Intent {
            return Err(StoreError::StaleTransition {
                what: "submission",
                id: id.0,
                actual: existing.state.to_string(),
                action: "be POSTed",
            });
        }
        Err(StoreError::LeaseLost {
            what: "submission",
            id: id.0,
            worker: worker.to_owned(),
        })
    }

    /// intent | outcome_unknown | duplicate → accepted. Accepted documents become
    /// `submitted` with their UUID, rejected ones `invalid`. Repeating it with the same
    /// submissionUid is a no-op.
    #[tracing::instrument(skip_all)]
    pub async fn record_accepted(
        &self,
        id: SubmissionId,
        accepted: &SubmissionAccepted,
    ) -> Result<SubmissionRecord, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let sql = Sql::new(format!(
            "UPDATE submissions SET state = 'accepted', submission_uid = $1, \
             lease_until = NULL, updated_at = $2 WHERE id = $3 \
             AND state IN ('intent', 'outcome_unknown', 'duplicate') RETURNING {SUB_COLS}"
        ))
        .bind(&accepted.submission_uid)
        .bind(now)
        .bind(id.0);
        let Some(row) = tx.conn().fetch_optional::<SubRow>(sql).await? else {
            drop(tx);
            let existing = self.get(id).await?;
            if existing.state == SubmissionState::Accepted
                && existing.submission_uid.as_deref() == Some(accepted.submission_uid.as_str())
            {
                return Ok(existing);
            }
            return Err(StoreError::StaleTransition {
                what: "submission",
                id: id.0,
                actual: existing.state.to_string(),
                action: "be accepted",
            });
        };
        let sub = SubmissionRecord::try_from(row)?;
        settle_accepted(&mut tx, id, accepted, now).await?;
        // The first poll waits for validation to have a chance, as long as the client's
        // poller waits for a batch of this size (its first wait is sized to the batch).
        let first = later(
            now,
            invois_client::PollConfig::default().first_wait(accepted.accepted.len()),
        );
        let sql = Sql::new("UPDATE submissions SET next_poll_at = $1 WHERE id = $2")
            .bind(first)
            .bind(id.0);
        tx.conn().execute(sql).await?;
        tx.commit().await?;
        Ok(sub)
    }

    /// intent → outcome_unknown (timeout, 5xx, reset).
    #[tracing::instrument(skip_all)]
    pub async fn record_unknown(
        &self,
        id: SubmissionId,
        error: &str,
    ) -> Result<SubmissionRecord, StoreError> {
        self.move_alone(
            id,
            &[SubmissionState::Intent],
            SubmissionState::OutcomeUnknown,
            error,
            "become outcome_unknown",
        )
        .await
    }

    /// intent → duplicate (422 DuplicateSubmission).
    #[tracing::instrument(skip_all)]
    pub async fn record_duplicate(&self, id: SubmissionId) -> Result<SubmissionRecord, StoreError> {
        self.move_alone(
            id,
            &[SubmissionState::Intent],
            SubmissionState::Duplicate,
            "422 DuplicateSubmission",
            "become duplicate",
        )
        .await
    }

    /// intent | outcome_unknown | duplicate → refused; its documents become `failed`.
    #[tracing::instrument(skip_all)]
    pub async fn record_refused(
        &self,
        id: SubmissionId,
        refusal: &DocumentError,
    ) -> Result<SubmissionRecord, StoreError> {
        let error = refusal.message.as_str();
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let from = [
            SubmissionState::Intent,
            SubmissionState::OutcomeUnknown,
            SubmissionState::Duplicate,
        ];
        let moved = move_submission(
            &mut tx.conn(),
            id,
            &from,
            SubmissionState::Refused,
            Some(error),
            now,
        )
        .await?;
        let Some(sub) = moved else {
            drop(tx);
            return Err(self.explain(id, "be refused").await);
        };
        let sql = Sql::new(
            "UPDATE documents SET state = 'failed', last_error = $1, errors = $2, \
             locked_by = NULL, lease_until = NULL, updated_at = $3 \
             WHERE submission_id = $4 AND state = 'batched' RETURNING id",
        )
        .bind(error)
        .bind(errors_to_db(std::slice::from_ref(refusal)))
        .bind(now)
        .bind(id.0);
        let failed: Vec<(i64,)> = tx.conn().fetch_all(sql).await?;
        let events: Vec<_> = failed
            .into_iter()
            .map(|(id,)| (id, DocumentState::Failed))
            .collect();
        emit_events(&mut tx.conn(), &events, now).await?;
        tx.commit().await?;
        Ok(sub)
    }

    /// intent → split (MaximumSizeExceeded); its documents return to `prepared`.
    #[tracing::instrument(skip_all)]
    pub async fn record_split(&self, id: SubmissionId) -> Result<SubmissionRecord, StoreError> {
        self.releasing_documents(
            id,
            &[SubmissionState::Intent],
            SubmissionState::Split,
            None,
            "be split",
        )
        .await
    }

    /// intent → not_received, when the request provably never reached MyInvois (the client
    /// refused before sending, or MyInvois answered 429 without processing it); its documents
    /// return to `prepared`. `reason` is kept as the submission's last error.
    #[tracing::instrument(skip_all)]
    pub async fn record_not_sent(
        &self,
        id: SubmissionId,
        reason: &str,
    ) -> Result<SubmissionRecord, StoreError> {
        self.releasing_documents(
            id,
            &[SubmissionState::Intent],
            SubmissionState::NotReceived,
            Some(reason),
            "be marked not sent",
        )
        .await
    }

    /// outcome_unknown | duplicate → not_received, when reconciliation proved MyInvois never
    /// got it; its documents return to `prepared`.
    #[tracing::instrument(skip_all)]
    pub async fn record_not_received(
        &self,
        id: SubmissionId,
    ) -> Result<SubmissionRecord, StoreError> {
        self.releasing_documents(
            id,
            &[SubmissionState::OutcomeUnknown, SubmissionState::Duplicate],
            SubmissionState::NotReceived,
            None,
            "be marked not received",
        )
        .await
    }

    /// One submission by id.
    #[tracing::instrument(skip_all)]
    pub async fn get(&self, id: SubmissionId) -> Result<SubmissionRecord, StoreError> {
        let sql = Sql::new(format!("SELECT {SUB_COLS} FROM submissions WHERE id = $1")).bind(id.0);
        match self.db.reader().fetch_optional::<SubRow>(sql).await? {
            Some(row) => row.try_into(),
            None => Err(StoreError::NotFound(format!("submission {id}"))),
        }
    }

    /// The exact bytes recorded as a submission's payload.
    #[tracing::instrument(skip_all)]
    pub async fn payload(&self, id: SubmissionId) -> Result<Vec<u8>, StoreError> {
        let sql =
            Sql::new("SELECT payload FROM submission_payloads WHERE submission_id = $1").bind(id.0);
        match self.db.reader().fetch_optional::<(Vec<u8>,)>(sql).await? {
            Some((payload,)) => Ok(payload),
            None => Err(StoreError::NotFound(format!("submission {id}"))),
        }
    }

    /// Submissions whose outcome must be reconciled before anything else is sent.
    #[tracing::instrument(skip_all)]
    pub async fn needing_reconcile(&self, limit: u32) -> Result<Vec<SubmissionRecord>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {SUB_COLS} FROM submissions WHERE state IN ('outcome_unknown', 'duplicate') \
             ORDER BY id LIMIT $1"
        ))
        .bind(clamp_limit(limit, 100, 10_000));
        records::<SubRow, _>(self.db.reader().fetch_all(sql).await?)
    }

    /// Accepted submissions that still have documents awaiting validation.
    #[tracing::instrument(skip_all)]
    pub async fn to_poll(&self, limit: u32) -> Result<Vec<SubmissionRecord>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {SUB_COLS} FROM submissions WHERE state = 'accepted' AND id IN \
             (SELECT submission_id FROM documents WHERE state = 'submitted') ORDER BY id LIMIT $1"
        ))
        .bind(clamp_limit(limit, 100, 10_000));
        records::<SubRow, _>(self.db.reader().fetch_all(sql).await?)
    }

    /// The documents recorded in a submission.
    #[tracing::instrument(skip_all)]
    pub async fn documents_in(&self, id: SubmissionId) -> Result<Vec<DocumentRecord>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {DOC_COLS} FROM documents WHERE submission_id = $1 ORDER BY id"
        ))
        .bind(id.0);
        records::<DocRow, _>(self.db.reader().fetch_all(sql).await?)
    }

    /// Claims accepted submissions whose next poll is due (and that still have documents
    /// awaiting validation), pushing their next poll `next_in` ahead, so that neither this
    /// worker nor another instance asks Get Submission for them again before then.
    #[tracing::instrument(skip_all)]
    pub async fn claim_due_polls(
        &self,
        limit: u32,
        next_in: Duration,
    ) -> Result<Vec<SubmissionRecord>, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let lock = tx.conn().claim_lock();
        // The documents still `submitted` (those in flight, a few minutes' worth) name the
        // submissions to poll: asking each accepted submission instead grows with every
        // submission ever made.
        let due = Sql::new(format!(
            "SELECT id FROM submissions WHERE state = 'accepted' \
             AND (next_poll_at IS NULL OR next_poll_at <= $1) AND id IN \
             (SELECT submission_id FROM documents WHERE state = 'submitted') \
             ORDER BY next_poll_at, id LIMIT $2{lock}"
        ))
        .bind(now)
        .bind(clamp_limit(limit, 100, 10_000));
        let ids: Vec<i64> = tx
            .conn()
            .fetch_all::<(i64,)>(due)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new("UPDATE submissions SET next_poll_at = ");
        sql.push_bind(later(now, next_in))
            .push(", polls = polls + 1 WHERE id IN ")
            .push_list(ids.iter().copied())
            .push(" RETURNING ")
            .push(SUB_COLS);
        let rows: Vec<SubRow> = tx.conn().fetch_all(sql).await?;
        tx.commit().await?;
        let mut by_id = HashMap::with_capacity(rows.len());
        for row in rows {
            let sub = SubmissionRecord::try_from(row)?;
            by_id.insert(sub.id.0, sub);
        }
        // In the order they fell due.
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// After a poll of `id` finished: its next poll is `next_in` from now. The pace between
    /// polls then counts from the answer, not from the claim, so a slow answer (or a wait for
    /// rate budget) never brings the next poll closer than the interval.
    #[tracing::instrument(skip_all)]
    pub async fn poll_finished(
        &self,
        id: SubmissionId,
        next_in: Duration,
    ) -> Result<(), StoreError> {
        let sql = Sql::new(
            "UPDATE submissions SET next_poll_at = $1 WHERE id = $2 AND state = 'accepted' \
             AND (next_poll_at IS NULL OR next_poll_at < $1)",
        )
        .bind(later(now(self.clock), next_in))
        .bind(id.0);
        self.db.writer().execute(sql).await?;
        Ok(())
    }

    /// Submissions, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn list(
        &self,
        filter: &SubmissionFilter,
    ) -> Result<Vec<SubmissionRecord>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {SUB_COLS} FROM submissions WHERE ($1 IS NULL OR state = $1) \
             AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
        ))
        .bind(filter.state.map(|s| s.as_str()))
        .bind(filter.before.map(|id| id.0))
        .bind(clamp_limit(filter.limit, 100, 1_000));
        records::<SubRow, _>(self.db.reader().fetch_all(sql).await?)
    }

    /// Applies validation results by UUID: submitted → valid | invalid, valid → cancelled.
    /// Results that no longer apply are ignored. Returns how many documents changed.
    #[tracing::instrument(skip_all)]
    pub async fn record_validation_results(
        &self,
        results: &[ValidationUpdate],
    ) -> Result<u64, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let events = apply_validation(&mut tx, results, now).await?;
        emit_events(&mut tx.conn(), &events, now).await?;
        tx.commit().await?;
        Ok(events.len() as u64)
    }

    /// submitted → valid under the uuid of a document MyInvois already holds: MyInvois found
    /// the one sent as `duplicate_uuid` invalid only because it duplicates `original_uuid`,
    /// which it holds as valid with the same content (the gateway had sent it before and
    /// lost the record of it, as when an intent is lost in a power cut). The document takes
    /// the original's uuid, longId and validation link, and `note` (naming the duplicate)
    /// becomes its last error; a `valid` status event is written.
    ///
    /// Returns `None`, changing nothing, when no document is `submitted` under
    /// `duplicate_uuid` any more, or when another document already holds `original_uuid`:
    /// then the original is that one's, and this one is a duplicate indeed.
    #[tracing::instrument(skip_all)]
    pub async fn adopt_original(
        &self,
        duplicate_uuid: &str,
        original_uuid: &str,
        long_id: Option<&str>,
        validation_link: Option<&str>,
        note: &str,
    ) -> Result<Option<DocumentId>, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let sql = Sql::new(
            "UPDATE documents SET state = 'valid', uuid = $1, long_id = $2, \
             validation_link = $3, last_error = $4, updated_at = $5 \
             WHERE state = 'submitted' AND uuid = $6 \
             AND NOT EXISTS (SELECT 1 FROM documents held WHERE held.uuid = $1) RETURNING id",
        )
        .bind(original_uuid)
        .bind(long_id)
        .bind(validation_link)
        .bind(note)
        .bind(now)
        .bind(duplicate_uuid);
        // Nothing moved: the transaction is dropped, which rolls it back.
        let Some((id,)) = tx.conn().fetch_optional::<(i64,)>(sql).await? else {
            return Ok(None);
        };
        emit_events(&mut tx.conn(), &[(id, DocumentState::Valid)], now).await?;
        tx.commit().await?;
        Ok(Some(DocumentId(id)))
    }

    /// A transition that touches no document: one guarded statement.
    async fn move_alone(
        &self,
        id: SubmissionId,
        from: &[SubmissionState],
        to: SubmissionState,
        error: &str,
        action: &'static str,
    ) -> Result<SubmissionRecord, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let moved = move_submission(&mut tx.conn(), id, from, to, Some(error), now).await?;
        tx.commit().await?;
        match moved {
            Some(sub) => Ok(sub),
            None => Err(self.explain(id, action).await),
        }
    }

    /// A submission transition that returns its documents to `prepared`.
    async fn releasing_documents(
        &self,
        id: SubmissionId,
        from: &[SubmissionState],
        to: SubmissionState,
        reason: Option<&str>,
        action: &'static str,
    ) -> Result<SubmissionRecord, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let Some(sub) = move_submission(&mut tx.conn(), id, from, to, reason, now).await? else {
            drop(tx);
            return Err(self.explain(id, action).await);
        };
        let sql = Sql::new(
            "UPDATE documents SET state = 'prepared', submission_id = NULL, locked_by = NULL, \
             lease_until = NULL, updated_at = $1 WHERE submission_id = $2 AND state = 'batched'",
        )
        .bind(now)
        .bind(id.0);
        tx.conn().execute(sql).await?;
        tx.commit().await?;
        Ok(sub)
    }

    async fn explain(&self, id: SubmissionId, action: &'static str) -> StoreError {
        match self.get(id).await {
            Err(e) => e,
            Ok(sub) => StoreError::StaleTransition {
                what: "submission",
                id: id.0,
                actual: sub.state.to_string(),
                action,
            },
        }
    }
}

/// Moves a submission from one of `from` to `to`.
async fn move_submission(
    conn: &mut Conn<'_>,
    id: SubmissionId,
    from: &[SubmissionState],
    to: SubmissionState,
    last_error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<SubmissionRecord>, StoreError> {
    // Three slots, padded with the first state, keep the statement static.
    let slot = |i: usize| from.get(i).or(from.first()).map(|s| s.as_str());
    let sql = Sql::new(format!(
        "UPDATE submissions SET state = $1, last_error = COALESCE($2, last_error), \
         lease_until = NULL, updated_at = $3 WHERE id = $4 AND state IN ($5, $6, $7) \
         RETURNING {SUB_COLS}"
    ))
    .bind(to.as_str())
    .bind(last_error)
    .bind(now)
    .bind(id.0)
    .bind(slot(0))
    .bind(slot(1))
    .bind(slot(2));
    let row: Option<SubRow> = conn.fetch_optional(sql).await?;
    row.map(SubmissionRecord::try_from).transpose()
}

/// Moves an accepted submission's documents: accepted ones to `submitted` with their UUID,
/// rejected ones to `invalid` with their errors, each group a CASE per chunk, so 100
/// documents take two statements instead of two hundred round trips. Writes their events.
async fn settle_accepted(
    tx: &mut Tx,
    id: SubmissionId,
    accepted: &SubmissionAccepted,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut events = Vec::with_capacity(accepted.accepted.len() + accepted.rejected.len());
    for chunk in accepted.accepted.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new("UPDATE documents SET state = 'submitted', uuid = CASE id");
        for (doc, uuid) in chunk {
            sql.push(" WHEN ")
                .push_bind(doc.0)
                .push(" THEN ")
                .push_bind(uuid.as_str());
        }
        let ids: Vec<i64> = chunk.iter().map(|(d, _)| d.0).collect();
        settle_batched(&mut tx.conn(), sql, &ids, id, now).await?;
        events.extend(ids.iter().map(|d| (*d, DocumentState::Submitted)));
    }
    for chunk in accepted.rejected.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new("UPDATE documents SET state = 'invalid', errors = CASE id");
        for (doc, errors) in chunk {
            sql.push(" WHEN ")
                .push_bind(doc.0)
                .push(" THEN ")
                .push_bind(errors_to_db(errors));
        }
        let ids: Vec<i64> = chunk.iter().map(|(d, _)| d.0).collect();
        settle_batched(&mut tx.conn(), sql, &ids, id, now).await?;
        events.extend(ids.iter().map(|d| (*d, DocumentState::Invalid)));
    }
    emit_events(&mut tx.conn(), &events, now).await
}

/// Finishes `sql` (an `UPDATE documents SET state = ..., column = CASE id ...`) for
/// documents `ids` still batched in `submission`, and checks every one moved.
async fn settle_batched(
    conn: &mut Conn<'_>,
    mut sql: Sql<'_>,
    ids: &[i64],
    submission: SubmissionId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sql.push(" END, locked_by = NULL, lease_until = NULL, updated_at = ")
        .push_bind(now)
        .push(" WHERE submission_id = ")
        .push_bind(submission.0)
        .push(" AND state = 'batched' AND id IN ")
        .push_list(ids.iter().copied());
    if conn.execute(sql).await? == ids.len() as u64 {
        return Ok(());
    }
    // Name one that was not waiting (the caller's transaction rolls back).
    for doc in ids {
        let waiting =
            Sql::new("SELECT 1 AS one FROM documents WHERE id = $1 AND submission_id = $2")
                .bind(*doc)
                .bind(submission.0);
        if !conn.exists(waiting).await? {
            return Err(StoreError::Conflict(format!(
                "document {doc} is not waiting in submission {submission}"
            )));
        }
    }
    Err(StoreError::Conflict(format!(
        "a document appears twice in the outcome of submission {submission}"
    )))
}

/// Applies validation results grouped by outcome, each group one statement per chunk (a
/// CASE per column), in this order so that a document found valid and then cancelled in the
/// same results ends cancelled, as it would one update at a time. Returns the events to
/// write.
async fn apply_validation(
    tx: &mut Tx,
    results: &[ValidationUpdate],
    now: DateTime<Utc>,
) -> Result<Vec<(i64, DocumentState)>, StoreError> {
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    let mut cancelled = Vec::new();
    for update in results {
        match &update.outcome {
            ValidationOutcome::Valid {
                long_id,
                validation_link,
            } => valid.push((
                update.uuid.as_str(),
                long_id.as_deref(),
                validation_link.as_deref(),
            )),
            ValidationOutcome::Invalid { errors } => {
                invalid.push((update.uuid.as_str(), errors_to_db(errors)))
            }
            ValidationOutcome::Cancelled => cancelled.push(update.uuid.as_str()),
        }
    }
    let mut events: Vec<(i64, DocumentState)> = Vec::new();
    for chunk in valid.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new("UPDATE documents SET state = 'valid', long_id = CASE uuid");
        for (uuid, long_id, _) in chunk {
            sql.push(" WHEN ")
                .push_bind(*uuid)
                .push(" THEN ")
                .push_bind(*long_id);
        }
        sql.push(" END, validation_link = CASE uuid");
        for (uuid, _, link) in chunk {
            sql.push(" WHEN ")
                .push_bind(*uuid)
                .push(" THEN ")
                .push_bind(*link);
        }
        sql.push(" END, updated_at = ")
            .push_bind(now)
            .push(" WHERE state = 'submitted' AND uuid IN ")
            .push_list(chunk.iter().map(|(u, _, _)| *u))
            .push(" RETURNING id");
        let moved: Vec<(i64,)> = tx.conn().fetch_all(sql).await?;
        events.extend(moved.into_iter().map(|(id,)| (id, DocumentState::Valid)));
    }
    for chunk in invalid.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new("UPDATE documents SET state = 'invalid', errors = CASE uuid");
        for (uuid, errors) in chunk {
            sql.push(" WHEN ")
                .push_bind(*uuid)
                .push(" THEN ")
                .push_bind(errors.clone());
        }
        sql.push(" END, updated_at = ")
            .push_bind(now)
            .push(" WHERE state = 'submitted' AND uuid IN ")
            .push_list(chunk.iter().map(|(u, _)| *u))
            .push(" RETURNING id");
        let moved: Vec<(i64,)> = tx.conn().fetch_all(sql).await?;
        events.extend(moved.into_iter().map(|(id,)| (id, DocumentState::Invalid)));
    }
    for chunk in cancelled.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new("UPDATE documents SET state = 'cancelled', updated_at = ");
        sql.push_bind(now)
            .push(" WHERE state = 'valid' AND uuid IN ")
            .push_list(chunk.iter().copied())
            .push(" RETURNING id");
        let moved: Vec<(i64,)> = tx.conn().fetch_all(sql).await?;
        events.extend(
            moved
                .into_iter()
                .map(|(id,)| (id, DocumentState::Cancelled)),
        );
    }
    Ok(events)
}
