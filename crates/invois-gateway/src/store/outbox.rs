//! The webhook outbox: deliveries, their leases and retries, the delivery log, and the relay
//! that turns status events into deliveries. What a delivery says is the webhooks module's
//! business: the relay takes it as an [`Announce`] function and only stores the result.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use invois_clock::Clock;
use serde_json::Value;

use super::convert::{clamp_limit, json_from_db, later, now, parse_state};
use super::dialect::Sql;
use super::documents::{DOC_COLS, DocRow, EventRow, records};
use super::types::*;
use super::{Db, StoreError, WebhookFilter, WebhookLogEntry};

/// The columns of `webhook_deliveries`, as [`HookRow`] reads them.
const HOOK_COLS: &str = "id, document_id, event, payload, state, attempts, max_attempts, \
     next_attempt_at, locked_by, lease_until, last_error, created_at, updated_at, event_id, \
     replay_of";

/// A `webhook_deliveries` row as stored.
#[derive(sqlx::FromRow)]
struct HookRow {
    id: i64,
    document_id: Option<i64>,
    event: String,
    payload: String,
    state: String,
    attempts: i64,
    max_attempts: i64,
    next_attempt_at: DateTime<Utc>,
    locked_by: Option<String>,
    lease_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    event_id: Option<i64>,
    replay_of: Option<i64>,
}

impl TryFrom<HookRow> for WebhookLogEntry {
    type Error = StoreError;

    fn try_from(row: HookRow) -> Result<WebhookLogEntry, StoreError> {
        Ok(WebhookLogEntry {
            delivery: WebhookDelivery {
                id: WebhookId(row.id),
                document_id: row.document_id.map(DocumentId),
                event: row.event,
                payload: json_from_db("webhook payload", &row.payload)?,
                state: parse_state("webhook state", &row.state, WebhookState::parse)?,
                attempts: row.attempts,
                max_attempts: row.max_attempts,
                next_attempt_at: row.next_attempt_at,
                locked_by: row.locked_by,
                lease_until: row.lease_until,
                last_error: row.last_error,
                created_at: row.created_at,
                updated_at: row.updated_at,
            },
            event_id: row.event_id,
            replay_of: row.replay_of.map(WebhookId),
        })
    }
}

impl TryFrom<HookRow> for WebhookDelivery {
    type Error = StoreError;

    fn try_from(row: HookRow) -> Result<WebhookDelivery, StoreError> {
        Ok(WebhookLogEntry::try_from(row)?.delivery)
    }
}

/// What a status event's delivery announces: its event name and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    /// The event name (`document.valid`, ...).
    pub event: String,
    /// The body POSTed to the ERP.
    pub payload: Value,
}

/// Builds the delivery for one status event of one document (see
/// [`crate::webhooks::announce`]).
pub type Announce = dyn Fn(&DocumentEvent, &DocumentRecord) -> Announcement + Send + Sync;

/// The statement adding `new` to the outbox, due at `now`; also run inside other
/// repositories' transactions, so a change and its announcement commit together.
pub(super) fn enqueue_sql(new: &NewWebhook, now: DateTime<Utc>) -> Sql<'_> {
    Sql::new(format!(
        "INSERT INTO webhook_deliveries (document_id, event, payload, state, attempts, \
         max_attempts, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 'pending', 0, $4, $5, $5, $5) RETURNING {HOOK_COLS}"
    ))
    .bind(new.document_id.map(|d| d.0))
    .bind(&new.event)
    .bind(new.payload.to_string())
    .bind(new.max_attempts.max(1))
    .bind(now)
}

/// The webhook outbox repository (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Outbox<'a> {
    pub(crate) db: &'a Db,
    pub(crate) clock: &'a Clock,
}

impl Outbox<'_> {
    /// Adds a delivery to the outbox, due now.
    #[tracing::instrument(skip_all)]
    pub async fn enqueue(&self, new: NewWebhook) -> Result<WebhookDelivery, StoreError> {
        let sql = enqueue_sql(&new, now(self.clock));
        self.db.writer().fetch_one::<HookRow>(sql).await?.try_into()
    }

    /// Claims due deliveries (and ones whose deliverer's lease expired).
    #[tracing::instrument(skip_all)]
    pub async fn claim(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let now = now(self.clock);
        let mut writer = self.db.writer();
        let sql = Sql::new(format!(
            "UPDATE webhook_deliveries SET state = 'delivering', locked_by = $1, \
             lease_until = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE state IN ('pending', 'delivering') AND id IN (SELECT id \
             FROM webhook_deliveries WHERE (state = 'pending' AND next_attempt_at <= $3) \
             OR (state = 'delivering' AND lease_until < $3) \
             ORDER BY next_attempt_at, id LIMIT $4{}) RETURNING {HOOK_COLS}",
            writer.claim_lock()
        ))
        .bind(worker)
        .bind(later(now, lease))
        .bind(now)
        .bind(clamp_limit(limit, 1, 10_000));
        let mut hooks: Vec<WebhookDelivery> = records::<HookRow, _>(writer.fetch_all(sql).await?)?;
        hooks.sort_by_key(|h| h.id);
        Ok(hooks)
    }

    /// delivering → delivered, by the worker holding it.
    #[tracing::instrument(skip_all)]
    pub async fn ack(&self, id: WebhookId, worker: &str) -> Result<WebhookDelivery, StoreError> {
        self.ack_many(&[id], worker)
            .await?
            .pop()
            .ok_or_else(|| lease_lost(id, worker))
    }

    /// delivering → delivered for each of `ids` the worker still holds, in one statement:
    /// a pass acknowledges its whole batch with one commit (one fsync on SQLite) instead of
    /// one per delivery. Returns the deliveries acknowledged, by id; an id missing from it
    /// was taken over by another worker after this one's lease ran out.
    #[tracing::instrument(skip_all, fields(deliveries = ids.len()))]
    pub async fn ack_many(
        &self,
        ids: &[WebhookId],
        worker: &str,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let mut acked = Vec::with_capacity(ids.len());
        // Well under both databases' limits on bound parameters.
        for chunk in ids.chunks(500) {
            let mut sql = Sql::new(
                "UPDATE webhook_deliveries SET state = 'delivered', locked_by = NULL, \
                 lease_until = NULL, last_error = NULL, updated_at = $1 \
                 WHERE state = 'delivering' AND locked_by = $2 AND id IN ",
            )
            .bind(now(self.clock))
            .bind(worker);
            sql.push_list(chunk.iter().map(|id| id.0));
            sql.push(&format!(" RETURNING {HOOK_COLS}"));
            acked.extend(records::<HookRow, WebhookDelivery>(
                self.db.writer().fetch_all(sql).await?,
            )?);
        }
        acked.sort_by_key(|h| h.id);
        Ok(acked)
    }

    /// delivering → pending after [`webhook_backoff`], or → dead after `max_attempts`.
    #[tracing::instrument(skip_all)]
    pub async fn retry(
        &self,
        id: WebhookId,
        worker: &str,
        error: &str,
    ) -> Result<WebhookDelivery, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let sql = Sql::new(format!(
            "SELECT {HOOK_COLS} FROM webhook_deliveries WHERE id = $1"
        ))
        .bind(id.0);
        let Some(row) = tx.conn().fetch_optional::<HookRow>(sql).await? else {
            return Err(StoreError::NotFound(format!("webhook delivery {id}")));
        };
        let hook = WebhookDelivery::try_from(row)?;
        if hook.state != WebhookState::Delivering || hook.locked_by.as_deref() != Some(worker) {
            return Err(lease_lost(id, worker));
        }
        let (state, next) = if hook.attempts >= hook.max_attempts {
            (WebhookState::Dead, hook.next_attempt_at)
        } else {
            (
                WebhookState::Pending,
                later(now, webhook_backoff(hook.attempts)),
            )
        };
        let sql = Sql::new(format!(
            "UPDATE webhook_deliveries SET state = $1, next_attempt_at = $2, last_error = $3, \
             locked_by = NULL, lease_until = NULL, updated_at = $4 \
             WHERE id = $5 AND state = 'delivering' AND locked_by = $6 RETURNING {HOOK_COLS}"
        ))
        .bind(state.as_str())
        .bind(next)
        .bind(error)
        .bind(now)
        .bind(id.0)
        .bind(worker);
        let Some(row) = tx.conn().fetch_optional::<HookRow>(sql).await? else {
            return Err(lease_lost(id, worker));
        };
        let hook = row.try_into()?;
        tx.commit().await?;
        Ok(hook)
    }

    /// Turns up to `limit` status events not yet relayed into pending deliveries (each as
    /// `announce` describes it), oldest first, each giving up after `max_attempts`. Marking
    /// the events and inserting their deliveries is one transaction that first locks the
    /// relay row, so each event gets exactly one delivery even when several gateway instances
    /// relay at once. Returns how many were relayed.
    #[tracing::instrument(skip_all)]
    pub async fn relay(
        &self,
        limit: u32,
        max_attempts: i64,
        announce: &Announce,
    ) -> Result<u64, StoreError> {
        // A cheap read first: an idle relay polls often, and should not take the write lock
        // (SQLite) or write the relay row (PostgreSQL) when there is nothing to do. An event
        // committed after this read is relayed by the next pass.
        let pending = Sql::new("SELECT id FROM document_events WHERE relayed_at IS NULL LIMIT 1");
        if !self.db.reader().exists(pending).await? {
            return Ok(0);
        }
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        // Lock the relay row first. On PostgreSQL a second relay waits here until this
        // transaction commits, and its next statement (READ COMMITTED: a new snapshot) then
        // sees these events as relayed. On SQLite `BEGIN IMMEDIATE` already serialises
        // writers.
        let lock = Sql::new("UPDATE webhook_relay SET updated_at = $1 WHERE id = 1").bind(now);
        tx.conn().execute(lock).await?;
        let sql = Sql::new(
            "SELECT id, document_id, state, created_at FROM document_events \
             WHERE relayed_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(clamp_limit(limit, 100, 10_000));
        let events: Vec<DocumentEvent> = records::<EventRow, _>(tx.conn().fetch_all(sql).await?)?;
        // Set-wise: one read of the events' documents, one multi-row insert of their
        // deliveries and one update marking them relayed per chunk, not three statements per
        // event (each a round trip to SQLite's worker thread).
        let mut last = 0_i64;
        for chunk in events.chunks(RELAY_ROWS_PER_STATEMENT) {
            let documents = relay_documents(&mut tx, chunk).await?;
            let mut insert = Sql::new(
                "INSERT INTO webhook_deliveries (document_id, event, payload, state, attempts, \
                 max_attempts, next_attempt_at, created_at, updated_at, event_id) VALUES ",
            );
            for (i, event) in chunk.iter().enumerate() {
                let doc_id = event.document_id.0;
                let doc = documents.get(&doc_id).ok_or_else(|| {
                    StoreError::Corrupt(format!("status event {} names no document", event.id))
                })?;
                let Announcement {
                    event: name,
                    payload,
                } = announce(event, doc);
                insert.push(if i == 0 { "(" } else { ", (" });
                insert.push_bind(doc_id).push(", ");
                insert.push_bind(name).push(", ");
                insert
                    .push_bind(payload.to_string())
                    .push(", 'pending', 0, ");
                insert.push_bind(max_attempts.max(1)).push(", ");
                insert.push_bind(now).push(", ");
                insert.push_bind(now).push(", ");
                insert.push_bind(now).push(", ");
                insert.push_bind(event.id).push(")");
                last = last.max(event.id);
            }
            tx.conn().execute(insert).await?;
            let mut mark = Sql::new("UPDATE document_events SET relayed_at = ");
            mark.push_bind(now)
                .push(" WHERE id IN ")
                .push_list(chunk.iter().map(|e| e.id));
            tx.conn().execute(mark).await?;
        }
        let relayed = events.len() as i64;
        if relayed > 0 {
            let tally = Sql::new(
                "UPDATE webhook_relay SET events_relayed = events_relayed + $1, \
                 last_event_id = CASE WHEN last_event_id < $2 THEN $2 ELSE last_event_id END \
                 WHERE id = 1",
            )
            .bind(relayed)
            .bind(last);
            tx.conn().execute(tally).await?;
        }
        tx.commit().await?;
        Ok(u64::try_from(relayed).unwrap_or(0))
    }

    /// The delivery log, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self, filter: &WebhookFilter) -> Result<Vec<WebhookLogEntry>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {HOOK_COLS} FROM webhook_deliveries \
             WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR document_id = $2) \
             AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        ))
        .bind(filter.state.map(|s| s.as_str()))
        .bind(filter.document_id.map(|d| d.0))
        .bind(filter.before.map(|w| w.0))
        .bind(clamp_limit(filter.limit, 100, 1_000));
        records::<HookRow, _>(self.db.reader().fetch_all(sql).await?)
    }

    /// One delivery by id.
    #[tracing::instrument(skip_all)]
    pub async fn get(&self, id: WebhookId) -> Result<WebhookLogEntry, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {HOOK_COLS} FROM webhook_deliveries WHERE id = $1"
        ))
        .bind(id.0);
        match self.db.reader().fetch_optional::<HookRow>(sql).await? {
            Some(row) => row.try_into(),
            None => Err(StoreError::NotFound(format!("webhook delivery {id}"))),
        }
    }

    /// Replays a `delivered` or `dead` delivery: a NEW pending delivery, due now, with the
    /// same document, event, payload and attempt limit, and `replay_of` naming the original
    /// (which keeps its own history). A pending or in-flight delivery is a
    /// [`StoreError::Conflict`]: it will be delivered anyway.
    #[tracing::instrument(skip_all)]
    pub async fn replay(&self, id: WebhookId) -> Result<WebhookLogEntry, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let sql = Sql::new(format!(
            "SELECT {HOOK_COLS} FROM webhook_deliveries WHERE id = $1"
        ))
        .bind(id.0);
        let Some(row) = tx.conn().fetch_optional::<HookRow>(sql).await? else {
            return Err(StoreError::NotFound(format!("webhook delivery {id}")));
        };
        let WebhookLogEntry {
            delivery: original,
            event_id,
            ..
        } = row.try_into()?;
        if !matches!(original.state, WebhookState::Delivered | WebhookState::Dead) {
            return Err(StoreError::Conflict(format!(
                "webhook delivery {id} is {}; only a delivered or dead delivery can be replayed",
                original.state
            )));
        }
        let sql = Sql::new(format!(
            "INSERT INTO webhook_deliveries (document_id, event, payload, state, attempts, \
             max_attempts, next_attempt_at, created_at, updated_at, event_id, replay_of) \
             VALUES ($1, $2, $3, 'pending', 0, $4, $5, $5, $5, $6, $7) RETURNING {HOOK_COLS}"
        ))
        .bind(original.document_id.map(|d| d.0))
        .bind(&original.event)
        .bind(original.payload.to_string())
        .bind(original.max_attempts)
        .bind(now)
        .bind(event_id)
        .bind(id.0);
        let entry = tx.conn().fetch_one::<HookRow>(sql).await?.try_into()?;
        tx.commit().await?;
        Ok(entry)
    }

    /// How many deliveries are in each state (states with none are left out). Every status
    /// event of every document leaves a delivery behind, so the settled ones (`delivered`,
    /// `dead`) grow without bound: their counts are the ones the database's triggers keep as
    /// each settles. The live ones are counted from the due index, whose range for a state
    /// holds only the work still to do.
    #[tracing::instrument(skip_all)]
    pub async fn count_by_state(&self) -> Result<BTreeMap<WebhookState, u64>, StoreError> {
        let sql = Sql::new(
            "SELECT state, COUNT(*) AS n FROM webhook_deliveries \
             WHERE state IN ('pending', 'delivering') GROUP BY state \
             UNION ALL SELECT state, CAST(SUM(n) AS BIGINT) FROM webhook_delivery_counts \
             GROUP BY state",
        );
        let rows: Vec<(String, i64)> = self.db.reader().fetch_all(sql).await?;
        let mut counts = BTreeMap::new();
        for (state, n) in rows {
            let state = parse_state("webhook state", &state, WebhookState::parse)?;
            if n > 0 {
                counts.insert(state, u64::try_from(n).unwrap_or(0));
            }
        }
        Ok(counts)
    }
}

fn lease_lost(id: WebhookId, worker: &str) -> StoreError {
    StoreError::LeaseLost {
        what: "webhook delivery",
        id: id.0,
        worker: worker.to_owned(),
    }
}

/// Deliveries inserted per statement by the relay: 8 parameters each, well under SQLite's
/// 32,766 and PostgreSQL's 65,535.
const RELAY_ROWS_PER_STATEMENT: usize = 500;

/// The documents `events` are about, by id, read in one statement.
async fn relay_documents(
    tx: &mut super::dialect::Tx,
    events: &[DocumentEvent],
) -> Result<HashMap<i64, DocumentRecord>, StoreError> {
    let mut ids: Vec<i64> = events.iter().map(|e| e.document_id.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut sql = Sql::new(format!("SELECT {DOC_COLS} FROM documents WHERE id IN "));
    sql.push_list(ids);
    let rows: Vec<DocRow> = tx.conn().fetch_all(sql).await?;
    let mut documents = HashMap::with_capacity(rows.len());
    for row in rows {
        let doc: DocumentRecord = row.try_into()?;
        documents.insert(doc.id.0, doc);
    }
    Ok(documents)
}
