//! The SQL both backends accept, and the one implementation of [`super::Store`] written over
//! it. Both dialects take `$N` parameters, `ON CONFLICT ... DO NOTHING`, `RETURNING` and
//! window-free subqueries, so the only per-backend difference in the statements is the row
//! lock in claim subqueries: PostgreSQL adds `FOR UPDATE SKIP LOCKED`, SQLite needs nothing
//! because a single `UPDATE` holds the write lock from its start (and the SQLite store writes
//! through one connection).
//!
//! Timestamps are truncated to microseconds (what PostgreSQL keeps) and bound as
//! `DateTime<Utc>`: PostgreSQL stores `timestamptz`; SQLite stores RFC 3339 text, whose
//! fixed `+00:00` offset and 0/3/6-digit fractions keep text order equal to time order.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

/// The columns of `documents`, in the order the decoders read them.
macro_rules! doc_cols {
    () => {
        "id, issuer_tin, type_code, internal_id, version, format, client_id, on_behalf_of, \
         received, received_sha256, prepared, document_hash, state, submission_id, uuid, \
         long_id, validation_link, errors, last_error, attempts, locked_by, lease_until, \
         created_at, updated_at"
    };
}

macro_rules! sub_cols {
    () => {
        "id, client_id, on_behalf_of, payload_bytes, payload_sha256, document_count, state, \
         submission_uid, worker, lease_until, last_error, created_at, updated_at, \
         next_poll_at, polls"
    };
}

macro_rules! hook_cols {
    () => {
        "id, document_id, event, payload, state, attempts, max_attempts, next_attempt_at, \
         locked_by, lease_until, last_error, created_at, updated_at"
    };
}

macro_rules! key_cols {
    () => {
        "id, name, prefix, created_at, revoked_at"
    };
}

pub(crate) use {doc_cols, hook_cols, key_cols, sub_cols};

/// The longest lease or delay honoured; longer ones are clamped so that stored times stay
/// ordinary dates.
const MAX_SPAN: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

pub(crate) fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

pub(crate) fn later(now: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    let span = chrono::Duration::from_std(span.min(MAX_SPAN)).unwrap_or(chrono::Duration::zero());
    truncate(now + span)
}

/// `onbehalfof` is stored as `''` when absent so that equality works alike in both dialects.
pub(crate) fn obo_to_db(obo: &Option<String>) -> String {
    obo.clone().unwrap_or_default()
}

pub(crate) fn obo_from_db(obo: String) -> Option<String> {
    if obo.is_empty() { None } else { Some(obo) }
}

pub(crate) fn clamp_limit(limit: u32, default: u32, max: u32) -> i64 {
    i64::from(if limit == 0 { default } else { limit.min(max) })
}

/// Implements the row decoders and [`super::Store`] for `$store`, which must have fields
/// `write` and `read` (pools of `$db`) and `clock`. `$lock` is appended to claim subqueries;
/// `$begin` starts every write transaction.
macro_rules! store_impl {
    ($store:ty, $db:ty, $row:ty, lock = $lock:literal, begin = $begin:literal) => {
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use sqlx::Row as _;

        use $crate::store::sql::{
            clamp_limit, doc_cols, hook_cols, key_cols, later, obo_from_db, obo_to_db,
            sub_cols, truncate,
        };
        use $crate::store::types::*;
        use $crate::store::{sha256_hex, Store, StoreError};

        fn corrupt(what: &str, value: &str) -> StoreError {
            StoreError::Corrupt(format!("{what}: {value:?}"))
        }

        /// Rows (or ids) per multi-row statement: a few binds each keeps a statement well
        /// inside SQLite's 32,766 and PostgreSQL's 65,535 bind limits.
        const ROWS_PER_STATEMENT: usize = 1_000;

        /// Appends `(id, id, ...)` as binds.
        fn push_id_list(q: &mut sqlx::QueryBuilder<'_, $db>, ids: &[i64]) {
            q.push("(");
            let mut list = q.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            list.push_unseparated(")");
        }

        /// Appends `(text, text, ...)` as binds.
        fn push_text_list<'a>(
            q: &mut sqlx::QueryBuilder<'a, $db>,
            items: impl Iterator<Item = &'a str>,
        ) {
            q.push("(");
            let mut list = q.separated(", ");
            for item in items {
                list.push_bind(item);
            }
            list.push_unseparated(")");
        }

        fn json_from_db(text: Option<String>) -> Result<Option<serde_json::Value>, StoreError> {
            text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt("json", &e.to_string())))
                .transpose()
        }

        fn doc_from_row(row: &$row) -> Result<DocumentRecord, StoreError> {
            let format: String = row.try_get("format")?;
            let state: String = row.try_get("state")?;
            Ok(DocumentRecord {
                id: DocumentId(row.try_get("id")?),
                issuer_tin: row.try_get("issuer_tin")?,
                type_code: row.try_get("type_code")?,
                internal_id: row.try_get("internal_id")?,
                version: row.try_get("version")?,
                format: DocumentFormat::parse(&format)
                    .ok_or_else(|| corrupt("document format", &format))?,
                client_id: row.try_get("client_id")?,
                on_behalf_of: obo_from_db(row.try_get("on_behalf_of")?),
                received: row.try_get("received")?,
                received_sha256: row.try_get("received_sha256")?,
                prepared: row.try_get("prepared")?,
                document_hash: row.try_get("document_hash")?,
                state: DocumentState::parse(&state)
                    .ok_or_else(|| corrupt("document state", &state))?,
                submission_id: row
                    .try_get::<Option<i64>, _>("submission_id")?
                    .map(SubmissionId),
                uuid: row.try_get("uuid")?,
                long_id: row.try_get("long_id")?,
                validation_link: row.try_get("validation_link")?,
                errors: json_from_db(row.try_get("errors")?)?,
                last_error: row.try_get("last_error")?,
                attempts: row.try_get("attempts")?,
                locked_by: row.try_get("locked_by")?,
                lease_until: row.try_get("lease_until")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn sub_from_row(row: &$row) -> Result<SubmissionRecord, StoreError> {
            let state: String = row.try_get("state")?;
            Ok(SubmissionRecord {
                id: SubmissionId(row.try_get("id")?),
                client_id: row.try_get("client_id")?,
                on_behalf_of: obo_from_db(row.try_get("on_behalf_of")?),
                payload_bytes: row.try_get("payload_bytes")?,
                payload_sha256: row.try_get("payload_sha256")?,
                document_count: row.try_get("document_count")?,
                state: SubmissionState::parse(&state)
                    .ok_or_else(|| corrupt("submission state", &state))?,
                submission_uid: row.try_get("submission_uid")?,
                worker: row.try_get("worker")?,
                lease_until: row.try_get("lease_until")?,
                last_error: row.try_get("last_error")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                next_poll_at: row.try_get("next_poll_at")?,
                polls: row.try_get("polls")?,
            })
        }

        fn event_from_row(row: &$row) -> Result<DocumentEvent, StoreError> {
            let state: String = row.try_get("state")?;
            Ok(DocumentEvent {
                id: row.try_get("id")?,
                document_id: DocumentId(row.try_get("document_id")?),
                state: DocumentState::parse(&state)
                    .ok_or_else(|| corrupt("document state", &state))?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn hook_from_row(row: &$row) -> Result<WebhookDelivery, StoreError> {
            let state: String = row.try_get("state")?;
            let payload: String = row.try_get("payload")?;
            Ok(WebhookDelivery {
                id: WebhookId(row.try_get("id")?),
                document_id: row.try_get::<Option<i64>, _>("document_id")?.map(DocumentId),
                event: row.try_get("event")?,
                payload: serde_json::from_str(&payload)
                    .map_err(|e| corrupt("webhook payload", &e.to_string()))?,
                state: WebhookState::parse(&state)
                    .ok_or_else(|| corrupt("webhook state", &state))?,
                attempts: row.try_get("attempts")?,
                max_attempts: row.try_get("max_attempts")?,
                next_attempt_at: row.try_get("next_attempt_at")?,
                locked_by: row.try_get("locked_by")?,
                lease_until: row.try_get("lease_until")?,
                last_error: row.try_get("last_error")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn key_from_row(row: &$row) -> Result<ApiKeyRecord, StoreError> {
            Ok(ApiKeyRecord {
                id: ApiKeyId(row.try_get("id")?),
                name: row.try_get("name")?,
                prefix: row.try_get("prefix")?,
                created_at: row.try_get("created_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        }

        fn docs_from_rows(rows: &[$row]) -> Result<Vec<DocumentRecord>, StoreError> {
            rows.iter().map(doc_from_row).collect()
        }

        impl $store {
            fn now(&self) -> DateTime<Utc> {
                truncate(self.clock.now())
            }

            /// Why a guarded document update matched nothing.
            async fn explain_document(
                &self,
                id: DocumentId,
                expected: DocumentState,
                worker: Option<&str>,
                action: &'static str,
            ) -> StoreError {
                match self.get_document(id).await {
                    Err(e) => e,
                    Ok(doc) if doc.state != expected => StoreError::StaleTransition {
                        what: "document",
                        id: id.0,
                        actual: doc.state.to_string(),
                        action,
                    },
                    Ok(doc) => match worker {
                        Some(w) if doc.locked_by.as_deref() != Some(w) => StoreError::LeaseLost {
                            what: "document",
                            id: id.0,
                            worker: w.to_owned(),
                        },
                        _ => StoreError::Conflict(format!(
                            "document {id} cannot {action} (it belongs to another submission \
                             or client)"
                        )),
                    },
                }
            }

            /// Appends one status event per document (in a few multi-row statements), inside
            /// the transaction that made the change, so the webhook relay can never miss (or
            /// invent) one.
            async fn emit_many(
                tx: &mut sqlx::Transaction<'_, $db>,
                events: &[(i64, DocumentState)],
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                for chunk in events.chunks(ROWS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO document_events (document_id, state, created_at) ",
                    );
                    q.push_values(chunk, |mut row, (id, state)| {
                        row.push_bind(*id).push_bind(state.as_str()).push_bind(now);
                    });
                    q.build().execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// Finishes `q` (an `UPDATE documents SET state = ..., column = CASE id ...`) for
            /// documents `ids` still batched in `submission`, and checks every one moved.
            async fn settle_batched(
                tx: &mut sqlx::Transaction<'_, $db>,
                mut q: sqlx::QueryBuilder<'_, $db>,
                ids: &[i64],
                submission: SubmissionId,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                q.push(" END, locked_by = NULL, lease_until = NULL, updated_at = ")
                    .push_bind(now)
                    .push(" WHERE submission_id = ")
                    .push_bind(submission.0)
                    .push(" AND state = 'batched' AND id IN ");
                push_id_list(&mut q, ids);
                let done = q.build().execute(&mut **tx).await?.rows_affected();
                if done == ids.len() as u64 {
                    return Ok(());
                }
                // Name one that was not waiting (the caller's transaction rolls back).
                for doc in ids {
                    let waiting = sqlx::query(
                        "SELECT 1 AS one FROM documents WHERE id = $1 AND submission_id = $2",
                    )
                    .bind(*doc)
                    .bind(submission.0)
                    .fetch_optional(&mut **tx)
                    .await?;
                    if waiting.is_none() {
                        return Err(StoreError::Conflict(format!(
                            "document {doc} is not waiting in submission {submission}"
                        )));
                    }
                }
                Err(StoreError::Conflict(format!(
                    "a document appears twice in the outcome of submission {submission}"
                )))
            }

            /// Moves a submission from one of `from` to `to`, inside `tx`.
            async fn move_submission(
                tx: &mut sqlx::Transaction<'_, $db>,
                id: SubmissionId,
                from: &[SubmissionState],
                to: SubmissionState,
                last_error: Option<&str>,
                now: DateTime<Utc>,
            ) -> Result<Option<SubmissionRecord>, StoreError> {
                // Three slots, padded with the first state, keep the statement static.
                let slot = |i: usize| from.get(i).or(from.first()).map(|s| s.as_str());
                let row = sqlx::query(concat!(
                    "UPDATE submissions SET state = $1, last_error = COALESCE($2, last_error), \
                     lease_until = NULL, updated_at = $3 \
                     WHERE id = $4 AND state IN ($5, $6, $7) RETURNING ",
                    sub_cols!()
                ))
                .bind(to.as_str())
                .bind(last_error)
                .bind(now)
                .bind(id.0)
                .bind(slot(0))
                .bind(slot(1))
                .bind(slot(2))
                .fetch_optional(&mut **tx)
                .await?;
                row.as_ref().map(sub_from_row).transpose()
            }

            async fn explain_submission(
                &self,
                id: SubmissionId,
                action: &'static str,
            ) -> StoreError {
                match self.get_submission(id).await {
                    Err(e) => e,
                    Ok(sub) => StoreError::StaleTransition {
                        what: "submission",
                        id: id.0,
                        actual: sub.state.to_string(),
                        action,
                    },
                }
            }

            /// A submission transition that returns its documents to `prepared`.
            async fn submission_releasing_documents(
                &self,
                id: SubmissionId,
                from: &[SubmissionState],
                to: SubmissionState,
                action: &'static str,
            ) -> Result<SubmissionRecord, StoreError> {
                let now = self.now();
                let mut tx = self.write.begin_with($begin).await?;
                let Some(sub) = Self::move_submission(&mut tx, id, from, to, None, now).await?
                else {
                    drop(tx);
                    return Err(self.explain_submission(id, action).await);
                };
                sqlx::query(
                    "UPDATE documents SET state = 'prepared', submission_id = NULL, \
                     locked_by = NULL, lease_until = NULL, updated_at = $1 \
                     WHERE submission_id = $2 AND state = 'batched'",
                )
                .bind(now)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(sub)
            }
        }

        #[async_trait]
        impl Store for $store {
            #[tracing::instrument(skip_all)]
            async fn insert_document(&self, new: NewDocument) -> Result<Inserted, StoreError> {
                if new.version < 1 {
                    return Err(StoreError::Conflict(format!(
                        "document version must be at least 1, not {}",
                        new.version
                    )));
                }
                let now = self.now();
                let sha = sha256_hex(&new.received);
                let row = sqlx::query(concat!(
                    "INSERT INTO documents (issuer_tin, type_code, internal_id, version, format, \
                     client_id, on_behalf_of, received, received_sha256, state, attempts, \
                     created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'received', 0, $10, $10) \
                     ON CONFLICT (issuer_tin, type_code, internal_id, version) DO NOTHING \
                     RETURNING ",
                    doc_cols!()
                ))
                .bind(&new.issuer_tin)
                .bind(&new.type_code)
                .bind(&new.internal_id)
                .bind(new.version)
                .bind(new.format.as_str())
                .bind(&new.client_id)
                .bind(obo_to_db(&new.on_behalf_of))
                .bind(&new.received)
                .bind(&sha)
                .bind(now)
                .fetch_optional(&self.write)
                .await?;
                if let Some(row) = row {
                    return Ok(Inserted { document: doc_from_row(&row)?, created: true });
                }
                let row = sqlx::query(concat!(
                    "SELECT ",
                    doc_cols!(),
                    " FROM documents WHERE issuer_tin = $1 AND type_code = $2 \
                     AND internal_id = $3 AND version = $4"
                ))
                .bind(&new.issuer_tin)
                .bind(&new.type_code)
                .bind(&new.internal_id)
                .bind(new.version)
                .fetch_optional(&self.write)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::Conflict(
                        "the document key was taken and released concurrently; retry".to_owned(),
                    ));
                };
                let existing = doc_from_row(&row)?;
                if existing.received_sha256 != sha || existing.received != new.received {
                    return Err(StoreError::Conflict(format!(
                        "document {}/{}/{} version {} was already received with different \
                         content; send a correction as a new version",
                        new.issuer_tin, new.type_code, new.internal_id, new.version
                    )));
                }
                if existing.format != new.format
                    || existing.client_id != new.client_id
                    || existing.on_behalf_of != new.on_behalf_of.clone().filter(|o| !o.is_empty())
                {
                    return Err(StoreError::Conflict(format!(
                        "document {}/{}/{} version {} was already received with a different \
                         format, client id or onbehalfof",
                        new.issuer_tin, new.type_code, new.internal_id, new.version
                    )));
                }
                Ok(Inserted { document: existing, created: false })
            }

            #[tracing::instrument(skip_all)]
            async fn new_version(
                &self,
                key: &DocumentKey,
                format: DocumentFormat,
                received: Vec<u8>,
            ) -> Result<DocumentRecord, StoreError> {
                let now = self.now();
                let sha = sha256_hex(&received);
                let mut tx = self.write.begin_with($begin).await?;
                let row = sqlx::query(concat!(
                    "SELECT ",
                    doc_cols!(),
                    " FROM documents WHERE issuer_tin = $1 AND type_code = $2 \
                     AND internal_id = $3 ORDER BY version DESC LIMIT 1"
                ))
                .bind(&key.issuer_tin)
                .bind(&key.type_code)
                .bind(&key.internal_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::NotFound(format!(
                        "document {}/{}/{}",
                        key.issuer_tin, key.type_code, key.internal_id
                    )));
                };
                let latest = doc_from_row(&row)?;
                // A repeated correction request finds the version it created.
                if latest.version > 1 && latest.received_sha256 == sha && latest.format == format {
                    return Ok(latest);
                }
                if !latest.state.allows_new_version() {
                    return Err(StoreError::StaleTransition {
                        what: "document",
                        id: latest.id.0,
                        actual: latest.state.to_string(),
                        action: "take a new version (only invalid or locally rejected documents \
                                 can be corrected)",
                    });
                }
                let row = sqlx::query(concat!(
                    "INSERT INTO documents (issuer_tin, type_code, internal_id, version, format, \
                     client_id, on_behalf_of, received, received_sha256, state, attempts, \
                     created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'received', 0, $10, $10) \
                     ON CONFLICT (issuer_tin, type_code, internal_id, version) DO NOTHING \
                     RETURNING ",
                    doc_cols!()
                ))
                .bind(&key.issuer_tin)
                .bind(&key.type_code)
                .bind(&key.internal_id)
                .bind(latest.version + 1)
                .bind(format.as_str())
                .bind(&latest.client_id)
                .bind(obo_to_db(&latest.on_behalf_of))
                .bind(&received)
                .bind(&sha)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::Conflict(format!(
                        "version {} of {}/{}/{} was created concurrently",
                        latest.version + 1,
                        key.issuer_tin,
                        key.type_code,
                        key.internal_id
                    )));
                };
                let doc = doc_from_row(&row)?;
                tx.commit().await?;
                Ok(doc)
            }

            #[tracing::instrument(skip_all)]
            async fn get_document(&self, id: DocumentId) -> Result<DocumentRecord, StoreError> {
                let row = sqlx::query(concat!("SELECT ", doc_cols!(), " FROM documents WHERE id = $1"))
                    .bind(id.0)
                    .fetch_optional(&self.read)
                    .await?;
                match row {
                    Some(row) => doc_from_row(&row),
                    None => Err(StoreError::NotFound(format!("document {id}"))),
                }
            }

            #[tracing::instrument(skip_all)]
            async fn find_document(
                &self,
                key: &DocumentKey,
            ) -> Result<Option<DocumentRecord>, StoreError> {
                let row = sqlx::query(concat!(
                    "SELECT ",
                    doc_cols!(),
                    " FROM documents WHERE issuer_tin = $1 AND type_code = $2 \
                     AND internal_id = $3 ORDER BY version DESC LIMIT 1"
                ))
                .bind(&key.issuer_tin)
                .bind(&key.type_code)
                .bind(&key.internal_id)
                .fetch_optional(&self.read)
                .await?;
                row.as_ref().map(doc_from_row).transpose()
            }

            #[tracing::instrument(skip_all)]
            async fn document_versions(
                &self,
                key: &DocumentKey,
            ) -> Result<Vec<DocumentRecord>, StoreError> {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    doc_cols!(),
                    " FROM documents WHERE issuer_tin = $1 AND type_code = $2 \
                     AND internal_id = $3 ORDER BY version"
                ))
                .bind(&key.issuer_tin)
                .bind(&key.type_code)
                .bind(&key.internal_id)
                .fetch_all(&self.read)
                .await?;
                docs_from_rows(&rows)
            }

            #[tracing::instrument(skip_all)]
            async fn count_documents_by_state(
                &self,
            ) -> Result<std::collections::BTreeMap<DocumentState, u64>, StoreError> {
                let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM documents GROUP BY state")
                    .fetch_all(&self.read)
                    .await?;
                let mut counts = std::collections::BTreeMap::new();
                for row in &rows {
                    let state: String = row.try_get("state")?;
                    let n: i64 = row.try_get("n")?;
                    let state = DocumentState::parse(&state)
                        .ok_or_else(|| corrupt("document state", &state))?;
                    counts.insert(state, u64::try_from(n).unwrap_or(0));
                }
                Ok(counts)
            }

            #[tracing::instrument(skip_all)]
            async fn list_documents(
                &self,
                filter: &DocumentFilter,
            ) -> Result<Page<DocumentRecord>, StoreError> {
                let limit = clamp_limit(filter.limit, 100, 1000);
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    doc_cols!(),
                    " FROM documents WHERE ($1 IS NULL OR state = $1) \
                     AND ($2 IS NULL OR issuer_tin = $2) \
                     AND ($3 IS NULL OR created_at >= $3) \
                     AND ($4 IS NULL OR created_at < $4) \
                     AND id > $5 ORDER BY id LIMIT $6"
                ))
                .bind(filter.state.map(|s| s.as_str()))
                .bind(filter.issuer_tin.as_deref())
                .bind(filter.received_from.map(truncate))
                .bind(filter.received_before.map(truncate))
                .bind(filter.after.map_or(0, |a| a.0))
                .bind(limit + 1)
                .fetch_all(&self.read)
                .await?;
                let mut items = docs_from_rows(&rows)?;
                let next = if items.len() as i64 > limit {
                    items.truncate(limit as usize);
                    items.last().map(|d| d.id)
                } else {
                    None
                };
                Ok(Page { items, next })
            }

            #[tracing::instrument(skip_all)]
            async fn claim_received(
                &self,
                worker: &str,
                limit: u32,
                lease: std::time::Duration,
            ) -> Result<Vec<DocumentRecord>, StoreError> {
                let now = self.now();
                // Most calls find nothing to claim; a read says so without queueing for the
                // writer (SQLite's single write connection is the store's bottleneck).
                let any = sqlx::query(
                    "SELECT 1 AS one FROM documents WHERE state = 'received' \
                     AND (locked_by IS NULL OR lease_until < $1) LIMIT 1",
                )
                .bind(now)
                .fetch_optional(&self.read)
                .await?;
                if any.is_none() {
                    return Ok(Vec::new());
                }
                let rows = sqlx::query(concat!(
                    "UPDATE documents SET locked_by = $1, lease_until = $2, \
                     attempts = attempts + 1, updated_at = $3 \
                     WHERE state = 'received' AND id IN (SELECT id FROM documents \
                     WHERE state = 'received' AND (locked_by IS NULL OR lease_until < $3) \
                     ORDER BY id LIMIT $4",
                    $lock,
                    ") RETURNING ",
                    doc_cols!()
                ))
                .bind(worker)
                .bind(later(now, lease))
                .bind(now)
                .bind(clamp_limit(limit, 1, 10_000))
                .fetch_all(&self.write)
                .await?;
                let mut docs = docs_from_rows(&rows)?;
                docs.sort_by_key(|d| d.id);
                Ok(docs)
            }

            #[tracing::instrument(skip_all)]
            async fn mark_prepared(
                &self,
                id: DocumentId,
                worker: &str,
                prepared: Prepared,
            ) -> Result<DocumentRecord, StoreError> {
                let now = self.now();
                let size = i64::try_from(prepared.bytes.len()).unwrap_or(i64::MAX);
                let row = sqlx::query(concat!(
                    "UPDATE documents SET state = 'prepared', prepared = $1, prepared_size = $2, \
                     document_hash = $3, errors = NULL, last_error = NULL, locked_by = NULL, \
                     lease_until = NULL, updated_at = $4 \
                     WHERE id = $5 AND state = 'received' AND locked_by = $6 RETURNING ",
                    doc_cols!()
                ))
                .bind(&prepared.bytes)
                .bind(size)
                .bind(&prepared.document_hash)
                .bind(now)
                .bind(id.0)
                .bind(worker)
                .fetch_optional(&self.write)
                .await?;
                match row {
                    Some(row) => doc_from_row(&row),
                    None => Err(self
                        .explain_document(id, DocumentState::Received, Some(worker), "be prepared")
                        .await),
                }
            }

            #[tracing::instrument(skip_all)]
            async fn mark_rejected_locally(
                &self,
                id: DocumentId,
                worker: &str,
                errors: serde_json::Value,
            ) -> Result<DocumentRecord, StoreError> {
                let now = self.now();
                let mut tx = self.write.begin_with($begin).await?;
                let row = sqlx::query(concat!(
                    "UPDATE documents SET state = 'rejected_locally', errors = $1, \
                     locked_by = NULL, lease_until = NULL, updated_at = $2 \
                     WHERE id = $3 AND state = 'received' AND locked_by = $4 RETURNING ",
                    doc_cols!()
                ))
                .bind(errors.to_string())
                .bind(now)
                .bind(id.0)
                .bind(worker)
                .fetch_optional(&mut *tx)
                .await?;
                match row {
                    Some(row) => {
                        Self::emit_many(&mut tx, &[(id.0, DocumentState::RejectedLocally)], now).await?;
                        tx.commit().await?;
                        doc_from_row(&row)
                    }
                    None => Err(self
                        .explain_document(
                            id,
                            DocumentState::Received,
                            Some(worker),
                            "be rejected locally",
                        )
                        .await),
                }
            }

            #[tracing::instrument(skip_all)]
            async fn claim_documents_for_batch(
                &self,
                worker: &str,
                limit: u32,
                max_bytes: u64,
                lease: std::time::Duration,
            ) -> Result<Option<Batch>, StoreError> {
                let now = self.now();
                let limit = clamp_limit(limit, 100, 10_000);
                let mut tx = self.write.begin_with($begin).await?;
                // The oldest prepared document picks the (client id, onbehalfof) group.
                let group = sqlx::query(concat!(
                    "SELECT client_id, on_behalf_of FROM documents WHERE state = 'prepared' \
                     ORDER BY id LIMIT 1",
                    $lock
                ))
                .fetch_optional(&mut *tx)
                .await?;
                let Some(group) = group else {
                    return Ok(None);
                };
                let client_id: String = group.try_get("client_id")?;
                let obo: String = group.try_get("on_behalf_of")?;
                let candidates = sqlx::query(concat!(
                    "SELECT id, prepared_size FROM documents WHERE state = 'prepared' \
                     AND client_id = $1 AND on_behalf_of = $2 ORDER BY id LIMIT $3",
                    $lock
                ))
                .bind(&client_id)
                .bind(&obo)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                let mut ids = Vec::with_capacity(candidates.len());
                let mut total: u64 = 0;
                for row in &candidates {
                    let id: i64 = row.try_get("id")?;
                    let size: Option<i64> = row.try_get("prepared_size")?;
                    let size = u64::try_from(size.unwrap_or(0)).unwrap_or(0);
                    // Always take the first, so one large document cannot stall the queue.
                    if !ids.is_empty() && total.saturating_add(size) > max_bytes {
                        break;
                    }
                    total = total.saturating_add(size);
                    ids.push(id);
                }
                if ids.is_empty() {
                    return Ok(None);
                }
                let lease_until = later(now, lease);
                // One statement for the whole batch (`limit` is at most 10,000 ids, within
                // both databases' bind limits).
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "UPDATE documents SET state = 'batched', locked_by = ",
                );
                q.push_bind(worker)
                    .push(", lease_until = ")
                    .push_bind(lease_until)
                    .push(", updated_at = ")
                    .push_bind(now)
                    .push(" WHERE state = 'prepared' AND id IN ");
                push_id_list(&mut q, &ids);
                q.push(concat!(" RETURNING ", doc_cols!()));
                let rows = q.build().fetch_all(&mut *tx).await?;
                let mut documents = docs_from_rows(&rows)?;
                documents.sort_by_key(|d| d.id);
                tx.commit().await?;
                if documents.is_empty() {
                    return Ok(None);
                }
                Ok(Some(Batch { client_id, on_behalf_of: obo_from_db(obo), documents }))
            }

            #[tracing::instrument(skip_all)]
            async fn record_submission_intent(
                &self,
                intent: SubmissionIntent,
            ) -> Result<SubmissionRecord, StoreError> {
                if intent.document_ids.is_empty() {
                    return Err(StoreError::Conflict(
                        "a submission intent needs at least one document".to_owned(),
                    ));
                }
                let now = self.now();
                let lease_until = later(now, intent.lease);
                let sha = sha256_hex(&intent.payload);
                let obo = obo_to_db(&intent.on_behalf_of);
                let count = i64::try_from(intent.document_ids.len()).unwrap_or(i64::MAX);
                let size = i64::try_from(intent.payload.len()).unwrap_or(i64::MAX);
                let mut tx = self.write.begin_with($begin).await?;
                let row = sqlx::query(concat!(
                    "INSERT INTO submissions (client_id, on_behalf_of, payload_bytes, \
                     payload_sha256, document_count, state, worker, lease_until, created_at, \
                     updated_at) \
                     VALUES ($1, $2, $3, $4, $5, 'intent', $6, $7, $8, $8) RETURNING ",
                    sub_cols!()
                ))
                .bind(&intent.client_id)
                .bind(&obo)
                .bind(size)
                .bind(&sha)
                .bind(count)
                .bind(&intent.worker)
                .bind(lease_until)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                let sub = sub_from_row(&row)?;
                sqlx::query(
                    "INSERT INTO submission_payloads (submission_id, payload) VALUES ($1, $2)",
                )
                .bind(sub.id.0)
                .bind(&intent.payload)
                .execute(&mut *tx)
                .await?;
                let ids: Vec<i64> = intent.document_ids.iter().map(|d| d.0).collect();
                let mut done: u64 = 0;
                for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                    let mut q =
                        sqlx::QueryBuilder::<$db>::new("UPDATE documents SET submission_id = ");
                    q.push_bind(sub.id.0)
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
                        .push(" AND id IN ");
                    push_id_list(&mut q, chunk);
                    done += q.build().execute(&mut *tx).await?.rows_affected();
                }
                if done != ids.len() as u64 {
                    // Rolled back; name the first document that could not join.
                    drop(tx);
                    for id in &intent.document_ids {
                        let fits = match self.get_document(*id).await {
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
                            return Err(self
                                .explain_document(
                                    *id,
                                    DocumentState::Batched,
                                    Some(&intent.worker),
                                    "enter a submission",
                                )
                                .await);
                        }
                    }
                    return Err(StoreError::Conflict(format!(
                        "a document appears twice in the intent for submission {}",
                        sub.id
                    )));
                }
                tx.commit().await?;
                Ok(sub)
            }

            #[tracing::instrument(skip_all)]
            async fn hold_submission(
                &self,
                id: SubmissionId,
                worker: &str,
                lease: std::time::Duration,
            ) -> Result<SubmissionRecord, StoreError> {
                let now = self.now();
                let row = sqlx::query(concat!(
                    "UPDATE submissions SET lease_until = $1, updated_at = $2 \
                     WHERE id = $3 AND state = 'intent' AND worker = $4 AND lease_until >= $2 \
                     RETURNING ",
                    sub_cols!()
                ))
                .bind(later(now, lease))
                .bind(now)
                .bind(id.0)
                .bind(worker)
                .fetch_optional(&self.write)
                .await?;
                if let Some(row) = row {
                    return sub_from_row(&row);
                }
                let existing = self.get_submission(id).await?;
                if existing.state != SubmissionState::Intent {
                    return Err(StoreError::StaleTransition {
                        what: "submission",
                        id: id.0,
                        actual: existing.state.to_string(),
                        action: "be POSTed",
                    });
                }
                Err(StoreError::LeaseLost { what: "submission", id: id.0, worker: worker.to_owned() })
            }

            #[tracing::instrument(skip_all)]
            async fn record_submission_accepted(
                &self,
                id: SubmissionId,
                accepted: &SubmissionAccepted,
            ) -> Result<SubmissionRecord, StoreError> {
                let now = self.now();
                let mut tx = self.write.begin_with($begin).await?;
                let row = sqlx::query(concat!(
                    "UPDATE submissions SET state = 'accepted', submission_uid = $1, \
                     lease_until = NULL, updated_at = $2 WHERE id = $3 \
                     AND state IN ('intent', 'outcome_unknown', 'duplicate') RETURNING ",
                    sub_cols!()
                ))
                .bind(&accepted.submission_uid)
                .bind(now)
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    drop(tx);
                    let existing = self.get_submission(id).await?;
                    if existing.state == SubmissionState::Accepted
                        && existing.submission_uid.as_deref()
                            == Some(accepted.submission_uid.as_str())
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
                let sub = sub_from_row(&row)?;
                // Set-based: a CASE maps each document to its uuid (or its errors), so 100
                // documents take two statements instead of two hundred round trips.
                let mut events = Vec::with_capacity(
                    accepted.accepted.len() + accepted.rejected.len(),
                );
                for chunk in accepted.accepted.chunks(ROWS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "UPDATE documents SET state = 'submitted', uuid = CASE id",
                    );
                    for (doc, uuid) in chunk {
                        q.push(" WHEN ").push_bind(doc.0).push(" THEN ").push_bind(uuid.as_str());
                    }
                    let ids: Vec<i64> = chunk.iter().map(|(d, _)| d.0).collect();
                    Self::settle_batched(&mut tx, q, &ids, id, now).await?;
                    events.extend(ids.iter().map(|d| (*d, DocumentState::Submitted)));
                }
                for chunk in accepted.rejected.chunks(ROWS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "UPDATE documents SET state = 'invalid', errors = CASE id",
                    );
                    for (doc, errors) in chunk {
                        q.push(" WHEN ").push_bind(doc.0).push(" THEN ").push_bind(errors.to_string());
                    }
                    let ids: Vec<i64> = chunk.iter().map(|(d, _)| d.0).collect();
                    Self::settle_batched(&mut tx, q, &ids, id, now).await?;
                    events.extend(ids.iter().map(|d| (*d, DocumentState::Invalid)));
                }
                Self::emit_many(&mut tx, &events, now).await?;
                // The first poll waits for validation to have a chance: 2 s plus 0.1 s per
                // document, as the client's poller does (README §5).
                let first = later(
                    now,
                    std::time::Duration::from_millis(
                        2_000 + 100 * accepted.accepted.len() as u64,
                    ),
                );
                sqlx::query("UPDATE submissions SET next_poll_at = $1 WHERE id = $2")
                    .bind(first)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(sub)
            }

            #[tracing::instrument(skip_all)]
            async fn record_submission_unknown(
                &self,
                id: SubmissionId,
                error: &str,
            ) -> Result<SubmissionRecord, StoreError> {
                let now = self.now();
                let mut tx = self.write.begin_with($begin).await?;
                let moved = Self::move_submission(
                    &mut tx,
                    id,
                    &[SubmissionState::Intent],
                    SubmissionState::OutcomeUnknown,
                    Some(error),
                    now,
                )
                .await?;
                tx.commit().await?;
                match moved {
                    Some(sub) => Ok(sub),
                    None => Err(self.explain_submission(id, "become outcome_unknown").await),
                }
            }

            #[tracing::instrument(skip_all)]
            async fn record_submission_duplicate(
                &self,
                id: SubmissionId,
            ) -> Result<SubmissionRecord, StoreError> {
                let now = self.now();
                let mut tx = self.write.begin_with($begin).await?;
                let moved = Self::move_submission(
                    &mut tx,
                    id,
                    &[SubmissionState::Intent],
                    SubmissionState::Duplicate,
                    Some("422 DuplicateSubmission"),
                    now,
                )
                .await?;
                tx.commit().await?;
                match moved {
                    Some(sub) => Ok(sub),
                    None => Err(self.explain_submission(id, "become duplicate").await),
                }
            }

            #[tracing::instrument(skip_all)]
            async fn record_submission_refused(
                &self,
                id: SubmissionId,
                error: &str,
            ) -> Result<SubmissionRecord, StoreError> {
                let now = self.now();
                let mut tx = self.write.begin_with($begin).await?;
                let Some(sub) = Self::move_submission(
                    &mut tx,
                    id,
                    &[
                        SubmissionState::Intent,
                        SubmissionState::OutcomeUnknown,
                        SubmissionState::Duplicate,
                    ],
                    SubmissionState::Refused,
                    Some(error),
                    now,
                )
                .await?
                else {
                    drop(tx);
                    return Err(self.explain_submission(id, "be refused").await);
                };
                let failed = sqlx::query(
                    "UPDATE documents SET state = 'failed', last_error = $1, locked_by = NULL, \
                     lease_until = NULL, updated_at = $2 \
                     WHERE submission_id = $3 AND state = 'batched' RETURNING id",
                )
                .bind(error)
                .bind(now)
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await?;
                let events = failed
                    .iter()
                    .map(|row| Ok((row.try_get("id")?, DocumentState::Failed)))
                    .collect::<Result<Vec<_>, StoreError>>()?;
                Self::emit_many(&mut tx, &events, now).await?;
                tx.commit().await?;
                Ok(sub)
            }

            #[tracing::instrument(skip_all)]
            async fn record_submission_split(
                &self,
                id: SubmissionId,
            ) -> Result<SubmissionRecord, StoreError> {
                self.submission_releasing_documents(
                    id,
                    &[SubmissionState::Intent],
                    SubmissionState::Split,
                    "be split",
                )
                .await
            }

            #[tracing::instrument(skip_all)]
            async fn record_submission_not_received(
                &self,
                id: SubmissionId,
            ) -> Result<SubmissionRecord, StoreError> {
                self.submission_releasing_documents(
                    id,
                    &[SubmissionState::OutcomeUnknown, SubmissionState::Duplicate],
                    SubmissionState::NotReceived,
                    "be marked not received",
                )
                .await
            }

            #[tracing::instrument(skip_all)]
            async fn get_submission(
                &self,
                id: SubmissionId,
            ) -> Result<SubmissionRecord, StoreError> {
                let row = sqlx::query(concat!("SELECT ", sub_cols!(), " FROM submissions WHERE id = $1"))
                    .bind(id.0)
                    .fetch_optional(&self.read)
                    .await?;
                match row {
                    Some(row) => sub_from_row(&row),
                    None => Err(StoreError::NotFound(format!("submission {id}"))),
                }
            }

            #[tracing::instrument(skip_all)]
            async fn submission_payload(&self, id: SubmissionId) -> Result<Vec<u8>, StoreError> {
                let row = sqlx::query(
                    "SELECT payload FROM submission_payloads WHERE submission_id = $1",
                )
                    .bind(id.0)
                    .fetch_optional(&self.read)
                    .await?;
                match row {
                    Some(row) => Ok(row.try_get("payload")?),
                    None => Err(StoreError::NotFound(format!("submission {id}"))),
                }
            }

            #[tracing::instrument(skip_all)]
            async fn submissions_needing_reconcile(
                &self,
                limit: u32,
            ) -> Result<Vec<SubmissionRecord>, StoreError> {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    sub_cols!(),
                    " FROM submissions WHERE state IN ('outcome_unknown', 'duplicate') \
                     ORDER BY id LIMIT $1"
                ))
                .bind(clamp_limit(limit, 100, 10_000))
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(sub_from_row).collect()
            }

            #[tracing::instrument(skip_all)]
            async fn submissions_to_poll(
                &self,
                limit: u32,
            ) -> Result<Vec<SubmissionRecord>, StoreError> {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    sub_cols!(),
                    " FROM submissions s WHERE state = 'accepted' AND EXISTS (SELECT 1 \
                     FROM documents d WHERE d.submission_id = s.id AND d.state = 'submitted') \
                     ORDER BY id LIMIT $1"
                ))
                .bind(clamp_limit(limit, 100, 10_000))
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(sub_from_row).collect()
            }

            #[tracing::instrument(skip_all)]
            async fn documents_in_submission(
                &self,
                id: SubmissionId,
            ) -> Result<Vec<DocumentRecord>, StoreError> {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    doc_cols!(),
                    " FROM documents WHERE submission_id = $1 ORDER BY id"
                ))
                .bind(id.0)
                .fetch_all(&self.read)
                .await?;
                docs_from_rows(&rows)
            }

            #[tracing::instrument(skip_all)]
            async fn claim_due_polls(
                &self,
                limit: u32,
                next_in: std::time::Duration,
            ) -> Result<Vec<SubmissionRecord>, StoreError> {
                let now = self.now();
                let next = later(now, next_in);
                let mut tx = self.write.begin_with($begin).await?;
                let due = sqlx::query(concat!(
                    "SELECT id FROM submissions s WHERE state = 'accepted' \
                     AND (next_poll_at IS NULL OR next_poll_at <= $1) AND EXISTS (SELECT 1 \
                     FROM documents d WHERE d.submission_id = s.id AND d.state = 'submitted') \
                     ORDER BY next_poll_at, id LIMIT $2",
                    $lock
                ))
                .bind(now)
                .bind(clamp_limit(limit, 100, 10_000))
                .fetch_all(&mut *tx)
                .await?;
                let ids = due
                    .iter()
                    .map(|row| row.try_get("id"))
                    .collect::<Result<Vec<i64>, _>>()?;
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::<$db>::new("UPDATE submissions SET next_poll_at = ");
                q.push_bind(next).push(", polls = polls + 1 WHERE id IN ");
                push_id_list(&mut q, &ids);
                q.push(concat!(" RETURNING ", sub_cols!()));
                let rows = q.build().fetch_all(&mut *tx).await?;
                tx.commit().await?;
                let mut by_id = std::collections::HashMap::with_capacity(rows.len());
                for row in &rows {
                    let sub = sub_from_row(row)?;
                    by_id.insert(sub.id.0, sub);
                }
                // In the order they fell due.
                Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
            }

            #[tracing::instrument(skip_all)]
            async fn poll_finished(
                &self,
                id: SubmissionId,
                next_in: std::time::Duration,
            ) -> Result<(), StoreError> {
                let next = later(self.now(), next_in);
                sqlx::query(
                    "UPDATE submissions SET next_poll_at = $1 \
                     WHERE id = $2 AND state = 'accepted' \
                     AND (next_poll_at IS NULL OR next_poll_at < $1)",
                )
                .bind(next)
                .bind(id.0)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn list_submissions(
                &self,
                filter: &SubmissionFilter,
            ) -> Result<Vec<SubmissionRecord>, StoreError> {
                let limit = clamp_limit(filter.limit, 100, 1_000);
                let state = filter.state.map(|s| s.as_str());
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    sub_cols!(),
                    " FROM submissions WHERE ($1 IS NULL OR state = $1) \
                     AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
                ))
                .bind(state)
                .bind(filter.before.map(|id| id.0))
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(sub_from_row).collect()
            }

            #[tracing::instrument(skip_all)]
            async fn events_after(
                &self,
                after: i64,
                limit: u32,
            ) -> Result<Vec<DocumentEvent>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, document_id, state, created_at FROM document_events \
                     WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind(clamp_limit(limit, 100, 10_000))
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(event_from_row).collect()
            }

            #[tracing::instrument(skip_all)]
            async fn document_events(
                &self,
                id: DocumentId,
            ) -> Result<Vec<DocumentEvent>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, document_id, state, created_at FROM document_events \
                     WHERE document_id = $1 ORDER BY id",
                )
                .bind(id.0)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(event_from_row).collect()
            }

            #[tracing::instrument(skip_all)]
            async fn record_validation_results(
                &self,
                results: &[ValidationUpdate],
            ) -> Result<u64, StoreError> {
                let now = self.now();
                let mut tx = self.write.begin_with($begin).await?;
                // Grouped by outcome, each group one statement (a CASE per column), in this
                // order so that a document found valid and then cancelled in the same
                // results ends cancelled, as it would one update at a time.
                let mut valid = Vec::new();
                let mut invalid = Vec::new();
                let mut cancelled = Vec::new();
                for update in results {
                    match &update.outcome {
                        ValidationOutcome::Valid { long_id, validation_link } => {
                            valid.push((update.uuid.as_str(), long_id, validation_link));
                        }
                        ValidationOutcome::Invalid { errors } => {
                            invalid.push((update.uuid.as_str(), errors.to_string()));
                        }
                        ValidationOutcome::Cancelled => cancelled.push(update.uuid.as_str()),
                    }
                }
                let mut events: Vec<(i64, DocumentState)> = Vec::new();
                for chunk in valid.chunks(ROWS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "UPDATE documents SET state = 'valid', long_id = CASE uuid",
                    );
                    for (uuid, long_id, _) in chunk {
                        q.push(" WHEN ").push_bind(*uuid).push(" THEN ").push_bind(long_id.as_str());
                    }
                    q.push(" END, validation_link = CASE uuid");
                    for (uuid, _, link) in chunk {
                        q.push(" WHEN ").push_bind(*uuid).push(" THEN ").push_bind(link.as_str());
                    }
                    q.push(" END, updated_at = ")
                        .push_bind(now)
                        .push(" WHERE state = 'submitted' AND uuid IN ");
                    push_text_list(&mut q, chunk.iter().map(|(u, _, _)| *u));
                    q.push(" RETURNING id");
                    for row in q.build().fetch_all(&mut *tx).await? {
                        events.push((row.try_get("id")?, DocumentState::Valid));
                    }
                }
                for chunk in invalid.chunks(ROWS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "UPDATE documents SET state = 'invalid', errors = CASE uuid",
                    );
                    for (uuid, errors) in chunk {
                        q.push(" WHEN ").push_bind(*uuid).push(" THEN ").push_bind(errors.as_str());
                    }
                    q.push(" END, updated_at = ")
                        .push_bind(now)
                        .push(" WHERE state = 'submitted' AND uuid IN ");
                    push_text_list(&mut q, chunk.iter().map(|(u, _)| *u));
                    q.push(" RETURNING id");
                    for row in q.build().fetch_all(&mut *tx).await? {
                        events.push((row.try_get("id")?, DocumentState::Invalid));
                    }
                }
                for chunk in cancelled.chunks(ROWS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "UPDATE documents SET state = 'cancelled', updated_at = ",
                    );
                    q.push_bind(now).push(" WHERE state = 'valid' AND uuid IN ");
                    push_text_list(&mut q, chunk.iter().copied());
                    q.push(" RETURNING id");
                    for row in q.build().fetch_all(&mut *tx).await? {
                        events.push((row.try_get("id")?, DocumentState::Cancelled));
                    }
                }
                Self::emit_many(&mut tx, &events, now).await?;
                tx.commit().await?;
                Ok(events.len() as u64)
            }

            #[tracing::instrument(skip_all)]
            async fn release_expired_leases(&self) -> Result<LeaseRecovery, StoreError> {
                let now = self.now();
                // Usually nothing has expired: a read says so without taking the writer.
                let any = sqlx::query(
                    "SELECT 1 AS one FROM documents WHERE state = 'received' \
                     AND locked_by IS NOT NULL AND lease_until < $1 \
                     UNION ALL SELECT 1 FROM documents WHERE state = 'batched' \
                     AND submission_id IS NULL AND lease_until < $1 \
                     UNION ALL SELECT 1 FROM submissions WHERE state = 'intent' \
                     AND lease_until < $1 \
                     UNION ALL SELECT 1 FROM webhook_deliveries WHERE state = 'delivering' \
                     AND lease_until < $1 \
                     LIMIT 1",
                )
                .bind(now)
                .fetch_optional(&self.read)
                .await?;
                if any.is_none() {
                    return Ok(LeaseRecovery::default());
                }
                let mut tx = self.write.begin_with($begin).await?;
                let received_released = sqlx::query(
                    "UPDATE documents SET locked_by = NULL, lease_until = NULL, updated_at = $1 \
                     WHERE state = 'received' AND locked_by IS NOT NULL AND lease_until < $1",
                )
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let batched_released = sqlx::query(
                    "UPDATE documents SET state = 'prepared', locked_by = NULL, \
                     lease_until = NULL, updated_at = $1 \
                     WHERE state = 'batched' AND submission_id IS NULL AND lease_until < $1",
                )
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                // The worker may have POSTed before it vanished: never resend, reconcile.
                let submissions_unknown = sqlx::query(
                    "UPDATE submissions SET state = 'outcome_unknown', \
                     last_error = 'the worker lease expired before an outcome was recorded', \
                     lease_until = NULL, updated_at = $1 \
                     WHERE state = 'intent' AND lease_until < $1",
                )
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let webhooks_released = sqlx::query(
                    "UPDATE webhook_deliveries SET state = 'pending', locked_by = NULL, \
                     lease_until = NULL, updated_at = $1 \
                     WHERE state = 'delivering' AND lease_until < $1",
                )
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(LeaseRecovery {
                    received_released,
                    batched_released,
                    submissions_unknown,
                    webhooks_released,
                })
            }

            #[tracing::instrument(skip_all)]
            async fn enqueue_webhook(
                &self,
                new: NewWebhook,
            ) -> Result<WebhookDelivery, StoreError> {
                let now = self.now();
                let row = sqlx::query(concat!(
                    "INSERT INTO webhook_deliveries (document_id, event, payload, state, \
                     attempts, max_attempts, next_attempt_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'pending', 0, $4, $5, $5, $5) RETURNING ",
                    hook_cols!()
                ))
                .bind(new.document_id.map(|d| d.0))
                .bind(&new.event)
                .bind(new.payload.to_string())
                .bind(new.max_attempts.max(1))
                .bind(now)
                .fetch_one(&self.write)
                .await?;
                hook_from_row(&row)
            }

            #[tracing::instrument(skip_all)]
            async fn claim_webhooks(
                &self,
                worker: &str,
                limit: u32,
                lease: std::time::Duration,
            ) -> Result<Vec<WebhookDelivery>, StoreError> {
                let now = self.now();
                let rows = sqlx::query(concat!(
                    "UPDATE webhook_deliveries SET state = 'delivering', locked_by = $1, \
                     lease_until = $2, attempts = attempts + 1, updated_at = $3 \
                     WHERE state IN ('pending', 'delivering') AND id IN (SELECT id \
                     FROM webhook_deliveries WHERE (state = 'pending' AND next_attempt_at <= $3) \
                     OR (state = 'delivering' AND lease_until < $3) \
                     ORDER BY next_attempt_at, id LIMIT $4",
                    $lock,
                    ") RETURNING ",
                    hook_cols!()
                ))
                .bind(worker)
                .bind(later(now, lease))
                .bind(now)
                .bind(clamp_limit(limit, 1, 10_000))
                .fetch_all(&self.write)
                .await?;
                let mut hooks: Vec<WebhookDelivery> =
                    rows.iter().map(hook_from_row).collect::<Result<_, _>>()?;
                hooks.sort_by_key(|h| h.id);
                Ok(hooks)
            }

            #[tracing::instrument(skip_all)]
            async fn ack_webhook(
                &self,
                id: WebhookId,
                worker: &str,
            ) -> Result<WebhookDelivery, StoreError> {
                let now = self.now();
                let row = sqlx::query(concat!(
                    "UPDATE webhook_deliveries SET state = 'delivered', locked_by = NULL, \
                     lease_until = NULL, last_error = NULL, updated_at = $1 \
                     WHERE id = $2 AND state = 'delivering' AND locked_by = $3 RETURNING ",
                    hook_cols!()
                ))
                .bind(now)
                .bind(id.0)
                .bind(worker)
                .fetch_optional(&self.write)
                .await?;
                match row {
                    Some(row) => hook_from_row(&row),
                    None => Err(StoreError::LeaseLost {
                        what: "webhook delivery",
                        id: id.0,
                        worker: worker.to_owned(),
                    }),
                }
            }

            #[tracing::instrument(skip_all)]
            async fn retry_webhook(
                &self,
                id: WebhookId,
                worker: &str,
                error: &str,
            ) -> Result<WebhookDelivery, StoreError> {
                let now = self.now();
                let mut tx = self.write.begin_with($begin).await?;
                let row = sqlx::query(concat!(
                    "SELECT ",
                    hook_cols!(),
                    " FROM webhook_deliveries WHERE id = $1"
                ))
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::NotFound(format!("webhook delivery {id}")));
                };
                let hook = hook_from_row(&row)?;
                if hook.state != WebhookState::Delivering
                    || hook.locked_by.as_deref() != Some(worker)
                {
                    return Err(StoreError::LeaseLost {
                        what: "webhook delivery",
                        id: id.0,
                        worker: worker.to_owned(),
                    });
                }
                let (state, next) = if hook.attempts >= hook.max_attempts {
                    (WebhookState::Dead, hook.next_attempt_at)
                } else {
                    (WebhookState::Pending, later(now, webhook_backoff(hook.attempts)))
                };
                let row = sqlx::query(concat!(
                    "UPDATE webhook_deliveries SET state = $1, next_attempt_at = $2, \
                     last_error = $3, locked_by = NULL, lease_until = NULL, updated_at = $4 \
                     WHERE id = $5 AND state = 'delivering' AND locked_by = $6 RETURNING ",
                    hook_cols!()
                ))
                .bind(state.as_str())
                .bind(next)
                .bind(error)
                .bind(now)
                .bind(id.0)
                .bind(worker)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::LeaseLost {
                        what: "webhook delivery",
                        id: id.0,
                        worker: worker.to_owned(),
                    });
                };
                let hook = hook_from_row(&row)?;
                tx.commit().await?;
                Ok(hook)
            }

            #[tracing::instrument(skip_all)]
            async fn create_api_key(
                &self,
                name: &str,
            ) -> Result<(ApiKeyRecord, ApiKeySecret), StoreError> {
                let now = self.now();
                let secret = format!("ivk_{}", hex::encode(rand::random::<[u8; 32]>()));
                let prefix: String = secret.chars().take(12).collect();
                let row = sqlx::query(concat!(
                    "INSERT INTO api_keys (name, prefix, key_sha256, created_at) \
                     VALUES ($1, $2, $3, $4) RETURNING ",
                    key_cols!()
                ))
                .bind(name)
                .bind(&prefix)
                .bind(sha256_hex(secret.as_bytes()))
                .bind(now)
                .fetch_one(&self.write)
                .await?;
                Ok((key_from_row(&row)?, ApiKeySecret::new(secret)))
            }

            #[tracing::instrument(skip_all)]
            async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
                let rows = sqlx::query(concat!("SELECT ", key_cols!(), " FROM api_keys ORDER BY id"))
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(key_from_row).collect()
            }

            #[tracing::instrument(skip_all)]
            async fn verify_api_key(
                &self,
                presented: &str,
            ) -> Result<Option<ApiKeyRecord>, StoreError> {
                // Looked up by hash: the comparison never touches the plain key.
                let row = sqlx::query(concat!(
                    "SELECT ",
                    key_cols!(),
                    " FROM api_keys WHERE key_sha256 = $1 AND revoked_at IS NULL"
                ))
                .bind(sha256_hex(presented.as_bytes()))
                .fetch_optional(&self.read)
                .await?;
                row.as_ref().map(key_from_row).transpose()
            }

            #[tracing::instrument(skip_all)]
            async fn revoke_api_key(&self, id: ApiKeyId) -> Result<ApiKeyRecord, StoreError> {
                let now = self.now();
                let row = sqlx::query(concat!(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 \
                     RETURNING ",
                    key_cols!()
                ))
                .bind(now)
                .bind(id.0)
                .fetch_optional(&self.write)
                .await?;
                match row {
                    Some(row) => key_from_row(&row),
                    None => Err(StoreError::NotFound(format!("API key {id}"))),
                }
            }

            // ---- webhooks relay ----

            #[tracing::instrument(skip_all)]
            async fn relay_events(&self, limit: u32, max_attempts: i64) -> Result<u64, StoreError> {
                // A cheap read first: an idle relay polls often, and should not take the write
                // lock (SQLite) or write the relay row (PostgreSQL) when there is nothing to do.
                // An event committed after this read is relayed by the next pass.
                let pending = sqlx::query(
                    "SELECT id FROM document_events WHERE relayed_at IS NULL LIMIT 1",
                )
                .fetch_optional(&self.read)
                .await?;
                if pending.is_none() {
                    return Ok(0);
                }
                let now = self.now();
                let mut tx = self.write.begin_with($begin).await?;
                // Lock the relay row first. On PostgreSQL a second relay waits here until this
                // transaction commits, and its next statement (READ COMMITTED: a new snapshot)
                // then sees these events as relayed. On SQLite `BEGIN IMMEDIATE` already
                // serialises writers.
                sqlx::query("UPDATE webhook_relay SET updated_at = $1 WHERE id = 1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let rows = sqlx::query(
                    "SELECT id, document_id, state, created_at FROM document_events \
                     WHERE relayed_at IS NULL ORDER BY id LIMIT $1",
                )
                .bind(clamp_limit(limit, 100, 10_000))
                .fetch_all(&mut *tx)
                .await?;
                let events: Vec<DocumentEvent> =
                    rows.iter().map(event_from_row).collect::<Result<_, _>>()?;
                let mut documents: std::collections::HashMap<i64, DocumentRecord> =
                    std::collections::HashMap::new();
                let mut last = 0_i64;
                for event in &events {
                    let doc_id = event.document_id.0;
                    if !documents.contains_key(&doc_id) {
                        let row = sqlx::query(concat!(
                            "SELECT ",
                            doc_cols!(),
                            " FROM documents WHERE id = $1"
                        ))
                        .bind(doc_id)
                        .fetch_one(&mut *tx)
                        .await?;
                        documents.insert(doc_id, doc_from_row(&row)?);
                    }
                    let Some(doc) = documents.get(&doc_id) else {
                        return Err(corrupt("document of event", &event.id.to_string()));
                    };
                    let payload = $crate::webhooks::event_payload(event, doc);
                    sqlx::query(
                        "INSERT INTO webhook_deliveries (document_id, event, payload, state, \
                         attempts, max_attempts, next_attempt_at, created_at, updated_at, \
                         event_id) VALUES ($1, $2, $3, 'pending', 0, $4, $5, $5, $5, $6)",
                    )
                    .bind(doc_id)
                    .bind($crate::webhooks::event_name(event.state))
                    .bind(payload.to_string())
                    .bind(max_attempts.max(1))
                    .bind(now)
                    .bind(event.id)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE document_events SET relayed_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(event.id)
                        .execute(&mut *tx)
                        .await?;
                    last = last.max(event.id);
                }
                let relayed = events.len() as i64;
                if relayed > 0 {
                    sqlx::query(
                        "UPDATE webhook_relay SET events_relayed = events_relayed + $1, \
                         last_event_id = CASE WHEN last_event_id < $2 THEN $2 \
                         ELSE last_event_id END WHERE id = 1",
                    )
                    .bind(relayed)
                    .bind(last)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(u64::try_from(relayed).unwrap_or(0))
            }

            #[tracing::instrument(skip_all)]
            async fn list_webhook_deliveries(
                &self,
                filter: &$crate::store::WebhookFilter,
            ) -> Result<Vec<$crate::store::WebhookLogEntry>, StoreError> {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    hook_cols!(),
                    ", event_id, replay_of FROM webhook_deliveries \
                     WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR document_id = $2) \
                     AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
                ))
                .bind(filter.state.map(|s| s.as_str()))
                .bind(filter.document_id.map(|d| d.0))
                .bind(filter.before.map(|w| w.0))
                .bind(clamp_limit(filter.limit, 100, 1_000))
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok($crate::store::WebhookLogEntry {
                            delivery: hook_from_row(row)?,
                            event_id: row.try_get("event_id")?,
                            replay_of: row.try_get::<Option<i64>, _>("replay_of")?.map(WebhookId),
                        })
                    })
                    .collect()
            }

            #[tracing::instrument(skip_all)]
            async fn get_webhook_delivery(
                &self,
                id: WebhookId,
            ) -> Result<$crate::store::WebhookLogEntry, StoreError> {
                let row = sqlx::query(concat!(
                    "SELECT ",
                    hook_cols!(),
                    ", event_id, replay_of FROM webhook_deliveries WHERE id = $1"
                ))
                .bind(id.0)
                .fetch_optional(&self.read)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::NotFound(format!("webhook delivery {id}")));
                };
                Ok($crate::store::WebhookLogEntry {
                    delivery: hook_from_row(&row)?,
                    event_id: row.try_get("event_id")?,
                    replay_of: row.try_get::<Option<i64>, _>("replay_of")?.map(WebhookId),
                })
            }

            #[tracing::instrument(skip_all)]
            async fn replay_webhook(&self, id: WebhookId) -> Result<$crate::store::WebhookLogEntry, StoreError> {
                let now = self.now();
                let mut tx = self.write.begin_with($begin).await?;
                let row = sqlx::query(concat!(
                    "SELECT ",
                    hook_cols!(),
                    ", event_id FROM webhook_deliveries WHERE id = $1"
                ))
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::NotFound(format!("webhook delivery {id}")));
                };
                let original = hook_from_row(&row)?;
                let event_id: Option<i64> = row.try_get("event_id")?;
                if !matches!(original.state, WebhookState::Delivered | WebhookState::Dead) {
                    return Err(StoreError::Conflict(format!(
                        "webhook delivery {id} is {}; only a delivered or dead delivery can be \
                         replayed",
                        original.state
                    )));
                }
                let row = sqlx::query(concat!(
                    "INSERT INTO webhook_deliveries (document_id, event, payload, state, \
                     attempts, max_attempts, next_attempt_at, created_at, updated_at, \
                     event_id, replay_of) \
                     VALUES ($1, $2, $3, 'pending', 0, $4, $5, $5, $5, $6, $7) RETURNING ",
                    hook_cols!()
                ))
                .bind(original.document_id.map(|d| d.0))
                .bind(&original.event)
                .bind(original.payload.to_string())
                .bind(original.max_attempts)
                .bind(now)
                .bind(event_id)
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await?;
                let delivery = hook_from_row(&row)?;
                tx.commit().await?;
                Ok($crate::store::WebhookLogEntry {
                    delivery,
                    event_id,
                    replay_of: Some(id),
                })
            }

            #[tracing::instrument(skip_all)]
            async fn count_webhooks_by_state(
                &self,
            ) -> Result<std::collections::BTreeMap<WebhookState, u64>, StoreError> {
                let rows = sqlx::query(
                    "SELECT state, COUNT(*) AS n FROM webhook_deliveries GROUP BY state",
                )
                .fetch_all(&self.read)
                .await?;
                let mut counts = std::collections::BTreeMap::new();
                for row in &rows {
                    let state: String = row.try_get("state")?;
                    let n: i64 = row.try_get("n")?;
                    let state = WebhookState::parse(&state)
                        .ok_or_else(|| corrupt("webhook state", &state))?;
                    counts.insert(state, u64::try_from(n).unwrap_or(0));
                }
                Ok(counts)
            }

            #[tracing::instrument(skip_all)]
            async fn recent_documents(&self, limit: u32) -> Result<Vec<DocumentRecord>, StoreError> {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    doc_cols!(),
                    " FROM documents ORDER BY id DESC LIMIT $1"
                ))
                .bind(clamp_limit(limit, 100, 1_000))
                .fetch_all(&self.read)
                .await?;
                docs_from_rows(&rows)
            }

            // ---- archive ----

            #[tracing::instrument(skip_all)]
            async fn upsert_external_document(
                &self,
                doc: &$crate::store::ExternalDocument,
            ) -> Result<$crate::store::ExternalUpsert, StoreError> {
                use $crate::store::ExternalUpsert;
                let now = self.now();
                let listing = doc.listing.to_string();
                let mut tx = self.write.begin_with($begin).await?;
                let own: Option<(i64,)> =
                    sqlx::query_as("SELECT id FROM documents WHERE uuid = $1 LIMIT 1")
                        .bind(&doc.uuid)
                        .fetch_optional(&mut *tx)
                        .await?;
                if own.is_some() {
                    return Ok(ExternalUpsert::Own);
                }
                let stored: Option<(String,)> =
                    sqlx::query_as("SELECT listing FROM external_documents WHERE uuid = $1")
                        .bind(&doc.uuid)
                        .fetch_optional(&mut *tx)
                        .await?;
                let outcome = match stored {
                    Some((old,)) if old == listing => ExternalUpsert::Unchanged,
                    Some(_) => {
                        sqlx::query(
                            "UPDATE external_documents SET submission_uid = $1, long_id = $2, \
                             internal_id = $3, issuer_tin = $4, issuer_name = $5, \
                             receiver_id = $6, receiver_name = $7, type_name = $8, \
                             type_version = $9, status = $10, issued_at = $11, \
                             received_at = $12, validated_at = $13, cancelled_at = $14, \
                             total_sales = $15, total_discount = $16, net_amount = $17, \
                             total = $18, submission_channel = $19, listing = $20, \
                             updated_at = $21 WHERE uuid = $22",
                        )
                        .bind(&doc.submission_uid)
                        .bind(&doc.long_id)
                        .bind(&doc.internal_id)
                        .bind(&doc.issuer_tin)
                        .bind(&doc.issuer_name)
                        .bind(&doc.receiver_id)
                        .bind(&doc.receiver_name)
                        .bind(&doc.type_name)
                        .bind(&doc.type_version)
                        .bind(&doc.status)
                        .bind(truncate(doc.issued_at))
                        .bind(truncate(doc.received_at))
                        .bind(doc.validated_at.map(truncate))
                        .bind(doc.cancelled_at.map(truncate))
                        .bind(&doc.total_sales)
                        .bind(&doc.total_discount)
                        .bind(&doc.net_amount)
                        .bind(&doc.total)
                        .bind(&doc.submission_channel)
                        .bind(&listing)
                        .bind(now)
                        .bind(&doc.uuid)
                        .execute(&mut *tx)
                        .await?;
                        ExternalUpsert::Updated
                    }
                    None => {
                        let inserted = sqlx::query(
                            "INSERT INTO external_documents (uuid, submission_uid, long_id, \
                             internal_id, issuer_tin, issuer_name, receiver_id, receiver_name, \
                             type_name, type_version, status, issued_at, received_at, \
                             validated_at, cancelled_at, total_sales, total_discount, \
                             net_amount, total, submission_channel, listing, first_seen_at, \
                             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $22) \
                             ON CONFLICT (uuid) DO NOTHING",
                        )
                        .bind(&doc.uuid)
                        .bind(&doc.submission_uid)
                        .bind(&doc.long_id)
                        .bind(&doc.internal_id)
                        .bind(&doc.issuer_tin)
                        .bind(&doc.issuer_name)
                        .bind(&doc.receiver_id)
                        .bind(&doc.receiver_name)
                        .bind(&doc.type_name)
                        .bind(&doc.type_version)
                        .bind(&doc.status)
                        .bind(truncate(doc.issued_at))
                        .bind(truncate(doc.received_at))
                        .bind(doc.validated_at.map(truncate))
                        .bind(doc.cancelled_at.map(truncate))
                        .bind(&doc.total_sales)
                        .bind(&doc.total_discount)
                        .bind(&doc.net_amount)
                        .bind(&doc.total)
                        .bind(&doc.submission_channel)
                        .bind(&listing)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        if inserted == 1 {
                            ExternalUpsert::Inserted
                        } else {
                            // Another backfill inserted it between our read and write.
                            ExternalUpsert::Unchanged
                        }
                    }
                };
                tx.commit().await?;
                Ok(outcome)
            }

            #[tracing::instrument(skip_all)]
            async fn list_external_documents(
                &self,
                after: i64,
                limit: u32,
            ) -> Result<Vec<$crate::store::ExternalDocumentRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, uuid, submission_uid, long_id, internal_id, issuer_tin, \
                     issuer_name, receiver_id, receiver_name, type_name, type_version, status, \
                     issued_at, received_at, validated_at, cancelled_at, total_sales, \
                     total_discount, net_amount, total, submission_channel, listing, \
                     first_seen_at, updated_at FROM external_documents WHERE id > $1 \
                     ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind(clamp_limit(limit, 100, 1_000))
                .fetch_all(&self.read)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    let listing: String = row.try_get("listing")?;
                    out.push($crate::store::ExternalDocumentRecord {
                        id: row.try_get("id")?,
                        document: $crate::store::ExternalDocument {
                            uuid: row.try_get("uuid")?,
                            submission_uid: row.try_get("submission_uid")?,
                            long_id: row.try_get("long_id")?,
                            internal_id: row.try_get("internal_id")?,
                            issuer_tin: row.try_get("issuer_tin")?,
                            issuer_name: row.try_get("issuer_name")?,
                            receiver_id: row.try_get("receiver_id")?,
                            receiver_name: row.try_get("receiver_name")?,
                            type_name: row.try_get("type_name")?,
                            type_version: row.try_get("type_version")?,
                            status: row.try_get("status")?,
                            issued_at: row.try_get("issued_at")?,
                            received_at: row.try_get("received_at")?,
                            validated_at: row.try_get("validated_at")?,
                            cancelled_at: row.try_get("cancelled_at")?,
                            total_sales: row.try_get("total_sales")?,
                            total_discount: row.try_get("total_discount")?,
                            net_amount: row.try_get("net_amount")?,
                            total: row.try_get("total")?,
                            submission_channel: row.try_get("submission_channel")?,
                            listing: serde_json::from_str(&listing)
                                .map_err(|e| corrupt("external listing", &e.to_string()))?,
                        },
                        first_seen_at: row.try_get("first_seen_at")?,
                        updated_at: row.try_get("updated_at")?,
                    });
                }
                Ok(out)
            }
        }
    };
}

pub(crate) use store_impl;
