//! Documents: intake, preparation, batching, and the status events every change writes.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use invois_clock::Clock;

use super::convert::{
    ROWS_PER_STATEMENT, clamp_limit, errors_from_db, errors_to_db, later, now, obo_from_db,
    obo_to_db, parse_state, truncate,
};
use super::dialect::{Conn, Sql};
use super::types::*;
use super::{Backend, Db, StoreError, sha256_hex};
use crate::document_errors::DocumentError;
use invois_api::submission::WireDocument;

/// The columns of `documents`, as [`DocRow`] reads them, with the document's bytes from
/// their own tables (see the migration `document_bytes`: a state change must not rewrite
/// them). Subqueries rather than a join, so the same list serves `SELECT … FROM documents`
/// and `UPDATE documents … RETURNING` alike.
pub(crate) const DOC_COLS: &str = "id, issuer_tin, type_code, internal_id, version, format, \
     client_id, on_behalf_of, \
     (SELECT bytes FROM document_received_bytes WHERE document_id = documents.id) AS received, \
     received_sha256, \
     (SELECT bytes FROM document_prepared_bytes WHERE document_id = documents.id) AS prepared, \
     document_hash, state, \
     submission_id, uuid, long_id, validation_link, errors, last_error, attempts, locked_by, \
     lease_until, created_at, updated_at, validated_at";

/// A `documents` row as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct DocRow {
    id: i64,
    issuer_tin: String,
    type_code: String,
    internal_id: String,
    version: i64,
    format: String,
    client_id: String,
    on_behalf_of: String,
    /// Only `None` in the statement that inserts the document, before its bytes are.
    received: Option<Vec<u8>>,
    received_sha256: String,
    prepared: Option<Vec<u8>>,
    document_hash: Option<String>,
    state: String,
    submission_id: Option<i64>,
    uuid: Option<String>,
    long_id: Option<String>,
    validation_link: Option<String>,
    errors: Option<String>,
    last_error: Option<String>,
    attempts: i64,
    locked_by: Option<String>,
    lease_until: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    validated_at: Option<DateTime<Utc>>,
}

impl TryFrom<DocRow> for DocumentRecord {
    type Error = StoreError;

    fn try_from(row: DocRow) -> Result<DocumentRecord, StoreError> {
        let format = parse_state(
            "document format",
            &row.format,
            DocumentFormat::from_lowercase,
        )?;
        Ok(DocumentRecord {
            id: DocumentId(row.id),
            issuer_tin: row.issuer_tin,
            type_code: row.type_code,
            internal_id: row.internal_id,
            version: row.version,
            format,
            client_id: row.client_id,
            on_behalf_of: obo_from_db(row.on_behalf_of),
            received: row.received.ok_or_else(|| {
                StoreError::Corrupt(format!("document {} has no received bytes", row.id))
            })?,
            received_sha256: row.received_sha256,
            prepared: row.prepared,
            document_hash: row.document_hash,
            state: parse_state("document state", &row.state, DocumentState::parse)?,
            submission_id: row.submission_id.map(SubmissionId),
            uuid: row.uuid,
            long_id: row.long_id,
            validation_link: row.validation_link,
            validated_at: row.validated_at,
            errors: errors_from_db(row.errors, format)?,
            last_error: row.last_error,
            attempts: row.attempts,
            locked_by: row.locked_by,
            lease_until: row.lease_until,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Converts rows into records.
pub(crate) fn records<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

/// A `document_events` row.
#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    id: i64,
    document_id: i64,
    state: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<EventRow> for DocumentEvent {
    type Error = StoreError;

    fn try_from(row: EventRow) -> Result<DocumentEvent, StoreError> {
        Ok(DocumentEvent {
            id: row.id,
            document_id: DocumentId(row.document_id),
            state: parse_state("document state", &row.state, DocumentState::parse)?,
            created_at: row.created_at,
        })
    }
}

const INSERT_DOCUMENT: &str = "INSERT INTO documents (issuer_tin, type_code, internal_id, \
     version, format, client_id, on_behalf_of, received_sha256, state, attempts, \
     created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'received', 0, $9, $9) \
     ON CONFLICT (issuer_tin, type_code, internal_id, version) DO NOTHING RETURNING ";

/// The documents repository (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Documents<'a> {
    pub(crate) db: &'a Db,
    pub(crate) clock: &'a Clock,
}

impl<'a> Documents<'a> {
    /// Stores a document version. Idempotent by (issuer TIN, type, internal id, version):
    /// a repeat with identical bytes returns the stored record with `created: false`; the
    /// same key with different bytes is a [`StoreError::Conflict`].
    #[tracing::instrument(skip_all)]
    pub async fn insert(&self, new: NewDocument) -> Result<Inserted, StoreError> {
        if new.version < 1 {
            return Err(StoreError::Conflict(format!(
                "document version must be at least 1, not {}",
                new.version
            )));
        }
        let now = now(self.clock);
        let sha = sha256_hex(&new.received);
        let obo = obo_to_db(&new.on_behalf_of);
        let fields = NewRow {
            issuer_tin: &new.issuer_tin,
            type_code: &new.type_code,
            internal_id: &new.internal_id,
            version: new.version,
            format: new.format,
            client_id: &new.client_id,
            on_behalf_of: &obo,
            received: &new.received,
            sha256: &sha,
        };
        let inserted = match self.db.backend() {
            Backend::Postgres => insert_row(&mut self.db.writer(), fields, now).await?,
            // Two statements on SQLite, so they need a transaction of their own.
            Backend::Sqlite => {
                let mut tx = self.db.begin().await?;
                let row = insert_row(&mut tx.conn(), fields, now).await?;
                tx.commit().await?;
                row
            }
        };
        if let Some(row) = inserted {
            return Ok(Inserted {
                document: row.try_into()?,
                created: true,
            });
        }
        let existing: Option<DocRow> = self
            .db
            .writer()
            .fetch_optional(
                Sql::new(format!(
                    "SELECT {DOC_COLS} FROM documents WHERE issuer_tin = $1 AND type_code = $2 \
                     AND internal_id = $3 AND version = $4"
                ))
                .bind(&new.issuer_tin)
                .bind(&new.type_code)
                .bind(&new.internal_id)
                .bind(new.version),
            )
            .await?;
        let Some(existing) = existing else {
            return Err(StoreError::Conflict(
                "the document key was taken and released concurrently; retry".to_owned(),
            ));
        };
        same_document(&new, &sha, existing.try_into()?)
    }

    /// Stores a corrected version (latest version + 1) of an existing document. Only allowed
    /// when the latest version is `invalid` or `rejected_locally`; repeating the same
    /// correction returns the version it created.
    #[tracing::instrument(skip_all)]
    pub async fn new_version(
        &self,
        key: &DocumentKey,
        format: DocumentFormat,
        received: Vec<u8>,
    ) -> Result<DocumentRecord, StoreError> {
        let now = now(self.clock);
        let sha = sha256_hex(&received);
        let mut tx = self.db.begin().await?;
        let Some(latest) = tx.conn().fetch_optional::<DocRow>(latest_sql(key)).await? else {
            return Err(StoreError::NotFound(format!(
                "document {}/{}/{}",
                key.issuer_tin, key.type_code, key.internal_id
            )));
        };
        let latest = DocumentRecord::try_from(latest)?;
        // A repeated correction request finds the version it created.
        if latest.version > 1 && latest.received_sha256 == sha && latest.format == format {
            return Ok(latest);
        }
        if !latest.state.allows_new_version() {
            return Err(StoreError::StaleTransition {
                what: "document",
                id: latest.id.0,
                actual: latest.state.to_string(),
                action: "take a new version (only invalid or locally rejected documents can \
                         be corrected)",
            });
        }
        let obo = obo_to_db(&latest.on_behalf_of);
        let fields = NewRow {
            issuer_tin: &key.issuer_tin,
            type_code: &key.type_code,
            internal_id: &key.internal_id,
            version: latest.version + 1,
            format,
            client_id: &latest.client_id,
            on_behalf_of: &obo,
            received: &received,
            sha256: &sha,
        };
        let row = insert_row(&mut tx.conn(), fields, now).await?;
        let Some(row) = row else {
            return Err(StoreError::Conflict(format!(
                "version {} of {}/{}/{} was created concurrently",
                latest.version + 1,
                key.issuer_tin,
                key.type_code,
                key.internal_id
            )));
        };
        let doc = row.try_into()?;
        tx.commit().await?;
        Ok(doc)
    }

    /// One document version by id.
    #[tracing::instrument(skip_all)]
    pub async fn get(&self, id: DocumentId) -> Result<DocumentRecord, StoreError> {
        let sql = Sql::new(format!("SELECT {DOC_COLS} FROM documents WHERE id = $1")).bind(id.0);
        match self.db.reader().fetch_optional::<DocRow>(sql).await? {
            Some(row) => row.try_into(),
            None => Err(StoreError::NotFound(format!("document {id}"))),
        }
    }

    /// The latest version of a document, if any.
    #[tracing::instrument(skip_all)]
    pub async fn find(&self, key: &DocumentKey) -> Result<Option<DocumentRecord>, StoreError> {
        let row: Option<DocRow> = self.db.reader().fetch_optional(latest_sql(key)).await?;
        row.map(DocumentRecord::try_from).transpose()
    }

    /// One version of a document, if stored.
    #[tracing::instrument(skip_all)]
    pub async fn version(
        &self,
        key: &DocumentKey,
        version: i64,
    ) -> Result<Option<DocumentRecord>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {DOC_COLS} FROM documents WHERE issuer_tin = $1 AND type_code = $2 \
             AND internal_id = $3 AND version = $4"
        ))
        .bind(&key.issuer_tin)
        .bind(&key.type_code)
        .bind(&key.internal_id)
        .bind(version);
        let row: Option<DocRow> = self.db.writer().fetch_optional(sql).await?;
        row.map(DocumentRecord::try_from).transpose()
    }

    /// Records when MyInvois validated documents (`dateTimeValidated`), by uuid, for those
    /// that have no time yet; returns how many took one. A separate write from the state
    /// change, because a document's validation time may be learnt later than its state (an
    /// older row, or a summary that lacked it), and is then asked of MyInvois once.
    #[tracing::instrument(skip_all)]
    pub async fn record_validated_at(
        &self,
        times: &[(String, DateTime<Utc>)],
    ) -> Result<u64, StoreError> {
        let mut changed = 0;
        for chunk in times.chunks(ROWS_PER_STATEMENT) {
            let mut sql = Sql::new("UPDATE documents SET validated_at = CASE uuid");
            for (uuid, at) in chunk {
                sql.push(" WHEN ")
                    .push_bind(uuid.as_str())
                    .push(" THEN ")
                    .push_bind(truncate(*at));
            }
            sql.push(" END WHERE validated_at IS NULL AND uuid IN ")
                .push_list(chunk.iter().map(|(uuid, _)| uuid.as_str()));
            changed += self.db.writer().execute(sql).await?;
        }
        Ok(changed)
    }

    /// Every version of a document, oldest first; empty when the key is unknown. (The ERP
    /// API's `GET .../versions`: one indexed read, never a scan of the issuer's documents.)
    #[tracing::instrument(skip_all)]
    pub async fn versions(&self, key: &DocumentKey) -> Result<Vec<DocumentRecord>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {DOC_COLS} FROM documents WHERE issuer_tin = $1 AND type_code = $2 \
             AND internal_id = $3 ORDER BY version"
        ))
        .bind(&key.issuer_tin)
        .bind(&key.type_code)
        .bind(&key.internal_id);
        records::<DocRow, _>(self.db.reader().fetch_all(sql).await?)
    }

    /// How many document versions are in each state (states with none are left out). Reads
    /// the counts the database's triggers keep (a few rows), never the documents themselves,
    /// so it costs the same with a million queued as with ten.
    #[tracing::instrument(skip_all)]
    pub async fn count_by_state(&self) -> Result<BTreeMap<DocumentState, u64>, StoreError> {
        let sql = Sql::new(
            "SELECT state, CAST(SUM(n) AS BIGINT) AS n FROM document_state_counts \
             GROUP BY state",
        );
        let rows: Vec<(String, i64)> = self.db.reader().fetch_all(sql).await?;
        let mut counts = BTreeMap::new();
        for (state, n) in rows {
            let state = parse_state("document state", &state, DocumentState::parse)?;
            if n > 0 {
                counts.insert(state, u64::try_from(n).unwrap_or(0));
            }
        }
        Ok(counts)
    }

    /// Folds the count rows (documents per state, events per day and state, webhook
    /// deliveries per state) into one row per key, once there are more than a few. On
    /// PostgreSQL every statement that changes documents or deliveries or writes events
    /// appends its net change as rows (so that concurrent writers never wait on a shared
    /// counter); this keeps what [`Documents::count_by_state`], [`Documents::changes_by_day`]
    /// and [`super::Outbox::count_by_state`] sum small. One statement per table, so a count read
    /// alongside sees the rows before or after, never half. SQLite keeps one row per key
    /// already.
    #[tracing::instrument(skip_all)]
    pub(crate) async fn fold_counts(&self) -> Result<(), StoreError> {
        if self.db.backend() != super::Backend::Postgres {
            return Ok(());
        }
        for (table, key) in [
            ("document_state_counts", "state"),
            ("document_event_days", "day, state"),
            ("webhook_delivery_counts", "state"),
        ] {
            let rows = Sql::new(format!(
                "SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM {table} LIMIT 257) r"
            ));
            let (n,): (i64,) = self.db.reader().fetch_one(rows).await?;
            if n <= 256 {
                continue;
            }
            let fold = Sql::new(format!(
                "WITH gone AS (DELETE FROM {table} RETURNING {key}, n) \
                 INSERT INTO {table} ({key}, n) \
                 SELECT {key}, SUM(n) FROM gone GROUP BY {key} HAVING SUM(n) <> 0"
            ));
            self.db.writer().execute(fold).await?;
        }
        Ok(())
    }

    /// Documents matching a filter, in id order. Only the filters given are in the
    /// statement, so each can use its index (state, issuer, internal id, uuid: each with the
    /// id order the page is read in): a generic `($1 IS NULL OR state = $1)` form cannot,
    /// and with a million rows queued a filter that matches few of them read them all.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self, filter: &DocumentFilter) -> Result<Page<DocumentRecord>, StoreError> {
        let limit = clamp_limit(filter.limit, 100, 1000);
        let mut sql = Sql::new(format!("SELECT {DOC_COLS} FROM documents WHERE id > "));
        sql.push_bind(filter.after.map_or(0, |a| a.0));
        if let Some(state) = filter.state {
            sql.push(" AND state = ").push_bind(state.as_str());
        }
        if let Some(tin) = filter.issuer_tin.as_deref() {
            sql.push(" AND issuer_tin = ").push_bind(tin);
        }
        if let Some(from) = filter.received_from {
            sql.push(" AND created_at >= ").push_bind(truncate(from));
        }
        if let Some(before) = filter.received_before {
            sql.push(" AND created_at < ").push_bind(truncate(before));
        }
        if let Some(id) = filter.internal_id.as_deref() {
            sql.push(" AND internal_id = ").push_bind(id);
        }
        if let Some(uuid) = filter.uuid.as_deref() {
            sql.push(" AND uuid = ").push_bind(uuid);
        }
        sql.push(" ORDER BY id LIMIT ").push_bind(limit + 1);
        let mut items = records::<DocRow, DocumentRecord>(self.db.reader().fetch_all(sql).await?)?;
        let next = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|d| d.id)
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// Status changes counted per UTC day and state, from `since`'s day on (the dashboard's
    /// chart). Reads the per-day counts the database's triggers keep as events are written
    /// (a few rows a day), not the events, so a drained backlog costs nothing here.
    #[tracing::instrument(skip_all)]
    pub async fn changes_by_day(
        &self,
        since: DateTime<Utc>,
    ) -> Result<BTreeMap<chrono::NaiveDate, BTreeMap<DocumentState, u64>>, StoreError> {
        let sql = Sql::new(
            "SELECT day, state, CAST(SUM(n) AS BIGINT) AS n FROM document_event_days \
             WHERE day >= $1 GROUP BY day, state",
        )
        .bind(since.date_naive().format("%Y-%m-%d").to_string());
        let rows: Vec<(String, String, i64)> = self.db.reader().fetch_all(sql).await?;
        let mut days: BTreeMap<chrono::NaiveDate, BTreeMap<DocumentState, u64>> = BTreeMap::new();
        for (day, state, n) in rows {
            let day = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                .map_err(|e| StoreError::Corrupt(format!("event day {day:?}: {e}")))?;
            let state = parse_state("document state", &state, DocumentState::parse)?;
            if n > 0 {
                days.entry(day)
                    .or_default()
                    .insert(state, u64::try_from(n).unwrap_or(0));
            }
        }
        Ok(days)
    }

    /// The newest document versions, newest first (at most `limit`, capped at 1,000).
    #[tracing::instrument(skip_all)]
    pub async fn recent(&self, limit: u32) -> Result<Vec<DocumentRecord>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {DOC_COLS} FROM documents ORDER BY id DESC LIMIT $1"
        ))
        .bind(clamp_limit(limit, 100, 1_000));
        records::<DocRow, _>(self.db.reader().fetch_all(sql).await?)
    }

    /// Claims up to `limit` received documents for preparation (or whose previous preparer's
    /// lease expired).
    #[tracing::instrument(skip_all)]
    pub async fn claim_received(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<DocumentRecord>, StoreError> {
        let now = now(self.clock);
        // Most calls find nothing to claim; a read says so without queueing for the writer
        // (SQLite's single write connection is the store's bottleneck).
        let any = Sql::new(
            "SELECT 1 AS one FROM documents WHERE state = 'received' \
             AND (locked_by IS NULL OR lease_until < $1) LIMIT 1",
        )
        .bind(now);
        if !self.db.reader().exists(any).await? {
            return Ok(Vec::new());
        }
        let mut writer = self.db.writer();
        let sql = Sql::new(format!(
            "UPDATE documents SET locked_by = $1, lease_until = $2, attempts = attempts + 1, \
             updated_at = $3 WHERE state = 'received' AND id IN (SELECT id FROM documents \
             WHERE state = 'received' AND (locked_by IS NULL OR lease_until < $3) \
             ORDER BY id LIMIT $4{}) RETURNING {DOC_COLS}",
            writer.claim_lock()
        ))
        .bind(worker)
        .bind(later(now, lease))
        .bind(now)
        .bind(clamp_limit(limit, 1, 10_000));
        let mut docs = records::<DocRow, DocumentRecord>(writer.fetch_all(sql).await?)?;
        docs.sort_by_key(|d| d.id);
        Ok(docs)
    }

    /// received → prepared, by the worker holding it (one document of
    /// [`Documents::mark_prepared_many`]).
    #[tracing::instrument(skip_all)]
    pub async fn mark_prepared(
        &self,
        id: DocumentId,
        worker: &str,
        prepared: &WireDocument,
    ) -> Result<DocumentRecord, StoreError> {
        let mut results = self.mark_prepared_many(worker, &[(id, prepared)]).await?;
        match results.pop() {
            Some(Ok(())) => self.get(id).await,
            Some(Err(e)) => Err(e),
            None => Err(StoreError::Corrupt(format!(
                "recording document {id} as prepared gave no result"
            ))),
        }
    }

    /// failed | rejected_locally → received: the same document goes through preparation and
    /// submission again (after its cause was fixed). MyInvois never took it, so sending it
    /// again cannot duplicate it.
    #[tracing::instrument(skip_all)]
    pub async fn retry(&self, id: DocumentId) -> Result<DocumentRecord, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let forget = Sql::new(
            "DELETE FROM document_prepared_bytes WHERE document_id = (SELECT id FROM documents \
             WHERE id = $1 AND state IN ('failed', 'rejected_locally'))",
        )
        .bind(id.0);
        tx.conn().execute(forget).await?;
        let sql = Sql::new(format!(
            "UPDATE documents SET state = 'received', prepared_size = NULL, \
             document_hash = NULL, submission_id = NULL, errors = NULL, last_error = NULL, \
             locked_by = NULL, lease_until = NULL, updated_at = $1 \
             WHERE id = $2 AND state IN ('failed', 'rejected_locally') RETURNING {DOC_COLS}"
        ))
        .bind(now)
        .bind(id.0);
        match tx.conn().fetch_optional::<DocRow>(sql).await? {
            Some(row) => {
                let doc = row.try_into()?;
                tx.commit().await?;
                Ok(doc)
            }
            None => {
                drop(tx);
                let doc = self.get(id).await?;
                Err(StoreError::StaleTransition {
                    what: "document",
                    id: id.0,
                    actual: doc.state.to_string(),
                    action: "be retried (only failed or locally rejected documents can be)",
                })
            }
        }
    }

    /// received → rejected_locally, by the worker holding it.
    #[tracing::instrument(skip_all)]
    pub async fn mark_rejected_locally(
        &self,
        id: DocumentId,
        worker: &str,
        errors: &[DocumentError],
    ) -> Result<DocumentRecord, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let sql = Sql::new(format!(
            "UPDATE documents SET state = 'rejected_locally', errors = $1, locked_by = NULL, \
             lease_until = NULL, updated_at = $2 \
             WHERE id = $3 AND state = 'received' AND locked_by = $4 RETURNING {DOC_COLS}"
        ))
        .bind(errors_to_db(errors))
        .bind(now)
        .bind(id.0)
        .bind(worker);
        match tx.conn().fetch_optional::<DocRow>(sql).await? {
            Some(row) => {
                emit_events(
                    &mut tx.conn(),
                    &[(id.0, DocumentState::RejectedLocally)],
                    now,
                )
                .await?;
                tx.commit().await?;
                row.try_into()
            }
            None => {
                drop(tx);
                Err(self
                    .explain(
                        id,
                        DocumentState::Received,
                        Some(worker),
                        "be rejected locally",
                    )
                    .await)
            }
        }
    }

    /// Claims prepared documents sharing one (client id, onbehalfof): at most `limit`, and
    /// at most `max_bytes` of prepared bytes (but always at least one document). Returns
    /// `None` when nothing is prepared.
    #[tracing::instrument(skip_all)]
    pub async fn claim_for_batch(
        &self,
        worker: &str,
        limit: u32,
        max_bytes: u64,
        lease: Duration,
    ) -> Result<Option<Batch>, StoreError> {
        let now = now(self.clock);
        let limit = clamp_limit(limit, 100, 10_000);
        let mut tx = self.db.begin().await?;
        let lock = tx.conn().claim_lock();
        // The oldest prepared document picks the (client id, onbehalfof) group.
        let group: Option<(String, String)> = tx
            .conn()
            .fetch_optional(Sql::new(format!(
                "SELECT client_id, on_behalf_of FROM documents WHERE state = 'prepared' \
                 ORDER BY id LIMIT 1{lock}"
            )))
            .await?;
        let Some((client_id, obo)) = group else {
            return Ok(None);
        };
        let candidates: Vec<(i64, Option<i64>)> = tx
            .conn()
            .fetch_all(
                Sql::new(format!(
                    "SELECT id, prepared_size FROM documents WHERE state = 'prepared' \
                     AND client_id = $1 AND on_behalf_of = $2 ORDER BY id LIMIT $3{lock}"
                ))
                .bind(&client_id)
                .bind(&obo)
                .bind(limit),
            )
            .await?;
        let ids = fit_batch(&candidates, max_bytes);
        if ids.is_empty() {
            return Ok(None);
        }
        // One statement for the whole batch (`limit` is at most 10,000 ids, within both
        // databases' bind limits).
        let mut sql = Sql::new("UPDATE documents SET state = 'batched', locked_by = ");
        sql.push_bind(worker)
            .push(", lease_until = ")
            .push_bind(later(now, lease))
            .push(", updated_at = ")
            .push_bind(now)
            .push(" WHERE state = 'prepared' AND id IN ")
            .push_list(ids)
            .push(" RETURNING ")
            .push(DOC_COLS);
        let mut documents = records::<DocRow, DocumentRecord>(tx.conn().fetch_all(sql).await?)?;
        documents.sort_by_key(|d| d.id);
        tx.commit().await?;
        if documents.is_empty() {
            return Ok(None);
        }
        Ok(Some(Batch {
            client_id,
            on_behalf_of: obo_from_db(obo),
            documents,
        }))
    }

    /// Status events with ids greater than `after`, oldest first (the webhook relay's feed).
    #[tracing::instrument(skip_all)]
    pub async fn events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<DocumentEvent>, StoreError> {
        let sql = Sql::new(
            "SELECT id, document_id, state, created_at FROM document_events \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(clamp_limit(limit, 100, 10_000));
        records::<EventRow, _>(self.db.reader().fetch_all(sql).await?)
    }

    /// One document's status events, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn events(&self, id: DocumentId) -> Result<Vec<DocumentEvent>, StoreError> {
        let sql = Sql::new(
            "SELECT id, document_id, state, created_at FROM document_events \
             WHERE document_id = $1 ORDER BY id",
        )
        .bind(id.0);
        records::<EventRow, _>(self.db.reader().fetch_all(sql).await?)
    }

    /// Why a guarded document update matched nothing.
    pub(crate) async fn explain(
        &self,
        id: DocumentId,
        expected: DocumentState,
        worker: Option<&str>,
        action: &'static str,
    ) -> StoreError {
        match self.get(id).await {
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
                    "document {id} cannot {action} (it belongs to another submission or client)"
                )),
            },
        }
    }
}

/// What [`insert_row`] stores.
struct NewRow<'a> {
    issuer_tin: &'a str,
    type_code: &'a str,
    internal_id: &'a str,
    version: i64,
    format: DocumentFormat,
    client_id: &'a str,
    on_behalf_of: &'a str,
    received: &'a [u8],
    sha256: &'a str,
}

/// Inserts a document version and its received bytes; `None` when the version exists
/// already. On PostgreSQL one statement (a data-modifying CTE), so intake stays one round
/// trip; on SQLite two, and `conn` must be a transaction's.
async fn insert_row(
    conn: &mut Conn<'_>,
    new: NewRow<'_>,
    now: DateTime<Utc>,
) -> Result<Option<DocRow>, StoreError> {
    let text = if conn.is_postgres() {
        // `inserted AS documents`: `DOC_COLS` reads the bytes by `documents.id`.
        format!(
            "WITH inserted AS ({INSERT_DOCUMENT}*), bytes AS (INSERT INTO \
             document_received_bytes (document_id, bytes) SELECT id, $10 FROM inserted) \
             SELECT {DOC_COLS} FROM inserted AS documents"
        )
    } else {
        format!("{INSERT_DOCUMENT}{DOC_COLS}")
    };
    let mut sql = Sql::new(text)
        .bind(new.issuer_tin)
        .bind(new.type_code)
        .bind(new.internal_id)
        .bind(new.version)
        .bind(new.format.as_lowercase())
        .bind(new.client_id)
        .bind(new.on_behalf_of)
        .bind(new.sha256)
        .bind(now);
    if conn.is_postgres() {
        sql = sql.bind(new.received);
    }
    let Some(mut row) = conn.fetch_optional::<DocRow>(sql).await? else {
        return Ok(None);
    };
    if !conn.is_postgres() {
        let bytes =
            Sql::new("INSERT INTO document_received_bytes (document_id, bytes) VALUES ($1, $2)")
                .bind(row.id)
                .bind(new.received);
        conn.execute(bytes).await?;
    }
    // Either way the row was read before its bytes were visible to a read.
    row.received = Some(new.received.to_vec());
    Ok(Some(row))
}

/// The latest version of a document.
fn latest_sql(key: &DocumentKey) -> Sql<'_> {
    Sql::new(format!(
        "SELECT {DOC_COLS} FROM documents WHERE issuer_tin = $1 AND type_code = $2 \
         AND internal_id = $3 ORDER BY version DESC LIMIT 1"
    ))
    .bind(&key.issuer_tin)
    .bind(&key.type_code)
    .bind(&key.internal_id)
}

/// A repeated insert is the same document, or a conflict naming what differs.
fn same_document(
    new: &NewDocument,
    sha: &str,
    existing: DocumentRecord,
) -> Result<Inserted, StoreError> {
    if existing.received_sha256 != sha || existing.received != new.received {
        return Err(StoreError::Conflict(format!(
            "document {}/{}/{} version {} was already received with different content; send \
             a correction as a new version",
            new.issuer_tin, new.type_code, new.internal_id, new.version
        )));
    }
    if existing.format != new.format
        || existing.client_id != new.client_id
        || existing.on_behalf_of != new.on_behalf_of.clone().filter(|o| !o.is_empty())
    {
        return Err(StoreError::Conflict(format!(
            "document {}/{}/{} version {} was already received with a different format, \
             client id or onbehalfof",
            new.issuer_tin, new.type_code, new.internal_id, new.version
        )));
    }
    Ok(Inserted {
        document: existing,
        created: false,
    })
}

/// The candidates (id, prepared size) that fit in `max_bytes`, in order; always the first,
/// so one large document cannot stall the queue.
fn fit_batch(candidates: &[(i64, Option<i64>)], max_bytes: u64) -> Vec<i64> {
    let mut ids = Vec::with_capacity(candidates.len());
    let mut total: u64 = 0;
    for (id, size) in candidates {
        let size = u64::try_from(size.unwrap_or(0)).unwrap_or(0);
        if !ids.is_empty() && total.saturating_add(size) > max_bytes {
            break;
        }
        total = total.saturating_add(size);
        ids.push(*id);
    }
    ids
}

/// Appends one status event per document (in a few multi-row statements), inside the
/// transaction that made the change, so the webhook relay can never miss (or invent) one.
pub(crate) async fn emit_events(
    conn: &mut Conn<'_>,
    events: &[(i64, DocumentState)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let mut sql =
            Sql::new("INSERT INTO document_events (document_id, state, created_at) VALUES ");
        for (i, (id, state)) in chunk.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" })
                .push_bind(*id)
                .push(", ")
                .push_bind(state.as_str())
                .push(", ")
                .push_bind(now)
                .push(")");
        }
        conn.execute(sql).await?;
    }
    Ok(())
}
